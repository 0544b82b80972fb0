//! The Datadog sink against a wiremock intake: what is sent, how each status is handled, and the
//! crawler's checkpoint behaviour behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use logcrawl_core::HttpSettings;
use logcrawl_core::{
    Batch, BatchLimits, BuildContext, CheckpointStore, Connector, Crawler, Cursor, Delivery, FailureStage, LogRecord,
    LogStream, MemoryCheckpointStore, RecordStream, RunOutcome, SecretString, Sink, SinkErrorKind, Source, SourceMeta,
    StreamKey, now_seconds,
};
use logcrawl_sink_datadog::{Compression, DatadogConfig, DatadogSink, HTTP_DEFAULTS, TRUNCATED_KEY};
use logcrawl_testkit::{body_json, ndjson};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod hostile;
mod zstd;

const KEY: &str = "dd-api-key-0123456789abcdef";

/// The dead-letter file of sink `dd-test` in `state`.
fn letters_in(state: &std::path::Path) -> logcrawl_core::deadletter::DeadLetterFile {
    logcrawl_core::deadletter::DeadLetterFile::in_state_dir(state, "dd-test", 1 << 20)
}

/// The dead letters kept in `state`, parsed.
fn dead_letters(state: &std::path::Path) -> Vec<Value> {
    ndjson(&state.join("dead-letter/dd-test.ndjson"))
}

fn config(server: &MockServer) -> DatadogConfig {
    DatadogConfig {
        endpoint: Some(server.uri()),
        api_key: Some(SecretString::from(KEY)),
        http: HttpSettings {
            retry_initial_delay: Duration::from_millis(10),
            retry_max_delay: Duration::from_millis(50),
            max_retry_wait: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
            ..HTTP_DEFAULTS
        },
        ..DatadogConfig::default()
    }
}

fn context() -> BuildContext {
    BuildContext::new("dd-test")
}

fn sink_with(server: &MockServer, tweak: impl FnOnce(&mut DatadogConfig)) -> DatadogSink {
    let mut config = config(server);
    tweak(&mut config);
    DatadogSink::new(config, &context()).expect("valid config")
}

fn meta() -> Arc<SourceMeta> {
    Arc::new(SourceMeta {
        name: "acme-prod".into(),
        connector: "acme".into(),
        ddsource: "ACME".into(),
        service: "Acme-Audit".into(),
        tags: vec!["foo:bar".into(), "baz:qux".into(), "bare".into()],
        hostname: None,
    })
}

fn record(value: Value) -> LogRecord {
    let Value::Object(data) = value else { panic!("records are objects") };
    LogRecord::new(data)
}

fn batch(records: Vec<LogRecord>) -> Batch {
    Batch::new(meta(), Arc::from("audit"), records)
}

fn numbered(n: usize) -> Vec<LogRecord> {
    (0..n).map(|i| record(json!({"message": format!("event {i}"), "i": i, "timestamp": now_seconds()}))).collect()
}

/// The JSON array a request carried, gunzipped when it says so.
fn entries(request: &Request) -> Vec<Value> {
    body_json(request).as_array().expect("a JSON array").clone()
}

fn plain_len(request: &Request) -> usize {
    serde_json::to_vec(&entries(request)).unwrap().len()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({}))
}

async fn mount_accepting(server: &MockServer) {
    Mock::given(method("POST")).and(path("/api/v2/logs")).respond_with(accepted()).mount(server).await;
}

#[tokio::test]
async fn sends_gzipped_json_with_the_key_header() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    let delivery = sink.send(batch(numbered(3))).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(3));

    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/api/v2/logs");
    assert_eq!(request.url.query(), None, "nothing in the URL");
    assert_eq!(request.headers.get("dd-api-key").unwrap(), KEY);
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_eq!(request.headers.get("content-encoding").unwrap(), "gzip");
    assert!(request.headers.get("dd-application-key").is_none());
    assert_eq!(request.body[..2], [0x1f, 0x8b], "gzip magic");
    let messages: Vec<_> = entries(request).iter().map(|e| e["message"].clone()).collect();
    assert_eq!(messages, [json!("event 0"), json!("event 1"), json!("event 2")]);
}

#[tokio::test]
async fn compression_none_sends_plain_json() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |c| c.compression = Compression::None);
    sink.send(batch(numbered(2))).await.unwrap();
    let sent = requests(&server).await;
    assert!(sent[0].headers.get("content-encoding").is_none());
    assert_eq!(sent[0].body[0], b'[');
    assert_eq!(entries(&sent[0]).len(), 2);
}

