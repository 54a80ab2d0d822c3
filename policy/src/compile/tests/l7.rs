//! HTTP and gRPC (L7) decisions.

use super::{compile, get, ing, req};
use crate::request::{GrpcCall, HttpRequest};
use crate::verdict::{HeaderAction, L7Kind};

const HTTP: &str = "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http:\n        - {method: GET, path: \"/api/.*\"}\n        - {method: \"POST|PUT\", path: /orders}\n        - {path: /health, host: \"web\\\\.example\"}\n";

#[test]
fn http_rules_are_full_match_and_need_l7() {
    let c = compile(HTTP);
    let v = c.check_connection(&ing("1.1.1.1", 80));
    assert!(v.allowed);
    assert_eq!(v.l7, L7Kind::Http);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0].toPorts[0]");
    let m = ing("1.1.1.1", 80);
    let ok = |r: HttpRequest<'_>| {
        let v = c.check_http(&m, &r);
        v.allowed.then(|| v.rule.to_string())
    };
    assert_eq!(
        ok(req("GET", "/api/x?y=1")).as_deref(),
        Some("ns/p: ingress[0].toPorts[0].rules.http[0]")
    );
    assert_eq!(
        ok(req("GET", "/api")),
        None,
        "full match: /api/.* needs the slash"
    );
    assert_eq!(ok(req("GETX", "/api/x")), None, "method is full match too");
    assert_eq!(ok(req("HEAD", "/api/x")), None);
    assert_eq!(
        ok(req("PUT", "/orders")).as_deref(),
        Some("ns/p: ingress[0].toPorts[0].rules.http[1]")
    );
    assert_eq!(
        ok(req("PUT", "/orders?x")),
        None,
        "query is part of the path"
    );
    assert_eq!(ok(req("DELETE", "/health")), None, "no host");
    assert_eq!(
        ok(get("/health", &&[][..])).as_deref(),
        Some("ns/p: ingress[0].toPorts[0].rules.http[2]")
    );
    let v = c.check_http(&m, &req("DELETE", "/x"));
    assert_eq!(v.rule.as_str(), "default-deny (ingress)");
}

#[test]
fn l4_only_entry_on_same_port_allows_all_l7_and_skips_inspection() {
    let c = compile(&format!(
        "{HTTP}  - toPorts:\n    - ports: [{{port: 80}}]\n"
    ));
    let v = c.check_connection(&ing("1.1.1.1", 80));
    assert_eq!(v.l7, L7Kind::None);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[1].toPorts[0]");
    let v = c.check_http(&ing("1.1.1.1", 80), &req("DELETE", "/x"));
    assert!(v.allowed);
    assert_eq!(v.rule.as_str(), "ns/p: ingress[1].toPorts[0]");
    // The earlier L7 rule still names requests it matches (first rule wins).
    let v = c.check_http(&ing("1.1.1.1", 80), &req("GET", "/api/1"));
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0].toPorts[0].rules.http[0]");
}

#[test]
fn headers_and_header_matches() {
    let c = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http:\n        - path: /a\n          headers: [X-Token, \"X-Env: prod\", \"X-Zone eu\"]\n        - path: /b\n          headerMatches:\n          - {name: X-Tenant, value: acme}\n          - {name: X-Trace}\n        - path: /c\n          headerMatches:\n          - {name: X-Tenant, value: acme, mismatch: REPLACE}\n          - {name: X-Log, value: yes, mismatch: LOG}\n          - {name: X-Add, value: v, mismatch: ADD}\n          - {name: X-Del, value: v, mismatch: DELETE}\n",
    );
    let m = ing("1.1.1.1", 80);
    let allowed = |path: &str, h: &[(&str, &str)]| c.check_http(&m, &get(path, &h)).allowed;
    assert!(allowed(
        "/a",
        &[("x-token", "1"), ("X-Env", "prod"), ("x-zone", "eu")]
    ));
    assert!(!allowed(
        "/a",
        &[("x-token", "1"), ("X-Env", "prod"), ("x-zone", "us")]
    ));
    assert!(!allowed("/a", &[("x-token", "1"), ("x-env", "dev")]));
    assert!(!allowed("/a", &[("x-env", "prod")]));
    assert!(allowed("/b", &[("x-tenant", "acme"), ("x-trace", "")]));
    assert!(!allowed("/b", &[("x-tenant", "acme")]));
    assert!(!allowed("/b", &[("x-tenant", "evil"), ("x-trace", "1")]));
    // A field sent twice is its values joined (Envoy's view): the allowed value first, or last,
    // does not smuggle another one past the rule.
    for twice in [
        [("x-tenant", "acme"), ("x-tenant", "evil"), ("x-trace", "1")],
        [("x-tenant", "evil"), ("x-tenant", "acme"), ("x-trace", "1")],
    ] {
        assert!(!allowed("/b", &twice), "{twice:?}");
    }
    assert!(allowed(
        "/b",
        &[("x-tenant", "acme"), ("x-trace", "1"), ("x-trace", "2")]
    ));
    let v = c.check_http(
        &m,
        &get(
            "/c",
            &&[("x-tenant", "evil"), ("x-log", "yes"), ("x-del", "no")][..],
        ),
    );
    assert!(v.allowed, "mismatch actions never deny");
    assert_eq!(
        v.header_actions,
        vec![
            HeaderAction::Replace {
                name: "x-tenant".into(),
                value: "acme".into()
            },
            HeaderAction::Add {
                name: "x-add".into(),
                value: "v".into()
            },
            HeaderAction::Delete {
                name: "x-del".into()
            },
        ]
    );
    let v = c.check_http(
        &m,
        &get(
            "/c",
            &&[("x-tenant", "acme"), ("x-add", "v"), ("x-del", "v")][..],
        ),
    );
    assert_eq!(
        v.header_actions,
        vec![HeaderAction::Log {
            name: "x-log".into(),
            expected: "yes".into()
        }]
    );
}

