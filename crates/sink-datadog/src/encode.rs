//! Turning records into intake payloads: `send_log` field mapping, truncation, size and count limits.
//!
//! Each entry is serialized exactly once, by a borrowing view over the record's own map ([`ObjectWriter`]),
//! into a scratch buffer and from there into the request's compressor ([`crate::payload`]): no copy of
//! the map, no intermediate `Value`, no whole uncompressed request. The view adds the source's fields and
//! rewrites `timestamp`; the request remembers where every entry starts and ends so that it can later be
//! split (413) or bisected (400) without serializing again.
//!
//! A record that keeps its vendor event as raw JSON ([`LogRecord::raw`]) is spliced in member by member
//! after `data`'s attributes: `data` wins, and the keys the sink sets itself (`message`, `timestamp`,
//! `ddsource`, `service`, `hostname`, `ddtags`, the truncation markers) are never taken from the raw
//! event. The raw part counts toward the entry's size like any other attribute.

use std::time::Duration;

use logcrawl_core::{LogRecord, ObjectWriter, SourceMeta};
use serde_json::Value;

use crate::payload::{Builder, Codec, Packed};

/// The attribute set to `true` on an entry whose message was cut.
pub const TRUNCATED_KEY: &str = "logcrawl.truncated";

/// The attribute holding the serialized size of an entry before it was cut.
pub const ORIGINAL_BYTES_KEY: &str = "logcrawl.original_bytes";

/// Keys the sink sets itself; user tags never become attributes under these names.
const RESERVED: &[&str] =
    &["message", "timestamp", "status", "ddsource", "service", "hostname", "ddtags", TRUNCATED_KEY, ORIGINAL_BYTES_KEY];

/// What the sink adds to every entry of a batch, derived once per batch from the source.
#[derive(Debug, Clone, Default)]
pub(crate) struct Common {
    ddsource: Option<String>,
    service: Option<String>,
    hostname: Option<String>,
    ddtags: Option<String>,
    tag_attributes: Vec<(String, Value)>,
}

impl Common {
    /// `ddsource`/`service` lowercased from the source; `hostname` from the source, else the sink's;
    /// `ddtags` as the Agent formats instance tags; tags as attributes when asked for.
    pub(crate) fn new(meta: &SourceMeta, sink_hostname: Option<&str>, tag_attributes: bool) -> Self {
        let non_empty = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_lowercase())
        };
        let hostname =
            meta.hostname.as_deref().or(sink_hostname).map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned);
        let mut attributes: Vec<(String, Value)> = Vec::new();
        if tag_attributes {
            let mut tags: Vec<(&str, &str)> = meta
                .tags
                .iter()
                .filter_map(|tag| tag.split_once(':'))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !RESERVED.contains(k))
                .collect();
            tags.sort_unstable();
            tags.dedup();
            for (key, value) in tags {
                match attributes.last_mut() {
                    Some((last, existing)) if last == key => match existing {
                        Value::Array(values) => values.push(Value::from(value)),
                        other => *other = Value::Array(vec![other.take(), Value::from(value)]),
                    },
                    _ => attributes.push((key.to_owned(), Value::from(value))),
                }
            }
        }
        Self {
            ddsource: non_empty(&meta.ddsource),
            service: non_empty(&meta.service),
            hostname,
            ddtags: meta.formatted_tags(),
            tag_attributes: attributes,
        }
    }
}

/// Seconds since the epoch → integer milliseconds, truncated like the Agent's `int(timestamp * 1000)`.
pub(crate) fn timestamp_ms(value: &Value) -> Option<i64> {
    let Value::Number(n) = value else { return None };
    if let Some(secs) = n.as_i64() {
        return Some(secs.saturating_mul(1000));
    }
    if let Some(secs) = n.as_u64() {
        return Some(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000));
    }
    // `as` truncates toward zero and saturates, as Python's int() truncates.
    n.as_f64().map(|secs| (secs * 1000.0) as i64)
}

/// Keys of a raw event the sink never copies: it sets them itself, from `data` or the source.
const NOT_FROM_RAW: &[&str] = &["message", "timestamp", "ddsource", "service", "hostname", "ddtags"];

