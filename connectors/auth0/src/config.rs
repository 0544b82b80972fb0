//! The keys of a `[[sources]]` entry with `connector = "auth0"`, and their checks.

use std::fmt;
use std::time::Duration;

use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// Events per page by default: Auth0's maximum `take`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Auth0's largest checkpoint page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest log retention of any Auth0 plan (Enterprise: 30 days; Free 1, Essentials 5, Professional
/// 10): no first run reaches further back.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shared HTTP settings' defaults for Auth0: the shared defaults (`timeout` 60 s, `max_retry_wait`
/// 5 min, no client-side quota: Auth0's `x-ratelimit-*` headers rule).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// Configuration of one Auth0 tenant: the connector keys of a `[[sources]]` entry with
/// `connector = "auth0"`, read with [`Auth0Config::from_table`].
///
/// `domain` or `base_url` (or both: `base_url` is where requests go, `domain` names the tenant in the
/// token's audience), and exactly one credential: `client_id` + `client_secret`, or `token`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth0Config {
    /// The tenant's Auth0 domain, e.g. `acme.us.auth0.com` (HTTPS implied).
    #[serde(default)]
    pub domain: Option<String>,
    /// A machine-to-machine application's client ID (client credentials, with `client_secret`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// That application's client secret.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// A Management API access token instead of client credentials (it expires: 24 h by default).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// Events per request (`take`), 1 to 100 (default 100).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// An origin instead of `https://{domain}` (proxies, tests); the token endpoint is under it too.
    #[serde(default)]
    pub base_url: Option<String>,
    /// How far back the first run starts (default `18h`, at most `720h`, and within the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// The shared HTTP settings, defaults [`HTTP_DEFAULTS`].
    #[serde(skip, default = "http_defaults")]
    pub http: HttpSettings,
}

fn http_defaults() -> HttpSettings {
    HTTP_DEFAULTS
}

impl fmt::Debug for Auth0Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<SecretString>| s.as_ref().map(|_| "**REDACTED**");
        f.debug_struct("Auth0Config")
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("token", &hidden(&self.token))
            .field("page_size", &self.page_size)
            .field("base_url", &self.base_url)
            .field("initial_lookback", &self.initial_lookback)
            .field("http", &self.http)
            .finish()
    }
}

/// How a source authenticates.
#[derive(Debug)]
pub(crate) enum Credential {
    /// Client credentials of a machine-to-machine application.
    Client { client_id: String, client_secret: SecretString },
    /// A Management API token.
    Token(SecretString),
}

impl Auth0Config {
    /// A configuration for `domain` with a static Management API token, everything else defaulted.
    pub fn with_token(domain: impl Into<String>, token: impl Into<String>) -> Self {
        Self { domain: Some(domain.into()), token: Some(SecretString::from(token.into())), ..Self::empty() }
    }

    /// A configuration with no key set.
    pub fn empty() -> Self {
        Self {
            domain: None,
            client_id: None,
            client_secret: None,
            token: None,
            page_size: None,
            base_url: None,
            initial_lookback: None,
            http: HTTP_DEFAULTS,
        }
    }

    /// Reads a `[[sources]]` table: Auth0's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]. Errors name the key.
    pub fn from_table(table: &Table) -> Result<Self, ConfigError> {
        let mut keys = ComponentTable::new(table);
        Ok(Self { http: keys.shared(HTTP_DEFAULTS)?, ..keys.own()? })
    }

    /// The events per page: `page_size`, 1 to 100.
    pub fn page_size(&self) -> Result<u32, ConfigError> {
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ConfigError::new("page_size", format!("must be between 1 and {MAX_PAGE_SIZE}, got {size}")));
        }
        Ok(size)
    }

    /// The tenant's `https://{domain}/` when `domain` is set.
    fn domain_url(&self) -> Result<Option<Url>, ConfigError> {
        let Some(domain) = &self.domain else { return Ok(None) };
        let host = domain.trim().trim_start_matches("https://").trim_end_matches('/');
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ', ':']) {
            return Err(ConfigError::new(
                "domain",
                format!("{domain:?} is not a host name; give e.g. acme.us.auth0.com, or a full URL as base_url"),
            ));
        }
        Url::parse(&format!("https://{host}/"))
            .map(Some)
            .map_err(|err| ConfigError::new("domain", format!("{domain:?}: {err}")))
    }

    /// Where requests go (`base_url`, else `https://{domain}/`), ending in `/`, and the audience of
    /// client-credentials tokens (`https://{domain}/api/v2/`, else under `base_url`).
    pub fn endpoints(&self) -> Result<(Url, String), ConfigError> {
        let domain = self.domain_url()?;
        let base = match (&self.base_url, &domain) {
            (Some(text), _) => {
                let mut url =
                    Url::parse(text.trim()).map_err(|err| ConfigError::new("base_url", format!("{text:?}: {err}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ConfigError::new("base_url", format!("{text:?} is not an http(s) URL")));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(ConfigError::new("base_url", "must not carry a query or fragment"));
                }
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                url
            }
            (None, Some(domain)) => domain.clone(),
            (None, None) => {
                return Err(ConfigError::new("domain", "is required (the tenant's Auth0 domain), or base_url"));
            }
        };
        let audience = domain
            .as_ref()
            .unwrap_or(&base)
            .join("api/v2/")
            .map_err(|err| ConfigError::new("domain", err.to_string()))?;
        Ok((base, audience.to_string()))
    }

    /// The credential: `client_id` + `client_secret`, or `token`, never both.
    pub(crate) fn credential(&self) -> Result<Credential, ConfigError> {
        let blank = |s: &SecretString| s.expose_secret().trim().is_empty();
        let client_id = self.client_id.as_deref().map(str::trim);
        match (&self.token, client_id, &self.client_secret) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ConfigError::new(
                "token",
                "set either token (a Management API token) or client_id and client_secret, not both",
            )),
            (Some(token), None, None) if blank(token) => Err(ConfigError::new("token", "must not be empty")),
            (Some(token), None, None) => Ok(Credential::Token(token.clone())),
            (None, Some(id), Some(secret)) => {
                if id.is_empty() {
                    return Err(ConfigError::new("client_id", "must not be empty"));
                }
                if blank(secret) {
                    return Err(ConfigError::new("client_secret", "must not be empty"));
                }
                Ok(Credential::Client { client_id: id.to_owned(), client_secret: secret.clone() })
            }
            (None, Some(_), None) => Err(ConfigError::new("client_secret", "is required with client_id")),
            (None, None, Some(_)) => Err(ConfigError::new("client_id", "is required with client_secret")),
            (None, None, None) => Err(ConfigError::new(
                "client_id",
                "a credential is required: client_id and client_secret of a machine-to-machine application, or token",
            )),
        }
    }
}
