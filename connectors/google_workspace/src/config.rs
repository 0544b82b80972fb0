//! The keys of a `[[sources]]` entry with `connector = "google_workspace"`, and what each may be.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_connector::streams::Choice;
use logcrawl_core::config::{parse_duration, within};
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// The Admin SDK's origin.
pub const DEFAULT_BASE_URL: &str = "https://admin.googleapis.com/";
/// Google's OAuth 2.0 token endpoint (a key file's `token_uri` says the same).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The one scope the connector asks for: read the Reports API's audit activities.
pub const SCOPE: &str = "https://www.googleapis.com/auth/admin.reports.audit.readonly";
/// Events per request by default: the documented maximum of `maxResults`.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// The largest `maxResults`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How long a window is at most, by default.
pub const DEFAULT_WINDOW_STEP: Duration = Duration::from_secs(3600);
/// The longest window accepted.
pub const MAX_WINDOW_STEP: Duration = Duration::from_secs(24 * 3600);
/// The longest settle lag (and overlap) accepted: Google documents lags of "up to a few hours".
pub const MAX_SETTLE_LAG: Duration = Duration::from_secs(6 * 3600);
/// What the Reports API keeps: 180 days (its documented maximum time period for a report).
pub const RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);
/// The pace of one service account's requests by default, shared by every application of a source: one
/// every 250 ms (240 a minute; Google's Reports API quota is not published in its reference, so this
/// is a conservative assumption, not a documented figure).
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(250);
/// The applications crawled when `applications` is left out.
pub const DEFAULT_APPLICATIONS: [&str; 5] = ["login", "admin", "drive", "token", "saml"];
/// The shared HTTP settings' defaults: the shared ones (the pace is [`DEFAULT_MIN_INTERVAL`] unless
/// `requests_per_second` is given).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings::DEFAULT;

/// Every `applicationName` of the Reports API's activities list (its reference's enumeration, as read
/// when this was written; Google adds applications from time to time).
pub const APPLICATIONS: [&str; 25] = [
    "access_transparency",
    "admin",
    "assignments",
    "calendar",
    "chat",
    "chrome",
    "classroom",
    "context_aware_access",
    "data_studio",
    "drive",
    "gcp",
    "gemini_in_workspace_apps",
    "gplus",
    "groups",
    "groups_enterprise",
    "jamboard",
    "keep",
    "login",
    "meet",
    "mobile",
    "rules",
    "saml",
    "token",
    "user_accounts",
    "vault",
];

/// An application's default settle lag: Google's documented lag time for its log events where the
/// "Data retention and lag times" page says "near real time (couple of minutes)" (admin, access
/// transparency, assignments, chat, chrome, classroom, context-aware access: 10 minutes), tens of minutes
/// to a couple of hours (calendar: 2 hours), and one hour for the others (drive, login, token, saml, …:
/// their figures were not verified, an hour is this crate's assumption).
pub fn default_settle_lag(application: &str) -> Duration {
    match application {
        "admin" | "access_transparency" | "assignments" | "chat" | "chrome" | "classroom" | "context_aware_access" => {
            Duration::from_secs(600)
        }
        "calendar" => Duration::from_secs(2 * 3600),
        _ => Duration::from_secs(3600),
    }
}

/// `settle_lag`: one duration for every application, or a table of durations by application (the
/// others keep their default).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SettleLag {
    /// `settle_lag = "30m"`.
    All(String),
    /// `settle_lag = { drive = "2h", login = "20m" }`.
    Each(BTreeMap<String, String>),
}

/// Configuration of one Google Workspace customer and service account: its own keys of a
/// `[[sources]]` entry, read by
/// [`GoogleWorkspaceConnector::from_table`](crate::GoogleWorkspaceConnector::from_table) beside the
/// shared HTTP settings. Its `Debug` shows no secret.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleWorkspaceConfig {
    /// The service account's key file (JSON, as the Cloud console downloads it), or `credentials`.
    pub credentials_file: Option<PathBuf>,
    /// The key file's contents (a secret; `${ENV}` reads it from the environment), or `credentials_file`.
    pub credentials: Option<SecretString>,
    /// The administrator the service account acts as (domain-wide delegation): an email address.
    pub subject: String,
    /// The token endpoint (default: the key file's `token_uri`, else `https://oauth2.googleapis.com/token`).
    pub token_url: Option<String>,
    /// The Admin SDK's origin, default `https://admin.googleapis.com`.
    pub base_url: Option<String>,
    /// The customer's ID (`customerId`; default: the subject's customer).
    pub customer_id: Option<String>,
    /// The applications to crawl, one stream each (default `login`, `admin`, `drive`, `token`, `saml`).
    pub applications: Option<Vec<String>>,
    /// Events per request (`maxResults`), 1–1000 (default 1000).
    pub page_size: Option<u32>,
    /// How far back a first run starts (default `18h`, at most 180 days, inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// How far behind now windows end, and the overlap read again before each: one duration, or one
    /// per application (default: [`default_settle_lag`]).
    pub settle_lag: Option<SettleLag>,
    /// The longest window one query covers (default `1h`, `1s`–`24h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub window_step: Option<Duration>,
}

/// Where the service account's key comes from.
pub(crate) struct KeySource {
    /// The key file's text.
    pub(crate) text: SecretString,
    /// The key the text came from: `credentials_file` (and the file) or `credentials`.
    pub(crate) key: &'static str,
    /// What to call it in an error.
    pub(crate) origin: String,
}

