//! # logcrawl-okta
//!
//! Crawls an Okta org's **System Log** (`GET /api/v1/logs`) the way Okta documents for transferring data to
//! another system: one polling query (`since` + `limit`, ascending, no `until`), then only the `rel="next"`
//! links Okta returns. One stream, `system_log`.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Polling semantics.** Without `until`, Okta filters by persistence time (late events are not
//!   skipped) and *always* returns a `next` link; when nothing new exists the page is `[]` and `next` equals
//!   `self`. The `after` token inside `next` is opaque and must not be crafted, so it never is.
//! * **Rate limits.** `/api/v1/logs` has a small per-minute org-wide budget (20 to 120 calls by plan),
//!   announced on every response as `X-Rate-Limit-Limit/Remaining/Reset`; exceeding it answers 429
//!   `E0000047`. Okta keeps 90 days; a query runs at most 30 s (then 500 `E0000009`).
//! * **Pages** hold 1 to 1000 events (default here: 1000, the fewest calls per event).
//!
//! ## Configuration (`[[sources]]` with `connector = "okta"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `domain` | — | the org host, e.g. `acme.okta.com` (HTTPS) |
//! | `base_url` | — | a full origin instead of `domain` (proxies, tests), e.g. `https://okta-proxy:8443` |
//! | `token` | — | an API token, sent as `Authorization: SSWS …` |
//! | `client_id` | — | OAuth 2.0 API service app using `private_key_jwt` (instead of `token`) |
//! | `private_key` / `private_key_file` | — | that app's RSA private key, PEM (PKCS#1 or PKCS#8), inline or from a file |
//! | `key_id` | none | the key's `kid` on the app (required by Okta when the app has several keys) |
//! | `dpop` | `false` | the app requires DPoP (RFC 9449): tokens bound to a generated P-256 key, a proof on every call |
//! | `limit` | `1000` | events per page, 1–1000 |
//! | `initial_lookback` | `18h` | where the very first run starts (≤ `2160h`, 90 days); at most the sink's max age minus [`LOOKBACK_SAFETY_MARGIN`] (10 min), so a backfill's oldest events are still accepted when they arrive |
//! | `rate_limit_margin` | `2` | calls per window left unspent for other Okta clients (sources on one org share a budget: the largest margin applies) |
//! | `filter` | none | a SCIM filter for the first request (`eventType eq "user.session.start"`) |
//!
//! and the shared HTTP settings (README, "Shared settings"), with Okta's defaults ([`HTTP_DEFAULTS`]):
//! `timeout` `45s` (Okta cuts a query off after 30 s), `max_retry_wait` `5m` (the longest
//! `Retry-After`/`X-Rate-Limit-Reset` wait obeyed; a longer one ends the run, the next interval retries),
//! `requests_per_second` none (an extra client-side cap on top of Okta's headers), `retry_attempts` 5,
//! `retry_initial_delay` `1s`, `retry_max_delay` `120s`.
//!
//! **Required Okta permissions.** API token: created by an admin whose role may read the System Log (e.g.
//! Read-Only Administrator). OAuth: an *API Services* app with client authentication *public key / private
//! key*, the **`okta.logs.read`** scope granted, an admin role assigned to the app, and `dpop = true` when
//! the app has *Require DPoP* on (tokens bound to a key generated at start-up, a proof on every call; see
//! the crate README). Okta recommends the OAuth app over API tokens (scoped, no user tied to it). Every token request
//! attempt, retries included, carries a newly signed client assertion: Okta refuses a replayed `jti`.
//!
//! ## Cursor semantics: exact, and cheap per record
//!
//! Every record carries a cursor, so the runtime may commit after any record. Two shapes:
//!
//! * last record of a page: `{"v":1, "url": <Okta's next link>, "seen": [<uuids>], "published": P}`:
//!   resume by requesting `next`, dropping any event whose `uuid` is in `seen` (the events at the page's
//!   final `published` instant, P; a guard should Okta serve a boundary event twice — where Filebeat relies
//!   on Elasticsearch `_id` and Airbyte on destination dedupe). An empty page inside a chain keeps the
//!   previous page's `seen`, and its `next` is committed as a position (a cursor without a record), so a
//!   sparse `filter`'s chain of empty pages is walked once, not by every run;
//! * any other record: `{"v":1, "url": <this page's URL>, "through": <its uuid>, "index": i, "published":
//!   P}`: resume by requesting the same page again and skipping up to and including that event. A crash in
//!   the middle of a page therefore neither re-delivers nor skips. Building it costs one URL, one uuid and
//!   one timestamp string, never a copy of the page.
//!
//! The page loop that keeps these cursors is the connector SDK's [`logcrawl_connector::PagedStream`]; this
//! crate is Okta's side of it ([`SystemLogApi`]).
//!
//! A stored `next` URL is requested as is on the next run (it carries the `limit` it was made with).
//! `published` is optional (cursors from before it still load and resume) and read only when Okta refuses
//! the stored URL. A cursor of an unknown shape or version, or of another org, is a checkpoint error
//! ([`StreamError::checkpoint`](logcrawl_core::StreamError::checkpoint)), never a silent restart.
//!
//! ## When Okta refuses a stored position
//!
//! An expired `after`, or a `since` now beyond retention, answers HTTP 400 (`E0000001`, "Api validation
//! failed: …") — on every interval alike. When the first request of a run that resumes from a cursor gets
//! a 400, the run restarts with a polling query from `since = published` (`limit`, ascending, the configured
//! `filter`) and logs a warning; the uuids the cursor kept at that instant (`seen`, or a mid-page cursor's
//! `through`) are dropped. `since` filters on persistence time, never earlier than `published`, so nothing
//! after the checkpoint is lost; a mid-page cursor may repeat events sharing its instant that preceded it
//! on its page. A cursor without `published`, or a 400 to the fallback too, is a checkpoint error saying
//! what Okta answered and that the checkpoint must be reset or set (`logcrawl state reset SOURCE STREAM`).
//!
//! ## When a run ends
//!
//! * a page shorter than the `limit` it asked for: caught up; the next run requests the stored `next`
//!   (no extra empty poll per run, unlike elastic/integrations#15212 and Vector's `okta` source);
//! * a page `[]` whose `next` is `self`;
//! * an error: 401/403 stop the source with advice (no retry storm); 5xx, timeouts and resets are retried
//!   by the shared client, then end the run; a malformed page ends the run naming the URL (never the
//!   credential) without advancing past the last good page.
//!
//! ## Rate-limit behaviour
//!
//! Every request — each page of a chain, token requests apart — draws on one [`logcrawl_http::RateBudget`]
//! keyed by the org host, so two sources on one org share it. The budget follows Okta's headers: once
//! `X-Rate-Limit-Remaining` reaches `rate_limit_margin`, requests wait for `X-Rate-Limit-Reset` instead of
//! running into 429 (the pagination storm of elastic/beats#23023). A 429 still received (another client
//! spent the budget) is waited out until the reset and *the same page* is requested again, so a rate limit in
//! the middle of a chain leaves no gap (elastic/integrations#11460).
//!
//! ## Records
//!
//! The whole event is kept as attributes; added are `message` (`displayMessage`, else `eventType`),
//! `timestamp` (`published`, epoch seconds with milliseconds), `status` (`severity` →
//! `debug`/`info`/`warning`/`error`) and `network.client.ip` (from `client.ipAddress`, Datadog's standard
//! attribute). `ddsource`/`service` come from the source's metadata (default `okta`).
//!
//! A page is parsed once into one raw JSON slice per event ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)):
//! no tree of maps per event. One pass over each event's top-level members finds the fields above; the record's
//! `data` holds only the added attributes, and sinks splice the event's members in after them. The stream
//! reads `uuid` and `published` (its cursors and page boundaries) from slices of the event, not from
//! copies. Building and re-serialising a `serde_json` map per event was most of the crawler's CPU; see
//! `docs/benchmarks.md`.

