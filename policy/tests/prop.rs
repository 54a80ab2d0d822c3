//! Property test: the compiled, indexed evaluation must agree with a naive evaluator written
//! straight from the model (same allowed flag, same deciding rule, same header actions) on random
//! policies, learned DNS answers, requests and DNS queries. The value universe is deliberately
//! small so that rules overlap often.

use proptest::prelude::*;
use sockmesh_policy::model::*;
use sockmesh_policy::{
    CompiledPolicy, ConnMeta, ConnVerdict, Direction, GrpcCall, HttpRequest, KafkaRequest,
    L4Protocol, Labels,
};

mod dns_gen;
mod kafka_gen;
mod policy_gen;
mod reference;

use policy_gen::{DNS_MIX, HTTP_MIX, KAFKA_MIX, policies, request};
use reference::dns::{Learnt, reference_dns, reference_has_fqdn};
use reference::kafka::reference_kafka;
use reference::{Req, reference_conn, reference_http};

/// Compiles `policies` with the table `learned` describes and checks every request against the
/// reference: its connection, the request as HTTP, and a DNS query for its name.
fn agrees(
    policies: &[Policy],
    learned: &[Learnt],
    reqs: &[Req],
    app: &str,
) -> Result<(), TestCaseError> {
    let labels: Labels = [("app".to_owned(), app.to_owned())].into_iter().collect();
    let compiled = CompiledPolicy::compile_with(policies, &labels, dns_gen::table(learned))
        .expect("generated policies compile");
    prop_assert_eq!(compiled.has_fqdn(), reference_has_fqdn(policies, &labels));
    for req in reqs {
        let grpc = req
            .grpc
            .map(|(service, method)| GrpcCall { service, method });
        let http = HttpRequest {
            method: req.method,
            path: req.path,
            host: req.host,
            headers: &req.headers,
            grpc,
        };
        let v = compiled.check_http(&req.conn, &http);
        let (allowed, rule, actions) = reference_http(policies, &labels, learned, req);
        prop_assert_eq!(
            (v.allowed, v.rule.as_str(), &v.header_actions),
            (allowed, rule.as_str(), &actions),
            "request {:?}",
            req
        );
        let c = compiled.check_connection(&req.conn);
        let (allowed, rule, l7) = reference_conn(policies, &labels, learned, req);
        prop_assert_eq!(
            c,
            ConnVerdict {
                allowed,
                rule: sockmesh_policy::RuleId::new(rule),
                l7
            },
            "connection {:?}",
            req.conn
        );
        let name = dns_gen::dns_name(req.name);
        let v = compiled.check_dns(&req.conn, &name);
        let (allowed, rule) = reference_dns(policies, &labels, learned, &req.conn, req.name);
        prop_assert_eq!(
            (v.allowed, v.rule.as_str()),
            (allowed, rule.as_str()),
            "query for {:?} on {:?}",
            name,
            req.conn
        );
        prop_assert!(v.header_actions.is_empty());
        agrees_on_kafka(&compiled, policies, &labels, learned, req)?;
    }
    Ok(())
}

/// `check_kafka` against the reference; and for a key `kafka_topic_keys` leaves out, the same
/// verdict without the topics (the proxy skips those bodies).
fn agrees_on_kafka(
    compiled: &CompiledPolicy,
    policies: &[Policy],
    labels: &Labels,
    learned: &[Learnt],
    req: &Req,
) -> Result<(), TestCaseError> {
    let q = &req.kafka;
    let kreq = KafkaRequest {
        api_key: q.key,
        api_version: q.version,
        client_id: q.client,
        topics: &q.topics,
        all_topics: q.all,
    };
    let v = compiled.check_kafka(&req.conn, &kreq);
    let (allowed, rule) = reference_kafka(policies, labels, learned, &req.conn, q);
    prop_assert_eq!(
        (v.allowed, v.rule.as_str()),
        (allowed, rule.as_str()),
        "kafka {:?} on {:?}",
        q,
        req.conn
    );
    prop_assert!(v.header_actions.is_empty());
    if !compiled.kafka_topic_keys(&req.conn).contains(q.key) {
        let bare = compiled.check_kafka(
            &req.conn,
            &KafkaRequest {
                topics: &[],
                all_topics: false,
                ..kreq
            },
        );
        prop_assert_eq!(bare, v, "topics of key {} decided", q.key);
    }
    Ok(())
}

