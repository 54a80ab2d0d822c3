//! HPACK (RFC 7541): the decoder for request header blocks, with its dynamic table, and a
//! stateless encoder for response header blocks.
//!
//! The encoder never adds to the client's dynamic table: responses go out as literals "without
//! indexing", `:status` from the static table where it is there. That costs a few bytes per
//! response on the wire and keeps no per-connection state beyond one pending table size update.

mod huffman;
mod table;
#[cfg(test)]
mod tests;

use bytes::{BufMut, Bytes, BytesMut};

use crate::http::headers::status_digits;

use table::Dynamic;

/// The per-field overhead counted in a header list's size (RFC 9113 section 6.5.2).
const FIELD_OVERHEAD: usize = 32;
/// The most continuation bytes an integer may take: 2^28, more than any frame holds.
const MAX_INT_SHIFT: u32 = 21;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block ends inside a field")]
    Truncated,
    #[error("HPACK integer too large")]
    Integer,
    #[error("HPACK index {0} is in neither table")]
    Index(usize),
    #[error("invalid Huffman-coded string")]
    Huffman,
    #[error("dynamic table size update after a field, or over the advertised {0} bytes")]
    SizeUpdate(usize),
}

/// A string of the block being decoded: in the block itself or in a Huffman scratch buffer.
#[derive(Clone, Copy)]
enum Str<'a> {
    Raw(&'a [u8]),
    Decoded,
    Indexed(usize),
}

