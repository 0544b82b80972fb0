//! Whole crawls of the Entra simulator through the real crawler: three streams exactly once on one token,
//! a run failed inside a window resumed exactly, events indexed late caught by the overlap, a certificate
//! credential, a tenant without the licence sign-ins need, throttling.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BatchLimits, Crawler, FailureStage, MemoryCheckpointStore, RunOutcome, Source, SourceMeta};
use logcrawl_sim::entra::{EntraSim, Log, event_id, log_of};
use logcrawl_testkit::RecordingSink;

use super::entra;

fn crawler(store: &Arc<MemoryCheckpointStore>, sim: &EntraSim, extra: &str, sink: &Arc<RecordingSink>) -> Crawler {
    // The simulators below accept the wiremock tests' secret (or only a certificate).
    let connector = entra(sim.base_url(), sim.base_url(), extra);
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "entra".into(), ..SourceMeta::default() }),
        connector: Arc::new(connector),
        sink: sink.clone(),
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 250, linger: Duration::from_millis(20) }),
        emit_errors: false,
    });
    crawler
}

/// Every id of `log` among events `range`.
fn ids(log: Log, range: std::ops::Range<u64>) -> HashSet<String> {
    range.filter(|i| log_of(*i) == log).map(event_id).collect()
}

fn delivered(sink: &RecordingSink) -> Vec<String> {
    sink.delivered_field("id")
}

