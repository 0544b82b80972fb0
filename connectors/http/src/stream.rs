//! The two shapes a declared source takes on the SDK.
//!
//! * **Continuation** ([`ContinuationApi`] under a [`PagedStream`](logcrawl_connector::PagedStream)):
//!   the API's own next page (a `Link` or a body token) is resumable, so the stored cursor *is* that
//!   request — its URL, and its body for a `POST` API — plus, inside a page, the id and index the SDK
//!   adds. A run resumes exactly where the last one stopped, however long ago.
//! * **Windowed** ([`WindowApi`] under a [`WindowedStream`](logcrawl_connector::WindowedStream)): the
//!   requests filter by time (`window.start`/`window.end` in the templates); the SDK walks windows oldest
//!   to newest, never newer than `now − settle_lag`, re-reads an overlap and drops the ids already
//!   delivered. Offsets and page numbers resume only this way: they shift as events arrive.

use std::sync::Arc;

use logcrawl_connector::{Key, Keyed, Page, PagedApi, Position, Resume, TypedCursor, Window, WindowedApi};
use logcrawl_core::{LogRecord, StreamError};
use logcrawl_http::{HttpError, RequestSpec, Response, Url};
use serde::{Deserialize, Serialize};

use crate::api::{Source, advised};
use crate::config::Order;
use crate::event::HttpEvent;

/// Where a continuation source resumes: the request of the page to read next (or again). Stored as
/// `{"v": 1, "url": "…", "body": "…"?, "instant": "…"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCursor {
    /// The page's URL (on the source's origin).
    pub url: String,
    /// The page's JSON body, for a `POST` API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The time of the last event delivered before it, as the API wrote it (for the boundary dedupe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant: Option<String>,
}

impl TypedCursor for HttpCursor {
    const SHAPE: &'static str = r#"an http source's cursor, {"v": 1, "url": "<next page>", "body": "<json>"?}"#;
}

impl HttpCursor {
    fn of(request: &RequestSpec, instant: Option<&str>) -> Self {
        Self {
            url: request.url.to_string(),
            body: request.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
            instant: instant.map(str::to_owned),
        }
    }
}

/// A source whose pages continue by a resumable link or token.
#[derive(Debug)]
pub struct ContinuationApi {
    source: Arc<Source>,
}

impl ContinuationApi {
    /// The API of `source`.
    pub fn new(source: Arc<Source>) -> Self {
        Self { source }
    }

    /// The compiled source.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

impl PagedApi for ContinuationApi {
    type Cursor = HttpCursor;
    type Event = HttpEvent;

    fn stream_name(&self) -> &str {
        &self.source.stream
    }

    fn first_request(&self, cursor: Option<&HttpCursor>) -> Result<RequestSpec, StreamError> {
        let Some(cursor) = cursor else { return self.source.render(&self.source.context(None, None)) };
        let url = Url::parse(&cursor.url)
            .map_err(|err| StreamError::checkpoint(format!("the stored url {:?} is not a URL: {err}", cursor.url)))?;
        self.source.restore(url, cursor.body.clone())
    }

    fn parse(&self, response: &Response) -> Result<Page<HttpEvent>, StreamError> {
        self.source.page(response)
    }

    fn record(&self, event: HttpEvent, at: Position<'_>) -> (LogRecord, Resume<HttpCursor>) {
        let resume = Resume::InPage(HttpCursor::of(at.page, event.instant.as_deref()));
        (LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }, resume)
    }

    fn key<'e>(&self, event: &'e HttpEvent) -> Key<'e> {
        Key { id: event.id.as_deref(), instant: event.instant.as_deref() }
    }

    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<HttpCursor> {
        Some(HttpCursor::of(next, instant))
    }

    fn cursor_instant<'c>(&self, cursor: &'c HttpCursor) -> Option<&'c str> {
        cursor.instant.as_deref()
    }

    fn error(&self, err: HttpError) -> StreamError {
        advised(&self.source.name, err)
    }
}

/// A source read by time windows.
#[derive(Debug)]
pub struct WindowApi {
    source: Arc<Source>,
    newest_first: bool,
}

impl WindowApi {
    /// The API of `source`, whose events come in `order` inside a window.
    pub fn new(source: Arc<Source>, order: Order) -> Self {
        let newest_first = order == Order::NewestFirst;
        Self { source, newest_first }
    }

    /// The compiled source.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

impl WindowedApi for WindowApi {
    type Event = HttpEvent;

    fn stream_name(&self) -> &str {
        &self.source.stream
    }

    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError> {
        self.source.render(&self.source.context(Some(window), None))
    }

    fn parse(&self, response: &Response) -> Result<Page<HttpEvent>, StreamError> {
        self.source.page(response)
    }

    fn record(&self, event: HttpEvent) -> LogRecord {
        LogRecord { data: event.data, cursor: None, raw: Some(event.raw) }
    }

    fn key<'e>(&self, event: &'e HttpEvent) -> Option<Keyed<'e>> {
        Some(Keyed { id: event.id.as_deref()?, at: event.at? })
    }

    fn newest_first(&self) -> bool {
        self.newest_first
    }

    fn error(&self, err: HttpError) -> StreamError {
        advised(&self.source.name, err)
    }
}
