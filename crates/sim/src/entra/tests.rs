//! The simulated tenant against its contract: pages, filters, tokens, assertions, refusals, throttling.

use super::query::{Bounds, parse_filter, parse_skiptoken, skiptoken};
use super::*;
use serde_json::{Value, json};

/// Event 0 at this instant, events 10 ms apart unless a test says otherwise.
fn start() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000).unwrap()
}

fn sim() -> EntraSimBuilder {
    EntraSim::builder()
        .first_event_at(start())
        .spacing(Duration::from_millis(10))
        .rate_limit(10_000, Duration::from_secs(1))
}

async fn token(sim: &EntraSim) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope={}",
        encode(&format!("{}/.default", sim.base_url()))
    );
    let (status, body) = post_token(sim, TENANT, form).await;
    assert_eq!(status, 200, "{body}");
    let lifetime = sim.shared.issuer.registration().token_lifetime.as_secs();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!((body["expires_in"].as_u64(), body["ext_expires_in"].as_u64()), (Some(lifetime), Some(lifetime)));
    body["access_token"].as_str().unwrap().to_owned()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn post_token(sim: &EntraSim, tenant: &str, form: String) -> (u16, Value) {
    let url = format!("{}/{tenant}/oauth2/v2.0/token", sim.base_url());
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

async fn get(sim: &EntraSim, bearer: Option<&str>, path_and_query: &str) -> (u16, Value, Option<String>) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}{path_and_query}", sim.base_url())
    };
    let mut request = reqwest::Client::new().get(url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(), retry)
}

