//! The keys of a `[[sources]]` entry with `connector = "entra"`, and what each may be.

use std::path::{Path, PathBuf};
use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_core::config::within;
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

use crate::api::Log;

/// Microsoft Graph's global endpoint.
pub const DEFAULT_BASE_URL: &str = "https://graph.microsoft.com/";
/// The Microsoft identity platform's global endpoint.
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com/";
/// Events per request by default: the documented maximum (and Graph's own default) of sign-ins.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// The largest `$top` (documented for sign-ins; assumed for directory audits and provisioning).
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How long a window is at most, by default.
pub const DEFAULT_WINDOW_STEP: Duration = Duration::from_secs(3600);
/// How far behind now the newest window ends by default: Microsoft's 99th percentile latency of sign-in
/// and audit logs is 5 minutes.
pub const DEFAULT_SETTLE_LAG: Duration = Duration::from_secs(300);
/// The longest settle lag (and overlap) accepted.
pub const MAX_SETTLE_LAG: Duration = Duration::from_secs(3600);
/// The longest window accepted.
pub const MAX_WINDOW_STEP: Duration = Duration::from_secs(24 * 3600);
/// What Entra keeps with a P1 or P2 licence (a free tenant keeps 7 days): no first run reaches further.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The pace of one application's requests to one tenant by default: one every 2 s, the identity and
/// access reports' limit of five requests per ten seconds per app and tenant, shared by the three streams.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(2);
/// The shared HTTP settings' defaults for Entra: the shared ones (the pace is [`DEFAULT_MIN_INTERVAL`]
/// unless `requests_per_second` is given).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// Configuration of one Entra tenant and application: its own keys of a `[[sources]]` entry, read by
/// [`EntraConnector::from_table`](crate::EntraConnector::from_table) beside the shared HTTP settings. Its
/// `Debug` shows no secret.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The directory (tenant) ID: a GUID, or a verified domain such as `contoso.onmicrosoft.com`.
    pub tenant_id: String,
    /// The application (client) ID of the app registration: a GUID.
    pub client_id: String,
    /// A client secret of the app registration (or `certificate_file`).
    pub client_secret: Option<SecretString>,
    /// A PEM file with the certificate uploaded to the app registration and its private key (or
    /// `client_secret`).
    pub certificate_file: Option<PathBuf>,
    /// The identity platform's origin (sovereign clouds differ), default `https://login.microsoftonline.com`.
    pub login_url: Option<String>,
    /// Microsoft Graph's origin (sovereign clouds differ), default `https://graph.microsoft.com`.
    pub base_url: Option<String>,
    /// The logs to crawl: any of `sign_ins`, `directory_audits`, `provisioning` (default all three).
    pub streams: Option<Vec<String>>,
    /// Events per request (`$top`), 1–1000 (default 1000).
    pub page_size: Option<u32>,
    /// How far back a first run starts (default `18h`, at most `720h`, inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// How far behind now the newest window ends, and how long before each window's start it is read
    /// again for events indexed late (default `5m`, at most `1h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub settle_lag: Option<Duration>,
    /// The longest window of time one query covers (default `1h`, `1s` to `24h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub window_step: Option<Duration>,
}

/// How the application proves itself to the token endpoint.
#[derive(Debug)]
pub(crate) enum Credential {
    /// A client secret.
    Secret(SecretString),
    /// The PEM text of a certificate and its private key, and the file it came from.
    Certificate { pem: SecretString, file: PathBuf },
}

/// Multi-tenant aliases the token endpoint accepts for users, never for an application's own token.
const ALIASES: [&str; 3] = ["common", "organizations", "consumers"];

/// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits).
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The keys that name an app registration and its credential, shared by the Microsoft connectors (Entra
/// through Graph, the Office 365 Management Activity API): each reads them among its own keys and checks
/// them here, so that both say the same about the same mistake.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// `tenant_id`: the directory (tenant) ID, or a verified domain.
    pub tenant_id: &'a str,
    /// `client_id`: the application (client) ID.
    pub client_id: &'a str,
    /// `client_secret`, when given.
    pub client_secret: Option<&'a SecretString>,
    /// `certificate_file`, when given.
    pub certificate_file: Option<&'a Path>,
    /// `login_url`, when given (default [`DEFAULT_LOGIN_URL`]).
    pub login_url: Option<&'a str>,
}

