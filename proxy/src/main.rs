//! `sockmesh`: an API-aware service-mesh sidecar proxy. The binary is the command line alone;
//! everything else is the library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    sockmesh::cli_main()
}
