//! The ACME connector against wiremock (exact requests) and against the simulator (whole crawls).

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use logcrawl_acme::{AcmeConfig, HTTP_DEFAULTS, connector};
use logcrawl_core::ConfigError;
use logcrawl_core::config::{ComponentTable, HttpSettings};

/// The stream's name, part of every checkpoint key: a rename would orphan the stored checkpoints.
const STREAM_NAME: &str = "ACME log stream";
use logcrawl_core::{
    CheckpointStore, Connector, Crawler, FailureStage, LogStream, MemoryCheckpointStore, SecretString, Source,
    SourceMeta, StreamErrorKind, StreamKey,
};
use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use logcrawl_sink_file::{FileSink, FileSinkConfig};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// ACME's own keys and the shared HTTP settings of a source table, as the registry reads them.
fn read(table: &str) -> Result<(AcmeConfig, HttpSettings), ConfigError> {
    ComponentTable::split(&table.parse().unwrap(), HTTP_DEFAULTS)
}

fn config(base_url: &str) -> (AcmeConfig, HttpSettings) {
    read(&format!("base_url = \"{base_url}\"\npage_size = 2\napi_key = \"s3cr3t-key\"\ntimeout = \"5s\"")).unwrap()
}

fn event(id: u64) -> Value {
    json!({"id": format!("{id:012}"), "timestamp": "2026-11-22T10:00:00.123Z", "level": "info",
           "message": format!("event {id}"), "user": "alice", "action": "login", "ip": "10.0.0.1"})
}

fn stream((config, http): (AcmeConfig, HttpSettings)) -> Arc<dyn LogStream> {
    connector(config, &http).unwrap().streams().remove(0)
}

#[tokio::test]
async fn follows_pages_until_has_more_is_false_and_maps_fields() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/logs"))
        .and(query_param_is_missing("after"))
        .and(query_param("limit", "2"))
        .and(header("authorization", "Bearer s3cr3t-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [event(1), event(2)], "has_more": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/logs"))
        .and(query_param("after", "000000000002"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [event(3)], "has_more": false})))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<_> = stream(config(&server.uri())).records(None).try_collect().await.unwrap();
    assert_eq!(records.len(), 3);
    let first = &records[0];
    assert_eq!(first.message(), Some("event 1"));
    assert_eq!(first.data["status"], "info");
    assert_eq!(first.data["network"]["client"]["ip"], "10.0.0.1");
    assert_eq!(first.data["user"], "alice");
    assert!((first.timestamp().unwrap() - 1_795_341_600.123).abs() < 1e-3);
    assert_eq!(records[2].cursor_value(), Some(json!({"after": "000000000003", "v": 1})));
}

#[tokio::test]
async fn resumes_after_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("after", "000000000041"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [event(42)], "has_more": false})))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<_> =
        stream(config(&server.uri())).records(Some(json!({"after": "000000000041"}))).try_collect().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].message(), Some("event 42"));
}

#[tokio::test]
async fn a_malformed_page_is_an_error_naming_the_url_but_not_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"logs\": [{\"id\": 1"))
        .mount(&server)
        .await;
    let err = stream(config(&server.uri())).records(None).try_collect::<Vec<_>>().await.unwrap_err();
    let text = err.to_string();
    assert!(!err.is_fatal());
    assert!(text.contains("malformed response") && text.contains("/v1/logs"), "{text}");
    assert!(!text.contains("s3cr3t-key"), "{text}");
}

#[tokio::test]
async fn a_rejected_key_is_fatal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"error\":\"invalid API key\"}"))
        .expect(1)
        .mount(&server)
        .await;
    let err = stream(config(&server.uri())).records(None).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let (mut bad, http) = config("http://127.0.0.1:1");
    bad.page_size = Some(0);
    let err = connector(bad, &http).unwrap_err();
    assert!(err.to_string().starts_with("`page_size`:"), "{err}");
    let read = |extra: &str| read(&format!("base_url = \"http://x\"\n{extra}"));
    for (extra, key) in [
        ("pagesize = 3", "pagesize"),
        ("timeuot = \"5s\"", "timeuot"),
        ("timeout = \"soon\"", "timeout"),
        ("retry_attempts = 0", "retry_attempts"),
        ("linger = \"1s\"", "linger"),
    ] {
        let err = read(extra).unwrap_err();
        assert_eq!(err.key(), key, "{extra}: {err}");
    }
    assert!(read("pagesize = 3").unwrap_err().message().contains("or a shared setting: `timeout`"));
}

