//! Logging: `tracing` with human or JSON output, a log filter that the admin server can change at
//! run time, and the access log (target `access`), one line per request or TCP connection.
//! Warnings that a request, a connection or an accept can cause are rate-limited ([`ratelimit`]).

pub mod access_log;
pub mod line;
pub mod ratelimit;
mod writer;

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogFormat;
use access_log::Sink;
pub use line::Style;
pub use writer::{Flush, LineWriter, Open};

/// Changes the log filter at run time (admin `POST /logging?level=...`), and keeps the log writer
/// alive: dropping the last handle flushes what is buffered.
#[derive(Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    writer: LineWriter,
    _flush: Arc<Flush>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "invalid log filter `{filter}`: {source}; use e.g. `info`, `debug` or `sockmesh=debug,access=info`"
    )]
    Filter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error(
        "invalid log filter `{filter}`: `{directive}` is not a level (trace, debug, info, warn, \
         error, off); name a target with a level, e.g. `sockmesh=debug`"
    )]
    Directive { filter: String, directive: String },
    #[error("the log filter could not be changed: {0}")]
    Reload(#[from] reload::Error),
}

/// Parses a filter. Stricter than `EnvFilter`: a bare word there is a target at `trace` level, so
/// a misspelt level (`warning`) would silently switch every log line off. Here a bare word must
/// be a level, and an empty filter is refused.
fn parse_filter(filter: &str) -> Result<EnvFilter, LogError> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let bad = filter.split(',').map(str::trim).find(|d| {
        d.is_empty()
            || (!d.contains(['=', '[']) && !LEVELS.iter().any(|l| d.eq_ignore_ascii_case(l)))
    });
    if let Some(directive) = bad {
        return Err(LogError::Directive {
            filter: filter.to_owned(),
            directive: directive.to_owned(),
        });
    }
    EnvFilter::try_new(filter).map_err(|source| LogError::Filter {
        filter: filter.to_owned(),
        source,
    })
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
///
/// Lines are formatted on the calling thread (access-log lines by [`line`], the others by the
/// `fmt` layer) and written to stdout by a writer thread (started by the first line, see
/// [`writer`]), so a slow terminal or pipe never stalls the data path. When stdout does not keep
/// up, lines are dropped and counted.
pub fn init(format: LogFormat, level: &str) -> Result<LogHandle, LogError> {
    let filter = match std::env::var("RUST_LOG") {
        // RUST_LOG keeps its usual meaning (a bare word is a target), as other tools read it.
        Ok(env) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|source| LogError::Filter {
                filter: env.clone(),
                source,
            })?
        }
        _ => parse_filter(level)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let (writer, flush) = LineWriter::new(|| Box::new(std::io::stdout()));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests, demo) keeps the first subscriber and access-log sink.
    let installed = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    .with_ansi(ansi)
                    .with_writer(writer.clone()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer.clone())
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let style = match format {
            LogFormat::Human => Style::Human { ansi },
            LogFormat::Json => Style::Json,
        };
        Sink::install(Sink::new(style, writer.clone()));
    }
    Ok(LogHandle {
        filter: handle,
        writer,
        _flush: Arc::new(flush),
    })
}

impl LogHandle {
    pub fn set_level(&self, filter: &str) -> Result<(), LogError> {
        let filter = parse_filter(filter)?;
        self.filter.reload(filter)?;
        Ok(())
    }

    /// A `/metrics` collector for the lines dropped because stdout did not keep up.
    pub fn dropped_lines_collector(&self) -> DroppedLines {
        DroppedLines(self.writer.clone())
    }

    pub fn current(&self) -> String {
        self.filter
            .with_current(|f| f.to_string())
            .unwrap_or_else(|_| "unknown".into())
    }
}

/// `sockmesh_log_lines_dropped_total`, read at scrape time.
#[derive(Debug)]
pub struct DroppedLines(LineWriter);

impl Collector for DroppedLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = ConstCounter::new(self.0.dropped_lines());
        c.encode(encoder.encode_descriptor(
            "sockmesh_log_lines_dropped",
            "Log lines (access log included) dropped because stdout did not keep up",
            None,
            c.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests;
