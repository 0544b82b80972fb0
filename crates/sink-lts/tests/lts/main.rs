//! The LTS sink against wiremock: bodies, headers, auth schemes, failure handling, and a crawler run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use logcrawl_core::{
    Batch, CheckpointStore, Connector, Fields, LogRecord, LogStream, MemoryCheckpointStore, RecordStream, SecretString,
    Sink, SourceMeta, StreamKey,
};
use logcrawl_core::{BuildContext, Crawler, RunOutcome, Source};
use logcrawl_sink_lts::{AuthConfig, Compression, LtsConfig, LtsSink, Mode, signer};
use logcrawl_testkit::{body_json, ndjson};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod hostile;

/// The dead-letter file of sink `lts-test` in `state`.
fn letters_in(state: &std::path::Path) -> logcrawl_core::deadletter::DeadLetterFile {
    logcrawl_core::deadletter::DeadLetterFile::in_state_dir(state, "lts-test", 1 << 20)
}

/// The dead letters kept in `state`, parsed.
fn dead_letters(state: &std::path::Path) -> Vec<Value> {
    ndjson(&state.join("dead-letter/lts-test.ndjson"))
}

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const GROUP: &str = "11111111-2222-3333-4444-555555555555";
const STREAM: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const TOKEN: &str = "MIIT-static-token-0123456789";
const PASSWORD: &str = "p4ssw0rd-never-shown";
const SECRET_KEY: &str = "sk-never-shown-0123456789";

fn hp_path() -> String {
    format!("/v2/{PROJECT}/lts/groups/{GROUP}/streams/{STREAM}/tenant/contents/high-accuracy")
}

fn batch_path() -> String {
    format!("/v2/{PROJECT}/lts/groups/{GROUP}/streams/{STREAM}/tenant/contents")
}

fn token_auth() -> AuthConfig {
    AuthConfig::Token { token: Some(SecretString::from(TOKEN)), token_env: None }
}

fn iam_auth(server: &MockServer) -> AuthConfig {
    AuthConfig::IamPassword {
        user: "crawler".into(),
        domain: "acme-account".into(),
        password: Some(SecretString::from(PASSWORD)),
        password_env: None,
        iam_endpoint: Some(server.uri()),
    }
}

fn config(server: &MockServer, auth: AuthConfig) -> LtsConfig {
    let mut config = LtsConfig::new(PROJECT, GROUP, STREAM, auth);
    config.endpoint = Some(server.uri());
    config.labels.insert("env".into(), "test".into());
    config.http.retry_initial_delay = Duration::from_millis(5);
    config.http.retry_max_delay = Duration::from_millis(20);
    config.http.retry_attempts = 3;
    config.http.timeout = Duration::from_secs(5);
    config
}

fn sink(config: LtsConfig) -> LtsSink {
    LtsSink::new(config, &BuildContext::new("lts-test")).expect("valid config")
}

fn success() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"errorCode": "SVCSTG.ALS.200.200", "error_msg": "Report success.", "result": null}))
}

fn meta() -> Arc<SourceMeta> {
    Arc::new(SourceMeta {
        name: "okta-prod".into(),
        connector: "okta".into(),
        ddsource: "okta".into(),
        service: "okta-sso".into(),
        ..SourceMeta::default()
    })
}

fn record(value: Value) -> LogRecord {
    let Value::Object(map) = value else { unreachable!("records are objects") };
    LogRecord::new(Fields::from(map))
}

fn batch(records: Vec<LogRecord>) -> Batch {
    Batch::new(meta(), Arc::from("logs"), records)
}

fn now() -> f64 {
    logcrawl_core::now_seconds()
}

