//! Whole crawls of the 1Password simulator through the real crawler: three streams exactly once, the
//! persistent cursor across runs and growth, a token without a feature, injected 429s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{
    BatchLimits, CheckpointStore, Crawler, MemoryCheckpointStore, RunOutcome, Source, SourceMeta, StreamKey,
};
use logcrawl_sim::onepassword::{Feed, OnePasswordSim, event_uuid};
use logcrawl_testkit::RecordingSink;

use super::{TOKEN, connector};

fn crawler(store: &Arc<MemoryCheckpointStore>, base_url: &str, sink: &Arc<RecordingSink>) -> Crawler {
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "op".into(), ..SourceMeta::default() }),
        connector: Arc::new(connector(base_url, "page_size = 1000")),
        sink: sink.clone(),
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 700, linger: Duration::from_millis(20) }),
        emit_errors: false,
    });
    crawler
}

/// The uuids of the records of `stream` the sink acknowledged, in order.
fn delivered(sink: &RecordingSink, stream: &str) -> Vec<String> {
    sink.batches()
        .iter()
        .filter(|batch| batch.accepted && batch.stream == stream)
        .flat_map(|batch| batch.records.iter().map(|r| r["uuid"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn expected(feed: Feed, range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| event_uuid(feed, i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_streams_exactly_once_across_runs_and_growth() {
    let sim =
        OnePasswordSim::builder().events(2500).feed_events(Feed::ItemUsages, 1200).token(TOKEN).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let report = crawler(&store, sim.base_url(), &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert_eq!(delivered(&sink, "auditevents"), expected(Feed::AuditEvents, 0..2500));
    assert_eq!(delivered(&sink, "signinattempts"), expected(Feed::SignInAttempts, 0..2500));
    assert_eq!(delivered(&sink, "itemusages"), expected(Feed::ItemUsages, 0..1200));
    // Three pages of 1000 for a feed of 2500, two for 1200: has_more=false ends the run, no extra poll.
    assert_eq!((sim.requests_of(Feed::AuditEvents), sim.requests_of(Feed::ItemUsages)), (3, 2));

    // Caught up: one poll per stream with the stored cursor, nothing new.
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), &sink).run_once().await;
    assert_eq!((report.failures().count(), report.delivered()), (0, 0), "{report:?}");
    assert_eq!(sim.requests(), 5 + 3 + 3);

    // Growth on two feeds: exactly the new events, from where the cursors stopped.
    sim.append(Feed::SignInAttempts, 7);
    sim.append(Feed::ItemUsages, 1500);
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert!(delivered(&sink, "auditevents").is_empty());
    assert_eq!(delivered(&sink, "signinattempts"), expected(Feed::SignInAttempts, 2500..2507));
    assert_eq!(delivered(&sink, "itemusages"), expected(Feed::ItemUsages, 1200..2700));
    let checkpoint = store.load(&StreamKey::new("op", "itemusages")).unwrap().expect("committed");
    assert!(checkpoint["cursor"].is_string() && checkpoint.get("start_time").is_none(), "{checkpoint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_feature_stops_that_stream_only_naming_it() {
    let sim = OnePasswordSim::builder().events(300).token(TOKEN).features([Feed::AuditEvents]).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), &sink).run_once().await;
    assert_eq!(delivered(&sink, "auditevents").len(), 300, "the stream the token may read went on");
    let failed: HashSet<String> = report
        .failures()
        .map(|(key, failure)| {
            assert!(failure.fatal, "{failure:?}");
            assert!(failure.message.contains(&format!("`{}` stream", key.stream)), "{}", failure.message);
            assert!(!failure.message.contains("SECRET"), "{}", failure.message);
            key.stream.clone()
        })
        .collect();
    assert_eq!(failed, HashSet::from(["signinattempts".to_owned(), "itemusages".to_owned()]));
    assert_eq!((sim.requests_of(Feed::SignInAttempts), sim.requests_of(Feed::ItemUsages)), (1, 1), "no retry storm");
    let ok = report.runs.iter().find(|run| run.key.stream == "auditevents").unwrap();
    assert_eq!(ok.outcome, RunOutcome::CaughtUp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429s_are_waited_out_without_loss_or_duplicates() {
    let sim = OnePasswordSim::builder().events(2100).token(TOKEN).inject_429([2, 3, 6]).start().await.unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert_eq!(sim.rate_limited(), 3);
    for feed in Feed::ALL {
        assert_eq!(delivered(&sink, feed.name()), expected(feed, 0..2100), "{feed:?}");
    }
}
