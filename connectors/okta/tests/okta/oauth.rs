//! OAuth 2.0 `private_key_jwt`: the token request, its client assertion, caching, and refetching.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcrawl_core::BuildContext;
use logcrawl_okta::{OktaConfig, OktaConnector};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{
    as_sent, crawl, epoch_now, events, fast_retries, logs_url, must_not_be_asked, on_after, on_first, page, uuids,
};

pub(super) const PRIVATE_KEY: &str = include_str!("../fixtures/test-only-rsa-key.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/test-only-rsa-key.pub.pem");
pub(super) const CLIENT_ID: &str = "0oa1serviceapp";

#[derive(serde::Deserialize)]
pub(super) struct AssertionClaims {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    pub(super) jti: String,
}

/// The claims of the request's client assertion, after checking the form, the JWT header and the signature.
pub(super) fn assertion_claims(req: &Request, token_url: &str) -> AssertionClaims {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body).into_owned().collect();
    let content_type = req.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    assert!(req.headers.get("authorization").is_none(), "the token request carries no Authorization header");
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "okta.logs.read");
    assert_eq!(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    let assertion = &form["client_assertion"];
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("test-kid-1"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[CLIENT_ID]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let claims =
        jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).expect("a valid signature").claims;
    assert_eq!((claims.iss.as_str(), claims.sub.as_str(), claims.aud.as_str()), (CLIENT_ID, CLIENT_ID, token_url));
    assert!(claims.exp > claims.iat && claims.exp - claims.iat <= 600, "short-lived assertion");
    assert!((claims.iat - epoch_now()).abs() < 60);
    claims
}

fn minted_token(n: usize) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "Bearer", "expires_in": 3600, "access_token": format!("at-{n}"), "scope": "okta.logs.read"
    }))
}

