//! # logcrawl-slack
//!
//! Crawls a Slack Enterprise organization's **Audit Logs API** (`GET https://api.slack.com/audit/v1/logs`)
//! into one stream, `audit-logs`. `README.md` is the operator's guide; this is the summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Newest first.** Slack answers a query newest first, page after page by
//!   `response_metadata.next_cursor` (empty at the end), between `oldest` and `latest` (Unix seconds,
//!   both inclusive). A cursor through *all* pages from now backwards could not be committed until the
//!   very end, so the stream is the SDK's [`WindowedStream`](logcrawl_connector::WindowedStream): time is
//!   cut into windows (at most `window_step` long, whole seconds, `[start, end)` asked as `oldest = start`,
//!   `latest = end − 1`), walked oldest to newest, each read to its last page, none newer than `now −
//!   settle_lag`.
//! * **Exact inside a window.** Entries have a unique `id` and a `date_create` in seconds, and come
//!   newest first, so every record's cursor says how far down the window was delivered and which ids at
//!   that second ([`WindowedApi::key`](logcrawl_connector::WindowedApi::key)): a run stopped anywhere
//!   resumes with no duplicate and no gap.
//! * **Tier 3, organization-wide.** About 50 calls a minute for the whole organization. Sources with one
//!   token share one budget paced at one request every 1.5 s ([`DEFAULT_MIN_INTERVAL`]); a 429's
//!   `Retry-After` is obeyed and the same page asked again.
//! * **Two ways to refuse.** An HTTP status with `{"ok": false, "error": "…"}`, or HTTP 200 with the same
//!   body (the Web API's habit): both are read, and credential and plan errors (`not_authed`,
//!   `invalid_auth`, `missing_scope`, `feature_not_enabled`, …) stop the source with what to check.
//!
//! ## Records
//!
//! The entry stays the JSON Slack sent; `data` adds `id`, `message`, `timestamp` (`date_create`),
//! `status`, `usr.*`, `network.client.ip`, `http.useragent`, `evt.name` and `evt.outcome` (see the
//! `event` module's source for the table). `ddsource`/`service` default to `slack`.
//!
//! ## Configuration (`[[sources]]` with `connector = "slack"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `token` | — | a user token (`xoxp-…`) of the organization's owner with `auditlogs:read` |
//! | `actions` | all | only these actions, e.g. `["user_login", "user_login_failed"]` |
//! | `page_size` | `1000` | entries per request, 1–9999 |
//! | `base_url` | `https://api.slack.com` | an origin in its place (a proxy, tests) |
//! | `initial_lookback` | `18h` | where a first run starts, inside the sink's max age |
//! | `window_step` | `1h` | the longest window one query covers |
//! | `settle_lag` | `5m` | how far behind now the newest window ends |
//!
//! and the shared HTTP settings (README, "Shared settings") with Slack's defaults ([`HTTP_DEFAULTS`]):
//! `timeout` `30s`; `requests_per_second`, when given, replaces the default pace of
//! [`DEFAULT_MIN_INTERVAL`] (it cannot be slower than one a second, which is already more than Tier 3).

mod api;
mod config;
mod event;

use std::sync::Arc;
use std::time::Duration;

use logcrawl_connector::{SingleStream, WindowPlan, lookback};
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, ConnectorKind, ExposeSecret, HttpSettings};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig, tenant_key};

pub use api::{AuditLogsApi, AuditLogsStream, STREAM_NAME};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_MIN_INTERVAL, DEFAULT_PAGE_SIZE, DEFAULT_SETTLE_LAG, DEFAULT_WINDOW_STEP, HTTP_DEFAULTS,
    MAX_PAGE_SIZE, SlackConfig,
};

/// `connector = "slack"`: what the registry builds a Slack source with.
pub const KIND: ConnectorKind = ConnectorKind::new("slack", "Slack Audit Logs API (Enterprise)", |table, context| {
    Ok(Arc::new(from_table(table, context)?))
});

/// The connector of one Slack organization: the SDK's one-stream connector over its audit log.
pub type SlackConnector = SingleStream<AuditLogsStream>;

/// Reads a `[[sources]]` table (Slack's own keys, then the shared HTTP settings over [`HTTP_DEFAULTS`])
/// and builds the connector of source `context.name`.
pub fn from_table(table: &Table, context: &BuildContext) -> Result<SlackConnector, ConfigError> {
    let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
    connector(config, &http, context)
}

/// Validates `config` and builds the connector with the shared HTTP settings `http`; `context.max_age`
/// bounds a first run's lookback.
pub fn connector(
    config: SlackConfig,
    http: &HttpSettings,
    context: &BuildContext,
) -> Result<SlackConnector, ConfigError> {
    connector_with_http(config, http, context, |_| {})
}

