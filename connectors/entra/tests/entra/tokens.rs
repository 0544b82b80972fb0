//! The token requests: cached, renewed before expiry, fetched once more on a 401; certificate
//! assertions signed anew for every attempt and verified against the certificate.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use logcrawl_sim::entra::{CLIENT_ID, TENANT, TEST_CERTIFICATE};

use super::*;

#[tokio::test]
async fn a_token_is_renewed_before_it_expires_and_fetched_once_more_on_a_401() {
    let server = MockServer::start().await;
    let (_, at) = ago(900);
    // First token: valid for 1 s (renewed after half of it); the second one is refused once by Graph.
    let issued = Arc::new(Mutex::new(0u32));
    let counter = issued.clone();
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(move |_: &Request| {
            let mut n = counter.lock().unwrap();
            *n += 1;
            token_answer(&format!("token-{n}"), if *n == 1 { 1 } else { 3599 })
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(|request: &Request| header(request, "authorization") == Some("Bearer token-2"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "Lifetime validation failed"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![sign_in("x", &at)], None)).mount(&server).await;
    let connector =
        entra(&server.uri(), &server.uri(), "settle_lag = \"0s\"\nwindow_step = \"24h\"\ninitial_lookback = \"1h\"");

    assert!(run(&connector, 0, None).await.error.is_none());
    assert_eq!(connector.credentials().token_fetches(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // token-1 is past half its life: token-2 is fetched, Graph refuses it, token-3 is fetched and works.
    let drained = run(&connector, 0, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    assert_eq!(drained.field("id"), ["x"]);
    assert_eq!(connector.credentials().token_fetches(), 3);
    let requests = server.received_requests().await.unwrap();
    let bearers: Vec<&str> = requests.iter().filter_map(|r| header(r, "authorization")).collect();
    assert_eq!(
        bearers,
        ["Bearer token-1", "Bearer token-2", "Bearer token-3"],
        "the refused page was asked again once"
    );
}

/// The claims of a client assertion, verified against `TEST_CERTIFICATE`.
fn verified(assertion: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(assertion).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let certificate = logcrawl_entra::ClientCertificate::from_pem(TEST_CERTIFICATE).unwrap();
    assert_eq!(header.x5t_s256.as_deref(), Some(certificate.thumbprint_sha256()));
    assert_eq!(header.x5t.as_deref(), Some(certificate.thumbprint_sha1()));
    let cert = pem::parse_many(TEST_CERTIFICATE).unwrap().into_iter().find(|b| b.tag() == "CERTIFICATE").unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem::encode(&cert).as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(assertion, &key, &validation).expect("signed with the certificate's key").claims
}

#[tokio::test]
async fn every_token_request_attempt_carries_a_new_assertion_signed_with_the_certificate() {
    let server = MockServer::start().await;
    let (_, at) = ago(900);
    let token_url = format!("{}/{TENANT}/oauth2/v2.0/token", server.uri());
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let (record, aud) = (seen.clone(), token_url.clone());
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(move |request: &Request| {
            let fields = form(request);
            assert_eq!(fields["client_assertion_type"], logcrawl_entra::ASSERTION_TYPE);
            assert!(!fields.contains_key("client_secret"));
            let mut seen = record.lock().unwrap();
            seen.push(verified(&fields["client_assertion"], &aud));
            // The first attempt's answer is lost (503): the retry must not replay the assertion.
            if seen.len() == 1 { ResponseTemplate::new(503) } else { token_answer(ACCESS, 3599) }
        })
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(page(vec![sign_in("x", &at)], None)).mount(&server).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), TEST_CERTIFICATE).unwrap();
    let extra = format!(
        "certificate_file = \"{}\"\nsettle_lag = \"0s\"\nwindow_step = \"24h\"\ninitial_lookback = \"1h\"",
        file.path().display()
    );
    let connector = entra(&server.uri(), &server.uri(), &extra);
    let drained = run(&connector, 0, None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let jtis: HashSet<&str> = seen.iter().map(|c| c["jti"].as_str().unwrap()).collect();
    assert_eq!(jtis.len(), 2, "a new jti per attempt");
    for claims in seen.iter() {
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(CLIENT_ID), Some(CLIENT_ID)));
        assert_eq!(claims["aud"], token_url);
        let (exp, now) = (claims["exp"].as_i64().unwrap(), jiff::Timestamp::now().as_second());
        assert!((now + 200..=now + 301).contains(&exp), "a few minutes out: {exp} at {now}");
    }
    // The key never travels: only its signature.
    let requests = server.received_requests().await.unwrap();
    let key_b64 = TEST_CERTIFICATE.lines().skip_while(|l| !l.contains("PRIVATE KEY")).nth(1).unwrap();
    assert!(requests.iter().all(|r| !String::from_utf8_lossy(&r.body).contains(key_b64)));
}
