//! `logcrawl run --once` with an Okta source and a file sink over a simulated org of 100 000 events:
//! every event delivered exactly once, and a second run adds nothing.

use std::collections::HashSet;
use std::process::ExitCode;

use logcrawl_sim::okta::{OktaSim, event_uuid};

use crate::support::ndjson;

const EVENTS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_okta_event_exactly_once() {
    let sim = OktaSim::builder().events(EVENTS).token("okta-e2e-token").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("okta.ndjson");
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
name = "okta-prod"
connector = "okta"
sink = "out"
base_url = "{base}"
token = "okta-e2e-token"
"#,
            state = dir.path().join("state").display(),
            out = out.display(),
            base = sim.base_url()
        ),
    )
    .unwrap();

    let code = logcrawl::commands::run(&config, true).await.unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    let lines = ndjson(&out);
    assert_eq!(lines.len() as u64, EVENTS);
    let seen: HashSet<&str> = lines.iter().map(|l| l["uuid"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, EVENTS, "duplicates delivered");
    for i in [0, 1, EVENTS / 2, EVENTS - 1] {
        assert!(seen.contains(event_uuid(i).as_str()), "event {i} missing");
    }
    // Each line is the whole event as the org served it, plus the attributes logcrawl adds.
    for i in [0, EVENTS - 1] {
        let uuid = event_uuid(i);
        let line = lines.iter().find(|l| l["uuid"] == uuid.as_str()).unwrap().as_object().unwrap();
        let served: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&sim.render_event(i)).unwrap();
        for (key, value) in &served {
            if !["message", "timestamp", "status", "network"].contains(&key.as_str()) {
                assert_eq!(line.get(key), Some(value), "event {i}: {key}");
            }
        }
        for key in ["message", "timestamp", "status"] {
            assert!(line.contains_key(key), "event {i}: no {key}");
        }
        let added = ["message", "timestamp", "status", "network"].iter().filter(|k| !served.contains_key(**k)).count();
        assert!(line.len() <= served.len() + added, "event {i}: unexpected keys in {line:?}");
        if let Some(ip) = served["client"]["ipAddress"].as_str() {
            assert_eq!(line["network"]["client"]["ip"], ip);
        }
    }

    let again = logcrawl::commands::run(&config, true).await.unwrap();
    assert_eq!(again, ExitCode::SUCCESS);
    assert_eq!(ndjson(&out).len() as u64, EVENTS, "the second run re-delivered events");
}
