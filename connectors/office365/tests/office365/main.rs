//! Wiremock and simulator tests of the Office 365 connector: the vendor's quirks, each with a test that
//! fails without its handling (subscriptions started, blobs listed late caught by the overlap, a crash
//! mid-blob resumed at the next record, expired blobs skipped, listings inside 24 h and 7 days, off-origin
//! URLs refused), and whole crawls of the simulator through the real crawler.

use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{BuildContext, Cursor, StreamErrorKind};
use logcrawl_office365::{Office365Connector, listing_time, parse_instant};
use logcrawl_sim::entra::{CLIENT_ID, TENANT};
use logcrawl_testkit::{Drained, drain, fast_retries, query};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod crawl;

/// The client secret of the wiremock tests (never to be seen in a log line or an error).
const SECRET: &str = "wire~SECRET~0123456789";
/// The access token the wiremock token endpoint issues (likewise).
const ACCESS: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOi.ACCESS-TOKEN.sig";
/// The feed's path prefix.
const FEED: &str = "/api/v1.0/72f988bf-86f1-41af-91ab-2d7cd011db47/activity/feed";

/// A connector for the API at `api` and the identity platform at `login`: fast retries, a generous pace,
/// the wiremock secret, and `extra` keys.
fn office365(api: &str, login: &str, extra: &str) -> Office365Connector {
    let text = format!(
        "tenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\nbase_url = \"{api}\"\n\
         login_url = \"{login}\"\nrequests_per_second = 1000\n{extra}"
    );
    let (config, http) =
        logcrawl_core::config::ComponentTable::split(&text.parse().expect("TOML"), logcrawl_office365::HTTP_DEFAULTS)
            .expect("a valid configuration");
    Office365Connector::with_http(config, &http, &BuildContext::new("office365"), fast_retries)
        .expect("a valid configuration")
}

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
    )
}

/// A wiremock API with its token endpoint.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(token_answer(ACCESS, 3599))
        .mount(&server)
        .await;
    server
}

async fn run(connector: &Office365Connector, cursor: Option<Cursor>) -> Drained {
    drain(connector.feed_streams()[0].as_ref(), cursor).await
}

/// A listed blob on `origin`.
fn blob(origin: &str, id: &str, created: Timestamp) -> Value {
    json!({"contentType": "Audit.Exchange", "contentId": id, "contentUri": format!("{origin}{FEED}/audit/{id}"),
           "contentCreated": format!("{created:.3}"), "contentExpiration": format!("{:.3}", created + SignedDuration::from_hours(168))})
}

/// The records of a blob: `Id`s `ids`, an hour old.
fn records(ids: &[&str]) -> Value {
    let at = listing_time(Timestamp::now() - SignedDuration::from_hours(1));
    ids.iter()
        .map(|id| {
            json!({"Id": id, "CreationTime": at, "Operation": "MailItemsAccessed", "UserId": "adelev@contoso.com",
                         "Workload": "Exchange", "ResultStatus": "Succeeded", "RecordType": 2})
        })
        .collect()
}

async fn serve_blob(server: &MockServer, id: &str, answer: ResponseTemplate) {
    Mock::given(method("GET")).and(path(format!("{FEED}/audit/{id}"))).respond_with(answer).mount(server).await;
}

fn listings(requests: &[Request]) -> Vec<(Timestamp, Timestamp)> {
    requests
        .iter()
        .filter(|r| r.url.path().ends_with("/subscriptions/content"))
        .map(|r| {
            let q = query(r);
            (parse_instant(&q["startTime"]).unwrap(), parse_instant(&q["endTime"]).unwrap())
        })
        .collect()
}

fn is_listing(request: &Request) -> bool {
    request.url.path().ends_with("/subscriptions/content")
}

#[tokio::test]
async fn a_missing_subscription_is_started_and_the_listing_asked_again() {
    let server = server().await;
    let created = Timestamp::now() - SignedDuration::from_mins(30);
    let no_subscription = ResponseTemplate::new(400).set_body_json(
        json!({"error": {"code": "AF20022", "message": "No subscription found for the specified content type."}}),
    );
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(no_subscription)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([blob(&server.uri(), "b1", created)])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{FEED}/subscriptions/start")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"contentType": "Audit.Exchange", "status": "enabled"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    serve_blob(&server, "b1", ResponseTemplate::new(200).set_body_json(records(&["r1", "r2"]))).await;

    let connector = office365(
        &server.uri(),
        &server.uri(),
        "content_types = [\"Audit.Exchange\"]\nwindow_step = \"24h\"\noverlap = \"0s\"",
    );
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["r1", "r2"]);
    let requests = server.received_requests().await.unwrap();
    let start = requests.iter().find(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/start")).unwrap();
    let q = query(start);
    assert_eq!((q["contentType"].as_str(), q["PublisherIdentifier"].as_str()), ("Audit.Exchange", TENANT));
    assert_eq!(listings(&requests).len(), 2, "the listing asked again after the start");
}

