//! The maps shared by all programs. Names and value layouts come from the `sockmap-ebpf` crate.

use aya_ebpf::macros::map;
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray, SockHash};
use sockmap_ebpf::{Config, OrigDst, SockKey, counters};

/// Established sockets on accelerated ports. 65536 sockets: a sidecar pod rarely has more
/// concurrent local-hop connections; an insert into a full map fails and is counted.
#[map(name = "SOCKMESH_SOCKS")]
pub static SOCKETS: SockHash<SockKey> = SockHash::with_max_entries(65536, 0);

/// Accelerated ports (host order) -> 1. Filled by the proxy with its listener ports.
#[map(name = "SOCKMESH_PORTS")]
pub static ACCEL_PORTS: HashMap<u32, u32> = HashMap::with_max_entries(256, 0);

/// One [`Config`] at index 0.
#[map(name = "SOCKMESH_CONFIG")]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Per-CPU counters, indexed by `sockmap_ebpf::counters`: no atomics needed on the data path.
#[map(name = "SOCKMESH_COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::COUNT, 0);

/// Socket cookie of an intercepted client socket -> its original destination.
#[map(name = "SOCKMESH_ORIG_CK")]
pub static ORIG_BY_COOKIE: LruHashMap<u64, OrigDst> = LruHashMap::with_max_entries(65536, 0);

/// The sidecar-side view of an intercepted connection -> the client's original destination.
#[map(name = "SOCKMESH_ORIG")]
pub static ORIG_BY_TUPLE: LruHashMap<SockKey, OrigDst> = LruHashMap::with_max_entries(65536, 0);

/// App port (host order) -> inbound listener port (host order), for inbound capture.
#[map(name = "SOCKMESH_INBOUND")]
pub static INBOUND_PORTS: HashMap<u32, u32> = HashMap::with_max_entries(256, 0);

/// Socket cookie of an app UDP socket captured by DNS capture -> the resolver it asked. Entries
/// are not removed (a cookie is never reused); the LRU drops those of long-closed sockets.
#[map(name = "SOCKMESH_DNS_ORIG")]
pub static DNS_ORIG: LruHashMap<u64, OrigDst> = LruHashMap::with_max_entries(65536, 0);

/// Adds `n` to counter `index` on this CPU.
#[inline(always)]
pub fn count(index: u32, n: u64) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot: no other writer while this program runs on this CPU.
        unsafe { *p += n };
    }
}

/// The current configuration (all zero, i.e. everything off, until the proxy writes it).
#[inline(always)]
pub fn config() -> Option<&'static Config> {
    CONFIG.get(0)
}

/// Whether `port` (host order) is an accelerated port.
#[inline(always)]
pub fn is_accelerated(port: u32) -> bool {
    ACCEL_PORTS.get_ptr(port).is_some()
}
