//! `logcrawl run --once` with a GitHub source and a file sink over a simulated organization of 56 000
//! audit events (50 400 of them web events, which the organization's audit log serves): every event
//! delivered exactly once, a second run adds nothing, and events published between runs arrive exactly
//! once.

use std::collections::HashSet;
use std::process::ExitCode;

use logcrawl_sim::github::{GithubSim, document_id};

use crate::support::ndjson;

const EVENTS: u64 = 56_000;
const GROWTH: u64 = 1_000;

fn web_ids(sim: &GithubSim, from: u64, to: u64) -> Vec<String> {
    (from..to).filter(|&i| !sim.is_git(i)).map(document_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_github_audit_event_exactly_once_and_then_only_the_new_ones() {
    let sim = GithubSim::builder().events(EVENTS).token("ghp_e2e_token").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("github.ndjson");
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
name = "github-acme"
connector = "github"
sink = "out"
base_url = "{base}"
org = "acme-corp"
token = "ghp_e2e_token"
"#,
            state = dir.path().join("state").display(),
            out = out.display(),
            base = sim.base_url()
        ),
    )
    .unwrap();

    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    let lines = ndjson(&out);
    let expected = web_ids(&sim, 0, EVENTS);
    assert!(expected.len() >= 50_000);
    let got: Vec<&str> = lines.iter().map(|l| l["_document_id"].as_str().unwrap()).collect();
    assert_eq!(got.len(), expected.len(), "every web event once");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected, "in GitHub's order");
    // Each line is the event as GitHub served it, plus what logcrawl adds.
    let served: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&sim.render_event(0)).unwrap();
    let line = lines[0].as_object().unwrap();
    for (key, value) in &served {
        assert_eq!(line.get(key), Some(value), "{key}");
    }
    for key in ["message", "timestamp", "status", "usr", "network", "evt", "http"] {
        assert!(line.contains_key(key), "no {key} in {line:?}");
    }
    let parsed = logcrawl::config::Config::parse(&std::fs::read_to_string(&config).unwrap(), &|_| None).unwrap();
    assert_eq!((parsed.sources[0].ddsource.as_str(), parsed.sources[0].service.as_str()), ("github", "github"));

    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    assert_eq!(ndjson(&out).len(), expected.len(), "the second run re-delivered events");

    sim.append(GROWTH);
    assert_eq!(logcrawl::commands::run(&config, true).await.unwrap(), ExitCode::SUCCESS);
    let lines = ndjson(&out);
    let new: Vec<&str> = lines[expected.len()..].iter().map(|l| l["_document_id"].as_str().unwrap()).collect();
    assert_eq!(new, web_ids(&sim, EVENTS, EVENTS + GROWTH), "exactly the events published between runs");
}
