//! A Produce request's `acks`, read off the body's first fields without decoding the rest.
//!
//! The proxy must know whether a Produce expects a response (acks=0 does not) for every
//! Produce it forwards, also on ports whose rules never need the body: it pairs responses with
//! requests. Decoding the whole request for one field would cost as much as the rest of the
//! path; the field is the second of the body (after the transactional id) in every version
//! kafka-protocol reads (v3 on).

/// `acks` of a Produce body at `version`; `None` when the body is too short to hold it.
pub fn produce_acks(body: &[u8], version: i16) -> Option<i16> {
    let rest = if version >= 9 {
        // Compact nullable string: unsigned varint length + 1 (0: null).
        let (n, used) = uvarint(body)?;
        let len = usize::try_from(n.saturating_sub(1)).ok()?;
        body.get(used..)?.get(len..)?
    } else {
        // Nullable string: i16 length (-1: null).
        let len = i16::from_be_bytes([*body.first()?, *body.get(1)?]);
        let len = usize::try_from(len.max(0)).ok()?;
        body.get(2..)?.get(len..)?
    };
    Some(i16::from_be_bytes([*rest.first()?, *rest.get(1)?]))
}

/// An unsigned varint (at most 5 bytes for a u32) and the bytes it took.
fn uvarint(b: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, byte) in b.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::{ProduceRequest, TransactionalId};
    use kafka_protocol::protocol::{Encodable, Message, StrBytes};

    use super::produce_acks;

    #[test]
    fn acks_is_read_at_every_version_with_and_without_a_transactional_id() {
        let versions = <ProduceRequest as Message>::VERSIONS;
        for version in versions.min..=versions.max {
            for txn in [
                None,
                Some("t"),
                Some("a-much-longer-transactional-id-of-200-bytes"),
            ] {
                for acks in [-1i16, 0, 1] {
                    let mut r = ProduceRequest::default();
                    r.acks = acks;
                    r.transactional_id = txn.map(|t| TransactionalId(StrBytes::from_static_str(t)));
                    let mut buf = BytesMut::new();
                    r.encode(&mut buf, version).expect("encode");
                    assert_eq!(
                        produce_acks(&buf, version),
                        Some(acks),
                        "v{version} {txn:?}"
                    );
                }
            }
        }
        assert_eq!(produce_acks(&[0xff], 3), None);
        assert_eq!(produce_acks(&[0x80, 0x80], 9), None);
        assert_eq!(produce_acks(&[0, 5, b'a'], 3), None);
    }
}
