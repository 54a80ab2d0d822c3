//! A bare HTTP/2 client (prior knowledge) that speaks frames, for what client libraries hide: which
//! GOAWAY frames a server sent, and whether a stream opened after the first one was still served
//! (Python's `h2` closes its state machine at the first GOAWAY; RFC 9113 section 6.8 has a
//! server send two).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const END_STREAM: u8 = 1;
const ACK: u8 = 1;

pub struct H2Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    next_stream: u32,
    /// The last-stream-id of each GOAWAY received, in order.
    pub goaways: Vec<u32>,
    /// The status of each stream whose response head came and whose end has not.
    statuses: std::collections::HashMap<u32, u16>,
}

/// What happened, as [`H2Conn::next_event`] reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A stream's response ended; its status when HPACK named it by static index.
    Answered(u32, Option<u16>),
    /// A stream was reset, with this error code.
    Reset(u32, u32),
    /// A GOAWAY with this last stream id.
    GoAway(u32),
    /// The connection closed or failed.
    Closed(String),
}

/// What became of a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its response ended; the status when HPACK named it by static index (200, 403, ...).
    Answered(Option<u16>),
    Reset(u32),
    /// The server's GOAWAY left it out: it was never processed.
    Refused,
    /// The connection closed (or failed) before its response ended.
    Closed(String),
}

impl H2Conn {
    /// Connects, sends the preface, empty SETTINGS, and a connection window of 2^30 (bodies are
    /// never acknowledged: the connection's window must outlast a load test).
    pub fn connect(port: u16) -> std::io::Result<H2Conn> {
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))?;
        sock.write_all(PREFACE)?;
        sock.write_all(&frame(SETTINGS, 0, 0, &[]))?;
        sock.write_all(&frame(WINDOW_UPDATE, 0, 0, &(1u32 << 30).to_be_bytes()))?;
        Ok(H2Conn {
            sock,
            buf: Vec::new(),
            next_stream: 1,
            goaways: Vec::new(),
            statuses: std::collections::HashMap::new(),
        })
    }

    /// Sends a GET of `path` on a new stream; its id.
    pub fn get(&mut self, path: &str) -> std::io::Result<u32> {
        let id = self.next_stream;
        self.next_stream += 2;
        // :method GET, :scheme http (static indexes 2 and 6), :path and :authority as literals
        // with indexed names (4 and 1), without Huffman coding.
        let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        block.extend_from_slice(&[0x01, 3]);
        block.extend_from_slice(b"web");
        self.sock
            .write_all(&frame(HEADERS, END_STREAM | 0x4, id, &block))?;
        Ok(id)
    }

    /// Reads frames (answering SETTINGS and PINGs) until `stream` ends one way or another.
    pub fn outcome(&mut self, stream: u32) -> Outcome {
        loop {
            match self.next_event() {
                Event::Answered(id, status) if id == stream => return Outcome::Answered(status),
                Event::Reset(id, code) if id == stream => return Outcome::Reset(code),
                Event::GoAway(last) if last < stream => return Outcome::Refused,
                Event::Closed(e) => return Outcome::Closed(e),
                _ => {}
            }
        }
    }

    /// The next thing that happens to a stream or the connection (SETTINGS and PINGs are
    /// answered on the way).
    pub fn next_event(&mut self) -> Event {
        loop {
            let (ty, flags, id, payload) = match self.frame() {
                Ok(f) => f,
                Err(e) => return Event::Closed(e.to_string()),
            };
            let answer = match ty {
                SETTINGS if flags & ACK == 0 => Some(frame(SETTINGS, ACK, 0, &[])),
                PING if flags & ACK == 0 => Some(frame(PING, ACK, 0, &payload)),
                _ => None,
            };
            if let Some(a) = answer
                && let Err(e) = self.sock.write_all(&a)
            {
                return Event::Closed(e.to_string());
            }
            let word = || u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            match ty {
                GOAWAY if payload.len() >= 4 => {
                    let last = word() & 0x7fff_ffff;
                    self.goaways.push(last);
                    return Event::GoAway(last);
                }
                HEADERS => {
                    let status = payload.first().and_then(|&b| static_status(b));
                    if let Some(status) = status {
                        self.statuses.insert(id, status);
                    }
                    if flags & END_STREAM != 0 {
                        return Event::Answered(id, self.statuses.remove(&id));
                    }
                }
                DATA if flags & END_STREAM != 0 => {
                    return Event::Answered(id, self.statuses.remove(&id));
                }
                RST_STREAM if payload.len() >= 4 => return Event::Reset(id, word()),
                _ => {}
            }
        }
    }

    /// Reads until the server closes the connection (answering PINGs), collecting GOAWAYs.
    pub fn until_closed(&mut self) {
        while let Ok((ty, flags, _, payload)) = self.frame() {
            if ty == PING && flags & ACK == 0 {
                let _ = self.sock.write_all(&frame(PING, ACK, 0, &payload));
            }
            if ty == GOAWAY && payload.len() >= 4 {
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                self.goaways.push(last & 0x7fff_ffff);
            }
        }
    }

    fn frame(&mut self) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
        loop {
            if self.buf.len() >= 9 {
                let len = (usize::from(self.buf[0]) << 16)
                    | (usize::from(self.buf[1]) << 8)
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let (ty, flags) = (self.buf[3], self.buf[4]);
                    let id =
                        u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                            & 0x7fff_ffff;
                    let payload = self.buf[9..9 + len].to_vec();
                    self.buf.drain(..9 + len);
                    return Ok((ty, flags, id, payload));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The `:status` an HPACK indexed field of the static table stands for.
fn static_status(byte: u8) -> Option<u16> {
    match byte {
        0x88 => Some(200),
        0x89 => Some(204),
        0x8a => Some(206),
        0x8b => Some(304),
        0x8c => Some(400),
        0x8d => Some(404),
        0x8e => Some(500),
        _ => None,
    }
}

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}
