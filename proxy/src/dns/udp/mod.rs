//! DNS over UDP: one task per listener owns the listener socket, one connected socket per
//! resolver and the queries in flight, so a query costs no lock, no channel and no task of its
//! own: a datagram in, a policy lookup, a datagram out, and the same for its answer.
//!
//! Queries in flight are keyed by (resolver socket, id on the wire). The id is the client's
//! unless another query holds it on that socket, then a random free one (given back in the
//! answer). They are bounded in all (`dns.maxInflight`) and per client socket
//! (`dns.maxInflightPerClient`): past either, SERVFAIL at once, counted as an overflow. Their
//! deadlines are in one queue in the order they were sent (the timeout is the same for all),
//! so expiring them looks only at the front. An answered query's entry stays until its deadline
//! comes up; when the queue holds twice `dns.maxInflight` entries, those of answered queries are
//! dropped, so the queue is bounded by the cap, not by the query rate times the timeout.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use sockmesh_policy::{L4Protocol, RuleId};
use sockmesh_xds::domain::Listener;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::conn::{Shared, signalled};
use crate::failure::Failure;
use crate::metrics::VerdictLabel;
use crate::telemetry::ratelimit::warn_limited;

use super::message::{self, MAX_MESSAGE, Query, Rejected};
use super::mmsg::{BATCH, RecvBatch, SendBatch};

mod ended;

use ended::Seen;

/// How often deadlines are looked at: a timed-out query is answered at most this late.
const TICK: Duration = Duration::from_millis(50);
/// Resolvers one listener keeps a socket to (a cluster's endpoints; changes add more).
const MAX_RESOLVERS: usize = 64;
/// The longest query read (EDNS clients send a few hundred bytes at most); a longer datagram
/// is dropped.
const QUERY_SLOT: usize = 4096;
/// Datagrams of one kind handled per turn of the loop before the other kinds get theirs.
const TURN: usize = 128;

/// Serves the listener's UDP socket until `shutdown`, then relays the answers to the queries
/// still in flight (for at most the query timeout) and stops.
pub async fn serve(
    socket: UdpSocket,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut state = State::new(socket, listener, shared);
    let mut queries = RecvBatch::new(QUERY_SLOT);
    // Slots as large as a message: zeroed memory the kernel maps only where answers land.
    let mut answers = RecvBatch::new(MAX_MESSAGE);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = signalled(&mut shutdown) => break,
            () = ready_any(&state.resolvers) => state.drain_answers(&mut answers),
            ready = state.socket.readable() => {
                if ready.is_ok() {
                    state.drain_queries(&mut queries);
                }
            }
            _ = tick.tick() => state.on_tick(Instant::now()),
        }
        state.flush();
    }
    let until = Instant::now() + state.shared.dns.query_timeout;
    while !state.pending.is_empty() && Instant::now() < until {
        tokio::select! {
            () = ready_any(&state.resolvers) => state.drain_answers(&mut answers),
            _ = tick.tick() => state.on_tick(Instant::now()),
        }
        state.flush();
    }
    state.expire(Instant::now() + state.shared.dns.query_timeout);
    state.flush();
}

