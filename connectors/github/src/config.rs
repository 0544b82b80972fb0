//! The keys of a `[[sources]]` entry with `connector = "github"`, and their checks.

use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_core::config::within;
use logcrawl_core::{ConfigError, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// GitHub's REST API root, the default `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// Events per page by default: GitHub's maximum, the fewest calls of the audit log's scarce budget.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// GitHub's largest page (`per_page`).
pub const MAX_PAGE_SIZE: u32 = 100;
/// GitHub keeps 180 days of audit log (Git events 7 days): no first run reaches further back.
pub const RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);
/// The shared HTTP settings' defaults for GitHub: the shared defaults (`timeout` 60 s, `max_retry_wait`
/// 5 min, no client-side quota: GitHub's `x-ratelimit-*` headers rule).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// Which events of an enterprise's audit log (`include`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Include {
    /// Web (non-Git) events: GitHub's default.
    Web,
    /// Git events (clone, fetch, push), which GitHub keeps 7 days.
    Git,
    /// Both.
    All,
}

impl Include {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Include::Web => "web",
            Include::Git => "git",
            Include::All => "all",
        }
    }
}

/// GitHub's own `[[sources]]` keys (the shared HTTP settings are read beside them, over
/// [`HTTP_DEFAULTS`]: `ComponentTable::split`).
///
/// Exactly one of `org` / `enterprise`; `include` only with `enterprise`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// A personal access token or a GitHub App installation token, sent as `Authorization: Bearer …`.
    pub token: Option<SecretString>,
    /// The organization whose audit log to read (its login, e.g. `acme-corp`).
    pub org: Option<String>,
    /// The enterprise whose audit log to read (its slug, e.g. `acme`).
    pub enterprise: Option<String>,
    /// Which events of the enterprise's audit log: `web` (GitHub's default), `git` or `all`.
    pub include: Option<Include>,
    /// Events per request, 1 to 100 (default 100).
    pub page_size: Option<u32>,
    /// The REST API root (default `https://api.github.com`; GitHub Enterprise Server:
    /// `https://HOST/api/v3`; a proxy, a test server).
    pub base_url: Option<String>,
    /// How far back the first run starts (default `18h`, at most `4320h`, and within the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
}

/// Whose audit log a source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `/orgs/{org}/audit-log`.
    Org(String),
    /// `/enterprises/{enterprise}/audit-log`, with its `include`.
    Enterprise(String, Option<Include>),
}

impl Account {
    /// `organization acme-corp` / `enterprise acme`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Account::Org(org) => format!("organization {org}"),
            Account::Enterprise(enterprise, _) => format!("enterprise {enterprise}"),
        }
    }
}

impl GithubConfig {
    /// A configuration reading `org`'s audit log with `token`, everything else defaulted.
    pub fn for_org(org: impl Into<String>, token: impl Into<String>) -> Self {
        Self { org: Some(org.into()), token: Some(SecretString::from(token.into())), ..Self::default() }
    }

    /// The account: exactly one of `org` / `enterprise`, `include` only with `enterprise`.
    pub fn account(&self) -> Result<Account, ConfigError> {
        let name = |key: &'static str, value: &str| {
            let value = value.trim();
            if value.is_empty() || value.contains(['/', '?', '#', ' ', '%']) {
                return Err(ConfigError::new(key, format!("{value:?} is not a GitHub {key} name (its login or slug)")));
            }
            Ok(value.to_owned())
        };
        match (&self.org, &self.enterprise) {
            (Some(_), Some(_)) => {
                Err(ConfigError::new("org", "set either org or enterprise, not both (one source per audit log)"))
            }
            (None, None) => {
                Err(ConfigError::new("org", "an org (or an enterprise) whose audit log to read is required"))
            }
            (Some(org), None) => {
                if self.include.is_some() {
                    return Err(ConfigError::new(
                        "include",
                        "only applies to an enterprise's audit log (set enterprise instead of org, or remove include)",
                    ));
                }
                Ok(Account::Org(name("org", org)?))
            }
            (None, Some(enterprise)) => Ok(Account::Enterprise(name("enterprise", enterprise)?, self.include)),
        }
    }

    /// The events per page: `page_size`, 1 to 100.
    pub fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    /// The API root, ending in `/`: `base_url` as given (default `https://api.github.com`).
    pub fn api_root(&self) -> Result<Url, ConfigError> {
        origin::base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL), "https://ghe.example.com/api/v3")
    }
}