/// Like [`connector`], letting the caller adjust the HTTP settings before the client is built.
pub fn connector_with_http(
    config: SlackConfig,
    settings: &HttpSettings,
    context: &BuildContext,
    customize: impl Fn(&mut HttpConfig),
) -> Result<SlackConnector, ConfigError> {
    config.check_token()?;
    let base = config.origin()?;
    let page_size = config.page_size()?;
    let actions = config.action_filter()?;
    let (step, settle_lag) = config.windows()?;
    // Slack documents no retention for audit logs (they reach back to March 2018): only the sink's max
    // age bounds a first run.
    let lookback = lookback::initial_lookback(config.initial_lookback, Duration::MAX, "Slack", context.max_age)?;

    let mut http = HttpConfig::with_settings(base.clone(), settings)?;
    let budget = tenant_key("slack", &base, config.token.expose_secret());
    http.rate_limit = RateLimitConfig::tenant(budget, settings.requests_per_second, Some(DEFAULT_MIN_INTERVAL));
    customize(&mut http);
    let client = HttpClient::new(http)
        .map_err(|err| ConfigError::new("base_url", err.to_string()))?
        .with_bearer(Some(config.token));
    let api = AuditLogsApi::new(&base, page_size, actions).map_err(|err| ConfigError::new("base_url", err))?;
    let plan = WindowPlan::new(step, settle_lag, lookback).with_resolution(Duration::from_secs(1));
    Ok(SingleStream::new(KIND.name, AuditLogsStream::new(api, client, plan)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_connector::Window;
    use logcrawl_core::Connector;

    fn build(extra: &str) -> Result<SlackConnector, ConfigError> {
        let text = format!("token = \"xoxp-1-2-3-abc\"\n{extra}");
        from_table(&text.parse().unwrap(), &BuildContext::new("slack"))
    }

    fn read(text: &str) -> SlackConfig {
        ComponentTable::split::<_, HttpSettings>(&text.parse().unwrap(), HTTP_DEFAULTS).unwrap().0
    }

    #[test]
    fn one_stream_and_every_key_checked() {
        let built = build("").unwrap();
        assert_eq!(built.kind(), "slack");
        assert_eq!(built.streams().iter().map(|s| s.name().to_owned()).collect::<Vec<_>>(), ["audit-logs"]);
        for (extra, key, says) in [
            ("page_size = 0", "page_size", "not within 1..=9999"),
            ("page_size = 10000", "page_size", "not within 1..=9999"),
            ("actions = []", "actions", "at least one"),
            ("actions = [\"user login\"]", "actions", "not an action name"),
            ("actions = [\"a,b\"]", "actions", "not an action name"),
            ("actions = [\"user_login\", \"user_login\"]", "actions", "twice"),
            ("window_step = \"500ms\"", "window_step", "at least 1s"),
            ("base_url = \"ftp://x\"", "base_url", "http(s)"),
            ("initial_lookback = \"0s\"", "initial_lookback", "more than zero"),
            ("team = \"E1\"", "team", "unknown field"),
        ] {
            let err = build(extra).unwrap_err();
            assert_eq!(err.key(), key, "{extra}: {err}");
            assert!(err.to_string().contains(says), "{extra}: {err}");
        }
        let empty = read("token = \" \"");
        assert_eq!(connector(empty, &HTTP_DEFAULTS, &BuildContext::new("s")).unwrap_err().key(), "token");
        // Another kind of token is warned about, never shown, and left to Slack to refuse.
        let logs = logcrawl_testkit::LogCapture::start();
        let bot = read("token = \"xoxb-1-2-SECRET\"");
        assert!(connector(bot, &HTTP_DEFAULTS, &BuildContext::new("s")).is_ok());
        assert_eq!(logs.containing("a bot token, not a user token").len(), 1);
        logs.assert_absent("SECRET");
    }

    #[test]
    fn windows_map_onto_inclusive_seconds_and_actions_onto_one_parameter() {
        let connector = build("actions = [\"user_login\", \"pref.allow_calls\"]\npage_size = 200").unwrap();
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let window = Window { start, end: start + jiff::SignedDuration::from_secs(3600) };
        let url = connector.stream().api().window_url(window);
        assert_eq!(url.path(), "/audit/v1/logs");
        let query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        let expected = [
            ("oldest", "1700000000"),
            ("latest", "1700003599"),
            ("limit", "200"),
            ("action", "user_login,pref.allow_calls"),
        ];
        assert_eq!(query, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn the_pace_is_below_tier_3_unless_requests_per_second_replaces_it() {
        let paced = build("").unwrap();
        let budget = paced.stream().client().budget();
        assert_eq!(budget.min_interval(), Some(DEFAULT_MIN_INTERVAL));
        assert!(60.0 / DEFAULT_MIN_INTERVAL.as_secs_f64() < 50.0);
        assert!(!budget.key().contains("abc"), "{}", budget.key());
        let table = "token = \"xoxp-other\"\nrequests_per_second = 2".parse().unwrap();
        let fast = from_table(&table, &BuildContext::new("s")).unwrap();
        assert_eq!(fast.stream().client().budget().min_interval(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = read("token = \"xoxp-SECRET\"");
        assert!(!format!("{config:?}").contains("SECRET"));
        let connector = connector(config, &HTTP_DEFAULTS, &BuildContext::new("s")).unwrap();
        assert!(!format!("{connector:?}").contains("SECRET"));
    }
}
