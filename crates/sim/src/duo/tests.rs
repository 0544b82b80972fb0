//! The simulated Duo over HTTP: pages, orders, offsets, the delay, signatures, permissions and 429s.

use super::*;
use serde_json::Value;

/// A signed `GET path?query` of `sim`, as Duo's clients send it.
async fn get(sim: &DuoSim, path: &str, query: &str) -> (u16, HeaderMap, Value) {
    let date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
    let auth = sim.credentials().authorization(&date, "GET", path, Some(query));
    let response = reqwest::Client::new()
        .get(format!("{}{path}?{query}", sim.base_url()))
        .header("date", &date)
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

fn window(sim: &DuoSim) -> String {
    let later = jiff::Timestamp::now().as_millisecond() + 60_000;
    format!("mintime={}&maxtime={later}", sim.authentication_ms(0))
}

fn ids(page: &Value, list: &str, id: &str) -> Vec<String> {
    page["response"][list].as_array().unwrap().iter().map(|e| e[id].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn authentication_pages_come_newest_first_through_next_offset_and_end_on_an_empty_page() {
    let sim = DuoSim::builder().events(6).delay(Duration::ZERO).start().await.unwrap();
    let path = "/admin/v2/logs/authentication";
    let (status, _, first) = get(&sim, path, &format!("{}&limit=3", window(&sim))).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["stat"], "OK");
    assert_eq!(ids(&first, "authlogs", "txid"), [sim.txid(5), sim.txid(4), sim.txid(3)]);
    assert_eq!(first["response"]["metadata"]["total_objects"], 6);
    let offset = &first["response"]["metadata"]["next_offset"];
    assert_eq!(offset[0], sim.authentication_ms(3).to_string());
    assert_eq!(offset[1], sim.txid(3));
    let next = format!("{}&limit=3&next_offset={},{}", window(&sim), offset[0].as_str().unwrap(), sim.txid(3));
    let (_, _, second) = get(&sim, path, &next).await;
    assert_eq!(ids(&second, "authlogs", "txid"), [sim.txid(2), sim.txid(1), sim.txid(0)]);
    // A full last page still hands out a next_offset: the query ends on an empty page.
    let offset = second["response"]["metadata"]["next_offset"][0].as_str().unwrap().to_owned();
    let last = format!("{}&limit=3&next_offset={offset},{}", window(&sim), sim.txid(0));
    let (_, _, third) = get(&sim, path, &last).await;
    assert!(ids(&third, "authlogs", "txid").is_empty());
    assert!(third["response"]["metadata"]["next_offset"].is_null());
    // Oldest first on request; a short page has no next_offset.
    let (_, _, asc) = get(&sim, path, &format!("{}&sort=ts:asc", window(&sim))).await;
    assert_eq!(ids(&asc, "authlogs", "txid"), (0..6).map(|i| sim.txid(i)).collect::<Vec<_>>());
    assert!(asc["response"]["metadata"]["next_offset"].is_null());
    let event: Value = serde_json::from_slice(&sim.render_authentication(4)).unwrap();
    assert_eq!(first["response"]["authlogs"][1], event, "render_authentication is what is served");
    assert_eq!(sim.events_served(), 12);
}

#[tokio::test]
async fn telephony_answers_items_and_a_string_offset() {
    let sim = DuoSim::builder().telephony(4, Duration::from_millis(2)).delay(Duration::ZERO).start().await.unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let (status, _, page) = get(&sim, "/admin/v2/logs/telephony", &format!("mintime=0&maxtime={now}&limit=2")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page, "items", "telephony_id"), [sim.telephony_id(3), sim.telephony_id(2)]);
    let offset = page["response"]["metadata"]["next_offset"].as_str().unwrap();
    assert!(offset.ends_with(&sim.telephony_id(2)), "{offset}");
    assert_eq!(page["response"]["metadata"]["total_objects"], serde_json::json!({"relation": "eq", "value": 4}));
}

#[tokio::test]
async fn the_administrator_log_answers_the_earliest_thousand_from_a_second_on() {
    let sim =
        DuoSim::builder().administrator(1500, Duration::from_millis(250)).delay(Duration::ZERO).start().await.unwrap();
    let path = "/admin/v1/logs/administrator";
    let (status, _, page) = get(&sim, path, "mintime=0").await;
    assert_eq!(status, 200, "{page}");
    let events = page["response"].as_array().unwrap();
    assert_eq!(events.len(), 1000);
    let seconds: Vec<i64> = events.iter().map(|e| e["timestamp"].as_i64().unwrap()).collect();
    assert!(seconds.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert_eq!(events[0], serde_json::from_slice::<Value>(&sim.render_administrator(0)).unwrap());
    // From the last second on: that second's events again (four a second), then the rest.
    let last = *seconds.last().unwrap();
    let (_, _, next) = get(&sim, path, &format!("mintime={last}")).await;
    let again = next["response"].as_array().unwrap();
    let repeated = seconds.iter().filter(|&&s| s == last).count();
    assert_eq!(again.len(), 500 + repeated);
    assert_eq!(&again[..repeated], &events[1000 - repeated..]);
}

#[tokio::test]
async fn events_younger_than_the_delay_are_not_served_and_appended_ones_are_new() {
    let sim = DuoSim::builder().events(10).first_event_at(jiff::Timestamp::now()).start().await.unwrap();
    let (_, _, page) = get(&sim, "/admin/v2/logs/authentication", &window(&sim)).await;
    assert!(ids(&page, "authlogs", "txid").is_empty(), "Duo's two minutes: {page}");
    let sim = DuoSim::builder().events(10).delay(Duration::from_millis(300)).start().await.unwrap();
    let before = jiff::Timestamp::now().as_millisecond();
    sim.append(5);
    assert_eq!(sim.totals().0, 15);
    assert!(sim.authentication_ms(10) >= before, "appended events happen from now on");
    let (_, _, page) = get(&sim, "/admin/v2/logs/authentication", &window(&sim)).await;
    assert_eq!(ids(&page, "authlogs", "txid").len(), 10, "not yet served");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, _, page) = get(&sim, "/admin/v2/logs/authentication", &window(&sim)).await;
    assert_eq!(ids(&page, "authlogs", "txid")[0], sim.txid(14));
}

#[tokio::test]
async fn bad_queries_are_400_and_refusals_say_duos_codes() {
    let sim = DuoSim::builder().events(3).delay(Duration::ZERO).inject_429([6]).start().await.unwrap();
    let path = "/admin/v2/logs/authentication";
    for query in [
        "mintime=5&maxtime=5",
        "maxtime=5",
        "mintime=1&maxtime=5&limit=1001",
        "mintime=1&maxtime=5&sort=up",
        "mintime=1&maxtime=5&next_offset=x",
    ] {
        let (status, _, body) = get(&sim, path, query).await;
        assert_eq!((status, body["code"].as_u64()), (400, Some(40002)), "{query}: {body}");
    }
    let (status, headers, body) = get(&sim, path, &window(&sim)).await;
    assert_eq!((status, body["code"].as_u64()), (429, Some(42901)), "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(sim.rate_limited(), 1);

    let unsigned = reqwest::get(format!("{}{path}?{}", sim.base_url(), window(&sim))).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = serde_json::from_slice(&unsigned.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], 40101);
    let date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
    let forged = Credentials { secret_key: "not the key".into(), ..sim.credentials().clone() };
    let forged = reqwest::Client::new()
        .get(format!("{}{path}?mintime=1&maxtime=5", sim.base_url()))
        .header("date", &date)
        .header("authorization", forged.authorization(&date, "GET", path, Some("mintime=1&maxtime=5")))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let body: Value = serde_json::from_slice(&forged.bytes().await.unwrap()).unwrap();
    assert_eq!((body["stat"].as_str(), body["code"].as_u64()), (Some("FAIL"), Some(40103)));
    assert_eq!(sim.refused_signatures(), 2);

    let locked = DuoSim::builder().without_read_log().start().await.unwrap();
    let (status, _, body) = get(&locked, "/admin/v1/logs/administrator", "mintime=0").await;
    assert_eq!((status, body["code"].as_u64(), body["message"].as_str()), (403, Some(40301), Some("Access forbidden")));
}

#[tokio::test]
async fn duo_serving_speed() {
    let sim = DuoSim::builder()
        .events(200_000)
        .spacing(Duration::from_micros(100))
        .delay(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (_, _, page) = get(&sim, "/admin/v2/logs/authentication", &format!("{}&limit=1000", window(&sim))).await;
    assert_eq!(ids(&page, "authlogs", "txid").len(), 1000);
    assert!(started.elapsed() < Duration::from_secs(2), "a page of 1000 took {:?}", started.elapsed());
}
