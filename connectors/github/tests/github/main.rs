//! Wiremock tests of the GitHub connector: what it asks GitHub for, which links it follows, where it
//! resumes. The simulator's tests (`sim.rs`) crawl whole audit logs; `failures.rs` holds the refusals.

use logcrawl_core::config::ComponentTable;
use logcrawl_core::{BuildContext, Cursor, LogRecord};
use logcrawl_github::{GithubConfig, GithubConnector, HTTP_DEFAULTS};
use logcrawl_testkit::{Drained, fast_retries, query, url_as_sent, with_link_list};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod conformance;
mod failures;
mod sim;

const TOKEN: &str = "ghp_TestTokenSECRET0123456789abcdef";
/// `@timestamp` of event 0: 2020-12-02T17:24:34.512Z.
const BASE_MS: i64 = 1_606_929_874_512;

/// A connector for the API at `base_url` with `extra` keys (default: organization `acme-corp`).
fn connector(base_url: &str, extra: Value) -> GithubConnector {
    let mut value = json!({"base_url": base_url, "token": TOKEN});
    let extra = extra.as_object().cloned().unwrap_or_default();
    if !extra.contains_key("enterprise") {
        value["org"] = json!("acme-corp");
    }
    value.as_object_mut().unwrap().extend(extra);
    let table = serde_json::from_value(value).unwrap();
    let (config, http): (GithubConfig, _) = ComponentTable::split(&table, HTTP_DEFAULTS).unwrap();
    logcrawl_github::with_http(config, &http, &BuildContext::new("gh-test"), fast_retries).unwrap()
}

async fn crawl(connector: &GithubConnector, cursor: Option<Cursor>) -> Drained {
    logcrawl_testkit::drain(connector.stream().as_ref(), cursor).await
}

