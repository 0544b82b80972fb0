//! A simulated Microsoft Entra ID tenant on loopback: its audit logs through Microsoft Graph
//! (`GET /v1.0/auditLogs/{signIns,directoryAudits,provisioning}`) and the Microsoft identity platform's
//! token endpoint (`POST /{tenant}/oauth2/v2.0/token`), both on the simulator's origin.
//!
//! # Contract
//!
//! * **Events.** Event `i` (0-based) of the tenant is a pure function of `i` and the settings; it
//!   belongs to one log, [`log_of`]`(i)` (six in ten sign-ins, three directory audits, one provisioning
//!   event), and happened at `start + i × spacing` (the feed's clock). A sign-in is a `signIn` (`id`, a
//!   GUID; `createdDateTime`; user, app, IP, `status.errorCode`, device, location, conditional access), a
//!   directory audit a `directoryAudit` (`id` like `Directory_<GUID>_<5 characters>_<number>`;
//!   `activityDateTime`, `activityDisplayName`, `category`, `result`, `initiatedBy`, `targetResources`),
//!   a provisioning event a `provisioningObjectSummary` (`id`; `activityDateTime`; action, status, steps,
//!   identities, systems): the members of the Graph API reference's examples. Instants have Graph's seven
//!   fractional digits, but provisioning's whole seconds, as in its reference example (so several
//!   provisioning events share an instant). [`event_id`] gives an event's `id`.
//!   [`EntraSim::append_now`] publishes more stamped from the moment of the call on, as a live tenant
//!   logs them; [`append`](crate::util::Feed::append) continues the feed's sequence.
//! * **Indexing delay.** An event is served only once `indexing_delay` has passed since it happened
//!   (default none); with [`EntraSimBuilder::late_events`] one event in N is indexed a longer delay late,
//!   after its neighbours (what a crawler's overlap is for).
//! * **Queries.** `$filter` of time bounds on the log's own property joined by `and`: `createdDateTime`
//!   with `ge`/`le` for sign-ins, `activityDateTime` with `ge`/`le` for directory audits and with `gt`/`lt`
//!   for provisioning (the operators each list method documents); the instant an unquoted RFC 3339 literal.
//!   Another property or operator, or an instant that does not parse, is 400 `BadRequest`. `$top` is 1–1000
//!   (default 1000, the documented maximum and default of sign-ins; the same is assumed of the others),
//!   outside it 400. Events come **newest first** (ties: the later index first).
//! * **Pages.** `{"@odata.context": …, "value": [...], "@odata.nextLink": …}`; the next link is absolute,
//!   the request's own query with an opaque `$skiptoken` (a position: events published later never shift
//!   it), absent on the last page. A full page has a next link even when nothing follows (the next page is
//!   then empty). With [`EntraSimBuilder::empty_page_every`] every Nth continuation answers an empty
//!   `value` with a next link to the same position, a quirk of Graph's sign-in logs [not verified]. An
//!   unknown `$skiptoken` is 400.
//! * **Tokens.** `POST /{tenant}/oauth2/v2.0/token`, a form with `grant_type=client_credentials`,
//!   `client_id`, `scope` = `<base_url>/.default`, and either `client_secret` or `client_assertion_type` =
//!   `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` with a `client_assertion`: a JWT (RS256 or
//!   PS256) whose header names the registered certificate by `x5t#S256` or `x5t`, whose signature the
//!   certificate's key verifies, with `aud` = the token URL, `iss` = `sub` = the client ID, `exp` not
//!   passed, `nbf` reached, and a `jti` never used before. The answer is `{"token_type": "Bearer",
//!   "expires_in", "ext_expires_in", "access_token"}`; a refusal the identity platform's OAuth error with
//!   its `AADSTS` code: an unknown tenant 400 `invalid_request` (90002), an unknown client 400
//!   `unauthorized_client` (700016), another scope 400 `invalid_scope` (1002012), a wrong secret 401
//!   `invalid_client` (7000215), a bad assertion 401 `invalid_client` (700027 signature or key, 700024
//!   time range, others: which code Entra picks for each is not verified, nor that it refuses a replayed
//!   `jti`). Tokens expire after [`EntraSimBuilder::token_lifetime`] (default 3599 s);
//!   [`EntraSim::revoke_tokens`] ends those issued so far; the feed's token is a static one always valid.
//! * **Auth and refusals.** A Graph request without a valid `Authorization: Bearer` token is 401
//!   `InvalidAuthenticationToken` (not counted against the rate window). [`EntraSimBuilder::without_permission`]
//!   answers every log 403 `Authorization_RequestDenied` (no `AuditLog.Read.All`);
//!   [`EntraSimBuilder::without_premium`] answers sign-ins 403
//!   `Authentication_RequestFromNonPremiumTenantOrB2CTenant` (no Entra ID P1/P2). Errors are Graph's
//!   `{"error": {"code", "message", "innerError": {…}}}`.
//! * **Throttling.** One window for the whole tenant (Graph's identity and access reports allow five
//!   requests per ten seconds per app and tenant, the default); past it, and on planted request ordinals
//!   ([`EntraSimBuilder::inject_429`]), 429 `TooManyRequests` with `Retry-After` in seconds.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the [`EntraSim`] is
//! dropped.

