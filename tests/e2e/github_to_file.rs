//! `logcrawl run --once` with a GitHub source and a file sink over a simulated organization of 56 000
//! audit events (50 400 of them web events, which the organization's audit log serves): every event
//! delivered exactly once, a second run adds nothing, and events published between runs arrive exactly
//! once.

use std::collections::HashSet;

use logcrawl_sim::github::{GithubSim, document_id};

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 56_000;
const GROWTH: u64 = 1_000;

fn web_ids(sim: &GithubSim, from: u64, to: u64) -> Vec<String> {
    (from..to).filter(|&i| !sim.is_git(i)).map(document_id).collect()
}

fn ids(lines: &[serde_json::Value]) -> Vec<&str> {
    lines.iter().map(|l| l["_document_id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_github_audit_event_exactly_once_and_then_only_the_new_ones() {
    let sim = GithubSim::builder().events(EVENTS).token("ghp_e2e_token").start().await.unwrap();
    let keys = format!("base_url = \"{}\"\norg = \"acme-corp\"\ntoken = \"ghp_e2e_token\"", sim.base_url());
    let crawl = FileRun::new("github-acme", "github", &keys);
    crawl.run_once().await;
    let lines = crawl.lines();
    let expected = web_ids(&sim, 0, EVENTS);
    assert!(expected.len() >= 50_000);
    let got = ids(&lines);
    assert_eq!(got.len(), expected.len(), "every web event once");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "duplicates delivered");
    assert_eq!(got, expected, "in GitHub's order");
    // Each line is the event as GitHub served it, plus what logcrawl adds.
    let added = ["message", "timestamp", "status", "usr", "network", "evt", "http"];
    assert_keeps(&lines[0], &sim.render_event(0), &[], &added);
    for key in added {
        assert!(lines[0].get(key).is_some(), "no {key} in {}", lines[0]);
    }

    let source = &crawl.config().sources[0];
    assert_eq!((source.ddsource.as_str(), source.service.as_str()), ("github", "github"), "the kind by default");

    crawl.run_once().await;
    assert_eq!(crawl.lines().len(), expected.len(), "the second run re-delivered events");

    sim.append(GROWTH);
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(ids(&lines[expected.len()..]), web_ids(&sim, EVENTS, EVENTS + GROWTH), "exactly the new events");
}
