//! Where a run resumes when Okta's answers are unusual: an empty hop between pages, and a stored `next`
//! link (or page URL) that Okta no longer accepts.

use std::sync::Arc;

use logcrawl_core::{
    BuildContext, CheckpointStore, Crawler, FailureStage, MemoryCheckpointStore, StreamErrorKind, StreamKey,
};
use logcrawl_okta::OktaConnector;
use logcrawl_sim::okta::{OktaSim, event_uuid};
use logcrawl_testkit::{LogCapture, RecordingSink};
use serde_json::{Value, json};
use tracing::Level;
use wiremock::matchers::{method, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{TOKEN, must_not_be_asked, on_after, on_first, uuids};
use super::{as_sent, config, connector, crawl, event, events, fast_retries, logs_url, page, query, source};

/// Okta's answer to a query parameter it refuses (an expired `after`, a `since` beyond retention).
fn validation_failed(parameter: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "errorCode": "E0000001",
        "errorSummary": format!("Api validation failed: {parameter}"),
        "errorLink": "E0000001",
        "errorId": "oae3iIHt2dSR0mSp5vuvyNzYw",
        "errorCauses": [{"errorSummary": format!("{parameter}: The value is invalid.")}]
    }))
}

/// The WARN lines about a fallback to `since` (tests run on one thread: the capture sees every task).
fn fallback_warnings(logs: &LogCapture) -> Vec<String> {
    logs.texts_at(Level::WARN).into_iter().filter(|w| w.contains("since")).collect()
}

// ---------------------------------------------------------------------------------------------------------
// An empty hop
// ---------------------------------------------------------------------------------------------------------

/// A `[]` page whose `next` moves on (possible with a `filter`) says nothing about the boundary: the uuids
/// delivered at the previous page's last instant must still be dropped when the page after it serves them.
#[tokio::test]
async fn an_empty_hop_keeps_the_boundary_uuids_of_the_page_before_it() {
    let server = MockServer::start().await;
    let base = server.uri();
    let (p2, p3, p4) = (
        logs_url(&server, "limit=3&after=p2"),
        logs_url(&server, "limit=3&after=p3"),
        logs_url(&server, "limit=3&after=p4"),
    );
    let boundary = "2024-08-13T15:58:00.005Z";
    let next = p2.clone();
    Mock::given(method("GET"))
        .and(query_param_is_missing("after"))
        .respond_with(move |req: &Request| {
            let body = json!([event("u0", "2024-08-13T15:58:00.000Z"), event("a", boundary), event("b", boundary)]);
            page(body, &as_sent(&base, req), &next)
        })
        .expect(1)
        .mount(&server)
        .await;
    on_after(&server, "p2", page(json!([]), &p2, &p3), 1).await;
    // Okta serves the boundary events again after the empty hop, with a new one at the same instant.
    let body = json!([event("a", boundary), event("b", boundary), event("c", boundary)]);
    on_after(&server, "p3", page(body, &p3, &p4), 1).await;
    on_after(&server, "p4", page(json!([]), &p4, &p4), 1).await;

    let connector = Arc::new(connector(&server, json!({"limit": 3})));
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector, sink.clone()));
    let report = crawler.run_once().await;
    assert_eq!(report.failures().count(), 0, "{:?}", report.runs);

    assert_eq!(sink.delivered_field("uuid"), ["u0", "a", "b", "c"], "boundary events delivered twice");
    let committed = store.load(&StreamKey::new("okta-sim", "system_log")).unwrap().expect("committed");
    assert_eq!(committed["url"], p4.as_str());
    let mut seen: Vec<&str> = committed["seen"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    seen.sort_unstable();
    assert_eq!(seen, ["a", "b", "c"], "{committed}");
    assert_eq!(committed["published"], boundary);
}

