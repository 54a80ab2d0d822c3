//! The client against scripted ADS servers: per-resource NACKs for malformed, mistyped, duplicate
//! and misnamed payloads; unknown types ignored; stalls abandoned and retried; reconnects resend
//! what is known.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::Any;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use super::{any_of, config, policy_resource, wait_state};
use crate::client::{Mode, spawn};
use crate::types::{CLUSTER, NETWORK_POLICY, ResourceType};

/// Sends scripted responses after the first request, records every request, optionally stalls.
#[derive(Clone)]
struct Scripted {
    sotw: Vec<DiscoveryResponse>,
    delta: Vec<DeltaDiscoveryResponse>,
    requests: mpsc::UnboundedSender<String>,
    acks: Arc<Mutex<Vec<DiscoveryRequest>>>,
    delta_acks: Arc<Mutex<Vec<DeltaDiscoveryRequest>>>,
    /// Every request, in order (initial ones included).
    all: Arc<Mutex<Vec<DiscoveryRequest>>>,
    all_delta: Arc<Mutex<Vec<DeltaDiscoveryRequest>>>,
    /// End each stream after this many ACK/NACKs (0: never).
    close_after: usize,
    /// Streams opened so far; with `silent_later`, only the first one gets responses.
    streams: Arc<std::sync::atomic::AtomicUsize>,
    silent_later: bool,
}

