//! # logcrawl-entra
//!
//! Crawls the entra logs API. Scaffolded by `cargo xtask new-connector entra` from the ACME
//! connector (`connectors/acme`, walked through in `docs/tutorial.md`): the code below is ACME's, renamed,
//! and an xtask rule keeps the template and ACME the same code. It works as generated against the API
//! described below, which is an **assumption to adapt** to the vendor's documentation: change
//! [`EntraApi`]'s `first_request`, `parse` and `record`, `EntraPage`, `EntraEvent`, then this text and the
//! tests (keep `tests/conformance.rs` passing).
//!
//! ## API and cursor (assumed)
//!
//! `GET {base_url}/v1/logs?after=<id>&limit=<page_size>` returns `{"logs": [...], "has_more": bool}`:
//! events oldest first, each with a unique `id` that increases along the stream, an RFC 3339
//! `timestamp`, a `level` and a `message`; every other field is kept as an attribute. Each record's cursor
//! is `{"after": "<its id>", "v": 1}`: unique, unlike a timestamp (several events can share one), so
//! resuming from any record neither skips nor repeats one. The run ends on the page whose `has_more` is
//! `false`; a page that is empty yet claims `has_more` is an error rather than an endless loop. A stored
//! cursor of another shape is a checkpoint error saying what is wrong with it, never a silent start from
//! the beginning. The page loop (prefetch, same-origin guard, cursor encoding) is the connector SDK's
//! (`logcrawl_connector::PagedStream`).
//!
//! ## Rate limits
//!
//! The shared client (`logcrawl_http::HttpClient`) follows `X-Rate-Limit-*` headers when the API sends
//! them, waits out `Retry-After` on 429 (at most `max_retry_wait`), retries transient failures with
//! jittered backoff, and applies `requests_per_second` when set. Rejected credentials (401/403) stop the
//! source instead of retrying.
//!
//! ## Configuration (`[[sources]]` with `connector = "entra"`)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `base_url` | — | the API's origin, e.g. `https://api.example.com` |
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

/// Entra's defaults of the shared HTTP settings: the shared ones, but a 30 s timeout.
pub const HTTP_DEFAULTS: HttpSettings =
    HttpSettings { timeout: std::time::Duration::from_secs(30), ..HttpSettings::DEFAULT };

/// `connector = "entra"`: what the registry builds an Entra source with.
pub const KIND: ConnectorKind = ConnectorKind::new("entra", "entra logs API", |table, _| {
    let (config, http) = ComponentTable::split(table, HTTP_DEFAULTS)?;
    Ok(Arc::new(connector(config, &http)?))
});

/// Entra's own `[[sources]]` keys (the shared HTTP settings are read beside them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The API's origin.
    pub base_url: Url,
    /// Optional bearer key.
    pub api_key: Option<SecretString>,
    /// Events per request (1–1000, default 1000).
    pub page_size: Option<u32>,
}

/// Validates `config` and builds the connector of one Entra account: the SDK's page loop over
/// [`EntraApi`], as the SDK's one-stream connector.
pub fn connector(config: EntraConfig, http: &HttpSettings) -> Result<SingleStream<PagedStream<EntraApi>>, ConfigError> {
    let page_size = within("page_size", config.page_size.unwrap_or(1000), 1..=1000)?;
    let client = HttpClient::from_settings(config.base_url, http)?.with_bearer(config.api_key);
    let logs = client.url("/v1/logs").map_err(|err| ConfigError::new("base_url", err.to_string()))?;
    Ok(SingleStream::new("entra", PagedStream::new(EntraApi { logs, page_size }, client)))
}

/// Where an Entra stream resumes: right after the event with id `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraCursor {
    /// The id of the last event delivered.
    pub after: String,
}

impl TypedCursor for EntraCursor {
    const SHAPE: &'static str = r#"{"after": "<event id>", "v": 1}"#;
}

/// The Entra logs API, page by page: its requests, its pages, its records.
#[derive(Debug)]
pub struct EntraApi {
    logs: Url,
    page_size: u32,
}

/// One page of the Entra API.
#[derive(Deserialize)]
struct EntraPage {
    logs: Vec<EntraEvent>,
    has_more: bool,
}

/// One Entra event; fields the connector does not map are kept as attributes.
#[derive(Debug, Deserialize)]
pub struct EntraEvent {
    id: String,
    timestamp: jiff::Timestamp,
    level: String,
    message: String,
    ip: Option<String>,
    #[serde(flatten)]
    attributes: Fields,
}

impl PagedApi for EntraApi {
    type Cursor = EntraCursor;
    type Event = EntraEvent;

    /// The checkpoint key's second half: renaming it would orphan every stored checkpoint.
    fn stream_name(&self) -> &str {
        "entra log stream"
    }

    fn first_request(&self, cursor: Option<&EntraCursor>) -> Result<RequestSpec, StreamError> {
        let after = cursor.map(|cursor| ("after", cursor.after.as_str()));
        Ok(RequestSpec::get(self.logs.clone()).with_query(after).with_query([("limit", self.page_size.to_string())]))
    }

    fn parse(&self, response: &Response) -> Result<Page<EntraEvent>, StreamError> {
        let page: EntraPage = response.json()?;
        let next = match page.logs.last() {
            _ if !page.has_more => Next::Done,
            Some(last) => Next::Request(self.first_request(Some(&EntraCursor { after: last.id.clone() }))?),
            None => return Err(logcrawl_connector::malformed(response, "has_more is true on an empty page")),
        };
        Ok(Page { events: page.logs, next })
    }

    fn record(&self, event: EntraEvent, _at: Position<'_>) -> (LogRecord, Resume<EntraCursor>) {
        let mut data = event.attributes;
        data.insert("id".into(), event.id.clone().into());
        let (message, timestamp, status) = (Some(event.message), Some(event.timestamp), Some(event.level));
        Standard { message, timestamp, status, client_ip: event.ip, ..Default::default() }.insert(&mut data, |_| None);
        (LogRecord::new(data), Resume::After(EntraCursor { after: event.id }))
    }
}
