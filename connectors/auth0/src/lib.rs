//! # logcrawl-auth0
//!
//! Crawls an Auth0 tenant's **logs** through the Management API (`GET /api/v2/logs`) the way Auth0
//! recommends for exporting them: by checkpoint, `from=<log_id>&take=N`, then only the `Link: rel="next"`
//! URLs Auth0 returns. One stream, `logs`. What to create at Auth0, every key and what is not verified
//! about the API: `README.md`.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Checkpoint reads.** Results are ordered by `log_id`, not by event time, so that Auth0's own
//!   delays never make a reader skip past records; `from` is exclusive ("logs newer than the given
//!   log_id"); `take` is at most 100; any other parameter is ignored in this mode; pagination has no limit
//!   (unlike search, capped at 1 000 results). When nothing is new the page is `[]` and its `next` is the
//!   URL just requested: caught up.
//! * **Credentials.** A machine-to-machine application's client credentials, exchanged at
//!   `POST https://{domain}/oauth/token` for a Management API token (audience `https://{domain}/api/v2/`,
//!   scope `read:logs`), cached and replaced before it expires, dropped once on a 401 — or a static
//!   Management API `token`.
//! * **Rate limits.** Auth0 announces `x-ratelimit-limit/remaining/reset` on every response and answers
//!   429 past them; the shared client holds every source of one tenant at the margin, waits out a 429 and
//!   asks for the same page again.
//!
//! ## Cursor semantics: exact
//!
//! Every record's cursor is `{"v": 1, "from": "<its log_id>"}` ([`Auth0Cursor`], `Resume::After`):
//! log ids are unique and ordered and `from` is exclusive, so a run resumed from any record — after a
//! crash mid-page, a sink failure, a restart — starts with the event right after it, and never repeats
//! one. The first request of each run is the checkpoint read of the stored `from` (the only request built
//! by hand, as Auth0 asks); after it, only Auth0's `next` links. The very first run starts from the log id
//! of the instant `now − initial_lookback` ([`start_log_id`]). A cursor of another shape is a checkpoint
//! error; a stored `from` Auth0 refuses (400, 404) is a checkpoint error saying how to repair it.
//!
//! ## Records
//!
//! The event stays the JSON Auth0 sent (a slice of its page); added are `message` (`description`, else
//! the meaning of the event `type` code), `timestamp` (`date`, as epoch seconds), `status` (`warning` for
//! failure and warning codes, else `info`), and Datadog's standard attributes `usr.id` (`user_id`),
//! `usr.name` (`user_name`), `usr.email` (`user_name` when it is an email), `network.client.ip` (`ip`),
//! `http.useragent` (`user_agent`), `evt.name` (`type`) and `evt.outcome` (`success`/`failure` from the
//! type code). `ddsource` and `service` default to `auth0`.

mod auth;
mod config;
mod event;
mod stream;

use std::sync::Arc;

use logcrawl_connector::lookback::initial_lookback;
use logcrawl_connector::{PagedStream, SingleStream};
use logcrawl_core::config::ComponentTable;
use logcrawl_core::{BuildContext, ConfigError, ConnectorKind, HttpSettings};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig};

pub use auth::{ClientCredentialsAuth, LOGS_SCOPE};
pub use config::{Auth0Config, DEFAULT_PAGE_SIZE, HTTP_DEFAULTS, MAX_PAGE_SIZE, RETENTION};
pub use event::Auth0Event;
pub use stream::{Auth0Cursor, LogsApi, LogsStream, STREAM_NAME, start_log_id};

use config::Credential;

/// `connector = "auth0"`: what the registry builds an Auth0 source with.
pub const KIND: ConnectorKind =
    ConnectorKind::new("auth0", "Auth0 tenant logs (Management API, by checkpoint)", |table, context| {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Ok(Arc::new(Auth0Connector::new(config, &http, context)?))
    });

/// One Auth0 tenant: its `logs` stream, and the client-credentials token it uses, if any.
#[derive(Debug)]
pub struct Auth0Connector {
    connector: SingleStream<LogsStream>,
    oauth: Option<Arc<ClientCredentialsAuth>>,
}

impl Auth0Connector {
    /// Validates `config` and builds the connector of source `context.name` with the shared HTTP settings
    /// `http` (its first run starts within the sink's max age, `context.max_age`).
    pub fn new(config: Auth0Config, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`Auth0Connector::new`], letting the caller adjust the HTTP settings (retry timing) before
    /// the clients are built; for tests, benchmarks and embedders.
    pub fn with_http(
        config: Auth0Config,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let (base, audience) = config.endpoints()?;
        let credential = config.credential()?;
        let page_size = config.page_size()?;
        let lookback = initial_lookback(config.initial_lookback, RETENTION, "Auth0", context.max_age)?;
        let url_error = |err: &dyn std::fmt::Display| ConfigError::new("base_url", err.to_string());
        let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
        let budget_key = format!("auth0:{host}:{}", base.port_or_known_default().unwrap_or(0));
        let mut http = HttpConfig::with_settings(base.clone(), settings)?;
        // Every source of one tenant shares the budget Auth0 announces.
        http.rate_limit = RateLimitConfig {
            requests_per_second: settings.requests_per_second,
            key: Some(budget_key.clone()),
            ..RateLimitConfig::default()
        };
        customize(&mut http);
        let client = HttpClient::new(http.clone()).map_err(|err| url_error(&err))?;
        let (client, oauth) = match credential {
            Credential::Token(token) => (client.with_bearer(Some(token)), None),
            Credential::Client { client_id, client_secret } => {
                let token_url = base.join("oauth/token").map_err(|err| url_error(&err))?;
                let mut token_http = http;
                // The token endpoint (Authentication API) has limits of its own: not the logs budget.
                token_http.rate_limit =
                    RateLimitConfig { key: Some(format!("{budget_key}#oauth-token")), ..RateLimitConfig::default() };
                let token_client = HttpClient::new(token_http).map_err(|err| url_error(&err))?;
                let oauth =
                    Arc::new(ClientCredentialsAuth::new(client_id, client_secret, audience, token_url, token_client));
                (client.with_auth(oauth.clone()), Some(oauth))
            }
        };
        let logs_url = base.join("api/v2/logs").map_err(|err| url_error(&err))?;
        let api = LogsApi::new(logs_url, context.name.clone(), page_size, lookback);
        let connector = SingleStream::new(KIND.name, PagedStream::new(api, client));
        Ok(Self { connector, oauth })
    }

