//! What the proxy hands the policy engine: the workload's labels, the connection and the request.
//!
//! These types borrow from the proxy's own buffers (`&str` everywhere, headers behind a trait) so a
//! decision per request costs no copies of the request.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Traffic direction as seen from the workload the sidecar serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Connections the workload accepts (inbound listener).
    Ingress,
    /// Connections the workload opens (outbound listener).
    Egress,
}

impl Direction {
    /// `"ingress"` or `"egress"`, as used in rule ids and the admin output.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The labels of the workload this sidecar serves; matched against `endpointSelector`s at compile time.
///
/// Keys are stored without the Cilium source prefixes `k8s:` / `any:` so that `k8s:app=web` and
/// `app=web` select the same workload, as they do in Cilium.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// Parses one `key=value` pair (as given on the command line). A bare `key` means an empty value.
    pub fn parse_kv(s: &str) -> Result<(String, String), String> {
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (s.trim(), ""),
        };
        if k.is_empty() {
            return Err(format!(
                "invalid label `{s}`: expected `key=value` with a non-empty key, e.g. `app=web`"
            ));
        }
        Ok((strip_label_source(k).to_owned(), v.to_owned()))
    }

    /// The value of label `key` (prefix-insensitive, see the type docs).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(strip_label_source(key)).map(String::as_str)
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Labels(
            iter.into_iter()
                .map(|(k, v)| (strip_label_source(&k).to_owned(), v))
                .collect(),
        )
    }
}

/// Removes Cilium's label source prefixes (`k8s:`, `any:`) from a label key.
pub(crate) fn strip_label_source(key: &str) -> &str {
    key.strip_prefix("k8s:")
        .or_else(|| key.strip_prefix("any:"))
        .unwrap_or(key)
}

/// Transport protocol of a connection. In policy files `ANY` (or no protocol) matches all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum L4Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl L4Protocol {
    /// All protocols, in index order.
    pub const ALL: [L4Protocol; 3] = [L4Protocol::Tcp, L4Protocol::Udp, L4Protocol::Sctp];

    /// `"TCP"`, `"UDP"` or `"SCTP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            L4Protocol::Tcp => "TCP",
            L4Protocol::Udp => "UDP",
            L4Protocol::Sctp => "SCTP",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            L4Protocol::Tcp => 0,
            L4Protocol::Udp => 1,
            L4Protocol::Sctp => 2,
        }
    }
}

impl fmt::Display for L4Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The L3/L4 facts of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnMeta {
    pub direction: Direction,
    /// The other side: the client on ingress, the destination on egress.
    pub peer: IpAddr,
    /// Destination port of the original connection (inbound: the workload's own port; outbound: the
    /// remote port).
    pub port: u16,
    pub protocol: L4Protocol,
    /// The peer's security identity, when its transport established one (an mTLS certificate,
    /// or the address-to-identity table). Identity selectors (`fromEndpoints`, `toEndpoints`)
    /// will match it; the rules of today match the address alone.
    pub identity: Option<Identity>,
}

/// A numeric security identity, as Cilium numbers label sets: the proxy allocates one per set of
/// peer labels, so that a policy decision compares integers rather than label maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(pub u32);

/// Request headers, looked up by lower-case name. Implemented by the proxy over its header map.
pub trait Headers {
    /// The value of header `lowercase_name`: a field sent more than once is its values joined
    /// with `,` in order, as Envoy's header matchers see it (so `x-team: a` then `x-team: b` is
    /// `a,b`). Allow rules and header actions match this value. `None` if absent or a value is
    /// not text (the proxy takes visible ASCII, space and tab only).
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>>;

    /// Calls `f` on each field value of `lowercase_name` in order (`None` for a value that is not
    /// text) until it returns `true`; returns whether it did (`false` when absent). Deny rules
    /// match through this, so no value can hide behind another. The default visits only the
    /// joined value of [`Headers::get`], enough for maps holding one text value per name;
    /// implementors keeping repeated fields or non-text values must override it.
    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        self.get(lowercase_name).is_some_and(|v| f(Some(&v)))
    }
}

/// Joins the values of one field as [`Headers::get`] describes; `None` for no values, or when
/// any value is `None` (not valid text).
pub fn join_values<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Option<Cow<'a, str>> {
    let first = values.next()??;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = format!("{first},{}", second?);
    for v in values {
        joined.push(',');
        joined.push_str(v?);
    }
    Some(Cow::Owned(joined))
}

/// No headers at all (handy for L4-only callers and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn get(&self, _lowercase_name: &str) -> Option<Cow<'_, str>> {
        None
    }
}