mod auth;
mod config;
mod cursor;
mod dpop;
mod event;
mod stream;

use std::sync::Arc;

use logcrawl_connector::origin;
use logcrawl_core::{BuildContext, Connector, ConnectorKind, ExposeSecret, LogStream, SecretString};
use logcrawl_http::header::AUTHORIZATION;
use logcrawl_http::{Auth, HttpClient, HttpConfig, RateLimitConfig, StaticAuth, Url};

pub use auth::{ASSERTION_TYPE, LOGS_SCOPE, PrivateKeyJwtAuth};
pub use config::{
    ConfigError, DEFAULT_INITIAL_LOOKBACK, DEFAULT_LIMIT, DEFAULT_MAX_RETRY_WAIT, DEFAULT_RATE_LIMIT_MARGIN,
    DEFAULT_TIMEOUT, HTTP_DEFAULTS, LOOKBACK_SAFETY_MARGIN, MAX_INITIAL_LOOKBACK, MAX_LIMIT, OktaConfig,
};
pub use cursor::{CURSOR_VERSION, OktaCursor};
pub use event::OktaEvent;
pub use stream::{STREAM_NAME, SystemLogApi, SystemLogStream};

/// `connector = "okta"`: what the registry builds an Okta source with (its context's name and the sink's
/// max age included).
pub const KIND: ConnectorKind = ConnectorKind::new("okta", "Okta System Log (/api/v1/logs)", |table, context| {
    Ok(Arc::new(OktaConnector::new(OktaConfig::from_table(table)?, context)?))
});

