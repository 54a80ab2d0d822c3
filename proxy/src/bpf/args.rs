//! Command-line flags, the `acceleration:` config section, and the `sockmesh bpf` subcommands.

use std::path::PathBuf;

use serde::Deserialize;

/// Default pin directory on the BPF filesystem.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/sockmesh";

/// `sockmesh run` flags for the eBPF local-hop acceleration and interception.
///
/// Acceleration is on when a cgroup is given (here or as `acceleration.cgroup` in the config);
/// flags override the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AccelArgs {
    /// cgroup v2 directory to attach the programs to (the pod's cgroup, e.g.
    /// /sys/fs/cgroup/unified/pod1). The app and the sidecar must be in it (or below it)
    /// before they open sockets. Without it acceleration is off.
    #[arg(long = "bpf-cgroup", value_name = "PATH", env = "SOCKMESH_BPF_CGROUP")]
    pub cgroup: Option<PathBuf>,
    /// Extra port to splice besides the listeners' own ports (repeatable), e.g. the local
    /// app's port that an inbound listener forwards to.
    #[arg(long = "accelerate-port", value_name = "PORT")]
    pub accelerate_ports: Vec<u16>,
    /// Do not splice the listeners' ports (interception only).
    #[arg(long = "no-accelerate")]
    pub no_accelerate: bool,
    /// Intercept the pod's outbound TCP connects (cgroup connect4/connect6) to non-loopback
    /// addresses and send them to the outbound listener; the proxy reads the original
    /// destination from a map. With a DNS listener, the pod's UDP and TCP to port 53 go to it
    /// too (sendmsg4/6 and recvmsg4/6 for UDP), and each query to the resolver it asked.
    #[arg(long = "intercept")]
    pub intercept: bool,
    /// Intercept connects to this app port (repeatable) and send them to the inbound listener.
    #[arg(long = "intercept-inbound-port", value_name = "PORT")]
    pub intercept_inbound_ports: Vec<u16>,
    /// Connects made by this uid are never intercepted (run the sidecar as its own uid, e.g.
    /// 1337, and pass it here). The running proxy process itself is always exempt.
    #[arg(long = "sidecar-uid", value_name = "UID")]
    pub sidecar_uid: Option<u32>,
    /// Where to pin programs, links and maps on the BPF filesystem (mounted there if needed).
    /// One directory per sidecar.
    #[arg(
        long = "bpf-pin-path",
        value_name = "DIR",
        env = "SOCKMESH_BPF_PIN_PATH"
    )]
    pub pin_path: Option<PathBuf>,
    /// Load this eBPF object instead of the built-in one (testing a rebuilt object).
    #[arg(long = "bpf-object", value_name = "FILE", hide = true)]
    pub object: Option<PathBuf>,
}

/// The `acceleration:` section of the sidecar config (camelCase keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccelConfig {
    /// Set `false` to turn acceleration off even when a cgroup is given.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// cgroup v2 directory to attach to.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
    /// Extra ports to splice.
    #[serde(default)]
    pub accelerate_ports: Vec<u16>,
    /// Intercept outbound connects.
    #[serde(default)]
    pub intercept: bool,
    /// App ports whose connects go to the inbound listener.
    #[serde(default)]
    pub intercept_inbound_ports: Vec<u16>,
    /// Exempt uid.
    #[serde(default)]
    pub sidecar_uid: Option<u32>,
    /// Pin directory.
    #[serde(default)]
    pub pin_path: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl Default for AccelConfig {
    /// An empty section: enabled, everything else unset (as `acceleration: {}` parses).
    fn default() -> Self {
        AccelConfig {
            enabled: true,
            cgroup: None,
            accelerate_ports: Vec::new(),
            intercept: false,
            intercept_inbound_ports: Vec::new(),
            sidecar_uid: None,
            pin_path: None,
        }
    }
}

