//! The upstream layer's tests: round-robin turns, the pool's sweep, and the circuit breakers as
//! the pool applies them (the breakers' own accounting is tested in `breaker.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sockmesh_xds::domain::{CircuitBreakers, Cluster, UpstreamProtocol};
use tokio::io::AsyncReadExt;

use super::breaker::{Breaker, ConnSlot, Ready};
use super::idle_clock::IdleSince;
use super::pool::{IDLE_TIMEOUT, NOT_HTTP2_FOR, Pool, UpstreamError};
use super::preface::Answer;
use super::{ClusterState, Clusters, Connector};
use crate::metrics::{Metrics, OverflowKind};

fn metrics() -> Arc<Metrics> {
    let mut registry = prometheus_client::registry::Registry::default();
    Arc::new(Metrics::new(&mut registry))
}

fn breaker(limits: CircuitBreakers) -> Arc<Breaker> {
    Breaker::new("web", limits, &metrics())
}

fn caps(connections: u32, pending: u32) -> CircuitBreakers {
    CircuitBreakers {
        max_connections: connections,
        max_pending_requests: pending,
        max_requests: 100,
    }
}

async fn new_slot(b: &Arc<Breaker>) -> ConnSlot {
    match b.connection(|| None::<()>, || false).await {
        Ok(Ready::New(slot)) => slot,
        _ => panic!("no slot free"),
    }
}

fn cluster(endpoints: Vec<SocketAddr>) -> Cluster {
    Cluster {
        name: "web".into(),
        endpoints,
        connect_timeout: Cluster::DEFAULT_CONNECT_TIMEOUT,
        protocol: UpstreamProtocol::Auto,
        circuit_breakers: CircuitBreakers::default(),
    }
}

#[test]
fn peek_shows_the_next_turn_without_taking_it() {
    let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
    let web = breaker(CircuitBreakers::default());
    let c = ClusterState::new(cluster(vec![a, b]), Arc::clone(&web));
    // A connection check (peek) followed by its one request (pick), twice: both endpoints
    // get a request, in order.
    assert_eq!((c.peek(), c.pick()), (Some(a), Some(a)));
    assert_eq!((c.peek(), c.pick()), (Some(b), Some(b)));
    let empty = ClusterState::new(cluster(Vec::new()), web);
    assert_eq!((empty.peek(), empty.pick()), (None, None));
}

#[test]
fn clusters_keep_their_breakers_while_their_caps_stay() {
    let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
    let clusters = Clusters::new(&[cluster(vec![a])], metrics());
    let before = clusters.get("web").expect("web");
    // New endpoints: the connections counted so far still count.
    clusters.replace(&[cluster(vec![a, b])]);
    let moved = clusters.get("web").expect("web");
    assert!(Arc::ptr_eq(&before.breaker, &moved.breaker));
    // New caps: new counts.
    let mut capped = cluster(vec![a, b]);
    capped.circuit_breakers.max_requests = 5;
    clusters.replace(&[capped]);
    let recapped = clusters.get("web").expect("web");
    assert!(!Arc::ptr_eq(&before.breaker, &recapped.breaker));
    assert_eq!(recapped.breaker.limits().max_requests, 5);
}

/// The number of endpoints with an entry, and their idle HTTP/1.1 connections (hyper's and
/// the fast path's).
fn held(pool: &Pool) -> (usize, usize) {
    let entries = pool.entries.lock().expect("lock");
    (
        entries.len(),
        entries
            .values()
            .map(|e| e.h1_idle.len() + e.raw_idle.len())
            .sum(),
    )
}

/// A local server to pool connections to.
async fn server() -> (tokio::net::TcpListener, SocketAddr) {
    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    (server, addr)
}

/// An empty pool, and a local server to pool connections to.
async fn pool_and_server() -> (Arc<Pool>, tokio::net::TcpListener, SocketAddr) {
    let (server, addr) = server().await;
    (Pool::new(metrics(), Connector::default()), server, addr)
}

const CONNECT: Duration = Duration::from_secs(5);

/// One connection allowed to a cluster of two endpoints: the connection idle at the first is
/// closed to make room for one to the second, rather than the request waiting for it.
#[tokio::test]
async fn at_the_cap_an_idle_connection_elsewhere_is_closed_to_make_room() {
    let (pool, a_server, a) = pool_and_server().await;
    let (b_server, b) = server().await;
    let web = breaker(caps(1, 1));
    let (conn, _) = pool.checkout_raw(a, CONNECT, false, &web).await.expect("a");
    let (mut at_a, _) = a_server.accept().await.expect("accept a");
    pool.checkin_raw(a, conn);
    let (conn, pooled) = pool.checkout_raw(b, CONNECT, false, &web).await.expect("b");
    assert!(!pooled);
    let _at_b = b_server.accept().await.expect("accept b");
    assert_eq!(held(&pool).1, 0, "the idle connection to a was kept");
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(CONNECT, at_a.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0))), "a's connection was not closed");
    drop(conn);
}

