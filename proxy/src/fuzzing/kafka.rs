//! The Kafka target: a client's byte stream through the frame reader, the header, the request
//! view and a denial of every request, as the Kafka path will run them.

use bytes::Buf;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;

use crate::kafka::{
    Denial, FrameReader, Refusal, Request, RequestView, deny, response_header_version,
};

/// The frame limit here: small, so that a length prefix over it is reached by the fuzzer.
const MAX_FRAME: usize = 64 * 1024;

/// `kafka_request`: byte 0 (plus 1) is the size of each read, the rest is the stream. Asserts:
/// a frame is the bytes fed, whole, never over the limit; a request the header accepts gets a
/// view with its key, version and correlation id; a body that decodes gets a view, and a denial
/// that kafka-protocol reads back at the request's version with the request's correlation id
/// (or, for a Produce with acks=0, a close).
pub fn kafka_request(data: &[u8]) {
    let Some((&step, mut stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step) + 1;
    let mut reader = FrameReader::new(MAX_FRAME);
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.bytes().len() <= 4 + MAX_FRAME);
                request(frame.payload());
                continue;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        if stream.is_empty() {
            let _ = reader.finish();
            return;
        }
        let took = reader.feed(&stream[..step.min(stream.len())]);
        assert!(reader.buffered() <= 4 + MAX_FRAME);
        stream = &stream[took..];
    }
}

fn request(payload: bytes::Bytes) {
    let Ok(request) = Request::parse(payload) else {
        return;
    };
    let header = &request.header;
    let view = RequestView::from_header(header);
    assert_eq!(
        (view.api_key, view.correlation_id),
        (header.api_key, header.correlation_id)
    );
    let Ok(body) = request.decode_body() else {
        return;
    };
    let view = RequestView::new(header, &body);
    assert!(view.body_read);
    for refusal in [Refusal::Denied, Refusal::UnknownTopicId] {
        match deny(&request, &body, refusal).expect("every decoded request can be denied") {
            Denial::Close => assert_eq!(header.api_key, ApiKey::Produce),
            Denial::Respond(frame) => read_back(&request, frame),
        }
    }
}

fn read_back(request: &Request, mut frame: bytes::Bytes) {
    let (key, version) = (request.header.api_key, request.header.api_version);
    let len = frame.get_i32();
    assert_eq!(usize::try_from(len).ok(), Some(frame.len()));
    let header = ResponseHeader::decode(&mut frame, response_header_version(key, version))
        .expect("the response header reads back");
    assert_eq!(header.correlation_id, request.header.correlation_id);
    ResponseKind::decode(key, &mut frame, version).expect("the denial reads back");
    assert!(frame.is_empty());
}
