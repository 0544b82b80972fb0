//! Wiremock and simulator tests of the 1Password connector: what it sends (paths, bodies, the bearer
//! token), what it delivers, where it resumes, and how it fails.

use std::sync::Arc;

use logcrawl_core::{BuildContext, Connector, Cursor, LogStream, StreamErrorKind};
use logcrawl_onepassword::OnePasswordConnector;
use logcrawl_testkit::{Drained, body_json, drain};
use serde_json::{Value, json};
use wiremock::matchers::{body_json as body_is, header as header_is, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod crawl;

const TOKEN: &str = "ops_eyJhbGciOiJFUzI1NiIsImtpZCI6InRlc3QifQ.SECRET";

/// A connector for `base_url` with `extra` keys (fast retries, a generous quota, pages of 2 unless
/// `extra` says otherwise).
fn connector(base_url: &str, extra: &str) -> OnePasswordConnector {
    let page_size = if extra.contains("page_size") { "" } else { "page_size = 2\n" };
    let text = format!(
        "base_url = \"{base_url}\"\ntoken = \"{TOKEN}\"\n{page_size}requests_per_second = 1000\n\
         retry_initial_delay = \"10ms\"\nretry_max_delay = \"40ms\"\n{extra}"
    );
    OnePasswordConnector::from_table(&text.parse().expect("TOML"), &BuildContext::new("op"))
        .expect("a valid configuration")
}

/// The connector's stream called `name`.
fn stream(connector: &OnePasswordConnector, name: &str) -> Arc<dyn LogStream> {
    connector.streams().into_iter().find(|s| s.name() == name).expect("a configured stream")
}

/// A sign-in attempt at `timestamp`.
fn signin(uuid: &str, timestamp: &str) -> Value {
    json!({"uuid": uuid, "session_uuid": "S", "timestamp": timestamp, "category": "success", "type": "credentials_ok",
           "country": "CA", "target_user": {"uuid": "U1", "name": "Jack O'Neill", "email": "jack@example.com", "user_type": "user"},
           "client": {"app_name": "1Password CLI", "ip_address": "13.227.95.22"}, "account_uuid": "ACC"})
}

fn page(cursor: &str, has_more: bool, items: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"cursor": cursor, "has_more": has_more, "items": items}))
}

