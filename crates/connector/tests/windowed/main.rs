//! Time-window crawling against wiremock: a newest-first API read oldest window first, committed at each
//! window's end (and exactly inside it when the API keys its events), never newer than `now − settle_lag`;
//! the overlap re-read before each window in `overlap`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use logcrawl_connector::{Keyed, Next, Page, Window, WindowCursor, WindowPlan, WindowedApi, WindowedStream, malformed};
use logcrawl_core::{LogRecord, StreamError, StreamErrorKind};
use logcrawl_http::{HttpClient, HttpConfig, RequestSpec, Response, RetryPolicy, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod overlap;

const PAGE: usize = 4;

/// `GET /audit?from=S&to=E[&offset=N]`: the events with `from <= ts < to` (epoch seconds), newest first,
/// `PAGE` at a time, `{"entries": [...], "next_offset": N|null}`.
struct Newest {
    audit: Url,
    /// Whether the API keys its events (`id`, `ts`): exact cursors inside windows.
    keyed: bool,
    /// Whether it says its keyed events come newest first ([`WindowedApi::newest_first`]).
    ordered: bool,
}

#[derive(Deserialize)]
struct Body {
    entries: Vec<Value>,
    next_offset: Option<usize>,
}

impl WindowedApi for Newest {
    type Event = Value;

    fn stream_name(&self) -> &str {
        "audit"
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        let mut url = self.audit.clone();
        url.query_pairs_mut()
            .append_pair("from", &window.start.as_second().to_string())
            .append_pair("to", &window.end.as_second().to_string());
        Ok(RequestSpec::get(url))
    }

    fn parse(&self, response: &Response) -> Result<Page<Value>, StreamError> {
        let body: Body = response.json()?;
        let next = match body.next_offset {
            None => Next::Done,
            Some(offset) => {
                let mut url = response.url.clone();
                let kept: Vec<(String, String)> =
                    url.query_pairs().filter(|(k, _)| k != "offset").map(|(k, v)| (k.into(), v.into())).collect();
                url.query_pairs_mut().clear().extend_pairs(kept).append_pair("offset", &offset.to_string());
                if offset == usize::MAX {
                    return Err(malformed(response, "odd offset"));
                }
                Next::Url(url)
            }
        };
        Ok(Page { events: body.entries, next })
    }

    fn record(&self, event: Value) -> LogRecord {
        let Value::Object(data) = event else { unreachable!("test entries are objects") };
        LogRecord::new(data)
    }

    fn key<'e>(&self, event: &'e Value) -> Option<Keyed<'e>> {
        let at = Timestamp::from_second(event["ts"].as_i64()?).ok()?;
        self.keyed.then_some(Keyed { id: event["key"].as_str()?, at })
    }

    fn newest_first(&self) -> bool {
        self.ordered
    }
}

/// Event `k` happened `k × 5 min + 30 s` before `now` (whole seconds).
fn event_times(now: Timestamp, count: i64) -> Vec<i64> {
    (0..count).map(|k| now.as_second() - k * 300 - 30).collect()
}

/// The API's answer to `req` over `events` (newest first, each with its `ts`): the window's events from
/// `offset` on, `PAGE` of them, and the next offset while more remain.
fn window_page(req: &Request, events: &[Value]) -> ResponseTemplate {
    let q = |name: &str| req.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.parse::<i64>().unwrap());
    let (from, to, offset) = (q("from").unwrap(), q("to").unwrap(), q("offset").unwrap_or(0) as usize);
    let inside: Vec<&Value> = events.iter().filter(|e| (from..to).contains(&e["ts"].as_i64().unwrap())).collect();
    let entries: Vec<&Value> = inside.iter().skip(offset).take(PAGE).copied().collect();
    let next = (offset + PAGE < inside.len()).then_some(offset + PAGE);
    ResponseTemplate::new(200).set_body_json(json!({"entries": entries, "next_offset": next}))
}

/// Serves `times` (newest first) as the API above.
async fn serve(server: &MockServer, times: Vec<i64>) {
    let events: Vec<Value> = times.iter().map(|t| json!({"id": t, "ts": t, "key": t.to_string()})).collect();
    Mock::given(method("GET"))
        .and(path("/audit"))
        .respond_with(move |req: &Request| window_page(req, &events))
        .mount(server)
        .await;
}