/// The `log` lines of a high-precision body.
fn logs_of(request: &Request) -> Vec<String> {
    body_json(request)["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .map(|item| item.get("log").and_then(Value::as_str).or(item.as_str()).expect("log line").to_owned())
        .collect()
}

/// The high-precision endpoint answers `answer`, `times` times exactly.
async fn intake_answers(server: &MockServer, answer: impl Respond + 'static, times: u64) {
    Mock::given(method("POST")).and(path(hp_path())).respond_with(answer).expect(times).mount(server).await;
}

/// The IAM token endpoint answers `answer`, `times` times exactly.
async fn iam_answers(server: &MockServer, answer: impl Respond + 'static, times: u64) {
    Mock::given(method("POST")).and(path("/v3/auth/tokens")).respond_with(answer).expect(times).mount(server).await;
}

/// A batch of one record with `message` and the current time.
/// LTS's intake on `server`, refusing (400, `SVCSTG.ALS.400.201`) every request with a log containing
/// `poison` and accepting the others.
async fn refuse_poison(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(|request: &Request| {
            if logs_of(request).iter().any(|l| l.contains("poison")) {
                ResponseTemplate::new(400)
                    .set_body_json(json!({"errorCode": "SVCSTG.ALS.400.201", "error_msg": "Invalid log content."}))
            } else {
                success()
            }
        })
        .mount(server)
        .await;
}

fn one_record(message: &str) -> Batch {
    batch(vec![record(json!({"message": message, "timestamp": now()}))])
}

async fn lts_requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap().into_iter().filter(|r| r.url.path().starts_with("/v2/")).collect()
}

#[tokio::test]
async fn high_precision_body_and_headers() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 1).await;
    let sink = sink(config(&server, token_auth()));
    let t1 = now().floor() - 60.0;
    let records = vec![
        record(json!({"message": "integer", "timestamp": t1 as i64})),
        record(json!({"message": "float", "timestamp": t1 + 0.25, "actor": {"id": "u1"}})),
        record(json!({"message": "no time"})),
    ];
    let before = (now() * 1e9) as i64;
    let delivery = sink.send(batch(records)).await.unwrap();
    let after = (now() * 1e9) as i64;
    assert_eq!((delivery.accepted, delivery.dropped), (3, 0));

    let requests = lts_requests(&server).await;
    let request = &requests[0];
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json;charset=UTF-8");
    assert_eq!(request.headers.get("x-auth-token").unwrap(), TOKEN);
    assert!(request.headers.get("content-encoding").is_none());
    assert!(request.headers.get("authorization").is_none());
    let body = body_json(request);
    assert_eq!(body["labels"], json!({"env": "test", "source": "okta", "service": "okta-sso"}));
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3);
    let t1_ns = t1 as i64 * 1_000_000_000;
    assert_eq!(contents[0]["log_time_ns"], json!(t1_ns), "log_time_ns is a JSON number");
    assert_eq!(contents[1]["log_time_ns"], json!(t1_ns + 250_000_000));
    let t3 = contents[2]["log_time_ns"].as_i64().unwrap();
    assert!(t3 >= before && t3 <= after, "a record without timestamp is stamped now");
    let line: Value = serde_json::from_str(contents[1]["log"].as_str().unwrap()).unwrap();
    assert_eq!(line, json!({"message": "float", "timestamp": t1 + 0.25, "actor": {"id": "u1"}}));
    assert!(!contents[1]["log"].as_str().unwrap().contains('\n'), "one line");
}

#[tokio::test]
async fn batch_mode_stamps_lines_from_the_first_record() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(batch_path())).respond_with(success()).expect(1).mount(&server).await;
    let mut config = config(&server, token_auth());
    config.mode = Mode::Batch;
    config.source_labels = false;
    let sink = sink(config);
    let t = now().floor() - 120.0;
    let records = (0..3).map(|i| record(json!({"message": format!("m{i}"), "timestamp": t + f64::from(i)}))).collect();
    assert_eq!(sink.send(batch(records)).await.unwrap().accepted, 3);
    let body = body_json(&lts_requests(&server).await[0]);
    assert_eq!(body["log_time_ns"], json!(t as i64 * 1_000_000_000), "the first record's time, as a number");
    assert_eq!(body["labels"], json!({"env": "test"}));
    let lines: Vec<Value> = body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["message"], "m2");
    assert_eq!(lines[2]["timestamp"], json!(t + 2.0), "the original time survives inside the line");
    assert!(body.get("contents").unwrap().as_array().unwrap().iter().all(Value::is_string));
}

