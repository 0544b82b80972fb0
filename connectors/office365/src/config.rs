//! The keys of a `[[sources]]` entry with `connector = "office365"`, and what each may be.

use std::path::PathBuf;
use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_connector::streams::Choice;
use logcrawl_core::{ConfigError, HttpSettings, SecretString};
use logcrawl_entra::Registration;
use logcrawl_http::Url;
use serde::Deserialize;

use crate::api::ContentType;

/// The Office 365 Management APIs' endpoint of the commercial cloud (GCC High and DoD have their own).
pub const DEFAULT_BASE_URL: &str = "https://manage.office.com/";
/// How long a window of content creation time is at most, by default.
pub const DEFAULT_WINDOW_STEP: Duration = Duration::from_secs(3600);
/// The longest listing the API answers: `endTime − startTime` ≤ 24 h (error AF20030). A window plus the
/// overlap re-listed before it may not be longer.
pub const MAX_LISTING: Duration = Duration::from_secs(24 * 3600);
/// How far behind now windows end by default.
pub const DEFAULT_SETTLE_LAG: Duration = Duration::from_secs(600);
/// The longest settle lag accepted.
pub const MAX_SETTLE_LAG: Duration = Duration::from_secs(12 * 3600);
/// How long before each window's start the listing is read again by default, for blobs listed late.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(3600);
/// What the API keeps: content older than 7 days cannot be listed (AF20030) nor fetched (AF20051).
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The pace of one tenant's requests by default: one every 40 ms, 1 500 a minute, under the ~2 000 a
/// minute per tenant (and publisher) Microsoft documents, shared by the source's streams.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(40);
/// The shared HTTP settings' defaults for Office 365: the shared ones.
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// Configuration of one tenant and application: its own keys of a `[[sources]]` entry, read by
/// [`Office365Connector::from_table`](crate::Office365Connector::from_table) beside the shared HTTP
/// settings. Its `Debug` shows no secret.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office365Config {
    /// The directory (tenant) ID: a GUID (the API's URLs name the tenant by its GUID).
    pub tenant_id: String,
    /// The application (client) ID of the app registration.
    pub client_id: String,
    /// A client secret of the app registration (or `certificate_file`).
    pub client_secret: Option<SecretString>,
    /// A PEM file with the app registration's certificate and its private key (or `client_secret`).
    pub certificate_file: Option<PathBuf>,
    /// The identity platform's origin, default `https://login.microsoftonline.com`.
    pub login_url: Option<String>,
    /// The Management APIs' origin, default `https://manage.office.com`; also the token's scope.
    pub base_url: Option<String>,
    /// `PublisherIdentifier` sent on every request, the quota the requests count against (a GUID;
    /// default: `tenant_id`).
    pub publisher_id: Option<String>,
    /// The content types to crawl, one stream each (default all five).
    pub content_types: Option<Vec<String>>,
    /// How far back a first run starts (default `18h`, at most `168h`, inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// How far behind now the newest window ends (default `10m`, at most `12h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub settle_lag: Option<Duration>,
    /// How long before each window's start the listing is read again for blobs listed late (default `1h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub overlap: Option<Duration>,
    /// The longest window of content creation time one listing covers (default `1h`); with `overlap`
    /// at most `24h`.
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub window_step: Option<Duration>,
}

impl Office365Config {
    /// The app registration keys, checked by the Entra connector's rules.
    pub fn registration(&self) -> Registration<'_> {
        Registration {
            tenant_id: &self.tenant_id,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            certificate_file: self.certificate_file.as_deref(),
            login_url: self.login_url.as_deref(),
        }
    }

    /// The tenant: a GUID, as the API's URLs take it (a domain name is refused here, not at the API).
    pub(crate) fn tenant(&self) -> Result<String, ConfigError> {
        let tenant = self.registration().tenant()?.to_ascii_lowercase();
        if !is_guid(&tenant) {
            return Err(ConfigError::new(
                "tenant_id",
                format!(
                    "{tenant:?}: the Management Activity API names the tenant by its directory (tenant) ID, a GUID"
                ),
            ));
        }
        Ok(tenant)
    }

    /// `PublisherIdentifier`: `publisher_id`, or the tenant.
    pub(crate) fn publisher(&self, tenant: &str) -> Result<String, ConfigError> {
        match self.publisher_id.as_deref().map(str::trim) {
            None => Ok(tenant.to_owned()),
            Some(id) if is_guid(id) => Ok(id.to_ascii_lowercase()),
            Some(id) => Err(ConfigError::new(
                "publisher_id",
                format!("{id:?} is not a GUID: PublisherIdentifier is a tenant GUID (yours, or your vendor's)"),
            )),
        }
    }

    /// The API's origin, checked with the SDK's `origin`.
    pub(crate) fn base(&self) -> Result<Url, ConfigError> {
        origin::base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL), "https://manage.office.com")
    }

    /// The content types to crawl, in the configured order.
    pub(crate) fn content_types(&self) -> Result<Vec<ContentType>, ConfigError> {
        let choice = Choice {
            key: "content_types",
            noun: "content type",
            all: &ContentType::ALL,
            default: &ContentType::ALL,
            ignore_case: true,
        };
        choice.of(self.content_types.as_deref(), ContentType::name)
    }

    /// The window step, the settle lag and the overlap, checked.
    pub(crate) fn windows(&self) -> Result<(Duration, Duration, Duration), ConfigError> {
        let step = self.window_step.unwrap_or(DEFAULT_WINDOW_STEP);
        if step < Duration::from_secs(1) || step > MAX_LISTING {
            return Err(ConfigError::new("window_step", "must be from 1s to 24h"));
        }
        let lag = self.settle_lag.unwrap_or(DEFAULT_SETTLE_LAG);
        if lag > MAX_SETTLE_LAG {
            return Err(ConfigError::new("settle_lag", "must be at most 12h"));
        }
        let overlap = self.overlap.unwrap_or(DEFAULT_OVERLAP);
        if step + overlap > MAX_LISTING {
            return Err(ConfigError::new(
                "overlap",
                "window_step + overlap must be at most 24h: one listing of the API covers at most 24 hours",
            ));
        }
        Ok((step, lag, overlap))
    }
}

/// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits).
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
