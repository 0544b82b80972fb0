//! A simulated Auth0 tenant (Management API logs and the client-credentials token endpoint) on loopback.
//!
//! # Contract
//!
//! * **Events.** Event `i` (0-based) is a pure function of `i` and the settings, in the shape of Auth0's
//!   log events (Elastic's fixtures): `date`, `type` (`s`, `sapi`, `f`, `fp`, `seacft`, `slo`,
//!   `mgmt_api_read`, `limit_wc`, `w`), `description`, `connection`, `connection_id`, `client_id`,
//!   `client_name`, `ip`, `user_agent`, `hostname`, `user_id`, `user_name`, `strategy`, `strategy_type`,
//!   `details`, `isMobile`, `$event_schema`, `tenant_name`, and `log_id` (also `_id`). Auth0 stores
//!   event `i` at `start + i × spacing`; its `log_id` is 56 digits, `900` + that instant as
//!   `YYYYMMDDhhmmss` and microseconds (UTC) + the index in 33 digits, so ids order as the events were
//!   stored. `date` is when the event happened: for one event in seven it is up to 1.5 s *earlier* than
//!   its neighbours' (Auth0's system delays), so dates are not in `log_id` order — which is why Auth0
//!   orders checkpoint reads by `log_id`. Events `0..total` exist; [`append`](crate::util::Feed::append) stores more.
//! * **Checkpoint reads** (the only mode simulated): `GET /api/v2/logs?from=<log_id>&take=N` returns the
//!   events whose `log_id` is greater than `from` (any 56-digit string works, so a `from` made from an
//!   instant, `900YYYYMMDDhhmmss` + zeros, starts there), at most `take` (default 50, at most 100: more
//!   is 400), ordered by `log_id`. Other parameters are ignored, as Auth0 documents. Every 200 carries
//!   `Link: <…/api/v2/logs?from=<last log_id>&take=N>; rel="next"`; on an empty page `next` is the URL
//!   requested. A `from` that is not 56 digits is 400; a request without `from` (search mode, capped at
//!   1 000 results by Auth0) is 400 here, not simulated.
//! * **Tokens.** `POST /oauth/token` with `grant_type=client_credentials`, the configured `client_id`
//!   and `client_secret`, and `audience` (default `<base_url>/api/v2/`), as JSON or a form, answers
//!   `{"access_token", "token_type": "Bearer", "expires_in", "scope": "read:logs"}`; a wrong client is
//!   401 `access_denied`, a wrong audience 403 `access_denied`, another grant 400 `invalid_request`.
//!   Tokens expire after [`Auth0SimBuilder::token_lifetime`] (default one day) and
//!   [`Auth0Sim::revoke_tokens`] ends every one issued so far; [`Auth0SimBuilder::token`] adds a static
//!   Management API token that is always valid. A logs request without a valid `Authorization: Bearer`
//!   answers 401 `Invalid token` (a request ordinal, not counted against the window).
//! * **Rate limits.** Every logs answer carries `x-ratelimit-limit/remaining/reset` (reset in epoch
//!   seconds) for a fixed window ([`Auth0SimBuilder::rate_limit`], default 100 000 calls per 60 s); past
//!   the limit, and on requests planted with [`Auth0SimBuilder::inject_429`], 429 `too_many_requests`.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the [`Auth0Sim`] is
//! dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use crate::util::{
    Clock, Feed, FeedSettings, Gate, RateHeaders, RateLimits, Server, append_links, feed_builder, feed_deref, form,
    json_response, put_dec, put_hex, put_private_ip, put_rfc3339_ms, serve_loopback, splitmix64, url_as_asked,
};

/// Auth0's largest checkpoint page (`take`).
pub const MAX_TAKE: u64 = 100;
/// The page size when `take` is absent [UNVERIFIED: Auth0 does not document it].
pub const DEFAULT_TAKE: u64 = 50;
/// The length of a log id.
pub const LOG_ID_LEN: usize = 56;

