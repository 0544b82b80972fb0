//! The delivery cases: first run, resume, new events, 429, 5xx, empty pages.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::FailureStage;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::api::seqs;
use super::{Harness, Vendor, Verdict};
use crate::sink::RecordingSink;
use crate::wire::epoch_now;

/// Seven events, three per page: two full pages and a short one.
const EVENTS: u64 = 7;
const PAGE: usize = 3;

/// `positions` is `expected`, optionally followed by one poll at the feed's end (`end`).
fn assert_positions(positions: &[usize], expected: &[usize], end: usize) {
    let exact = positions == expected;
    let with_poll = positions.len() == expected.len() + 1
        && positions[..expected.len()] == *expected
        && positions[expected.len()] == end;
    assert!(
        exact || with_poll,
        "the requests asked for positions {positions:?}, expected {expected:?} (and at most one poll at {end})"
    );
}

pub(super) async fn first_run(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    let run = h.run().await;
    run.assert_caught_up();
    assert_eq!(run.delivered, h.in_order(seqs(1, EVENTS)), "every event once, in order");
    assert_positions(&run.positions(), &[0, 3, 6], 7);
    assert!(run.asks.iter().all(|a| a.limit == PAGE), "every request asks for the page size: {:?}", run.asks);
    assert!(h.committed().is_some(), "the run committed its progress");
    h.finish();
    Verdict::Passed
}

pub(super) async fn resume(vendor: Arc<dyn Vendor>) -> Verdict {
    // Batches of two records: the committed cursor lies inside a page.
    let h = Harness::start(vendor, EVENTS, PAGE).await.with_batch_size(2);
    let order = h.in_order(seqs(1, EVENTS));
    let first = h.run_with(RecordingSink::new().requiring_message_and_timestamp().failing_batch(2)).await;
    assert_eq!(first.expect_failure().stage, FailureStage::Send, "{:?}", first.outcome);
    assert_eq!(first.delivered, order[..2]);
    assert!(h.committed().is_some(), "the first batch's cursor was committed");

    let second = h.run().await;
    second.assert_caught_up();
    assert_eq!(second.delivered, order[2..], "the run resumes right after the last acknowledged record");

    let third = h.run().await;
    third.assert_caught_up();
    assert!(third.delivered.is_empty(), "caught up: nothing again, got {:?}", third.delivered);
    assert!(
        !third.asks.is_empty() && third.positions().iter().all(|&p| p == EVENTS as usize),
        "a caught-up run polls from the end of the feed only: {:?}",
        third.positions()
    );
    h.finish();
    Verdict::Passed
}

pub(super) async fn new_events(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    let first = h.run().await;
    first.assert_caught_up();
    assert_eq!(first.delivered, h.in_order(seqs(1, EVENTS)));
    h.append(4);
    let second = h.run().await;
    second.assert_caught_up();
    assert_eq!(second.delivered, h.in_order(seqs(8, 11)), "only the new events, once, in order");
    assert!(
        second.positions().iter().all(|&p| p >= EVENTS as usize),
        "the second run re-requested old pages: {:?}",
        second.positions()
    );
    h.finish();
    Verdict::Passed
}

pub(super) async fn rate_limited(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    let reset = (epoch_now() + 2).to_string();
    let limited = ResponseTemplate::new(429)
        .set_body_json(json!({"error": "rate limit exceeded"}))
        .insert_header("x-rate-limit-limit", "50")
        .insert_header("x-rate-limit-remaining", "0")
        .insert_header("x-rate-limit-reset", reset.as_str());
    h.fail_at(Some(3), 1, limited);
    let run = h.run().await;
    run.assert_caught_up();
    assert_eq!(run.delivered, h.in_order(seqs(1, EVENTS)), "no gap, no duplicate around the 429");
    assert_positions(&run.positions(), &[0, 3, 3, 6], 7);
    assert!(run.elapsed >= Duration::from_millis(900), "the reset was not waited for: {:?}", run.elapsed);
    h.finish();
    Verdict::Passed
}

pub(super) async fn server_error(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor.clone(), EVENTS, PAGE).await;
    h.fail_at(Some(3), 1, ResponseTemplate::new(503).set_body_json(json!({"error": "unavailable"})));
    let run = h.run().await;
    run.assert_caught_up();
    assert_eq!(run.delivered, h.in_order(seqs(1, EVENTS)));
    assert_positions(&run.positions(), &[0, 3, 3, 6], 7);
    h.finish();

    // A 5xx asking for a day's wait: the run ends (the next interval retries), the first page stays delivered.
    let h = Harness::start(vendor, EVENTS, PAGE).await;
    let down =
        ResponseTemplate::new(503).insert_header("retry-after", "86400").set_body_json(json!({"error": "maintenance"}));
    h.fail_at(Some(3), usize::MAX, down);
    let run = h.run().await;
    let failure = run.expect_failure();
    assert_eq!(failure.stage, FailureStage::Fetch, "{failure:?}");
    assert!(!failure.fatal, "a 5xx is not the configuration's fault: {failure:?}");
    assert!(failure.message.contains("503"), "the error names the status: {}", failure.message);
    let order = h.in_order(seqs(1, EVENTS));
    assert_eq!(run.delivered, order[..3], "the page before the failure was delivered");
    assert!(run.elapsed < Duration::from_secs(30), "the run waited {:?} instead of giving up", run.elapsed);
    h.clear_faults();
    let next = h.run().await;
    next.assert_caught_up();
    assert_eq!(next.delivered, order[3..], "the next run resumes after the last delivered record");
    h.finish();
    Verdict::Passed
}

pub(super) async fn empty_page(vendor: Arc<dyn Vendor>) -> Verdict {
    let h = Harness::start(vendor.clone(), 0, PAGE).await;
    let run = h.run().await;
    run.assert_caught_up();
    assert!(run.delivered.is_empty());
    assert!(!run.asks.is_empty() && run.positions().iter().all(|&p| p == 0), "{:?}", run.positions());
    h.append(5);
    let run = h.run().await;
    run.assert_caught_up();
    assert_eq!(run.delivered, h.in_order(seqs(1, 5)), "events after an empty first run are all delivered");
    h.finish();

    // Two full pages: the chain may end on an empty page at the feed's end.
    let h = Harness::start(vendor, 6, PAGE).await;
    let run = h.run().await;
    run.assert_caught_up();
    assert_eq!(run.delivered, h.in_order(seqs(1, 6)));
    assert_positions(&run.positions(), &[0, 3], 6);
    let again = h.run().await;
    again.assert_caught_up();
    assert!(again.delivered.is_empty(), "{:?}", again.delivered);
    h.finish();
    Verdict::Passed
}
