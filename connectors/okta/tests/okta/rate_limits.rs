//! Rate limits: a 429 in the middle of a chain, and throttling at the margin without a 429.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{as_sent, connector, crawl, epoch_now, events, logs_url, page, uuids};

#[tokio::test]
async fn a_429_mid_chain_waits_until_the_reset_and_repeats_the_same_page() {
    let server = MockServer::start().await;
    let base = server.uri();
    let p2 = logs_url(&server, "limit=2&after=p2");
    let p3 = logs_url(&server, "limit=2&after=p3");
    let next = p2.clone();
    Mock::given(method("GET"))
        .and(query_param_is_missing("after"))
        .respond_with(move |req: &Request| page(events(0, 2), &as_sent(&base, req), &next))
        .mount(&server)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (calls2, p2c, p3c) = (calls.clone(), p2.clone(), p3.clone());
    Mock::given(method("GET"))
        .and(query_param("after", "p2"))
        .respond_with(move |_: &Request| {
            if calls2.fetch_add(1, Ordering::SeqCst) == 0 {
                ResponseTemplate::new(429)
                    .set_body_json(json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests.", "errorCauses": []}))
                    .insert_header("x-rate-limit-limit", "50")
                    .insert_header("x-rate-limit-remaining", "0")
                    .insert_header("x-rate-limit-reset", (epoch_now() + 2).to_string().as_str())
            } else {
                page(events(2, 3), &p2c, &p3c)
            }
        })
        .mount(&server)
        .await;

    let started = Instant::now();
    let (records, err) = crawl(&connector(&server, json!({"limit": 2})), None).await;
    let waited = started.elapsed();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1", "u2"], "no gap, no duplicate");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the same page was requested again");
    assert!(waited >= Duration::from_millis(900), "waited only {waited:?} for the reset");
    let requests = server.received_requests().await.unwrap();
    let p2_requests: Vec<_> = requests.iter().filter(|r| as_sent(&server.uri(), r) == p2).collect();
    assert_eq!(p2_requests.len(), 2);
}

#[tokio::test]
async fn remaining_at_the_margin_waits_for_the_reset_instead_of_hitting_429() {
    let server = MockServer::start().await;
    let base = server.uri();
    let reset_epoch = epoch_now() + 2;
    let p2 = logs_url(&server, "limit=2&after=p2");
    let p3 = logs_url(&server, "limit=2&after=p3");
    let next = p2.clone();
    Mock::given(method("GET"))
        .and(query_param_is_missing("after"))
        .respond_with(move |req: &Request| {
            page(events(0, 2), &as_sent(&base, req), &next)
                .insert_header("x-rate-limit-remaining", "2")
                .insert_header("x-rate-limit-reset", reset_epoch.to_string().as_str())
        })
        .expect(1)
        .mount(&server)
        .await;
    let too_early = Arc::new(AtomicUsize::new(0));
    let (early, p2c, p3c) = (too_early.clone(), p2.clone(), p3.clone());
    Mock::given(method("GET"))
        .and(query_param("after", "p2"))
        .respond_with(move |_: &Request| {
            if epoch_now() < reset_epoch {
                early.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(429).set_body_json(json!({"errorCode": "E0000047"}))
            } else {
                page(events(2, 3), &p2c, &p3c)
            }
        })
        .mount(&server)
        .await;

    let started = Instant::now();
    let (records, err) = crawl(&connector(&server, json!({"limit": 2, "rate_limit_margin": 2})), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1", "u2"]);
    assert_eq!(too_early.load(Ordering::SeqCst), 0, "a request was sent before the window reset");
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "exactly two requests, no 429 needed");
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_reset_beyond_max_retry_wait_ends_the_run_instead_of_stalling_it() {
    let server = MockServer::start().await;
    // An exhausted quota whose reset is ten minutes away (on Okta's clock, from its Date header).
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit"}))
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", (epoch_now() + 600).to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let connector = connector(&server, json!({"max_retry_wait": "30s"}));
    let started = Instant::now();
    let (records, err) = crawl(&connector, None).await;
    assert!(records.is_empty());
    let err = err.expect("the run ends");
    assert!(!err.is_fatal(), "the next interval tries again: {err}");
    let text = err.to_string();
    assert!(text.contains("HTTP 429") && text.contains("30 s allowed") && text.contains("max_retry_wait"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