#[tokio::test]
async fn gzip_on_the_high_precision_api() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 1).await;
    let mut config = config(&server, token_auth());
    config.compression = Compression::Gzip;
    let sink = sink(config);
    let delivery = sink.send(one_record("zipped")).await.unwrap();
    assert_eq!(delivery.accepted, 1);
    let request = &lts_requests(&server).await[0];
    assert_eq!(request.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(&request.body[..2], &[0x1f, 0x8b], "gzip magic");
    let logs = logs_of(request);
    assert_eq!(logs.len(), 1);
    assert_eq!(serde_json::from_str::<Value>(&logs[0]).unwrap()["message"], "zipped");
}

#[tokio::test]
async fn records_outside_the_day_window_are_dropped_and_counted() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 1).await;
    let sink = sink(config(&server, token_auth()));
    assert_eq!(sink.max_age(), Some(Duration::from_secs(86_400)));
    assert_eq!(sink.max_future(), Some(Duration::from_secs(86_400)));
    let records = vec![
        record(json!({"message": "old", "timestamp": now() - 25.0 * 3600.0})),
        record(json!({"message": "ok", "timestamp": now() - 3600.0})),
        record(json!({"message": "future", "timestamp": now() + 25.0 * 3600.0})),
    ];
    let delivery = sink.send(batch(records)).await.unwrap();
    assert_eq!((delivery.accepted, delivery.dropped), (1, 2));
    let logs = logs_of(&lts_requests(&server).await[0]);
    assert_eq!(logs.len(), 1);
    assert!(logs[0].contains("\"ok\""));
}

#[tokio::test]
async fn requests_are_cut_by_bytes_and_records() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 3).await;
    let mut config = config(&server, token_auth());
    config.delivery.batch_max_records = 4;
    let sink = sink(config);
    assert_eq!(sink.batch_limits().max_records, 4);
    let records = (0..10).map(|i| record(json!({"message": format!("n{i}"), "timestamp": now()}))).collect();
    assert_eq!(sink.send(batch(records)).await.unwrap().accepted, 10);
    let sizes: Vec<usize> = lts_requests(&server).await.iter().map(|r| logs_of(r).len()).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
}

/// IAM token responder: a new token per call, expiring after `lifetime`.
fn iam_responder(calls: Arc<AtomicUsize>, lifetime: jiff::SignedDuration) -> impl Fn(&Request) -> ResponseTemplate {
    move |_: &Request| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let expires = jiff::Timestamp::now() + lifetime;
        ResponseTemplate::new(201)
            .insert_header("X-Subject-Token", format!("iam-token-{n}").as_str())
            .set_body_json(json!({"token": {"expires_at": expires.to_string(), "methods": ["password"]}}))
    }
}

fn tokens_sent(requests: &[Request]) -> Vec<String> {
    requests.iter().map(|r| r.headers.get("x-auth-token").unwrap().to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn iam_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    iam_answers(&server, iam_responder(calls.clone(), jiff::SignedDuration::from_hours(24)), 1).await;
    intake_answers(&server, success(), 2).await;
    let sink = sink(config(&server, iam_auth(&server)));
    for _ in 0..2 {
        sink.send(one_record("x")).await.unwrap();
    }
    let all = server.received_requests().await.unwrap();
    let iam = all.iter().find(|r| r.url.path() == "/v3/auth/tokens").unwrap();
    assert_eq!(iam.headers.get("content-type").unwrap(), "application/json;charset=UTF-8");
    assert_eq!(
        body_json(iam),
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "crawler", "password": PASSWORD, "domain": {"name": "acme-account"}}}},
            "scope": {"project": {"id": PROJECT}}
        }})
    );
    assert_eq!(tokens_sent(&lts_requests(&server).await), vec!["iam-token-1", "iam-token-1"]);
}

#[tokio::test]
async fn iam_token_is_refreshed_well_before_expiry() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    // 50 minutes left: inside the one-hour margin, so every use fetches anew.
    iam_answers(&server, iam_responder(calls.clone(), jiff::SignedDuration::from_mins(50)), 2).await;
    intake_answers(&server, success(), 2).await;
    let sink = sink(config(&server, iam_auth(&server)));
    for _ in 0..2 {
        sink.send(one_record("x")).await.unwrap();
    }
    assert_eq!(tokens_sent(&lts_requests(&server).await), vec!["iam-token-1", "iam-token-2"]);
}

