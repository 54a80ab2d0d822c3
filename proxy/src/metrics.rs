//! Prometheus metrics, served as text on the admin `/metrics` endpoint.
//!
//! One [`Metrics`] value is created at start-up and shared by every listener; label sets are
//! small enums or rule names so that the number of series stays bounded by the configuration.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The protocol a request or connection was handled as.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    Grpc,
    Tcp,
    Dns,
    Kafka,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
            Protocol::Dns => "dns",
            Protocol::Kafka => "kafka",
        }
    }
}

/// Label values are the enums' `as_str` names.
macro_rules! label_value {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

label_value!(Protocol, VerdictLabel, ReloadResult, OverflowKind);

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum VerdictLabel {
    Allow,
    Deny,
    Error,
}

impl VerdictLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLabel::Allow => "allow",
            VerdictLabel::Deny => "deny",
            VerdictLabel::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub protocol: Protocol,
    pub verdict: VerdictLabel,
}

/// `sockmesh_kafka_requests_total`'s label: the API key's name (`Produce`, `Fetch`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KafkaKeyLabels {
    pub api_key: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: Protocol,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: ReloadResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OverflowLabels {
    pub cluster: String,
    pub kind: OverflowKind,
}

/// Which of a cluster's circuit breakers a request ran into (`upstream::breaker`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum OverflowKind {
    /// `maxConnections` were open: the request waited for one (not refused).
    Connections,
    /// `maxPendingRequests` were waiting already: refused.
    Pending,
    /// `maxRequests` were in flight: refused.
    Requests,
}

impl OverflowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowKind::Connections => "connections",
            OverflowKind::Pending => "pending",
            OverflowKind::Requests => "requests",
        }
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum ReloadResult {
    Ok,
    Failed,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Ok => "ok",
            ReloadResult::Failed => "failed",
        }
    }
}

/// Every metric the data path records.
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub denials: Family<RuleLabels, Counter>,
    pub request_duration: Family<ProtocolLabels, Histogram>,
    pub downstream_connections: Family<ProtocolLabels, Counter>,
    pub downstream_active: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub upstream_connects: Counter<u64, AtomicU64>,
    pub upstream_connect_errors: Counter<u64, AtomicU64>,
    pub upstream_active: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub upstream_overflow: Family<OverflowLabels, Counter>,
    pub policy_reloads: Family<ReloadLabels, Counter>,
    pub policy_rules: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Series of `requests` and `request_duration` resolved once, so that recording a request
    /// takes no lock and no hash lookup (they also show as zero before the first request).
    request_series: [[Counter; 3]; PROTOCOLS.len()],
    duration_series: [Histogram; PROTOCOLS.len()],
    /// DNS answers dropped: not from a query in flight, or not for its question.
    pub dns_answers_dropped: Counter<u64, AtomicU64>,
    /// DNS queries answered SERVFAIL at once for `dns.maxInflight(PerClient)`.
    pub dns_overflow: Counter<u64, AtomicU64>,
    /// The `toFQDNs` learned table: (address, name) entries, names, addresses (set at scrape).
    pub fqdn_entries: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub fqdn_names: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub fqdn_addresses: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Kafka requests by API key, whatever their verdict.
    pub kafka_requests: Family<KafkaKeyLabels, Counter>,
}

const PROTOCOLS: [Protocol; 6] = [
    Protocol::Http1,
    Protocol::Http2,
    Protocol::Grpc,
    Protocol::Tcp,
    Protocol::Dns,
    Protocol::Kafka,
];
const VERDICTS: [VerdictLabel; 3] = [VerdictLabel::Allow, VerdictLabel::Deny, VerdictLabel::Error];

