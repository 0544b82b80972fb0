//! What every simulator shares: the loopback server that stops when dropped, a fixed rate-limit
//! window, JSON answers with headers and `Link`s, and the allocation-free renderers the fast page writers
//! are built from.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

/// A bound port a simulator is about to serve on: its address is known (for the self links a handler
/// writes) before the router that needs it is built.
#[derive(Debug)]
pub struct Listener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `bind` (port 0: any free port).
    pub async fn bind(bind: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    /// Binds any free port of `127.0.0.1`.
    pub async fn loopback() -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `router` on the current tokio runtime until the returned [`Server`] is dropped; `name`
    /// labels a failure in the logs.
    pub fn serve(self, name: &'static str, router: Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr, base_url) = (self.addr, self.base_url());
        tokio::spawn(async move {
            let serve = axum::serve(self.listener, router).with_graceful_shutdown(async {
                let _closed = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::warn!(error = %err, simulator = name, "simulator stopped");
            }
        });
        Server { addr, base_url, _stop: stop }
    }
}

/// How a simulator starts: binds any free port of `127.0.0.1` and serves `routes` like
/// [`Listener::serve`], with the state `state` makes of the base URL (for the links its handlers write);
/// the state and the server.
pub async fn serve_loopback<S: Send + Sync + 'static>(
    name: &'static str,
    routes: Router<Arc<S>>,
    state: impl FnOnce(String) -> S,
) -> std::io::Result<(Arc<S>, Server)> {
    let listener = Listener::loopback().await?;
    let shared = Arc::new(state(listener.base_url()));
    let server = listener.serve(name, routes.with_state(shared.clone()));
    Ok((shared, server))
}

/// A running simulator's server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    base_url: String,
    _stop: oneshot::Sender<()>,
}

impl Server {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// A fixed rate-limit window: `limit` calls per `window`, counted across every request it is asked about.
#[derive(Debug)]
pub struct RateWindow {
    limit: u64,
    window_ms: i64,
    state: Mutex<(i64, u64)>,
}

/// What a [`RateWindow`] says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The window's limit.
    pub limit: u64,
    /// Calls left in the window after this one.
    pub remaining: u64,
    /// When the window resets, in epoch seconds (rounded up).
    pub reset_epoch: i64,
    /// Whether this call is past the limit (to answer 429, or 403 for GitHub).
    pub exceeded: bool,
}

impl RateWindow {
    /// `limit` calls per `window`, the first window starting now.
    pub fn new(limit: u64, window: Duration) -> Self {
        let window_ms = window.as_millis().clamp(1, i64::MAX as u128) as i64;
        Self { limit, window_ms, state: Mutex::new((jiff::Timestamp::now().as_millisecond(), 0)) }
    }

    /// Counts one call now.
    pub fn take(&self) -> Quota {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, used) = &mut *state;
        if now_ms >= *start + self.window_ms {
            *start += (now_ms - *start) / self.window_ms * self.window_ms;
            *used = 0;
        }
        *used += 1;
        Quota {
            limit: self.limit,
            remaining: self.limit.saturating_sub(*used),
            reset_epoch: (*start + self.window_ms + 999) / 1000,
            exceeded: *used > self.limit,
        }
    }
}

/// What every log simulator's builder sets the same way: how many events, when and how far apart, the
/// credential it requires, and its rate limits. A builder holds one as its `feed` member and gets the
/// setters from `feed_builder!`; the running simulator keeps a [`Feed`] (or, with several sequences of
/// events on one rate limit, as 1Password's, their [`Clock`] and a [`RateGate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSettings {
    /// Events at start.
    pub events: u64,
    /// When event 0 happened, in epoch ms (`None`: so that the newest is [`FeedSettings::newest_age`] old).
    pub start_ms: Option<i64>,
    /// Time between two consecutive events, in µs.
    pub spacing_us: u64,
    /// How old the newest event is at start when no start is set.
    pub newest_age: Duration,
    /// The credential the simulator requires, if any.
    pub token: Option<String>,
    /// The rate-limit window and planted answers.
    pub limits: RateLimits,
}

