//! [`SingleStream`]: the connector of an account that has one stream, which is most vendor APIs.
//!
//! A [`Connector`] only names its kind and hands out its streams; when there is one stream and nothing
//! else to keep (no credential to inspect, no second endpoint), writing that impl is pure ceremony. The
//! wrapper is the whole connector: `SingleStream::new("acme", PagedStream::new(api, client))`.

use std::fmt;
use std::sync::Arc;

use logcrawl_core::{Connector, LogStream};

/// A [`Connector`] of kind `kind` with exactly one stream, `S`.
pub struct SingleStream<S> {
    kind: &'static str,
    stream: Arc<S>,
}

impl<S: LogStream + 'static> SingleStream<S> {
    /// The connector of kind `kind` (its name in configuration, `connector = "…"`) crawling `stream`.
    pub fn new(kind: &'static str, stream: S) -> Self {
        Self { kind, stream: Arc::new(stream) }
    }

    /// The stream, typed (tests and embedders reach its API through it).
    pub fn stream(&self) -> &Arc<S> {
        &self.stream
    }
}

impl<S: LogStream + 'static> Connector for SingleStream<S> {
    fn kind(&self) -> &str {
        self.kind
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![self.stream.clone()]
    }
}

impl<S: fmt::Debug> fmt::Debug for SingleStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleStream").field("kind", &self.kind).field("stream", &self.stream).finish()
    }
}

#[cfg(test)]
mod tests {
    use logcrawl_core::{Cursor, RecordStream};

    use super::*;

    #[derive(Debug)]
    struct Named(&'static str);

    impl LogStream for Named {
        fn name(&self) -> &str {
            self.0
        }

        fn records(&self, _cursor: Option<Cursor>) -> RecordStream<'_> {
            Box::pin(futures::stream::empty())
        }
    }

    #[test]
    fn the_connector_is_its_kind_and_its_one_stream() {
        let connector = SingleStream::new("demo", Named("demo log stream"));
        assert_eq!(connector.kind(), "demo");
        let streams = connector.streams();
        assert_eq!(streams.iter().map(|s| s.name()).collect::<Vec<_>>(), ["demo log stream"]);
        assert!(Arc::ptr_eq(&streams[0], &(connector.stream().clone() as Arc<dyn LogStream>)), "the same stream");
        assert_eq!(connector.stream().0, "demo log stream");
        assert!(format!("{connector:?}").contains("\"demo\""));
    }
}
