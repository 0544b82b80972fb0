//! Wiremock and simulator tests of the Duo connector: the signed queries it sends (window bounds in
//! milliseconds, `next_offset`, the v1 `mintime`), what it delivers, where it resumes, and how Duo's
//! refusals end a run.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use logcrawl_core::{BuildContext, Cursor, StreamErrorKind};
use logcrawl_duo::DuoConnector;
use logcrawl_sim::duo::Credentials;
use logcrawl_testkit::{Drained, LogCapture, drain, header, query};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod administrator;
mod conformance;
mod crawl;

const API_HOST: &str = "api-7e57c0de.duosecurity.com";
const INTEGRATION_KEY: &str = "DITESTINTEGRATIONKEY";
const SECRET_KEY: &str = "testSecretKey0123456789SECRETabcdefghijk";

/// The application as Duo's server knows it.
fn credentials() -> Credentials {
    Credentials { api_host: API_HOST.into(), integration_key: INTEGRATION_KEY.into(), secret_key: SECRET_KEY.into() }
}

/// Whether Duo would accept `request`'s signature now.
fn signed(request: &Request) -> bool {
    let verdict = credentials().verify(
        request.method.as_str(),
        request.url.path(),
        request.url.query(),
        header(request, "date"),
        header(request, "authorization"),
        Timestamp::now(),
    );
    verdict.is_ok()
}

/// A connector for `base_url`: fast retries, a generous pace, pages of 2, no settle lag, and `extra`
/// keys (which may replace those).
fn duo(base_url: &str, extra: &str) -> DuoConnector {
    let mut keys = String::new();
    for (key, value) in [("page_size", "2"), ("settle_lag", "\"0s\""), ("initial_lookback", "\"2h\"")] {
        if !extra.contains(key) {
            keys.push_str(&format!("{key} = {value}\n"));
        }
    }
    let text = format!(
        "api_host = \"{API_HOST}\"\nintegration_key = \"{INTEGRATION_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         base_url = \"{base_url}\"\n{keys}requests_per_second = 1000\nretry_initial_delay = \"10ms\"\n\
         retry_max_delay = \"40ms\"\ntimeout = \"5s\"\n{extra}"
    );
    DuoConnector::from_table(&text.parse().expect("TOML"), &BuildContext::new("duo")).expect("a valid configuration")
}

/// One run of the connector's only stream.
async fn run(connector: &DuoConnector, cursor: Option<Cursor>) -> Drained {
    let streams = logcrawl_core::Connector::streams(connector);
    assert_eq!(streams.len(), 1, "one stream configured");
    drain(streams[0].as_ref(), cursor).await
}

/// An authentication event with `txid` at epoch millisecond `ms`.
fn authlog(txid: &str, ms: i64) -> Value {
    let at = Timestamp::from_millisecond(ms).unwrap();
    json!({"txid": txid, "isotimestamp": format!("{}000+00:00", at.strftime("%Y-%m-%dT%H:%M:%S%.3f")),
           "timestamp": ms.div_euclid(1000), "event_type": "authentication", "result": "denied",
           "reason": "deny_unenrolled_user", "factor": "duo_push", "email": "bird@example.com",
           "user": {"key": "DU1", "name": "charlie"}, "application": {"key": "DI1", "name": "VPN"},
           "access_device": {"ip": "192.0.2.7"}})
}

fn authlogs(events: Vec<Value>, next_offset: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"stat": "OK", "response": {"authlogs": events,
        "metadata": {"next_offset": next_offset, "total_objects": 3}}}))
}

fn number(request: &Request, name: &str) -> i64 {
    query(request)[name].parse().expect("a number")
}

fn fail(status: u16, code: u64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"stat": "FAIL", "code": code, "message": message}))
}

