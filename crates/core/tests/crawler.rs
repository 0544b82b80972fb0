//! Behaviour of the crawler runtime: ordering, commits, failures, shutdown. The sinks and stores here
//! record everything they are given, so the tests assert on what was delivered and what was committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use logcrawl_core::{
    Batch, BatchLimits, CheckpointError, CheckpointStore, Connector, Crawler, Cursor, Delivery, FailureStage,
    LogRecord, LogStream, MAX_BATCHES_HOLDING_RECORDS, MemoryCheckpointStore, RecordStream, RunOutcome, Sink,
    SinkError, Source, SourceMeta, StreamError, StreamKey, now_seconds,
};
use serde_json::{Value, json};

/// Yields `per_run` records after the cursor's counter, like the streams of Datadog's `test_submission`.
struct CounterStream {
    name: String,
    start: u64,
    per_run: u64,
    /// Fail after yielding this many records.
    fail_after: Option<u64>,
    /// Never end (for shutdown tests).
    endless: bool,
    /// Pause between records.
    pace: Option<Duration>,
    /// Timestamp of every record (seconds), if any.
    timestamp: Option<f64>,
}

impl CounterStream {
    fn new(name: &str, start: u64, per_run: u64) -> Self {
        Self { name: name.into(), start, per_run, fail_after: None, endless: false, pace: None, timestamp: None }
    }
}

impl LogStream for CounterStream {
    fn name(&self) -> &str {
        &self.name
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        let counter = cursor.as_ref().and_then(|c| c["counter"].as_u64()).unwrap_or(self.start);
        Box::pin(async_stream::try_stream! {
            let mut i = counter + 1;
            let mut yielded = 0;
            while self.endless || i <= counter + self.per_run {
                if self.fail_after == Some(yielded) {
                    Err(StreamError::transient(format!("page after {i} failed")))?;
                }
                if let Some(pace) = self.pace {
                    tokio::time::sleep(pace).await;
                }
                let mut data = serde_json::Map::new();
                data.insert("message".into(), json!(format!("{} record {i}", self.name)));
                if let Some(ts) = self.timestamp {
                    data.insert("timestamp".into(), json!(ts));
                }
                yield LogRecord::new(data).with_cursor(json!({"counter": i}));
                i += 1;
                yielded += 1;
            }
        })
    }
}

struct StaticConnector(Vec<Arc<dyn LogStream>>);

impl Connector for StaticConnector {
    fn kind(&self) -> &str {
        "test"
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.0.clone()
    }
}

/// Remembers every batch; can fail a given call or be slow.
#[derive(Default)]
struct RecordingSink {
    batches: Mutex<Vec<(String, Vec<String>)>>,
    calls: AtomicUsize,
    fail_call: Option<usize>,
    fatal: bool,
    max_in_flight: usize,
    limits: Option<BatchLimits>,
    max_age: Option<Duration>,
    /// Delay of call n (1-based) in ms: later calls faster, to reorder completions.
    delays: Option<fn(usize) -> u64>,
}

impl RecordingSink {
    fn messages(&self) -> Vec<String> {
        self.batches.lock().unwrap().iter().flat_map(|(_, msgs)| msgs.clone()).collect()
    }

    fn messages_of(&self, stream: &str) -> Vec<String> {
        self.batches.lock().unwrap().iter().filter(|(s, _)| s == stream).flat_map(|(_, m)| m.clone()).collect()
    }
}

impl Sink for RecordingSink {
    fn name(&self) -> &str {
        "recording"
    }

    fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    fn batch_limits(&self) -> BatchLimits {
        self.limits.unwrap_or_default()
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight.max(1)
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(delay) = self.delays {
                tokio::time::sleep(Duration::from_millis(delay(call))).await;
            }
            if self.fail_call == Some(call) {
                return Err(if self.fatal {
                    SinkError::fatal("403 forbidden")
                } else {
                    SinkError::retryable("503 after retries")
                });
            }
            let messages: Vec<String> =
                batch.records.iter().map(|r| r.message().unwrap_or_default().to_owned()).collect();
            let accepted = messages.len();
            self.batches.lock().unwrap().push((batch.stream.to_string(), messages));
            Ok(Delivery::accepted(accepted))
        })
    }
}

