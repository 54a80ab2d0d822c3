use super::*;

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

/// An empty pool, and a local server to pool connections to.
async fn pool_and_server() -> (Arc<Pool>, tokio::net::TcpListener, SocketAddr) {
    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let mut registry = prometheus_client::registry::Registry::default();
    (
        Pool::new(Arc::new(Metrics::new(&mut registry)), Connector::default()),
        server,
        addr,
    )
}

#[tokio::test]
async fn sweep_closes_expired_connections_and_forgets_empty_endpoints() {
    use tokio::io::AsyncReadExt;

    let (pool, server, addr) = pool_and_server().await;
    let sender = pool
        .connect_h1(addr, Duration::from_secs(5))
        .await
        .expect("connect");
    let (mut accepted, _) = server.accept().await.expect("accept");
    pool.checkin_h1(addr, sender);
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
    let (conn, pooled) = pool
        .checkout_raw(addr, Duration::from_secs(5), false)
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
    let first = pool.connect_h2(addr, timeout).await;
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
    let again = pool.connect_h2(addr, timeout).await;
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
