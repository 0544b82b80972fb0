//! A simulated Cisco Duo Admin API (its three log endpoints) on loopback.
//!
//! # Contract
//!
//! * **Events.** Three logs, each event a pure function of its index and instant, in the shapes of
//!   Duo's Admin API documentation: authentication events (`txid`, `isotimestamp` with microseconds,
//!   `timestamp` in seconds, `user`, `email`, `application`, `access_device`, `auth_device`,
//!   `event_type`, `factor`, `result`, `reason`, …; one in ten denied, one in a thousand fraud),
//!   telephony events (`telephony_id`, `txid`, `ts`, `context`, `type`, `phone`, `credits`) and
//!   administrator events (`action`, `description`, `isotimestamp` in seconds, `object`, `timestamp`,
//!   `username`; no id). Which optional members real events carry is not verified. The builder's feed
//!   is the authentication log ([`DuoSimBuilder::administrator`] and [`DuoSimBuilder::telephony`] size
//!   the others); [`DuoSim::append`] (and `append_administrator`, `append_telephony`) publish more,
//!   stamped from the moment of the call on, as a live log's new events are.
//! * **Delay.** An event is served only once it is [`DuoSimBuilder::delay`] old (default two minutes,
//!   Duo's documented delay): a query reaching closer to now gets nothing there. Events older than 180
//!   days are not served.
//! * **v2** (`GET /admin/v2/logs/authentication`, `/admin/v2/logs/telephony`). `mintime` and `maxtime`
//!   (epoch milliseconds, both inclusive, both required, `mintime < maxtime`, else 400 `40002`), `limit`
//!   (default 100, at most 1000, else 400), `sort` (`ts:desc`, the default, or `ts:asc`; ties in the
//!   same order by index), `next_offset` (as handed out: authentication `ts,txid`, telephony
//!   `ts,telephony_id`; one naming no event of the query is 400). The answer is `{"stat": "OK",
//!   "response": {"authlogs" | "items": [...], "metadata": {"next_offset": …, "total_objects": …}}}`;
//!   authentication's `next_offset` is the list `["<ms>", "<txid>"]` and `total_objects` a number,
//!   telephony's a string `"<ms>,<id>"` and `{"relation": "eq", "value": N}` (the shapes
//!   `duo_client_python` documents). A `next_offset` is handed out whenever a page is full, so a
//!   query whose events fill its last page exactly ends with an empty page [UNVERIFIED: whether Duo
//!   does the same]; otherwise it is `null`.
//! * **v1** (`GET /admin/v1/logs/administrator`). `mintime` in epoch seconds (default 0): the 1000
//!   earliest events from that second on, oldest first, `{"stat": "OK", "response": [...]}`.
//! * **Signatures.** Every request must carry `Date` and `Authorization: Basic
//!   base64(ikey:hex(HMAC-SHA512(skey, canon)))` for the configured API host, integration key and
//!   secret key ([`Credentials`], the feed's `token` being the secret key): the simulator recomputes the
//!   canonical request from what it received and answers 401 `{"stat": "FAIL", "code": 40103,
//!   "message": "Invalid signature in request credentials"}` when it does not match (40101 without
//!   credentials, 40102 for another integration key, 40104/40105 for a missing or stale `Date`
//!   [UNVERIFIED codes]). [`DuoSimBuilder::without_read_log`] answers every log request 403 `40301`
//!   "Access forbidden", an application without "Grant read log".
//! * **Rate limits.** One fixed window for every log request ([`DuoSimBuilder::rate_limit`], default
//!   100 000 calls a minute; Duo publishes no number); past it, and on requests planted with
//!   [`DuoSimBuilder::inject_429`], 429 `{"stat": "FAIL", "code": 42901, "message": "Too Many
//!   Requests"}` with `Retry-After` [UNVERIFIED: whether Duo sends it]. Duo has no token endpoint: the
//!   credentials sign each request.
//! * **Counters.** Requests (every status), refused signatures, 429s, events served.
//! * **Speed.** Pages are rendered straight into one buffer (no serialiser, no allocation per event).
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when dropped.

mod pages;
mod render;
mod signature;
mod timeline;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use bytes::BytesMut;

use crate::util::{Feed, FeedSettings, Gate, Listener, RateLimits, Server, feed_builder, feed_deref, json_response};
use pages::{administrator, authentication, telephony};
use timeline::Timeline;

pub use signature::{Credentials, MAX_DATE_SKEW, Refused, canonical_of, query_pairs, read_date, sign};

