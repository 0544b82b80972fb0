//! # logcrawl-github
//!
//! Crawls a GitHub **audit log** — an organization's (`GET /orgs/{org}/audit-log`) or an enterprise's
//! (`GET /enterprises/{enterprise}/audit-log`), on GitHub Enterprise Cloud or GitHub Enterprise Server —
//! oldest first, following only the `Link: rel="next"` cursors GitHub hands out. One stream, `audit-log`.
//! What to create at GitHub, every key and what is not verified about the API: `README.md`.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Opaque cursors.** Pages continue by `after=<cursor>` inside GitHub's `next` link, on a path of its
//!   own (`/organizations/<id>/audit-log`); the cursor is never built or read here. The first query of a
//!   stream is the only one made by hand: `phrase=created:>=<now − initial_lookback>`, `order=asc`,
//!   `per_page` (and `include` for an enterprise).
//! * **Rate limits.** The audit log allows 1 750 queries per hour per user and IP. GitHub announces its
//!   budget in `x-ratelimit-limit/remaining/reset/used/resource` and answers an exhausted one with 403
//!   `x-ratelimit-remaining: 0` (or 429), a secondary limit with 403 or 429 and `Retry-After`; the shared
//!   client waits each out and asks for the same page again ([`logcrawl_http::HttpConfig::rate_limit_403`]),
//!   and holds every source of one account at the margin before the budget runs out.
//! * **Plans.** Only GitHub Enterprise Cloud (and Server) has the audit log API; other organizations get
//!   404, reported as a fatal error that says so, naming the source.
//!
//! ## Cursor semantics: exact
//!
//! The page loop is the connector SDK's [`logcrawl_connector::PagedStream`]; this crate is GitHub's side
//! of it ([`AuditLogApi`]). Every record carries a cursor ([`GithubCursor`]):
//!
//! * the last record of a page with a `next` link: `{"v":1,"url":NEXT,"created":S,"seen":[ID…]}` —
//!   resume at GitHub's `next` link, dropping any event whose `_document_id` is in `seen` (those of the
//!   page's last second, should GitHub serve them again);
//! * any other record: `{"v":1,"url":PAGE,"created":S,"through":ID,"index":I}` — request the record's
//!   page again and skip through its `_document_id`. A crash in the middle of a page neither repeats nor
//!   skips an event, and a chain that ended on a page without a `next` link (what GitHub's last page of
//!   an ascending crawl carries is not documented) resumes on that same page, right after the last event
//!   delivered: its newer events, then its `next` link once it has one.
//!
//! `created` is the last delivered event's `@timestamp` in whole epoch seconds. It is read only when
//! GitHub refuses the stored URL (400 or 422: a cursor it no longer honours): the run then restarts from
//! `phrase=created:>=<that second>` and the events already delivered in that second are dropped by id. A
//! cursor of another shape, version or origin is a checkpoint error, never a silent restart.
//!
//! ## Records
//!
//! The event stays the JSON GitHub sent (a slice of its page, [`LogRecord::raw`](logcrawl_core::LogRecord::raw));
//! added are `message` (`<action> by <actor>: <repo|team|user>`), `timestamp` (`@timestamp`, else
//! `created_at`, epoch milliseconds, as seconds), `status` (`info`), and Datadog's standard attributes
//! `usr.name` (`actor`), `usr.id` (`actor_id`), `network.client.ip` (`actor_ip`), `http.useragent`
//! (`user_agent`) and `evt.name` (`action`). `ddsource` and `service` default to `github`.

mod config;
mod event;
mod stream;

use std::sync::Arc;

use logcrawl_connector::lookback::initial_lookback;
use logcrawl_connector::{PagedStream, SingleStream};
use logcrawl_core::config::ComponentTable;
use logcrawl_core::{BuildContext, ConfigError, ConnectorKind, ExposeSecret, HttpSettings};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig};

pub use config::{
    Account, DEFAULT_BASE_URL, DEFAULT_PAGE_SIZE, GithubConfig, HTTP_DEFAULTS, Include, MAX_PAGE_SIZE, RETENTION,
};
pub use event::GithubEvent;
pub use stream::{API_VERSION, AuditLogApi, AuditLogStream, GithubCursor, STREAM_NAME};

/// `connector = "github"`: what the registry builds a GitHub source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "github",
    "GitHub audit log (organization or enterprise; Enterprise Cloud or Server)",
    |table, context| {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Ok(Arc::new(connector(config, &http, context)?))
    },
);

/// The connector of one audit log: the SDK's one-stream connector over [`AuditLogStream`].
pub type GithubConnector = SingleStream<AuditLogStream>;

/// Validates `config` and builds the connector of source `context.name` with the shared HTTP settings
/// `http` (its first run starts within the sink's max age, `context.max_age`).
pub fn connector(
    config: GithubConfig,
    http: &HttpSettings,
    context: &BuildContext,
) -> Result<GithubConnector, ConfigError> {
    with_http(config, http, context, |_| {})
}