#[tokio::test]
async fn maps_fields_like_send_log() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |c| {
        c.hostname = Some("crawler-1".into());
        c.tag_attributes = true;
    });
    let now = now_seconds();
    let delivery = sink
        .send(batch(vec![
            record(
                json!({"message": "one", "timestamp": now, "status": "warn", "ddsource": "mine", "service": "mine"}),
            ),
            record(json!({"status": "info", "note": "no message"})),
            record(json!({"message": "two", "ddtags": "bar:baz", "foo": "own"})),
        ]))
        .await
        .unwrap();
    assert_eq!(delivery, Delivery { accepted: 2, dropped: 1, dead_lettered: 0 });

    let sent = entries(&requests(&server).await[0]);
    assert_eq!(sent.len(), 2, "the record without a message is not sent");
    let expected_ms = (now * 1000.0) as i64;
    assert_eq!(sent[0]["timestamp"], json!(expected_ms));
    assert_eq!(sent[0]["status"], "warn");
    assert_eq!(sent[0]["ddsource"], "acme");
    assert_eq!(sent[0]["service"], "acme-audit");
    assert_eq!(sent[0]["hostname"], "crawler-1");
    assert_eq!(sent[0]["ddtags"], "baz:qux,foo:bar");
    assert_eq!(sent[0]["foo"], "bar", "tag as attribute");
    assert_eq!(sent[0]["baz"], "qux");
    assert_eq!(sent[1]["ddtags"], "bar:baz", "explicit ddtags kept as is");
    assert_eq!(sent[1]["foo"], "own", "a record's attribute beats a tag attribute");
    assert_eq!(sent[1]["ddsource"], "acme");
}

#[tokio::test]
async fn seed_timestamps_are_truncated_to_milliseconds() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    // Give the seed's timestamps as seconds relative to now, so they pass the 18-hour window; check the
    // exact seed conversions through the same path with fixed values in the unit tests.
    let base = now_seconds().floor();
    let records = vec![
        record(json!({"message": "a", "timestamp": base + 0.2842212})),
        record(json!({"message": "b", "timestamp": base + 0.2358432})),
        record(json!({"message": "c", "timestamp": base + 0.5963688})),
        record(json!({"message": "d", "timestamp": base as i64})),
    ];
    sink.send(batch(records)).await.unwrap();
    let sent = entries(&requests(&server).await[0]);
    let ms = base as i64 * 1000;
    let got: Vec<_> = sent.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert_eq!(got, [ms + 284, ms + 235, ms + 596, ms]);
}

#[tokio::test]
async fn splits_at_1000_entries() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    let delivery = sink.send(batch(numbered(2500))).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(2500));
    let sent = requests(&server).await;
    let mut sizes: Vec<_> = sent.iter().map(|r| entries(r).len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [500, 1000, 1000]);
    let mut seen: Vec<u64> = sent.iter().flat_map(entries).map(|e| e["i"].as_u64().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..2500).collect::<Vec<_>>());
}

#[tokio::test]
async fn splits_at_the_byte_limit() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    let blob = "x".repeat(100_000);
    let records: Vec<_> = (0..60).map(|i| record(json!({"message": blob, "i": i}))).collect();
    let delivery = sink.send(batch(records)).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(60));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2, "6 MB go in two requests");
    for request in &sent {
        assert!(plain_len(request) <= 4_250_000, "{}", plain_len(request));
        assert!(request.body.len() < 100_000, "and compressed");
    }
    let total: usize = sent.iter().map(|r| entries(r).len()).sum();
    assert_eq!(total, 60);
}

#[tokio::test]
async fn truncates_logs_over_1_mb() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    let message = "0123456789".repeat(150_000);
    let delivery = sink.send(batch(vec![record(json!({"message": message, "kept": true}))])).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(1));
    let request = &requests(&server).await[0];
    let sent = entries(request);
    let entry_len = serde_json::to_vec(&sent[0]).unwrap().len();
    assert!(entry_len <= 1_000_000 && entry_len > 999_000, "{entry_len}");
    assert_eq!(sent[0][TRUNCATED_KEY], true);
    assert_eq!(sent[0]["kept"], true);
    assert!(message.starts_with(sent[0]["message"].as_str().unwrap()));
}

