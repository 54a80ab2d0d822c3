use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query as HQuery};
use hickory_proto::rr::{Name, RecordType};

use super::{Query, Rcode, Rejected, answer_rcode, reject_answer, set_id, truncated};

fn query_bytes(name: &str, id: u16, edns: bool) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(HQuery::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        e.flags_mut().dnssec_ok = true;
        m.set_edns(e);
    }
    m.to_vec().expect("encode")
}

#[test]
fn a_query_is_read_with_its_question_and_edns() {
    let bytes = query_bytes("WWW.Example.com.", 0x1234, true);
    let q = Query::parse(&bytes).expect("query");
    assert_eq!(q.id, 0x1234);
    assert_eq!(q.name.to_string(), "www.example.com.");
    assert_eq!(q.qtype, 1);
    assert_eq!(q.qclass, 1);
    assert_eq!(q.edns, Some((4096, true)));
    // The question is kept as sent, case included.
    assert!(q.question().windows(7).any(|w| w == b"Example"));
}

#[test]
fn the_proxys_answer_echoes_the_question_and_edns() {
    let bytes = query_bytes("a.example.", 7, true);
    let q = Query::parse(&bytes).expect("query");
    let answer = q.answer(Rcode::Refused);
    let m = Message::from_vec(&answer).expect("a valid message");
    assert_eq!(m.metadata.id, 7);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.recursion_desired);
    assert_eq!(u16::from(m.metadata.response_code), 5);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].name.to_ascii(), "a.example.");
    assert!(m.answers.is_empty());
    let edns = m.edns.expect("OPT echoed");
    assert!(edns.flags().dnssec_ok);
    assert_eq!(answer_rcode(&answer), 5);
    // Without EDNS in the query, none in the answer.
    let plain = Query::parse(&query_bytes("a.example.", 8, false)).expect("query");
    let m = Message::from_vec(&plain.answer(Rcode::NxDomain)).expect("valid");
    assert!(m.edns.is_none());
    assert_eq!(u16::from(m.metadata.response_code), 3);
}

#[test]
fn answers_are_matched_by_id_and_question() {
    let bytes = query_bytes("a.example.", 9, false);
    let q = Query::parse(&bytes).expect("query");
    let mut answer = q.answer(Rcode::NoError);
    assert!(q.is_answered_by(9, &answer));
    assert!(!q.is_answered_by(10, &answer), "another id");
    // The resolver may echo the name in another case (0x20).
    let upper = q.answer(Rcode::NoError).to_ascii_uppercase();
    assert!(q.is_answered_by(u16::from_be_bytes([upper[0], upper[1]]), &upper));
    let other = Query::parse(&query_bytes("b.example.", 9, false)).expect("query");
    assert!(
        !q.is_answered_by(9, &other.answer(Rcode::NoError)),
        "another question"
    );
    // A query is no answer.
    assert!(!q.is_answered_by(9, &bytes));
    set_id(&mut answer, 77);
    assert!(q.is_answered_by(77, &answer));
    assert!(!truncated(&answer));
}

#[test]
fn what_is_not_a_query_is_dropped_or_answered() {
    assert!(matches!(Query::parse(&[0; 5]), Err(Rejected::Drop(_))));
    let q = Query::parse(&query_bytes("a.example.", 1, false)).expect("query");
    assert!(
        matches!(
            Query::parse(&q.answer(Rcode::NoError)),
            Err(Rejected::Drop(_))
        ),
        "a response"
    );
    // Two questions: FORMERR.
    let mut two = query_bytes("a.example.", 2, false);
    two[5] = 2;
    let q2 = two[12..].to_vec();
    two.extend_from_slice(&q2);
    assert!(matches!(
        Query::parse(&two),
        Err(Rejected::Answer(Rcode::FormErr, _, _))
    ));
    // Opcode NOTIFY: NOTIMP.
    let mut notify = query_bytes("a.example.", 3, false);
    notify[2] |= 4 << 3;
    let Err(Rejected::Answer(Rcode::NotImp, _, question)) = Query::parse(&notify) else {
        panic!("NOTIMP expected");
    };
    let answer = reject_answer(&notify, Rcode::NotImp, question.as_deref()).expect("answer");
    assert_eq!(answer_rcode(&answer), 4);
    assert_eq!(&answer[..2], &[0, 3]);
    // A compression loop in the question.
    let mut looped = query_bytes("a.example.", 4, false);
    looped.truncate(12);
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert!(matches!(
        Query::parse(&looped),
        Err(Rejected::Answer(Rcode::FormErr, _, None))
    ));
    // Cut short.
    let whole = query_bytes("a.example.", 5, false);
    for cut in 12..whole.len() {
        assert!(
            matches!(
                Query::parse(&whole[..cut]),
                Err(Rejected::Answer(Rcode::FormErr, _, _))
            ),
            "cut at {cut}"
        );
    }
}
