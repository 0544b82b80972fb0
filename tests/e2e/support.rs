//! Shared helpers: building a crawler from configuration text, reading checkpoints; outputs are read with
//! `logcrawl_testkit`'s helpers, re-exported here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
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

/// One source crawled into an NDJSON file by the binary's `run --once`, in a directory of its own: the
/// configuration, the state directory and the output.
pub(crate) struct FileRun {
    _dir: tempfile::TempDir,
    config: PathBuf,
    out: PathBuf,
}

impl FileRun {
    /// A configuration with a file sink `out` and one `[[sources]]` entry: `name`, `connector`, `sink =
    /// "out"`, then `keys` (TOML lines).
    pub(crate) fn new(name: &str, connector: &str, keys: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = dir.path().join("out.ndjson");
        let config = dir.path().join("logcrawl.toml");
        let text = format!(
            "state_dir = \"{state}\"\n\n[sinks.out]\ntype = \"file\"\npath = \"{out}\"\n\n[[sources]]\n\
             name = \"{name}\"\nconnector = \"{connector}\"\nsink = \"out\"\n{keys}\n",
            state = dir.path().join("state").display(),
            out = out.display(),
        );
        std::fs::write(&config, text).expect("the configuration is written");
        Self { _dir: dir, config, out }
    }

    /// A configuration with a file sink `out` and the `[[sources]]` entries of `sources` (TOML text that
    /// names `sink = "out"`), as an example file writes them.
    pub(crate) fn with_sources(sources: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = dir.path().join("out.ndjson");
        let config = dir.path().join("logcrawl.toml");
        let text = format!(
            "state_dir = \"{state}\"\n\n[sinks.out]\ntype = \"file\"\npath = \"{out}\"\n\n{sources}\n",
            state = dir.path().join("state").display(),
            out = out.display(),
        );
        std::fs::write(&config, text).expect("the configuration is written");
        Self { _dir: dir, config, out }
    }

    /// `logcrawl run --once`; panics unless it succeeds.
    pub(crate) async fn run_once(&self) {
        let code = logcrawl::commands::run(&self.config, true, false).await.expect("the run starts");
        assert_eq!(code, ExitCode::SUCCESS, "run --once failed");
    }

    /// The configuration as `logcrawl` reads it.
    pub(crate) fn config(&self) -> Config {
        let text = std::fs::read_to_string(&self.config).expect("the configuration is readable");
        Config::parse(&text, &|_| None).unwrap_or_else(|err| panic!("bad test config: {err}"))
    }

    /// Every line written so far.
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        ndjson(&self.out)
    }
}

/// Panics unless `line` (a delivered record) holds every member of `served` (the vendor's event) as it
/// was, but those in `replaced`, and nothing else than those and `added`.
pub(crate) fn assert_keeps(line: &serde_json::Value, served: &[u8], replaced: &[&str], added: &[&str]) {
    let line = line.as_object().expect("a JSON object");
    let served: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(served).expect("the served event");
    for (key, value) in &served {
        if !replaced.contains(&key.as_str()) {
            assert_eq!(line.get(key), Some(value), "{key} is not as served");
        }
    }
    for key in line.keys() {
        assert!(served.contains_key(key) || added.contains(&key.as_str()), "unexpected {key} in {line:?}");
    }
}
