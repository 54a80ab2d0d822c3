use super::*;
use crate::model::{CidrRule, Entity, LabelOperator, MismatchAction, PeerSelector, PortProtocol};
use crate::request::L4Protocol;

const HEAD: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n";

fn errors(text: &str) -> Vec<ParseError> {
    match parse_documents("policy.yaml", text) {
        Ok(p) => panic!("expected errors, parsed {p:?}"),
        Err(e) => e,
    }
}

/// The single error of `text`, as (line, column, message, help).
fn one_error(text: &str) -> (usize, usize, String, String) {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    let e = &e[0];
    (
        e.line,
        e.column,
        e.message.clone(),
        e.help.clone().unwrap_or_default(),
    )
}

fn spec(body: &str) -> String {
    format!("{HEAD}spec:\n  endpointSelector: {{}}\n{body}")
}

fn parse_ok(text: &str) -> Vec<Policy> {
    parse_documents("policy.yaml", text).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

#[test]
fn fixture_parses_fully() {
    let p = parse_ok(include_str!("../../tests/fixtures/web.yaml"));
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].qualified_name(), "prod/web");
    assert!(!p[0].clusterwide);
    assert!(p[1].clusterwide);
    assert_eq!(p[1].specs.len(), 2);
    let spec = &p[0].specs[0];
    assert_eq!(
        spec.endpoint_selector
            .match_labels
            .get("app")
            .map(String::as_str),
        Some("web")
    );
    let ingress = spec.ingress.as_ref().expect("ingress");
    assert_eq!(
        ingress[0].peers,
        vec![PeerSelector::Cidr(CidrRule {
            cidr: "10.0.0.0/8".parse().expect("net"),
            except: vec!["10.66.0.0/16".parse().expect("net")],
        })]
    );
    assert_eq!(
        ingress[0].to_ports[0].ports,
        vec![PortProtocol {
            port: 8080,
            end_port: None,
            protocol: Some(L4Protocol::Tcp)
        }]
    );
    let http = &ingress[0].to_ports[0].rules.as_ref().expect("rules").http;
    assert_eq!(http[1].method.as_deref(), Some("POST|PUT"));
    assert_eq!(http[1].headers, vec!["X-Request-Id".to_owned()]);
    assert_eq!(
        http[1].header_matches[0].mismatch,
        Some(MismatchAction::Add)
    );
    let egress = p[1].specs[1].egress.as_ref().expect("egress");
    assert_eq!(egress[0].peers, vec![PeerSelector::Entity(Entity::All)]);
    assert_eq!(egress[0].to_ports[0].ports[1].range(), (5000, 5100));
    assert_eq!(
        p[1].specs[1].endpoint_selector.match_expressions[0].operator,
        LabelOperator::In
    );
}

#[test]
fn error_display_format() {
    let e = errors(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http:\n        - path: \"/a(\"\n",
    ));
    assert_eq!(e.len(), 1);
    let s = e[0].to_string();
    assert!(
        s.starts_with("policy.yaml:11:17: error: invalid regex in `path`: unclosed group"),
        "{s}"
    );
    assert!(s.contains("\n  help: regexes are full-match"), "{s}");
}

#[test]
fn syntax_error_is_positioned() {
    let (line, col, msg, help) = one_error("apiVersion: cilium.io/v2\nkind: [a, b\nmetadata: x\n");
    assert!(msg.starts_with("invalid YAML"), "{msg}");
    assert!(!help.is_empty());
    assert_eq!(line, 3, "{msg}");
    assert!(col >= 1);
}

#[test]
fn wrong_api_version_and_kind() {
    let (l, c, m, h) = one_error(&spec("").replace("cilium.io/v2", "v1"));
    assert_eq!((l, c), (1, 13));
    assert_eq!(m, "unsupported apiVersion `v1`");
    assert!(h.contains("cilium.io/v2"));
    let (l, c, m, h) = one_error(&spec("").replace("CiliumNetworkPolicy", "NetworkPolicy"));
    assert_eq!((l, c), (2, 7));
    assert_eq!(m, "unsupported kind `NetworkPolicy`");
    assert!(h.contains("CiliumNetworkPolicy"));
}

