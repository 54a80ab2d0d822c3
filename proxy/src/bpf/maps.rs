//! Typed handles on the programs' maps, opened either from a freshly loaded object (and pinned)
//! or from the pins of a running sidecar (`sockmesh bpf status`).

use std::path::Path;
use std::sync::Mutex;

use aya::Ebpf;
use aya::maps::{Array, HashMap, Map, MapData, MapError, PerCpuArray, SockHash};
use sockmap_ebpf::{Config, OrigDst, SockKey, counters, maps as names};

use super::pin;

/// Errors opening or updating the maps.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    /// The object lacks a map (a wrong `--bpf-object`).
    #[error("the eBPF object has no map `{0}`; rebuild it with scripts/build-ebpf.sh")]
    Missing(&'static str),
    /// A map has an unexpected type or layout.
    #[error("map `{name}` does not match this build of sockmesh ({source}); rebuild the object")]
    Layout {
        name: &'static str,
        source: MapError,
    },
    /// Pinning a map failed.
    #[error("cannot pin map `{name}`: {source}")]
    Pin {
        name: &'static str,
        source: aya::pin::PinError,
    },
    /// Opening a pinned map failed (nothing attached there?).
    #[error(
        "cannot open pinned map `{name}` under {dir} ({source}); is a sidecar with acceleration running with that --bpf-pin-path?"
    )]
    Open {
        name: &'static str,
        dir: String,
        source: MapError,
    },
    /// A map update failed.
    #[error("cannot update map `{name}`: {source}")]
    Update {
        name: &'static str,
        source: MapError,
    },
}

/// The error for a failed write to map `name`.
fn update_error(name: &'static str) -> impl FnOnce(MapError) -> MapsError {
    move |source| MapsError::Update { name, source }
}

/// All maps the user space reads or writes.
pub struct Maps {
    pub sockets: SockHash<MapData, SockKey>,
    pub counters: PerCpuArray<MapData, u64>,
    pub ports: Mutex<HashMap<MapData, u32, u32>>,
    pub inbound: Mutex<HashMap<MapData, u32, u32>>,
    pub config: Mutex<Array<MapData, Config>>,
    pub orig: Mutex<HashMap<MapData, SockKey, OrigDst>>,
    /// App UDP socket cookie -> the resolver it asked (DNS capture).
    pub dns_orig: HashMap<MapData, u64, OrigDst>,
    /// Only the programs use it; held so its descriptor stays valid while they load.
    _orig_by_cookie: Map,
}

impl std::fmt::Debug for Maps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maps").finish_non_exhaustive()
    }
}

const ALL: [&str; 8] = [
    names::SOCKETS,
    names::COUNTERS,
    names::ACCEL_PORTS,
    names::INBOUND_PORTS,
    names::CONFIG,
    names::ORIG_BY_TUPLE,
    names::ORIG_BY_COOKIE,
    names::DNS_ORIG,
];

impl Maps {
    /// Takes the maps out of a loaded object and pins each one in `dir`.
    pub fn take_and_pin(ebpf: &mut Ebpf, dir: &Path) -> Result<Maps, MapsError> {
        let mut taken = Vec::new();
        for name in ALL {
            let map = ebpf.take_map(name).ok_or(MapsError::Missing(name))?;
            map.pin(dir.join(pin::map_name(name)))
                .map_err(|source| MapsError::Pin { name, source })?;
            taken.push((name, map));
        }
        Self::from_named(taken)
    }

    /// Opens the maps pinned in `dir` by a running sidecar.
    pub fn from_pins(dir: &Path) -> Result<Maps, MapsError> {
        let mut taken = Vec::new();
        for name in ALL {
            let open = |source| MapsError::Open {
                name,
                dir: dir.display().to_string(),
                source,
            };
            let data = MapData::from_pin(dir.join(pin::map_name(name))).map_err(open)?;
            taken.push((name, Map::from_map_data(data).map_err(open)?));
        }
        Self::from_named(taken)
    }