/// A memory store that logs commits and can fail the k-th one (a crash between ack and commit).
#[derive(Debug, Default)]
struct RecordingStore {
    inner: MemoryCheckpointStore,
    commits: Mutex<Vec<(StreamKey, Cursor)>>,
    fail_commit: Option<usize>,
}

impl CheckpointStore for RecordingStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        self.inner.load(key)
    }

    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        let mut commits = self.commits.lock().unwrap();
        if self.fail_commit == Some(commits.len() + 1) {
            return Err(CheckpointError::Io { path: "/crash".into(), source: std::io::Error::other("process killed") });
        }
        commits.push((key.clone(), cursor.clone()));
        self.inner.commit(key, cursor)
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        self.inner.list()
    }
}

fn source(name: &str, streams: Vec<Arc<dyn LogStream>>, sink: Arc<dyn Sink>, max_records: usize) -> Source {
    Source {
        meta: Arc::new(SourceMeta {
            name: name.into(),
            connector: "test".into(),
            tags: vec!["foo:bar".into(), "baz:qux".into()],
            ..SourceMeta::default()
        }),
        connector: Arc::new(StaticConnector(streams)),
        sink,
        interval: Duration::from_millis(50),
        batch: Some(BatchLimits { max_records, linger: Duration::from_secs(5) }),
        emit_errors: false,
    }
}

fn key(stream: &str) -> StreamKey {
    StreamKey::new("src", stream)
}

fn msgs(stream: &str, range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|i| format!("{stream} record {i}")).collect()
}

#[tokio::test]
async fn two_streams_keep_their_own_cursors_across_runs_like_test_submission() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let streams: Vec<Arc<dyn LogStream>> =
        vec![Arc::new(CounterStream::new("stream1", 1, 2)), Arc::new(CounterStream::new("stream2", 5, 2))];
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", streams, sink.clone(), 100));

    let first = crawler.run_once().await;
    assert_eq!(first.delivered(), 4);
    assert_eq!(sink.messages_of("stream1"), msgs("stream1", 2..=3));
    assert_eq!(sink.messages_of("stream2"), msgs("stream2", 6..=7));

    let second = crawler.run_once().await;
    assert_eq!(second.delivered(), 4);
    assert_eq!(sink.messages_of("stream1"), msgs("stream1", 2..=5));
    assert_eq!(sink.messages_of("stream2"), msgs("stream2", 6..=9));
    assert_eq!(store.load(&key("stream1")).unwrap(), Some(json!({"counter": 5})));
    assert_eq!(store.load(&key("stream2")).unwrap(), Some(json!({"counter": 9})));
}

#[tokio::test]
async fn resumes_from_the_stored_cursor() {
    let store = Arc::new(MemoryCheckpointStore::new());
    store.commit(&key("s"), &json!({"counter": 40})).unwrap();
    let sink = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 3))], sink.clone(), 100));
    crawler.run_once().await;
    assert_eq!(sink.messages(), msgs("s", 41..=43));
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": 43})));
}

#[tokio::test]
async fn a_sink_failure_leaves_the_cursor_at_the_last_acked_record() {
    let store = Arc::new(RecordingStore::default());
    let sink = Arc::new(RecordingSink { fail_call: Some(3), ..RecordingSink::default() });
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 10))], sink.clone(), 3));
    let report = crawler.run_once().await;

    let (failed_key, failure) = report.failures().next().expect("the run failed");
    assert_eq!(failed_key, &key("s"));
    assert_eq!(failure.stage, FailureStage::Send);
    assert!(!failure.fatal);
    assert_eq!(sink.messages(), msgs("s", 1..=6));
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": 6})));

    // The next run re-sends from record 7: nothing lost, nothing before it repeated.
    let sink2 = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 4))], sink2.clone(), 3));
    crawler.run_once().await;
    assert_eq!(sink2.messages(), msgs("s", 7..=10));
}

