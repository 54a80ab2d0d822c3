//! Finding the end of a chunked body (RFC 9112 section 7.1) while its bytes are relayed as they
//! are: the HTTP/1.1 fast path does not re-frame, it only needs to know where the message stops.
//! The HTTP/2 path takes the chunks' data out as it goes.

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far, whether a digit was seen, whether extensions began.
    Size {
        size: u64,
        digits: bool,
        ext: bool,
    },
    /// Saw the `\r` ending a size line.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// In the trailer section: whether the current line is empty so far.
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Largest trailer section kept for a client that gets trailers as their own frame.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug)]
pub struct Chunked {
    state: State,
    line: usize,
    /// The trailer section's bytes (each line with its CRLF), when asked for.
    trailers: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Every byte belongs to the body, which goes on.
    More,
    /// The body ends after this many bytes of the input.
    End(usize),
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size {
                size: 0,
                digits: false,
                ext: false,
            },
            line: 0,
            trailers: None,
        }
    }
}

impl Chunked {
    /// A scanner that keeps the trailer section (see [`Chunked::take_trailers`]).
    pub fn keeping_trailers() -> Chunked {
        Chunked {
            trailers: Some(Vec::new()),
            ..Chunked::default()
        }
    }

    /// The trailer fields seen, as `name: value\r\n` lines; empty when there were none (or they
    /// were not kept).
    pub fn take_trailers(&mut self) -> Vec<u8> {
        self.trailers.take().unwrap_or_default()
    }

    /// Scans the next bytes of the body and hands `data` the ranges of `input` that are chunk
    /// data: the body de-chunked, for a client that frames it otherwise (HTTP/2 DATA frames).
    /// Trailer fields are kept only by a scanner made with [`Chunked::keeping_trailers`].
    pub fn scan_data(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(std::ops::Range<usize>),
    ) -> Result<Scan, &'static str> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { left } = self.state {
                // Skip the chunk's data in one step.
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                data(i..i + take);
                i += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                continue;
            }
            let b = input[i];
            i += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err("chunk line too long");
            }
            self.state = match self.state {
                State::Size { size, digits, ext } => match b {
                    b'\r' if digits => State::SizeLf { size },
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' if !ext => {
                        let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(d))
                            .ok_or("chunk size overflows")?;
                        State::Size {
                            size,
                            digits: true,
                            ext,
                        }
                    }
                    b';' | b' ' | b'\t' if digits => State::Size {
                        size,
                        digits,
                        ext: true,
                    },
                    _ if ext && b != b'\n' => State::Size { size, digits, ext },
                    _ => return Err("malformed chunk size"),
                },
                State::SizeLf { size } => match b {
                    b'\n' => {
                        self.line = 0;
                        if size == 0 {
                            State::Trailer { empty: true }
                        } else {
                            State::Data { left: size }
                        }
                    }
                    _ => return Err("malformed chunk size line"),
                },
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return Err("chunk data not followed by CRLF"),
                },
                State::DataLf => match b {
                    b'\n' => {
                        self.line = 0;
                        State::Size {
                            size: 0,
                            digits: false,
                            ext: false,
                        }
                    }
                    _ => return Err("chunk data not followed by CRLF"),
                },
                State::Trailer { empty } => {
                    if let Some(kept) = &mut self.trailers
                        && !(empty && b == b'\r')
                    {
                        if kept.len() >= MAX_TRAILERS {
                            return Err("trailer section too large");
                        }
                        kept.push(b);
                    }
                    match b {
                        b'\r' => State::TrailerLf { empty },
                        b'\n' => return Err("bare LF in trailer"),
                        _ => State::Trailer { empty: false },
                    }
                }
                State::TrailerLf { empty } => match b {
                    b'\n' if empty => {
                        self.state = State::Done;
                        return Ok(Scan::End(i));
                    }
                    b'\n' => {
                        self.line = 0;
                        if let Some(kept) = &mut self.trailers {
                            kept.push(b'\n');
                        }
                        State::Trailer { empty: true }
                    }
                    _ => return Err("malformed trailer"),
                },
                State::Data { .. } | State::Done => return Err("bytes after the end of the body"),
            };
        }
        Ok(Scan::More)
    }
}
