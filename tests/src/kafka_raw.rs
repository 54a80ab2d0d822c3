//! Kafka by hand, for the tests that must see every byte: a broker that records what it
//! receives, and request frames written byte by byte.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A broker that records what it receives and answers each read with `answer(bytes)`.
pub struct RawBroker {
    pub port: u16,
    received: Arc<Mutex<Vec<u8>>>,
}

impl RawBroker {
    pub fn start(answer: fn(&[u8]) -> Option<Vec<u8>>) -> RawBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let got = Arc::clone(&received);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let got = Arc::clone(&got);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        got.lock().expect("lock").extend_from_slice(&buf[..n]);
                        if let Some(a) = answer(&buf[..n]) {
                            let _ = conn.write_all(&a);
                        }
                    }
                });
            }
        });
        RawBroker { port, received }
    }

    /// A broker that never answers.
    pub fn silent() -> RawBroker {
        RawBroker::start(|_| None)
    }

    /// Every byte received so far, all connections together.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().expect("lock").clone()
    }
}

/// An ApiVersions v3 request frame with correlation id `id`.
pub fn api_versions(id: i32) -> Vec<u8> {
    let mut payload = vec![0, 18, 0, 3];
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(&[0, 1, b'c', 0]); // client id "c", no tagged fields
    payload.extend_from_slice(&[1, 1, 0]); // two empty compact strings, no tagged fields
    framed(&payload)
}

/// `payload` with its i32 length prefix.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}