#[test]
fn grpc_rules_match_only_grpc_calls() {
    let c = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 50051}]\n      rules:\n        grpc:\n        - {service: helloworld.Greeter, method: SayHello}\n        - {serviceRegex: \"admin\\\\..*\", methodRegex: \"Get.*\"}\n        http:\n        - {path: /healthz}\n",
    );
    let m = ing("1.1.1.1", 50051);
    let call = |service: &'static str, method: &'static str| {
        let r = HttpRequest {
            method: "POST",
            path: "/ignored",
            host: None,
            headers: &crate::NoHeaders,
            grpc: Some(GrpcCall { service, method }),
        };
        let v = c.check_http(&m, &r);
        v.allowed.then(|| v.rule.to_string())
    };
    assert_eq!(
        call("helloworld.Greeter", "SayHello").as_deref(),
        Some("ns/p: ingress[0].toPorts[0].rules.grpc[0]")
    );
    assert_eq!(
        call("helloworldXGreeter", "SayHello"),
        None,
        "service is exact, not a regex"
    );
    assert_eq!(call("helloworld.Greeter", "SayBye"), None);
    assert_eq!(
        call("admin.Users", "GetUser").as_deref(),
        Some("ns/p: ingress[0].toPorts[0].rules.grpc[1]")
    );
    assert_eq!(call("admin.Users", "DeleteUser"), None);
    // Not a gRPC call: only http rules apply (http rules come first in decision order).
    let v = c.check_http(&m, &req("GET", "/healthz"));
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0].toPorts[0].rules.http[0]");
    let r = HttpRequest {
        grpc: None,
        ..req("POST", "/helloworld.Greeter/SayHello")
    };
    assert!(!c.check_http(&m, &r).allowed);
    assert_eq!(
        GrpcCall::from_path("/helloworld.Greeter/SayHello"),
        Some(GrpcCall {
            service: "helloworld.Greeter",
            method: "SayHello"
        })
    );
    assert_eq!(
        GrpcCall::from_path("/Svc/Get_2"),
        Some(GrpcCall {
            service: "Svc",
            method: "Get_2"
        })
    );
}

/// Only a path a gRPC server would dispatch by its text is a call: with anything after the
/// method (a query, a parameter), an escape, or an empty name, the proxy cannot know which
/// method the server reaches (issue 14, item 6).
#[test]
fn grpc_paths_that_name_no_method_are_no_call() {
    for path in [
        "/peers.echo.v1.Echo/ClientStream?x=1",
        "/peers.echo.v1.Echo/ClientStream?",
        "/peers.echo.v1.Echo/ClientStream;x",
        "/peers.echo.v1.Echo/ClientStream/",
        "/peers.echo.v1.Echo/Client%53tream",
        "/peers.echo.v1.Echo/Client Stream",
        "/peers.echo..v1.Echo/ClientStream",
        "/.Echo/ClientStream",
        "/Echo./ClientStream",
        "//ClientStream",
        "/Echo/",
        "Echo/ClientStream",
        "/Echo",
        "*",
    ] {
        assert_eq!(GrpcCall::from_path(path), None, "{path}");
    }
}

