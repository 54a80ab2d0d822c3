//! eBPF acceleration and interception for the sidecar.
//!
//! Why: every request crosses the app <-> sidecar loopback hop twice. sock_ops puts both
//! sockets of such a hop in a SOCKHASH and sk_msg moves each send straight into the peer's
//! receive queue, skipping TCP/IP on loopback; the cgroup connect4/connect6 hooks send an
//! unmodified app's connects to the sidecar without iptables. The proxy's read/write code is
//! unchanged: redirected sockets behave like ordinary ones.
//!
//! If anything is missing (no cgroup configured, not root, no cgroup v2, no bpffs, a program the
//! kernel refuses) the proxy logs `acceleration off: <reason>` once and runs on plain TCP.
//!
//! Module per program kind: [`sockops`], [`sk_msg`], [`connect`], [`getsockopt`], [`dns`]
//! (sendmsg4/6 and recvmsg4/6, DNS capture); [`maps`], [`orig_dst`] and [`sock_diag`] for
//! the map side, [`pin`] for the pin directory, [`status`] and [`metrics`] for reporting.
//! Minimum kernel: 5.15 (netns cookie in sock_ops/sk_msg), cgroup v2, bpffs.

mod args;
mod command;
mod connect;
mod dns;
mod getsockopt;
mod maps;
mod metrics;
mod orig_dst;
mod pin;
mod ports;
mod sk_msg;
mod sock_diag;
mod sockops;
mod status;

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aya::programs::cgroup_sockopt::CgroupSockoptLink;
use aya::programs::links::PinnedLink;
use aya::programs::sk_msg::SkMsgLink;
use aya::{Ebpf, EbpfLoader};
use sockmap_ebpf::{Config, flags};

use args::Settings;
pub use args::{AccelArgs, AccelConfig, BpfArgs, BpfCommand};
pub use command::run_command;
use maps::Maps;

