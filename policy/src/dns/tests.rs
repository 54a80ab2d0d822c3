use proptest::prelude::*;

use super::{DnsName, NameError, NamePattern, Strictness};

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("name")
}

fn pat(s: &str) -> NamePattern {
    NamePattern::pattern(s).expect("pattern")
}

#[test]
fn names_are_canonical() {
    assert_eq!(name("WWW.Example.COM."), name("www.example.com"));
    assert_eq!(name("."), DnsName::root());
    assert_eq!(name("a.b").to_string(), "a.b.");
    assert_eq!(DnsName::parse("a..b"), Err(NameError::EmptyLabel));
    assert_eq!(DnsName::parse(""), Err(NameError::EmptyLabel));
    assert!(matches!(
        DnsName::parse(&"a".repeat(64)),
        Err(NameError::LabelTooLong(64))
    ));
    let long = vec!["abcdefghi"; 26].join(".");
    assert!(matches!(
        DnsName::parse(&long),
        Err(NameError::NameTooLong(_))
    ));
    // A label holding a dot is one label, and is shown escaped.
    let odd = DnsName::from_labels([&b"a.b"[..], b"Evil", b"com"]).expect("name");
    assert_eq!(odd.label_count(), 3);
    assert_eq!(odd.to_string(), "a\\.b.evil.com.");
    assert_ne!(odd, name("a.b.evil.com"));
    assert!(odd.is_within(&name("evil.com")));
    assert!(!odd.is_within(&name("b.evil.com")));
}

