//! # logcrawl-duo
//!
//! Crawls a Cisco Duo account's **Admin API logs**, one stream each (choose with `streams = [...]`,
//! default all three): `authentication` (`GET /admin/v2/logs/authentication`), `administrator`
//! (`GET /admin/v1/logs/administrator`) and `telephony` (`GET /admin/v2/logs/telephony`).
//! `README.md` is the operator's guide; this is the summary.
//!
//! ## The vendor's rules this crate lives by
//!
//! * **Signed requests.** Every request carries `Date` and `Authorization: Basic
//!   base64(ikey:hex(HMAC-SHA512(skey, canon)))`, the canonical request being the date, method, API
//!   host, path and sorted, percent-encoded parameters ([`sign`]). The signer is an
//!   [`Auth`](logcrawl_http::Auth), so the HTTP client signs each attempt afresh, retries included.
//! * **Two minutes late.** Duo makes logs available about two minutes after they happen; a query for
//!   the last two minutes answers nothing. No query reaches past `now − settle_lag` (default `2m`, and
//!   against Duo itself never less).
//! * **v2: windows, newest first, `next_offset`.** The authentication and telephony logs take `mintime`
//!   and `maxtime` (epoch milliseconds, inclusive) and answer newest first, page after page by
//!   `next_offset`: the stream is the SDK's [`WindowedStream`](logcrawl_connector::WindowedStream)
//!   ([`v2`]), exact inside each window (`txid` / `telephony_id` and a millisecond time).
//! * **v1: `mintime` only.** The administrator log answers the 1000 earliest events from a second on;
//!   the stream is the SDK's [`PagedStream`](logcrawl_connector::PagedStream) asking again from the last
//!   second, the events of that second deduplicated ([`admin`]).
//! * **Refusals.** `{"stat": "FAIL", "code": N, …}`: a credential or signature refused (401, 401xx) or a
//!   missing permission (403, 40301: the application lacks "Grant read log") stops the source with what
//!   to fix ([`answer`]); a 429 is waited out and the same page asked again.
//! * **One budget.** The three streams share one HTTP client and rate budget per integration key,
//!   paced at one request every 2 s by default ([`DEFAULT_MIN_INTERVAL`]).
//! * **Retention.** 180 days: `initial_lookback` may not reach further.
//!
//! ## Records
//!
//! The event stays the JSON Duo sent ([`LogRecord::raw`](logcrawl_core::LogRecord::raw)); `data` adds
//! `message`, `timestamp`, `status`, `usr.*`, `network.client.ip`, `evt.name` and `evt.outcome` (the
//! table in the [`event`] module). `ddsource`/`service` default to `duo`.
//!
//! ## Configuration (`[[sources]]` with `connector = "duo"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `api_host` | — | the Admin API application's API hostname, `api-XXXXXXXX.duosecurity.com` |
//! | `integration_key` | — | its integration key (`DI…`) |
//! | `secret_key` | — | its secret key (signs requests, never sent) |
//! | `streams` | all three | any of `authentication`, `administrator`, `telephony` |
//! | `base_url` | `https://{api_host}` | an origin in its place (a proxy, a simulator) |
//! | `page_size` | `1000` | v2 events per request (`limit`), 1–1000 |
//! | `initial_lookback` | `18h` | where a first run starts, at most 180 days back, inside the sink's max age |
//! | `settle_lag` | `2m` | how far behind now the newest query ends (at least `2m` against Duo) |
//!
//! and the shared HTTP settings (README, "Shared settings") with Duo's defaults ([`HTTP_DEFAULTS`]):
//! `timeout` `30s`; `requests_per_second`, when given, replaces the default pace.

pub mod admin;
pub mod answer;
mod config;
pub mod event;
pub mod sign;
pub mod v2;

use std::sync::Arc;

use logcrawl_connector::{WindowPlan, lookback};
use logcrawl_core::config::{ComponentTable, Table};
use logcrawl_core::{BuildContext, ConfigError, Connector, ConnectorKind, ExposeSecret, HttpSettings, LogStream};
use logcrawl_http::{HttpClient, HttpConfig, RateLimitConfig, tenant_key};

