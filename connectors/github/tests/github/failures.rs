//! GitHub's refusals: rejected tokens, missing permissions, an organization without Enterprise Cloud,
//! refused cursors, and rate limits answered with 403 or 429.

use std::time::{Duration, Instant};

use logcrawl_core::StreamErrorKind;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{TOKEN, connector, crawl, events, ids, link, on_cursor, on_first, page};

/// GitHub's error body.
fn refusal(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}))
        .insert_header("x-ratelimit-remaining", "1700")
}

async fn answer_every_request(server: &MockServer, answer: ResponseTemplate, times: u64) {
    Mock::given(method("GET")).respond_with(answer).expect(times).mount(server).await;
}

#[tokio::test]
async fn an_organization_without_enterprise_cloud_is_fatal_saying_so_and_naming_the_source() {
    let server = MockServer::start().await;
    answer_every_request(&server, refusal(404, "Not Found"), 1).await;
    let run = crawl(&connector(&server.uri(), json!({})), None).await;
    let err = run.error.expect("a 404 ends the run");
    assert_eq!(err.kind(), StreamErrorKind::Fatal, "{err}");
    let text = err.to_string();
    for needed in ["404", "source gh-test", "organization acme-corp", "GitHub Enterprise Cloud", "/api/v3"] {
        assert!(text.contains(needed), "{needed:?} missing from: {text}");
    }
}

#[tokio::test]
async fn a_rejected_token_and_a_missing_permission_are_fatal_once_with_what_to_check() {
    for (status, message, advice) in
        [(401, "Bad credentials", "check `token`"), (403, "Must have admin rights to Repository.", "read:audit_log")]
    {
        let server = MockServer::start().await;
        answer_every_request(&server, refusal(status, message), 1).await;
        let err = crawl(&connector(&server.uri(), json!({})), None).await.error.expect("refused");
        assert_eq!(err.kind(), StreamErrorKind::Fatal, "{err}");
        let text = err.to_string();
        assert!(text.contains(&status.to_string()) && text.contains(advice), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[tokio::test]
async fn a_403_of_an_exhausted_window_mid_chain_is_waited_out_and_the_same_page_asked_again() {
    let server = MockServer::start().await;
    let next = link(&server, 2, "cGFnZTI%3D");
    on_first(&server, page(events(0, 2), Some(&next), "x"), 1).await;
    let reset = (logcrawl_testkit::epoch_now() + 2).to_string();
    let exhausted = refusal(403, "API rate limit exceeded for user ID 1.")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-limit", "1750")
        .insert_header("x-ratelimit-reset", reset.as_str());
    Mock::given(query_param("after", "cGFnZTI="))
        .respond_with(exhausted)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(query_param("after", "cGFnZTI=")).respond_with(page(events(2, 3), None, "x")).mount(&server).await;
    let started = Instant::now();
    let run = crawl(&connector(&server.uri(), json!({"page_size": 2})), None).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-0", "doc-1", "doc-2"], "no gap, no duplicate around the 403");
    assert!(started.elapsed() >= Duration::from_millis(900), "the reset was not waited for: {:?}", started.elapsed());
    let asked: Vec<String> = server.received_requests().await.unwrap().iter().map(|r| r.url.to_string()).collect();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[1], asked[2], "the same page again");
}

#[tokio::test]
async fn a_secondary_limit_and_a_429_wait_for_retry_after() {
    for status in [403, 429] {
        let server = MockServer::start().await;
        let limited = refusal(status, "You have exceeded a secondary rate limit.").insert_header("retry-after", "1");
        Mock::given(method("GET")).respond_with(limited).up_to_n_times(1).with_priority(1).mount(&server).await;
        Mock::given(method("GET")).respond_with(page(events(0, 1), None, "x")).mount(&server).await;
        let started = Instant::now();
        let run = crawl(&connector(&server.uri(), json!({})), None).await;
        assert!(run.error.is_none(), "{status}: {:?}", run.error);
        assert_eq!(ids(&run), ["doc-0"]);
        assert!(started.elapsed() >= Duration::from_millis(950), "{status}: {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn a_refused_cursor_restarts_from_its_second_dropping_what_was_delivered_in_it() {
    let server = MockServer::start().await;
    let stale = link(&server, 100, "c3RhbGU%3D");
    on_cursor(&server, "c3RhbGU=", refusal(422, "Validation Failed"), 1).await;
    // doc-0..doc-2 share the cursor's second and were delivered; doc-3 is new.
    Mock::given(path("/orgs/acme-corp/audit-log"))
        .and(query_param("phrase", "created:>=2020-12-02T17:24:34+00:00"))
        .and(query_param("order", "asc"))
        .respond_with(page(events(0, 4), None, "x"))
        .expect(1)
        .mount(&server)
        .await;
    let stored = json!({"v": 1, "url": stale, "created": "1606929874", "seen": ["doc-0", "doc-1"], "through": "doc-2",
                        "index": 2});
    let run = crawl(&connector(&server.uri(), json!({})), Some(stored)).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(ids(&run), ["doc-3"]);
}

#[tokio::test]
async fn a_refused_cursor_without_its_second_is_a_checkpoint_error() {
    let server = MockServer::start().await;
    answer_every_request(&server, refusal(422, "Validation Failed"), 1).await;
    let stored = json!({"v": 1, "url": link(&server, 100, "eA%3D%3D")});
    let err = crawl(&connector(&server.uri(), json!({})), Some(stored)).await.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{err}");
    assert!(err.to_string().contains("reset"), "{err}");
}

#[tokio::test]
async fn foreign_and_off_origin_cursors_are_checkpoint_errors_sending_nothing() {
    let server = MockServer::start().await;
    answer_every_request(&server, page(events(0, 1), None, "x"), 0).await;
    let source = connector(&server.uri(), json!({}));
    for stored in [
        json!({"after": "x"}),
        json!({"v": 1, "url": "https://api.github.com/orgs/acme-corp/audit-log?after=x"}),
        json!({"v": 2, "url": link(&server, 100, "x")}),
    ] {
        let err = crawl(&source, Some(stored.clone())).await.error.expect("refused");
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{stored}: {err}");
    }
}