#[tokio::test]
async fn iam_token_is_refetched_once_on_401() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    iam_answers(&server, iam_responder(calls.clone(), jiff::SignedDuration::from_hours(24)), 2).await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errorCode": "SVCSTG.ALS.401.1", "error_msg": "token expired"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    intake_answers(&server, success(), 1).await;
    let sink = sink(config(&server, iam_auth(&server)));
    let delivery = sink.send(one_record("x")).await.unwrap();
    assert_eq!(delivery.accepted, 1);
    assert_eq!(tokens_sent(&lts_requests(&server).await), vec!["iam-token-1", "iam-token-2"]);
}

#[tokio::test]
async fn iam_persistent_401_is_fatal_after_one_refetch() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    iam_answers(&server, iam_responder(calls.clone(), jiff::SignedDuration::from_hours(24)), 2).await;
    intake_answers(
        &server,
        ResponseTemplate::new(401).set_body_json(
            json!({"errorCode": "SVCSTG.ALS.403.105", "error_msg": "Project id is invalid.", "result": null}),
        ),
        2,
    )
    .await;
    let sink = sink(config(&server, iam_auth(&server)));
    let err = sink.send(one_record("x")).await.unwrap_err();
    assert!(err.is_fatal());
    let text = err.to_string();
    assert!(text.contains("SVCSTG.ALS.403.105") && text.contains("Project id is invalid."), "{text}");
    assert!(!text.contains("iam-token"), "{text}");
}

#[tokio::test]
async fn iam_refusal_is_fatal_and_never_shows_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "code": 401, "title": "Unauthorized",
            "message": format!("The username or password is wrong (got {PASSWORD})")}})))
        .expect(1)
        .mount(&server)
        .await;
    intake_answers(&server, success(), 0).await;
    let sink = sink(config(&server, iam_auth(&server)));
    let err = sink.send(one_record("x")).await.unwrap_err();
    assert!(err.is_fatal());
    let text = err.to_string();
    assert!(text.contains("The username or password is wrong"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!format!("{sink:?}").contains(PASSWORD));
}

#[tokio::test]
async fn aksk_requests_are_signed_over_what_is_sent() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 1).await;
    let mut config = config(
        &server,
        AuthConfig::Aksk {
            access_key: "HPUAEXAMPLEAK".into(),
            secret_key: Some(SecretString::from(SECRET_KEY)),
            secret_key_env: None,
        },
    );
    config.compression = Compression::Gzip;
    let sink = sink(config);
    sink.send(one_record("signed")).await.unwrap();
    let request = &lts_requests(&server).await[0];
    assert!(request.headers.get("x-auth-token").is_none());
    let header =
        |name: &str| request.headers.get(name).unwrap_or_else(|| panic!("{name} sent")).to_str().unwrap().to_owned();
    let date = header("x-sdk-date");
    assert_eq!(date.len(), 16, "{date}");
    assert!(jiff::fmt::strtime::parse(signer::DATE_FORMAT, &date).is_ok(), "{date}");
    assert_eq!(header("x-project-id"), PROJECT);
    let authorization = header("authorization");
    assert!(
        authorization.starts_with(
            "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK, SignedHeaders=content-encoding;content-type;host;x-project-id;x-sdk-date, Signature="
        ),
        "{authorization}"
    );
    // Recompute over the headers and body as received: the signature covers the gzip bytes and the host:port.
    let signed: Vec<(String, String)> = ["content-encoding", "content-type", "host", "x-project-id", "x-sdk-date"]
        .iter()
        .map(|n| ((*n).to_owned(), header(n)))
        .collect();
    let input = signer::SigningInput {
        method: "POST",
        path: request.url.path(),
        query: &[],
        headers: &signed,
        body: &request.body,
    };
    let expected = signer::authorization("HPUAEXAMPLEAK", SECRET_KEY, &date, &input);
    assert_eq!(authorization, expected);
    assert!(header("host").contains(':'), "the port is part of the signed host");
}