#[tokio::test]
async fn blobs_listed_late_inside_the_overlap_are_delivered_once_and_those_delivered_are_not() {
    let server = server().await;
    let now = Timestamp::now();
    let (a_at, b_at, c_at) =
        (now - SignedDuration::from_mins(50), now - SignedDuration::from_mins(40), now - SignedDuration::from_secs(90));
    let origin = server.uri();
    // The first run's listing (ending before the late blob b and the new c) lists a; later listings,
    // from the overlap on, list a again, b (listed late, created before the first run's end) and c.
    let first_end = now - SignedDuration::from_mins(35);
    Mock::given(method("GET"))
        .and(is_listing)
        .and(move |r: &Request| parse_instant(&query(r)["endTime"]).unwrap() <= first_end)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([blob(&origin, "a", a_at)])))
        .mount(&server)
        .await;
    let origin = server.uri();
    Mock::given(method("GET"))
        .and(is_listing)
        .and(move |r: &Request| parse_instant(&query(r)["endTime"]).unwrap() > first_end)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            blob(&origin, "a", a_at),
            blob(&origin, "b", b_at),
            blob(&origin, "c", c_at)
        ])))
        .mount(&server)
        .await;
    for (id, rec) in [("a", ["a1", "a2"]), ("b", ["b1", "b2"]), ("c", ["c1", "c2"])] {
        serve_blob(&server, id, ResponseTemplate::new(200).set_body_json(records(&rec))).await;
    }
    // The first run: a window ending 35 minutes ago (a settle lag that long).
    let keys =
        "content_types = [\"Audit.Exchange\"]\ninitial_lookback = \"1h\"\nwindow_step = \"2h\"\noverlap = \"30m\"";
    let first = run(&office365(&server.uri(), &server.uri(), &format!("{keys}\nsettle_lag = \"35m\"")), None).await;
    assert_eq!(first.field("id"), ["a1", "a2"]);
    let cursor = first.last_cursor().unwrap();
    assert_eq!(cursor["done"][0]["id"], "a", "the cursor names the blob delivered in the overlap: {cursor}");

    let second =
        run(&office365(&server.uri(), &server.uri(), &format!("{keys}\nsettle_lag = \"1m\"")), Some(cursor)).await;
    assert!(second.error.is_none(), "{:?}", second.error);
    assert_eq!(second.field("id"), ["b1", "b2", "c1", "c2"], "b listed late is delivered, a is not again");
    let requests = server.received_requests().await.unwrap();
    let windows = listings(&requests);
    let until = parse_instant(first.last_cursor().unwrap()["until"].as_str().unwrap()).unwrap();
    assert_eq!(windows[1].0, until - SignedDuration::from_mins(30), "the second listing starts an overlap early");
    let fetched_a = requests.iter().filter(|r| r.url.path().ends_with("/audit/a")).count();
    assert_eq!(fetched_a, 1, "a delivered blob is not fetched again");
}

#[tokio::test]
async fn a_run_stopped_inside_a_blob_resumes_at_its_next_record() {
    let server = server().await;
    let origin = server.uri();
    let at = Timestamp::now() - SignedDuration::from_mins(30);
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([blob(&origin, "x", at), blob(&origin, "y", at)])))
        .mount(&server)
        .await;
    serve_blob(&server, "x", ResponseTemplate::new(200).set_body_json(records(&["x1", "x2", "x3"]))).await;
    serve_blob(&server, "y", ResponseTemplate::new(200).set_body_json(records(&["y1", "y2", "y3"]))).await;
    let connector = office365(&server.uri(), &server.uri(), "content_types = [\"Audit.Exchange\"]\noverlap = \"0s\"");
    let all = run(&connector, None).await;
    let logs: Vec<_> = all.logs().collect();
    assert_eq!(all.field("id"), ["x1", "x2", "x3", "y1", "y2", "y3"]);
    // Resume from every record's cursor: what follows is exactly what was not delivered.
    for (k, record) in logs.iter().enumerate() {
        let cursor = record.cursor_value().expect("every record carries a cursor");
        let resumed = run(&connector, Some(cursor.clone())).await;
        assert!(resumed.error.is_none());
        let expected: Vec<String> = all.field("id")[k + 1..].to_vec();
        assert_eq!(resumed.field("id"), expected, "resumed from {cursor}");
    }
    let mid = logs[1].cursor_value().unwrap();
    assert_eq!(mid["reading"]["blob"], json!({"id": "x", "records": 2}), "{mid}");
}

