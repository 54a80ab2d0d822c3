# Shared by the bench scripts (bench/*/run.sh): sourced, not run.

# stop_pids PID...: TERM each process (CONT first, in case a row paused it), wait up to 2 s for
# all to exit, then KILL what is left and reap.
stop_pids() {
    local p
    for p in "$@"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