    fn from_named(mut taken: Vec<(&'static str, Map)>) -> Result<Maps, MapsError> {
        let mut get = |want: &'static str| -> Result<Map, MapsError> {
            let i = taken
                .iter()
                .position(|(n, _)| *n == want)
                .ok_or(MapsError::Missing(want))?;
            Ok(taken.swap_remove(i).1)
        };
        let layout = |name: &'static str| move |source| MapsError::Layout { name, source };
        Ok(Maps {
            sockets: get(names::SOCKETS)?
                .try_into()
                .map_err(layout(names::SOCKETS))?,
            counters: get(names::COUNTERS)?
                .try_into()
                .map_err(layout(names::COUNTERS))?,
            ports: Mutex::new(
                get(names::ACCEL_PORTS)?
                    .try_into()
                    .map_err(layout(names::ACCEL_PORTS))?,
            ),
            inbound: Mutex::new(
                get(names::INBOUND_PORTS)?
                    .try_into()
                    .map_err(layout(names::INBOUND_PORTS))?,
            ),
            config: Mutex::new(
                get(names::CONFIG)?
                    .try_into()
                    .map_err(layout(names::CONFIG))?,
            ),
            orig: Mutex::new(
                get(names::ORIG_BY_TUPLE)?
                    .try_into()
                    .map_err(layout(names::ORIG_BY_TUPLE))?,
            ),
            dns_orig: get(names::DNS_ORIG)?
                .try_into()
                .map_err(layout(names::DNS_ORIG))?,
            _orig_by_cookie: get(names::ORIG_BY_COOKIE)?,
        })
    }

    /// Writes the configuration and the port sets.
    pub fn configure(
        &self,
        config: &Config,
        ports: &[u16],
        inbound: &[(u16, u16)],
    ) -> Result<(), MapsError> {
        for port in ports {
            self.add_port(*port)?;
        }
        {
            let mut m = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
            for (app, listener) in inbound {
                m.insert(u32::from(*app), u32::from(*listener), 0)
                    .map_err(update_error(names::INBOUND_PORTS))?;
            }
        }
        let mut c = self.config.lock().unwrap_or_else(|e| e.into_inner());
        c.set(0, *config, 0).map_err(update_error(names::CONFIG))
    }

    /// Replaces the configuration.
    pub fn set_config(&self, config: &Config) -> Result<(), MapsError> {
        let mut c = self.config.lock().unwrap_or_else(|e| e.into_inner());
        c.set(0, *config, 0).map_err(update_error(names::CONFIG))
    }

    /// The resolver the app UDP socket with this cookie asked (DNS capture).
    pub fn dns_orig(&self, cookie: u64) -> Option<std::net::SocketAddr> {
        let v = self.dns_orig.get(&cookie, 0).ok()?;
        let port = u16::try_from(v.port).ok()?;
        Some(std::net::SocketAddr::new(
            super::connect::words_ip(v.family, v.ip),
            port,
        ))
    }

    /// Adds `port` to the accelerated set.
    pub fn add_port(&self, port: u16) -> Result<(), MapsError> {
        let mut p = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        p.insert(u32::from(port), 1, 0)
            .map_err(update_error(names::ACCEL_PORTS))
    }

    /// Removes `port` from the accelerated set (sockets already spliced stay so until closed).
    pub fn remove_port(&self, port: u16) -> Result<(), MapsError> {
        let mut p = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        p.remove(&u32::from(port))
            .map_err(update_error(names::ACCEL_PORTS))
    }

    /// Sums the per-CPU counters.
    pub fn counters(&self) -> [u64; counters::COUNT as usize] {
        let mut out = [0u64; counters::COUNT as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            if let Ok(values) = self.counters.get(&(i as u32), 0) {
                *slot = values.iter().copied().sum();
            }
        }
        out
    }

    /// Sockets currently in the SOCKHASH.
    pub fn socket_count(&self) -> usize {
        self.sockets.keys().filter(|k| k.is_ok()).count()
    }

    /// Accelerated ports, sorted.
    pub fn ports(&self) -> Vec<u16> {
        let p = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<u16> = p
            .keys()
            .filter_map(|k| k.ok())
            .filter_map(|k| u16::try_from(k).ok())
            .collect();
        v.sort_unstable();
        v
    }

    /// Inbound interception: (app port, inbound listener port), sorted.
    pub fn inbound(&self) -> Vec<(u16, u16)> {
        let m = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(u16, u16)> = m
            .iter()
            .filter_map(|r| r.ok())
            .filter_map(|(a, l)| Some((u16::try_from(a).ok()?, u16::try_from(l).ok()?)))
            .collect();
        v.sort_unstable();
        v
    }

    /// The current configuration.
    pub fn config(&self) -> Config {
        let c = self.config.lock().unwrap_or_else(|e| e.into_inner());
        c.get(&0, 0).unwrap_or_default()
    }
}