pub use admin::{AdminApi, AdminCursor, AdminStream};
pub use config::{
    DEFAULT_MIN_INTERVAL, DEFAULT_PAGE_SIZE, DEFAULT_SETTLE_LAG, DUO_DELAY, DuoConfig, DuoLog, HTTP_DEFAULTS,
    MAX_PAGE_SIZE, MAX_SETTLE_LAG, RETENTION,
};
pub use sign::DuoSigner;
pub use v2::{V2Api, V2Stream, WINDOW_STEP};

/// `connector = "duo"`: what the registry builds a Duo source with.
pub const KIND: ConnectorKind = ConnectorKind::new(
    "duo",
    "Cisco Duo Admin API logs (authentication, administrator, telephony)",
    |table, context| Ok(Arc::new(DuoConnector::from_table(table, context)?)),
);

/// One Duo Admin API application: a stream per configured log, sharing its signer and one rate budget.
pub struct DuoConnector {
    streams: Vec<Arc<dyn LogStream>>,
    windowed: Vec<Arc<V2Stream>>,
    administrator: Option<Arc<AdminStream>>,
    client: HttpClient,
}

impl std::fmt::Debug for DuoConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.streams.iter().map(|stream| stream.name()).collect();
        f.debug_struct("DuoConnector").field("streams", &names).field("client", &self.client).finish()
    }
}

impl DuoConnector {
    /// Reads a `[[sources]]` table (Duo's own keys, then the shared HTTP settings over
    /// [`HTTP_DEFAULTS`]) and builds the connector of source `context.name`.
    pub fn from_table(table: &Table, context: &BuildContext) -> Result<Self, ConfigError> {
        let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
        Self::new(config, &http, context)
    }

    /// Builds the connector from its configuration and the shared HTTP settings `http`;
    /// `context.max_age` bounds a first run's lookback.
    pub fn new(config: DuoConfig, http: &HttpSettings, context: &BuildContext) -> Result<Self, ConfigError> {
        Self::with_http(config, http, context, |_| {})
    }

    /// Like [`DuoConnector::new`], letting the caller adjust the HTTP settings before the client is
    /// built (retry timing in tests, for one).
    pub fn with_http(
        config: DuoConfig,
        settings: &HttpSettings,
        context: &BuildContext,
        customize: impl Fn(&mut HttpConfig),
    ) -> Result<Self, ConfigError> {
        let host = config.host()?;
        let integration_key = config.integration_key()?.to_owned();
        let secret_key = config.secret_key()?;
        let base = config.origin(&host)?;
        let logs = config.logs()?;
        let page_size = config.page_size()?;
        let settle_lag = config.settle_lag()?;
        let lookback = lookback::initial_lookback(config.initial_lookback, RETENTION, "Duo", context.max_age)?;
        if lookback <= settle_lag {
            return Err(ConfigError::new(
                "initial_lookback",
                format!(
                    "must reach further back than settle_lag ({}s): a first run reads from there up to now − settle_lag",
                    settle_lag.as_secs()
                ),
            ));
        }

        let mut http = HttpConfig::with_settings(base.clone(), settings)?;
        let budget = tenant_key("duo", &base, &integration_key);
        http.rate_limit = RateLimitConfig::tenant(budget, settings.requests_per_second, Some(DEFAULT_MIN_INTERVAL));
        customize(&mut http);
        let signer = DuoSigner::new(&integration_key, secret_key, &host, &base);
        debug_assert!(!format!("{signer:?}").contains(config.secret_key.expose_secret()));
        let client = HttpClient::new(http)
            .map_err(|err| ConfigError::new("base_url", err.to_string()))?
            .with_auth(Arc::new(signer));

        let mut plan =
            WindowPlan::new(WINDOW_STEP, settle_lag, lookback).with_resolution(std::time::Duration::from_millis(1));
        // The step is not configurable: let a window hold ten million events whatever the page size.
        plan.max_pages_per_window = v2::pages_per_window(page_size);
        let (mut streams, mut windowed, mut administrator) = (Vec::new(), Vec::new(), None);
        for log in logs {
            let stream: Arc<dyn LogStream> = match log {
                DuoLog::Administrator => {
                    let api =
                        AdminApi::new(&base, lookback, settle_lag).map_err(|err| ConfigError::new("base_url", err))?;
                    let stream = Arc::new(AdminStream::new(api, client.clone()));
                    administrator = Some(stream.clone());
                    stream
                }
                DuoLog::Authentication | DuoLog::Telephony => {
                    let api = V2Api::new(log, &base, page_size).map_err(|err| ConfigError::new("base_url", err))?;
                    let stream = Arc::new(V2Stream::new(api, client.clone(), plan));
                    windowed.push(stream.clone());
                    stream
                }
            };
            streams.push(stream);
        }
        Ok(Self { streams, windowed, administrator, client })
    }

