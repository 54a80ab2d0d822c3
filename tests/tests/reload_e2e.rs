//! Policy hot reload under load: while wrk drives requests, a policy change takes effect for the
//! next request without a failed request; an invalid change is refused, counted, and the last good
//! policy keeps enforcing.

use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{Nginx, Sidecar, TempDir, curl, http_policy, metric, require, wait_until};

const BEFORE: &str = "        - method: GET\n          path: \"/public/.*\"\n";
const AFTER: &str = "        - method: GET\n          path: \"/public/.*\"\n        - method: GET\n          path: /new\n";
const INVALID: &str = "        - method: GET\n          path: \"/public/(\"\n";

#[test]
fn policy_change_applies_under_wrk_without_failed_requests() {
    require("wrk", "apt-get install -y wrk");
    let nginx = Nginx::start();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test", "--log-level", "warn"],
    );
    let policy = dir.path().join("policy.yaml");
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(curl(&[&format!("{base}/new")]).0, 403);

    let url = format!("{base}/public/load");
    let wrk = std::thread::spawn(move || {
        Command::new("wrk")
            // wrk's default 2 s request timeout counts a slow answer on a loaded machine as an
            // error; a failed request here must mean a refused or broken one.
            .args(["-t1", "-c16", "-d4s", "--timeout", "10s", &url])
            .output()
            .expect("run wrk")
    });
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::write(&policy, http_policy(nginx.port, AFTER)).expect("rewrite policy");
    assert!(
        wait_until(Duration::from_secs(5), || curl(&[&format!("{base}/new")]).0
            == 200),
        "new rule not in force; log:\n{}",
        sidecar.logs()
    );

    // An invalid change (bad regex) while still under load: refused, old policy stays.
    std::fs::write(&policy, http_policy(nginx.port, INVALID)).expect("break policy");
    assert!(
        wait_until(Duration::from_secs(5), || {
            metric(
                &sidecar.metrics(),
                "sockmesh_policy_reloads_total{result=\"failed\"}",
            ) >= 1.0
        }),
        "invalid change not counted; log:\n{}",
        sidecar.logs()
    );
    assert_eq!(
        curl(&[&format!("{base}/new")]).0,
        200,
        "last good policy keeps enforcing"
    );
    let (_, dump) = sidecar.get("/config_dump");
    assert!(
        dump.contains("lastError") && dump.contains("path"),
        "{dump}"
    );
    sidecar.wait_log("policy change refused");

    let out = wrk.join().expect("wrk thread");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("Non-2xx"),
        "failed requests during reload:\n{text}"
    );
    assert!(
        !text.contains("Socket errors"),
        "connection errors during reload:\n{text}"
    );
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        requests > 100,
        "wrk made too few requests to mean anything:\n{text}"
    );
    assert!(
        metric(
            &sidecar.metrics(),
            "sockmesh_policy_reloads_total{result=\"ok\"}"
        ) >= 1.0
    );
}

/// Reading a policy file is no change: the sidecar's own reads (and anyone else's, e.g. `cat`)
/// must not reload it. A watcher that took opens for changes reloaded itself every debounce
/// period, compiling the policy five times a second on an idle sidecar.
#[test]
fn reading_the_policy_files_does_not_reload_them() {
    let nginx = Nginx::start();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test"],
    );
    let policy = dir.path().join("policy.yaml");
    let reloads = || ok_reloads(&sidecar);
    for _ in 0..3 {
        std::fs::read_to_string(&policy).expect("read the policy");
    }
    // Several debounce periods (150 ms each): long enough for a loop to show.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        reloads(),
        0.0,
        "reloaded without a change; log:\n{}",
        sidecar.logs()
    );

    // The watcher works: a real change is one reload (and the test above could fail). Written
    // aside and renamed over, so the change is one event, not a truncate and a write.
    let aside = dir.path().join("policy.next");
    std::fs::write(&aside, http_policy(nginx.port, AFTER)).expect("write policy");
    std::fs::rename(&aside, &policy).expect("rename policy");
    assert!(
        wait_until(Duration::from_secs(5), || reloads() >= 1.0),
        "change not reloaded; log:\n{}",
        sidecar.logs()
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/new")]).0, 200);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        reloads(),
        1.0,
        "one change, more reloads; log:\n{}",
        sidecar.logs()
    );
}

/// Writes to other files in the policy directory (a log kept next to the policies) do not
/// reach the sidecar at all: no reload, and no wake-up of any of its threads. A watch on the
/// whole directory's writes cost 2-3 us of sidecar CPU per line logged there.
#[test]
fn writes_to_other_files_in_the_directory_do_not_wake_the_sidecar() {
    use std::io::Write;
    let nginx = Nginx::start();
    let (sidecar, _port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test"],
    );
    let pid = sidecar.child.pid();
    std::thread::sleep(Duration::from_millis(500));
    let mut log = std::fs::File::create(dir.path().join("other.log")).expect("create log");
    let before = wakeups(pid);
    for i in 0..200 {
        writeln!(log, "line {i}").expect("write log");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(200));
    let woken = wakeups(pid) - before;
    assert!(
        woken < 40,
        "200 writes to another file woke the sidecar {woken} times; log:\n{}",
        sidecar.logs()
    );
    assert_eq!(ok_reloads(&sidecar), 0.0);
}

/// Context switches of all of `pid`'s threads so far.
fn wakeups(pid: u32) -> i64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("threads");
    tasks
        .flatten()
        .map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<i64>().ok())
                .sum::<i64>()
        })
        .sum()
}

