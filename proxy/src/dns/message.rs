//! The pure part of the DNS path: reading a query, recognising the answer to it, and the answers
//! the proxy makes itself. No sockets, so it is tested and fuzzed alone (`fuzzing::dns`).
//!
//! A query is read whole with hickory-proto ([`Message::from_vec`]): what it cannot read (a
//! compression loop, a label or name over its limit, a record cut short) gets FORMERR, as a
//! resolver would answer. The question is also kept as the raw bytes the client sent, and that
//! is what the proxy compares and echoes: the answer the proxy relays must be for exactly that
//! question (id, name in any case, type, class), and its own answers carry it back unchanged.
//! Reading answers needs no hickory on the relay path: the header and question bytes decide.

use hickory_proto::op::{Message, MessageType, OpCode};
use sockmesh_policy::dns::DnsName;

/// The fixed header's length.
pub const HEADER: usize = 12;
/// Largest message (a TCP length prefix's range).
pub const MAX_MESSAGE: usize = 65_535;
/// The UDP payload size the proxy's own answers advertise (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// RCODEs the proxy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

impl Rcode {
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
        }
    }
}

/// The name of an RCODE as it appears in an answer (4 bits of the header).
pub fn rcode_name(code: u8) -> &'static str {
    match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "RCODE?",
    }
}

/// A query the proxy can decide on.
#[derive(Debug, Clone)]
pub struct Query {
    pub id: u16,
    pub name: DnsName,
    pub qtype: u16,
    pub qclass: u16,
    /// The EDNS OPT the client sent: (payload size, DO bit).
    pub edns: Option<(u16, bool)>,
    /// Header bytes 2..4 (opcode, RD, CD: what the proxy's own answers copy).
    flags: [u8; 2],
    /// The question exactly as sent.
    question: Box<[u8]>,
}

/// Why a message is not a query the proxy forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not worth an answer: too short to carry an id, or a response (answering responses
    /// would let two proxies, or a spoofer, loop traffic through us).
    Drop(&'static str),
    /// Answered with this RCODE (and the question, when it could be read); the text says why.
    Answer(Rcode, &'static str, Option<Box<[u8]>>),
}

impl Query {
    /// Reads `msg` as a query: a standard query (opcode QUERY) with one question.
    pub fn parse(msg: &[u8]) -> Result<Query, Rejected> {
        if msg.len() < HEADER {
            return Err(Rejected::Drop("shorter than a DNS header"));
        }
        if msg[2] & 0x80 != 0 {
            return Err(Rejected::Drop("a response, not a query"));
        }
        let question = raw_question(msg).map(Box::from);
        let opcode = (msg[2] >> 3) & 0x0f;
        if opcode != 0 {
            return Err(Rejected::Answer(
                Rcode::NotImp,
                "opcode is not QUERY",
                question,
            ));
        }
        let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
        if qdcount != 1 {
            let q = if qdcount == 0 { None } else { question };
            return Err(Rejected::Answer(
                Rcode::FormErr,
                "not exactly one question",
                q,
            ));
        }
        let Some(question) = question else {
            return Err(Rejected::Answer(
                Rcode::FormErr,
                "unreadable question",
                None,
            ));
        };
        let parsed = Message::from_vec(msg).map_err(|_| {
            Rejected::Answer(Rcode::FormErr, "malformed message", Some(question.clone()))
        })?;
        if parsed.metadata.message_type != MessageType::Query
            || parsed.metadata.op_code != OpCode::Query
        {
            return Err(Rejected::Answer(
                Rcode::FormErr,
                "malformed message",
                Some(question),
            ));
        }
        let q =
            parsed
                .queries
                .first()
                .ok_or(Rejected::Answer(Rcode::FormErr, "no question", None))?;
        let name = DnsName::from_labels(q.name.iter()).map_err(|_| {
            Rejected::Answer(Rcode::FormErr, "invalid name", Some(question.clone()))
        })?;
        let edns = parsed
            .edns
            .as_ref()
            .map(|e| (e.max_payload(), e.flags().dnssec_ok));
        Ok(Query {
            id: u16::from_be_bytes([msg[0], msg[1]]),
            name,
            qtype: u16::from(q.query_type),
            qclass: u16::from(q.query_class),
            edns,
            flags: [msg[2], msg[3]],
            question,
        })
    }

    /// The question section as the client sent it.
    pub fn question(&self) -> &[u8] {
        &self.question
    }

    /// The proxy's own answer to this query: `rcode`, the question echoed, and an OPT record
    /// when the client sent one.
    pub fn answer(&self, rcode: Rcode) -> Vec<u8> {
        build_answer(
            self.id,
            self.flags,
            rcode,
            Some(&self.question),
            self.edns.map(|e| e.1),
        )
    }

    /// Whether `answer` is the answer to this query sent with id `sent_id`: a response with that
    /// id whose question is this one's (the name in any case: a resolver may echo 0x20 case).
    pub fn is_answered_by(&self, sent_id: u16, answer: &[u8]) -> bool {
        answer.len() >= HEADER
            && u16::from_be_bytes([answer[0], answer[1]]) == sent_id
            && answer[2] & 0x80 != 0
            && u16::from_be_bytes([answer[4], answer[5]]) == 1
            && raw_question(answer).is_some_and(|q| q.eq_ignore_ascii_case(&self.question))
    }
}

/// The answer to a message that could not be read as a query (FORMERR, NOTIMP), when it
/// carried an id: header flags copied from it, its question echoed when readable.
pub fn reject_answer(msg: &[u8], rcode: Rcode, question: Option<&[u8]>) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*msg.first()?, *msg.get(1)?]);
    let flags = [*msg.get(2)?, *msg.get(3)?];
    Some(build_answer(id, flags, rcode, question, None))
}