#[tokio::test]
async fn an_expired_blob_is_skipped_and_the_window_committed() {
    let server = server().await;
    let origin = server.uri();
    let at = Timestamp::now() - SignedDuration::from_mins(30);
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([blob(&origin, "old", at), blob(&origin, "new", at)])),
        )
        .mount(&server)
        .await;
    let expired = ResponseTemplate::new(400).set_body_json(
        json!({"error": {"code": "AF20051", "message": "Content requested with the key old has already expired."}}),
    );
    serve_blob(&server, "old", expired).await;
    serve_blob(&server, "new", ResponseTemplate::new(200).set_body_json(records(&["n1"]))).await;
    let connector = office365(&server.uri(), &server.uri(), "content_types = [\"Audit.Exchange\"]\noverlap = \"1h\"");
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["n1"]);
    let cursor = drained.last_cursor().unwrap();
    let done: Vec<&str> = cursor["done"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(done, ["old", "new"], "the expired blob is not fetched again: {cursor}");
}

#[tokio::test]
async fn listings_stay_within_24_hours_and_7_days_and_end_behind_the_settle_lag() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let keys = "content_types = [\"DLP.All\"]\ninitial_lookback = \"168h\"\nwindow_step = \"23h\"\noverlap = \"1h\"\nsettle_lag = \"10m\"";
    let connector = office365(&server.uri(), &server.uri(), keys);
    let started = Timestamp::now();
    let drained = run(&connector, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let windows = listings(&server.received_requests().await.unwrap());
    assert!(windows.len() >= 7, "{windows:?}");
    for (from, to) in &windows {
        assert!(to.duration_since(*from) <= SignedDuration::from_hours(24), "{from} to {to}");
        assert!(*from >= started - SignedDuration::from_hours(168), "{from}: no earlier than 7 days ago");
        assert!(*to <= Timestamp::now() - SignedDuration::from_mins(10), "{to}: behind the settle lag");
    }
    for pair in windows.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 - SignedDuration::from_hours(1), "each re-lists the hour before it");
    }
    // A cursor older than the API keeps starts at the earliest listing allowed (and says so in the log).
    let old = json!({"v": 1, "until": "2020-01-01T00:00:00Z"});
    let drained = run(&connector, Some(old)).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
}

#[tokio::test]
async fn urls_off_the_origin_are_refused_and_nothing_is_sent_there() {
    let server = server().await;
    let elsewhere = MockServer::start().await;
    let at = Timestamp::now() - SignedDuration::from_mins(30);
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([blob(&elsewhere.uri(), "z", at)])))
        .mount(&server)
        .await;
    let connector = office365(&server.uri(), &server.uri(), "content_types = [\"Audit.Exchange\"]");
    let drained = run(&connector, None).await;
    let err = drained.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Fatal);
    assert!(err.to_string().contains("leaves the origin"), "{err}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "nothing sent to the other origin");
    assert!(!err.to_string().contains(ACCESS) && !err.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_403_is_fatal_and_names_the_permission() {
    let server = server().await;
    let denied = ResponseTemplate::new(403).set_body_json(json!({"error": {"code": "AF10001",
        "message": "The permission set () sent in the request did not include the expected permission ActivityFeed.Read."}}));
    Mock::given(method("GET")).and(is_listing).respond_with(denied).expect(1).mount(&server).await;
    let connector = office365(&server.uri(), &server.uri(), "content_types = [\"Audit.General\"]");
    let err = run(&connector, None).await.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Fatal);
    let text = err.to_string();
    assert!(
        text.contains("ActivityFeed.Read") && text.contains("Audit.General") && text.contains("audit log"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_blob_ends_the_run_before_its_records_naming_it() {
    let server = server().await;
    let origin = server.uri();
    let at = Timestamp::now() - SignedDuration::from_mins(30);
    Mock::given(method("GET"))
        .and(is_listing)
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([blob(&origin, "ok", at), blob(&origin, "bad", at)])),
        )
        .mount(&server)
        .await;
    serve_blob(&server, "ok", ResponseTemplate::new(200).set_body_json(records(&["o1"]))).await;
    serve_blob(&server, "bad", ResponseTemplate::new(200).set_body_string("{\"not\": \"an array\"}")).await;
    let connector = office365(&server.uri(), &server.uri(), "content_types = [\"Audit.Exchange\"]");
    let drained = run(&connector, None).await;
    assert_eq!(drained.field("id"), ["o1"]);
    assert!(drained.last_cursor().unwrap()["reading"]["end"].is_string(), "the checkpoint stays inside the window");
    let err = drained.error.expect("malformed");
    assert!(err.to_string().contains("blob bad"), "{err}");
}
