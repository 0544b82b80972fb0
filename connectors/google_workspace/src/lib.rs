//! # logcrawl-google_workspace
//!
//! Crawls a Google Workspace customer's **audit activities through the Admin SDK Reports API**:
//! `GET {base_url}/admin/reports/v1/activity/users/all/applications/{application}`, one stream per
//! application (`applications = ["login", "admin", "drive", "token", "saml", …]`, default those five).
//! `README.md` is the operator's guide (what to create at Google, every key, what is not verified); this
//! is the summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Newest first.** The activities list serves newest first, page after page by `pageToken` ←
//!   `nextPageToken` (a query parameter on the connector's own URL, so no answer can send it elsewhere),
//!   `items` absent on an empty page. Each stream is the SDK's
//!   [`WindowedStream`](logcrawl_connector::WindowedStream): time cut into windows of at most
//!   `window_step`, walked oldest to newest, each one `startTime`/`endTime` on the API's milliseconds; the
//!   reference does not say whether `endTime` is inclusive, so activities at a window's end are dropped
//!   from it and read by the next window. No window ends later than `now − settle_lag`.
//! * **Lag by application.** Google documents how late each application's log events appear (near real
//!   time for admin, up to hours for others): each application has its own `settle_lag`
//!   ([`default_settle_lag`], overridable per application), and each window is read again from
//!   `settle_lag` before its start (the SDK's overlap). The activities the previous window's end cursor
//!   lists as delivered are dropped by their key, `id.time` + `id.uniqueQualifier` (the qualifier alone is
//!   shared by several activities); one listed late in that stretch is delivered, once. One listed more
//!   than twice `settle_lag` late is missed.
//! * **Service account, domain-wide delegation.** The key file's RSA key signs an RS256 JWT (`kid` =
//!   `private_key_id`; `iss` = `client_email`, `sub` = `subject`, `scope` = the Reports audit scope, `aud`
//!   = the token URL, an hour long), exchanged at `token_url` by the JWT bearer grant, anew for every
//!   attempt; the token is cached for every application of the source, renewed a minute before it
//!   expires, and fetched again once on a 401. `invalid_grant` and `unauthorized_client` are fatal and
//!   say what to check (the subject, the key, the delegation of the scope).
//! * **Quota.** A 429, or a 403 whose `error.errors[].reason` is `rateLimitExceeded`,
//!   `userRateLimitExceeded` or `quotaExceeded`, is waited out (its `Retry-After`, else the retry backoff)
//!   and the same page asked again; the applications of a source share one budget, paced at one request
//!   every 250 ms ([`DEFAULT_MIN_INTERVAL`]) unless `requests_per_second` says otherwise. Any other 403 is
//!   fatal for its stream and says what to check.
//! * **Retention.** 180 days: `initial_lookback` may not reach further.
//!
//! ## Records
//!
//! The activity stays the JSON Google sent ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)); `data`
//! adds `message`, `timestamp`, `status`, `uniqueQualifier`, `usr.*`, `network.client.ip`, `evt.name` and
//! `evt.outcome` (the table in the `event` module's source). `ddsource`/`service` default to
//! `google_workspace`.
//!
//! ## Configuration (`[[sources]]` with `connector = "google_workspace"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `credentials_file` | — | the service account's key file (JSON), or `credentials` |
//! | `credentials` | — | the key file's contents (a secret), or `credentials_file` |
//! | `subject` | — | the administrator the service account acts as |
//! | `token_url` | the key file's `token_uri`, else `https://oauth2.googleapis.com/token` | the token endpoint |
//! | `base_url` | `https://admin.googleapis.com` | the Admin SDK |
//! | `customer_id` | the subject's customer | `customerId` of every query |
//! | `applications` | `login`, `admin`, `drive`, `token`, `saml` | one stream each |
//! | `page_size` | `1000` | `maxResults`, 1–1000 |
//! | `initial_lookback` | `18h` | where a first run starts, at most 180 days, inside the sink's max age |
//! | `settle_lag` | per application | how far behind now windows end, and the overlap: `"30m"`, or `{ drive = "2h" }` (≤ `6h`) |
//! | `window_step` | `1h` | the longest window one query covers (`1s`–`24h`) |
//!
//! and the shared HTTP settings (README, "Shared settings") with the shared defaults ([`HTTP_DEFAULTS`]).

mod api;
mod auth;
mod config;
mod credentials;
mod event;

use std::sync::Arc;
use std::time::Duration;

use logcrawl_connector::{WindowPlan, lookback};
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, ExposeSecret, HttpSettings, LogStream};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig};

