//! The unit of data: a log record and the cursor that marks its place in a stream.

use std::ops::ControlFlow;

use serde_json::{Map, Value};

use crate::object::ObjectWriter;
use crate::raw::RawEvent;

/// An opaque, JSON-encoded position in a stream, understood only by the stream that produced it.
///
/// It is what gets checkpointed: Okta's `next` URL plus the last `uuid`s, an Auth0 `log_id`, the ACME
/// API's `after` token. The runtime never looks inside.
pub type Cursor = Value;

/// A record's resume point as the crawler holds it: ready JSON, or deferred — built only if this is the
/// record whose cursor gets committed.
///
/// The crawler keeps one cursor per batch (the last one), so a connector that builds a JSON cursor for
/// every record throws all but one away: for Okta a map with the page URL, ~0.85 kB and six allocations
/// per event. A deferred cursor holds what is needed to build it (typically an `Arc` of the page's URL
/// and an index) and builds it at commit time, off the hot path.
#[derive(Clone)]
pub enum RecordCursor {
    /// The cursor itself.
    Ready(Cursor),
    /// Builds the cursor when it is needed.
    Deferred(std::sync::Arc<dyn Fn() -> Cursor + Send + Sync>),
}

impl RecordCursor {
    /// A cursor built by `build` only when the crawler commits it.
    pub fn deferred(build: impl Fn() -> Cursor + Send + Sync + 'static) -> Self {
        Self::Deferred(std::sync::Arc::new(build))
    }

    /// The cursor as JSON (built now if it was deferred).
    pub fn to_cursor(&self) -> Cursor {
        match self {
            Self::Ready(cursor) => cursor.clone(),
            Self::Deferred(build) => build(),
        }
    }

    /// The cursor as JSON, consuming it.
    pub fn into_cursor(self) -> Cursor {
        match self {
            Self::Ready(cursor) => cursor,
            Self::Deferred(build) => build(),
        }
    }
}

impl From<Cursor> for RecordCursor {
    fn from(cursor: Cursor) -> Self {
        Self::Ready(cursor)
    }
}

impl std::fmt::Debug for RecordCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_cursor(), f)
    }
}

/// Two cursors are equal when they build the same JSON.
impl PartialEq for RecordCursor {
    fn eq(&self, other: &Self) -> bool {
        self.to_cursor() == other.to_cursor()
    }
}

/// The attributes of a log record: a JSON object.
pub type Fields = Map<String, Value>;

/// One log record and the cursor that resumes the stream right after it.
///
/// Mirrors Datadog's `LogRecord(data, cursor=...)`. `data` carries `message` (required by most sinks),
/// `timestamp` in seconds since the Unix epoch (float or integer), `status`, and any attributes.
/// A record whose `cursor` is `None` does not move the checkpoint, as in Datadog's `send_log`.
///
/// # Raw events
///
/// A connector may keep the vendor's event as the JSON object it arrived in (`raw`, a [`RawEvent`] that
/// shares the response body) instead of parsing it into `data`: building a map per event costs on the
/// order of a hundred allocations, and sinks only write it out again. The record is then `data`'s members followed by raw's top-level members, and
/// **`data` wins** when both have a key. The contract for connectors: everything the runtime or a sink
/// reads — `message`, `timestamp`, `status`, and any id a consumer looks for — is lifted into `data`;
/// the accessors ([`message`](Self::message), [`timestamp`](Self::timestamp)) read `data` only. Sinks
/// write a record with [`write_json`](Self::write_json) (or iterate [`RawEvent::members`]), never by serialising
/// `data` alone.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The log itself (and, with `raw`, the attributes that override or complete the vendor's event).
    pub data: Fields,
    /// Where the stream resumes after this record, or `None` to leave the checkpoint where it is.
    pub cursor: Option<RecordCursor>,
    /// The vendor's event as the JSON object it arrived in: its top-level members are part of the record
    /// after `data`'s, and `data` wins when both have a key.
    pub raw: Option<RawEvent>,
}

impl LogRecord {
    /// A record with the given attributes and no cursor.
    pub fn new(data: Fields) -> Self {
        Self { data, cursor: None, raw: None }
    }

