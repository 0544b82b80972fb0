//! `logcrawl run --once` with a 1Password source (all three streams) and a file sink over a simulated
//! account of 60 000 events: every event delivered exactly once, a second run adds nothing, and events
//! published between runs are delivered exactly once by the next.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use logcrawl_sim::onepassword::{Feed, OnePasswordSim, event_uuid};

use crate::support::ndjson;

const PER_FEED: u64 = 20_000;
const TOKEN: &str = "ops_e2e_bearer_token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_1password_event_exactly_once() {
    let sim = OnePasswordSim::builder().events(PER_FEED).token(TOKEN).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("1password.ndjson");
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
name = "1password"
connector = "onepassword"
sink = "out"
base_url = "{base}"
token = "{TOKEN}"
requests_per_second = 200
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
        let uuid = event_uuid(feed, 7);
        let line = by_uuid[uuid.as_str()].as_object().unwrap();
        let served: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&sim.render_event(feed, 7)).unwrap();
        for (key, value) in &served {
            if key != "timestamp" {
                assert_eq!(line.get(key), Some(value), "{feed:?}: {key}");
            }
        }
        assert!(line["timestamp"].is_f64(), "{feed:?}: epoch seconds in place of RFC 3339");
        for key in ["message", "status", "usr", "network", "evt"] {
            assert!(line.contains_key(key), "{feed:?}: no {key}");
        }
    }

    let again = logcrawl::commands::run(&config, true).await.unwrap();
    assert_eq!(again, ExitCode::SUCCESS);
    assert_eq!(ndjson(&out).len() as u64, 3 * PER_FEED, "the second run re-delivered events");

    sim.append(Feed::AuditEvents, 1234);
    sim.append(Feed::ItemUsages, 5);
    let grown = logcrawl::commands::run(&config, true).await.unwrap();
    assert_eq!(grown, ExitCode::SUCCESS);
    let lines = ndjson(&out);
    assert_eq!(lines.len() as u64, 3 * PER_FEED + 1239);
    let new: Vec<&str> = lines[(3 * PER_FEED) as usize..].iter().map(|l| l["uuid"].as_str().unwrap()).collect();
    let expected: HashSet<String> = (PER_FEED..PER_FEED + 1234)
        .map(|i| event_uuid(Feed::AuditEvents, i))
        .chain((PER_FEED..PER_FEED + 5).map(|i| event_uuid(Feed::ItemUsages, i)))
        .collect();
    assert_eq!(new.iter().map(|u| (*u).to_owned()).collect::<HashSet<_>>(), expected, "exactly the new events");
    assert_eq!(new.len(), expected.len());
}
