//! wiremock tests of the shared client: what it sends, how often, and how long it waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderName};
use secrecy::SecretString;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::*;

mod hostile;
mod pool;
mod vendor_limits;

const TOKEN: &str = "00abcdefSECRETtoken123";

pub(super) fn fast_config(server: &MockServer) -> HttpConfig {
    let mut config = HttpConfig::new(Url::parse(&server.uri()).unwrap());
    config.retry =
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(50) };
    config.timeout = Duration::from_secs(5);
    // Each test gets its own budget: wiremock ports are reused across tests.
    config.rate_limit.key = Some(format!("test-{}", fastrand::u64(..)));
    config
}

#[test]
fn the_shared_settings_defaults_are_the_clients_and_every_setting_reaches_it() {
    use logcrawl_core::HttpSettings;
    let url = Url::parse("https://api.example.com").unwrap();
    let (plain, set) = (HttpConfig::new(url.clone()), HttpConfig::with_settings(url.clone(), &HttpSettings::DEFAULT));
    let set = set.unwrap();
    assert_eq!(
        (set.timeout, set.retry, set.max_server_wait, set.rate_limit.requests_per_second),
        (plain.timeout, plain.retry, plain.max_server_wait, plain.rate_limit.requests_per_second),
        "HttpSettings::DEFAULT must stay HttpConfig::new's defaults"
    );
    let settings = HttpSettings {
        timeout: Duration::from_secs(7),
        requests_per_second: std::num::NonZeroU32::new(3),
        retry_attempts: 2,
        retry_initial_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(20),
        max_retry_wait: Duration::from_secs(9),
    };
    let config = HttpConfig::with_settings(url.clone(), &settings).unwrap();
    assert_eq!(config.timeout, Duration::from_secs(7));
    assert_eq!(config.rate_limit.requests_per_second, std::num::NonZeroU32::new(3));
    assert_eq!(
        config.retry,
        RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(20) }
    );
    assert_eq!(config.max_server_wait, Duration::from_secs(9));
    let err = HttpConfig::with_settings(url, &HttpSettings { retry_attempts: 0, ..settings }).unwrap_err();
    assert_eq!(err.key(), "retry_attempts");
}

pub(super) fn client(server: &MockServer) -> HttpClient {
    HttpClient::new(fast_config(server)).unwrap().with_auth(Arc::new(StaticAuth::new(
        AUTHORIZATION,
        "SSWS ",
        SecretString::from(TOKEN),
    )))
}

/// Answers from a fixed list, then repeats the last.
pub(super) struct Sequence(Vec<ResponseTemplate>, AtomicUsize);

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.1.fetch_add(1, Ordering::SeqCst);
        self.0[n.min(self.0.len() - 1)].clone()
    }
}

pub(super) fn sequence(responses: Vec<ResponseTemplate>) -> Sequence {
    Sequence(responses, AtomicUsize::new(0))
}

