//! A simulated Okta System Log API (`GET /api/v1/logs`) on loopback.
//!
//! # Contract
//!
//! * **Events.** Event `i` (0-based) of an [`OktaSim`] is a pure function of `i` and the builder's settings:
//!   an Okta `LogEvent` in the shape of the OpenAPI spec's `ListLogs` example (uuid, published, eventType,
//!   legacyEventType, displayMessage, severity, outcome, actor, client{userAgent, ipAddress,
//!   geographicalContext…}, authenticationContext, securityContext, debugContext, transaction, request{ipChain},
//!   target[]), about 1.6 KB of compact JSON. [`event_uuid`] gives its `uuid` (unique per index), and
//!   `published` is `start + i × spacing` printed with millisecond precision (so with a sub-millisecond
//!   spacing several events share an instant, as in real orgs). Events `0..total` exist; [`append`](crate::util::Feed::append)
//!   publishes more while the server runs.
//! * **Queries.** Polling semantics only: `since` (RFC 3339; default 7 days ago) selects the first event with
//!   `published ≥ since`; `after` (an opaque token, only ever taken from a `next` link) resumes right after
//!   the event it was minted for; both together, an unparsable value, `until`, or a `limit` outside 0–1000
//!   answer 400 `E0000001`. `limit` defaults to 100. An `after` token is valid forever unless
//!   [`OktaSim::expire_after_tokens`] expired it (every token minted before that call): then it answers
//!   400 `E0000001` (`Api validation failed: after`), as Okta answers a token it no longer honours.
//! * **Links.** Every 200 carries `Link: <…>; rel="self"` (the request URL) and `Link: <…>; rel="next"`.
//!   After a non-empty page `next` resumes after its last event; an empty page (caught up) has
//!   `next == self`, exactly as Okta polling does.
//! * **Rate limits.** Every response carries `X-Rate-Limit-Limit/Remaining/Reset` (reset in epoch seconds)
//!   for a fixed window ([`OktaSimBuilder::rate_limit`], default 100 000 calls per 60 s). A call past the
//!   limit answers 429 `E0000047` with the same headers. [`OktaSimBuilder::inject_429`] forces 429s on given
//!   request ordinals (1-based), with a reset [`OktaSimBuilder::inject_wait`] from then.
//! * **Auth.** With [`OktaSimBuilder::token`], a request without `Authorization: SSWS <token>` answers
//!   401 `E0000011` (before the rate-limit window counts it; it still counts as a request ordinal).
//! * **Speed.** Pages are rendered straight into one buffer from a template with a few substituted fields
//!   (no JSON serialiser, no allocation per event), far above 300 000 events/s on one core in release builds.
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the [`OktaSim`] is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::util::{
    Feed, FeedSettings, Gate, RateHeaders, RateLimits, Server, append_links, authorized, feed_builder, feed_deref,
    json_response, put_hex, put_private_ip, put_rfc3339_ms, put_uuid, serve_loopback, splitmix64, url_as_asked,
};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use bytes::{BufMut, BytesMut};
use serde::Deserialize;

/// Okta's largest page.
pub const MAX_LIMIT: u64 = 1000;
/// Okta's default page.
pub const DEFAULT_LIMIT: u64 = 100;
const AFTER_KEY: u64 = 0x6f6b_7461_5f73_696d;

/// Settings of an [`OktaSim`].
#[derive(Debug, Clone)]
pub struct OktaSimBuilder {
    feed: FeedSettings,
}

impl Default for OktaSimBuilder {
    fn default() -> Self {
        Self { feed: FeedSettings::new(RateLimits::new(100_000, Duration::from_secs(60))) }
    }
}

impl OktaSimBuilder {
    feed_builder!(OktaSim);
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    feed: Feed,
    /// The generation new `after` tokens are minted in; tokens of an older one answer 400.
    token_epoch: AtomicU64,
}

/// A running simulated Okta org. Dropping it stops the server.
#[derive(Debug)]
pub struct OktaSim {
    shared: Arc<Shared>,
    server: Server,
}

