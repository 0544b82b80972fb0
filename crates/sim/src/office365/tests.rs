//! The simulator's contract, over HTTP.

use std::time::Duration;

use serde_json::Value;

use super::*;

async fn token(sim: &Office365Sim) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope={}/.default",
        sim.base_url()
    );
    let answer: Value = reqwest::Client::new()
        .post(sim.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn get(sim: &Office365Sim, token: &str, path_and_query: &str) -> (u16, Option<String>, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}{path_and_query}", sim.base_url())
    };
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let next = response.headers().get("NextPageUri").map(|v| v.to_str().unwrap().to_owned());
    (status, next, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

fn window(from: jiff::Timestamp, to: jiff::Timestamp) -> String {
    let f = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    format!("startTime={}&endTime={}", f(from), f(to))
}

#[tokio::test]
async fn every_record_is_in_exactly_one_listed_blob_of_its_content_type() {
    let now = jiff::Timestamp::now();
    let sim = Office365Sim::builder()
        .events(3000)
        .spacing(Duration::from_millis(100))
        .first_event_at(now - jiff::SignedDuration::from_mins(20))
        .page_blobs(7)
        .publish_delay(Duration::from_secs(30), Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    let token = token(&sim).await;
    let mut ids = std::collections::HashSet::new();
    let mut scrambled = false;
    let mut out_of_order = false;
    for kind in KINDS {
        let mut url = format!(
            "/api/v1.0/{TENANT}/activity/feed/subscriptions/content?contentType={kind}&{}&PublisherIdentifier=p",
            window(now - jiff::SignedDuration::from_hours(1), now)
        );
        let mut created = Vec::new();
        loop {
            let (status, next, blobs) = get(&sim, &token, &url).await;
            assert_eq!(status, 200, "{blobs}");
            for blob in blobs.as_array().unwrap() {
                assert_eq!(blob["contentType"], kind);
                let (status, _, records) = get(&sim, &token, blob["contentUri"].as_str().unwrap()).await;
                assert_eq!(status, 200);
                let times: Vec<&str> =
                    records.as_array().unwrap().iter().map(|r| r["CreationTime"].as_str().unwrap()).collect();
                created.push(times.iter().min().unwrap().to_string());
                scrambled |= !times.is_sorted();
                for record in records.as_array().unwrap() {
                    assert!(ids.insert(record["Id"].as_str().unwrap().to_owned()), "a record in two blobs");
                    assert!(!record["CreationTime"].as_str().unwrap().ends_with('Z'), "no zone");
                }
            }
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        let mut sorted = created.clone();
        sorted.sort();
        out_of_order |= created != sorted;
    }
    assert_eq!(ids.len(), 3000, "every record once");
    assert!(scrambled, "records inside blobs are in no time order");
    assert!(out_of_order, "jittered blobs are not listed in the order of their records");
    assert!(ids.contains(&record_id(0)) && ids.contains(&record_id(2999)));
    assert!(sim.publishers().contains(&"p".to_owned()), "{:?}", sim.publishers());
}

#[tokio::test]
async fn subscriptions_refusals_and_bounds() {
    let sim = Office365Sim::builder().events(10).unsubscribed().start().await.unwrap();
    let token = token(&sim).await;
    let content = format!("/api/v1.0/{TENANT}/activity/feed/subscriptions/content?contentType=Audit.Exchange");
    let (status, _, body) = get(&sim, &token, &content).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("AF20022")));
    let start =
        format!("{}/api/v1.0/{TENANT}/activity/feed/subscriptions/start?contentType=Audit.Exchange", sim.base_url());
    let answer = reqwest::Client::new().post(start).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(sim.subscription_starts(), 1);
    assert_eq!(get(&sim, &token, &content).await.0, 200);
    let (_, _, list) = get(&sim, &token, &format!("/api/v1.0/{TENANT}/activity/feed/subscriptions/list")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let now = jiff::Timestamp::now();
    for (query, code) in [
        (format!("startTime={}", now.strftime("%Y-%m-%dT%H:%M:%S")), "AF20030"),
        (window(now - jiff::SignedDuration::from_hours(25), now), "AF20030"),
        (
            window(now - jiff::SignedDuration::from_hours(24 * 8), now - jiff::SignedDuration::from_hours(24 * 7 + 20)),
            "AF20030",
        ),
        ("nextPage=zz".to_owned(), "AF20031"),
    ] {
        let (status, _, body) = get(&sim, &token, &format!("{content}&{query}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{query}");
    }
    let (status, _, body) = get(&sim, &token, &format!("/api/v1.0/{TENANT}/activity/feed/audit/nope")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("AF20050")));
    assert_eq!(get(&sim, "wrong", &content).await.0, 401);

    let denied = Office365Sim::builder().without_permission().start().await.unwrap();
    let token = super::tests::token(&denied).await;
    let (status, _, body) = get(&denied, &token, &content).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AF10001")));
}

#[tokio::test]
async fn late_blobs_are_listed_after_their_creation_and_throttling_answers_429() {
    let now = jiff::Timestamp::now();
    let sim = Office365Sim::builder()
        .events(500)
        .spacing(Duration::from_millis(200))
        .first_event_at(now - jiff::SignedDuration::from_mins(5))
        .publish_delay(Duration::ZERO, Duration::ZERO)
        .late_blobs(1, Duration::from_secs(3600))
        .throttle_one_in(3)
        .start()
        .await
        .unwrap();
    let token = token(&sim).await;
    let content = format!(
        "/api/v1.0/{TENANT}/activity/feed/subscriptions/content?contentType=Audit.General&{}",
        window(now - jiff::SignedDuration::from_hours(1), now)
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _, body) = get(&sim, &token, &content).await;
        statuses.push(status);
        if status == 200 {
            assert_eq!(body, serde_json::json!([]), "every blob is listed an hour late");
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1, "{statuses:?}");
    assert_eq!(sim.throttled(), 1);
    assert!(sim.blob_created_ms(3) <= now.as_millisecond());
}