mod list;
mod query;
mod render;
mod token;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bytes::BytesMut;

use crate::util::{Feed, FeedSettings, Lag, Listener, RateLimits, Server, feed_builder, feed_deref};

pub use token::{ASSERTION_TYPE, Registration, TokenIssuer};

/// The largest and default `$top`.
pub const MAX_TOP: u64 = 1000;
/// A certificate and its private key (PEM, test data only) the simulator accepts assertions from by
/// default.
pub const TEST_CERTIFICATE: &str = include_str!("../fixtures/entra-test-only.pem");
/// Another certificate and key (PEM, test data only), which the default simulator does not know.
pub const OTHER_TEST_CERTIFICATE: &str = include_str!("../fixtures/entra-test-only-other.pem");
/// The default tenant ID.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The default application (client) ID.
pub const CLIENT_ID: &str = "8a5c7f43-9d0e-4b16-a2c1-5e3f8d7b6a90";
/// The default client secret.
pub const CLIENT_SECRET: &str = "sim~client~secret";

/// One of the tenant's three audit logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    /// `auditLogs/signIns`.
    SignIns,
    /// `auditLogs/directoryAudits`.
    DirectoryAudits,
    /// `auditLogs/provisioning`.
    Provisioning,
}

impl Log {
    /// The three, as the API reference lists them.
    pub const ALL: [Log; 3] = [Log::SignIns, Log::DirectoryAudits, Log::Provisioning];

    /// The path segment after `auditLogs/`.
    pub fn segment(self) -> &'static str {
        match self {
            Log::SignIns => "signIns",
            Log::DirectoryAudits => "directoryAudits",
            Log::Provisioning => "provisioning",
        }
    }

    /// The property its events are filtered and ordered by.
    pub fn time_property(self) -> &'static str {
        match self {
            Log::SignIns => "createdDateTime",
            Log::DirectoryAudits | Log::Provisioning => "activityDateTime",
        }
    }

    /// Its lower and upper time operators.
    pub(super) fn operators(self) -> (&'static str, &'static str) {
        match self {
            Log::SignIns | Log::DirectoryAudits => ("ge", "le"),
            Log::Provisioning => ("gt", "lt"),
        }
    }

    fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|log| log.segment().eq_ignore_ascii_case(segment))
    }
}

/// The log event `i` of the tenant belongs to.
pub fn log_of(i: u64) -> Log {
    match i % 10 {
        0..=5 => Log::SignIns,
        6..=8 => Log::DirectoryAudits,
        _ => Log::Provisioning,
    }
}

/// The `id` of event `i`.
pub fn event_id(i: u64) -> String {
    let mut out = BytesMut::with_capacity(64);
    render::put_id(&mut out, log_of(i), i);
    String::from_utf8_lossy(&out).into_owned()
}

/// Settings of an [`EntraSim`].
#[derive(Debug, Clone)]
pub struct EntraSimBuilder {
    feed: FeedSettings,
    tenant: String,
    client_id: String,
    client_secret: Option<String>,
    certificate: Option<String>,
    token_lifetime: Duration,
    refusal: Option<Refusal>,
    lag: Lag,
    empty_page_every: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Permission,
    Premium,
}

impl Default for EntraSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(5, Duration::from_secs(10))),
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            certificate: Some(TEST_CERTIFICATE.into()),
            token_lifetime: Duration::from_secs(3599),
            refusal: None,
            lag: Lag::default(),
            empty_page_every: None,
        }
    }
}

impl EntraSimBuilder {
    feed_builder!(EntraSim);

    /// The tenant the token endpoint serves (default [`TENANT`]).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// The application's client ID and its secret (`None`: no secret accepted); default [`CLIENT_ID`],
    /// [`CLIENT_SECRET`].
    #[must_use]
    pub fn client(mut self, id: impl Into<String>, secret: Option<&str>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.map(str::to_owned);
        self
    }

    /// The certificate (PEM; a key after it is ignored) client assertions must be signed with (default
    /// [`TEST_CERTIFICATE`]; `None`: assertions are refused).
    #[must_use]
    pub fn certificate(mut self, pem: Option<&str>) -> Self {
        self.certificate = pem.map(str::to_owned);
        self
    }

    /// How long issued tokens are valid (`expires_in`; default 3599 s).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The application lacks `AuditLog.Read.All`: every log answers 403 `Authorization_RequestDenied`.
    #[must_use]
    pub fn without_permission(mut self) -> Self {
        self.refusal = Some(Refusal::Permission);
        self
    }

    /// The tenant has no Entra ID P1/P2 licence: sign-ins answer 403
    /// `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
    #[must_use]
    pub fn without_premium(mut self) -> Self {
        self.refusal = Some(Refusal::Premium);
        self
    }

    /// How long after it happened an event is served (default: at once).
    #[must_use]
    pub fn indexing_delay(mut self, delay: Duration) -> Self {
        self.lag.set_indexing_delay(delay);
        self
    }

