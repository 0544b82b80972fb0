//! The keys of a `[[sources]]` entry with `connector = "okta"`, and its validation.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{HttpSettings, SecretString};
use serde::Deserialize;

/// The default page size: Okta's maximum, so a backfill takes as few calls of the scarce budget as possible.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Okta's largest page.
pub const MAX_LIMIT: u32 = 1000;
/// How far back the very first run starts when the sink's max age is not tighter (the SDK's default).
pub const DEFAULT_INITIAL_LOOKBACK: Duration = logcrawl_connector::lookback::DEFAULT_INITIAL_LOOKBACK;
/// Okta keeps 90 days of System Log; asking for more only earns an error or nothing.
pub const MAX_INITIAL_LOOKBACK: Duration = Duration::from_secs(90 * 24 * 3600);
/// How far inside the sink's max age the first run starts (the SDK's [`SAFETY_MARGIN`]). A backfill takes
/// time (a full 18 h of a busy org is many pages at a few dozen calls per minute), and its oldest events
/// must still be younger than the max age when they reach the sink: Datadog refuses logs older than 18 h,
/// so an 18 h lookback would lose the first minutes of events to age.
///
/// [`SAFETY_MARGIN`]: logcrawl_connector::lookback::SAFETY_MARGIN
pub const LOOKBACK_SAFETY_MARGIN: Duration = logcrawl_connector::lookback::SAFETY_MARGIN;
/// Calls left in Okta's rate-limit window that logcrawl never spends (room for the admin console and other tools).
pub const DEFAULT_RATE_LIMIT_MARGIN: u32 = 2;
/// Whole-request timeout. Okta cuts a query off after 30 s with a 500, so a bit more than that.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45);
/// The longest server-requested wait obeyed. Okta's windows are one minute, so a longer wait is an error
/// or an exhausted daily quota, better reported by a failed run than hidden in a silent stall.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(300);
/// The shared HTTP settings' defaults for Okta: [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_RETRY_WAIT`], the
/// shared defaults otherwise (no client-side quota: Okta's rate-limit headers rule).
pub const HTTP_DEFAULTS: HttpSettings =
    HttpSettings { timeout: DEFAULT_TIMEOUT, max_retry_wait: DEFAULT_MAX_RETRY_WAIT, ..HttpSettings::DEFAULT };

/// Configuration of one Okta org: the connector keys of a `[[sources]]` entry with `connector = "okta"`,
/// read with [`OktaConfig::from_table`] (serde alone reads only Okta's own keys).
///
/// Exactly one of `domain` / `base_url`, and exactly one credential: `token` (API token, `SSWS`) or
/// `client_id` + one of `private_key` / `private_key_file` (OAuth 2.0 service app, `private_key_jwt`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// The org's host, e.g. `acme.okta.com` (or a custom domain). HTTPS is implied.
    #[serde(default)]
    pub domain: Option<String>,
    /// A full origin such as `https://okta-proxy.internal:8443`, overriding `domain` (proxies, tests).
    #[serde(default)]
    pub base_url: Option<String>,
    /// An Okta API token, sent as `Authorization: SSWS …`.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The client ID of an API service app for OAuth 2.0 client credentials with `private_key_jwt`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The service app's RSA private key, PEM (PKCS#1 or PKCS#8).
    #[serde(default)]
    pub private_key: Option<SecretString>,
    /// A file holding the service app's RSA private key, PEM.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The key's `kid` as registered on the app (sent in the JWT header; needed when the app has several keys).
    #[serde(default)]
    pub key_id: Option<String>,
    /// With `client_id`: the app requires DPoP (RFC 9449, *Require Demonstrating Proof of Possession*):
    /// tokens are bound to a key pair logcrawl generates at start-up, and every call carries a proof.
    #[serde(default)]
    pub dpop: bool,
    /// Events per page, 1 to 1000 (default 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// How far back the first run starts (default `18h`, at most `2160h`, and at most the sink's max age
    /// minus [`LOOKBACK_SAFETY_MARGIN`]).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// Stop calling while Okta reports this many calls or fewer left in the window (default 2).
    #[serde(default)]
    pub rate_limit_margin: Option<u32>,
    /// An optional SCIM `filter` expression sent with the first request, e.g. `eventType eq "user.session.start"`.
    #[serde(default)]
    pub filter: Option<String>,
    /// The shared HTTP settings, defaults [`HTTP_DEFAULTS`]: `timeout` (`45s`), `requests_per_second` (an
    /// extra client-side cap), retries, and `max_retry_wait` (`5m`), the longest wait Okta may ask for
    /// (`Retry-After`, `X-Rate-Limit-Reset`) before a run gives up and leaves it to the next interval.
    #[serde(skip, default = "http_defaults")]
    pub http: HttpSettings,
}

fn http_defaults() -> HttpSettings {
    HTTP_DEFAULTS
}

impl fmt::Debug for OktaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OktaConfig")
            .field("domain", &self.domain)
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "**REDACTED**"))
            .field("client_id", &self.client_id)
            .field("private_key", &self.private_key.as_ref().map(|_| "**REDACTED**"))
            .field("private_key_file", &self.private_key_file)
            .field("key_id", &self.key_id)
            .field("dpop", &self.dpop)
            .field("limit", &self.limit)
            .field("initial_lookback", &self.initial_lookback)
            .field("rate_limit_margin", &self.rate_limit_margin)
            .field("filter", &self.filter)
            .field("http", &self.http)
            .finish()
    }
}

impl OktaConfig {
    /// A configuration for `domain` with an API token, everything else defaulted.
    pub fn with_token(domain: impl Into<String>, token: impl Into<String>) -> Self {
        Self { domain: Some(domain.into()), token: Some(SecretString::from(token.into())), ..Self::empty() }
    }

    /// A configuration with no key set (every key defaulted, no org, no credential).
    pub fn empty() -> Self {
        Self {
            domain: None,
            base_url: None,
            token: None,
            client_id: None,
            private_key: None,
            private_key_file: None,
            key_id: None,
            dpop: false,
            limit: None,
            initial_lookback: None,
            rate_limit_margin: None,
            filter: None,
            http: HTTP_DEFAULTS,
        }
    }

    /// Reads a `[[sources]]` table: Okta's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]. Errors name the key.
    pub fn from_table(table: &Table) -> Result<Self, ConfigError> {
        let mut keys = ComponentTable::new(table);
        Ok(Self { http: keys.shared(HTTP_DEFAULTS)?, ..keys.own()? })
    }
}

/// A configuration the connector cannot run with: the one error type of every component.
pub use logcrawl_core::ConfigError;