/// Decodes the header blocks of one connection, in order.
pub struct Decoder {
    table: Dynamic,
    /// SETTINGS_HEADER_TABLE_SIZE as advertised: the most a size update may ask for.
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Decoder {
    pub fn new(limit: usize) -> Self {
        Decoder {
            table: Dynamic::new(limit),
            limit,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes a complete header block, calling `emit` for each field in order while the list
    /// stays within `max_list` bytes (counted as RFC 9113 section 6.5.2 does). Returns whether
    /// fields were left out for size: the block is still decoded to its end, since the dynamic
    /// table must stay in step with the client's.
    pub fn decode(
        &mut self,
        mut src: &[u8],
        max_list: usize,
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<bool, HpackError> {
        let mut list = 0usize;
        let mut over = false;
        let mut fields_seen = false;
        while let Some(&b) = src.first() {
            let (prefix, index) = if b & 0x80 != 0 {
                let i = integer(&mut src, 7)?;
                let (n, v) = self.table.get(i).ok_or(HpackError::Index(i))?;
                fields_seen = true;
                list = list.saturating_add(n.len() + v.len() + FIELD_OVERHEAD);
                over |= list > max_list;
                if !over {
                    emit(n, v);
                }
                continue;
            } else if b & 0xc0 == 0x40 {
                (6, true)
            } else if b & 0xe0 == 0x20 {
                let size = integer(&mut src, 5)?;
                if fields_seen || size > self.limit {
                    return Err(HpackError::SizeUpdate(self.limit));
                }
                self.table.resize(size);
                continue;
            } else {
                // 0000xxxx without indexing, 0001xxxx never indexed: the same to a decoder.
                (4, false)
            };
            fields_seen = true;
            let name_index = integer(&mut src, prefix)?;
            let name = if name_index == 0 {
                string(&mut src, &mut self.name)?
            } else {
                Str::Indexed(name_index)
            };
            let value = string(&mut src, &mut self.value)?;
            let n: &[u8] = match name {
                Str::Raw(s) => s,
                Str::Decoded => &self.name,
                Str::Indexed(i) => self.table.get(i).ok_or(HpackError::Index(i))?.0,
            };
            let v: &[u8] = match value {
                Str::Raw(s) => s,
                _ => &self.value,
            };
            list = list.saturating_add(n.len() + v.len() + FIELD_OVERHEAD);
            over |= list > max_list;
            if index {
                let (n, v) = (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v));
                if !over {
                    emit(&n, &v);
                }
                self.table.insert(n, v);
            } else if !over {
                emit(n, v);
            }
        }
        Ok(over)
    }
}

/// An HPACK integer with a `prefix`-bit prefix (RFC 7541 section 5.1).
fn integer(src: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let mask = (1u8 << prefix) - 1;
    let (&first, rest) = src.split_first().ok_or(HpackError::Truncated)?;
    *src = rest;
    let mut value = usize::from(first & mask);
    if value < usize::from(mask) {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let (&b, rest) = src.split_first().ok_or(HpackError::Truncated)?;
        *src = rest;
        if shift > MAX_INT_SHIFT {
            return Err(HpackError::Integer);
        }
        value += usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// A string literal (section 5.2): raw bytes stay in the block, Huffman ones go to `scratch`.
fn string<'a>(src: &mut &'a [u8], scratch: &mut Vec<u8>) -> Result<Str<'a>, HpackError> {
    let huffman = src.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(src, 7)?;
    if len > src.len() {
        return Err(HpackError::Truncated);
    }
    let (bytes, rest) = src.split_at(len);
    *src = rest;
    if huffman {
        scratch.clear();
        huffman::decode(bytes, scratch)?;
        Ok(Str::Decoded)
    } else {
        Ok(Str::Raw(bytes))
    }
}

/// Encodes response header blocks. Stateless but for a table size update owed to the client.
#[derive(Default)]
pub struct Encoder {
    size_update: bool,
}

impl Encoder {
    /// The client changed SETTINGS_HEADER_TABLE_SIZE: the next block starts with a size
    /// update (to 0, which is within any size and is what this encoder uses).
    pub fn table_size_changed(&mut self) {
        self.size_update = true;
    }

    /// Starts a header block with `:status`.
    pub fn status(&mut self, out: &mut BytesMut, status: u16) {
        self.trailers(out);
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if index != 0 {
            out.put_u8(0x80 | index);
            return;
        }
        // Literal without indexing, name `:status` (static index 8), three digits.
        out.put_u8(0x08);
        out.put_u8(3);
        out.put_slice(&status_digits(status));
    }

    /// Starts a trailers block (no pseudo-fields): only the size update owed, if one is.
    pub fn trailers(&mut self, out: &mut BytesMut) {
        if std::mem::take(&mut self.size_update) {
            out.put_u8(0x20);
        }
    }
}

/// A field as a literal without indexing; `name` is lowercase. Stateless, so a block can be
/// encoded before it is known which stream (or whether) it goes out on.
pub fn field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    match static_name(name) {
        Some(index) => put_int(out, 4, 0, index),
        None => {
            out.put_u8(0);
            put_int(out, 7, 0, name.len());
            out.put_slice(name);
        }
    }
    put_int(out, 7, 0, value.len());
    out.put_slice(value);
}

/// An integer with a `prefix`-bit prefix, `flags` in the bits above it.
fn put_int(out: &mut BytesMut, prefix: u8, flags: u8, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.put_u8((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// The static-table index of a response field name worth naming by index.
fn static_name(name: &[u8]) -> Option<usize> {
    Some(match name {
        b"content-type" => 31,
        b"content-length" => 28,
        b"date" => 33,
        b"server" => 54,
        b"cache-control" => 24,
        b"etag" => 34,
        b"last-modified" => 44,
        b"location" => 46,
        b"set-cookie" => 55,
        b"vary" => 59,
        b"content-encoding" => 26,
        b"accept-ranges" => 18,
        b"expires" => 36,
        b"age" => 21,
        b"via" => 60,
        b"allow" => 22,
        b"www-authenticate" => 61,
        b"link" => 45,
        b"content-disposition" => 25,
        b"content-language" => 27,
        b"content-location" => 29,
        b"content-range" => 30,
        b"retry-after" => 53,
        b"strict-transport-security" => 56,
        b"access-control-allow-origin" => 20,
        _ => return None,
    })
}