impl OktaSim {
    /// Settings with defaults.
    pub fn builder() -> OktaSimBuilder {
        OktaSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: OktaSimBuilder) -> std::io::Result<Self> {
        let routes = Router::new().route("/api/v1/logs", get(list_logs));
        let (shared, server) = serve_loopback("okta", routes, |base_url| Shared {
            base_url,
            feed: Feed::new(settings.feed),
            token_epoch: AtomicU64::new(0),
        })
        .await?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:PORT`, to use as the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Expires every `after` token minted so far (those of every `next` link served before this call):
    /// requesting one answers 400 `E0000001`, the answer a connector must recover from (or report) when its
    /// stored `next` link has gone stale. Tokens minted afterwards, and `since` queries, work as before.
    pub fn expire_after_tokens(&self) {
        self.shared.token_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// `published` of event `i`, in epoch milliseconds.
    pub fn published_ms(&self, i: u64) -> i64 {
        self.shared.published_ms(i)
    }

    /// Event `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(MAX_EVENT_BYTES);
        render_event(&mut out, i, self.shared.published_ms(i));
        out.to_vec()
    }
}

impl Shared {
    fn published_ms(&self, i: u64) -> i64 {
        self.feed.clock().at_ms(i)
    }
}

feed_deref!(OktaSim);

#[derive(Deserialize)]
struct Params {
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
}

/// The `after` token minted for "resume at event `index`" (before any [`OktaSim::expire_after_tokens`]).
pub fn after_token(index: u64) -> String {
    mint_after(index, 0)
}

/// A token of generation `epoch` (the first generation's tokens carry no epoch suffix).
fn mint_after(index: u64, epoch: u64) -> String {
    match epoch {
        0 => format!("s{:016x}", index ^ AFTER_KEY),
        _ => format!("s{:016x}.{epoch}", index ^ AFTER_KEY),
    }
}

/// The event index and generation of a token.
fn parse_after(token: &str) -> Option<(u64, u64)> {
    let token = token.strip_prefix('s')?;
    let (hex, epoch) = match token.split_once('.') {
        Some((hex, epoch)) => (hex, epoch.parse().ok()?),
        None => (token, 0),
    };
    (hex.len() == 16).then_some(())?;
    Some((u64::from_str_radix(hex, 16).ok()? ^ AFTER_KEY, epoch))
}

/// More than a rendered event takes (about 1 600 bytes): a page's buffer sized with it is never grown,
/// which would copy it (a page is ~1.6 MB, and the copy is the simulator's CPU the crawler shares cores with).
const MAX_EVENT_BYTES: usize = 1_800;

async fn list_logs(State(sim): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let ordinal = sim.feed.gate().arrive();
    let now_ms = jiff::Timestamp::now().as_millisecond();

    if let Some(token) = sim.feed.token() {
        let expected = format!("SSWS {token}");
        if !authorized(&headers, &expected) {
            return error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided", &[]);
        }
    }

    let quota = match sim.feed.gate().pass(ordinal) {
        Gate::Open(quota) => quota,
        Gate::Exceeded(quota) | Gate::Planted(_, quota) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
                &quota.headers(RateHeaders::Dashed),
            );
        }
    };
    let rate = quota.headers(RateHeaders::Dashed);

    let params = match Query::<Params>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(err) => return error(StatusCode::BAD_REQUEST, "E0000001", &format!("Api validation failed: {err}"), &rate),
    };
    if params.until.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "E0000001",
            "Api validation failed: until (bounded queries are not simulated)",
            &rate,
        );
    }
    if params.sort_order.as_deref().is_some_and(|s| s != "ASCENDING") {
        return error(
            StatusCode::BAD_REQUEST,
            "E0000001",
            "Api validation failed: sortOrder (only ASCENDING is simulated)",
            &rate,
        );
    }
    let limit = match params.limit.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if limit <= MAX_LIMIT => limit,
        Some(_) => return error(StatusCode::BAD_REQUEST, "E0000001", "Api validation failed: limit", &rate),
    };
    let total = sim.feed.total_events();
    let first = match (&params.since, &params.after) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: since and after are mutually exclusive",
                &rate,
            );
        }
        (_, Some(after)) => match parse_after(after) {
            Some((index, epoch)) if epoch >= sim.token_epoch.load(Ordering::Relaxed) => index.min(total),
            _ => return error(StatusCode::BAD_REQUEST, "E0000001", "Api validation failed: after", &rate),
        },
        (Some(since), None) => match since.parse::<jiff::Timestamp>() {
            Ok(since) => sim.feed.clock().first_at_or_after(since.as_millisecond(), total),
            Err(_) => return error(StatusCode::BAD_REQUEST, "E0000001", "Api validation failed: since", &rate),
        },
        (None, None) => sim.feed.clock().first_at_or_after(now_ms - 7 * 24 * 3600 * 1000, total),
    };
    let end = first.saturating_add(limit).min(total);

    let mut body = BytesMut::with_capacity(((end - first) as usize) * MAX_EVENT_BYTES + 2);
    body.put_u8(b'[');
    for i in first..end {
        if i > first {
            body.put_u8(b',');
        }
        render_event(&mut body, i, sim.published_ms(i));
    }
    body.put_u8(b']');
    sim.feed.serve(end - first);

    let self_url = url_as_asked(&sim.base_url, &uri);
    let next_url = if end > first {
        let token = mint_after(end, sim.token_epoch.load(Ordering::Relaxed));
        format!("{}/api/v1/logs?limit={limit}&sortOrder=ASCENDING&after={token}", sim.base_url)
    } else {
        self_url.clone()
    };

    let mut response = json_response(StatusCode::OK, body.freeze(), &rate);
    append_links(&mut response, &[("self", &self_url), ("next", &next_url)]);
    response
}

