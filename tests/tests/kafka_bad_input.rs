//! What a hostile or broken Kafka peer gets from the sidecar: a frame over the limit, a frame
//! cut short, garbage after a good frame, an absurd array length, an API key nobody knows, and
//! a broker answering a request that was never sent. Each ends the connection with one log
//! line; the broker (a hand-driven socket here, so the test sees every byte it receives) never
//! gets a byte policy did not see; the sidecar keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sockmesh_tests::kafka_raw::{RawBroker, api_versions, framed};
use sockmesh_tests::tansu::{KAFKA_SIDECAR, kafka_policy};
use sockmesh_tests::{Sidecar, TempDir, local, wait_until};

/// A sidecar in front of `broker` whose rules read topics (so bodies are decoded).
fn sidecar(broker: &RawBroker) -> (Sidecar, u16, TempDir) {
    let policy = kafka_policy(broker.port, "{role: produce, topic: orders}");
    Sidecar::in_front_of(broker.port, &policy, KAFKA_SIDECAR)
}

/// Sends `bytes`, closes the write side, and says whether the sidecar closed the connection
/// (read to the end within 5 s), with what it sent back.
fn send_and_close(port: u16, bytes: &[u8]) -> (bool, Vec<u8>) {
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = c.write_all(bytes);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let mut back = Vec::new();
    let closed = c.read_to_end(&mut back).is_ok();
    (closed, back)
}

#[test]
fn frames_the_proxy_cannot_read_close_the_connection_and_reach_no_broker() {
    let broker = RawBroker::start(|_| None);
    let (sidecar, port, _dir) = sidecar(&broker);
    // A length prefix over kafka.maxRequestBytes (100 MiB): refused before it is buffered.
    let (closed, back) = send_and_close(port, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert!(closed && back.is_empty());
    sidecar.wait_log("over the 104857600-byte limit");
    // A negative length.
    let (closed, _) = send_and_close(port, &[0xff, 0xff, 0xff, 0xfe]);
    assert!(closed);
    sidecar.wait_log("is negative");
    // A frame cut short by the client's close.
    let (closed, _) = send_and_close(port, &api_versions(1)[..10]);
    assert!(closed);
    sidecar.wait_log("short of a whole frame");
    // A Produce whose topic array declares 2^30 topics in a 23-byte frame (rules read its
    // topics): a decode error, not an allocation.
    let mut produce = vec![0, 0, 0, 3, 0, 0, 0, 7, 0, 1, b'c'];
    produce.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 0, 3, 0xe8, 0x40, 0, 0, 0]);
    let (closed, _) = send_and_close(port, &framed(&produce));
    assert!(closed);
    sidecar.wait_log("API key 0 v3 body");
    // An API key nobody knows, on a port whose rules read Kafka.
    let mut unknown = vec![0x03, 0xe8, 0, 0, 0, 0, 0, 9, 0, 0];
    unknown.extend_from_slice(&[1, 2, 3]);
    let (closed, _) = send_and_close(port, &framed(&unknown));
    assert!(closed);
    sidecar.wait_log("unknown API key 1000");
    // None of it reached the broker.
    std::thread::sleep(Duration::from_millis(200));
    assert!(broker.received().is_empty(), "{:?}", broker.received());
}

#[test]
fn garbage_after_a_good_frame_is_never_forwarded() {
    let broker = RawBroker::start(|_| None);
    let (sidecar, port, _dir) = sidecar(&broker);
    let good = api_versions(7);
    let mut bytes = good.clone();
    bytes.extend_from_slice(&[0x80, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
    let (closed, _) = send_and_close(port, &bytes);
    assert!(closed);
    sidecar.wait_log("is negative");
    assert!(wait_until(Duration::from_secs(3), || broker.received() == good));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(broker.received(), good, "the good frame, and only it");
}

#[test]
fn a_response_to_a_request_never_sent_ends_the_connection() {
    // The broker answers every request with correlation id 4242, whatever was asked.
    let broker = RawBroker::start(|_| Some(framed(&[0, 0, 0x10, 0x92, 0, 0])));
    let (sidecar, port, _dir) = sidecar(&broker);
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.write_all(&api_versions(1)).expect("write");
    let mut back = Vec::new();
    assert!(c.read_to_end(&mut back).is_ok(), "closed");
    assert!(
        back.is_empty(),
        "the client never sees another request's answer: {back:?}"
    );
    sidecar.wait_log("the broker answered correlation id 4242 where 1 was owed");
    // The sidecar still serves: the next client's request reaches the broker.
    let before = broker.received().len();
    let (_, _) = send_and_close(port, &api_versions(2));
    assert!(wait_until(Duration::from_secs(3), || broker
        .received()
        .len()
        > before));
}

#[test]
fn a_broker_answer_the_proxy_must_rewrite_and_cannot_read_is_not_relayed() {
    // Every answer carries correlation id 3 and a body no Metadata decoder reads: relayed, it
    // could hand the client the brokers' own addresses.
    let broker = RawBroker::start(|_| Some(framed(&[0, 0, 0, 3, 0, 0xff, 0xff, 0xff, 0xff, 0x7f])));
    let (sidecar, port, _dir) = sidecar(&broker);
    // Metadata v12 for no topics (brokers only), correlation id 3.
    let mut metadata = vec![0, 3, 0, 12, 0, 0, 0, 3, 0, 1, b'c', 0];
    metadata.extend_from_slice(&[1, 0, 0, 0]);
    let mut c = TcpStream::connect(local(port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.write_all(&framed(&metadata)).expect("write");
    let mut back = Vec::new();
    assert!(c.read_to_end(&mut back).is_ok(), "closed");
    assert!(
        back.is_empty(),
        "nothing of the unreadable answer: {back:?}"
    );
    sidecar.wait_log("cannot read the broker's Metadata v12 response");
}