/// A borrowing view of one record as an intake entry.
struct Entry<'a> {
    record: &'a LogRecord,
    common: &'a Common,
    /// Replaces the record's `message` (a cut message, or a non-string message rendered as text).
    message: Option<&'a str>,
    /// Set when the entry was cut: its original serialized size.
    truncated_from: Option<usize>,
    /// Keep only the reserved fields (the last resort for an entry whose attributes alone are too large).
    minimal: bool,
}

impl Entry<'_> {
    /// Appends the entry to `out` as one JSON object (on an error `out` holds part of it: truncate it).
    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let common = self.common;
        let mut map = ObjectWriter::begin(out);
        let mut has_tags = false;
        let mut has_message = false;
        let data = &self.record.data;
        for (key, value) in data {
            match key.as_str() {
                "message" => {
                    has_message = true;
                    match self.message {
                        Some(message) => map.entry(key, message)?,
                        None => map.entry(key, value)?,
                    }
                }
                "timestamp" => match timestamp_ms(value) {
                    Some(ms) => map.entry(key, &ms)?,
                    None => map.entry(key, value)?,
                },
                "ddsource" | "service" => {}
                "hostname" if common.hostname.is_some() => {}
                "ddtags" => {
                    has_tags = true;
                    map.entry(key, value)?;
                }
                "status" | "hostname" => map.entry(key, value)?,
                TRUNCATED_KEY | ORIGINAL_BYTES_KEY if self.truncated_from.is_some() => {}
                _ if self.minimal => {}
                _ => map.entry(key, value)?,
            }
        }
        self.record.write_raw_members(&mut map, |key| match key {
            _ if NOT_FROM_RAW.contains(&key) => false,
            "status" => true,
            TRUNCATED_KEY | ORIGINAL_BYTES_KEY if self.truncated_from.is_some() => false,
            _ => !self.minimal,
        })?;
        if !has_message && let Some(message) = self.message {
            map.entry("message", message)?;
        }
        if let Some(source) = &common.ddsource {
            map.entry("ddsource", source)?;
        }
        if let Some(service) = &common.service {
            map.entry("service", service)?;
        }
        if let Some(hostname) = &common.hostname {
            map.entry("hostname", hostname)?;
        }
        if !has_tags && let Some(tags) = &common.ddtags {
            map.entry("ddtags", tags)?;
        }
        for (key, value) in &common.tag_attributes {
            if !self.record.contains_key(key) {
                map.entry(key, value)?;
            }
        }
        if let Some(original) = self.truncated_from {
            map.entry(TRUNCATED_KEY, &true)?;
            map.entry(ORIGINAL_BYTES_KEY, &original)?;
        }
        map.end();
        Ok(())
    }
}

/// Limits applied while encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodeLimits {
    pub(crate) max_records: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_log_bytes: usize,
    pub(crate) max_age: Duration,
    pub(crate) max_future: Duration,
}

/// Records the sink will not send, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) no_message: usize,
    pub(crate) too_old: usize,
    pub(crate) too_new: usize,
    pub(crate) too_large: usize,
}

impl Dropped {
    pub(crate) fn total(&self) -> usize {
        self.no_message + self.too_old + self.too_new + self.too_large
    }
}

/// A batch turned into requests.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    pub(crate) payloads: Vec<Packed>,
    pub(crate) dropped: Dropped,
    pub(crate) truncated: usize,
}

