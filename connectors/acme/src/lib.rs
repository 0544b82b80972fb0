//! # logcrawl-acme
//!
//! The connector of Datadog's crawler tutorial ("Submit Logs from HTTP API"), made real: it crawls the
//! ACME logs API that `logcrawl-sim` serves (contract in `logcrawl_sim::acme`), and it is the model every
//! other connector follows. `docs/tutorial.md` walks through this file.
//!
//! ## API and cursor
//!
//! `GET {base_url}/v1/logs?after=<id>&limit=<page_size>` returns events oldest first with a strictly
//! increasing `id` and a `has_more` flag. Each record's cursor is `{"after": "<its id>"}`: unique, unlike a
//! timestamp (several events share a millisecond), so resuming from any record neither skips nor repeats
//! one. The run ends on the page whose `has_more` is `false`. A stored cursor of any other shape is a
//! checkpoint error naming what is wrong with it (the stream stops; `logcrawl state reset/set` repairs
//! it), never a silent start from the beginning.
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
//! | `timeout` | `"30s"` | per request |
//! | `requests_per_second` | none | client-side quota |
//! | `max_retry_wait` | `"5m"` | the longest `Retry-After` or rate-limit reset waited out; a longer one ends the run (the next interval retries) |

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use logcrawl_core::{
    Connector, Cursor, Fields, LogRecord, LogStream, RecordStream, SecretString, StreamError, epoch_seconds,
};
use logcrawl_http::{HttpClient, HttpConfig, HttpError, StaticAuth, Url, header};
use serde::Deserialize;
use serde_json::{Value, json};

/// The name of the connector's one stream.
pub const STREAM_NAME: &str = "ACME log stream";

/// `[[sources]]` keys of an ACME source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The API's origin.
    pub base_url: Url,
    /// Optional bearer key.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// Events per request (1–1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout", deserialize_with = "logcrawl_core::config::duration")]
    pub timeout: Duration,
    /// Client-side quota.
    #[serde(default)]
    pub requests_per_second: Option<NonZeroU32>,
    /// The longest wait the API may ask for (`Retry-After`, a rate-limit reset) before a run gives up.
    #[serde(default = "default_max_retry_wait", deserialize_with = "logcrawl_core::config::duration")]
    pub max_retry_wait: Duration,
}

fn default_page_size() -> u32 {
    1000
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_retry_wait() -> Duration {
    Duration::from_secs(300)
}

/// A configuration the connector cannot start with; names the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The offending key.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// One ACME account.
#[derive(Debug)]
pub struct AcmeConnector {
    stream: Arc<AcmeLogStream>,
}

impl AcmeConnector {
    /// Validates `config` and builds the connector.
    pub fn new(config: AcmeConfig) -> Result<Self, ConfigError> {
        if !(1..=1000).contains(&config.page_size) {
            return Err(ConfigError {
                key: "page_size",
                message: format!("{} is not within 1..=1000", config.page_size),
            });
        }
        let mut http = HttpConfig::new(config.base_url.clone());
        http.timeout = config.timeout;
        http.rate_limit.requests_per_second = config.requests_per_second;
        http.max_server_wait = config.max_retry_wait;
        let mut client =
            HttpClient::new(http).map_err(|err| ConfigError { key: "base_url", message: err.to_string() })?;
        if let Some(key) = config.api_key {
            client = client.with_auth(Arc::new(StaticAuth::new(header::AUTHORIZATION, "Bearer ", key)));
        }
        Ok(Self { stream: Arc::new(AcmeLogStream { client, page_size: config.page_size }) })
    }
}

impl Connector for AcmeConnector {
    fn kind(&self) -> &str {
        "acme"
    }

    fn streams(&self) -> Vec<Arc<dyn LogStream>> {
        vec![self.stream.clone()]
    }
}

/// The stream of ACME audit events.
#[derive(Debug)]
pub struct AcmeLogStream {
    client: HttpClient,
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
struct AcmeEvent {
    id: String,
    timestamp: jiff::Timestamp,
    level: String,
    message: String,
    #[serde(default)]
    ip: Option<String>,
    #[serde(flatten)]
    attributes: Fields,
}

impl AcmeEvent {
    fn into_record(self) -> LogRecord {
        let cursor = json!({ "after": self.id });
        let mut data = self.attributes;
        data.insert("message".into(), Value::String(self.message));
        data.insert("timestamp".into(), json!(epoch_seconds(self.timestamp)));
        data.insert("status".into(), Value::String(self.level));
        data.insert("id".into(), cursor["after"].clone());
        if let Some(ip) = self.ip {
            data.insert("network".into(), json!({ "client": { "ip": ip } }));
        }
        LogRecord::new(data).with_cursor(cursor)
    }
}

impl AcmeLogStream {
    fn page_url(&self, after: Option<&str>) -> Url {
        let mut url = self.client.base_url().join("/v1/logs").expect("a fixed path joins any base URL");
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

/// What every cursor of this stream looks like (see [`resume_after`]).
const CURSOR_SHAPE: &str = r#"{"after": "<event id>"}"#;

/// The event id a stored cursor resumes after; `None` (no cursor) starts at the beginning.
///
/// A cursor this connector did not write (`{"after": 5}`, `"x"`, `{}`) is an error saying what is wrong
/// with it, never a fresh start: starting over would send the whole history again.
fn resume_after(cursor: Option<&Cursor>) -> Result<Option<String>, StreamError> {
    let Some(cursor) = cursor else { return Ok(None) };
    let problem = match cursor {
        Value::Object(fields) => match fields.get("after") {
            Some(Value::String(after)) => return Ok(Some(after.clone())),
            Some(other) => format!("its \"after\" is {}", json_kind(other)),
            None => "it has no \"after\"".to_owned(),
        },
        other => format!("it is {}, not an object", json_kind(other)),
    };
    Err(StreamError::checkpoint(format!("ACME cursors are {CURSOR_SHAPE}, but {problem}")))
}

/// `a number`, `an array`: what a JSON value is, for error messages (cursors can be long).
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl LogStream for AcmeLogStream {
    fn name(&self) -> &str {
        STREAM_NAME
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        let resume = resume_after(cursor.as_ref());
        Box::pin(async_stream::try_stream! {
            let mut after = resume?;
            loop {
                let response = self.client.get(self.page_url(after.as_deref())).await?;
                let page: AcmePage = response.json()?;
                let caught_up = !page.has_more;
                if page.logs.is_empty() && !caught_up {
                    Err(HttpError::Decode { url: logcrawl_http::redact_url(&response.url), message: "has_more is true on an empty page".into() })?;
                }
                for event in page.logs {
                    after = Some(event.id.clone());
                    yield event.into_record();
                }
                if caught_up {
                    break;
                }
            }
        })
    }
}
