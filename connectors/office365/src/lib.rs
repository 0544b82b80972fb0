//! # logcrawl-office365
//!
//! Crawls a Microsoft 365 tenant's **unified audit log through the Office 365 Management Activity API**:
//! one stream per content type (`Audit.AzureActiveDirectory`, `Audit.Exchange`, `Audit.SharePoint`,
//! `Audit.General`, `DLP.All`; choose with `content_types = [...]`, default all five). `README.md` is
//! the operator's guide (what to register, every key, what is not verified); this is the summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Subscriptions.** Content is only listed for a content type the tenant subscribed to. A listing
//!   answered AF20022 (no subscription) or AF20023 (disabled by an administrator) starts it
//!   (`POST …/activity/feed/subscriptions/start?contentType=…`) and asks again; a new subscription's
//!   first blobs may take up to 12 hours to appear.
//! * **Blobs, listed by creation time.** `GET …/subscriptions/content?contentType=…&startTime=…&endTime=…`
//!   lists the content blobs made available in `[startTime, endTime)` (whole seconds, at most 24 hours,
//!   no earlier than 7 days ago), page after page by the `NextPageUri` response header (absolute, kept on
//!   the API's origin); `GET contentUri` gives a blob's audit records, a JSON array. Records inside blobs
//!   are in no order and a blob may hold records hours older than itself: time is cut by the blobs'
//!   creation instead, windows of at most `window_step`, oldest to newest, none newer than
//!   `now − settle_lag`.
//! * **Blobs listed late.** Each window's listing starts `overlap` before it: the blobs delivered in that
//!   stretch are named in the cursor and skipped, a blob listed late in it is delivered, once. A blob
//!   listed more than `settle_lag + overlap` after its creation is missed (the limit).
//! * **Exact cursors.** Blobs never change: a record's cursor names the blobs delivered so far and how
//!   many records of its own blob, so a run stopped anywhere resumes at the next record
//!   ([`cursor`]).
//! * **Expired blobs.** Content is kept 7 days; a listed blob answered AF20051/AF20050 (or 404/410) is
//!   logged and skipped, since it can never be fetched again.
//! * **Client credentials** as the Entra connector's ([`logcrawl_entra::ClientCredentials`]): a client
//!   secret or a certificate assertion, `scope` = `{base_url}/.default`, one token for the source's
//!   streams, renewed before it expires and fetched again once on a 401.
//! * **Throttling.** About 2 000 requests a minute per tenant and `PublisherIdentifier` (sent on every
//!   request, `publisher_id`, default the tenant): the streams share one budget paced at one request every
//!   40 ms ([`DEFAULT_MIN_INTERVAL`]); a 429's `Retry-After` is waited out (up to `max_retry_wait`).
//! * **Refusals.** A 403 (AF10001: no `ActivityFeed.Read`; or auditing off) is fatal for its stream and
//!   names what to check.
//!
//! ## Records
//!
//! The record stays the JSON the blob held ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)); `data`
//! adds `id`, `message`, `timestamp`, `status`, `usr.*`, `network.client.ip`, `evt.name` and
//! `evt.outcome` (the table in the `event` module's source). `ddsource`/`service` default to `office365`.
//!
//! ## Configuration (`[[sources]]` with `connector = "office365"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `tenant_id` | — | the directory (tenant) ID, a GUID |
//! | `client_id` | — | the app registration's application (client) ID |
//! | `client_secret` | — | a client secret's value (or `certificate_file`) |
//! | `certificate_file` | — | a PEM with the app's certificate and its private key (or `client_secret`) |
//! | `login_url` | `https://login.microsoftonline.com` | the identity platform (national clouds differ) |
//! | `base_url` | `https://manage.office.com` | the Management APIs (GCC High, DoD differ); also the token's scope |
//! | `publisher_id` | `tenant_id` | `PublisherIdentifier`: whose quota the requests count against |
//! | `content_types` | all five | any of the five content types |
//! | `initial_lookback` | `18h` | where a first run starts, at most `168h`, inside the sink's max age |
//! | `settle_lag` | `10m` | how far behind now windows end (≤ `12h`) |
//! | `overlap` | `1h` | how long before each window its listing is read again |
//! | `window_step` | `1h` | the longest window; `window_step + overlap` ≤ `24h` |
//!
//! and the shared HTTP settings (README, "Shared settings") with the shared defaults ([`HTTP_DEFAULTS`]);
//! `requests_per_second`, when given, replaces the default pace of [`DEFAULT_MIN_INTERVAL`].

