//! The token requests: the JWT bearer grant's form and assertion as the simulator verifies them, one
//! token for every application, a token refused by the API fetched again once, a retried token request
//! carrying an assertion of its own.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::MemoryCheckpointStore;
use logcrawl_sim::google_workspace::{
    CLIENT_EMAIL, GoogleWorkspaceSim, PRIVATE_KEY_ID, SCOPE, SUBJECT, TEST_PUBLIC_KEY,
};
use logcrawl_testkit::RecordingSink;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{crawler, google_with, on_sim};

fn claims(assertion: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(assertion).expect("a JWT");
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some(PRIVATE_KEY_ID)));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(assertion, &key, &validation).expect("signed with the service account's key").claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_serves_every_application_and_a_refused_token_is_fetched_again_once() {
    let sim =
        GoogleWorkspaceSim::builder().events(2000).rate_limit(1_000_000, Duration::from_secs(1)).start().await.unwrap();
    let keys = "initial_lookback = \"30m\"\nsettle_lag = \"0s\"\npage_size = 100";
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, on_sim(&sim, keys), &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    assert_eq!(sim.token_requests(), 1, "five applications, one token");
    assert_eq!(sink.delivered().len(), 2000);
    let assertion = &sim.assertions()[0];
    let claims = claims(assertion, sim.token_url());
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    // The tokens are revoked: the next run's first request is refused, a new token fetched once, and the
    // run goes on with it.
    sim.revoke_tokens();
    sim.append_now(100);
    let connector = on_sim(&sim, keys);
    let auth = connector.auth().clone();
    let _warm = crawler(&store, connector, &sink).run_once().await;
    assert!(auth.token_fetches() >= 1);
    sim.revoke_tokens();
    let before = sim.token_requests();
    let report = crawler(&store, on_sim(&sim, keys), &sink).run_once().await;
    assert!(report.failures().next().is_none(), "{:?}", report.failures().next());
    assert_eq!(sim.token_requests(), before + 1, "a fresh connector fetches one token");
}

#[tokio::test]
async fn a_token_rejected_by_the_api_is_replaced_once_per_rejection() {
    let sim =
        GoogleWorkspaceSim::builder().events(500).rate_limit(1_000_000, Duration::from_secs(1)).start().await.unwrap();
    let connector =
        on_sim(&sim, "applications = [\"login\"]\ninitial_lookback = \"30m\"\nsettle_lag = \"0s\"\npage_size = 50");
    let stream = connector.activity_streams()[0].clone();
    let first = logcrawl_testkit::drain(stream.as_ref(), None).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(connector.auth().token_fetches(), 1);
    sim.revoke_tokens();
    let again = logcrawl_testkit::drain(stream.as_ref(), None).await;
    assert!(again.error.is_none(), "{:?}", again.error);
    assert_eq!(connector.auth().token_fetches(), 2, "the 401 dropped the token; one new one served the rest");
    assert_eq!(again.logs().count(), first.logs().count());
}

/// Answers 503 to the first token request, then a token.
struct FlakyTokens(std::sync::atomic::AtomicUsize);

impl Respond for FlakyTokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "ya29.w", "expires_in": 3599, "token_type": "Bearer"}))
        }
    }
}

#[tokio::test]
async fn a_retried_token_request_carries_a_new_assertion() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/token")).respond_with(FlakyTokens(0.into())).expect(2).mount(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"kind": "admin#reports#activities"})))
        .mount(&server)
        .await;
    let token_url = format!("{}/token", server.uri());
    // The retry waits over a second, so the second assertion is issued at another second.
    let slow_retry = |http: &mut logcrawl_http::HttpConfig| {
        http.retry = logcrawl_http::RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(2100),
            max_delay: Duration::from_millis(2200),
        };
    };
    let connector = google_with(
        &server.uri(),
        &token_url,
        "applications = [\"admin\"]\ninitial_lookback = \"10m\"\nsettle_lag = \"0s\"\nwindow_step = \"24h\"",
        slow_retry,
    );
    let drained = logcrawl_testkit::drain(connector.activity_streams()[0].as_ref(), None).await;
    assert!(drained.error.is_none(), "{:?}", drained.error);
    let requests = server.received_requests().await.unwrap();
    let assertions: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path() == "/token")
        .map(|r| {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
            assert_eq!(r.headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
            form["assertion"].clone()
        })
        .collect();
    assert_eq!(assertions.len(), 2);
    assert_ne!(assertions[0], assertions[1], "each attempt signs its own assertion");
    let (one, two) = (claims(&assertions[0], &token_url), claims(&assertions[1], &token_url));
    assert!(two["iat"].as_i64() > one["iat"].as_i64(), "issued at the retry's time");
    let list = requests.iter().find(|r| r.url.path().starts_with("/admin/")).expect("the list was asked");
    assert_eq!(list.headers.get("authorization").unwrap(), "Bearer ya29.w");
}
