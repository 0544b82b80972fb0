//! The `logs` stream: the SDK's page loop over Auth0's checkpoint reads (`from=<log_id>&take=N`, then
//! only `Link: rel="next"`).

use std::fmt;
use std::time::Duration;

use logcrawl_connector::{
    Key, Page, PagedApi, PagedStream, Position, Resume, TypedCursor, advised, array_page, next_link,
};
use logcrawl_core::{LogRecord, StreamError};
use logcrawl_http::{HttpError, RequestSpec, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::event::{Auth0Event, to_event};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "logs";

/// An Auth0 tenant's logs as one resumable stream.
pub type LogsStream = PagedStream<LogsApi>;

/// Where a `logs` run resumes: right after the log event `from` (Auth0's checkpoint is exclusive and
/// log ids are ordered). Stored as `{"v": 1, "from": "<log_id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth0Cursor {
    /// The `log_id` of the last event delivered.
    pub from: String,
}

impl TypedCursor for Auth0Cursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"an Auth0 logs cursor, {"v": 1, "from": "<log_id>"}"#;
}

/// The checkpoint a first run starts from: a log id made of the instant `now − lookback`, `900` +
/// `YYYYMMDDhhmmss` (UTC) + zeros to 56 digits. Auth0's log ids begin with the instant they were stored
/// (`900` + date and time), and a checkpoint read returns the events whose id is greater than `from`, so
/// this reads every event stored since that instant, in `log_id` order (see the README: the shape of log
/// ids is not documented by Auth0).
pub fn start_log_id(at: jiff::Timestamp) -> String {
    format!("900{}{}", at.strftime("%Y%m%d%H%M%S"), "0".repeat(39))
}

/// The logs API of one tenant, page by page.
pub struct LogsApi {
    logs_url: Url,
    source: String,
    page_size: u32,
    lookback: Duration,
}

impl fmt::Debug for LogsApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogsApi")
            .field("logs_url", &self.logs_url.as_str())
            .field("page_size", &self.page_size)
            .field("lookback", &self.lookback)
            .finish()
    }
}

impl LogsApi {
    /// The logs API at `logs_url` (`…/api/v2/logs`), for source `source`.
    pub(crate) fn new(logs_url: Url, source: String, page_size: u32, lookback: Duration) -> Self {
        Self { logs_url, source, page_size, lookback }
    }

    /// A checkpoint read: the events after `from`, `page_size` of them.
    pub fn checkpoint_url(&self, from: &str) -> Url {
        let mut url = self.logs_url.clone();
        url.query_pairs_mut().append_pair("from", from).append_pair("take", &self.page_size.to_string());
        url
    }

    /// The first read of a stream without a cursor: from the log id of now − `initial_lookback`.
    pub fn first_url(&self) -> Url {
        let lookback = jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        self.checkpoint_url(&start_log_id(jiff::Timestamp::now() - lookback))
    }
}

impl PagedApi for LogsApi {
    type Cursor = Auth0Cursor;
    type Event = Auth0Event;

    fn stream_name(&self) -> &str {
        STREAM_NAME
    }

    fn first_request(&self, cursor: Option<&Auth0Cursor>) -> Result<RequestSpec, StreamError> {
        Ok(RequestSpec::get(cursor.map_or_else(|| self.first_url(), |cursor| self.checkpoint_url(&cursor.from))))
    }

    /// Each event stays a slice of the page. After the first request of a run only Auth0's `next` link
    /// is followed; an empty page whose `next` is the URL just read is caught up (the SDK's rule), and a
    /// page shorter than it asked for is caught up too (its `next` would answer an empty page).
    fn parse(&self, response: &Response) -> Result<Page<Auth0Event>, StreamError> {
        let events = array_page(response, to_event)?;
        let next = next_link(response, events.len(), take_of(&response.url), RequestSpec::get);
        Ok(Page { events, next })
    }

    /// Each record resumes by itself, after its own `log_id`; an event without one leaves the cursor at
    /// the one before it (Auth0's `next` link still moves the run on).
    fn record(&self, event: Auth0Event, _at: Position<'_>) -> (LogRecord, Resume<Auth0Cursor>) {
        let resume = match &event.log_id {
            Some(id) => Resume::After(Auth0Cursor { from: id.to_string() }),
            None => Resume::Stay,
        };
        (LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }, resume)
    }

    fn key<'e>(&self, event: &'e Auth0Event) -> Key<'e> {
        Key { id: event.log_id.as_deref(), instant: None }
    }

    /// Auth0 refused the stored `from` (400, 404): no earlier position is known that would not repeat
    /// or skip events, so the checkpoint must be repaired.
    fn fallback(&self, stored: &Auth0Cursor, refused: &HttpError) -> Option<Result<Auth0Cursor, StreamError>> {
        if !matches!(refused.status(), Some(StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND)) {
            return None;
        }
        Some(Err(StreamError::checkpoint(format!(
            "Auth0 refused the stored checkpoint from={}: {refused}; reset it (logcrawl state reset: restart from \
             initial_lookback) or set it to a log_id Auth0 still keeps (logcrawl state set)",
            stored.from
        ))))
    }

    fn error(&self, err: HttpError) -> StreamError {
        let source = &self.source;
        let hint = match (err.status().map(|s| s.as_u16()), &err) {
            (Some(401), _) => format!(
                " — source {source}: Auth0 rejected the credentials: check client_id and client_secret, or `token` \
                 (Management API tokens expire, after 24 h by default)"
            ),
            (Some(403), _) => format!(
                " — source {source}: Auth0 refused the logs: the application (or token) needs the read:logs scope \
                 of the Auth0 Management API"
            ),
            (_, HttpError::Auth(_)) => format!(" — source {source}"),
            _ => String::new(),
        };
        advised(err, &hint)
    }
}

/// The page size a URL asks for (`take`), so a stored link made with an older `page_size` is judged by
/// what it carries; Auth0's default is not documented, so a URL without one is never called short.
fn take_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "take")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_log_id_is_56_digits_of_the_instant() {
        let at = jiff::Timestamp::from_second(1_709_870_345).unwrap();
        let id = start_log_id(at);
        assert_eq!(id, format!("90020240308035905{}", "0".repeat(39)));
        assert_eq!(id.len(), 56);
        assert!(
            id.as_str() < "90020240308035905601176000000000000001223372052035100532",
            "before the events of that second"
        );
    }

    #[test]
    fn the_take_a_url_asks_for() {
        let url = |q: &str| Url::parse(&format!("https://t.auth0.com/api/v2/logs?{q}")).unwrap();
        assert_eq!(take_of(&url("from=1&take=20")), 20);
        assert_eq!(take_of(&url("from=1")), 1);
        assert_eq!(take_of(&url("take=0")), 1);
    }
}