/// Settings of an [`Auth0Sim`]. Its feed's `token` is a static Management API token it accepts too; the
/// time of each event is when Auth0 stored it.
#[derive(Debug, Clone)]
pub struct Auth0SimBuilder {
    feed: FeedSettings,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
    token_lifetime: Duration,
    tenant: String,
}

impl Default for Auth0SimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(100_000, Duration::from_secs(60))),
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            audience: None,
            token_lifetime: Duration::from_secs(86_400),
            tenant: "acme".into(),
        }
    }
}

impl Auth0SimBuilder {
    feed_builder!(Auth0Sim);

    /// The machine-to-machine application the token endpoint accepts (default `sim-client-id`,
    /// `sim-client-secret`).
    #[must_use]
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }

    /// The audience token requests must name (default `<base_url>/api/v2/`).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long issued tokens are valid (`expires_in`; default one day).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    audience: String,
    feed: Feed,
    settings: Auth0SimBuilder,
    token_requests: AtomicU64,
    /// Issued tokens and when each expires (epoch ms).
    tokens: Mutex<HashMap<String, i64>>,
}

/// A running simulated Auth0 tenant. Dropping it stops the server.
#[derive(Debug)]
pub struct Auth0Sim {
    shared: Arc<Shared>,
    _server: Server,
}

impl Auth0Sim {
    /// Settings with defaults.
    pub fn builder() -> Auth0SimBuilder {
        Auth0SimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: Auth0SimBuilder) -> std::io::Result<Self> {
        let routes = Router::new().route("/api/v2/logs", get(logs)).route("/oauth/token", post(issue_token));
        let (shared, _server) = serve_loopback("auth0", routes, |base_url| Shared {
            audience: settings.audience.clone().unwrap_or_else(|| format!("{base_url}/api/v2/")),
            base_url,
            feed: Feed::new(settings.feed.clone()),
            settings,
            token_requests: AtomicU64::new(0),
            tokens: Mutex::default(),
        })
        .await?;
        Ok(Self { shared, _server })
    }

    /// `http://127.0.0.1:PORT`: the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The audience token requests must name.
    pub fn audience(&self) -> &str {
        &self.shared.audience
    }

