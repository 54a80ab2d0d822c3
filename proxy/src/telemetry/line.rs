//! The access-log line, written straight into a reused buffer: the same bytes the `tracing`
//! `fmt` layer wrote for the access event (human, with or without ANSI colours, and JSON), so
//! users' parsers and the tests keep working, without the event machinery.
//!
//! Why: through `tracing` (field visitor, `Debug` per field, `format!` of the upstream address,
//! the JSON layer's map of `String`s) formatting the line took 1.2 us of CPU (human) and 2.2 us
//! (JSON); this takes 0.19 and 0.21 us (`cargo bench -p sockmesh --bench access_log`, thread CPU
//! time). Each field's separator and name are one constant copy, strings that need no escaping
//! (nearly all; checked by a vectorised scan) are copied as they are, numbers go through `itoa`,
//! IPv4 addresses are written by hand, and the date and time to the second are kept from the
//! previous line. A string that does need escaping is written by what wrote it before (`str`'s
//! `Debug`, `serde_json`), so every byte stays the same: `telemetry/tests.rs` compares the two
//! for arbitrary entries.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use super::access_log::Entry;

/// How lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `tracing`'s default ("full") format; `ansi` when stdout is a terminal.
    Human { ansi: bool },
    /// One JSON object per line.
    Json,
}

/// The date and time of the last line, to the second: `YYYY-MM-DDTHH:MM:SS`.
#[derive(Default)]
pub struct Clock {
    second: Option<u64>,
    text: Vec<u8>,
}

impl Clock {
    /// `now` as the `fmt` layer writes it: RFC 3339, microseconds, UTC. A clock set before 1970
    /// reads as 1970-01-01T00:00:00.000000Z.
    fn write(&mut self, out: &mut Vec<u8>, now: SystemTime) {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since.as_secs();
        if self.second != Some(second) {
            self.text.clear();
            civil(&mut self.text, second);
            self.second = Some(second);
        }
        out.extend_from_slice(&self.text);
        out.push(b'.');
        pad(out, u64::from(since.subsec_micros()), 6);
        out.push(b'Z');
    }
}

/// Writes `secs` after the epoch as `YYYY-MM-DDTHH:MM:SS` (proleptic Gregorian calendar; days
/// to a date by Howard Hinnant's `civil_from_days`).
fn civil(out: &mut Vec<u8>, secs: u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Shifted to 0000-03-01, so that the leap day is the era's last.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    if year > 9999 {
        out.push(b'+');
        out.extend_from_slice(itoa::Buffer::new().format(year).as_bytes());
    } else {
        pad(out, year, 4);
    }
    for (sep, value) in [
        (b'-', month),
        (b'-', day),
        (b'T', rem / 3_600),
        (b':', rem / 60 % 60),
        (b':', rem % 60),
    ] {
        out.push(sep);
        pad(out, value, 2);
    }
}

/// `n` in decimal, zero-padded to `width` digits.
fn pad(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n).as_bytes();
    out.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(digits);
}

/// Appends the access-log line for `e` at `now`, newline included.
pub fn write(out: &mut Vec<u8>, clock: &mut Clock, style: Style, now: SystemTime, e: &Entry<'_>) {
    out.reserve(
        256 + e.path.len() + e.authority.len() + e.rule.len() + e.note.len() + e.listener.len(),
    );
    match style {
        Style::Human { ansi: false } => {
            clock.write(out, now);
            out.extend_from_slice(b"  INFO access:");
            fields(out, &HUMAN_KEYS, false, e);
            out.push(b'\n');
        }
        Style::Human { ansi: true } => {
            out.extend_from_slice(DIM);
            clock.write(out, now);
            out.extend_from_slice(ANSI_LEVEL_TARGET);
            fields(out, &ANSI_KEYS, false, e);
            out.push(b'\n');
        }
        Style::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            clock.write(out, now);
            out.extend_from_slice(b"\",\"level\":\"INFO\"");
            fields(out, &JSON_KEYS, true, e);
            out.extend_from_slice(b",\"target\":\"access\"}\n");
        }
    }
}

