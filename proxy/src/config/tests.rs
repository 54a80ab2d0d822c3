use std::path::Path;

use super::*;

fn load(yaml: &str) -> Result<Config, ConfigError> {
    let file: FileConfig = yaml_serde::from_str(yaml).map_err(|source| ConfigError::Parse {
        path: "test.yaml".into(),
        source,
    })?;
    let config = Config::from_file(file, Path::new("/etc/sockmesh"))?;
    config.validate()?;
    Ok(config)
}

const FULL: &str = r#"
workload: { name: web, labels: { app: web } }
admin: { address: 127.0.0.1:9901 }
log: { format: json, level: debug }
workers: 2
policies: [policies/web.yaml]
listeners:
  - { name: in, address: 127.0.0.1:15006, direction: inbound, protocol: http, cluster: app }
  - { name: out, address: 127.0.0.1:15001, direction: outbound, protocol: tcp }
clusters:
  - { name: app, endpoints: [127.0.0.1:8080], connectTimeout: 250ms, protocol: http2 }
limits: { maxHeaderBytes: 16384, idleTimeout: 2m }
http: { escapedSlashes: decode, headersWithUnderscores: reject }
"#;

#[test]
fn full_file_is_understood() {
    let c = load(FULL).unwrap();
    assert_eq!(c.workload_name, "web");
    assert_eq!(c.labels.0.get("app").map(String::as_str), Some("web"));
    assert_eq!(c.admin.port(), 9901);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.workers, 2);
    assert_eq!(
        c.policy_files,
        vec![PathBuf::from("/etc/sockmesh/policies/web.yaml")]
    );
    assert_eq!(c.listeners[0].protocol, ListenerProtocol::Http);
    assert_eq!(c.listeners[1].direction, Direction::Outbound);
    assert_eq!(c.clusters[0].connect_timeout, Duration::from_millis(250));
    assert_eq!(c.clusters[0].protocol, UpstreamProtocol::Http2);
    assert_eq!(c.limits.max_header_bytes, 16384);
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(120));
    assert_eq!(c.limits.drain_timeout, Limits::default().drain_timeout);
    assert_eq!(c.http.escaped_slashes, EscapedSlashes::Decode);
    assert_eq!(
        c.http.headers_with_underscores,
        HeadersWithUnderscores::Reject
    );
}

