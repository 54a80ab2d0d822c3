//! How requests are read before policy sees them, where origins disagree on what a request
//! means: the spellings a rule could be passed with otherwise.
//!
//! Why settings and not one fixed behaviour: the secure reading refuses or removes what some
//! applications need (a REST API that puts an encoded `/` in an id; a legacy client that sends
//! `X_Api_Key`). The defaults are the secure ones, as Envoy's `REJECT_REQUEST` and nginx's
//! `underscores_in_headers off` are, and an application that needs the other reading says so.

use serde::{Deserialize, Serialize};

/// `http` in the config file: `escapedSlashes`, `headersWithUnderscores`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSettings {
    pub escaped_slashes: EscapedSlashes,
    pub headers_with_underscores: HeadersWithUnderscores,
}

/// What becomes of `%2F` and `%5C` (any case) in a request's path. Servers disagree: nginx and
/// WSGI servers decode them before they resolve dot segments, so `/public/..%2fprivate` is
/// `/private` to them while a rule on the raw text sees a path under `/public/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EscapedSlashes {
    /// 400 (Envoy's `path_with_escaped_slashes_action: REJECT_REQUEST`).
    #[default]
    Reject,
    /// Decoded to `/` (a backslash is a separator to Envoy's URL canonicaliser and to Windows
    /// servers), then the path is normalised: policy checks, and the upstream gets, the result
    /// (Envoy's `UNESCAPE_AND_FORWARD` with `normalize_path`).
    Decode,
}

/// What becomes of a request field whose name holds `_`: CGI, WSGI and Rack map `X-Evil` and
/// `X_Evil` to the same `HTTP_X_EVIL`, so a rule on one is passed with the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadersWithUnderscores {
    /// Forwarded, and seen by policy, as they are.
    Allow,
    /// Removed before policy sees the request (nginx's default).
    #[default]
    Drop,
    /// 400 (Envoy's `headers_with_underscores_action: REJECT_REQUEST`).
    Reject,
}
