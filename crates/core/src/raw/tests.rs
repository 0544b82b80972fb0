//! Tests of raw events, their member index and the raw readers.

use super::*;

#[test]
fn members_read_as_text_scalars_and_values() {
    let escaped = raw(r#""caf\u00e9""#);
    assert_eq!(raw_text(Some(&escaped)).as_deref(), Some("café"));
    assert!(matches!(raw_text(Some(&raw(r#""plain""#))), Some(Cow::Borrowed("plain"))));
    assert_eq!(raw_text(Some(&raw("12"))), None);
    assert_eq!(raw_scalar(Some(&raw("12"))).as_deref(), Some("12"));
    assert_eq!(raw_scalar(Some(&raw("-1.5"))).as_deref(), Some("-1.5"));
    assert_eq!(raw_scalar(Some(&raw(r#""x""#))).as_deref(), Some("x"));
    assert_eq!(raw_scalar(Some(&raw("[1]"))), None);
    assert_eq!(raw_value(Some(&raw(r#"{"a":[1]}"#))), Some(serde_json::json!({"a": [1]})));
    assert_eq!(raw_value(None), None);
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

#[test]
fn events_cut_from_a_page_share_its_buffer() {
    let page = Bytes::from_static(br#"[{"a": 1}, {"b": "x\u00e9"}]"#);
    let members: Vec<&RawValue> = serde_json::from_slice(&page).unwrap();
    let events: Vec<RawEvent> = members.iter().map(|m| RawEvent::in_page(&page, m)).collect();
    assert_eq!(events[0].as_bytes(), br#"{"a": 1}"#);
    assert_eq!(events[1].as_str(), r#"{"b": "x\u00e9"}"#);
    let inside = page.as_ptr() as usize..page.as_ptr() as usize + page.len();
    assert!(events.iter().all(|e| inside.contains(&(e.as_bytes().as_ptr() as usize))));

    let elsewhere = raw(r#"{"c": 3}"#);
    let copied = RawEvent::in_page(&page, &elsewhere);
    assert_eq!(copied.as_bytes(), br#"{"c": 3}"#);
    assert!(!inside.contains(&(copied.as_bytes().as_ptr() as usize)));
    assert_eq!(copied, RawEvent::from(elsewhere));
}

#[test]
fn members_are_walked_in_order_and_stop_when_asked() {
    let event = RawEvent::from(raw(r#"{"a": 1, "b\u00e9": [2], "c": 3}"#));
    let mut seen = Vec::new();
    event
        .members(|key, value| {
            seen.push((key.to_owned(), value.get().to_owned()));
            if key == "bé" { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(seen, [("a".to_owned(), "1".to_owned()), ("bé".to_owned(), "[2]".to_owned())]);
}

#[test]
fn strings_and_members_are_read_without_a_tree() {
    let event = raw(r#"{"a": "x", "b": "caf\u00e9", "c": 1, "d": {"e": {"f": "deep"}, "g": 2}, "a": "last"}"#);
    assert_eq!(raw_text(raw_member(&event, "a")).as_deref(), Some("last"), "the last one wins");
    assert!(matches!(raw_text(raw_member(&event, "b")), Some(Cow::Owned(text)) if text == "café"));
    assert_eq!(raw_text(raw_member(&event, "c")), None, "not a string");
    assert_eq!(raw_str_at(&event, &["d", "e", "f"]).as_deref(), Some("deep"));
    assert_eq!(raw_str_at(&event, &["d", "g"]), None);
    assert_eq!(raw_str_at(&event, &["d", "x", "f"]), None);
    assert_eq!(raw_str_at(&event, &["c", "f"]), None, "a step that is no object");
    assert!(raw_member(&raw("[1]"), "a").is_none());
    // The walk stops at the key only when no repeat can follow: not with the key's bytes or an escape after it.
    let spelled = raw(r#"{"ip": "1", "x": {"ip": "nested"}, "i\u0070": "escaped repeat"}"#);
    assert_eq!(raw_text(raw_member(&spelled, "ip")).as_deref(), Some("escaped repeat"));
    let nested_only = raw(r#"{"ip": "1", "x": {"ip": "nested"}}"#);
    assert_eq!(raw_text(raw_member(&nested_only, "ip")).as_deref(), Some("1"));
    let alone = raw(r#"{"ip": "1", "geo": {"city": "Oslo"}}"#);
    assert_eq!(raw_text(raw_member(&alone, "ip")).as_deref(), Some("1"));
}

#[test]
fn anything_but_an_object_is_an_error() {
    for text in ["[1, 2]", "\"s\"", "3", "null"] {
        assert!(RawEvent::from(raw(text)).members(|_, _| ControlFlow::Continue(())).is_err(), "{text}");
    }
    assert!(raw_members(r#"{"a": }"#, |_, _| ControlFlow::Continue(())).is_err());
}

/// Keys and value texts, in order.
type Walk = Vec<(String, String)>;

/// Every member as `members` sees it (key, value text) and as `member_values` does.
fn walked(event: &RawEvent) -> (Walk, Walk) {
    let mut plain = Vec::new();
    event
        .members(|key, value| {
            plain.push((key.to_owned(), value.get().to_owned()));
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut texts = Vec::new();
    event
        .member_values(|key, value| {
            texts.push((key.to_owned(), value.json().to_owned()));
            assert_eq!(value.raw().unwrap().get(), value.json());
            ControlFlow::Continue(())
        })
        .unwrap();
    (plain, texts)
}

fn plain_split(page: &Bytes) -> Vec<RawEvent> {
    let members: Vec<&RawValue> = serde_json::from_slice(page).unwrap();
    members.iter().map(|m| RawEvent::in_page(page, m)).collect()
}

#[test]
fn a_split_page_is_indexed_in_one_pass() {
    let page = Bytes::from_static(
        b" [ {\"a\" : 1 ,\"b\\u00e9\\\"\":[2, {\"x\": \"}\"}] , \"a\":\"last\"},\n{}, {\"\":null} ] ",
    );
    let events = RawEvent::split_array(&page).unwrap();
    assert_eq!(events, plain_split(&page));
    assert!(events.iter().all(|e| e.index.get().is_some()));
    assert_eq!(events[0].index.get().unwrap().spans().count(), 3);
    let (plain, texts) = walked(&events[0]);
    assert_eq!(texts, plain);
    assert_eq!(texts[1], ("bé\"".to_owned(), r#"[2, {"x": "}"}]"#.to_owned()), "escaped keys are unescaped");
    assert_eq!(texts[2].1, r#""last""#, "a repeated key is kept twice, in order");
    assert!(walked(&events[1]).1.is_empty());
    assert_eq!(walked(&events[2]).1, [(String::new(), "null".to_owned())]);
    let inside = page.as_ptr() as usize..page.as_ptr() as usize + page.len();
    assert!(events.iter().all(|e| inside.contains(&(e.as_bytes().as_ptr() as usize))), "shares the page");

    let mut stopped = Vec::new();
    events[0]
        .member_values(|key, _| {
            stopped.push(key.to_owned());
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(stopped, ["a"]);
    assert_eq!(RawEvent::split_array(&Bytes::from_static(b" [ ] ")).unwrap(), Vec::new());
}

#[test]
fn events_over_64_kib_keep_wide_offsets() {
    let long = "x".repeat(70_000);
    let page = Bytes::from(format!(r#"[{{"a": 1}}, {{"big": "{long}", "after": true}}]"#));
    let events = RawEvent::split_array(&page).unwrap();
    assert!(matches!(events[0].index.get().unwrap().table, index::Table::Wide(_)), "one table per page");
    let (plain, texts) = walked(&events[1]);
    assert_eq!(texts, plain);
    assert_eq!(texts[1], ("after".to_owned(), "true".to_owned()));
    let small = RawEvent::split_array(&Bytes::from_static(br#"[{"a": 1}]"#)).unwrap();
    assert!(matches!(small[0].index.get().unwrap().table, index::Table::Narrow(_)));
}

#[test]
fn what_is_not_an_array_of_objects_is_left_to_the_plain_split() {
    for page in [
        &b"{\"a\": 1}"[..],
        b"[1, {\"a\": 1}]",
        b"[{\"a\": 1}, \"s\"]",
        b"[{\"a\": 1}] x",
        b"[{\"a\": 1},]",
        b"[{\"a\": 1}",
        b"[{\"a\": }]",
        b"[{\"a\": \"\xff\"}]",
        b"",
    ] {
        assert!(index::split_array(&Bytes::copy_from_slice(page)).is_none(), "{}", String::from_utf8_lossy(page));
    }
}

#[test]
fn an_event_cut_some_other_way_is_indexed_by_its_first_whole_walk() {
    let page = Bytes::from_static(br#"{"data": [{"a": 1, "b\n": {"c": 2}}, [3]], "next": null}"#);
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        data: Vec<&'a RawValue>,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(&page).unwrap();
    let event = RawEvent::in_page(&page, envelope.data[0]);
    assert!(event.index.get().is_none());
    event.member_values(|_, _| ControlFlow::Break(())).unwrap();
    assert!(event.index.get().is_none(), "a walk that stopped early indexes nothing");
    let (plain, first) = walked(&event);
    assert!(event.index.get().is_some());
    let (_, again) = walked(&event);
    assert_eq!((&first, &again), (&plain, &plain));
    assert_eq!(again[1], ("b\n".to_owned(), r#"{"c": 2}"#.to_owned()));

    let not_an_object = RawEvent::in_page(&page, envelope.data[1]);
    assert!(not_an_object.member_values(|_, _| ControlFlow::Continue(())).is_err());
    assert!(not_an_object.index.get().is_none());
}

proptest::proptest! {
    #[test]
    fn indexed_members_are_the_walked_members(
        events in proptest::collection::vec(crate::record::tests::object(), 0..4),
        pretty in proptest::bool::ANY,
    ) {
        let page = if pretty { serde_json::to_string_pretty(&events) } else { serde_json::to_string(&events) };
        let page = Bytes::from(page.unwrap());
        let split = RawEvent::split_array(&page).unwrap();
        proptest::prop_assert_eq!(&split, &plain_split(&page));
        for event in &split {
            let (plain, texts) = walked(event);
            proptest::prop_assert_eq!(texts, plain);
        }
        // Cut the plain way, the first walk indexes each event and the second reads that index.
        for event in &plain_split(&page) {
            let (plain, first) = walked(event);
            proptest::prop_assert!(event.index.get().is_some());
            let (_, again) = walked(event);
            proptest::prop_assert_eq!(&first, &plain);
            proptest::prop_assert_eq!(&again, &plain);
        }
    }
}

/// An NDJSON line is one record: an event that arrived pretty-printed must not carry its line breaks into
/// the members a writer copies.
#[test]
fn events_cut_from_pretty_printed_json_keep_no_line_break() {
    let events = serde_json::json!([
        {"a": {"b": [1, 2], "c": "line\nbreak escaped"}, "d": "x"},
        {"e": {"f": {}}}
    ]);
    let pretty = serde_json::to_string_pretty(&events).unwrap().replace('\n', "\r\n");
    let page = Bytes::from(pretty);
    let members: Vec<&RawValue> = serde_json::from_slice(&page).unwrap();
    let cut = [
        RawEvent::split_array(&page).unwrap(),
        plain_split(&page),
        members.iter().map(|m| RawEvent::from(raw(m.get()))).collect(),
    ];
    for events_of_one_kind in cut {
        assert_eq!(events_of_one_kind.len(), 2);
        for (event, expected) in events_of_one_kind.iter().zip(events.as_array().unwrap()) {
            assert!(!event.as_bytes().iter().any(|b| matches!(b, b'\n' | b'\r')), "{event:?}");
            assert_eq!(&serde_json::from_str::<serde_json::Value>(event.as_str()).unwrap(), expected);
            let (walk, indexed) = walked(event);
            assert_eq!(walk, indexed);
        }
    }
}

proptest::proptest! {
    /// `raw_member` stops walking early only when no repeat can follow: it still finds the last one.
    #[test]
    fn a_member_is_the_last_repeat_of_its_key(
        members in proptest::collection::vec(("[ab\"\\\\é]{0,2}", proptest::num::i32::ANY), 0..8),
        nested in proptest::bool::ANY,
    ) {
        let text = members
            .iter()
            .map(|(key, value)| {
                let value = if nested { format!(r#"{{{}: {value}}}"#, serde_json::to_string(key).unwrap()) } else { value.to_string() };
                format!("{}: {value}", serde_json::to_string(key).unwrap())
            })
            .collect::<Vec<_>>()
            .join(", ");
        let object = raw(&format!("{{{text}}}"));
        for (key, _) in &members {
            let last = members.iter().rposition(|(k, _)| k == key).unwrap();
            let found = raw_member(&object, key).map(|value| value.get().to_owned());
            let expected = members[last].1.to_string();
            let found = found.unwrap();
            proptest::prop_assert!(found.ends_with(&format!(": {expected}}}")) || found == expected, "{found} vs {expected}");
        }
    }
}

proptest::proptest! {
    /// Skipping over the text finds what parsing finds: every member of any object, compact or pretty,
    /// with escapes in keys and strings, and nothing for a key it lacks; one level down as well.
    #[test]
    fn a_member_found_by_scanning_is_the_parsed_member(
        object in crate::record::tests::object(),
        pretty in proptest::bool::ANY,
        missing in "[a-e\"\\\\é]{0,3}",
    ) {
        let value = serde_json::Value::Object(object.clone());
        let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) };
        let raw_object = raw(&text.unwrap());
        for (key, expected) in &object {
            let found = raw_member(&raw_object, key).map(|found| serde_json::from_str::<serde_json::Value>(found.get()).unwrap());
            proptest::prop_assert_eq!(found.as_ref(), Some(expected), "{}", key);
            if let serde_json::Value::Object(inner) = expected {
                for (inner_key, inner_expected) in inner {
                    let found = raw_str_at(&raw_object, &[key, inner_key]);
                    proptest::prop_assert_eq!(found.as_deref(), inner_expected.as_str(), "{}.{}", key, inner_key);
                }
            }
        }
        if !object.contains_key(&missing) {
            proptest::prop_assert!(raw_member(&raw_object, &missing).is_none());
        }
    }
}

proptest::proptest! {
    /// The scan trusts its input to be valid JSON for what it finds, never for its own safety: any text
    /// (cut objects, stray brackets and quotes, trailing escapes) gives an answer or "cannot tell".
    #[test]
    fn the_scan_never_panics_whatever_the_text(text in "\\{[\\[\\]{}\",:\\\\ a-c0-9\n]{0,40}", key in "[a-c]{0,2}") {
        let _ = super::scan::member_text(&text, &key);
    }
}

proptest::proptest! {
    /// A string read without parsing (no escape in it) or parsed (escapes) is the string written.
    #[test]
    fn a_string_value_reads_as_the_string_written(text in "\\PC{0,8}|[\"\\\\/\u{1}\u{7f}é a]{0,6}") {
        let json = serde_json::to_string(&text).unwrap();
        let read = super::text_of(&json);
        proptest::prop_assert_eq!(read.as_deref(), Some(text.as_str()));
    }
}

/// An event with more top-level members than an index holds (65 535) is left unindexed and read by
/// walking; the other events of its page keep theirs.
#[test]
fn an_event_with_too_many_members_for_an_index_is_walked() {
    let members: Vec<String> = (0..70_000).map(|i| format!("\"k{i}\":{i}")).collect();
    let big = format!("{{{}}}", members.join(","));
    let page = Bytes::from(format!("[{big},{{\"a\":1}}]"));
    let events = RawEvent::split_array(&page).unwrap();
    assert!(events[0].index.get().is_none());
    assert!(events[1].index.get().is_some());
    let (plain, texts) = walked(&events[0]);
    assert_eq!(texts.len(), 70_000);
    assert_eq!(texts, plain);
    assert!(events[0].index.get().is_none(), "a walk cannot index it either");
}
