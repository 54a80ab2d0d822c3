//! `sockmesh`: an API-aware service-mesh sidecar proxy, as a library.
//!
//! The binary (`src/main.rs`) is a thin `main` over [`cli_main`]. The library exists so that
//! what is not the command line can be reached from outside the crate: the in-process test
//! harness ([`harness`]) starts a sidecar inside a test's own runtime, and the fuzz targets
//! (`proxy/fuzz/`) and benches call the codecs through [`fuzzing`].
//!
//! The request path, in module order: [`listener`] accepts, resolves the original destination
//! and applies L3/L4 policy on a [`conn`] (the per-connection record, drain signal and byte
//! relay that every protocol path shares), carried over a [`transport`] (plain TCP, kernel TLS,
//! or rustls in user space); `detect` picks the protocol, then `http` (HTTP/1.1, HTTP/2, gRPC)
//! or `tcp` (opaque) forwards through `upstream`; a failure becomes each protocol's answer in
//! [`failure`]; `policy_store` holds the compiled policy, `admin` and `metrics` expose state,
//! `bpf` splices the local hop in the kernel.

mod admin;
mod bpf;
pub mod cli;
mod commands;
pub mod config;
pub mod conn;
mod demo;
mod detect;
mod discovery;
pub mod dns;
pub mod failure;
mod fds;
pub mod fuzzing;
pub mod harness;

mod http;
pub mod kafka;
pub mod listener;
mod memory;
mod metrics;
mod policy_store;
pub mod runtime;
mod task;
mod tcp;
pub mod telemetry;
pub mod transport;
mod upstream;

use std::process::ExitCode;

use clap::Parser;

/// The `sockmesh` command line: parses the arguments and runs the subcommand.
pub fn cli_main() -> ExitCode {
    memory::tune();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => runtime::run(&args),
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Policy(cli::PolicyCommand::Check { files }) => commands::policy_check(&files),
        cli::Command::Bpf(args) => bpf::run_command(&args),
        cli::Command::Certs(command) => commands::certs(command),
        cli::Command::ControlPlane(args) => commands::control_plane(args),
    }
}