fn error(status: StatusCode, code: &str, summary: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oaeSimulated0000000000000",
        "errorCauses": [],
    });
    json_response(status, body.to_string(), headers)
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

/// The `uuid` of event `index` (unique per index).
pub fn event_uuid(index: u64) -> String {
    let mut out = BytesMut::with_capacity(36);
    put_uuid(&mut out, index, 0);
    String::from_utf8(out.to_vec()).expect("ascii")
}

/// Event-type-dependent fields, pre-rendered: eventType, legacyEventType, displayMessage, severity, outcome.
const KINDS: &[&str] = &[
    r#""eventType":"user.session.start","legacyEventType":"core.user_auth.login_success","displayMessage":"User login to Okta","severity":"INFO","outcome":{"result":"SUCCESS","reason":null}"#,
    r#""eventType":"user.authentication.sso","legacyEventType":"app.auth.sso","displayMessage":"User single sign on to app","severity":"INFO","outcome":{"result":"SUCCESS","reason":null}"#,
    r#""eventType":"policy.evaluate_sign_on","legacyEventType":null,"displayMessage":"Evaluation of sign-on policy","severity":"INFO","outcome":{"result":"ALLOW","reason":"Sign-on policy evaluation resulted in ALLOW"}"#,
    r#""eventType":"user.authentication.auth_via_mfa","legacyEventType":"core.user.factor.attempt_success","displayMessage":"Authentication of user via MFA","severity":"INFO","outcome":{"result":"SUCCESS","reason":null}"#,
    r#""eventType":"user.session.start","legacyEventType":"core.user_auth.login_failed","displayMessage":"User login to Okta","severity":"WARN","outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#,
    r#""eventType":"app.oauth2.as.token.grant.access_token","legacyEventType":null,"displayMessage":"OAuth2 access token is granted","severity":"INFO","outcome":{"result":"SUCCESS","reason":null}"#,
    r#""eventType":"user.account.lock","legacyEventType":"core.user.account.locked","displayMessage":"Max sign in attempts exceeded","severity":"WARN","outcome":{"result":"FAILURE","reason":"LOCKED_OUT"}"#,
    r#""eventType":"system.org.rate_limit.warning","legacyEventType":null,"displayMessage":"Rate limit warning","severity":"ERROR","outcome":{"result":"SUCCESS","reason":null}"#,
];

const FIRST_NAMES: &[&str] =
    &["John", "Maria", "Wei", "Aisha", "Lukas", "Sofia", "Kenji", "Amara", "Diego", "Priya", "Olga"];
const LAST_NAMES: &[&str] = &[
    "Doe", "Garcia", "Chen", "Okafor", "Schmidt", "Rossi", "Tanaka", "Mensah", "Lopez", "Nair", "Ivanova", "Smith",
    "Dubois",
];

const GEO: &str = r#"{"city":"New York","state":"New York","country":"United States","postalCode":"10013","geolocation":{"lat":40.3157,"lon":-74.01}}"#;

