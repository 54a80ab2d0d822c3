use bytes::{BufMut, BytesMut};

use super::Reason;
use super::frame::{self, Frame, FrameError, parse};

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    frame::put_head(&mut b, payload.len(), kind, flags, stream);
    b.put_slice(payload);
    b
}

#[test]
fn frames_come_whole_or_not_at_all() {
    let mut whole = raw(frame::DATA, frame::END_STREAM, 1, b"hello");
    let mut part = BytesMut::from(&whole[..7]);
    assert!(parse(&mut part, 16_384).expect("ok").is_none());
    match parse(&mut whole, 16_384).expect("ok") {
        Some(Frame::Data {
            stream: 1,
            data,
            end: true,
            flow: 5,
        }) => assert_eq!(&data[..], b"hello"),
        other => panic!("{other:?}"),
    }
    assert!(whole.is_empty());
}

#[test]
fn padding_is_removed_but_counted_for_flow_control() {
    let mut b = raw(frame::DATA, 0x8, 3, &[2, b'h', b'i', 0, 0]);
    match parse(&mut b, 16_384).expect("ok") {
        Some(Frame::Data { data, flow: 5, .. }) => assert_eq!(&data[..], b"hi"),
        other => panic!("{other:?}"),
    }
    let mut b = raw(frame::DATA, 0x8, 3, &[4, b'h', b'i', 0]);
    assert!(matches!(
        parse(&mut b, 16_384),
        Err(FrameError::Connection(Reason::PROTOCOL_ERROR, _))
    ));
}

#[test]
fn frame_level_errors() {
    let conn = |kind, flags, stream, payload: &[u8], reason| {
        let mut b = raw(kind, flags, stream, payload);
        match parse(&mut b, 16_384) {
            Err(FrameError::Connection(r, _)) => assert_eq!(r, reason, "kind {kind}"),
            other => panic!("kind {kind}: {other:?}"),
        }
    };
    conn(frame::DATA, 0, 0, b"x", Reason::PROTOCOL_ERROR);
    conn(frame::SETTINGS, 0, 1, &[], Reason::PROTOCOL_ERROR);
    conn(frame::SETTINGS, 0, 0, &[0; 5], Reason::FRAME_SIZE_ERROR);
    conn(
        frame::SETTINGS,
        frame::ACK,
        0,
        &[0; 6],
        Reason::FRAME_SIZE_ERROR,
    );
    conn(frame::PING, 0, 0, &[0; 7], Reason::FRAME_SIZE_ERROR);
    conn(frame::WINDOW_UPDATE, 0, 0, &[0; 4], Reason::PROTOCOL_ERROR);
    conn(frame::RST_STREAM, 0, 1, &[0; 3], Reason::FRAME_SIZE_ERROR);
    conn(frame::GOAWAY, 0, 0, &[0; 7], Reason::FRAME_SIZE_ERROR);
    // Over our SETTINGS_MAX_FRAME_SIZE, known from the header alone.
    let mut b = BytesMut::new();
    frame::put_head(&mut b, 16_385, frame::DATA, 0, 1);
    assert!(matches!(
        parse(&mut b, 16_384),
        Err(FrameError::Connection(Reason::FRAME_SIZE_ERROR, _))
    ));
    // Stream errors: a zero increment on a stream, a stream depending on itself.
    let mut b = raw(frame::WINDOW_UPDATE, 0, 5, &[0; 4]);
    assert!(matches!(
        parse(&mut b, 16_384),
        Err(FrameError::Stream(5, Reason::PROTOCOL_ERROR, _))
    ));
    let mut b = raw(frame::PRIORITY, 0, 5, &[0, 0, 0, 5, 16]);
    assert!(matches!(
        parse(&mut b, 16_384),
        Err(FrameError::Stream(5, Reason::PROTOCOL_ERROR, _))
    ));
}

#[test]
fn unknown_frames_are_skipped() {
    let mut b = raw(0xfa, 0xff, 7, b"whatever");
    assert!(matches!(parse(&mut b, 16_384), Ok(Some(Frame::Unknown))));
    assert!(b.is_empty());
}

#[test]
fn large_header_blocks_continue() {
    let mut out = BytesMut::new();
    let start = frame::reserve_head(&mut out);
    out.put_slice(&[0x82; 40_000]);
    frame::finish_headers(&mut out, start, 1, true, 16_384);
    let mut kinds = Vec::new();
    let mut block = 0;
    while let Some(f) = parse(&mut out, 16_384).expect("ok") {
        match f {
            Frame::Headers {
                block: b,
                end_headers,
                end_stream,
                ..
            } => {
                assert!(!end_headers && end_stream);
                block += b.len();
                kinds.push("H");
            }
            Frame::Continuation {
                block: b,
                end_headers,
                ..
            } => {
                block += b.len();
                kinds.push(if end_headers { "C." } else { "C" });
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(kinds, ["H", "C", "C."]);
    assert_eq!(block, 40_000);
}