/// `CGROUP2_SUPER_MAGIC` from linux/magic.h.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Why acceleration could not start; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    #[error("disabled in the config (acceleration.enabled: false)")]
    Disabled,
    #[error(
        "no cgroup configured; pass --bpf-cgroup PATH (a cgroup v2 directory holding the app and the sidecar) or set acceleration.cgroup"
    )]
    NoCgroup,
    #[error(
        "not root: loading and attaching eBPF programs needs root, or CAP_BPF with CAP_NET_ADMIN (CAP_SYS_ADMIN also does; mounting bpffs needs it)"
    )]
    NotPrivileged,
    #[error(
        "{0} is not a cgroup v2 directory; mount cgroup2 (e.g. `mount -t cgroup2 none /sys/fs/cgroup/unified`) and create the pod's directory in it"
    )]
    NotCgroup2(PathBuf),
    #[error("cannot open cgroup {path}: {source}")]
    CgroupOpen { path: PathBuf, source: io::Error },
    #[error(
        "--intercept needs an outbound listener (sockmesh run --direction outbound) or a DNS listener (--protocol dns)"
    )]
    NoOutboundListener,
    #[error(
        "--intercept-inbound-port needs an inbound listener (sockmesh run --direction inbound)"
    )]
    NoInboundListener,
    #[error("cannot read the eBPF object {path}: {source}")]
    ReadObject { path: PathBuf, source: io::Error },
    #[error(
        "the kernel refused the eBPF object ({0}); needs Linux 5.15+ with BPF, cgroup BPF and sockmap support"
    )]
    Load(#[source] aya::EbpfError),
    #[error(
        "{path} belongs to a running sidecar (pid {pid}); give each sidecar its own --bpf-pin-path"
    )]
    PinInUse { path: PathBuf, pid: u32 },
    #[error("cannot read this process's network namespace cookie ({0}); needs Linux 5.14+")]
    Netns(#[source] io::Error),
    #[error(transparent)]
    Pin(#[from] pin::PinError),
    #[error(transparent)]
    Maps(#[from] maps::MapsError),
    #[error(transparent)]
    SockOps(#[from] sockops::SockOpsError),
    #[error(transparent)]
    SkMsg(#[from] sk_msg::SkMsgError),
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error(transparent)]
    Getsockopt(#[from] getsockopt::GetsockoptError),
}

/// What the proxy knows about the listeners when acceleration starts.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub address: SocketAddr,
    pub outbound: bool,
    /// A DNS listener (`protocol: dns`): with `--intercept` the pod's port-53 traffic goes to
    /// the first outbound one; it is never the outbound or inbound listener that other connects
    /// go to.
    pub dns: bool,
}

/// The running acceleration, or the reason it is off. Dropping it detaches and unpins
/// everything.
#[derive(Debug)]
pub struct Acceleration {
    active: Option<Active>,
}

struct Active {
    links: Vec<PinnedLink>,
    sk_msg: Option<SkMsgLink>,
    /// The getsockopt link (not pinnable in aya 0.14): detached when dropped.
    sockopt: Option<CgroupSockoptLink>,
    maps: Arc<Maps>,
    /// `None` when splicing is off (interception only).
    ports: Option<std::sync::Mutex<ports::PortSet>>,
    pin_dir: PathBuf,
    netns_cookie: u64,
    /// DNS capture, when its programs attached.
    dns: Option<dns::DnsCapture>,
    /// Declared last: dropped after the links, so programs go after their attachments.
    _ebpf: Ebpf,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("pin_dir", &self.pin_dir)
            .field("links", &self.links.len())
            .finish()
    }
}

impl Acceleration {
    /// Loads, configures and attaches the programs. Never fails: on any problem it logs
    /// `acceleration off: <reason>` once and returns an inactive handle.
    pub fn start(
        args: &AccelArgs,
        config: Option<&AccelConfig>,
        listeners: &[ListenerInfo],
    ) -> Acceleration {
        let settings = Settings::merge(args, config);
        match start_active(&settings, listeners) {
            Ok(active) => {
                tracing::info!(
                    pin_path = %active.pin_dir.display(),
                    cgroup = ?settings.cgroup,
                    ports = ?active.maps.ports(),
                    intercept = settings.intercept,
                    dns_capture = ?active.dns,
                    "acceleration on: sockops + sk_msg attached"
                );
                Acceleration {
                    active: Some(active),
                }
            }
            Err(e) => {
                let reason = error_chain(&e);
                if matches!(e, AccelError::NoCgroup | AccelError::Disabled) {
                    // Not asked for: say so once, without alarming anyone.
                    tracing::info!("acceleration off: {reason}");
                } else {
                    tracing::warn!("acceleration off: {reason}");
                }
                Acceleration { active: None }
            }
        }
    }

    /// The original destination of an accepted connection that connect4/6 redirected here.
    pub fn original_dst(&self, local: SocketAddr, peer: SocketAddr) -> Option<SocketAddr> {
        let a = self.active.as_ref()?;
        let orig = orig_dst::lookup(&a.maps, a.netns_cookie, local, peer)?;
        (orig != local).then_some(orig)
    }

    /// The resolver an app asked when its UDP query to port 53 was captured and came to the DNS
    /// listener from `client`; `None` in explicit mode (the app asked the listener itself).
    pub fn dns_original_dst(&self, client: SocketAddr) -> Option<SocketAddr> {
        self.active.as_ref()?.dns.as_ref()?.original_dst(client)
    }

    /// Adds the eBPF counters and socket gauge to `/metrics` (`sockmesh_bpf_*`), plus
    /// `sockmesh_bpf_active` (1 when attached).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let active = prometheus_client::metrics::gauge::Gauge::<i64>::default();
        active.set(i64::from(self.active.is_some()));
        registry.register(
            "sockmesh_bpf_active",
            "1 when the eBPF local-hop acceleration is attached",
            active,
        );
        if let Some(a) = &self.active {
            registry.register_collector(Box::new(metrics::BpfCollector {
                maps: a.maps.clone(),
            }));
        }
    }

    /// Leaves everything attached and pinned when dropped (`sockmesh bpf attach`).
    fn leak(mut self) {
        if let Some(mut a) = self.active.take() {
            if let Some(link) = a.sk_msg.take() {
                std::mem::forget(link);
            }
            // Pinned links stay attached when their descriptors close.
            a.links.clear();
            std::mem::forget(a._ebpf);
        }
    }
}

impl Drop for Acceleration {
    fn drop(&mut self) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        for link in a.links.drain(..) {
            // Unpinning and dropping the last reference detaches the cgroup program.
            if let Err(e) = link.unpin() {
                tracing::warn!("cannot unpin an eBPF link: {e}");
            }
        }
        drop(a.sockopt.take());
        drop(a.sk_msg.take());
        match pin::remove_all(&a.pin_dir) {
            Ok(_) => tracing::info!(pin_path = %a.pin_dir.display(), "acceleration detached"),
            Err(e) => {
                tracing::warn!("acceleration detach incomplete: {e}; run `sockmesh bpf detach`")
            }
        }
    }
}