#[tokio::test]
async fn a_crash_between_ack_and_commit_resends_at_most_that_batch() {
    let inner = MemoryCheckpointStore::new();
    let store = Arc::new(RecordingStore { inner, fail_commit: Some(2), ..RecordingStore::default() });
    let sink = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 9))], sink.clone(), 3));
    let report = crawler.run_once().await;
    assert_eq!(report.failures().next().unwrap().1.stage, FailureStage::Commit);
    // Batches 1 and 2 were acknowledged; only batch 1's cursor made it to disk.
    assert_eq!(sink.messages(), msgs("s", 1..=6));
    assert_eq!(store.inner.load(&key("s")).unwrap(), Some(json!({"counter": 3})));

    // Restart: a healthy store holding what reached the disk.
    let after_crash = MemoryCheckpointStore::new();
    after_crash.commit(&key("s"), &store.inner.load(&key("s")).unwrap().unwrap()).unwrap();
    let restarted = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(Arc::new(after_crash));
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 6))], restarted.clone(), 3));
    crawler.run_once().await;
    // Re-sent: exactly the batch whose commit was lost (4..=6), then new records.
    assert_eq!(restarted.messages(), msgs("s", 4..=9));
}

#[tokio::test]
async fn a_failed_page_delivers_and_commits_what_came_before_it() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let stream = CounterStream { fail_after: Some(5), ..CounterStream::new("s", 0, 10) };
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(stream)], sink.clone(), 3));
    let report = crawler.run_once().await;
    let (_, failure) = report.failures().next().unwrap();
    assert_eq!(failure.stage, FailureStage::Fetch);
    assert!(failure.message.contains("page after 6 failed"), "{}", failure.message);
    assert_eq!(sink.messages(), msgs("s", 1..=5));
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": 5})));
}

#[tokio::test]
async fn commits_stay_in_order_with_many_batches_in_flight() {
    let store = Arc::new(RecordingStore::default());
    // Early calls are slowest, so completions arrive out of order.
    let sink = Arc::new(RecordingSink {
        max_in_flight: 4,
        delays: Some(|call| 40u64.saturating_sub(call as u64 * 10)),
        ..RecordingSink::default()
    });
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 40))], sink.clone(), 5));
    let report = crawler.run_once().await;
    assert_eq!(report.delivered(), 40);
    let committed: Vec<u64> =
        store.commits.lock().unwrap().iter().map(|(_, c)| c["counter"].as_u64().unwrap()).collect();
    assert_eq!(committed, vec![5, 10, 15, 20, 25, 30, 35, 40]);
}

#[tokio::test]
async fn records_too_old_for_the_sink_are_skipped_and_their_cursor_still_advances() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink { max_age: Some(Duration::from_secs(18 * 3600)), ..RecordingSink::default() });
    let old = CounterStream { timestamp: Some(now_seconds() - 19.0 * 3600.0), ..CounterStream::new("s", 0, 4) };
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(old)], sink.clone(), 3));
    let stats = crawler.stats();
    let report = crawler.run_once().await;
    assert_eq!(report.runs[0].skipped, 4);
    assert_eq!(report.delivered(), 0);
    assert_eq!(stats.skipped.load(Ordering::Relaxed), 4);
    assert!(sink.messages().is_empty());
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": 4})));
}

