//! Kafka by hand, for the tests that must see every byte: a broker that records what it
//! receives, and request frames written byte by byte.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A broker that records what it receives and answers each read with `answer(bytes)`.
pub struct RawBroker {
    pub port: u16,
    received: Arc<Mutex<Vec<u8>>>,
}

impl RawBroker {
    pub fn start(answer: fn(&[u8]) -> Option<Vec<u8>>) -> RawBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let got = Arc::clone(&received);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let got = Arc::clone(&got);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        got.lock().expect("lock").extend_from_slice(&buf[..n]);
                        if let Some(a) = answer(&buf[..n]) {
                            let _ = conn.write_all(&a);
                        }
                    }
                });
            }
        });
        RawBroker { port, received }
    }

    /// A broker that never answers.
    pub fn silent() -> RawBroker {
        RawBroker::start(|_| None)
    }

    /// Every byte received so far, all connections together.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().expect("lock").clone()
    }
}

/// An ApiVersions v3 request frame with correlation id `id`.
pub fn api_versions(id: i32) -> Vec<u8> {
    let mut payload = vec![0, 18, 0, 3];
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(&[0, 1, b'c', 0]); // client id "c", no tagged fields
    payload.extend_from_slice(&[1, 1, 0]); // two empty compact strings, no tagged fields
    framed(&payload)
}

/// `payload` with its i32 length prefix.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// A request header (client id "raw") for `key` at `version`, encoded at the header version
/// that key and version take: the start of a request's payload.
fn header(key: i16, version: i16, correlation_id: i32) -> bytes::BytesMut {
    use kafka_protocol::messages::{ApiKey, RequestHeader};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let api = ApiKey::try_from(key).expect("a known key");
    let mut header = RequestHeader::default();
    header.request_api_key = key;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("raw"));
    let mut payload = bytes::BytesMut::new();
    header
        .encode(&mut payload, api.request_header_version(version))
        .expect("header");
    payload
}

/// A Produce v3 request (acks=1) for `partitions` partitions of `topic`, none with records,
/// framed. Its denial echoes every partition (22 bytes each, against the request's 8).
pub fn produce_empty(topic: &str, partitions: i32, correlation_id: i32) -> Vec<u8> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let mut data = TopicProduceData::default();
    data.name = TopicName(StrBytes::from_string(topic.to_owned()));
    data.partition_data = (0..partitions)
        .map(|i| PartitionProduceData::default().with_index(i))
        .collect();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![data]);
    let mut payload = header(0, 3, correlation_id);
    request.encode(&mut payload, 3).expect("body");
    framed(&payload)
}

/// A Fetch v13 (topics by id) of partition 0 of `id` from offset 0, framed.
pub fn fetch_by_id(id: uuid::Uuid, correlation_id: i32) -> Vec<u8> {
    use kafka_protocol::messages::FetchRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::protocol::Encodable;
    let mut partition = FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut topic = FetchTopic::default();
    topic.topic_id = id;
    topic.partitions = vec![partition];
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = 1;
    fetch.max_bytes = 1 << 20;
    fetch.topics = vec![topic];
    let mut payload = header(1, 13, correlation_id);
    fetch.encode(&mut payload, 13).expect("body");
    framed(&payload)
}

/// A Metadata v12 request for every topic, framed.
pub fn metadata_all(correlation_id: i32) -> Vec<u8> {
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::protocol::Encodable;
    let mut payload = header(3, 12, correlation_id);
    MetadataRequest::default()
        .with_topics(None)
        .encode(&mut payload, 12)
        .expect("body");
    framed(&payload)
}

/// A Metadata v12 response (framed) in which broker 1 at `host:port` leads partition 0 of
/// `topic`, whose id is `id`.
pub fn metadata_naming(host: &str, port: i32, topic: &str, id: uuid::Uuid) -> Vec<u8> {
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, MetadataResponse, ResponseHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let partition = MetadataResponsePartition::default()
        .with_leader_id(BrokerId(1))
        .with_replica_nodes(vec![BrokerId(1)])
        .with_isr_nodes(vec![BrokerId(1)]);
    let body = MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_string(host.to_owned()))
                .with_port(port),
        ])
        .with_controller_id(BrokerId(1))
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.to_owned()))))
                .with_topic_id(id)
                .with_partitions(vec![partition]),
        ]);
    let mut payload = bytes::BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(0)
        .encode(&mut payload, 1)
        .expect("header");
    body.encode(&mut payload, 12).expect("body");
    framed(&payload)
}

/// The Metadata v12 response `frame` (framed), decoded.
pub fn read_metadata(frame: &[u8]) -> kafka_protocol::messages::MetadataResponse {
    use kafka_protocol::messages::{MetadataResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    let mut buf = bytes::Bytes::copy_from_slice(frame.get(4..).expect("a frame"));
    ResponseHeader::decode(&mut buf, 1).expect("header");
    MetadataResponse::decode(&mut buf, 12).expect("a Metadata v12 response")
}

/// The Fetch v13 response `frame` (framed), decoded.
pub fn read_fetch(frame: &[u8]) -> kafka_protocol::messages::FetchResponse {
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    let mut buf = bytes::Bytes::copy_from_slice(frame.get(4..).expect("a frame"));
    ResponseHeader::decode(&mut buf, 1).expect("header");
    FetchResponse::decode(&mut buf, 13).expect("a Fetch v13 response")
}

/// `tests/python/frames.py exchange` run by `launcher` (a command prefix, e.g. into a pod):
/// sends `frame` to `to` and returns the frame that came back (`None`: the connection closed).
pub fn exchange_via(
    mut launcher: std::process::Command,
    to: &str,
    frame: &[u8],
) -> Option<Vec<u8>> {
    let out = launcher
        .arg(crate::python())
        .arg(crate::root().join("tests/python/frames.py"))
        .args(["exchange", to, &hex(frame)])
        .output()
        .expect("run frames.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let text = text.trim();
    if text.starts_with("closed") || text.is_empty() {
        return None;
    }
    Some(unhex(text))
}

/// `tests/python/frames.py answer` run by `launcher`, answering every frame at `at` with
/// `frame`; returns once it listens.
pub fn answering_via(mut launcher: std::process::Command, at: &str, frame: &[u8]) -> crate::Child {
    use std::io::BufRead;
    launcher
        .arg(crate::python())
        .arg(crate::root().join("tests/python/frames.py"))
        .args(["answer", at, &hex(frame)])
        .stdout(std::process::Stdio::piped());
    let mut child = crate::Child::spawn(&mut launcher);
    let stdout = child.0.stdout.take().expect("piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("frames.py output");
    assert_eq!(line.trim(), "listening", "frames.py answer at {at}");
    child
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
