//! The keys of a `[[sources]]` entry with `connector = "auth0"`, and their checks.

use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_core::config::within;
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

/// Auth0's own `[[sources]]` keys (the shared HTTP settings are read beside them, over
/// [`HTTP_DEFAULTS`]: `ComponentTable::split`).
///
/// `domain` or `base_url` (or both: `base_url` is where requests go, `domain` names the tenant in the
/// token's audience), and exactly one credential: `client_id` + `client_secret`, or `token`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth0Config {
    /// The tenant's Auth0 domain, e.g. `acme.us.auth0.com` (HTTPS implied).
    pub domain: Option<String>,
    /// A machine-to-machine application's client ID (client credentials, with `client_secret`).
    pub client_id: Option<String>,
    /// That application's client secret.
    pub client_secret: Option<SecretString>,
    /// A Management API access token instead of client credentials (it expires: 24 h by default).
    pub token: Option<SecretString>,
    /// Events per request (`take`), 1 to 100 (default 100).
    pub page_size: Option<u32>,
    /// An origin instead of `https://{domain}` (proxies, tests); the token endpoint is under it too.
    pub base_url: Option<String>,
    /// How far back the first run starts (default `18h`, at most `720h`, and within the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
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
        Self { domain: Some(domain.into()), token: Some(SecretString::from(token.into())), ..Self::default() }
    }

    /// The events per page: `page_size`, 1 to 100.
    pub fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    /// Where requests go (`base_url`, else `https://{domain}/`), ending in `/`, and the audience of
    /// client-credentials tokens (`https://{domain}/api/v2/`, else under `base_url`).
    pub fn endpoints(&self) -> Result<(Url, String), ConfigError> {
        let domain =
            self.domain.as_deref().map(|domain| origin::domain_url(domain, "acme.us.auth0.com")).transpose()?;
        let base = match (&self.base_url, &domain) {
            (Some(text), _) => origin::base_url(text, "https://acme.us.auth0.com")?,
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
