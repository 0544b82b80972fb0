//! A simulated Microsoft 365 tenant on loopback: its unified audit log through the Office 365 Management
//! Activity API (`/api/v1.0/{tenant}/activity/feed/…`) and the Microsoft identity platform's token
//! endpoint (`POST /{tenant}/oauth2/v2.0/token`, the Entra simulator's [`TokenIssuer`]), both on the
//! simulator's origin.
//!
//! # Contract
//!
//! * **Records.** Record `i` (0-based) of the tenant is a pure function of `i` and the settings; it
//!   belongs to content type [`kind_of`]`(i)` (the five in turn) and happened at `start + i × spacing`
//!   (the feed's clock; [`Office365Sim::append_now`] stamps new ones from now on). It is a record of the
//!   common schema: `Id` ([`record_id`]), `CreationTime` (whole seconds, no zone), `Operation`,
//!   `OrganizationId`, `RecordType`, `ResultStatus`, `UserKey`, `UserType`, `Version`, `Workload`,
//!   `ClientIP` (with a port), `ObjectId`, `UserId`.
//! * **Blobs.** The records of one content type that happened in one stretch of `blob_span` (default 1
//!   min) make a blob, created `publish_delay` after the stretch ends (default 1 min) plus up to
//!   `creation_jitter` (default none) — so blobs are not created in the order of their records — and
//!   listed from then on; with [`Office365SimBuilder::late_blobs`] one blob in N is listed a longer delay
//!   after its creation. A blob's records are served in no time order (scrambled), and never change.
//! * **Subscriptions.** `POST …/subscriptions/start?contentType=X` starts one (`{"contentType",
//!   "status": "enabled", "webhook": null}`), `GET …/subscriptions/list` lists them. A listing of a content
//!   type without one is 400 AF20022. By default every content type is subscribed;
//!   [`Office365SimBuilder::unsubscribed`] starts with none.
//! * **Listings.** `GET …/subscriptions/content?contentType=X&startTime=&endTime=`: both bounds or
//!   neither (the last 24 h), at most 24 h apart, the start no more than 7 days ago (else 400 AF20030);
//!   an unknown content type is 400 AF20020. The answer is the array of blobs created in `[startTime,
//!   endTime)` and listed by now, in the order they were listed (`contentType`, `contentId`,
//!   `contentUri`, `contentCreated`, `contentExpiration`), `page_blobs` at most (default 100); more are
//!   behind the `NextPageUri` header, an absolute URL with an opaque `nextPage` (an offset: a blob listed
//!   meanwhile may shift a page, as nothing documents the real API's stability).
//! * **Blob fetches.** `GET …/activity/feed/audit/{contentId}`: the blob's records, a JSON array; a
//!   blob older than 7 days is 400 AF20051, an unknown id 400 AF20050 [the statuses are not verified].
//! * **Auth and refusals.** Every request needs `Authorization: Bearer` with a token the issuer gave (or
//!   the feed's static token), else 401; [`Office365SimBuilder::without_permission`] answers 403 AF10001
//!   (no `ActivityFeed.Read`). Errors are `{"error": {"code", "message"}}`. Every `PublisherIdentifier`
//!   is recorded ([`Office365Sim::publishers`]).
//! * **Throttling.** One window for the tenant (default 2 000 requests a minute, the documented budget);
//!   past it, on planted ordinals, and with [`Office365SimBuilder::throttle_one_in`] on every Nth request,
//!   429 AF429 with `Retry-After` in seconds.
//!
//! The server binds `127.0.0.1:0`, runs on the current tokio runtime and stops when the
//! [`Office365Sim`] is dropped.

mod serve;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::BytesMut;

use crate::entra::{CLIENT_ID, CLIENT_SECRET, Registration, TENANT, TEST_CERTIFICATE, TokenIssuer};
use crate::util::{Feed, FeedSettings, Listener, RateLimits, Server, feed_builder, feed_deref, put_uuid, splitmix64};

/// The five content types, in the API reference's order; record `i` belongs to `KINDS[i % 5]`.
pub const KINDS: [&str; 5] =
    ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"];

/// The content type record `i` belongs to (an index into [`KINDS`]).
pub fn kind_of(i: u64) -> usize {
    (i % 5) as usize
}

/// The `Id` of record `i`.
pub fn record_id(i: u64) -> String {
    let mut out = BytesMut::with_capacity(36);
    put_uuid(&mut out, i, 0x0365_a0d1);
    String::from_utf8_lossy(&out).into_owned()
}

/// How many of records `0..total` belong to content type `kind`.
pub fn count(kind: usize, total: u64) -> u64 {
    total / 5 + u64::from(total % 5 > kind as u64)
}

/// Settings of an [`Office365Sim`].
#[derive(Debug, Clone)]
pub struct Office365SimBuilder {
    feed: FeedSettings,
    registration: Registration,
    subscribed: bool,
    without_permission: bool,
    blob_span: Duration,
    publish_delay: Duration,
    creation_jitter: Duration,
    late: Option<(u64, Duration)>,
    page_blobs: usize,
    throttle_one_in: Option<u64>,
}

