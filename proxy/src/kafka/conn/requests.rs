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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use sockmesh_policy::ConnMeta;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::conn::{ConnCtx, signalled};
use crate::kafka::acks::produce_acks;
use crate::kafka::deny::{Denial, Refusal, deny};
use crate::kafka::narrowed::narrowed;
use crate::kafka::{Frame, FrameReader, KafkaError, Request};
use crate::telemetry::access_log;

use super::check::{Decision, check, may_ask_metadata, may_touch};
use super::order::{Expect, Line, Pending, Read};
use super::record::record;

/// How the request half ended.
pub(super) enum Ended {
    /// The client closed, or shutdown came: the responses owed are still to be sent.
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
    /// Whether rules on this port read Kafka requests (else requests the proxy cannot parse
    /// are forwarded untouched, as opaque TCP would carry them).
    pub l7: bool,
    pub queue: mpsc::Sender<Pending>,
    /// Requests whose response has not been sent yet (shared with the response half).
    pub in_flight: Arc<AtomicUsize>,
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
        let idle = self.ctx.shared.limits.idle_timeout;
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
                got = tokio::time::timeout(idle, reader.read_from(&mut self.client)) => match got {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => return Ended::Abort(format!("client read failed: {e}")),
                    // Idle: only when no response is owed (a long poll is not idleness).
                    Err(_) if self.in_flight.load(Ordering::Acquire) == 0 => {
                        return Ended::Abort("idle timeout".to_owned());
                    }
                    Err(_) => continue,
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
        let decision = check(self.ctx, &self.meta, &request).map_err(|e| e.to_string())?;
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
            Denial::Respond(frame) => Pending::Local { frame, line },
            Denial::Close => Pending::Close { line },
        };
        self.push(pending).await
    }

    /// A denied Metadata request narrowed to its allowed topics (see [`crate::kafka::narrowed`]).
    fn narrowed(
        &self,
        request: &Request,
        body: &RequestKind,
    ) -> Option<Result<(Bytes, Vec<String>), KafkaError>> {
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
        narrowed(request, body, |t| {
            may_touch(self.ctx, &self.meta, client_id, version, t)
        })
    }

    /// Sends the narrowed request in the denied one's place; its answer gets the refused topics.
    async fn forward_narrowed(
        &mut self,
        request: &Request,
        frame: Bytes,
        refused: Vec<String>,
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
        if self.l7 {
            return Err(format!(
                "{e}: rules on this port read Kafka requests and cannot read this one"
            ));
        }
        let line = Line {
            api_key: ApiKey::try_from(raw_key).ok(),
            raw_key,
            api_version,
            client_id: String::new(),
            topics: String::new(),
            allowed: true,
            rule: self
                .ctx
                .shared
                .policy
                .load()
                .check_connection(&self.meta)
                .rule,
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

    async fn push(&mut self, p: Pending) -> Result<(), String> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
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
            let cluster = self.ctx.shared.kafka_brokers.base(&self.ctx.listener);
            topics.extend(d.view.topics.ids.iter().map(|id| {
                match self.ctx.shared.kafka_topic_ids.name(&cluster.name, *id) {
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