impl GoogleWorkspaceConfig {
    /// The key file's text: `credentials_file` (read now) or `credentials`, exactly one.
    pub(crate) fn key_source(&self) -> Result<KeySource, ConfigError> {
        match (&self.credentials_file, &self.credentials) {
            (Some(_), Some(_)) => {
                Err(ConfigError::new("credentials", "set either credentials_file or credentials, not both"))
            }
            (None, None) => Err(ConfigError::new(
                "credentials_file",
                "a service account key is required: credentials_file (the key's JSON file) or credentials (its contents)",
            )),
            (Some(file), None) => {
                let text = std::fs::read_to_string(file).map_err(|err| {
                    ConfigError::new("credentials_file", format!("cannot read {}: {err}", file.display()))
                })?;
                Ok(KeySource { text: text.into(), key: "credentials_file", origin: file.display().to_string() })
            }
            (None, Some(text)) if text.expose_secret().trim().is_empty() => {
                Err(ConfigError::new("credentials", "must not be empty"))
            }
            (None, Some(text)) => {
                Ok(KeySource { text: text.clone(), key: "credentials", origin: "credentials".into() })
            }
        }
    }

    /// The subject, checked to look like an email address.
    pub(crate) fn subject(&self) -> Result<&str, ConfigError> {
        let subject = self.subject.trim();
        let valid = subject.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !subject.contains(char::is_whitespace)
        });
        if !valid {
            return Err(ConfigError::new(
                "subject",
                format!("{subject:?} is not an email address: give the administrator the service account acts as"),
            ));
        }
        Ok(subject)
    }

    /// The customer ID, when given: letters and digits (`C03az79cb`), or `my_customer`.
    pub(crate) fn customer(&self) -> Result<Option<&str>, ConfigError> {
        let Some(id) = self.customer_id.as_deref().map(str::trim) else { return Ok(None) };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::new(
                "customer_id",
                format!("{id:?} is not a customer ID (Admin console → Account → Account settings, e.g. C03az79cb)"),
            ));
        }
        Ok(Some(id))
    }

    /// The Admin SDK's origin.
    pub(crate) fn base(&self) -> Result<Url, ConfigError> {
        origin::base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL), "https://admin.googleapis.com")
    }

    /// The token URL: `token_url`, else the key file's `token_uri`, else Google's; checked like a base URL
    /// but for its path.
    pub(crate) fn token_url(&self, file_token_uri: Option<&str>) -> Result<Url, ConfigError> {
        let (text, key) = match (&self.token_url, file_token_uri) {
            (Some(url), _) => (url.as_str(), "token_url"),
            (None, Some(uri)) => (uri, "credentials_file"),
            (None, None) => (DEFAULT_TOKEN_URL, "token_url"),
        };
        let url = Url::parse(text.trim()).map_err(|err| {
            ConfigError::new(key, format!("the token URL {text:?} is not a URL ({err}); e.g. {DEFAULT_TOKEN_URL}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::new(key, format!("the token URL {text:?} must be an http(s) URL with a host")));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                key,
                format!("the token URL {text:?} must carry no query, fragment or credentials"),
            ));
        }
        Ok(url)
    }

    /// The applications, in the configured order.
    pub(crate) fn applications(&self) -> Result<Vec<String>, ConfigError> {
        let choice = Choice {
            key: "applications",
            noun: "Reports API application",
            all: &APPLICATIONS,
            default: &DEFAULT_APPLICATIONS,
            ignore_case: false,
        };
        Ok(choice.of(self.applications.as_deref(), |name| name)?.into_iter().map(str::to_owned).collect())
    }

    /// The settle lag of each of `applications`, checked.
    pub(crate) fn settle_lags(&self, applications: &[String]) -> Result<Vec<Duration>, ConfigError> {
        let check = |text: &str, name: &str| {
            let lag = parse_duration(text).map_err(|err| ConfigError::new("settle_lag", format!("{name}: {err}")))?;
            if lag > MAX_SETTLE_LAG {
                return Err(ConfigError::new("settle_lag", format!("{name}: must be at most 6h")));
            }
            Ok(lag)
        };
        match &self.settle_lag {
            None => Ok(applications.iter().map(|a| default_settle_lag(a)).collect()),
            Some(SettleLag::All(text)) => {
                let lag = check(text, "every application")?;
                Ok(vec![lag; applications.len()])
            }
            Some(SettleLag::Each(table)) => {
                if let Some(other) = table.keys().find(|name| !applications.contains(name)) {
                    return Err(ConfigError::new(
                        "settle_lag",
                        format!("{other:?} is not one of the applications crawled ({})", applications.join(", ")),
                    ));
                }
                applications
                    .iter()
                    .map(|name| table.get(name).map_or(Ok(default_settle_lag(name)), |text| check(text, name)))
                    .collect()
            }
        }
    }

    pub(crate) fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    pub(crate) fn window_step(&self) -> Result<Duration, ConfigError> {
        let step = self.window_step.unwrap_or(DEFAULT_WINDOW_STEP);
        if step < Duration::from_secs(1) || step > MAX_WINDOW_STEP {
            return Err(ConfigError::new("window_step", "must be from 1s to 24h"));
        }
        Ok(step)
    }
}
