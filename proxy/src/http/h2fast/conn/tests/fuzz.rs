//! Random and plausible input: the connection ends cleanly or with an error, never a panic or
//! a hang.

use bytes::{BufMut, BytesMut};

use super::{exchange, exchange_after, goaway, raw, request_block};
use crate::http::h2codec::{Reason, frame, hpack};
use crate::http::h2fast::conn::ConnError;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Frames of every type with random flags, streams and payloads (some of them well-formed
/// requests and bodies) must never panic the connection or leave it hanging once the client
/// is gone.
#[tokio::test]
async fn random_frames_end_in_an_answer_or_an_error_never_a_hang() {
    let mut noise = Noise(0x5eed_1234_abcd_9876);
    for round in 0..300 {
        let mut f = BytesMut::new();
        for _ in 0..noise.below(12) + 1 {
            let stream = [0, 1, 1, 3, 5, 2, 0x7fff_ffff][noise.below(7) as usize] as u32;
            let kind = noise.below(11) as u8;
            let flags = noise.next() as u8;
            let payload: Vec<u8> = match (kind, noise.below(3)) {
                (frame::HEADERS, 0) => request_block("/len").to_vec(),
                (frame::WINDOW_UPDATE | frame::RST_STREAM, _) => {
                    (noise.next() as u32).to_be_bytes().to_vec()
                }
                (frame::SETTINGS, _) => {
                    let mut p = Vec::new();
                    for _ in 0..noise.below(3) {
                        p.extend_from_slice(&(noise.below(8) as u16 + 1).to_be_bytes());
                        p.extend_from_slice(&(noise.next() as u32).to_be_bytes());
                    }
                    p
                }
                _ => (0..noise.below(40)).map(|_| noise.next() as u8).collect(),
            };
            frame::put_head(&mut f, payload.len(), kind, flags, stream);
            f.put_slice(&payload);
        }
        let (result, _) = exchange(raw(&f)).await;
        // Either outcome is fine; what matters is that there is one, in time, without a panic.
        if let Err(e) = &result {
            assert!(
                !matches!(e, ConnError::Keepalive | ConnError::NoPreface),
                "round {round}: {e}"
            );
        }
    }
}

/// Mostly well-formed conversations (requests, bodies, windows, settings, resets, trailers on
/// a few streams) with the odd broken frame: deeper states than random bytes reach.
#[tokio::test]
async fn plausible_conversations_end_cleanly_or_with_an_error() {
    let mut noise = Noise(0x0dd5_eed5_1357_9bdf);
    let mut clean = 0;
    for round in 0..300 {
        let mut f = BytesMut::new();
        let mut next_id = 1u32;
        let mut open: Vec<u32> = Vec::new();
        for _ in 0..noise.below(30) + 1 {
            let on = open
                .get(noise.below(open.len().max(1) as u64) as usize)
                .copied();
            match (noise.below(10), on) {
                (0..=2, _) | (_, None) => {
                    let block = request_block(if noise.below(2) == 0 { "/len" } else { "/x" });
                    let end = if noise.below(3) == 0 {
                        frame::END_STREAM
                    } else {
                        0
                    };
                    frame::put_head(
                        &mut f,
                        block.len(),
                        frame::HEADERS,
                        frame::END_HEADERS | end,
                        next_id,
                    );
                    f.put_slice(&block);
                    open.push(next_id);
                    next_id += 2;
                }
                (3..=4, Some(id)) => {
                    let len = noise.below(40_000) as usize;
                    frame::put_data(&mut f, id, &vec![b'd'; len], noise.below(3) == 0, 16_384);
                }
                (5, Some(id)) => {
                    let inc = [1, 1 << 20, 0x7fff_ffff][noise.below(3) as usize];
                    frame::put_window_update(&mut f, [0, id][noise.below(2) as usize], inc);
                }
                (6, _) => {
                    let id = noise.below(6) as u16 + 1;
                    let value = [0, 1, 16_384, 65_535, 1 << 24, 0x7fff_ffff, u32::MAX]
                        [noise.below(7) as usize];
                    frame::put_settings(&mut f, &[(id, value)]);
                }
                (7, Some(id)) => frame::put_reset(&mut f, id, Reason::CANCEL),
                (8, Some(id)) => {
                    // Trailers, or a stray CONTINUATION.
                    let mut b = BytesMut::new();
                    hpack::field(&mut b, b"x-t", b"1");
                    let kind = if noise.below(4) == 0 {
                        frame::CONTINUATION
                    } else {
                        frame::HEADERS
                    };
                    frame::put_head(
                        &mut f,
                        b.len(),
                        kind,
                        frame::END_HEADERS | frame::END_STREAM,
                        id,
                    );
                    f.put_slice(&b);
                }
                _ => frame::put_ping(&mut f, false, [7; 8]),
            }
        }
        let (result, out) = exchange_after(raw(&f), 20).await;
        if let Err(e) = &result {
            assert!(
                !matches!(e, ConnError::Keepalive | ConnError::NoPreface),
                "round {round}: {e}"
            );
        } else {
            clean += 1;
            assert!(
                goaway(&out).is_none(),
                "round {round}: GOAWAY on a clean close"
            );
        }
    }
    assert!(
        clean > 50,
        "only {clean} of 300 conversations were valid: the generator drifted"
    );
}
