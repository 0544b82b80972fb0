//! The paged-API helper for an API whose continuation names a page (a `next` link), as Okta's does:
//! exact resumes inside a page, boundary dedupe, empty-page positions, `Next::Later`, and recovery when
//! the API refuses a stored cursor.

use logcrawl_connector::{
    Key, Next, Page, PageLimits, PagedApi, PagedStream, Position, Resume, TypedCursor, malformed,
};
use logcrawl_core::{LogRecord, StreamError, StreamErrorKind};
use logcrawl_http::{HttpClient, HttpConfig, HttpError, RequestSpec, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Pages are `{"items": [{"id", "ts"}], "next": URL|null, "short": bool}`; `ts` is the ordering
/// instant. A `short` page is caught up: its `next` is where the next run starts.
struct Linked {
    logs: Url,
    /// Fallback on 400: restart from `since = ts`.
    recover: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct At {
    url: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
}

impl TypedCursor for At {
    const VERSION: u64 = 1;
}

#[derive(Deserialize)]
struct Body {
    items: Vec<Item>,
    next: Option<String>,
    #[serde(default)]
    short: bool,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    ts: String,
}

impl PagedApi for Linked {
    type Cursor = At;
    type Event = Item;

    fn stream_name(&self) -> &str {
        "linked"
    }

    fn first_request(&self, cursor: Option<&At>) -> Result<RequestSpec, StreamError> {
        Ok(RequestSpec::get(cursor.map_or_else(|| self.logs.clone(), |at| at.url.clone())))
    }

    fn parse(&self, response: &Response) -> Result<Page<Item>, StreamError> {
        let body: Body = response.json()?;
        let next = match body.next {
            None => Next::Done,
            Some(next) => {
                let url = response.url.join(&next).map_err(|e| malformed(response, e.to_string()))?;
                if body.short { Next::Later(RequestSpec::get(url)) } else { Next::Url(url) }
            }
        };
        Ok(Page { events: body.items, next })
    }

    fn record(&self, event: Item, at: Position<'_>) -> (LogRecord, Resume<At>) {
        let Value::Object(data) = json!({"id": event.id, "message": format!("event {}", event.id)}) else {
            unreachable!()
        };
        (LogRecord::new(data), Resume::InPage(At { url: at.page.url.clone(), ts: Some(event.ts) }))
    }

    fn key<'e>(&self, event: &'e Item) -> Key<'e> {
        Key { id: Some(&event.id), instant: Some(&event.ts) }
    }

    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<At> {
        Some(At { url: next.url.clone(), ts: instant.map(str::to_owned) })
    }

    fn cursor_instant<'c>(&self, cursor: &'c At) -> Option<&'c str> {
        cursor.ts.as_deref()
    }

    fn fallback(&self, stored: &At, refused: &HttpError) -> Option<Result<At, StreamError>> {
        if !self.recover || refused.status() != Some(StatusCode::BAD_REQUEST) {
            return None;
        }
        let Some(ts) = &stored.ts else {
            return Some(Err(StreamError::checkpoint("no instant to restart from")));
        };
        let mut url = self.logs.clone();
        url.query_pairs_mut().append_pair("since", ts);
        Some(Ok(At { url, ts: Some(ts.clone()) }))
    }
}

fn stream(server: &MockServer, recover: bool, limits: PageLimits) -> PagedStream<Linked> {
    let base = Url::parse(&server.uri()).unwrap();
    let mut config = HttpConfig::new(base.clone());
    config.rate_limit.key = Some(format!("linked-test-{}", server.address().port()));
    let api = Linked { logs: base.join("/logs").unwrap(), recover };
    PagedStream::new(api, HttpClient::new(config).unwrap()).with_limits(limits)
}

/// A page of `(id, ts)` items.
fn page(items: &[(&str, &str)], next: Option<&str>, short: bool) -> ResponseTemplate {
    let items: Vec<Value> = items.iter().map(|(id, ts)| json!({"id": id, "ts": ts})).collect();
    ResponseTemplate::new(200).set_body_json(json!({"items": items, "next": next, "short": short}))
}

async fn on(server: &MockServer, page_param: Option<&str>, answer: ResponseTemplate) {
    let mock = Mock::given(method("GET")).and(path("/logs"));
    match page_param {
        Some(p) => mock.and(query_param("page", p)).respond_with(answer).mount(server).await,
        None => mock.respond_with(answer).with_priority(10).mount(server).await,
    }
}

