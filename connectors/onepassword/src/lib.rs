//! # logcrawl-onepassword
//!
//! Crawls a 1Password Business account's **Events API**: `POST {base}/api/v2/auditevents`,
//! `/api/v2/signinattempts` and `/api/v2/itemusages`, one stream each (named like the endpoint; choose
//! with `streams = [...]`, default all three). `README.md` is the operator's guide; this is the
//! summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Body cursors.** A first run sends a *ResetCursor* `{"limit": page_size, "start_time": now −
//!   initial_lookback}`; every later request is `{"cursor": "…"}` with the cursor of the previous
//!   answer `{"cursor", "has_more", "items"}`. The cursor names a page, not an event. When `has_more` is
//!   false the run is caught up, and the cursor it returned is stored: it keeps working, so the next run
//!   polls with it ([`Next::Later`](logcrawl_connector::Next::Later)), never with a new `start_time`.
//! * **V2 endpoints.** The current API reference documents V2 for all three (V1 stays supported): the
//!   same cursor contract, events with `account_uuid` and user types added.
//! * **Features.** A token opens only the features its integration was given; a token without one
//!   answers 401 on that endpoint. The error names the stream and ends it alone (the crawler stops a
//!   stream on a fatal error, not its source), so the other streams go on.
//! * **Rate limits.** 600 requests a minute and 30 000 an hour for the account, announced in no header:
//!   the three streams of a token share one client-side budget, 8 requests a second by default
//!   ([`DEFAULT_REQUESTS_PER_SECOND`]), below both limits. A 429 is waited out (with exponential backoff:
//!   1Password sends no `Retry-After`) and the same page requested again.
//! * **Retention.** 120 days: `initial_lookback` may not reach further.
//!
//! ## Cursor semantics: exact
//!
//! Records resume inside a page with the SDK's [`Resume::InPage`](logcrawl_connector::Resume::InPage):
//! a record's cursor is the cursor that fetched its page plus its `uuid` and index, and a resumed run
//! requests that page again and skips through it. A page's last record carries the cursor of the next
//! page and the uuids at the page's last `timestamp` (dropped should they come again). See
//! [`OnePasswordCursor`]. If 1Password refuses a stored cursor (400), the run restarts from `start_time`
//! = the last delivered event's `timestamp`, dropping what was delivered at that instant.
//!
//! ## Records
//!
//! The event stays the JSON 1Password sent ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)); `data`
//! adds `uuid`, `message`, `timestamp` (epoch seconds), `status`, `usr.*`, `network.client.ip`,
//! `evt.name` and, for sign-ins, `evt.outcome` (the table in the `event` module's source).
//! `ddsource`/`service` default to `onepassword`.
//!
//! ## Configuration (`[[sources]]` with `connector = "onepassword"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `token` | — | the Events Reporting integration's bearer token |
//! | `region` | `com` | `com`, `ca`, `eu` or `ent`: `events.1password.com`, `.ca`, `.eu`, `events.ent.1password.com` |
//! | `base_url` | — | an origin in place of the region's host (a proxy, tests); not with `region` |
//! | `streams` | all three | any of `auditevents`, `signinattempts`, `itemusages` |
//! | `page_size` | `1000` | events per request, 1–1000 |
//! | `initial_lookback` | `18h` | where a first run starts, at most 120 days back and inside the sink's max age |
//!
//! and the shared HTTP settings (README, "Shared settings") with 1Password's defaults
//! ([`HTTP_DEFAULTS`]): `timeout` `30s`, `requests_per_second` `8`, retries and `max_retry_wait` as
//! shared.

mod config;
mod event;
mod stream;

use std::sync::Arc;

use logcrawl_connector::lookback;
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, ExposeSecret, HttpSettings, LogStream};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig, tenant_key};

pub use config::{
    DEFAULT_PAGE_SIZE, DEFAULT_REQUESTS_PER_SECOND, HTTP_DEFAULTS, MAX_PAGE_SIZE, OnePasswordConfig, RETENTION, Region,
};
pub use stream::{EventsApi, EventsStream, Feature, OnePasswordCursor};

/// `connector = "onepassword"`: what the registry builds a 1Password source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "onepassword",
    "1Password Events API (audit events, sign-in attempts, item usages)",
    |table, context| Ok(Arc::new(OnePasswordConnector::from_table(table, context)?)),
);

/// One 1Password account: a stream per configured feature, sharing the token and one rate budget.
#[derive(Debug)]
pub struct OnePasswordConnector {
    streams: Vec<Arc<EventsStream>>,
}

