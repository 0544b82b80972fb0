//! `logcrawl run --once` with a 1Password source (all three streams) and a file sink over a simulated
//! account of 60 000 events: every event delivered exactly once, a second run adds nothing, and events
//! published between runs are delivered exactly once by the next.

use std::collections::{HashMap, HashSet};

use logcrawl_sim::onepassword::{Feed, OnePasswordSim, event_uuid};

use crate::support::{FileRun, assert_keeps};

const PER_FEED: u64 = 20_000;
const TOKEN: &str = "ops_e2e_bearer_token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_1password_event_exactly_once() {
    let sim = OnePasswordSim::builder().events(PER_FEED).token(TOKEN).start().await.unwrap();
    let keys = format!("base_url = \"{}\"\ntoken = \"{TOKEN}\"\nrequests_per_second = 200", sim.base_url());
    let crawl = FileRun::new("1password", "onepassword", &keys);
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, 3 * PER_FEED);
    let seen: HashSet<&str> = lines.iter().map(|l| l["uuid"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, 3 * PER_FEED, "duplicates delivered");
    for feed in Feed::ALL {
        for i in [0, 1, PER_FEED / 2, PER_FEED - 1] {
            assert!(seen.contains(event_uuid(feed, i).as_str()), "{feed:?} event {i} missing");
        }
    }
    // Each line is the whole event as 1Password served it, plus the attributes logcrawl adds.
    let by_uuid: HashMap<&str, &serde_json::Value> = lines.iter().map(|l| (l["uuid"].as_str().unwrap(), l)).collect();
    for feed in Feed::ALL {
        let line = by_uuid[event_uuid(feed, 7).as_str()];
        assert_keeps(line, &sim.render_event(feed, 7), &["timestamp"], &["message", "status", "usr", "network", "evt"]);
        assert!(line["timestamp"].is_f64(), "{feed:?}: epoch seconds in place of RFC 3339");
        for key in ["message", "status", "usr", "network", "evt"] {
            assert!(line.get(key).is_some(), "{feed:?}: no {key}");
        }
    }

    crawl.run_once().await;
    assert_eq!(crawl.lines().len() as u64, 3 * PER_FEED, "the second run re-delivered events");

    sim.append(Feed::AuditEvents, 1234);
    sim.append(Feed::ItemUsages, 5);
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, 3 * PER_FEED + 1239);
    let new: Vec<&str> = lines[(3 * PER_FEED) as usize..].iter().map(|l| l["uuid"].as_str().unwrap()).collect();
    let expected: HashSet<String> = (PER_FEED..PER_FEED + 1234)
        .map(|i| event_uuid(Feed::AuditEvents, i))
        .chain((PER_FEED..PER_FEED + 5).map(|i| event_uuid(Feed::ItemUsages, i)))
        .collect();
    assert_eq!(new.iter().map(|u| (*u).to_owned()).collect::<HashSet<_>>(), expected, "exactly the new events");
    assert_eq!(new.len(), expected.len());
}