impl Metrics {
    /// Creates the metrics and registers them under the `sockmesh_` prefix.
    pub fn new(registry: &mut Registry) -> Metrics {
        let requests: Family<RequestLabels, Counter> = Family::default();
        let request_duration: Family<ProtocolLabels, Histogram> =
            Family::new_with_constructor(|| {
                // 50 us .. ~26 s, doubling: covers loopback hops and slow upstreams alike.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.00005, 2.0, 20,
                ))
            });
        let request_series = PROTOCOLS.map(|protocol| {
            VERDICTS.map(|verdict| {
                requests
                    .get_or_create(&RequestLabels { protocol, verdict })
                    .clone()
            })
        });
        let duration_series = PROTOCOLS.map(|protocol| {
            request_duration
                .get_or_create(&ProtocolLabels { protocol })
                .clone()
        });
        let metrics = Metrics {
            request_series,
            duration_series,
            requests,
            denials: Family::default(),
            request_duration,
            downstream_connections: Family::default(),
            downstream_active: Gauge::default(),
            upstream_connects: Counter::default(),
            upstream_connect_errors: Counter::default(),
            upstream_active: Gauge::default(),
            upstream_overflow: Family::default(),
            policy_reloads: Family::default(),
            policy_rules: Gauge::default(),
            dns_answers_dropped: Counter::default(),
            dns_overflow: Counter::default(),
            fqdn_entries: Gauge::default(),
            fqdn_names: Gauge::default(),
            fqdn_addresses: Gauge::default(),
            kafka_requests: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("sockmesh");
        r.register(
            "requests",
            "Requests (HTTP, gRPC, DNS, Kafka) and opaque TCP connections by protocol and policy verdict",
            metrics.requests.clone(),
        );
        r.register(
            "denials",
            "Denied requests and connections by the rule that decided",
            metrics.denials.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request received to response head sent (TCP: connection lifetime)",
            metrics.request_duration.clone(),
        );
        r.register(
            "downstream_connections",
            "Accepted downstream connections by detected protocol",
            metrics.downstream_connections.clone(),
        );
        r.register(
            "downstream_connections_active",
            "Downstream connections open now",
            metrics.downstream_active.clone(),
        );
        r.register(
            "upstream_connects",
            "Upstream connections established",
            metrics.upstream_connects.clone(),
        );
        r.register(
            "upstream_connect_errors",
            "Upstream connection attempts that failed",
            metrics.upstream_connect_errors.clone(),
        );
        r.register(
            "upstream_connections_active",
            "Upstream connections open now (pooled and in use)",
            metrics.upstream_active.clone(),
        );
        r.register(
            "upstream_overflow",
            "Requests that ran into a cluster's circuit breaker, by kind: connections (waited \
             for a connection), pending and requests (refused with 503)",
            metrics.upstream_overflow.clone(),
        );
        r.register(
            "policy_reloads",
            "Policy reloads by result; a failed reload keeps the last good policy",
            metrics.policy_reloads.clone(),
        );
        r.register(
            "policy_rules",
            "Compiled policy rules in force",
            metrics.policy_rules.clone(),
        );
        r.register(
            "dns_answers_dropped",
            "DNS answers dropped because no query in flight had their id and question (spoofed, \
             late or duplicate answers)",
            metrics.dns_answers_dropped.clone(),
        );
        r.register(
            "dns_overflow",
            "DNS queries answered SERVFAIL at once because dns.maxInflight or \
             dns.maxInflightPerClient queries were in flight",
            metrics.dns_overflow.clone(),
        );
        r.register(
            "fqdn_learned_entries",
            "(address, name) entries the toFQDNs table holds (expired ones until purged)",
            metrics.fqdn_entries.clone(),
        );
        r.register(
            "fqdn_learned_names",
            "Names the toFQDNs table holds addresses for",
            metrics.fqdn_names.clone(),
        );
        r.register(
            "fqdn_learned_addresses",
            "Addresses the toFQDNs table holds",
            metrics.fqdn_addresses.clone(),
        );
        r.register(
            "kafka_requests",
            "Kafka requests by API key, whatever their verdict",
            metrics.kafka_requests.clone(),
        );
        metrics
    }

    /// Counts an accepted downstream connection handled as `protocol`.
    pub fn count_connection(&self, protocol: Protocol) {
        self.downstream_connections
            .get_or_create(&ProtocolLabels { protocol })
            .inc();
    }

    /// Records one finished request or TCP connection.
    pub fn record(
        &self,
        protocol: Protocol,
        verdict: VerdictLabel,
        rule: Option<&str>,
        seconds: f64,
    ) {
        self.request_series[protocol as usize][verdict as usize].inc();
        if let (VerdictLabel::Deny, Some(rule)) = (verdict, rule) {
            self.denials
                .get_or_create(&RuleLabels {
                    rule: rule.to_owned(),
                })
                .inc();
        }
        self.duration_series[protocol as usize].observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_series_are_the_labelled_ones() {
        for (i, p) in PROTOCOLS.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
        for (i, v) in VERDICTS.iter().enumerate() {
            assert_eq!(*v as usize, i);
        }
        let mut registry = Registry::default();
        let m = Metrics::new(&mut registry);
        m.record(Protocol::Grpc, VerdictLabel::Deny, Some("r1"), 0.001);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains("sockmesh_requests_total{protocol=\"grpc\",verdict=\"deny\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("sockmesh_requests_total{protocol=\"tcp\",verdict=\"allow\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("sockmesh_denials_total{rule=\"r1\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("sockmesh_request_duration_seconds_count{protocol=\"grpc\"} 1"),
            "{out}"
        );
    }
}