impl Default for Office365SimBuilder {
    fn default() -> Self {
        Self {
            feed: FeedSettings::new(RateLimits::new(2000, Duration::from_secs(60))),
            registration: Registration {
                tenant: TENANT.into(),
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.into()),
                certificate: Some(TEST_CERTIFICATE.into()),
                token_lifetime: Duration::from_secs(3599),
            },
            subscribed: true,
            without_permission: false,
            blob_span: Duration::from_secs(60),
            publish_delay: Duration::from_secs(60),
            creation_jitter: Duration::ZERO,
            late: None,
            page_blobs: 100,
            throttle_one_in: None,
        }
    }
}

impl Office365SimBuilder {
    feed_builder!(Office365Sim, spacing "1 ms", newest "a minute");

    /// Who may get tokens (default: the Entra simulator's tenant, client, secret and certificate).
    #[must_use]
    pub fn registration(mut self, registration: Registration) -> Self {
        self.registration = registration;
        self
    }

    /// No content type is subscribed at start: listings answer AF20022 until one is started.
    #[must_use]
    pub fn unsubscribed(mut self) -> Self {
        self.subscribed = false;
        self
    }

    /// The application lacks `ActivityFeed.Read`: every request answers 403 AF10001.
    #[must_use]
    pub fn without_permission(mut self) -> Self {
        self.without_permission = true;
        self
    }

    /// The stretch of time one blob's records happened in (default 1 min).
    #[must_use]
    pub fn blob_span(mut self, span: Duration) -> Self {
        self.blob_span = span.max(Duration::from_millis(1));
        self
    }

    /// How long after its stretch ends a blob is created (default 1 min), and up to how much later still
    /// (default nothing), blob by blob.
    #[must_use]
    pub fn publish_delay(mut self, delay: Duration, jitter: Duration) -> Self {
        self.publish_delay = delay;
        self.creation_jitter = jitter;
        self
    }

    /// One blob in `one_in` is listed only `delay` after its creation.
    #[must_use]
    pub fn late_blobs(mut self, one_in: u64, delay: Duration) -> Self {
        self.late = (one_in > 0).then_some((one_in, delay));
        self
    }

    /// Blobs per listing page at most (default 100).
    #[must_use]
    pub fn page_blobs(mut self, n: usize) -> Self {
        self.page_blobs = n.max(1);
        self
    }

    /// Every `n`th request is answered 429 (with the planted wait, [`inject_wait`](Self::inject_wait)).
    #[must_use]
    pub fn throttle_one_in(mut self, n: u64) -> Self {
        self.throttle_one_in = (n > 0).then_some(n);
        self
    }
}

/// A blob: one content type's records of one stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobKey {
    pub(crate) kind: usize,
    pub(crate) stretch: i64,
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    feed: Feed,
    settings: Office365SimBuilder,
    issuer: Arc<TokenIssuer>,
    subscribed: [AtomicBool; 5],
    starts: AtomicU64,
    listings: AtomicU64,
    blob_fetches: AtomicU64,
    records_served: AtomicU64,
    throttled: AtomicU64,
    publishers: Mutex<BTreeSet<String>>,
    /// Records published with [`Office365Sim::append_now`]: from the first index on, this many µs later
    /// than the feed's sequence would stamp them.
    shifts: Mutex<Vec<(u64, i64)>>,
}

/// A running simulated tenant. Dropping it stops the server.
#[derive(Debug)]
pub struct Office365Sim {
    shared: Arc<Shared>,
    _server: Server,
}

impl Office365Sim {
    /// Settings with defaults.
    pub fn builder() -> Office365SimBuilder {
        Office365SimBuilder::default()
    }

