//! `logcrawl run --once` with an Okta source and a file sink over a simulated org of 100 000 events:
//! every event delivered exactly once, and a second run adds nothing.

use std::collections::HashSet;

use logcrawl_sim::okta::{OktaSim, event_uuid};

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_okta_event_exactly_once() {
    let sim = OktaSim::builder().events(EVENTS).token("okta-e2e-token").start().await.unwrap();
    let crawl =
        FileRun::new("okta-prod", "okta", &format!("base_url = \"{}\"\ntoken = \"okta-e2e-token\"", sim.base_url()));
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, EVENTS);
    let seen: HashSet<&str> = lines.iter().map(|l| l["uuid"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, EVENTS, "duplicates delivered");
    for i in [0, 1, EVENTS / 2, EVENTS - 1] {
        assert!(seen.contains(event_uuid(i).as_str()), "event {i} missing");
    }
    // Each line is the whole event as the org served it, plus the attributes logcrawl adds.
    for i in [0, EVENTS - 1] {
        let uuid = event_uuid(i);
        let line = lines.iter().find(|l| l["uuid"] == uuid.as_str()).unwrap();
        let added = ["message", "timestamp", "status", "network"];
        assert_keeps(line, &sim.render_event(i), &added, &added);
        for key in ["message", "timestamp", "status"] {
            assert!(line.get(key).is_some(), "event {i}: no {key}");
        }
        let served: serde_json::Value = serde_json::from_slice(&sim.render_event(i)).unwrap();
        if let Some(ip) = served["client"]["ipAddress"].as_str() {
            assert_eq!(line["network"]["client"]["ip"], ip);
        }
    }

    crawl.run_once().await;
    assert_eq!(crawl.lines().len() as u64, EVENTS, "the second run re-delivered events");
}
