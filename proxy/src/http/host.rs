//! The host as policy sees it and the upstream receives it.
//!
//! Why: origins read a host loosely. nginx serves its `admin.local` site for `ADMIN.LOCAL`,
//! `Admin.Local`, `admin.local.`, `admin.local:` and `admin.local:80` alike (it lower-cases the
//! name, drops one trailing dot, an empty port and the default one), while a rule matches text:
//! each of those spellings passed a deny rule on `admin\.local(:[0-9]+)?`. So the proxy makes
//! the host canonical before policy sees it (lower case, no trailing dot, no empty port, no
//! port that is the scheme's default, a port in plain decimal, an IPv6 literal as RFC 5952
//! prints it) and forwards that same text, so the host a rule checked is the host the origin
//! serves. A name with an empty label (`a..b`, `.a`, `a..`) is no DNS name (nginx refuses it
//! too): 400.

use std::borrow::Cow;
use std::net::Ipv6Addr;

/// Why a host cannot be made canonical: the request is answered 400.
const NOT_A_HOST: &str = "Host is not a valid host name";

/// `authority` (`host[:port]`, already checked to be one) in canonical form, with
/// `default_port` (the scheme's) left out; borrowed when canonical already, which is the
/// common case and costs one scan.
pub fn canonical(authority: &str, default_port: u16) -> Result<Cow<'_, str>, &'static str> {
    if is_canonical(authority, default_port) {
        return Ok(Cow::Borrowed(authority));
    }
    let (host, port) = split(authority)?;
    let mut out = canonical_name(host)?;
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        let port = port_number(port).ok_or("invalid port in the host")?;
        if port != default_port {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    Ok(Cow::Owned(out))
}

/// True when `authority` is canonical already: a name without upper case or an empty label,
/// and a port, if any, in plain decimal and not the default. IPv6 literals are never taken as
/// canonical here ([`canonical`] prints them anew).
pub fn is_canonical(authority: &str, default_port: u16) -> bool {
    let (host, port) = match authority.rfind(':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    !host.is_empty()
        && !host.starts_with('.')
        && !host.ends_with('.')
        && !host.contains("..")
        && !host.bytes().any(|b| b.is_ascii_uppercase() || b == b'[')
        && port.is_none_or(|p| {
            !p.starts_with('0') && port_number(p).is_some_and(|n| n != default_port)
        })
}

/// Host and port (`None`: no `:`; `Some("")`: an empty port).
fn split(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let end = authority.find(']').ok_or(NOT_A_HOST)? + 1;
        let (host, rest) = authority.split_at(end);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err(NOT_A_HOST),
        };
    }
    Ok(match authority.rfind(':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    })
}

fn canonical_name(host: &str) -> Result<String, &'static str> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| "Host is not a valid IPv6 literal")?;
        return Ok(format!("[{ip}]"));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(NOT_A_HOST);
    }
    Ok(name.to_ascii_lowercase())
}

/// Digits only (leading zeros allowed), within 0..=65535.
fn port_number(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.trim_start_matches('0').parse().ok().or_else(|| {
        // All zeros.
        p.bytes().all(|b| b == b'0').then_some(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(a: &str) -> Result<String, &'static str> {
        canonical(a, 80).map(Cow::into_owned)
    }

    #[test]
    fn canonical_hosts_are_borrowed() {
        for a in [
            "web",
            "admin.local",
            "a-b.c:8080",
            "10.0.0.1",
            "10.0.0.1:1",
            "x_y:65535",
        ] {
            assert!(matches!(canonical(a, 80), Ok(Cow::Borrowed(_))), "{a}");
        }
        assert!(matches!(canonical("web:80", 443), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn every_spelling_of_a_host_becomes_one() {
        for a in [
            "ADMIN.LOCAL",
            "Admin.Local",
            "admin.local.",
            "admin.local:",
            "admin.local:80",
            "ADMIN.LOCAL.:80",
            "admin.local:0080",
            "admin.local.:",
        ] {
            assert_eq!(canon(a).as_deref(), Ok("admin.local"), "{a}");
        }
        assert_eq!(
            canon("Admin.Local.:08080").as_deref(),
            Ok("admin.local:8080")
        );
        assert_eq!(canonical("a:443", 443).as_deref(), Ok("a"));
        assert_eq!(canonical("a:80", 443).as_deref(), Ok("a:80"));
        assert_eq!(canon("a:0").as_deref(), Ok("a:0"));
        assert_eq!(canon("a:000").as_deref(), Ok("a:0"));
    }

    #[test]
    fn ipv6_literals_are_printed_canonically() {
        assert_eq!(canon("[::1]:80").as_deref(), Ok("[::1]"));
        assert_eq!(canon("[0:0:0:0:0:0:0:1]:8080").as_deref(), Ok("[::1]:8080"));
        assert_eq!(canon("[FE80::A]").as_deref(), Ok("[fe80::a]"));
    }

    #[test]
    fn what_is_no_host_is_refused() {
        for a in [
            "admin..local",
            ".admin.local",
            "admin.local..",
            ".",
            ":80",
            "a:65536",
            "a:8x",
            "[::1",
            "[::1]x",
            "[v1.x]",
            "[::g]",
        ] {
            assert!(canon(a).is_err(), "{a}");
        }
    }
}