#[tokio::test]
async fn records_without_a_cursor_do_not_move_the_checkpoint() {
    struct Mixed;
    impl LogStream for Mixed {
        fn name(&self) -> &str {
            "mixed"
        }
        fn records(&self, _cursor: Option<Cursor>) -> RecordStream<'_> {
            let record = |m: &str| {
                let Value::Object(data) = json!({"message": m}) else { unreachable!() };
                LogRecord::new(data)
            };
            Box::pin(futures::stream::iter(vec![
                Ok(record("1").with_cursor(json!({"data": "1"}))),
                Ok(record("2").with_cursor(json!({"data": "2"}))),
                Ok(record("3")),
            ]))
        }
    }
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(Mixed)], sink.clone(), 1));
    crawler.run_once().await;
    assert_eq!(sink.messages(), vec!["1", "2", "3"]);
    assert_eq!(store.load(&key("mixed")).unwrap(), Some(json!({"data": "2"})));
}

/// A position is committed in order, after the records before it were delivered, and never sent.
#[tokio::test]
async fn a_position_moves_the_checkpoint_without_sending_anything() {
    struct Hops;
    impl LogStream for Hops {
        fn name(&self) -> &str {
            "hops"
        }
        fn records(&self, _cursor: Option<Cursor>) -> RecordStream<'_> {
            let record = |m: &str| {
                let Value::Object(data) = json!({"message": m}) else { unreachable!() };
                LogRecord::new(data).with_cursor(json!({"at": m}))
            };
            Box::pin(futures::stream::iter(vec![
                Ok(record("1")),
                Ok(LogRecord::position(json!({"at": "empty page 1"}))),
                Ok(record("2")),
                Ok(LogRecord::position(json!({"at": "empty page 2"}))),
            ]))
        }
    }
    let store = Arc::new(RecordingStore::default());
    let sink = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(Hops)], sink.clone(), 2));
    let report = crawler.run_once().await;
    assert_eq!(sink.messages(), vec!["1", "2"], "positions are not sent");
    assert_eq!((report.delivered(), report.runs[0].skipped), (2, 0));
    let committed: Vec<Value> = store.commits.lock().unwrap().iter().map(|(_, c)| c["at"].clone()).collect();
    // The first batch (records 1 and 2, the position between them consumed too) commits at record 2;
    // the trailing position is committed on its own, after that batch.
    assert_eq!(committed, vec![json!("2"), json!("empty page 2")]);
    assert!(LogRecord::position(json!({})).is_position());
}

#[tokio::test]
async fn shutdown_flushes_and_commits_the_in_flight_batch() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let endless =
        CounterStream { endless: true, pace: Some(Duration::from_millis(2)), ..CounterStream::new("s", 0, 0) };
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(endless)], sink.clone(), 1000));
    let token = crawler.shutdown_token();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    });
    let report = crawler.run_forever().await;
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].outcome, RunOutcome::Interrupted);
    let delivered = sink.messages();
    assert!(!delivered.is_empty(), "the partial batch was flushed");
    let last = delivered.len() as u64;
    assert_eq!(delivered, msgs("s", 1..=last));
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": last})));
}

#[tokio::test]
async fn a_partial_batch_is_sent_after_the_linger_time() {
    let store = Arc::new(RecordingStore::default());
    let sink = Arc::new(RecordingSink::default());
    let slow = CounterStream { pace: Some(Duration::from_millis(30)), ..CounterStream::new("s", 0, 6) };
    let mut src = source("src", vec![Arc::new(slow)], sink.clone(), 1000);
    src.batch = Some(BatchLimits { max_records: 1000, linger: Duration::from_millis(50) });
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(src);
    crawler.run_once().await;
    assert_eq!(sink.messages(), msgs("s", 1..=6));
    assert!(sink.batches.lock().unwrap().len() >= 2, "linger flushed before the stream ended");
}

#[tokio::test]
async fn scheduled_runs_repeat_and_a_fatal_sink_error_stops_the_stream() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink { fail_call: Some(3), fatal: true, ..RecordingSink::default() });
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 2))], sink.clone(), 10));
    let report = tokio::time::timeout(Duration::from_secs(5), crawler.run_forever()).await.expect("stopped by itself");
    assert_eq!(report.runs.len(), 1, "the last run only");
    assert_eq!((report.totals[0].runs, report.totals[0].failed_runs, report.totals[0].delivered), (3, 1, 4));
    assert!(matches!(&report.runs[0].outcome, RunOutcome::Failed(f) if f.fatal && f.stage == FailureStage::Send));
    assert_eq!(sink.messages(), msgs("s", 1..=4));
    assert_eq!(store.load(&key("s")).unwrap(), Some(json!({"counter": 4})));
}