/// A sparse `filter` can make Okta answer a long chain of `[]` pages whose `next` moves on. A run follows
/// a few and ends there; the next run must start where it stopped. Were the chain not committed, every
/// run would walk the same first hops and end again: the stream would never get past them.
#[tokio::test]
async fn a_long_chain_of_empty_hops_is_committed_so_the_next_run_gets_past_it() {
    let server = MockServer::start().await;
    let base = server.uri();
    let hop = |n: usize| logs_url(&server, &format!("limit=3&after=h{n}"));
    let first_next = hop(1);
    on_first(&server, move |req: &Request| page(events(0, 3), &as_sent(&base, req), &first_next), 1).await;
    for n in 1..12 {
        on_after(&server, format!("h{n}"), page(json!([]), &hop(n), &hop(n + 1)), 1).await;
    }
    let late = json!([event("x", "2024-08-13T16:00:00.000Z"), event("y", "2024-08-13T16:00:00.001Z")]);
    on_after(&server, "h12", page(late, &hop(12), &hop(13)), 1).await;

    let connector = Arc::new(connector(&server, json!({"limit": 3})));
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let key = StreamKey::new("okta-sim", "system_log");
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector, sink.clone()));
    for run in 1..=2 {
        let report = crawler.run_once().await;
        assert_eq!(report.failures().count(), 0, "run {run}: {:?}", report.runs);
    }
    // Run 1: the first page and six empty hops (h1 to h6), committed at h7; run 2: h7 to h12.
    assert_eq!(sink.delivered_field("uuid"), ["u0", "u1", "u2", "x", "y"]);
    let committed = store.load(&key).unwrap().expect("committed");
    assert_eq!(committed["url"], hop(13).as_str(), "{committed}");
}

// ---------------------------------------------------------------------------------------------------------
// A stored URL Okta refuses
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_stored_next_falls_back_to_since_published_without_loss_or_duplicates() {
    let warnings = LogCapture::start();
    let server = MockServer::start().await;
    let base = server.uri();
    let stored = logs_url(&server, "limit=3&sortOrder=ASCENDING&after=expired");
    let p2 = logs_url(&server, "limit=3&after=p2");
    let p3 = logs_url(&server, "limit=3&after=p3");
    let boundary = "2024-08-13T15:58:00.005Z";
    on_after(&server, "expired", validation_failed("after"), 1).await;
    let next = p2.clone();
    Mock::given(method("GET"))
        .and(query_param_is_missing("after"))
        .respond_with(move |req: &Request| {
            // `since` is inclusive: the boundary events delivered by the previous run come first.
            let body = json!([event("a", boundary), event("b", boundary), event("c", "2024-08-13T15:58:00.006Z")]);
            page(body, &as_sent(&base, req), &next)
        })
        .expect(1)
        .mount(&server)
        .await;
    on_after(&server, "p2", page(json!([event("d", "2024-08-13T15:58:00.007Z")]), &p2, &p3), 1).await;

    let filter = r#"eventType eq "user.session.start""#;
    let connector = connector(&server, json!({"limit": 3, "filter": filter}));
    let cursor = json!({"v": 1, "url": stored, "seen": ["b", "a"], "published": boundary});
    let (records, err) = crawl(&connector, Some(cursor)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["c", "d"], "nothing after the checkpoint lost, nothing delivered twice");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "the refused URL is not retried");
    assert_eq!(as_sent(&server.uri(), &requests[0]), stored);
    let fallback = query(&requests[1]);
    assert_eq!(fallback.get("since").map(String::as_str), Some(boundary), "{fallback:?}");
    assert_eq!(fallback.get("limit").map(String::as_str), Some("3"));
    assert_eq!(fallback.get("sortOrder").map(String::as_str), Some("ASCENDING"));
    assert_eq!(fallback.get("filter").map(String::as_str), Some(filter));
    assert!(!fallback.contains_key("after") && !fallback.contains_key("until"), "{fallback:?}");
    let warned = fallback_warnings(&warnings);
    assert_eq!(warned.len(), 1, "{:?}", warnings.texts_at(Level::WARN));
    assert!(warned[0].contains("E0000001") && warned[0].contains(boundary), "{warned:?}");
    // The new chain's cursors carry `published` again, so a later refusal can recover too.
    let last = records.last().unwrap().cursor_value().unwrap();
    assert_eq!(
        (last["url"].as_str(), last["published"].as_str()),
        (Some(p3.as_str()), Some("2024-08-13T15:58:00.007Z"))
    );
}