/// The API host signatures name by default.
pub const DEFAULT_API_HOST: &str = "api-5im00000.duosecurity.com";
/// The integration key by default.
pub const DEFAULT_INTEGRATION_KEY: &str = "DISIMULATEDKEY000000";
/// The secret key by default (40 characters, as Duo's are).
pub const DEFAULT_SECRET_KEY: &str = "simulatedSecretKey0000000000000000000000";
/// Duo's largest v2 page.
pub const MAX_LIMIT: u64 = 1000;
/// The v2 page size without `limit`.
pub const DEFAULT_LIMIT: u64 = 100;
/// The v1 page size.
pub const V1_PAGE: u64 = 1000;
/// Duo's documented delay before an event is served.
pub const DELAY: Duration = Duration::from_secs(120);
/// How far back events are served.
pub const RETENTION: Duration = Duration::from_secs(180 * 86_400);

/// Settings of a [`DuoSim`]. Its feed is the authentication log; its feed's `token` the secret key.
#[derive(Debug, Clone)]
pub struct DuoSimBuilder {
    feed: FeedSettings,
    administrator: (u64, Duration),
    telephony: (u64, Duration),
    api_host: String,
    integration_key: String,
    delay: Duration,
    read_log: bool,
}

impl Default for DuoSimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings {
                token: Some(DEFAULT_SECRET_KEY.into()),
                ..FeedSettings::new(RateLimits::new(100_000, Duration::from_secs(60)))
            },
            administrator: (100, Duration::from_millis(250)),
            telephony: (100, Duration::from_millis(10)),
            api_host: DEFAULT_API_HOST.into(),
            integration_key: DEFAULT_INTEGRATION_KEY.into(),
            delay: DELAY,
            read_log: true,
        }
    }
}

impl DuoSimBuilder {
    feed_builder!(DuoSim);

    /// Administrator events at start and their spacing (default 100, 250 ms apart: several a second).
    #[must_use]
    pub fn administrator(mut self, events: u64, spacing: Duration) -> Self {
        self.administrator = (events, spacing);
        self
    }

    /// Telephony events at start and their spacing (default 100, 10 ms apart).
    #[must_use]
    pub fn telephony(mut self, events: u64, spacing: Duration) -> Self {
        self.telephony = (events, spacing);
        self
    }

    /// The API host signatures must name (default [`DEFAULT_API_HOST`]).
    #[must_use]
    pub fn api_host(mut self, host: impl Into<String>) -> Self {
        self.api_host = host.into();
        self
    }

    /// The integration key signatures must carry (default [`DEFAULT_INTEGRATION_KEY`]).
    #[must_use]
    pub fn integration_key(mut self, key: impl Into<String>) -> Self {
        self.integration_key = key.into();
        self
    }

    /// How old an event must be before it is served (default two minutes).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answer every log request 403 `40301`: an application without the "Grant read log" permission.
    #[must_use]
    pub fn without_read_log(mut self) -> Self {
        self.read_log = false;
        self
    }
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    feed: Feed,
    credentials: Credentials,
    delay_ms: i64,
    read_log: bool,
    authentication: Timeline,
    administrator: Timeline,
    telephony: Timeline,
    refused: AtomicU64,
}

/// A running simulated Duo. Dropping it stops the server.
#[derive(Debug)]
pub struct DuoSim {
    shared: Arc<Shared>,
    _server: Server,
}

feed_deref!(DuoSim);

/// Which v2 log a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V2 {
    Authentication,
    Telephony,
}

impl DuoSim {
    /// Settings with defaults.
    pub fn builder() -> DuoSimBuilder {
        DuoSimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: DuoSimBuilder) -> std::io::Result<Self> {
        let listener = Listener::loopback().await?;
        let feed = settings.feed.clone();
        let spacing = Duration::from_micros(feed.spacing_us);
        let shared = Arc::new(Shared {
            base_url: listener.base_url(),
            credentials: Credentials {
                api_host: settings.api_host.to_ascii_lowercase(),
                integration_key: settings.integration_key.clone(),
                secret_key: feed.token.clone().unwrap_or_else(|| DEFAULT_SECRET_KEY.into()),
            },
            delay_ms: settings.delay.as_millis().min(i64::MAX as u128) as i64,
            read_log: settings.read_log,
            authentication: Timeline::new(feed.events, spacing, feed.start_ms),
            administrator: Timeline::new(settings.administrator.0, settings.administrator.1, feed.start_ms),
            telephony: Timeline::new(settings.telephony.0, settings.telephony.1, feed.start_ms),
            refused: AtomicU64::new(0),
            feed: Feed::new(feed),
        });
        let app = Router::new()
            .route("/admin/v2/logs/authentication", get(authentication))
            .route("/admin/v2/logs/telephony", get(telephony))
            .route("/admin/v1/logs/administrator", get(administrator))
            .with_state(shared.clone());
        Ok(Self { _server: listener.serve("duo", app), shared })
    }

