//! The overlap of time windows against the API of `main.rs`: each window re-reads a stretch before its
//! start, drops what the previous window's end cursor lists as delivered, and delivers the events indexed
//! late — once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use logcrawl_connector::{WindowPlan, WindowedStream};
use logcrawl_core::LogRecord;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request};

use super::{Newest, api_stream, window_page};

/// The API's events as `(ts, id)`, which a test can add to between runs (an event indexed late).
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<Vec<(i64, String)>>>);

impl Feed {
    fn add(&self, ts: i64, id: &str) {
        self.0.lock().unwrap().push((ts, id.to_owned()));
    }
}

async fn serve(server: &MockServer, feed: Feed) {
    Mock::given(method("GET"))
        .and(path("/audit"))
        .respond_with(move |req: &Request| {
            let mut events = feed.0.lock().unwrap().clone();
            events.sort_by(|a, b| b.cmp(a));
            let events: Vec<Value> = events.iter().map(|(t, id)| json!({"id": id, "key": id, "ts": t})).collect();
            window_page(req, &events)
        })
        .mount(server)
        .await;
}

fn stream(server: &MockServer, plan: WindowPlan) -> WindowedStream<Newest> {
    api_stream(server, plan, true)
}

/// Windows of 10 min, settled after 1 min, re-reading 5 min before each; whole seconds.
fn plan() -> WindowPlan {
    WindowPlan::new(Duration::from_secs(600), Duration::from_secs(60), Duration::from_secs(3600))
        .with_resolution(Duration::from_secs(1))
        .with_overlap(Duration::from_secs(300))
}

async fn crawl(stream: &WindowedStream<Newest>, cursor: Option<Value>) -> (Vec<String>, Option<Value>) {
    let drained = logcrawl_testkit::drain(stream, cursor).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let ids = drained.records.iter().filter(|r| !r.is_position()).map(|r| r.data["id"].as_str().unwrap().to_owned());
    (ids.collect(), drained.records.last().and_then(LogRecord::cursor_value))
}

/// The `from` of every request the server received from the `skip`th on.
async fn froms(server: &MockServer, skip: usize) -> Vec<i64> {
    let requests = server.received_requests().await.unwrap();
    let from = |r: &Request| r.url.query_pairs().find(|(k, _)| k == "from").unwrap().1.parse().unwrap();
    requests[skip..].iter().filter(|r| !r.url.query().unwrap_or("").contains("offset")).map(from).collect()
}

fn second(at: Timestamp) -> i64 {
    at.as_second()
}

