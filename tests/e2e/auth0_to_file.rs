//! `logcrawl run --once` with an Auth0 source (client credentials) and a file sink over a simulated
//! tenant of 60 000 log events: every event delivered exactly once, in `log_id` order; a second run adds
//! nothing; events stored between runs arrive exactly once.

use std::collections::HashSet;
use std::process::ExitCode;

use logcrawl_sim::auth0::Auth0Sim;

use crate::support::ndjson;

const EVENTS: u64 = 60_000;
const GROWTH: u64 = 1_234;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_auth0_log_event_exactly_once_and_then_only_the_new_ones() {
    let sim = Auth0Sim::builder().events(EVENTS).client("e2e-app", "e2e-app-secret").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auth0.ndjson");
    let config = dir.path().join("logcrawl.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"

[sinks.out]
type = "file"
path = "{out}"

[[sources]]
name = "auth0-acme"
connector = "auth0"
sink = "out"
base_url = "{base}"
client_id = "e2e-app"
client_secret = "e2e-app-secret"
"#,
            state = dir.path().join("state").display(),
            out = out.display(),
            base = sim.base_url()
        ),
    )
    .unwrap();

    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    let lines = ndjson(&out);
    let expected: Vec<String> = (0..EVENTS).map(|i| sim.log_id(i)).collect();
    let got: Vec<&str> = lines.iter().map(|l| l["log_id"].as_str().unwrap()).collect();
    assert_eq!(got.len(), expected.len(), "every event once");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected, "in log_id order");
    let served: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&sim.render_event(7)).unwrap();
    let line = lines[7].as_object().unwrap();
    for (key, value) in &served {
        assert_eq!(line.get(key), Some(value), "{key}");
    }
    for key in ["message", "timestamp", "status", "usr", "network", "evt", "http"] {
        assert!(line.contains_key(key), "no {key} in {line:?}");
    }
    let parsed = logcrawl::config::Config::parse(&std::fs::read_to_string(&config).unwrap(), &|_| None).unwrap();
    assert_eq!((parsed.sources[0].ddsource.as_str(), parsed.sources[0].service.as_str()), ("auth0", "auth0"));
    assert_eq!(sim.token_requests(), 1, "one token for the whole run");

    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    assert_eq!(ndjson(&out).len(), expected.len(), "the second run re-delivered events");

    sim.append(GROWTH);
    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    let lines = ndjson(&out);
    let new: Vec<&str> = lines[expected.len()..].iter().map(|l| l["log_id"].as_str().unwrap()).collect();
    let grown: Vec<String> = (EVENTS..EVENTS + GROWTH).map(|i| sim.log_id(i)).collect();
    assert_eq!(new, grown, "exactly the events stored between runs");
}