/// A token endpoint that verifies every client assertion and mints `at-1`, `at-2`, …
fn token_endpoint(
    server_uri: &str,
    jtis: Arc<Mutex<HashSet<String>>>,
    minted: Arc<AtomicUsize>,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static {
    let token_url = format!("{server_uri}/oauth2/v1/token");
    move |req: &Request| {
        let claims = assertion_claims(req, &token_url);
        assert!(jtis.lock().unwrap().insert(claims.jti), "jti reused");
        minted_token(minted.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// Mounts [`token_endpoint`] at `/oauth2/v1/token`, expecting `times` token requests.
async fn serve_tokens(server: &MockServer, jtis: Arc<Mutex<HashSet<String>>>, minted: Arc<AtomicUsize>, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(token_endpoint(&server.uri(), jtis, minted))
        .expect(times)
        .mount(server)
        .await;
}

fn oauth_connector(server: &MockServer) -> OktaConnector {
    let config: OktaConfig = serde_json::from_value(json!({
        "base_url": server.uri(),
        "client_id": CLIENT_ID,
        "private_key": PRIVATE_KEY,
        "key_id": "test-kid-1",
    }))
    .unwrap();
    OktaConnector::with_http(config, &BuildContext::new("okta-oauth"), fast_retries).unwrap()
}

#[tokio::test]
async fn private_key_jwt_token_is_requested_once_and_sent_as_bearer() {
    let server = MockServer::start().await;
    let base = server.uri();
    let (jtis, minted) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    serve_tokens(&server, jtis, minted.clone(), 1).await;
    let p2 = logs_url(&server, "limit=2&after=p2");
    let next = p2.clone();
    on_first(&server, move |req: &Request| page(events(0, 2), &as_sent(&base, req), &next), 1).await;
    on_after(&server, "p2", page(events(2, 3), &p2, &p2), 1).await;

    let connector = oauth_connector(&server);
    let (records, err) = crawl(
        &connector,
        Some(json!({"v": 1, "url": logs_url(&server, "limit=2&since=2024-08-13T00%3A00%3A00.000Z")})),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0", "u1", "u2"]);
    for request in server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "GET") {
        assert_eq!(request.headers["authorization"], "Bearer at-1");
    }
    assert_eq!(connector.oauth().unwrap().token_fetches(), 1, "the token is cached across pages");
    assert!(!format!("{connector:?}").contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_401_with_oauth_refetches_the_token_once() {
    let server = MockServer::start().await;
    let base = server.uri();
    let (jtis, minted) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    serve_tokens(&server, jtis, minted.clone(), 2).await;
    Mock::given(method("GET"))
        .respond_with(move |req: &Request| match req.headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer at-2") => page(events(0, 1), &as_sent(&base, req), &as_sent(&base, req)),
            _ => ResponseTemplate::new(401)
                .set_body_json(json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"})),
        })
        .expect(2)
        .mount(&server)
        .await;
    let (records, err) = crawl(&oauth_connector(&server), None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0"]);
    assert_eq!(minted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_401_after_a_fresh_token_is_fatal_without_a_storm() {
    let server = MockServer::start().await;
    let (jtis, minted) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(token_endpoint(&server.uri(), jtis, minted))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"errorCode": "E0000011"})))
        .expect(2)
        .mount(&server)
        .await;
    let (_, err) = crawl(&oauth_connector(&server), None).await;
    let err = err.expect("fatal");
    assert!(err.is_fatal(), "{err}");
    assert!(!err.to_string().contains("at-"), "{err}");
}

#[tokio::test]
async fn a_refused_client_assertion_is_fatal_and_explained() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "The client_assertion signature is invalid."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    must_not_be_asked(&server).await;
    let (_, err) = crawl(&oauth_connector(&server), None).await;
    let err = err.expect("fatal");
    assert!(err.is_fatal());
    let message = err.to_string();
    assert!(message.contains("invalid_client") && message.contains("key_id"), "{message}");
    assert!(!message.contains("BEGIN"), "{message}");
}

/// Okta's token endpoint remembers every `jti` and refuses a replayed one with `invalid_client`; the HTTP
/// client retries a lost (503) answer, and that retry must carry a newly signed assertion.
#[tokio::test]
async fn a_retried_token_request_signs_a_fresh_assertion() {
    let server = MockServer::start().await;
    let base = server.uri();
    let token_url = format!("{base}/oauth2/v1/token");
    let received: Arc<Mutex<Vec<AssertionClaims>>> = Arc::default();
    let log = received.clone();
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(move |req: &Request| {
            let claims = assertion_claims(req, &token_url);
            let mut log = log.lock().unwrap();
            let replayed = log.iter().any(|seen| seen.jti == claims.jti);
            let attempt = log.len() + 1;
            log.push(claims);
            if attempt == 1 {
                ResponseTemplate::new(503).set_body_string("upstream connect error")
            } else if replayed {
                ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_client", "error_description": "The client_assertion token has already been used."
                }))
            } else {
                minted_token(attempt)
            }
        })
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(move |req: &Request| page(events(0, 1), &as_sent(&base, req), &as_sent(&base, req)))
        .expect(1)
        .mount(&server)
        .await;

    let connector = oauth_connector(&server);
    let (records, err) = crawl(&connector, None).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(uuids(&records), ["u0"]);
    {
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 2, "one lost answer, one retry");
        assert_ne!(received[0].jti, received[1].jti, "the retry replayed the first assertion");
        assert!(received[1].iat >= received[0].iat && received[1].exp >= received[0].exp);
    }
    let logs = server.received_requests().await.unwrap();
    let get = logs.iter().find(|r| r.method.as_str() == "GET").expect("the logs request");
    assert_eq!(get.headers["authorization"], "Bearer at-2");
}

/// A 401 handler calls `invalidate()` while another request may be fetching a token (holding the cache's
/// lock): the invalidation must still drop whatever token the cache ends up holding.
#[tokio::test]
async fn invalidating_during_a_token_fetch_still_drops_the_token() {
    use logcrawl_http::Auth;

    let server = MockServer::start().await;
    let token_url = format!("{}/oauth2/v1/token", server.uri());
    let minted = Arc::new(AtomicUsize::new(0));
    let counter = minted.clone();
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(move |req: &Request| {
            assertion_claims(req, &token_url);
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            // The first fetch is slow, so the invalidation lands while it holds the lock.
            let delay = if n == 1 { Duration::from_millis(400) } else { Duration::ZERO };
            minted_token(n).set_delay(delay)
        })
        .expect(2)
        .mount(&server)
        .await;

    let connector = oauth_connector(&server);
    let auth = connector.oauth().unwrap().clone();
    let fetching = auth.clone();
    let first = tokio::spawn(async move { fetching.header().await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while minted.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the token request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    assert!(auth.invalidate(), "a fresh token can be fetched");
    assert!(started.elapsed() < Duration::from_millis(100), "invalidate() must not wait for the fetch");
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.value.to_str().unwrap(), "Bearer at-1");

    let second = auth.header().await.unwrap();
    assert_eq!(second.value.to_str().unwrap(), "Bearer at-2", "the invalidated token was handed out again");
    let third = auth.header().await.unwrap();
    assert_eq!(third.value.to_str().unwrap(), "Bearer at-2", "the new token is cached");
    assert_eq!(minted.load(Ordering::SeqCst), 2);
    assert_eq!(auth.token_fetches(), 2);
}