/// Every record of a run (positions included) and the error that ended it.
async fn crawl(stream: &PagedStream<Linked>, cursor: Option<Value>) -> (Vec<LogRecord>, Option<StreamError>) {
    let drained = logcrawl_testkit::drain(stream, cursor).await;
    (drained.records, drained.error)
}

fn ids(records: &[LogRecord]) -> Vec<String> {
    records.iter().filter(|r| !r.is_position()).map(|r| r.data["id"].as_str().unwrap().to_owned()).collect()
}

fn uri(server: &MockServer, rest: &str) -> String {
    format!("{}{rest}", server.uri())
}

#[tokio::test]
async fn a_mid_page_cursor_resumes_through_its_event_and_a_page_end_drops_the_boundary() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1"), ("b", "t2"), ("c", "t2")], Some("/logs?page=2"), false)).await;
    // The next page serves the boundary events of t2 again (an inclusive position), then new ones.
    on(&server, Some("2"), page(&[("b", "t2"), ("c", "t2"), ("d", "t3")], None, false)).await;
    let stream = stream(&server, false, PageLimits::default());
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&records), ["a", "b", "c", "d"], "b and c are delivered once");

    let mid = records[0].cursor_value().unwrap();
    assert_eq!(mid, json!({"url": uri(&server, "/logs"), "ts": "t1", "through": "a", "index": 0, "v": 1}));
    let end = records[2].cursor_value().unwrap();
    assert_eq!(end, json!({"url": uri(&server, "/logs?page=2"), "ts": "t2", "seen": ["c", "b"], "v": 1}));

    let (again, err) = crawl(&stream, Some(mid)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&again), ["b", "c", "d"], "resumed right after a");
    let (again, _) = crawl(&stream, Some(end)).await;
    assert_eq!(ids(&again), ["d"], "the boundary events served again are dropped");
}

#[tokio::test]
async fn a_chain_of_empty_pages_is_committed_as_positions_so_the_next_run_starts_past_it() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1")], Some("/logs?page=1"), false)).await;
    for n in 1..10 {
        let next = format!("/logs?page={}", n + 1);
        on(&server, Some(&n.to_string()), page(&[], Some(&next), false)).await;
    }
    on(&server, Some("10"), page(&[("b", "t9")], None, false)).await;
    let stream = stream(&server, false, PageLimits { max_empty_pages: 3, ..PageLimits::default() });
    let (first, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&first), ["a"]);
    let last = first.last().unwrap();
    assert!(last.is_position(), "the hops end with a position");
    let at = last.cursor_value().unwrap();
    // Four empty pages read (1 to 4), the run ends there: the position resumes at page 5, keeping the
    // boundary of the last page with events.
    assert_eq!(at, json!({"url": uri(&server, "/logs?page=5"), "ts": "t1", "seen": ["a"], "v": 1}));
    let (second, _) = crawl(&stream, Some(at)).await;
    let (third, _) = crawl(&stream, second.last().unwrap().cursor_value()).await;
    assert_eq!(ids(&third), ["b"], "each run moves on instead of walking the same empty pages");
}

#[tokio::test]
async fn a_later_continuation_is_not_requested_now_but_the_last_record_resumes_there() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1"), ("b", "t1")], Some("/logs?page=2"), true)).await;
    Mock::given(query_param("page", "2"))
        .respond_with(page(&[("c", "t2")], None, false))
        .expect(1)
        .mount(&server)
        .await;
    let stream = stream(&server, false, PageLimits::default());
    let (records, _) = crawl(&stream, None).await;
    assert_eq!(ids(&records), ["a", "b"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "a short page ends the run");
    let end = records[1].cursor_value().unwrap();
    assert_eq!(end["url"], json!(uri(&server, "/logs?page=2")));
    let (next, _) = crawl(&stream, Some(end)).await;
    assert_eq!(ids(&next), ["c"]);
}

#[tokio::test]
async fn a_refused_cursor_restarts_from_the_fallback_dropping_what_it_had_delivered() {
    let server = MockServer::start().await;
    Mock::given(query_param("page", "7")).respond_with(ResponseTemplate::new(400)).expect(1).mount(&server).await;
    Mock::given(query_param("since", "t5"))
        .respond_with(page(&[("x", "t5"), ("y", "t5"), ("z", "t6")], None, false))
        .expect(1)
        .mount(&server)
        .await;
    let stream = stream(&server, true, PageLimits::default());
    let stored =
        json!({"url": uri(&server, "/logs?page=7"), "ts": "t5", "through": "y", "index": 3, "seen": ["x"], "v": 1});
    let (records, err) = crawl(&stream, Some(stored)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&records), ["z"], "x (seen) and y (through) were delivered before");
}