#[test]
fn unknown_fields_suggest_close_names() {
    let (l, c, m, h) = one_error(&spec("  ingres: []\n"));
    assert_eq!((l, c), (7, 3));
    assert_eq!(m, "unknown field `ingres` in `spec`");
    assert_eq!(h, "did you mean `ingress`?");
    let (l, c, m, h) = one_error(&spec("  ingress:\n  - toCIDR: [10.0.0.0/8]\n"));
    assert_eq!((l, c), (8, 5));
    assert_eq!(m, "unknown field `toCIDR` in a rule in `ingress`");
    assert!(h.contains("`fromCIDR`"), "{h}");
    let (_, _, _, h) = one_error(&spec("  egress:\n  - toPorts:\n    - portz: []\n"));
    assert_eq!(h, "did you mean `ports`?");
    let (_, _, m, h) = one_error(&spec("  egress:\n  - zzz: 1\n"));
    assert_eq!(m, "unknown field `zzz` in a rule in `egress`");
    assert!(h.starts_with("valid fields here: `toEndpoints`"), "{h}");
    let (l, c, m, _) = one_error(&format!(
        "{HEAD}  colour: red\nspec: {{endpointSelector: {{}}}}\n"
    ));
    assert_eq!(
        (l, c, m.as_str()),
        (5, 3, "unknown field `colour` in `metadata`")
    );
}

#[test]
fn not_supported_fields_are_refused_at_their_position() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "  egress:\n  - toServices: []\n",
            (8, 5),
            "`toServices` is not supported yet",
        ),
        (
            "  egress:\n  - toGroups: []\n",
            (8, 5),
            "`toGroups` is not supported yet",
        ),
        (
            "  ingress:\n  - icmps: []\n",
            (8, 5),
            "`icmps` is not supported yet",
        ),
        (
            "  ingress:\n  - authentication: {mode: required}\n",
            (8, 5),
            "`authentication` is not supported yet",
        ),
        (
            "  ingress:\n  - fromRequires: [{}]\n",
            (8, 5),
            "`fromRequires` is not supported yet",
        ),
        (
            "  egress:\n  - toRequires: [{}]\n",
            (8, 5),
            "`toRequires` is not supported yet",
        ),
        (
            "  ingress:\n  - toPorts:\n    - rules:\n        l7proto: x\n",
            (10, 9),
            "`rules.l7proto` is not supported yet",
        ),
        (
            "  ingress:\n  - toPorts:\n    - rules:\n        http:\n        - headerMatches: [{name: a, secret: {name: s}}]\n",
            (11, 37),
            "`headerMatches[].secret` is not supported yet",
        ),
        (
            "  ingress:\n  - toPorts:\n    - terminatingTLS: {secret: {name: s}}\n",
            (9, 7),
            "`terminatingTLS` is not supported yet",
        ),
        (
            "  egress:\n  - toPorts:\n    - originatingTLS: {secret: {name: s}}\n",
            (9, 7),
            "`originatingTLS` is not supported yet",
        ),
        (
            "  ingress:\n  - toPorts:\n    - listener: {name: l}\n",
            (9, 7),
            "`listener` is not supported yet",
        ),
        (
            "  ingress:\n  - toPorts:\n    - serverNames: [a.com]\n",
            (9, 7),
            "`serverNames` is not supported yet",
        ),
        (
            "  nodeSelector: {}\n",
            (7, 3),
            "`nodeSelector` is not supported yet",
        ),
    ];
    for (body, pos, msg) in cases {
        let (l, c, m, h) = one_error(&spec(body));
        assert_eq!((l, c), *pos, "{body}: {m}");
        assert!(m.starts_with(msg), "{body}: {m}");
        assert!(!h.is_empty());
    }
}