/// A ConfigMap volume: `policy.yaml -> ..data/policy.yaml`, `..data -> ..v1`. Kubernetes updates
/// it by writing `..v2`, pointing `..data_tmp` at it and renaming that over `..data`: no event
/// names `policy.yaml`, and the change must still apply.
#[test]
fn a_configmap_style_link_swap_is_a_change() {
    use std::os::unix::fs::symlink;
    let nginx = Nginx::start();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, BEFORE),
        &["--label", "app=test"],
    );
    let d = dir.path();
    let reloads = || ok_reloads(&sidecar);
    std::fs::create_dir(d.join("..v1")).expect("mkdir");
    std::fs::write(d.join("..v1/policy.yaml"), http_policy(nginx.port, BEFORE)).expect("write");
    symlink("..v1", d.join("..data")).expect("link ..data");
    symlink("..data/policy.yaml", d.join("policy.tmp")).expect("link");
    std::fs::rename(d.join("policy.tmp"), d.join("policy.yaml")).expect("swap in the link");
    // Settle: the layout change above is itself a change (same rules).
    assert!(wait_until(Duration::from_secs(5), || reloads() >= 1.0));
    std::thread::sleep(Duration::from_millis(500));
    let before = reloads();

    std::fs::create_dir(d.join("..v2")).expect("mkdir");
    std::fs::write(d.join("..v2/policy.yaml"), http_policy(nginx.port, AFTER)).expect("write");
    symlink("..v2", d.join("..data_tmp")).expect("link ..data_tmp");
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap ..data");
    std::fs::remove_dir_all(d.join("..v1")).expect("rm ..v1");
    let url = format!("http://127.0.0.1:{port}/new");
    assert!(
        wait_until(Duration::from_secs(5), || curl(&[&url]).0 == 200),
        "the swapped ConfigMap was not applied; log:\n{}",
        sidecar.logs()
    );
    assert!(reloads() > before);
}

/// A policy directory removed and made again (a volume mounted anew, a fresh checkout) is
/// watched again: the kernel drops a directory's inotify watch with the directory.
#[test]
fn a_policy_directory_made_again_is_watched_again() {
    let nginx = Nginx::start();
    let dir = TempDir::new("remade");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("mkdir");
    let policy = policies.join("policy.yaml");
    std::fs::write(&policy, http_policy(nginx.port, BEFORE)).expect("write");
    let (sidecar, port) = Sidecar::with_policy_file(nginx.port, &policy, &["--label", "app=test"]);
    let url = format!("http://127.0.0.1:{port}/new");
    assert_eq!(curl(&[&url]).0, 403);
    std::fs::remove_dir_all(&policies).expect("rm -r");
    std::fs::create_dir(&policies).expect("mkdir again");
    // Made again empty, and past the 2 s recheck and the debounce: only a watch set again on
    // the new directory sees the policy renamed into it (no file is there to be watched).
    std::thread::sleep(Duration::from_millis(3000));
    let aside = dir.path().join("policy.next");
    std::fs::write(&aside, http_policy(nginx.port, AFTER)).expect("write");
    std::fs::rename(&aside, &policy).expect("rename into the new directory");
    assert!(
        wait_until(Duration::from_secs(10), || curl(&[&url]).0 == 200),
        "the policy in the new directory was not applied; log:\n{}",
        sidecar.logs()
    );
    // Watched again, not just read once: a later edit applies too.
    std::fs::write(&policy, http_policy(nginx.port, BEFORE)).expect("write");
    assert!(
        wait_until(Duration::from_secs(5), || curl(&[&url]).0 == 403),
        "a later edit was not applied; log:\n{}",
        sidecar.logs()
    );
}

/// Policy reloads that applied so far.
fn ok_reloads(sidecar: &Sidecar) -> f64 {
    metric(
        &sidecar.metrics(),
        "sockmesh_policy_reloads_total{result=\"ok\"}",
    )
}

/// A policy directory inside another watched one, moved away and back unchanged (an editor's or
/// a sync tool's swap), is watched again where it is: a policy renamed into it later applies.
#[test]
fn a_nested_policy_directory_moved_away_and_back_is_watched_again() {
    let nginx = Nginx::start();
    let dir = TempDir::new("nested");
    let outer = dir.path().join("policies");
    let inner = outer.join("team");
    std::fs::create_dir_all(&inner).expect("mkdir -p");
    let (first, second) = (outer.join("base.yaml"), inner.join("team.yaml"));
    std::fs::write(&first, http_policy(nginx.port, BEFORE)).expect("write");
    let team = |rules| http_policy(nginx.port, rules).replace("name: test", "name: team");
    std::fs::write(&second, team(BEFORE)).expect("write");
    let second_arg = second.display().to_string();
    let (sidecar, port) = Sidecar::with_policy_file(
        nginx.port,
        &first,
        &["--policy", &second_arg, "--label", "app=test"],
    );
    let url = format!("http://127.0.0.1:{port}/new");
    assert_eq!(curl(&[&url]).0, 403);
    let away = dir.path().join("team.away");
    std::fs::rename(&inner, &away).expect("move away");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::rename(&away, &inner).expect("move back");
    // Past the 2 s recheck and the debounce. The file is then removed and a new one renamed in:
    // no watch on the old file can see that, only one set again on the directory.
    std::thread::sleep(Duration::from_millis(3000));
    std::fs::remove_file(&second).expect("rm");
    std::thread::sleep(Duration::from_millis(1000));
    let aside = dir.path().join("team.next");
    std::fs::write(&aside, team(AFTER)).expect("write");
    std::fs::rename(&aside, &second).expect("rename into the directory moved back");
    assert!(
        wait_until(Duration::from_secs(10), || curl(&[&url]).0 == 200),
        "the policy renamed into the directory moved back was not applied; log:\n{}",
        sidecar.logs()
    );
}