fn apps() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["web", "db", "other"][..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_reference(policies in policies(HTTP_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The same with mostly `rules.dns` entries and `toFQDNs` peers: `check_dns` and the
    /// connection verdict (`l7: Dns`) against the reference.
    #[test]
    fn compiled_equals_reference_for_dns(policies in policies(DNS_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The same with mostly `rules.kafka` entries: `check_kafka` and the connection verdict
    /// (`l7: Kafka`) against Cilium's rule-by-rule walk.
    #[test]
    fn compiled_equals_reference_for_kafka(policies in policies(KAFKA_MIX), learned in dns_gen::learned(), reqs in proptest::collection::vec(request(), 1..8), app in apps()) {
        agrees(&policies, &learned, &reqs, app)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A gRPC call is read from exactly `/Service/Method` (dot-separated words of letters,
    /// digits and `_`, then one such word), and from nothing else: what the policy matches is
    /// then the method a server dispatching on the whole path finds.
    #[test]
    fn grpc_calls_come_only_from_plain_paths(path in "[/a-zA-Z0-9_.?;%# -]{0,24}") {
        let plain = regex::Regex::new(r"^/[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*/[A-Za-z0-9_]+$").expect("regex");
        match GrpcCall::from_path(&path) {
            Some(call) => {
                prop_assert!(plain.is_match(&path), "{} read as {:?}", path, call);
                prop_assert_eq!(format!("/{}/{}", call.service, call.method), path);
            }
            None => prop_assert!(!plain.is_match(&path), "{} is a call", path),
        }
    }
}

const FIXTURE: &str = include_str!("fixtures/web.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the parser.
    #[test]
    fn parser_never_panics(text in "\\PC{0,300}") {
        let _ = sockmesh_policy::cilium::parse_documents("f.yaml", &text);
    }

    /// A real policy with a random splice stays panic-free through parse, compile and evaluation,
    /// and every error it yields is positioned inside the file.
    #[test]
    fn mutated_fixture_never_panics(
        at in 0usize..FIXTURE.len(),
        cut in 0usize..40,
        insert in "[ :\\-\\[\\]{}'\"#&*!|>,.0-9a-z\n]{0,6}",
    ) {
        let at = (0..=at).rev().find(|i| FIXTURE.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(FIXTURE.len());
        let end = (end..=FIXTURE.len()).find(|i| FIXTURE.is_char_boundary(*i)).unwrap_or(FIXTURE.len());
        let text = format!("{}{}{}", &FIXTURE[..at], insert, &FIXTURE[end..]);
        let lines = text.lines().count().max(1) + 1;
        match sockmesh_policy::cilium::parse_documents("f.yaml", &text) {
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.line >= 1 && e.line <= lines, "{} (file has {} lines)", e, lines);
                    prop_assert!(e.column >= 1);
                    prop_assert!(e.help.is_some(), "every error says what to do: {}", e);
                }
            }
            Ok(policies) => {
                let labels: Labels = [("app".to_owned(), "web".to_owned())].into_iter().collect();
                if let Ok(c) = CompiledPolicy::compile(&policies, &labels) {
                    let conn = ConnMeta { direction: Direction::Ingress, peer: "10.0.0.1".parse().expect("ip"), port: 8080, protocol: L4Protocol::Tcp, identity: None };
                    let _ = c.check_connection(&conn);
                    let _ = c.check_http(&conn, &HttpRequest { method: "GET", path: "/api/v1/x", host: None, headers: &sockmesh_policy::NoHeaders, grpc: None });
                }
            }
        }
    }
}