#[tokio::test]
async fn windows_are_signed_inclusive_milliseconds_read_newest_first_through_next_offset() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_millisecond() - 1_800_000;
    let holds_t = move |request: &Request| number(request, "mintime") <= t && t <= number(request, "maxtime");
    Mock::given(method("GET"))
        .and(path("/admin/v2/logs/authentication"))
        .and(query_param("limit", "2"))
        .and(query_param("sort", "ts:desc"))
        .and(move |request: &Request| holds_t(request) && !query(request).contains_key("next_offset"))
        .respond_with(authlogs(vec![authlog("tx-3", t), authlog("tx-2", t - 5)], json!([(t - 5).to_string(), "tx-2"])))
        .expect(1)
        .mount(&server)
        .await;
    let offset = format!("{},tx-2", t - 5);
    Mock::given(method("GET"))
        .and(path("/admin/v2/logs/authentication"))
        .and(query_param("next_offset", offset.as_str()))
        .respond_with(authlogs(vec![authlog("tx-1", t - 9)], Value::Null))
        .expect(1)
        .mount(&server)
        .await;
    let connector = duo(&server.uri(), "streams = [\"authentication\"]\nsettle_lag = \"30s\"");
    let started = Timestamp::now().as_millisecond();
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let records: Vec<Value> = drained.logs().map(|r| r.to_value().unwrap()).collect();
    let txids: Vec<&str> = records.iter().map(|r| r["txid"].as_str().unwrap()).collect();
    assert_eq!(txids, ["tx-3", "tx-2", "tx-1"]);
    assert_eq!(records[0]["message"], "charlie authentication: denied (deny_unenrolled_user) with duo_push for VPN");
    assert_eq!(
        (records[0]["status"].as_str(), records[0]["evt"]["outcome"].as_str()),
        (Some("warning"), Some("failure"))
    );
    assert_eq!(records[0]["network"]["client"]["ip"], "192.0.2.7");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(signed(request), "{} is not signed as Duo verifies", request.url);
        assert!(number(request, "mintime") < number(request, "maxtime"));
        assert!(number(request, "maxtime") <= started - 30_000, "maxtime ≤ now − settle_lag: {}", request.url);
    }
    // Inside the window every record is exact; the last one commits the window's end.
    let first = drained.logs().next().unwrap().cursor_value().unwrap();
    assert_eq!(first["partial"]["seen"], json!(["tx-3"]));
    let last = drained.last_cursor().unwrap();
    assert!(last.get("partial").is_none(), "{last}");
    assert_eq!(
        last["until"].as_str().unwrap().parse::<Timestamp>().unwrap().as_millisecond(),
        number(&requests[0], "maxtime") + 1
    );
}

#[tokio::test]
async fn by_default_no_query_reaches_the_last_two_minutes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"stat": "OK", "response": {"items": [],
            "metadata": {"next_offset": null}}})))
        .mount(&server)
        .await;
    // No settle_lag key: Duo's two minutes.
    let text = format!(
        "api_host = \"{API_HOST}\"\nintegration_key = \"{INTEGRATION_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         base_url = \"{}\"\nstreams = [\"telephony\"]\nrequests_per_second = 1000",
        server.uri()
    );
    let connector = DuoConnector::from_table(&text.parse().unwrap(), &BuildContext::new("duo")).unwrap();
    let started = Timestamp::now().as_millisecond();
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.url.path(), "/admin/v2/logs/telephony");
        assert!(number(request, "maxtime") <= started - 120_000, "{}", request.url);
    }
    // An empty window is committed: the next run starts at its end.
    let end = drained.last_cursor().unwrap()["until"].as_str().unwrap().parse::<Timestamp>().unwrap();
    assert!(end.as_millisecond() <= started - 120_000 + 1);
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_same_page_asked_again_signed_afresh() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_millisecond() - 600_000;
    Mock::given(method("GET"))
        .respond_with(fail(429, 42901, "Too Many Requests").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(authlogs(vec![authlog("tx-1", t)], Value::Null))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let drained = run(&duo(&server.uri(), "streams = [\"authentication\"]"), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("message").len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was not waited for: {:?}", started.elapsed());
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].url, requests[1].url, "the same page again");
    assert!(requests.iter().all(signed));
    // Duo has no token to refresh: each attempt is signed with its own Date.
    assert_ne!(header(&requests[0], "date"), header(&requests[1], "date"));
    assert_ne!(header(&requests[0], "authorization"), header(&requests[1], "authorization"));
}

#[tokio::test]
async fn rejected_credentials_and_a_missing_permission_are_fatal_sent_once_and_say_what_to_fix() {
    for (status, code, message, says) in [
        (401, 40103, "Invalid signature in request credentials", "`secret_key`"),
        (401, 40102, "Invalid integration key in request credentials", "`integration_key`"),
        (403, 40301, "Access forbidden", "\"Grant read log\" permission"),
    ] {
        let logs = LogCapture::start();
        for stream in ["authentication", "administrator", "telephony"] {
            let server = MockServer::start().await;
            Mock::given(method("GET")).respond_with(fail(status, code, message)).expect(1).mount(&server).await;
            let connector = duo(&server.uri(), &format!("streams = [\"{stream}\"]"));
            let drained = run(&connector, None).await;
            let err = drained.error.expect("a refusal ends the run");
            assert_eq!(err.kind(), StreamErrorKind::Fatal, "{stream}: {err}");
            let text = err.to_string();
            assert!(text.contains(&status.to_string()) && text.contains(&code.to_string()), "{text}");
            assert!(text.contains(says), "{stream}: {text}");
            if status == 403 {
                assert!(text.contains(&format!("the {stream} log")), "names the log: {text}");
            }
            assert!(!text.contains(SECRET_KEY), "{text}");
            server.verify().await;
        }
        logs.assert_absent(SECRET_KEY);
        logs.assert_absent("Basic ");
    }
}

