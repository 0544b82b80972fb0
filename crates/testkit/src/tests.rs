//! The helpers against the real crawler.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{
    BatchLimits, CheckpointStore, Crawler, FailureStage, Fields, LogRecord, MemoryCheckpointStore, RunOutcome, Sink,
    Source, SourceMeta, StreamKey,
};
use serde_json::json;

use crate::{RecordingSink, ScriptedConnector, ScriptedStream, Step};

fn crawler(store: Arc<MemoryCheckpointStore>, stream: Arc<ScriptedStream>, sink: Arc<RecordingSink>) -> Crawler {
    let mut crawler = Crawler::new(store);
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "src".into(), ..SourceMeta::default() }),
        connector: Arc::new(ScriptedConnector::new("scripted", vec![stream])),
        sink,
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: 2, linger: Duration::from_millis(10) }),
        emit_errors: false,
    });
    crawler
}

#[tokio::test]
async fn a_scripted_sink_failure_leaves_the_cursor_at_the_last_acknowledged_batch() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let stream = Arc::new(ScriptedStream::new("s").then(Step::events(1, 5)).then(Step::events(3, 5)));
    let failing = Arc::new(RecordingSink::new().failing_batch(2));
    let report = crawler(store.clone(), stream.clone(), failing.clone()).run_once().await;
    let failure = report.failures().next().expect("the second batch failed").1.clone();
    assert_eq!(failure.stage, FailureStage::Send);
    assert_eq!(failing.delivered_field("n"), ["1", "2"]);
    let batches = failing.batches();
    assert_eq!(batches.len(), 2);
    assert!(batches[0].accepted && !batches[1].accepted);
    assert_eq!((batches[1].ordinal, batches[1].source.as_str(), batches[1].stream.as_str()), (2, "src", "s"));
    let key = StreamKey::new("src", "s");
    assert_eq!(store.load(&key).unwrap(), Some(json!({"n": 2})));

    let healthy = Arc::new(RecordingSink::new());
    let report = crawler(store.clone(), stream.clone(), healthy.clone()).run_once().await;
    assert_eq!(report.runs[0].outcome, RunOutcome::CaughtUp);
    assert_eq!(healthy.delivered_field("n"), ["3", "4", "5"]);
    assert_eq!(stream.cursors(), [None, Some(json!({"n": 2}))]);
    assert_eq!(store.load(&key).unwrap(), Some(json!({"n": 5})));
}

#[tokio::test]
async fn a_scripted_stream_error_ends_the_run_after_the_records_before_it() {
    let store = Arc::new(MemoryCheckpointStore::new());
    let mut steps = Step::events(1, 3);
    steps.push(Step::transient("page 2 is garbage"));
    steps.extend(Step::events(4, 5));
    let stream = Arc::new(ScriptedStream::new("s").then(steps));
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(store.clone(), stream, sink.clone()).run_once().await;
    let (_, failure) = report.failures().next().expect("failed");
    assert_eq!(
        (failure.stage, failure.fatal, failure.message.as_str()),
        (FailureStage::Fetch, false, "page 2 is garbage")
    );
    assert_eq!(sink.delivered_field("n"), ["1", "2", "3"], "nothing after the error is yielded");
    assert_eq!(store.load(&StreamKey::new("src", "s")).unwrap(), Some(json!({"n": 3})));
}

#[tokio::test]
async fn records_without_message_or_timestamp_are_refused_when_required() {
    let sink = RecordingSink::new().requiring_message_and_timestamp();
    let Step::Record(good) = Step::event(1) else { unreachable!() };
    let bare = LogRecord::new(Fields::new());
    let meta = Arc::new(SourceMeta::default());
    let batch = |records| logcrawl_core::Batch::new(meta.clone(), Arc::from("s"), records);
    assert!(sink.send(batch(vec![good.clone()])).await.is_ok());
    let err = sink.send(batch(vec![good, bare])).await.unwrap_err();
    assert!(err.is_fatal() && err.to_string().contains("record 1 of batch 2"), "{err}");
    assert_eq!(sink.delivered().len(), 1);
    assert!(RecordingSink::new().fatal_batch(1).send(batch(Vec::new())).await.unwrap_err().is_fatal());
}
