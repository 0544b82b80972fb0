//! Whole crawls of the Slack simulator through the real crawler: many windows of bursts exactly once,
//! a run failed inside a window resumed exactly, growth, the action filter, Tier 3's 429s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{BatchLimits, Crawler, FailureStage, MemoryCheckpointStore, RunOutcome, Source, SourceMeta};
use logcrawl_sim::slack::{SlackSim, entry_id};
use logcrawl_testkit::RecordingSink;

use super::{TOKEN, slack};

/// Windows of 10 s over the last quarter of an hour, up to the last whole second (the simulator indexes
/// at once): many windows of ~100 entries a second (the simulator's newest is ten minutes old).
const KEYS: &str = "page_size = 250\ninitial_lookback = \"15m\"\nwindow_step = \"10s\"\nsettle_lag = \"0s\"";

fn crawler(store: &Arc<MemoryCheckpointStore>, base_url: &str, extra: &str, sink: &Arc<RecordingSink>) -> Crawler {
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "slack".into(), ..SourceMeta::default() }),
        connector: Arc::new(slack(base_url, &format!("{KEYS}\n{extra}"))),
        sink: sink.clone(),
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 333, linger: Duration::from_millis(20) }),
        emit_errors: false,
    });
    crawler
}

fn delivered(sink: &RecordingSink) -> Vec<String> {
    sink.delivered_field("id")
}

/// Entries `0..n`, spread over the last hour but for the last ten minutes.
async fn sim(n: u64) -> SlackSim {
    SlackSim::builder().events(n).token(TOKEN).rate_limit(100_000, Duration::from_secs(60)).start().await.unwrap()
}

fn ids(range: std::ops::Range<u64>) -> HashSet<String> {
    range.map(entry_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_windows_exactly_once_a_crash_inside_a_window_and_growth() {
    let sim = sim(6000).await;
    let store = Arc::new(MemoryCheckpointStore::new());

    // The sink fails a send in the middle: the run stops inside a window (batches of 333 cut windows of
    // about a thousand entries).
    let failing = Arc::new(RecordingSink::new().failing_batch(8));
    let report = crawler(&store, sim.base_url(), "", &failing).run_once().await;
    let (_, failure) = report.failures().next().expect("a send failed");
    assert_eq!(failure.stage, FailureStage::Send, "{failure:?}");
    let first = delivered(&failing);
    assert!(!first.is_empty() && first.len() < 6000, "{}", first.len());

    // The next run resumes exactly where the fourth batch ended, in the middle of its window.
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let report = crawler(&store, sim.base_url(), "", &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    let second = delivered(&sink);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(all.len(), 6000, "no duplicate");
    assert_eq!(all.iter().cloned().collect::<HashSet<_>>(), ids(0..6000), "no gap");

    // Caught up: nothing again.
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), "", &sink).run_once().await;
    assert_eq!((report.failures().count(), report.delivered()), (0, 0), "{report:?}");

    // Growth: entries stamped now (1.5 s of them) are delivered once their last second has passed.
    sim.append(150);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), "", &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    let grown = delivered(&sink);
    assert_eq!(grown.len(), 150);
    assert_eq!(grown.into_iter().collect::<HashSet<_>>(), ids(6000..6150), "exactly the new entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_filter_reaches_slack_and_only_those_actions_come() {
    let sim = sim(2000).await;
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report =
        crawler(&store, sim.base_url(), "actions = [\"user_logout\", \"app_installed\"]", &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    let expected: HashSet<String> =
        (0..2000).filter(|&i| ["user_logout", "app_installed"].contains(&sim.action(i))).map(entry_id).collect();
    let got = delivered(&sink);
    assert!(!expected.is_empty());
    assert_eq!((got.len(), got.into_iter().collect::<HashSet<_>>()), (expected.len(), expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_3_429s_are_waited_out_without_loss_or_duplicates() {
    let sim = SlackSim::builder()
        .events(900)
        .token(TOKEN)
        .rate_limit(100_000, Duration::from_secs(60))
        .inject_429([2, 5])
        .start()
        .await
        .unwrap();
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, sim.base_url(), "", &sink).run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    assert_eq!(sim.rate_limited(), 2);
    let got = delivered(&sink);
    assert_eq!((got.len(), got.into_iter().collect::<HashSet<_>>()), (900, ids(0..900)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_source_after_one_request() {
    for sim in [
        SlackSim::builder().token("xoxp-another").start().await.unwrap(),
        SlackSim::builder().token("xoxp-another").errors_with_200().start().await.unwrap(),
        SlackSim::builder().token(TOKEN).refuse("feature_not_enabled").start().await.unwrap(),
    ] {
        let store = Arc::new(MemoryCheckpointStore::new());
        let sink = Arc::new(RecordingSink::new());
        let report = crawler(&store, sim.base_url(), "", &sink).run_once().await;
        let run = &report.runs[0];
        let RunOutcome::Failed(failure) = &run.outcome else { panic!("{run:?}") };
        assert!(failure.fatal && !failure.message.contains("SECRET"), "{failure:?}");
        assert_eq!(sim.requests(), 1, "no retry storm");
    }
}