/// One Okta org: its `system_log` stream and the credentials and rate budget it uses.
#[derive(Debug)]
pub struct OktaConnector {
    source_name: String,
    stream: Arc<SystemLogStream>,
    oauth: Option<Arc<PrivateKeyJwtAuth>>,
}

impl OktaConnector {
    /// Builds the connector of source `context.name` from its configuration.
    ///
    /// `context.max_age` is the sink's max age, when it has one: the first run starts no earlier than
    /// [`LOOKBACK_SAFETY_MARGIN`] inside it, so its oldest events are still accepted when they arrive.
    pub fn new(config: OktaConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, context, |_| {})
    }

    /// Like [`OktaConnector::new`], letting the caller adjust the HTTP settings (retry policy, rate-limit
    /// waits) before the clients are built; for tests and embedders.
    pub fn with_http(
        config: OktaConfig,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let base = base_url(&config)?;
        let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
        let budget_key = match base.port() {
            Some(port) => format!("okta:{host}:{port}"),
            None => format!("okta:{host}"),
        };
        let limit = config.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ConfigError::new("limit", format!("must be between 1 and {MAX_LIMIT}, got {limit}")));
        }
        let lookback = logcrawl_connector::lookback::initial_lookback(
            config.initial_lookback,
            MAX_INITIAL_LOOKBACK,
            "Okta",
            context.max_age,
        )?;
        if let Some(filter) = &config.filter
            && filter.trim().is_empty()
        {
            return Err(ConfigError::new("filter", "must not be empty"));
        }

        let mut http_config = HttpConfig::with_settings(base.clone(), &config.http)?;
        http_config.rate_limit = RateLimitConfig {
            requests_per_second: config.http.requests_per_second,
            min_interval: None,
            burst: None,
            margin: config.rate_limit_margin.unwrap_or(DEFAULT_RATE_LIMIT_MARGIN),
            key: Some(budget_key.clone()),
            ..RateLimitConfig::default()
        };
        customize(&mut http_config);
        let http =
            HttpClient::new(http_config.clone()).map_err(|err| ConfigError::new(url_key(&config), err.to_string()))?;

        let (auth, oauth): (Arc<dyn Auth>, _) = match credential(&config)? {
            Credential::Token(token) => {
                if token.expose_secret().trim().is_empty() {
                    return Err(ConfigError::new("token", "must not be empty"));
                }
                (Arc::new(StaticAuth::new(AUTHORIZATION, "SSWS ", token)), None)
            }
            Credential::PrivateKey { client_id, key_id, pem, key_name } => {
                let token_url =
                    base.join("oauth2/v1/token").map_err(|err| ConfigError::new(url_key(&config), err.to_string()))?;
                let mut token_config = http_config.clone();
                // Okta counts token requests in their own bucket: keep them out of the logs budget.
                token_config.rate_limit =
                    RateLimitConfig { key: Some(format!("{budget_key}#oauth2-token")), ..RateLimitConfig::default() };
                let token_http =
                    HttpClient::new(token_config).map_err(|err| ConfigError::new(url_key(&config), err.to_string()))?;
                let oauth = PrivateKeyJwtAuth::new(client_id, key_id, &pem, token_url, token_http, config.dpop)
                    .map_err(|message| ConfigError::new(key_name, message))?;
                let oauth = Arc::new(oauth);
                (oauth.clone() as Arc<dyn Auth>, Some(oauth))
            }
        };
        let logs_url = base.join("api/v1/logs").map_err(|err| ConfigError::new(url_key(&config), err.to_string()))?;
        let stream = stream::system_log(http.with_auth(auth), logs_url, limit, lookback, config.filter.clone());
        Ok(Self { source_name: context.name.clone(), stream: Arc::new(stream), oauth })
    }

    /// The configured source name.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The `system_log` stream.
    pub fn system_log(&self) -> Arc<SystemLogStream> {
        self.stream.clone()
    }

    /// The OAuth credential, when the source uses a service app (for inspecting token refreshes).
    pub fn oauth(&self) -> Option<&Arc<PrivateKeyJwtAuth>> {
        self.oauth.as_ref()
    }
}

