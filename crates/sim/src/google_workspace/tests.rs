//! The simulated customer against its contract: pages, time bounds, page tokens, assertions, refusals,
//! quota errors, lag.

use super::*;
use serde_json::{Value, json};

fn start() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000).unwrap()
}

fn sim() -> GoogleWorkspaceSimBuilder {
    GoogleWorkspaceSim::builder()
        .first_event_at(start())
        .spacing(Duration::from_millis(10))
        .rate_limit(10_000, Duration::from_secs(1))
}

fn assertion(sim: &GoogleWorkspaceSim, key: &str, kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let now = jiff::Timestamp::now().as_second();
    let mut all = json!({"iss": CLIENT_EMAIL, "sub": SUBJECT, "scope": SCOPE, "aud": sim.token_url(), "iat": now, "exp": now + 3600});
    for (name, value) in claims.as_object().unwrap() {
        all[name] = value.clone();
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &all, &key).unwrap()
}

async fn post_token(sim: &GoogleWorkspaceSim, grant: &str, assertion: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(sim.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={}&assertion={assertion}", grant.replace(':', "%3A")))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

async fn token(sim: &GoogleWorkspaceSim) -> String {
    let (status, body) =
        post_token(sim, GRANT_TYPE, &assertion(sim, TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let lifetime = sim.shared.settings.token_lifetime.as_secs();
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(lifetime)));
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(sim: &GoogleWorkspaceSim, bearer: &str, application: &str, query: &str) -> (u16, Value) {
    let url = format!("{}/admin/reports/v1/activity/users/all/applications/{application}?{query}", sim.base_url());
    let response = reqwest::Client::new().get(url).bearer_auth(bearer).send().await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

fn at(i: u64) -> String {
    jiff::Timestamp::from_millisecond(start().as_millisecond() + i as i64 * 10).unwrap().to_string()
}

fn indices(body: &Value) -> Vec<u64> {
    let base = start().as_millisecond();
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let at: jiff::Timestamp = item["id"]["time"].as_str().unwrap().parse().unwrap();
                    ((at.as_millisecond() - base) / 10) as u64
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn pages_are_newest_first_with_page_tokens_and_inclusive_bounds() {
    let sim = sim().events(100).start().await.unwrap();
    let bearer = token(&sim).await;
    let query = format!("startTime={}&endTime={}&maxResults=3", at(10), at(40));
    let (status, first) = get(&sim, &bearer, "login", &query).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "admin#reports#activities");
    assert_eq!(indices(&first), [40, 33, 32], "newest first, endTime inclusive");
    let mut all = indices(&first);
    let mut next = first["nextPageToken"].as_str().map(str::to_owned);
    while let Some(token) = next {
        let (status, page) = get(&sim, &bearer, "login", &format!("{query}&pageToken={token}")).await;
        assert_eq!(status, 200, "{page}");
        all.extend(indices(&page));
        next = page["nextPageToken"].as_str().map(str::to_owned);
    }
    let expected: Vec<u64> = (10..=40).rev().filter(|i| application_of(*i) == "login").collect();
    assert_eq!(all, expected, "startTime inclusive too");
    let item = &first["items"][0];
    assert_eq!(item["id"]["applicationName"], "login");
    assert_eq!(item["id"]["customerId"], CUSTOMER_ID);
    assert_eq!(item["events"][0]["type"], "login");
    assert!(item["id"]["uniqueQualifier"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(serde_json::from_slice::<Value>(&sim.render_event(40)).unwrap(), *item);
}

#[tokio::test]
async fn empty_pages_have_no_items_and_bad_queries_are_400() {
    let sim = sim().events(100).start().await.unwrap();
    let bearer = token(&sim).await;
    let (status, empty) = get(&sim, &bearer, "calendar", "").await;
    assert_eq!(status, 200);
    assert!(empty.get("items").is_none() && empty.get("nextPageToken").is_none(), "{empty}");
    let (_, none) = get(&sim, &bearer, "drive", &format!("startTime={}&endTime={}", at(7), at(8))).await;
    assert!(none.get("items").is_none(), "{none}");
    for (application, query) in [
        ("nope", String::new()),
        ("login", "maxResults=0".into()),
        ("login", "maxResults=1001".into()),
        ("login", "pageToken=forged".into()),
        ("login", "customerId=C999".into()),
        ("login", "startTime=yesterday".into()),
        ("login", format!("startTime={}&endTime={}", at(5), at(5))),
    ] {
        let (status, body) = get(&sim, &bearer, application, &query).await;
        assert_eq!(status, 400, "{application}?{query}: {body}");
        assert_eq!(body["error"]["code"], 400);
    }
    let (status, _) = get(&sim, &bearer, "login", &format!("customerId={CUSTOMER_ID}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unique_qualifiers_repeat_but_keys_do_not() {
    let sim = sim().events(40).start().await.unwrap();
    assert_eq!(unique_qualifier(0), unique_qualifier(10));
    assert_ne!(unique_qualifier(0), unique_qualifier(20));
    let keys: std::collections::HashSet<String> = (0..40).map(|i| sim.event_key(i)).collect();
    assert_eq!(keys.len(), 40);
    assert_eq!((count("login", 40), count("drive", 40), count("saml", 41)), (16, 12, 4));
}

#[tokio::test]
async fn assertions_are_verified_and_refusals_say_why() {
    let sim = sim().start().await.unwrap();
    let now = jiff::Timestamp::now().as_second();
    for (key, kid, claims, status, error) in [
        (OTHER_TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({}), 400, "Invalid JWT Signature."),
        (TEST_PRIVATE_KEY, "other-key-id", json!({}), 400, "Invalid JWT Signature."),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"sub": "someone@example.com"}), 400, "Invalid email or User ID"),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"iss": "x@y.iam.gserviceaccount.com"}), 400, "account not found"),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"aud": "https://elsewhere/token"}), 400, "audience"),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"exp": now + 7200}), 400, "short-lived"),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"iat": now - 4000, "exp": now - 400}), 400, "short-lived"),
        (TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({"scope": "openid"}), 401, "unauthorized_client"),
    ] {
        let (got, body) = post_token(&sim, GRANT_TYPE, &assertion(&sim, key, kid, claims.clone())).await;
        assert_eq!(got, status, "{claims}: {body}");
        assert!(body.to_string().contains(error), "{claims}: {body}");
    }
    let (status, body) = post_token(&sim, "client_credentials", "x").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    assert_eq!(sim.token_requests(), 9);
    assert_eq!(sim.assertions().len(), 8, "the one without the grant type is not recorded");

    let undelegated = sim_with(GoogleWorkspaceSim::builder().without_delegation()).await;
    let good = assertion(&undelegated, TEST_PRIVATE_KEY, PRIVATE_KEY_ID, json!({}));
    let (status, body) = post_token(&undelegated, GRANT_TYPE, &good).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized_client")));
}

