//! The broker addresses a response gives the client (Metadata, FindCoordinator, DescribeCluster),
//! read and replaced, pure.
//!
//! In explicit mode a client reaches the broker through the sidecar's listener, then connects
//! to whatever addresses the broker advertises: left alone, those are the brokers' own, and the
//! client's next connections would go around the sidecar. So the proxy lists the addresses
//! ([`Addressed::brokers`]), the connection path puts a sidecar listener in front of each
//! (`kafka::brokers`), and [`Addressed::encode`] writes the response with those instead.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterResponse, FindCoordinatorResponse, MetadataResponse, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::narrowed::Refused;
use super::response_header_version;
use super::topic_ids::TopicIds;

/// One broker as a response advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// A decoded response that names brokers.
#[derive(Debug)]
pub struct Addressed {
    header: ResponseHeader,
    version: i16,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Metadata(MetadataResponse),
    FindCoordinator(FindCoordinatorResponse),
    DescribeCluster(DescribeClusterResponse),
}

impl Addressed {
    /// Decodes `payload` (no length prefix), the response to `key` at `version`; `None` for
    /// other keys and for bytes that do not decode (relayed as they came).
    pub fn decode(key: ApiKey, version: i16, payload: &Bytes) -> Option<Addressed> {
        let mut buf = payload.clone();
        let header =
            ResponseHeader::decode(&mut buf, response_header_version(key, version)).ok()?;
        let body = match key {
            ApiKey::Metadata => Body::Metadata(MetadataResponse::decode(&mut buf, version).ok()?),
            ApiKey::FindCoordinator => {
                Body::FindCoordinator(FindCoordinatorResponse::decode(&mut buf, version).ok()?)
            }
            ApiKey::DescribeCluster => {
                Body::DescribeCluster(DescribeClusterResponse::decode(&mut buf, version).ok()?)
            }
            _ => return None,
        };
        if buf.has_remaining() {
            return None;
        }
        Some(Addressed {
            header,
            version,
            body,
        })
    }

    /// The brokers it advertises, each node once.
    pub fn brokers(&self) -> Vec<Advertised> {
        let mut out: Vec<Advertised> = Vec::new();
        let mut add = |node_id: i32, host: &StrBytes, port: i32| {
            if node_id >= 0 && !host.is_empty() && !out.iter().any(|a| a.node_id == node_id) {
                out.push(Advertised {
                    node_id,
                    host: host.to_string(),
                    port,
                });
            }
        };
        match &self.body {
            Body::Metadata(m) => m
                .brokers
                .iter()
                .for_each(|b| add(b.node_id.0, &b.host, b.port)),
            Body::FindCoordinator(f) if self.version < 4 => add(f.node_id.0, &f.host, f.port),
            Body::FindCoordinator(f) => f
                .coordinators
                .iter()
                .for_each(|c| add(c.node_id.0, &c.host, c.port)),
            Body::DescribeCluster(d) => d
                .brokers
                .iter()
                .for_each(|b| add(b.broker_id.0, &b.host, b.port)),
        }
        out
    }

    /// Learns the topic ids a Metadata response from `cluster` names; returns how many.
    pub fn learn_topic_ids(&self, ids: &TopicIds, cluster: &str) -> usize {
        let Body::Metadata(m) = &self.body else {
            return 0;
        };
        let mut named = 0;
        for topic in &m.topics {
            if let Some(name) = &topic.name
                && topic.error_code == 0
                && !topic.topic_id.is_nil()
            {
                ids.learn(cluster, topic.topic_id, &name.0);
                named += 1;
            }
        }
        named
    }

    /// Keeps only the topics `keep` says yes to (Metadata; the others have no topic list).
    /// Returns how many were left out.
    pub fn retain_topics(&mut self, mut keep: impl FnMut(&str) -> bool) -> usize {
        let Body::Metadata(m) = &mut self.body else {
            return 0;
        };
        let before = m.topics.len();
        m.topics
            .retain(|t| t.name.as_ref().is_some_and(|n| keep(n.0.as_str())));
        before - m.topics.len()
    }

    /// Adds each of `refused` as a topic the client may not see, with its error and no
    /// partitions (TOPIC_AUTHORIZATION_FAILED is what Kafka's authorizer answers for a topic
    /// named and not allowed).
    pub fn refuse_topics(&mut self, refused: &[Refused]) {
        let Body::Metadata(m) = &mut self.body else {
            return;
        };
        for r in refused {
            let mut t = MetadataResponseTopic::default();
            t.error_code = r.error;
            t.name = r
                .name
                .as_ref()
                .map(|n| TopicName(StrBytes::from_string(n.clone())));
            t.topic_id = r.id;
            m.topics.push(t);
        }
    }

    /// Replaces every advertised address by `to[node_id]`; a node missing from `to` is given
    /// `fallback` (the client then asks the wrong broker and is told so, rather than going
    /// around the sidecar).
    pub fn readdress(&mut self, to: &HashMap<i32, SocketAddr>, fallback: SocketAddr) {
        let pick = |node_id: i32| to.get(&node_id).copied().unwrap_or(fallback);
        let set = |host: &mut StrBytes, port: &mut i32, addr: SocketAddr| {
            *host = StrBytes::from_string(addr.ip().to_string());
            *port = i32::from(addr.port());
        };
        match &mut self.body {
            Body::Metadata(m) => {
                for b in &mut m.brokers {
                    set(&mut b.host, &mut b.port, pick(b.node_id.0));
                }
            }
            Body::FindCoordinator(f) => {
                if !f.host.is_empty() {
                    set(&mut f.host, &mut f.port, pick(f.node_id.0));
                }
                for c in &mut f.coordinators {
                    if !c.host.is_empty() {
                        set(&mut c.host, &mut c.port, pick(c.node_id.0));
                    }
                }
            }
            Body::DescribeCluster(d) => {
                for b in &mut d.brokers {
                    set(&mut b.host, &mut b.port, pick(b.broker_id.0));
                }
            }
        }
    }

    /// The response as a payload (no length prefix).
    pub fn encode(&self, key: ApiKey) -> Option<Bytes> {
        let mut out = BytesMut::new();
        self.header
            .encode(&mut out, response_header_version(key, self.version))
            .ok()?;
        match &self.body {
            Body::Metadata(m) => m.encode(&mut out, self.version).ok()?,
            Body::FindCoordinator(f) => f.encode(&mut out, self.version).ok()?,
            Body::DescribeCluster(d) => d.encode(&mut out, self.version).ok()?,
        }
        Some(out.freeze())
    }
}