/// Encodes `records` (taking ownership: maps are serialized in place, never cloned) into request bodies
/// that respect `limits`, encoded with `codec` as they are built, dropping records the intake must not
/// get. `now` is seconds since the epoch.
pub(crate) fn encode(
    records: Vec<LogRecord>,
    common: &Common,
    limits: &EncodeLimits,
    now: f64,
    codec: Codec,
) -> std::io::Result<Encoded> {
    let mut out = Encoded::default();
    let oldest = now - limits.max_age.as_secs_f64();
    let newest = now + limits.max_future.as_secs_f64();
    // An entry is about its raw event (when it has one) plus what the sink and `data` add: sizing the
    // buffer up front saves growing a multi-megabyte buffer by doubling.
    let per_record = 512
        + records.iter().map(|r| r.raw.as_ref().map_or(0, |raw| raw.as_bytes().len())).sum::<usize>()
            / records.len().max(1);
    let estimate = |n: usize| (n * per_record).clamp(4096, limits.max_bytes + 1);
    let mut remaining = records.len();
    let mut builder = Builder::new(codec, estimate(remaining))?;
    // Each entry is written here first, where it can still be cut to size, then appended to the request.
    let mut scratch = Vec::with_capacity(4096);
    for record in records {
        remaining -= 1;
        let data = &record.data;
        let rendered: Option<String> = match data.get("message") {
            None | Some(Value::Null) => {
                out.dropped.no_message += 1;
                continue;
            }
            Some(Value::String(_)) => None,
            Some(other) => Some(other.to_string()),
        };
        if let Some(ts) = data.get("timestamp").and_then(Value::as_f64) {
            if ts < oldest {
                out.dropped.too_old += 1;
                continue;
            }
            if ts > newest {
                out.dropped.too_new += 1;
                continue;
            }
        }
        scratch.clear();
        let message = rendered.as_deref().or_else(|| data.get("message").and_then(Value::as_str)).unwrap_or("");
        let entry =
            Entry { record: &record, common, message: rendered.as_deref(), truncated_from: None, minimal: false };
        if write_entry(&mut scratch, &entry).is_err() {
            out.dropped.too_large += 1;
            continue;
        }
        let size = scratch.len();
        if size > limits.max_log_bytes {
            if fit(&mut scratch, 0, &record, common, message, size, limits.max_log_bytes) {
                out.truncated += 1;
            } else {
                out.dropped.too_large += 1;
                continue;
            }
        }
        let full = builder.len() >= limits.max_records || builder.json_len_with(scratch.len()) > limits.max_bytes;
        if full && builder.len() > 0 {
            let next = Builder::new(codec, estimate(remaining + 1))?;
            out.payloads.push(std::mem::replace(&mut builder, next).finish()?);
        }
        builder.push(&scratch)?;
    }
    if builder.len() > 0 {
        out.payloads.push(builder.finish()?);
    }
    Ok(out)
}

