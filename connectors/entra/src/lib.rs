//! # logcrawl-entra
//!
//! Crawls a Microsoft Entra ID tenant's **audit logs through Microsoft Graph**:
//! `GET {base_url}/v1.0/auditLogs/signIns`, `/directoryAudits` and `/provisioning`, one stream each
//! (`sign_ins`, `directory_audits`, `provisioning`; choose with `streams = [...]`, default all three).
//! `README.md` is the operator's guide (what to register in Entra, every key, what is not verified); this
//! is the summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Newest first.** Graph lists each log newest first (`createdDateTime` for sign-ins,
//!   `activityDateTime` for the others), page after page by `@odata.nextLink` (an absolute URL with
//!   `$skiptoken`, kept on Graph's origin by the SDK) until there is none. So each stream is the SDK's
//!   [`WindowedStream`](logcrawl_connector::WindowedStream): time cut into windows of at most
//!   `window_step`, walked oldest to newest, each one `$filter` on the log's time property — `ge`/`le` for
//!   sign-ins and directory audits, `gt`/`lt` for provisioning, as each list method documents — on Graph's
//!   100 ns ticks, so that consecutive windows meet exactly; none newer than `now − settle_lag`.
//! * **Events indexed late.** Microsoft gives 2 minutes (95th percentile) to 5 minutes (99th) before a
//!   sign-in or audit event is listed. Windows end `settle_lag` (default 5 min) behind now, and each window
//!   is read from `settle_lag` before its start again (the SDK's overlap): the ids the previous window's end
//!   cursor lists as delivered are dropped, an event indexed late in that stretch is delivered, once. An
//!   event indexed more than twice `settle_lag` late is missed.
//! * **Exact cursors.** Every event has a unique `id`, and a window is served newest first: each record's
//!   cursor says how far down its window was delivered ([`WindowCursor`](logcrawl_connector::WindowCursor)),
//!   so a run stopped anywhere resumes with no duplicate and no gap.
//! * **Client credentials.** `POST {login_url}/{tenant_id}/oauth2/v2.0/token` with the app's
//!   `client_secret`, or a client assertion signed with its certificate (`certificate_file`, RS256, named
//!   by its `x5t#S256` and `x5t` thumbprints, a new `jti` per request), `scope` = `{base_url}/.default`;
//!   the token is cached, renewed a minute before it expires, and fetched again once on a 401.
//! * **Throttling.** Graph's identity and access reports take five requests per ten seconds per app and
//!   tenant: the three streams of a source share one budget paced at one request every 2 s
//!   ([`DEFAULT_MIN_INTERVAL`]); a 429's `Retry-After` is waited out (up to `max_retry_wait`) and the same
//!   page asked again.
//! * **Refusals.** A 403 is fatal for its stream and says why: the app lacks `AuditLog.Read.All`
//!   (`Authorization_RequestDenied`), or the tenant has no Entra ID P1/P2 licence, which sign-ins need
//!   (`Authentication_RequestFromNonPremiumTenantOrB2CTenant`). A refused credential at the token
//!   endpoint is fatal and names what to check.
//! * **Retention.** 30 days with P1/P2 (7 on a free tenant): `initial_lookback` may not reach further.
//!
//! ## Records
//!
//! The event stays the JSON Graph sent ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)); `data` adds
//! `id`, `message`, `timestamp`, `status`, `usr.*`, `network.client.ip`, `http.useragent`, `evt.name` and
//! `evt.outcome` (the table in the `event` module's source). `ddsource`/`service` default to `entra`.
//!
//! ## Configuration (`[[sources]]` with `connector = "entra"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `tenant_id` | — | the directory (tenant) ID, or a verified domain |
//! | `client_id` | — | the app registration's application (client) ID |
//! | `client_secret` | — | a client secret's value (or `certificate_file`) |
//! | `certificate_file` | — | a PEM with the app's certificate and its private key (or `client_secret`) |
//! | `login_url` | `https://login.microsoftonline.com` | the identity platform (national clouds differ) |
//! | `base_url` | `https://graph.microsoft.com` | Microsoft Graph (national clouds differ); also the token's scope |
//! | `streams` | all three | any of `sign_ins`, `directory_audits`, `provisioning` |
//! | `page_size` | `1000` | events per request (`$top`), 1–1000 |
//! | `initial_lookback` | `18h` | where a first run starts, at most `720h`, inside the sink's max age |
//! | `settle_lag` | `5m` | how far behind now windows end, and the overlap re-read before each (≤ `1h`) |
//! | `window_step` | `1h` | the longest window one query covers (`1s`–`24h`) |
//!
//! and the shared HTTP settings (README, "Shared settings") with Entra's defaults ([`HTTP_DEFAULTS`]);
//! `requests_per_second`, when given, replaces the default pace of [`DEFAULT_MIN_INTERVAL`].

