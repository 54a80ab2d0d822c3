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

/// `read_from` (the socket path) gives the same frames as `feed`, however the stream is cut,
/// and never buffers more than one frame and `READ_AHEAD`.
#[test]
fn reading_from_a_stream_gives_the_same_frames_and_stays_bounded() {
    use super::super::frame::READ_AHEAD;
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for (i, len) in [0usize, 1, 100, 70_000, 3, 200_000, 5]
        .into_iter()
        .enumerate()
    {
        let payload = vec![i as u8; len];
        stream.extend_from_slice(&(len as i32).to_be_bytes());
        stream.extend_from_slice(&payload);
        want.push(payload);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for chunk in [1usize, 7, 4096, 65_536, 1 << 20] {
        let (mut client, mut server) = tokio::io::duplex(chunk);
        let input = stream.clone();
        let got = rt.block_on(async {
            let writer = async move {
                use tokio::io::AsyncWriteExt;
                client.write_all(&input).await.expect("write");
                drop(client);
            };
            let reader = async {
                let mut reader = FrameReader::new(300_000);
                let mut out = Vec::new();
                loop {
                    while let Some(f) = reader.next_frame().expect("frame") {
                        out.push(f.payload().to_vec());
                    }
                    assert!(reader.buffered() <= 4 + 200_000 + READ_AHEAD);
                    if reader.read_from(&mut server).await.expect("read") == 0 {
                        reader.finish().expect("whole frames");
                        return out;
                    }
                }
            };
            tokio::join!(writer, reader).1
        });
        assert_eq!(got, want, "chunk {chunk}");
    }
}
