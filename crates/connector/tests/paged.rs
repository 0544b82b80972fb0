//! The paged-API helper against wiremock: what it requests, in which order, and what it refuses.

use std::time::Duration;

use futures::StreamExt;
use logcrawl_connector::{Next, Page, PageLimits, PagedApi, PagedStream, Position, Resume, TypedCursor, malformed};
use logcrawl_core::{LogRecord, LogStream, StreamError, StreamErrorKind};
use logcrawl_http::{HttpClient, HttpConfig, RequestSpec, Response, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A vendor whose pages are `{"items": [{"id": …}], "next": URL|null}`.
struct Items {
    logs: Url,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct After {
    id: u64,
}

impl TypedCursor for After {
    const VERSION: u64 = 1;
}

#[derive(Deserialize)]
struct Body {
    items: Vec<Value>,
    next: Option<String>,
}

impl PagedApi for Items {
    type Cursor = After;
    type Event = Value;

    fn stream_name(&self) -> &str {
        "items"
    }

    fn first_request(&self, cursor: Option<&After>) -> Result<RequestSpec, StreamError> {
        let mut url = self.logs.clone();
        if let Some(after) = cursor {
            url.query_pairs_mut().append_pair("after", &after.id.to_string());
        }
        Ok(RequestSpec::get(url))
    }

    fn parse(&self, response: &Response) -> Result<Page<Value>, StreamError> {
        let body: Body = response.json()?;
        let next = match body.next {
            None => Next::Done,
            Some(next) => Next::Url(response.url.join(&next).map_err(|e| malformed(response, e.to_string()))?),
        };
        Ok(Page { events: body.items, next })
    }

    fn record(&self, event: Value, _at: Position<'_>) -> (LogRecord, Resume<After>) {
        let id = event["id"].as_u64().unwrap_or_default();
        let Value::Object(data) = event else { unreachable!("test items are objects") };
        (LogRecord::new(data), Resume::After(After { id }))
    }
}

fn stream(server: &MockServer, limits: PageLimits) -> PagedStream<Items> {
    let base = Url::parse(&server.uri()).unwrap();
    let mut config = HttpConfig::new(base.clone());
    config.rate_limit.key = Some(format!("paged-test-{}", server.address().port()));
    let api = Items { logs: base.join("/logs").unwrap() };
    PagedStream::new(api, HttpClient::new(config).unwrap()).with_limits(limits)
}

fn page(ids: std::ops::Range<u64>, next: Option<&str>) -> ResponseTemplate {
    let items: Vec<Value> = ids.map(|id| json!({"id": id, "message": format!("event {id}")})).collect();
    ResponseTemplate::new(200).set_body_json(json!({"items": items, "next": next}))
}

async fn crawl(stream: &PagedStream<Items>, cursor: Option<Value>) -> (Vec<LogRecord>, Option<StreamError>) {
    let drained = logcrawl_testkit::drain(stream, cursor).await;
    (drained.records, drained.error)
}

async fn mount(server: &MockServer, page_param: Option<&str>, answer: ResponseTemplate) {
    let mock = Mock::given(method("GET")).and(path("/logs"));
    match page_param {
        Some(p) => mock.and(query_param("page", p)).respond_with(answer).mount(server).await,
        None => mock.respond_with(answer).with_priority(10).mount(server).await,
    }
}

#[tokio::test]
async fn follows_the_chain_and_stores_versioned_cursors() {
    let server = MockServer::start().await;
    mount(&server, None, page(0..2, Some("/logs?page=2"))).await;
    mount(&server, Some("2"), page(2..4, Some("/logs?page=3"))).await;
    mount(&server, Some("3"), page(4..5, None)).await;
    let (records, err) = crawl(&stream(&server, PageLimits::default()), None).await;
    assert!(err.is_none(), "{err:?}");
    let ids: Vec<u64> = records.iter().map(|r| r.data["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    assert_eq!(records[4].cursor_value(), Some(json!({"id": 4, "v": 1})));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn resumes_from_the_typed_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("after", "41"))
        .respond_with(page(42..43, None))
        .expect(1)
        .mount(&server)
        .await;
    let (records, err) = crawl(&stream(&server, PageLimits::default()), Some(json!({"id": 41, "v": 1}))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(records.len(), 1);
}

#[tokio::test]
async fn an_unreadable_cursor_is_a_checkpoint_error_and_nothing_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(page(0..1, None)).expect(0).mount(&server).await;
    for stored in [json!("41"), json!({"id": "41"}), json!({"after": 41}), json!({"id": 41, "v": 9})] {
        let (records, err) = crawl(&stream(&server, PageLimits::default()), Some(stored.clone())).await;
        let err = err.expect("refused");
        assert!(records.is_empty());
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{stored}: {err}");
    }
}

#[tokio::test]
async fn a_next_page_off_the_origin_is_refused_before_anything_is_sent_there() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET")).respond_with(page(0..1, None)).expect(0).mount(&elsewhere).await;
    let next = format!("{}/logs?page=2", elsewhere.uri());
    mount(&server, None, page(0..2, Some(&next))).await;
    let (records, err) = crawl(&stream(&server, PageLimits::default()), None).await;
    let err = err.expect("refused");
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("leaves the origin"), "{err}");
    assert!(records.is_empty(), "nothing of the page is delivered with a cursor pointing off the origin");
}

#[tokio::test]
async fn a_next_equal_to_the_page_just_read_means_caught_up() {
    let server = MockServer::start().await;
    mount(&server, None, page(0..0, Some("/logs"))).await;
    let (records, err) = crawl(&stream(&server, PageLimits::default()), None).await;
    assert!(err.is_none() && records.is_empty());
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "no second poll of the same URL");
}

#[tokio::test]
async fn empty_pages_that_claim_more_are_followed_a_bounded_number_of_times() {
    let server = MockServer::start().await;
    for n in 1..20 {
        let next = format!("/logs?page={}", n + 1);
        mount(&server, Some(&n.to_string()), page(0..0, Some(&next))).await;
    }
    mount(&server, None, page(0..0, Some("/logs?page=1"))).await;
    let limits = PageLimits { max_empty_pages: 3, ..PageLimits::default() };
    let (records, err) = crawl(&stream(&server, limits), None).await;
    assert!(err.is_none() && records.is_empty(), "{err:?}");
    // The first page and three hops; the fourth empty page in a row ends the run (its prefetch aside).
    let sent = server.received_requests().await.unwrap().len();
    assert!((4..=5).contains(&sent), "{sent}");
}

#[tokio::test]
async fn the_page_cap_ends_the_run_where_the_next_one_resumes() {
    let server = MockServer::start().await;
    mount(&server, None, page(0..2, Some("/logs?page=2"))).await;
    mount(&server, Some("2"), page(2..4, Some("/logs?page=3"))).await;
    mount(&server, Some("3"), page(4..6, None)).await;
    let limits = PageLimits { max_pages_per_run: Some(2), ..PageLimits::default() };
    let (records, err) = crawl(&stream(&server, limits), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(records.len(), 4);
    assert_eq!(records[3].cursor_value(), Some(json!({"id": 3, "v": 1})));
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "no prefetch past the cap");
}

#[tokio::test]
async fn the_next_page_is_fetched_while_the_current_one_is_delivered() {
    let server = MockServer::start().await;
    mount(&server, None, page(0..2, Some("/logs?page=2"))).await;
    mount(&server, Some("2"), page(2..3, None)).await;
    let stream = stream(&server, PageLimits::default());
    let mut records = stream.records(None);
    let first = records.next().await.unwrap().unwrap();
    assert_eq!(first.data["id"], 0);
    // The consumer has taken one record of page 1 and nothing more: page 2 is on its way regardless.
    let mut sent = 0;
    for _ in 0..100 {
        sent = server.received_requests().await.unwrap().len();
        if sent == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sent, 2, "page 2 was prefetched");
}

#[tokio::test]
async fn a_malformed_page_ends_the_run_after_the_records_before_it() {
    let server = MockServer::start().await;
    mount(&server, None, page(0..2, Some("/logs?page=2"))).await;
    mount(&server, Some("2"), ResponseTemplate::new(200).set_body_string("{\"items\": 3}")).await;
    let (records, err) = crawl(&stream(&server, PageLimits::default()), None).await;
    assert_eq!(records.len(), 2);
    let err = err.expect("malformed");
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("/logs?page=2"), "{err}");
}
