//! Wiremock and simulator tests of the Okta connector: what it sends, what it delivers, where it resumes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{
    BatchLimits, BuildContext, CheckpointStore, Crawler, Cursor, LogRecord, MemoryCheckpointStore, Source, SourceMeta,
    StreamError, StreamKey,
};
use logcrawl_okta::{OktaConfig, OktaConnector};
use logcrawl_testkit::{RecordingSink, fast_retries};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod conformance;
mod dpop;
mod failures;
mod oauth;
mod rate_limits;
mod recovery;

const TOKEN: &str = "00TestApiTokenSECRET0123456789";

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

/// An event in the shape of the OpenAPI spec's `ListLogs` example.
fn event(uuid: &str, published: &str) -> Value {
    json!({
        "actor": {"id": "00uttidj01jqL21aM1d6", "type": "User", "alternateId": "john.doe@example.com", "displayName": "John Doe", "detailEntry": null},
        "client": {
            "userAgent": {"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/72.0.3626.121 Safari/537.36", "os": "Mac OS X", "browser": "CHROME"},
            "zone": null, "device": "Computer", "id": null, "ipAddress": "10.0.0.1",
            "geographicalContext": {"city": "New York", "state": "New York", "country": "United States", "postalCode": 10013, "geolocation": {"lat": 40.3157, "lon": -74.01}}
        },
        "authenticationContext": {"authenticationProvider": null, "credentialProvider": null, "credentialType": null, "issuer": null, "interface": null, "authenticationStep": 0, "externalSessionId": "idxBager62CSveUkTxvgRtonA"},
        "displayMessage": "User login to Okta",
        "eventType": "user.session.start",
        "outcome": {"result": "SUCCESS", "reason": null},
        "published": published,
        "securityContext": {"asNumber": 394089, "asOrg": "ASN 0000", "isp": "google", "domain": null, "isProxy": false},
        "severity": "INFO",
        "debugContext": {"debugData": {"requestId": "ab609228fe84ce59cdcbfa690bcce016", "requestUri": "/idp/idx/authenticators/poll", "url": "/idp/idx/authenticators/poll"}},
        "legacyEventType": "core.user_auth.login_success",
        "transaction": {"type": "WEB", "id": "ab609228fe84ce59cdcbfa690bgce016", "detail": null},
        "uuid": uuid,
        "version": "0",
        "request": {"ipChain": [{"ip": "10.0.0.1", "geographicalContext": {"city": "New York", "state": "New York", "country": "United States", "postalCode": 10013, "geolocation": {"lat": 40.3157, "lon": -74.01}}, "version": "V4", "source": null}]},
        "target": [
            {"id": "pfdfdhyjf0HMbkP2e1d7", "type": "AuthenticatorEnrollment", "alternateId": "unknown", "displayName": "Okta Verify", "detailEntry": null},
            {"id": "0oatxlef9sQvvqInq5d6", "type": "AppInstance", "alternateId": "Okta Admin Console", "displayName": "Okta Admin Console", "detailEntry": null}
        ]
    })
}

/// Events `u{from}..u{to}` one millisecond apart.
fn events(from: usize, to: usize) -> Value {
    Value::Array(
        (from..to)
            .map(|i| event(&format!("u{i}"), &format!("2024-08-13T15:58:{:02}.{:03}Z", i / 1000, i % 1000)))
            .collect(),
    )
}

fn logs_url(server: &MockServer, query: &str) -> String {
    format!("{}/api/v1/logs?{query}", server.uri())
}

/// A 200 page with Okta's two `Link` header values and rate-limit headers.
fn page(body: Value, self_url: &str, next_url: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(body)
        .append_header("link", format!("<{self_url}>; rel=\"self\"").as_str())
        .append_header("link", format!("<{next_url}>; rel=\"next\"").as_str())
        .insert_header("x-rate-limit-limit", "50")
        .insert_header("x-rate-limit-remaining", "49")
        .insert_header("x-rate-limit-reset", (epoch_now() + 60).to_string().as_str())
}

