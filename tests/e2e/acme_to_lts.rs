//! ACME simulator → Huawei LTS sink → wiremock: high-precision bodies, checkpoint only after success.

use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{body_json, checkpoint, crawler};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const GROUP: &str = "11111111-2222-3333-4444-555555555555";
const STREAM_ID: &str = "66666666-7777-8888-9999-000000000000";

fn config(acme: &str, lts: &str, state: &std::path::Path) -> String {
    format!(
        r#"
state_dir = "{state}"

[sinks.lts]
type = "lts"
endpoint = "{lts}"
project_id = "{PROJECT}"
log_group_id = "{GROUP}"
log_stream_id = "{STREAM_ID}"
retry_attempts = 2
retry_initial_delay = "10ms"
retry_max_delay = "20ms"
auth = {{ type = "token", token = "lts-e2e-token-abcdef" }}

[[sources]]
name = "acme-demo"
connector = "acme"
sink = "lts"
base_url = "{acme}"
"#,
        state = state.display()
    )
}

fn endpoint() -> String {
    format!("/v2/{PROJECT}/lts/groups/{GROUP}/streams/{STREAM_ID}/tenant/contents/high-accuracy")
}

#[tokio::test]
async fn records_arrive_with_their_own_times_and_the_checkpoint_follows() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 1500, ..AcmeSimConfig::default() }).await.unwrap();
    let lts = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint()))
        .and(header("x-auth-token", "lts-e2e-token-abcdef"))
        .and(header("content-type", "application/json;charset=UTF-8"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"errorCode": "SVCSTG.ALS.200.200", "error_msg": "Report success.", "result": null}),
            ),
        )
        .mount(&lts)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report = crawler(&config(&acme.base_url(), &lts.uri(), dir.path()), dir.path()).run_once().await;
    assert_eq!(report.delivered(), 1500);
    assert_eq!(checkpoint(dir.path(), "acme-demo", "ACME log stream"), Some(json!({"after": "000000001500", "v": 1})));

    let mut lines = Vec::new();
    for request in lts.received_requests().await.unwrap() {
        let body = body_json(&request);
        assert_eq!(body["labels"]["source"], "acme");
        for item in body["contents"].as_array().unwrap() {
            let log: serde_json::Value = serde_json::from_str(item["log"].as_str().unwrap()).unwrap();
            let ns = item["log_time_ns"].as_i64().unwrap();
            let seconds = log["timestamp"].as_f64().unwrap();
            assert!((ns as f64 / 1e9 - seconds).abs() < 1e-3, "{ns} vs {seconds}");
            lines.push(log["id"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (1..=1500).map(|i| format!("{i:012}")).collect();
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn a_failing_lts_leaves_no_checkpoint() {
    let acme = AcmeSim::start(AcmeSimConfig { events: 10, ..AcmeSimConfig::default() }).await.unwrap();
    let lts = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errorCode": "SVCSTG.ALS.500.500", "error_msg": "busy"})),
        )
        .mount(&lts)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report = crawler(&config(&acme.base_url(), &lts.uri(), dir.path()), dir.path()).run_once().await;
    assert_eq!(report.delivered(), 0);
    assert!(report.failures().next().is_some());
    assert_eq!(checkpoint(dir.path(), "acme-demo", "ACME log stream"), None);
}