#[tokio::test]
async fn malformed_and_failed_pages_name_the_url_never_the_secret() {
    let t = Timestamp::now().as_millisecond() - 600_000;
    let logs = LogCapture::start();
    for (body, says, fatal) in [
        (json!("{\"stat\": \"OK\", \"response\": {\"authlogs\": [{\"txid\""), "malformed", false),
        (json!({"stat": "OK", "response": {"items": []}}), "no `authlogs`", false),
        (json!({"stat": "OK", "response": {"authlogs": [1]}}), "authlogs[0]", false),
        (
            json!({"stat": "OK", "response": {"authlogs": [authlog("tx", t)], "metadata": {"next_offset": {"a": 1}}}}),
            "next_offset",
            false,
        ),
        (json!({"response": {"authlogs": []}}), "no `stat`", false),
        (json!({"stat": "FAIL", "code": 40301, "message": "Access forbidden"}), "Grant read log", true),
        (json!({"stat": "FAIL", "code": 50000, "message": "Try later"}), "Try later", false),
    ] {
        let server = MockServer::start().await;
        let template = match &body {
            Value::String(text) => ResponseTemplate::new(200).set_body_string(text.as_str()),
            other => ResponseTemplate::new(200).set_body_json(other),
        };
        Mock::given(method("GET")).respond_with(template).mount(&server).await;
        let drained = run(&duo(&server.uri(), "streams = [\"authentication\"]"), None).await;
        assert!(drained.logs().next().is_none(), "nothing delivered from a bad page");
        let err = drained.error.unwrap_or_else(|| panic!("{body}: the run should fail"));
        let text = err.to_string();
        assert_eq!(err.kind() == StreamErrorKind::Fatal, fatal, "{body}: {text}");
        assert!(text.contains(says) && text.contains("/admin/v2/logs/authentication"), "{body}: {text}");
        assert!(!text.contains(SECRET_KEY), "{text}");
    }
    logs.assert_absent(SECRET_KEY);
}

#[tokio::test]
async fn an_unreadable_cursor_is_a_checkpoint_error_sending_nothing() {
    let server = MockServer::start().await;
    for (stream, cursor) in [("authentication", json!({"mintime": 5})), ("administrator", json!({"until": "x"}))] {
        let drained = run(&duo(&server.uri(), &format!("streams = [\"{stream}\"]")), Some(cursor)).await;
        assert_eq!(drained.error.map(|e| e.kind()), Some(StreamErrorKind::Checkpoint), "{stream}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_rest_of_a_window_stopped_in_its_first_millisecond_is_asked_as_two() {
    let server = MockServer::start().await;
    let t = Timestamp::now().as_millisecond() - 600_000;
    let at = |ms: i64| Timestamp::from_millisecond(ms).unwrap().to_string();
    Mock::given(method("GET"))
        .and(query_param("mintime", t.to_string().as_str()))
        .respond_with(authlogs(vec![authlog("newer", t + 1), authlog("seen", t), authlog("left", t)], Value::Null))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(authlogs(vec![], Value::Null)).mount(&server).await;
    // Delivered down to `seen`, at the window's first millisecond: what is left is that millisecond.
    let cursor =
        json!({"until": at(t), "partial": {"below": at(t + 1), "then": at(t + 60_000), "seen": ["seen"]}, "v": 1});
    let drained = run(&duo(&server.uri(), "streams = [\"authentication\"]"), Some(cursor)).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let requests = server.received_requests().await.unwrap();
    assert_eq!((number(&requests[0], "mintime"), number(&requests[0], "maxtime")), (t, t + 1), "mintime < maxtime");
    let txids: Vec<String> =
        drained.logs().map(|r| r.to_value().unwrap()["txid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(txids, ["newer", "left"], "what was seen is dropped; the next millisecond's events may come twice");
    assert!(number(&requests[1], "mintime") >= t + 60_000, "then the windows after it");
}
