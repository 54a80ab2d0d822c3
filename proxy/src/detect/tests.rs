use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::transport::PrefixedIo;

#[test]
fn classifies_prefaces_and_methods() {
    assert_eq!(classify(H2_PREFACE), Some(Detected::Http2));
    assert_eq!(
        classify(&H2_PREFACE[..10]),
        None,
        "partial preface needs more bytes"
    );
    assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Detected::Http1));
    assert_eq!(classify(b"M-SEARCH * HTTP/1.1"), Some(Detected::Http1));
    assert_eq!(classify(b"POS"), None);
    assert_eq!(
        classify(b"\x16\x03\x01\x02\x00"),
        Some(Detected::Opaque),
        "TLS"
    );
    assert_eq!(classify(b" GET"), Some(Detected::Opaque));
    assert_eq!(classify(b"get / HTTP/1.1"), Some(Detected::Opaque));
    assert_eq!(classify(&[b'A'; 30]), Some(Detected::Opaque));
}

#[tokio::test]
async fn split_preface_is_reassembled_and_replayed() {
    let (mut client, mut server) = tokio::io::duplex(1024);
    let task = tokio::spawn(async move {
        client.write_all(&H2_PREFACE[..5]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(&H2_PREFACE[5..]).await.unwrap();
        client.write_all(b"rest").await.unwrap();
        client
    });
    let (found, buf) = detect(&mut server, None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(found, Detected::Http2);
    let _client = task.await.unwrap();
    let mut io = PrefixedIo::new(buf.freeze(), server);
    let mut all = vec![0u8; H2_PREFACE.len() + 4];
    io.read_exact(&mut all).await.unwrap();
    assert_eq!(&all[..H2_PREFACE.len()], H2_PREFACE);
    assert_eq!(&all[H2_PREFACE.len()..], b"rest");
}

#[tokio::test]
async fn silent_client_times_out_to_opaque() {
    let (_client, mut server) = tokio::io::duplex(64);
    let (found, buf) = detect(&mut server, None, Duration::from_millis(30))
        .await
        .unwrap();
    assert_eq!(found, Detected::Opaque);
    assert!(buf.is_empty());
}

#[tokio::test]
async fn eof_before_decision_is_opaque() {
    let (client, mut server) = tokio::io::duplex(64);
    let mut client = client;
    client.write_all(b"GE").await.unwrap();
    drop(client);
    let (found, buf) = detect(&mut server, None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(found, Detected::Opaque);
    assert_eq!(&buf[..], b"GE");
}
