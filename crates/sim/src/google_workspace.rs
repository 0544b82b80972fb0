//! A simulated Google Workspace customer on loopback: the Admin SDK Reports API's activities
//! (`GET /admin/reports/v1/activity/users/all/applications/{application}`) and Google's OAuth 2.0 token
//! endpoint for service accounts (`POST /token`, the JWT bearer grant), both on the simulator's origin.
//!
//! # Contract
//!
//! * **Events.** Event `i` (0-based) of the customer is a pure function of `i` and the settings; it
//!   belongs to one application, [`application_of`]`(i)` (four in ten `login`, three `drive`, one each
//!   `admin`, `token` and `saml`), and happened at `start + i × spacing` (the feed's clock). Each is an
//!   activity as the Reports API documents it: `kind`, `id{time, uniqueQualifier, applicationName,
//!   customerId}`, `etag`, `actor{callerType, email, profileId}`, `ipAddress` (none on most Drive events),
//!   and one entry of `events[{type, name, parameters[{name, value | intValue | boolValue | multiValue}]}]`
//!   with the application's own event names and parameters. `id.time` has milliseconds.
//!   **`uniqueQualifier` alone is not unique**: events `i` and `i + 10` (one application) share it when
//!   `i / 20 = (i + 10) / 20`, at different times; [`event_key`] (`id.time` + `uniqueQualifier`) is unique
//!   as long as the spacing is at least 100 µs. [`GoogleWorkspaceSim::append_now`] publishes more stamped
//!   from the moment of the call on, as a live customer logs them.
//! * **Lag.** An event is listed only once `indexing_delay` has passed since it happened (default none);
//!   with [`GoogleWorkspaceSimBuilder::late_events`] one event in N is listed only a longer delay late,
//!   after its neighbours: Google's documented lag times (minutes to hours by application).
//! * **Queries.** `startTime` and `endTime` RFC 3339 (both optional; both **inclusive**, the pessimistic
//!   reading of a reference that does not say: an event at exactly `endTime` is listed), `startTime`
//!   before `endTime` or 400; `maxResults` 1–1000 (default 1000) or 400; `customerId`, when given, the
//!   customer's ([`CUSTOMER_ID`]) or 400; `pageToken` one this simulator minted or 400. An unknown
//!   application is 400. Events come **newest first** (ties: the later index first).
//! * **Pages.** `{"kind": "admin#reports#activities", "etag", "items": [...], "nextPageToken"}`: `items`
//!   is **absent** on an empty page, `nextPageToken` (opaque, a position: events published later never
//!   shift it) on every full page with events below it, absent on the last.
//! * **Tokens.** `POST /token`, a form with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
//!   `assertion`: an RS256 JWT whose header `kid` is the key's id ([`PRIVATE_KEY_ID`]), signed with the
//!   service account's key ([`TEST_PRIVATE_KEY`], verified with its public key), with `iss` the service
//!   account ([`CLIENT_EMAIL`]), `aud` the token URL, `scope` (space-separated) holding the Reports audit
//!   scope ([`SCOPE`]), `sub` the administrator to impersonate ([`SUBJECT`]), `iat` not in the future and
//!   `exp` after now and at most an hour after `iat`. The answer is `{"access_token", "expires_in",
//!   "token_type": "Bearer"}`; a refusal Google's OAuth error: 400 `invalid_grant` for a bad signature,
//!   key id, issuer, audience, time range (Google's messages) or subject (`Invalid email or User ID`),
//!   401 `unauthorized_client` when domain-wide delegation does not grant the scope
//!   ([`GoogleWorkspaceSimBuilder::without_delegation`]), 400 `unsupported_grant_type` for another grant.
//!   Tokens expire after [`GoogleWorkspaceSimBuilder::token_lifetime`] (default 3599 s);
//!   [`GoogleWorkspaceSim::revoke_tokens`] ends those issued so far; the feed's token is a static one always valid.
//! * **Auth and refusals.** A list request without a valid `Authorization: Bearer` token is 401
//!   (`authError`, "Invalid Credentials"; not counted against the quota).
//!   [`GoogleWorkspaceSimBuilder::without_permission`] answers every list 403 `forbidden` (the subject is
//!   no administrator with the Reports privilege). Errors are Google's `{"error": {"code", "message",
//!   "errors": [{"message", "domain", "reason"}], "status"}}`.
//! * **Quota.** One window for the customer (default 2400 requests a minute, an assumed figure); past it
//!   403 `rateLimitExceeded`. Planted answers ([`inject`](GoogleWorkspaceSimBuilder::inject)):
//!   `TooManyRequests` is 429 `rateLimitExceeded` with `Retry-After`, `Exhausted` 403 `quotaExceeded`,
//!   `Secondary` 403 `userRateLimitExceeded`; [`GoogleWorkspaceSimBuilder::quota_error_every`] answers every
//!   Nth list request a 403 quota error without `Retry-After`, the three reasons in turn.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the
//! [`GoogleWorkspaceSim`] is dropped.

