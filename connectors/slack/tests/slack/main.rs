//! Wiremock and simulator tests of the Slack connector: the queries it sends (window bounds, limit,
//! action, cursor, token), what it delivers, where it resumes, and how Slack's refusals end a run.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{BuildContext, Cursor, StreamErrorKind};
use logcrawl_slack::{SlackConnector, from_table};
use logcrawl_testkit::{Drained, drain, header, query};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod crawl;

const TOKEN: &str = "xoxp-1234567890-0987654321-SECRET";

/// A connector for `base_url`: fast retries, a generous pace, pages of 2, and `extra` keys.
fn slack(base_url: &str, extra: &str) -> SlackConnector {
    let page_size = if extra.contains("page_size") { "" } else { "page_size = 2\n" };
    let text = format!(
        "base_url = \"{base_url}\"\ntoken = \"{TOKEN}\"\n{page_size}requests_per_second = 1000\n\
         retry_initial_delay = \"10ms\"\nretry_max_delay = \"40ms\"\n{extra}"
    );
    from_table(&text.parse().expect("TOML"), &BuildContext::new("slack")).expect("a valid configuration")
}

async fn run(connector: &SlackConnector, cursor: Option<Cursor>) -> Drained {
    drain(connector.stream().as_ref(), cursor).await
}

/// An entry at `date_create` seconds.
fn entry(id: &str, date_create: i64) -> Value {
    json!({"id": id, "date_create": date_create, "action": "user_login",
           "actor": {"type": "user", "user": {"id": "W1", "name": "Charlie Parker", "email": "bird@example.com", "team": "E1"}},
           "entity": {"type": "user", "user": {"id": "W1", "name": "Charlie Parker", "email": "bird@example.com", "team": "E1"}},
           "context": {"location": {"type": "enterprise", "id": "E1", "name": "Birdland", "domain": "birdland"},
                       "ua": "Mozilla/5.0", "ip_address": "1.2.3.4", "session_id": 1}})
}

fn page(entries: Vec<Value>, next: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"entries": entries, "response_metadata": {"next_cursor": next}}))
}

fn number(request: &Request, name: &str) -> i64 {
    query(request)[name].parse().expect("a number")
}

#[tokio::test]
async fn windows_are_inclusive_whole_seconds_read_newest_first_through_next_cursor() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_second() - 3600;
    // The window holding t: two pages, newest first.
    Mock::given(method("GET"))
        .and(path("/audit/v1/logs"))
        .and(move |request: &Request| {
            let q = query(request);
            !q.contains_key("cursor") && number(request, "oldest") <= t && t <= number(request, "latest")
        })
        .respond_with(page(vec![entry("c", t), entry("b", t)], "dXNlcjpX"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("cursor", "dXNlcjpX"))
        .respond_with(page(vec![entry("a", t - 1)], ""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![], "")).mount(&server).await;

    let connector = slack(
        &server.uri(),
        "initial_lookback = \"2h\"\nwindow_step = \"30m\"\nsettle_lag = \"5m\"\nactions = [\"user_login\", \"user_logout\"]",
    );
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["c", "b", "a"]);

    let requests = server.received_requests().await.unwrap();
    let now = Timestamp::now().as_second();
    let mut previous_latest = None;
    for request in requests.iter().filter(|r| !query(r).contains_key("cursor")) {
        let (oldest, latest) = (number(request, "oldest"), number(request, "latest"));
        assert!(oldest <= latest && latest - oldest < 1800, "{}", request.url);
        if let Some(previous) = previous_latest {
            assert_eq!(oldest, previous + 1, "windows follow each other without overlap or gap");
        }
        previous_latest = Some(latest);
        assert!(latest < now - 300, "no window reaches past the settle lag: {}", request.url);
        assert_eq!(query(request)["limit"], "2");
        assert_eq!(query(request)["action"], "user_login,user_logout", "several actions in one parameter");
        assert_eq!(header(request, "authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(header(request, "accept"), Some("application/json"));
    }
    assert_eq!(requests.iter().filter(|r| !query(r).contains_key("cursor")).count(), 4, "2 h in windows of 30 min");
    let next = requests.iter().find(|r| query(r).contains_key("cursor")).unwrap();
    let first = requests.iter().find(|r| number(r, "oldest") <= t && t <= number(r, "latest")).unwrap();
    assert_eq!(
        (query(next)["oldest"].clone(), query(next)["latest"].clone()),
        (query(first)["oldest"].clone(), query(first)["latest"].clone()),
        "the cursor keeps the window"
    );

    // Records, then cursors: inside the window exact ones, at its end the window's end.
    let record = drained.logs().next().unwrap().to_value().unwrap();
    assert_eq!(record["message"], "bird@example.com user_login user Charlie Parker");
    assert_eq!(record["timestamp"], t);
    assert_eq!((record["usr"]["id"].as_str(), record["http"]["useragent"].as_str()), (Some("W1"), Some("Mozilla/5.0")));
    let cursors: Vec<Value> = drained.logs().map(|r| r.cursor_value().unwrap()).collect();
    let second = |at: i64| Timestamp::from_second(at).unwrap().to_string();
    assert_eq!(cursors[0]["partial"], json!({"below": second(t + 1), "then": cursors[2]["until"], "seen": ["c"]}));
    assert_eq!(cursors[1]["partial"]["seen"], json!(["c", "b"]));
    assert!(cursors[2].get("partial").is_none());
}

#[tokio::test]
async fn a_partial_cursor_reads_the_rest_of_its_window_then_goes_on() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_second() - 3000;
    let until = Timestamp::from_second(t - 600).unwrap();
    let then = Timestamp::from_second(t + 600).unwrap();
    // The rest of the window: [until, t]; `c` and `b` at t were delivered.
    Mock::given(method("GET"))
        .and(query_param("oldest", (t - 600).to_string().as_str()))
        .and(query_param("latest", t.to_string().as_str()))
        .respond_with(page(vec![entry("c", t), entry("x", t), entry("b", t), entry("a", t - 5)], ""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![], "")).mount(&server).await;
    let connector = slack(&server.uri(), "page_size = 10\nwindow_step = \"1h\"");
    let stored = json!({"v": 1, "until": until.to_string(),
                        "partial": {"below": Timestamp::from_second(t + 1).unwrap().to_string(), "then": then.to_string(), "seen": ["c", "b"]}});
    let drained = run(&connector, Some(stored)).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["x", "a"]);
    // The next window starts where the stored one ended.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(number(&requests[1], "oldest"), t + 600, "{}", requests[1].url);
    let x = drained.logs().next().unwrap().cursor_value().unwrap();
    assert_eq!(x["partial"]["seen"], json!(["c", "b", "x"]), "still at t: what was delivered there before is kept");
}