impl FeedSettings {
    /// 1000 events 1 ms apart, the newest a minute old, no credential, `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            events: 1000,
            start_ms: None,
            spacing_us: 1000,
            newest_age: Duration::from_secs(60),
            token: None,
            limits,
        }
    }

    /// The clock of `events` events on these settings, starting now: from the set start, or so that the
    /// newest of them is [`FeedSettings::newest_age`] old.
    pub fn clock(&self, events: u64) -> Clock {
        let span_ms = (events.saturating_mul(self.spacing_us) / 1000) as i64;
        let age_ms = self.newest_age.as_millis() as i64;
        let start_ms = self.start_ms.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond() - span_ms - age_ms);
        Clock { start_ms, spacing_us: self.spacing_us }
    }
}

/// When events happened: event `i` at `start_ms + i × spacing_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// When event 0 happened, in epoch milliseconds.
    pub start_ms: i64,
    /// Time between two consecutive events, in µs.
    pub spacing_us: u64,
}

impl Clock {
    /// When event `i` happened, in epoch milliseconds.
    pub fn at_ms(&self, i: u64) -> i64 {
        self.start_ms + (u128::from(i) * u128::from(self.spacing_us) / 1000) as i64
    }

    /// When event `i` happened, in epoch microseconds.
    pub fn at_us(&self, i: u64) -> i64 {
        self.start_ms * 1000 + (u128::from(i) * u128::from(self.spacing_us)) as i64
    }

    /// The first of `total` events that happened at or after epoch millisecond `ms` (`total` when none did).
    pub fn first_at_or_after(&self, ms: i64, total: u64) -> u64 {
        let delta = ms - self.start_ms;
        if delta <= 0 {
            return 0;
        }
        if self.spacing_us == 0 {
            return total;
        }
        let index = (delta as u128 * 1000).div_ceil(u128::from(self.spacing_us));
        u64::try_from(index).unwrap_or(u64::MAX).min(total)
    }
}

/// The setters of a simulator builder's `feed: FeedSettings` member, and its `start`, written once for
/// every simulator: `feed_builder!(OktaSim)`, or with the defaults its settings change in the docs,
/// `feed_builder!(SlackSim, spacing "10 ms", newest "ten minutes")`.
// Only the simulators on a feed use these; a build with none of them (`--features acme`) leaves them unused.
#[cfg_attr(
    not(any(feature = "okta", feature = "github", feature = "auth0", feature = "onepassword", feature = "slack")),
    allow(unused_macros, unused_imports)
)]
macro_rules! feed_builder {
    ($sim:ty) => {
        $crate::util::feed_builder!($sim, spacing "1 ms", newest "a minute");
    };
    ($sim:ty, spacing $spacing:literal, newest $age:literal) => {
        /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
        pub async fn start(self) -> std::io::Result<$sim> {
            <$sim>::start(self).await
        }

        /// How many events exist at start, in each feed where there are several (default 1000).
        #[must_use]
        pub fn events(mut self, total: u64) -> Self {
            self.feed.events = total;
            self
        }

        #[doc = concat!("When event 0 happened (default: so that the newest event is ", $age, " old).")]
        #[must_use]
        pub fn first_event_at(mut self, at: jiff::Timestamp) -> Self {
            self.feed.start_ms = Some(at.as_millisecond());
            self
        }

        #[doc = concat!(
            "Time between two consecutive events (default ", $spacing, "; below 1 ms events share instants)."
        )]
        #[must_use]
        pub fn spacing(mut self, spacing: std::time::Duration) -> Self {
            self.feed.spacing_us = spacing.as_micros() as u64;
            self
        }

        /// Require this credential (how it is sent: the simulator's contract).
        #[must_use]
        pub fn token(mut self, token: impl Into<String>) -> Self {
            self.feed.token = Some(token.into());
            self
        }

        /// Calls allowed per window, and the window.
        #[must_use]
        pub fn rate_limit(mut self, calls: u64, window: std::time::Duration) -> Self {
            let limits = &mut self.feed.limits;
            *limits = $crate::util::RateLimits {
                planted: std::mem::take(&mut limits.planted),
                wait: limits.wait,
                ..$crate::util::RateLimits::new(calls, window)
            };
            self
        }

        /// Answer `answer` to these requests (1-based ordinals over the simulator's log requests).
        #[must_use]
        pub fn inject(mut self, answer: $crate::util::Planted, ordinals: impl IntoIterator<Item = u64>) -> Self {
            self.feed.limits.plant(answer, ordinals);
            self
        }

        /// Answer 429 to these requests (1-based ordinals).
        #[must_use]
        pub fn inject_429(self, ordinals: impl IntoIterator<Item = u64>) -> Self {
            self.inject($crate::util::Planted::TooManyRequests, ordinals)
        }

        /// How long a planted answer asks to wait: its reset, its `Retry-After` (default 1 s).
        #[must_use]
        pub fn inject_wait(mut self, wait: std::time::Duration) -> Self {
            self.feed.limits.wait = wait;
            self
        }
    };
}
#[cfg_attr(
    not(any(feature = "okta", feature = "github", feature = "auth0", feature = "onepassword", feature = "slack")),
    allow(unused_macros, unused_imports)
)]
pub(crate) use feed_builder;

