//! The HTTP/2 wire format, server side: frames (RFC 9113) and HPACK (RFC 7541), with no I/O
//! and no streams. The connection that drives them is `super::h2fast`.
//!
//! Why our own: with the `h2` crate a stream cost a slab entry behind a shared lock, its own
//! send and receive queues and wakers, and a header map on each side; the h2load rows of
//! `bench/http/run.sh` measured that at about 1.2 times HAProxy's CPU per request, with no hot
//! spot to tune. Here a request's header block is decoded straight into what policy reads, and
//! a response's frames are written straight into the connection's one write buffer.
//!
//! Everything read is checked before it is used: frame lengths against our
//! SETTINGS_MAX_FRAME_SIZE, HPACK integers, indices and Huffman strings, header list sizes.

pub mod frame;
pub mod hpack;
#[cfg(test)]
mod tests;

/// An HTTP/2 error code (RFC 9113 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(pub u32);

impl Reason {
    pub const NO_ERROR: Reason = Reason(0x0);
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    pub const CANCEL: Reason = Reason(0x8);
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            other => return write!(f, "error code {other:#x}"),
        };
        f.write_str(name)
    }
}