mod api;
mod auth;
mod certificate;
mod config;
mod event;

use std::sync::Arc;
use std::time::Duration;

use logcrawl_connector::{WindowPlan, lookback};
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, HttpSettings, LogStream};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig};

pub use api::{GraphApi, GraphStream, Log, RESOLUTION, literal};
pub use auth::{ASSERTION_TYPE, ClientCredentials};
pub use certificate::{ASSERTION_LIFETIME, ClientCertificate};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_LOGIN_URL, DEFAULT_MIN_INTERVAL, DEFAULT_PAGE_SIZE, DEFAULT_SETTLE_LAG,
    DEFAULT_WINDOW_STEP, EntraConfig, HTTP_DEFAULTS, MAX_PAGE_SIZE, MAX_SETTLE_LAG, MAX_WINDOW_STEP, RETENTION,
    Registration,
};
pub use event::GraphEvent;

/// `connector = "entra"`: what the registry builds an Entra source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "entra",
    "Microsoft Entra ID audit logs through Microsoft Graph (sign-ins, directory audits, provisioning)",
    |table, context| Ok(Arc::new(EntraConnector::from_table(table, context)?)),
);

/// One tenant and application: a stream per configured log, sharing the token and one rate budget.
#[derive(Debug)]
pub struct EntraConnector {
    streams: Vec<Arc<GraphStream>>,
    credentials: Arc<ClientCredentials>,
}

impl EntraConnector {
    /// Reads a `[[sources]]` table (Entra's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]) and builds the connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Validates `config` and builds the connector with the shared HTTP settings `http`;
    /// `context.max_age` bounds a first run's lookback.
    pub fn new(config: EntraConfig, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`EntraConnector::new`], letting the caller adjust the HTTP settings of Graph's and the token
    /// endpoint's clients before they are built (retry timing in tests, for one).
    pub fn with_http(
        config: EntraConfig,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let registration = config.registration();
        let tenant = registration.tenant()?.to_owned();
        let client_id = registration.client()?.to_owned();
        let (base, _) = config.origins()?;
        let logs = config.logs()?;
        let page_size = config.page_size()?;
        let (step, settle_lag) = config.windows()?;
        let lookback =
            lookback::initial_lookback(config.initial_lookback, RETENTION, "Microsoft Entra ID", context.max_age)?;

        // Graph's limits are per app and tenant: every source of this app in this tenant shares them.
        let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = base.port_or_known_default().unwrap_or(0);
        let budget = format!("entra:{host}:{port}:{}:{client_id}", tenant.to_ascii_lowercase());
        let mut graph = HttpConfig::with_settings(base.clone(), settings)?;
        graph.rate_limit = RateLimitConfig {
            requests_per_second: settings.requests_per_second,
            min_interval: settings.requests_per_second.is_none().then_some(DEFAULT_MIN_INTERVAL),
            burst: None,
            margin: 0,
            key: Some(budget.clone()),
            ..RateLimitConfig::default()
        };
        customize(&mut graph);
        // The token endpoint has limits of its own: not Graph's budget.
        let credentials = Arc::new(ClientCredentials::for_resource(
            &registration,
            &base,
            settings,
            &format!("{budget}#token"),
            &customize,
        )?);
        let client = HttpClient::new(graph)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))?
            .with_auth(credentials.clone());
        let plan = WindowPlan::new(step, settle_lag, lookback)
            .with_resolution(Duration::from_nanos(RESOLUTION.as_nanos() as u64))
            .with_overlap(settle_lag);
        let streams = logs
            .into_iter()
            .map(|log| {
                let api = GraphApi::new(log, &base, page_size).map_err(|err| ConfigError::new("base_url", err))?;
                Ok(Arc::new(GraphStream::new(api, client.clone(), plan)))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Self { streams, credentials })
    }

    /// The streams, in the configured order.
    pub fn graph_streams(&self) -> &[Arc<GraphStream>] {
        &self.streams
    }

    /// The client credentials the streams share (for inspecting token fetches).
    pub fn credentials(&self) -> &Arc<ClientCredentials> {
        &self.credentials
    }
}

impl Connector for EntraConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.iter().map(|stream| stream.clone() as Arc<dyn LogStream>).collect()
    }
}

#[cfg(test)]
mod tests;
