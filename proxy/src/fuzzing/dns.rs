//! The DNS targets: a datagram through the query path, and a `matchPattern` against a name.

use std::sync::OnceLock;

use hickory_proto::op::{Message, MessageType};
use sockmesh_policy::dns::{DnsName, NamePattern, Strictness};
use sockmesh_policy::{CompiledPolicy, ConnMeta, Direction, L4Protocol};

use crate::dns::message::{self, Query, Rcode, Rejected};

const DNS_POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fuzz-dns, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules:
            dns:
              - matchPattern: "*.shop.svc.cluster.local"
              - matchName: api.example.com
              - matchPattern: "**.cdn.example"
  egressDeny:
    - toPorts:
        - ports: [{port: "53"}]
          rules:
            dns:
              - matchPattern: "*.evil.example"
"#;

fn dns_policy() -> &'static CompiledPolicy {
    static POLICY: OnceLock<CompiledPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let policies = sockmesh_policy::cilium::parse_documents("fuzz-dns.yaml", DNS_POLICY)
            .expect("the fuzzing policy parses");
        CompiledPolicy::compile(&policies, &super::web_labels())
            .expect("the fuzzing policy compiles")
    })
}

/// `dns_message`: a datagram as the DNS listener reads it. A query the proxy accepts has a
/// name that survives its canonical form, gets a policy verdict, and every answer the proxy
/// makes for it is a well-formed response (hickory reads it back) with the query's id and
/// question, which the proxy itself would accept as the answer. A message refused with an
/// RCODE gets an answer with its id. The bytes are also read as an answer to a fixed query.
pub fn dns_message(data: &[u8]) {
    match Query::parse(data) {
        Ok(query) => {
            let again =
                DnsName::from_labels(query.name.labels()).expect("a canonical name reads back");
            assert_eq!(again, query.name);
            let meta = ConnMeta {
                direction: Direction::Egress,
                peer: std::net::IpAddr::from([10, 0, 0, 10]),
                port: 53,
                protocol: L4Protocol::Udp,
                identity: None,
            };
            let _ = dns_policy().check_dns(&meta, &query.name);
            for rcode in [Rcode::Refused, Rcode::NxDomain, Rcode::ServFail] {
                let answer = query.answer(rcode);
                assert!(
                    query.is_answered_by(query.id, &answer),
                    "own answer not matched"
                );
                assert_eq!(message::answer_rcode(&answer), rcode as u8);
                let m = Message::from_vec(&answer).expect("the proxy's answer is a valid message");
                assert_eq!(m.metadata.message_type, MessageType::Response);
                assert_eq!(m.metadata.id, query.id);
                assert_eq!(m.queries.len(), 1);
            }
        }
        Err(Rejected::Answer(rcode, _, question)) => {
            let answer = message::reject_answer(data, rcode, question.as_deref())
                .expect("a message answered with an RCODE has an id");
            assert_eq!(&answer[..2], &data[..2]);
            assert_eq!(message::answer_rcode(&answer), rcode as u8);
        }
        Err(Rejected::Drop(_)) => {}
    }
    let fixed = fixed_query();
    let _ = fixed.is_answered_by(fixed.id, data);
    let _ = message::truncated(data);
}

fn fixed_query() -> &'static Query {
    static QUERY: OnceLock<Query> = OnceLock::new();
    QUERY.get_or_init(|| {
        // id 0x0102, RD, one question: a.example. A IN.
        let bytes =
            b"\x01\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x07example\x00\x00\x01\x00\x01";
        Query::parse(bytes).expect("the fixed query parses")
    })
}

/// `dns_name`: a `matchPattern` (the bytes up to the first NUL, as text) against a name (the
/// rest, as wire labels: a length byte, then that many bytes). What an allow rule matches, a
/// deny rule matches too; a pattern without wildcards matches exactly its own name.
pub fn dns_name(data: &[u8]) {
    let (pattern, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return;
    };
    let mut labels = Vec::new();
    let mut at = rest;
    while let Some((&len, tail)) = at.split_first() {
        let len = usize::from(len).min(tail.len());
        labels.push(&tail[..len]);
        at = &tail[len..];
    }
    let Ok(name) = DnsName::from_labels(labels.iter().copied()) else {
        return;
    };
    for p in [NamePattern::pattern(pattern), NamePattern::name(pattern)]
        .into_iter()
        .flatten()
    {
        let allow = p.matches(&name, Strictness::Cilium);
        if allow {
            assert!(
                p.matches(&name, Strictness::AnyByte),
                "deny matches less than allow"
            );
        }
        if let Some(exact) = p.exact() {
            assert_eq!(
                allow,
                exact == name,
                "an exact pattern matches only its name"
            );
        }
    }
}
