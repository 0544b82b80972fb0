//! From records to LTS request bodies: times, log lines, truncation, chunking.

use std::collections::BTreeMap;
use std::io::Write;

use logcrawl_core::{Fields, LogRecord};
use serde_json::Value;

use crate::config::Mode;

/// Longest log line LTS accepts through the API (1 MB, "Basic Resource Constraints"), in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Appended to a line cut at [`MAX_LINE_BYTES`]; the number is the original length in bytes.
pub const TRUNCATION_MARKER: &str = "…[truncated by logcrawl; original length ";

/// Nanoseconds in a day: the time window LTS keeps (±24 h of now).
pub(crate) const DAY_NS: i64 = 24 * 3600 * 1_000_000_000;

/// One record, ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub(crate) time_ns: i64,
    /// The JSON fragment this entry contributes to `contents` (an object in high-precision mode, a string
    /// in batch mode).
    pub(crate) fragment: String,
}

/// The record's time in nanoseconds: its `timestamp` (seconds since the epoch, integer or float, or an
/// RFC 3339 string), or `now_ns` when it has none or it cannot be read.
pub(crate) fn record_time_ns(data: &Fields, now_ns: i64) -> i64 {
    let from_seconds = |secs: f64| -> Option<i64> {
        if !secs.is_finite() {
            return None;
        }
        let whole = secs.floor();
        let nanos = ((secs - whole) * 1e9).round() as i64;
        let whole = if whole.abs() < 1e11 { whole as i64 } else { return None };
        whole.checked_mul(1_000_000_000)?.checked_add(nanos)
    };
    let time = match data.get("timestamp") {
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(secs), _) => secs.checked_mul(1_000_000_000),
            (None, Some(secs)) => from_seconds(secs),
            _ => None,
        },
        Some(Value::String(text)) => {
            text.parse::<jiff::Timestamp>().ok().and_then(|ts| i64::try_from(ts.as_nanosecond()).ok())
        }
        _ => None,
    };
    time.unwrap_or(now_ns)
}

/// Whether `time_ns` is inside the ±24 h window LTS stores.
pub(crate) fn in_window(time_ns: i64, now_ns: i64) -> bool {
    time_ns >= now_ns.saturating_sub(DAY_NS) && time_ns <= now_ns.saturating_add(DAY_NS)
}

/// The record's data as one JSON line, cut to [`MAX_LINE_BYTES`] with a marker when longer.
pub(crate) fn log_line(record: &LogRecord) -> String {
    let mut line = Vec::new();
    if record.write_json(&mut line, |_| false).is_err() {
        // A raw event that is not a JSON object (a connector bug): send the attributes alone.
        line.clear();
        serde_json::to_writer(&mut line, &record.data).expect("a JSON map always serialises");
    }
    truncate_line(String::from_utf8(line).expect("serde_json writes UTF-8"))
}

pub(crate) fn truncate_line(mut line: String) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let original = line.len();
    let marker = format!("{TRUNCATION_MARKER}{original} bytes]");
    let mut cut = MAX_LINE_BYTES - marker.len();
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    line.truncate(cut);
    line.push_str(&marker);
    line
}

/// The entry of one record in `mode`.
pub(crate) fn entry(mode: Mode, time_ns: i64, line: &str) -> Entry {
    let quoted = Value::String(line.to_owned()).to_string();
    let fragment = match mode {
        Mode::HighPrecision => format!("{{\"log_time_ns\":{time_ns},\"log\":{quoted}}}"),
        Mode::Batch => quoted,
    };
    Entry { time_ns, fragment }
}

/// Bytes a request with `entries` takes beyond the entries themselves: braces, keys, labels, time.
pub(crate) fn overhead(labels_json: &str) -> usize {
    // `{"log_time_ns":<up to 20 characters>,"contents":[],"labels":}` is 60 bytes; round up.
    64 + labels_json.len()
}

/// Splits `entries` into runs of at most `max_records` entries and `max_bytes` body bytes (an entry larger
/// than the budget on its own travels alone).
pub(crate) fn chunks(
    entries: &[Entry],
    labels_json: &str,
    max_bytes: usize,
    max_records: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut size = overhead(labels_json);
    for (i, entry) in entries.iter().enumerate() {
        let add = entry.fragment.len() + 1;
        if i > start && (i - start >= max_records || size + add > max_bytes) {
            ranges.push(start..i);
            start = i;
            size = overhead(labels_json);
        }
        size += add;
    }
    if start < entries.len() {
        ranges.push(start..entries.len());
    }
    ranges
}

/// The JSON body for `entries` (non-empty).
pub(crate) fn body(mode: Mode, entries: &[Entry], labels_json: &str) -> Vec<u8> {
    let size: usize = entries.iter().map(|e| e.fragment.len() + 1).sum::<usize>() + overhead(labels_json);
    let mut out = String::with_capacity(size);
    out.push('{');
    if mode == Mode::Batch {
        out.push_str(&format!("\"log_time_ns\":{},", entries.first().map_or(0, |e| e.time_ns)));
    }
    out.push_str("\"contents\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&entry.fragment);
    }
    out.push_str("],\"labels\":");
    out.push_str(labels_json);
    out.push('}');
    out.into_bytes()
}