    /// Starts a server with `settings`.
    pub async fn start(settings: Office365SimBuilder) -> std::io::Result<Self> {
        let listener = Listener::loopback().await?;
        let base_url = listener.base_url();
        let issuer = TokenIssuer::new(&base_url, settings.registration.clone(), "sim-o365")
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let subscribed = std::array::from_fn(|_| AtomicBool::new(settings.subscribed));
        let shared = Arc::new(Shared {
            base_url,
            feed: Feed::new(settings.feed.clone()),
            settings,
            issuer: Arc::new(issuer),
            subscribed,
            starts: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            blob_fetches: AtomicU64::new(0),
            records_served: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            publishers: Mutex::default(),
            shifts: Mutex::default(),
        });
        let feed = "/api/v1.0/{tenant}/activity/feed";
        let app = Router::new()
            .route(&format!("{feed}/subscriptions/start"), post(serve::start))
            .route(&format!("{feed}/subscriptions/list"), get(serve::list_subscriptions))
            .route(&format!("{feed}/subscriptions/content"), get(serve::content))
            .route(&format!("{feed}/audit/{{id}}"), get(serve::blob))
            .with_state(shared.clone())
            .merge(shared.issuer.router());
        Ok(Self { _server: listener.serve("office365", app), shared })
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

    /// Subscriptions started (`POST …/subscriptions/start`, answered 200).
    pub fn subscription_starts(&self) -> u64 {
        self.shared.starts.load(Ordering::Relaxed)
    }

    /// Content listings answered 200.
    pub fn listings(&self) -> u64 {
        self.shared.listings.load(Ordering::Relaxed)
    }

    /// Blob fetches answered 200.
    pub fn blob_fetches(&self) -> u64 {
        self.shared.blob_fetches.load(Ordering::Relaxed)
    }

    /// Records served in blobs (counting repeats).
    pub fn records_served(&self) -> u64 {
        self.shared.records_served.load(Ordering::Relaxed)
    }

    /// Requests answered 429, whatever the reason (the window, a planted ordinal, one in N).
    pub fn throttled(&self) -> u64 {
        self.shared.throttled.load(Ordering::Relaxed)
    }

    /// Every `PublisherIdentifier` requests carried (`""` for a request without one).
    pub fn publishers(&self) -> Vec<String> {
        self.shared.publishers.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    /// Publishes `n` more records stamped from now on (or right after the newest, if that is later), as
    /// a live tenant logs them.
    pub fn append_now(&self, n: u64) {
        let mut shifts = self.shared.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let total = self.shared.feed.total_events();
        let shift = shifts.last().map_or(0, |(_, shift)| *shift);
        let behind = jiff::Timestamp::now().as_microsecond() - (self.shared.feed.clock().at_us(total) + shift);
        shifts.push((total, shift + behind.max(0)));
        self.shared.feed.append(n);
    }

    /// When record `i` happened, in epoch µs.
    pub fn at_us(&self, i: u64) -> i64 {
        self.shared.at_us(i)
    }

    /// Record `i` as this simulator serves it.
    pub fn render_record(&self, i: u64) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(600);
        serve::put_record(&mut out, &self.shared.settings.registration.tenant, i, self.shared.at_us(i));
        out.to_vec()
    }

    /// When the blob holding record `i` is created, in epoch ms.
    pub fn blob_created_ms(&self, i: u64) -> i64 {
        let key = BlobKey { kind: kind_of(i), stretch: self.shared.stretch_of(self.shared.at_us(i)) };
        self.shared.created_ms(key)
    }
}

feed_deref!(Office365Sim);

impl Shared {
    /// When record `i` happened, in epoch µs: the feed's instant, shifted for records appended now.
    fn at_us(&self, i: u64) -> i64 {
        let shifts = self.shifts.lock().unwrap_or_else(PoisonError::into_inner);
        let at = shifts.partition_point(|(first, _)| *first <= i);
        self.feed.clock().at_us(i) + at.checked_sub(1).map_or(0, |k| shifts[k].1)
    }

    fn span_us(&self) -> i64 {
        (self.settings.blob_span.as_micros() as i64).max(1)
    }

    /// The stretch an instant (epoch µs) lies in.
    fn stretch_of(&self, at_us: i64) -> i64 {
        at_us.div_euclid(self.span_us())
    }

    /// When a blob is created, in epoch ms: its stretch's end, the publish delay and its jitter.
    fn created_ms(&self, key: BlobKey) -> i64 {
        let end_us = (key.stretch + 1) * self.span_us();
        let jitter_ms = self.settings.creation_jitter.as_millis() as u64;
        let hash = splitmix64((key.stretch as u64) ^ ((key.kind as u64) << 56));
        let jitter = if jitter_ms == 0 { 0 } else { (hash % (jitter_ms + 1)) as i64 };
        end_us.div_euclid(1000) + self.settings.publish_delay.as_millis() as i64 + jitter
    }

    /// When a blob is listed, in epoch ms: at its creation, or later for a late one.
    fn listed_ms(&self, key: BlobKey) -> i64 {
        let created = self.created_ms(key);
        let hash = splitmix64((key.stretch as u64) ^ ((key.kind as u64) << 56) ^ 0x1a7e);
        match self.settings.late {
            Some((one_in, delay)) if hash.is_multiple_of(one_in) => created + delay.as_millis() as i64,
            _ => created,
        }
    }

    /// The first of records `0..total` that happened at or after `at_us`.
    fn first_from(&self, at_us: i64, total: u64) -> u64 {
        let (mut low, mut high) = (0, total);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.at_us(mid) >= at_us { high = mid } else { low = mid + 1 }
        }
        low
    }

    /// The records of a blob among records `0..total`, in index order.
    fn records_of(&self, key: BlobKey, total: u64) -> Vec<u64> {
        let span = self.span_us();
        let (from, to) = (self.first_from(key.stretch * span, total), self.first_from((key.stretch + 1) * span, total));
        let first = from + ((key.kind as u64 + 5 - from % 5) % 5);
        (first..to).step_by(5).collect()
    }
}

#[cfg(test)]
mod tests;