fn stream(server: &MockServer, plan: WindowPlan) -> WindowedStream<Newest> {
    api_stream(server, plan, false)
}

fn api_stream(server: &MockServer, plan: WindowPlan, keyed: bool) -> WindowedStream<Newest> {
    let base = Url::parse(&server.uri()).unwrap();
    let mut config = HttpConfig::new(base.clone());
    config.rate_limit.key = Some(format!("windowed-test-{}", server.address().port()));
    config.retry = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let api = Newest { audit: base.join("/audit").unwrap(), keyed, ordered: true };
    WindowedStream::new(api, HttpClient::new(config).unwrap(), plan)
}

fn plan(lookback_min: u64) -> WindowPlan {
    WindowPlan::new(Duration::from_secs(20 * 60), Duration::from_secs(120), Duration::from_secs(lookback_min * 60))
}

async fn crawl(stream: &WindowedStream<Newest>, cursor: Option<Value>) -> (Vec<LogRecord>, Option<StreamError>) {
    let drained = logcrawl_testkit::drain(stream, cursor).await;
    (drained.records, drained.error)
}

fn ids(records: &[LogRecord]) -> Vec<i64> {
    records.iter().filter(|r| !r.is_position()).map(|r| r.data["id"].as_i64().unwrap()).collect()
}

fn until(record: &LogRecord) -> Timestamp {
    record.cursor_value().and_then(|c| c["until"].as_str().map(|u| u.parse().unwrap())).expect("a window cursor")
}

#[tokio::test]
async fn windows_are_read_oldest_first_and_committed_only_at_their_end() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    let times = event_times(now, 12);
    serve(&server, times.clone()).await;
    let stream = stream(&server, plan(60));
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");

    // Three windows of at most 20 min from now − 60 min to now − 2 min: the event 30 s ago is left for
    // a later run, the rest come once each, windows oldest first, each newest first as the API serves.
    let got = ids(&records);
    let mut expected = times[1..].to_vec();
    expected.sort_unstable();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "each event once, none newer than the settle lag");
    let window_of = |t: i64| (t - (now.as_second() - 3600)).div_euclid(1200);
    assert!(got.windows(2).all(|w| window_of(w[0]) <= window_of(w[1])), "windows oldest first: {got:?}");
    assert!(got.windows(2).any(|w| w[0] > w[1]), "inside a window, newest first: {got:?}");

    // Only each window's last record carries a cursor: its end.
    let with_cursor: Vec<&LogRecord> = records.iter().filter(|r| r.cursor.is_some()).collect();
    assert_eq!(with_cursor.len(), 3);
    let ends: Vec<Timestamp> = with_cursor.iter().map(|r| until(r)).collect();
    assert!(ends.windows(2).all(|w| w[1].duration_since(w[0]) <= SignedDuration::from_mins(20)));
    let horizon = ends[2];
    assert!(
        horizon <= Timestamp::now() - SignedDuration::from_mins(2) && horizon >= now - SignedDuration::from_secs(125)
    );

    // No request reached past the horizon.
    for request in server.received_requests().await.unwrap() {
        let to: i64 = request.url.query_pairs().find(|(k, _)| k == "to").unwrap().1.parse().unwrap();
        assert!(to <= horizon.as_second() + 1, "{}", request.url);
    }

    // The next run starts where the last window ended and repeats nothing.
    let (again, err) = crawl(&stream, records.last().unwrap().cursor_value()).await;
    assert!(err.is_none(), "{err:?}");
    assert!(ids(&again).iter().all(|id| !got.contains(id)), "{:?}", ids(&again));
}