async fn sim_with(builder: GoogleWorkspaceSimBuilder) -> GoogleWorkspaceSim {
    builder.start().await.unwrap()
}

#[tokio::test]
async fn tokens_expire_and_lists_refuse_without_one() {
    let sim = sim().token_lifetime(Duration::from_millis(300)).start().await.unwrap();
    let bearer = token(&sim).await;
    assert_eq!(get(&sim, &bearer, "login", "").await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = get(&sim, &bearer, "login", "").await;
    assert_eq!((status, body["error"]["errors"][0]["reason"].as_str()), (401, Some("authError")));
    let fresh = token(&sim).await;
    sim.revoke_tokens();
    assert_eq!(get(&sim, &fresh, "login", "").await.0, 401);
    let forbidden = sim_with(sim_builder_without_permission()).await;
    let bearer = token(&forbidden).await;
    let (status, body) = get(&forbidden, &bearer, "admin", "").await;
    assert_eq!((status, body["error"]["errors"][0]["reason"].as_str()), (403, Some("forbidden")));
}

fn sim_builder_without_permission() -> GoogleWorkspaceSimBuilder {
    sim().without_permission()
}

#[tokio::test]
async fn quota_errors_come_as_403s_with_reasons_and_planted_429s() {
    let sim = sim().quota_error_every(3).inject_429([4]).start().await.unwrap();
    let bearer = token(&sim).await;
    let mut answers = Vec::new();
    for _ in 0..7 {
        let (status, body) = get(&sim, &bearer, "login", "").await;
        answers.push((status, body["error"]["errors"][0]["reason"].as_str().unwrap_or("").to_owned()));
    }
    let reasons: Vec<(u16, &str)> = answers.iter().map(|(s, r)| (*s, r.as_str())).collect();
    assert_eq!(
        reasons,
        [
            (200, ""),
            (200, ""),
            (403, "userRateLimitExceeded"),
            (429, "rateLimitExceeded"),
            (200, ""),
            (403, "quotaExceeded"),
            (200, "")
        ]
    );
}

#[tokio::test]
async fn late_events_are_listed_only_after_their_delay() {
    let now = jiff::Timestamp::now();
    let sim = GoogleWorkspaceSim::builder()
        .first_event_at(now - jiff::SignedDuration::from_secs(1))
        .spacing(Duration::from_millis(1))
        .events(500)
        .late_events(7, Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let bearer = token(&sim).await;
    let (_, body) = get(&sim, &bearer, "admin", "").await;
    let listed = body["items"].as_array().unwrap().len() as u64;
    let late = (0..500).filter(|i| application_of(*i) == "admin" && splitmix64(i ^ 0x1a7e).is_multiple_of(7)).count();
    assert!(late > 0);
    assert_eq!(listed + late as u64, count("admin", 500));
}
