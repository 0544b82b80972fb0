//! `logcrawl run --once` with a Slack source and a file sink over a simulated organization of 60 000
//! audit log entries (a thousand a second, a minute of them, ten minutes old): every entry delivered
//! exactly once across many windows, a second run adds nothing, and entries published between runs are
//! delivered exactly once by the next.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::slack::{SlackSim, entry_id};

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 60_000;
const TOKEN: &str = "xoxp-e2e-1234-5678-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_slack_entry_exactly_once() {
    let sim = SlackSim::builder()
        .events(EVENTS)
        .spacing(Duration::from_millis(1))
        .token(TOKEN)
        .rate_limit(100_000, Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let keys = format!(
        "base_url = \"{}\"\ntoken = \"{TOKEN}\"\npage_size = 2000\ninitial_lookback = \"20m\"\nwindow_step = \"15s\"\n\
         settle_lag = \"0s\"\nrequests_per_second = 500",
        sim.base_url()
    );
    let crawl = FileRun::new("slack", "slack", &keys);
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, EVENTS);
    let seen: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, EVENTS, "duplicates delivered");
    for i in [0, 1, EVENTS / 2, EVENTS - 1] {
        assert!(seen.contains(entry_id(i).as_str()), "entry {i} missing");
    }
    // Each line is the whole entry as Slack served it, plus the attributes logcrawl adds.
    for i in [0, EVENTS - 1] {
        let id = entry_id(i);
        let line = lines.iter().find(|l| l["id"] == id.as_str()).unwrap();
        let added = ["message", "timestamp", "status", "usr", "network", "http", "evt"];
        assert_keeps(line, &sim.render_event(i), &[], &added);
        for key in added {
            assert!(line.get(key).is_some(), "entry {i}: no {key}");
        }
        assert_eq!(line["timestamp"], sim.date_create(i));
    }

    crawl.run_once().await;
    assert_eq!(crawl.lines().len() as u64, EVENTS, "the second run re-delivered entries");

    // New entries, stamped now (0.777 s of them): delivered once their last second has passed.
    sim.append(777);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    crawl.run_once().await;
    let lines = crawl.lines();
    let new: HashSet<String> = lines[EVENTS as usize..].iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(lines.len() as u64, EVENTS + 777);
    assert_eq!(new, (EVENTS..EVENTS + 777).map(entry_id).collect::<HashSet<_>>(), "exactly the new entries");
}