impl OnePasswordConnector {
    /// Reads a `[[sources]]` table (1Password's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]) and builds the connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Builds the connector from its configuration and the shared HTTP settings `http`;
    /// `context.max_age` bounds a first run's lookback.
    pub fn new(config: OnePasswordConfig, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`OnePasswordConnector::new`], letting the caller adjust the HTTP settings before the client
    /// is built (retry timing in tests, for one).
    pub fn with_http(
        config: OnePasswordConfig,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        if config.token.expose_secret().trim().is_empty() {
            return Err(ConfigError::new("token", "must not be empty"));
        }
        let base = config.origin()?;
        let features = config.features()?;
        let page_size = config.page_size()?;
        let lookback = lookback::initial_lookback(config.initial_lookback, RETENTION, "1Password", context.max_age)?;

        let mut http = HttpConfig::with_settings(base.clone(), settings)?;
        let budget = tenant_key("onepassword", &base, config.token.expose_secret());
        http.rate_limit = RateLimitConfig::tenant(budget, settings.requests_per_second, None);
        customize(&mut http);
        let client = HttpClient::new(http)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))?
            .with_bearer(Some(config.token));
        let streams = features
            .into_iter()
            .map(|feature| {
                let api = EventsApi::new(feature, &base, page_size, lookback)
                    .map_err(|err| ConfigError::new("base_url", err))?;
                Ok(Arc::new(EventsStream::new(api, client.clone())))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Self { streams })
    }

    /// The streams, in the configured order.
    pub fn event_streams(&self) -> &[Arc<EventsStream>] {
        &self.streams
    }
}

impl Connector for OnePasswordConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.iter().map(|stream| stream.clone() as Arc<dyn LogStream>).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn build(extra: &str) -> Result<OnePasswordConnector, ConfigError> {
        let text = format!("token = \"ops_tok\"\n{extra}");
        OnePasswordConnector::from_table(&text.parse().unwrap(), &BuildContext::new("op"))
    }

    fn read(text: &str) -> Result<(OnePasswordConfig, HttpSettings), ConfigError> {
        ComponentTable::split(&text.parse().unwrap(), HTTP_DEFAULTS)
    }

    fn names(connector: &OnePasswordConnector) -> Vec<String> {
        connector.streams().iter().map(|s| s.name().to_owned()).collect()
    }

    #[test]
    fn streams_default_to_all_three_and_can_be_chosen() {
        assert_eq!(names(&build("").unwrap()), ["auditevents", "signinattempts", "itemusages"]);
        assert_eq!(
            names(&build("streams = [\"itemusages\", \"auditevents\"]").unwrap()),
            ["itemusages", "auditevents"]
        );
        for (extra, key, says) in [
            ("streams = []", "streams", "at least one"),
            ("streams = [\"items\"]", "streams", "\"items\" is not a stream"),
            ("streams = [\"itemusages\", \"itemusages\"]", "streams", "twice"),
            ("page_size = 0", "page_size", "not within 1..=1000"),
            ("page_size = 1001", "page_size", "not within 1..=1000"),
            ("initial_lookback = \"121d\"", "initial_lookback", "1Password keeps 120 days"),
            ("region = \"us\"", "region", "unknown variant"),
            ("region = \"eu\"\nbase_url = \"http://127.0.0.1:9\"", "base_url", "not both"),
            ("base_url = \"ftp://x\"", "base_url", "http(s)"),
            ("toke = \"x\"", "toke", "unknown field"),
            ("requests_per_second = 0", "requests_per_second", ""),
        ] {
            let err = build(extra).unwrap_err();
            assert_eq!(err.key(), key, "{extra}: {err}");
            assert!(err.to_string().contains(says), "{extra}: {err}");
        }
        let (empty, http) = read("token = \" \"").unwrap();
        assert_eq!(OnePasswordConnector::new(empty, &http, &BuildContext::new("op")).unwrap_err().key(), "token");
        let missing = read("region = \"ca\"").unwrap_err();
        assert!(missing.to_string().contains("token"), "{missing}");
    }

    #[test]
    fn regions_name_their_hosts() {
        for (region, host) in [
            ("", "https://events.1password.com/"),
            ("region = \"com\"", "https://events.1password.com/"),
            ("region = \"ca\"", "https://events.1password.ca/"),
            ("region = \"eu\"", "https://events.1password.eu/"),
            ("region = \"ent\"", "https://events.ent.1password.com/"),
            ("base_url = \"http://127.0.0.1:9/op\"", "http://127.0.0.1:9/op/"),
        ] {
            let (config, _) = read(&format!("token = \"t\"\n{region}")).unwrap();
            assert_eq!(config.origin().unwrap().as_str(), host, "{region}");
        }
    }

    #[test]
    fn the_http_defaults_pace_below_1passwords_limits() {
        let (_, http) = read("token = \"t\"").unwrap();
        assert_eq!(http, HTTP_DEFAULTS);
        let per_second = u64::from(DEFAULT_REQUESTS_PER_SECOND);
        assert!(per_second * 60 + per_second <= 600 && per_second * 3600 + per_second <= 30_000);
        let (_, tuned) = read("token = \"t\"\nrequests_per_second = 2\ntimeout = \"5s\"").unwrap();
        assert_eq!((tuned.requests_per_second.map(|n| n.get()), tuned.timeout), (Some(2), Duration::from_secs(5)));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let (config, http) = read("token = \"ops_SECRET\"").unwrap();
        assert!(!format!("{config:?}").contains("SECRET"));
        let connector = OnePasswordConnector::new(config, &http, &BuildContext::new("op")).unwrap();
        assert!(!format!("{connector:?}").contains("SECRET"));
    }
}