impl Registration<'_> {
    /// The tenant, checked: a GUID or a domain name, not a multi-tenant alias.
    pub fn tenant(&self) -> Result<&str, ConfigError> {
        let tenant = self.tenant_id.trim();
        let domain = |t: &str| {
            t.contains('.')
                && t.split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        };
        if ALIASES.iter().any(|alias| tenant.eq_ignore_ascii_case(alias)) {
            return Err(ConfigError::new(
                "tenant_id",
                format!("{tenant:?} names no tenant: give the directory (tenant) ID of the app registration's tenant"),
            ));
        }
        if !is_guid(tenant) && !domain(tenant) {
            return Err(ConfigError::new(
                "tenant_id",
                format!(
                    "{tenant:?} is not a directory (tenant) ID: a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain such as contoso.onmicrosoft.com"
                ),
            ));
        }
        Ok(tenant)
    }

    /// The application (client) ID, checked to be a GUID.
    pub fn client(&self) -> Result<&str, ConfigError> {
        let client = self.client_id.trim();
        if !is_guid(client) {
            return Err(ConfigError::new(
                "client_id",
                format!("{client:?} is not an application (client) ID: the GUID the app registration's overview shows"),
            ));
        }
        Ok(client)
    }

    /// The credential: `client_secret` or `certificate_file` (read now), exactly one.
    pub(crate) fn credential(&self) -> Result<Credential, ConfigError> {
        match (self.client_secret, self.certificate_file) {
            (Some(_), Some(_)) => {
                Err(ConfigError::new("certificate_file", "set either client_secret or certificate_file, not both"))
            }
            (None, None) => Err(ConfigError::new(
                "client_secret",
                "a credential is required: client_secret, or certificate_file (a PEM with the certificate and its private key)",
            )),
            (Some(secret), None) if secret.expose_secret().trim().is_empty() => {
                Err(ConfigError::new("client_secret", "must not be empty"))
            }
            (Some(secret), None) => Ok(Credential::Secret(secret.clone())),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|err| {
                    ConfigError::new("certificate_file", format!("cannot read {}: {err}", file.display()))
                })?;
                Ok(Credential::Certificate { pem: SecretString::from(text), file: file.to_path_buf() })
            }
        }
    }

    /// The identity platform's origin, checked with the SDK's `origin` (errors name `login_url`).
    pub fn login(&self) -> Result<Url, ConfigError> {
        let login = self.login_url.unwrap_or(DEFAULT_LOGIN_URL);
        origin::base_url(login, "https://login.microsoftonline.com")
            .map_err(|err| ConfigError::new("login_url", err.message().to_owned()))
    }
}

impl EntraConfig {
    /// The app registration keys.
    pub fn registration(&self) -> Registration<'_> {
        Registration {
            tenant_id: &self.tenant_id,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            certificate_file: self.certificate_file.as_deref(),
            login_url: self.login_url.as_deref(),
        }
    }

    /// Graph's origin and the identity platform's, both checked with the SDK's `origin`.
    pub(crate) fn origins(&self) -> Result<(Url, Url), ConfigError> {
        let base =
            origin::base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL), "https://graph.microsoft.com")?;
        Ok((base, self.registration().login()?))
    }

    /// The logs to crawl, in the configured order.
    pub(crate) fn logs(&self) -> Result<Vec<Log>, ConfigError> {
        logcrawl_connector::streams::chosen(self.streams.as_deref(), &Log::ALL, Log::name)
    }

    pub(crate) fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    /// The window step and the settle lag, checked.
    pub(crate) fn windows(&self) -> Result<(Duration, Duration), ConfigError> {
        let step = self.window_step.unwrap_or(DEFAULT_WINDOW_STEP);
        if step < Duration::from_secs(1) || step > MAX_WINDOW_STEP {
            return Err(ConfigError::new("window_step", "must be from 1s to 24h"));
        }
        let lag = self.settle_lag.unwrap_or(DEFAULT_SETTLE_LAG);
        if lag > MAX_SETTLE_LAG {
            return Err(ConfigError::new("settle_lag", "must be at most 1h (Graph's logs are minutes late)"));
        }
        Ok((step, lag))
    }
}
