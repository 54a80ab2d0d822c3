//! The request half: frames from the client, each checked and then forwarded to the broker as
//! the client's own bytes or answered by the proxy in its turn.
//!
//! Every frame is read whole before anything of it goes on (the broker never receives bytes
//! policy did not see), bounded by `kafka.maxRequestBytes`. A frame the proxy cannot read (over
//! the bound, a header cut short, a body a rule needs that does not decode) ends the
//! connection with a log line, as a broker closes on a request it cannot parse: nothing after
//! it is forwarded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use sockmesh_policy::{ConnMeta, L7Kind};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::conn::{ConnCtx, signalled};
use crate::kafka::acks::produce_acks;
use crate::kafka::deny::{Denial, Refusal, deny};
use crate::kafka::narrowed::{Refused, narrowed};
use crate::kafka::{Frame, FrameReader, KafkaError, Request};
use crate::telemetry::access_log;

use super::check::{Decision, check, may_ask_metadata, may_touch};
use super::order::{Expect, Line, Pending, Read};
use super::record::record;
use super::scope::IdScope;

/// How the request half ended.
pub(super) enum Ended {
    /// The client closed its side, or the sidecar drains: no more requests are read; the
    /// responses owed are still to be sent.
    Clean,
    /// The connection is to be closed now (a frame the proxy cannot read, the broker gone).
    Abort(String),
}

/// What the request half holds.
pub(super) struct Requests<'a, R, W> {
    pub ctx: &'a ConnCtx,
    pub meta: ConnMeta,
    pub client: R,
    pub broker: W,
    /// The broker this connection goes to.
    pub endpoint: SocketAddr,
    /// Where its topic ids are kept.
    pub ids: IdScope,
    pub queue: mpsc::Sender<Pending>,
    /// Bytes of the proxy's own answers the queue may hold (`max_frame` in all): a refusal
    /// waits for room before it is queued, so a client that never reads holds no more.
    pub answers: Arc<Semaphore>,
    pub max_frame: usize,
}