/// A first run of two windows from an hour ago (ending 40 min ago), events a minute apart in them.
async fn first_run(server: &MockServer, feed: &Feed) -> (Timestamp, Value) {
    let now = Timestamp::now();
    let start = Timestamp::from_second(second(now) - 3600).unwrap();
    for k in 0..20 {
        feed.add(second(start) + 30 + k * 60, &format!("e{k}"));
    }
    let capped = WindowPlan { max_windows_per_run: Some(2), ..plan() };
    let stored = json!({"until": start.to_string()});
    let (ids, cursor) = crawl(&stream(server, capped), Some(stored)).await;
    assert_eq!(ids.len(), 20, "{ids:?}");
    let cursor = cursor.expect("the second window's end");
    let until: Timestamp = cursor["until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until, start + SignedDuration::from_mins(20));
    (until, cursor)
}

#[tokio::test]
async fn a_late_event_inside_the_overlap_is_delivered_once_by_the_next_window() {
    let server = MockServer::start().await;
    let feed = Feed::default();
    serve(&server, feed.clone()).await;
    let (until, cursor) = first_run(&server, &feed).await;

    // The end cursor lists what was delivered in the five minutes before it.
    let overlap = &cursor["overlap"];
    assert_eq!(overlap["from"], json!((until - SignedDuration::from_mins(5)).to_string()));
    assert_eq!(overlap["ids"], json!(["e19", "e18", "e17", "e16", "e15"]));

    // Two events indexed late: one inside the overlap, one before it (the documented limit).
    feed.add(second(until) - 90, "late-inside");
    feed.add(second(until) - 330, "late-before");
    feed.add(second(until) + 30, "new");
    let requests = server.received_requests().await.unwrap().len();
    let (ids, next) = crawl(&stream(&server, plan()), Some(cursor)).await;
    assert_eq!(ids.iter().filter(|id| id.as_str() == "late-inside").count(), 1, "{ids:?}");
    assert!(!ids.contains(&"late-before".to_owned()), "older than the overlap: missed, as documented");
    assert!(ids.contains(&"new".to_owned()));
    assert!(ids.iter().all(|id| !id.starts_with('e')), "nothing delivered before comes again: {ids:?}");
    let froms = froms(&server, requests).await;
    assert_eq!(froms[0], second(until) - 300, "the first window re-reads the overlap");
    assert!(froms.windows(2).all(|w| w[1] > w[0]), "and each later one the previous one's: {froms:?}");
    let next = next.expect("the last window's end");
    let end: Timestamp = next["until"].as_str().unwrap().parse().unwrap();
    assert_eq!(next["overlap"]["from"], json!((end - SignedDuration::from_mins(5)).to_string()));
}

#[tokio::test]
async fn a_cursor_without_an_overlap_re_reads_nothing_and_a_plan_without_one_writes_none() {
    let server = MockServer::start().await;
    let feed = Feed::default();
    serve(&server, feed.clone()).await;
    let now = Timestamp::now();
    let until = Timestamp::from_second(second(now) - 1800).unwrap();
    feed.add(second(until) - 10, "before");
    feed.add(second(until) + 10, "after");
    let (ids, cursor) = crawl(&stream(&server, plan()), Some(json!({"until": until.to_string()}))).await;
    assert_eq!(ids, ["after"]);
    assert_eq!(froms(&server, 0).await[0], second(until), "no ids to drop, so no re-read");
    assert!(cursor.unwrap()["overlap"].is_object(), "the run's windows do write one");

    let plain = WindowPlan { overlap: Duration::ZERO, ..plan() };
    let (_, cursor) = crawl(&stream(&server, plain), Some(json!({"until": until.to_string()}))).await;
    assert!(cursor.unwrap().get("overlap").is_none(), "without an overlap the cursor keeps its old shape");
}

#[tokio::test]
async fn a_window_shorter_than_the_overlap_waits_for_the_next_run() {
    let server = MockServer::start().await;
    serve(&server, Feed::default()).await;
    let horizon = second(Timestamp::now()) - 60;
    let recent = Timestamp::from_second(horizon - 120).unwrap();
    let (ids, cursor) = crawl(&stream(&server, plan()), Some(json!({"until": recent.to_string()}))).await;
    assert!(ids.is_empty() && cursor.is_none());
    assert!(server.received_requests().await.unwrap().is_empty(), "two minutes settled: not worth a re-read yet");
    let older = Timestamp::from_second(horizon - 400).unwrap();
    let (_, cursor) = crawl(&stream(&server, plan()), Some(json!({"until": older.to_string()}))).await;
    assert!(cursor.is_some(), "more than five minutes settled: read");
}

#[tokio::test]
async fn a_window_resumed_inside_lists_the_whole_overlap_at_its_end() {
    let server = MockServer::start().await;
    let feed = Feed::default();
    serve(&server, feed.clone()).await;
    let (until, cursor) = first_run(&server, &feed).await;
    for k in 0..8 {
        feed.add(second(until) + 20 + k * 60, &format!("n{k}"));
    }
    feed.add(second(until) - 100, "late");
    let one = WindowPlan { max_windows_per_run: Some(1), ..plan() };
    let drained = logcrawl_testkit::drain(&stream(&server, one), Some(cursor.clone())).await;
    let records: Vec<&LogRecord> = drained.records.iter().filter(|r| !r.is_position()).collect();
    let whole_end = drained.records.last().unwrap().cursor_value().unwrap();
    let whole: Vec<&str> = records.iter().map(|r| r.data["id"].as_str().unwrap()).collect();
    assert_eq!(whole, ["n7", "n6", "n5", "n4", "n3", "n2", "n1", "n0", "late"], "the re-read comes last");
    assert!(records[8].cursor.is_none(), "a re-read event is older than the window: no exact cursor");

    // Resume from every record of the window: the rest comes once, and the window ends listing the same.
    for (i, record) in records.iter().enumerate().take(8) {
        let partial = record.cursor_value().expect("exact inside the window");
        let (rest, end) = crawl(&stream(&server, one), Some(partial.clone())).await;
        assert_eq!(rest, whole[i + 1..], "resumed after {i}: {partial}");
        let (mut got, mut want) = (end.unwrap()["overlap"].clone(), whole_end["overlap"].clone());
        for overlap in [&mut got, &mut want] {
            overlap["ids"].as_array_mut().unwrap().sort_by_key(|id| id.to_string());
        }
        assert_eq!(got, want, "resumed after {i}");
    }
    assert_eq!(whole.iter().filter(|id| **id == "late").count(), 1);
}

#[tokio::test]
async fn past_its_limit_the_overlap_keeps_the_newest_ids() {
    let server = MockServer::start().await;
    let feed = Feed::default();
    serve(&server, feed.clone()).await;
    let start = Timestamp::from_second(second(Timestamp::now()) - 3600).unwrap();
    for k in 0..10 {
        feed.add(second(start) + 595 - k * 10, &format!("e{k}"));
    }
    let capped = WindowPlan { max_windows_per_run: Some(1), max_overlap_ids: 4, ..plan() };
    let (_, cursor) = crawl(&stream(&server, capped), Some(json!({"until": start.to_string()}))).await;
    let cursor = cursor.unwrap();
    assert_eq!(cursor["overlap"]["ids"], json!(["e0", "e1", "e2", "e3"]));
    let from: Timestamp = cursor["overlap"]["from"].as_str().unwrap().parse().unwrap();
    assert_eq!(second(from), second(start) + 595 - 40 + 1, "the overlap starts after the newest instant left out");
    // An event indexed late after the shrunk overlap's start is caught; one before it is not.
    feed.add(second(from) + 2, "late-caught");
    feed.add(second(from) - 2, "late-missed");
    let (ids, _) = crawl(&stream(&server, capped), Some(cursor)).await;
    assert_eq!(ids, ["late-caught"]);
}
