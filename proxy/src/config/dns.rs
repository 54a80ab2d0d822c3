//! `dns` in the config file: how the DNS path answers and how much it holds at once.
//!
//! The defaults follow what users of the peers expect: Cilium refuses a denied query
//! (`--tofqdns-dns-reject-response-code=refused`), and a query the resolver has not answered in
//! 2 s gets SERVFAIL, as dnsdist's default `udpTimeout` does.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sockmesh_policy::fqdn::Bounds;

use crate::dns::message::Rcode;

/// The DNS path's settings, as the data path uses them (and `/config_dump` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsSettings {
    /// The answer to a query policy denies.
    #[serde(rename = "rejectResponseCode")]
    pub reject: RejectCode,
    /// How long a query waits for the resolver before the client gets SERVFAIL.
    pub query_timeout: Duration,
    /// Queries waiting for the resolver, in all, per listener.
    pub max_inflight: usize,
    /// Queries waiting for the resolver from one client socket (address and port).
    pub max_inflight_per_client: usize,
    /// The least time an address learned for `toFQDNs` allows connections, whatever its TTL
    /// (Cilium's `--tofqdns-min-ttl`: applications keep addresses longer than their TTL).
    pub min_ttl: Duration,
    /// How many addresses, and (address, name) entries in all, the learned table keeps.
    pub learned: Bounds,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            reject: RejectCode::Refused,
            query_timeout: Duration::from_secs(2),
            max_inflight: 10_000,
            max_inflight_per_client: 1_000,
            min_ttl: Duration::from_secs(3600),
            learned: Bounds::default(),
        }
    }
}

/// `dns.rejectResponseCode`: Cilium's `--tofqdns-dns-reject-response-code` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RejectCode {
    #[default]
    Refused,
    NameError,
}

impl RejectCode {
    pub fn rcode(self) -> Rcode {
        match self {
            RejectCode::Refused => Rcode::Refused,
            RejectCode::NameError => Rcode::NxDomain,
        }
    }
}

/// The file's form: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsFile {
    pub reject_response_code: Option<RejectCode>,
    #[serde(deserialize_with = "super::duration::de_opt")]
    pub query_timeout: Option<Duration>,
    pub max_inflight: Option<usize>,
    pub max_inflight_per_client: Option<usize>,
    #[serde(deserialize_with = "super::duration::de_opt")]
    pub min_ttl: Option<Duration>,
    pub max_ips_per_name: Option<usize>,
    pub max_learned: Option<usize>,
}

impl DnsFile {
    /// The settings, or what is wrong with them.
    pub fn settings(&self) -> Result<DnsSettings, String> {
        let d = DnsSettings::default();
        let s = DnsSettings {
            reject: self.reject_response_code.unwrap_or(d.reject),
            query_timeout: self.query_timeout.unwrap_or(d.query_timeout),
            max_inflight: self.max_inflight.unwrap_or(d.max_inflight),
            max_inflight_per_client: self
                .max_inflight_per_client
                .unwrap_or(d.max_inflight_per_client),
            min_ttl: self.min_ttl.unwrap_or(d.min_ttl),
            learned: Bounds {
                per_name: self.max_ips_per_name.unwrap_or(d.learned.per_name),
                total: self.max_learned.unwrap_or(d.learned.total),
            },
        };
        if s.learned.per_name == 0 || s.learned.total == 0 {
            return Err("dns.maxIpsPerName and dns.maxLearned must be 1 or more".to_owned());
        }
        if s.query_timeout.is_zero() {
            return Err("dns.queryTimeout must be above 0, e.g. `2s`".to_owned());
        }
        if s.max_inflight == 0 || s.max_inflight_per_client == 0 {
            return Err(
                "dns.maxInflight and dns.maxInflightPerClient must be 1 or more".to_owned(),
            );
        }
        Ok(s)
    }
}
