//! One contract for building components from configuration: every connector and sink crate declares a
//! [`ConnectorKind`] or [`SinkKind`] (its name in configuration, one line about it, a factory), and every
//! factory gets the same [`BuildContext`]. The CLI's registry is a table of kinds, so adding a component
//! is one line there, and `logcrawl connectors` lists the table.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Table};
use crate::deadletter::DeadLetterFile;
use crate::sink::Sink;
use crate::stream::Connector;

/// What a component is built with besides its own table: who it is and what surrounds it.
///
/// More will come here rather than into every constructor's signature: notably the shared HTTP
/// connection pool and rate budgets, which are process-wide today (`logcrawl_http`'s client registry
/// and `RateBudget::shared`, keyed by origin and tenant) and will be handed to components from here once a
/// crawler owns them, so tests and embedders can isolate them. Fields are public to read; build one with
/// [`BuildContext::new`] and the `with_*` methods (the struct is `non_exhaustive` so fields can be added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildContext {
    /// The component's configured name: the `[[sources]]` entry's `name` (which keys its checkpoints), or
    /// the `NAME` of `[sinks.NAME]`.
    pub name: String,
    /// For a connector, the sink's max age ([`Sink::max_age`]): a first run need not reach further back,
    /// since the sink would refuse older records (Okta starts its first query inside it).
    pub max_age: Option<Duration>,
    /// The state directory (checkpoints, `dead-letter/`), when there is one; an embedder or a test may
    /// build components without.
    pub state_dir: Option<PathBuf>,
}

impl BuildContext {
    /// The context of the component called `name`, with no max age and no state directory.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), max_age: None, state_dir: None }
    }

    /// The same, for a connector whose sink refuses records older than `max_age`.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The same, with the state directory.
    #[must_use]
    pub fn with_state_dir(mut self, state_dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(state_dir.into());
        self
    }

    /// The sink's dead-letter file, `STATE_DIR/dead-letter/NAME.ndjson` (created on its first letter),
    /// holding at most `max_bytes` (the sink's `dead_letter_max_bytes`, by default [`DEFAULT_MAX_BYTES`](crate::deadletter::DEFAULT_MAX_BYTES));
    /// `None` without a state directory, and then a sink fails a send rather than drop a refused record.
    pub fn dead_letter_file(&self, max_bytes: u64) -> Option<DeadLetterFile> {
        let dir = self.state_dir.as_deref()?;
        Some(DeadLetterFile::in_state_dir(dir, &self.name, max_bytes))
    }
}

/// Builds a component from its table (every key of its `[[sources]]` entry but the ones the runtime
/// reads, or of its `[sinks.NAME]` table but `type`) and its context. A [`ConfigError`] names a key of
/// that table; the caller adds where the table is.
pub type Factory<C> = fn(&Table, &BuildContext) -> Result<Arc<C>, ConfigError>;

/// A kind of component, as its crate declares it (`pub const KIND`): for connectors [`ConnectorKind`],
/// for sinks [`SinkKind`].
pub struct ComponentKind<C: ?Sized> {
    /// Its name in configuration (`connector = "…"`, `type = "…"`), also its cargo feature in `logcrawl`.
    pub name: &'static str,
    /// One line about it, for `logcrawl connectors`.
    pub about: &'static str,
    /// How to build one.
    pub factory: Factory<C>,
}

/// A connector's kind: `connector = "NAME"` in a `[[sources]]` entry.
pub type ConnectorKind = ComponentKind<dyn Connector>;

/// A sink's kind: `type = "NAME"` in a `[sinks.NAME]` table.
pub type SinkKind = ComponentKind<dyn Sink>;

impl<C: ?Sized> ComponentKind<C> {
    /// The kind `name`, described by `about`, built by `factory`.
    pub const fn new(name: &'static str, about: &'static str, factory: Factory<C>) -> Self {
        Self { name, about, factory }
    }

    /// Builds one component of this kind.
    pub fn build(&self, table: &Table, context: &BuildContext) -> Result<Arc<C>, ConfigError> {
        (self.factory)(table, context)
    }
}

impl<C: ?Sized> Clone for ComponentKind<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ?Sized> Copy for ComponentKind<C> {}

impl<C: ?Sized> fmt::Debug for ComponentKind<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentKind").field("name", &self.name).field("about", &self.about).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadletter::DEFAULT_MAX_BYTES;
    use crate::stream::LogStream;

    struct Nothing;

    impl Connector for Nothing {
        fn kind(&self) -> &str {
            "nothing"
        }

        fn streams(&self) -> Vec<Arc<dyn LogStream>> {
            Vec::new()
        }
    }

    const KIND: ConnectorKind = ConnectorKind::new("nothing", "no streams", |table, context| match table.get("fail") {
        Some(_) => Err(ConfigError::new("fail", format!("asked to, for {}", context.name))),
        None => Ok(Arc::new(Nothing)),
    });

    #[test]
    fn a_kind_builds_through_its_factory_with_the_context() {
        let context = BuildContext::new("src");
        assert_eq!(KIND.build(&Table::new(), &context).unwrap().kind(), "nothing");
        let mut table = Table::new();
        table.insert("fail".into(), true.into());
        let Err(err) = KIND.build(&table, &context) else { panic!("built despite `fail`") };
        assert_eq!((err.key(), err.message()), ("fail", "asked to, for src"));
        assert!(format!("{KIND:?}").contains("\"nothing\""));
    }

    #[test]
    fn dead_letters_live_in_the_state_directory_when_there_is_one() {
        assert!(BuildContext::new("dd").dead_letter_file(DEFAULT_MAX_BYTES).is_none());
        let context = BuildContext::new("dd").with_state_dir("/var/lib/logcrawl").with_max_age(Some(Duration::ZERO));
        let file = context.dead_letter_file(DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(file.path(), std::path::Path::new("/var/lib/logcrawl/dead-letter/dd.ndjson"));
        assert_eq!(context.max_age, Some(Duration::ZERO));
    }
}
