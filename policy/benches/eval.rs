//! Policy evaluation time for 10, 1,000 and 10,000 HTTP rules on one port (a mix of literal and
//! regex paths and methods), for allowed and denied requests. With the indexes, time must not grow
//! linearly with the rule count.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sockmesh_policy::model::{HttpRule, L7Rules, Policy, PortProtocol, PortRule, Rule, Spec};
use sockmesh_policy::{
    CompiledPolicy, ConnMeta, Direction, HttpRequest, L4Protocol, Labels, NoHeaders,
};

/// `n` HTTP rules on port 80, 100 per `toPorts` entry; every 4th rule uses a regex path and a
/// regex method, the rest are literals.
fn policy(n: usize) -> Policy {
    let mut rules = Vec::new();
    let mut http = Vec::new();
    for i in 0..n {
        http.push(if i % 4 == 0 {
            HttpRule {
                method: Some("GET|HEAD".into()),
                path: Some(format!("/svc{i}/items/[0-9]+")),
                ..HttpRule::default()
            }
        } else {
            HttpRule {
                method: Some(if i % 2 == 0 { "GET" } else { "POST" }.into()),
                path: Some(format!("/svc{i}/items")),
                ..HttpRule::default()
            }
        });
        if http.len() == 100 || i + 1 == n {
            rules.push(Rule {
                peers: Vec::new(),
                to_ports: vec![PortRule {
                    ports: vec![PortProtocol {
                        port: 80,
                        end_port: None,
                        protocol: None,
                    }],
                    rules: Some(std::sync::Arc::new(L7Rules {
                        http: std::mem::take(&mut http),
                        ..L7Rules::default()
                    })),
                }],
            });
        }
    }
    Policy {
        name: "bench".into(),
        namespace: None,
        clusterwide: false,
        specs: vec![Spec {
            ingress: Some(rules),
            ..Spec::default()
        }],
    }
}

fn bench(c: &mut Criterion) {
    let conn = ConnMeta {
        direction: Direction::Ingress,
        peer: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port: 80,
        protocol: L4Protocol::Tcp,
        identity: None,
    };
    let mut g = c.benchmark_group("check_http");
    for n in [10usize, 1_000, 10_000] {
        let start = Instant::now();
        let compiled = CompiledPolicy::compile(&[policy(n)], &Labels::default())
            .unwrap_or_else(|e| panic!("bench policy compiles: {e}"));
        eprintln!("{n} rules: compiled in {:?}", start.elapsed());
        // The last literal and the last regex rule: a linear scan would have to reach the end.
        let last_literal = (0..n).rev().find(|i| i % 4 != 0).unwrap_or(1);
        let literal_path = format!("/svc{last_literal}/items");
        let literal_method = if last_literal % 2 == 0 { "GET" } else { "POST" };
        let last_regex = (0..n).rev().find(|i| i % 4 == 0).unwrap_or(0);
        let regex_path = format!("/svc{last_regex}/items/12345");
        let cases = [
            (
                "allowed_literal",
                literal_method,
                literal_path.as_str(),
                true,
            ),
            ("allowed_regex", "HEAD", regex_path.as_str(), true),
            ("denied_path", "GET", "/nothing/here", false),
            ("denied_method", "DELETE", literal_path.as_str(), false),
        ];
        for (name, method, path, expect) in cases {
            let req = HttpRequest {
                method,
                path,
                host: Some("web"),
                headers: &NoHeaders,
                grpc: None,
            };
            assert_eq!(
                compiled.check_http(&conn, &req).allowed,
                expect,
                "{name}/{n}"
            );
            g.bench_with_input(BenchmarkId::new(name, n), &req, |b, req| {
                b.iter(|| compiled.check_http(black_box(&conn), black_box(req)))
            });
        }
        g.bench_with_input(BenchmarkId::new("connection", n), &conn, |b, conn| {
            b.iter(|| compiled.check_connection(black_box(conn)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
