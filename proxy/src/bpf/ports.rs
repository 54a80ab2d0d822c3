//! The accelerated port set: ports given with `--accelerate-port` (or the config's
//! `acceleration.ports`) stay for the whole run; listener ports follow the running listeners,
//! which xDS adds and removes at run time. sock_ops only puts a connection in the SOCKHASH when
//! one end's port is in this set, so a listener added later is spliced from its first connection.

use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub(super) struct PortSet {
    fixed: BTreeSet<u16>,
    listeners: BTreeSet<u16>,
}

/// Ports to write to and delete from the kernel's set after a change.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PortChange {
    pub(super) added: Vec<u16>,
    pub(super) removed: Vec<u16>,
}

impl PortSet {
    pub(super) fn new(
        fixed: impl IntoIterator<Item = u16>,
        listeners: impl IntoIterator<Item = u16>,
    ) -> PortSet {
        PortSet {
            fixed: fixed.into_iter().collect(),
            listeners: listeners.into_iter().collect(),
        }
    }

    /// Every accelerated port, ascending.
    pub(super) fn all(&self) -> Vec<u16> {
        self.fixed.union(&self.listeners).copied().collect()
    }

    /// Replaces the listener ports; a fixed port is never removed.
    pub(super) fn set_listeners(&mut self, ports: impl IntoIterator<Item = u16>) -> PortChange {
        let new: BTreeSet<u16> = ports.into_iter().collect();
        // Only listener ports that are not fixed come and go.
        let moved = |from: &BTreeSet<u16>, to: &BTreeSet<u16>| -> Vec<u16> {
            from.difference(to)
                .filter(|p| !self.fixed.contains(p))
                .copied()
                .collect()
        };
        let change = PortChange {
            added: moved(&new, &self.listeners),
            removed: moved(&self.listeners, &new),
        };
        self.listeners = new;
        change
    }
}

impl super::Acceleration {
    /// Keeps the accelerated ports in step with the running listeners (called after every
    /// listener change): a listener xDS adds is spliced from its first connection, a removed
    /// one's port leaves the set. Ports given with `--accelerate-port` stay.
    pub fn set_listener_ports(&self, listener_ports: &[u16]) {
        let Some(a) = &self.active else { return };
        let Some(set) = &a.ports else { return };
        let change = set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_listeners(listener_ports.iter().copied());
        for port in &change.added {
            if let Err(error) = a.maps.add_port(*port) {
                tracing::warn!(port, %error, "acceleration: cannot add a listener port; its connections stay on plain TCP");
            }
        }
        for port in &change.removed {
            if let Err(error) = a.maps.remove_port(*port) {
                tracing::warn!(port, %error, "acceleration: cannot remove a listener port");
            }
        }
        if !change.added.is_empty() || !change.removed.is_empty() {
            tracing::info!(added = ?change.added, removed = ?change.removed, ports = ?a.maps.ports(), "acceleration: listener ports changed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_ports_follow_the_listeners_and_fixed_ports_stay() {
        let mut set = PortSet::new([8080], [15001]);
        assert_eq!(set.all(), vec![8080, 15001]);
        let change = set.set_listeners([15001, 15003]);
        assert_eq!(
            change,
            PortChange {
                added: vec![15003],
                removed: vec![]
            }
        );
        // 8080 is also a listener for a while; dropping the listener keeps the fixed port.
        set.set_listeners([8080, 15003]);
        let change = set.set_listeners([15003]);
        assert_eq!(change.removed, Vec::<u16>::new());
        assert_eq!(set.all(), vec![8080, 15003]);
        let change = set.set_listeners(std::iter::empty());
        assert_eq!(
            change,
            PortChange {
                added: vec![],
                removed: vec![15003]
            }
        );
        assert_eq!(set.all(), vec![8080]);
    }
}
