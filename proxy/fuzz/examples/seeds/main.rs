//! Writes the seed corpora of the fuzz targets, `corpus/<target>/<name>` beside this crate's
//! Cargo.toml: small real inputs, each laid out as its target reads them (docs/FUZZING.md).
//!
//!     cd proxy/fuzz && cargo run --example seeds
//!
//! A seed whose file already holds the same input is left alone (xDS seeds compare decoded:
//! Envoy messages with maps encode in hash-map order, which changes from run to run), so running
//! it again changes nothing unless this file or the example policies changed. Seeds added by
//! hand (a crash's reproducer, say) are kept.

mod config;
mod dns;
mod h2;
mod http1;
mod kafka;

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.join("../..");
    let mut seeds = Seeds {
        root: fuzz.join("corpus"),
        written: 0,
        kept: 0,
    };
    http1::http1_head(&mut seeds);
    http1::http1_chunked(&mut seeds);
    h2::h2_frames(&mut seeds);
    h2::hpack(&mut seeds);
    http1::request_target(&mut seeds);
    config::cilium_policy(&mut seeds, &repo);
    config::xds_resources(&mut seeds, &repo);
    dns::dns_message(&mut seeds);
    dns::dns_name(&mut seeds);
    kafka::kafka_request(&mut seeds);
    println!(
        "seeds: {} written, {} unchanged, under {}",
        seeds.written,
        seeds.kept,
        seeds.root.display()
    );
}

pub struct Seeds {
    root: PathBuf,
    written: usize,
    kept: usize,
}

impl Seeds {
    pub fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        self.put_if(target, name, bytes, |old| old == bytes);
    }

    /// Writes the seed unless `same` says the file already holds it.
    pub fn put_if(&mut self, target: &str, name: &str, bytes: &[u8], same: impl Fn(&[u8]) -> bool) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        let path = dir.join(name);
        if fs::read(&path).is_ok_and(|old| same(&old)) {
            self.kept += 1;
            return;
        }
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.written += 1;
    }
}

// ---- HTTP/1.1 heads: plain requests and responses, no control byte. ----
