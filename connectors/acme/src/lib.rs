//! # logcrawl-acme
//!
//! The connector of Datadog's crawler tutorial ("Submit Logs from HTTP API"), made real: it crawls the
//! ACME logs API that `logcrawl-sim` serves (contract in `logcrawl_sim::acme`), and it is the model every
//! other connector follows. `docs/tutorial.md` walks through this file.
//!
//! ## API and cursor
//!
//! `GET {base_url}/v1/logs?after=<id>&limit=<page_size>` returns events oldest first with a strictly
//! increasing `id` and a `has_more` flag. Each record's cursor is `{"after": "<its id>", "v": 1}` (an
//! [`AcmeCursor`]): unique, unlike a timestamp (several events share a millisecond), so resuming from any
//! record neither skips nor repeats one. The run ends on the page whose `has_more` is `false`. A stored
//! cursor of any other shape is a checkpoint error naming what is wrong with it (the stream stops;
//! `logcrawl state reset/set` repairs it), never a silent start from the beginning.
//!
//! The page loop — prefetching the next page, the same-origin guard, cursor encoding — is the connector
//! SDK's ([`logcrawl_connector::PagedStream`]); this file says only what is ACME's: the request, the page
//! format and the record.
//!
//! ## Rate limits
//!
//! The simulated API announces none; the shared client still applies `requests_per_second` when set and
//! honours `Retry-After` on 429.
//!
//! ## Configuration (`[[sources]]` with `connector = "acme"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `base_url` | — | the API's origin, e.g. `http://127.0.0.1:8088` |
//! | `api_key` | none | sent as `Authorization: Bearer …` |
//! | `page_size` | `1000` | events per request, 1–1000 |
//!
//! and the shared HTTP settings (README, "Shared settings"), with the shared defaults but for `timeout`,
//! `30s` here: `requests_per_second` (none), `retry_attempts` (5), `retry_initial_delay` (`1s`),
//! `retry_max_delay` (`120s`), `max_retry_wait` (`5m`: a longer `Retry-After` or reset ends the run, and
//! the next interval retries).

use std::sync::Arc;
use std::time::Duration;

use logcrawl_connector::{Next, Page, PagedApi, PagedStream, Position, Resume, SingleStream, TypedCursor, malformed};
use logcrawl_core::config::{ComponentTable, HttpSettings, Table};
use logcrawl_core::{ConfigError, ConnectorKind, Fields, LogRecord, SecretString, StreamError, epoch_seconds};
use logcrawl_http::{HttpClient, HttpConfig, HttpError, RequestSpec, Response, StaticAuth, Url, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The name of the connector's one stream.
pub const STREAM_NAME: &str = "ACME log stream";

/// `connector = "acme"`: what the registry builds an ACME source with.
pub const KIND: ConnectorKind = ConnectorKind::new("acme", "ACME demo logs API (the tutorial's)", |table, _| {
    Ok(Arc::new(connector(AcmeConfig::from_table(table)?)?))
});

/// `[[sources]]` keys of an ACME source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The API's origin.
    pub base_url: Url,
    /// Optional bearer key.
    pub api_key: Option<SecretString>,
    /// Events per request (1–1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The shared HTTP settings (`timeout`, `requests_per_second`, retries, `max_retry_wait`).
    #[serde(skip, default = "http_defaults")]
    pub http: HttpSettings,
}

fn default_page_size() -> u32 {
    1000
}

fn http_defaults() -> HttpSettings {
    HttpSettings { timeout: Duration::from_secs(30), ..HttpSettings::DEFAULT }
}

impl AcmeConfig {
    /// Reads a `[[sources]]` table: ACME's own keys, then the shared HTTP settings over ACME's defaults.
    pub fn from_table(table: &Table) -> Result<Self, ConfigError> {
        let mut keys = ComponentTable::new(table);
        Ok(Self { http: keys.shared(http_defaults())?, ..keys.own()? })
    }
}

/// The stream of ACME audit events: the SDK's page loop over [`AcmeApi`].
pub type AcmeLogStream = PagedStream<AcmeApi>;

/// Validates `config` and builds the connector of one ACME account: the SDK's one-stream connector.
pub fn connector(config: AcmeConfig) -> Result<SingleStream<AcmeLogStream>, ConfigError> {
    if !(1..=1000).contains(&config.page_size) {
        return Err(ConfigError::new("page_size", format!("{} is not within 1..=1000", config.page_size)));
    }
    let bad_url = |err: HttpError| ConfigError::new("base_url", err.to_string());
    let mut client = HttpClient::new(HttpConfig::with_settings(config.base_url, &config.http)?).map_err(bad_url)?;
    if let Some(key) = config.api_key {
        client = client.with_auth(Arc::new(StaticAuth::new(header::AUTHORIZATION, "Bearer ", key)));
    }
    let logs = client.url("/v1/logs").map_err(bad_url)?;
    Ok(SingleStream::new("acme", PagedStream::new(AcmeApi { logs, page_size: config.page_size }, client)))
}

/// Where an ACME stream resumes: right after the event with id `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeCursor {
    /// The id of the last event delivered.
    pub after: String,
}

impl TypedCursor for AcmeCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"{"after": "<event id>", "v": 1}"#;
}

/// The ACME logs API, page by page: its requests, its pages, its records.
#[derive(Debug)]
pub struct AcmeApi {
    logs: Url,
    page_size: u32,
}

/// One page of the ACME API.
#[derive(Debug, Deserialize)]
struct AcmePage {
    logs: Vec<AcmeEvent>,
    has_more: bool,
}

/// One ACME event; fields the connector does not map are kept as attributes.
#[derive(Debug, Deserialize)]
pub struct AcmeEvent {
    id: String,
    timestamp: jiff::Timestamp,
    level: String,
    message: String,
    #[serde(default)]
    ip: Option<String>,
    #[serde(flatten)]
    attributes: Fields,
}

impl AcmeApi {
    fn page_url(&self, after: Option<&str>) -> Url {
        let mut url = self.logs.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(after) = after {
                query.append_pair("after", after);
            }
            query.append_pair("limit", &self.page_size.to_string());
        }
        url
    }
}

impl PagedApi for AcmeApi {
    type Cursor = AcmeCursor;
    type Event = AcmeEvent;

    fn stream_name(&self) -> &str {
        STREAM_NAME
    }

    fn first_request(&self, cursor: Option<&AcmeCursor>) -> Result<RequestSpec, StreamError> {
        Ok(RequestSpec::get(self.page_url(cursor.map(|c| c.after.as_str()))))
    }

    fn parse(&self, response: &Response) -> Result<Page<AcmeEvent>, StreamError> {
        let page: AcmePage = response.json()?;
        let next = match page.logs.last() {
            _ if !page.has_more => Next::Done,
            Some(last) => Next::Url(self.page_url(Some(&last.id))),
            None => return Err(malformed(response, "has_more is true on an empty page")),
        };
        Ok(Page { events: page.logs, next })
    }

    fn record(&self, event: AcmeEvent, _at: Position<'_>) -> (LogRecord, Resume<AcmeCursor>) {
        let mut data = event.attributes;
        data.insert("message".into(), Value::String(event.message));
        data.insert("timestamp".into(), json!(epoch_seconds(event.timestamp)));
        data.insert("status".into(), Value::String(event.level));
        data.insert("id".into(), Value::String(event.id.clone()));
        if let Some(ip) = event.ip {
            data.insert("network".into(), json!({ "client": { "ip": ip } }));
        }
        (LogRecord::new(data), Resume::After(AcmeCursor { after: event.id }))
    }
}