impl<R, W> Requests<'_, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub async fn run(mut self) -> Ended {
        let mut reader = FrameReader::new(self.max_frame);
        let mut shutdown = self.ctx.shutdown.clone();
        loop {
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => {
                        if let Err(why) = self.handle(frame).await {
                            return Ended::Abort(why);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Ended::Abort(e.to_string()),
                }
            }
            let n = tokio::select! {
                biased;
                _ = signalled(&mut shutdown) => return Ended::Clean,
                got = reader.read_from(&mut self.client) => match got {
                    Ok(n) => n,
                    Err(e) => return Ended::Abort(format!("client read failed: {e}")),
                },
            };
            if n == 0 {
                return match reader.finish() {
                    Ok(()) => Ended::Clean,
                    Err(e) => Ended::Abort(e.to_string()),
                };
            }
        }
    }

    /// One request: checked, then forwarded or answered. `Err` ends the connection.
    async fn handle(&mut self, frame: Frame) -> Result<(), String> {
        let started = Instant::now();
        let bytes_in = frame.bytes().len();
        let request = match Request::parse(frame.payload()) {
            Ok(request) => request,
            Err(e) => return self.unparsed(frame, e, started).await,
        };
        let decision =
            check(self.ctx, &self.meta, &self.ids, &request).map_err(|e| e.to_string())?;
        let line = self.line(&decision, started, bytes_in);
        let filter_topics = decision.filter_topics;
        if !decision.allowed {
            return self.refuse(&request, decision, line).await;
        }
        let key = request.header.api_key;
        let expects_response = key != ApiKey::Produce
            || produce_acks(&request.body, request.header.api_version)
                .ok_or_else(|| "Produce body cut short before acks".to_owned())?
                != 0;
        if expects_response {
            let read = match key {
                ApiKey::ApiVersions => Read::ApiVersions,
                ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DescribeCluster => {
                    Read::Addresses {
                        key,
                        filter: filter_topics,
                    }
                }
                _ => Read::Relay,
            };
            let client_id = filter_topics
                .then(|| request.header.client_id_str().map(str::to_owned))
                .flatten();
            let expect = Expect {
                correlation_id: request.header.correlation_id,
                api_version: request.header.api_version,
                client_id,
                read,
                line,
            };
            return self.forward(expect, frame.bytes()).await;
        }
        record(self.ctx, &line, Some(self.endpoint), 0, "");
        self.write_broker(frame.bytes()).await
    }

    /// Queues what the client is owed for a request, then sends the broker `bytes` for it (in
    /// that order: the response half must know of a response before it can arrive).
    async fn forward(&mut self, expect: Expect, bytes: &[u8]) -> Result<(), String> {
        self.push(Pending::Broker(expect)).await?;
        self.write_broker(bytes).await
    }

    async fn write_broker(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.broker
            .write_all(bytes)
            .await
            .map_err(|e| format!("broker write failed: {e}"))
    }

    /// The proxy's answer to a request it will not forward, in the request's turn.
    async fn refuse(
        &mut self,
        request: &Request,
        d: Decision,
        mut line: Line,
    ) -> Result<(), String> {
        let body = match d.body {
            Some(body) => body,
            None => request.decode_body().map_err(|e| e.to_string())?,
        };
        line.error_code =
            crate::kafka::deny::error_code(crate::kafka::deny::scope(&body), d.refusal);
        if d.refusal == Refusal::Denied
            && let Some(narrowed) = self.narrowed(request, &body)
        {
            let (frame, refused) = narrowed.map_err(|e| e.to_string())?;
            return self.forward_narrowed(request, frame, refused, line).await;
        }
        let denial = deny(request, &body, d.refusal).map_err(|e: KafkaError| e.to_string())?;
        let pending = match denial {
            Denial::Respond(frame) => {
                let room = self.room_for(frame.len()).await?;
                Pending::Local { frame, line, room }
            }
            Denial::Close => Pending::Close { line },
        };
        self.push(pending).await
    }

    /// A denied Metadata request narrowed to its allowed topics (see [`crate::kafka::narrowed`]).
    fn narrowed(
        &self,
        request: &Request,
        body: &RequestKind,
    ) -> Option<Result<(Bytes, Vec<Refused>), KafkaError>> {
        let client_id = request.header.client_id_str();
        let version = request.header.api_version;
        // Only where policy lets this client ask for the brokers at all, at versions where an
        // empty list means no topics (v1 on; v0 reads it as every topic), and with a client id
        // the proxy can write back as it came.
        let id_as_sent = request.header.client_id.is_none() || client_id.is_some();
        if version < 1
            || !id_as_sent
            || !may_ask_metadata(self.ctx, &self.meta, client_id, version, &[])
        {
            return None;
        }
        let ids = &self.ctx.shared.kafka_topic_ids;
        let cluster = &self.ids.cluster;
        narrowed(
            request,
            body,
            |t| may_touch(self.ctx, &self.meta, client_id, version, t),
            |id| ids.name(cluster, id),
        )
    }

    /// Sends the narrowed request in the denied one's place; its answer gets the refused topics.
    async fn forward_narrowed(
        &mut self,
        request: &Request,
        frame: Bytes,
        refused: Vec<Refused>,
        line: Line,
    ) -> Result<(), String> {
        let expect = Expect {
            correlation_id: request.header.correlation_id,
            api_version: request.header.api_version,
            client_id: request.header.client_id_str().map(str::to_owned),
            read: Read::Narrowed(refused),
            line,
        };
        self.forward(expect, &frame).await
    }

    /// A request whose key or version the proxy cannot read: forwarded untouched where no rule
    /// reads Kafka on this port, else the end of the connection.
    async fn unparsed(
        &mut self,
        frame: Frame,
        e: KafkaError,
        started: Instant,
    ) -> Result<(), String> {
        let (raw_key, api_version, correlation_id) = match e {
            KafkaError::UnknownApiKey {
                api_key,
                correlation_id,
            } => (api_key, -1, correlation_id),
            KafkaError::UnsupportedVersion {
                api_key,
                api_version,
                correlation_id,
            } => (api_key, api_version, correlation_id),
            other => return Err(other.to_string()),
        };
        // The policy of now, not of when the connection was accepted: a reload may have put
        // Kafka rules on the port since, or taken the port away.
        let verdict = self.ctx.shared.policy.load().check_connection(&self.meta);
        if verdict.l7 == L7Kind::Kafka {
            return Err(format!(
                "{e}: rules on this port read Kafka requests and cannot read this one"
            ));
        }
        if !verdict.allowed {
            return Err(format!(
                "{e}: policy no longer admits this connection ({})",
                verdict.rule
            ));
        }
        let line = Line {
            api_key: ApiKey::try_from(raw_key).ok(),
            raw_key,
            api_version,
            client_id: String::new(),
            topics: String::new(),
            allowed: true,
            rule: verdict.rule,
            error_code: 0,
            started,
            bytes_in: frame.bytes().len(),
        };
        let expect = Expect {
            correlation_id,
            api_version,
            client_id: None,
            read: Read::Relay,
            line,
        };
        self.forward(expect, frame.bytes()).await
    }

    /// Waits until the queue may hold `len` more bytes of the proxy's answers (an answer over
    /// the whole budget waits for the queue to hold none).
    async fn room_for(&self, len: usize) -> Result<OwnedSemaphorePermit, String> {
        let n = len.clamp(1, self.max_frame.min(Semaphore::MAX_PERMITS));
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        Arc::clone(&self.answers)
            .acquire_many_owned(n)
            .await
            .map_err(|_| "the answer budget closed".to_owned())
    }

    async fn push(&mut self, p: Pending) -> Result<(), String> {
        self.queue
            .send(p)
            .await
            .map_err(|_| "the response half ended".to_owned())
    }

    /// The access-log facts of a request (strings only when the log is on).
    fn line(&self, d: &Decision, started: Instant, bytes_in: usize) -> Line {
        let (client_id, topics) = if access_log::enabled() {
            let client = d
                .view
                .client_id
                .as_ref()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .unwrap_or_default();
            let mut topics: Vec<String> =
                d.view.topics.names.iter().map(|n| n.to_string()).collect();
            topics.extend(d.view.topics.ids.iter().map(|id| {
                match self.ctx.shared.kafka_topic_ids.name(&self.ids.cluster, *id) {
                    Some(name) => name.to_string(),
                    None => format!("id:{id}"),
                }
            }));
            if d.view.topics.all {
                topics.push("*".to_owned());
            }
            (client, topics.join(","))
        } else {
            (String::new(), String::new())
        };
        Line {
            api_key: Some(d.view.api_key),
            raw_key: d.view.api_key as i16,
            api_version: d.view.api_version,
            client_id,
            topics,
            allowed: d.allowed,
            rule: d.rule.clone(),
            error_code: 0,
            started,
            bytes_in,
        }
    }
}