/// A CONNECT has no path: a rule naming one never matches it, even `/` or `.*`; a rule
/// without a path does (issue 14, item 7).
#[test]
fn a_rule_with_a_path_never_matches_connect() {
    let c = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http: [{path: \"/\"}, {path: \".*\", method: CONNECT}, {method: \"CONN.*\", host: \"ok\\\\.example:443\"}]\n",
    );
    let m = ing("1.1.1.1", 80);
    assert!(c.check_http(&m, &req("GET", "/")).allowed);
    let connect = |host| HttpRequest {
        host: Some(host),
        ..req("CONNECT", "/")
    };
    let v = c.check_http(&m, &connect("evil.example:443"));
    assert_eq!(
        (v.allowed, v.rule.as_str()),
        (false, "default-deny (ingress)")
    );
    let v = c.check_http(&m, &connect("ok.example:443"));
    assert_eq!(
        (v.allowed, v.rule.as_str()),
        (true, "ns/p: ingress[0].toPorts[0].rules.http[2]")
    );
}

#[test]
fn l7_deny_rules_deny_matching_requests_only() {
    let c = compile(
        "  ingress:\n  - {}\n  ingressDeny:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http: [{path: \"/admin.*\"}]\n",
    );
    let m = ing("1.1.1.1", 80);
    let v = c.check_connection(&m);
    assert!(v.allowed);
    assert_eq!(v.l7, L7Kind::Http, "deny rule needs L7 inspection");
    assert_eq!(v.rule.as_str(), "ns/p: ingress[0]");
    let v = c.check_http(&m, &req("GET", "/admin/x"));
    assert!(!v.allowed);
    assert_eq!(
        v.rule.as_str(),
        "ns/p: ingressDeny[0].toPorts[0].rules.http[0]"
    );
    assert!(c.check_http(&m, &req("GET", "/x")).allowed);
    assert_eq!(c.check_connection(&ing("1.1.1.1", 81)).l7, L7Kind::None);
}

const DENY_HEADERS: &str = "  ingress:\n  - {}\n  ingressDeny:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http:\n        - {path: /a, headers: [\"X-Evil: yes\"]}\n        - {path: /b, headers: [X-Probe]}\n        - path: /c\n          headerMatches: [{name: X-Tenant, value: evil}]\n";

#[test]
fn deny_header_rule_is_not_sidestepped_by_repetition_second_value_or_list() {
    let c = compile(DENY_HEADERS);
    let m = ing("1.1.1.1", 80);
    let denied = |path: &str, h: &[(&str, &str)]| !c.check_http(&m, &get(path, &h)).allowed;
    for h in [
        &[("x-evil", "yes")][..],
        &[("x-evil", "yes"), ("X-Evil", "yes")],
        &[("x-evil", "other"), ("x-evil", "yes")],
        &[("x-evil", "yes, other")],
        &[("x-evil", "other,yes")],
        &[("x-evil", "a"), ("x-evil", " yes\t, b")],
    ] {
        assert!(denied("/a", h), "{h:?}");
    }
    assert!(!denied("/a", &[("x-evil", "no"), ("x-evil", "yess, yes-")]));
    assert!(!denied("/a", &[]));
    for h in [
        &[("x-tenant", "evil"), ("x-tenant", "acme")][..],
        &[("x-tenant", "acme, evil")],
    ] {
        assert!(denied("/c", h), "headerMatches too: {h:?}");
    }
}

#[test]
fn presence_only_deny_still_matches_any_presence() {
    let c = compile(DENY_HEADERS);
    let m = ing("1.1.1.1", 80);
    let denied = |h: &[(&str, &str)]| !c.check_http(&m, &get("/b", &h)).allowed;
    assert!(denied(&[("x-probe", "")]));
    assert!(denied(&[("x-probe", "1"), ("x-probe", "2")]));
    assert!(!denied(&[("x-other", "1")]));
}

/// One field, named `.0`, whose value is not text (as the proxy's views report obs-text).
struct NonText(&'static str);

impl crate::request::Headers for NonText {
    fn get(&self, _: &str) -> Option<std::borrow::Cow<'_, str>> {
        None
    }

    fn any_value(&self, name: &str, f: &mut dyn FnMut(Option<&str>) -> bool) -> bool {
        name == self.0 && f(None)
    }
}

fn allowed_with_non_text(c: &crate::CompiledPolicy, path: &str, field: &'static str) -> bool {
    let r = HttpRequest {
        headers: &NonText(field),
        ..req("GET", path)
    };
    c.check_http(&ing("1.1.1.1", 80), &r).allowed
}

#[test]
fn deny_header_rule_fails_closed_on_non_text_values() {
    let c = compile(DENY_HEADERS);
    assert!(!allowed_with_non_text(&c, "/a", "x-evil"));
    assert!(!allowed_with_non_text(&c, "/b", "x-probe"));
    assert!(allowed_with_non_text(&c, "/a", "x-other"));
    let allow = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http: [{path: /a, headers: [X-Evil]}]\n",
    );
    assert!(
        !allowed_with_non_text(&allow, "/a", "x-evil"),
        "allow rules keep treating a non-text value as absent"
    );
}

