//! `logcrawl run --once` with an Office 365 source (its five content types) and a file sink over a
//! simulated tenant of 60 000 audit records (a thousand a second, a minute of them, a minute old) in
//! blobs of two seconds created late and out of order, no content type subscribed yet: the subscriptions
//! are started, every record delivered exactly once across many windows and their overlaps, a second run
//! adds nothing, records the tenant logs between runs are delivered exactly once by the next; a refused
//! secret stops each stream, naming the source and what to check.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::entra::{CLIENT_ID, CLIENT_SECRET, TENANT};
use logcrawl_sim::office365::{Office365Sim, record_id};

use crate::support::{FileRun, assert_keeps};

const RECORDS: u64 = 60_000;

fn keys(sim: &Office365Sim, secret: &str) -> String {
    format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\nbase_url = \"{url}\"\n\
         login_url = \"{url}\"\ninitial_lookback = \"10m\"\nwindow_step = \"20s\"\noverlap = \"10s\"\nsettle_lag = \"1s\"\n\
         requests_per_second = 500",
        url = sim.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_office365_record_exactly_once() {
    let sim = Office365Sim::builder()
        .events(RECORDS)
        .spacing(Duration::from_millis(1))
        .blob_span(Duration::from_secs(2))
        .publish_delay(Duration::from_secs(1), Duration::from_secs(2))
        .page_blobs(20)
        .unsubscribed()
        .rate_limit(1_000_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let crawl = FileRun::new("office365-contoso", "office365", &keys(&sim, CLIENT_SECRET));
    let started = std::time::Instant::now();
    crawl.run_once().await;
    let first = started.elapsed();
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, RECORDS);
    let seen: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(seen.len() as u64, RECORDS, "duplicates delivered");
    assert_eq!(seen, (0..RECORDS).map(record_id).collect::<HashSet<_>>().iter().map(String::as_str).collect());
    assert_eq!(sim.token_requests(), 1, "one token for the five streams");
    assert_eq!(sim.subscription_starts(), 5, "each content type's subscription started");
    assert_eq!(sim.publishers(), [TENANT], "PublisherIdentifier on every request");

    // Each line is the whole record the blob held, plus the attributes logcrawl adds.
    for i in [0, 1, 2, 3, 4, RECORDS - 1] {
        let id = record_id(i);
        let line = lines.iter().find(|l| l["id"] == id.as_str()).unwrap();
        assert_keeps(
            line,
            &sim.render_record(i),
            &[],
            &["id", "message", "timestamp", "status", "usr", "network", "evt"],
        );
        let at = (sim.at_us(i) / 1_000_000) as f64;
        assert_eq!(line["timestamp"].as_f64().unwrap(), at, "record {i}: CreationTime, whole seconds, UTC");
    }

    let started = std::time::Instant::now();
    crawl.run_once().await;
    let second = started.elapsed();
    assert_eq!(crawl.lines().len() as u64, RECORDS, "the second run re-delivered records");

    // The tenant logs 777 more: delivered once their blobs are created (up to 3 s after their two
    // seconds) and older than the settle lag.
    sim.append_now(777);
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    crawl.run_once().await;
    let lines = crawl.lines();
    let new: HashSet<String> = lines[RECORDS as usize..].iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(lines.len() as u64, RECORDS + 777);
    assert_eq!(new, (RECORDS..RECORDS + 777).map(record_id).collect::<HashSet<_>>(), "exactly the new records");
    eprintln!("office365 e2e: first run {first:?} ({} blobs), second run {second:?}", sim.blob_fetches());
}

#[tokio::test]
async fn a_refused_secret_stops_each_stream_naming_the_source_and_what_to_check() {
    let sim = Office365Sim::builder().events(10).start().await.unwrap();
    let secret = "not~the~secret~VALUE";
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sinks.out]\ntype = \"file\"\npath = \"{}\"\n\n[[sources]]\nname = \"office365-contoso\"\nconnector = \"office365\"\nsink = \"out\"\n{}\n",
        dir.path().join("out.ndjson").display(),
        keys(&sim, secret)
    );
    let crawler = crate::support::crawler(&toml, dir.path());
    let report = crawler.run_once().await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 5, "each stream stops: {failures:?}");
    for (key, failure) in failures {
        assert_eq!(key.source, "office365-contoso");
        assert!(failure.fatal, "{failure:?}");
        assert!(failure.message.contains("AADSTS7000215"), "{}", failure.message);
        assert!(failure.message.contains("client_secret must be a current secret's value"), "{}", failure.message);
        assert!(!failure.message.contains(secret), "{}", failure.message);
    }
}
