//! The failure cases: malformed pages, other origins, rejected credentials, unreadable cursors, secrets.

use std::sync::Arc;

use futures::StreamExt;
use logcrawl_core::{CheckpointStore, FailureStage, StreamErrorKind};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::api::seqs;
use super::{Continuation, Harness, Vendor, Verdict};

const EVENTS: u64 = 7;
const PAGE: usize = 3;

/// A 2xx whose body is cut off in the middle of the first event: not JSON in any vendor's format.
fn malformed() -> ResponseTemplate {
    ResponseTemplate::new(200).insert_header("content-type", "application/json").set_body_string(r#"[{"id": "0000"#)
}

/// Another origin that answers everything, and must receive nothing.
async fn elsewhere() -> MockServer {
    let other = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).mount(&other).await;
    other
}

async fn assert_untouched(other: &MockServer) {
    let received = other.received_requests().await.expect("recording is on");
    assert!(received.is_empty(), "the other origin received {} request(s): {:?}", received.len(), received[0].url);
}

/// A redirect to `other`, same path and query.
fn redirect_to(other: &MockServer) -> ResponseTemplate {
    ResponseTemplate::new(302).insert_header("location", format!("{}/elsewhere?steal=1", other.uri()).as_str())
}

pub(super) async fn malformed_page(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    h.fail_at(Some(3), usize::MAX, malformed());
    let run = h.run().await;
    let failure = run.expect_failure();
    assert_eq!(failure.stage, FailureStage::Fetch, "{failure:?}");
    assert!(!failure.fatal, "a malformed page is transient: {failure:?}");
    assert!(failure.message.contains("malformed"), "the error says what is wrong: {}", failure.message);
    let order = h.in_order(seqs(1, EVENTS));
    assert_eq!(run.delivered, order[..3], "the page before the malformed one is delivered");
    h.clear_faults();
    let next = h.run().await;
    next.assert_caught_up();
    assert_eq!(next.delivered, order[3..], "the checkpoint stayed on the last delivered record");
    h.finish();
    Verdict::Passed
}

pub(super) async fn off_origin_redirect(vendor: Arc<dyn Vendor>) -> Verdict {
    let other = elsewhere().await;
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    h.fail_at(Some(3), usize::MAX, redirect_to(&other));
    let run = h.run().await;
    let failure = run.expect_failure();
    assert!(failure.fatal, "an off-origin redirect stops the source: {failure:?}");
    assert!(failure.message.contains("origin"), "the error says why: {}", failure.message);
    assert_eq!(run.delivered, h.in_order(seqs(1, EVENTS))[..3]);
    assert_untouched(&other).await;
    let committed = h.committed().map(|c| c.to_string()).unwrap_or_default();
    assert!(!committed.contains(&other.uri()), "a committed cursor points off the origin: {committed}");
    h.finish();
    Verdict::Passed
}

pub(super) async fn off_origin_link(vendor: Arc<dyn Vendor>) -> Verdict {
    match vendor.continuation() {
        Continuation::Link => {}
        Continuation::QueryParameter => {
            return Verdict::NotExpressible(
                "the API continues by a query parameter on the client's own URL: a server cannot name another origin",
            );
        }
        Continuation::BodyToken => {
            return Verdict::NotExpressible(
                "the API continues by a token in the body of a request to the client's own URL: a server cannot name \
                 another origin",
            );
        }
    }
    let other = elsewhere().await;
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    h.link_elsewhere_at(3, &other.uri());
    let run = h.run().await;
    let failure = run.expect_failure();
    assert!(failure.fatal, "a next link off the origin stops the source: {failure:?}");
    assert!(failure.message.contains("origin"), "the error says why: {}", failure.message);
    assert_untouched(&other).await;
    let delivered = run.delivered.len() as u64;
    assert!((3..=6).contains(&delivered), "{:?}", run.delivered);
    assert_eq!(
        run.delivered,
        h.in_order(seqs(1, EVENTS))[..delivered as usize],
        "what was delivered is the feed's start, in order"
    );
    let committed = h.committed().map(|c| c.to_string()).unwrap_or_default();
    assert!(!committed.contains(&other.uri()), "a committed cursor points off the origin: {committed}");
    h.finish();
    Verdict::Passed
}