#[test]
fn allow_header_rule_still_requires_the_joined_value_not_any_value() {
    let c = compile(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http: [{path: /a, headers: [\"X-Team: checkout\"]}]\n",
    );
    let m = ing("1.1.1.1", 80);
    let allowed = |h: &[(&str, &str)]| c.check_http(&m, &get("/a", &h)).allowed;
    assert!(allowed(&[("x-team", "checkout")]));
    assert!(!allowed(&[("x-team", "checkout"), ("x-team", "checkout")]));
    assert!(!allowed(&[("x-team", "checkout"), ("x-team", "evil")]));
    assert!(!allowed(&[("x-team", "checkout, evil")]));
}

#[test]
fn describe_lists_effective_rules() {
    let c = compile(HTTP);
    let d = c.describe();
    assert_eq!(d["ingress"]["default"]["rule"], "default-deny (ingress)");
    assert_eq!(
        d["ingress"]["allow"][0]["id"],
        "ns/p: ingress[0].toPorts[0]"
    );
    assert_eq!(d["ingress"]["allow"][0]["ports"][0], "80/ANY");
    assert_eq!(
        d["ingress"]["allow"][0]["http"][1]["rule"]["method"],
        "POST|PUT"
    );
    assert_eq!(d["policies"][0]["name"], "ns/p");
    assert_eq!(c.rule_count(), 3);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<crate::CompiledPolicy>();
}

#[test]
fn many_rules_on_one_port_pick_the_first_match_in_both_bitset_strategies() {
    // 600 rules (10 bitset words): literal and regex paths, literal and regex methods, some hosts.
    let mut spec = String::from(
        "  ingress:\n  - toPorts:\n    - ports: [{port: 80}]\n      rules:\n        http:\n",
    );
    let path = |i: usize| {
        if i.is_multiple_of(3) {
            format!("/p{}/[0-9]+", i % 10)
        } else {
            format!("/p{}", i % 10)
        }
    };
    let method = |i: usize| {
        if i.is_multiple_of(5) {
            "GET|PUT".to_owned()
        } else {
            format!("M{}", i % 7)
        }
    };
    for i in 0..600 {
        let host = if i % 11 == 0 { ", host: h" } else { "" };
        spec.push_str(&format!(
            "        - {{path: \"{}\", method: \"{}\"{host}}}\n",
            path(i),
            method(i)
        ));
    }
    let c = compile(&spec);
    let m = ing("1.1.1.1", 80);
    let expected = |req_method: &str, req_path: &str, host: Option<&str>| {
        (0..600).find(|&i| {
            let p = path(i);
            let path_ok = match p.strip_suffix("/[0-9]+") {
                Some(prefix) => req_path
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
                None => req_path == p,
            };
            let method_ok = method(i).split('|').any(|x| x == req_method);
            let host_ok = i % 11 != 0 || host == Some("h");
            path_ok && method_ok && host_ok
        })
    };
    for req_method in ["GET", "PUT", "M3", "M6", "M0", "POST"] {
        for req_path in ["/p5", "/p3/42", "/p0/7", "/p9", "/p1/x", "/q"] {
            for host in [None, Some("h")] {
                let r = HttpRequest {
                    method: req_method,
                    path: req_path,
                    host,
                    ..req("", "")
                };
                let v = c.check_http(&m, &r);
                let want = expected(req_method, req_path, host)
                    .map(|i| format!("ns/p: ingress[0].toPorts[0].rules.http[{i}]"));
                assert_eq!(
                    v.allowed.then(|| v.rule.to_string()),
                    want,
                    "{req_method} {req_path} {host:?}"
                );
            }
        }
    }
}

#[test]
fn l7_rules_are_filtered_by_their_entry_peers() {
    // 1,000 entries, each one /32 peer with two L7 rules on the same port.
    let mut spec = String::from("  ingress:\n");
    for i in 0..1000u32 {
        spec.push_str(&format!(
            "  - fromCIDR: [10.0.{}.{}]\n    toPorts:\n    - ports: [{{port: 80}}]\n      rules:\n        http: [{{path: /x, method: PUT}}, {{path: \"/.*\"}}]\n",
            i / 256,
            i % 256
        ));
    }
    let c = compile(&spec);
    let v = c.check_http(&ing("10.0.3.7", 80), &req("GET", "/y"));
    assert_eq!(
        v.rule.as_str(),
        "ns/p: ingress[775].toPorts[0].rules.http[1]"
    );
    let v = c.check_http(&ing("10.0.3.7", 80), &req("PUT", "/x"));
    assert_eq!(
        v.rule.as_str(),
        "ns/p: ingress[775].toPorts[0].rules.http[0]"
    );
    let v = c.check_http(&ing("10.0.4.7", 80), &req("GET", "/y"));
    assert_eq!(v.rule.as_str(), "default-deny (ingress)");
}
