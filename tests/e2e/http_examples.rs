//! The five `examples/http-*.toml` configurations — Okta, GitHub, Auth0, 1Password and Slack declared
//! through `connector = "http"` alone — run by `logcrawl run --once` against the project's simulators,
//! changed only where a simulator differs from the vendor (its address, its secret, a shorter window for
//! Slack): every event delivered exactly once, a second run adds nothing, events published between runs
//! are delivered once by the next. For Okta the records are the native connector's, line for line.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use logcrawl_sim::auth0::Auth0Sim;
use logcrawl_sim::github::{GithubSim, document_id};
use logcrawl_sim::okta::{OktaSim, event_uuid};
use logcrawl_sim::onepassword::{Feed, OnePasswordSim};
use logcrawl_sim::slack::{SlackSim, entry_id};
use serde_json::Value;

use crate::support::FileRun;

/// The `[[sources]]` part of `examples/http-NAME.toml`, each `(from, to)` replaced.
fn example(name: &str, replacements: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/http-{name}.toml"));
    let text = std::fs::read_to_string(&path).expect("the example");
    let mut sources = text[text.find("[[sources]]").expect("a source")..].to_owned();
    for (from, to) in replacements {
        assert!(sources.contains(from), "{name}: {from:?} is not in the example");
        sources = sources.replace(from, to);
    }
    sources
}

fn ids<'a>(lines: &'a [Value], key: &str) -> Vec<&'a str> {
    lines.iter().map(|l| l[key].as_str().unwrap_or_else(|| panic!("no {key} in {l}"))).collect()
}

/// Runs `crawl` once and checks it delivered exactly `expected` (in any order, each once).
async fn delivers(crawl: &FileRun, key: &str, expected: &[String]) {
    crawl.run_once().await;
    let lines = crawl.lines();
    let got = ids(&lines, key);
    assert_eq!(got.len(), expected.len(), "every event once");
    let got: HashSet<&str> = got.into_iter().collect();
    assert_eq!(got, expected.iter().map(String::as_str).collect(), "exactly the events served");
    crawl.run_once().await;
    assert_eq!(crawl.lines().len(), expected.len(), "the second run re-delivered events");
}