fn ids(page: &Value) -> Vec<String> {
    page["value"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

fn at(offset_ms: i64) -> String {
    (start() + jiff::SignedDuration::from_millis(offset_ms)).to_string()
}

/// The indices of `log`'s events among `range`, newest first.
fn newest_first(log: Log, range: std::ops::Range<u64>) -> Vec<String> {
    range.rev().filter(|i| log_of(*i) == log).map(event_id).collect()
}

#[tokio::test]
async fn logs_are_newest_first_within_their_filter_and_paged_by_absolute_next_links() {
    let sim = sim().events(100).start().await.unwrap();
    assert_eq!(sim.shared.issuer.registration().token_lifetime, Duration::from_secs(3599), "Entra's usual lifetime");
    let bearer = token(&sim).await;
    // Events 10..=40 of the sign-ins log: both bounds inclusive.
    let query = format!(
        "/v1.0/auditLogs/signIns?$filter=createdDateTime ge {} and createdDateTime le {}&$top=5",
        at(100),
        at(400)
    );
    let (status, page, _) = get(&sim, Some(&bearer), &query).await;
    assert_eq!(status, 200, "{page}");
    let expected = newest_first(Log::SignIns, 10..41);
    assert_eq!(ids(&page), expected[..5]);
    assert_eq!(page["@odata.context"], format!("{}/v1.0/$metadata#auditLogs/signIns", sim.base_url()));
    let mut all = ids(&page);
    let mut next = page["@odata.nextLink"].as_str().map(str::to_owned);
    while let Some(link) = next {
        assert!(link.starts_with(sim.base_url()) && link.contains("$skiptoken="), "{link}");
        let (_, page, _) = get(&sim, Some(&bearer), &link).await;
        all.extend(ids(&page));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(all, expected);

    // Directory audits share the operators; provisioning's are exclusive and its instants whole seconds.
    let query = format!("/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge {}", at(700));
    assert_eq!(ids(&get(&sim, Some(&bearer), &query).await.1), newest_first(Log::DirectoryAudits, 70..100));
    let query = format!(
        "/v1.0/auditLogs/provisioning?$filter=activityDateTime gt {} and activityDateTime lt {}",
        at(0),
        at(1000)
    );
    let (_, page, _) = get(&sim, Some(&bearer), &query).await;
    assert!(ids(&page).is_empty(), "every provisioning event is at the start's second: neither after it nor before");
    let query = format!("/v1.0/auditLogs/provisioning?$filter=activityDateTime lt {}", at(1000));
    let (_, page, _) = get(&sim, Some(&bearer), &query).await;
    assert_eq!(ids(&page), newest_first(Log::Provisioning, 0..100));
    assert_eq!(page["value"][0]["activityDateTime"], "2023-11-14T22:13:20Z");
    let audits = newest_first(Log::DirectoryAudits, 70..100).len() as u64;
    assert_eq!(sim.events_served(), expected.len() as u64 + audits + 10, "each event served once");
}

#[tokio::test]
async fn events_are_valid_json_in_graphs_shapes() {
    let sim = sim().events(30).start().await.unwrap();
    for i in 0..30 {
        let event: Value = serde_json::from_slice(&sim.render_event(i)).expect("valid JSON");
        assert_eq!(event["id"], event_id(i));
        let instant = event[log_of(i).time_property()].as_str().unwrap();
        let parsed: jiff::Timestamp = instant.parse().unwrap();
        match log_of(i) {
            Log::SignIns => {
                assert_eq!(instant.len(), "2023-11-14T22:13:20.0000000Z".len(), "{instant}");
                assert_eq!(parsed.as_microsecond(), sim.at_us(i));
                assert!(event["status"]["errorCode"].is_u64() && event["userPrincipalName"].is_string());
            }
            Log::DirectoryAudits => {
                assert!(event_id(i).starts_with("Directory_"), "{}", event_id(i));
                assert!(event["initiatedBy"].is_object() && event["targetResources"].is_array());
            }
            Log::Provisioning => {
                assert_eq!(parsed.subsec_nanosecond(), 0, "{instant}");
                assert!(event["provisioningStatusInfo"]["status"].is_string());
            }
        }
    }
    let unique: std::collections::HashSet<String> = (0..20_000).map(event_id).collect();
    assert_eq!(unique.len(), 20_000);
    assert_eq!(Log::ALL.map(|log| EntraSim::count(log, 25)), [17, 6, 2]);
}

#[tokio::test]
async fn queries_graph_refuses_are_400() {
    let sim = sim().events(10).start().await.unwrap();
    let bearer = token(&sim).await;
    for query in [
        "/v1.0/auditLogs/signIns?$filter=activityDateTime ge 2024-01-01T00:00:00Z",
        "/v1.0/auditLogs/provisioning?$filter=activityDateTime ge 2024-01-01T00:00:00Z",
        "/v1.0/auditLogs/signIns?$filter=createdDateTime ge yesterday",
        "/v1.0/auditLogs/signIns?$filter=createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime ge 2024-01-02T00:00:00Z",
        "/v1.0/auditLogs/signIns?$top=0",
        "/v1.0/auditLogs/signIns?$top=1001",
        "/v1.0/auditLogs/signIns?$skiptoken=abc",
        "/v1.0/auditLogs/riskyUsers",
    ] {
        let (status, body, _) = get(&sim, Some(&bearer), query).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BadRequest")), "{query}: {body}");
    }
}

#[tokio::test]
async fn secrets_are_checked_tokens_expire_and_can_be_revoked() {
    let sim = sim().events(3).token_lifetime(Duration::from_secs(1)).start().await.unwrap();
    let (status, body, _) = get(&sim, None, "/v1.0/auditLogs/signIns").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));
    let scope = encode(&format!("{}/.default", sim.base_url()));
    let form = |id: &str, secret: &str, scope: &str| {
        format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope={scope}")
    };
    let refused = [
        (TENANT, form(CLIENT_ID, "wrong", &scope), 401, "invalid_client", "AADSTS7000215"),
        ("other-tenant", form(CLIENT_ID, CLIENT_SECRET, &scope), 400, "invalid_request", "AADSTS90002"),
        (
            TENANT,
            form("00000000-0000-0000-0000-000000000000", CLIENT_SECRET, &scope),
            400,
            "unauthorized_client",
            "AADSTS700016",
        ),
        (
            TENANT,
            form(CLIENT_ID, CLIENT_SECRET, "https%3A%2F%2Fgraph.microsoft.com%2F.default"),
            400,
            "invalid_scope",
            "AADSTS1002012",
        ),
        (TENANT, format!("grant_type=password&client_id={CLIENT_ID}"), 400, "unsupported_grant_type", "AADSTS70003"),
        (
            TENANT,
            format!("grant_type=client_credentials&client_id={CLIENT_ID}&scope={scope}"),
            400,
            "invalid_request",
            "AADSTS900144",
        ),
    ];
    for (tenant, body, status, error, code) in refused {
        let (got, answer) = post_token(&sim, tenant, body).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(error)), "{answer}");
        assert!(answer["error_description"].as_str().unwrap().starts_with(code), "{answer}");
    }
    let bearer = token(&sim).await;
    assert_eq!(get(&sim, Some(&bearer), "/v1.0/auditLogs/signIns").await.0, 200);
    sim.revoke_tokens();
    assert_eq!(get(&sim, Some(&bearer), "/v1.0/auditLogs/signIns").await.0, 401);
    let short = token(&sim).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&sim, Some(&short), "/v1.0/auditLogs/signIns").await.0, 401, "expired");
    assert_eq!(sim.token_requests(), 8);
}