#[tokio::test]
async fn an_empty_window_is_committed_as_a_position() {
    let server = MockServer::start().await;
    serve(&server, vec![]).await;
    let (records, err) = crawl(&stream(&server, plan(30)), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(records.len(), 2, "two windows, nothing in them");
    assert!(records.iter().all(LogRecord::is_position));
    assert!(until(&records[0]) < until(&records[1]));
}

#[tokio::test]
async fn a_run_stopped_inside_a_window_commits_nothing_of_it() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    // Six events in the first window, so it has two pages; the second one fails.
    let times: Vec<i64> = (0..6).rev().map(|k| now.as_second() - 3500 + k * 60).collect();
    Mock::given(query_param("offset", "4"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, times).await;
    let (records, err) = crawl(&stream(&server, plan(60)), None).await;
    assert!(err.is_some());
    assert_eq!(records.len(), PAGE, "the window's first page was yielded");
    assert!(records.iter().all(|r| r.cursor.is_none()), "but nothing inside the window moves the checkpoint");
}

#[tokio::test]
async fn a_stored_window_cursor_resumes_there_and_the_run_is_capped_in_windows() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    serve(&server, event_times(now, 12)).await;
    let from = now - SignedDuration::from_mins(45);
    let capped = WindowPlan { max_windows_per_run: Some(1), ..plan(60) };
    let stored = serde_json::to_value(WindowCursor::at(from)).unwrap();
    let (records, err) = crawl(&stream(&server, capped), Some(stored)).await;
    assert!(err.is_none(), "{err:?}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query_pairs().find(|(k, _)| k == "from").unwrap().1, from.as_second().to_string());
    assert_eq!(until(records.last().unwrap()), from + SignedDuration::from_mins(20), "one window only");

    let (_, err) = crawl(&stream(&server, plan(60)), Some(json!({"until": "yesterday"}))).await;
    assert_eq!(err.expect("unreadable").kind(), StreamErrorKind::Checkpoint);
}

/// A newest-first API with bursts: `per_second` events at each of `seconds` instants, 10 s apart, the
/// newest 5 min old (event keys `"<ts>:<n>"`, ties newest-first by `n`).
async fn serve_bursts(server: &MockServer, now: Timestamp, seconds: i64, per_second: usize) -> Vec<String> {
    let mut all: Vec<(i64, usize)> = Vec::new();
    for k in 0..seconds {
        for n in 0..per_second {
            all.push((now.as_second() - 300 - k * 10, n));
        }
    }
    all.sort_by(|a, b| b.cmp(a));
    let events: Vec<Value> =
        all.iter().map(|(t, n)| json!({"id": format!("{t}:{n}"), "ts": t, "key": format!("{t}:{n}")})).collect();
    Mock::given(method("GET"))
        .and(path("/audit"))
        .respond_with(move |req: &Request| window_page(req, &events))
        .mount(server)
        .await;
    all.iter().map(|(t, n)| format!("{t}:{n}")).collect()
}

fn keys(records: &[LogRecord]) -> Vec<String> {
    records.iter().filter(|r| !r.is_position()).map(|r| r.data["key"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_keyed_newest_first_window_resumes_exactly_from_any_record() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    // Three instants of three events each, in one 20-minute window: pages of 4 cut through instants.
    let all = serve_bursts(&server, now, 3, 3).await;
    let stream = api_stream(&server, plan(30).with_resolution(Duration::from_secs(1)), true);
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    let delivered = keys(&records);
    let mut sorted = delivered.clone();
    sorted.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every event once");

    // Every record carries a cursor, and resuming from any of them delivers exactly what followed it.
    let logs: Vec<&LogRecord> = records.iter().filter(|r| !r.is_position()).collect();
    assert!(logs.iter().all(|r| r.cursor.is_some()), "exact cursors inside the window");
    for (i, record) in logs.iter().enumerate() {
        let (again, err) = crawl(&stream, record.cursor_value()).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(keys(&again), delivered[i + 1..], "resumed after record {i}: {:?}", record.cursor_value());
    }
    let partial = logs[4].cursor_value().unwrap();
    let first = Timestamp::from_second(now.as_second() - 300 - 10).unwrap();
    assert_eq!(partial["partial"]["below"], json!((first + SignedDuration::from_secs(1)).to_string()));
    assert_eq!(partial["partial"]["seen"], json!([delivered[3], delivered[4]]), "the ids at the boundary instant");
}

#[tokio::test]
async fn keyed_events_of_an_api_not_newest_first_carry_no_cursor_inside_their_window() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    // Served oldest first: a record's cursor claiming the rest of its window done would skip it.
    let mut times = event_times(now, 12);
    times.reverse();
    serve(&server, times).await;
    let base = Url::parse(&server.uri()).unwrap();
    let mut config = HttpConfig::new(base.clone());
    config.rate_limit.key = Some(format!("windowed-test-{}", server.address().port()));
    let api = Newest { audit: base.join("/audit").unwrap(), keyed: true, ordered: false };
    let stream = WindowedStream::new(api, HttpClient::new(config).unwrap(), plan(60));
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&records).len(), 11, "all but the one newer than the settle lag");
    for record in records.iter().filter(|r| !r.is_position()) {
        if let Some(cursor) = record.cursor_value() {
            assert!(cursor.get("partial").is_none(), "no cursor inside a window: {cursor}");
        }
    }
}