/// Like [`connector`], letting the caller adjust the HTTP settings (retry timing, rate-limit margin)
/// before the client is built; for tests, benchmarks and embedders.
pub fn with_http(
    config: GithubConfig,
    settings: &HttpSettings,
    context: &BuildContext,
    customize: impl FnOnce(&mut HttpConfig),
) -> Result<GithubConnector, ConfigError> {
    let token = match &config.token {
        Some(token) if !token.expose_secret().trim().is_empty() => token.clone(),
        Some(_) => return Err(ConfigError::new("token", "must not be empty")),
        None => {
            return Err(ConfigError::new(
                "token",
                "a personal access token or GitHub App installation token is required",
            ));
        }
    };
    let account = config.account()?;
    let page_size = config.page_size()?;
    let root = config.api_root()?;
    let lookback = initial_lookback(config.initial_lookback, RETENTION, "GitHub", context.max_age)?;
    let mut audit_url = root.clone();
    {
        let mut path =
            audit_url.path_segments_mut().map_err(|()| ConfigError::new("base_url", "cannot hold a path"))?;
        path.pop_if_empty();
        match &account {
            Account::Org(org) => path.extend(["orgs", org, "audit-log"]),
            Account::Enterprise(enterprise, _) => path.extend(["enterprises", enterprise, "audit-log"]),
        };
    }
    let host = root.host_str().unwrap_or_default().to_ascii_lowercase();
    let scope = match &account {
        Account::Org(org) => format!("orgs/{}", org.to_ascii_lowercase()),
        Account::Enterprise(enterprise, _) => format!("enterprises/{}", enterprise.to_ascii_lowercase()),
    };
    let mut http = HttpConfig::with_settings(root, settings)?;
    // One budget per audit log: every source of one account shares GitHub's announced budget.
    http.rate_limit = RateLimitConfig {
        requests_per_second: settings.requests_per_second,
        key: Some(format!("github:{host}:{}:{scope}", http.base_url.port_or_known_default().unwrap_or(0))),
        ..RateLimitConfig::default()
    };
    http.rate_limit_403 = true;
    customize(&mut http);
    let client =
        HttpClient::new(http).map_err(|err| ConfigError::new("base_url", err.to_string()))?.with_bearer(Some(token));
    let api = AuditLogApi::new(audit_url, account, context.name.clone(), page_size, lookback);
    Ok(SingleStream::new(KIND.name, PagedStream::new(api, client)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(value: serde_json::Value) -> Result<GithubConnector, ConfigError> {
        let table: logcrawl_core::config::Table = serde_json::from_value(value).unwrap();
        let (config, http) = ComponentTable::split(&table, HTTP_DEFAULTS)?;
        connector(config, &http, &BuildContext::new("gh"))
    }

    fn key_of(value: serde_json::Value) -> String {
        build(value).unwrap_err().key().to_owned()
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(key_of(json!({"org": "o"})), "token");
        assert_eq!(key_of(json!({"org": "o", "token": " "})), "token");
        assert_eq!(key_of(json!({"token": "t"})), "org");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "enterprise": "e"})), "org");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "include": "all"})), "include");
        assert_eq!(key_of(json!({"token": "t", "enterprise": "e", "include": "everything"})), "include");
        assert_eq!(key_of(json!({"token": "t", "org": "o/x"})), "org");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "page_size": 101})), "page_size");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "page_size": 0})), "page_size");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "base_url": "ftp://x"})), "base_url");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "initial_lookback": "4321h"})), "initial_lookback");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "timeout": "0s"})), "timeout");
        assert_eq!(key_of(json!({"token": "t", "org": "o", "per_page": 5})), "per_page");
        assert!(build(json!({"token": "t", "enterprise": "e", "include": "git", "initial_lookback": "4320h"})).is_ok());
    }

    #[test]
    fn base_url_is_the_api_root_and_paths_hang_off_it() {
        let url = |value: serde_json::Value| {
            let connector = build(value).unwrap();
            connector.stream().api().first_url()
        };
        let cloud = url(json!({"token": "t", "org": "acme-corp"}));
        assert!(cloud.as_str().starts_with("https://api.github.com/orgs/acme-corp/audit-log?phrase="), "{cloud}");
        let server = url(json!({"token": "t", "enterprise": "acme", "base_url": "https://ghe.example.com/api/v3"}));
        assert!(server.as_str().starts_with("https://ghe.example.com/api/v3/enterprises/acme/audit-log?"), "{server}");
        let slash = url(json!({"token": "t", "org": "o", "base_url": "http://127.0.0.1:9/"}));
        assert!(slash.as_str().starts_with("http://127.0.0.1:9/orgs/o/audit-log?"), "{slash}");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = GithubConfig::for_org("o", "ghp_SECRETtoken");
        assert!(!format!("{config:?}").contains("SECRET"));
        let connector = connector(config, &HTTP_DEFAULTS, &BuildContext::new("s")).unwrap();
        assert!(!format!("{connector:?}").contains("SECRET"));
    }
}
