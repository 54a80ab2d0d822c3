use super::{LogError, parse_filter};

#[test]
fn levels_and_target_directives_parse() {
    for ok in [
        "info",
        "DEBUG",
        "warn,hyper=off",
        "sockmesh=debug,access=info",
        "off",
    ] {
        assert!(parse_filter(ok).is_ok(), "{ok}");
    }
}

#[test]
fn a_misspelt_level_or_an_empty_filter_is_refused() {
    for bad in ["warning", "", "info,,debug", "sockmesh", " "] {
        let err = parse_filter(bad).expect_err(bad);
        assert!(matches!(err, LogError::Directive { .. }), "{bad}: {err}");
        assert!(err.to_string().contains("is not a level"), "{err}");
    }
    assert!(matches!(
        parse_filter("foo=[bar"),
        Err(LogError::Filter { .. })
    ));
}

mod line_writer {
    use std::io::Write;
    use std::sync::Mutex;

    use tracing_subscriber::fmt::MakeWriter;

    use super::super::writer::LineWriter;

    static OUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    struct ToOut;

    impl Write for ToOut {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            OUT.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn starts_with_the_first_line_and_flushes_when_its_handle_drops() {
        let (writer, flush) = LineWriter::new(|| Box::new(ToOut));
        assert!(!writer.started());
        assert_eq!(writer.dropped_lines(), 0);
        for n in 0..100 {
            if n % 2 == 0 {
                writer.push(format!("line {n}\n").as_bytes());
            } else {
                writeln!(writer.make_writer(), "line {n}").expect("write");
            }
        }
        assert!(writer.started());
        drop(flush);
        let out = String::from_utf8(OUT.lock().expect("lock").clone()).expect("utf-8");
        let want: Vec<String> = (0..100).map(|n| format!("line {n}")).collect();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            want,
            "every line, in order"
        );
        assert_eq!(writer.dropped_lines(), 0);
        writer.push(b"after the flush\n");
        assert_eq!(
            writer.dropped_lines(),
            1,
            "a line after the flush is counted"
        );
    }
}

/// The access line written by `line.rs` is, byte for byte, the line the `fmt` layer wrote for
/// the access event before (the event below, as `access_log::log` made it), in every format.
mod access_line {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::super::access_log::{Entry, Protocol};
    use super::super::line::{self, Clock, Style, event};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Capture {
        type Writer = Capture;
        fn make_writer(&self) -> Capture {
            self.clone()
        }
    }

    /// The line the `fmt` layer, set up as `telemetry::init` sets it up, writes for `e`.
    fn through_fmt(style: Style, e: &Entry<'_>) -> String {
        let out = Capture::default();
        let registry = tracing_subscriber::registry();
        let dispatch = match style {
            Style::Human { ansi } => tracing::Dispatch::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .with_target(true)
                        .with_ansi(ansi)
                        .with_writer(out.clone()),
                ),
            ),
            Style::Json => tracing::Dispatch::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(out.clone())
                        .flatten_event(true)
                        .with_current_span(false),
                ),
            ),
        };
        tracing::dispatcher::with_default(&dispatch, || event(e));
        let bytes = out.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    fn direct(style: Style, e: &Entry<'_>) -> String {
        let mut out = Vec::new();
        line::write(&mut out, &mut Clock::default(), style, SystemTime::now(), e);
        String::from_utf8(out).expect("utf-8")
    }

    /// `line` with its timestamp (the first `YYYY-MM-DDTHH:MM:SS.ffffffZ`) replaced by `TS`.
    fn mask_time(line: &str) -> String {
        let shape = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
        let b = line.as_bytes();
        let at = (0..b.len().saturating_sub(shape.len() - 1)).find(|&i| {
            shape.iter().zip(&b[i..]).all(|(s, c)| match s {
                b'd' => c.is_ascii_digit(),
                s => s == c,
            })
        });
        match at {
            Some(i) => format!("{}TS{}", &line[..i], &line[i + shape.len()..]),
            None => panic!("no timestamp in {line:?}"),
        }
    }

    fn same_line(e: &Entry<'_>) {
        for style in [
            Style::Human { ansi: false },
            Style::Human { ansi: true },
            Style::Json,
        ] {
            let want = mask_time(&through_fmt(style, e));
            let got = mask_time(&direct(style, e));
            assert_eq!(got, want, "{style:?}");
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,24}",
            any::<String>(),
            "[\"\\\\\t\n\r\u{0}\u{1}\u{1b}\u{7f}\u{85}é\u{301}\u{200b}\u{fffd}😀a ]{0,8}",
        ]
    }

    #[test]
    fn a_typical_line_and_the_fields_that_come_and_go() {
        let mut e = Entry {
            listener: "inbound",
            protocol: Protocol::Grpc,
            client: SocketAddr::from(([10, 0, 3, 17], 51234)),
            method: "POST",
            path: "/demo.Greeter/SayHello",
            authority: "greeter:50051",
            allowed: false,
            rule: "shop/greeter: ingress[0].toPorts[0].rules.grpc[0]",
            upstream: None,
            status: 200,
            grpc_status: Some(7),
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::from_micros(187),
            note: "",
        };
        same_line(&e);
        e.grpc_status = None;
        e.upstream = Some("[fe80::1%2]:8080".parse().expect("addr"));
        e.client = "[::1]:1".parse().expect("addr");
        same_line(&e);
    }

    proptest! {
        #[test]
        fn any_entry_is_written_as_the_fmt_layer_wrote_it(
            strs in proptest::collection::vec(text(), 6),
            protocol in prop::sample::select(vec![
                Protocol::Http1, Protocol::Http2, Protocol::Grpc, Protocol::Tcp,
            ]),
            client in any::<SocketAddr>(),
            upstream in any::<Option<SocketAddr>>(),
            allowed in any::<bool>(),
            status in any::<u32>(),
            grpc_status in any::<Option<u32>>(),
            bytes in any::<(u64, u64)>(),
            nanos in any::<u64>(),
        ) {
            same_line(&Entry {
                listener: &strs[0],
                protocol,
                client,
                method: &strs[1],
                path: &strs[2],
                authority: &strs[3],
                allowed,
                rule: &strs[4],
                upstream,
                status,
                grpc_status,
                bytes_in: bytes.0,
                bytes_out: bytes.1,
                duration: Duration::from_nanos(nanos),
                note: &strs[5],
            });
        }
    }
}
