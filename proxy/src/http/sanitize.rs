//! A request made what policy checks and the upstream receives, before policy sees it, on
//! every HTTP path (hyper's, the in-task HTTP/2 path's, and the h2c upgrade's; the HTTP/1.1
//! fast path takes only requests this would leave as they are, see `fast::head`).
//!
//! Why one place: each step closes a way of showing a rule one request and the origin another.
//! Its fields ([`fields`]): the ones a `Connection` header names are removed before policy
//! looks, since they never reach the upstream, and naming `Host` or a framing field is refused;
//! names with `_` follow `headersWithUnderscores`. Its host ([`host`]): one `Host`, no
//! userinfo, a valid `host[:port]`, made canonical (`super::host`). Its path ([`path`]):
//! normalised (`super::path`), escaped slashes refused or decoded. `Err` says why the request
//! cannot be made so: a 400.

use std::borrow::Cow;

use http::uri::Scheme;
use http::{HeaderValue, Request, Uri, header};

use super::headers::{remove_underscored, take_connection_named};
use super::{host as hosts, path as paths};
use crate::config::HttpSettings;
use crate::conn::ConnCtx;
use crate::transport::Security;

/// What reading a request depends on besides the request: the sidecar's settings, and whether
/// the connection came over TLS (a host's default port is then 443).
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub settings: HttpSettings,
    pub tls: bool,
}

impl Reading {
    pub fn of(ctx: &ConnCtx) -> Reading {
        Reading {
            settings: ctx.shared.http,
            tls: ctx.peer.security != Security::Plain,
        }
    }

    /// The default port of a request's scheme: that of the scheme it names (absolute-form,
    /// HTTP/2 `:scheme`), else that of the connection it came on.
    pub fn default_port(&self, scheme: Option<&Scheme>) -> u16 {
        match scheme {
            Some(s) if *s == Scheme::HTTPS => 443,
            Some(_) => 80,
            None if self.tls => 443,
            None => 80,
        }
    }
}

/// Makes `req` what policy checks and the upstream receives (see the module docs).
pub fn sanitize<B>(req: &mut Request<B>, reading: Reading) -> Result<(), &'static str> {
    fields(req, reading.settings)?;
    host(req, reading)?;
    path(req, reading.settings)
}

/// The fields: those `Connection` names go now (policy must not decide on a field the upstream
/// will not get, and a field a rule's action sets later must not be removed on the way out);
/// names with `_` as the settings say.
fn fields<B>(req: &mut Request<B>, settings: HttpSettings) -> Result<(), &'static str> {
    take_connection_named(req.headers_mut())?;
    remove_underscored(req.headers_mut(), settings.headers_with_underscores)
}

/// One `Host` at most (RFC 9112 section 3.2; a second one could name another site than the
/// one checked), no userinfo, and the host in canonical form, where the request names it: the
/// target's authority (absolute-form, HTTP/2 `:authority`), else `Host`.
fn host<B>(req: &mut Request<B>, reading: Reading) -> Result<(), &'static str> {
    if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
        return Err("more than one Host header");
    }
    let default_port = reading.default_port(req.uri().scheme());
    if let Some(authority) = req.uri().authority() {
        // `user@host`: RFC 9110 section 4.2.4 makes it an error; the credentials would
        // otherwise be matched as the host, forwarded as `Host` and logged.
        if authority.as_str().contains('@') {
            return Err("userinfo in the request target");
        }
        if let Cow::Owned(canonical) = hosts::canonical(authority.as_str(), default_port)? {
            let mut parts = req.uri().clone().into_parts();
            parts.authority = Some(canonical.parse().map_err(|_| "invalid authority")?);
            *req.uri_mut() = Uri::from_parts(parts).map_err(|_| "invalid authority")?;
        }
        return Ok(());
    }
    let Some(value) = req.headers().get(header::HOST) else {
        return Ok(());
    };
    if value.is_empty() {
        return Ok(());
    }
    // Forwarded as `Host` or as HTTP/2's `:authority`: it must be one.
    let text = value
        .to_str()
        .ok()
        .filter(|h| is_host_port(h.as_bytes()))
        .ok_or("Host header is not a valid host[:port]")?;
    if let Cow::Owned(canonical) = hosts::canonical(text, default_port)? {
        let canonical = HeaderValue::from_str(&canonical).map_err(|_| "invalid Host header")?;
        req.headers_mut().insert(header::HOST, canonical);
    }
    Ok(())
}

/// The normalised path (see [`paths`]).
fn path<B>(req: &mut Request<B>, settings: HttpSettings) -> Result<(), &'static str> {
    let Some(pq) = req.uri().path_and_query() else {
        return Ok(());
    };
    let normal = match paths::normalize(pq.as_str(), settings.escaped_slashes) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(p)) => p,
        Err(bad) => return Err(bad.why()),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(normal.parse().map_err(|_| "invalid path")?);
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| "invalid path")?;
    Ok(())
}

/// `host[:port]` and nothing more: the `http` crate's authority (which refuses `a/b`, `a:1:2`
/// and a stray `%`) without userinfo.
pub(super) fn is_host_port(v: &[u8]) -> bool {
    http::uri::Authority::try_from(v).is_ok_and(|a| !a.as_str().contains('@'))
}
