//! Wiremock tests of the Auth0 connector: what it asks the tenant for (checkpoint reads, token
//! requests), which links it follows, where it resumes. `sim.rs` crawls the simulator.

use std::time::{Duration, Instant};

use logcrawl_auth0::{Auth0Config, Auth0Connector, HTTP_DEFAULTS};
use logcrawl_core::config::ComponentTable;
use logcrawl_core::{BuildContext, Cursor, StreamErrorKind};
use logcrawl_testkit::{Drained, body_json, fast_retries, query, url_as_sent, with_links};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod sim;

const TOKEN: &str = "eyJTestManagementApiTokenSECRET";
const CLIENT_SECRET: &str = "client-SECRET-0123456789";

/// A connector for the tenant at `base_url` with `extra` keys (default: a static token).
fn connector(base_url: &str, extra: Value) -> Auth0Connector {
    let mut value = json!({"base_url": base_url});
    let extra = extra.as_object().cloned().unwrap_or_default();
    if !extra.contains_key("client_id") {
        value["token"] = json!(TOKEN);
    }
    value.as_object_mut().unwrap().extend(extra);
    let table = serde_json::from_value(value).unwrap();
    let (config, http): (Auth0Config, _) = ComponentTable::split(&table, HTTP_DEFAULTS).unwrap();
    Auth0Connector::with_http(config, &http, &BuildContext::new("auth0-test"), fast_retries).unwrap()
}

/// A connector with the client credentials of application `app`, for tenant `acme.us.auth0.com`, reading
/// `page_size` events a page.
fn app_connector(server: &MockServer, page_size: usize) -> Auth0Connector {
    let keys = json!({"domain": "acme.us.auth0.com", "client_id": "app", "client_secret": CLIENT_SECRET,
                      "page_size": page_size});
    connector(&server.uri(), keys)
}

async fn crawl(connector: &Auth0Connector, cursor: Option<Cursor>) -> Drained {
    logcrawl_testkit::drain(connector.logs().as_ref(), cursor).await
}

fn ids(drained: &Drained) -> Vec<String> {
    drained.logs().map(|r| r.to_value().unwrap()["log_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The log id of event `i`: `900`, a storage instant, and `i`.
fn log_id(i: usize) -> String {
    format!("90020240308035905{i:039}")
}

/// Event `i` in the shape of Elastic's fixtures.
fn event(i: usize) -> Value {
    json!({
        "date": "2024-03-08T03:59:05.520Z", "type": "sapi", "description": "Create client grant",
        "client_id": "xZjM1MjUxOGVhYzYxNTAxZmE3NmI1MGIgIC", "client_name": "", "ip": "81.2.69.144",
        "user_agent": "Firefox 125.0.0 / Arch 0.0.0", "user_id": "github|32487232", "log_id": log_id(i),
        "_id": log_id(i), "tenant_name": "acme", "$event_schema": {"version": "1.0.0"}, "isMobile": false,
        "details": {"request": {"method": "post", "path": "/api/v2/client-grants"}},
    })
}

fn events(from: usize, to: usize) -> Value {
    Value::Array((from..to).map(event).collect())
}

/// A 200 page with Auth0's `next` link and rate-limit headers.
fn page(body: Value, next: &str) -> ResponseTemplate {
    let template = ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-ratelimit-limit", "50")
        .insert_header("x-ratelimit-remaining", "49")
        .insert_header("x-ratelimit-reset", (logcrawl_testkit::epoch_now() + 1).to_string().as_str());
    with_links(template, &[("next", next)])
}

fn logs_url(server: &MockServer, from: &str, take: usize) -> String {
    format!("{}/api/v2/logs?from={from}&take={take}", server.uri())
}

/// Answers every checkpoint read after `log_id(from)`: `events(from + 1, to)` and Auth0's link.
async fn serve(server: &MockServer, after: usize, to: usize, take: usize) {
    let next = logs_url(server, &log_id(to - 1), take);
    Mock::given(query_param("from", log_id(after).as_str()))
        .respond_with(page(events(after + 1, to), &next))
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_first_read_is_a_checkpoint_from_the_lookback_instant_with_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .respond_with(page(events(0, 2), "x"))
        .expect(1)
        .mount(&server)
        .await;
    let run = crawl(&connector(&server.uri(), json!({})), None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), [log_id(0), log_id(1)], "a short page ends the run");

    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}").as_str());
    let q = query(request);
    assert_eq!(q.len(), 2, "from and take only: {q:?}");
    assert_eq!(q["take"], "100");
    let from = &q["from"];
    assert!(from.len() == 56 && from.starts_with("900") && from.ends_with(&"0".repeat(39)), "{from}");
    let at = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", &from[3..17])
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap();
    let ago = jiff::Timestamp::now().duration_since(at.timestamp()).as_secs_f64();
    assert!((18.0 * 3600.0 - 30.0..18.0 * 3600.0 + 30.0).contains(&ago), "from is {ago} s ago");

    let first = run.records[0].to_value().unwrap();
    assert_eq!(first["message"], "Create client grant");
    assert_eq!(first["timestamp"].as_f64(), Some(1_709_870_345.52));
    assert_eq!(first["evt"], json!({"name": "sapi", "outcome": "success"}));
    assert_eq!(first["usr"]["id"], "github|32487232");
    assert_eq!(first["network"]["client"]["ip"], "81.2.69.144");
    assert_eq!(first["details"]["request"]["path"], "/api/v2/client-grants", "the whole event is kept");
}

#[tokio::test]
async fn pages_continue_by_auth0s_next_link_until_it_points_at_itself() {
    let server = MockServer::start().await;
    serve(&server, 0, 3, 2).await;
    let tail = logs_url(&server, &log_id(2), 2);
    Mock::given(query_param("from", log_id(2).as_str()))
        .respond_with(page(json!([]), &tail))
        .expect(2)
        .mount(&server)
        .await;
    let source = connector(&server.uri(), json!({"page_size": 2}));
    let first = crawl(&source, Some(json!({"v": 1, "from": log_id(0)}))).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(ids(&first), [log_id(1), log_id(2)]);
    let asked: Vec<String> =
        server.received_requests().await.unwrap().iter().map(|r| url_as_sent(&server.uri(), r)).collect();
    assert_eq!(
        asked,
        [logs_url(&server, &log_id(0), 2), tail.clone()],
        "the next link, then caught up at its self-link"
    );

    // Every record resumes right after its own log id.
    assert_eq!(first.records[0].cursor_value(), Some(json!({"from": log_id(1), "v": 1})));
    let again = crawl(&source, first.last_cursor()).await;
    assert!(again.error.is_none() && ids(&again).is_empty(), "{:?}", again.error);
}

#[tokio::test]
async fn client_credentials_are_exchanged_once_sent_as_bearer_and_refreshed_once_on_a_401() {
    let server = MockServer::start().await;
    let minted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = minted.clone();
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(move |req: &Request| {
            assert_eq!(req.headers["content-type"], "application/json");
            assert!(req.headers.get("authorization").is_none());
            assert_eq!(
                body_json(req),
                json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": CLIENT_SECRET,
                       "audience": "https://acme.us.auth0.com/api/v2/"})
            );
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("at-{n}"), "token_type": "Bearer", "expires_in": 86400, "scope": "read:logs"}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let tail = logs_url(&server, &log_id(4), 2);
    Mock::given(query_param("from", log_id(0).as_str()))
        .respond_with(page(events(1, 3), &logs_url(&server, &log_id(2), 2)))
        .mount(&server)
        .await;
    // The second page rejects the first token: the client drops it, fetches another, asks again.
    Mock::given(query_param("from", log_id(2).as_str()))
        .and(wiremock::matchers::header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"statusCode": 401, "message": "Expired token"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(query_param("from", log_id(2).as_str()))
        .and(wiremock::matchers::header("authorization", "Bearer at-2"))
        .respond_with(page(events(3, 5), &tail))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(query_param("from", log_id(4).as_str())).respond_with(page(json!([]), &tail)).mount(&server).await;

    let source = app_connector(&server, 2);
    let run = crawl(&source, Some(json!({"v": 1, "from": log_id(0)}))).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), [1, 2, 3, 4].map(log_id));
    assert_eq!(source.oauth().unwrap().token_fetches(), 2);
    assert_eq!(source.oauth().unwrap().audience(), "https://acme.us.auth0.com/api/v2/");
}

