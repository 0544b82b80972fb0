//! Failures: off-origin links, malformed pages, rejected credentials, foreign checkpoints, server errors.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{
    TOKEN, as_sent, connector, crawl, event, events, logs_url, must_not_be_asked, on_after, on_first, page, uuids,
};

#[tokio::test]
async fn an_off_origin_next_link_is_refused_and_the_other_host_receives_nothing() {
    let server = MockServer::start().await;
    let base = server.uri();
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let evil = format!("{}/api/v1/logs?after=steal", elsewhere.uri());
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(move |req: &Request| page(events(0, 1), &as_sent(&base, req), &evil))
        .expect(1)
        .mount(&server)
        .await;

    let (records, err) = crawl(&connector(&server, json!({"limit": 1})), None).await;
    let err = err.expect("refused");
    assert!(err.is_fatal());
    assert!(err.to_string().contains("not on the configured origin"), "{err}");
    assert!(records.is_empty(), "no cursor pointing off the org may be handed to the runtime");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_malformed_page_ends_the_run_after_the_good_pages_without_advancing() {
    let server = MockServer::start().await;
    let base = server.uri();
    let p2 = logs_url(&server, "limit=2&after=p2");
    let next = p2.clone();
    on_first(&server, move |req: &Request| page(events(0, 2), &as_sent(&base, req), &next), 1).await;
    on_after(&server, "p2", ResponseTemplate::new(200).set_body_string(r#"[{"uuid": "u2", "published": "#), 1).await;

    let (records, err) = crawl(&connector(&server, json!({"limit": 2})), None).await;
    assert_eq!(uuids(&records), ["u0", "u1"]);
    assert_eq!(records[1].cursor_value().unwrap()["url"], p2.as_str(), "the next run asks for the bad page again");
    let err = err.expect("malformed");
    assert!(!err.is_fatal());
    let message = err.to_string();
    assert!(message.contains("malformed") && message.contains("after=p2"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn a_page_with_an_event_that_is_not_an_object_is_malformed_and_delivers_nothing() {
    let server = MockServer::start().await;
    let base = server.uri();
    let next = logs_url(&server, "limit=2&after=n1");
    Mock::given(method("GET"))
        .respond_with(move |req: &Request| {
            page(json!([event("u0", "2024-08-13T15:58:00.000Z"), "u1"]), &as_sent(&base, req), &next)
        })
        .expect(1)
        .mount(&server)
        .await;

    let (records, err) = crawl(&connector(&server, json!({"limit": 2})), None).await;
    assert!(records.is_empty(), "{records:?}");
    let err = err.expect("malformed");
    assert!(!err.is_fatal());
    let message = err.to_string();
    assert!(message.contains("malformed") && message.contains("event 1"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn rejected_credentials_stop_the_source_without_retries_or_leaks() {
    for (status, advice) in [(401, "rejected the credentials"), (403, "okta.logs.read")] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let (records, err) = crawl(&connector(&server, json!({})), None).await;
        let err = err.expect("rejected");
        assert!(records.is_empty());
        assert!(err.is_fatal(), "{status}: {err}");
        let message = err.to_string();
        assert!(message.contains(advice) && message.contains(&status.to_string()), "{message}");
        assert!(!message.contains(TOKEN) && !message.contains("SECRET"), "{message}");
    }
}

#[tokio::test]
async fn a_checkpoint_of_another_org_or_shape_is_refused_not_reset() {
    let server = MockServer::start().await;
    must_not_be_asked(&server).await;
    let connector = connector(&server, json!({}));
    let other_org = json!({"v": 1, "url": "https://other.okta.com/api/v1/logs?after=x", "seen": []});
    let (_, err) = crawl(&connector, Some(other_org)).await;
    let err = err.expect("refused");
    assert!(err.is_fatal() && err.to_string().contains("https://other.okta.com"), "{err}");
    let (_, err) = crawl(&connector, Some(json!({"after": "x"}))).await;
    let err = err.expect("refused");
    assert!(err.is_fatal() && err.to_string().contains("Okta System Log cursor"), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_then_the_page_is_delivered() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"errorCode": "E0000009"})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(move |req: &Request| page(events(0, 1), &as_sent(&base, req), &as_sent(&base, req)))
        .expect(1)
        .mount(&server)
        .await;
    let (records, err) = crawl(&connector(&server, json!({})), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0"]);
}