#[tokio::test]
async fn payload_too_large_splits_the_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(|request: &Request| {
            if logs_of(request).len() > 2 {
                ResponseTemplate::new(413).set_body_string("Request Entity Too Large")
            } else {
                success()
            }
        })
        .mount(&server)
        .await;
    let sink = sink(config(&server, token_auth()));
    let records = (0..5).map(|i| record(json!({"message": format!("s{i}"), "timestamp": now()}))).collect();
    let delivery = sink.send(batch(records)).await.unwrap();
    assert_eq!((delivery.accepted, delivery.dropped), (5, 0));
    let sizes: Vec<usize> = lts_requests(&server).await.iter().map(|r| logs_of(r).len()).collect();
    assert_eq!(sizes, vec![5, 2, 3, 1, 2], "halved until each part fits, in order");
    let mut delivered: Vec<String> = Vec::new();
    for request in lts_requests(&server).await.iter().filter(|r| logs_of(r).len() <= 2) {
        delivered.extend(
            logs_of(request)
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["message"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(delivered, vec!["s0", "s1", "s2", "s3", "s4"], "each record exactly once, in order");
}

#[tokio::test]
async fn bad_request_isolates_and_sets_aside_only_the_bad_record() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(|request: &Request| {
            if logs_of(request).iter().any(|l| l.contains("poison")) {
                ResponseTemplate::new(400).set_body_json(
                    json!({"errorCode": "SVCSTG.ALS.400.201", "error_msg": "Invalid log content.", "result": null}),
                )
            } else {
                success()
            }
        })
        .mount(&server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let sink = sink(config(&server, token_auth())).with_dead_letters(letters_in(state.path()));
    let records = ["a", "b", "poison", "d"].iter().map(|m| record(json!({"message": m, "timestamp": now()}))).collect();
    let delivery = sink.send(batch(records)).await.unwrap();
    assert_eq!((delivery.accepted, delivery.dropped, delivery.dead_lettered), (3, 0, 1));
    let letters = dead_letters(state.path());
    assert_eq!(letters.len(), 1);
    assert!(letters[0]["entry"].to_string().contains("poison"), "{}", letters[0]);
    assert!(letters[0]["reason"].as_str().unwrap().contains("SVCSTG.ALS.400.201"), "{}", letters[0]);
    let accepted: Vec<String> = lts_requests(&server)
        .await
        .iter()
        .filter(|r| !logs_of(r).iter().any(|l| l.contains("poison")))
        .flat_map(logs_of)
        .collect();
    assert_eq!(accepted.len(), 3);
    assert!(accepted.iter().all(|l| !l.contains("poison")));
}

/// `dead_letter_max_bytes` bounds the file the sink sets refused records aside in: once a letter would
/// not fit, the send fails (the batch is re-sent by the next run) rather than drop the record.
#[tokio::test]
async fn a_full_dead_letter_file_fails_the_send_instead_of_dropping() {
    let server = MockServer::start().await;
    refuse_poison(&server).await;
    let state = tempfile::tempdir().unwrap();
    let mut config = config(&server, token_auth());
    config.delivery.dead_letter_max_bytes = 64;
    let sink = LtsSink::new(config, &BuildContext::new("lts-test").with_state_dir(state.path())).unwrap();
    let records = ["a", "poison", "c"].iter().map(|m| record(json!({"message": m, "timestamp": now()}))).collect();
    let err = sink.send(batch(records)).await.unwrap_err();
    assert!(!err.is_fatal(), "{err}");
    assert!(dead_letters(state.path()).is_empty(), "nothing half-written");
}

#[tokio::test]
async fn a_batch_refused_record_by_record_is_not_dropped() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(400)
            .set_body_json(json!({"errorCode": "SVCSTG.ALS.400.103", "error_msg": "Invalid labels."})),
        3,
    )
    .await;
    let sink = sink(config(&server, token_auth()));
    let records = (0..2).map(|i| record(json!({"message": i, "timestamp": now()}))).collect();
    let err = sink.send(batch(records)).await.unwrap_err();
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("none was set aside"), "{err}");
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"result": "Service Unavailable"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(hp_path())).respond_with(success()).mount(&server).await;
    let sink = sink(config(&server, token_auth()));
    let delivery = sink.send(one_record("x")).await.unwrap();
    assert_eq!(delivery.accepted, 1);
    let requests = lts_requests(&server).await;
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body), "the same body each time");
}

