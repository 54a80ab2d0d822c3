//! `sockmesh bpf status|detach|attach`: the acceleration's own CLI, for inspecting and cleaning
//! up pins, and for attaching the programs to a cgroup without a proxy (benches, debugging).

use std::path::Path;
use std::process::ExitCode;

use super::args::Settings;
use super::{
    Acceleration, BpfArgs, BpfCommand, ListenerInfo, error_chain, pin, start_active, status,
};

/// `sockmesh bpf status|detach|attach`.
pub fn run_command(args: &BpfArgs) -> ExitCode {
    match &args.command {
        BpfCommand::Status { pin_path, json } => match status::read_pinned(pin_path) {
            Ok(snap) => {
                if *json {
                    match serde_json::to_string_pretty(&snap) {
                        Ok(s) => println!("{s}"),
                        Err(e) => {
                            eprintln!("sockmesh bpf status: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                } else {
                    print!("{}", snap.to_text());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sockmesh bpf status: {}", error_chain(&e));
                ExitCode::FAILURE
            }
        },
        BpfCommand::Detach { pin_path } => match pin::remove_all(pin_path) {
            Ok(n) => {
                println!("removed {n} pins from {}", pin_path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sockmesh bpf detach: {e}");
                ExitCode::FAILURE
            }
        },
        BpfCommand::Attach {
            accel,
            listeners,
            foreground,
        } => {
            let infos: Vec<ListenerInfo> = listeners
                .iter()
                .enumerate()
                .map(|(i, a)| ListenerInfo {
                    address: *a,
                    outbound: i == 0,
                    dns: false,
                })
                .collect();
            let s = Settings::merge(accel, None);
            if !*foreground && (s.intercept || !s.intercept_inbound_ports.is_empty()) {
                // The getsockopt link cannot be pinned (aya 0.14): it would go with this process.
                eprintln!(
                    "sockmesh bpf attach: interception answers SO_ORIGINAL_DST from a program \
                     that only stays attached while this process runs; add --foreground"
                );
                return ExitCode::FAILURE;
            }
            match start_active(&s, &infos) {
                Ok(active) => {
                    let accel = Acceleration {
                        active: Some(active),
                    };
                    if *foreground {
                        println!("attached; detaching on SIGTERM/SIGINT");
                        wait_for_termination();
                        drop(accel);
                    } else {
                        println!(
                            "attached; pinned under {} (undo: sockmesh bpf detach)",
                            accel
                                .active
                                .as_ref()
                                .map_or(Path::new(""), |a| &a.pin_dir)
                                .display()
                        );
                        accel.leak();
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sockmesh bpf attach: {}", error_chain(&e));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Blocks the calling (main) thread until SIGTERM or SIGINT arrives.
fn wait_for_termination() {
    // SAFETY: signal-set manipulation on a local set; sigwait only writes `sig`. The signals are
    // blocked first so they are delivered to sigwait instead of terminating the process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
    }
}
