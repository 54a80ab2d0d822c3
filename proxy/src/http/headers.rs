//! Header handling on the forwarding path: the view the policy engine reads, the actions a policy
//! may take on a header mismatch, and hop-by-hop headers that never cross the proxy.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use sockmesh_policy::HeaderAction;

use crate::config::HeadersWithUnderscores;

/// Lets the policy engine read request headers without copying them.
pub struct HeaderView<'a>(pub &'a HeaderMap);

impl sockmesh_policy::Headers for HeaderView<'_> {
    fn get(&self, lowercase_name: &str) -> Option<std::borrow::Cow<'_, str>> {
        sockmesh_policy::join_values(
            self.0
                .get_all(lowercase_name)
                .iter()
                .map(|v| v.to_str().ok()),
        )
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        self.0
            .get_all(lowercase_name)
            .iter()
            .any(|v| f(v.to_str().ok()))
    }
}

/// Lets the policy engine read two header maps as one (a request's fields, then its trailer
/// fields), in that order.
pub struct HeaderViews<'a>(pub [&'a HeaderMap; 2]);

impl sockmesh_policy::Headers for HeaderViews<'_> {
    fn get(&self, lowercase_name: &str) -> Option<std::borrow::Cow<'_, str>> {
        let [first, second] = &self.0;
        let values = first.get_all(lowercase_name).iter();
        let values = values.chain(second.get_all(lowercase_name).iter());
        sockmesh_policy::join_values(values.map(|v| v.to_str().ok()))
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        self.0
            .iter()
            .any(|m| m.get_all(lowercase_name).iter().any(|v| f(v.to_str().ok())))
    }
}

/// The request's `Content-Length`, when it has one that is a number.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A `Content-Length` value as it came off the wire: digits only (no sign, no spaces, no list).
pub fn length_digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A status code as three ASCII digits (httparse and HTTP/2 keep it within 100..=999).
pub fn status_digits(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

/// Applies `headerMatches` mismatch actions (ADD, DELETE, REPLACE); returns a note for the access
/// log naming every action taken, LOG included.
pub fn apply_actions(headers: &mut HeaderMap, actions: &[HeaderAction]) -> String {
    let mut notes = Vec::new();
    for action in actions {
        match action {
            HeaderAction::Log { name, .. } => notes.push(format!("headerMismatch({name})")),
            HeaderAction::Add { name, value } => {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    headers.append(n, v);
                }
                notes.push(format!("headerAdd({name})"));
            }
            HeaderAction::Delete { name } => {
                headers.remove(name.as_str());
                notes.push(format!("headerDelete({name})"));
            }
            HeaderAction::Replace { name, value } => {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    headers.insert(n, v);
                }
                notes.push(format!("headerReplace({name})"));
            }
        }
    }
    notes.join(",")
}

/// Connection-specific fields (RFC 9113 section 8.2.2): never forwarded, and malformed in
/// HTTP/2. `te` is one too, unless its value is `trailers`.
pub fn is_connection_specific(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "upgrade"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "http2-settings"
    )
}

/// Hop-by-hop fields (RFC 9110 section 7.6.1) and the other connection-specific ones, which never
/// cross the proxy as they came: the set [`strip_hop_by_hop`] acts on, by name in any case (the
/// fast path reads names from the wire).
pub fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// Removes hop-by-hop headers (RFC 9110 section 7.6.1), including those named in `Connection`.
/// `keep_upgrade` keeps `Connection: upgrade` and `Upgrade` for protocol-switch passthrough.
///
/// Runs twice per proxied request (request and response), and most upstream responses carry
/// `Connection: keep-alive`: names are prebuilt, and a list is only allocated for a `Connection`
/// token that names some other header.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of these: one pass over the names decides, without allocating.
    let any = headers.keys().any(|n| is_hop_by_hop(n.as_str()));
    if !any && !keep_upgrade {
        return;
    }
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            // Removed below anyway, or not a header name at all.
            if token.eq_ignore_ascii_case("keep-alive")
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("upgrade")
                || token.is_empty()
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
    for name in [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &header::TRANSFER_ENCODING,
        &HTTP2_SETTINGS,
    ] {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    // `te: trailers` is the only TE allowed in HTTP/2 and is needed by gRPC.
    if let Some(te) = headers.get(header::TE)
        && !te.as_bytes().eq_ignore_ascii_case(b"trailers")
    {
        headers.remove(header::TE);
    }
}

/// Fields a `Connection` header may not name: the proxy forwards them itself. Dropping `Host`
/// would forward another host than the one policy checked (the upstream then got the
/// endpoint's address and served its default site); dropping a framing field, a body without
/// the framing it came in.
const NEVER_NAMED: [&str; 3] = ["host", "content-length", "transfer-encoding"];

/// Removes the fields a request's `Connection` header names (RFC 9110 section 7.6.1), and the
/// names themselves from `Connection`, which keeps only its own tokens (`close`, `keep-alive`,
/// `upgrade`) and hop-by-hop names. Runs before policy sees the request: no rule then decides
/// on a field the upstream will not get, and a field a rule's header action sets later is not
/// removed on the way out by [`strip_hop_by_hop`]. `Err` (a 400) when it names `Host` or a
/// framing field, or is not text.
pub fn take_connection_named(headers: &mut HeaderMap) -> Result<(), &'static str> {
    if !headers.contains_key(header::CONNECTION) {
        return Ok(());
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let value = value
            .to_str()
            .map_err(|_| "Connection header is not text")?;
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if NEVER_NAMED.iter().any(|n| token.eq_ignore_ascii_case(n)) {
                return Err("Connection header names a field the proxy forwards");
            }
            if token.eq_ignore_ascii_case("close") || is_hop_by_hop(token) {
                kept.push(token);
            } else if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
            // Anything else is no field name: nothing to remove.
        }
    }
    if named.is_empty() {
        return Ok(());
    }
    let kept = HeaderValue::from_str(&kept.join(", ")).ok();
    for name in named {
        headers.remove(name);
    }
    match kept.filter(|k| !k.is_empty()) {
        Some(kept) => headers.insert(header::CONNECTION, kept),
        None => headers.remove(header::CONNECTION),
    };
    Ok(())
}

/// Applies `headersWithUnderscores` to request fields (or trailer fields): `Allow` leaves
/// them, `Drop` removes every field whose name holds `_`, `Reject` refuses the request (400).
pub fn remove_underscored(
    headers: &mut HeaderMap,
    action: HeadersWithUnderscores,
) -> Result<(), &'static str> {
    if action == HeadersWithUnderscores::Allow || !headers.keys().any(|n| n.as_str().contains('_'))
    {
        return Ok(());
    }
    if action == HeadersWithUnderscores::Reject {
        return Err("header name with an underscore");
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().contains('_'))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
    Ok(())
}

/// True for `Connection: ... upgrade ...` with an `Upgrade` header.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}