/// A client assertion signed with `pem`'s key, naming its certificate by `x5t#S256`, for `aud`.
fn assertion(pem_text: &str, aud: &str, jti: &str, exp_in: i64, name_by_sha1: bool) -> String {
    let blocks = pem::parse_many(pem_text).unwrap();
    let cert = blocks.iter().find(|b| b.tag() == "CERTIFICATE").unwrap();
    let key = blocks.iter().find(|b| b.tag() == "PRIVATE KEY").unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    if name_by_sha1 {
        header.x5t = Some(token::thumbprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.contents()));
    } else {
        header.x5t_s256 = Some(token::thumbprint(&aws_lc_rs::digest::SHA256, cert.contents()));
    }
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"aud": aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": jti, "nbf": now - 5, "iat": now, "exp": now + exp_in});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn client_assertions_are_verified_against_the_certificate() {
    let sim = sim().events(3).client(CLIENT_ID, None).start().await.unwrap();
    let scope = encode(&format!("{}/.default", sim.base_url()));
    let form = |assertion: String| {
        format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&scope={scope}&client_assertion_type={}&client_assertion={assertion}",
            encode(ASSERTION_TYPE)
        )
    };
    let aud = sim.token_url().to_owned();
    let (status, body) = post_token(&sim, TENANT, form(assertion(TEST_CERTIFICATE, &aud, "j1", 300, false))).await;
    assert_eq!(status, 200, "{body}");
    let bearer = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sim, Some(&bearer), "/v1.0/auditLogs/directoryAudits").await.0, 200);
    let (status, _) = post_token(&sim, TENANT, form(assertion(TEST_CERTIFICATE, &aud, "j2", 300, true))).await;
    assert_eq!(status, 200, "x5t (SHA-1) names the certificate too");

    let refused = [
        (assertion(TEST_CERTIFICATE, &aud, "j1", 300, false), "AADSTS700025", "a replayed jti"),
        (assertion(OTHER_TEST_CERTIFICATE, &aud, "j3", 300, false), "AADSTS700027", "another certificate"),
        (assertion(TEST_CERTIFICATE, &aud, "j4", -120, false), "AADSTS700024", "expired"),
        (
            assertion(TEST_CERTIFICATE, "https://login.microsoftonline.com/x/oauth2/v2.0/token", "j5", 300, false),
            "AADSTS700212",
            "another audience",
        ),
        ("e30.e30.c2ln".to_owned(), "AADSTS50027", "not a JWT"),
    ];
    for (assertion, code, what) in refused {
        let (status, body) = post_token(&sim, TENANT, form(assertion)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{what}: {body}");
        assert!(body["error_description"].as_str().unwrap().starts_with(code), "{what}: {body}");
    }
    // A forged signature: the header of a valid assertion over another payload.
    let good = assertion(TEST_CERTIFICATE, &aud, "j6", 300, false);
    let parts: Vec<&str> = good.split('.').collect();
    let other = assertion(TEST_CERTIFICATE, &aud, "j7", 300, false);
    let forged = format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2]);
    let (status, body) = post_token(&sim, TENANT, form(forged)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS700027"), "{body}");
    let (status, _) = post_token(
        &sim,
        TENANT,
        format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope={scope}"),
    )
    .await;
    assert_eq!(status, 401, "no secret is registered on this application");
}