#[tokio::test]
async fn retries_are_bounded_and_waited_out() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(500)
            .set_body_json(json!({"errorCode": "SVCSTG.ALS.500.1", "error_msg": "Internal error"})),
        3,
    )
    .await;
    let mut config = config(&server, token_auth());
    config.http.retry_initial_delay = Duration::from_millis(200);
    config.http.retry_max_delay = Duration::from_millis(400);
    let sink = sink(config);
    let started = std::time::Instant::now();
    let err = sink.send(one_record("x")).await.unwrap_err();
    // Two waits: at least 100 ms and 200 ms (the lower halves of the jittered delays).
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert!(!err.is_fatal());
    let text = err.to_string();
    assert!(text.contains("3 attempts") && text.contains("SVCSTG.ALS.500.1"), "{text}");
}

#[tokio::test]
async fn a_200_with_an_error_code_is_not_success() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"errorCode": "SVCSTG.ALS.500.999", "error_msg": "partial"})),
        3,
    )
    .await;
    let sink = sink(config(&server, token_auth()));
    let err = sink.send(one_record("x")).await.unwrap_err();
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("SVCSTG.ALS.500.999"), "{err}");
}

#[tokio::test]
async fn static_token_401_is_fatal_at_once() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(401).set_body_json(
            json!({ "errorCode": "SVCSTG.ALS.403.105", "error_msg": "Project id is invalid.", "result": null}),
        ),
        1,
    )
    .await;
    let sink = sink(config(&server, token_auth()));
    let err = sink.send(one_record("x")).await.unwrap_err();
    assert!(err.is_fatal());
    let text = err.to_string();
    assert!(text.contains("HTTP 401") && text.contains("SVCSTG.ALS.403.105: Project id is invalid."), "{text}");
}

#[tokio::test]
async fn forbidden_and_not_found_are_fatal() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(404)
            .set_body_json(json!({"errorCode": "SVCSTG.ALS.404.1", "error_msg": "Log stream not found"})),
        1,
    )
    .await;
    let sink = sink(config(&server, token_auth()));
    let err = sink.send(one_record("x")).await.unwrap_err();
    assert!(err.is_fatal());
    assert!(err.to_string().contains("log_stream_id"), "{err}");
}

#[tokio::test]
async fn no_secret_appears_in_errors() {
    // Each scheme's secret echoed back by the server must be scrubbed from the error.
    let cases: Vec<(AuthConfig, &str)> = vec![
        (token_auth(), TOKEN),
        (
            AuthConfig::Aksk {
                access_key: "AKID".into(),
                secret_key: Some(SecretString::from(SECRET_KEY)),
                secret_key_env: None,
            },
            SECRET_KEY,
        ),
    ];
    for (auth, secret) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex("^/v2/"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "errorCode": "SVCSTG.ALS.403.1", "error_msg": format!("credential {secret} lacks permission")})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("^/v2/"))
            .respond_with(ResponseTemplate::new(500).set_body_string(format!("oops {secret}")))
            .up_to_n_times(3)
            .with_priority(1)
            .mount(&server)
            .await;
        let sink = sink(config(&server, auth));
        assert!(!format!("{sink:?}").contains(secret));
        // First the retries (500 echoing the secret) run out...
        let err = sink.send(one_record("x")).await.unwrap_err();
        assert!(!err.is_fatal());
        assert!(err.to_string().contains("oops") && !err.to_string().contains(secret), "{err}");
        // ...then a 403 echoing it.
        let err = sink.send(one_record("x")).await.unwrap_err();
        assert!(err.is_fatal());
        assert!(err.to_string().contains("lacks permission") && !err.to_string().contains(secret), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A crawler run end to end: stream → Crawler::run_once → LtsSink → wiremock, checkpoints in memory.

#[derive(Debug)]
struct Numbers(usize);

impl LogStream for Numbers {
    fn name(&self) -> &str {
        "numbers"
    }

    fn records(&self, cursor: Option<Value>) -> RecordStream<'_> {
        let start = cursor.and_then(|c| c["n"].as_u64()).map_or(1, |n| n as usize + 1);
        let records: Vec<_> = (start..=self.0)
            .map(|n| Ok(record(json!({"message": format!("r{n}"), "timestamp": now()})).with_cursor(json!({"n": n}))))
            .collect();
        Box::pin(futures::stream::iter(records))
    }
}

