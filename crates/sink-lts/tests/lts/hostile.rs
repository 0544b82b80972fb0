//! The sink against answers that are not LTS's: a proxy's 200, redirects, and a backend refusing
//! everything while the stream is quiet.

use super::*;

#[tokio::test]
async fn a_2xx_that_is_not_lts_s_answer_is_not_a_delivery() {
    let server = MockServer::start().await;
    let not_lts = [
        ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"),
        ResponseTemplate::new(200),
        ResponseTemplate::new(204),
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})),
    ];
    for answer in not_lts {
        server.reset().await;
        Mock::given(method("POST")).and(path(hp_path())).respond_with(answer).expect(3).mount(&server).await;
        let sink = sink(config(&server, token_auth()));
        let err = sink.send(one_record("m")).await.unwrap_err();
        assert!(!err.is_fatal());
        assert!(err.to_string().contains("not taken as delivered"), "{err}");
        server.verify().await;
    }
}

#[tokio::test]
async fn a_redirected_post_is_not_acknowledged() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/login?token=leaked-t0ken"))
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(success()).expect(0).mount(&server).await;
    let sink = sink(config(&server, token_auth()));
    let err = sink.send(one_record("m")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 302") && text.contains("/login"), "{text}");
    assert!(!text.contains("leaked-t0ken"), "{text}");
}

#[tokio::test]
async fn a_lone_record_refused_by_a_backend_that_accepted_nothing_is_not_dropped() {
    // One record per batch is normal on a quiet stream; the old guard needed two refusals, so a
    // misconfigured sink dropped such records one by one.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"errorCode": "SVCSTG.ALS.400.103", "error_msg": "Invalid labels."})),
        )
        .mount(&server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let sink = sink(config(&server, token_auth())).with_dead_letters(letters_in(state.path()));
    for _ in 0..3 {
        let err = sink.send(one_record("m")).await.unwrap_err();
        assert!(err.to_string().contains("none was set aside"), "{err}");
    }
    assert!(dead_letters(state.path()).is_empty());
}

#[tokio::test]
async fn a_lone_record_refused_while_lts_accepts_others_is_set_aside() {
    let server = MockServer::start().await;
    refuse_poison(&server).await;
    let state = tempfile::tempdir().unwrap();
    let sink = sink(config(&server, token_auth())).with_dead_letters(letters_in(state.path()));
    sink.send(one_record("fine")).await.unwrap();
    let delivery = sink.send(one_record("poison")).await.unwrap();
    assert_eq!((delivery.accepted, delivery.dead_lettered), (0, 1));
    assert_eq!(dead_letters(state.path()).len(), 1);
}
