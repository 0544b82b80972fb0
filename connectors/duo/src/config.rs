//! The keys of a `[[sources]]` entry with `connector = "duo"`, and what each may be.

use std::time::Duration;

use logcrawl_connector::{origin, streams};
use logcrawl_core::config::within;
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// Events per request by default (the v2 `limit`): Duo's largest page, the fewest requests.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Duo's largest v2 page (`limit`).
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How far back Duo serves logs: "the last 180 days". A first run cannot reach further back.
pub const RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);
/// Duo's documented delay: "an intentional two minute delay in availability of new authentications";
/// a query for the last two minutes "will return as empty".
pub const DUO_DELAY: Duration = Duration::from_secs(120);
/// How far behind now the newest window ends, by default: Duo's delay.
pub const DEFAULT_SETTLE_LAG: Duration = DUO_DELAY;
/// The longest `settle_lag`.
pub const MAX_SETTLE_LAG: Duration = Duration::from_secs(3600);
/// The pace of one integration key's requests by default, every stream of the source together: one
/// every 2 s, 30 a minute. Duo publishes no number, only that it answers 429 when called too often and
/// that logs should be polled "no more than once per minute": this pace is for backfills; polling
/// follows the source's `interval` (README: set it to a minute or more).
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(2);
/// The shared HTTP settings' defaults for Duo: a 30 s timeout, the shared defaults otherwise (the pace
/// is [`DEFAULT_MIN_INTERVAL`] unless `requests_per_second` is given).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings { timeout: Duration::from_secs(30), ..HttpSettings::DEFAULT };

/// One of the three logs a source crawls, each a stream of its own (`streams = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuoLog {
    /// `GET /admin/v2/logs/authentication`: authentication attempts (v2, epoch milliseconds, `next_offset`).
    Authentication,
    /// `GET /admin/v1/logs/administrator`: administrator actions (v1, epoch seconds, `mintime` only).
    Administrator,
    /// `GET /admin/v2/logs/telephony`: SMS and phone calls and the credits they used (v2).
    Telephony,
}

impl DuoLog {
    /// The three, in the order of the default `streams`.
    pub const ALL: [DuoLog; 3] = [DuoLog::Authentication, DuoLog::Administrator, DuoLog::Telephony];

    /// The stream's name (the checkpoint key's second half, and its name in `streams`).
    pub fn name(self) -> &'static str {
        match self {
            DuoLog::Authentication => "authentication",
            DuoLog::Administrator => "administrator",
            DuoLog::Telephony => "telephony",
        }
    }

    /// The endpoint's path below the API host.
    pub fn path(self) -> &'static str {
        match self {
            DuoLog::Authentication => "admin/v2/logs/authentication",
            DuoLog::Administrator => "admin/v1/logs/administrator",
            DuoLog::Telephony => "admin/v2/logs/telephony",
        }
    }
}

/// Configuration of one Duo account's Admin API application: its own keys of a `[[sources]]` entry,
/// read by [`DuoConnector::from_table`](crate::DuoConnector::from_table) beside the shared HTTP settings.
/// Its `Debug` shows no secret: the secret key prints as `[REDACTED]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuoConfig {
    /// The application's API hostname, `api-XXXXXXXX.duosecurity.com`: where requests go (unless
    /// `base_url` says otherwise) and the host every signature names.
    pub api_host: String,
    /// The Admin API application's integration key (`DI…`).
    pub integration_key: String,
    /// The application's secret key: it signs every request and is never sent.
    pub secret_key: SecretString,
    /// Which logs to crawl (default all three): `authentication`, `administrator`, `telephony`.
    #[serde(default)]
    pub streams: Option<Vec<String>>,
    /// An origin in place of `https://{api_host}` (a proxy, a simulator); signatures still name
    /// `api_host`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Events per v2 request (`limit`), 1–1000 (default 1000). The v1 administrator log takes no limit.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// How far back a first run starts (default `18h`, at most 180 days, and inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// How far behind now the newest query ends (default `2m`, Duo's delay; at most `1h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub settle_lag: Option<Duration>,
}

impl DuoConfig {
    /// The API host, checked: a host name, lowercased (as signatures write it).
    pub(crate) fn host(&self) -> Result<String, ConfigError> {
        let url = origin::domain_url(&self.api_host, "api-XXXXXXXX.duosecurity.com")
            .map_err(|err| ConfigError::new("api_host", err.message().to_owned()))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if !host.contains('.') {
            return Err(ConfigError::new(
                "api_host",
                format!(
                    "{host:?} is not an API hostname; the Admin API application's page names it, e.g. api-XXXXXXXX.duosecurity.com"
                ),
            ));
        }
        Ok(host)
    }

    /// The origin requests go to: `base_url`, else `https://{api_host}/`.
    pub(crate) fn origin(&self, host: &str) -> Result<Url, ConfigError> {
        let text = self.base_url.clone().unwrap_or_else(|| format!("https://{host}/"));
        origin::base_url(&text, "https://api-XXXXXXXX.duosecurity.com")
    }

    /// The integration key, checked: the user half of HTTP Basic, so letters and digits only.
    pub(crate) fn integration_key(&self) -> Result<&str, ConfigError> {
        let key = self.integration_key.trim();
        if key.is_empty() {
            return Err(ConfigError::new("integration_key", "must not be empty"));
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(
                "integration_key",
                "must be letters and digits only, as the Admin API application's page shows it (DI…)",
            ));
        }
        if !key.starts_with("DI") {
            tracing::warn!(
                "the Duo `integration_key` does not start with DI, as an Admin API application's does: Duo will \
                 refuse it unless it is one"
            );
        }
        Ok(key)
    }

    /// The secret key, checked (never shown).
    pub(crate) fn secret_key(&self) -> Result<SecretString, ConfigError> {
        let secret = self.secret_key.expose_secret().trim();
        if secret.is_empty() {
            return Err(ConfigError::new("secret_key", "must not be empty"));
        }
        if secret.chars().any(char::is_control) {
            return Err(ConfigError::new("secret_key", "contains control characters; copy it again"));
        }
        Ok(SecretString::from(secret.to_owned()))
    }

    /// The logs to crawl, in the order configured.
    pub(crate) fn logs(&self) -> Result<Vec<DuoLog>, ConfigError> {
        streams::chosen(self.streams.as_deref(), &DuoLog::ALL, DuoLog::name)
    }

    /// The v2 page size, checked.
    pub(crate) fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    /// The settle lag, checked: against Duo itself never below its two-minute delay (a window read
    /// sooner would be committed without the events Duo had not yet made available); shorter only with
    /// `base_url` (a simulator or a test double that has no such delay).
    pub(crate) fn settle_lag(&self) -> Result<Duration, ConfigError> {
        let lag = self.settle_lag.unwrap_or(DEFAULT_SETTLE_LAG);
        if lag > MAX_SETTLE_LAG {
            return Err(ConfigError::new("settle_lag", "must be at most 1h"));
        }
        if lag < DUO_DELAY && self.base_url.is_none() {
            return Err(ConfigError::new(
                "settle_lag",
                "must be at least 2m against Duo: Duo makes logs available two minutes late, and a window read \
                 sooner would be committed without them (a shorter lag is only for a simulator, set with base_url)",
            ));
        }
        Ok(lag)
    }
}