/// Answers 413 to a request of more than 2 entries and accepts the rest: 8 entries take 7 requests,
/// 8 → 4 + 4 → 2 + 2 + 2 + 2.
async fn refuse_more_than_two_entries(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(
            |request: &Request| {
                if entries(request).len() > 2 { ResponseTemplate::new(413) } else { accepted() }
            },
        )
        .expect(7)
        .mount(server)
        .await;
}

#[tokio::test]
async fn splits_on_413() {
    let server = MockServer::start().await;
    refuse_more_than_two_entries(&server).await;
    let sink = sink_with(&server, |_| {});
    let delivery = sink.send(batch(numbered(8))).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(8));
    let delivered: Vec<u64> = requests(&server)
        .await
        .iter()
        .filter(|r| entries(r).len() <= 2)
        .flat_map(entries)
        .map(|e| e["i"].as_u64().unwrap())
        .collect();
    assert_eq!(delivered, (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn bisects_on_400_and_sets_aside_only_the_poisoned_entries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|request: &Request| {
            if entries(request).iter().any(|e| e["message"] == "POISON") {
                ResponseTemplate::new(400).set_body_json(json!({"errors": ["invalid entry"]}))
            } else {
                accepted()
            }
        })
        .mount(&server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let sink = sink_with(&server, |_| {}).with_dead_letters(letters_in(state.path()));
    let mut records = numbered(8);
    records[5] = record(json!({"message": "POISON", "i": 5}));
    let delivery = sink.send(batch(records)).await.unwrap();
    assert_eq!(delivery, Delivery { accepted: 7, dropped: 0, dead_lettered: 1 });
    // Set aside with the intake's reason, not lost.
    let letters = dead_letters(state.path());
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0]["entry"]["message"].as_str(), letters[0]["entry"]["i"].as_u64()), (Some("POISON"), Some(5)));
    assert!(letters[0]["reason"].as_str().unwrap().contains("invalid entry"), "{}", letters[0]);

    let sent = requests(&server).await;
    // 8 ✗ → 0-3 ✓, 4-7 ✗ → 4-5 ✗, 6-7 ✓ → 4 ✓, 5 ✗
    assert_eq!(sent.len(), 7);
    let mut accepted_ids: Vec<u64> = sent
        .iter()
        .map(entries)
        .filter(|batch| batch.iter().all(|e| e["message"] != "POISON"))
        .flatten()
        .map(|e| e["i"].as_u64().unwrap())
        .collect();
    accepted_ids.sort_unstable();
    assert_eq!(accepted_ids, [0, 1, 2, 3, 4, 6, 7], "every good entry exactly once");
}

#[tokio::test]
async fn retries_429_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |c| c.http.max_retry_wait = Duration::from_secs(5));
    let started = Instant::now();
    let delivery = sink.send(batch(numbered(2))).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(2));
    assert!(started.elapsed() >= Duration::from_millis(900), "waited only {:?}", started.elapsed());
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, sent[1].body, "the same payload is sent again");
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(408))
        .up_to_n_times(1)
        .with_priority(3)
        .mount(&server)
        .await;
    mount_accepting(&server).await;
    let sink = sink_with(&server, |_| {});
    let delivery = sink.send(batch(numbered(3))).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(3));
    assert_eq!(requests(&server).await.len(), 4);
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).expect(3).mount(&server).await;
    let sink = sink_with(&server, |c| c.http.retry_attempts = 3);
    let err = sink.send(batch(numbered(2))).await.unwrap_err();
    assert_eq!(err.kind(), SinkErrorKind::Retryable);
    let text = err.to_string();
    assert!(text.contains("3 attempts") && text.contains("500"), "{text}");
}

#[tokio::test]
async fn retry_after_longer_than_allowed_gives_up_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let sink = sink_with(&server, |_| {});
    let err = sink.send(batch(numbered(1))).await.unwrap_err();
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("3600"), "{err}");
}

#[tokio::test]
async fn rejected_key_is_fatal_and_not_retried() {
    for status in [401, 403] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"errors": ["Forbidden"]})))
            .expect(1)
            .mount(&server)
            .await;
        let sink = sink_with(&server, |_| {});
        let err = sink.send(batch(numbered(2))).await.unwrap_err();
        assert!(err.is_fatal(), "{status}: {err}");
        let text = err.to_string();
        assert!(text.contains(&server.uri()) && text.contains(&status.to_string()), "{text}");
        assert!(text.contains("api_key"), "{text}");
    }
}

