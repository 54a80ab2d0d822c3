//! Where the parts of a request lie in the read buffer, kept past the parse (which borrows the
//! buffer) for the exchange and the access log.

use std::ops::Range;

use super::head;

/// Where the parts of a request lie in the read buffer, kept past the parse (which borrows the
/// buffer) for the access log.
pub struct Span {
    pub method: Range<usize>,
    pub target: Range<usize>,
    pub host: Range<usize>,
    pub head_len: usize,
    /// Head and body.
    pub message: Range<usize>,
}

impl Span {
    pub fn of(buf: &[u8], req: &head::Request<'_>) -> Span {
        let at = |s: &str| {
            let start = (s.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
            start..start + s.len()
        };
        let body = usize::try_from(req.body).unwrap_or(usize::MAX);
        Span {
            method: at(req.method),
            target: at(req.target),
            host: at(req.host),
            head_len: req.len,
            message: 0..req.len.saturating_add(body),
        }
    }

    pub fn text<'b>(buf: &'b [u8], r: &Range<usize>) -> &'b str {
        buf.get(r.clone())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn is_head(&self, buf: &[u8]) -> bool {
        Span::text(buf, &self.method) == "HEAD"
    }

    /// Safe to send again on a fresh connection if a pooled one failed before any response.
    pub fn is_idempotent(&self, buf: &[u8]) -> bool {
        matches!(Span::text(buf, &self.method), "GET" | "HEAD" | "OPTIONS")
            && self.message.len() == self.head_len
    }

    /// The body's bytes.
    pub fn body(&self) -> Range<usize> {
        self.message.start + self.head_len..self.message.end
    }
}