    /// The v2 streams (authentication, telephony), in the configured order.
    pub fn windowed(&self) -> &[Arc<V2Stream>] {
        &self.windowed
    }

    /// The administrator stream, when configured.
    pub fn administrator(&self) -> Option<&Arc<AdminStream>> {
        self.administrator.as_ref()
    }

    /// The client every stream sends with (one signer, one rate budget).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }
}

impl Connector for DuoConnector {
    fn kind(&self) -> &str {
        KIND.name
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        self.streams.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KEYS: &str = "api_host = \"api-1a2b3c4d.duosecurity.com\"\nintegration_key = \"DIWJ8X6AEYOR5OMC6TQ1\"\n\
                        secret_key = \"Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep\"\n";

    fn build(extra: &str) -> Result<DuoConnector, ConfigError> {
        DuoConnector::from_table(&format!("{KEYS}{extra}").parse().unwrap(), &BuildContext::new("duo"))
    }

    /// The key and the text of the error building with `extra` gives.
    fn refused(extra: &str) -> (String, String) {
        let err = build(extra).expect_err(extra);
        (err.key().to_owned(), err.to_string())
    }

    fn names(connector: &DuoConnector) -> Vec<String> {
        connector.streams().iter().map(|s| s.name().to_owned()).collect()
    }

    #[test]
    fn streams_default_to_all_three_and_can_be_chosen() {
        let all = build("").unwrap();
        assert_eq!(all.kind(), "duo");
        assert_eq!(names(&all), ["authentication", "administrator", "telephony"]);
        assert_eq!(all.windowed().len(), 2);
        assert!(all.administrator().is_some());
        let some = build("streams = [\"telephony\", \"authentication\"]").unwrap();
        assert_eq!(names(&some), ["telephony", "authentication"]);
        assert!(some.administrator().is_none());
        assert_eq!(all.client().base_url().as_str(), "https://api-1a2b3c4d.duosecurity.com/");
    }

    #[test]
    fn every_key_is_checked_and_named() {
        for (extra, key, says) in [
            ("streams = []", "streams", "at least one"),
            ("streams = [\"auth\"]", "streams", "\"auth\" is not a stream"),
            ("streams = [\"telephony\", \"telephony\"]", "streams", "twice"),
            ("page_size = 0", "page_size", "not within 1..=1000"),
            ("page_size = 1001", "page_size", "not within 1..=1000"),
            ("initial_lookback = \"181d\"", "initial_lookback", "Duo keeps 180 days"),
            ("initial_lookback = \"0s\"", "initial_lookback", "more than zero"),
            ("initial_lookback = \"1m\"", "initial_lookback", "further back than settle_lag"),
            ("settle_lag = \"1m\"", "settle_lag", "at least 2m"),
            ("settle_lag = \"2h\"", "settle_lag", "at most 1h"),
            ("base_url = \"ftp://x\"", "base_url", "http(s)"),
            ("base_url = \"https://x/?a=1\"", "base_url", "query"),
            ("sort = \"ts:asc\"", "sort", "unknown field"),
            ("requests_per_second = 0", "requests_per_second", ""),
        ] {
            let (named, text) = refused(extra);
            assert!(named == key && text.contains(says), "{extra}: {named}: {text}");
        }
        let with = |replace: &str, by: &str| {
            let text = KEYS.replace(replace, by);
            DuoConnector::from_table(&text.parse().unwrap(), &BuildContext::new("duo")).unwrap_err()
        };
        assert_eq!(with("api-1a2b3c4d.duosecurity.com", "").key(), "api_host");
        assert_eq!(with("api-1a2b3c4d.duosecurity.com", "api/x").key(), "api_host");
        assert_eq!(with("api-1a2b3c4d.duosecurity.com", "localhost").key(), "api_host");
        assert_eq!(with("DIWJ8X6AEYOR5OMC6TQ1", " ").key(), "integration_key");
        assert_eq!(with("DIWJ8X6AEYOR5OMC6TQ1", "DI:x").key(), "integration_key");
        assert_eq!(with("Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep", "").key(), "secret_key");
        let missing = DuoConnector::from_table(&"api_host = \"a.b\"".parse().unwrap(), &BuildContext::new("d"));
        assert!(missing.unwrap_err().to_string().contains("integration_key"));
    }

    #[test]
    fn a_short_settle_lag_needs_a_base_url_and_the_lookback_stays_in_the_sinks_window() {
        assert!(build("settle_lag = \"0s\"\nbase_url = \"http://127.0.0.1:9\"").is_ok());
        let context = BuildContext::new("duo").with_max_age(Some(Duration::from_secs(3600)));
        let table = format!("{KEYS}initial_lookback = \"7d\"").parse().unwrap();
        let connector = DuoConnector::from_table(&table, &context).unwrap();
        let now = jiff::Timestamp::now();
        let first = connector.windowed()[0].windows_from(None, now).next().unwrap();
        assert!(now.duration_since(first.start) < jiff::SignedDuration::from_secs(3600), "{first:?}");
    }

    #[test]
    fn the_streams_share_one_budget_paced_below_duos_advice_per_integration_key() {
        let paced = build("").unwrap();
        let budget = paced.client().budget();
        assert_eq!(budget.min_interval(), Some(DEFAULT_MIN_INTERVAL));
        for stream in paced.windowed() {
            assert!(Arc::ptr_eq(stream.client().budget(), budget));
        }
        assert!(Arc::ptr_eq(paced.administrator().unwrap().client().budget(), budget));
        assert!(!budget.key().contains("DIWJ8X6AEYOR5OMC6TQ1"), "{}", budget.key());
        let other = KEYS.replace("DIWJ8X6AEYOR5OMC6TQ1", "DIOTHERKEY0000000000");
        let other = DuoConnector::from_table(&other.parse().unwrap(), &BuildContext::new("d")).unwrap();
        assert_ne!(other.client().budget().key(), budget.key(), "one budget per integration key");
        // `requests_per_second` replaces the pace (for another key: a budget's sharers keep the slowest).
        let fast = format!("{}requests_per_second = 5", KEYS.replace("DIWJ8X6AEYOR5OMC6TQ1", "DIFASTKEY00000000000"));
        let fast = DuoConnector::from_table(&fast.parse().unwrap(), &BuildContext::new("d")).unwrap();
        assert_eq!(fast.client().budget().min_interval(), Some(Duration::from_millis(200)));
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let text = KEYS.parse().unwrap();
        let (config, http): (DuoConfig, HttpSettings) = ComponentTable::split(&text, HTTP_DEFAULTS).unwrap();
        assert!(!format!("{config:?}").contains("Zh5eGmUq"));
        let connector = DuoConnector::new(config, &http, &BuildContext::new("d")).unwrap();
        assert!(!format!("{connector:?}").contains("Zh5eGmUq"));
    }
}