#[test]
fn the_shared_http_settings_keep_acmes_defaults() {
    let (config, http) = read("base_url = \"http://x\"").unwrap();
    assert_eq!(http.timeout, Duration::from_secs(30));
    assert_eq!(http.max_retry_wait, Duration::from_secs(300));
    assert_eq!(config.page_size, None, "1000, the API's largest page");
    assert!(config.api_key.is_none());
    let (_, set) = read("base_url = \"http://x\"\nrequests_per_second = 5").unwrap();
    assert_eq!(set.requests_per_second.map(|n| n.get()), Some(5));
}

#[tokio::test]
async fn crawls_the_simulator_to_ndjson_exactly_once_across_runs() {
    let sim = AcmeSim::start(AcmeSimConfig { events: 2500, api_key: Some("demo".into()), ..AcmeSimConfig::default() })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let store = Arc::new(MemoryCheckpointStore::new());
    let run = || {
        let mut config = config(&sim.base_url());
        config.0.page_size = Some(1000);
        config.0.api_key = Some(SecretString::from("demo"));
        let mut crawler = Crawler::new(store.clone());
        crawler.add_source(Source {
            meta: Arc::new(SourceMeta { name: "acme-demo".into(), ..SourceMeta::default() }),
            connector: Arc::new(connector(config.0, &config.1).unwrap()),
            sink: Arc::new(FileSink::new("out", FileSinkConfig { path: out.clone(), fsync: false }).unwrap()),
            interval: Duration::from_secs(15),
            batch: None,
            emit_errors: false,
        });
        crawler
    };
    assert_eq!(run().run_once().await.delivered(), 2500);
    assert_eq!(run().run_once().await.delivered(), 0);
    let lines = std::fs::read_to_string(&out).unwrap();
    let ids: Vec<String> =
        lines.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = (1..=2500).map(|i| format!("{i:012}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        store.load(&StreamKey::new("acme-demo", STREAM_NAME)).unwrap(),
        Some(json!({"after": "000000002500", "v": 1}))
    );
}

#[tokio::test]
async fn an_unreadable_cursor_is_a_checkpoint_error_and_sends_no_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let cases = [
        (json!({"after": 5}), "invalid type: integer `5`, expected a string"),
        (json!("x"), "a string, not a JSON object"),
        (json!({}), "missing field `after`"),
        (json!({"after": "1", "v": 2}), "cursor version 2 is newer"),
    ];
    for (cursor, what) in cases {
        let err =
            stream(config(&server.uri())).records(Some(cursor.clone())).try_collect::<Vec<_>>().await.unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{cursor}: {err}");
        let text = err.to_string();
        assert!(text.contains(what), "{cursor}: {text}");
    }
    // `expect(0)` is verified when the server drops; checked here so a failure names this test's line.
    server.verify().await;
}

#[tokio::test]
async fn the_crawler_stops_on_an_unreadable_cursor_without_fetching_or_moving_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let store = Arc::new(MemoryCheckpointStore::new());
    let key = StreamKey::new("acme-demo", STREAM_NAME);
    store.commit(&key, &json!({"after": 5})).unwrap();
    let mut crawler = Crawler::new(store.clone());
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "acme-demo".into(), ..SourceMeta::default() }),
        connector: Arc::new({
            let (config, http) = config(&server.uri());
            connector(config, &http).unwrap()
        }),
        sink: Arc::new(FileSink::new("out", FileSinkConfig { path: out.clone(), fsync: false }).unwrap()),
        interval: Duration::from_secs(15),
        batch: None,
        emit_errors: false,
    });
    let report = crawler.run_once().await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{report:?}");
    let (failed_key, failure) = failures[0];
    assert_eq!(failed_key, &key);
    assert_eq!(failure.stage, FailureStage::LoadCheckpoint);
    assert!(failure.fatal);
    assert!(
        failure.message.contains("acme-demo/ACME log stream") && failure.message.contains("integer `5`"),
        "{failure:?}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
    assert_eq!(store.load(&key).unwrap(), Some(json!({"after": 5})));
    server.verify().await;
}