#[tokio::test]
async fn refusals_with_200_or_a_status_are_fatal_naming_what_to_check() {
    for (status, code, says) in [
        (200, "invalid_auth", "xoxp-"),
        (401, "not_authed", "xoxp-"),
        (200, "missing_scope", "auditlogs:read"),
        (403, "feature_not_enabled", "Enterprise"),
        (200, "feature_not_enabled", "Enterprise"),
        (400, "invalid_arguments", "`actions`"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"ok": false, "error": code})))
            .expect(1)
            .mount(&server)
            .await;
        let drained = run(&slack(&server.uri(), ""), None).await;
        let err = drained.error.expect("refused");
        let text = err.to_string();
        assert_eq!(err.kind(), StreamErrorKind::Fatal, "{status} {code}: {text}");
        assert!(text.contains(code) && text.contains(says), "{status} {code}: {text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(drained.records.is_empty());
    }
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_asks_the_same_page_again() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_second() - 1800;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(json!({"ok": false, "error": "ratelimited"}));
    Mock::given(method("GET"))
        .and(query_param("cursor", "p2"))
        .respond_with(limited)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("cursor", "p2"))
        .respond_with(page(vec![entry("a", t)], ""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(move |r: &Request| {
            !query(r).contains_key("cursor") && number(r, "oldest") <= t && t <= number(r, "latest")
        })
        .respond_with(page(vec![entry("b", t)], "p2"))
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![], "")).mount(&server).await;
    let started = Instant::now();
    let drained = run(&slack(&server.uri(), "initial_lookback = \"1h\""), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["b", "a"]);
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was not obeyed: {:?}", started.elapsed());

    // A rate limit answered with HTTP 200 ends the run, transiently: the next interval retries.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})))
        .mount(&server)
        .await;
    let err = run(&slack(&server.uri(), ""), None).await.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn an_answer_without_entries_is_malformed_and_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"response_metadata": {"next_cursor": ""}})))
        .mount(&server)
        .await;
    let err = run(&slack(&server.uri(), ""), None).await.error.expect("malformed");
    assert_eq!(err.kind(), StreamErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("/audit/v1/logs") && err.to_string().contains("entries"), "{err}");
    assert!(!err.to_string().contains("SECRET"));
}

#[tokio::test]
async fn a_stored_window_cursor_resumes_at_its_end() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(page(vec![], "")).mount(&server).await;
    let until = Timestamp::now() - SignedDuration::from_mins(30);
    let until = Timestamp::from_second(until.as_second()).unwrap();
    let drained =
        run(&slack(&server.uri(), "window_step = \"1h\""), Some(json!({"v": 1, "until": until.to_string()}))).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one window from the stored end to now − settle lag");
    assert_eq!(number(&requests[0], "oldest"), until.as_second());
    assert!(drained.records.iter().all(|r| r.is_position()));
}
