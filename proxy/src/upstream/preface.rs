//! What an endpoint answered to the HTTP/2 connection preface, seen from the first bytes it sent
//! back: an HTTP/2 server sends its SETTINGS frame; an HTTP/1.1-only server reads `PRI *
//! HTTP/2.0` as a bad request and answers `HTTP/1.x 400` (nginx), answers without a status line
//! (Python's `http.server` takes it for HTTP/0.9), or closes.
//!
//! A new HTTP/2 connection waits for this answer before its first request goes on it, so a
//! request to an endpoint that does not speak HTTP/2 was never sent, and can be sent again in
//! HTTP/1.1 whatever its method or body (`upstream protocol auto`, see `http/forward.rs`). The
//! wait is one round trip per new HTTP/2 connection, which all requests to the endpoint share.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// The endpoint's answer to the preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A SETTINGS frame, as an HTTP/2 server's preface starts.
    Http2,
    /// A response starting `HTTP/1.`.
    Http1,
    /// Bytes that are neither.
    Other,
    /// The connection ended (or failed) before the endpoint sent a byte.
    Closed,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Answer::Http2 => "answered the HTTP/2 preface in HTTP/2",
            Answer::Http1 => "answered the HTTP/2 preface with HTTP/1.x",
            Answer::Other => "answered the HTTP/2 preface with something other than HTTP/2",
            Answer::Closed => "closed the connection on the HTTP/2 preface",
        })
    }
}

const HTTP1: &[u8] = b"HTTP/1.";
/// A frame header's length.
const FRAME_HEAD: usize = 9;

/// The answer the first bytes `head` give, if they are enough to tell.
fn answer(head: &[u8]) -> Option<Answer> {
    if head.starts_with(HTTP1) {
        return Some(Answer::Http1);
    }
    if HTTP1.starts_with(head) || head.len() < FRAME_HEAD {
        return None;
    }
    // Type SETTINGS (4), not an ACK, on stream 0, a whole number of 6-byte settings.
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let settings =
        head[3] == 4 && head[4] & 1 == 0 && head[5..9] == [0; 4] && len.is_multiple_of(6);
    Some(if settings {
        Answer::Http2
    } else {
        Answer::Other
    })
}

/// A connection whose first bytes read tell the [`Answer`], once, to the receiver
/// [`Watched::new`] returns. After that, reads and writes pass straight through.
pub struct Watched<T> {
    io: T,
    /// The first bytes, until they tell.
    head: [u8; FRAME_HEAD],
    seen: usize,
    tell: Option<oneshot::Sender<Answer>>,
}

impl<T> Watched<T> {
    pub fn new(io: T) -> (Watched<T>, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let watched = Watched {
            io,
            head: [0; FRAME_HEAD],
            seen: 0,
            tell: Some(tx),
        };
        (watched, rx)
    }

    fn decide(&mut self, answer: Answer) {
        if let Some(tell) = self.tell.take() {
            let _ = tell.send(answer);
        }
    }

    /// Takes in bytes read, `new`, that follow the `seen` first ones.
    fn look(&mut self, new: &[u8]) {
        let n = new.len().min(FRAME_HEAD - self.seen);
        self.head[self.seen..self.seen + n].copy_from_slice(&new[..n]);
        self.seen += n;
        if let Some(a) = answer(&self.head[..self.seen]) {
            self.decide(a);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if self.tell.is_some() {
            match &read {
                Poll::Ready(Ok(())) if buf.filled().len() > before => {
                    // No more than a frame header can tell: copied, as `buf` is borrowed.
                    let new = &buf.filled()[before..];
                    let mut first = [0u8; FRAME_HEAD];
                    let n = new.len().min(FRAME_HEAD);
                    first[..n].copy_from_slice(&new[..n]);
                    self.look(&first[..n]);
                }
                Poll::Ready(_) => self.decide(Answer::Closed),
                Poll::Pending => {}
            }
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// The answer told for a server that sends `chunks` (one read each), then closes.
    async fn answer_to(chunks: &[&[u8]]) -> Answer {
        let mut server = chunks.iter().fold(
            Box::new(tokio::io::empty()) as Box<dyn AsyncRead + Unpin>,
            |r, c| Box::new(r.chain(std::io::Cursor::new(c.to_vec()))),
        );
        let (mut watched, rx) = Watched::new(&mut server);
        let mut buf = [0u8; 64];
        while watched.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        rx.await.expect("an answer")
    }

    #[tokio::test]
    async fn the_first_bytes_tell_the_answer() {
        // A SETTINGS frame header, whole or in pieces.
        assert_eq!(answer_to(&[b"\0\0\x12\x04\0\0\0\0\0"]).await, Answer::Http2);
        assert_eq!(
            answer_to(&[b"\0\0", b"\x06\x04\0\0\0", b"\0\0\0\x03"]).await,
            Answer::Http2
        );
        // A SETTINGS ACK, a frame on a stream, another frame type: no server preface.
        for frame in [
            b"\0\0\0\x04\x01\0\0\0\0",
            b"\0\0\x06\x04\0\0\0\0\x01",
            b"\0\0\x08\x07\0\0\0\0\0",
        ] {
            assert_eq!(answer_to(&[frame]).await, Answer::Other);
        }
        // Python's http.server answers `PRI` as HTTP/0.9: a body, no status line.
        assert_eq!(answer_to(&[b"<!DOCTYPE HTML>\n"]).await, Answer::Other);
        assert_eq!(
            answer_to(&[b"HTTP/1.1 400 Bad Request\r\n"]).await,
            Answer::Http1
        );
        // Split across reads, byte by byte.
        assert_eq!(
            answer_to(&[b"H", b"TT", b"P/", b"1.0 200"]).await,
            Answer::Http1
        );
        assert_eq!(answer_to(&[b"HTTP", b"/2.0 200 OK"]).await, Answer::Other);
        assert_eq!(answer_to(&[]).await, Answer::Closed);
        // Closed before `HTTP/1.` was whole.
        assert_eq!(answer_to(&[b"HTT"]).await, Answer::Closed);
    }
}
