//! Simulator and wiremock tests of the Google Workspace connector: the conformance suite, one test per
//! vendor quirk (each failing without its handling), the token requests it sends, and how Google's
//! refusals end a run, naming what to check and never a secret.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BatchLimits, BuildContext, Crawler, MemoryCheckpointStore, Source, SourceMeta};
use logcrawl_google_workspace::GoogleWorkspaceConnector;
use logcrawl_http::HttpConfig;
use logcrawl_sim::google_workspace::{GoogleWorkspaceSim, SUBJECT, TEST_PRIVATE_KEY, service_account_key};
use logcrawl_testkit::{RecordingSink, fast_retries};
use serde_json::Value;

mod conformance;
mod quirks;
mod refusals;
mod tokens;

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

/// A connector for the Admin SDK at `base` whose key file names `token_uri`: fast retries, a generous
/// pace, the simulator's subject, and `extra` keys.
fn google(base: &str, token_uri: &str, extra: &str) -> GoogleWorkspaceConnector {
    google_with(base, token_uri, extra, fast_retries)
}

fn google_with(
    base: &str,
    token_uri: &str,
    extra: &str,
    customize: impl Fn(&mut HttpConfig),
) -> GoogleWorkspaceConnector {
    let text = format!(
        "credentials = {}\nsubject = \"{SUBJECT}\"\nbase_url = \"{base}\"\nrequests_per_second = 1000\n{extra}",
        quoted(&service_account_key(token_uri, TEST_PRIVATE_KEY))
    );
    let (config, http) = logcrawl_core::config::ComponentTable::split(
        &text.parse().expect("TOML"),
        logcrawl_google_workspace::HTTP_DEFAULTS,
    )
    .expect("a valid configuration");
    GoogleWorkspaceConnector::with_http(config, &http, &BuildContext::new("google"), customize)
        .expect("a valid configuration")
}

/// A connector on `sim` (its key file's `token_uri` is the simulator's token endpoint).
fn on_sim(sim: &GoogleWorkspaceSim, extra: &str) -> GoogleWorkspaceConnector {
    google(sim.base_url(), sim.token_url(), extra)
}

/// A crawler of `connector` into `sink`, checkpoints in `store`.
fn crawler(
    store: &Arc<MemoryCheckpointStore>,
    connector: GoogleWorkspaceConnector,
    sink: &Arc<RecordingSink>,
) -> Crawler {
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "google".into(), ..SourceMeta::default() }),
        connector: Arc::new(connector),
        sink: sink.clone(),
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 250, linger: Duration::from_millis(20) }),
        emit_errors: false,
    });
    crawler
}

/// The dedupe key of a delivered record: its activity's `id.time` and `id.uniqueQualifier`.
fn key(record: &Value) -> String {
    format!(
        "{} {}",
        record["id"]["time"].as_str().unwrap_or_default(),
        record["id"]["uniqueQualifier"].as_str().unwrap_or_default()
    )
}

/// The keys `sink` received, in order.
fn delivered(sink: &RecordingSink) -> Vec<String> {
    sink.delivered().iter().map(key).collect()
}