/// Answers `answer` to a POST of `body` to `feature`'s endpoint, `times` times exactly.
async fn answer(server: &MockServer, feature: &str, body: Value, answer: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/{feature}")))
        .and(body_is(body))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

async fn run(stream: &dyn LogStream, cursor: Option<Cursor>) -> Drained {
    drain(stream, cursor).await
}

fn uuids(drained: &Drained) -> Vec<String> {
    drained.field("uuid")
}

#[tokio::test]
async fn a_first_run_resets_at_the_lookback_then_follows_body_cursors() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:20.353Z";
    Mock::given(method("POST"))
        .and(path("/api/v2/signinattempts"))
        .and(header_is("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header_is("content-type", "application/json"))
        .and(|request: &Request| {
            let body = body_json(request);
            body.get("cursor").is_none() && body["limit"] == 2 && body["start_time"].is_string()
        })
        .respond_with(page("c1", true, vec![signin("A", t), signin("B", t)]))
        .expect(1)
        .mount(&server)
        .await;
    answer(&server, "signinattempts", json!({"cursor": "c1"}), page("c2", false, vec![signin("C", t)]), 1).await;

    let connector = connector(&server.uri(), "streams = [\"signinattempts\"]\ninitial_lookback = \"2h\"");
    let drained = run(stream(&connector, "signinattempts").as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(uuids(&drained), ["A", "B", "C"]);

    // The ResetCursor's start_time is two hours back, in RFC 3339.
    let first = &server.received_requests().await.unwrap()[0];
    let start: jiff::Timestamp = body_json(first)["start_time"].as_str().unwrap().parse().unwrap();
    let back = jiff::Timestamp::now().duration_since(start);
    assert!((back.as_secs() - 7200).abs() < 60, "{back:?}");

    // Records: the event as sent, plus what logcrawl adds.
    let record = drained.logs().next().unwrap().to_value().unwrap();
    assert_eq!(record["message"], "Sign-in attempt by jack@example.com: success (credentials_ok)");
    assert_eq!(record["timestamp"].as_f64(), Some(1_723_564_700.353));
    assert_eq!(record["usr"]["email"], "jack@example.com");
    assert_eq!(record["network"]["client"]["ip"], "13.227.95.22");
    assert_eq!(record["account_uuid"], "ACC");

    // Cursors: mid-page ones name the page's cursor (the first page's: its start_time) and the uuid; the
    // last one the stored, persistent cursor and the uuids at its instant.
    let cursors: Vec<Value> = drained.records.iter().map(|r| r.cursor_value().unwrap()).collect();
    assert_eq!(cursors[0]["start_time"], body_json(first)["start_time"]);
    assert_eq!(
        (&cursors[0]["through"], &cursors[0]["index"], &cursors[0]["timestamp"]),
        (&json!("A"), &json!(0), &json!(t))
    );
    assert_eq!(cursors[1]["cursor"], "c1", "the page end of a page with more: the next page's cursor");
    // A, B and C share the instant t across the pages: all three are kept, so a fallback to `t` repeats none.
    assert_eq!(cursors[2], json!({"v": 1, "cursor": "c2", "timestamp": t, "seen": ["C", "B", "A"]}));
}

#[tokio::test]
async fn the_cursor_persists_after_has_more_is_false_and_the_next_run_polls_with_it() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:21Z";
    // Caught up: the same cursor comes back on an empty page, once per run.
    answer(&server, "itemusages", json!({"cursor": "c2"}), page("c2", false, vec![]), 1).await;
    let connector = connector(&server.uri(), "streams = [\"itemusages\"]");
    let stored = json!({"v": 1, "cursor": "c2", "timestamp": t, "seen": ["C"]});
    let drained = run(stream(&connector, "itemusages").as_ref(), Some(stored)).await;
    assert!(drained.error.is_none() && drained.records.is_empty(), "{:?}", drained.records);

    // New events come through the same cursor; one already delivered at the boundary is dropped.
    let server = MockServer::start().await;
    let fresh = page("c3", false, vec![json!({"uuid": "C", "timestamp": t}), json!({"uuid": "D", "timestamp": t})]);
    answer(&server, "itemusages", json!({"cursor": "c2"}), fresh, 1).await;
    let connector = self::connector(&server.uri(), "streams = [\"itemusages\"]");
    let stored = json!({"v": 1, "cursor": "c2", "timestamp": t, "seen": ["C"]});
    let drained = run(stream(&connector, "itemusages").as_ref(), Some(stored)).await;
    assert_eq!(uuids(&drained), ["D"]);
    assert_eq!(drained.last_cursor(), Some(json!({"v": 1, "cursor": "c3", "timestamp": t, "seen": ["D", "C"]})));
}

#[tokio::test]
async fn a_mid_page_cursor_requests_its_page_again_and_skips_through_its_event() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:22Z";
    let items = vec![signin("A", t), signin("B", t), signin("C", t)];
    answer(&server, "auditevents", json!({"cursor": "c1"}), page("c2", false, items), 1).await;
    let connector = connector(&server.uri(), "streams = [\"auditevents\"]\npage_size = 3");
    let stored = json!({"v": 1, "cursor": "c1", "timestamp": t, "through": "B", "index": 1});
    let drained = run(stream(&connector, "auditevents").as_ref(), Some(stored)).await;
    assert_eq!(uuids(&drained), ["C"]);

    // A first-page cursor resends the same ResetCursor.
    let server = MockServer::start().await;
    let reset = json!({"limit": 2, "start_time": "2024-08-13T00:00:00.000Z"});
    answer(&server, "auditevents", reset.clone(), page("c1", false, vec![signin("A", t), signin("B", t)]), 1).await;
    let connector = self::connector(&server.uri(), "streams = [\"auditevents\"]");
    let stored = json!({"v": 1, "start_time": "2024-08-13T00:00:00.000Z", "timestamp": t, "through": "A", "index": 0});
    assert_eq!(uuids(&run(stream(&connector, "auditevents").as_ref(), Some(stored)).await), ["B"]);
}

#[tokio::test]
async fn an_empty_page_that_has_more_is_followed_and_committed() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:23Z";
    answer(&server, "auditevents", json!({"cursor": "c1"}), page("c2", true, vec![]), 1).await;
    answer(&server, "auditevents", json!({"cursor": "c2"}), page("c3", false, vec![signin("E", t)]), 1).await;
    let connector = connector(&server.uri(), "streams = [\"auditevents\"]");
    let drained = run(stream(&connector, "auditevents").as_ref(), Some(json!({"cursor": "c1"}))).await;
    assert_eq!(uuids(&drained), ["E"]);
    assert!(drained.records[0].is_position(), "the empty hop is committed as a position");
    assert_eq!(drained.records[0].cursor_value().unwrap()["cursor"], "c2");
}

