//! Whole crawls of the simulator through the real crawler: five content types exactly once on one token
//! and one publisher, a run failed inside a blob resumed exactly, subscriptions started, throttling
//! waited out, a revoked token fetched again, a refused permission, a certificate, blobs listed late.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{BatchLimits, Crawler, FailureStage, MemoryCheckpointStore, Source, SourceMeta};
use logcrawl_sim::entra::{CLIENT_ID, Registration, TENANT, TEST_CERTIFICATE};
use logcrawl_sim::office365::{Office365Sim, Office365SimBuilder, record_id};
use logcrawl_testkit::RecordingSink;

use super::office365;

/// A simulator accepting the wiremock tests' secret: `events` records 20 ms apart, the newest ten
/// minutes old, blobs of 30 s created a minute after.
fn sim(events: u64) -> Office365SimBuilder {
    Office365Sim::builder()
        .registration(Registration {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(super::SECRET.into()),
            certificate: Some(TEST_CERTIFICATE.into()),
            token_lifetime: Duration::from_secs(3599),
        })
        .events(events)
        .spacing(Duration::from_millis(20))
        .first_event_at(
            Timestamp::now() - SignedDuration::from_millis(events as i64 * 20) - SignedDuration::from_mins(10),
        )
        .blob_span(Duration::from_secs(30))
        .publish_delay(Duration::from_secs(60), Duration::from_secs(45))
        .page_blobs(4)
        .rate_limit(100_000, Duration::from_secs(1))
}

const KEYS: &str = "initial_lookback = \"2h\"\nwindow_step = \"20m\"\nsettle_lag = \"0s\"";

fn crawler(store: &Arc<MemoryCheckpointStore>, sim: &Office365Sim, extra: &str, sink: &Arc<RecordingSink>) -> Crawler {
    let connector = office365(sim.base_url(), sim.base_url(), extra);
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "o365".into(), ..SourceMeta::default() }),
        connector: Arc::new(connector),
        sink: sink.clone(),
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 37, linger: Duration::from_millis(20) }),
        emit_errors: false,
    });
    crawler
}

fn all(range: std::ops::Range<u64>) -> HashSet<String> {
    range.map(record_id).collect()
}