    /// One event in `one_in` is served only `delay` after it happened.
    #[must_use]
    pub fn late_events(mut self, one_in: u64, delay: Duration) -> Self {
        self.lag.set_late_events(one_in, delay);
        self
    }

    /// The registration the token endpoint serves.
    fn registration(&self) -> Registration {
        Registration {
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            certificate: self.certificate.clone(),
            token_lifetime: self.token_lifetime,
        }
    }

    /// Every `n`th continuation page is empty, with a next link to the same position.
    #[must_use]
    pub fn empty_page_every(mut self, n: u64) -> Self {
        self.empty_page_every = (n > 0).then_some(n);
        self
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    feed: Feed,
    settings: EntraSimBuilder,
    issuer: Arc<TokenIssuer>,
    continuations: AtomicU64,
    /// Events published with [`EntraSim::append_now`]: from the first index on, stamped this many µs
    /// later than the feed's sequence would.
    shifts: Mutex<Vec<(u64, i64)>>,
}

/// A running simulated Entra tenant. Dropping it stops the server.
#[derive(Debug)]
pub struct EntraSim {
    shared: Arc<Shared>,
    _server: Server,
}

impl EntraSim {
    /// Settings with defaults.
    pub fn builder() -> EntraSimBuilder {
        EntraSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: EntraSimBuilder) -> std::io::Result<Self> {
        let listener = Listener::loopback().await?;
        let base_url = listener.base_url();
        let issuer = TokenIssuer::new(&base_url, settings.registration(), "sim-graph")
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let shared = Arc::new(Shared {
            base_url,
            feed: Feed::new(settings.feed.clone()),
            settings,
            issuer: Arc::new(issuer),
            continuations: AtomicU64::new(0),
            shifts: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1.0/auditLogs/{log}", get(list::list))
            .with_state(shared.clone())
            .merge(shared.issuer.router());
        Ok(Self { _server: listener.serve("entra", app), shared })
    }

    /// `http://127.0.0.1:PORT`: the connector's `base_url` and `login_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        self.shared.issuer.token_url()
    }

    /// Token requests received, every status included.
    pub fn token_requests(&self) -> u64 {
        self.shared.issuer.token_requests()
    }

    /// Ends every token issued so far (the feed's static token stays valid).
    pub fn revoke_tokens(&self) {
        self.shared.issuer.revoke_tokens();
    }

    /// Publishes `n` more events stamped from now on (or right after the newest, if that is later),
    /// `spacing` apart, as a live tenant logs them; [`append`](crate::util::Feed::append) instead
    /// continues the feed's sequence where it is.
    pub fn append_now(&self, n: u64) {
        let mut shifts = self.shared.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let total = self.shared.feed.total_events();
        let shift = shifts.last().map_or(0, |(_, shift)| *shift);
        let behind = jiff::Timestamp::now().as_microsecond() - (self.shared.feed.clock().at_us(total) + shift);
        shifts.push((total, shift + behind.max(0)));
        self.shared.feed.append(n);
    }

    /// When event `i` happened, in epoch µs.
    pub fn at_us(&self, i: u64) -> i64 {
        self.shared.at_us(i)
    }

    /// How many of events `0..total` belong to `log`.
    pub fn count(log: Log, total: u64) -> u64 {
        (0..10).filter(|k| log_of(*k) == log).map(|k| total / 10 + u64::from(total % 10 > k)).sum()
    }

    /// Event `i` as this simulator serves it.
    pub fn render_event(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(1500);
        render::put_event(&mut out, log_of(i), i, self.shared.at_us(i));
        out.to_vec()
    }
}

feed_deref!(EntraSim);

impl Shared {
    /// When event `i` happened, in epoch µs: the feed's instant, shifted for events appended now.
    fn at_us(&self, i: u64) -> i64 {
        let shifts = self.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let at = shifts.partition_point(|(first, _)| *first <= i);
        self.feed.clock().at_us(i) + at.checked_sub(1).map_or(0, |k| shifts[k].1)
    }

    /// The instant Graph filters and orders event `i` by, in epoch ns (provisioning: whole seconds).
    fn instant_ns(&self, log: Log, i: u64) -> i128 {
        let us = i128::from(self.at_us(i));
        if log == Log::Provisioning { us.div_euclid(1_000_000) * 1_000_000_000 } else { us * 1000 }
    }

    /// The first of events `0..total` whose instant (as `log` writes it) is not below `bound` — or, with
    /// `strict`, above it.
    fn first_from(&self, log: Log, bound: i128, strict: bool, total: u64) -> u64 {
        let (mut low, mut high) = (0, total);
        while low < high {
            let mid = low + (high - low) / 2;
            let at = self.instant_ns(log, mid);
            if at > bound || (!strict && at == bound) { high = mid } else { low = mid + 1 }
        }
        low
    }

    /// Whether event `i` is indexed by `now_us`.
    fn visible(&self, i: u64, now_us: i64) -> bool {
        let delay = self.settings.lag.of(i);
        self.at_us(i) + delay.as_micros() as i64 <= now_us
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.issuer.authorized(headers, self.feed.token())
    }
}

#[cfg(test)]
mod tests;
