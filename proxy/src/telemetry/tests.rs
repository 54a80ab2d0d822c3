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

mod lazy_writer {
    use std::io::Write;
    use std::sync::Mutex;

    use tracing_subscriber::fmt::MakeWriter;

    use super::super::writer::LazyWriter;

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
        let (writer, flush) = LazyWriter::new(|| ToOut);
        assert!(!writer.started());
        assert_eq!(writer.dropped_lines(), 0);
        for n in 0..100 {
            writeln!(writer.make_writer(), "line {n}").expect("write");
        }
        assert!(writer.started());
        drop(flush);
        let out = String::from_utf8(OUT.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(
            out.lines().count(),
            100,
            "every buffered line written: {out}"
        );
        assert_eq!(out.lines().last(), Some("line 99"));
        assert_eq!(writer.dropped_lines(), 0);
    }
}