struct NumbersConnector(usize);

impl Connector for NumbersConnector {
    fn kind(&self) -> &str {
        "numbers"
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![Arc::new(Numbers(self.0))]
    }
}

fn crawler(sink: LtsSink, store: Arc<MemoryCheckpointStore>, records: usize) -> Crawler {
    let mut crawler = Crawler::new(store);
    crawler.add_source(Source {
        meta: meta(),
        connector: Arc::new(NumbersConnector(records)),
        sink: Arc::new(sink),
        interval: Duration::from_secs(60),
        batch: None,
        emit_errors: false,
    });
    crawler
}

fn key() -> StreamKey {
    StreamKey::new("okta-prod", "numbers")
}

#[tokio::test]
async fn crawler_commits_only_what_lts_acknowledged() {
    let server = MockServer::start().await;
    // r3 fails for good (after retries); batches are two records long, one in flight at a time.
    Mock::given(method("POST"))
        .and(path(hp_path()))
        .respond_with(|request: &Request| {
            if logs_of(request).iter().any(|l| l.contains("\"r3\"")) {
                ResponseTemplate::new(503).set_body_json(json!({"result": "Service Unavailable"}))
            } else {
                success()
            }
        })
        .mount(&server)
        .await;
    let mut config = config(&server, token_auth());
    config.delivery.batch_max_records = 2;
    config.delivery.max_in_flight = 1;
    config.http.retry_attempts = 2;
    config.delivery.linger = Duration::from_millis(50);
    let store = Arc::new(MemoryCheckpointStore::new());
    let report = crawler(sink(config), store.clone(), 6).run_once().await;

    assert_eq!(report.delivered(), 2);
    let failure = report.failures().next().expect("the run failed").1.clone();
    assert!(!failure.fatal && failure.message.contains("503"), "{failure:?}");
    assert_eq!(store.load(&key()).unwrap(), Some(json!({"n": 2})), "committed up to the last acknowledged record");
    let attempts =
        lts_requests(&server).await.iter().filter(|r| logs_of(r).iter().any(|l| l.contains("\"r3\""))).count();
    assert_eq!(attempts, 2, "r3's batch retried per retry_attempts");
}

#[tokio::test]
async fn crawler_advances_the_checkpoint_after_success() {
    let server = MockServer::start().await;
    intake_answers(&server, success(), 3).await;
    let mut config = config(&server, token_auth());
    config.delivery.batch_max_records = 2;
    config.delivery.linger = Duration::from_millis(50);
    let store = Arc::new(MemoryCheckpointStore::new());
    store.commit(&key(), &json!({"n": 1})).unwrap();
    let report = crawler(sink(config), store.clone(), 6).run_once().await;

    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].outcome, RunOutcome::CaughtUp);
    assert_eq!(report.delivered(), 5);
    assert_eq!(store.load(&key()).unwrap(), Some(json!({"n": 6})));
    let sent: Vec<String> = lts_requests(&server)
        .await
        .iter()
        .flat_map(logs_of)
        .map(|l| serde_json::from_str::<Value>(&l).unwrap()["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, vec!["r2", "r3", "r4", "r5", "r6"], "resumed after the stored cursor, every record once");
}

#[tokio::test]
async fn crawler_does_not_advance_on_a_fatal_failure() {
    let server = MockServer::start().await;
    intake_answers(
        &server,
        ResponseTemplate::new(403).set_body_json(json!({"errorCode": "SVCSTG.ALS.403.1", "error_msg": "Forbidden"})),
        1,
    )
    .await;
    let mut config = config(&server, token_auth());
    config.delivery.max_in_flight = 1;
    config.delivery.linger = Duration::from_millis(50);
    let store = Arc::new(MemoryCheckpointStore::new());
    store.commit(&key(), &json!({"n": 1})).unwrap();
    let report = crawler(sink(config), store.clone(), 4).run_once().await;
    let failure = report.failures().next().expect("failed").1.clone();
    assert!(failure.fatal, "{failure:?}");
    assert_eq!(store.load(&key()).unwrap(), Some(json!({"n": 1})), "checkpoint unchanged");
}
