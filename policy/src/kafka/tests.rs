use super::*;

fn rule(role: &str, api_key: &str, version: &str, client: &str, topic: &str) -> KafkaRule {
    let f = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    KafkaRule {
        role: f(role),
        api_key: f(api_key),
        api_version: f(version),
        client_id: f(client),
        topic: f(topic),
    }
}

fn req<'a>(key: i16, version: i16, client: Option<&'a str>) -> KafkaRequest<'a> {
    KafkaRequest {
        api_key: key,
        api_version: version,
        client_id: client,
        topics: &[],
        all_topics: false,
    }
}

#[test]
fn names_are_ciliums_and_case_insensitive() {
    assert_eq!(api_key_by_name("Produce"), Some(0));
    assert_eq!(api_key_by_name("offsets"), Some(2));
    assert_eq!(api_key_by_name("APIVERSIONS"), Some(18));
    assert_eq!(api_key_by_name("alterconfigs"), Some(33));
    assert_eq!(api_key_by_name("consumergroupheartbeat"), Some(68));
    assert_eq!(
        api_key_by_name("listoffsets"),
        None,
        "Cilium's name is `offsets`"
    );
    assert_eq!(api_key_name(23), Some("offsetforleaderepoch"));
    assert_eq!(parse_api_key("42"), Ok(42));
    assert!(parse_api_key("-1").is_err());
    assert!(parse_api_key("createtopic").is_err());
    // Every key once, names unique.
    let mut keys: Vec<i16> = API_KEYS.iter().map(|(_, k)| *k).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), API_KEYS.len());
}

#[test]
fn roles_extend_ciliums_lists() {
    assert_eq!(parse_role("PRODUCE"), Ok(&[0, 3, 18, 22, 71, 72][..]));
    let consume = parse_role("consume").expect("role");
    for k in [1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18] {
        assert!(consume.contains(&k), "Cilium's consume key {k}");
    }
    assert!(consume.contains(&23) && consume.contains(&68));
    let e = parse_role("admin").expect_err("no such role");
    assert_eq!(e.field, "role");
    assert!(e.help.contains("produce"), "{e:?}");
}

#[test]
fn topic_keys_fit_the_mask() {
    assert!(TOPIC_KEYS.iter().all(|k| (0..128).contains(k)));
    let mut all = TopicKeys::NONE;
    all.add(None);
    for k in -1..200 {
        assert_eq!(all.contains(k), is_topic_key(k), "key {k}");
    }
    let mut some = TopicKeys::NONE;
    some.add(Some(&[0, 12, 22]));
    assert!(some.contains(0) && !some.contains(12) && !some.contains(22));
    assert!(TopicKeys::NONE.is_empty() && !some.is_empty());
}

#[test]
fn versions_and_topics_are_checked_like_cilium() {
    assert_eq!(parse_api_version("0"), Ok(0));
    assert_eq!(parse_api_version("32767"), Ok(32767));
    for bad in ["32768", "-1", "1.0", " 1", "v1", ""] {
        assert!(parse_api_version(bad).is_err(), "{bad}");
    }
    assert!(check_topic("orders.v1_eu-2").is_ok());
    assert!(check_topic(&"t".repeat(255)).is_ok());
    let e = check_topic(&"t".repeat(256)).expect_err("too long");
    assert!(e.message.contains("256"), "{e:?}");
    for bad in ["a b", "a*", "a\\b", "é", "a/b"] {
        assert_eq!(check_topic(bad).map_err(|e| e.field), Err("topic"), "{bad}");
    }
}

#[test]
fn role_and_api_key_exclude_each_other() {
    let e = KafkaMatcher::new(&rule("produce", "fetch", "", "", "")).expect_err("both");
    assert_eq!(e.field, "apiKey");
    assert!(e.help.contains("either"), "{e:?}");
    // Empty fields are absent, as in Cilium.
    let m = KafkaMatcher::new(&KafkaRule {
        role: Some(String::new()),
        api_key: Some("fetch".into()),
        topic: Some(String::new()),
        ..KafkaRule::default()
    })
    .expect("empty role is absent");
    assert_eq!(m.keys(), Some(&[1][..]));
    assert_eq!(m.topic(), None);
}

#[test]
fn header_fields_match_exactly() {
    let any = KafkaMatcher::new(&KafkaRule::default()).expect("empty rule");
    assert!(any.matches_header(&req(999, 7, None)));
    let m = KafkaMatcher::new(&rule("", "metadata", "5", "app", "")).expect("rule");
    assert!(m.matches_header(&req(3, 5, Some("app"))));
    assert!(!m.matches_header(&req(3, 4, Some("app"))));
    assert!(!m.matches_header(&req(3, 5, Some("App"))));
    assert!(!m.matches_header(&req(3, 5, None)));
    assert!(!m.matches_header(&req(0, 5, Some("app"))));
    let p = KafkaMatcher::new(&rule("produce", "", "", "", "t")).expect("rule");
    assert!(p.takes_key(22) && p.takes_key(0) && !p.takes_key(1));
    assert_eq!(p.topic(), Some("t"));
}
