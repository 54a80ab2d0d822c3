//! The response half: answers to the client in the order it asked, the broker's relayed as they
//! stream in (unread, except ApiVersions and Metadata: [`crate::kafka::rewrite`]) and the
//! proxy's own in their turn.
//!
//! The broker answers one connection in order, so each response must carry the correlation id
//! of the oldest request it owes; one that does not (or bytes when nothing is owed) ends the
//! connection with a log line: its pairing with the client's requests is lost, and relaying on
//! would hand a client an answer to a request it did not make.
//!
//! Writes to the client are buffered and flushed whenever the next step would wait (for the
//! broker, or for the next request), so a burst of small responses leaves in one write and no
//! response waits behind a slow one.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::sync::mpsc;

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;

use crate::conn::ConnCtx;
use crate::kafka::addresses::Addressed;
use crate::kafka::brokers::address_for;
use crate::kafka::rewrite;

use super::check::may_touch;
use super::order::{Expect, Pending, Read};
use super::record::record;
use super::requests::Ended;
use super::scope::IdScope;

/// What the response half holds.
pub(super) struct Responses<'a, R, W> {
    pub ctx: &'a ConnCtx,
    pub broker: BufReader<R>,
    pub client: BufWriter<W>,
    pub queue: mpsc::Receiver<Pending>,
    pub endpoint: SocketAddr,
    /// Where its topic ids are kept.
    pub ids: IdScope,
    /// The most of a response the proxy reads whole (ApiVersions, Metadata).
    pub max_frame: usize,
}