#[test]
fn http_settings_default_to_the_secure_reading() {
    let c = load("listeners: [{ address: 127.0.0.1:1, direction: outbound }]\n").unwrap();
    assert_eq!(c.http.escaped_slashes, EscapedSlashes::Reject);
    assert_eq!(
        c.http.headers_with_underscores,
        HeadersWithUnderscores::Drop
    );
    let err = load("listeners: []\nhttp: { escapedSlashes: keep }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("keep") && err.contains("reject"), "{err}");
}

#[test]
fn unknown_fields_are_errors_with_a_position() {
    let err = load("workload: { name: w }\nlistenrs: []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listenrs"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn cross_references_are_checked() {
    let yaml = "listeners:\n  - { address: 127.0.0.1:1, direction: inbound, cluster: nope }\n";
    assert!(matches!(
        load(yaml),
        Err(ConfigError::UnknownCluster { .. })
    ));
    let yaml = "listeners:\n  - { address: 127.0.0.1:1, direction: inbound }\n";
    assert!(matches!(
        load(yaml),
        Err(ConfigError::InboundWithoutCluster(_))
    ));
    let yaml = "listeners:\n  - { address: 127.0.0.1:1, direction: outbound }\nclusters:\n  - { name: a, endpoints: [] }\n";
    assert!(matches!(load(yaml), Err(ConfigError::EmptyCluster(_))));
    let yaml = "listeners:\n  - { address: 127.0.0.1:1, direction: outbound }\n  - { address: 127.0.0.1:1, direction: outbound }\n";
    assert!(matches!(load(yaml), Err(ConfigError::DuplicateAddress(_))));
    assert!(matches!(load("workers: 1\n"), Err(ConfigError::NoListener)));
}

#[test]
fn bad_durations_and_zero_limits_are_refused() {
    let base = "listeners:\n  - { address: 127.0.0.1:1, direction: outbound }\n";
    let err = load(&format!("{base}limits: {{ idleTimeout: 10 }}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no unit"), "{err}");
    let err = load(&format!("{base}limits: {{ idleTimeout: 5parsecs }}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown unit"), "{err}");
    assert!(matches!(
        load(&format!("{base}limits: {{ maxHeaderBytes: 0 }}\n")),
        Err(ConfigError::ZeroLimit {
            name: "maxHeaderBytes"
        })
    ));
}

#[test]
fn circuit_breakers_default_each_unset_threshold_and_refuse_zero() {
    let base = "listeners:\n  - { address: 127.0.0.1:1, direction: outbound }\n";
    let cluster = |breakers: &str| {
        load(&format!(
            "{base}clusters:\n  - {{ name: a, endpoints: [127.0.0.1:2], {breakers} }}\n"
        ))
    };
    let c = cluster("circuitBreakers: { maxRequests: 50 }").unwrap();
    let b = c.clusters[0].circuit_breakers;
    assert_eq!(
        (b.max_connections, b.max_pending_requests, b.max_requests),
        (1024, 1024, 50)
    );
    let c = cluster("protocol: http1").unwrap();
    assert_eq!(c.clusters[0].circuit_breakers, Default::default());
    assert!(matches!(
        cluster("circuitBreakers: { maxPendingRequests: 0 }"),
        Err(ConfigError::ZeroBreaker {
            name: "maxPendingRequests",
            ..
        })
    ));
    let err = cluster("circuitBreakers: { maxRetries: 3 }")
        .unwrap_err()
        .to_string();
    assert!(err.contains("maxRetries"), "{err}");
    assert!(matches!(
        load(&format!(
            "{base}limits: {{ maxUpstreamPerConnection: 0 }}\n"
        )),
        Err(ConfigError::ZeroLimit {
            name: "maxUpstreamPerConnection"
        })
    ));
}

#[test]
fn durations_parse() {
    assert_eq!(duration::parse("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(duration::parse("1h"), Ok(Duration::from_secs(3600)));
    assert!(duration::parse("99999999999999999999h").is_err());
    assert!(duration::parse("").is_err());
}

#[test]
fn label_source_prefixes_select_like_plain_keys() {
    // Cilium's `k8s:` / `any:` prefixes name the same label as the bare key, in files and flags.
    let c = load(&FULL.replace("labels: { app: web }", "labels: { \"k8s:app\": web }")).unwrap();
    assert_eq!(c.labels.get("app"), Some("web"));
    let flags = |label: &str| {
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "sockmesh",
            "run",
            "--listen",
            "127.0.0.1:1",
            "--upstream",
            "127.0.0.1:2",
            "--label",
            label,
        ])
        .expect("flags parse");
        match cli.command {
            crate::cli::Command::Run(args) => Config::from_flags(&args),
            _ => unreachable!("run"),
        }
    };
    assert_eq!(flags("any:app=web").unwrap().labels.get("app"), Some("web"));
    let err = flags("=web").unwrap_err().to_string();
    assert!(err.contains("`=web`") && err.contains("key=value"), "{err}");
}

/// The example shows every setting with its default: it must load, and say the defaults.
#[test]
fn the_example_config_loads_with_the_defaults_it_shows() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sidecar.yaml");
    let c = Config::load(&path).unwrap();
    c.validate().unwrap();
    assert_eq!(c.http, HttpSettings::default());
    assert_eq!(c.kafka, super::KafkaSettings::default());
    assert_eq!(c.dns, super::DnsSettings::default());
    assert_eq!(
        c.limits.max_header_bytes,
        Limits::default().max_header_bytes
    );
}
