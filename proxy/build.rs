//! Lays out the functions the sidecar runs at start-up and per request side by side in its
//! binary (`link-order.txt`, made by `scripts/link-order.py`), so that an idle sidecar maps about
//! 1.3 MiB of its code instead of 5 MiB: the kernel faults code in 64 KiB windows, and in the
//! default order those functions are spread over most of the text.
//!
//! Only where Rust links with LLD by default (x86_64-unknown-linux-gnu since Rust 1.90), since
//! `--symbol-ordering-file` is an LLD option. `SOCKMESH_LINK_ORDER=0` turns it off (for another
//! linker). Names LLD does not find are skipped without a warning: a stale file costs memory,
//! never correctness.

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=SOCKMESH_LINK_ORDER");
    let target = std::env::var("TARGET").unwrap_or_default();
    let off = std::env::var("SOCKMESH_LINK_ORDER").is_ok_and(|v| v == "0");
    if target != "x86_64-unknown-linux-gnu" || off {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let file = std::path::Path::new(&dir).join("link-order.txt");
    if file.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