#[tokio::test]
async fn events_out_of_newest_first_order_end_the_windows_exact_cursors() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    let t = now.as_second() - 600;
    let served =
        json!([{"id": 1, "ts": t, "key": "a"}, {"id": 2, "ts": t + 5, "key": "b"}, {"id": 3, "ts": t - 5, "key": "c"}]);
    Mock::given(method("GET"))
        .and(path("/audit"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"entries": served, "next_offset": null})))
        .mount(&server)
        .await;
    let plan = WindowPlan::new(Duration::from_secs(3600), Duration::from_secs(60), Duration::from_secs(1800));
    let (records, err) = crawl(&api_stream(&server, plan, true), None).await;
    assert!(err.is_none(), "{err:?}");
    assert!(records[0].cursor.is_some(), "newest first so far");
    assert!(records[1].cursor.is_none(), "newer than the event before it: no cursor from here on");
    let end = records[2].cursor_value().expect("the window's end still commits");
    assert!(end.get("partial").is_none(), "{end}");
    assert!(until(&records[2]) <= Timestamp::now() - SignedDuration::from_secs(60));
}

#[tokio::test]
async fn a_resumed_partial_window_drops_what_it_had_delivered_even_at_its_end() {
    let server = MockServer::start().await;
    let now = Timestamp::now();
    let all = serve_bursts(&server, now, 1, 3).await;
    let t = Timestamp::from_second(now.as_second() - 300).unwrap();
    let then = t + SignedDuration::from_mins(10);
    // Everything of the window was delivered but the cursor is partial: the run drops all three and
    // commits the window's end with a position.
    let stored = json!({"until": (t - SignedDuration::from_mins(5)).to_string(),
                        "partial": {"below": (t + SignedDuration::from_secs(1)).to_string(), "then": then.to_string(), "seen": all}});
    let capped = WindowPlan { max_windows_per_run: Some(1), ..plan(30).with_resolution(Duration::from_secs(1)) };
    let (records, err) = crawl(&api_stream(&server, capped, true), Some(stored)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].is_position());
    assert_eq!(until(&records[0]), then, "the next window starts where the stored one ended");
    let request = &server.received_requests().await.unwrap()[0];
    let to = request.url.query_pairs().find(|(k, _)| k == "to").unwrap().1.into_owned();
    assert_eq!(to, (t.as_second() + 1).to_string(), "only the part of the window not yet delivered");
}

#[test]
fn windows_align_on_the_resolution() {
    let base = Url::parse("http://127.0.0.1:9/").unwrap();
    let api = Newest { audit: base.join("/audit").unwrap(), keyed: false, ordered: true };
    let client = HttpClient::new(HttpConfig::new(base)).unwrap();
    let plan = WindowPlan::new(Duration::from_millis(90_500), Duration::from_millis(2_300), Duration::from_secs(300))
        .with_resolution(Duration::from_secs(1));
    let stream = WindowedStream::new(api, client, plan);
    let now: Timestamp = "2026-11-22T10:00:00.750Z".parse().unwrap();
    let windows: Vec<Window> = stream.windows_from(None, now).collect();
    assert_eq!(windows.first().unwrap().start, "2026-11-22T09:55:00Z".parse::<Timestamp>().unwrap());
    assert_eq!(windows.last().unwrap().end, "2026-11-22T09:59:58Z".parse::<Timestamp>().unwrap());
    for window in &windows {
        assert_eq!((window.start.subsec_nanosecond(), window.end.subsec_nanosecond()), (0, 0), "{window:?}");
        assert!(window.end.duration_since(window.start) <= SignedDuration::from_secs(90), "{window:?}");
    }
    assert!(windows.windows(2).all(|w| w[0].end == w[1].start));
    // A stored instant between two seconds (a cursor written by hand) reads as the next second.
    let hand: Timestamp = "2026-11-22T09:57:00.300Z".parse().unwrap();
    let first = stream.windows_from(Some(&WindowCursor::at(hand)), now).next().unwrap();
    assert_eq!(first.start, "2026-11-22T09:57:01Z".parse::<Timestamp>().unwrap());
}
