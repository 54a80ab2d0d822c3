//! `/metrics`: the eBPF counters and the socket count, read from the maps at scrape time.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sockmap_ebpf::counters;

use super::maps::Maps;

/// Help text per counter, in `counters::NAMES` order.
const HELP: [&str; counters::COUNT as usize] = [
    "sk_msg sends redirected to the peer socket (local hop spliced)",
    "sk_msg sends whose peer socket was not in the map (sent over TCP)",
    "Bytes redirected by sk_msg",
    "Sockets added to the socket map by sock_ops",
    "Socket map insertions the kernel refused",
    "Connects rewritten to the outbound listener",
    "Connects rewritten to the inbound listener",
    "Connects exempted from interception (the sidecar's own)",
    "Original destinations published for the proxy",
    "SO_ORIGINAL_DST getsockopt calls answered",
    "UDP datagrams and connects, and TCP connects, to port 53 sent to the DNS listener",
    "Datagrams from the DNS listener shown to the app as the resolver's",
];

/// Prometheus collector over the live maps.
#[derive(Debug)]
pub struct BpfCollector {
    pub maps: Arc<Maps>,
}

impl Collector for BpfCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let values = self.maps.counters();
        for ((name, help), v) in counters::NAMES.iter().zip(HELP).zip(values) {
            let c = ConstCounter::new(v);
            let metric = format!("sockmesh_bpf_{name}");
            c.encode(encoder.encode_descriptor(&metric, help, None, c.metric_type())?)?;
        }
        let g = ConstGauge::new(self.maps.socket_count() as i64);
        g.encode(encoder.encode_descriptor(
            "sockmesh_bpf_sockets",
            "Sockets currently in the socket map",
            None,
            g.metric_type(),
        )?)?;
        Ok(())
    }
}
