//! Shared helpers: building a crawler from configuration text, reading checkpoints and outputs.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use logcrawl::app::build_crawler;
use logcrawl::config::Config;
use logcrawl_core::{CheckpointStore, Crawler, Cursor, FileCheckpointStore, StreamKey};
use serde_json::Value;

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

/// A request body as JSON, gunzipped when it says so.
pub(crate) fn body_json(request: &wiremock::Request) -> Value {
    let gzip = request.headers.get("content-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..]).read_to_end(&mut out).expect("valid gzip");
        out
    } else {
        request.body.clone()
    };
    serde_json::from_slice(&bytes).expect("JSON body")
}

/// Lines of an NDJSON file.
pub(crate) fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON line"))
        .collect()
}
