//! Port index: for each protocol, the port space cut into segments over which the set of covering
//! entries is constant; a lookup is one binary search.
//!
//! Exact ports, ranges and "all ports" entries all become segments, so a wildcard entry costs
//! nothing at lookup time: it is already part of every segment's group. Segments with the same
//! entry set share one group (and so one set of compiled regexes).

use super::regexes::BuildError;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::request::L4Protocol;

use super::entry::Entry;
use super::group::Group;

#[derive(Debug, Default)]
pub(crate) struct PortIndex {
    /// Per protocol (see `L4Protocol::index`): (first port, last port, group), sorted, disjoint.
    segments: [Vec<(u16, u16, Arc<Group>)>; 3],
}

impl PortIndex {
    pub(crate) fn build(entries: &[Entry]) -> Result<PortIndex, BuildError> {
        let mut index = PortIndex::default();
        let mut groups: HashMap<Vec<usize>, Arc<Group>> = HashMap::new();
        for proto in L4Protocol::ALL {
            // Sweep over interval boundaries (as u32 so that 65535 + 1 fits).
            let mut events: BTreeMap<u32, Vec<(usize, bool)>> = BTreeMap::new();
            for (i, e) in entries.iter().enumerate() {
                let ranges: Vec<(u16, u16)> = if e.ports.is_empty() {
                    vec![(0, u16::MAX)]
                } else {
                    e.ports
                        .iter()
                        .filter(|p| p.protocol.is_none_or(|x| x == proto))
                        .map(|p| p.range())
                        .collect()
                };
                for (lo, hi) in ranges {
                    events.entry(u32::from(lo)).or_default().push((i, true));
                    events
                        .entry(u32::from(hi) + 1)
                        .or_default()
                        .push((i, false));
                }
            }
            let mut active: BTreeMap<usize, usize> = BTreeMap::new();
            let points: Vec<u32> = events.keys().copied().collect();
            let segs = &mut index.segments[proto.index()];
            for (k, point) in points.iter().enumerate() {
                for &(i, add) in events.get(point).map(Vec::as_slice).unwrap_or(&[]) {
                    if add {
                        *active.entry(i).or_default() += 1;
                    } else if let Some(c) = active.get_mut(&i) {
                        *c -= 1;
                        if *c == 0 {
                            active.remove(&i);
                        }
                    }
                }
                if active.is_empty() || *point > u32::from(u16::MAX) {
                    continue;
                }
                let end = points
                    .get(k + 1)
                    .copied()
                    .unwrap_or(u32::from(u16::MAX) + 1)
                    - 1;
                let key: Vec<usize> = active.keys().copied().collect();
                let group = match groups.get(&key) {
                    Some(g) => g.clone(),
                    None => {
                        let g = Arc::new(Group::build(entries, key.clone())?);
                        groups.insert(key, g.clone());
                        g
                    }
                };
                let lo = u16::try_from(*point).unwrap_or(u16::MAX);
                let hi = u16::try_from(end).unwrap_or(u16::MAX);
                segs.push((lo, hi, group));
            }
        }
        Ok(index)
    }

    /// The group covering `port`/`protocol`, if any entry does.
    pub(crate) fn lookup(&self, protocol: L4Protocol, port: u16) -> Option<&Group> {
        let segs = &self.segments[protocol.index()];
        let pos = segs.partition_point(|(_, hi, _)| *hi < port);
        segs.get(pos)
            .filter(|(lo, _, _)| *lo <= port)
            .map(|(_, _, g)| &**g)
    }
}