/// The lines past the first `from`, by id.
fn new_ids(crawl: &FileRun, key: &str, from: usize) -> Vec<String> {
    let lines = crawl.lines();
    ids(&lines[from..], key).into_iter().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_through_http_delivers_the_native_connectors_records_exactly_once() {
    const EVENTS: u64 = 50_000;
    let sim = OktaSim::builder().events(EVENTS).token("okta-e2e-token").start().await.unwrap();
    let sources =
        example("okta", &[("https://acme.okta.com", sim.base_url()), ("${OKTA_API_TOKEN}", "okta-e2e-token")]);
    let crawl = FileRun::with_sources(&sources);
    let expected: Vec<String> = (0..EVENTS).map(event_uuid).collect();
    delivers(&crawl, "uuid", &expected).await;

    // The native connector, over the same org: the same lines.
    let native =
        FileRun::new("okta-prod", "okta", &format!("base_url = \"{}\"\ntoken = \"okta-e2e-token\"", sim.base_url()));
    native.run_once().await;
    let by_uuid = |lines: Vec<Value>| -> HashMap<String, Value> {
        lines.into_iter().map(|l| (l["uuid"].as_str().unwrap().to_owned(), l)).collect()
    };
    let (declared, native) = (by_uuid(crawl.lines()), by_uuid(native.lines()));
    assert_eq!(declared.len(), native.len());
    for (uuid, line) in &native {
        assert_eq!(declared.get(uuid), Some(line), "event {uuid} differs from the native connector's");
    }

    sim.append(1_234);
    crawl.run_once().await;
    let new = new_ids(&crawl, "uuid", EVENTS as usize);
    assert_eq!(new, (EVENTS..EVENTS + 1_234).map(event_uuid).collect::<Vec<_>>(), "the new events, once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_through_http_delivers_every_event_exactly_once() {
    const EVENTS: u64 = 60_000;
    let sim = GithubSim::builder().events(EVENTS).token("ghp_e2e_token").start().await.unwrap();
    let base = sim.base_url();
    let sources =
        example("github", &[("https://api.github.com", base.as_str()), ("${GITHUB_AUDIT_TOKEN}", "ghp_e2e_token")]);
    let crawl = FileRun::with_sources(&sources);
    let web = |from: u64, to: u64| -> Vec<String> { (from..to).filter(|&i| !sim.is_git(i)).map(document_id).collect() };
    let expected = web(0, EVENTS);
    assert!(expected.len() >= 50_000);
    delivers(&crawl, "_document_id", &expected).await;
    sim.append(777);
    crawl.run_once().await;
    assert_eq!(new_ids(&crawl, "_document_id", expected.len()), web(EVENTS, EVENTS + 777));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_through_http_delivers_every_event_exactly_once_with_client_credentials() {
    const EVENTS: u64 = 50_000;
    let sim =
        Auth0Sim::builder().events(EVENTS).client("6fG0mBq1EXAMPLEclientid", "e2e-app-secret").start().await.unwrap();
    let base = sim.base_url().to_owned();
    let sources =
        example("auth0", &[("https://acme.us.auth0.com", base.as_str()), ("${AUTH0_CLIENT_SECRET}", "e2e-app-secret")]);
    let crawl = FileRun::with_sources(&sources);
    let expected: Vec<String> = (0..EVENTS).map(|i| sim.log_id(i)).collect();
    delivers(&crawl, "log_id", &expected).await;
    sim.append(500);
    crawl.run_once().await;
    assert_eq!(
        new_ids(&crawl, "log_id", EVENTS as usize),
        (EVENTS..EVENTS + 500).map(|i| sim.log_id(i)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onepassword_through_http_delivers_every_event_exactly_once_by_its_body_cursor() {
    const EVENTS: u64 = 50_000;
    let sim = OnePasswordSim::builder()
        .feed_events(Feed::SignInAttempts, EVENTS)
        .token("op-e2e-token")
        .start()
        .await
        .unwrap();
    let sources = example(
        "onepassword",
        &[
            ("https://events.1password.com", sim.base_url()),
            ("${OP_EVENTS_TOKEN}", "op-e2e-token"),
            ("requests_per_second = 8", "requests_per_second = 200"),
        ],
    );
    let crawl = FileRun::with_sources(&sources);
    let uuid = |i| logcrawl_sim::onepassword::event_uuid(Feed::SignInAttempts, i);
    let expected: Vec<String> = (0..EVENTS).map(uuid).collect();
    delivers(&crawl, "uuid", &expected).await;
    sim.append(Feed::SignInAttempts, 321);
    crawl.run_once().await;
    assert_eq!(new_ids(&crawl, "uuid", EVENTS as usize), (EVENTS..EVENTS + 321).map(uuid).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_through_http_delivers_every_entry_exactly_once_by_windows() {
    const EVENTS: u64 = 60_000;
    let sim = SlackSim::builder()
        .events(EVENTS)
        .spacing(Duration::from_millis(1))
        .token("xoxp-e2e")
        .rate_limit(100_000, Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let sources = example(
        "slack",
        &[
            ("https://api.slack.com", sim.base_url()),
            ("${SLACK_AUDIT_TOKEN}", "xoxp-e2e"),
            ("requests_per_second = 1", "requests_per_second = 500\ninitial_lookback = \"20m\""),
            ("step = \"1h\"", "step = \"15s\""),
            ("settle_lag = \"5m\"", "settle_lag = \"0s\""),
            ("overlap = \"5m\"", "overlap = \"2s\""),
        ],
    );
    let crawl = FileRun::with_sources(&sources);
    let expected: Vec<String> = (0..EVENTS).map(entry_id).collect();
    delivers(&crawl, "id", &expected).await;
    sim.append(400);
    // Windows start once the overlap has settled since the last one.
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    crawl.run_once().await;
    let new: HashSet<String> = new_ids(&crawl, "id", EVENTS as usize).into_iter().collect();
    assert_eq!(crawl.lines().len() as u64, EVENTS + 400, "the new entries, once");
    assert_eq!(new, (EVENTS..EVENTS + 400).map(entry_id).collect::<HashSet<_>>());
}

#[test]
fn a_typo_in_a_declared_sources_own_table_is_reported_with_its_key_and_line() {
    let sources = example("okta", &[("id = \"$.uuid\"", "idd = \"$.uuid\"")]);
    let text = format!("[sinks.out]\ntype = \"file\"\npath = \"/dev/null\"\n\n{sources}");
    let line = text.lines().position(|l| l.starts_with("idd =")).expect("the typo") + 1;
    let config = logcrawl::config::Config::parse(&text, &|_| Some("x".into())).expect("it parses");
    let err = logcrawl::app::build_crawler(&config, std::sync::Arc::new(logcrawl_core::MemoryCheckpointStore::new()))
        .expect_err("the typo is refused");
    assert_eq!((err.key.as_str(), err.line), ("sources[0].records.idd", Some(line)), "{err}");
    assert!(err.message.contains("unknown field `idd`"), "{err}");
}
