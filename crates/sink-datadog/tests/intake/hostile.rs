//! The sink against intakes (or what stands in front of them) that misbehave: redirects, wrong
//! endpoints, refusing everything.

use super::*;

#[tokio::test]
async fn a_redirected_post_is_not_acknowledged() {
    let server = MockServer::start().await;
    for status in [301, 302, 303, 307, 308] {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/api/v2/logs"))
            .respond_with(ResponseTemplate::new(status).insert_header("location", "/elsewhere?api_key=leaked-k3y"))
            .mount(&server)
            .await;
        // A client following the redirect would GET it without the logs and take the 200 for a delivery.
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        Mock::given(method("POST")).and(path("/elsewhere")).respond_with(accepted()).expect(0).mount(&server).await;
        let sink = sink_with(&server, |c| c.http.retry_attempts = 1);
        let err = sink.send(batch(numbered(3))).await.unwrap_err();
        let text = err.to_string();
        assert!(!err.is_fatal(), "{status}: the run ends and the next one sends again");
        assert!(text.contains(&format!("HTTP {status}")) && text.contains("/elsewhere"), "{text}");
        assert!(!text.contains("leaked-k3y"), "the Location is redacted: {text}");
        server.verify().await;
    }
}

#[tokio::test]
async fn an_endpoint_that_is_not_an_intake_is_a_configuration_error() {
    let server = MockServer::start().await;
    for status in [404, 405, 415] {
        server.reset().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)).expect(1).mount(&server).await;
        let sink = sink_with(&server, |_| {});
        let err = sink.send(batch(numbered(2))).await.unwrap_err();
        assert!(err.is_fatal(), "{status} used to be retried for ever: {err}");
        assert!(err.to_string().contains("endpoint") && err.to_string().contains(&status.to_string()), "{err}");
        server.verify().await;
    }
}

#[tokio::test]
async fn an_intake_refusing_everything_gets_nothing_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"errors": ["bad request"]})))
        .mount(&server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let sink = sink_with(&server, |_| {}).with_dead_letters(letters_in(state.path()));
    // A full batch and a quiet stream's single record alike.
    for n in [8, 1] {
        let err = sink.send(batch(numbered(n))).await.unwrap_err();
        assert!(!err.is_fatal());
        assert!(err.to_string().contains("accepted nothing"), "{err}");
    }
    assert!(dead_letters(state.path()).is_empty(), "a refusal of everything is not the records' fault");
}

#[tokio::test]
async fn the_crawler_keeps_its_cursor_when_the_intake_refuses_everything() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400)).mount(&server).await;
    let setup = crawler(&server, 3, 1, 0.0);
    let report = setup.crawler.run_once().await;
    assert!(matches!(&report.runs[0].outcome, RunOutcome::Failed(f) if f.stage == FailureStage::Send && !f.fatal));
    assert_eq!(committed(&setup.store), None, "no cursor past records that were never delivered");
}
