use super::super::{FrameReader, KafkaError};

fn frames(
    reader: &mut FrameReader,
    mut input: &[u8],
    step: usize,
) -> Result<Vec<Vec<u8>>, KafkaError> {
    let mut out = Vec::new();
    loop {
        while let Some(f) = reader.next_frame()? {
            out.push(f.payload().to_vec());
        }
        if input.is_empty() {
            return Ok(out);
        }
        let n = reader.feed(&input[..step.min(input.len())]);
        input = &input[n..];
    }
}

#[test]
fn frames_come_out_whole_whatever_the_reads() {
    let stream = b"\x00\x00\x00\x03abc\x00\x00\x00\x00\x00\x00\x00\x01z";
    for step in 1..=stream.len() {
        let mut reader = FrameReader::new(16);
        let got = frames(&mut reader, stream, step).expect("frames");
        assert_eq!(
            got,
            vec![b"abc".to_vec(), vec![], b"z".to_vec()],
            "step {step}"
        );
        assert_eq!(reader.finish(), Ok(()));
    }
}

#[test]
fn a_frame_over_the_limit_is_refused_from_its_prefix() {
    let mut reader = FrameReader::new(16);
    assert_eq!(reader.feed(b"\x00\x00\x00\x11rest"), 4);
    assert_eq!(
        reader.next_frame(),
        Err(KafkaError::FrameTooLarge { len: 17, max: 16 })
    );
    assert_eq!(reader.buffered(), 4, "nothing of the frame is buffered");
}

#[test]
fn a_negative_length_is_refused() {
    let mut reader = FrameReader::default();
    reader.feed(b"\xff\xff\xff\xfe");
    assert_eq!(reader.next_frame(), Err(KafkaError::NegativeLength(-2)));
    let mut reader = FrameReader::default();
    reader.feed(b"\x80\x00\x00\x00");
    assert_eq!(
        reader.next_frame(),
        Err(KafkaError::NegativeLength(i32::MIN))
    );
}

#[test]
fn a_stream_ending_inside_a_frame_is_truncated() {
    let mut reader = FrameReader::default();
    let got = frames(&mut reader, b"\x00\x00\x00\x05ab", 64).expect("frames");
    assert!(got.is_empty());
    assert_eq!(reader.finish(), Err(KafkaError::Truncated { missing: 3 }));
    let mut reader = FrameReader::default();
    reader.feed(b"\x00\x00");
    assert_eq!(reader.next_frame(), Ok(None));
    assert_eq!(reader.finish(), Err(KafkaError::Truncated { missing: 2 }));
}

/// The reader takes at most the rest of the current frame: a burst of frames cannot make it
/// buffer beyond one prefix and one frame.
#[test]
fn the_reader_never_buffers_beyond_a_frame() {
    let mut reader = FrameReader::new(8);
    let burst = [&b"\x00\x00\x00\x08abcdefgh"[..]; 50].concat();
    assert_eq!(reader.feed(&burst), 4);
    assert_eq!(reader.next_frame(), Ok(None));
    assert_eq!(reader.feed(&burst[4..]), 8);
    assert!(reader.buffered() <= 12);
    assert!(reader.next_frame().expect("frame").is_some());
    assert_eq!(reader.buffered(), 0);
}

/// Garbage after a valid frame is the next frame's prefix, and refused as one.
#[test]
fn garbage_after_a_frame_is_refused() {
    let mut reader = FrameReader::new(1024);
    let err = frames(&mut reader, b"\x00\x00\x00\x01x\xde\xad\xbe\xef", 3).unwrap_err();
    assert!(matches!(err, KafkaError::NegativeLength(_)), "{err}");
}

/// The frame is a view of the buffer, not a copy.
#[test]
fn the_payload_shares_the_frame() {
    let mut reader = FrameReader::default();
    reader.feed(b"\x00\x00\x00\x02");
    let _ = reader.next_frame();
    reader.feed(b"hi");
    let frame = reader.next_frame().expect("ok").expect("frame");
    let payload = frame.payload();
    assert_eq!(payload.as_ptr(), frame.bytes()[4..].as_ptr());
}
