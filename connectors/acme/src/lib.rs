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

use logcrawl_connector::{Next, Page, PagedApi, PagedStream, Position, Resume, SingleStream, Standard, TypedCursor};
use logcrawl_core::config::{ComponentTable, HttpSettings, within};
use logcrawl_core::{ConfigError, ConnectorKind, Fields, LogRecord, SecretString, StreamError};
use logcrawl_http::{HttpClient, RequestSpec, Response, Url};
use serde::{Deserialize, Serialize};

/// ACME's defaults of the shared HTTP settings: the shared ones, but a 30 s timeout.
pub const HTTP_DEFAULTS: HttpSettings =
    HttpSettings { timeout: std::time::Duration::from_secs(30), ..HttpSettings::DEFAULT };

/// `connector = "acme"`: what the registry builds an ACME source with.
pub const KIND: ConnectorKind = ConnectorKind::new("acme", "ACME demo logs API (the tutorial's)", |table, _| {
    let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
    Ok(Arc::new(connector(config, &http)?))
});

/// ACME's own `[[sources]]` keys (the shared HTTP settings are read beside them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The API's origin.
    pub base_url: Url,
    /// Optional bearer key.
    pub api_key: Option<SecretString>,
    /// Events per request (1–1000, default 1000).
    pub page_size: Option<u32>,
}

/// Validates `config` and builds the connector of one ACME account: the SDK's page loop over
/// [`AcmeApi`], as the SDK's one-stream connector.
pub fn connector(config: AcmeConfig, http: &HttpSettings) -> Result<SingleStream<PagedStream<AcmeApi>>, ConfigError> {
    let page_size = within("page_size", config.page_size.unwrap_or(1000), 1..=1000)?;
    let client = HttpClient::from_settings(config.base_url, http)?.with_bearer(config.api_key);
    let logs = client.url("/v1/logs").map_err(|err| ConfigError::new("base_url", err.to_string()))?;
    Ok(SingleStream::new("acme", PagedStream::new(AcmeApi { logs, page_size }, client)))
}

/// Where an ACME stream resumes: right after the event with id `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeCursor {
    /// The id of the last event delivered.
    pub after: String,
}

impl TypedCursor for AcmeCursor {
    const SHAPE: &'static str = r#"{"after": "<event id>", "v": 1}"#;
}

/// The ACME logs API, page by page: its requests, its pages, its records.
#[derive(Debug)]
pub struct AcmeApi {
    logs: Url,
    page_size: u32,
}

/// One page of the ACME API.
#[derive(Deserialize)]
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
    ip: Option<String>,
    #[serde(flatten)]
    attributes: Fields,
}

impl PagedApi for AcmeApi {
    type Cursor = AcmeCursor;
    type Event = AcmeEvent;

    /// The checkpoint key's second half: renaming it would orphan every stored checkpoint.
    fn stream_name(&self) -> &str {
        "ACME log stream"
    }

    fn first_request(&self, cursor: Option<&AcmeCursor>) -> Result<RequestSpec, StreamError> {
        let after = cursor.map(|cursor| ("after", cursor.after.as_str()));
        Ok(RequestSpec::get(self.logs.clone()).with_query(after).with_query([("limit", self.page_size.to_string())]))
    }

    fn parse(&self, response: &Response) -> Result<Page<AcmeEvent>, StreamError> {
        let page: AcmePage = response.json()?;
        let next = match page.logs.last() {
            _ if !page.has_more => Next::Done,
            Some(last) => Next::Request(self.first_request(Some(&AcmeCursor { after: last.id.clone() }))?),
            None => return Err(logcrawl_connector::malformed(response, "has_more is true on an empty page")),
        };
        Ok(Page { events: page.logs, next })
    }

    fn record(&self, event: AcmeEvent, _at: Position<'_>) -> (LogRecord, Resume<AcmeCursor>) {
        let mut data = event.attributes;
        data.insert("id".into(), event.id.clone().into());
        let (message, timestamp, status) = (Some(event.message), Some(event.timestamp), Some(event.level));
        Standard { message, timestamp, status, client_ip: event.ip, ..Default::default() }.insert(&mut data, |_| None);
        (LogRecord::new(data), Resume::After(AcmeCursor { after: event.id }))
    }
}