    /// Token requests received, every status included.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// Ends every token issued so far (the static token stays valid): the next logs request with one is 401.
    pub fn revoke_tokens(&self) {
        self.shared.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// The `log_id` of event `i`.
    pub fn log_id(&self, i: u64) -> String {
        let mut out = BytesMut::with_capacity(LOG_ID_LEN);
        self.shared.put_log_id(&mut out, i);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Event `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(900);
        self.shared.render_event(&mut out, i);
        out.to_vec()
    }
}

feed_deref!(Auth0Sim);

impl Shared {
    fn stored_ms(&self, i: u64) -> i64 {
        self.feed.clock().at_ms(i)
    }

    fn stored_us(&self, i: u64) -> i64 {
        self.feed.clock().at_us(i)
    }

    /// When event `i` happened: one in seven up to 1.5 s before it was stored.
    fn date_ms(&self, i: u64) -> i64 {
        let hash = splitmix64(i ^ 0xa770_0000_0000_0001);
        let delay = if hash % 7 == 3 { (hash >> 8) % 1500 } else { 0 };
        self.stored_ms(i) - delay as i64
    }

    fn put_log_id(&self, out: &mut BytesMut, i: u64) {
        put_log_id(out, self.stored_us(i), i);
    }

    /// The first event whose log id is greater than `from` (ids grow with the index).
    fn first_after(&self, from: &str, total: u64) -> u64 {
        let (mut low, mut high) = (0u64, total);
        let mut id = BytesMut::with_capacity(LOG_ID_LEN);
        while low < high {
            let mid = low + (high - low) / 2;
            id.clear();
            self.put_log_id(&mut id, mid);
            if &id[..] > from.as_bytes() {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        low
    }

    fn valid_token(&self, headers: &HeaderMap) -> bool {
        let Some(token) =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        if self.feed.token() == Some(token) {
            return true;
        }
        let tokens = self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.get(token).is_some_and(|&expires| expires > jiff::Timestamp::now().as_millisecond())
    }
}

/// Writes the log id of event `index` stored at epoch microsecond `stored_us`.
fn put_log_id(out: &mut BytesMut, stored_us: i64, index: u64) {
    let mut stamp = BytesMut::with_capacity(24);
    put_rfc3339_ms(&mut stamp, stored_us.div_euclid(1000));
    out.put_slice(b"900");
    // 2024-03-08T03:59:05.601Z → 20240308035905
    for (at, len) in [(0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2)] {
        out.put_slice(&stamp[at..at + len]);
    }
    put_dec(out, stored_us.rem_euclid(1_000_000) as u64, 6);
    put_dec(out, index, 33);
}

/// The log id of event `index` of a simulator whose event 0 was stored at `first_stored`, `spacing`
/// apart (what [`Auth0Sim::log_id`] answers, for a process that only knows the settings).
pub fn log_id_of(first_stored: jiff::Timestamp, spacing: Duration, index: u64) -> String {
    let clock = Clock { start_ms: first_stored.as_millisecond(), spacing_us: spacing.as_micros() as u64 };
    let mut out = BytesMut::with_capacity(LOG_ID_LEN);
    put_log_id(&mut out, clock.at_us(index), index);
    String::from_utf8_lossy(&out).into_owned()
}

fn auth0_error(status: StatusCode, message: &str, code: &str, headers: &[(&'static str, String)]) -> Response {
    let body = serde_json::json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or_default(),
        "message": message,
        "errorCode": code,
    });
    json_response(status, body.to_string(), headers)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, serde_json::json!({"error": error, "error_description": description}).to_string(), &[])
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
}

async fn issue_token(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = sim.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let request: Option<TokenRequest> = if json { serde_json::from_slice(&body).ok() } else { form(&body) };
    let Some(request) = request else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body is neither JSON nor a form");
    };
    if request.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type must be client_credentials here");
    }
    let s = &sim.settings;
    if request.client_id.as_deref() != Some(s.client_id.as_str())
        || request.client_secret.as_deref() != Some(s.client_secret.as_str())
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    }
    if request.audience.as_deref() != Some(sim.audience.as_str()) {
        let audience = request.audience.unwrap_or_default();
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!("Service not enabled within domain: {audience}"),
        );
    }
    let token = format!("sim-at-{n}-{:016x}", splitmix64(n ^ 0x0a07_0000));
    let expires = jiff::Timestamp::now().as_millisecond() + s.token_lifetime.as_millis() as i64;
    sim.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(token.clone(), expires);
    let body = serde_json::json!({
        "access_token": token, "scope": "read:logs read:logs_users", "expires_in": s.token_lifetime.as_secs(),
        "token_type": "Bearer",
    });
    json_response(StatusCode::OK, body.to_string(), &[])
}

#[derive(Deserialize)]
struct Params {
    from: Option<String>,
    take: Option<String>,
}

async fn logs(State(sim): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let ordinal = sim.feed.gate().arrive();
    if !sim.valid_token(&headers) {
        return auth0_error(StatusCode::UNAUTHORIZED, "Invalid token", "invalid_token", &[]);
    }
    let quota = match sim.feed.gate().pass(ordinal) {
        Gate::Open(quota) => quota,
        Gate::Exceeded(quota) | Gate::Planted(_, quota) => {
            return auth0_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Global limit has been reached",
                "too_many_requests",
                &quota.headers(RateHeaders::Joined),
            );
        }
    };
    let rate = quota.headers(RateHeaders::Joined);
    let bad = |message: &str| auth0_error(StatusCode::BAD_REQUEST, message, "invalid_query_string", &rate);
    let Ok(Query(params)) = Query::<Params>::try_from_uri(&uri) else {
        return bad("Query validation error");
    };
    let Some(from) = params.from else {
        return bad("search mode (q, page, per_page) is not simulated: read by checkpoint, from=<log_id>&take=N");
    };
    if from.len() != LOG_ID_LEN || !from.bytes().all(|b| b.is_ascii_digit()) {
        return bad("Query validation error: 'from' must be a log id");
    }
    let take = match params.take.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_TAKE,
        Some(Ok(take)) if (1..=MAX_TAKE).contains(&take) => take,
        Some(_) => return bad("Query validation error: 'take' must be between 1 and 100"),
    };
    let total = sim.feed.total_events();
    let first = sim.first_after(&from, total);
    let end = first.saturating_add(take).min(total);

    let mut body = BytesMut::with_capacity((end - first) as usize * 900 + 2);
    body.put_u8(b'[');
    for i in first..end {
        if i > first {
            body.put_u8(b',');
        }
        sim.render_event(&mut body, i);
    }
    body.put_u8(b']');
    sim.feed.serve(end - first);
    let next = if end > first {
        let mut id = BytesMut::with_capacity(LOG_ID_LEN);
        sim.put_log_id(&mut id, end - 1);
        format!("{}/api/v2/logs?from={}&take={take}", sim.base_url, String::from_utf8_lossy(&id))
    } else {
        url_as_asked(&sim.base_url, &uri)
    };
    let mut response = json_response(StatusCode::OK, body.freeze(), &rate);
    append_links(&mut response, &[("next", &next)]);
    response
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

/// `(type, description, user-facing: through the database connection?)` of the simulated event kinds.
const KINDS: &[(&str, &str, bool)] = &[
    ("s", "Successful login", true),
    ("sapi", "Update a client", false),
    ("seacft", "Authorization Code for Access Token", false),
    ("s", "Successful login", true),
    ("fp", "Wrong email or password.", true),
    ("mgmt_api_read", "Get client by ID", false),
    ("slo", "User successfully logged out", true),
    ("f", "Multifactor authentication required", true),
    ("w", "Some warnings during the login", true),
    ("limit_wc", "Too many failed login attempts", true),
];
/// What a user-facing event says of the tenant's database connection: its members before the client's, and
/// after the user's.
const CONNECTION: [&[u8]; 2] = [
    br#""connection":"Username-Password-Authentication","connection_id":"con_63cbe1e459320dd7","#,
    br#""strategy":"auth0","strategy_type":"database","#,
];
const FIRST: &[&str] = &["john", "maria", "wei", "aisha", "lukas", "sofia", "kenji", "amara", "diego", "priya"];
const LAST: &[&str] = &["doe", "garcia", "chen", "okafor", "schmidt", "rossi", "tanaka", "mensah", "lopez"];
const AGENTS: &[&str] =
    &["Chrome 126.0.0 / Mac OS X 10.15.7", "Firefox 125.0.0 / Windows 10.0.0", "Safari 17.4.1 / iOS 17.4.1"];

/// Writes the `user_id` and `user_name` members of user `user`, and the comma after them.
fn put_user(out: &mut BytesMut, user: u64) {
    let first = FIRST[(user % FIRST.len() as u64) as usize];
    let last = LAST[(user / FIRST.len() as u64 % LAST.len() as u64) as usize];
    out.put_slice(b"\"user_id\":\"auth0|");
    put_hex(out, splitmix64(user ^ 0x5e), 16);
    put_hex(out, splitmix64(user ^ 0x5f), 8);
    out.put_slice(b"\",\"user_name\":\"");
    out.put_slice(first.as_bytes());
    out.put_u8(b'.');
    out.put_slice(last.as_bytes());
    out.put_slice(b"@example.com\",");
}

impl Shared {
    fn render_event(&self, out: &mut BytesMut, i: u64) {
        let hash = splitmix64(i ^ 0x0a07_0ba5_e000_0001);
        let (kind, description, user_facing) = KINDS[(hash >> 40) as usize % KINDS.len()];
        let [connection, strategy] = if user_facing { CONNECTION } else { [&b""[..]; 2] };
        let user = hash % 97;
        let tenant = self.settings.tenant.as_bytes();
        out.put_slice(b"{\"date\":\"");
        put_rfc3339_ms(out, self.date_ms(i));
        out.put_slice(b"\",\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"description\":\"");
        out.put_slice(description.as_bytes());
        out.put_slice(b"\",");
        out.put_slice(connection);
        out.put_slice(b"\"client_id\":\"");
        put_hex(out, splitmix64(user % 5), 16);
        put_hex(out, splitmix64(user % 5 + 11), 16);
        out.put_slice(b"\",\"client_name\":\"");
        out.put_slice(if user.is_multiple_of(5) { b"Management Console" } else { b"Acme Web" });
        out.put_slice(b"\",\"ip\":\"");
        put_private_ip(out, hash);
        out.put_slice(b"\",\"user_agent\":\"");
        out.put_slice(AGENTS[(hash >> 48) as usize % AGENTS.len()].as_bytes());
        out.put_slice(b"\",\"hostname\":\"");
        out.put_slice(tenant);
        out.put_slice(b".us.auth0.com\",");
        put_user(out, user);
        out.put_slice(strategy);
        out.put_slice(b"\"details\":{\"session_id\":\"");
        put_hex(out, splitmix64(hash), 16);
        out.put_slice(b"\",\"elapsedTime\":");
        put_dec(out, (hash >> 20) % 900 + 20, 1);
        out.put_slice(b",\"stats\":{\"loginsCount\":");
        put_dec(out, (hash >> 30) % 400 + 1, 1);
        out.put_slice(b"}},\"isMobile\":false,\"$event_schema\":{\"version\":\"1.0.0\"},\"log_id\":\"");
        let at = out.len();
        self.put_log_id(out, i);
        let id = out[at..].to_vec();
        out.put_slice(b"\",\"_id\":\"");
        out.put_slice(&id);
        out.put_slice(b"\",\"tenant_name\":\"");
        out.put_slice(tenant);
        out.put_slice(b"\"}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_of(response: &reqwest::Response) -> String {
        let link = response.headers()["link"].to_str().unwrap();
        link.trim_start_matches('<').split('>').next().unwrap().to_owned()
    }

    async fn json_of<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> T {
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    fn post(client: &reqwest::Client, sim: &Auth0Sim, content_type: &str, body: String) -> reqwest::RequestBuilder {
        client.post(format!("{}/oauth/token", sim.base_url())).header("content-type", content_type).body(body)
    }

    async fn token(client: &reqwest::Client, sim: &Auth0Sim) -> String {
        let body = serde_json::json!({"grant_type": "client_credentials", "client_id": "sim-client-id",
            "client_secret": "sim-client-secret", "audience": sim.audience()});
        let answer: serde_json::Value =
            json_of(post(client, sim, "application/json", body.to_string()).send().await.unwrap()).await;
        answer["access_token"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn checkpoint_pages_follow_log_ids_and_an_empty_page_links_to_itself() {
        let sim = Auth0Sim::builder().events(5).start().await.unwrap();
        let client = reqwest::Client::new();
        let bearer = format!("Bearer {}", token(&client, &sim).await);
        let get = |url: String| client.get(url).header("authorization", bearer.clone()).send();

        let start = format!("900{}", "0".repeat(53));
        let first = get(format!("{}/api/v2/logs?from={start}&take=3", sim.base_url())).await.unwrap();
        assert_eq!(first.status(), 200);
        assert!(first.headers().contains_key("x-ratelimit-remaining"));
        let next = next_of(&first);
        let page: Vec<serde_json::Value> = json_of(first).await;
        let ids: Vec<&str> = page.iter().map(|e| e["log_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [sim.log_id(0), sim.log_id(1), sim.log_id(2)]);
        assert!(ids.iter().all(|id| id.len() == 56 && id.starts_with("900")));
        assert_eq!(page[0]["_id"], page[0]["log_id"]);
        assert!(next.ends_with(&format!("from={}&take=3", sim.log_id(2))), "{next}");

        let second = get(next).await.unwrap();
        let tail = next_of(&second);
        assert_eq!(json_of::<Vec<serde_json::Value>>(second).await.len(), 2);
        let empty = get(tail.clone()).await.unwrap();
        assert_eq!(next_of(&empty), tail, "caught up: next is the URL requested");
        assert_eq!(empty.text().await.unwrap(), "[]");
        sim.append(1);
        let grown: Vec<serde_json::Value> = json_of(get(tail).await.unwrap()).await;
        assert_eq!(grown[0]["log_id"], sim.log_id(5));

        for bad in ["from=12&take=3", &format!("from={start}&take=101"), "q=type:s"] {
            let answer = get(format!("{}/api/v2/logs?{bad}", sim.base_url())).await.unwrap();
            assert_eq!(answer.status(), 400, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_from_made_of_an_instant_starts_there_and_dates_stray_from_log_id_order() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let sim = Auth0Sim::builder().events(3000).first_event_at(start).token("static").start().await.unwrap();
        // Event 2000 is stored at +2 s: 2023-11-14T22:13:22Z.
        let from = format!("900{}{}", "20231114221322", "0".repeat(39));
        let url = format!("{}/api/v2/logs?from={from}&take=1", sim.base_url());
        let response = reqwest::Client::new().get(url).header("authorization", "Bearer static").send().await.unwrap();
        let page: Vec<serde_json::Value> = json_of(response).await;
        assert_eq!(page[0]["log_id"], sim.log_id(2000));
        assert_eq!(log_id_of(start, Duration::from_millis(1), 2000), sim.log_id(2000));
        let dates: Vec<jiff::Timestamp> = (0..3000)
            .map(|i| {
                let event: serde_json::Value = serde_json::from_slice(&sim.render_event(i)).unwrap();
                event["date"].as_str().unwrap().parse().unwrap()
            })
            .collect();
        assert!(dates.windows(2).any(|w| w[1] < w[0]), "some events happened before the one stored before them");
    }

    #[tokio::test]
    async fn tokens_are_checked_expire_and_can_be_revoked() {
        let sim = Auth0Sim::builder().events(1).inject_429([2]).start().await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/v2/logs?from={}&take=1", sim.base_url(), "9".repeat(56));
        assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
        let form = format!(
            "grant_type=client_credentials&client_id=sim-client-id&client_secret=nope&audience={}",
            sim.audience().replace(':', "%3A").replace('/', "%2F")
        );
        let wrong = post(&client, &sim, "application/x-www-form-urlencoded", form).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let audience = serde_json::json!({"grant_type": "client_credentials", "client_id": "sim-client-id",
            "client_secret": "sim-client-secret", "audience": "https://elsewhere/api/v2/"});
        let forbidden = post(&client, &sim, "application/json", audience.to_string()).send().await.unwrap();
        assert_eq!(forbidden.status(), 403);
        let bearer = format!("Bearer {}", token(&client, &sim).await);
        let limited = client.get(&url).header("authorization", &bearer).send().await.unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(client.get(&url).header("authorization", &bearer).send().await.unwrap().status(), 200);
        sim.revoke_tokens();
        assert_eq!(client.get(&url).header("authorization", &bearer).send().await.unwrap().status(), 401);
        assert_eq!((sim.token_requests(), sim.rate_limited()), (3, 1));
    }

    /// Run with `cargo test --release -p logcrawl-sim -- --ignored --nocapture auth0_serving_speed`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "a throughput measurement; run in release"]
    async fn auth0_serving_speed() {
        let sim = Auth0Sim::builder().events(1_000_000).token("t").start().await.unwrap();
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let mut url = format!("{}/api/v2/logs?from={}&take=100", sim.base_url(), "0".repeat(56));
        loop {
            let response = client.get(&url).header("authorization", "Bearer t").send().await.unwrap();
            let next = next_of(&response);
            let body = response.bytes().await.unwrap();
            if body.len() <= 2 {
                break;
            }
            url = next;
        }
        crate::util::report_serving_speed("events", sim.events_served(), started);
    }
}