    /// The `logs` stream.
    pub fn logs(&self) -> &Arc<LogsStream> {
        self.connector.stream()
    }

    /// The client-credentials token, when the source uses an application (for inspecting refreshes).
    pub fn oauth(&self) -> Option<&Arc<ClientCredentialsAuth>> {
        self.oauth.as_ref()
    }
}

impl logcrawl_core::Connector for Auth0Connector {
    fn kind(&self) -> &str {
        self.connector.kind()
    }

    fn streams(&self) -> Vec<Arc<dyn logcrawl_core::LogStream>> {
        self.connector.streams()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(value: serde_json::Value) -> Result<Auth0Connector, ConfigError> {
        let table: logcrawl_core::config::Table = serde_json::from_value(value).unwrap();
        let (config, http) = ComponentTable::split(&table, HTTP_DEFAULTS)?;
        Auth0Connector::new(config, &http, &BuildContext::new("a0"))
    }

    fn key_of(value: serde_json::Value) -> String {
        build(value).unwrap_err().key().to_owned()
    }

    #[test]
    fn errors_name_the_key() {
        let client = |extra: serde_json::Value| {
            let mut value = json!({"domain": "acme.us.auth0.com", "client_id": "c", "client_secret": "s"});
            value.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap());
            value
        };
        assert_eq!(key_of(json!({"token": "t"})), "domain");
        assert_eq!(key_of(json!({"domain": "acme.us.auth0.com"})), "client_id");
        assert_eq!(key_of(json!({"domain": "acme.us.auth0.com", "client_id": "c"})), "client_secret");
        assert_eq!(key_of(json!({"domain": "acme.us.auth0.com", "client_secret": "s"})), "client_id");
        assert_eq!(key_of(client(json!({"token": "t"}))), "token");
        assert_eq!(key_of(client(json!({"client_secret": " "}))), "client_secret");
        assert_eq!(key_of(json!({"domain": "acme.us.auth0.com", "token": ""})), "token");
        assert_eq!(key_of(client(json!({"domain": "https://acme.us.auth0.com/x"}))), "domain");
        assert_eq!(key_of(client(json!({"page_size": 101}))), "page_size");
        assert_eq!(key_of(client(json!({"initial_lookback": "721h"}))), "initial_lookback");
        assert_eq!(key_of(client(json!({"base_url": "ftp://x"}))), "base_url");
        assert_eq!(key_of(client(json!({"take": 5}))), "take");
        assert_eq!(key_of(client(json!({"retry_attempts": 0}))), "retry_attempts");
        assert!(build(client(json!({"initial_lookback": "720h"}))).is_ok());
    }

    #[test]
    fn endpoints_follow_the_domain_and_base_url() {
        let endpoints = |value: serde_json::Value| {
            let table: logcrawl_core::config::Table = serde_json::from_value(value).unwrap();
            let (config, _): (Auth0Config, HttpSettings) = ComponentTable::split(&table, HTTP_DEFAULTS).unwrap();
            let (base, audience) = config.endpoints().unwrap();
            (base.to_string(), audience)
        };
        assert_eq!(
            endpoints(json!({"domain": "https://acme.us.auth0.com/"})),
            ("https://acme.us.auth0.com/".into(), "https://acme.us.auth0.com/api/v2/".into())
        );
        assert_eq!(
            endpoints(json!({"domain": "acme.eu.auth0.com", "base_url": "http://127.0.0.1:9/proxy"})),
            ("http://127.0.0.1:9/proxy/".into(), "https://acme.eu.auth0.com/api/v2/".into()),
            "base_url moves the requests, the audience stays the tenant's"
        );
        assert_eq!(endpoints(json!({"base_url": "http://127.0.0.1:9"})).1, "http://127.0.0.1:9/api/v2/");
        let connector = build(json!({"domain": "acme.us.auth0.com", "token": "t"})).unwrap();
        let first = connector.logs().api().first_url();
        assert!(first.as_str().starts_with("https://acme.us.auth0.com/api/v2/logs?from=900"), "{first}");
        assert!(first.as_str().ends_with("&take=100"), "{first}");
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let connector =
            build(json!({"domain": "acme.us.auth0.com", "client_id": "c", "client_secret": "SECRETs"})).unwrap();
        assert!(!format!("{connector:?}").contains("SECRET"));
        let config = Auth0Config::with_token("acme.us.auth0.com", "SECRETtoken");
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