impl Connector for OktaConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![self.stream.clone() as Arc<dyn LogStream>]
    }
}

fn url_key(config: &OktaConfig) -> &'static str {
    if config.base_url.is_some() { "base_url" } else { "domain" }
}

/// The org's origin with a trailing `/`, so `api/v1/logs` joins below any proxy path.
fn base_url(config: &OktaConfig) -> Result<Url, ConfigError> {
    match (&config.base_url, &config.domain) {
        (Some(base), _) => origin::base_url(base, "https://acme.okta.com"),
        (None, Some(domain)) => {
            let url = origin::domain_url(domain, "acme.okta.com")?;
            let host = url.host_str().unwrap_or_default();
            if let Some(org) = host.split('.').next()
                && org.ends_with("-admin")
            {
                return Err(ConfigError::new(
                    "domain",
                    format!(
                        "{host} is the admin console's domain; the API lives on the org domain ({})",
                        host.replacen("-admin", "", 1)
                    ),
                ));
            }
            Ok(url)
        }
        (None, None) => Err(ConfigError::new("domain", "is required (or base_url)")),
    }
}

enum Credential {
    Token(SecretString),
    PrivateKey { client_id: String, key_id: Option<String>, pem: SecretString, key_name: &'static str },
}

fn credential(config: &OktaConfig) -> Result<Credential, ConfigError> {
    let oauth_keys_set =
        config.client_id.is_some() || config.private_key.is_some() || config.private_key_file.is_some();
    match (&config.token, oauth_keys_set) {
        (Some(_), true) => Err(ConfigError::new(
            "token",
            "set either token (API token) or client_id with private_key/private_key_file (OAuth), not both",
        )),
        (Some(token), false) => {
            if config.key_id.is_some() {
                return Err(ConfigError::new("key_id", "only applies with client_id (OAuth)"));
            }
            if config.dpop {
                return Err(ConfigError::new(
                    "dpop",
                    "only applies with client_id (OAuth): API tokens are not DPoP-bound",
                ));
            }
            Ok(Credential::Token(token.clone()))
        }
        (None, false) => {
            Err(ConfigError::new("token", "a credential is required: token, or client_id with private_key"))
        }
        (None, true) => {
            let client_id = config
                .client_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| ConfigError::new("client_id", "is required with private_key/private_key_file"))?;
            let (pem, key_name) = match (&config.private_key, &config.private_key_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new("private_key", "set private_key or private_key_file, not both"));
                }
                (Some(pem), None) => (pem.clone(), "private_key"),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|err| {
                        ConfigError::new("private_key_file", format!("cannot read {}: {err}", path.display()))
                    })?;
                    (SecretString::from(text), "private_key_file")
                }
                (None, None) => {
                    return Err(ConfigError::new("private_key", "is required with client_id (or private_key_file)"));
                }
            };
            let key_id = config.key_id.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned);
            Ok(Credential::PrivateKey { client_id: client_id.to_owned(), key_id, pem, key_name })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_like: serde_json::Value) -> OktaConfig {
        serde_json::from_value(toml_like).unwrap()
    }

    fn err(value: serde_json::Value) -> ConfigError {
        OktaConnector::new(config(value), &BuildContext::new("s")).unwrap_err()
    }

    #[test]
    fn errors_name_the_key() {
        use serde_json::json;
        assert_eq!(err(json!({"token": "t"})).key(), "domain");
        assert_eq!(err(json!({"domain": "acme.okta.com"})).key(), "token");
        assert_eq!(err(json!({"domain": "acme.okta.com", "token": "t", "limit": 5000})).key(), "limit");
        assert_eq!(
            err(json!({"domain": "acme.okta.com", "token": "t", "initial_lookback": "2400h"})).key(),
            "initial_lookback"
        );
        assert_eq!(err(json!({"domain": "acme-admin.okta.com", "token": "t"})).key(), "domain");
        assert_eq!(err(json!({"domain": "acme.okta.com/x", "token": "t"})).key(), "domain");
        assert_eq!(err(json!({"base_url": "ftp://x", "token": "t"})).key(), "base_url");
        assert_eq!(err(json!({"domain": "acme.okta.com", "token": "t", "client_id": "c"})).key(), "token");
        assert_eq!(err(json!({"domain": "acme.okta.com", "client_id": "c"})).key(), "private_key");
        assert_eq!(err(json!({"domain": "acme.okta.com", "private_key": "x"})).key(), "client_id");
        let bad_key = err(json!({"domain": "acme.okta.com", "client_id": "c", "private_key": "-----BEGIN NOPE-----"}));
        assert_eq!(bad_key.key(), "private_key");
        assert!(bad_key.to_string().contains("`private_key`"), "{bad_key}");
        let missing =
            err(json!({"domain": "acme.okta.com", "client_id": "c", "private_key_file": "/nonexistent/key.pem"}));
        assert_eq!(missing.key(), "private_key_file");
        let unknown = serde_json::from_value::<OktaConfig>(json!({"domain": "a", "tokn": "t"})).unwrap_err();
        assert!(unknown.to_string().contains("tokn"), "{unknown}");
    }

    #[test]
    fn domains_and_base_urls_normalise() {
        use serde_json::json;
        let url = |v| base_url(&config(v)).unwrap().to_string();
        assert_eq!(url(json!({"domain": "acme.okta.com"})), "https://acme.okta.com/");
        assert_eq!(url(json!({"domain": "https://acme.okta.com/"})), "https://acme.okta.com/");
        assert_eq!(url(json!({"domain": "x", "base_url": "http://127.0.0.1:9/okta"})), "http://127.0.0.1:9/okta/");
    }

    #[test]
    fn the_shared_http_settings_keep_oktas_defaults_and_name_their_keys() {
        use std::time::Duration;
        let read = |extra: &str| {
            let text = format!("domain = \"acme.okta.com\"\ntoken = \"t\"\n{extra}");
            OktaConfig::from_table(&text.parse().unwrap())
        };
        let config = read("").unwrap();
        assert_eq!(config.http, HTTP_DEFAULTS);
        assert_eq!((config.http.timeout, config.http.max_retry_wait), (DEFAULT_TIMEOUT, DEFAULT_MAX_RETRY_WAIT));
        let config = read("timeout = \"10s\"\nrequests_per_second = 2\nrate_limit_margin = 5").unwrap();
        assert_eq!(config.http.timeout, Duration::from_secs(10));
        assert_eq!(config.http.requests_per_second.map(|n| n.get()), Some(2));
        assert_eq!(config.rate_limit_margin, Some(5));
        for (extra, key) in [
            ("timeout = \"0s\"", "timeout"),
            ("max_retry_wait = \"soon\"", "max_retry_wait"),
            ("rate_limit_margn = 3", "rate_limit_margn"),
            ("timout = \"5s\"", "timout"),
        ] {
            assert_eq!(read(extra).unwrap_err().key(), key, "{extra}");
        }
        // A configuration built in code is checked as well.
        let mut config = OktaConfig::with_token("acme.okta.com", "t");
        config.http.max_retry_wait = Duration::ZERO;
        assert_eq!(err_of(config).key(), "max_retry_wait");
    }

    fn err_of(config: OktaConfig) -> ConfigError {
        OktaConnector::new(config, &BuildContext::new("s")).unwrap_err()
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = OktaConfig::with_token("acme.okta.com", "00abcSECRETtoken");
        assert!(!format!("{config:?}").contains("SECRET"));
        let connector = OktaConnector::new(config, &BuildContext::new("s")).unwrap();
        assert!(!format!("{connector:?}").contains("SECRET"));
    }
}
