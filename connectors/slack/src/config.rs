//! The keys of a `[[sources]]` entry with `connector = "slack"`, and what each may be.

use std::time::Duration;

use logcrawl_connector::origin;
use logcrawl_core::config::within;
use logcrawl_core::{ConfigError, ExposeSecret, HttpSettings, SecretString};
use logcrawl_http::Url;
use serde::Deserialize;

/// The Audit Logs API's host.
pub const DEFAULT_BASE_URL: &str = "https://api.slack.com/";
/// Entries per request by default.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Slack's largest page.
pub const MAX_PAGE_SIZE: u32 = 9999;
/// How long a window is at most, by default.
pub const DEFAULT_WINDOW_STEP: Duration = Duration::from_secs(3600);
/// How far behind now the newest window ends, by default.
pub const DEFAULT_SETTLE_LAG: Duration = Duration::from_secs(300);
/// The pace of a token's requests by default: one every 1.5 s, 40 a minute, below Tier 3's 50 a minute
/// for the whole organization, leaving a fifth of it to the organization's other audit-log readers.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(1500);
/// The shared HTTP settings' defaults for Slack: a 30 s timeout, the shared defaults otherwise (the pace
/// is [`DEFAULT_MIN_INTERVAL`] unless `requests_per_second` is given).
pub const HTTP_DEFAULTS: HttpSettings = HttpSettings { timeout: Duration::from_secs(30), ..HttpSettings::DEFAULT };

/// Configuration of one Slack Enterprise organization: its own keys of a `[[sources]]` entry, read by
/// [`from_table`](crate::from_table) beside the shared HTTP settings.
/// Its `Debug` shows no secret: the token prints as `[REDACTED]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// A user token (`xoxp-…`) of the organization's owner with `auditlogs:read`.
    pub token: SecretString,
    /// Only entries of these actions (sent as one comma-separated `action`); all without.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Entries per request, 1–9999 (default 1000).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// An origin in place of `https://api.slack.com` (a proxy, tests).
    #[serde(default)]
    pub base_url: Option<String>,
    /// How far back a first run starts (default `18h`, inside the sink's max age).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub initial_lookback: Option<Duration>,
    /// The longest window of time one query covers (default `1h`).
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub window_step: Option<Duration>,
    /// How far behind now the newest window ends (default `5m`): Slack's indexing delay.
    #[serde(default, deserialize_with = "logcrawl_core::config::opt_duration")]
    pub settle_lag: Option<Duration>,
}

impl SlackConfig {
    /// An empty token is refused; one that does not look like a user token (`xoxp-…`) is warned about
    /// (Slack will refuse it, and that refusal stops the source with the same advice).
    pub(crate) fn check_token(&self) -> Result<(), ConfigError> {
        let token = self.token.expose_secret().trim();
        if token.is_empty() {
            return Err(ConfigError::new("token", "must not be empty"));
        }
        if !token.starts_with("xoxp-") {
            let kind = token.split_once('-').map_or("an unknown kind of", |(prefix, _)| match prefix {
                "xoxb" => "a bot",
                "xapp" => "an app-level",
                "xoxe" => "a refresh",
                _ => "an unknown kind of",
            });
            tracing::warn!(
                "the Slack `token` is {kind} token, not a user token (xoxp-…): the Audit Logs API takes only the \
                 organization owner's user token with the auditlogs:read scope, and will refuse this one"
            );
        }
        Ok(())
    }

    /// The origin requests go to: `base_url`, else Slack's API host.
    pub(crate) fn origin(&self) -> Result<Url, ConfigError> {
        origin::base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL), "https://api.slack.com")
    }

    /// The `action` parameter: the actions joined by commas, checked.
    pub(crate) fn action_filter(&self) -> Result<Option<String>, ConfigError> {
        let Some(actions) = &self.actions else { return Ok(None) };
        if actions.is_empty() {
            return Err(ConfigError::new("actions", "must name at least one action (or be left out for all)"));
        }
        for (i, action) in actions.iter().enumerate() {
            let valid =
                !action.is_empty() && action.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(ConfigError::new(
                    "actions",
                    format!("{action:?} is not an action name (such as user_login or pref.allow_calls)"),
                ));
            }
            if actions[..i].contains(action) {
                return Err(ConfigError::new("actions", format!("{action:?} is listed twice")));
            }
        }
        Ok(Some(actions.join(",")))
    }

    pub(crate) fn page_size(&self) -> Result<u32, ConfigError> {
        within("page_size", self.page_size.unwrap_or(DEFAULT_PAGE_SIZE), 1..=MAX_PAGE_SIZE)
    }

    /// The window step and settle lag, checked.
    pub(crate) fn windows(&self) -> Result<(Duration, Duration), ConfigError> {
        let step = self.window_step.unwrap_or(DEFAULT_WINDOW_STEP);
        if step < Duration::from_secs(1) {
            return Err(ConfigError::new("window_step", "must be at least 1s (Slack's resolution is a second)"));
        }
        Ok((step, self.settle_lag.unwrap_or(DEFAULT_SETTLE_LAG)))
    }
}