/// A running simulator's `Deref` to its feed (`self.shared.feed`), so that `append`, `requests` and the
/// rest are the same on every simulator (`feed_deref!(OktaSim)`).
#[cfg_attr(
    not(any(feature = "okta", feature = "github", feature = "auth0", feature = "slack")),
    allow(unused_macros, unused_imports)
)]
macro_rules! feed_deref {
    ($sim:ty) => {
        impl std::ops::Deref for $sim {
            type Target = $crate::util::Feed;

            fn deref(&self) -> &$crate::util::Feed {
                &self.shared.feed
            }
        }
    };
}
#[cfg_attr(
    not(any(feature = "okta", feature = "github", feature = "auth0", feature = "slack")),
    allow(unused_macros, unused_imports)
)]
pub(crate) use feed_deref;

/// The events of a running simulator and its counters; every simulator of one sequence of events
/// dereferences to its feed, so `sim.append(n)`, `sim.requests()` and the like are the same everywhere.
#[derive(Debug)]
pub struct Feed {
    total: AtomicU64,
    clock: Clock,
    token: Option<String>,
    gate: RateGate,
    served: AtomicU64,
}

impl Feed {
    /// The feed `settings` describe, its clock starting now.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            total: AtomicU64::new(settings.events),
            clock: settings.clock(settings.events),
            token: settings.token,
            gate: RateGate::new(settings.limits),
            served: AtomicU64::new(0),
        }
    }

    /// Events that exist now.
    pub fn total_events(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Publishes `n` more events (they continue the same deterministic sequence).
    pub fn append(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Log requests received, every status included.
    pub fn requests(&self) -> u64 {
        self.gate.requests()
    }

    /// Rate-limit answers given.
    pub fn rate_limited(&self) -> u64 {
        self.gate.rate_limited()
    }

    /// Events served in 200 pages (counting repeats).
    pub fn events_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Counts `n` events served.
    pub fn serve(&self, n: u64) {
        self.served.fetch_add(n, Ordering::Relaxed);
    }

    /// The rate gate.
    pub fn gate(&self) -> &RateGate {
        &self.gate
    }

    /// The credential required, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// When the events at start happened (and, on every simulator but Slack's, the appended ones too).
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

/// The rate-limit header names a vendor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateHeaders {
    /// `X-Rate-Limit-Limit/Remaining/Reset` (Okta).
    Dashed,
    /// `x-ratelimit-limit/remaining/reset` (Auth0, GitHub).
    Joined,
}

impl Quota {
    /// The limit, remaining and reset headers of this quota, in `family`'s names.
    pub fn headers(&self, family: RateHeaders) -> Vec<(&'static str, String)> {
        let names = match family {
            RateHeaders::Dashed => ["x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"],
            RateHeaders::Joined => ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"],
        };
        vec![
            (names[0], self.limit.to_string()),
            (names[1], self.remaining.to_string()),
            (names[2], self.reset_epoch.to_string()),
        ]
    }
}

/// A rate-limit answer a test plants on chosen requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planted {
    /// 429 Too Many Requests.
    TooManyRequests,
    /// The vendor's answer to an exhausted window when it is not a 429 (GitHub: 403 with
    /// `x-ratelimit-remaining: 0`).
    Exhausted,
    /// A secondary limit (GitHub: 403 with `Retry-After`).
    Secondary,
}

