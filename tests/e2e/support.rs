//! Shared helpers: building a crawler from configuration text, reading checkpoints; outputs are read with
//! `logcrawl_testkit`'s helpers, re-exported here.

use std::path::Path;
use std::sync::Arc;

use logcrawl::app::build_crawler;
use logcrawl::config::Config;
use logcrawl_core::{CheckpointStore, Crawler, Cursor, FileCheckpointStore, StreamKey};
pub(crate) use logcrawl_testkit::{body_json, ndjson};

/// A crawler for `toml`, committing to a fresh store in `state_dir`.
pub(crate) fn crawler(toml: &str, state_dir: &Path) -> Crawler {
    let config = Config::parse(toml, &|_| None).unwrap_or_else(|err| panic!("bad test config: {err}"));
    let store = FileCheckpointStore::open(state_dir).expect("state dir");
    build_crawler(&config, Arc::new(store)).unwrap_or_else(|err| panic!("cannot build: {err}"))
}

/// The committed cursor of a stream.
pub(crate) fn checkpoint(state_dir: &Path, source: &str, stream: &str) -> Option<Cursor> {
    FileCheckpointStore::open_shared(state_dir).load(&StreamKey::new(source, stream)).expect("readable checkpoint")
}
