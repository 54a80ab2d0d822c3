//! `sockmesh`: an API-aware service-mesh sidecar proxy.
//!
//! The request path, in module order: [`listener`] accepts and resolves the original destination,
//! applies L3/L4 policy, [`detect`] picks the protocol, then [`http`] (HTTP/1.1, HTTP/2, gRPC) or
//! [`tcp`] (opaque) forwards through [`upstream`]; [`policy_store`] holds the compiled policy,
//! [`admin`] and [`metrics`] expose state, [`bpf`] splices the local hop in the kernel.

mod admin;
mod bpf;
mod cli;
mod commands;
mod config;
mod demo;
mod detect;
mod discovery;
mod http;
mod listener;
mod memory;
mod metrics;
mod policy_store;
mod runtime;
mod task;
mod tcp;
mod telemetry;
mod upstream;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    memory::tune();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => runtime::run(&args),
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Policy(cli::PolicyCommand::Check { files }) => commands::policy_check(&files),
        cli::Command::Bpf(args) => bpf::run_command(&args),
        cli::Command::ControlPlane(args) => commands::control_plane(args),
    }
}