/// An error and its sources on one line (aya keeps the errno in the source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cur = c.source();
    }
    s
}

/// The pid of a live sockmesh process that owns the pins in `dir` (recorded in the config map),
/// if any; pins whose owner is gone are stale and may be replaced.
fn live_owner(dir: &Path) -> Option<u32> {
    let maps = Maps::from_pins(dir).ok()?;
    let pid = maps.config().sidecar_tgid;
    if pid == 0 || pid == std::process::id() {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "sockmesh").then_some(pid)
}

fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    // CAP_NET_ADMIN = 12, CAP_SYS_ADMIN = 21, CAP_BPF = 39.
    has(21) || (has(39) && has(12))
}

fn is_cgroup2(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes only into the zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == CGROUP2_SUPER_MAGIC }
}

fn start_active(s: &Settings, listeners: &[ListenerInfo]) -> Result<Active, AccelError> {
    if !s.enabled {
        return Err(AccelError::Disabled);
    }
    let cgroup_path = s.cgroup.clone().ok_or(AccelError::NoCgroup)?;
    if !privileged() {
        return Err(AccelError::NotPrivileged);
    }
    if !is_cgroup2(&cgroup_path) {
        return Err(AccelError::NotCgroup2(cgroup_path));
    }
    let cgroup = File::open(&cgroup_path).map_err(|source| AccelError::CgroupOpen {
        path: cgroup_path.clone(),
        source,
    })?;
    let outbound = listeners
        .iter()
        .find(|l| l.outbound && !l.dns)
        .map(|l| l.address);
    let inbound = listeners
        .iter()
        .find(|l| !l.outbound && !l.dns)
        .map(|l| l.address);
    // Only an outbound DNS listener checks the pod's own queries (egress rules).
    let dns_listener = listeners
        .iter()
        .find(|l| l.dns && l.outbound)
        .map(|l| l.address);
    if s.intercept && outbound.is_none() && dns_listener.is_none() {
        return Err(AccelError::NoOutboundListener);
    }
    if !s.intercept_inbound_ports.is_empty() && inbound.is_none() {
        return Err(AccelError::NoInboundListener);
    }
    let netns_cookie = orig_dst::own_netns_cookie().map_err(AccelError::Netns)?;

    if pin::ensure_bpffs(&s.pin_path)? {
        tracing::info!(
            "mounted bpffs on {}",
            s.pin_path.parent().unwrap_or(Path::new("/")).display()
        );
    }
    if let Some(pid) = live_owner(&s.pin_path) {
        return Err(AccelError::PinInUse {
            path: s.pin_path.clone(),
            pid,
        });
    }
    let stale = pin::remove_all(&s.pin_path)?;
    if stale > 0 {
        tracing::info!(pin_path = %s.pin_path.display(), "removed {stale} stale eBPF pins left by a previous run");
    }
    let object;
    let bytes: &[u8] = match &s.object {
        Some(path) => {
            object = std::fs::read(path).map_err(|source| AccelError::ReadObject {
                path: path.clone(),
                source,
            })?;
            &object
        }
        None => sockmap_ebpf::OBJECT,
    };
    let mut ebpf = EbpfLoader::new().load(bytes).map_err(AccelError::Load)?;
    pin::create(&s.pin_path)?;
    let ports = s.accelerate.then(|| {
        ports::PortSet::new(
            s.accelerate_ports.iter().copied(),
            listeners.iter().map(|l| l.address.port()),
        )
    });
    let targets = Targets {
        outbound,
        inbound,
        dns: dns_listener,
    };
    let attached = attach_all(&mut ebpf, s, &cgroup, targets, ports.as_ref());
    match attached {
        Ok(Attached {
            links,
            sk_msg,
            sockopt,
            maps,
            dns_capture,
        }) => Ok(Active {
            links,
            sk_msg: Some(sk_msg),
            sockopt,
            dns: dns_capture.map(|addr| dns::DnsCapture::new(addr, Arc::clone(&maps))),
            maps,
            ports: ports.map(std::sync::Mutex::new),
            pin_dir: s.pin_path.clone(),
            netns_cookie,
            _ebpf: ebpf,
        }),
        Err(e) => {
            let _ = pin::remove_all(&s.pin_path);
            Err(e)
        }
    }
}