#[tokio::test]
async fn a_refused_cursor_restarts_from_its_timestamp_dropping_what_was_delivered_there() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:24.500Z";
    let refused = ResponseTemplate::new(400).set_body_json(json!({"Error": {"Message": "Invalid cursor"}}));
    answer(&server, "itemusages", json!({"cursor": "stale"}), refused, 1).await;
    let again = page("c9", false, vec![signin("X", t), signin("Y", t), signin("Z", t)]);
    answer(&server, "itemusages", json!({"limit": 2, "start_time": t}), again, 1).await;
    let connector = connector(&server.uri(), "streams = [\"itemusages\"]");
    let stored = json!({"v": 1, "cursor": "stale", "timestamp": t, "through": "Y", "index": 1, "seen": ["X"]});
    let drained = run(stream(&connector, "itemusages").as_ref(), Some(stored)).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(uuids(&drained), ["Z"]);

    // Without a timestamp there is no lossless way back: a checkpoint error saying so.
    let server = MockServer::start().await;
    let refused = ResponseTemplate::new(400).set_body_json(json!({"Error": {"Message": "Invalid cursor"}}));
    answer(&server, "itemusages", json!({"cursor": "stale"}), refused, 1).await;
    let connector = self::connector(&server.uri(), "streams = [\"itemusages\"]");
    let drained = run(stream(&connector, "itemusages").as_ref(), Some(json!({"cursor": "stale"}))).await;
    let err = drained.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint);
    assert!(err.to_string().contains("`itemusages`") && err.to_string().contains("reset"), "{err}");
}

#[tokio::test]
async fn a_token_without_the_feature_is_fatal_and_names_the_stream() {
    let server = MockServer::start().await;
    let unauthorized = ResponseTemplate::new(401).set_body_json(json!({"Error": {"Message": "Unauthorized"}}));
    Mock::given(method("POST"))
        .and(path("/api/v2/itemusages"))
        .respond_with(unauthorized)
        .expect(1)
        .mount(&server)
        .await;
    let connector = connector(&server.uri(), "");
    let drained = run(stream(&connector, "itemusages").as_ref(), None).await;
    let err = drained.error.expect("refused");
    let text = err.to_string();
    assert_eq!(err.kind(), StreamErrorKind::Fatal, "{text}");
    assert!(
        text.contains("401") && text.contains("`itemusages` stream") && text.contains("item usage feature"),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn a_429_without_retry_after_is_waited_out_and_the_same_body_sent_again() {
    let server = MockServer::start().await;
    let t = "2024-08-13T15:58:25Z";
    let limited = ResponseTemplate::new(429).set_body_json(json!({"Error": {"Message": "Too many requests"}}));
    Mock::given(method("POST"))
        .and(body_is(json!({"cursor": "c1"})))
        .respond_with(limited)
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    answer(&server, "signinattempts", json!({"cursor": "c1"}), page("c2", false, vec![signin("R", t)]), 1).await;
    let connector = connector(&server.uri(), "streams = [\"signinattempts\"]");
    let drained = run(stream(&connector, "signinattempts").as_ref(), Some(json!({"cursor": "c1"}))).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(uuids(&drained), ["R"]);
}

#[tokio::test]
async fn a_page_that_is_not_1passwords_shape_is_malformed_and_transient() {
    for body in [json!({"has_more": false, "items": []}), json!({"cursor": "c", "items": []}), json!([1])] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_json(&body)).mount(&server).await;
        let connector = connector(&server.uri(), "streams = [\"auditevents\"]");
        let err = run(stream(&connector, "auditevents").as_ref(), None).await.error.expect("malformed");
        assert_eq!(err.kind(), StreamErrorKind::Transient, "{body}: {err}");
        assert!(err.to_string().contains("/api/v2/auditevents") && !err.to_string().contains("SECRET"), "{err}");
    }
}

#[tokio::test]
async fn the_streams_of_a_token_share_one_rate_budget_paced_below_1passwords_limits() {
    let text = format!("token = \"{TOKEN}\"");
    let connector = OnePasswordConnector::from_table(&text.parse().unwrap(), &BuildContext::new("op")).unwrap();
    let budgets: Vec<_> = connector.event_streams().iter().map(|s| s.client().budget().clone()).collect();
    assert_eq!(budgets.len(), 3);
    assert!(budgets.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "one budget for the three streams");
    assert_eq!(budgets[0].requests_per_second().map(|n| n.get()), Some(8));
    assert!(!budgets[0].key().contains("SECRET"), "{}", budgets[0].key());

    // A second source with the same token shares it too (the strictest quota holds for both).
    let text = format!("token = \"{TOKEN}\"\nstreams = [\"auditevents\"]\nrequests_per_second = 3");
    let other = OnePasswordConnector::from_table(&text.parse().unwrap(), &BuildContext::new("op2")).unwrap();
    let shared = other.event_streams()[0].client().budget();
    assert!(Arc::ptr_eq(shared, &budgets[0]));
    assert_eq!(budgets[0].requests_per_second().map(|n| n.get()), Some(3));
    assert_eq!(first_url(&connector).as_deref(), Some("https://events.1password.com/api/v2/auditevents"));
}

/// Where the connector's first stream sends its first request.
fn first_url(connector: &OnePasswordConnector) -> Option<String> {
    let first = connector.event_streams().first()?;
    let request = logcrawl_connector::PagedApi::first_request(first.api(), None).ok()?;
    Some(request.url.to_string())
}