/// (name, value) pairs; names compared case-insensitively.
fn pairs_get<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(
    pairs: impl Iterator<Item = &'a (K, V)>,
    lowercase_name: &str,
) -> Option<Cow<'a, str>> {
    join_values(
        pairs
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| Some(v.as_ref())),
    )
}

/// (name, value) pairs: [`Headers::any_value`] over each matching pair.
fn pairs_any<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(
    mut pairs: impl Iterator<Item = &'a (K, V)>,
    lowercase_name: &str,
    f: &mut dyn FnMut(Option<&str>) -> bool,
) -> bool {
    pairs.any(|(k, v)| k.as_ref().eq_ignore_ascii_case(lowercase_name) && f(Some(v.as_ref())))
}

impl Headers for &[(&str, &str)] {
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>> {
        pairs_get(self.iter(), lowercase_name)
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        pairs_any(self.iter(), lowercase_name, f)
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>> {
        pairs_get(self.iter(), lowercase_name)
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        pairs_any(self.iter(), lowercase_name, f)
    }
}

impl Headers for Vec<(String, String)> {
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>> {
        pairs_get(self.iter(), lowercase_name)
    }

    fn any_value(&self, lowercase_name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        pairs_any(self.iter(), lowercase_name, f)
    }
}

impl Headers for HashMap<String, String> {
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>> {
        HashMap::get(self, lowercase_name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl Headers for BTreeMap<String, String> {
    fn get(&self, lowercase_name: &str) -> Option<Cow<'_, str>> {
        BTreeMap::get(self, lowercase_name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

/// A gRPC call, taken by the proxy from `:path` (`/package.Service/Method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcCall<'a> {
    /// Fully qualified service, e.g. `helloworld.Greeter`.
    pub service: &'a str,
    /// Method name, e.g. `SayHello`.
    pub method: &'a str,
}

impl<'a> GrpcCall<'a> {
    /// Splits a gRPC `:path` into service and method. Only `/Service/Method` as gRPC's wire
    /// spec writes it (`"/" Service-Name "/" Method-Name`, protobuf names: a service is
    /// dot-separated words of letters, digits and `_`, a method one such word) is a call;
    /// anything else is `None`: a query (`?x=1`, a bare `?`), a `;` parameter, an escape, an
    /// empty name or another `/`. No server dispatches such a path by the method its text
    /// seems to name (grpcio dispatches on the whole path and finds nothing; a server on an
    /// HTTP router drops the query and finds the method), so a proxy must not guess either.
    pub fn from_path(path: &'a str) -> Option<GrpcCall<'a>> {
        let rest = path.strip_prefix('/')?;
        let (service, method) = rest.split_once('/')?;
        let word =
            |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !word(method) || !service.split('.').all(word) {
            return None;
        }
        Some(GrpcCall { service, method })
    }
}

/// One HTTP request (HTTP/1.1 or HTTP/2; gRPC calls carry `grpc`).
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// Path and query, exactly as `:path` / the request target. A `CONNECT` request has none
    /// (its target is an authority, RFC 9110 section 9.3.6): whatever is given here, no rule
    /// with a `path` matches it.
    pub path: &'a str,
    /// `Host` or `:authority`.
    pub host: Option<&'a str>,
    pub headers: &'a dyn Headers,
    pub grpc: Option<GrpcCall<'a>>,
}

impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("host", &self.host)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

/// One Kafka request, as the proxy decoded it: the request header always, the topics only for
/// the keys [`crate::CompiledPolicy::kafka_topic_keys`] names (for other keys no rule looks at
/// them: leave `topics` empty and `all_topics` false, and skip the body).
///
/// Everything borrows the proxy's buffers: the header's client id and the topic names as
/// `&str` into the frame, collected into a slice the proxy owns (a `SmallVec` on its stack
/// does). Topic ids (Fetch v13+, Metadata v10+) must be resolved to names first; a request
/// whose topics the proxy cannot name must be refused, not passed without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaRequest<'a> {
    /// The request header's `request_api_key`.
    pub api_key: i16,
    /// The request header's `request_api_version`.
    pub api_version: i16,
    /// The request header's `client_id`; `None` when null (or absent, header v0).
    pub client_id: Option<&'a str>,
    /// The topic names the request names, in any order; repeats are harmless.
    pub topics: &'a [&'a str],
    /// The request asks about every topic: Metadata with a null topic list (v1+) or an empty
    /// one (v0), OffsetFetch or DescribeLogDirs with a null list. Deny rules with a `topic`
    /// match it; allow rules with one never do.
    pub all_topics: bool,
}
