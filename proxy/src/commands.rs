//! Small subcommands that do not run the proxy.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::policy_store::{self, PolicyLoadError};

/// `sockmesh policy check FILE...`: every error with file, line and column; exit 1 on any.
pub fn policy_check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match policy_store::read_files(std::slice::from_ref(file), policy_store::Missing::Error) {
            Ok(policies) => {
                // Parsing checked every field, with its position. Compiling (for a workload with no
                // labels) adds the set-level checks: duplicate policy names, and the compiled
                // indexes of the policies that select every workload.
                match sockmesh_policy::CompiledPolicy::compile(&policies, &Default::default()) {
                    Ok(_) => println!("{}: ok ({} policies)", file.display(), policies.len()),
                    Err(error) => {
                        failed = true;
                        eprintln!("{}: error: {error}", file.display());
                    }
                }
            }
            Err(PolicyLoadError::Parse(errors)) => {
                failed = true;
                for e in errors {
                    eprintln!("{e}");
                }
            }
            Err(error) => {
                failed = true;
                eprintln!("error: {error}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `sockmesh control-plane`: serves policy and cluster files over ADS until SIGINT/SIGTERM.
pub fn control_plane(args: sockmesh_xds::server::ControlPlaneArgs) -> ExitCode {
    // Keep the handle: it owns the log writer, and dropping it would silence the ACK/NACK log.
    let _log = match crate::telemetry::init(crate::config::LogFormat::Human, "info") {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let rt = match crate::runtime::build_runtime(1) {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = sockmesh_xds::server::run(args) => r.map_err(|e| e.to_string()),
            _ = crate::runtime::shutdown_signal() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `sockmesh certs ...`: prints the files written, or the error; exit 1 on an error.
pub fn certs(command: crate::cli::CertsCommand) -> ExitCode {
    use crate::cli::CertsCommand;
    use sockmesh_certs::dev_ca;
    let done = match command {
        CertsCommand::Init {
            dir,
            trust_domain,
            force,
        } => dev_ca::init(&dir, &trust_domain, force).map(|f| {
            println!("CA for trust domain {trust_domain}:");
            println!("  certificate  {}", f.cert.display());
            println!("  key          {} (0600)", f.key.display());
        }),
        CertsCommand::Issue {
            ca_dir,
            spiffe_id,
            out,
            valid_for,
        } => dev_ca::issue(&ca_dir, &spiffe_id, &out, valid_for).map(|f| {
            println!("{spiffe_id}, valid for {valid_for:?}:");
            println!("  certificate  {}", f.cert.display());
            println!("  key          {} (0600)", f.key.display());
            println!("  trust bundle {}", f.bundle.display());
        }),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
