//! Client tests against the real control-plane server (in process) and broken peers: full sync,
//! updates, partial apply with NACK, kill/restart resync, junk and silence on the port. Tests against
//! scripted servers (bad payloads, stalls, reconnect requests) are in `scripted.rs`.

mod scripted;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::google::protobuf::Any;
use sockmesh_policy::Labels;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::*;
use crate::convert::policy::from_model;
use crate::proto::any_of;
use crate::server::{ClustersFile, Server, Snapshot, files};
use crate::types::NETWORK_POLICY;
const CLUSTERS: &str = "clusters:\n- name: web\n  endpoints: [\"127.0.0.1:8080\", \"127.0.0.1:8081\"]\n  protocol: http1\nlisteners:\n- name: inbound\n  address: 127.0.0.1:15006\n  direction: inbound\n  protocol: http\n  cluster: web\nsecrets:\n- name: ca\n  trustedCaFile: /etc/ca.pem\n";

fn policy_yaml(name: &str, path: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n  endpointSelector: {{}}\n  ingress:\n  - toPorts:\n    - ports:\n      - port: \"8080\"\n      rules:\n        http:\n        - path: \"{path}\"\n"
    )
}

fn policy_resource(name: &str, path: &str) -> crate::proto::NetworkPolicy {
    let ps = sockmesh_policy::cilium::parse_documents("t.yaml", &policy_yaml(name, path))
        .expect("test policy parses");
    from_model(&ps[0])
}

/// A snapshot with the clusters file above and the given policies (raw resources: may be invalid).
fn snapshot(policies: &[crate::proto::NetworkPolicy]) -> Snapshot {
    let mut s = Snapshot::default();
    let f = ClustersFile::parse(std::path::Path::new("c.yaml"), CLUSTERS).unwrap();
    files::build_clusters(&mut s, &f);
    for p in policies {
        s.insert(ResourceType::NetworkPolicy, p.name.clone(), any_of(p));
    }
    s
}