#[test]
fn identity_selectors_and_entities_are_refused() {
    let (l, c, m, h) = one_error(&spec(
        "  ingress:\n  - fromEndpoints:\n    - matchLabels: {app: a}\n",
    ));
    assert_eq!((l, c), (9, 7));
    assert_eq!(
        m,
        "not supported yet: identity selectors need mTLS identities (fromEndpoints)"
    );
    assert!(h.contains("fromEndpoints: [{}]"));
    let (l, c, m, _) = one_error(&spec("  egress:\n  - toEntities: [all, world]\n"));
    assert_eq!((l, c), (8, 23));
    assert_eq!(m, "entity `world` is not supported yet (toEntities)");
    let (_, _, m, _) = one_error(&spec("  egress:\n  - toEntities: [everything]\n"));
    assert_eq!(m, "unknown entity `everything` in `toEntities`");
}

#[test]
fn ports_forms_and_errors() {
    let p = parse_ok(&spec(
        "  ingress:\n  - toPorts:\n    - ports: [{port: \"80\"}, {port: 0}, {}, {port: 8000, endPort: 8080, protocol: udp}, {port: 1, protocol: ANY}]\n",
    ));
    let ports = &p[0].specs[0].ingress.as_ref().expect("ingress")[0].to_ports[0].ports;
    let ranges: Vec<_> = ports.iter().map(|p| (p.range(), p.protocol)).collect();
    assert_eq!(
        ranges,
        vec![
            ((80, 80), None),
            ((0, 65535), None),
            ((0, 65535), None),
            ((8000, 8080), Some(L4Protocol::Udp)),
            ((1, 1), None),
        ]
    );
    let bad = |ports: &str| {
        one_error(&spec(&format!(
            "  ingress:\n  - toPorts:\n    - ports: [{ports}]\n"
        )))
    };
    let (l, c, m, h) = bad("{port: http}");
    assert_eq!((l, c), (9, 22));
    assert_eq!(m, "named port `http` is not supported yet");
    assert!(h.contains("port number"));
    assert_eq!(bad("{port: 70000}").2, "`port` 70000 is out of range");
    assert_eq!(bad("{port: -1}").2, "invalid `port` `-1`");
    assert_eq!(
        bad("{port: 90, endPort: 80}").2,
        "`endPort` 80 is below `port` 90"
    );
    assert_eq!(bad("{endPort: 80}").2, "`endPort` without `port`");
    assert_eq!(
        bad("{port: 1, protocol: ICMP}").2,
        "unknown protocol `ICMP`"
    );
}

#[test]
fn cidr_errors() {
    let (l, c, m, _) = one_error(&spec("  ingress:\n  - fromCIDR: [10.0.0.0/33]\n"));
    assert_eq!(
        (l, c, m.as_str()),
        (8, 16, "invalid CIDR `10.0.0.0/33` in `fromCIDR`")
    );
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}]\n",
    ));
    assert_eq!(m, "`11.0.0.0/16` in `except` is not inside `10.0.0.0/8`");
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - fromCIDRSet: [{except: [11.0.0.0/16]}]\n",
    ));
    assert_eq!(m, "`fromCIDRSet` entry has no `cidr`");
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - fromCIDRSet: [{cidr: 10.0.0.0/8, cidrGroupRef: g}]\n",
    ));
    assert!(m.starts_with("`cidrGroupRef` is not supported yet"), "{m}");
}

#[test]
fn http_and_grpc_field_errors() {
    let (l, c, m, _) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{method: \"GET(\"}]\n",
    ));
    assert_eq!((l, c), (10, 25));
    assert!(m.starts_with("invalid regex in `method`"), "{m}");
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        grpc: [{methodRegex: \"[\"}]\n",
    ));
    assert!(m.starts_with("invalid regex in `methodRegex`"), "{m}");
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{headers: [\": x\"]}]\n",
    ));
    assert_eq!(m, "invalid `headers` entry `: x`: the header name is empty");
    // Cilium's split reads `X-Evil : yes` as the value `": yes"`: flagged, with the fix.
    let (l, c, m, help) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{headers: [\"X-Evil : yes\"]}]\n",
    ));
    assert_eq!((l, c), (10, 27));
    assert!(
        m.starts_with("invalid `headers` entry `X-Evil : yes`: a blank before the colon"),
        "{m}"
    );
    assert!(help.starts_with("write `X-Evil: yes`"), "{help}");
    for bad in ["X-Odd:: 2", "a;b: 1", "X(Y): 1"] {
        let text = format!(
            "  ingress:\n  - toPorts:\n    - rules:\n        http: [{{headers: [\"{bad}\"]}}]\n"
        );
        let (_, _, m, _) = one_error(&spec(&text));
        assert!(m.contains("is not a header name"), "{bad}: {m}");
    }
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{headerMatches: [{name: a, mismatch: DROP}]}]\n",
    ));
    assert_eq!(m, "unknown `mismatch` action `DROP`");
    let (_, _, m, _) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{headerMatches: [{value: a}]}]\n",
    ));
    assert_eq!(m, "`headerMatches` entry has no `name`");
}

