//! [`HttpConfig::rate_limited`]: a vendor's own rate-limit answers (Google's 403 with a quota `reason`)
//! waited out and the same request sent again; the vendor's other refusals stay fatal at once.

use super::*;

/// Google's way: a 403 is a rate limit when its body's `error.errors[].reason` says so.
fn quota_403(response: &Response) -> bool {
    response.status == StatusCode::FORBIDDEN
        && String::from_utf8_lossy(&response.body).contains("\"reason\":\"quotaExceeded\"")
}

fn answer(reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_string(format!(
        r#"{{"error":{{"code":403,"message":"no","errors":[{{"reason":"{reason}","domain":"global"}}]}}}}"#
    ))
}

/// Answers `limited` quota 403s, then 200.
struct Sequence {
    limited: usize,
    seen: Arc<AtomicUsize>,
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.seen.fetch_add(1, Ordering::SeqCst) < self.limited {
            answer("quotaExceeded")
        } else {
            ResponseTemplate::new(200).set_body_string("{}")
        }
    }
}

#[tokio::test]
async fn a_vendor_rate_limit_403_is_waited_out_and_the_same_request_repeated() {
    let server = MockServer::start().await;
    let seen = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/activities"))
        .and(query_param("pageToken", "t2"))
        .respond_with(Sequence { limited: 4, seen: seen.clone() })
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.rate_limited = Some(quota_403);
    let client = HttpClient::new(config).unwrap();
    let url = Url::parse(&format!("{}/activities?pageToken=t2", server.uri())).unwrap();
    let response = client.get(url).await.expect("the quota answers are waited out, more than max_attempts of them");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(seen.load(Ordering::SeqCst), 5, "four refusals, then the same request answered");
}

#[tokio::test]
async fn other_403s_stay_refusals_and_without_the_classifier_every_403_does() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/forbidden")).respond_with(answer("forbidden")).expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/quota")).respond_with(answer("quotaExceeded")).expect(1).mount(&server).await;
    let mut config = fast_config(&server);
    config.rate_limited = Some(quota_403);
    let client = HttpClient::new(config).unwrap();
    let err = client.get(client.url("/forbidden").unwrap()).await.unwrap_err();
    assert!(err.is_fatal() && err.status() == Some(StatusCode::FORBIDDEN), "{err}");
    let plain = HttpClient::new(fast_config(&server)).unwrap();
    let err = plain.get(plain.url("/quota").unwrap()).await.unwrap_err();
    assert!(err.is_fatal(), "without the classifier a 403 is a refusal: {err}");
}

#[tokio::test]
async fn a_vendor_rate_limit_honours_retry_after_and_max_rate_limited_ends_a_storm() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer("quotaExceeded").insert_header("retry-after", "0"))
        .expect(4)
        .mount(&server)
        .await;
    let mut config = fast_config(&server);
    config.rate_limited = Some(quota_403);
    config.max_rate_limited = 3;
    let client = HttpClient::new(config).unwrap();
    let started = Instant::now();
    let err = client.get(client.url("/x").unwrap()).await.unwrap_err();
    assert!(matches!(err, HttpError::RetriesExhausted { attempts: 4, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "Retry-After: 0 is honoured");
}
