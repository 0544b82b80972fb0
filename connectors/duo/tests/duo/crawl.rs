//! The Duo connector against the Duo simulator, which verifies every signature: each log crawled once,
//! runs stopped anywhere resumed exactly, Duo's delay respected, and its refusals stopping the source.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_core::{BuildContext, Connector, StreamErrorKind};
use logcrawl_duo::DuoConnector;
use logcrawl_sim::duo::{DuoSim, DuoSimBuilder};
use logcrawl_testkit::{Drained, drain};
use serde_json::Value;

use super::{API_HOST, INTEGRATION_KEY, SECRET_KEY};

fn sim() -> DuoSimBuilder {
    DuoSim::builder().api_host(API_HOST).integration_key(INTEGRATION_KEY).token(SECRET_KEY)
}

fn connector(sim: &DuoSim, extra: &str) -> DuoConnector {
    let text = format!(
        "api_host = \"{API_HOST}\"\nintegration_key = \"{INTEGRATION_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         base_url = \"{}\"\npage_size = 400\nrequests_per_second = 1000\nretry_initial_delay = \"10ms\"\n\
         retry_max_delay = \"40ms\"\n{extra}",
        sim.base_url()
    );
    DuoConnector::from_table(&text.parse().expect("TOML"), &BuildContext::new("duo")).expect("a valid configuration")
}

async fn stream_run(connector: &DuoConnector, name: &str, cursor: Option<Value>) -> Drained {
    let streams = connector.streams();
    let stream = streams.iter().find(|s| s.name() == name).expect("the stream is configured");
    drain(stream.as_ref(), cursor).await
}

/// What identifies a delivered event of `stream`: its id, or the administrator event's change number.
fn key_of(stream: &str, record: &Value) -> String {
    match stream {
        "authentication" => record["txid"].as_str().unwrap().to_owned(),
        "telephony" => record["telephony_id"].as_str().unwrap().to_owned(),
        _ => record["description"].as_str().unwrap().to_owned(),
    }
}

fn keys(stream: &str, drained: &Drained) -> Vec<String> {
    drained.logs().map(|r| key_of(stream, &r.to_value().unwrap())).collect()
}

fn expected(sim: &DuoSim, stream: &str, range: std::ops::Range<u64>) -> HashSet<String> {
    range
        .map(|i| {
            let raw = match stream {
                "authentication" => sim.render_authentication(i),
                "telephony" => sim.render_telephony(i),
                _ => sim.render_administrator(i),
            };
            key_of(stream, &serde_json::from_slice(&raw).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_is_crawled_once_signed_as_duo_verifies() {
    let sim = sim()
        .events(3000)
        .spacing(Duration::from_micros(700))
        .administrator(1500, Duration::from_millis(250))
        .telephony(900, Duration::from_millis(3))
        .delay(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let connector = connector(&sim, "settle_lag = \"0s\"\ninitial_lookback = \"1h\"");
    for (stream, total) in [("authentication", 3000), ("administrator", 1500), ("telephony", 900)] {
        let drained = stream_run(&connector, stream, None).await;
        assert!(drained.error.is_none(), "{stream}: {:?}", drained.error);
        let delivered = keys(stream, &drained);
        assert_eq!(delivered.len() as u64, total, "{stream}");
        assert_eq!(delivered.iter().cloned().collect::<HashSet<_>>(), expected(&sim, stream, 0..total), "{stream}");
        // Nothing new: the next run delivers nothing.
        let again = stream_run(&connector, stream, drained.last_cursor()).await;
        assert!(again.error.is_none() && again.logs().next().is_none(), "{stream}: {:?}", keys(stream, &again));
    }
    assert_eq!(sim.refused_signatures(), 0);
    assert!(sim.requests() > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_at_any_record_resumes_with_no_duplicate_and_no_gap() {
    let sim = sim()
        .events(1200)
        .spacing(Duration::from_micros(300))
        .administrator(1200, Duration::from_millis(200))
        .delay(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let connector = connector(
        &sim,
        "settle_lag = \"0s\"\ninitial_lookback = \"1h\"\nstreams = [\"authentication\", \"administrator\"]",
    );
    for stream in ["authentication", "administrator"] {
        let whole = stream_run(&connector, stream, None).await;
        let all = keys(stream, &whole);
        let records: Vec<_> = whole.logs().collect();
        for stop in [0, 1, 399, 400, 401, 777, 999, 1000, 1001, records.len() - 2] {
            let Some(cursor) = records[stop].cursor_value() else { continue };
            let rest = stream_run(&connector, stream, Some(cursor)).await;
            assert!(rest.error.is_none(), "{stream} from {stop}: {:?}", rest.error);
            let mut resumed = all[..=stop].to_vec();
            resumed.extend(keys(stream, &rest));
            let unique: HashSet<&String> = resumed.iter().collect();
            assert_eq!(unique.len(), all.len(), "{stream} stopped after record {stop}: a gap");
            assert_eq!(resumed.len(), all.len(), "{stream} stopped after record {stop}: a duplicate");
        }
    }
}

#[tokio::test]
async fn duos_delay_is_waited_for_and_new_events_come_once_settled() {
    let sim = sim().events(50).delay(Duration::from_millis(800)).start().await.unwrap();
    let connector =
        connector(&sim, "settle_lag = \"800ms\"\ninitial_lookback = \"1h\"\nstreams = [\"authentication\"]");
    let first = stream_run(&connector, "authentication", None).await;
    assert_eq!(keys("authentication", &first).len(), 50);
    sim.append(20);
    let early = stream_run(&connector, "authentication", first.last_cursor()).await;
    let cursor = early.last_cursor().or(first.last_cursor());
    assert!(keys("authentication", &early).is_empty(), "not yet available, not yet asked for");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let settled = stream_run(&connector, "authentication", cursor).await;
    let new: HashSet<String> = keys("authentication", &settled).into_iter().collect();
    assert_eq!(new, expected(&sim, "authentication", 50..70), "exactly the new events");
}

#[tokio::test]
async fn the_simulators_refusals_stop_the_source_with_what_to_fix() {
    let wrong = sim().token("another secret").delay(Duration::ZERO).start().await.unwrap();
    let drained = stream_run(&connector(&wrong, "settle_lag = \"0s\""), "authentication", None).await;
    let err = drained.error.expect("refused");
    assert_eq!(err.kind(), StreamErrorKind::Fatal);
    assert!(err.to_string().contains("40103") && err.to_string().contains("`secret_key`"), "{err}");
    assert_eq!(wrong.refused_signatures(), 1, "sent once");

    let locked = sim().without_read_log().start().await.unwrap();
    for stream in ["authentication", "administrator", "telephony"] {
        let drained = stream_run(&connector(&locked, "settle_lag = \"0s\""), stream, None).await;
        let err = drained.error.expect("refused");
        assert_eq!(err.kind(), StreamErrorKind::Fatal, "{stream}");
        assert!(
            err.to_string().contains("Grant read log") && err.to_string().contains(&format!("{stream} log")),
            "{err}"
        );
    }
}