/// The labels object as JSON.
pub(crate) fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| String::from("{}"))
}

/// gzip of `data`.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::default());
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn times_from_integers_floats_strings_and_absence() {
        let now = 1_722_958_617_000_000_000;
        assert_eq!(record_time_ns(&fields(json!({"timestamp": 1722958600})), now), 1_722_958_600_000_000_000);
        assert_eq!(record_time_ns(&fields(json!({"timestamp": 1722958600.25})), now), 1_722_958_600_250_000_000);
        assert_eq!(
            record_time_ns(&fields(json!({"timestamp": "2024-08-06T15:36:40.5Z"})), now),
            1_722_958_600_500_000_000
        );
        assert_eq!(record_time_ns(&fields(json!({"message": "no time"})), now), now);
        assert_eq!(record_time_ns(&fields(json!({"timestamp": "garbage"})), now), now);
        assert_eq!(record_time_ns(&fields(json!({"timestamp": 1e300})), now), now);
    }

    #[test]
    fn the_log_line_is_the_whole_record_with_its_raw_event() {
        let raw = |text: &str| serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
        let data = fields(json!({"message": "m", "uuid": "u1"}));
        let record = LogRecord::new(data.clone()).with_raw(raw(r#"{"message":"old","actor":{"id":"a1"}}"#));
        assert_eq!(log_line(&record), r#"{"message":"m","uuid":"u1","actor":{"id":"a1"}}"#);
        assert_eq!(log_line(&LogRecord::new(data.clone())), serde_json::to_string(&data).unwrap());
        assert_eq!(log_line(&LogRecord::new(data).with_raw(raw("[]"))), r#"{"message":"m","uuid":"u1"}"#);
    }

    #[test]
    fn window_is_a_day_each_way() {
        let now = 1_722_958_617_000_000_000;
        assert!(in_window(now - DAY_NS, now));
        assert!(!in_window(now - DAY_NS - 1, now));
        assert!(in_window(now + DAY_NS, now));
        assert!(!in_window(now + DAY_NS + 1, now));
    }

    #[test]
    fn long_lines_are_cut_with_a_marker_on_a_char_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES); // 2 MiB
        let cut = truncate_line(line);
        assert!(cut.len() <= MAX_LINE_BYTES);
        assert!(
            cut.ends_with(&format!("{TRUNCATION_MARKER}{} bytes]", 2 * MAX_LINE_BYTES)),
            "{}",
            &cut[cut.len() - 80..]
        );
        let short = "x".repeat(MAX_LINE_BYTES);
        assert_eq!(truncate_line(short.clone()), short);
    }

    #[test]
    fn bodies_of_both_modes() {
        let labels = labels_json(&BTreeMap::from([("env".to_owned(), "prod".to_owned())]));
        let entries = vec![entry(Mode::HighPrecision, 5, "{\"a\":1}"), entry(Mode::HighPrecision, 7, "b")];
        let hp: Value = serde_json::from_slice(&body(Mode::HighPrecision, &entries, &labels)).unwrap();
        assert_eq!(
            hp,
            json!({"contents": [{"log_time_ns": 5, "log": "{\"a\":1}"}, {"log_time_ns": 7, "log": "b"}], "labels": {"env": "prod"}})
        );
        let entries = vec![entry(Mode::Batch, 5, "a"), entry(Mode::Batch, 7, "b")];
        let batch: Value = serde_json::from_slice(&body(Mode::Batch, &entries, &labels)).unwrap();
        assert_eq!(batch, json!({"log_time_ns": 5, "contents": ["a", "b"], "labels": {"env": "prod"}}));
    }

    #[test]
    fn chunks_respect_bytes_and_counts() {
        let labels = "{}";
        let entries: Vec<Entry> = (0..10).map(|i| entry(Mode::Batch, i, &"x".repeat(98))).collect(); // 100 bytes each
        assert_eq!(chunks(&entries, labels, 1 << 20, 4), vec![0..4, 4..8, 8..10]);
        let budget = overhead(labels) + 3 * 101;
        assert_eq!(chunks(&entries, labels, budget, 100), vec![0..3, 3..6, 6..9, 9..10]);
        for range in chunks(&entries, labels, budget, 100) {
            assert!(body(Mode::Batch, &entries[range], labels).len() <= budget);
        }
        // An entry over the budget travels alone.
        let big =
            vec![entry(Mode::Batch, 0, "a"), entry(Mode::Batch, 1, &"y".repeat(5000)), entry(Mode::Batch, 2, "c")];
        assert_eq!(chunks(&big, labels, 1024, 100), vec![0..1, 1..2, 2..3]);
    }
}
