//! The access-log line's cost on the thread that serves the request, in both formats:
//! - `format`: the line written into a reused buffer (`telemetry::line::write`, the clock read
//!   included);
//! - `tracing_fmt`: the same line made as a `tracing` event through the `fmt` layer, as it was
//!   made before `telemetry/line.rs`, into `io::sink` (so also formatting only);
//! - `sink`: `format` plus the hand-off to the log writer (`access_log::Sink::write`): a lock
//!   and a copy. At this rate (millions of lines a second) the writer's 4 MiB buffer can fill
//!   between its batches; lines over it are dropped and counted, and the buffer's pages are
//!   touched afresh after each batch, which a sidecar's few hundred lines per batch never see.
//!
//! Times are the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the
//! machine is shared, and what the line costs is CPU.
//!
//! The writer thread's share (one `write(2)` per batch) is not in these numbers: bench/http's
//! logged rows measure the whole process from /proc.
//!
//!     cargo bench -p sockmesh --bench access_log

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use sockmesh::telemetry::access_log::{Entry, Protocol, Sink};
use sockmesh::telemetry::line::{self, Clock, event};
use sockmesh::telemetry::{LineWriter, Style};
use tracing_subscriber::layer::SubscriberExt;

/// A typical allowed request on the HTTP/1.1 fast path.
fn entry() -> Entry<'static> {
    Entry {
        listener: "inbound",
        protocol: Protocol::Http1,
        client: SocketAddr::from(([10, 0, 3, 17], 51234)),
        method: "GET",
        path: "/api/v1/orders/1234?expand=items",
        authority: "orders.shop.svc.cluster.local:8080",
        allowed: true,
        rule: "shop/orders: ingress[0].toPorts[0].rules.http[3]",
        upstream: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
        status: 200,
        grpc_status: None,
        bytes_in: 0,
        bytes_out: 0,
        duration: Duration::from_micros(187),
        note: "",
    }
}

/// This thread's CPU time.
fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` as criterion asks, timed in this thread's CPU time.
fn on_cpu(b: &mut Bencher<'_>, mut f: impl FnMut()) {
    b.iter_custom(|iters| {
        let start = cpu_time();
        for _ in 0..iters {
            f();
        }
        cpu_time() - start
    })
}

fn sink() -> Box<dyn std::io::Write + Send> {
    Box::new(std::io::sink())
}

const STYLES: [(&str, Style); 2] = [
    ("human", Style::Human { ansi: false }),
    ("json", Style::Json),
];

fn format(c: &mut Criterion) {
    let e = entry();
    for (name, style) in STYLES {
        let (mut out, mut clock) = (Vec::new(), Clock::default());
        c.bench_function(&format!("access_line/format/{name}"), |b| {
            on_cpu(b, || {
                out.clear();
                line::write(
                    &mut out,
                    &mut clock,
                    style,
                    SystemTime::now(),
                    std::hint::black_box(&e),
                );
            })
        });
    }
}

fn to_writer(c: &mut Criterion) {
    let e = entry();
    for (name, style) in STYLES {
        let (writer, _flush) = LineWriter::new(sink);
        let sink = Sink::new(style, writer);
        c.bench_function(&format!("access_line/sink/{name}"), |b| {
            on_cpu(b, || {
                sink.write(SystemTime::now(), std::hint::black_box(&e))
            })
        });
    }
}

fn through_tracing(c: &mut Criterion) {
    let e = entry();
    for name in ["human", "json"] {
        let writer = std::io::sink;
        let registry = tracing_subscriber::registry();
        let dispatch = if name == "json" {
            tracing::Dispatch::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(writer)
                        .flatten_event(true)
                        .with_current_span(false),
                ),
            )
        } else {
            tracing::Dispatch::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer),
                ),
            )
        };
        tracing::dispatcher::with_default(&dispatch, || {
            c.bench_function(&format!("access_line/tracing_fmt/{name}"), |b| {
                on_cpu(b, || event(std::hint::black_box(&e)))
            });
        });
    }
}

criterion_group!(benches, format, through_tracing, to_writer);
criterion_main!(benches);