fn put_user(out: &mut BytesMut, user: u64) {
    let first = FIRST_NAMES[(user % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[(user / FIRST_NAMES.len() as u64 % LAST_NAMES.len() as u64) as usize];
    out.put_slice(br#"{"id":"00u"#);
    put_hex(out, splitmix64(user ^ 0x75), 16);
    out.put_slice(br#"d6","type":"User","alternateId":""#);
    out.put_slice(first.to_ascii_lowercase().as_bytes());
    out.put_u8(b'.');
    out.put_slice(last.to_ascii_lowercase().as_bytes());
    out.put_slice(br#"@example.com","displayName":""#);
    out.put_slice(first.as_bytes());
    out.put_u8(b' ');
    out.put_slice(last.as_bytes());
    out.put_slice(br#"","detailEntry":null}"#);
}

fn render_event(out: &mut BytesMut, index: u64, published_ms: i64) {
    let hash = splitmix64(index ^ 0x0123_4567_89ab_cdef);
    let user = hash % 143;
    out.put_slice(br#"{"uuid":""#);
    put_uuid(out, index, 0);
    out.put_slice(br#"","published":""#);
    put_rfc3339_ms(out, published_ms);
    out.put_slice(br#"","#);
    out.put_slice(KINDS[(hash >> 40) as usize % KINDS.len()].as_bytes());
    out.put_slice(br#","version":"0","actor":"#);
    put_user(out, user);
    out.put_slice(br#","client":{"userAgent":{"rawUserAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36","os":"Mac OS X","browser":"CHROME"},"zone":null,"device":"Computer","id":null,"ipAddress":""#);
    put_private_ip(out, hash);
    out.put_slice(br#"","geographicalContext":"#);
    out.put_slice(GEO.as_bytes());
    out.put_slice(br#"},"authenticationContext":{"authenticationProvider":null,"credentialProvider":null,"credentialType":null,"issuer":null,"interface":null,"authenticationStep":0,"externalSessionId":"idx"#);
    put_hex(out, splitmix64(user ^ 0x5e55), 16);
    out.put_slice(br#""},"securityContext":{"asNumber":394089,"asOrg":"ASN 0000","isp":"google","domain":null,"isProxy":false},"debugContext":{"debugData":{"requestId":""#);
    put_hex(out, hash, 16);
    put_hex(out, splitmix64(hash), 16);
    out.put_slice(br#"","requestUri":"/api/v1/authn","url":"/api/v1/authn?"}},"transaction":{"type":"WEB","id":""#);
    put_hex(out, hash, 16);
    put_hex(out, splitmix64(hash), 16);
    out.put_slice(br#"","detail":{}},"request":{"ipChain":[{"ip":""#);
    put_private_ip(out, hash);
    out.put_slice(br#"","geographicalContext":null,"version":"V4","source":null}]},"target":[{"id":"pfd"#);
    put_hex(out, splitmix64(user ^ 0x7a), 12);
    out.put_slice(br#"1d7","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Okta Verify","detailEntry":null}]}"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_realistic_json() {
        let mut out = BytesMut::new();
        render_event(&mut out, 42, 1_723_564_700_353);
        let event: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(event["published"], "2024-08-13T15:58:20.353Z");
        assert_eq!(event["uuid"], event_uuid(42));
        assert!(event["client"]["ipAddress"].as_str().unwrap().starts_with("10."));
        assert!(event["actor"]["alternateId"].as_str().unwrap().ends_with("@example.com"));
        assert_eq!(event["target"][0]["type"], "AuthenticatorEnrollment");
        assert!((1300..1700).contains(&out.len()), "event is {} bytes", out.len());
    }

    #[test]
    fn uuids_are_unique_and_dates_correct() {
        let uuids: std::collections::HashSet<String> = (0..10_000).map(event_uuid).collect();
        assert_eq!(uuids.len(), 10_000);
        for ms in [0i64, 951_782_400_000, 1_709_164_800_123, 4_102_444_799_999] {
            let mut out = BytesMut::new();
            put_rfc3339_ms(&mut out, ms);
            let expected =
                jiff::Timestamp::from_millisecond(ms).unwrap().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
        }
    }

    async fn json_of(response: reqwest::Response) -> Vec<serde_json::Value> {
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    fn links(response: &reqwest::Response) -> Vec<String> {
        response.headers().get_all("link").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    fn next_of(response: &reqwest::Response) -> String {
        let next = links(response).into_iter().find(|l| l.ends_with("rel=\"next\"")).expect("next link");
        next.trim_start_matches('<').split('>').next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn serves_pages_links_rate_limits_and_auth_like_okta() {
        let sim = OktaSim::builder()
            .events(5)
            .token("t0k")
            .rate_limit(50, Duration::from_secs(60))
            .inject_429([3])
            .start()
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let get = |url: String| client.get(url).header("authorization", "SSWS t0k").send();

        let denied = client.get(format!("{}/api/v1/logs", sim.base_url())).send().await.unwrap();
        assert_eq!(denied.status(), 401);
        assert!(denied.text().await.unwrap().contains("E0000011"));

        let first =
            get(format!("{}/api/v1/logs?since=2000-01-01T00%3A00%3A00Z&limit=3", sim.base_url())).await.unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["x-rate-limit-limit"], "50");
        assert_eq!(first.headers()["x-rate-limit-remaining"], "49", "the 401 did not count");
        assert!(
            first.headers()["x-rate-limit-reset"].to_str().unwrap().parse::<i64>().unwrap()
                > jiff::Timestamp::now().as_second()
        );
        let next = next_of(&first);
        assert!(next.contains("after=") && !next.contains("since="), "{next}");
        let page: Vec<serde_json::Value> = json_of(first).await;
        assert_eq!(
            page.iter().map(|e| e["uuid"].as_str().unwrap().to_owned()).collect::<Vec<_>>(),
            (0..3).map(event_uuid).collect::<Vec<_>>()
        );

        let limited = get(next.clone()).await.unwrap();
        assert_eq!(limited.status(), 429);
        assert!(limited.text().await.unwrap().contains("E0000047"));
        assert_eq!(sim.rate_limited(), 1);

        let second = get(next).await.unwrap();
        let tail = next_of(&second);
        let page: Vec<serde_json::Value> = json_of(second).await;
        assert_eq!(page.len(), 2, "a short page");
        let empty = get(tail.clone()).await.unwrap();
        assert_eq!(next_of(&empty), tail, "caught up: next == self");
        assert_eq!(empty.text().await.unwrap(), "[]");

        sim.append(1);
        let grown = get(tail).await.unwrap();
        let page: Vec<serde_json::Value> = json_of(grown).await;
        assert_eq!(page[0]["uuid"], event_uuid(5));
        assert_eq!(sim.events_served(), 6);

        let bad = get(format!("{}/api/v1/logs?since=2000-01-01T00%3A00%3A00Z&after=x", sim.base_url())).await.unwrap();
        assert_eq!(bad.status(), 400);
    }

    #[tokio::test]
    async fn since_selects_the_first_event_at_or_after_it() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let sim = OktaSim::builder()
            .events(100)
            .first_event_at(start)
            .spacing(Duration::from_micros(500))
            .start()
            .await
            .unwrap();
        // Event i is published at start + i/2 ms: the first at or after +10 ms is event 20.
        let since = (start + jiff::SignedDuration::from_millis(10)).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let url = format!("{}/api/v1/logs?since={since}&limit=1", sim.base_url());
        let page: Vec<serde_json::Value> = json_of(reqwest::get(url).await.unwrap()).await;
        assert_eq!(page[0]["uuid"], event_uuid(20));
        assert_eq!(sim.published_ms(20), start.as_millisecond() + 10);
        assert_eq!(sim.published_ms(21), start.as_millisecond() + 10, "events share a millisecond");
    }

    /// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture serving_speed`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "a throughput measurement; run in release"]
    async fn serving_speed() {
        let sim = OktaSim::builder().events(1_000_000).start().await.unwrap();
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let mut url = format!("{}/api/v1/logs?since=2000-01-01T00%3A00%3A00Z&limit=1000", sim.base_url());
        let mut bytes = 0usize;
        loop {
            let response = client.get(&url).send().await.unwrap();
            let next = next_of(&response);
            let body = response.bytes().await.unwrap();
            bytes += body.len();
            if body.len() <= 2 {
                break;
            }
            url = next;
        }
        eprintln!("{bytes} bytes of pages");
        crate::util::report_serving_speed("events", sim.events_served(), started);
    }

    #[tokio::test]
    async fn expired_after_tokens_answer_400_and_since_still_works() {
        let sim = OktaSim::builder().events(4).start().await.unwrap();
        let first = reqwest::get(format!("{}/api/v1/logs?since=2000-01-01T00%3A00%3A00Z&limit=2", sim.base_url()))
            .await
            .unwrap();
        let next = next_of(&first);
        assert_eq!(reqwest::get(next.clone()).await.unwrap().status(), 200, "valid by default");

        sim.expire_after_tokens();
        let expired = reqwest::get(next).await.unwrap();
        assert_eq!(expired.status(), 400);
        let body = expired.text().await.unwrap();
        assert!(body.contains("E0000001") && body.contains("after"), "{body}");
        let since = reqwest::get(format!("{}/api/v1/logs?since=2000-01-01T00%3A00%3A00Z&limit=2", sim.base_url()))
            .await
            .unwrap();
        let fresh = next_of(&since);
        assert_eq!(json_of(since).await.len(), 2, "since queries are unaffected");
        let page = json_of(reqwest::get(fresh).await.unwrap()).await;
        assert_eq!(page[0]["uuid"], event_uuid(2), "a token minted after the expiry works");
    }

    #[test]
    fn after_tokens_round_trip() {
        for i in [0, 1, 999, 1_000_000] {
            assert_eq!(parse_after(&after_token(i)), Some((i, 0)));
            assert_eq!(parse_after(&mint_after(i, 3)), Some((i, 3)));
        }
        assert_eq!(parse_after("garbage"), None);
    }
}
