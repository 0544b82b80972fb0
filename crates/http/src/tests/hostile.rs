//! The shared client against hostile or broken servers: redirects of posts, absurd `Retry-After`s.

use super::*;

#[tokio::test]
async fn a_redirected_post_is_refused_not_turned_into_a_get() {
    let server = MockServer::start().await;
    for status in [301, 302, 303, 307, 308] {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/api/v2/logs"))
            .respond_with(
                ResponseTemplate::new(status).insert_header("location", format!("/moved?api_key={TOKEN}").as_str()),
            )
            .expect(1)
            .mount(&server)
            .await;
        // A 2xx to a bodiless GET used to be taken for a delivery of the POST.
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(202)).expect(0).mount(&server).await;
        Mock::given(method("POST"))
            .and(path("/moved"))
            .respond_with(ResponseTemplate::new(202))
            .expect(0)
            .mount(&server)
            .await;
        let client = client(&server);
        let request = RequestSpec::post(client.url("/api/v2/logs").unwrap(), "[{\"message\":\"m\"}]");
        let err = client.send_once(&request).await.unwrap_err();
        let HttpError::Redirected { status: got, off_origin, location, .. } = &err else { panic!("{err}") };
        assert_eq!((got.as_u16(), *off_origin), (status, false));
        assert!(location.contains("/moved") && !location.contains(TOKEN), "{location}");
        assert!(!err.is_fatal(), "a same-origin redirect of a post is a failed send, retried next run");
        assert!(err.to_string().contains("never redirected"), "{err}");
        server.verify().await;
    }
}

#[tokio::test]
async fn a_get_still_follows_a_same_origin_redirect() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/new"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/new"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let client = client(&server);
    assert_eq!(&client.get(client.url("/old").unwrap()).await.unwrap().body[..], b"ok");
}

#[tokio::test]
async fn an_absurd_retry_after_on_a_5xx_gives_up_without_panicking() {
    let server = MockServer::start().await;
    // `1e20` used to panic in `Duration::from_secs_f64` inside the stream's task.
    for value in ["1e20", "86400", "99999999999999999999"] {
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after", value))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server);
        let start = Instant::now();
        let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
        assert!(matches!(err, HttpError::ServerWaitTooLong { max_secs: 300, .. }), "{value}: {err}");
        assert!(!err.is_fatal(), "the next run tries again");
        assert!(err.to_string().contains("max_retry_wait"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2), "{value}: obeyed for {:?}", start.elapsed());
        server.verify().await;
    }
}

#[tokio::test]
async fn an_absurd_retry_after_on_a_429_gives_up_too() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1e20"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
    assert!(matches!(err, HttpError::ServerWaitTooLong { status: StatusCode::TOO_MANY_REQUESTS, .. }), "{err}");
}

#[tokio::test]
async fn a_retry_after_within_the_cap_is_waited_out_on_a_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503).insert_header("retry-after", "1"),
            ResponseTemplate::new(200).set_body_string("ok"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.max_server_wait = Duration::from_secs(5);
    let client = HttpClient::new(config).unwrap();
    let start = Instant::now();
    assert_eq!(&client.get(client.url("/x").unwrap()).await.unwrap().body[..], b"ok");
    assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());
}

#[tokio::test]
async fn each_attempt_of_execute_with_is_built_anew() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sequence(vec![ResponseTemplate::new(503), ResponseTemplate::new(200)]))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let attempts = AtomicUsize::new(0);
    let url = client.url("/token").unwrap();
    client
        .execute_with(|| {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            Ok(RequestSpec::post(url.clone(), format!("attempt={n}")))
        })
        .await
        .unwrap();
    let bodies: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, ["attempt=0", "attempt=1"]);
}