impl<R, W> Responses<'_, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub async fn run(mut self) -> Ended {
        let ended = self.serve().await;
        let _ = self.client.flush().await;
        ended
    }

    async fn serve(&mut self) -> Ended {
        loop {
            if self.queue.is_empty()
                && let Err(e) = self.client.flush().await
            {
                return Ended::Abort(format!("client write failed: {e}"));
            }
            let next = tokio::select! {
                biased;
                p = self.queue.recv() => p,
                got = self.broker.fill_buf() => {
                    return match got {
                        Ok([]) => Ended::Abort("the broker closed the connection".to_owned()),
                        Ok(_) => Ended::Abort("the broker sent a response to no request".to_owned()),
                        Err(e) => Ended::Abort(format!("broker read failed: {e}")),
                    };
                }
            };
            let Some(pending) = next else {
                return Ended::Clean;
            };
            let done = match pending {
                Pending::Local { frame, line, room } => {
                    let written = self.client.write_all(&frame).await;
                    drop(room);
                    record(self.ctx, &line, None, frame.len(), "");
                    written.map_err(|e| format!("client write failed: {e}"))
                }
                Pending::Close { line } => {
                    record(self.ctx, &line, None, 0, "");
                    Err(
                        "a denied request expected no response (acks=0): closing, as a broker does"
                            .to_owned(),
                    )
                }
                Pending::Broker(expect) => self.relay(expect).await,
            };
            if let Err(why) = done {
                return Ended::Abort(why);
            }
        }
    }

    /// The broker's response to `e`, to the client.
    async fn relay(&mut self, e: Expect) -> Result<(), String> {
        if self.broker.buffer().is_empty() {
            self.client
                .flush()
                .await
                .map_err(|err| format!("client write failed: {err}"))?;
        }
        let idle = self.ctx.shared.limits.idle_timeout;
        let mut head = [0u8; 8];
        match tokio::time::timeout(idle, self.broker.read_exact(&mut head)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                record(self.ctx, &e.line, Some(self.endpoint), 0, "broker closed");
                return Err(format!("broker read failed: {err}"));
            }
            Err(_) => {
                record(self.ctx, &e.line, Some(self.endpoint), 0, "broker timeout");
                return Err("no response from the broker within the idle timeout".to_owned());
            }
        }
        let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let correlation_id = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if correlation_id != e.correlation_id {
            return Err(format!(
                "the broker answered correlation id {correlation_id} where {} was owed",
                e.correlation_id
            ));
        }
        let Some(rest) = usize::try_from(len).ok().and_then(|l| l.checked_sub(4)) else {
            return Err(format!("broker response length {len}"));
        };
        let sent = match e.read {
            Read::Relay => self.stream(&head, rest).await?,
            Read::ApiVersions | Read::Addresses { .. } | Read::Narrowed(_) => {
                self.rewrite(&e, &head, rest).await?
            }
        };
        record(self.ctx, &e.line, Some(self.endpoint), sent, "");
        Ok(())
    }

    /// Streams a response through unread: its 8 bytes read so far, then `rest` bytes.
    async fn stream(&mut self, head: &[u8; 8], rest: usize) -> Result<usize, String> {
        self.client
            .write_all(head)
            .await
            .map_err(|e| format!("client write failed: {e}"))?;
        let mut body = (&mut self.broker).take(rest as u64);
        let copied = tokio::io::copy_buf(&mut body, &mut self.client)
            .await
            .map_err(|e| format!("relaying a response failed: {e}"))?;
        if copied < rest as u64 {
            return Err("the broker closed inside a response".to_owned());
        }
        Ok(head.len() + rest)
    }

    /// A response naming brokers: topic ids learned; in explicit mode, the brokers' addresses
    /// replaced by the sidecar listeners in front of them. `Ok(None)`: relay it as it came.
    /// One the proxy must change and cannot read ends the connection: relayed, it would hand
    /// the client the brokers' own addresses (a way around the sidecar) or topics it may not
    /// see.
    async fn readdress(
        &self,
        key: ApiKey,
        version: i16,
        payload: &Bytes,
        filter_for: Option<&Option<String>>,
        refused: &[crate::kafka::narrowed::Refused],
    ) -> Result<Option<Bytes>, String> {
        let shared = &self.ctx.shared;
        let brokers = &shared.kafka_brokers;
        let intercepted = self.ids.intercepted;
        let must_change = !intercepted || filter_for.is_some() || !refused.is_empty();
        let unreadable = || {
            format!(
                "cannot read the broker's {} v{version} response, which the proxy must rewrite",
                crate::kafka::key_name(key)
            )
        };
        let Some(mut response) = Addressed::decode(key, version, payload) else {
            return if must_change {
                Err(unreadable())
            } else {
                Ok(None)
            };
        };
        response.learn_topic_ids(&shared.kafka_topic_ids, &self.ids.cluster);
        let mut changed = false;
        if let Some(client_id) = filter_for {
            let meta = self.ctx.meta(self.endpoint);
            let client_id = client_id.as_deref();
            changed =
                response.retain_topics(|t| may_touch(self.ctx, &meta, client_id, version, t)) > 0;
        }
        if !refused.is_empty() {
            response.refuse_topics(refused);
            changed = true;
        }
        if intercepted && !changed {
            return Ok(None);
        }
        if intercepted {
            return response.encode(key).map(Some).ok_or_else(unreadable);
        }
        let base = brokers.base(&self.ctx.listener);
        let mut to = HashMap::new();
        for node in response.brokers() {
            if let Some(addr) = brokers
                .front(shared, &base, &node, &self.ctx.shutdown)
                .await
            {
                to.insert(node.node_id, addr);
            }
        }
        // A node without a listener of its own is sent to this listener (node "-1": port + 0).
        let fallback = address_for(base.address, -1).unwrap_or(base.address);
        response.readdress(&to, fallback);
        response.encode(key).map(Some).ok_or_else(unreadable)
    }

    /// Reads a response whole, lets [`rewrite`] read (and maybe change) it, and sends it.
    async fn rewrite(&mut self, e: &Expect, head: &[u8; 8], rest: usize) -> Result<usize, String> {
        if rest > self.max_frame {
            return Err(format!(
                "a {rest}-byte response the proxy must read is over the frame limit"
            ));
        }
        let mut payload = BytesMut::with_capacity(4 + rest);
        payload.put_slice(&head[4..]);
        payload.resize(4 + rest, 0);
        self.broker
            .read_exact(&mut payload[4..])
            .await
            .map_err(|err| format!("broker read failed: {err}"))?;
        let payload: Bytes = payload.freeze();
        let changed = match e.read {
            Read::ApiVersions => {
                rewrite::api_versions(&payload, e.api_version, self.ids.intercepted)
            }
            Read::Addresses { key, filter } => {
                let filter = filter.then_some(&e.client_id);
                self.readdress(key, e.api_version, &payload, filter, &[])
                    .await?
            }
            Read::Narrowed(ref refused) => {
                let filter = Some(&e.client_id);
                self.readdress(ApiKey::Metadata, e.api_version, &payload, filter, refused)
                    .await?
            }
            Read::Relay => None,
        };
        let frame = crate::kafka::framed(changed.as_ref().unwrap_or(&payload));
        self.client
            .write_all(&frame)
            .await
            .map_err(|err| format!("client write failed: {err}"))?;
        Ok(frame.len())
    }
}
