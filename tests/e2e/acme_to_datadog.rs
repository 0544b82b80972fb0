//! ACME simulator → Datadog sink → wiremock intake: the checkpoint moves only after a 202.

use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{body_json, checkpoint, crawler};

const STREAM: &str = "ACME log stream";

fn config(acme: &str, intake: &str, state: &std::path::Path) -> String {
    format!(
        r#"
state_dir = "{state}"

[sinks.dd]
type = "datadog"
endpoint = "{intake}"
api_key = "dd-e2e-api-key-0123456789"
retry_attempts = 2
retry_initial_delay = "10ms"
retry_max_delay = "20ms"

[[sources]]
name = "acme-demo"
connector = "acme"
sink = "dd"
tags = ["env:e2e", "team:sec"]
base_url = "{acme}"
"#,
        state = state.display()
    )
}

#[tokio::test]
async fn every_event_reaches_the_intake_and_the_checkpoint_follows_the_202s() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 2500, ..AcmeSimConfig::default() }).await.unwrap();
    let intake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/logs"))
        .and(header("dd-api-key", "dd-e2e-api-key-0123456789"))
        .respond_with(ResponseTemplate::new(202).set_body_string("{}"))
        .mount(&intake)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report = crawler(&config(&acme.base_url(), &intake.uri(), dir.path()), dir.path()).run_once().await;
    assert_eq!(report.delivered(), 2500);
    assert_eq!(checkpoint(dir.path(), "acme-demo", STREAM), Some(json!({"after": "000000002500", "v": 1})));

    let requests = intake.received_requests().await.unwrap();
    let entries: Vec<serde_json::Value> =
        requests.iter().flat_map(|r| body_json(r).as_array().unwrap().clone()).collect();
    assert_eq!(entries.len(), 2500);
    // Requests go out concurrently (max_in_flight), so they may reach the intake in any order.
    let mut ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2500, "every event exactly once");
    let first = entries.iter().find(|e| e["id"] == "000000000001").expect("the first event");
    assert_eq!(first["ddsource"], "acme");
    assert_eq!(first["service"], "acme");
    assert_eq!(first["ddtags"], "env:e2e,team:sec");
    assert_eq!(first["id"], "000000000001");
    assert!(first["timestamp"].is_i64(), "milliseconds: {first}");
}

#[tokio::test]
async fn an_intake_failure_leaves_the_checkpoint_at_the_last_202() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 2500, ..AcmeSimConfig::default() }).await.unwrap();
    let intake = MockServer::start().await;
    // The first request is accepted; everything after fails, past the sink's retries.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&intake)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&intake).await;
    let dir = tempfile::tempdir().unwrap();
    let toml =
        config(&acme.base_url(), &intake.uri(), dir.path()).replace("[sinks.dd]", "[sinks.dd]\nmax_in_flight = 1");
    let report = crawler(&toml, dir.path()).run_once().await;
    assert_eq!(report.delivered(), 1000);
    assert!(report.failures().next().is_some());
    assert_eq!(checkpoint(dir.path(), "acme-demo", STREAM), Some(json!({"after": "000000001000", "v": 1})));
}

#[tokio::test]
async fn a_rejected_api_key_commits_nothing() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 100, ..AcmeSimConfig::default() }).await.unwrap();
    let intake = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(403)).expect(1).mount(&intake).await;
    let dir = tempfile::tempdir().unwrap();
    let report = crawler(&config(&acme.base_url(), &intake.uri(), dir.path()), dir.path()).run_once().await;
    let (_, failure) = report.failures().next().expect("failed");
    assert!(failure.fatal);
    assert!(!failure.message.contains("dd-e2e-api-key-0123456789"), "{}", failure.message);
    assert_eq!(checkpoint(dir.path(), "acme-demo", STREAM), None);
}

#[tokio::test]
async fn a_record_the_intake_refuses_alone_goes_to_the_dead_letter_file_and_the_crawl_goes_on() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 50, ..AcmeSimConfig::default() }).await.unwrap();
    let intake = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|request: &wiremock::Request| {
            let entries = body_json(request);
            if entries.as_array().unwrap().iter().any(|e| e["id"] == "000000000007") {
                ResponseTemplate::new(400).set_body_string(r#"{"errors":["invalid attribute"]}"#)
            } else {
                ResponseTemplate::new(202).set_body_string("{}")
            }
        })
        .mount(&intake)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report = crawler(&config(&acme.base_url(), &intake.uri(), dir.path()), dir.path()).run_once().await;
    assert_eq!(report.failures().count(), 0);
    assert_eq!((report.delivered(), report.totals[0].dead_lettered), (49, 1));
    assert_eq!(checkpoint(dir.path(), "acme-demo", STREAM), Some(json!({"after": "000000000050", "v": 1})));
    let letters = crate::support::ndjson(&dir.path().join("dead-letter/dd.ndjson"));
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["entry"]["id"], "000000000007");
    assert_eq!((letters[0]["sink"].as_str(), letters[0]["stream"].as_str()), (Some("dd"), Some(STREAM)));
    assert!(letters[0]["reason"].as_str().unwrap().contains("invalid attribute"), "{}", letters[0]);
}