#[tokio::test]
async fn a_refused_mid_page_cursor_falls_back_and_skips_its_through_event() {
    let server = MockServer::start().await;
    let base = server.uri();
    let stored = logs_url(&server, "limit=3&after=expired");
    let published = "2024-08-13T15:58:00.005Z";
    on_after(&server, "expired", validation_failed("after"), 1).await;
    Mock::given(method("GET"))
        .and(query_param("since", published))
        .respond_with(move |req: &Request| {
            let body = json!([event("b", published), event("c", "2024-08-13T15:58:00.006Z")]);
            page(body, &as_sent(&base, req), &as_sent(&base, req))
        })
        .expect(1)
        .mount(&server)
        .await;
    let connector = connector(&server, json!({"limit": 3}));
    let cursor = json!({"v": 1, "url": stored, "through": "b", "index": 1, "published": published});
    let (records, err) = crawl(&connector, Some(cursor)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["c"]);
}

#[tokio::test]
async fn a_refused_cursor_without_published_is_a_checkpoint_error_naming_okta_s_answer() {
    let server = MockServer::start().await;
    let stored = logs_url(&server, "limit=3&after=expired");
    Mock::given(method("GET")).respond_with(validation_failed("after")).expect(1).mount(&server).await;
    // A cursor written before `published` was kept: nothing to fall back to.
    let cursor = json!({"v": 1, "url": stored, "seen": ["a"]});
    let (records, err) = crawl(&connector(&server, json!({})), Some(cursor)).await;
    let err = err.expect("refused");
    assert!(records.is_empty());
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    let message = err.to_string();
    assert!(message.contains("400") && message.contains("Api validation failed: after"), "{message}");
    assert!(message.contains("reset") && message.contains("set"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn a_refused_fallback_is_a_checkpoint_error_too() {
    let server = MockServer::start().await;
    let stored = logs_url(&server, "limit=3&since=2024-01-01T00%3A00%3A00.000Z");
    // Both the stored page URL and the fallback ask for data beyond Okta's retention.
    Mock::given(method("GET")).respond_with(validation_failed("since")).expect(2).mount(&server).await;
    let cursor = json!({"v": 1, "url": stored, "through": "a", "index": 0, "published": "2024-01-01T00:00:01.000Z"});
    let (records, err) = crawl(&connector(&server, json!({})), Some(cursor)).await;
    let err = err.expect("refused");
    assert!(records.is_empty());
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    let message = err.to_string();
    assert!(message.contains("Api validation failed: since") && message.contains("reset"), "{message}");
    let second = query(&server.received_requests().await.unwrap()[1]);
    assert_eq!(second.get("since").map(String::as_str), Some("2024-01-01T00:00:01.000Z"));
}

#[tokio::test]
async fn a_400_on_a_fresh_start_is_not_blamed_on_a_checkpoint() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(validation_failed("filter")).expect(1).mount(&server).await;
    let (_, err) = crawl(&connector(&server, json!({"filter": "nonsense"})), None).await;
    let err = err.expect("refused");
    assert_ne!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// End to end against the simulator
// ---------------------------------------------------------------------------------------------------------

/// A stored `next` link goes stale (the simulator expires every `after` token it minted): the next run
/// falls back to `since = published` and delivers everything after the checkpoint exactly once (page-end
/// cursor) or at least once (mid-page cursor: only events sharing its instant before it may repeat).
#[tokio::test]
async fn the_simulator_expires_a_stored_next_and_the_run_resumes_from_published() {
    const EVENTS: u64 = 3000;
    let warnings = LogCapture::start();
    // 0.4 ms apart: two or three events share each millisecond, so the boundary sets matter.
    let sim = OktaSim::builder()
        .events(EVENTS)
        .spacing(std::time::Duration::from_micros(400))
        .token(TOKEN)
        .start()
        .await
        .unwrap();
    let config = serde_json::from_value(json!({"base_url": sim.base_url(), "token": TOKEN})).unwrap();
    let connector = Arc::new(OktaConnector::with_http(config, &BuildContext::new("okta-sim"), fast_retries).unwrap());

    let (all, err) = crawl(&connector, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(all.len() as u64, EVENTS);
    let page_end = all[999].cursor_value().unwrap();
    let mid_page = all[1499].cursor_value().unwrap();
    assert!(page_end.get("seen").is_some() && mid_page.get("through").is_some(), "{page_end} {mid_page}");
    assert!(page_end.get("published").is_some() && mid_page.get("published").is_some());

    sim.expire_after_tokens();
    let key = StreamKey::new("okta-sim", "system_log");

    // A page-end cursor: exactly the events after it.
    let store = Arc::new(MemoryCheckpointStore::new());
    store.commit(&key, &page_end).unwrap();
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector.clone(), sink.clone()));
    let report = crawler.run_once().await;
    assert_eq!(report.failures().count(), 0, "{:?}", report.runs);
    let expected: Vec<String> = (1000..EVENTS).map(event_uuid).collect();
    assert_eq!(sink.delivered_field("uuid"), expected, "lost or duplicated across the fallback");
    assert_eq!(fallback_warnings(&warnings).len(), 1, "{:?}", warnings.texts_at(Level::WARN));

    // A mid-page cursor: nothing lost, its own event not repeated.
    store.commit(&key, &mid_page).unwrap();
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector.clone(), sink.clone()));
    assert_eq!(crawler.run_once().await.failures().count(), 0);
    let delivered = sink.delivered_field("uuid");
    let tail: Vec<String> = (1500..EVENTS).map(event_uuid).collect();
    assert!(delivered.ends_with(&tail), "events after the checkpoint were lost");
    let repeated = &delivered[..delivered.len() - tail.len()];
    let same_instant: Vec<String> =
        (0..1499).filter(|&i| sim.published_ms(i) == sim.published_ms(1499)).map(event_uuid).collect();
    assert!(repeated.iter().all(|u| same_instant.contains(u)), "{repeated:?} {same_instant:?}");
    assert!(!delivered.contains(&event_uuid(1499)), "the checkpoint's own event was delivered again");
    assert_eq!(fallback_warnings(&warnings).len(), 2);

    // A cursor from before `published` was kept: a checkpoint failure naming the stream, nothing sent.
    let old = json!({"v": 1, "url": page_end["url"], "seen": page_end["seen"]});
    store.commit(&key, &old).unwrap();
    let sink = Arc::new(RecordingSink::new().requiring_message_and_timestamp());
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(source(connector, sink.clone()));
    let report = crawler.run_once().await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{:?}", report.runs);
    let (failed, failure) = failures[0];
    assert_eq!(failed, &key);
    assert_eq!(failure.stage, FailureStage::LoadCheckpoint, "{failure:?}");
    assert!(failure.fatal && failure.message.contains("system_log"), "{failure:?}");
    assert!(failure.message.contains("E0000001") && failure.message.contains("reset"), "{failure:?}");
    assert!(sink.delivered_field("uuid").is_empty());
    assert_eq!(store.load(&key).unwrap(), Some(old), "the checkpoint is left for the operator");
}

#[tokio::test]
async fn refusals_of_a_foreign_cursor_are_checkpoint_errors() {
    let server = MockServer::start().await;
    must_not_be_asked(&server).await;
    let connector =
        OktaConnector::with_http(config(&server, json!({})), &BuildContext::new("s"), fast_retries).unwrap();
    let other_org = json!({"v": 1, "url": "https://other.okta.com/api/v1/logs?after=x", "seen": []});
    let odd_published = json!({"v": 1, "url": logs_url(&server, "after=x"), "published": 5});
    for cursor in [other_org, json!({"after": "x"}), odd_published] {
        let (_, err) = crawl(&connector, Some(cursor.clone())).await;
        let err = err.expect("refused");
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{cursor}: {err}");
    }
}