/// Until a resolver socket has something to read (an answer, or an error to report).
async fn ready_any(resolvers: &[Resolver]) {
    poll_fn(|cx| {
        for r in resolvers {
            if r.socket.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

struct Resolver {
    addr: SocketAddr,
    socket: UdpSocket,
    /// Queries for it read in this turn, sent together at its end.
    out: SendBatch,
}

/// A query sent to a resolver, waiting for its answer.
struct Pending {
    client: SocketAddr,
    query: Query,
    rule: RuleId,
    started: Instant,
    bytes_in: usize,
    /// Tells this query from a later one that reuses its key (for the deadline queue).
    seq: u64,
}

struct State {
    socket: UdpSocket,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    resolvers: Vec<Resolver>,
    pending: HashMap<(usize, u16), Pending>,
    /// Queries in flight per client socket (address and port: behind a sidecar every client
    /// shares one address, the workload's).
    per_client: HashMap<SocketAddr, usize>,
    /// (deadline, key, seq), in the order sent.
    deadlines: VecDeque<(Instant, (usize, u16), u64)>,
    seq: u64,
    /// Picks an id when the client's is taken.
    ids: std::collections::hash_map::RandomState,
    /// Answers to clients made in this turn.
    to_clients: SendBatch,
}

impl State {
    fn new(socket: UdpSocket, listener: Arc<Listener>, shared: Arc<Shared>) -> State {
        State {
            socket,
            listener,
            shared,
            resolvers: Vec::new(),
            pending: HashMap::new(),
            per_client: HashMap::new(),
            deadlines: VecDeque::new(),
            seq: 0,
            ids: std::collections::hash_map::RandomState::new(),
            to_clients: SendBatch::default(),
        }
    }

    fn on_query(&mut self, msg: &[u8], client: SocketAddr) {
        let started = Instant::now();
        let query = match Query::parse(msg) {
            Ok(q) => q,
            Err(Rejected::Drop(why)) => {
                tracing::debug!(%client, why, "dns: datagram dropped");
                return;
            }
            Err(Rejected::Answer(rcode, why, question)) => {
                if let Some(answer) = message::reject_answer(msg, rcode, question.as_deref()) {
                    self.reply(&answer, client);
                    let seen = Seen {
                        client,
                        query: None,
                        rule: "",
                        upstream: None,
                        started,
                        bytes_in: msg.len(),
                    };
                    self.log(&seen, VerdictLabel::Error, rcode as u8, answer.len(), why);
                }
                return;
            }
        };
        let Some(endpoint) = self.endpoint(client) else {
            let seen = Seen {
                client,
                query: Some(&query),
                rule: "",
                upstream: None,
                started,
                bytes_in: msg.len(),
            };
            self.fail(&seen, Failure::Unreachable, "no resolver");
            return;
        };
        let meta = super::meta(&self.listener, client, endpoint, L4Protocol::Udp);
        let verdict = super::check(&self.shared, &meta, &query.name);
        let seen = Seen {
            client,
            query: Some(&query),
            rule: verdict.rule.as_str(),
            upstream: None,
            started,
            bytes_in: msg.len(),
        };
        if !verdict.allowed {
            let rcode = self.shared.dns.reject.rcode();
            let answer = query.answer(rcode);
            self.reply(&answer, client);
            self.log(&seen, VerdictLabel::Deny, rcode as u8, answer.len(), "");
            return;
        }
        if let Err(why) = self.admit(client) {
            self.shared.metrics.dns_overflow.inc();
            self.fail(&seen, Failure::Overloaded, why);
            return;
        }
        match self.send(endpoint, msg, &query) {
            Ok(key) => {
                self.seq += 1;
                let deadline = started + self.shared.dns.query_timeout;
                self.deadlines.push_back((deadline, key, self.seq));
                *self.per_client.entry(client).or_default() += 1;
                let pending = Pending {
                    client,
                    query,
                    rule: verdict.rule,
                    started,
                    bytes_in: msg.len(),
                    seq: self.seq,
                };
                self.pending.insert(key, pending);
                self.compact_deadlines();
            }
            Err(error) => {
                warn_limited!(endpoint, %endpoint, %error, "dns: cannot send to the resolver");
                let seen = Seen {
                    upstream: Some(endpoint),
                    ..seen
                };
                self.fail(&seen, Failure::UpstreamFailed, "send failed");
            }
        }
    }

    /// The resolver a query from `client` goes to: the one the app asked when DNS capture sent
    /// its datagram here, else the listener's cluster, round robin.
    fn endpoint(&self, client: SocketAddr) -> Option<SocketAddr> {
        if let Some(asked) = self.shared.accel.dns_original_dst(client) {
            return Some(asked);
        }
        let cluster = self
            .shared
            .clusters
            .get(self.listener.cluster.as_deref()?)?;
        cluster.pick()
    }

    /// Whether one more query in flight is within the caps.
    fn admit(&self, client: SocketAddr) -> Result<(), &'static str> {
        let settings = &self.shared.dns;
        if self.pending.len() >= settings.max_inflight {
            return Err("too many queries in flight (dns.maxInflight)");
        }
        if self.per_client.get(&client).copied().unwrap_or(0) >= settings.max_inflight_per_client {
            return Err("too many queries in flight from this client (dns.maxInflightPerClient)");
        }
        Ok(())
    }

    /// Sends `msg` to `endpoint` under the client's id, or a free one; the pending key.
    fn send(
        &mut self,
        endpoint: SocketAddr,
        msg: &[u8],
        query: &Query,
    ) -> std::io::Result<(usize, u16)> {
        let index = self.resolver(endpoint)?;
        let mut wire_id = query.id;
        let mut tries = 0;
        while self.pending.contains_key(&(index, wire_id)) {
            tries += 1;
            if tries > 32 {
                return Err(std::io::Error::other(
                    "no free query id on the resolver socket",
                ));
            }
            // Unpredictable to an off-path spoofer (SipHash with a per-process random key).
            wire_id = std::hash::BuildHasher::hash_one(&self.ids, (self.seq, tries)) as u16;
        }
        let out = &mut self.resolvers[index].out;
        if wire_id == query.id {
            out.push(msg, None);
        } else {
            let mut copy = msg.to_vec();
            message::set_id(&mut copy, wire_id);
            out.push(&copy, None);
        }
        Ok((index, wire_id))
    }

    /// The index of the socket connected to `endpoint`, made on first use.
    fn resolver(&mut self, endpoint: SocketAddr) -> std::io::Result<usize> {
        if let Some(i) = self.resolvers.iter().position(|r| r.addr == endpoint) {
            return Ok(i);
        }
        if self.resolvers.len() >= MAX_RESOLVERS {
            return Err(std::io::Error::other("too many resolvers for one listener"));
        }
        let std_socket = std::net::UdpSocket::bind(super::any_local_for(endpoint))?;
        std_socket.connect(endpoint)?;
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        self.resolvers.push(Resolver {
            addr: endpoint,
            socket,
            out: SendBatch::default(),
        });
        Ok(self.resolvers.len() - 1)
    }

    fn on_answer(&mut self, index: usize, answer: &mut [u8]) {
        if answer.len() < message::HEADER {
            return;
        }
        let wire_id = u16::from_be_bytes([answer[0], answer[1]]);
        let key = (index, wire_id);
        if !self
            .pending
            .get(&key)
            .is_some_and(|p| p.query.is_answered_by(wire_id, answer))
        {
            self.shared.metrics.dns_answers_dropped.inc();
            return;
        }
        let Some(p) = self.take(key) else { return };
        super::learn::learn(&self.shared, &p.query, answer);
        message::set_id(answer, p.query.id);
        self.reply(answer, p.client);
        let upstream = self.resolvers.get(index).map(|r| r.addr);
        let rcode = message::answer_rcode(answer);
        let sizes = (p.bytes_in, answer.len());
        self.log(&p.seen(upstream), VerdictLabel::Allow, rcode, sizes.1, "");
    }

    /// Each tick: the errors the resolver sockets hold, then the deadlines. A connected UDP
    /// socket's port-unreachable raises EPOLLERR alone, which tokio's read readiness does not
    /// wake on, so without this look (`SO_ERROR`, one call per resolver) a resolver that is not
    /// there would be noticed only at each query's deadline.
    fn on_tick(&mut self, now: Instant) {
        for index in 0..self.resolvers.len() {
            let error = self
                .resolvers
                .get(index)
                .and_then(|r| r.socket.take_error().ok().flatten());
            if let Some(error) = error {
                self.resolver_failed(index, &error);
            }
        }
        self.expire(now);
    }

    fn resolver_failed(&mut self, index: usize, error: &std::io::Error) {
        let Some(addr) = self.resolvers.get(index).map(|r| r.addr) else {
            return;
        };
        warn_limited!(addr, resolver = %addr, %error, "dns: the resolver failed");
        let keys: Vec<(usize, u16)> = self
            .pending
            .keys()
            .filter(|k| k.0 == index)
            .copied()
            .collect();
        for key in keys {
            if let Some(p) = self.take(key) {
                self.fail(
                    &p.seen(Some(addr)),
                    Failure::UpstreamFailed,
                    "resolver unreachable",
                );
            }
        }
    }

    /// Drops the deadlines of answered queries once they are twice the cap in number (see the
    /// module docs); the order of the others is kept.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.shared.dns.max_inflight {
            let pending = &self.pending;
            self.deadlines
                .retain(|(_, key, seq)| pending.get(key).is_some_and(|p| p.seq == *seq));
        }
    }

    /// Answers SERVFAIL to every query whose deadline is before `now`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, key, seq)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.seq == seq)
                && let Some(p) = self.take(key)
            {
                let upstream = self.resolvers.get(key.0).map(|r| r.addr);
                self.fail(&p.seen(upstream), Failure::UpstreamTimeout, "timeout");
            }
        }
    }

    /// Removes a query from flight.
    fn take(&mut self, key: (usize, u16)) -> Option<Pending> {
        let p = self.pending.remove(&key)?;
        if let Some(count) = self.per_client.get_mut(&p.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&p.client);
            }
        }
        Some(p)
    }

    /// Queues a datagram to a client, sent with the others of this turn ([`State::flush`]).
    fn reply(&mut self, msg: &[u8], client: SocketAddr) {
        self.to_clients.push(msg, Some(client));
    }

    /// Reads the queries waiting on the listener socket, a batch per system call, up to
    /// [`TURN`] of them (the answers waiting get their turn too).
    fn drain_queries(&mut self, batch: &mut RecvBatch) {
        for _ in 0..TURN / BATCH {
            let n = match batch.recv(&self.socket) {
                Ok(n) => n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier answer, or a transient failure: the socket goes on.
                Err(error) => {
                    tracing::debug!(%error, "dns: receive failed");
                    return;
                }
            };
            for i in 0..n {
                match batch.get(i) {
                    Some((msg, false, Some(client))) => self.on_query(msg, client),
                    // Over the slot: no client sends a query that long.
                    Some((_, true, Some(client))) => {
                        tracing::debug!(%client, "dns: query too long, dropped")
                    }
                    _ => {}
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    /// Reads the answers waiting on the resolver sockets, a batch per system call, up to
    /// [`TURN`] of them.
    fn drain_answers(&mut self, batch: &mut RecvBatch) {
        let mut taken = 0;
        for index in 0..self.resolvers.len() {
            while taken < TURN {
                let Some(r) = self.resolvers.get(index) else {
                    break;
                };
                let n = match batch.recv(&r.socket) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // Connected UDP reports the resolver's ICMP port unreachable here: its
                    // queries in flight will not be answered.
                    Err(error) => {
                        self.resolver_failed(index, &error);
                        break;
                    }
                };
                taken += n;
                for i in 0..n {
                    if let Some((answer, false, _)) = batch.get(i) {
                        self.on_answer(index, answer);
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }

    /// Sends what this turn queued: queries to each resolver, answers to clients.
    fn flush(&mut self) {
        for r in &mut self.resolvers {
            if !r.out.is_empty() {
                let dropped = r.out.flush(&r.socket);
                if dropped > 0 {
                    warn_limited!(r.addr, resolver = %r.addr, dropped, "dns: queries to the resolver not sent (they will time out)");
                }
            }
        }
        if !self.to_clients.is_empty() {
            let dropped = self.to_clients.flush(&self.socket);
            if dropped > 0 {
                tracing::debug!(dropped, "dns: answers not sent to clients");
            }
        }
    }
}
