//! The administrator log (v1) against wiremock: pages from a second on, the repeats of that second
//! dropped, identical events both kept, the settle lag, and a second with more than a page of events.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use logcrawl_testkit::LogCapture;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{duo, number, run, signed};

const PATH: &str = "/admin/v1/logs/administrator";

fn action(n: u64, second: i64) -> Value {
    json!({"action": "user_update", "description": format!("{{\"notes\": \"change {n}\"}}"),
           "isotimestamp": "2026-01-01T00:00:00+00:00", "object": format!("user{n}"), "timestamp": second,
           "username": "admin"})
}

fn page(events: &[Value]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"stat": "OK", "response": events}))
}

/// Answers each request with the events whose `timestamp` is at least its `mintime`, at most 1000,
/// from `log` (which a test may extend between runs).
async fn serve(log: Arc<Mutex<Vec<Value>>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(move |request: &Request| {
            let mintime = number(request, "mintime");
            let events: Vec<Value> = log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e["timestamp"].as_i64().unwrap() >= mintime)
                .take(1000)
                .cloned()
                .collect();
            page(&events)
        })
        .mount(&server)
        .await;
    server
}

fn objects(drained: &logcrawl_testkit::Drained) -> Vec<String> {
    drained.logs().map(|r| r.to_value().unwrap()["object"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn pages_ask_again_from_the_last_second_and_drop_its_repeats() {
    let s0 = Timestamp::now().as_second() - 3000;
    // 1003 events, four a second: the first page ends inside second s0 + 249... then the rest.
    let log: Vec<Value> = (0..1003).map(|n| action(n, s0 + (n / 4) as i64)).collect();
    let log = Arc::new(Mutex::new(log));
    let server = serve(log.clone()).await;
    let connector = duo(&server.uri(), "streams = [\"administrator\"]");
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let expected: Vec<String> = (0..1003).map(|n| format!("user{n}")).collect();
    assert_eq!(objects(&drained), expected, "every event once, oldest first");
    let requests = server.received_requests().await.unwrap();
    let mintimes: Vec<i64> = requests.iter().map(|r| number(r, "mintime")).collect();
    assert_eq!(mintimes[1..], [s0 + 249], "the second page starts at the first page's last second");
    assert!(requests.iter().all(signed));
    assert!(requests.iter().all(|r| r.url.path() == PATH && r.url.query_pairs().count() == 1), "only mintime");
    let record = drained.logs().last().unwrap().to_value().unwrap();
    assert_eq!(record["message"], "admin user_update user1002");
    assert_eq!(record["timestamp"], s0 + 250);

    // The run is caught up at second s0 + 250; the next resumes there, dropping what it delivered.
    let cursor = drained.last_cursor().unwrap();
    assert_eq!(cursor["mintime"], s0 + 250);
    assert_eq!(cursor["seen"].as_array().unwrap().len(), 3, "{cursor}");
    log.lock().unwrap().extend([action(1003, s0 + 250), action(1004, s0 + 251)]);
    let next = run(&connector, Some(cursor)).await;
    assert_eq!(objects(&next), ["user1003", "user1004"]);
    assert_eq!(number(server.received_requests().await.unwrap().last().unwrap(), "mintime"), s0 + 250);
}

#[tokio::test]
async fn identical_events_of_one_second_are_each_delivered_once() {
    let s = Timestamp::now().as_second() - 600;
    let same = action(7, s);
    let log = Arc::new(Mutex::new(vec![same.clone(), same.clone(), action(8, s)]));
    let server = serve(log.clone()).await;
    let connector = duo(&server.uri(), "streams = [\"administrator\"]");
    let first = run(&connector, None).await;
    assert_eq!(objects(&first), ["user7", "user7", "user8"], "two alike are two events");
    log.lock().unwrap().insert(2, same.clone());
    let second = run(&connector, first.last_cursor()).await;
    assert_eq!(objects(&second), ["user7"], "the third alike is new; the rest were delivered");

    // Resuming from the middle of a page skips through the record, the page asked for again.
    let mid = first.logs().nth(1).unwrap().cursor_value().unwrap();
    assert!(mid.get("through").is_some(), "{mid}");
    let resumed = run(&connector, Some(mid)).await;
    assert_eq!(objects(&resumed), ["user7", "user8"]);
}

#[tokio::test]
async fn the_seconds_within_the_settle_lag_wait_for_a_later_run() {
    let now = Timestamp::now().as_second();
    let log = Arc::new(Mutex::new(vec![action(1, now - 300), action(2, now - 10)]));
    let server = serve(log).await;
    let connector = duo(&server.uri(), "streams = [\"administrator\"]\nsettle_lag = \"2m\"\ninitial_lookback = \"1h\"");
    let drained = run(&connector, None).await;
    assert_eq!(objects(&drained), ["user1"]);
    assert_eq!(drained.last_cursor().unwrap()["mintime"], now - 300);
}

#[tokio::test]
async fn a_page_of_one_second_moves_on_to_the_next_with_a_warning() {
    let s = Timestamp::now().as_second() - 600;
    let mut events: Vec<Value> = (0..1000).map(|n| action(n, s)).collect();
    events.push(action(1000, s));
    events.push(action(1001, s + 1));
    let server = serve(Arc::new(Mutex::new(events))).await;
    let logs = LogCapture::start();
    let drained = run(&duo(&server.uri(), "streams = [\"administrator\"]"), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let delivered = objects(&drained);
    assert_eq!(delivered.len(), 1001, "the 1000 of second s, then second s + 1");
    assert_eq!(delivered.last().map(String::as_str), Some("user1001"));
    let mintimes: Vec<i64> = server.received_requests().await.unwrap().iter().map(|r| number(r, "mintime")).collect();
    assert_eq!(mintimes[1..], [s, s + 1], "from the full second, then past it");
    assert_eq!(logs.containing("cannot page inside a second").len(), 1);
}
