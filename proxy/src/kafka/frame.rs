//! Length-prefixed frames: a big-endian i32 size, then that many bytes.
//!
//! [`FrameReader`] is incremental and pure: the caller feeds it what it read from the socket, in
//! pieces of any size, and takes out whole frames as [`Bytes`] split off its buffer (no copy).
//! The size is checked the moment its four bytes are in, so a frame over the limit is refused
//! before any of it is buffered, and the reader never holds more than one frame's worth of bytes
//! and [`READ_AHEAD`] ([`FrameReader::room`], [`FrameReader::read_from`]): a peer cannot make it
//! buffer beyond the limit by sending several frames at once.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::KafkaError;

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;
/// The length prefix.
pub const PREFIX: usize = 4;
/// The most [`FrameReader::read_from`] reads past the current frame.
pub const READ_AHEAD: usize = 64 * 1024;

/// Most reserved up front for a frame whose prefix is in.
const RESERVE: usize = 64 * 1024;

/// One whole frame as the client sent it: prefix and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Bytes,
}

impl Frame {
    /// The frame as it arrived, prefix included: what is forwarded when policy allows it.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The payload (header and body), without the prefix. Shares the frame's memory.
    pub fn payload(&self) -> Bytes {
        self.bytes.slice(PREFIX..)
    }
}

/// `payload` behind its i32 length prefix: a frame the proxy writes itself.
pub fn framed(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + PREFIX);
    out.put_i32(i32::try_from(payload.len()).unwrap_or(i32::MAX));
    out.extend_from_slice(payload);
    out.freeze()
}

/// Reads frames out of a byte stream fed in pieces.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max: usize,
    /// The current frame's payload length, once its prefix is in and checked.
    want: Option<usize>,
}

impl FrameReader {
    /// A reader that refuses frames whose payload is over `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameReader {
            buf: BytesMut::new(),
            max,
            want: None,
        }
    }

    /// How many more bytes the reader takes now: the rest of the current frame, or of its
    /// prefix. Never more than a prefix and `max` bytes are buffered.
    pub fn room(&self) -> usize {
        match self.want {
            Some(len) => (PREFIX + len).saturating_sub(self.buf.len()),
            None => PREFIX.saturating_sub(self.buf.len()),
        }
    }

    /// Reads once from `rd` straight into the buffer (no copy through a scratch buffer): the
    /// rest of the current frame, or up to [`READ_AHEAD`] bytes of the frames after it, so a
    /// burst of small requests takes one read and a large one few. Returns the bytes read (0:
    /// the stream ended). Call [`next_frame`](Self::next_frame) until it says `None` first:
    /// then at most one frame and [`READ_AHEAD`] bytes are ever buffered.
    pub async fn read_from<R>(&mut self, rd: &mut R) -> std::io::Result<usize>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        use tokio::io::AsyncReadExt;
        let want = self.room().max(READ_AHEAD);
        self.buf.reserve(want.min(RESERVE.max(READ_AHEAD)));
        (&mut *rd).take(want as u64).read_buf(&mut self.buf).await
    }

    /// Takes up to [`room`](Self::room) bytes of `data`; returns how many it took. The caller
    /// calls [`next_frame`](Self::next_frame), then feeds the rest.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(self.room());
        self.buf.extend_from_slice(&data[..take]);
        take
    }

    /// Bytes buffered and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or why the stream is not
    /// Kafka frames. After an error the reader is not to be used again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, KafkaError> {
        let len = match self.want {
            Some(len) => len,
            None => {
                let Some(mut prefix) = self.buf.get(..PREFIX) else {
                    return Ok(None);
                };
                let declared = prefix.get_i32();
                let len =
                    usize::try_from(declared).map_err(|_| KafkaError::NegativeLength(declared))?;
                if len > self.max {
                    return Err(KafkaError::FrameTooLarge { len, max: self.max });
                }
                self.want = Some(len);
                // Grows with what arrives: a prefix alone does not get a 100 MiB buffer.
                self.buf.reserve(len.min(RESERVE));
                len
            }
        };
        if self.buf.len() < PREFIX + len {
            return Ok(None);
        }
        self.want = None;
        Ok(Some(Frame {
            bytes: self.buf.split_to(PREFIX + len).freeze(),
        }))
    }

    /// At the end of the stream: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), KafkaError> {
        let missing = self.room();
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(KafkaError::Truncated { missing })
        }
    }
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new(DEFAULT_MAX_FRAME)
    }
}