fn all(range: std::ops::Range<u64>) -> HashSet<String> {
    range.map(event_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_streams_exactly_once_on_one_token_and_a_crash_inside_a_window_resumed_exactly() {
    let sim = EntraSim::builder()
        .events(6000)
        .spacing(Duration::from_millis(2))
        .client(logcrawl_sim::entra::CLIENT_ID, Some(super::SECRET))
        .rate_limit(100_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let keys = "page_size = 300\ninitial_lookback = \"15m\"\nwindow_step = \"4s\"\nsettle_lag = \"0s\"";
    let store = Arc::new(MemoryCheckpointStore::new());
    let failing = Arc::new(RecordingSink::new().failing_batch(7));
    let report = crawler(&store, &sim, keys, &failing).run_once().await;
    let (_, failure) = report.failures().next().expect("a send failed");
    assert_eq!(failure.stage, FailureStage::Send, "{failure:?}");
    assert_eq!(sim.token_requests(), 1, "three streams, one token");
    let first = delivered(&failing);

    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let report = crawler(&store, &sim, keys, &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    let second = delivered(&sink);
    let mut every: Vec<String> = first.iter().chain(&second).cloned().collect();
    every.sort();
    let before = every.len();
    every.dedup();
    assert_eq!(before, every.len(), "no event twice across the crash");
    assert_eq!(every.into_iter().collect::<HashSet<_>>(), all(0..6000), "every event of the three logs once");

    // Each record is the whole event plus what logcrawl adds, its stream's own.
    // (Either run may have delivered every sign-in, depending on where the crash fell: look in both.)
    let batches: Vec<_> = failing.batches().into_iter().chain(sink.batches()).collect();
    let index: std::collections::HashMap<String, u64> = (0..6000).map(|i| (event_id(i), i)).collect();
    let record = batches.iter().flat_map(|b| b.records.iter()).find(|r| r.get("createdDateTime").is_some()).unwrap();
    let upn = record["userPrincipalName"].as_str().unwrap();
    assert!(record["message"].as_str().unwrap().starts_with(upn), "{record}");
    let served: serde_json::Value =
        serde_json::from_slice(&sim.render_event(index[record["id"].as_str().unwrap()])).unwrap();
    assert_eq!(record["createdDateTime"], served["createdDateTime"], "the event as Graph served it");

    let again = Arc::new(RecordingSink::new());
    crawler(&store, &sim, keys, &again).run_once().await;
    assert!(delivered(&again).is_empty(), "caught up: {:?}", delivered(&again).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_indexed_late_inside_the_overlap_are_delivered_once() {
    // 400 events over the last 8 s, one in five indexed 3 s late: later than the 2 s settle lag, within
    // the overlap after it.
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(8);
    let sim = EntraSim::builder()
        .events(400)
        .first_event_at(start)
        .spacing(Duration::from_millis(20))
        .client(logcrawl_sim::entra::CLIENT_ID, Some(super::SECRET))
        .late_events(5, Duration::from_secs(3))
        .rate_limit(100_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let keys = "page_size = 50\ninitial_lookback = \"1m\"\nwindow_step = \"1h\"\nsettle_lag = \"2s\"";
    let store = Arc::new(MemoryCheckpointStore::new());
    let mut seen: Vec<String> = Vec::new();
    let mut late_caught = 0;
    for run in 0..4 {
        let horizon = jiff::Timestamp::now() - jiff::SignedDuration::from_millis(2_100);
        let sink = Arc::new(RecordingSink::new());
        let report = crawler(&store, &sim, keys, &sink).run_once().await;
        assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
        if run == 0 {
            // What the first run's window covered but could not see yet: what the overlap is for.
            let first: HashSet<String> = delivered(&sink).into_iter().collect();
            let covered = (0..400).filter(|i| sim.at_us(*i) < horizon.as_microsecond());
            late_caught = covered.filter(|i| !first.contains(&event_id(*i))).count();
        }
        seen.extend(delivered(&sink));
        tokio::time::sleep(Duration::from_millis(2_600)).await;
    }
    assert!(late_caught >= 3, "the first run should have missed some late events: {late_caught}");
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "no event twice");
    assert_eq!(unique, all(0..400), "the late ones too");
}

#[tokio::test]
async fn a_certificate_credential_crawls_the_simulator() {
    let sim = EntraSim::builder()
        .events(300)
        .client(logcrawl_sim::entra::CLIENT_ID, None)
        .rate_limit(100_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), logcrawl_sim::entra::TEST_CERTIFICATE).unwrap();
    let keys = format!(
        "certificate_file = \"{}\"\ninitial_lookback = \"15m\"\nsettle_lag = \"0s\"\nstreams = [\"provisioning\"]",
        file.path().display()
    );
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&Arc::new(MemoryCheckpointStore::new()), &sim, &keys, &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    assert_eq!(delivered(&sink).into_iter().collect::<HashSet<_>>(), ids(Log::Provisioning, 0..300));

    // Another certificate's key: the token endpoint refuses it, and the source stops.
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), logcrawl_sim::entra::OTHER_TEST_CERTIFICATE).unwrap();
    let keys = format!("certificate_file = \"{}\"\ninitial_lookback = \"15m\"", other.path().display());
    let report = crawler(&Arc::new(MemoryCheckpointStore::new()), &sim, &keys, &sink).run_once().await;
    let (_, failure) = report.failures().next().expect("refused");
    assert!(failure.fatal && failure.message.contains("AADSTS700027"), "{failure:?}");
}

#[tokio::test]
async fn without_the_licence_only_sign_ins_stop_and_throttling_is_waited_out() {
    let sim = EntraSim::builder()
        .events(500)
        .client(logcrawl_sim::entra::CLIENT_ID, Some(super::SECRET))
        .without_premium()
        .rate_limit(100_000, Duration::from_secs(1))
        .inject_429([2, 3])
        .inject_wait(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let keys = "initial_lookback = \"15m\"\nsettle_lag = \"0s\"\npage_size = 100";
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&Arc::new(MemoryCheckpointStore::new()), &sim, keys, &sink).run_once().await;
    let outcomes: Vec<(String, RunOutcome)> =
        report.runs.iter().map(|run| (run.key.stream.clone(), run.outcome.clone())).collect();
    for (stream, outcome) in &outcomes {
        match (stream.as_str(), outcome) {
            ("sign_ins", RunOutcome::Failed(failure)) => {
                assert!(failure.fatal && failure.message.contains("P1 or P2 licence"), "{failure:?}");
            }
            ("sign_ins", other) => panic!("sign-ins should have stopped: {other:?}"),
            (_, outcome) => assert_eq!(*outcome, RunOutcome::CaughtUp, "{stream}"),
        }
    }
    let expected: HashSet<String> =
        ids(Log::DirectoryAudits, 0..500).union(&ids(Log::Provisioning, 0..500)).cloned().collect();
    assert_eq!(delivered(&sink).into_iter().collect::<HashSet<_>>(), expected);
    // Requests 2 and 3 are planted 429s unless one of them is the sign-ins request, refused before its
    // turn (the three streams ask in any order): at least one was met, waited out and asked again.
    assert!((1..=2).contains(&sim.rate_limited()), "{}", sim.rate_limited());
}
