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
