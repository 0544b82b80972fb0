//! `logcrawl run --once` with a Duo source and a file sink over a simulated Duo account (every request's
//! signature verified): 50 000 authentications (five a millisecond, ten seconds of them), 3 000
//! administrator actions (ten a second) and 5 000 telephony events, all a minute old, delivered exactly
//! once; a second run adds nothing; events published between runs are delivered exactly once by the
//! next, once Duo's (simulated) delay and the settle lag have passed.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::duo::DuoSim;
use serde_json::Value;

use crate::support::{FileRun, assert_keeps};

const AUTHENTICATIONS: u64 = 50_000;
const ADMINISTRATOR: u64 = 3_000;
const TELEPHONY: u64 = 5_000;
const API_HOST: &str = "api-e2e00000.duosecurity.com";
const INTEGRATION_KEY: &str = "DIE2EINTEGRATIONKEY0";
const SECRET_KEY: &str = "e2eSecretKey00000000000000000000000000000";

/// The delivered lines of each log: authentication (`txid`), telephony (`telephony_id`), administrator.
fn split(lines: &[Value]) -> (Vec<&Value>, Vec<&Value>, Vec<&Value>) {
    let (mut auth, mut admin, mut phone) = (Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        if line.get("txid").is_some() && line.get("telephony_id").is_none() {
            auth.push(line);
        } else if line.get("telephony_id").is_some() {
            phone.push(line);
        } else {
            admin.push(line);
        }
    }
    (auth, admin, phone)
}

fn unique<'a>(lines: &[&'a Value], key: &str) -> HashSet<&'a str> {
    lines.iter().map(|line| line[key].as_str().expect("the key is a string")).collect()
}

fn rendered(raw: Vec<u8>, key: &str) -> String {
    serde_json::from_slice::<Value>(&raw).unwrap()[key].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_duo_event_exactly_once() {
    let sim = DuoSim::builder()
        .api_host(API_HOST)
        .integration_key(INTEGRATION_KEY)
        .token(SECRET_KEY)
        .events(AUTHENTICATIONS)
        .spacing(Duration::from_micros(200))
        .administrator(ADMINISTRATOR, Duration::from_millis(100))
        .telephony(TELEPHONY, Duration::from_millis(1))
        .delay(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let keys = format!(
        "api_host = \"{API_HOST}\"\nintegration_key = \"{INTEGRATION_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         base_url = \"{}\"\npage_size = 1000\ninitial_lookback = \"1h\"\nsettle_lag = \"1s\"\nrequests_per_second = 500",
        sim.base_url()
    );
    let crawl = FileRun::new("duo", "duo", &keys);
    crawl.run_once().await;
    let lines = crawl.lines();
    let (auth, admin, phone) = split(&lines);
    assert_eq!(
        (auth.len() as u64, admin.len() as u64, phone.len() as u64),
        (AUTHENTICATIONS, ADMINISTRATOR, TELEPHONY)
    );
    assert_eq!(unique(&auth, "txid").len() as u64, AUTHENTICATIONS, "duplicate authentications");
    assert_eq!(unique(&phone, "telephony_id").len() as u64, TELEPHONY, "duplicate telephony events");
    assert_eq!(unique(&admin, "description").len() as u64, ADMINISTRATOR, "duplicate administrator events");
    let txids = unique(&auth, "txid");
    for i in [0, 1, AUTHENTICATIONS / 2, AUTHENTICATIONS - 1] {
        assert!(txids.contains(sim.txid(i).as_str()), "authentication {i} missing");
    }
    // Each line is the whole event as Duo served it, plus the attributes logcrawl adds.
    let added = ["message", "status", "usr", "network", "evt"];
    for i in [0, AUTHENTICATIONS - 1] {
        let line = auth.iter().find(|l| l["txid"] == sim.txid(i).as_str()).unwrap();
        assert_keeps(line, &sim.render_authentication(i), &["timestamp"], &added);
        let ms = sim.authentication_ms(i) as f64;
        assert!((0.0..1.0).contains(&(line["timestamp"].as_f64().unwrap() * 1000.0 - ms)), "{}", line["timestamp"]);
    }
    let first = rendered(sim.render_administrator(0), "description");
    let line = admin.iter().find(|l| l["description"] == first.as_str()).unwrap();
    assert_keeps(line, &sim.render_administrator(0), &[], &added);
    let call = sim.telephony_id(TELEPHONY - 1);
    let line = phone.iter().find(|l| l["telephony_id"] == call.as_str()).unwrap();
    assert_keeps(line, &sim.render_telephony(TELEPHONY - 1), &[], &["message", "timestamp", "status", "evt"]);
    assert_eq!(sim.refused_signatures(), 0, "every request signed as Duo verifies");

    crawl.run_once().await;
    assert_eq!(crawl.lines().len(), lines.len(), "the second run re-delivered events");

    // New events, stamped from now on (the administrator ones 100 ms apart, over 1.1 s): delivered once
    // they happened, Duo's delay passed and, for the administrator log, their last second is settled.
    sim.append(777);
    sim.append_administrator(12);
    sim.append_telephony(55);
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    crawl.run_once().await;
    let all = crawl.lines();
    let (auth, admin, phone) = split(&all[lines.len()..]);
    let expected: HashSet<String> = (AUTHENTICATIONS..AUTHENTICATIONS + 777).map(|i| sim.txid(i)).collect();
    assert_eq!(unique(&auth, "txid").into_iter().map(str::to_owned).collect::<HashSet<_>>(), expected);
    assert_eq!(auth.len(), 777, "exactly the new authentications");
    let expected: HashSet<String> =
        (ADMINISTRATOR..ADMINISTRATOR + 12).map(|i| rendered(sim.render_administrator(i), "description")).collect();
    assert_eq!(unique(&admin, "description").into_iter().map(str::to_owned).collect::<HashSet<_>>(), expected);
    assert_eq!(admin.len(), 12, "exactly the new administrator events");
    assert_eq!(phone.len(), 55, "exactly the new telephony events");
    assert_eq!(unique(&phone, "telephony_id").len(), 55);
}