#[test]
fn selectors() {
    let p = parse_ok(&format!(
        "{HEAD}spec:\n  endpointSelector:\n    matchLabels: {{'any:tier': front, version: 2}}\n    matchExpressions:\n    - {{key: 'k8s:env', operator: NotIn, values: [dev]}}\n    - {{key: canary, operator: DoesNotExist}}\n"
    ));
    let sel = &p[0].specs[0].endpoint_selector;
    assert_eq!(
        sel.match_labels.get("tier").map(String::as_str),
        Some("front")
    );
    assert_eq!(
        sel.match_labels.get("version").map(String::as_str),
        Some("2")
    );
    assert_eq!(sel.match_expressions[0].key, "env");
    let l = |pairs: &[(&str, &str)]| -> crate::Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert!(sel.matches(&l(&[("tier", "front"), ("version", "2"), ("env", "prod")])));
    assert!(sel.matches(&l(&[("k8s:tier", "front"), ("version", "2")])));
    assert!(!sel.matches(&l(&[("tier", "front"), ("version", "2"), ("env", "dev")])));
    assert!(!sel.matches(&l(&[("tier", "front"), ("version", "2"), ("canary", "")])));
    assert!(!sel.matches(&l(&[("tier", "front")])));
    let (_, _, m, _) = one_error(&format!(
        "{HEAD}spec:\n  endpointSelector:\n    matchExpressions: [{{key: a, operator: Has}}]\n"
    ));
    assert_eq!(m, "unknown operator `Has`");
    let (_, _, m, _) = one_error(&format!(
        "{HEAD}spec:\n  endpointSelector:\n    matchExpressions: [{{key: a, operator: In}}]\n"
    ));
    assert_eq!(m, "`In`/`NotIn` need a non-empty `values` list");
    let (l, c, m, _) = one_error(&format!("{HEAD}spec:\n  ingress: []\n"));
    assert_eq!(
        (l, c, m.as_str()),
        (6, 3, "`spec` has no `endpointSelector`")
    );
}

#[test]
fn documents_metadata_and_duplicates() {
    let doc = spec("  ingress: []\n");
    let p = parse_ok(&format!(
        "---\n{doc}---\n{}\n---\n",
        doc.replace("name: p", "name: q")
    ));
    assert_eq!(p.len(), 2);
    let e = errors(&format!("{doc}---\n{doc}"));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].message, "policy `p` is defined twice");
    assert_eq!(e[0].line, 9);
    let (_, _, m, _) = one_error(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {}\nspec: {endpointSelector: {}}\n",
    );
    assert_eq!(m, "`metadata.name` is missing");
    let (_, _, m, _) = one_error(HEAD);
    assert_eq!(m, "the policy has neither `spec` nor `specs`");
    let (l, c, m, _) = one_error(
        "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: a, namespace: b}\nspec: {endpointSelector: {}}\n",
    );
    assert_eq!((l, c), (3, 21));
    assert_eq!(m, "a CiliumClusterwideNetworkPolicy has no namespace");
    let (_, _, m, _) = one_error(&spec("  ingress: []\n  ingress: []\n"));
    assert_eq!(m, "duplicate field `ingress` in `spec`");
}

#[test]
fn all_errors_of_a_file_are_reported() {
    let e = errors(&spec(
        "  ingres: []\n  egress:\n  - toFQDNs: [{}]\n    toPorts: [{ports: [{port: x}]}]\n",
    ));
    let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![9, 10, 7], "{e:#?}");
}