#[test]
fn match_name_is_exact_and_case_insensitive() {
    let p = NamePattern::name("API.example.com.").expect("name");
    assert!(p.matches(&name("api.EXAMPLE.com"), Strictness::Cilium));
    assert!(!p.matches(&name("x.api.example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("example.com"), Strictness::Cilium));
    assert_eq!(p.exact(), Some(name("api.example.com")));
    let e = NamePattern::name("*.example.com").expect_err("wildcard");
    assert!(e.help.contains("matchPattern"), "{e:?}");
    assert!(NamePattern::name("a b.com").is_err());
    assert!(NamePattern::name("a..com").is_err());
}

#[test]
fn a_star_stays_within_one_label() {
    let p = pat("*.example.com");
    assert!(p.matches(&name("a.example.com"), Strictness::Cilium));
    assert!(p.matches(&name("A-b_9.example.com."), Strictness::Cilium));
    assert!(!p.matches(&name("example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("a.b.example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("a.example.com.evil"), Strictness::Cilium));
    assert!(!p.matches(&name("aexample.com"), Strictness::Cilium));
    let p = pat("api-*.example.com");
    assert!(p.matches(&name("api-.example.com"), Strictness::Cilium));
    assert!(p.matches(&name("api-v1.example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("api.example.com"), Strictness::Cilium));
    let p = pat("a*b*c.com");
    assert!(p.matches(&name("abc.com"), Strictness::Cilium));
    assert!(p.matches(&name("axxbyyc.com"), Strictness::Cilium));
    assert!(p.matches(&name("abbc.com"), Strictness::Cilium));
    assert!(!p.matches(&name("acb.com"), Strictness::Cilium));
    assert_eq!(p.exact(), None);
}

#[test]
fn a_double_star_prefix_takes_one_or_more_labels() {
    let p = pat("**.example.com");
    assert!(p.matches(&name("a.example.com"), Strictness::Cilium));
    assert!(p.matches(&name("a.b.c.example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("example.com"), Strictness::Cilium));
    assert!(!p.matches(&name("a.example.org"), Strictness::Cilium));
    let e = NamePattern::pattern("a.**.com").expect_err("inner **");
    assert!(e.help.contains("only allowed at the start"), "{e:?}");
}

#[test]
fn a_lone_star_matches_every_name() {
    let p = pat("*");
    for n in ["a", "a.b.c", "."] {
        assert!(p.matches(&name(n), Strictness::Cilium), "{n}");
    }
}

#[test]
fn odd_bytes_escape_allow_patterns_but_not_deny_patterns() {
    let odd = DnsName::from_labels([&b"a b"[..], b"evil", b"com"]).expect("name");
    let dotted = DnsName::from_labels([&b"x.y"[..], b"evil", b"com"]).expect("name");
    for p in [pat("*.evil.com"), pat("**.evil.com"), pat("a*.evil.com")] {
        assert!(!p.matches(&odd, Strictness::Cilium), "{p:?}");
        assert!(p.matches(&odd, Strictness::AnyByte), "{p:?}");
    }
    assert!(pat("*.evil.com").matches(&dotted, Strictness::AnyByte));
    assert!(!pat("*.y.evil.com").matches(&dotted, Strictness::AnyByte));
}

#[test]
fn patterns_refuse_what_cilium_refuses() {
    for bad in [
        "a[b].com",
        "a+.com",
        "{a,b}.com",
        "a..com",
        ".a.com",
        "a.com..",
        "ä.com",
    ] {
        assert!(NamePattern::pattern(bad).is_err(), "{bad}");
    }
}

/// Cilium's own translation of a pattern into a regular expression over the text form
/// (pkg/fqdn/matchpattern), the reference the label matcher is compared with.
fn cilium_regex(pattern: &str) -> regex::Regex {
    const CHARS: &str = "[-a-zA-Z0-9_]";
    let p = pattern.trim().to_ascii_lowercase();
    let re = if p == "*" {
        format!("(^({CHARS}+[.])+$)|(^[.]$)")
    } else {
        let mut p = p.trim_end_matches('.').to_owned() + ".";
        let multi = p.starts_with("**.");
        if multi {
            p = p[3..].to_owned();
        }
        let body = p.replace('.', "[.]").replace('*', &format!("{CHARS}*"));
        let prefix = if multi {
            format!("({CHARS}+([.]{CHARS}+){{0,}})[.]")
        } else {
            String::new()
        };
        format!("^{prefix}{body}$")
    };
    regex::Regex::new(&re).expect("regex")
}

fn label() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-c_-]{1,4}").expect("strategy")
}

fn pattern_label() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-c*]{1,4}").expect("strategy")
}

proptest! {
    /// On names of Cilium's character set, the label matcher agrees with Cilium's regex.
    #[test]
    fn the_matcher_agrees_with_ciliums_regex(
        labels in prop::collection::vec(label(), 1..5),
        multi in any::<bool>(),
        pattern in prop::collection::vec(pattern_label(), 1..4),
    ) {
        let text = labels.join(".");
        let pat_text = format!("{}{}", if multi { "**." } else { "" }, pattern.join("."));
        prop_assume!(!pattern.iter().any(|l| l.contains("**")));
        let p = NamePattern::pattern(&pat_text).expect("pattern");
        let n = name(&text);
        let want = cilium_regex(&pat_text).is_match(&(text.clone() + "."));
        prop_assert_eq!(p.matches(&n, Strictness::Cilium), want, "{} vs {}", pat_text, text);
        // A deny pattern matches at least what an allow pattern does.
        if want {
            prop_assert!(p.matches(&n, Strictness::AnyByte));
        }
    }

    /// Wire labels of any bytes never panic, and round-trip through the canonical form.
    #[test]
    fn any_labels_are_handled(labels in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70), 0..6)) {
        match DnsName::from_labels(labels.iter().map(Vec::as_slice)) {
            Ok(n) => {
                let back: Vec<Vec<u8>> = n.labels().map(<[u8]>::to_vec).collect();
                let lower: Vec<Vec<u8>> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
                prop_assert_eq!(back, lower);
                prop_assert!(pat("*").matches(&n, Strictness::Cilium));
            }
            Err(_) => prop_assert!(labels.iter().any(|l| l.is_empty() || l.len() > 63)
                || labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1 > 255),
        }
    }
}