mod list;
mod render;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};

use crate::util::{Feed, FeedSettings, Lag, Listener, RateLimits, Server, feed_builder, feed_deref, splitmix64};

pub use token::GRANT_TYPE;

/// The largest and default `maxResults`.
pub const MAX_RESULTS: u64 = 1000;
/// The service account's private key (PKCS#8 PEM, test data only) the simulator verifies assertions of.
pub const TEST_PRIVATE_KEY: &str = include_str!("../fixtures/google-workspace-test-only.pem");
/// Its public key (PEM).
pub const TEST_PUBLIC_KEY: &str = include_str!("../fixtures/google-workspace-test-only.pub.pem");
/// Another private key (PEM, test data only), which the simulator does not know.
pub const OTHER_TEST_PRIVATE_KEY: &str = include_str!("../fixtures/google-workspace-test-only-other.pem");
/// The service account.
pub const CLIENT_EMAIL: &str = "logcrawl-reports@logcrawl-sim.iam.gserviceaccount.com";
/// The id of the service account's key (`private_key_id`, the assertions' `kid`).
pub const PRIVATE_KEY_ID: &str = "3f2c9a7e1b5d4c8a9e0f6b2d7c1a5e9f3b8d4c2a";
/// The administrator the service account impersonates.
pub const SUBJECT: &str = "reports-admin@example.com";
/// The customer's ID.
pub const CUSTOMER_ID: &str = "C03az79cb";
/// The Reports API's audit scope.
pub const SCOPE: &str = "https://www.googleapis.com/auth/admin.reports.audit.readonly";
/// The applications events belong to, in [`application_of`]'s order.
pub const APPLICATIONS: [&str; 5] = ["login", "drive", "admin", "token", "saml"];
/// Applications the simulator knows but logs nothing for (their lists are empty).
const QUIET: [&str; 12] = [
    "calendar",
    "groups",
    "chat",
    "meet",
    "mobile",
    "rules",
    "user_accounts",
    "groups_enterprise",
    "access_transparency",
    "context_aware_access",
    "chrome",
    "gcp",
];

/// The application event `i` of the customer belongs to.
pub fn application_of(i: u64) -> &'static str {
    match i % 10 {
        0..=3 => "login",
        4..=6 => "drive",
        7 => "admin",
        8 => "token",
        _ => "saml",
    }
}

/// How many of events `0..total` belong to `application`.
pub fn count(application: &str, total: u64) -> u64 {
    (0..10).filter(|k| application_of(*k) == application).map(|k| total / 10 + u64::from(total % 10 > k)).sum()
}

/// Event `i`'s `id.uniqueQualifier`: shared with event `i ± 10` inside a block of 20.
pub fn unique_qualifier(i: u64) -> i64 {
    splitmix64((i / 20) ^ 0x6005_1e00) as i64
}

