//! The set of running listeners, reconciled against the wanted set: listeners from the config file
//! are fixed, listeners from xDS come and go. A changed listener is stopped (its connections drain)
//! before it is bound again, so an address can move between definitions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use sockmesh_xds::domain::{Listener, ListenerProtocol};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::conn::Shared;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({name}): {source}; is another process using it?")]
pub struct BindError {
    pub name: String,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

struct Running {
    spec: Listener,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// A DNS listener's UDP task.
    udp: Option<JoinHandle<()>>,
}

/// A listener's sockets: TCP, and for DNS also UDP at the same address and port.
pub struct Bound {
    tcp: TcpListener,
    udp: Option<UdpSocket>,
}

impl Bound {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Binds a listener's address (for DNS, TCP first: with port 0 the UDP socket takes the port
/// TCP got).
pub async fn bind(spec: &Listener) -> Result<Bound, BindError> {
    let error = |source| BindError {
        name: spec.name.clone(),
        addr: spec.address,
        source,
    };
    let tcp = TcpListener::bind(spec.address).await.map_err(error)?;
    let udp = match spec.protocol {
        ListenerProtocol::Dns => {
            let addr = tcp.local_addr().map_err(error)?;
            Some(UdpSocket::bind(addr).await.map_err(error)?)
        }
        _ => None,
    };
    Ok(Bound { tcp, udp })
}

/// Running listeners by name.
pub struct Listeners {
    shared: Arc<Shared>,
    running: Mutex<HashMap<String, Running>>,
}

impl Listeners {
    pub fn new(shared: Arc<Shared>) -> Listeners {
        Listeners {
            shared,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Makes the running set equal to `wanted`; returns the listeners that could not be bound
    /// (the others run regardless).
    pub async fn apply(&self, wanted: &[Listener]) -> Vec<BindError> {
        let mut running = self.running.lock().await;
        let stale: Vec<String> = running
            .iter()
            .filter(|(name, r)| !wanted.iter().any(|w| &w.name == *name && *w == r.spec))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(r) = running.remove(&name) {
                tracing::info!(listener = %name, addr = %r.addr, "stopping listener");
                r.stop.send_replace(true);
                let _ = r.task.await;
                if let Some(udp) = r.udp {
                    let _ = udp.await;
                }
            }
        }
        let mut errors = Vec::new();
        for spec in wanted {
            if running.contains_key(&spec.name) {
                continue;
            }
            match bind(spec).await {
                Ok(socket) => {
                    let r = self.start(spec, socket);
                    running.insert(spec.name.clone(), r);
                }
                Err(e) => errors.push(e),
            }
        }
        let ports: Vec<u16> = running.values().map(|r| r.addr.port()).collect();
        self.shared.accel.set_listener_ports(&ports);
        errors
    }

    /// Serves an already bound socket (start-up binds first, so that acceleration knows the
    /// real ports before the data path starts).
    pub async fn adopt(&self, spec: &Listener, socket: Bound) {
        let r = self.start(spec, socket);
        self.running.lock().await.insert(spec.name.clone(), r);
    }

    fn start(&self, spec: &Listener, socket: Bound) -> Running {
        let addr = socket.local_addr().unwrap_or(spec.address);
        tracing::info!(listener = %spec.name, %addr, direction = ?spec.direction, protocol = ?spec.protocol, "listening");
        let (stop, stop_rx) = watch::channel(false);
        let spec_arc = Arc::new(spec.clone());
        let udp = socket.udp.map(|udp| {
            tokio::spawn(crate::dns::udp::serve(
                udp,
                Arc::clone(&spec_arc),
                Arc::clone(&self.shared),
                stop_rx.clone(),
            ))
        });
        let task = tokio::spawn(super::serve(
            socket.tcp,
            spec_arc,
            Arc::clone(&self.shared),
            stop_rx,
        ));
        Running {
            spec: spec.clone(),
            addr,
            stop,
            task,
            udp,
        }
    }

    /// Bound addresses with their listener, in name order.
    pub async fn bound(&self) -> Vec<(Listener, SocketAddr)> {
        let running = self.running.lock().await;
        let mut v: Vec<_> = running.values().map(|r| (r.spec.clone(), r.addr)).collect();
        v.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        v
    }

    /// Stops accepting everywhere and tells every connection to drain.
    pub async fn stop_all(&self) {
        let running = self.running.lock().await;
        for r in running.values() {
            r.stop.send_replace(true);
        }
    }
}