/// A control plane on its own runtime/thread, so "killing" it closes every connection like a crash.
struct Remote {
    server: Server,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Remote {
    fn start(server: Server, addr: SocketAddr) -> Remote {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let listener = rt.block_on(async {
                // The port may still be in TIME_WAIT or held by the previous instance's teardown.
                for _ in 0..100 {
                    if let Ok(l) = TcpListener::bind(addr).await {
                        return l;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("cannot bind {addr}");
            });
            ready_tx.send(listener.local_addr().unwrap()).unwrap();
            rt.spawn(s.serve(listener));
            let _ = stop_rx.recv();
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        let _ = ready_rx.recv().unwrap();
        Remote {
            server,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn config(addr: SocketAddr, mode: Mode, node: &str) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string(), node);
    c.mode = mode;
    c.backoff = BackoffConfig {
        initial_ms: 20,
        max_ms: 200,
    };
    c.connect_timeout_ms = 1_000;
    c.sync_timeout_ms = 1_000;
    c.labels.insert("app".into(), "web".into());
    c
}

async fn wait_state(
    rx: &mut watch::Receiver<Arc<DomainState>>,
    what: &str,
    pred: impl Fn(&DomainState) -> bool,
) -> Arc<DomainState> {
    let got = match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    got.unwrap_or_else(|| panic!("timed out waiting for {what}; state: {:?}", rx.borrow()))
}

fn path_of(state: &DomainState, name: &str) -> Option<String> {
    let p = state.policies.iter().find(|p| p.name == name)?;
    let rule = &p.specs[0].ingress.as_ref()?[0].to_ports[0];
    rule.rules.as_ref()?.http[0].path.clone()
}

async fn sync_update_nack_and_restart(mode: Mode) {
    let addr = free_addr();
    let server = Server::new(snapshot(&[
        policy_resource("a", "/a/v1"),
        policy_resource("b", "/b/v1"),
    ]));
    let mut remote = Remote::start(server.clone(), addr);
    let node = format!("node-{mode:?}");
    let (mut rx, handle) = spawn(config(addr, mode, &node));
    assert!(
        handle.wait_ready(Duration::from_secs(10)).await,
        "not ready: {}",
        handle.status()
    );
    let s = rx.borrow_and_update().clone();
    assert_eq!(s.policies.len(), 2);
    assert_eq!(path_of(&s, "a").as_deref(), Some("/a/v1"));
    assert_eq!(s.clusters.len(), 1);
    assert_eq!(
        s.clusters[0].endpoints.len(),
        2,
        "EDS endpoints joined into the cluster"
    );
    assert_eq!(s.listeners.len(), 1);
    assert_eq!(s.secrets.len(), 1);
    let tracker = remote.server.tracker().clone();
    let v1 = server.snapshot().version(ResourceType::NetworkPolicy, None);
    assert!(
        tracker
            .wait_for(&node, Duration::from_secs(5), |t| t
                .types
                .get(NETWORK_POLICY)
                .is_some_and(|t| t.acked_version.as_deref() == Some(v1.as_str())))
            .await,
        "{}",
        tracker.status()
    );

    // A valid change reaches the state; only the policy generation moves.
    let before = rx.borrow().generations;
    assert!(before.policies > 0 && before.clusters > 0 && before.listeners > 0);
    server.publish(snapshot(&[
        policy_resource("a", "/a/v2"),
        policy_resource("b", "/b/v1"),
    ]));
    let s = wait_state(&mut rx, "a v2", |s| {
        path_of(s, "a").as_deref() == Some("/a/v2")
    })
    .await;
    assert_eq!(s.generations.policies, before.policies + 1);
    assert_eq!(
        (
            s.generations.clusters,
            s.generations.listeners,
            s.generations.secrets
        ),
        (before.clusters, before.listeners, before.secrets)
    );

    // `a` gets an invalid regex, `b` a valid change, in the same response: b applies, a keeps v2.
    let mut bad = policy_resource("a", "/a/v3");
    bad.specs[0].ingress.as_mut().unwrap().rules[0].to_ports[0]
        .rules
        .as_mut()
        .unwrap()
        .http_rules[0]
        .path = Some("/a/(v3".into());
    server.publish(snapshot(&[bad.clone(), policy_resource("b", "/b/v2")]));
    let s = wait_state(&mut rx, "b v2", |s| {
        path_of(s, "b").as_deref() == Some("/b/v2")
    })
    .await;
    assert_eq!(
        path_of(&s, "a").as_deref(),
        Some("/a/v2"),
        "old version of the bad resource stays"
    );
    assert!(
        tracker
            .wait_for(&node, Duration::from_secs(5), |t| t.types[NETWORK_POLICY]
                .last_nack
                .as_ref()
                .is_some_and(
                    |n| n.error.contains("resource `a`") && n.error.contains("invalid regex")
                ))
            .await,
        "{}",
        tracker.status()
    );
    let status = handle.status();
    let np = &status["types"][NETWORK_POLICY];
    let err = np["lastNack"]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("resource `a`") && err.contains("/a/(v3"),
        "{status}"
    );
    if mode == Mode::Sotw {
        // SotW NACK carries the last accepted version (the ACK of v2 itself may have been
        // ignored by the server as stale, since v3 was sent before it arrived).
        let t = tracker.sidecar(&node).unwrap();
        let nack = t.types[NETWORK_POLICY].last_nack.clone().unwrap();
        assert_eq!(
            np["acceptedVersion"].as_str(),
            Some(nack.client_version.as_str()),
            "{status}"
        );
        assert_ne!(nack.client_version, "");
    }

    // Control plane dies: state stays, readiness stays.
    remote.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(path_of(&rx.borrow(), "a").as_deref(), Some("/a/v2"));
    assert!(handle.ready());
    assert_eq!(handle.status()["connected"], false, "{}", handle.status());

    // It comes back with new content on the same address: the client resyncs by itself.
    let server2 = Server::new(snapshot(&[
        policy_resource("a", "/a/v4"),
        policy_resource("b", "/b/v2"),
    ]));
    let remote2 = Remote::start(server2.clone(), addr);
    wait_state(&mut rx, "a v4 after restart", |s| {
        path_of(s, "a").as_deref() == Some("/a/v4")
    })
    .await;
    assert!(
        remote2
            .server
            .tracker()
            .wait_for(&node, Duration::from_secs(5), |t| t
                .types
                .get(NETWORK_POLICY)
                .is_some_and(|t| t.acks > 0))
            .await
    );
    assert!(handle.status()["connects"].as_u64().unwrap_or(0) >= 2);
    handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sotw_sync_update_partial_nack_and_restart() {
    sync_update_nack_and_restart(Mode::Sotw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sync_update_partial_nack_and_restart() {
    sync_update_nack_and_restart(Mode::Delta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_silent_tcp_peers_do_not_lose_last_good_state() {
    let addr = free_addr();
    let server = Server::new(snapshot(&[policy_resource("a", "/a")]));
    let mut remote = Remote::start(server, addr);
    let (mut rx, handle) = spawn(config(addr, Mode::Sotw, "garbage"));
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    wait_state(&mut rx, "a", |s| s.policies.len() == 1).await;
    remote.kill();

    // Something else takes the port and answers with junk, then with silence.
    let mut l = None;
    for _ in 0..100 {
        if let Ok(x) = TcpListener::bind(addr).await {
            l = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let l = l.expect("port free again");
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let junk = tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n.is_multiple_of(2) {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\n\x00\x01garbage garbage")
                    .await;
            } else {
                // Silent: hold the socket open.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(sock);
                });
            }
        }
    });
    // The client gives up on the silent peer (sync timeout) and on the junk one, and retries:
    // three connections mean it went through silence, junk and silence again.
    let mut retried = false;
    for _ in 0..200 {
        if accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3 {
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = handle.status();
    assert!(retried, "the client stopped retrying: {status}");
    assert!(status["lastError"].is_string(), "{status}");
    assert_eq!(rx.borrow().policies.len(), 1, "last good state kept");
    assert!(handle.ready());

    // A real control plane on the port again: the client resyncs to its state.
    junk.abort();
    let _ = junk.await;
    let server = Server::new(snapshot(&[
        policy_resource("a", "/a"),
        policy_resource("b", "/b"),
    ]));
    let _remote = Remote::start(server, addr);
    wait_state(&mut rx, "a and b after the junk", |s| s.policies.len() == 2).await;
    // Back and answering: the old error no longer stands (it stays as the last disconnect).
    let status = handle.status();
    assert_eq!(status["connected"], true, "{status}");
    assert!(status["lastError"].is_null(), "{status}");
    assert!(status["lastDisconnect"]["error"].is_string(), "{status}");
    handle.shutdown();
}

#[test]
fn config_deserializes_camel_case_and_rejects_unknown_fields() {
    let c: ClientConfig = yaml_serde::from_str(
        "address: 127.0.0.1:18000\nnodeId: web-1\nlabels: {app: web}\nmode: delta\nbackoff: {initialMs: 10, maxMs: 100}\n",
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Delta);
    assert_eq!(c.node_cluster, "sockmesh");
    assert_eq!(c.backoff.initial_ms, 10);
    assert_eq!(c.uri(), "http://127.0.0.1:18000");
    let node = c.node();
    assert_eq!(node.id, "web-1");
    assert!(node.metadata.unwrap().fields.contains_key("labels"));
    let e = yaml_serde::from_str::<ClientConfig>("address: a\nnodeId: b\nnodeid: c\n").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
}
#[test]
fn sotw_reapply_of_identical_payloads_is_not_a_change() {
    let mut store = state::Store::new(Labels::default());
    let a = any_of(&policy_resource("a", "/a"));
    let b = any_of(&policy_resource("b", "/b"));
    assert!(
        store
            .apply_sotw(ResourceType::NetworkPolicy, &[a.clone(), b.clone()], "1")
            .changed
    );
    let again = store.apply_sotw(ResourceType::NetworkPolicy, &[a.clone(), b.clone()], "2");
    assert!(!again.changed && again.errors.is_empty());
    assert_eq!(store.accepted_version(ResourceType::NetworkPolicy), "2");
    // An undecodable payload: nothing is removed (it could be any of them), the rest applies.
    let garbage = Any {
        type_url: NETWORK_POLICY.into(),
        value: vec![0xff],
    };
    let r = store.apply_sotw(ResourceType::NetworkPolicy, &[a.clone(), garbage], "3");
    assert_eq!(r.errors.len(), 1);
    assert_eq!(store.len(ResourceType::NetworkPolicy), 2);
    assert_eq!(store.accepted_version(ResourceType::NetworkPolicy), "2");
    // A well-formed response without `b` removes it.
    assert!(
        store
            .apply_sotw(ResourceType::NetworkPolicy, &[a], "4")
            .changed
    );
    assert_eq!(store.len(ResourceType::NetworkPolicy), 1);
}