fn write_entry(buf: &mut Vec<u8>, entry: &Entry<'_>) -> serde_json::Result<()> {
    entry.write(buf)
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Rewrites the entry at `buf[start..]` (currently `size` bytes, over `limit`) with its message cut so
/// that it fits, marking it truncated. When the attributes alone are too large, falls back to the
/// reserved fields with the whole original entry, cut, as the message. Returns whether it fits.
fn fit(
    buf: &mut Vec<u8>,
    start: usize,
    record: &LogRecord,
    common: &Common,
    message: &str,
    size: usize,
    limit: usize,
) -> bool {
    if cut_to_fit(buf, start, record, common, message, limit, size, false) {
        return true;
    }
    // Attributes alone exceed the limit: keep what identifies the log and the start of the original.
    let full = Entry { record, common, message: Some(message), truncated_from: None, minimal: false };
    let mut text = Vec::new();
    if full.write(&mut text).is_err() {
        return false;
    }
    // Keys and values come from `str`s and parsed JSON, so the entry is UTF-8.
    let Ok(text) = String::from_utf8(text) else { return false };
    cut_to_fit(buf, start, record, common, &text, limit, size, true)
}

/// Writes the entry at `buf[start..]` with the longest prefix of `message` that keeps it within `limit`
/// bytes. Returns false (and leaves `buf` at `start`) when not even an empty message fits.
#[allow(clippy::too_many_arguments)]
fn cut_to_fit(
    buf: &mut Vec<u8>,
    start: usize,
    record: &LogRecord,
    common: &Common,
    message: &str,
    limit: usize,
    original: usize,
    minimal: bool,
) -> bool {
    let entry = |text| Entry { record, common, message: Some(text), truncated_from: Some(original), minimal };
    buf.truncate(start);
    if write_entry(buf, &entry("")).is_err() || buf.len() - start > limit {
        buf.truncate(start);
        return false;
    }
    let budget = limit - (buf.len() - start);
    let mut keep = escaped_prefix(message, budget);
    loop {
        buf.truncate(start);
        if write_entry(buf, &entry(&message[..keep])).is_err() {
            buf.truncate(start);
            return false;
        }
        let size = buf.len() - start;
        if size <= limit {
            return true;
        }
        // Only reachable if serde_json escaped differently than `escaped_prefix` assumes.
        keep = floor_char_boundary(message, keep.saturating_sub(size - limit));
    }
}

/// The length of the longest prefix of `text` whose JSON-escaped form (as serde_json writes it) takes at
/// most `budget` bytes.
fn escaped_prefix(text: &str, budget: usize) -> usize {
    let mut used = 0;
    for (index, ch) in text.char_indices() {
        let cost = match ch {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + cost > budget {
            return index;
        }
        used += cost;
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use logcrawl_core::now_seconds;
    use serde_json::json;

    use super::*;
    use crate::payload::Payload;

    /// What [`super::encode`] made of a batch, with its requests opened for inspection.
    struct Opened {
        payloads: Vec<Payload>,
        dropped: Dropped,
        truncated: usize,
    }

    /// The sink's encoding without compression (the bodies are the JSON); gzip and zstd are checked on their own.
    fn encode(records: Vec<LogRecord>, common: &Common, limits: &EncodeLimits, now: f64) -> Opened {
        let out = super::encode(records, common, limits, now, Codec::Identity).unwrap();
        Opened {
            payloads: out.payloads.iter().map(|packed| packed.open().unwrap()).collect(),
            dropped: out.dropped,
            truncated: out.truncated,
        }
    }

    fn meta() -> SourceMeta {
        SourceMeta {
            name: "acme-prod".into(),
            connector: "acme".into(),
            ddsource: "ACME".into(),
            service: "Audit".into(),
            tags: vec!["foo:bar".into(), "baz:qux".into(), "bare".into(), "env:a".into(), "env:b".into()],
            hostname: None,
        }
    }

    fn record(value: Value) -> LogRecord {
        let Value::Object(data) = value else { panic!("not an object") };
        LogRecord::new(data)
    }

    fn limits() -> EncodeLimits {
        EncodeLimits {
            max_records: 1000,
            max_bytes: 5_000_000,
            max_log_bytes: 1_000_000,
            max_age: Duration::from_secs(18 * 3600),
            max_future: Duration::from_secs(2 * 3600),
        }
    }

    fn entries(payload: &Payload) -> Vec<Value> {
        let parsed: Value = serde_json::from_slice(payload.json()).unwrap();
        for (i, range) in payload.entries().iter().enumerate() {
            let alone: Value = serde_json::from_slice(&payload.json()[range.clone()]).unwrap();
            assert_eq!(alone, parsed[i], "entry ranges must cover exactly one entry");
        }
        parsed.as_array().unwrap().clone()
    }

    #[test]
    fn timestamps_become_truncated_milliseconds() {
        assert_eq!(timestamp_ms(&json!(1722958617.2842212)), Some(1722958617284));
        assert_eq!(timestamp_ms(&json!(1722958619.2358432)), Some(1722958619235));
        assert_eq!(timestamp_ms(&json!(1722958620.5963688)), Some(1722958620596));
        assert_eq!(timestamp_ms(&json!(1722958620)), Some(1722958620000));
        assert_eq!(timestamp_ms(&json!("2024-08-06T15:36:57Z")), None);
    }

    #[test]
    fn maps_fields_like_send_log() {
        let now = now_seconds();
        let common = Common::new(&meta(), Some("sink-host"), false);
        let records = vec![
            record(
                json!({"message": "a", "timestamp": now, "status": "warn", "ddsource": "evil", "service": "evil", "x": {"y": 1}}),
            ),
            record(json!({"message": "b", "ddtags": "bar:baz"})),
            record(json!({"message": 42})),
        ];
        let out = encode(records, &common, &limits(), now);
        assert_eq!(out.payloads.len(), 1);
        let sent = entries(&out.payloads[0]);
        assert_eq!(sent[0]["timestamp"], json!((now * 1000.0) as i64));
        assert_eq!(sent[0]["status"], "warn");
        assert_eq!(sent[0]["ddsource"], "acme");
        assert_eq!(sent[0]["service"], "audit");
        assert_eq!(sent[0]["hostname"], "sink-host");
        assert_eq!(sent[0]["ddtags"], "baz:qux,env:a,env:b,foo:bar");
        assert_eq!(sent[0]["x"], json!({"y": 1}));
        assert_eq!(sent[1]["ddtags"], "bar:baz");
        assert_eq!(sent[2]["message"], "42");
        assert!(sent[0].get("foo").is_none(), "tags are not attributes unless asked for");
    }

    #[test]
    fn tag_attributes_do_not_override_records_or_reserved_keys() {
        let mut meta = meta();
        meta.tags.push("service:nope".into());
        meta.hostname = Some("source-host".into());
        let common = Common::new(&meta, Some("sink-host"), true);
        let out =
            encode(vec![record(json!({"message": "m", "foo": "mine", "hostname": "rec"}))], &common, &limits(), 0.0);
        let sent = entries(&out.payloads[0]);
        assert_eq!(sent[0]["foo"], "mine");
        assert_eq!(sent[0]["baz"], "qux");
        assert_eq!(sent[0]["env"], json!(["a", "b"]));
        assert_eq!(sent[0]["service"], "audit");
        assert_eq!(sent[0]["hostname"], "source-host");
        assert!(sent[0].get("bare").is_none());
    }

    #[test]
    fn record_hostname_is_kept_when_none_is_configured() {
        let mut meta = meta();
        meta.tags.clear();
        let common = Common::new(&meta, None, false);
        let out = encode(vec![record(json!({"message": "m", "hostname": "rec"}))], &common, &limits(), 0.0);
        let sent = entries(&out.payloads[0]);
        assert_eq!(sent[0]["hostname"], "rec");
        assert!(sent[0].get("ddtags").is_none());
    }

    #[test]
    fn drops_records_without_message_or_outside_the_age_window() {
        let now = now_seconds();
        let common = Common::default();
        let records = vec![
            record(json!({"status": "info"})),
            record(json!({"message": null})),
            record(json!({"message": "old", "timestamp": now - 19.0 * 3600.0})),
            record(json!({"message": "future", "timestamp": now + 3.0 * 3600.0})),
            record(json!({"message": "ok", "timestamp": now - 17.0 * 3600.0})),
        ];
        let out = encode(records, &common, &limits(), now);
        assert_eq!(out.dropped, Dropped { no_message: 2, too_old: 1, too_new: 1, too_large: 0 });
        let sent = entries(&out.payloads[0]);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["message"], "ok");
    }

    #[test]
    fn splits_by_count_and_bytes() {
        let common = Common::default();
        let records: Vec<_> = (0..2500).map(|i| record(json!({"message": format!("m{i}")}))).collect();
        let out = encode(records, &common, &limits(), 0.0);
        let counts: Vec<_> = out.payloads.iter().map(Payload::len).collect();
        assert_eq!(counts, [1000, 1000, 500]);

        let big = "x".repeat(100_000);
        let records: Vec<_> = (0..120).map(|i| record(json!({"message": big, "i": i}))).collect();
        let limits = EncodeLimits { max_bytes: 1_000_000, ..limits() };
        let out = encode(records, &common, &limits, 0.0);
        let mut seen = 0;
        for payload in &out.payloads {
            assert!(payload.json().len() <= 1_000_000, "{}", payload.json().len());
            for entry in entries(payload) {
                assert_eq!(entry["i"], seen);
                seen += 1;
            }
        }
        assert_eq!(seen, 120);
        assert_eq!(out.payloads.len(), 14, "9 entries of ~100 kB fit in 1 MB");
    }

    #[test]
    fn cuts_oversized_messages_at_a_char_boundary() {
        let common = Common::default();
        let message = "é\n".repeat(400_000); // 1.2 MB raw, more once escaped
        let limits = limits();
        let out = encode(vec![record(json!({"message": message, "keep": "me"}))], &common, &limits, 0.0);
        assert_eq!(out.truncated, 1);
        let payload = &out.payloads[0];
        assert!(payload.entries()[0].len() <= limits.max_log_bytes);
        assert!(payload.entries()[0].len() > limits.max_log_bytes - 4, "cut too much: {}", payload.entries()[0].len());
        let sent = entries(payload);
        assert_eq!(sent[0][TRUNCATED_KEY], true);
        assert_eq!(sent[0]["keep"], "me");
        assert!(message.starts_with(sent[0]["message"].as_str().unwrap()));
        assert!(sent[0][ORIGINAL_BYTES_KEY].as_u64().unwrap() > 1_200_000);
    }

    #[test]
    fn oversized_attributes_fall_back_to_the_original_as_message() {
        let common = Common::new(&meta(), None, false);
        let huge = "y".repeat(1_100_000);
        let out = encode(
            vec![record(json!({"message": "short", "blob": huge, "status": "error", "timestamp": 1.5}))],
            &common,
            &limits(),
            2.0,
        );
        assert_eq!(out.truncated, 1);
        let sent = entries(&out.payloads[0]);
        assert!(sent[0].get("blob").is_none());
        assert_eq!(sent[0]["status"], "error");
        assert_eq!(sent[0]["timestamp"], 1500);
        assert_eq!(sent[0]["ddsource"], "acme");
        assert_eq!(sent[0][TRUNCATED_KEY], true);
        let message = sent[0]["message"].as_str().unwrap();
        assert!(message.contains(r#""blob":"yyy"#) && message.len() < 1_000_000, "{}", &message[..100]);
    }

    fn raw_record(data: Value, raw: &str) -> LogRecord {
        record(data).with_raw(serde_json::value::RawValue::from_string(raw.to_owned()).unwrap())
    }

    #[test]
    fn raw_events_complete_the_entry_but_never_set_the_sinks_keys() {
        let common = Common::new(&meta(), None, true);
        let raw = r#"{"message":"raw","timestamp":1,"status":"raw","ddsource":"evil","service":"evil",
            "hostname":"evil","ddtags":"evil:1","uuid":"raw","x":{"y":[1,2]},"foo":"event's",
            "logcrawl.truncated":"event's"}"#;
        let out = encode(
            vec![raw_record(json!({"message": "m", "timestamp": 1.5, "uuid": "u1"}), raw)],
            &common,
            &limits(),
            2.0,
        );
        let sent = entries(&out.payloads[0]);
        let expected = json!({
            "message": "m", "timestamp": 1500, "uuid": "u1", "status": "raw", "x": {"y": [1, 2]},
            "foo": "event's", "logcrawl.truncated": "event's", "ddsource": "acme", "service": "audit",
            "ddtags": "baz:qux,env:a,env:b,foo:bar", "baz": "qux", "env": ["a", "b"],
        });
        assert_eq!(sent[0], expected);
        let text = std::str::from_utf8(out.payloads[0].json()).unwrap();
        assert_eq!(text.matches("\"foo\"").count(), 1, "a tag attribute never duplicates an event key: {text}");
        assert_eq!(text.matches("\"message\"").count(), 1, "{text}");

        // An event split with its member index (copied member by member) makes the same bytes.
        let page = bytes::Bytes::from(format!("[{raw}]"));
        let indexed = logcrawl_core::RawEvent::split_array(&page).unwrap().pop().unwrap();
        let record =
            LogRecord { raw: Some(indexed), ..record(json!({"message": "m", "timestamp": 1.5, "uuid": "u1"})) };
        let again = encode(vec![record], &common, &limits(), 2.0);
        assert_eq!(std::str::from_utf8(again.payloads[0].json()).unwrap(), text);

        // Not an object: a connector bug; the entry is dropped, never sent half-written.
        let out = encode(vec![raw_record(json!({"message": "m"}), "[1]")], &common, &limits(), 2.0);
        assert_eq!(out.dropped.too_large, 1);
        assert!(out.payloads.is_empty());
    }

    /// A compact event whose members the entry all keeps is copied in one piece (the core's verbatim
    /// path): the same entry as writing it member by member.
    #[test]
    fn a_compact_event_kept_whole_makes_the_same_entry() {
        let common = Common::new(&meta(), None, false);
        let raw = r#"{"uuid":"u1","actor":{"id":"a","x":[1,2.5,null]},"severity":"WARN","s":"é\"q"}"#;
        let data = json!({"message": "m", "timestamp": 1.5, "status": "warning"});
        let walked = encode(vec![raw_record(data.clone(), raw)], &common, &limits(), 2.0);
        let page = bytes::Bytes::from(format!("[{raw}]"));
        let indexed = logcrawl_core::RawEvent::split_array(&page).unwrap().pop().unwrap();
        let split = encode(vec![LogRecord { raw: Some(indexed), ..record(data) }], &common, &limits(), 2.0);
        let text = |out: &Opened| std::str::from_utf8(out.payloads[0].json()).unwrap().to_owned();
        assert_eq!(text(&split), text(&walked));
        assert!(text(&split).contains(r#""uuid":"u1","actor":{"id":"a","x":[1,2.5,null]},"severity":"WARN""#));
    }

    #[test]
    fn the_raw_event_counts_toward_the_size_limit() {
        let common = Common::new(&meta(), None, false);
        let big = format!(r#"{{"blob":"{}","keep":"me"}}"#, "z".repeat(600_000));
        let message = "é".repeat(300_000); // 600 kB: the entry is ~1.2 MB only with the raw event
        let out = encode(vec![raw_record(json!({"message": message}), &big)], &common, &limits(), 0.0);
        assert_eq!(out.truncated, 1);
        let payload = &out.payloads[0];
        assert!(payload.entries()[0].len() <= limits().max_log_bytes);
        let sent = entries(payload);
        assert_eq!(sent[0]["keep"], "me");
        assert_eq!(sent[0]["blob"].as_str().unwrap().len(), 600_000);
        assert!(message.starts_with(sent[0]["message"].as_str().unwrap()));
        assert!(sent[0][ORIGINAL_BYTES_KEY].as_u64().unwrap() > 1_200_000);

        let huge = format!(r#"{{"blob":"{}","status":"error"}}"#, "y".repeat(1_100_000));
        let out =
            encode(vec![raw_record(json!({"message": "short", "timestamp": 1.5}), &huge)], &common, &limits(), 2.0);
        assert_eq!(out.truncated, 1);
        assert!(out.payloads[0].entries()[0].len() <= limits().max_log_bytes);
        let sent = entries(&out.payloads[0]);
        assert!(sent[0].get("blob").is_none());
        assert_eq!(sent[0]["status"], "error");
        assert_eq!(sent[0]["timestamp"], 1500);
        let message = sent[0]["message"].as_str().unwrap();
        assert!(message.starts_with(r#"{"message":"short","timestamp":1500,"blob":"yyy"#), "{}", &message[..100]);
    }

    #[test]
    fn escaped_prefix_matches_serde_json() {
        let text = "a\"b\\c\u{1}dé\n€";
        for budget in 0..40 {
            let keep = escaped_prefix(text, budget);
            let written = serde_json::to_string(&text[..keep]).unwrap().len() - 2;
            assert!(written <= budget, "{budget}: {written}");
            if keep < text.len() {
                let next = keep + text[keep..].chars().next().unwrap().len_utf8();
                assert!(serde_json::to_string(&text[..next]).unwrap().len() - 2 > budget);
            }
        }
    }

    #[test]
    fn compressed_bodies_hold_the_same_entries_as_plain_ones() {
        let now = now_seconds();
        let batch = || -> Vec<LogRecord> {
            (0..2500)
                .map(|i| record(json!({"message": format!("m{i} {}", "x".repeat(i % 700)), "timestamp": now})))
                .collect()
        };
        let limits = EncodeLimits { max_bytes: 300_000, ..limits() };
        let plain = super::encode(batch(), &Common::default(), &limits, now, Codec::Identity).unwrap();
        assert!(plain.payloads.len() > 3, "{}", plain.payloads.len());
        for codec in [Codec::Gzip(6), Codec::Zstd(1)] {
            let packed = super::encode(batch(), &Common::default(), &limits, now, codec).unwrap();
            // The size limit counts the uncompressed JSON: the same cuts whatever the codec.
            assert_eq!(plain.payloads.len(), packed.payloads.len(), "{codec:?}");
            for (plain, packed) in plain.payloads.iter().zip(&packed.payloads) {
                assert!(packed.codec() == codec && packed.body().len() < packed.json_len() / 3, "{codec:?}");
                assert_eq!((packed.len(), packed.json_len()), (plain.len(), plain.json_len()));
                assert!(plain.json_len() <= limits.max_bytes);
                let opened = packed.open().unwrap();
                assert_eq!(opened.json(), plain.body());
                assert_eq!(entries(&opened).len(), plain.len());
            }
        }
    }
}