/// The RCODE of an answer (the header's low 4 bits; 0 when too short).
pub fn answer_rcode(answer: &[u8]) -> u8 {
    answer.get(3).map_or(0, |b| b & 0x0f)
}

/// Whether an answer has TC set.
pub fn truncated(answer: &[u8]) -> bool {
    answer.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// Sets a message's id (to send a query under another id, or give an answer back its own).
pub fn set_id(msg: &mut [u8], id: u16) {
    if let Some(head) = msg.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}

fn build_answer(
    id: u16,
    flags: [u8; 2],
    rcode: Rcode,
    question: Option<&[u8]>,
    edns_do: Option<bool>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + question.map_or(0, <[u8]>::len) + 11);
    out.extend_from_slice(&id.to_be_bytes());
    // QR=1, the opcode and RD copied; AA=0, TC=0. RA=1 (the proxy answers for a resolver), CD
    // copied, Z and AD clear.
    out.push(0x80 | (flags[0] & 0x79));
    out.push(0x80 | (flags[1] & 0x10) | rcode as u8);
    out.extend_from_slice(&u16::from(question.is_some()).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&u16::from(edns_do.is_some()).to_be_bytes());
    if let Some(q) = question {
        out.extend_from_slice(q);
    }
    if let Some(dnssec_ok) = edns_do {
        // OPT: root name, type 41, class = payload size, TTL = ext-rcode 0, version 0, DO.
        out.push(0);
        out.extend_from_slice(&41u16.to_be_bytes());
        out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// The first question's bytes (name, type, class) when it directly follows the header and its
/// name is uncompressed, as every client writes it and every resolver echoes it.
fn raw_question(msg: &[u8]) -> Option<&[u8]> {
    let mut at = HEADER;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        // A compression pointer (0xC0) or a reserved label type: not in a question we echo.
        if len > 63 || at - HEADER + len + 1 > 255 {
            return None;
        }
        at += 1 + len;
    }
    msg.get(HEADER..at + 4)
}

#[cfg(test)]
mod tests;