    /// `http://127.0.0.1:PORT`: the connector's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The application the simulator accepts signatures of.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }

    /// Requests refused for their credentials.
    pub fn refused_signatures(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Publishes `n` more authentication events, stamped from now on.
    pub fn append(&self, n: u64) {
        self.shared.authentication.append(n);
        self.shared.feed.append(n);
    }

    /// Publishes `n` more administrator events, stamped from now on.
    pub fn append_administrator(&self, n: u64) {
        self.shared.administrator.append(n);
    }

    /// Publishes `n` more telephony events, stamped from now on.
    pub fn append_telephony(&self, n: u64) {
        self.shared.telephony.append(n);
    }

    /// Authentication, administrator and telephony events that exist now.
    pub fn totals(&self) -> (u64, u64, u64) {
        let s = &self.shared;
        (s.authentication.total(), s.administrator.total(), s.telephony.total())
    }

    /// The `txid` of authentication event `i` ([`txid`]).
    pub fn txid(&self, i: u64) -> String {
        txid(i)
    }

    /// The `telephony_id` of telephony event `i` ([`telephony_id`]).
    pub fn telephony_id(&self, i: u64) -> String {
        telephony_id(i)
    }

    /// Authentication event `i` as served.
    pub fn render_authentication(&self, i: u64) -> Vec<u8> {
        let at = self.shared.authentication.clock().at_us(i);
        text(|out| render::put_authentication(out, i, at)).into_bytes()
    }

    /// Administrator event `i` as served.
    pub fn render_administrator(&self, i: u64) -> Vec<u8> {
        let at = self.shared.administrator.clock().at_us(i);
        text(|out| render::put_administrator(out, i, at)).into_bytes()
    }

    /// Telephony event `i` as served.
    pub fn render_telephony(&self, i: u64) -> Vec<u8> {
        let at = self.shared.telephony.clock().at_us(i);
        text(|out| render::put_telephony(out, i, at)).into_bytes()
    }

    /// When authentication event `i` happened, in epoch milliseconds.
    pub fn authentication_ms(&self, i: u64) -> i64 {
        self.shared.authentication.clock().at_ms(i)
    }
}

/// The `txid` of authentication event `i` of any simulator (for a process that only knows the index).
pub fn txid(i: u64) -> String {
    text(|out| render::put_txid(out, i))
}

/// The `telephony_id` of telephony event `i` of any simulator.
pub fn telephony_id(i: u64) -> String {
    text(|out| render::put_telephony_id(out, i))
}

fn text(write: impl FnOnce(&mut BytesMut)) -> String {
    let mut out = BytesMut::with_capacity(64);
    write(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn fail(
    status: StatusCode,
    code: u64,
    message: &str,
    detail: Option<&str>,
    headers: &[(&'static str, String)],
) -> Response {
    let mut body = serde_json::json!({"stat": "FAIL", "code": code, "message": message});
    if let Some(detail) = detail {
        body["message_detail"] = detail.into();
    }
    json_response(status, body.to_string(), headers)
}

fn bad_request(detail: &str) -> Response {
    fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some(detail), &[])
}

impl Shared {
    /// What every log request passes: its credentials, its permission, the rate limit; the refusal of
    /// one that does not.
    fn refusal(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        let ordinal = self.feed.gate().arrive();
        let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let verdict = self.credentials.verify(
            method.as_str(),
            uri.path(),
            uri.query(),
            header(header::DATE),
            header(header::AUTHORIZATION),
            jiff::Timestamp::now(),
        );
        if let Err(refused) = verdict {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Some(fail(StatusCode::UNAUTHORIZED, refused.code(), refused.message(), None, &[]));
        }
        if !self.read_log {
            return Some(fail(
                StatusCode::FORBIDDEN,
                40301,
                "Access forbidden",
                Some("This integration is not allowed to read logs: grant it the \"Grant read log\" permission"),
                &[],
            ));
        }
        match self.feed.gate().pass(ordinal) {
            Gate::Open(_) => None,
            Gate::Exceeded(quota) | Gate::Planted(_, quota) => {
                let now = jiff::Timestamp::now().as_second();
                let wait = (quota.reset_epoch - now).max(1).to_string();
                Some(fail(StatusCode::TOO_MANY_REQUESTS, 42901, "Too Many Requests", None, &[("retry-after", wait)]))
            }
        }
    }

    /// The newest millisecond served now, and the oldest.
    fn served_span(&self) -> (i64, i64) {
        let now = jiff::Timestamp::now().as_millisecond();
        (now - RETENTION.as_millis() as i64, now - self.delay_ms)
    }
}

#[cfg(test)]
mod tests;