/// One connection allowed, one request may wait for it: a third request is refused as an
/// overflow, and the waiting one gets the connection once it comes back.
#[tokio::test]
async fn past_the_pending_cap_a_request_is_refused_and_the_pending_one_served() {
    let (pool, server, addr) = pool_and_server().await;
    let web = breaker(caps(1, 1));
    let (conn, _) = pool
        .checkout_raw(addr, CONNECT, false, &web)
        .await
        .expect("first");
    let _accepted = server.accept().await.expect("accept");
    let waiting = tokio::spawn({
        let (pool, web) = (Arc::clone(&pool), Arc::clone(&web));
        async move { pool.checkout_raw(addr, CONNECT, false, &web).await }
    });
    // Until the second request waits, a third one may take its place: retried until refused.
    let refused = loop {
        tokio::task::yield_now().await;
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            pool.checkout_raw(addr, CONNECT, false, &web),
        )
        .await;
        if let Ok(Err(e)) = third {
            break e;
        }
    };
    assert!(
        matches!(
            refused,
            UpstreamError::Overflow {
                kind: OverflowKind::Pending,
                ..
            }
        ),
        "{refused}"
    );
    pool.checkin_raw(addr, conn);
    let got = tokio::time::timeout(CONNECT, waiting).await;
    assert!(
        matches!(got, Ok(Ok(Ok((_, true))))),
        "the pending request did not get the returned connection"
    );
}

#[tokio::test]
async fn sweep_closes_expired_connections_and_forgets_empty_endpoints() {
    let (pool, server, addr) = pool_and_server().await;
    let breaker = breaker(CircuitBreakers::default());
    let slot = new_slot(&breaker).await;
    let conn = pool
        .connect_h1(addr, Duration::from_secs(5), slot)
        .await
        .expect("connect");
    let (mut accepted, _) = server.accept().await.expect("accept");
    pool.checkin_h1(addr, conn);
    assert_eq!(held(&pool), (1, 1));

    pool.sweep(IdleSince::now());
    assert_eq!(held(&pool), (1, 1), "a fresh idle connection was swept");

    pool.sweep(IdleSince::now().plus(IDLE_TIMEOUT));
    assert_eq!(held(&pool), (0, 0), "an expired connection was kept");
    // Its sender is gone, so its connection task closes the socket.
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), accepted.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "the expired connection was not closed: {read:?}"
    );
}

#[tokio::test]
async fn sweep_drops_fast_path_connections_the_server_closed() {
    let (pool, server, addr) = pool_and_server().await;
    let breaker = breaker(CircuitBreakers::default());
    let (conn, pooled) = pool
        .checkout_raw(addr, Duration::from_secs(5), false, &breaker)
        .await
        .expect("connect");
    assert!(!pooled, "an empty pool handed out a pooled connection");
    let (accepted, _) = server.accept().await.expect("accept");
    pool.checkin_raw(addr, conn);
    pool.sweep(IdleSince::now());
    assert_eq!(held(&pool), (1, 1), "an open idle connection was swept");

    drop(accepted);
    // The reactor sees the close while this task sleeps: sweep until it has (or 5 s pass).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        pool.sweep(IdleSince::now());
        if held(&pool) == (0, 0) || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        held(&pool),
        (0, 0),
        "a connection the server closed was kept"
    );
}

/// A server that answers whatever comes with an HTTP/1.1 400 and closes, as nginx answers the
/// HTTP/2 preface on a port without `http2`.
async fn http1_only_server() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = server.accept().await {
            let mut buf = [0u8; 64];
            let _ = conn.read(&mut buf).await;
            let _ = conn
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    addr
}

#[tokio::test]
async fn an_endpoint_that_does_not_speak_http2_is_remembered_for_a_while() {
    let (pool, _unused, _) = pool_and_server().await;
    let addr = http1_only_server().await;
    let timeout = Duration::from_secs(5);
    let web = breaker(caps(10, 10));
    let first = pool.connect_h2(addr, timeout, new_slot(&web).await).await;
    assert!(
        matches!(
            first,
            Err(UpstreamError::NotHttp2 {
                answer: Answer::Http1,
                learned: true,
                ..
            })
        ),
        "{first:?}"
    );
    assert!(pool.speaks_only_http1(addr));
    let again = pool.connect_h2(addr, timeout, new_slot(&web).await).await;
    assert!(
        matches!(again, Err(UpstreamError::NotHttp2 { learned: false, .. })),
        "learned once: {again:?}"
    );
    pool.sweep(IdleSince::now());
    assert!(pool.speaks_only_http1(addr), "swept while remembered");
    pool.sweep(IdleSince::now().plus(NOT_HTTP2_FOR));
    assert!(!pool.speaks_only_http1(addr), "remembered for good");
    assert_eq!(held(&pool), (0, 0));
}