#[tokio::test]
async fn a_refused_application_is_fatal_with_what_to_check_and_never_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "access_denied", "error_description": "Unauthorized"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let err = crawl(&app_connector(&server, 100), None).await.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Fatal, "{err}");
    let text = err.to_string();
    for needed in ["access_denied", "client_secret", "read:logs", "source auth0-test"] {
        assert!(text.contains(needed), "{needed:?} missing: {text}");
    }
    assert!(!text.contains(CLIENT_SECRET) && !format!("{err:?}").contains(CLIENT_SECRET), "{text}");
}

#[tokio::test]
async fn rejected_and_unauthorized_tokens_are_fatal_once_with_advice() {
    for (status, advice) in [(401, "Management API tokens expire"), (403, "read:logs")] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"statusCode": status, "message": "no"})))
            .expect(1)
            .mount(&server)
            .await;
        let err = crawl(&connector(&server.uri(), json!({})), None).await.error.expect("refused");
        assert_eq!(err.kind(), StreamErrorKind::Fatal, "{err}");
        assert!(err.to_string().contains(advice), "{err}");
    }
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_same_page_asked_again() {
    let server = MockServer::start().await;
    let reset = (logcrawl_testkit::epoch_now() + 2).to_string();
    let limited = ResponseTemplate::new(429)
        .set_body_json(
            json!({"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached"}),
        )
        .insert_header("x-ratelimit-limit", "50")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", reset.as_str());
    Mock::given(query_param("from", log_id(0).as_str()))
        .respond_with(limited)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, 0, 2, 100).await;
    let started = Instant::now();
    let run = crawl(&connector(&server.uri(), json!({})), Some(json!({"v": 1, "from": log_id(0)}))).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), [log_id(1)]);
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    let asked = server.received_requests().await.unwrap();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].url, asked[1].url, "the same page again");
}

#[tokio::test]
async fn a_refused_or_foreign_checkpoint_is_a_checkpoint_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"statusCode": 400, "message": "Invalid log id"})))
        .expect(1)
        .mount(&server)
        .await;
    let source = connector(&server.uri(), json!({}));
    let err = crawl(&source, Some(json!({"v": 1, "from": "garbage"}))).await.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    assert!(err.to_string().contains("from=garbage") && err.to_string().contains("state reset"), "{err}");
    for stored in [json!({"after": "x"}), json!({"v": 1, "from": 5}), json!({"v": 2, "from": "x"})] {
        let err = crawl(&source, Some(stored.clone())).await.error.expect("unreadable");
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{stored}: {err}");
    }
}