/// Effective settings: flags over config over defaults.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub enabled: bool,
    pub cgroup: Option<PathBuf>,
    pub accelerate: bool,
    pub accelerate_ports: Vec<u16>,
    pub intercept: bool,
    pub intercept_inbound_ports: Vec<u16>,
    pub sidecar_uid: Option<u32>,
    pub pin_path: PathBuf,
    pub object: Option<PathBuf>,
}

impl Settings {
    pub fn merge(args: &AccelArgs, config: Option<&AccelConfig>) -> Settings {
        let def = AccelConfig::default();
        let c = config.unwrap_or(&def);
        let mut ports = c.accelerate_ports.clone();
        ports.extend(&args.accelerate_ports);
        let mut inbound = c.intercept_inbound_ports.clone();
        inbound.extend(&args.intercept_inbound_ports);
        Settings {
            enabled: c.enabled,
            cgroup: args.cgroup.clone().or_else(|| c.cgroup.clone()),
            accelerate: !args.no_accelerate,
            accelerate_ports: ports,
            intercept: args.intercept || c.intercept,
            intercept_inbound_ports: inbound,
            sidecar_uid: args.sidecar_uid.or(c.sidecar_uid),
            pin_path: args
                .pin_path
                .clone()
                .or_else(|| c.pin_path.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PIN_PATH)),
            object: args.object.clone(),
        }
    }
}

/// `sockmesh bpf ...`: inspect or manage the eBPF programs.
#[derive(Debug, Clone, clap::Args)]
pub struct BpfArgs {
    #[command(subcommand)]
    pub command: BpfCommand,
}

/// The `sockmesh bpf` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BpfCommand {
    /// Show the attached programs, accelerated ports, socket count and counters.
    Status {
        /// Pin directory of the sidecar to inspect.
        #[arg(long = "bpf-pin-path", value_name = "DIR", default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Detach and unpin everything under the pin directory (e.g. after a crashed sidecar).
    Detach {
        /// Pin directory to clean.
        #[arg(long = "bpf-pin-path", value_name = "DIR", default_value = DEFAULT_PIN_PATH)]
        pin_path: PathBuf,
    },
    /// Load, attach and pin the programs, then exit leaving them attached (node-level
    /// splicing without a running sidecar; undo with `sockmesh bpf detach`).
    Attach {
        #[command(flatten)]
        accel: AccelArgs,
        /// A listener port to treat as the sidecar's (repeatable); with --intercept the first
        /// one given as outbound address receives the intercepted connects.
        #[arg(long = "listener", value_name = "ADDR")]
        listeners: Vec<std::net::SocketAddr>,
        /// Stay in the foreground until SIGTERM/SIGINT, then detach everything (this also keeps
        /// the getsockopt program, whose link cannot be pinned, attached while it runs).
        #[arg(long)]
        foreground: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_section_is_camel_case_and_strict() {
        let c: AccelConfig = yaml_serde::from_str(
            "cgroup: /sys/fs/cgroup/unified/pod\nacceleratePorts: [8080]\nintercept: true\nsidecarUid: 1337\n",
        )
        .expect("valid section");
        assert_eq!(c.accelerate_ports, vec![8080]);
        assert!(c.enabled && c.intercept);
        assert!(yaml_serde::from_str::<AccelConfig>("bogus: 1\n").is_err());
    }

    #[test]
    fn flags_override_config() {
        let c = AccelConfig {
            cgroup: Some("/a".into()),
            sidecar_uid: Some(1),
            ..Default::default()
        };
        let a = AccelArgs {
            cgroup: Some("/b".into()),
            accelerate_ports: vec![9],
            ..Default::default()
        };
        let s = Settings::merge(&a, Some(&c));
        assert_eq!(s.cgroup.as_deref(), Some(std::path::Path::new("/b")));
        assert_eq!(s.sidecar_uid, Some(1));
        assert_eq!(s.accelerate_ports, vec![9]);
        assert_eq!(s.pin_path, PathBuf::from(DEFAULT_PIN_PATH));
    }
}