#[tokio::test]
async fn a_daemon_keeps_counters_and_the_last_run_not_every_run() {
    // Thousands of runs at no interval at all: each one fails (a page error), as a flaky vendor would.
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let stream = CounterStream { fail_after: Some(0), ..CounterStream::new("s", 0, 1) };
    let mut crawler = Crawler::new(store);
    let mut flaky = source("src", vec![Arc::new(stream)], sink, 10);
    flaky.interval = Duration::ZERO;
    crawler.add_source(flaky);
    let stats = crawler.stats();
    let stop = crawler.shutdown_token();
    let watcher = tokio::spawn(async move {
        while logcrawl_core::CrawlStats::get(&stats.runs) < 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.cancel();
    });
    let report = tokio::time::timeout(Duration::from_secs(60), crawler.run_forever()).await.expect("stopped");
    watcher.await.unwrap();
    // Before, the report held one entry per run (5 760 a day per stream at 15 s, for ever).
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.totals.len(), 1);
    let totals = &report.totals[0];
    assert!(totals.runs >= 2000, "{totals:?}");
    // Every run failed but perhaps the last, which shutdown may have interrupted first.
    assert!(totals.failed_runs + 1 >= totals.runs, "{totals:?}");
    assert!(matches!(&report.runs[0].outcome, RunOutcome::Failed(_) | RunOutcome::Interrupted));
}

#[tokio::test]
async fn a_failed_run_can_emit_an_error_record() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::default());
    let failing = CounterStream { fail_after: Some(0), ..CounterStream::new("s", 0, 3) };
    let mut src = source("src", vec![Arc::new(failing)], sink.clone(), 10);
    src.emit_errors = true;
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(src);
    crawler.run_once().await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("failed: page after 1 failed"), "{}", messages[0]);
    assert_eq!(store.load(&key("s")).unwrap(), None);
}

/// Counts the sends out at once. Like an HTTP sink, it can let go of a batch's records as soon as it has
/// "encoded" them and then wait for its backend.
struct EncodingSink {
    releases_records_early: bool,
    out: AtomicUsize,
    most_out: AtomicUsize,
    delivered: Mutex<Vec<String>>,
}

impl EncodingSink {
    fn new(releases_records_early: bool) -> Self {
        Self {
            releases_records_early,
            out: AtomicUsize::new(0),
            most_out: AtomicUsize::new(0),
            delivered: Mutex::default(),
        }
    }
}

impl Sink for EncodingSink {
    fn name(&self) -> &str {
        "encoding"
    }

    fn max_in_flight(&self) -> usize {
        4
    }

    fn send(&self, mut batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(async move {
            let encoded: Vec<String> =
                batch.records.iter().map(|r| r.message().unwrap_or_default().to_owned()).collect();
            let kept = if self.releases_records_early {
                drop(std::mem::take(&mut batch.records));
                drop(std::mem::take(&mut batch.hold));
                None
            } else {
                Some(batch)
            };
            let out = self.out.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_out.fetch_max(out, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await; // the backend's answer
            self.out.fetch_sub(1, Ordering::SeqCst);
            drop(kept);
            let accepted = encoded.len();
            self.delivered.lock().unwrap().extend(encoded);
            Ok(Delivery::accepted(accepted))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn batches_waiting_for_the_backend_without_their_records_do_not_hold_up_the_next() {
    for releases_records_early in [true, false] {
        let store = Arc::new(RecordingStore::default());
        let sink = Arc::new(EncodingSink::new(releases_records_early));
        let mut crawler = Crawler::new(store.clone());
        crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 40))], sink.clone(), 5));
        let report = crawler.run_once().await;
        assert_eq!(report.delivered(), 40);
        assert_eq!(*sink.delivered.lock().unwrap(), msgs("s", 1..=40));
        let committed: Vec<u64> =
            store.commits.lock().unwrap().iter().map(|(_, c)| c["counter"].as_u64().unwrap()).collect();
        assert_eq!(committed, vec![5, 10, 15, 20, 25, 30, 35, 40]);
        // Released records make room for the sink's whole `max_in_flight`; kept ones are capped, so that a
        // sink's backlog never holds more than that many batches of records.
        let expected = if releases_records_early { 4 } else { MAX_BATCHES_HOLDING_RECORDS };
        assert_eq!(sink.most_out.load(Ordering::SeqCst), expected, "releases early: {releases_records_early}");
    }
}