/// A service-account key file (JSON) for `token_uri`, holding `private_key` (PEM).
pub fn service_account_key(token_uri: &str, private_key: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "logcrawl-sim",
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": private_key,
        "client_email": CLIENT_EMAIL,
        "client_id": "104872365918273645091",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/logcrawl-reports%40logcrawl-sim.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    })
    .to_string()
}

/// Settings of a [`GoogleWorkspaceSim`].
#[derive(Debug, Clone)]
pub struct GoogleWorkspaceSimBuilder {
    feed: FeedSettings,
    subject: String,
    token_lifetime: Duration,
    delegated: bool,
    permitted: bool,
    lag: Lag,
    quota_every: Option<u64>,
}

impl Default for GoogleWorkspaceSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(2400, Duration::from_secs(60))),
            subject: SUBJECT.into(),
            token_lifetime: Duration::from_secs(3599),
            delegated: true,
            permitted: true,
            lag: Lag::default(),
            quota_every: None,
        }
    }
}

impl GoogleWorkspaceSimBuilder {
    feed_builder!(GoogleWorkspaceSim);

    /// The administrator assertions must impersonate (default [`SUBJECT`]).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// How long issued tokens are valid (`expires_in`; default 3599 s).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Domain-wide delegation does not grant the service account the scope: token requests are 401
    /// `unauthorized_client`.
    #[must_use]
    pub fn without_delegation(mut self) -> Self {
        self.delegated = false;
        self
    }

    /// The subject may not read audit reports: every list is 403 `forbidden`.
    #[must_use]
    pub fn without_permission(mut self) -> Self {
        self.permitted = false;
        self
    }

    /// How long after it happened an event is listed (default: at once).
    #[must_use]
    pub fn indexing_delay(mut self, delay: Duration) -> Self {
        self.lag.set_indexing_delay(delay);
        self
    }

    /// One event in `one_in` is listed only `delay` after it happened.
    #[must_use]
    pub fn late_events(mut self, one_in: u64, delay: Duration) -> Self {
        self.lag.set_late_events(one_in, delay);
        self
    }

    /// Every `n`th list request is answered a 403 quota error (`rateLimitExceeded`,
    /// `userRateLimitExceeded`, `quotaExceeded` in turn) without `Retry-After`.
    #[must_use]
    pub fn quota_error_every(mut self, n: u64) -> Self {
        self.quota_every = (n > 0).then_some(n);
        self
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    /// `<base_url>/token`.
    token_url: String,
    feed: Feed,
    settings: GoogleWorkspaceSimBuilder,
    public_key: jsonwebtoken::DecodingKey,
    token_requests: AtomicU64,
    tokens: Mutex<HashMap<String, i64>>,
    assertions: Mutex<Vec<String>>,
    /// Events published with [`GoogleWorkspaceSim::append_now`]: from the first index on, stamped this
    /// many ms later than the feed's sequence would.
    shifts: Mutex<Vec<(u64, i64)>>,
}

/// A running simulated Google Workspace customer. Dropping it stops the server.
#[derive(Debug)]
pub struct GoogleWorkspaceSim {
    shared: Arc<Shared>,
    _server: Server,
}

impl GoogleWorkspaceSim {
    /// Settings with defaults.
    pub fn builder() -> GoogleWorkspaceSimBuilder {
        GoogleWorkspaceSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: GoogleWorkspaceSimBuilder) -> std::io::Result<Self> {
        let public_key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes())
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
        let listener = Listener::loopback().await?;
        let base_url = listener.base_url();
        let shared = Arc::new(Shared {
            token_url: format!("{base_url}/token"),
            base_url,
            feed: Feed::new(settings.feed.clone()),
            settings,
            public_key,
            token_requests: AtomicU64::new(0),
            tokens: Mutex::default(),
            assertions: Mutex::default(),
            shifts: Mutex::default(),
        });
        let app = Router::new()
            .route("/admin/reports/v1/activity/users/{user}/applications/{application}", get(list::list))
            .route("/token", post(token::issue))
            .with_state(shared.clone());
        Ok(Self { _server: listener.serve("google_workspace", app), shared })
    }