    /// A position: no log, only the cursor to commit once the records before it were delivered (see
    /// [Positions](Self#positions)).
    pub fn position(cursor: impl Into<RecordCursor>) -> Self {
        Self { data: Fields::new(), cursor: Some(cursor.into()), raw: None }
    }

    /// Whether the record is a [position](Self#positions): nothing to deliver, only a cursor.
    pub fn is_position(&self) -> bool {
        self.data.is_empty() && self.raw.is_none()
    }

    /// Sets the vendor's event whose top-level members complete `data` (see [Raw events](Self#raw-events)).
    /// It must be a JSON object.
    #[must_use]
    pub fn with_raw(mut self, raw: impl Into<RawEvent>) -> Self {
        self.raw = Some(raw.into());
        self
    }

    /// Sets the cursor that resumes the stream right after this record.
    #[must_use]
    pub fn with_cursor(mut self, cursor: impl Into<RecordCursor>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// The cursor as JSON, built now if it was deferred (for inspection and tests; the crawler builds
    /// only the one it commits).
    pub fn cursor_value(&self) -> Option<Cursor> {
        self.cursor.as_ref().map(RecordCursor::to_cursor)
    }

    /// The `message` attribute, when it is a string.
    pub fn message(&self) -> Option<&str> {
        self.data.get("message").and_then(Value::as_str)
    }

    /// The `timestamp` attribute in seconds since the Unix epoch, when it is a number.
    pub fn timestamp(&self) -> Option<f64> {
        self.data.get("timestamp").and_then(Value::as_f64)
    }

    /// Appends the record as one JSON object to `out`: `data`'s members, then raw's top-level members
    /// whose key is neither in `data` nor `skip`ped. Without `raw` the bytes are exactly
    /// `serde_json::to_writer(&data)`'s. Fails only when `raw` is not a JSON object (`out` may then hold
    /// part of the object: truncate it).
    pub fn write_json(&self, out: &mut Vec<u8>, skip: impl Fn(&str) -> bool) -> serde_json::Result<()> {
        let mut object = ObjectWriter::begin(out);
        for (key, value) in &self.data {
            object.entry(key, value)?;
        }
        self.write_raw_members(&mut object, |key| !skip(key))?;
        object.end();
        Ok(())
    }

    /// Appends to `object` raw's top-level members whose key is neither in `data` (`data` overrides them)
    /// nor refused by `keep`, in order, copied as they are: how writers put the event's members after
    /// `data`'s. Fails when `raw` is not a JSON object.
    pub fn write_raw_members(
        &self,
        object: &mut ObjectWriter<'_>,
        keep: impl Fn(&str) -> bool,
    ) -> serde_json::Result<()> {
        let Some(raw) = &self.raw else { return Ok(()) };
        // Most of raw's keys are not in `data`: a key whose signature no key of `data` has is not looked
        // up (a map lookup compares strings all the way down, and it is made for each of raw's members).
        let signatures = self.data.keys().fold(0, |all, key| all | key_signature(key));
        let in_data = |key: &str| signatures & key_signature(key) != 0 && self.data.contains_key(key);
        // A compact event whose members are all kept is copied in one piece: the same bytes.
        if let Some((members, mut keys)) = raw.verbatim_members()
            && keys.all(|key| !in_data(key) && keep(key))
        {
            object.verbatim_members(members);
            return Ok(());
        }
        raw.try_member_values(|key, value| {
            if in_data(key) || !keep(key) {
                return Ok(());
            }
            object.event_member(raw, key, value)
        })
    }

    /// Whether the record has the attribute `key`, in `data` or at raw's top level.
    pub fn contains_key(&self, key: &str) -> bool {
        if self.data.contains_key(key) {
            return true;
        }
        let Some(raw) = &self.raw else { return false };
        let mut found = false;
        let walked = raw.member_values(|k, _| {
            found = k == key;
            if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        walked.is_ok() && found
    }

    /// The whole record as one JSON value (`data` merged over raw), for tests and diagnostics: it builds
    /// the tree that `raw` exists to avoid.
    pub fn to_value(&self) -> serde_json::Result<Value> {
        let mut out = Vec::new();
        self.write_json(&mut out, |_| false)?;
        serde_json::from_slice(&out)
    }
}

/// One bit of 64 chosen by a key's length and first byte: keys with different bits differ.
fn key_signature(key: &str) -> u64 {
    let first = key.as_bytes().first().map_or(0, |byte| usize::from(*byte));
    1 << ((key.len() + 7 * first) % 64)
}

/// Seconds since the Unix epoch, as a float, for a `jiff` timestamp.
///
/// Whole milliseconds convert exactly to the nearest float (`…854.715`, not `…854.7150002`), which is
/// what vendors send and what Datadog truncates to.
pub fn epoch_seconds(ts: jiff::Timestamp) -> f64 {
    let nanos = ts.subsec_nanosecond();
    if nanos % 1_000_000 == 0 {
        ts.as_millisecond() as f64 / 1000.0
    } else {
        ts.as_second() as f64 + f64::from(nanos) / 1e9
    }
}

/// Seconds since the Unix epoch now.
pub fn now_seconds() -> f64 {
    epoch_seconds(jiff::Timestamp::now())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_read_message_and_timestamp() {
        let Value::Object(data) = json!({"message": "hi", "timestamp": 1722958617.25}) else { unreachable!() };
        let record = LogRecord::new(data).with_cursor(json!({"n": 1}));
        assert_eq!(record.message(), Some("hi"));
        assert_eq!(record.timestamp(), Some(1722958617.25));
        assert_eq!(record.cursor_value(), Some(json!({"n": 1})));
        let deferred = LogRecord::new(Fields::new()).with_cursor(RecordCursor::deferred(|| json!({"n": 2})));
        assert_eq!(deferred.cursor_value(), Some(json!({"n": 2})));
        assert_eq!(format!("{:?}", deferred.cursor.unwrap()), "Object {\"n\": Number(2)}");
    }

    #[test]
    fn millisecond_timestamps_convert_exactly() {
        let ts: jiff::Timestamp = "2026-11-22T00:54:14.715Z".parse().unwrap();
        assert_eq!(epoch_seconds(ts).to_string(), "1795308854.715");
        assert_eq!((epoch_seconds(ts) * 1000.0) as i64, 1_795_308_854_715);
    }

    fn raw(text: &str) -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string(text.to_owned()).unwrap()
    }

    fn json_of(record: &LogRecord, skip: impl Fn(&str) -> bool) -> String {
        let mut out = Vec::new();
        record.write_json(&mut out, skip).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn without_raw_the_bytes_are_serde_jsons() {
        let Value::Object(data) = json!({"message": "hé \"q\"\n", "n": {"a": [1, 2.5, null]}, "z": true}) else {
            unreachable!()
        };
        let record = LogRecord::new(data.clone());
        assert_eq!(json_of(&record, |_| false), serde_json::to_string(&data).unwrap());
        assert_eq!(json_of(&LogRecord::new(Fields::new()), |_| false), "{}");
    }

    #[test]
    fn data_comes_first_and_wins_and_skipped_keys_are_left_out() {
        let Value::Object(data) = json!({"message": "m", "uuid": "u1"}) else { unreachable!() };
        let record = LogRecord::new(data).with_raw(raw(
            r#" {"uuid": "u1", "message": "raw", "a\"b\u00e9": {"x": [1, {"y": 2}]}, "ddtags": "t", "n": 1.50} "#,
        ));
        let text = json_of(&record, |key| key == "ddtags");
        assert_eq!(text, r#"{"message":"m","uuid":"u1","a\"bé":{"x": [1, {"y": 2}]},"n":1.50}"#);
        assert_eq!(
            record.to_value().unwrap(),
            json!({"message": "m", "uuid": "u1", "a\"bé": {"x": [1, {"y": 2}]}, "ddtags": "t", "n": 1.5})
        );
        assert!(record.contains_key("ddtags") && record.contains_key("message") && !record.contains_key("x"));
        assert_eq!(record.message(), Some("m"));
    }

    #[test]
    fn a_raw_value_that_is_not_an_object_is_an_error() {
        for text in ["[1, 2]", "\"s\"", "3", "null"] {
            let record = LogRecord::new(Fields::new()).with_raw(raw(text));
            assert!(record.write_json(&mut Vec::new(), |_| false).is_err(), "{text}");
            assert!(!record.contains_key("a"));
        }
    }

    fn leaf() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
        ]
    }

    pub(crate) fn object() -> impl proptest::strategy::Strategy<Value = Fields> {
        use proptest::prelude::*;
        let value = leaf().prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-c\"\\\\é]{0,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-e\"\\\\\n é]{0,3}", value, 0..6).prop_map(|m| m.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn merged_output_is_raw_overlaid_with_data(data in object(), event in object(), pretty in proptest::bool::ANY) {
            let text = if pretty { serde_json::to_string_pretty(&event) } else { serde_json::to_string(&event) };
            let record = LogRecord::new(data.clone()).with_raw(raw(&text.unwrap()));
            let mut expected = event.clone();
            expected.extend(data.clone());
            proptest::prop_assert_eq!(record.to_value().unwrap(), Value::Object(expected));
            let skip = |key: &str| key.starts_with('a');
            let mut out = Vec::new();
            record.write_json(&mut out, skip).unwrap();
            // One line, as NDJSON needs, however the vendor laid the event out.
            proptest::prop_assert!(!out.iter().any(|b| matches!(b, b'\n' | b'\r')));
            let mut expected = event;
            expected.retain(|key, _| !skip(key));
            expected.extend(data);
            proptest::prop_assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), Value::Object(expected));

            // An event split with its member index is written to the same bytes, without reading it again.
            let page = bytes::Bytes::from(format!("[{}]", record.raw.as_ref().unwrap().as_str()));
            let indexed = RawEvent::split_array(&page).unwrap().pop().unwrap();
            let mut again = Vec::new();
            LogRecord { raw: Some(indexed), ..record }.write_json(&mut again, skip).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(out).unwrap());
        }
    }

    #[test]
    fn a_compact_event_kept_whole_is_copied_in_one_piece() {
        let page = bytes::Bytes::from_static(br#"[{"a":1,"b":{"c": [2]},"d":"e"},{ "a":1},{"a" :1},{"\u0061":1},{}]"#);
        let events = RawEvent::split_array(&page).unwrap();
        let verbatim: Vec<_> = events.iter().map(|event| event.verbatim_members().map(|(text, _)| text)).collect();
        assert_eq!(verbatim, [Some(r#""a":1,"b":{"c": [2]},"d":"e""#), None, None, None, Some("")]);
        let keys: Vec<_> = events[0].verbatim_members().unwrap().1.collect();
        assert_eq!(keys, ["a", "b", "d"]);

        let written = |data: Value, event: &RawEvent, skip: &dyn Fn(&str) -> bool| {
            let Value::Object(data) = data else { unreachable!() };
            let mut out = Vec::new();
            LogRecord::new(data).with_raw(event.clone()).write_json(&mut out, skip).unwrap();
            String::from_utf8(out).unwrap()
        };
        let none = |_: &str| false;
        assert_eq!(written(json!({"x": 1}), &events[0], &none), r#"{"x":1,"a":1,"b":{"c": [2]},"d":"e"}"#);
        assert_eq!(written(json!({}), &events[0], &none), r#"{"a":1,"b":{"c": [2]},"d":"e"}"#);
        assert_eq!(written(json!({"x": 1}), &events[4], &none), r#"{"x":1}"#);
        // A member overridden or skipped: written member by member.
        assert_eq!(written(json!({"b": 0}), &events[0], &none), r#"{"b":0,"a":1,"d":"e"}"#);
        assert_eq!(written(json!({}), &events[0], &|key| key == "d"), r#"{"a":1,"b":{"c": [2]}}"#);
    }

    /// A record is moved several times between its stream and its sink; up to 128 bytes the compiler
    /// inlines a move, above it each is a call to `memcpy` (a tenth of okta-ndjson's cycles were in
    /// `memcpy`, record moves among its callers).
    #[test]
    fn a_record_fits_128_bytes() {
        assert!(std::mem::size_of::<LogRecord>() <= 128, "{} bytes", std::mem::size_of::<LogRecord>());
    }

    #[test]
    fn non_string_message_is_none() {
        let Value::Object(data) = json!({"message": 3}) else { unreachable!() };
        assert_eq!(LogRecord::new(data).message(), None);
    }
}