pub use api::{ActivitiesApi, ActivityStream, QUOTA_REASONS, RESOLUTION, is_quota_error, rfc3339_ms};
pub use auth::{GRANT_TYPE, ServiceAccountAuth};
pub use config::{
    APPLICATIONS, DEFAULT_APPLICATIONS, DEFAULT_BASE_URL, DEFAULT_MIN_INTERVAL, DEFAULT_PAGE_SIZE, DEFAULT_TOKEN_URL,
    DEFAULT_WINDOW_STEP, GoogleWorkspaceConfig, HTTP_DEFAULTS, MAX_PAGE_SIZE, MAX_SETTLE_LAG, MAX_WINDOW_STEP,
    RETENTION, SCOPE, SettleLag, default_settle_lag,
};
pub use credentials::{ASSERTION_LIFETIME, ServiceAccount};
pub use event::Activity;

/// `connector = "google_workspace"`: what the registry builds a Google Workspace source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "google_workspace",
    "Google Workspace audit activities through the Admin SDK Reports API (login, admin, drive, token, saml, …)",
    |table, context| Ok(Arc::new(GoogleWorkspaceConnector::from_table(table, context)?)),
);

/// One customer and service account: a stream per configured application, sharing the token and one
/// rate budget.
#[derive(Debug)]
pub struct GoogleWorkspaceConnector {
    streams: Vec<Arc<ActivityStream>>,
    auth: Arc<ServiceAccountAuth>,
}

impl GoogleWorkspaceConnector {
    /// Reads a `[[sources]]` table (the connector's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]) and builds the connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Validates `config` and builds the connector with the shared HTTP settings `http`;
    /// `context.max_age` bounds a first run's lookback.
    pub fn new(
        config: GoogleWorkspaceConfig,
        http: &HttpSettings,
        context: &BuildContext,
    ) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`GoogleWorkspaceConnector::new`], letting the caller adjust the HTTP settings of the Admin
    /// SDK's and the token endpoint's clients before they are built (retry timing in tests, for one).
    pub fn with_http(
        config: GoogleWorkspaceConfig,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let subject = config.subject()?.to_owned();
        let customer = config.customer()?.map(str::to_owned);
        let base = config.base()?;
        let applications = config.applications()?;
        let lags = config.settle_lags(&applications)?;
        let page_size = config.page_size()?;
        let step = config.window_step()?;
        let lookback =
            lookback::initial_lookback(config.initial_lookback, RETENTION, "Google Workspace", context.max_age)?;
        let source = config.key_source()?;
        let account = ServiceAccount::from_json(source.text.expose_secret())
            .map_err(|why| ConfigError::new(source.key, format!("{}: {why}", source.origin)))?;
        let token_url = config.token_url(account.token_uri())?;

        // Google's quotas are per Cloud project and per user: every source of this service account
        // shares one budget.
        let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = base.port_or_known_default().unwrap_or(0);
        let budget = format!("google_workspace:{host}:{port}:{}", account.client_email());
        let mut admin = HttpConfig::with_settings(base.clone(), settings)?;
        admin.rate_limit = RateLimitConfig {
            requests_per_second: settings.requests_per_second,
            min_interval: settings.requests_per_second.is_none().then_some(DEFAULT_MIN_INTERVAL),
            burst: None,
            margin: 0,
            key: Some(budget.clone()),
            ..RateLimitConfig::default()
        };
        admin.rate_limited = Some(is_quota_error);
        customize(&mut admin);
        let mut token = HttpConfig::with_settings(token_url.clone(), settings)?;
        token.rate_limit = RateLimitConfig { key: Some(format!("{budget}#token")), ..RateLimitConfig::default() };
        customize(&mut token);
        token.base_url = token_url.clone();
        let token_client = HttpClient::new(token).map_err(|err| ConfigError::new("token_url", err.to_string()))?;
        let auth = Arc::new(ServiceAccountAuth::new(account, subject, SCOPE.to_owned(), token_url, token_client));
        let client = HttpClient::new(admin)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))?
            .with_auth(auth.clone());
        let streams = applications
            .into_iter()
            .zip(lags)
            .map(|(application, lag)| {
                let plan =
                    WindowPlan::new(step, lag, lookback).with_resolution(Duration::from_millis(1)).with_overlap(lag);
                let api = ActivitiesApi::new(application, &base, page_size, customer.clone())
                    .map_err(|err| ConfigError::new("base_url", err))?;
                Ok(Arc::new(ActivityStream::new(api, client.clone(), plan)))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Self { streams, auth })
    }

    /// The streams, in the configured order.
    pub fn activity_streams(&self) -> &[Arc<ActivityStream>] {
        &self.streams
    }

    /// The service account's credential the streams share (for inspecting token fetches).
    pub fn auth(&self) -> &Arc<ServiceAccountAuth> {
        &self.auth
    }
}

impl Connector for GoogleWorkspaceConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.iter().map(|stream| stream.clone() as Arc<dyn LogStream>).collect()
    }
}

#[cfg(test)]
mod tests;