/// A simulator's rate-limit settings: a fixed window, and answers planted on request ordinals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Calls per window.
    pub calls: u64,
    /// The window.
    pub window: Duration,
    /// `(ordinal, answer)`: the 1-based request that gets a planted answer.
    pub planted: Vec<(u64, Planted)>,
    /// How far in the future a planted answer puts the reset (and its `Retry-After`).
    pub wait: Duration,
}

impl RateLimits {
    /// `calls` per `window`, nothing planted, planted answers 1 s long.
    pub fn new(calls: u64, window: Duration) -> Self {
        Self { calls, window: window.max(Duration::from_millis(1)), planted: Vec::new(), wait: Duration::from_secs(1) }
    }

    /// Plants `answer` on each of `ordinals`.
    pub fn plant(&mut self, answer: Planted, ordinals: impl IntoIterator<Item = u64>) {
        self.planted.extend(ordinals.into_iter().map(|ordinal| (ordinal, answer)));
    }

    /// [`RateLimits::wait`] in whole seconds, rounded up (for `Retry-After`).
    pub fn wait_secs(&self) -> u64 {
        self.wait.as_millis().div_ceil(1000) as u64
    }
}

/// What the [`RateGate`] says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Within the window: serve it.
    Open(Quota),
    /// Past the window's limit.
    Exceeded(Quota),
    /// A planted answer; the quota says 0 remaining and resets [`RateLimits::wait`] from now.
    Planted(Planted, Quota),
}

/// Counts a simulator's requests, and decides which are rate limited.
#[derive(Debug)]
pub struct RateGate {
    limits: RateLimits,
    window: RateWindow,
    requests: AtomicU64,
    limited: AtomicU64,
}

impl RateGate {
    /// A gate for `limits`, its first window starting now.
    pub fn new(limits: RateLimits) -> Self {
        let window = RateWindow::new(limits.calls, limits.window);
        Self { limits, window, requests: AtomicU64::new(0), limited: AtomicU64::new(0) }
    }