#[tokio::test]
async fn records_outside_the_intake_window_are_dropped_unsent() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted()).expect(1).mount(&server).await;
    let sink = sink_with(&server, |_| {});
    let now = now_seconds();
    let delivery = sink
        .send(batch(vec![
            record(json!({"message": "too old", "timestamp": now - 19.0 * 3600.0})),
            record(json!({"message": "too new", "timestamp": now + 3.0 * 3600.0})),
            record(json!({"message": "fine", "timestamp": now - 17.0 * 3600.0})),
        ]))
        .await
        .unwrap();
    assert_eq!(delivery, Delivery { accepted: 1, dropped: 2, dead_lettered: 0 });
    let sent = entries(&requests(&server).await[0]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["message"], "fine");

    let only_old = sink.send(batch(vec![record(json!({"message": "x", "timestamp": now - 86400.0}))])).await.unwrap();
    assert_eq!(only_old, Delivery { accepted: 0, dropped: 1, dead_lettered: 0 }, "nothing left to send: no request");
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors() {
    // Sent where it belongs…
    let server = MockServer::start().await;
    let echo = format!("{{\"errors\":[\"key {KEY} is not valid\"]}}");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_string(echo.clone()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500).set_body_string(echo)).mount(&server).await;
    let sink = sink_with(&server, |c| c.http.retry_attempts = 2);
    let fatal = sink.send(batch(numbered(1))).await.unwrap_err();
    let exhausted = sink.send(batch(numbered(1))).await.unwrap_err();
    assert_eq!(requests(&server).await[0].headers.get("dd-api-key").unwrap(), KEY);

    // …and a connection that fails outright.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut unreachable = DatadogConfig { endpoint: Some(format!("http://127.0.0.1:{port}")), ..config(&server) };
    unreachable.http.retry_attempts = 2;
    let unreachable = DatadogSink::new(unreachable, &context()).unwrap();
    let network = unreachable.send(batch(numbered(1))).await.unwrap_err();

    let bad_key = DatadogSink::new(
        DatadogConfig { api_key: Some(SecretString::from(format!("{KEY}\u{1}"))), ..config(&server) },
        &context(),
    );
    let bad_site = DatadogSink::new(DatadogConfig { endpoint: None, site: "x".into(), ..config(&server) }, &context());

    let texts = [
        fatal.to_string(),
        format!("{fatal:?}"),
        exhausted.to_string(),
        network.to_string(),
        format!("{sink:?}"),
        format!("{:?}", config(&server)),
        bad_key.map(|_| ()).unwrap_err().to_string(),
        bad_site.map(|_| ()).unwrap_err().to_string(),
    ];
    assert!(fatal.is_fatal() && !exhausted.is_fatal() && !network.is_fatal());
    assert!(texts[0].contains("is not valid"), "the intake's reason is kept: {}", texts[0]);
    assert!(texts[3].contains("127.0.0.1"), "{}", texts[3]);
    for text in texts {
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

// ---- the crawler in front of the sink ----

/// Records `after cursor .. upto`, each with cursor `{"n": i}`.
struct Numbers {
    upto: Arc<AtomicU64>,
    timestamp_offset: f64,
}

impl LogStream for Numbers {
    fn name(&self) -> &str {
        "events"
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        let start = cursor.and_then(|c| c["n"].as_u64()).map_or(1, |n| n + 1);
        let upto = self.upto.load(Ordering::SeqCst);
        let offset = self.timestamp_offset;
        Box::pin(futures::stream::iter((start..=upto).map(move |n| {
            let Value::Object(data) =
                json!({"message": format!("event {n}"), "n": n, "timestamp": now_seconds() + offset})
            else {
                unreachable!()
            };
            Ok(LogRecord::new(data).with_cursor(json!({"n": n})))
        })))
    }
}

struct Numbered(Arc<Numbers>);

impl Connector for Numbered {
    fn kind(&self) -> &str {
        "numbers"
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![self.0.clone()]
    }
}

struct Setup {
    crawler: Crawler,
    store: Arc<MemoryCheckpointStore>,
    upto: Arc<AtomicU64>,
}

fn crawler(server: &MockServer, records: u64, batch_size: usize, timestamp_offset: f64) -> Setup {
    let store = Arc::new(MemoryCheckpointStore::new());
    let upto = Arc::new(AtomicU64::new(records));
    let stream = Arc::new(Numbers { upto: upto.clone(), timestamp_offset });
    // One request in flight: when a run fails, no abandoned request of it can still reach the intake
    // after the test has reset it (hyper finishes writing a request whose future was dropped), so every
    // request a test sees belongs to the run it inspects.
    let sink: Arc<dyn Sink> = Arc::new(sink_with(server, |c| {
        c.http.retry_attempts = 2;
        c.delivery.max_in_flight = 1;
    }));
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: meta(),
        connector: Arc::new(Numbered(stream)),
        sink,
        interval: Duration::from_secs(60),
        batch: Some(BatchLimits { max_records: batch_size, linger: Duration::from_millis(100) }),
        emit_errors: false,
    });
    Setup { crawler, store, upto }
}

