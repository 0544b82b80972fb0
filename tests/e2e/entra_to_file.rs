//! `logcrawl run --once` with an Entra source (its three streams) and a file sink over a simulated tenant
//! of 60 000 events (a thousand a second, a minute of them, a minute old): every event of the three logs
//! delivered exactly once across many windows and their overlaps, a second run adds nothing, events the
//! tenant logs between runs are delivered exactly once by the next; a refused secret stops the source,
//! naming it and what to check.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::entra::{CLIENT_ID, CLIENT_SECRET, EntraSim, Log, TENANT, event_id, log_of};

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 60_000;

fn keys(sim: &EntraSim, secret: &str) -> String {
    format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\nbase_url = \"{url}\"\n\
         login_url = \"{url}\"\npage_size = 1000\ninitial_lookback = \"20m\"\nwindow_step = \"15s\"\nsettle_lag = \"2s\"\n\
         requests_per_second = 500",
        url = sim.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_entra_event_exactly_once() {
    let sim = EntraSim::builder()
        .events(EVENTS)
        .spacing(Duration::from_millis(1))
        .rate_limit(1_000_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let crawl = FileRun::new("entra-contoso", "entra", &keys(&sim, CLIENT_SECRET));
    crawl.run_once().await;
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, EVENTS);
    let seen: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, EVENTS, "duplicates delivered");
    assert_eq!(seen, (0..EVENTS).map(event_id).collect::<HashSet<_>>().iter().map(String::as_str).collect());
    assert_eq!(sim.token_requests(), 1, "one token for the three streams");

    // Each line is the whole event as Graph served it, plus the attributes logcrawl adds.
    for i in [0, 6, 9, EVENTS - 1] {
        let id = event_id(i);
        let line = lines.iter().find(|l| l["id"] == id.as_str()).unwrap();
        let (replaced, added): (&[&str], &[&str]) = match log_of(i) {
            Log::SignIns => (&["status"], &["message", "timestamp", "status", "usr", "network", "evt", "signInStatus"]),
            Log::DirectoryAudits => (&[], &["message", "timestamp", "status", "usr", "network", "evt"]),
            Log::Provisioning => (&[], &["message", "timestamp", "status", "usr", "evt"]),
        };
        assert_keeps(line, &sim.render_event(i), replaced, added);
        // Provisioning's instants are whole seconds, the others' Graph's ticks.
        let at = sim.at_us(i) as f64 / 1e6;
        let at = if log_of(i) == Log::Provisioning { at.floor() } else { at };
        assert!((line["timestamp"].as_f64().unwrap() - at).abs() < 1e-3, "event {i}: {}", line["timestamp"]);
    }

    crawl.run_once().await;
    assert_eq!(crawl.lines().len() as u64, EVENTS, "the second run re-delivered events");

    // The tenant logs 777 more (0.777 s of them): delivered once they are older than the settle lag and a
    // window's worth of it has passed since the last run.
    sim.append_now(777);
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    crawl.run_once().await;
    let lines = crawl.lines();
    let new: HashSet<String> = lines[EVENTS as usize..].iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(lines.len() as u64, EVENTS + 777);
    assert_eq!(new, (EVENTS..EVENTS + 777).map(event_id).collect::<HashSet<_>>(), "exactly the new events");
}

#[tokio::test]
async fn a_refused_secret_stops_the_source_naming_it_and_what_to_check() {
    let sim = EntraSim::builder().events(10).start().await.unwrap();
    let secret = "not~the~secret~VALUE";
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sinks.out]\ntype = \"file\"\npath = \"{}\"\n\n[[sources]]\nname = \"entra-contoso\"\nconnector = \"entra\"\nsink = \"out\"\n{}\n",
        dir.path().join("out.ndjson").display(),
        keys(&sim, secret)
    );
    let crawler = crate::support::crawler(&toml, dir.path());
    let report = crawler.run_once().await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 3, "each stream stops: {failures:?}");
    for (key, failure) in failures {
        assert_eq!(key.source, "entra-contoso");
        assert!(failure.fatal, "{failure:?}");
        assert!(
            failure.message.contains("invalid_client") && failure.message.contains("AADSTS7000215"),
            "{}",
            failure.message
        );
        assert!(failure.message.contains("client_secret must be a current secret's value"), "{}", failure.message);
        assert!(!failure.message.contains(secret), "{}", failure.message);
    }
}
