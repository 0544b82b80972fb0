//! The entra connector against wiremock: the exact requests it sends and the records it makes.

use std::sync::Arc;

use futures::TryStreamExt;
use logcrawl_core::config::{ComponentTable, HttpSettings};
use logcrawl_core::{ConfigError, Connector, LogStream, StreamErrorKind};
use logcrawl_entra::{EntraConfig, HTTP_DEFAULTS, connector};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "s3cr3t-entra-key";

/// The stream's name, part of every checkpoint key.
const STREAM_NAME: &str = "entra log stream";

/// The connector's own keys and the shared HTTP settings of a source table, as the registry reads them.
fn read(table: &str) -> Result<(EntraConfig, HttpSettings), ConfigError> {
    ComponentTable::split(&table.parse().unwrap(), HTTP_DEFAULTS)
}

fn config(base_url: &str) -> (EntraConfig, HttpSettings) {
    read(&format!("base_url = \"{base_url}\"\npage_size = 2\napi_key = \"{API_KEY}\"\ntimeout = \"5s\"")).unwrap()
}

fn event(id: u64) -> Value {
    json!({"id": format!("{id:012}"), "timestamp": "2026-11-22T10:00:00.123Z", "level": "info",
           "message": format!("event {id}"), "actor": "alice"})
}

fn stream((config, http): (EntraConfig, HttpSettings)) -> Arc<dyn LogStream> {
    connector(config, &http).unwrap().streams().remove(0)
}

#[tokio::test]
async fn follows_pages_until_has_more_is_false_and_maps_fields() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/logs"))
        .and(query_param_is_missing("after"))
        .and(query_param("limit", "2"))
        .and(header("authorization", format!("Bearer {API_KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [event(1), event(2)], "has_more": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/logs"))
        .and(query_param("after", "000000000002"))
        .and(query_param("limit", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [event(3)], "has_more": false})))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<_> = stream(config(&server.uri())).records(None).try_collect().await.unwrap();
    assert_eq!(records.len(), 3);
    let first = &records[0];
    assert_eq!(first.message(), Some("event 1"));
    assert_eq!(first.data["actor"], "alice");
    assert_eq!(first.data["id"], "000000000001");
    assert!((first.timestamp().unwrap() - 1_795_341_600.123).abs() < 1e-3);
    let cursors: Vec<_> = records.iter().map(|r| r.cursor_value().unwrap()).collect();
    let after = |id: &str| json!({"after": id, "v": 1});
    assert_eq!(cursors, [after("000000000001"), after("000000000002"), after("000000000003")]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn resumes_after_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/logs"))
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
async fn an_unreadable_cursor_is_a_checkpoint_error_and_sends_no_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let cases = [
        (json!({"after": 5}), "invalid type: integer `5`, expected a string"),
        (json!("x"), "a string, not a JSON object"),
        (json!({}), "missing field `after`"),
    ];
    for (cursor, what) in cases {
        let err =
            stream(config(&server.uri())).records(Some(cursor.clone())).try_collect::<Vec<_>>().await.unwrap_err();
        assert_eq!(err.kind(), StreamErrorKind::Checkpoint, "{cursor}: {err}");
        assert!(err.to_string().contains(what), "{cursor}: {err}");
    }
    server.verify().await;
}

#[tokio::test]
async fn an_empty_page_that_claims_more_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"logs": [], "has_more": true})))
        .expect(1)
        .mount(&server)
        .await;
    let err = stream(config(&server.uri())).records(None).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(err.to_string().contains("has_more is true on an empty page"), "{err}");
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
    assert!(text.contains("/v1/logs"), "{text}");
    assert!(!text.contains(API_KEY) && !format!("{err:?}").contains(API_KEY), "{text}");
}

#[tokio::test]
async fn a_rejected_key_is_fatal_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"error\":\"invalid API key\"}"))
        .expect(1)
        .mount(&server)
        .await;
    let err = stream(config(&server.uri())).records(None).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(!err.to_string().contains(API_KEY), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let (mut bad, http) = config("http://127.0.0.1:1");
    bad.page_size = Some(0);
    let err = connector(bad, &http).unwrap_err();
    assert!(err.to_string().starts_with("`page_size`:"), "{err}");
    let read = |extra: &str| read(&format!("base_url = \"http://x\"\n{extra}"));
    assert_eq!(read("pagesize = 3").unwrap_err().key(), "pagesize");
    assert_eq!(read("timeout = \"soon\"").unwrap_err().key(), "timeout", "a shared HTTP setting");
    let (own, http) = config("http://127.0.0.1:1");
    assert_eq!(connector(own, &http).unwrap().kind(), "entra");
    assert_eq!(stream(config("http://127.0.0.1:1")).name(), STREAM_NAME);
}
