//! The unit of data: a log record and the cursor that marks its place in a stream.

use serde_json::{Map, Value};

/// An opaque, JSON-encoded position in a stream, understood only by the stream that produced it.
///
/// It is what gets checkpointed: Okta's `next` URL plus the last `uuid`s, an Auth0 `log_id`, the ACME
/// API's `after` token. The runtime never looks inside.
pub type Cursor = Value;

/// The attributes of a log record: a JSON object.
pub type Fields = Map<String, Value>;

/// One log record and the cursor that resumes the stream right after it.
///
/// Mirrors Datadog's `LogRecord(data, cursor=...)`. `data` carries `message` (required by most sinks),
/// `timestamp` in seconds since the Unix epoch (float or integer), `status`, and any attributes.
/// A record whose `cursor` is `None` does not move the checkpoint, as in Datadog's `send_log`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The log itself.
    pub data: Fields,
    /// Where the stream resumes after this record, or `None` to leave the checkpoint where it is.
    pub cursor: Option<Cursor>,
}

impl LogRecord {
    /// A record with the given attributes and no cursor.
    pub fn new(data: Fields) -> Self {
        Self { data, cursor: None }
    }

    /// Sets the cursor that resumes the stream right after this record.
    #[must_use]
    pub fn with_cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The `message` attribute, when it is a string.
    pub fn message(&self) -> Option<&str> {
        self.data.get("message").and_then(Value::as_str)
    }

    /// The `timestamp` attribute in seconds since the Unix epoch, when it is a number.
    pub fn timestamp(&self) -> Option<f64> {
        self.data.get("timestamp").and_then(Value::as_f64)
    }
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_read_message_and_timestamp() {
        let Value::Object(data) = json!({"message": "hi", "timestamp": 1722958617.25}) else { unreachable!() };
        let record = LogRecord::new(data).with_cursor(json!({"n": 1}));
        assert_eq!(record.message(), Some("hi"));
        assert_eq!(record.timestamp(), Some(1722958617.25));
        assert_eq!(record.cursor, Some(json!({"n": 1})));
    }

    #[test]
    fn millisecond_timestamps_convert_exactly() {
        let ts: jiff::Timestamp = "2026-11-22T00:54:14.715Z".parse().unwrap();
        assert_eq!(epoch_seconds(ts).to_string(), "1795308854.715");
        assert_eq!((epoch_seconds(ts) * 1000.0) as i64, 1_795_308_854_715);
    }

    #[test]
    fn non_string_message_is_none() {
        let Value::Object(data) = json!({"message": 3}) else { unreachable!() };
        assert_eq!(LogRecord::new(data).message(), None);
    }
}