/// The listeners interception sends connects to.
struct Targets {
    outbound: Option<SocketAddr>,
    inbound: Option<SocketAddr>,
    dns: Option<SocketAddr>,
}

fn attach_all(
    ebpf: &mut Ebpf,
    s: &Settings,
    cgroup: &File,
    Targets {
        outbound,
        inbound,
        dns: dns_listener,
    }: Targets,
    port_set: Option<&ports::PortSet>,
) -> Result<Attached, AccelError> {
    let maps = Arc::new(Maps::take_and_pin(ebpf, &s.pin_path)?);
    let ports = port_set.map(ports::PortSet::all).unwrap_or_default();
    let mut cfg = Config {
        flags: if s.accelerate { flags::ACCELERATE } else { 0 },
        sidecar_uid: s.sidecar_uid.unwrap_or(u32::MAX),
        sidecar_tgid: std::process::id(),
        ..Config::default()
    };
    if let (true, Some(o)) = (s.intercept, outbound) {
        cfg.flags |= flags::INTERCEPT_OUTBOUND;
        cfg.outbound_port = u32::from(o.port());
        (cfg.outbound_ip4, cfg.outbound_ip6) = connect::listener_words(o);
    }
    let mut inbound_ports = Vec::new();
    if let (false, Some(i)) = (s.intercept_inbound_ports.is_empty(), inbound) {
        cfg.flags |= flags::INTERCEPT_INBOUND;
        (cfg.inbound_ip4, cfg.inbound_ip6) = connect::listener_words(i);
        inbound_ports.extend(s.intercept_inbound_ports.iter().map(|p| (*p, i.port())));
    }
    // The DNS listener's address goes in now; its flag only once the UDP hooks are attached.
    let dns_wanted = s.intercept && dns_listener.is_some();
    if let (true, Some(d)) = (dns_wanted, dns_listener) {
        cfg.dns_port = u32::from(d.port());
        (cfg.dns_ip4, cfg.dns_ip6) = connect::listener_words(d);
    }
    maps.configure(&cfg, &ports, &inbound_ports)?;
    // sk_msg first: a socket only gets the map's verdict programs that exist when it is added.
    let sk_msg = sk_msg::attach(ebpf, &maps.sockets, &s.pin_path)?;
    let mut links = vec![sockops::attach(ebpf, cgroup, &s.pin_path)?];
    let mut sockopt = None;
    if dns_wanted || cfg.flags & (flags::INTERCEPT_OUTBOUND | flags::INTERCEPT_INBOUND) != 0 {
        links.extend(connect::attach(ebpf, cgroup, &s.pin_path)?);
        sockopt = Some(getsockopt::attach(ebpf, cgroup, &s.pin_path)?);
    }
    let mut dns_capture = None;
    if let (true, Some(d)) = (dns_wanted, dns_listener) {
        // Not being able to capture DNS leaves the rest on: explicit mode still works.
        match dns::attach(ebpf, cgroup, &s.pin_path) {
            Ok(dns_links) => {
                links.extend(dns_links);
                cfg.flags |= flags::INTERCEPT_DNS;
                maps.set_config(&cfg)?;
                dns_capture = Some(d);
            }
            Err(e) => tracing::warn!(
                "DNS capture off: {}; apps must ask the DNS listener {d} themselves",
                error_chain(&e)
            ),
        }
    }
    Ok(Attached {
        links,
        sk_msg,
        sockopt,
        maps,
        dns_capture,
    })
}

/// What `attach_all` produced.
struct Attached {
    links: Vec<PinnedLink>,
    sk_msg: SkMsgLink,
    sockopt: Option<CgroupSockoptLink>,
    maps: Arc<Maps>,
    /// The DNS listener, when DNS capture is on.
    dns_capture: Option<SocketAddr>,
}
