//! The L7 index of one port group: all HTTP and gRPC rules of its entries, numbered in decision order.
//!
//! A request is matched field by field ([`FieldIndex`]) and the per-field bitsets are intersected;
//! peers are one more bitset; only the surviving candidates are checked, in order, for their header
//! conditions, so the first survivor is the deciding rule.

use super::regexes::BuildError;

use crate::model::{GrpcRule, HttpRule, MismatchAction};
use crate::request::{Headers, HttpRequest};
use crate::verdict::{HeaderAction, RuleId};

use super::bits::Bits;
use super::field::{FieldIndex, Pattern};
use super::header::HeaderMatching;
use super::owners::RuleOwners;

/// One L7 rule of a group.
#[derive(Debug)]
pub(crate) struct L7Rule {
    /// Index of the owning entry within the group.
    pub(crate) local_entry: usize,
    pub(crate) id: RuleId,
    /// Header conditions: (lower-case name, required exact value or `None` for presence).
    required: Vec<(String, Option<String>)>,
    /// `headerMatches` with a mismatch action: (lower-case name, expected value, action).
    on_mismatch: Vec<(String, Option<String>, MismatchAction)>,
}

/// The source of one L7 rule, as handed to [`L7Index::build`].
pub(crate) enum L7Source<'a> {
    Http(&'a HttpRule),
    Grpc(&'a GrpcRule),
}

#[derive(Debug)]
pub(crate) struct L7Index {
    rules: Vec<L7Rule>,
    owners: RuleOwners,
    method: FieldIndex,
    path: FieldIndex,
    host: FieldIndex,
    /// Rules that are HTTP rules (gRPC rules never match via the HTTP fields).
    http: Bits,
    grpc_service: FieldIndex,
    grpc_method: FieldIndex,
    grpc_service_re: FieldIndex,
    grpc_method_re: FieldIndex,
    grpc: Bits,
}

impl L7Index {
    /// `sources` must be in decision order; each item is (local entry, rule id, rule).
    /// `all_peers` marks the local entries that match every peer.
    pub(crate) fn build(
        sources: Vec<(usize, RuleId, L7Source<'_>)>,
        all_peers: &Bits,
    ) -> Result<L7Index, BuildError> {
        let n = sources.len();
        let owners = RuleOwners::build(sources.iter().map(|(local, _, _)| *local), n, all_peers);
        let mut http = Bits::new(n);
        let mut grpc = Bits::new(n);
        let mut rules = Vec::with_capacity(n);
        let (mut method, mut path, mut host) = (Vec::new(), Vec::new(), Vec::new());
        let (mut svc, mut meth, mut svc_re, mut meth_re) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, (local_entry, id, src)) in sources.into_iter().enumerate() {
            let mut required = Vec::new();
            let mut on_mismatch = Vec::new();
            match src {
                L7Source::Http(r) => {
                    http.set(i);
                    method.push((i, Pattern::regex(&r.method)));
                    path.push((i, Pattern::regex(&r.path)));
                    host.push((i, Pattern::regex(&r.host)));
                    for line in &r.headers {
                        if let Ok(h) = crate::model::parse_header_line(line) {
                            required.push(h);
                        }
                    }
                    for m in &r.header_matches {
                        let name = m.name.to_ascii_lowercase();
                        match m.mismatch {
                            None => required.push((name, m.value.clone())),
                            Some(a) => on_mismatch.push((name, m.value.clone(), a)),
                        }
                    }
                }
                L7Source::Grpc(r) => {
                    grpc.set(i);
                    svc.push((i, Pattern::exact(&r.service)));
                    meth.push((i, Pattern::exact(&r.method)));
                    svc_re.push((i, Pattern::regex(&r.service_regex)));
                    meth_re.push((i, Pattern::regex(&r.method_regex)));
                }
            }
            rules.push(L7Rule {
                local_entry,
                id,
                required,
                on_mismatch,
            });
        }
        Ok(L7Index {
            rules,
            owners,
            method: FieldIndex::build(n, method, false)?,
            path: FieldIndex::build(n, path, true)?,
            host: FieldIndex::build(n, host, false)?,
            http,
            grpc_service: FieldIndex::build(n, svc, false)?,
            grpc_method: FieldIndex::build(n, meth, false)?,
            grpc_service_re: FieldIndex::build(n, svc_re, false)?,
            grpc_method_re: FieldIndex::build(n, meth_re, false)?,
            grpc,
        })
    }

    /// The rules of all-peer entries plus those of the CIDR-matched entries `hits`.
    pub(crate) fn rules_of(&self, hits: &[usize]) -> Bits {
        self.owners.rules_of(hits)
    }

    /// The first rule (in decision order) that matches `req`, among `peer_rules` (the rules whose
    /// entry matches the peer, see [`L7Index::rules_of`]); header conditions are met as `headers`
    /// says (the side's semantics).
    pub(crate) fn first_match(
        &self,
        req: &HttpRequest<'_>,
        peer_rules: &Bits,
        headers: HeaderMatching,
    ) -> Option<&L7Rule> {
        // Path first: it is the most selective field, and an empty candidate set stops early.
        // A CONNECT has no path: only rules without one can match it.
        let mut cand = self.http.clone();
        cand.and_assign(peer_rules);
        let path = (req.method != "CONNECT").then_some(req.path);
        self.path.and_into(path, &mut cand);
        if !cand.is_empty() {
            self.method.and_into(Some(req.method), &mut cand);
            self.host.and_into(req.host, &mut cand);
        }
        if let Some(call) = req.grpc {
            let mut g = self.grpc.clone();
            g.and_assign(peer_rules);
            self.grpc_service.and_into(Some(call.service), &mut g);
            self.grpc_method.and_into(Some(call.method), &mut g);
            self.grpc_service_re.and_into(Some(call.service), &mut g);
            self.grpc_method_re.and_into(Some(call.method), &mut g);
            cand.or_assign(&g);
        }
        cand.ones()
            .filter_map(|i| self.rules.get(i))
            .find(|r| r.headers_match(req.headers, headers))
    }
}

impl L7Rule {
    fn headers_match(&self, headers: &dyn Headers, matching: HeaderMatching) -> bool {
        self.required
            .iter()
            .all(|(name, want)| matching.matches(headers, name, want.as_deref()))
    }

    /// The header actions of this (deciding) rule for `headers`.
    pub(crate) fn actions(&self, headers: &dyn Headers) -> Vec<HeaderAction> {
        let mut out = Vec::new();
        for (name, want, action) in &self.on_mismatch {
            let got = headers.get(name);
            let ok = match (got, want) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(g), Some(w)) => g.as_ref() == w.as_str(),
            };
            if ok {
                continue;
            }
            let value = want.clone().unwrap_or_default();
            let name = name.clone();
            out.push(match action {
                MismatchAction::Log => HeaderAction::Log {
                    name,
                    expected: value,
                },
                MismatchAction::Add => HeaderAction::Add { name, value },
                MismatchAction::Delete => HeaderAction::Delete { name },
                MismatchAction::Replace => HeaderAction::Replace { name, value },
            });
        }
        out
    }
}