pub(super) async fn rejected_credential(vendor: Arc<dyn Vendor>) -> Verdict {
    let sends = if vendor.refetches_on_401() { 2 } else { 1 };
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    let rejected = ResponseTemplate::new(401).set_body_json(json!({"error": "invalid credentials"}));
    h.fail_at(None, usize::MAX, rejected);
    let run = h.run().await;
    let failure = run.expect_failure();
    assert!(failure.fatal, "a rejected credential stops the source: {failure:?}");
    assert_eq!(failure.stage, FailureStage::Fetch, "{failure:?}");
    assert!(failure.message.contains("401"), "the error names the status: {}", failure.message);
    assert_eq!(
        run.asks.len(),
        sends,
        "a rejected credential is not retried (but with a new token once): {:?}",
        run.asks
    );
    assert!(run.delivered.is_empty() && h.committed().is_none());
    h.finish();
    Verdict::Passed
}

pub(super) async fn unreadable_cursor(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor.clone(), EVENTS, PAGE).await;
    let cursor = vendor.unreadable_cursor();
    h.store().commit(h.key(), &cursor).expect("the memory store cannot fail");

    let stream = h.connector().streams().remove(0);
    let first = stream.records(Some(cursor.clone())).next().await;
    match first {
        Some(Err(err)) => {
            assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
            h.note_message(err.to_string());
        }
        other => panic!("resuming from {cursor} should be a checkpoint error, got {other:?}"),
    }

    let run = h.run().await;
    let failure = run.expect_failure();
    assert_eq!(failure.stage, FailureStage::LoadCheckpoint, "{failure:?}");
    assert!(failure.fatal, "the stream stops on an unusable checkpoint: {failure:?}");
    assert!(failure.message.contains(&h.key().to_string()), "the error names the checkpoint: {}", failure.message);
    assert!(h.requests().await.is_empty(), "nothing may be requested from an unusable cursor");
    assert!(run.sink.batches().is_empty());
    assert_eq!(h.committed(), Some(cursor), "the checkpoint is left for the operator");
    h.finish();
    Verdict::Passed
}

pub(super) async fn no_secret_leaks(vendor: Arc<dyn Vendor>) -> Verdict {
    let other = elsewhere().await;
    let h = Harness::start(vendor.clone(), EVENTS, PAGE).await;
    let secret = vendor.secret().to_owned();
    let scenarios: Vec<(&str, ResponseTemplate)> = vec![
        ("401", ResponseTemplate::new(401).set_body_json(json!({"error": "invalid credentials"}))),
        ("503 with a day's Retry-After", ResponseTemplate::new(503).insert_header("retry-after", "86400")),
        ("malformed page", malformed()),
        ("off-origin redirect", redirect_to(&other)),
        ("429 with a day's Retry-After", ResponseTemplate::new(429).insert_header("retry-after", "86400")),
    ];
    let count = scenarios.len() + 1;
    for (what, answer) in scenarios {
        h.clear_faults();
        h.fail_at(None, usize::MAX, answer);
        let run = h.run().await;
        let failure = run.expect_failure();
        assert!(!failure.message.contains(&secret), "{what}: the error contains the secret: {}", failure.message);
        let stream = h.connector().streams().remove(0);
        let mut records = stream.records(None);
        let err = loop {
            match records.next().await {
                Some(Ok(_)) => {}
                Some(Err(err)) => break err,
                None => panic!("{what}: the stream should have failed"),
            }
        };
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(&secret), "{what}: the stream error contains the secret: {text}");
        }
    }
    h.clear_faults();
    h.store().commit(h.key(), &vendor.unreadable_cursor()).expect("the memory store cannot fail");
    let run = h.run().await;
    run.expect_failure();
    let failed_runs = h.logs().containing("run failed").len();
    assert!(failed_runs >= count, "the log capture saw {failed_runs} failed runs of {count}: it is not capturing");
    assert_untouched(&other).await;
    h.finish();
    Verdict::Passed
}