#[tokio::test]
async fn sends_the_credential_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(header("authorization", format!("SSWS {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let response = client.get(client.url("/api/v1/logs").unwrap()).await.unwrap();
    assert_eq!(response.json::<Vec<serde_json::Value>>().unwrap(), Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn waits_for_retry_after_on_429_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
            ResponseTemplate::new(200).set_body_string("ok"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let start = Instant::now();
    let response = client.get(client.url("/x").unwrap()).await.unwrap();
    assert_eq!(&response.body[..], b"ok");
    assert!(start.elapsed() >= Duration::from_millis(950), "waited only {:?}", start.elapsed());
}

#[tokio::test]
async fn waits_for_x_rate_limit_reset_on_429_then_succeeds() {
    let server = MockServer::start().await;
    let reset = (jiff::Timestamp::now().as_second() + 2).to_string();
    Mock::given(method("GET"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-limit", "50")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.as_str())
                .set_body_string(r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#),
            ResponseTemplate::new(200).set_body_string("ok"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let start = Instant::now();
    client.get(client.url("/x").unwrap()).await.unwrap();
    // The reset is 1–2 s away (second granularity); we must not have retried before it.
    assert!(start.elapsed() >= Duration::from_millis(1000), "waited only {:?}", start.elapsed());
}

#[tokio::test]
async fn server_errors_are_retried_then_given_up() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
    assert!(matches!(err, HttpError::RetriesExhausted { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(!err.is_fatal());
}

#[tokio::test]
async fn server_error_then_success_is_transparent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(sequence(vec![ResponseTemplate::new(500), ResponseTemplate::new(200).set_body_string("ok")]))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    assert_eq!(&client.get(client.url("/x").unwrap()).await.unwrap().body[..], b"ok");
}

#[tokio::test]
async fn unauthorized_is_fatal_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    // A stream made of it stops its source, naming the status.
    let stream = logcrawl_core::StreamError::from(err);
    assert_eq!(stream.kind(), logcrawl_core::StreamErrorKind::Fatal);
    assert!(stream.to_string().contains("401"), "{stream}");
}

#[tokio::test]
async fn off_origin_urls_are_refused_without_sending_anything() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    let client = client(&server);
    let next = Url::parse(&format!("{}/api/v1/logs?after=1", elsewhere.uri())).unwrap();
    let err = client.get(next).await.unwrap_err();
    assert!(matches!(err, HttpError::OffOrigin { .. }), "{err}");
    assert!(err.is_fatal());
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn redirects_to_another_origin_are_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal?api_key={TOKEN}", elsewhere.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
    assert!(matches!(err, HttpError::Redirected { off_origin: true, .. }), "{err}");
    assert!(err.is_fatal());
    // The refused Location is named, but redacted: it may carry a secret.
    assert!(err.to_string().contains("/steal") && !err.to_string().contains(TOKEN), "{err}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_cut_off() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 64 * 1024]))
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.max_body_bytes = 16 * 1024;
    let client = HttpClient::new(config).unwrap();
    let err = client.get(client.url("/big").unwrap()).await.unwrap_err();
    assert!(matches!(err, HttpError::BodyTooLarge { limit: 16384, .. }), "{err}");
}

#[tokio::test]
async fn remaining_budget_at_the_margin_throttles_before_any_429() {
    let server = MockServer::start().await;
    let reset = (jiff::Timestamp::now().as_second() + 2).to_string();
    // The first response says one call is left (margin 1): the second request must wait for the reset.
    Mock::given(method("GET"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-rate-limit-limit", "20")
                .insert_header("x-rate-limit-remaining", "1")
                .insert_header("x-rate-limit-reset", reset.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-rate-limit-remaining", "19"))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.rate_limit.margin = 1;
    let client = HttpClient::new(config).unwrap();
    let start = Instant::now();
    client.get(client.url("/x?page=1").unwrap()).await.unwrap();
    client.get(client.url("/x?page=2").unwrap()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(1000), "did not throttle: {:?}", start.elapsed());
}

#[tokio::test]
async fn two_clients_on_one_origin_share_the_budget() {
    let server = MockServer::start().await;
    let config = fast_config(&server);
    let a = HttpClient::new(config.clone()).unwrap();
    let b = HttpClient::new(config).unwrap();
    assert!(Arc::ptr_eq(a.budget(), b.budget()));
}

#[tokio::test]
async fn secrets_never_appear_in_errors_or_debug_output() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500).set_body_string("oops")).mount(&server).await;
    let client = client(&server);
    let url = Url::parse(&format!("{}/x?api_key={TOKEN}", server.uri())).unwrap();
    let err = client.get(url).await.unwrap_err();
    let texts = [err.to_string(), format!("{err:?}"), format!("{client:?}")];
    for text in texts {
        assert!(!text.contains(TOKEN), "secret leaked: {text}");
    }
    let header = AuthHeader::new(HeaderName::from_static("dd-api-key"), "", &SecretString::from(TOKEN)).unwrap();
    assert!(!format!("{header:?}").contains(TOKEN));
}

/// A client that takes a 403 saying it is a rate limit for one (GitHub's way).
fn github_like(server: &MockServer) -> HttpClient {
    let mut config = fast_config(server);
    config.rate_limit_403 = true;
    HttpClient::new(config).unwrap()
}

#[tokio::test]
async fn a_403_with_an_exhausted_window_waits_for_the_reset_and_repeats_the_request() {
    let server = MockServer::start().await;
    let reset = (jiff::Timestamp::now().as_second() + 2).to_string();
    Mock::given(method("GET"))
        .and(path("/orgs/o/audit-log"))
        .and(query_param("after", "c1"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "1750")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "1750")
                .insert_header("x-ratelimit-resource", "audit_log")
                .insert_header("x-ratelimit-reset", reset.as_str())
                .set_body_string(r#"{"message":"API rate limit exceeded for user ID 1."}"#),
            ResponseTemplate::new(200).set_body_string("[]"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let client = github_like(&server);
    let start = Instant::now();
    client.get(client.url("/orgs/o/audit-log?after=c1").unwrap()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(1000), "the reset was not waited for: {:?}", start.elapsed());
}

#[tokio::test]
async fn a_403_with_retry_after_waits_that_long() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-remaining", "4000")
                .set_body_string(r#"{"message":"You have exceeded a secondary rate limit."}"#),
            ResponseTemplate::new(200).set_body_string("ok"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let client = github_like(&server);
    let start = Instant::now();
    client.get(client.url("/x").unwrap()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(950), "waited only {:?}", start.elapsed());
}

#[tokio::test]
async fn a_secondary_limit_without_headers_waits_a_minute_which_max_retry_wait_may_refuse() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403).insert_header("x-ratelimit-remaining", "4000").set_body_string(
                r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes."}"#,
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.rate_limit_403 = true;
    config.max_server_wait = Duration::from_secs(30);
    let client = HttpClient::new(config).unwrap();
    match client.get(client.url("/x").unwrap()).await.unwrap_err() {
        HttpError::ServerWaitTooLong { status, wait_secs, max_secs, .. } => {
            assert_eq!((status.as_u16(), wait_secs, max_secs), (403, 60, 30));
        }
        other => panic!("expected a refused wait, got {other}"),
    }
}

#[tokio::test]
async fn a_403_refusal_is_fatal_at_once_and_rate_limit_403s_are_refusals_unless_opted_in() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/refused"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "4999")
                .set_body_string(r#"{"message":"Must have admin rights to Repository."}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(403).insert_header("x-ratelimit-remaining", "0"))
        .expect(1)
        .mount(&server)
        .await;
    let err = github_like(&server).get(Url::parse(&format!("{}/refused", server.uri())).unwrap()).await.unwrap_err();
    assert!(err.is_fatal() && err.status() == Some(StatusCode::FORBIDDEN), "{err}");
    let plain = HttpClient::new(fast_config(&server)).unwrap();
    let err = plain.get(Url::parse(&format!("{}/limited", server.uri())).unwrap()).await.unwrap_err();
    assert!(err.is_fatal(), "without the opt-in a 403 stays a refusal: {err}");
}

#[test]
fn which_403s_are_rate_limits() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    };
    let forbidden = StatusCode::FORBIDDEN;
    assert!(is_rate_limit_403(forbidden, &headers(&[("x-ratelimit-remaining", "0")]), b""));
    assert!(is_rate_limit_403(forbidden, &headers(&[("retry-after", "30")]), b""));
    assert!(is_rate_limit_403(forbidden, &HeaderMap::new(), b"You have exceeded a secondary RATE LIMIT"));
    assert!(!is_rate_limit_403(forbidden, &headers(&[("x-ratelimit-remaining", "12")]), b"{\"message\":\"no\"}"));
    assert!(!is_rate_limit_403(StatusCode::UNAUTHORIZED, &headers(&[("retry-after", "1")]), b"rate limit"));
}

proptest::proptest! {
    #[test]
    fn classifying_a_403_never_panics(
        status in 100u16..600,
        remaining in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
    ) {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&remaining) {
            headers.insert("x-ratelimit-remaining", value);
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        let limited = is_rate_limit_403(status, &headers, &body);
        proptest::prop_assert!(!limited || status == StatusCode::FORBIDDEN);
    }
}

#[test]
fn a_query_parameter_is_set_in_place_of_its_earlier_values() {
    let url = Url::parse("https://api.example/logs?mintime=1&next_offset=old&limit=2&next_offset=older").unwrap();
    let request = RequestSpec::get(url).with_query_set("next_offset", "1547486297000,5bea1c1e");
    let pairs: Vec<(String, String)> = request.url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    let expected = [("mintime", "1"), ("limit", "2"), ("next_offset", "1547486297000,5bea1c1e")];
    assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    let fresh = RequestSpec::get(Url::parse("https://api.example/logs").unwrap()).with_query_set("cursor", "a b&c");
    assert_eq!(fresh.url.as_str(), "https://api.example/logs?cursor=a+b%26c");
}

#[tokio::test]
async fn a_bearer_token_request_refuses_a_token_of_another_type() {
    let server = MockServer::start().await;
    let answer = |token_type: &str| {
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"access_token": "SECRETat", "token_type": token_type, "expires_in": 60}))
    };
    Mock::given(method("POST")).respond_with(sequence(vec![answer("Bearer"), answer("DPoP")])).mount(&server).await;
    let http = HttpClient::new(fast_config(&server)).unwrap();
    let build = || Ok(RequestSpec::post(Url::parse(&format!("{}/token", server.uri())).unwrap(), "grant_type=x"));
    let token = request_bearer_token(&http, build, |_| "", "the API").await.unwrap();
    assert_eq!(token.expires_in, Some(Duration::from_secs(60)));
    let err = request_bearer_token(&http, build, |_| "", "the API").await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert_eq!(
        err.to_string(),
        "authentication failed: the token endpoint issued a \"DPoP\" token; the API takes Bearer tokens"
    );
}