type Out<T> = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Scripted {
    type StreamAggregatedResourcesStream = Out<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = Out<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        req: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let me = self.clone();
        let n = me.streams.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            let mut sent = me.silent_later && n > 0;
            let mut acked = 0;
            while let Ok(Some(r)) = inbound.message().await {
                let _ = me.requests.send(r.type_url.clone());
                me.all.lock().unwrap().push(r.clone());
                if !r.response_nonce.is_empty() {
                    me.acks.lock().unwrap().push(r);
                    acked += 1;
                    if acked == me.close_after {
                        return;
                    }
                }
                if !sent {
                    sent = true;
                    for resp in &me.sotw {
                        let _ = tx.send(Ok(resp.clone())).await;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        req: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let me = self.clone();
        tokio::spawn(async move {
            let mut sent = false;
            let mut acked = 0;
            while let Ok(Some(r)) = inbound.message().await {
                let _ = me.requests.send(r.type_url.clone());
                me.all_delta.lock().unwrap().push(r.clone());
                if !r.response_nonce.is_empty() {
                    me.delta_acks.lock().unwrap().push(r);
                    acked += 1;
                    if acked == me.close_after {
                        return;
                    }
                }
                if !sent {
                    sent = true;
                    for resp in &me.delta {
                        let _ = tx.send(Ok(resp.clone())).await;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn start_scripted(s: Scripted) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AggregatedDiscoveryServiceServer::new(s))
            .serve_with_incoming(TcpListenerStream::new(l)),
    );
    addr
}

fn scripted() -> (Scripted, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Scripted {
            sotw: vec![],
            delta: vec![],
            requests: tx,
            acks: Arc::default(),
            delta_acks: Arc::default(),
            all: Arc::default(),
            all_delta: Arc::default(),
            close_after: 0,
            streams: Arc::default(),
            silent_later: false,
        },
        rx,
    )
}

#[tokio::test]
async fn sotw_bad_payloads_are_nacked_per_resource_and_valid_ones_apply() {
    let (mut s, _reqs) = scripted();
    let good = any_of(&policy_resource("good", "/ok"));
    let dup = any_of(&policy_resource("dup", "/x"));
    let garbage = Any {
        type_url: NETWORK_POLICY.into(),
        value: vec![0x0a, 0xff, 0xff, 0xff],
    };
    let mistyped = Any {
        type_url: CLUSTER.into(),
        value: vec![],
    };
    s.sotw = vec![
        DiscoveryResponse {
            version_info: "v1".into(),
            type_url: NETWORK_POLICY.into(),
            nonce: "n1".into(),
            resources: vec![good, garbage, mistyped, dup.clone(), dup],
            ..Default::default()
        },
        DiscoveryResponse {
            version_info: "x".into(),
            type_url: "type.googleapis.com/not.a.Type".into(),
            nonce: "n2".into(),
            ..Default::default()
        },
    ];
    let acks = s.acks.clone();
    let addr = start_scripted(s).await;
    let (mut rx, handle) = spawn(config(addr, Mode::Sotw, "bad-sotw"));
    let state = wait_state(&mut rx, "good policy", |s| !s.policies.is_empty()).await;
    assert_eq!(state.policies.len(), 1);
    assert_eq!(state.policies[0].name, "good");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acks = acks.lock().unwrap().clone();
    assert_eq!(
        acks.len(),
        1,
        "one NACK, nothing for the unknown type: {acks:?}"
    );
    let nack = &acks[0];
    assert_eq!(nack.response_nonce, "n1");
    assert_eq!(
        nack.version_info, "",
        "NACK carries the last accepted version (none yet)"
    );
    let msg = &nack.error_detail.as_ref().expect("error_detail").message;
    assert!(msg.contains("cannot decode"), "{msg}");
    assert!(msg.contains("mixed types"), "{msg}");
    assert!(
        msg.contains("resource `dup`: duplicate resource name"),
        "{msg}"
    );
    assert!(!handle.ready(), "other types never arrived");
    handle.shutdown();
}

#[tokio::test]
async fn delta_bad_payloads_are_nacked_and_removals_apply() {
    use envoy_types::pb::envoy::service::discovery::v3::Resource;
    let (mut s, _reqs) = scripted();
    let res = |name: &str, any: Option<Any>| Resource {
        name: name.into(),
        version: "1".into(),
        resource: any,
        ..Default::default()
    };
    s.delta = vec![
        DeltaDiscoveryResponse {
            type_url: NETWORK_POLICY.into(),
            nonce: "d1".into(),
            resources: vec![
                res("good", Some(any_of(&policy_resource("good", "/ok")))),
                res("gone", Some(any_of(&policy_resource("gone", "/ok")))),
            ],
            ..Default::default()
        },
        DeltaDiscoveryResponse {
            type_url: NETWORK_POLICY.into(),
            nonce: "d2".into(),
            resources: vec![
                res("empty", None),
                res("renamed", Some(any_of(&policy_resource("other", "/ok")))),
                res(
                    "garbage",
                    Some(Any {
                        type_url: NETWORK_POLICY.into(),
                        value: vec![0xff],
                    }),
                ),
            ],
            removed_resources: vec!["gone".into()],
            ..Default::default()
        },
    ];
    let acks = s.delta_acks.clone();
    let addr = start_scripted(s).await;
    let (mut rx, handle) = spawn(config(addr, Mode::Delta, "bad-delta"));
    wait_state(&mut rx, "gone removed", |s| {
        s.policies.len() == 1 && s.policies[0].name == "good"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acks = acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert!(acks[0].error_detail.is_none(), "first response is fine");
    let msg = &acks[1].error_detail.as_ref().expect("NACK").message;
    assert!(
        msg.contains("resource `empty`: no resource payload"),
        "{msg}"
    );
    assert!(
        msg.contains("resource `renamed`: the payload is named `other`"),
        "{msg}"
    );
    assert!(msg.contains("resource `garbage`: cannot decode"), "{msg}");
    assert_eq!(acks[1].response_nonce, "d2");
    handle.shutdown();
}

#[tokio::test]
async fn stalled_control_plane_is_abandoned_and_retried() {
    // Accepts the stream, reads requests, never answers.
    let (s, mut reqs) = scripted();
    let addr = start_scripted(s).await;
    let mut cfg = config(addr, Mode::Sotw, "stall");
    cfg.sync_timeout_ms = 300;
    let (_rx, handle) = spawn(cfg);
    // Two rounds of subscriptions = it gave up on the first stream and reconnected.
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen < 2 * ResourceType::SIDECAR.len() {
        match tokio::time::timeout_at(deadline, reqs.recv()).await {
            Ok(Some(_)) => seen += 1,
            _ => panic!("client did not retry: {}", handle.status()),
        }
    }
    assert!(!handle.ready());
    let status = handle.status();
    assert!(
        status["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("no response for"),
        "{status}"
    );
    handle.shutdown();
}

#[tokio::test]
async fn sotw_reconnect_resends_accepted_versions() {
    let (mut s, _reqs) = scripted();
    s.sotw = ResourceType::SIDECAR
        .iter()
        .enumerate()
        .map(|(i, t)| DiscoveryResponse {
            version_info: format!("v-{}", t.short_name()),
            type_url: t.url().into(),
            nonce: format!("n{i}"),
            resources: if *t == ResourceType::NetworkPolicy {
                vec![any_of(&policy_resource("p", "/p"))]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    s.close_after = ResourceType::SIDECAR.len();
    let all = s.all.clone();
    let addr = start_scripted(s).await;
    let (_rx, handle) = spawn(config(addr, Mode::Sotw, "resend"));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    // Wait for the second stream's initial requests.
    let ok = initial_requests_seen(&all, 2 * ResourceType::SIDECAR.len(), |r| {
        r.response_nonce.is_empty()
    })
    .await;
    assert!(ok, "no reconnect: {}", handle.status());
    let all = all.lock().unwrap().clone();
    let initial: Vec<_> = all.iter().filter(|r| r.response_nonce.is_empty()).collect();
    let (first, second) = initial.split_at(ResourceType::SIDECAR.len());
    assert!(first.iter().all(|r| r.version_info.is_empty()));
    assert!(
        first[0].node.as_ref().is_some_and(|n| n.id == "resend"),
        "node identifies the sidecar"
    );
    for (r, t) in second.iter().zip(ResourceType::SIDECAR) {
        assert_eq!(r.type_url, t.url());
        assert_eq!(
            r.version_info,
            format!("v-{}", t.short_name()),
            "reconnect sends the known version"
        );
    }
    handle.shutdown();
}

#[tokio::test]
async fn delta_reconnect_sends_initial_resource_versions() {
    use envoy_types::pb::envoy::service::discovery::v3::Resource;
    let (mut s, _reqs) = scripted();
    s.delta = ResourceType::SIDECAR
        .iter()
        .enumerate()
        .map(|(i, t)| DeltaDiscoveryResponse {
            type_url: t.url().into(),
            nonce: format!("n{i}"),
            resources: if *t == ResourceType::NetworkPolicy {
                vec![Resource {
                    name: "p".into(),
                    version: "7".into(),
                    resource: Some(any_of(&policy_resource("p", "/p"))),
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    s.close_after = ResourceType::SIDECAR.len();
    let all = s.all_delta.clone();
    let addr = start_scripted(s).await;
    let (_rx, handle) = spawn(config(addr, Mode::Delta, "resend-delta"));
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    let ok = initial_requests_seen(&all, 2 * ResourceType::SIDECAR.len(), |r| {
        r.response_nonce.is_empty()
    })
    .await;
    assert!(ok, "no reconnect: {}", handle.status());
    let all = all.lock().unwrap().clone();
    let initial: Vec<_> = all.iter().filter(|r| r.response_nonce.is_empty()).collect();
    let second = &initial[ResourceType::SIDECAR.len()..];
    let np = second
        .iter()
        .find(|r| r.type_url == NETWORK_POLICY)
        .unwrap();
    assert_eq!(
        np.initial_resource_versions.get("p").map(String::as_str),
        Some("7")
    );
    assert_eq!(np.resource_names_subscribe, vec!["*".to_owned()]);
    handle.shutdown();
}

#[tokio::test]
async fn a_reconnected_stream_may_stay_silent_about_synced_types() {
    // Some control planes do not answer a reconnect whose versions are current. That is not a
    // stall: the client must not drop the stream after the sync timeout.
    let (mut s, _reqs) = scripted();
    s.sotw = ResourceType::SIDECAR
        .iter()
        .enumerate()
        .map(|(i, t)| DiscoveryResponse {
            version_info: "v1".into(),
            type_url: t.url().into(),
            nonce: format!("n{i}"),
            ..Default::default()
        })
        .collect();
    s.close_after = ResourceType::SIDECAR.len();
    s.silent_later = true;
    let streams = s.streams.clone();
    let addr = start_scripted(s).await;
    let mut cfg = config(addr, Mode::Sotw, "quiet");
    cfg.sync_timeout_ms = 200;
    let (_rx, handle) = spawn(cfg);
    assert!(handle.wait_ready(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        streams.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the quiet second stream was abandoned: {}",
        handle.status()
    );
    assert_eq!(handle.status()["connected"], true);
    handle.shutdown();
}

/// Waits (up to 5 s) until `all` holds at least `n` requests that are initial (`is_initial`),
/// i.e. until the client has opened its streams that many times over.
async fn initial_requests_seen<T>(
    all: &std::sync::Arc<std::sync::Mutex<Vec<T>>>,
    n: usize,
    is_initial: impl Fn(&T) -> bool,
) -> bool {
    let seen = || all.lock().unwrap().iter().filter(|r| is_initial(r)).count();
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}