    /// The settings.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Counts a request arriving; its 1-based ordinal.
    pub fn arrive(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Takes request `ordinal` from the window (a request refused before, e.g. for its credential, is
    /// never passed here and does not count against the window).
    pub fn pass(&self, ordinal: u64) -> Gate {
        let quota = self.window.take();
        let planted = self.limits.planted.iter().find(|(at, _)| *at == ordinal).map(|(_, answer)| *answer);
        let gate = match planted {
            Some(answer) => {
                let reset_ms = jiff::Timestamp::now().as_millisecond() + self.limits.wait.as_millis() as i64;
                Gate::Planted(
                    answer,
                    Quota { remaining: 0, reset_epoch: (reset_ms + 999) / 1000, exceeded: true, ..quota },
                )
            }
            None if quota.exceeded => Gate::Exceeded(quota),
            None => Gate::Open(quota),
        };
        if !matches!(gate, Gate::Open(_)) {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        gate
    }

    /// Requests received, every status included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with a rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }
}

/// A JSON answer: `status`, `body`, `Content-Type: application/json` and `headers` (a value that is not
/// a valid header is left out).
pub fn json_response(status: StatusCode, body: impl Into<Bytes>, headers: &[(&'static str, String)]) -> Response {
    let mut response = Response::new(Body::from(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// Appends one `Link: <url>; rel="rel"` header value per `(rel, url)` (Okta's and Auth0's way; GitHub's
/// one comma-separated value is [`link_list`]).
pub fn append_links(response: &mut Response, links: &[(&str, &str)]) {
    for (rel, url) in links {
        if let Ok(value) = HeaderValue::from_str(&format!("<{url}>; rel=\"{rel}\"")) {
            response.headers_mut().append(header::LINK, value);
        }
    }
}

/// One `Link` header value listing every `(rel, url)`, comma-separated (GitHub's way).
pub fn link_list(response: &mut Response, links: &[(&str, &str)]) {
    let value = links.iter().map(|(rel, url)| format!("<{url}>; rel=\"{rel}\"")).collect::<Vec<_>>().join(", ");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::LINK, value);
    }
}

/// Whether the request's `Authorization` header is exactly `expected`.
pub fn authorized(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(expected)
}

/// A form body's fields (`application/x-www-form-urlencoded`: a token request), or `None` when it is
/// not one that reads as `T`.
pub fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    let uri: axum::http::Uri = format!("/?{}", std::str::from_utf8(body).ok()?).parse().ok()?;
    axum::extract::Query::<T>::try_from_uri(&uri).ok().map(|axum::extract::Query(fields)| fields)
}

/// The request's path and query on `base_url` (a simulator's own origin): the URL it was asked for, for
/// `self` links.
pub fn url_as_asked(base_url: &str, uri: &axum::http::Uri) -> String {
    format!("{base_url}{}", uri.path_and_query().map_or("/", |pq| pq.as_str()))
}

/// The people simulated accounts are made of: a display name, and the local part of an `@example.com`
/// address.
pub const PEOPLE: &[(&str, &str)] = &[
    ("Charlie Parker", "bird"),
    ("Maria Garcia", "maria.garcia"),
    ("Wei Chen", "wei.chen"),
    ("Aisha Okafor", "aisha.okafor"),
    ("Lukas Schmidt", "lukas.schmidt"),
    ("Sofia Rossi", "sofia.rossi"),
    ("Kenji Tanaka", "kenji.tanaka"),
    ("Jack O'Neill", "jack.oneill"),
];

/// How late a simulated vendor lists its events (Graph's and the Reports API's indexing delay): each one
/// `indexing_delay` after it happened, except one in `one_in` (picked by its index) listed only `delay`
/// after it happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    indexing_delay: Duration,
    late: Option<(u64, Duration)>,
}

impl Lag {
    /// Every event listed `delay` after it happened.
    pub fn set_indexing_delay(&mut self, delay: Duration) {
        self.indexing_delay = delay;
    }

    /// One event in `one_in` listed only `delay` after it happened (`0`: none).
    pub fn set_late_events(&mut self, one_in: u64, delay: Duration) {
        self.late = (one_in > 0).then_some((one_in, delay));
    }

    /// How long after it happened event `i` is listed.
    pub fn of(&self, i: u64) -> Duration {
        let late = self.late.filter(|(one_in, _)| splitmix64(i ^ 0x1a7e).is_multiple_of(*one_in));
        late.map_or(self.indexing_delay, |(_, delay)| delay)
    }
}

/// A bijective mixer: distinct inputs give distinct outputs (the simulators' deterministic "randomness").
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the low `digits` hex digits of `value`.
pub fn put_hex(out: &mut BytesMut, value: u64, digits: usize) {
    // A u64 has 16 hex digits: more are leading zeros.
    for _ in 16..digits {
        out.put_u8(b'0');
    }
    for shift in (0..digits.min(16)).rev() {
        out.put_u8(HEX[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

/// Writes `value` in decimal, zero-padded to at least `min_digits`.
pub fn put_dec(out: &mut BytesMut, mut value: u64, min_digits: usize) {
    let mut buf = [b'0'; 20];
    // A u64 has at most 20 digits: wider padding is leading zeros.
    for _ in buf.len()..min_digits {
        out.put_u8(b'0');
    }
    let min_digits = min_digits.min(buf.len());
    let mut pos = buf.len();
    while value > 0 || buf.len() - pos < min_digits.max(1) {
        pos -= 1;
        buf[pos] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.put_slice(&buf[pos..]);
}

/// Writes a private IPv4 address (`10.x.y.z`, never `.0` or `.255` last) chosen by bits 8 to 31 of `hash`.
pub fn put_private_ip(out: &mut BytesMut, hash: u64) {
    out.put_slice(b"10.");
    put_dec(out, (hash >> 8) & 0xff, 1);
    out.put_u8(b'.');
    put_dec(out, (hash >> 16) & 0xff, 1);
    out.put_u8(b'.');
    put_dec(out, ((hash >> 24) & 0xfd) + 1, 1);
}

/// Writes a UUID-shaped id unique to `index` (and to `salt`: simulators give their ids different salts).
pub fn put_uuid(out: &mut BytesMut, index: u64, salt: u64) {
    let a = splitmix64(index ^ salt);
    let b = splitmix64(index ^ salt ^ 0xa5a5_a5a5_a5a5_a5a5);
    put_hex(out, a >> 32, 8);
    out.put_u8(b'-');
    put_hex(out, (a >> 16) & 0xffff, 4);
    out.put_slice(b"-11ef-");
    put_hex(out, a & 0xffff, 4);
    out.put_u8(b'-');
    put_hex(out, b, 12);
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Writes `bytes` in base64: the standard alphabet with `=` padding, or with `url_safe` the URL alphabet
/// (`-`, `_`) without padding.
pub fn put_base64(out: &mut BytesMut, bytes: &[u8], url_safe: bool) {
    let symbol = |sextet: u32| {
        let c = BASE64[(sextet & 63) as usize];
        match (url_safe, c) {
            (true, b'+') => b'-',
            (true, b'/') => b'_',
            _ => c,
        }
    };
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.put_u8(symbol(n >> shift));
            } else if !url_safe {
                out.put_u8(b'=');
            }
        }
    }
}

/// Reads base64 of either alphabet, padded or not; `None` for anything else.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (bits < 6).then_some(out)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Writes a 26-character uppercase base32 id unique to `index` and `salt` (ids of two salts differ
/// unless their indices are about 2⁶³ apart), the shape of 1Password's UUIDs (`56YE2TYN2VFYRLNSHKPW5NVT5E`).
pub fn put_base32_id(out: &mut BytesMut, index: u64, salt: u64) {
    let key = splitmix64(salt);
    let a = splitmix64(index ^ key);
    let b = splitmix64(index ^ key ^ 0x5a5a_5a5a_5a5a_5a5a);
    // 130 bits from the 128 of (a, b): 13 characters from each half (the last of each reuses two bits).
    for half in [a, b] {
        for i in 0..13 {
            let bits = (half.rotate_left(i * 5 + 5)) & 31;
            out.put_u8(BASE32[bits as usize]);
        }
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `epoch_ms` as RFC 3339 in UTC with milliseconds, `2024-08-13T15:58:20.353Z`.
pub fn put_rfc3339_ms(out: &mut BytesMut, epoch_ms: i64) {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000) as u64;
    let (year, month, day) = civil_from_days(days);
    put_dec(out, year.max(0) as u64, 4);
    out.put_u8(b'-');
    put_dec(out, u64::from(month), 2);
    out.put_u8(b'-');
    put_dec(out, u64::from(day), 2);
    out.put_u8(b'T');
    put_dec(out, ms_of_day / 3_600_000, 2);
    out.put_u8(b':');
    put_dec(out, ms_of_day / 60_000 % 60, 2);
    out.put_u8(b':');
    put_dec(out, ms_of_day / 1000 % 60, 2);
    out.put_u8(b'.');
    put_dec(out, ms_of_day % 1000, 3);
    out.put_u8(b'Z');
}

/// What a simulator's throughput test measured, printed; and a check that it served its million events.
#[cfg(test)]
#[cfg_attr(
    not(any(feature = "okta", feature = "github", feature = "auth0", feature = "onepassword", feature = "slack")),
    allow(dead_code)
)]
pub(crate) fn report_serving_speed(unit: &str, served: u64, started: std::time::Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!("served {served} {unit} in {secs:.2} s: {:.0} {unit}/s (client included)", served as f64 / secs);
    assert_eq!(served, 1_000_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_jiff() {
        for ms in [0_i64, 1_723_564_700_353, 951_782_400_000, 4_102_444_799_999] {
            let mut out = BytesMut::new();
            put_rfc3339_ms(&mut out, ms);
            let ts = jiff::Timestamp::from_millisecond(ms).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }

    #[test]
    fn decimals_pad_to_any_width() {
        let dec = |value, width| {
            let mut out = BytesMut::new();
            put_dec(&mut out, value, width);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(dec(42, 5), "00042");
        assert_eq!(dec(0, 0), "0");
        assert_eq!(dec(7, 33), format!("{}7", "0".repeat(32)));
        assert_eq!(dec(u64::MAX, 3), u64::MAX.to_string());
        let mut out = BytesMut::new();
        put_hex(&mut out, 0xabc, 18);
        assert_eq!(&out[..], b"000000000000000abc");
    }

    #[test]
    fn base64_round_trips_in_both_alphabets() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", &[0xfb, 0xff, 0xfe, 0x01]] {
            for url_safe in [false, true] {
                let mut out = BytesMut::new();
                put_base64(&mut out, bytes, url_safe);
                let text = std::str::from_utf8(&out).unwrap();
                assert_eq!(decode_base64(text).as_deref(), Some(bytes), "{text}");
            }
        }
        let mut out = BytesMut::new();
        put_base64(&mut out, b"foob", false);
        assert_eq!(&out[..], b"Zm9vYg==");
        assert_eq!(decode_base64("Zm9v!"), None);
    }

    #[test]
    fn a_feed_places_its_events_in_time() {
        let settings = FeedSettings {
            events: 10,
            start_ms: Some(1000),
            spacing_us: 500,
            ..FeedSettings::new(RateLimits::new(9, Duration::from_secs(1)))
        };
        let feed = Feed::new(settings.clone());
        let clock = feed.clock();
        assert_eq!((clock.at_ms(3), clock.at_us(3)), (1001, 1_001_500));
        assert_eq!(
            (clock.first_at_or_after(0, 10), clock.first_at_or_after(1002, 10), clock.first_at_or_after(9999, 10)),
            (0, 4, 10)
        );
        // Without a start, the newest of the events is `newest_age` old.
        let newest =
            FeedSettings { start_ms: None, newest_age: Duration::from_secs(600), ..settings }.clock(10).at_ms(9);
        assert!((600_000..601_000).contains(&(jiff::Timestamp::now().as_millisecond() - newest)));
        feed.append(5);
        feed.serve(2);
        assert_eq!((feed.total_events(), feed.events_served(), feed.requests()), (15, 2, 0));
    }

    #[test]
    fn the_gate_counts_plants_and_limits() {
        let mut limits = RateLimits::new(3, Duration::from_secs(60));
        limits.plant(Planted::Secondary, [2]);
        let gate = RateGate::new(limits);
        let first = gate.arrive();
        assert!(matches!(gate.pass(first), Gate::Open(q) if q.remaining == 2));
        let second = gate.arrive();
        assert!(matches!(gate.pass(second), Gate::Planted(Planted::Secondary, q) if q.remaining == 0));
        gate.arrive();
        assert!(matches!(gate.pass(3), Gate::Open(_)));
        assert!(matches!(gate.pass(4), Gate::Exceeded(_)));
        assert_eq!((gate.requests(), gate.rate_limited()), (3, 2));
        let headers = Quota { limit: 5, remaining: 4, reset_epoch: 9, exceeded: false }.headers(RateHeaders::Joined);
        assert_eq!(headers[1], ("x-ratelimit-remaining", "4".to_owned()));
    }

    #[test]
    fn base32_ids_are_unique_and_shaped_like_1passwords() {
        let ids_of = |salt| -> std::collections::HashSet<Vec<u8>> {
            (0..10_000)
                .map(|i| {
                    let mut out = BytesMut::new();
                    put_base32_id(&mut out, i, salt);
                    out.to_vec()
                })
                .collect()
        };
        let ids = ids_of(7);
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 26 && id.iter().all(|c| BASE32.contains(c))));
        // Neighbouring salts (a simulator's feeds) share no id.
        assert!(ids.is_disjoint(&ids_of(6)));
    }

    #[test]
    fn a_window_counts_and_says_when_it_is_exceeded() {
        let window = RateWindow::new(2, Duration::from_secs(60));
        assert_eq!((window.take().remaining, window.take().remaining), (1, 0));
        let third = window.take();
        assert!(third.exceeded && third.reset_epoch > jiff::Timestamp::now().as_second());
    }
}
