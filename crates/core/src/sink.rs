//! Where records go: the [`Sink`] trait, its batches and its verdicts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::record::LogRecord;

/// What a sink knows about the source a batch comes from: the seed's instance tags, `source` and `service`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceMeta {
    /// The configured source name (the checkpoint key's first half).
    pub name: String,
    /// The connector kind (`acme`, `okta`, …).
    pub connector: String,
    /// The log `source` (Datadog `ddsource`), lowercase; defaults to the connector kind.
    pub ddsource: String,
    /// The log `service`, lowercase; defaults to `ddsource`.
    pub service: String,
    /// User tags (`key:value`) configured on the source.
    pub tags: Vec<String>,
    /// Optional `hostname` attribute.
    pub hostname: Option<String>,
}

impl SourceMeta {
    /// The instance tags the way Datadog's `AgentCheck.formatted_tags` renders them: only `key:value`
    /// tags, de-duplicated, sorted, joined with `,`. `None` when there are none.
    pub fn formatted_tags(&self) -> Option<String> {
        let mut tags: Vec<&str> = self
            .tags
            .iter()
            .map(String::as_str)
            .filter(|tag| tag.split_once(':').is_some_and(|(k, v)| !k.is_empty() && !v.is_empty()))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        (!tags.is_empty()).then(|| tags.join(","))
    }
}

/// Records handed to a sink in one call. The sink owns them for the call's duration.
#[derive(Debug)]
pub struct Batch {
    /// The source the records come from.
    pub source: Arc<SourceMeta>,
    /// The stream within that source.
    pub stream: Arc<str>,
    /// The records, in stream order.
    pub records: Vec<LogRecord>,
    /// The batch's place in the crawler's budget of batches whose records are in memory. A sink drops it
    /// as soon as it no longer needs the records (once they are encoded), so that the crawler can fetch
    /// and cut the next batch while this one waits for the backend (see [`RecordsHold`]).
    pub hold: RecordsHold,
}

impl Batch {
    /// A batch of `records` outside any budget (tests, tools).
    pub fn new(source: Arc<SourceMeta>, stream: Arc<str>, records: Vec<LogRecord>) -> Self {
        Self { source, stream, records, hold: RecordsHold::default() }
    }
}

/// A slot of a stream's budget of batches whose records are in memory; dropping it frees the slot.
///
/// A stream keeps up to [`Sink::max_in_flight`] batches in flight, but only [`MAX_BATCHES_HOLDING_RECORDS`]
/// of them may still hold their records: a batch of 1000 vendor events is megabytes as records and a
/// tenth of that encoded and compressed. A sink that encodes a batch and then waits for its backend drops
/// the hold right after encoding, and memory stays at two batches of records however many requests are
/// in flight. A sink that keeps the hold until the backend answered (by keeping the whole [`Batch`]) is
/// still correct, but gets at most that many batches in flight.
#[derive(Debug, Default)]
pub struct RecordsHold {
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl RecordsHold {
    pub(crate) fn new(slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        Self { _slot: Some(slot) }
    }
}

/// How many batches of one stream may hold their records at once (see [`RecordsHold`]).
pub const MAX_BATCHES_HOLDING_RECORDS: usize = 2;

/// A sink's acknowledgement: every record of the batch was accepted, dropped by rule, or set aside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records the backend accepted.
    pub accepted: usize,
    /// Records the sink never sends by rule (too old for the backend, no message): reported and counted.
    pub dropped: usize,
    /// Records the backend refused on their own while accepting others, written to the sink's
    /// dead-letter file (see [`crate::deadletter`]): out of the stream, not lost.
    pub dead_lettered: usize,
}

impl Delivery {
    /// A delivery in which all `count` records were accepted.
    pub fn accepted(count: usize) -> Self {
        Self { accepted: count, ..Self::default() }
    }

    /// Every record accounted for: accepted, dropped or dead-lettered.
    pub fn total(&self) -> usize {
        self.accepted + self.dropped + self.dead_lettered
    }
}

impl std::ops::AddAssign for Delivery {
    fn add_assign(&mut self, rhs: Self) {
        self.accepted += rhs.accepted;
        self.dropped += rhs.dropped;
        self.dead_lettered += rhs.dead_lettered;
    }
}

/// How many records to gather before a send, and how long to wait for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records per batch.
    pub max_records: usize,
    /// How long a partial batch may wait for more records while the stream is slow.
    pub linger: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self { max_records: 1000, linger: Duration::from_secs(1) }
    }
}

/// How bad a sink failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// The sink gave up after its retries; the run ends and the next one re-sends from the last commit.
    Retryable,
    /// The backend refuses this sink's credentials or configuration: the stream whose batch it was stops
    /// (the next one to send through the sink meets the same answer and stops too).
    Fatal,
}

/// A batch the sink could not deliver. Nothing of it is acknowledged.
#[derive(Debug)]
pub struct SinkError {
    kind: SinkErrorKind,
    message: String,
}

impl SinkError {
    /// A failure a later attempt may not hit.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Retryable, message: message.into() }
    }

    /// A failure that stops the sink.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Fatal, message: message.into() }
    }

    /// How bad it is.
    pub fn kind(&self) -> SinkErrorKind {
        self.kind
    }

    /// Whether the sink must stop.
    pub fn is_fatal(&self) -> bool {
        self.kind == SinkErrorKind::Fatal
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SinkError {}

/// A log backend. A sink acknowledges a batch (returns `Ok`) only when every record in it was accepted
/// by the backend or dropped by a documented rule; only then does the runtime commit the batch's cursor.
pub trait Sink: Send + Sync {
    /// The sink's configured name, for logs and errors.
    fn name(&self) -> &str;

    /// Records older than this are never sent (the backend would reject them); they are skipped and counted.
    fn max_age(&self) -> Option<Duration> {
        None
    }

    /// Records further than this in the future are never sent; they are skipped and counted.
    fn max_future(&self) -> Option<Duration> {
        None
    }

    /// Batching the runtime should apply before calling [`Sink::send`].
    fn batch_limits(&self) -> BatchLimits {
        BatchLimits::default()
    }

    /// How many batches of one stream may be in flight at once. Cursors are still committed in order. Of
    /// these, at most [`MAX_BATCHES_HOLDING_RECORDS`] may still hold their records: drop [`Batch::hold`]
    /// once the records are encoded to use the rest.
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Delivers a batch, retrying by the sink's own policy, and returns the verdict.
    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_tags_match_the_agent() {
        let meta = SourceMeta {
            tags: vec!["foo:bar".into(), "baz:qux".into(), "bare".into(), "foo:bar".into()],
            ..SourceMeta::default()
        };
        assert_eq!(meta.formatted_tags().as_deref(), Some("baz:qux,foo:bar"));
        assert_eq!(SourceMeta::default().formatted_tags(), None);
    }
}
