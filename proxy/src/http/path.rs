//! The request path as policy sees it and the upstream receives it.
//!
//! Why: rules match the path text, and servers resolve `/public/../private`, `/v1//admin` and
//! `/v1/%61dmin` to the same resources as `/private` and `/v1/admin`. Matching the raw text
//! would let any of those spellings past a rule written for the plain one. Like Envoy with
//! `normalize_path` and `merge_slashes` on, the proxy normalises the path (RFC 3986 section
//! 6.2.2: percent-encoded unreserved characters decoded, other escapes upper-cased, dot segments
//! removed; plus repeated slashes merged), checks policy on the result and forwards the result,
//! so what was checked is what the upstream serves. The query is left as it is.
//!
//! An escaped slash (`%2F`, `%5C`, any case) is where servers part ways: nginx and WSGI servers
//! decode it before resolving dot segments (`/public/..%2fprivate` is `/private` to nginx),
//! others keep it as a byte of a segment. No one reading suits both, so by default such a path
//! is refused ([`EscapedSlashes::Reject`], Envoy's `REJECT_REQUEST`); with
//! [`EscapedSlashes::Decode`] it is decoded to `/` and then normalised like any other.

use std::borrow::Cow;

use crate::config::EscapedSlashes;

/// Why a path cannot be made what policy checks: the request is answered 400.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum BadPath {
    /// A `%` not followed by two hex digits.
    InvalidEscape,
    /// `%2F` or `%5C` under [`EscapedSlashes::Reject`].
    EscapedSlash,
}

impl BadPath {
    /// The reason, for the 400's text and the access log.
    pub fn why(self) -> &'static str {
        match self {
            BadPath::InvalidEscape => "invalid percent-encoding in the path",
            BadPath::EscapedSlash => "escaped slash (%2F or %5C) in the path",
        }
    }
}

/// The normalised form of `target` (origin-form: path and optional query), borrowed when it is
/// already normal, which is the common case and costs one scan.
pub fn normalize(target: &str, slashes: EscapedSlashes) -> Result<Cow<'_, str>, BadPath> {
    let (path, query) = match target.find('?') {
        Some(i) => target.split_at(i),
        None => (target, ""),
    };
    if !path.starts_with('/') || is_normal(path, slashes)? {
        return Ok(Cow::Borrowed(target));
    }
    let decoded = decode_unreserved(path)?;
    let mut out = remove_dot_segments(&decoded);
    out.push_str(query);
    Ok(Cow::Owned(out))
}

/// True when nothing would change: no escapes to rewrite, no `//`, no `.`/`..` segment.
fn is_normal(path: &str, slashes: EscapedSlashes) -> Result<bool, BadPath> {
    let b = path.as_bytes();
    let mut normal = true;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'%' => {
                let (hi, lo) = escape_at(b, i)?;
                let byte = hex_byte(hi, lo);
                if is_slash(byte) && slashes == EscapedSlashes::Reject {
                    return Err(BadPath::EscapedSlash);
                }
                if is_unreserved(byte)
                    || is_slash(byte)
                    || hi.is_ascii_lowercase()
                    || lo.is_ascii_lowercase()
                {
                    normal = false;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => normal = false,
            b'.' if i > 0 && b[i - 1] == b'/' && is_dot_segment_at(b, i) => normal = false,
            _ => {}
        }
    }
    Ok(normal)
}

/// The two hex digits after the `%` at `i`.
fn escape_at(b: &[u8], i: usize) -> Result<(u8, u8), BadPath> {
    match (b.get(i + 1), b.get(i + 2)) {
        (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => Ok((hi, lo)),
        _ => Err(BadPath::InvalidEscape),
    }
}

/// `/` or `\`: a separator once decoded, to nginx, WSGI servers or Windows.
fn is_slash(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// `.` or `..` starting at `i` (just after a `/`) and ending the segment.
fn is_dot_segment_at(b: &[u8], i: usize) -> bool {
    let end = |j: usize| b.get(j).is_none_or(|&c| c == b'/');
    end(i + 1) || (b.get(i + 1) == Some(&b'.') && end(i + 2))
}

fn hex_byte(hi: u8, lo: u8) -> u8 {
    let v = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        _ => (c | 0x20) - b'a' + 10,
    };
    v(hi) << 4 | v(lo)
}

/// RFC 3986 section 2.3.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escapes of unreserved characters and of slashes (to `/`; [`is_normal`] refused them
/// already unless they are to be decoded), and upper-cases the hex digits of the others.
fn decode_unreserved(path: &str) -> Result<String, BadPath> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (hi, lo) = escape_at(b, i)?;
            let c = hex_byte(hi, lo);
            if is_unreserved(c) {
                out.push(char::from(c));
            } else if is_slash(c) {
                out.push('/');
            } else {
                out.push('%');
                out.push(char::from(hi.to_ascii_uppercase()));
                out.push(char::from(lo.to_ascii_uppercase()));
            }
            i += 3;
        } else {
            // Not an escape: copy the run up to the next one (valid UTF-8 boundaries, since `%`
            // is ASCII).
            let next = b[i..]
                .iter()
                .position(|&c| c == b'%')
                .map_or(b.len(), |n| i + n);
            out.push_str(&path[i..next]);
            i = next;
        }
    }
    Ok(out)
}

/// Merges repeated slashes and resolves `.` and `..` segments (RFC 3986 section 5.2.4; `..` at
/// the root stays at the root). `path` starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    // A trailing `/`, `/.` or `/..` leaves the path ending in `/`.
    let mut trailing_slash = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            "" | "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