/// A store whose every checkpoint is corrupt.
#[derive(Debug)]
struct CorruptStore;

impl CheckpointStore for CorruptStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        Err(CheckpointError::Corrupt { path: format!("{key}.json").into(), reason: "not JSON".into() })
    }

    fn commit(&self, _: &StreamKey, _: &Cursor) -> Result<(), CheckpointError> {
        unreachable!("nothing is delivered from a corrupt checkpoint")
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_corrupt_checkpoint_stops_the_daemons_stream_instead_of_retrying_it_for_ever() {
    let sink = Arc::new(RecordingSink::default());
    let mut crawler = Crawler::new(Arc::new(CorruptStore));
    crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 2))], sink.clone(), 10));
    let report = tokio::time::timeout(Duration::from_secs(5), crawler.run_forever()).await.expect("stopped by itself");
    assert_eq!(report.totals[0].runs, 1);
    let RunOutcome::Failed(failure) = &report.runs[0].outcome else { panic!("{:?}", report.runs[0]) };
    assert!(failure.fatal && failure.stage == FailureStage::LoadCheckpoint, "{failure:?}");
    assert!(failure.message.contains("corrupt"), "{failure:?}");
    assert!(sink.messages().is_empty(), "nothing crawled from scratch");
}

/// A memory store that says whether it blocks and notes the thread of every call.
#[derive(Debug)]
struct ThreadNotingStore {
    inner: MemoryCheckpointStore,
    blocks: bool,
    threads: Mutex<Vec<std::thread::ThreadId>>,
}

impl CheckpointStore for ThreadNotingStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        self.threads.lock().unwrap().push(std::thread::current().id());
        self.inner.load(key)
    }

    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        self.threads.lock().unwrap().push(std::thread::current().id());
        self.inner.commit(key, cursor)
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        self.inner.list()
    }

    fn blocks(&self) -> bool {
        self.blocks
    }
}

/// A store that may block is called on the blocking pool, one that cannot in place: on this
/// single-threaded runtime, the test's own thread.
#[tokio::test]
async fn only_a_store_that_can_block_is_called_off_the_async_thread() {
    for blocks in [true, false] {
        let store =
            Arc::new(ThreadNotingStore { inner: MemoryCheckpointStore::new(), blocks, threads: Mutex::default() });
        let sink = Arc::new(RecordingSink::default());
        let mut crawler = Crawler::new(store.clone());
        crawler.add_source(source("src", vec![Arc::new(CounterStream::new("s", 0, 3))], sink.clone(), 100));
        crawler.run_once().await;
        assert_eq!(sink.messages(), msgs("s", 1..=3));
        assert_eq!(store.inner.load(&key("s")).unwrap(), Some(json!({"counter": 3})));
        let threads = store.threads.lock().unwrap().clone();
        assert_eq!(threads.len(), 2, "one load, one commit");
        let here = std::thread::current().id();
        assert!(threads.iter().all(|thread| (*thread == here) != blocks), "blocks: {blocks}, {threads:?} vs {here:?}");
    }
}