    /// `http://127.0.0.1:PORT`: the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The token endpoint (`token_url`).
    pub fn token_url(&self) -> &str {
        &self.shared.token_url
    }

    /// A service-account key file (JSON) whose `token_uri` is this simulator's token endpoint.
    pub fn service_account_key(&self) -> String {
        service_account_key(&self.shared.token_url, TEST_PRIVATE_KEY)
    }

    /// Token requests received, every status included.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// Every assertion received at the token endpoint, in order.
    pub fn assertions(&self) -> Vec<String> {
        self.shared.assertions.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Ends every token issued so far (the feed's static token stays valid).
    pub fn revoke_tokens(&self) {
        self.shared.tokens.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Publishes `n` more events stamped from now on (or right after the newest, if that is later),
    /// `spacing` apart, as a live customer logs them; [`append`](crate::util::Feed::append) instead
    /// continues the feed's sequence where it is.
    pub fn append_now(&self, n: u64) {
        let mut shifts = self.shared.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let total = self.shared.feed.total_events();
        let shift = shifts.last().map_or(0, |(_, shift)| *shift);
        let behind = jiff::Timestamp::now().as_millisecond() - (self.shared.feed.clock().at_ms(total) + shift);
        shifts.push((total, shift + behind.max(0)));
        self.shared.feed.append(n);
    }

    /// When event `i` happened, in epoch ms (its `id.time`).
    pub fn at_ms(&self, i: u64) -> i64 {
        self.shared.at_ms(i)
    }

    /// Event `i`'s dedupe key as logcrawl's connector writes it (`event_key`).
    pub fn event_key(&self, i: u64) -> String {
        event_key(self.shared.at_ms(i), i)
    }

    /// Event `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = bytes::BytesMut::with_capacity(1200);
        render::put_event(&mut out, i, self.shared.at_ms(i));
        out.to_vec()
    }
}

/// The key of event `i` happening at epoch ms `at_ms`: `id.time` (RFC 3339, milliseconds), a space, and
/// `id.uniqueQualifier`, as the connector's records carry it in `id`.
pub fn event_key(at_ms: i64, i: u64) -> String {
    let mut out = bytes::BytesMut::with_capacity(48);
    crate::util::put_rfc3339_ms(&mut out, at_ms);
    format!("{} {}", String::from_utf8_lossy(&out), unique_qualifier(i))
}

feed_deref!(GoogleWorkspaceSim);

impl Shared {
    /// When event `i` happened, in epoch ms: the feed's instant, shifted for events appended now.
    fn at_ms(&self, i: u64) -> i64 {
        let shifts = self.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let at = shifts.partition_point(|(first, _)| *first <= i);
        self.feed.clock().at_ms(i) + at.checked_sub(1).map_or(0, |k| shifts[k].1)
    }

    /// The first of events `0..total` that happened at or after epoch ms `bound` (or, with `strict`,
    /// after it).
    fn first_from(&self, bound: i64, strict: bool, total: u64) -> u64 {
        let (mut low, mut high) = (0, total);
        while low < high {
            let mid = low + (high - low) / 2;
            let at = self.at_ms(mid);
            if at > bound || (!strict && at == bound) { high = mid } else { low = mid + 1 }
        }
        low
    }

    /// Whether event `i` is listed by `now_ms`.
    fn visible(&self, i: u64, now_ms: i64) -> bool {
        let delay = self.settings.lag.of(i);
        self.at_ms(i) + delay.as_millis() as i64 <= now_ms
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let bearer =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = bearer else { return false };
        if self.feed.token() == Some(token) {
            return true;
        }
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.get(token).is_some_and(|&expires| expires > jiff::Timestamp::now().as_millisecond())
    }
}

#[cfg(test)]
mod tests;
