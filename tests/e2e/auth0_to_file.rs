//! `logcrawl run --once` with an Auth0 source (client credentials) and a file sink over a simulated
//! tenant of 60 000 log events: every event delivered exactly once, in `log_id` order; a second run adds
//! nothing; events stored between runs arrive exactly once.

use std::collections::HashSet;

use logcrawl_sim::auth0::Auth0Sim;

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 60_000;
const GROWTH: u64 = 1_234;

fn ids(lines: &[serde_json::Value]) -> Vec<&str> {
    lines.iter().map(|l| l["log_id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_auth0_log_event_exactly_once_and_then_only_the_new_ones() {
    let sim = Auth0Sim::builder().events(EVENTS).client("e2e-app", "e2e-app-secret").start().await.unwrap();
    let keys =
        format!("base_url = \"{}\"\nclient_id = \"e2e-app\"\nclient_secret = \"e2e-app-secret\"", sim.base_url());
    let crawl = FileRun::new("auth0-acme", "auth0", &keys);
    crawl.run_once().await;
    let lines = crawl.lines();
    let expected: Vec<String> = (0..EVENTS).map(|i| sim.log_id(i)).collect();
    let got = ids(&lines);
    assert_eq!(got.len(), expected.len(), "every event once");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected, "in log_id order");
    let added = ["message", "timestamp", "status", "usr", "network", "evt", "http"];
    assert_keeps(&lines[7], &sim.render_event(7), &[], &added);
    for key in added {
        assert!(lines[7].get(key).is_some(), "no {key} in {}", lines[7]);
    }
    assert_eq!(sim.token_requests(), 1, "one token for the whole run");

    let source = &crawl.config().sources[0];
    assert_eq!((source.ddsource.as_str(), source.service.as_str()), ("auth0", "auth0"), "the kind by default");

    crawl.run_once().await;
    assert_eq!(crawl.lines().len(), expected.len(), "the second run re-delivered events");

    sim.append(GROWTH);
    crawl.run_once().await;
    let lines = crawl.lines();
    let grown: Vec<String> = (EVENTS..EVENTS + GROWTH).map(|i| sim.log_id(i)).collect();
    assert_eq!(ids(&lines[expected.len()..]), grown, "exactly the events stored between runs");
}
