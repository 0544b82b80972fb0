//! [`ScriptedStream`] and [`ScriptedConnector`]: a vendor whose every run is written out in advance.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use logcrawl_core::{
    Connector, Cursor, Fields, LogRecord, LogStream, RecordStream, StreamError, StreamErrorKind, now_seconds,
};
use serde_json::{Value, json};

/// One item a scripted run yields.
#[derive(Debug, Clone)]
pub enum Step {
    /// A record, yielded as is.
    Record(LogRecord),
    /// A stream error of this kind and message; the run's stream ends after it.
    Fail(StreamErrorKind, String),
}

impl Step {
    /// Record `n`: `{"message": "event n", "n": n, "timestamp": now}` with cursor `{"n": n}`.
    pub fn event(n: u64) -> Self {
        let Value::Object(data) = json!({"message": format!("event {n}"), "n": n, "timestamp": now_seconds()}) else {
            unreachable!("an object literal")
        };
        Step::Record(LogRecord::new(Fields::from(data)).with_cursor(json!({"n": n})))
    }

    /// Records `from..=to` (see [`Step::event`]).
    pub fn events(from: u64, to: u64) -> Vec<Self> {
        (from..=to).map(Self::event).collect()
    }

    /// A transient failure (the run ends, the next one tries again).
    pub fn transient(message: impl Into<String>) -> Self {
        Step::Fail(StreamErrorKind::Transient, message.into())
    }

    fn into_item(self) -> Result<LogRecord, StreamError> {
        match self {
            Step::Record(record) => Ok(record),
            Step::Fail(StreamErrorKind::Fatal, message) => Err(StreamError::fatal(message)),
            Step::Fail(StreamErrorKind::Checkpoint, message) => Err(StreamError::checkpoint(message)),
            Step::Fail(_, message) => Err(StreamError::transient(message)),
        }
    }
}

/// A stream whose runs are scripted: the `k`th call of [`LogStream::records`] yields the `k`th script
/// given to [`then`](Self::then); a call past the last script yields nothing (caught up). It keeps the
/// cursor of every call, so a test sees where the crawler resumed ([`cursors`](Self::cursors)).
#[derive(Debug)]
pub struct ScriptedStream {
    name: String,
    runs: Mutex<VecDeque<Vec<Step>>>,
    cursors: Mutex<Vec<Option<Cursor>>>,
}

impl ScriptedStream {
    /// A stream named `name` with no run scripted yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), runs: Mutex::default(), cursors: Mutex::default() }
    }

    /// Adds the script of the next run.
    #[must_use]
    pub fn then(self, steps: Vec<Step>) -> Self {
        self.runs.lock().expect("script poisoned").push_back(steps);
        self
    }

    /// The cursor each call of `records` was given, in order.
    pub fn cursors(&self) -> Vec<Option<Cursor>> {
        self.cursors.lock().expect("script poisoned").clone()
    }
}

impl LogStream for ScriptedStream {
    fn name(&self) -> &str {
        &self.name
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.cursors.lock().expect("script poisoned").push(cursor);
        let steps = self.runs.lock().expect("script poisoned").pop_front().unwrap_or_default();
        let mut items = Vec::with_capacity(steps.len());
        for step in steps {
            let failed = matches!(step, Step::Fail(..));
            items.push(step.into_item());
            if failed {
                break;
            }
        }
        Box::pin(futures::stream::iter(items))
    }
}

/// A connector of the given streams.
#[derive(Debug)]
pub struct ScriptedConnector {
    kind: String,
    streams: Vec<Arc<ScriptedStream>>,
}

impl ScriptedConnector {
    /// A connector of kind `kind` exposing `streams`.
    pub fn new(kind: impl Into<String>, streams: Vec<Arc<ScriptedStream>>) -> Self {
        Self { kind: kind.into(), streams }
    }
}

impl Connector for ScriptedConnector {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.iter().map(|s| s.clone() as Arc<dyn LogStream>).collect()
    }
}

/// One run of a stream read to its end without a crawler: every record it yielded (positions included)
/// and the error that ended it, if one did.
#[derive(Debug, Default)]
pub struct Drained {
    /// The records, in order.
    pub records: Vec<LogRecord>,
    /// The error that ended the run.
    pub error: Option<StreamError>,
}

impl Drained {
    /// The records that are logs (not [positions](LogRecord::position)).
    pub fn logs(&self) -> impl Iterator<Item = &LogRecord> {
        self.records.iter().filter(|record| !record.is_position())
    }

    /// The string attribute `key` of every log record (`""` where it is missing).
    pub fn field(&self, key: &str) -> Vec<String> {
        self.logs().map(|r| r.data.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()).collect()
    }

    /// The cursor of the last record that carries one: what a crawler would commit at the end.
    pub fn last_cursor(&self) -> Option<Cursor> {
        self.records.iter().rev().find_map(LogRecord::cursor_value)
    }
}

/// Runs `stream` from `cursor` to its end (see [`Drained`]).
pub async fn drain(stream: &dyn LogStream, cursor: Option<Cursor>) -> Drained {
    use futures::StreamExt;
    let mut records = stream.records(cursor);
    let mut drained = Drained::default();
    while let Some(item) = records.next().await {
        match item {
            Ok(record) => drained.records.push(record),
            Err(err) => {
                drained.error = Some(err);
                break;
            }
        }
    }
    drained
}
