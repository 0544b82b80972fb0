//! Streams of records and the connectors that own them.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use futures::stream::BoxStream;

use crate::record::{Cursor, LogRecord};

/// A lazily fetched sequence of records: one page in memory at a time.
pub type RecordStream<'a> = BoxStream<'a, Result<LogRecord, StreamError>>;

/// A named, resumable sequence of log records from one vendor API endpoint.
///
/// The Rust form of Datadog's `LogStream.records(cursor)`. Implementations are usually written with
/// `async_stream::try_stream!`: fetch a page, yield its records with their cursors, follow the next
/// page, and end the stream once caught up. Ending the stream is how a run finishes.
pub trait LogStream: Send + Sync {
    /// The stream's name; checkpoints are keyed by `(source name, stream name)`.
    fn name(&self) -> &str;

    /// The records after `cursor`, or from the stream's configured start when `cursor` is `None`.
    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_>;
}

/// One configured vendor account (tenant) and the streams it exposes: the seed's `get_log_streams`.
pub trait Connector: Send + Sync {
    /// The connector's kind, e.g. `acme` or `okta`.
    fn kind(&self) -> &str;

    /// The streams this instance crawls.
    fn streams(&self) -> Vec<Arc<dyn LogStream>>;
}

/// How bad a stream failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The run ends; the next scheduled run tries again (network, 5xx after retries, malformed page).
    Transient,
    /// The source stops until its configuration is fixed (credentials rejected, forbidden).
    Fatal,
    /// The stored cursor cannot be used: it does not decode, or the vendor refuses to resume from it and
    /// no lossless fallback exists. The stream stops (retrying would repeat it), and the failure is
    /// reported as a checkpoint problem, so the operator is pointed at `logcrawl state reset/set` rather
    /// than at the credentials. Never answered by silently restarting, which would re-crawl or skip logs.
    Checkpoint,
}

/// A failure while producing records. It ends the current run of the stream.
#[derive(Debug)]
pub struct StreamError {
    kind: StreamErrorKind,
    source: Box<dyn StdError + Send + Sync>,
}

impl StreamError {
    /// A failure the next run may not hit.
    pub fn transient(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { kind: StreamErrorKind::Transient, source: source.into() }
    }

    /// A failure that stops the source: retrying would only repeat it.
    pub fn fatal(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { kind: StreamErrorKind::Fatal, source: source.into() }
    }

    /// The stored cursor cannot be resumed from (see [`StreamErrorKind::Checkpoint`]); the message should
    /// say what is wrong with it. The crawler adds which checkpoint it is.
    pub fn checkpoint(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { kind: StreamErrorKind::Checkpoint, source: source.into() }
    }

    /// How bad it is.
    pub fn kind(&self) -> StreamErrorKind {
        self.kind
    }

    /// Whether the source must stop (a fatal error or an unusable checkpoint).
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, StreamErrorKind::Fatal | StreamErrorKind::Checkpoint)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)?;
        let mut cause = self.source.source();
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

impl StdError for StreamError {}

/// A failure that knows whether retrying later can help. A transport's error implements it (as
/// `logcrawl_http::HttpError` does), and `?` turns it into a [`StreamError`] of the right kind: the
/// transport needs to know nothing of streams, and no connector decides again which of its failures are
/// fatal.
pub trait Fatality: StdError + Send + Sync + 'static {
    /// Whether retrying later cannot help: credentials rejected, a request refused by policy.
    fn is_fatal(&self) -> bool;
}

impl<E: Fatality> From<E> for StreamError {
    fn from(err: E) -> Self {
        if err.is_fatal() { Self::fatal(err) } else { Self::transient(err) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Refused(bool);

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(if self.0 { "credentials rejected" } else { "connection reset" })
        }
    }

    impl StdError for Refused {}

    impl Fatality for Refused {
        fn is_fatal(&self) -> bool {
            self.0
        }
    }

    fn fail(fatal: bool) -> Result<(), StreamError> {
        Err(Refused(fatal))?
    }

    #[test]
    fn a_classified_failure_becomes_a_stream_error_of_its_kind_with_its_text() {
        let fatal = fail(true).unwrap_err();
        assert_eq!((fatal.kind(), fatal.to_string()), (StreamErrorKind::Fatal, "credentials rejected".to_owned()));
        let transient = fail(false).unwrap_err();
        assert_eq!((transient.kind(), transient.is_fatal()), (StreamErrorKind::Transient, false));
    }
}