/// The ids delivered, checked to hold no duplicate.
fn once(sinks: &[&RecordingSink]) -> HashSet<String> {
    let every: Vec<String> = sinks.iter().flat_map(|s| s.delivered_field("id")).collect();
    let set: HashSet<String> = every.iter().cloned().collect();
    assert_eq!(set.len(), every.len(), "no record twice");
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_content_types_exactly_once_on_one_token_and_a_crash_inside_a_blob_resumed_exactly() {
    let sim = sim(4000).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let failing = Arc::new(RecordingSink::new().failing_batch(9));
    let report = crawler(&store, &sim, KEYS, &failing).run_once().await;
    let (_, failure) = report.failures().next().expect("a send failed");
    assert_eq!(failure.stage, FailureStage::Send, "{failure:?}");
    assert_eq!(sim.token_requests(), 1, "five streams, one token");

    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let report = crawler(&store, &sim, KEYS, &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    assert_eq!(once(&[&failing, &sink]), all(0..4000), "every record of the five content types once");
    assert_eq!(sim.publishers(), [TENANT], "PublisherIdentifier (the tenant by default) on every request");

    // Each record is the whole record the blob held, plus what logcrawl adds.
    let record = sink.batches().into_iter().flat_map(|b| b.records).next().unwrap();
    assert!(record["Workload"].is_string() && record["RecordType"].is_number(), "{record}");
    assert_eq!(record["evt"]["name"], record["Operation"]);

    // Nothing new: nothing again; new records: delivered once.
    let again = Arc::new(RecordingSink::new());
    crawler(&store, &sim, KEYS, &again).run_once().await;
    assert!(again.delivered_field("id").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_subscriptions_are_started_and_429s_waited_out() {
    let sim = sim(600).unsubscribed().throttle_one_in(7).inject_wait(Duration::from_secs(1)).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let report = crawler(&store, &sim, KEYS, &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    assert_eq!(sim.subscription_starts(), 5, "one start per content type");
    assert!(sim.throttled() > 0, "the simulator throttled");
    assert_eq!(once(&[&sink]), all(0..600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_fetched_again_once() {
    let sim = sim(300).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let keys = format!("{KEYS}\ncontent_types = [\"Audit.Exchange\"]");
    let first = Arc::new(RecordingSink::new());
    let connector_run = crawler(&store, &sim, &keys, &first);
    connector_run.run_once().await;
    sim.append_now(50);
    sim.revoke_tokens();
    tokio::time::sleep(Duration::from_secs(1)).await;
    connector_run.run_once().await;
    assert_eq!(sim.token_requests(), 2, "one token, then one more after the 401");
}

#[tokio::test]
async fn a_refused_permission_is_fatal_naming_it() {
    let sim = sim(10).without_permission().start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report =
        crawler(&store, &sim, &format!("{KEYS}\ncontent_types = [\"Audit.SharePoint\"]"), &sink).run_once().await;
    let (_, failure) = report.failures().next().expect("refused");
    assert!(failure.fatal, "{failure:?}");
    assert!(failure.message.contains("ActivityFeed.Read"), "{}", failure.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_credential_signs_a_new_assertion_the_simulator_verifies() {
    let sim = sim(200).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("app.pem");
    std::fs::write(&pem, TEST_CERTIFICATE).unwrap();
    let text = format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\ncertificate_file = \"{}\"\nbase_url = \"{url}\"\n\
         login_url = \"{url}\"\nrequests_per_second = 1000\ncontent_types = [\"Audit.General\"]\n{KEYS}",
        pem.display(),
        url = sim.base_url()
    );
    let connector = logcrawl_office365::Office365Connector::from_table(
        &text.parse().unwrap(),
        &logcrawl_core::BuildContext::new("o365"),
    )
    .unwrap();
    let drained = logcrawl_testkit::drain(connector.feed_streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.logs().count() as u64, logcrawl_sim::office365::count(3, 200));
    assert_eq!(sim.token_requests(), 1);
}

/// Two runs over a live tenant whose blobs are one in three listed 8 s after their creation: what the
/// second run delivers, with `overlap`, and every record.
async fn late_blobs(overlap: &str) -> (usize, HashSet<String>, HashSet<String>) {
    let sim = sim(2000)
        .spacing(Duration::from_millis(5))
        .first_event_at(Timestamp::now() - SignedDuration::from_secs(10))
        .blob_span(Duration::from_secs(1))
        .publish_delay(Duration::from_millis(500), Duration::ZERO)
        .late_blobs(3, Duration::from_secs(8))
        .start()
        .await
        .unwrap();
    let keys =
        format!("initial_lookback = \"1m\"\nwindow_step = \"20s\"\nsettle_lag = \"0s\"\noverlap = \"{overlap}\"");
    let keys = format!("{keys}\ncontent_types = [\"Audit.Exchange\"]");
    let store = Arc::new(MemoryCheckpointStore::new());
    let first = Arc::new(RecordingSink::new());
    crawler(&store, &sim, &keys, &first).run_once().await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let second = Arc::new(RecordingSink::new());
    crawler(&store, &sim, &keys, &second).run_once().await;
    let exchange = (0..2000).filter(|i| logcrawl_sim::office365::kind_of(*i) == 1).map(record_id).collect();
    (first.delivered_field("id").len(), once(&[&first, &second]), exchange)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_listed_late_are_caught_by_the_overlap_once_and_missed_without_it() {
    let ((first, delivered, all), (_, without, _)) = tokio::join!(late_blobs("30s"), late_blobs("0s"));
    assert!(first < all.len(), "the first run cannot see the blobs listed late");
    assert_eq!(delivered, all, "with an overlap, every record once");
    assert!(without.len() < all.len(), "without one, the blobs listed late are missed (the limit)");
}
