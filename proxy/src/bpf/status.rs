//! `sockmesh bpf status`: what is attached (from the pinned links and programs), the accelerated
//! ports, the socket count and the counters, as text or JSON.

use std::fmt::Write as _;
use std::path::Path;

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{ProgramInfo, loaded_programs};
use serde::Serialize;
use sockmap_ebpf::{counters, flags};

use super::connect::words_ip;
use super::maps::{Maps, MapsError};
use super::pin;

/// One attached program.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramEntry {
    /// sockops, sk_msg, connect4, connect6.
    pub kind: String,
    /// Program name as the kernel reports it (truncated to 15 bytes by the kernel).
    pub name: String,
    /// Kernel program id.
    pub prog_id: u32,
    /// Kernel link id (0 for sk_msg, which is attached to the socket map, not a cgroup link).
    pub link_id: u32,
}

/// Everything `bpf status` and `/metrics` report.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub pin_path: String,
    pub programs: Vec<ProgramEntry>,
    pub accelerated_ports: Vec<u16>,
    /// (app port, inbound listener port).
    pub inbound_ports: Vec<(u16, u16)>,
    pub intercept_outbound: Option<String>,
    /// The DNS listener port-53 traffic goes to, when DNS capture is on.
    pub dns_capture: Option<String>,
    pub sidecar_uid: Option<u32>,
    pub sidecar_pid: u32,
    pub sockets: usize,
    /// Counter name -> value (see `sockmap_ebpf::counters::NAMES`).
    pub counters: std::collections::BTreeMap<String, u64>,
}

fn program_info(id: u32) -> Option<ProgramInfo> {
    loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == id)
}

/// The programs attached through the pins in `dir`.
pub fn attached_programs(dir: &Path) -> Vec<ProgramEntry> {
    let mut out = Vec::new();
    for kind in [
        "sockops",
        "connect4",
        "connect6",
        "sendmsg4",
        "sendmsg6",
        "recvmsg4",
        "recvmsg6",
        "getpeername4",
        "getpeername6",
    ] {
        let Ok(link) = PinnedLink::from_pin(dir.join(pin::link_name(kind))) else {
            continue;
        };
        let fd: FdLink = link.into();
        if let Ok(info) = fd.info() {
            let name = program_info(info.program_id())
                .and_then(|p| p.name_as_str().map(str::to_owned))
                .unwrap_or_default();
            out.push(ProgramEntry {
                kind: kind.into(),
                name,
                prog_id: info.program_id(),
                link_id: info.id(),
            });
        }
    }
    if let Ok(p) = aya::programs::CgroupSockopt::from_pin(
        dir.join(pin::GETSOCKOPT_PROG),
        aya::programs::CgroupSockoptAttachType::Get,
    ) && let Ok(info) = p.info()
    {
        let name = info.name_as_str().unwrap_or_default().to_owned();
        out.push(ProgramEntry {
            kind: "getsockopt".into(),
            name,
            prog_id: info.id(),
            link_id: 0,
        });
    }
    // Opening the pinned program does not touch its attachment to the socket map.
    if let Ok(p) = aya::programs::SkMsg::from_pin(dir.join(pin::SK_MSG_PROG))
        && let Ok(info) = p.info()
    {
        let name = info.name_as_str().unwrap_or_default().to_owned();
        out.push(ProgramEntry {
            kind: "sk_msg".into(),
            name,
            prog_id: info.id(),
            link_id: 0,
        });
    }
    out
}

/// Reads the whole state from open maps plus the pins in `dir`.
pub fn snapshot(maps: &Maps, dir: &Path) -> Snapshot {
    let cfg = maps.config();
    let values = maps.counters();
    let intercept_outbound = (cfg.flags & flags::INTERCEPT_OUTBOUND != 0).then(|| {
        let ip = if cfg.outbound_ip4 != 0 {
            words_ip(sockmap_ebpf::AF_INET, [cfg.outbound_ip4, 0, 0, 0])
        } else {
            words_ip(sockmap_ebpf::AF_INET6, cfg.outbound_ip6)
        };
        std::net::SocketAddr::new(ip, cfg.outbound_port as u16).to_string()
    });
    let dns_capture = (cfg.flags & flags::INTERCEPT_DNS != 0).then(|| {
        let ip = if cfg.dns_ip4 != 0 {
            words_ip(sockmap_ebpf::AF_INET, [cfg.dns_ip4, 0, 0, 0])
        } else {
            words_ip(sockmap_ebpf::AF_INET6, cfg.dns_ip6)
        };
        std::net::SocketAddr::new(ip, cfg.dns_port as u16).to_string()
    });
    Snapshot {
        pin_path: dir.display().to_string(),
        programs: attached_programs(dir),
        accelerated_ports: maps.ports(),
        inbound_ports: maps.inbound(),
        intercept_outbound,
        dns_capture,
        sidecar_uid: (cfg.sidecar_uid != u32::MAX).then_some(cfg.sidecar_uid),
        sidecar_pid: cfg.sidecar_tgid,
        sockets: maps.socket_count(),
        counters: counters::NAMES
            .iter()
            .zip(values)
            .map(|(n, v)| ((*n).to_owned(), v))
            .collect(),
    }
}

/// Opens the pinned maps in `dir` and takes a snapshot.
pub fn read_pinned(dir: &Path) -> Result<Snapshot, MapsError> {
    let maps = Maps::from_pins(dir)?;
    Ok(snapshot(&maps, dir))
}

impl Snapshot {
    /// Human-readable status.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "pin path:          {}", self.pin_path);
        let _ = writeln!(s, "programs:");
        for p in &self.programs {
            let link = if p.kind == "getsockopt" {
                "held by the sidecar".to_owned()
            } else if p.link_id == 0 {
                "on socket map".to_owned()
            } else {
                format!("link {}", p.link_id)
            };
            let _ = writeln!(
                s,
                "  {:<12} {:<18} prog {:<6} {}",
                p.kind, p.name, p.prog_id, link
            );
        }
        if self.programs.is_empty() {
            let _ = writeln!(s, "  (none attached)");
        }
        let ports: Vec<String> = self.accelerated_ports.iter().map(u16::to_string).collect();
        let _ = writeln!(
            s,
            "accelerated ports: {}",
            if ports.is_empty() {
                "(none)".into()
            } else {
                ports.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "intercept:         {}",
            self.intercept_outbound.as_deref().unwrap_or("off")
        );
        if let Some(dns) = &self.dns_capture {
            let _ = writeln!(s, "dns capture:       :53 -> {dns}");
        }
        for (app, l) in &self.inbound_ports {
            let _ = writeln!(s, "inbound capture:   :{app} -> :{l}");
        }
        let uid = self.sidecar_uid.map_or("-".to_owned(), |u| u.to_string());
        let _ = writeln!(s, "exempt:            uid {uid}, pid {}", self.sidecar_pid);
        let _ = writeln!(s, "sockets:           {}", self.sockets);
        let _ = writeln!(s, "counters:");
        for (name, v) in &self.counters {
            let _ = writeln!(s, "  {name:<20} {v}");
        }
        s
    }
}