/// Serves `answer` to the page whose `after` token is `token`, expecting it `times` times.
async fn on_after(server: &MockServer, token: impl AsRef<str>, answer: impl Respond + 'static, times: u64) {
    Mock::given(method("GET"))
        .and(query_param("after", token.as_ref()))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

/// Serves `answer` to the first polling query of a run (no `after`), expecting it `times` times.
async fn on_first(server: &MockServer, answer: impl Respond + 'static, times: u64) {
    Mock::given(method("GET"))
        .and(query_param_is_missing("after"))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

/// A server that must not receive any request (the test fails when it is dropped if it did).
async fn must_not_be_asked(server: &MockServer) {
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(server)
        .await;
}

/// Answers one request, whatever it asks, with Okta's caught-up page: `[]` and `next` equal to itself.
async fn answer_caught_up_once(server: &MockServer) {
    let base = server.uri();
    Mock::given(method("GET"))
        .respond_with(move |req: &Request| page(json!([]), &as_sent(&base, req), &as_sent(&base, req)))
        .expect(1)
        .mount(server)
        .await;
}

fn epoch_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn config(server: &MockServer, extra: Value) -> OktaConfig {
    let mut value = json!({"base_url": server.uri(), "token": TOKEN});
    value.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    OktaConfig::from_table(&serde_json::from_value(value).unwrap()).unwrap()
}

fn connector(server: &MockServer, extra: Value) -> OktaConnector {
    OktaConnector::with_http(config(server, extra), &BuildContext::new("okta-test"), fast_retries).unwrap()
}

/// Runs the stream from `cursor` to its end: the records, then the error that ended it, if any.
async fn crawl(connector: &OktaConnector, cursor: Option<Cursor>) -> (Vec<LogRecord>, Option<StreamError>) {
    let drained = logcrawl_testkit::drain(connector.system_log().as_ref(), cursor).await;
    (drained.records, drained.error)
}

fn uuids(records: &[LogRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| !r.is_position())
        .map(|r| r.to_value().unwrap()["uuid"].as_str().unwrap().to_owned())
        .collect()
}

/// The URL the client asked for (wiremock shows requests on `localhost`; the client used 127.0.0.1).
fn as_sent(base: &str, request: &Request) -> String {
    format!("{base}{}?{}", request.url.path(), request.url.query().unwrap_or_default())
}

fn query(request: &Request) -> HashMap<String, String> {
    request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Polling, paging, records
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn first_run_sends_ssws_since_and_limit_and_maps_records() {
    let server = MockServer::start().await;
    let base = server.uri();
    let next = logs_url(&server, "limit=1000&after=n1");
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param_is_missing("after"))
        .respond_with(move |req: &Request| page(events(0, 2), &as_sent(&base, req), &next))
        .expect(1)
        .mount(&server)
        .await;
    on_after(&server, "n1", ResponseTemplate::new(500), 0).await;

    let (records, err) = crawl(&connector(&server, json!({})), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1"]);

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(request.headers["authorization"], format!("SSWS {TOKEN}").as_str());
    let q = query(request);
    assert_eq!(q["limit"], "1000");
    assert_eq!(q["sortOrder"], "ASCENDING");
    assert!(!q.contains_key("until") && !q.contains_key("after"), "{q:?}");
    let since: jiff::Timestamp = q["since"].parse().unwrap();
    let lookback = jiff::Timestamp::now().duration_since(since).as_secs_f64();
    assert!((18.0 * 3600.0 - 30.0..18.0 * 3600.0 + 30.0).contains(&lookback), "since is {lookback} s ago");

    let first = &records[0].to_value().unwrap();
    assert_eq!(first["message"], "User login to Okta");
    assert_eq!(first["timestamp"].as_f64(), Some(1_723_564_680.0));
    assert_eq!(records[1].data["timestamp"].as_f64(), Some(1_723_564_680.001));
    assert_eq!(first["status"], "info");
    assert_eq!(first["network"]["client"]["ip"], "10.0.0.1");
    assert_eq!(first["eventType"], "user.session.start", "the whole event is kept");
    assert_eq!(first["target"][1]["type"], "AppInstance");
    assert_eq!(first["client"]["geographicalContext"]["city"], "New York");
    // The short page ended the run; its last record resumes at Okta's next link.
    assert_eq!(records[1].cursor_value().unwrap()["url"], logs_url(&server, "limit=1000&after=n1").as_str());
}

/// The `since` of the first run's request, in seconds before now.
async fn first_since_age(max_age: Option<Duration>, extra: Value) -> f64 {
    let server = MockServer::start().await;
    answer_caught_up_once(&server).await;
    let connector =
        OktaConnector::with_http(config(&server, extra), &BuildContext::new("s").with_max_age(max_age), fast_retries)
            .unwrap();
    let (records, err) = crawl(&connector, None).await;
    assert!(records.is_empty() && err.is_none());
    let q = query(&server.received_requests().await.unwrap()[0]);
    let since: jiff::Timestamp = q["since"].parse().unwrap();
    jiff::Timestamp::now().duration_since(since).as_secs_f64()
}

/// The first backfill takes time: its oldest events must still be younger than the sink's max age when
/// they arrive there (Datadog refuses logs older than 18 h), so the lookback stays a margin inside it.
#[tokio::test]
async fn first_run_starts_a_safety_margin_inside_the_sinks_max_age() {
    let margin = logcrawl_okta::LOOKBACK_SAFETY_MARGIN.as_secs_f64();
    assert_eq!(margin, 600.0, "the documented margin");
    let datadog = Some(Duration::from_secs(18 * 3600));
    let age = first_since_age(datadog, json!({})).await;
    assert!((18.0 * 3600.0 - margin - 30.0..18.0 * 3600.0 - margin + 30.0).contains(&age), "since is {age} s ago");
    let age = first_since_age(Some(Duration::from_secs(3600)), json!({"initial_lookback": "48h"})).await;
    assert!((3600.0 - margin - 30.0..3600.0 - margin + 30.0).contains(&age), "since is {age} s ago");
    // A lookback already inside the margin is left as configured, and without a max age nothing is cut.
    let age = first_since_age(datadog, json!({"initial_lookback": "2h"})).await;
    assert!((7170.0..7230.0).contains(&age), "since is {age} s ago");
    let age = first_since_age(None, json!({"initial_lookback": "48h"})).await;
    assert!((48.0 * 3600.0 - 30.0..48.0 * 3600.0 + 30.0).contains(&age), "since is {age} s ago");
}

#[tokio::test]
async fn first_run_sends_the_configured_limit() {
    let server = MockServer::start().await;
    answer_caught_up_once(&server).await;
    let (_, err) = crawl(&connector(&server, json!({"limit": 200})), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(query(&server.received_requests().await.unwrap()[0])["limit"], "200");
}

#[tokio::test]
async fn follows_next_links_until_a_short_page() {
    let server = MockServer::start().await;
    let base = server.uri();
    let (p2, p3, p4) = (
        logs_url(&server, "limit=2&after=p2"),
        logs_url(&server, "limit=2&after=p3"),
        logs_url(&server, "limit=2&after=p4"),
    );
    let next = p2.clone();
    on_first(&server, move |req: &Request| page(events(0, 2), &as_sent(&base, req), &next), 1).await;
    on_after(&server, "p2", page(events(2, 4), &p2, &p3), 1).await;
    on_after(&server, "p3", page(events(4, 5), &p3, &p4), 1).await;
    // A short page means caught up: no wasted empty poll (elastic/integrations#15212).
    on_after(&server, "p4", page(json!([]), &p4, &p4), 0).await;

    let (records, err) = crawl(&connector(&server, json!({"limit": 2})), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1", "u2", "u3", "u4"]);
    let last = records.last().unwrap().cursor_value().unwrap();
    assert_eq!(last["url"], p4.as_str());
    assert_eq!(last["seen"], json!(["u4"]));
}

#[tokio::test]
async fn empty_polling_page_with_next_equal_self_ends_the_run() {
    let server = MockServer::start().await;
    let stored = logs_url(&server, "limit=1000&after=tail");
    on_after(&server, "tail", page(json!([]), &stored, &stored), 1).await;
    let cursor = json!({"v": 1, "url": stored, "seen": ["u9"]});
    let (records, err) = crawl(&connector(&server, json!({})), Some(cursor)).await;
    assert!(records.is_empty() && err.is_none(), "{err:?}");
}

#[tokio::test]
async fn resume_from_a_stored_next_drops_boundary_events_served_again() {
    let server = MockServer::start().await;
    let stored = logs_url(&server, "limit=2&after=p2");
    let next = logs_url(&server, "limit=2&after=p3");
    // Okta serves the boundary event u1 again: it was delivered by the previous run.
    let body = json!([event("u1", "2024-08-13T15:58:00.001Z"), event("u2", "2024-08-13T15:58:00.002Z")]);
    on_after(&server, "p2", page(body, &stored, &next), 1).await;
    on_after(&server, "p3", page(json!([]), &next, &next), 1).await;
    let cursor = json!({"v": 1, "url": stored, "seen": ["u1"]});
    let (records, err) = crawl(&connector(&server, json!({})), Some(cursor)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u2"]);
    assert_eq!(records[0].cursor_value().unwrap()["url"], next.as_str());
}

#[tokio::test]
async fn a_mid_page_cursor_resumes_without_duplicates_or_gaps() {
    let server = MockServer::start().await;
    let first = logs_url(&server, "limit=3&after=a");
    let second = logs_url(&server, "limit=3&after=b");
    on_after(&server, "a", page(events(0, 3), &first, &second), 2).await;
    on_after(&server, "b", page(events(3, 4), &second, &second), 2).await;
    let connector = connector(&server, json!({}));

    let (all, err) = crawl(&connector, Some(json!({"v": 1, "url": first, "seen": []}))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&all), ["u0", "u1", "u2", "u3"]);
    // Every record has a cursor, and the mid-page ones are small (a URL and a uuid, never the page).
    assert!(all.iter().all(|r| r.cursor.is_some()));
    let mid = all[1].cursor_value().unwrap();
    assert!(mid.to_string().len() < 300, "{mid}");

    // The runtime committed the cursor of u1 (say a crash hit in the middle of the page).
    let (resumed, err) = crawl(&connector, Some(mid)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&resumed), ["u2", "u3"]);
}

// ---------------------------------------------------------------------------------------------------------
// The whole runtime against the simulator
// ---------------------------------------------------------------------------------------------------------

fn source(connector: Arc<OktaConnector>, sink: Arc<RecordingSink>) -> Source {
    Source {
        meta: Arc::new(SourceMeta {
            name: "okta-sim".into(),
            connector: "okta".into(),
            ddsource: "okta".into(),
            service: "okta".into(),
            ..SourceMeta::default()
        }),
        connector,
        sink,
        interval: Duration::from_secs(15),
        // Batches are cut by count alone, so the failing 5th batch ends mid-page however slowly pages come
        // (a linger cut waits for the next page: it would end the batch, and the commit, at a page end).
        batch: Some(BatchLimits { max_records: 700, linger: Duration::from_secs(600) }),
        emit_errors: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawls_the_simulator_exactly_once_across_a_mid_page_failure_and_a_rerun() {
    const EVENTS: u64 = 20_000;
    let sim = logcrawl_sim::okta::OktaSim::builder()
        .events(EVENTS)
        .spacing(Duration::from_micros(400)) // several events per millisecond: exercises the boundary set
        .token(TOKEN)
        .inject_429([4])
        .inject_wait(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let config: OktaConfig = serde_json::from_value(json!({"base_url": sim.base_url(), "token": TOKEN})).unwrap();
    let connector = Arc::new(OktaConnector::with_http(config, &BuildContext::new("okta-sim"), fast_retries).unwrap());
    let store = Arc::new(MemoryCheckpointStore::new());

    // Run 1: the sink fails its 5th batch (700-record batches, 1000-event pages: the commit is mid-page).
    let failing = Arc::new(RecordingSink::new().requiring_message_and_timestamp().failing_batch(5));
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector.clone(), failing.clone()));
    let report = crawler.run_once().await;
    assert_eq!(report.failures().count(), 1);
    let committed = store.load(&StreamKey::new("okta-sim", "system_log")).unwrap().expect("progress committed");
    assert!(committed.get("through").is_some(), "a mid-page cursor was committed: {committed}");

    // Run 2: healthy; resumes exactly after the last acknowledged record.
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector.clone(), sink.clone()));
    let report = crawler.run_once().await;
    assert_eq!(report.failures().count(), 0, "{:?}", report.runs);

    let mut delivered: Vec<String> = failing.delivered_field("uuid");
    delivered.extend(sink.delivered_field("uuid"));
    assert_eq!(delivered.len() as u64, EVENTS, "every event exactly once");
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len() as u64, EVENTS);
    let expected: HashSet<String> = (0..EVENTS).map(logcrawl_sim::okta::event_uuid).collect();
    assert!(delivered.iter().all(|u| expected.contains(u)));
    assert_eq!(sim.rate_limited(), 1, "the injected 429 was waited out");

    // Run 3: nothing new, nothing delivered, one request (the stored next link, answered `[]`).
    let before = sim.requests();
    let again = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector.clone(), again.clone()));
    assert_eq!(crawler.run_once().await.delivered(), 0);
    assert!(again.delivered_field("uuid").is_empty());
    assert_eq!(sim.requests() - before, 1);

    // New events arrive: only they are delivered.
    sim.append(1500);
    let fresh = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store);
    crawler.add_source(source(connector, fresh.clone()));
    assert_eq!(crawler.run_once().await.delivered(), 1500);
    let fresh = fresh.delivered_field("uuid");
    assert_eq!(fresh.first().unwrap(), &logcrawl_sim::okta::event_uuid(EVENTS));
    assert_eq!(fresh.last().unwrap(), &logcrawl_sim::okta::event_uuid(EVENTS + 1499));
}