mod api;
mod config;
pub mod cursor;
mod event;
mod stream;

use std::sync::Arc;

use logcrawl_connector::lookback;
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, HttpSettings, LogStream};
use logcrawl_entra::ClientCredentials;
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig};

pub use api::{
    Blob, ContentType, FeedApi, Listing, blob_gone, error_code, listing_time, needs_subscription, parse_instant,
};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_MIN_INTERVAL, DEFAULT_OVERLAP, DEFAULT_SETTLE_LAG, DEFAULT_WINDOW_STEP, HTTP_DEFAULTS,
    MAX_LISTING, MAX_SETTLE_LAG, Office365Config, RETENTION,
};
pub use cursor::{FeedCursor, FeedPlan};
pub use stream::FeedStream;

/// `connector = "office365"`: what the registry builds an Office 365 source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "office365",
    "Microsoft 365 unified audit log through the Office 365 Management Activity API (one stream per content type)",
    |table, context| Ok(Arc::new(Office365Connector::from_table(table, context)?)),
);

/// One tenant and application: a stream per content type, sharing the token and one rate budget.
#[derive(Debug)]
pub struct Office365Connector {
    streams: Vec<Arc<FeedStream>>,
    credentials: Arc<ClientCredentials>,
}

impl Office365Connector {
    /// Reads a `[[sources]]` table (the connector's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]) and builds the connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Validates `config` and builds the connector with the shared HTTP settings `http`;
    /// `context.max_age` bounds a first run's lookback.
    pub fn new(config: Office365Config, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`Office365Connector::new`], letting the caller adjust the HTTP settings of the API's and the
    /// token endpoint's clients before they are built (retry timing in tests, for one).
    pub fn with_http(
        config: Office365Config,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let registration = config.registration();
        let tenant = config.tenant()?;
        let client_id = registration.client()?.to_owned();
        let publisher = config.publisher(&tenant)?;
        let base = config.base()?;
        let kinds = config.content_types()?;
        let (step, settle_lag, overlap) = config.windows()?;
        let lookback = lookback::initial_lookback(
            config.initial_lookback,
            RETENTION,
            "the Office 365 Management Activity API",
            context.max_age,
        )?;

        // The API's quota is per tenant and publisher: every source of this tenant and publisher shares it.
        let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = base.port_or_known_default().unwrap_or(0);
        let budget = format!("office365:{host}:{port}:{tenant}:{publisher}");
        let mut api = HttpConfig::with_settings(base.clone(), settings)?;
        api.rate_limit =
            RateLimitConfig::tenant(budget.clone(), settings.requests_per_second, Some(DEFAULT_MIN_INTERVAL));
        customize(&mut api);
        let credentials = Arc::new(ClientCredentials::for_resource(
            &registration,
            &base,
            settings,
            &format!("{budget}:{client_id}#token"),
            &customize,
        )?);
        let client = HttpClient::new(api)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))?
            .with_auth(credentials.clone());
        let plan =
            FeedPlan { step, settle_lag, overlap, lookback, max_windows_per_run: None, max_pages_per_window: 10_000 };
        let streams = kinds
            .into_iter()
            .map(|kind| {
                let api =
                    FeedApi::new(kind, &base, &tenant, &publisher).map_err(|err| ConfigError::new("base_url", err))?;
                Ok(Arc::new(FeedStream::new(api, client.clone(), plan)))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Self { streams, credentials })
    }

    /// The streams, in the configured order.
    pub fn feed_streams(&self) -> &[Arc<FeedStream>] {
        &self.streams
    }

    /// The client credentials the streams share (for inspecting token fetches).
    pub fn credentials(&self) -> &Arc<ClientCredentials> {
        &self.credentials
    }
}

impl Connector for Office365Connector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.iter().map(|stream| stream.clone() as Arc<dyn LogStream>).collect()
    }
}

#[cfg(test)]
mod tests;