fn committed(store: &MemoryCheckpointStore) -> Option<Cursor> {
    store.load(&StreamKey::new("acme-prod", "events")).unwrap()
}

#[tokio::test]
async fn crawler_commits_only_what_the_intake_accepted() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let setup = crawler(&server, 5, 2, 0.0);

    let report = setup.crawler.run_once().await;
    assert_eq!(report.runs[0].outcome, RunOutcome::CaughtUp);
    assert_eq!(report.delivered(), 5);
    assert_eq!(committed(&setup.store), Some(json!({"n": 5})));
    let mut sent: Vec<u64> =
        requests(&server).await.iter().flat_map(entries).map(|e| e["n"].as_u64().unwrap()).collect();
    sent.sort_unstable();
    assert_eq!(sent, [1, 2, 3, 4, 5]);

    // The intake fails from now on: the next records are retried, given up, and the cursor stays.
    server.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    setup.upto.store(9, Ordering::SeqCst);
    let report = setup.crawler.run_once().await;
    let RunOutcome::Failed(failure) = &report.runs[0].outcome else { panic!("{:?}", report.runs[0]) };
    assert_eq!(failure.stage, FailureStage::Send);
    assert!(!failure.fatal);
    assert_eq!(committed(&setup.store), Some(json!({"n": 5})));
    let sent = requests(&server).await;
    assert!(sent.len() >= 2, "retried: {}", sent.len());
    assert!(sent.iter().flat_map(entries).all(|e| e["n"].as_u64().unwrap() > 5), "resumed after the commit");

    // Back up: the next run re-sends from the last commit.
    server.reset().await;
    mount_accepting(&server).await;
    let report = setup.crawler.run_once().await;
    assert_eq!(report.runs[0].outcome, RunOutcome::CaughtUp);
    assert_eq!(committed(&setup.store), Some(json!({"n": 9})));
    let mut sent: Vec<u64> =
        requests(&server).await.iter().flat_map(entries).map(|e| e["n"].as_u64().unwrap()).collect();
    sent.sort_unstable();
    assert_eq!(sent, [6, 7, 8, 9]);
}

#[tokio::test]
async fn crawler_commits_up_to_the_last_accepted_batch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|request: &Request| {
            if entries(request).iter().all(|e| e["n"].as_u64().unwrap() <= 2) {
                accepted()
            } else {
                ResponseTemplate::new(503)
            }
        })
        .mount(&server)
        .await;
    let setup = crawler(&server, 6, 2, 0.0);
    let report = setup.crawler.run_once().await;
    assert!(matches!(&report.runs[0].outcome, RunOutcome::Failed(f) if f.stage == FailureStage::Send && !f.fatal));
    assert_eq!(committed(&setup.store), Some(json!({"n": 2})), "first batch accepted, the second not");
}

#[tokio::test]
async fn crawler_stops_on_a_rejected_key_without_committing() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(403)).expect(1).mount(&server).await;
    let setup = crawler(&server, 3, 1000, 0.0);
    let report = setup.crawler.run_once().await;
    let RunOutcome::Failed(failure) = &report.runs[0].outcome else { panic!("{:?}", report.runs[0]) };
    assert!(failure.fatal, "{failure:?}");
    assert!(failure.message.contains("403") && !failure.message.contains(KEY), "{}", failure.message);
    assert_eq!(committed(&setup.store), None);
}

#[tokio::test]
async fn crawler_skips_records_too_old_for_the_intake() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted()).expect(0).mount(&server).await;
    let setup = crawler(&server, 4, 2, -19.0 * 3600.0);
    let report = setup.crawler.run_once().await;
    assert_eq!(report.runs[0].outcome, RunOutcome::CaughtUp);
    assert_eq!(report.runs[0].skipped, 4);
    assert_eq!(report.delivered(), 0);
    assert_eq!(committed(&setup.store), Some(json!({"n": 4})), "skipped records are handled, not pending");
}