#[tokio::test]
async fn refusals_throttling_and_the_indexing_delay() {
    let refusing = sim().events(3).without_permission().start().await.unwrap();
    let bearer = token(&refusing).await;
    for log in Log::ALL {
        let (status, body, _) = get(&refusing, Some(&bearer), &format!("/v1.0/auditLogs/{}", log.segment())).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    }
    let free = sim().events(3).without_premium().start().await.unwrap();
    let bearer = token(&free).await;
    let (status, body, _) = get(&free, Some(&bearer), "/v1.0/auditLogs/signIns").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"))
    );
    assert_eq!(get(&free, Some(&bearer), "/v1.0/auditLogs/directoryAudits").await.0, 200, "audits need no licence");

    let throttled =
        EntraSim::builder().events(3).inject_429([2]).inject_wait(Duration::from_secs(3)).start().await.unwrap();
    let bearer = token(&throttled).await;
    let statuses: Vec<(u16, Option<String>)> = {
        let mut out = Vec::new();
        for _ in 0..7 {
            let (status, _, retry) = get(&throttled, Some(&bearer), "/v1.0/auditLogs/signIns").await;
            out.push((status, retry));
        }
        out
    };
    assert_eq!(statuses[1], (429, Some("3".to_owned())), "planted");
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 4, "five a ten-second window, the planted one among them: {statuses:?}");
    assert!(
        statuses[5..].iter().all(|(s, r)| *s == 429 && r.as_deref().is_some_and(|r| r.parse::<u64>().unwrap() >= 1))
    );
    assert_eq!(throttled.rate_limited(), 3);

    // Indexed a minute late, except one in three indexed an hour late: none of them is served yet.
    let recent = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30);
    let delayed =
        sim().first_event_at(recent).events(30).indexing_delay(Duration::from_secs(60)).start().await.unwrap();
    let bearer = token(&delayed).await;
    assert!(ids(&get(&delayed, Some(&bearer), "/v1.0/auditLogs/signIns").await.1).is_empty());
    let late = sim().events(300).late_events(3, Duration::from_secs(10 * 365 * 86_400)).start().await.unwrap();
    let bearer = token(&late).await;
    let served = ids(&get(&late, Some(&bearer), "/v1.0/auditLogs/signIns").await.1);
    let now_us = jiff::Timestamp::now().as_microsecond();
    let expected: Vec<String> = (0..300)
        .rev()
        .filter(|i| log_of(*i) == Log::SignIns && late.shared.visible(*i, now_us))
        .map(event_id)
        .collect();
    assert_eq!(served, expected);
    assert!(served.len() < 150 && served.len() > 90, "{}", served.len());
}

#[tokio::test]
async fn events_appended_now_are_stamped_now_and_never_shift_a_skiptoken() {
    let sim = sim().events(20).start().await.unwrap();
    let bearer = token(&sim).await;
    let (_, page, _) = get(&sim, Some(&bearer), "/v1.0/auditLogs/signIns?$top=3").await;
    let link = page["@odata.nextLink"].as_str().unwrap().to_owned();
    let before = jiff::Timestamp::now().as_microsecond();
    sim.append_now(10);
    assert!(sim.at_us(20) >= before && sim.at_us(29) - sim.at_us(20) == 90_000, "now on, 10 ms apart");
    sim.append(10);
    assert_eq!(sim.at_us(30) - sim.at_us(29), 10_000, "append continues the sequence");
    let (_, rest, _) = get(&sim, Some(&bearer), &link).await;
    assert_eq!(ids(&rest)[0], newest_first(Log::SignIns, 0..20)[3], "the chain goes on where it was");
    let since = jiff::Timestamp::from_microsecond(before).unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await; // the newest of them are served once they happened
    let query = format!("/v1.0/auditLogs/signIns?$filter=createdDateTime ge {since}");
    assert_eq!(ids(&get(&sim, Some(&bearer), &query).await.1), newest_first(Log::SignIns, 20..40));
}

