//! Lays out the functions the sidecar runs at start-up and per request side by side in its
//! binary (`link-order.txt`, made by `scripts/link-order.py`), so that an idle sidecar maps about
//! 2 MiB of its code instead of 5 MiB: the kernel faults code in 64 KiB windows, and in the
//! default order those functions are spread over most of the text.
//!
//! `--symbol-ordering-file` is an LLD option, so it is passed only when this build links with
//! the LLD a rustup toolchain ships and uses by default on x86_64-unknown-linux-gnu: no linker
//! configured (`RUSTC_LINKER`), no linker flags in `RUSTFLAGS`, and the toolchain's
//! `gcc-ld/ld.lld` present. A distribution's rustc, or any other linker, builds the same binary
//! in the default order. `SOCKMESH_LINK_ORDER=0` turns it off. Names LLD does not find are
//! skipped without a warning: a stale file costs memory, never correctness.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=SOCKMESH_LINK_ORDER");
    let file =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link-order.txt");
    if file.exists() && links_with_rust_lld() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

fn links_with_rust_lld() -> bool {
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    if env::var("TARGET").as_deref() != Ok(TARGET)
        || env::var("SOCKMESH_LINK_ORDER").as_deref() == Ok("0")
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags
        .split('\x1f')
        .any(|f| f.contains("linker") || f.contains("fuse-ld") || f.contains("link-self-contained"))
    {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Some(sysroot) = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
    else {
        return false;
    };
    PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(TARGET)
        .join("bin/gcc-ld/ld.lld")
        .exists()
}