/// The text before each field's value, per style: the separator and the name (in the human
/// format the first field's space ends `access:`). Whole, so that each is one copy.
type Keys = [&'static [u8]; 15];

macro_rules! keys {
    ($($name:literal),*) => {
        const HUMAN_KEYS: Keys = [$(concat!(" ", $name, "=").as_bytes()),*];
        // The `fmt` layer's colours (nu-ansi-term's escapes): the name italic, `=` dimmed.
        const ANSI_KEYS: Keys = [$(concat!(" \x1b[3m", $name, "\x1b[0m\x1b[2m=\x1b[0m").as_bytes()),*];
        const JSON_KEYS: Keys = [$(concat!(",\"", $name, "\":").as_bytes()),*];
    };
}

// In the order the access event declared them.
keys!(
    "listener",
    "protocol",
    "client",
    "method",
    "path",
    "authority",
    "verdict",
    "rule",
    "upstream",
    "status",
    "grpc_status",
    "bytes_in",
    "bytes_out",
    "duration_us",
    "note"
);

// The `fmt` layer's colours: timestamp and target dimmed, INFO green.
const DIM: &[u8] = b"\x1b[2m";
const ANSI_LEVEL_TARGET: &[u8] =
    b"\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2maccess\x1b[0m\x1b[2m:\x1b[0m";

/// The fields, each after its key. Strings are quoted and escaped (`Debug` or JSON); addresses,
/// logged through `Display`, are bare in the human format and strings in JSON; numbers bare.
fn fields(out: &mut Vec<u8>, keys: &Keys, json: bool, e: &Entry<'_>) {
    let text = |out: &mut Vec<u8>, key: usize, s: &str| {
        out.extend_from_slice(keys[key]);
        if json {
            json_str(out, s);
        } else {
            debug_str(out, s);
        }
    };
    let address = |out: &mut Vec<u8>, key: usize, a: Option<SocketAddr>| {
        out.extend_from_slice(keys[key]);
        if json {
            out.push(b'"');
            addr(out, a);
            out.push(b'"');
        } else {
            addr(out, a);
        }
    };
    let number = |out: &mut Vec<u8>, key: usize, n: u64| {
        out.extend_from_slice(keys[key]);
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    };
    text(out, 0, e.listener);
    text(out, 1, e.protocol.as_str());
    address(out, 2, Some(e.client));
    text(out, 3, e.method);
    text(out, 4, e.path);
    text(out, 5, e.authority);
    text(out, 6, if e.allowed { "allow" } else { "deny" });
    text(out, 7, e.rule);
    address(out, 8, e.upstream);
    number(out, 9, u64::from(e.status));
    // An absent `grpc_status` was no field at all.
    if let Some(code) = e.grpc_status {
        number(out, 10, u64::from(code));
    }
    number(out, 11, e.bytes_in);
    number(out, 12, e.bytes_out);
    number(out, 13, e.duration.as_micros() as u64);
    text(out, 14, e.note);
}

/// Whether any byte of `s` is one `test` picks. No early exit and no branch per byte, so the
/// compiler makes it a vector loop (byte by byte, with `all`, it was a third of a line's cost).
#[inline(always)]
fn any_byte(s: &str, test: impl Fn(u8) -> bool) -> bool {
    s.bytes().fold(false, |found, b| found | test(b))
}

/// `s` as `str`'s `Debug` writes it.
fn debug_str(out: &mut Vec<u8>, s: &str) {
    // Printable ASCII other than `"` and `\` is written as it is.
    if !any_byte(s, |b| {
        !(b' '..=b'~').contains(&b) | (b == b'"') | (b == b'\\')
    }) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// `s` as a JSON string, as `serde_json` writes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes only control characters, `"` and `\`.
    if !any_byte(s, |b| (b < b' ') | (b == b'"') | (b == b'\\')) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A socket address as its `Display` writes it, `-` for none.
fn addr(out: &mut Vec<u8>, a: Option<SocketAddr>) {
    match a {
        None => out.push(b'-'),
        Some(SocketAddr::V4(v4)) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(v4.port()).as_bytes());
        }
        Some(v6) => {
            debug_assert!(matches!(v6.ip(), IpAddr::V6(_)));
            let _ = write!(out, "{v6}");
        }
    }
}

/// The access event as `access_log` made it before this module: `tracing::info!` on target
/// `access` with these fields, for the `fmt` layer to write. The reference [`write`] is compared
/// with (tests) and measured against (`benches/access_log.rs`).
#[doc(hidden)]
pub fn event(e: &Entry<'_>) {
    let upstream = e
        .upstream
        .map(|u| u.to_string())
        .unwrap_or_else(|| "-".into());
    tracing::info!(
        target: "access",
        listener = e.listener,
        protocol = e.protocol.as_str(),
        client = %e.client,
        method = e.method,
        path = e.path,
        authority = e.authority,
        verdict = if e.allowed { "allow" } else { "deny" },
        rule = e.rule,
        upstream = %upstream,
        status = e.status,
        grpc_status = e.grpc_status,
        bytes_in = e.bytes_in,
        bytes_out = e.bytes_out,
        duration_us = e.duration.as_micros() as u64,
        note = e.note,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_match_a_day_by_day_count() {
        let mut out = Vec::new();
        // Every day from 1970 to 2110 (leap years, 2000, 2100), at a time of day that moves.
        let mut expected = (1970, 1, 1);
        for day in 0..141 * 366 {
            if day > 0 {
                expected = next_day(expected);
            }
            let secs = day * 86_400 + (day * 7_919) % 86_400;
            out.clear();
            civil(&mut out, secs);
            let rem = secs % 86_400;
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                expected.0,
                expected.1,
                expected.2,
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            assert_eq!(String::from_utf8_lossy(&out), want, "day {day}");
        }
    }

    /// The day after `(y, m, d)`, counted by hand.
    fn next_day((y, m, d): (u64, u64, u64)) -> (u64, u64, u64) {
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let len = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        match (d < len, m < 12) {
            (true, _) => (y, m, d + 1),
            (false, true) => (y, m + 1, 1),
            (false, false) => (y + 1, 1, 1),
        }
    }

    #[test]
    fn far_years_and_the_clock_cache() {
        let mut out = Vec::new();
        civil(&mut out, 253_402_300_800); // 10000-01-01
        assert_eq!(out, b"+10000-01-01T00:00:00");
        let mut clock = Clock::default();
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        out.clear();
        clock.write(&mut out, t);
        clock.write(&mut out, t + std::time::Duration::from_micros(1));
        clock.write(&mut out, t + std::time::Duration::from_secs(1));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "2023-11-14T22:13:20.123456Z2023-11-14T22:13:20.123457Z2023-11-14T22:13:21.123456Z"
        );
        out.clear();
        clock.write(&mut out, UNIX_EPOCH - std::time::Duration::from_secs(5));
        assert_eq!(out, b"1970-01-01T00:00:00.000000Z");
    }
}
