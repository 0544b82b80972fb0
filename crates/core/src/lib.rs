//! # logcrawl-core
//!
//! The vendor-neutral heart of logcrawl: what a log record is, how a stream of them is produced, where
//! they go, and the runtime that moves them with at-least-once delivery.
//!
//! The model is Datadog's `LogCrawlerCheck`: a [`Connector`] (one configured vendor account) owns
//! [`LogStream`]s; a stream's [`LogStream::records`] takes the last committed [`Cursor`] and lazily
//! yields [`LogRecord`]`{ data, cursor }`. Where the Python check writes the cursor as soon as a record is
//! *handed over* (and so loses data when the hand-over later fails), the [`Crawler`] here commits a
//! cursor to the [`CheckpointStore`] only after the [`Sink`] acknowledged that record and every record
//! before it in the same stream. A crash between acknowledgement and commit re-sends at most the batches
//! that were in flight.
//!
//! Nothing here knows a vendor or a backend: connectors live in `connectors/*`, sinks in `crates/sink-*`,
//! and the shared HTTP client in `logcrawl-http`.
//!
//! | Item | Role |
//! |---|---|
//! | [`LogRecord`], [`Cursor`] | a record and its resume point |
//! | [`RawEvent`], [`raw_members`], [`raw_member`], [`raw_text`], [`raw_str_at`] | a vendor event kept as the JSON it arrived in, shared with its page, and its members read without a tree |
//! | [`ObjectWriter`] | one JSON object written member by member, serialized values and verbatim JSON side by side |
//! | [`LogStream`], [`Connector`] | produce records (implement these for a new vendor) |
//! | [`Sink`] | deliver batches and acknowledge them (implement for a new backend) |
//! | [`CheckpointStore`], [`FileCheckpointStore`] | durable cursors, crash-safe by atomic replace |
//! | [`Crawler`] | schedules streams, batches, commits in order, shuts down cleanly |
//! | [`LeaseGate`], [`LocalLeases`] | which streams this worker may run when several share one store |
//! | [`CrawlStats`], [`StreamStats`] | live totals, run-lateness histograms, and each stream's counters and health |
//! | [`metric`] | the name, kind and help of every exported metric |
//! | [`labels`] | which stream the current task works for, for metrics far from the crawler |
//! | [`ConnectorKind`], [`SinkKind`], [`BuildContext`] | how the CLI builds a component from configuration |
//! | [`config`]: [`ConfigError`], [`HttpSettings`], [`DeliverySettings`], [`ComponentTable`](config::ComponentTable) | configuration every component shares |

pub mod build;
pub mod checkpoint;
pub mod config;
pub mod crawler;
pub mod deadletter;
pub mod labels;
pub mod lease;
pub mod metric;
pub mod object;
pub mod raw;
pub mod record;
pub mod sink;
pub mod stats;
pub mod stream;

pub use build::{BuildContext, ComponentKind, ConnectorKind, SinkKind};
/// The shared string type of [`RawEvent::share`], re-exported so that connectors need not pin it.
pub use bytestring::ByteString;
pub use checkpoint::{
    CheckpointError, CheckpointStore, FileCheckpointStore, MemoryCheckpointStore, ReadOnlyStore, StreamKey,
};
pub use config::{ConfigError, DeliverySettings, HttpSettings};
pub use crawler::{
    CrawlReport, Crawler, DEFAULT_INTERVAL, FailureStage, RunFailure, RunOutcome, Source, StreamRunReport, StreamTotals,
};
pub use lease::{LeaseGate, LocalLeases, RunPermit};
pub use object::ObjectWriter;
pub use raw::{MemberValue, RawEvent, raw_member, raw_members, raw_scalar, raw_str_at, raw_text, raw_value};
pub use record::{Cursor, Fields, LogRecord, RecordCursor, epoch_seconds, now_seconds};
pub use sink::{
    Batch, BatchLimits, Delivery, MAX_BATCHES_HOLDING_RECORDS, RecordsHold, Sink, SinkError, SinkErrorKind, SourceMeta,
};
pub use stats::{CrawlStats, Health, Histogram, StreamStats};
pub use stream::{Connector, Fatality, LogStream, RecordStream, StreamError, StreamErrorKind};

/// Re-exported so connectors and sinks name one secret type.
pub use secrecy::{ExposeSecret, SecretString};
