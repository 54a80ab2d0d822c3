//! The client connection of the fast path and its read buffer (which may hold pipelined
//! requests), and the short answers the proxy makes on it.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::relay;
use super::span::Span;
use crate::failure::Failure;
use crate::http::respond::TEXT_PLAIN;
use crate::task::{Deadline, Passed};
use crate::transport::{Io, PrefixedIo};

/// How reading the rest of a request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    Whole,
    /// The client closed, or the read failed.
    Closed,
    /// The request timeout passed, or the client stalled.
    TimedOut,
}

pub struct Downstream {
    pub stream: Io,
    pub buf: Vec<u8>,
}

impl Downstream {
    pub fn new(io: PrefixedIo<Io>) -> Downstream {
        let (prefix, stream) = io.into_parts();
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&prefix);
        Downstream { stream, buf }
    }

    /// Reads more into `buf`; false on EOF.
    pub async fn read_more(&mut self) -> std::io::Result<bool> {
        use tokio::io::AsyncReadExt;
        self.buf.reserve(4096);
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// Reads until `buf` holds `len` bytes (the rest of a request's body): by `deadline` in all,
    /// on the connection's `timer`, and within `stall` of the last read.
    pub async fn fill(
        &mut self,
        len: usize,
        timer: &mut Deadline,
        deadline: Instant,
        stall: Duration,
    ) -> Filled {
        use tokio::io::AsyncReadExt;
        let Some(missing) = len.checked_sub(self.buf.len()).filter(|&n| n > 0) else {
            return Filled::Whole;
        };
        // Room for the rest and no more: a body that trickles in does not double the buffer
        // past it (the body is at most 64 KiB, so this is bounded however slow the client).
        self.buf.reserve_exact(missing);
        while self.buf.len() < len {
            let at = deadline.min(Instant::now() + stall);
            match timer.within(at, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Filled::Closed,
                Err(Passed) => return Filled::TimedOut,
            }
        }
        Filled::Whole
    }

    /// The connection for hyper, with the bytes read and not consumed.
    pub fn hand_off(self) -> PrefixedIo<Io> {
        PrefixedIo::new(Bytes::from(self.buf), self.stream)
    }

    /// Answers `failure` with a short plain-text response made by the proxy (its head alone for
    /// `HEAD`); false if the write failed or stalled.
    pub async fn answer(
        &mut self,
        span: &Span,
        failure: Failure,
        close: bool,
        stall: std::time::Duration,
    ) -> bool {
        let status = failure.http_status();
        let body = failure.text();
        let head_only = span.is_head(&self.buf);
        let response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {TEXT_PLAIN}\r\ncontent-length: {}\r\n{}\r\n{}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
            if close { "connection: close\r\n" } else { "" },
            if head_only { "" } else { body },
        );
        relay::write(&mut self.stream, response.as_bytes(), stall)
            .await
            .is_ok()
    }
}
