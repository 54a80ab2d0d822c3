//! Command-line interface: one binary, `sockmesh`, with a subcommand per job.
//!
//! `run` takes either a full config file (`--config`) or, for quick local use, flags alone that
//! describe one listener and one upstream cluster; both produce the same [`crate::config::Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sockmesh: an API-aware sidecar proxy (HTTP/1.1, HTTP/2, gRPC) enforcing CiliumNetworkPolicy
/// L3/L4/L7 rules, with an eBPF-spliced local hop.
#[derive(Debug, Parser)]
#[command(name = "sockmesh", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sidecar, from a config file or from flags.
    Run(Box<RunArgs>),
    /// Start an upstream HTTP and gRPC service and a sidecar with the example policy in one
    /// process, send allowed and denied calls, print the verdicts; exit 0 only if all match.
    Demo(DemoArgs),
    /// Policy file tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// eBPF acceleration: status and maintenance.
    Bpf(crate::bpf::BpfArgs),
    /// Workload certificates for development: a CA, and SPIFFE certificates it signs.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Serve policy and cluster files over xDS (ADS, SotW and delta) to sidecars, for local
    /// development and tests; files are watched and changes pushed.
    ControlPlane(sockmesh_xds::server::ControlPlaneArgs),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files; print every error with file, line and column; exit 1 on any error.
    Check {
        /// CiliumNetworkPolicy YAML files (one or many documents each, `---` separated).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Make a development CA for a trust domain: DIR/ca.crt and DIR/ca.key (0600).
    Init {
        /// Where the CA's files go (created if missing).
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// The SPIFFE trust domain the CA signs for.
        #[arg(long, default_value = "cluster.local")]
        trust_domain: String,
        /// Replace an existing CA (every certificate it signed stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Sign a workload certificate for a SPIFFE ID: OUT/cert.pem, OUT/key.pem (0600) and
    /// OUT/bundle.pem (the CA, to verify peers with).
    Issue {
        /// The CA's directory (from `sockmesh certs init`).
        #[arg(long, default_value = "certs")]
        ca_dir: PathBuf,
        /// The workload's identity, e.g. spiffe://cluster.local/ns/prod/sa/web.
        #[arg(long)]
        spiffe_id: sockmesh_certs::SpiffeId,
        /// Where the workload's files go (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// How long the certificate is valid (`24h`, `90m`, `30s`).
        #[arg(long, default_value = "24h", value_parser = crate::config::duration::parse)]
        valid_for: std::time::Duration,
    },
}

/// Direction of a flag-defined listener: which policy sections it enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    /// Enforce `ingress` / `ingressDeny` (traffic to the workload).
    Inbound,
    /// Enforce `egress` / `egressDeny` (traffic from the workload).
    Outbound,
}

/// Protocol handling of a flag-defined listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// Detect HTTP/1.1 and HTTP/2 from the first bytes; anything else is opaque TCP.
    Detect,
    /// HTTP/1.1 or HTTP/2 only.
    Http,
    /// gRPC (HTTP/2) only.
    Grpc,
    /// Opaque TCP with L3/L4 policy.
    Tcp,
    /// DNS on UDP and TCP at the same address, each query checked against `rules.dns`.
    Dns,
    /// Kafka, each request checked against `rules.kafka`.
    Kafka,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpstreamProtocolArg {
    /// Same version as the client's request.
    Auto,
    /// Always HTTP/1.1.
    Http1,
    /// Always HTTP/2 (prior knowledge, h2c).
    Http2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

/// `sockmesh run`.
///
/// With `--config FILE` everything comes from the file (flags given as well override the admin
/// address, log settings, workers and the HTTP reading settings). Without it, `--listen` and `--upstream` are required:
///
///   sockmesh run --listen 127.0.0.1:15001 --upstream 127.0.0.1:8080 --policy policy.yaml
///
/// `toPorts` match the destination port of the original connection: for inbound listeners the
/// workload's own port (the `--upstream` port), for outbound ones the remote port.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Sidecar config file (YAML): listeners, clusters, workload, policies, admin, logging.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with_all = ["listen", "upstream"])]
    pub config: Option<PathBuf>,
    /// Address to accept connections on.
    #[arg(long, value_name = "ADDR", requires = "upstream")]
    pub listen: Option<SocketAddr>,
    /// Upstream endpoint (repeat for several; requests are balanced round-robin).
    #[arg(long, value_name = "ADDR")]
    pub upstream: Vec<SocketAddr>,
    /// CiliumNetworkPolicy file to enforce (repeatable; watched and hot-reloaded).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Which policy sections the listener enforces.
    #[arg(long, value_enum, default_value_t = DirectionArg::Inbound)]
    pub direction: DirectionArg,
    /// How the listener treats its traffic.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Detect)]
    pub protocol: ProtocolArg,
    /// HTTP version spoken to the upstream: `auto` keeps the client's version (gRPC needs HTTP/2).
    #[arg(long, value_enum, default_value_t = UpstreamProtocolArg::Auto)]
    pub upstream_protocol: UpstreamProtocolArg,
    /// Workload label `key=value` matched by `endpointSelector` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Workload name (for logs and metrics).
    #[arg(long)]
    pub name: Option<String>,
    /// Admin server address (`/ready`, `/live`, `/metrics`, `/config_dump`, `/policy`).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Log filter, e.g. `info` or `sockmesh=debug` (also from RUST_LOG).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Worker threads (1 runs everything on one thread, the sidecar default).
    #[arg(long)]
    pub workers: Option<usize>,
    /// What becomes of `%2F` and `%5C` in a request path [default: reject].
    #[arg(long, value_enum)]
    pub escaped_slashes: Option<EscapedSlashesArg>,
    /// What becomes of request fields whose name holds `_` [default: drop].
    #[arg(long, value_enum)]
    pub headers_with_underscores: Option<UnderscoresArg>,
    /// Take policies (and listeners and clusters, if it sends them) from this xDS control plane
    /// (`host:port`); `/ready` stays 503 until the first complete sync.
    #[arg(long, value_name = "ADDR", conflicts_with = "policies")]
    pub xds: Option<String>,
    /// xDS variant: state-of-the-world or delta.
    #[arg(long, value_enum, default_value_t = XdsModeArg::Sotw, requires = "xds")]
    pub xds_mode: XdsModeArg,
    /// xDS node id (default: `<name>-<pid>`).
    #[arg(long, requires = "xds")]
    pub node_id: Option<String>,
    #[command(flatten)]
    pub accel: crate::bpf::AccelArgs,
}

/// `--escaped-slashes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EscapedSlashesArg {
    /// Answer 400.
    Reject,
    /// Decode them to `/`, normalise the path, and check and forward that.
    Decode,
}

/// `--headers-with-underscores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnderscoresArg {
    /// Forward them, and let policy see them, as they are.
    Allow,
    /// Remove them before policy sees the request.
    Drop,
    /// Answer 400.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XdsModeArg {
    /// `StreamAggregatedResources`.
    Sotw,
    /// `DeltaAggregatedResources`.
    Delta,
}

/// `sockmesh demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Policy used by the demo sidecar.
    #[arg(long, default_value = "examples/policies/demo.yaml")]
    pub policy: PathBuf,
}