#[tokio::test]
async fn a_fallback_refused_too_is_a_checkpoint_error_and_no_fallback_leaves_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(400)).mount(&server).await;
    let stored = json!({"url": uri(&server, "/logs?page=7"), "ts": "t5", "v": 1});
    let (records, err) = crawl(&stream(&server, true, PageLimits::default()), Some(stored.clone())).await;
    let err = err.expect("refused");
    assert!(records.is_empty());
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    assert!(err.to_string().contains("fallback"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "the stored position, then the fallback");

    let (_, err) = crawl(&stream(&server, false, PageLimits::default()), Some(stored)).await;
    assert_ne!(err.expect("refused").kind(), StreamErrorKind::Checkpoint, "without a fallback the 400 stands");
}

#[tokio::test]
async fn a_stored_cursor_of_another_origin_is_a_checkpoint_error_and_nothing_is_sent() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET")).respond_with(page(&[("a", "t1")], None, false)).expect(0).mount(&elsewhere).await;
    let stored = json!({"url": uri(&elsewhere, "/logs?page=2"), "v": 1});
    let (records, err) = crawl(&stream(&server, false, PageLimits::default()), Some(stored)).await;
    let err = err.expect("refused");
    assert!(records.is_empty());
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    assert!(err.to_string().contains("now points at"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cursor_id_no_longer_on_its_page_delivers_the_page_again() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1"), ("b", "t2")], None, false)).await;
    let stored = json!({"url": uri(&server, "/logs"), "through": "gone", "index": 0, "v": 1});
    let (records, _) = crawl(&stream(&server, false, PageLimits::default()), Some(stored)).await;
    assert_eq!(ids(&records), ["a", "b"], "re-delivering is the at-least-once side of not skipping");
    let by_index = json!({"url": uri(&server, "/logs"), "index": 0, "v": 1});
    let (records, _) = crawl(&stream(&server, false, PageLimits::default()), Some(by_index)).await;
    assert_eq!(ids(&records), ["b"], "an event without an id resumes by its index");
}

#[tokio::test]
async fn the_last_record_of_a_chain_keeps_its_instants_ids_so_a_fallback_from_it_repeats_none() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1"), ("b", "t5"), ("c", "t5")], None, false)).await;
    let stream = stream(&server, true, PageLimits::default());
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    let last = records[2].cursor_value().unwrap();
    assert_eq!(
        last,
        json!({"url": uri(&server, "/logs"), "ts": "t5", "through": "c", "index": 2, "seen": ["c", "b"], "v": 1}),
        "a chain's end resumes on its page, with the ids of its last instant"
    );
    assert!(records[1].cursor_value().unwrap().get("seen").is_none(), "only the last record carries them");

    // The API now refuses the page: the fallback from t5 drops b and c, both delivered.
    let refused = MockServer::start().await;
    Mock::given(query_param("since", "t5"))
        .respond_with(page(&[("b", "t5"), ("c", "t5"), ("d", "t6")], None, false))
        .expect(1)
        .mount(&refused)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(400)).with_priority(10).mount(&refused).await;
    let moved = last.to_string().replace(&server.uri(), &refused.uri());
    let (again, err) = crawl(&stream_on(&refused), Some(serde_json::from_str(&moved).unwrap())).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&again), ["d"]);
}

fn stream_on(server: &MockServer) -> PagedStream<Linked> {
    stream(server, true, PageLimits::default())
}

#[tokio::test]
async fn an_instant_that_spans_pages_keeps_the_ids_of_every_page_it_spans() {
    let server = MockServer::start().await;
    on(&server, None, page(&[("a", "t1"), ("b", "t2")], Some("/logs?page=2"), false)).await;
    on(&server, Some("2"), page(&[("c", "t2"), ("d", "t2")], Some("/logs?page=3"), false)).await;
    on(&server, Some("3"), page(&[("e", "t2")], None, false)).await;
    let stream = stream(&server, true, PageLimits::default());
    let (records, err) = crawl(&stream, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&records), ["a", "b", "c", "d", "e"]);
    assert_eq!(records[3].cursor_value().unwrap()["seen"], json!(["d", "c", "b"]), "t2 began on page 1");
    assert_eq!(records[4].cursor_value().unwrap()["seen"], json!(["e", "d", "c", "b"]));
    assert_eq!(records[1].cursor_value().unwrap()["seen"], json!(["b"]), "a page that starts before t2 begins it");
}