#[test]
fn null_sections_are_absent_and_empty_lists_are_present() {
    let p = parse_ok(&spec("  ingress:\n  egress: []\n"));
    assert_eq!(p[0].specs[0].ingress, None);
    assert_eq!(p[0].specs[0].egress, Some(vec![]));
}

#[test]
fn aliases_are_expanded_and_garbage_never_panics() {
    let p = parse_ok(&spec(
        "  ingress:\n  - &r\n    fromCIDR: [10.0.0.0/8]\n  egress:\n  - toCIDR: [10.0.0.0/8]\n  ingressDeny:\n  - *r\n",
    ));
    assert_eq!(p[0].specs[0].ingress_deny, p[0].specs[0].ingress);
    for text in [
        "",
        "---",
        "[]",
        "a",
        "- - -",
        "{",
        "apiVersion: [",
        ":\n:",
        "*x",
        "\t- a",
        "spec: !!binary x",
    ] {
        let _ = parse_documents("x.yaml", text);
    }
    assert!(
        parse_documents("x.yaml", "")
            .expect("empty file")
            .is_empty()
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = errors(&text);
    assert!(e[0].message.contains("recursion limit"), "{e:?}");
    let text = format!("a: {}1", "- ".repeat(50_000));
    let _ = parse_documents("x.yaml", &text);
}

#[test]
fn huge_regex_is_refused_not_compiled() {
    let (_, _, m, h) = one_error(&spec(
        "  ingress:\n  - toPorts:\n    - rules:\n        http: [{path: \"(a{1000}){1000}\"}]\n",
    ));
    assert!(m.starts_with("invalid regex in `path`"), "{m}");
    assert!(h.contains("full-match"));
}

#[test]
fn kafka_rules_parse_and_bad_fields_are_refused_where_they_are_written() {
    let p = parse_ok(&spec(
        "  ingress:\n  - toPorts:\n    - ports: [{port: \"9092\"}]\n      rules:\n        kafka:\n        - {role: Produce, topic: orders.v1}\n        - {apiKey: fetch, apiVersion: 4, clientID: app}\n        - {}\n",
    ));
    let rules = p[0].specs[0].ingress.as_ref().expect("ingress")[0].to_ports[0]
        .rules
        .clone()
        .expect("rules");
    assert_eq!(rules.kafka.len(), 3);
    assert_eq!(rules.kafka[0].role.as_deref(), Some("Produce"));
    assert_eq!(rules.kafka[1].api_version.as_deref(), Some("4"));
    assert_eq!(rules.kafka[1].client_id.as_deref(), Some("app"));
    let cases: &[(&str, (usize, usize), &str, &str)] = &[
        (
            "[{role: produce, apiKey: fetch}]",
            (10, 41),
            "`role: produce` and `apiKey: fetch` in one Kafka rule",
            "either `role` or `apiKey`",
        ),
        (
            "[{role: admin}]",
            (10, 24),
            "unknown Kafka role `admin`",
            "`produce` or `consume`",
        ),
        (
            "[{apiKey: createtopic}]",
            (10, 26),
            "unknown Kafka API key `createtopic`",
            "`offsets`",
        ),
        (
            "[{apiVersion: \"-1\"}]",
            (10, 30),
            "invalid Kafka API version `-1`",
            "0 to 32767",
        ),
        (
            "[{topic: \"a/b\"}]",
            (10, 25),
            "invalid Kafka topic `a/b`",
            "letters, digits",
        ),
        (
            "[{topics: [a]}]",
            (10, 18),
            "unknown field `topics` in a `kafka` rule",
            "did you mean `topic`?",
        ),
    ];
    for (rule, pos, msg, help) in cases {
        let body = format!("  ingress:\n  - toPorts:\n    - rules:\n        kafka: {rule}\n");
        let (l, c, m, h) = one_error(&spec(&body));
        assert_eq!((l, c), *pos, "{rule}: {m}");
        assert!(m.starts_with(msg), "{rule}: {m}");
        assert!(h.contains(help), "{rule}: {h}");
    }
}