#[tokio::test]
async fn every_nth_continuation_is_an_empty_page_that_links_on() {
    let sim = sim().events(40).empty_page_every(2).start().await.unwrap();
    let bearer = token(&sim).await;
    let (_, mut page, _) = get(&sim, Some(&bearer), "/v1.0/auditLogs/signIns?$top=4").await;
    let (mut all, mut empty) = (ids(&page), 0);
    while let Some(link) = page["@odata.nextLink"].as_str().map(str::to_owned) {
        page = get(&sim, Some(&bearer), &link).await.1;
        empty += usize::from(ids(&page).is_empty() && page["@odata.nextLink"].is_string());
        all.extend(ids(&page));
    }
    assert_eq!(all, newest_first(Log::SignIns, 0..40));
    assert!(empty >= 2, "{empty}");
}

#[test]
fn filters_read_the_logs_own_property_and_operators() {
    let (a, b) = ("2024-01-01T00:00:00.1234567Z", "2024-01-02T00:00:00Z");
    let ns = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_nanosecond();
    let bounds = parse_filter(Log::SignIns, &format!("createdDateTime ge {a} and createdDateTime le {b}")).unwrap();
    assert_eq!(bounds, Bounds { lower: Some((ns(a), true)), upper: Some((ns(b), true)) });
    let bounds = parse_filter(Log::Provisioning, &format!("activityDateTime lt {b}")).unwrap();
    assert_eq!(bounds, Bounds { lower: None, upper: Some((ns(b), false)) });
    assert!(parse_filter(Log::DirectoryAudits, &format!("activityDateTime gt {a}")).is_err());
    assert!(parse_filter(Log::SignIns, "createdDateTime").is_err());
}

proptest::proptest! {
    #[test]
    fn skiptokens_round_trip_and_others_are_refused(index in proptest::num::u64::ANY, junk in "[0-9a-f]{0,30}") {
        proptest::prop_assert_eq!(parse_skiptoken(&skiptoken(index)), Some(index));
        if junk != skiptoken(parse_skiptoken(&junk).unwrap_or(0)) {
            proptest::prop_assert_eq!(parse_skiptoken(&junk), None);
        }
    }

    #[test]
    fn a_filter_of_any_two_instants_reads_back(a in 0i64..4_000_000_000_000_000, b in 0i64..4_000_000_000_000_000) {
        let (a, b) = (jiff::Timestamp::from_microsecond(a).unwrap(), jiff::Timestamp::from_microsecond(b).unwrap());
        for log in Log::ALL {
            let (lower, upper) = log.operators();
            let property = log.time_property();
            let filter = format!("{property} {lower} {a} and {property} {upper} {b}");
            let bounds = parse_filter(log, &filter).unwrap();
            proptest::prop_assert_eq!(bounds.lower.map(|(at, _)| at), Some(a.as_nanosecond()));
            proptest::prop_assert_eq!(bounds.upper.map(|(at, _)| at), Some(b.as_nanosecond()));
        }
    }
}

/// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture entra_serving_speed`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a throughput measurement; run in release"]
async fn entra_serving_speed() {
    let sim = EntraSim::builder()
        .events(1_000_000)
        .rate_limit(u64::MAX, Duration::from_secs(1))
        .token("t")
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut next = Some(format!("{}/v1.0/auditLogs/signIns", sim.base_url()));
    while let Some(link) = next {
        let (_, page, _) = get(&sim, Some("t"), &link).await;
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "served {} sign-ins in {secs:.2} s: {:.0} events/s (client included)",
        sim.events_served(),
        sim.events_served() as f64 / secs
    );
    assert_eq!(sim.events_served(), EntraSim::count(Log::SignIns, 1_000_000));
}