/// The `_document_id`s of the run's log records.
fn ids(drained: &Drained) -> Vec<String> {
    drained.logs().map(|r| r.to_value().unwrap()["_document_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Event `i` in the shape of GitHub's documented example, `i` milliseconds after [`BASE_MS`].
fn event(i: usize) -> Value {
    json!({
        "@timestamp": BASE_MS + i as i64, "created_at": BASE_MS + i as i64, "_document_id": format!("doc-{i}"),
        "action": "repo.create", "actor": "octocat", "actor_id": 583_231, "actor_ip": "88.123.45.123",
        "org": "acme-corp", "org_id": 4_000_123, "repo": "acme-corp/web", "operation_type": "create",
        "actor_location": {"country_code": "GB"},
    })
}

fn events(from: usize, to: usize) -> Value {
    Value::Array((from..to).map(event).collect())
}

/// A 200 page with GitHub's one comma-separated `Link` value (`next` when given, `first`) and its
/// rate-limit headers.
fn page(body: Value, next: Option<&str>, first: &str) -> ResponseTemplate {
    let template = ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-ratelimit-limit", "1750")
        .insert_header("x-ratelimit-remaining", "1700")
        .insert_header("x-ratelimit-used", "50")
        .insert_header("x-ratelimit-resource", "audit_log")
        .insert_header("x-ratelimit-reset", (logcrawl_testkit::epoch_now() + 3600).to_string().as_str());
    match next {
        Some(next) => with_link_list(template, &[("next", next), ("first", first)]),
        None => with_link_list(template, &[("first", first)]),
    }
}

/// A link on GitHub's numeric path, with an opaque (padded base64) cursor.
fn link(server: &MockServer, per_page: usize, cursor: &str) -> String {
    format!("{}/organizations/42/audit-log?per_page={per_page}&order=asc&after={cursor}&before=", server.uri())
}

/// Answers the first query of a run (the organization's path), expecting it `times` times.
async fn on_first(server: &MockServer, answer: ResponseTemplate, times: u64) {
    Mock::given(path("/orgs/acme-corp/audit-log")).respond_with(answer).expect(times).mount(server).await;
}

/// Answers the page of GitHub's link with cursor `cursor` (as decoded), expecting it `times` times.
async fn on_cursor(server: &MockServer, cursor: &str, answer: ResponseTemplate, times: u64) {
    Mock::given(path("/organizations/42/audit-log"))
        .and(query_param("after", cursor))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

fn cursor_of(record: &LogRecord) -> Value {
    record.cursor_value().expect("every record carries a cursor")
}

#[tokio::test]
async fn the_first_query_asks_for_events_since_the_lookback_oldest_first_with_githubs_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme-corp/audit-log"))
        .respond_with(page(events(0, 2), None, "x"))
        .expect(1)
        .mount(&server)
        .await;
    let run = crawl(&connector(&server.uri(), json!({})), None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-0", "doc-1"]);

    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}").as_str());
    assert_eq!(request.headers["accept"], "application/vnd.github+json");
    assert_eq!(request.headers["x-github-api-version"], "2022-11-28");
    let q = query(request);
    assert_eq!((q["order"].as_str(), q["per_page"].as_str()), ("asc", "100"));
    assert!(!q.contains_key("include") && !q.contains_key("after"), "{q:?}");
    let since = q["phrase"].strip_prefix("created:>=").expect("a created phrase");
    assert!(since.ends_with("+00:00") && !since.contains('.'), "RFC 3339 to the second: {since}");
    let since: jiff::Timestamp = since.parse().unwrap();
    let ago = jiff::Timestamp::now().duration_since(since).as_secs_f64();
    assert!((18.0 * 3600.0 - 30.0..18.0 * 3600.0 + 30.0).contains(&ago), "since is {ago} s ago");

    let first = run.records[0].to_value().unwrap();
    assert_eq!(first["message"], "repo.create by octocat: acme-corp/web");
    assert_eq!(first["timestamp"].as_f64(), Some(1_606_929_874.512));
    assert_eq!(first["usr"], json!({"id": "583231", "name": "octocat"}));
    assert_eq!(first["network"]["client"]["ip"], "88.123.45.123");
    assert_eq!(first["evt"]["name"], "repo.create");
    assert_eq!(first["actor_location"]["country_code"], "GB", "the whole event is kept");
}

#[tokio::test]
async fn an_enterprise_source_asks_its_endpoint_with_include_and_page_size() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/enterprises/acme/audit-log"))
        .and(query_param("include", "git"))
        .and(query_param("per_page", "50"))
        .and(query_param("order", "asc"))
        .respond_with(page(json!([]), None, "x"))
        .expect(1)
        .mount(&server)
        .await;
    let source = connector(&server.uri(), json!({"enterprise": "acme", "include": "git", "page_size": 50}));
    let run = crawl(&source, None).await;
    assert!(run.error.is_none() && run.records.is_empty(), "{:?}", run.error);
}

#[tokio::test]
async fn githubs_next_link_is_followed_verbatim_and_its_cursor_never_crafted() {
    let server = MockServer::start().await;
    let next = link(&server, 2, "MS42MDY5Mjk4NzQ1MTNlKzEyfGRvYy0x%3D%3D");
    on_first(&server, page(events(0, 2), Some(&next), "x"), 1).await;
    on_cursor(&server, "MS42MDY5Mjk4NzQ1MTNlKzEyfGRvYy0x==", page(events(2, 3), None, "x"), 1).await;
    let source = connector(&server.uri(), json!({"page_size": 2}));
    let run = crawl(&source, None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-0", "doc-1", "doc-2"]);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(url_as_sent(&server.uri(), &requests[1]), next, "the link exactly as GitHub gave it");
    assert_eq!(requests[1].headers["x-github-api-version"], "2022-11-28", "continuations carry the headers too");

    // The page's last record resumes at the link, dropping the ids of its last second if served again.
    let end = cursor_of(&run.records[1]);
    assert_eq!(end["url"], json!(next));
    assert_eq!(end["created"], "1606929874");
    assert_eq!(end["seen"], json!(["doc-1", "doc-0"]));
    // The chain's last record resumes on its page.
    let last = cursor_of(&run.records[2]);
    assert_eq!(
        (last["url"].as_str(), &last["through"], &last["index"]),
        (Some(next.as_str()), &json!("doc-2"), &json!(0))
    );
}

#[tokio::test]
async fn a_mid_page_cursor_asks_for_its_page_again_and_resumes_right_after_its_event() {
    let server = MockServer::start().await;
    on_first(&server, page(events(0, 3), None, "x"), 2).await;
    let source = connector(&server.uri(), json!({}));
    let run = crawl(&source, None).await;
    let mid = cursor_of(&run.records[0]);
    assert_eq!((&mid["through"], &mid["index"]), (&json!("doc-0"), &json!(0)));
    let resumed = crawl(&source, Some(mid.clone())).await;
    assert!(resumed.error.is_none(), "{:?}", resumed.error);
    assert_eq!(ids(&resumed), ["doc-1", "doc-2"], "no duplicate, no gap");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(url_as_sent(&server.uri(), &requests[1]), mid["url"].as_str().unwrap(), "the stored page, as stored");
}

#[tokio::test]
async fn a_short_page_with_a_next_link_is_caught_up_and_the_next_run_starts_at_the_link() {
    let server = MockServer::start().await;
    let next = link(&server, 3, "c2Vjb25k");
    on_first(&server, page(events(0, 2), Some(&next), "x"), 1).await;
    on_cursor(&server, "c2Vjb25k", page(events(2, 3), None, "x"), 1).await;
    let source = connector(&server.uri(), json!({"page_size": 3}));
    let first = crawl(&source, None).await;
    assert_eq!(ids(&first), ["doc-0", "doc-1"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "a short page ends the run: no empty poll");
    let second = crawl(&source, first.last_cursor()).await;
    assert_eq!(ids(&second), ["doc-2"]);
}

#[tokio::test]
async fn a_chain_that_ended_without_a_next_link_resumes_on_its_last_page_with_only_the_newer_events() {
    let server = MockServer::start().await;
    let page_url = link(&server, 4, "bGFzdA%3D%3D");
    // The last page had doc-4 and doc-5 and no next link; it has grown since, and now has one.
    let next = link(&server, 4, "bmV3ZXI%3D");
    on_cursor(&server, "bGFzdA==", page(events(4, 8), Some(&next), "x"), 1).await;
    on_cursor(&server, "bmV3ZXI=", page(events(8, 9), None, "x"), 1).await;
    Mock::given(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let stored = json!({"v": 1, "url": page_url, "created": "1606929874", "through": "doc-5", "index": 1,
                        "seen": ["doc-5", "doc-4"]});
    let run = crawl(&connector(&server.uri(), json!({"page_size": 4})), Some(stored)).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-6", "doc-7", "doc-8"]);
}

#[tokio::test]
async fn github_enterprise_server_is_reached_under_its_api_root() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/enterprises/acme/audit-log"))
        .respond_with(|req: &Request| {
            let first = format!("{}?after=&before=", req.url.path());
            page(events(0, 1), None, &first)
        })
        .expect(1)
        .mount(&server)
        .await;
    let source = connector(&format!("{}/api/v3", server.uri()), json!({"enterprise": "acme"}));
    let run = crawl(&source, None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-0"]);
}
