//! The paged-API helper: the page loop every cursor-paginated connector needs, written once.
//!
//! A connector implements [`PagedApi`]: the first request of a run for a cursor, how to read a page into
//! events plus where the next page is ([`Next`]), and each event's record and resume cursor
//! ([`Resume`]). The helper, [`PagedStream`], owns the rest, which is where connectors used to differ in
//! subtle ways:
//!
//! * **prefetch**: once a page says another follows, the next one is fetched and parsed on its own task
//!   while this page's records are delivered (one page ahead, so memory stays two pages; dropping the
//!   stream aborts it);
//! * **the same-origin guard** on every continuation, before anything is sent: a `next` link to another
//!   host ends the run with a fatal error, and the credential never leaves its origin. A stored cursor
//!   that points off the configured origin is a checkpoint error;
//! * **the empty-page guard**: a page with no events that claims more is followed at most
//!   [`PageLimits::max_empty_pages`] times in a row (then the run ends), and a `next` equal to the page
//!   just read (Okta's and Auth0's polling answer) means caught up. An empty page whose continuation moves
//!   on is committed as a [position](LogRecord::position), so the next run starts past it;
//! * **a cap on pages per run** ([`PageLimits::max_pages_per_run`]), so one huge backfill yields to the
//!   schedule and commits as it goes;
//! * **exact resumes inside a page** for APIs whose continuation names a page rather than an event (a
//!   `next` link, a body token): a record's cursor is its page plus its id and index ([`Resume::InPage`]),
//!   and the resumed run skips the page's events through that id;
//! * **boundary dedupe**: a page's last record carries the cursor of the next page
//!   ([`PagedApi::cursor_at`]) together with the ids of the events at the page's last instant
//!   ([`PagedApi::key`]); should the API serve them again (inclusive time cursors, an `after` token at
//!   an instant), they are dropped; an instant that spans pages keeps the ids of all of them. The last record of a page that ends the chain (no continuation: the
//!   next run asks for that page again) keeps those ids with its in-page cursor, for a fallback;
//! * **recovery** when the API refuses a stored cursor ([`PagedApi::fallback`]): the run restarts from an
//!   earlier position the connector names, dropping what the cursor had delivered at its instant, or
//!   stops with a checkpoint error saying why — never a silent restart;
//! * **time windows** for APIs that return newest first ([`WindowedStream`] over a [`WindowedApi`]):
//!   windows walked oldest to newest, aligned on the API's resolution, each read to its end and committed
//!   there (and, for an API that keys its events, exactly inside it), never newer than `now − settle_lag`,
//!   each re-reading an overlap before its start for the events indexed late (dropped by id when the
//!   previous window's end cursor lists them as delivered);
//! * **typed cursors**: the stored cursor is decoded into the connector's type before the first request
//!   (an unreadable one is a checkpoint error, and nothing is sent) and each record's cursor is stored in
//!   the versioned form ([`crate::cursor`]), lazily: only the cursor the crawler commits is serialised.

mod run;
mod window;

use logcrawl_core::{LogRecord, RawEvent, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, Url, redact_url};
use serde::{Deserialize, Serialize};

use crate::cursor::TypedCursor;

pub use run::Prefetch;
pub use window::{
    DEFAULT_MAX_OVERLAP_IDS, Keyed, Overlap, Partial, Window, WindowCursor, WindowPlan, WindowedApi, WindowedStream,
};

/// Where the page after this one is.
#[derive(Debug, Clone)]
pub enum Next {
    /// No further page this run: caught up (the next run starts from the last record's cursor).
    Done,
    /// `GET` this URL: a `Link rel="next"` or an absolute next URL in the body.
    Url(Url),
    /// Send this request: a body token passed back, an offset, a page number, a `POST` query.
    Request(RequestSpec),
    /// Caught up, and the API already named where the next run starts (a short page that still has a
    /// `next` link, as Okta's): not requested now, but the page's last record resumes there.
    Later(RequestSpec),
}

/// One page as the connector read it.
#[derive(Debug)]
pub struct Page<E> {
    /// The page's events, in the order they are to be delivered.
    pub events: Vec<E>,
    /// Where the next page is.
    pub next: Next,
}

/// Where an event sits, for connectors whose cursors depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// The request that fetched the event's page.
    pub page: &'a RequestSpec,
    /// The event's index on its page.
    pub index: usize,
}

/// What resumes a stream right after an event: what [`PagedApi::record`] returns with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume<C> {
    /// The cursor resumes right after the event by itself: an exclusive id (ACME's `after`, Auth0's
    /// `from`).
    After(C),
    /// The cursor requests the event's page again; the helper adds the event's id ([`PagedApi::key`])
    /// and index, and the resumed run skips the page's events through it.
    InPage(C),
    /// The record leaves the checkpoint where it is.
    Stay,
}

/// What identifies an event, for exact resumes inside a page and for dropping events served twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Key<'e> {
    /// The event's unique id (Okta's `uuid`).
    pub id: Option<&'e str>,
    /// The instant the API orders and filters by, as it wrote it (Okta's `published`): events sharing
    /// a page's last instant may be served again after it.
    pub instant: Option<&'e str>,
}

/// A vendor API read page by page: what a connector supplies to [`PagedStream`].
///
/// Four methods are required; the others have defaults that suit an API whose records carry exact,
/// exclusive cursors (ACME's `after=<id>`). An API whose continuation names a page (a `next` link or a
/// body token) implements [`key`](Self::key) and [`cursor_at`](Self::cursor_at) and returns
/// [`Resume::InPage`] from [`record`](Self::record).
pub trait PagedApi: Send + Sync + 'static {
    /// Where the stream resumes.
    type Cursor: TypedCursor;
    /// One parsed event of a page.
    type Event: Send + 'static;

    /// The stream's name (the checkpoint key's second half).
    fn stream_name(&self) -> &str;

    /// The first request of a run: right after `cursor`, or from the configured start without one.
    fn first_request(&self, cursor: Option<&Self::Cursor>) -> Result<RequestSpec, StreamError>;

    /// Reads one response into events and the way to the next page. A page that is not what the API
    /// documents is an error naming the URL (see [`malformed`]).
    fn parse(&self, response: &Response) -> Result<Page<Self::Event>, StreamError>;

    /// The record for `event`, and what resumes the stream right after it.
    fn record(&self, event: Self::Event, at: Position<'_>) -> (LogRecord, Resume<Self::Cursor>);

    /// The event's id and ordering instant (none by default: no in-page resume, no boundary dedupe).
    fn key<'e>(&self, event: &'e Self::Event) -> Key<'e> {
        let _ = event;
        Key::default()
    }

    /// The cursor that requests `next`, a page-level continuation; `instant` is the ordering instant of
    /// the last event delivered before it (or of the stored cursor, see
    /// [`cursor_instant`](Self::cursor_instant)). `None` (the default): the API has no page-level
    /// cursors, each record's own [`Resume`] is used, and empty pages are not committed.
    fn cursor_at(&self, next: &RequestSpec, instant: Option<&str>) -> Option<Self::Cursor> {
        let _ = (next, instant);
        None
    }

    /// The ordering instant a stored cursor was taken at, when it keeps one: what
    /// [`cursor_at`](Self::cursor_at) is given for a page reached before any event was delivered.
    fn cursor_instant<'c>(&self, cursor: &'c Self::Cursor) -> Option<&'c str> {
        let _ = cursor;
        None
    }

    /// The API refused the first request of a run resumed from `stored` (an expired token, a position
    /// beyond retention). `None` (the default): the error stands. `Some(Ok(cursor))`: restart from
    /// `cursor`, a position at or before the stored one (the helper drops the events the stored cursor
    /// had delivered at its instant if they are served again). `Some(Err(_))`: the position was refused
    /// and cannot be recovered without loss: a [checkpoint](StreamError::checkpoint) error saying why.
    fn fallback(&self, stored: &Self::Cursor, refused: &HttpError) -> Option<Result<Self::Cursor, StreamError>> {
        let _ = (stored, refused);
        None
    }

    /// The stream error for a failed request: by default the HTTP error's own kind (fatal for rejected
    /// credentials, transient otherwise); a connector adds advice for the operator here.
    fn error(&self, err: HttpError) -> StreamError {
        err.into()
    }
}

/// Bounds of one run of a [`PagedStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Pages fetched in one run at most (`None`: until caught up). The run ends normally there and the
    /// next one resumes from its cursor.
    pub max_pages_per_run: Option<usize>,
    /// Empty pages that claim more followed in a row before the run ends (a sparse filter can make an
    /// API hop over many empty pages; the next run resumes where this one stopped).
    pub max_empty_pages: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self { max_pages_per_run: None, max_empty_pages: 5 }
    }
}

/// The events of a page that is a JSON array of event objects: each kept as a slice of the body
/// ([`RawEvent::in_page`]) and read by `event` (one pass over its members); an element `event` refuses
/// (not an object) makes the page [`malformed`], naming the URL and the element.
pub fn array_page<E>(
    response: &Response,
    event: impl Fn(RawEvent) -> Result<E, serde_json::Error>,
) -> Result<Vec<E>, StreamError> {
    let events = RawEvent::split_array(&response.body)
        .map_err(|err| HttpError::Decode { url: redact_url(&response.url), message: err.to_string() })?;
    events
        .into_iter()
        .enumerate()
        .map(|(i, raw)| event(raw).map_err(|err| malformed(response, format!("event {i}: {err}"))))
        .collect()
}

/// Where a page that continues by its `Link: rel="next"` header leads, the page having held `len`
/// events of at most `full`: nowhere without the link; the link now when the page is empty or full;
/// else the page is short, the API caught up, and the link is where the next run starts
/// ([`Next::Later`]). `request` builds the request of a link (with the headers the vendor asks for).
pub fn next_link(response: &Response, len: usize, full: usize, request: impl Fn(Url) -> RequestSpec) -> Next {
    match response.link("next") {
        None => Next::Done,
        Some(next) if len == 0 || len >= full => Next::Request(request(next)),
        Some(next) => Next::Later(request(next)),
    }
}

/// The error for a page that is not what the API documents: names the URL (redacted), never a secret.
pub fn malformed(response: &Response, message: impl Into<String>) -> StreamError {
    HttpError::Decode { url: redact_url(&response.url), message: message.into() }.into()
}

/// The stream error for a failed request with advice for the operator appended (what to check for a
/// refused credential, say): fatal or transient as the HTTP error itself is. What
/// [`PagedApi::error`] returns when it has something to add.
pub fn advised(err: HttpError, hint: impl Into<String>) -> StreamError {
    let fatal = err.is_fatal();
    let advised = Advised { inner: err, hint: hint.into() };
    if fatal { StreamError::fatal(advised) } else { StreamError::transient(advised) }
}

/// An HTTP failure with advice appended.
#[derive(Debug, thiserror::Error)]
#[error("{inner}{hint}")]
struct Advised {
    inner: HttpError,
    hint: String,
}

/// A [`LogStream`](logcrawl_core::LogStream) over a [`PagedApi`]: the helper that owns the page loop (see
/// the module documentation).
pub struct PagedStream<A: PagedApi> {
    api: std::sync::Arc<A>,
    client: HttpClient,
    limits: PageLimits,
}

impl<A: PagedApi> std::fmt::Debug for PagedStream<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedStream")
            .field("stream", &self.api.stream_name())
            .field("base_url", &self.client.base_url().as_str())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<A: PagedApi> PagedStream<A> {
    /// A stream reading `api` through `client` (its origin is the one every continuation must stay on).
    pub fn new(api: A, client: HttpClient) -> Self {
        Self { api: std::sync::Arc::new(api), client, limits: PageLimits::default() }
    }

    /// The same stream with other run bounds.
    #[must_use]
    pub fn with_limits(mut self, limits: PageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The connector's side.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// The client the stream sends with.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }
}

/// The stored form of a paged stream's cursor: the connector's cursor, plus what the helper needs to
/// resume exactly. Every extra member is omitted when unused, so a connector whose records resume by
/// themselves ([`Resume::After`]) stores exactly its own cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stored<C> {
    #[serde(flatten)]
    pub(crate) cursor: C,
    /// Skip the page's events up to and including this id (a cursor taken inside a page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) through: Option<String>,
    /// The index of `through` on its page: the fallback for an event without an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<usize>,
    /// The ids at the previous page's last instant: dropped if served again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) seen: Vec<String>,
}

impl<C> Stored<C> {
    fn plain(cursor: C) -> Self {
        Self { cursor, through: None, index: None, seen: Vec::new() }
    }
}

impl<C: TypedCursor> TypedCursor for Stored<C> {
    const VERSION: u64 = C::VERSION;
    const SHAPE: &'static str = C::SHAPE;

    fn upgrade(version: u64, document: serde_json::Value) -> Result<serde_json::Value, String> {
        C::upgrade(version, document)
    }
}

/// A refusal by the helper itself (a continuation off the origin, a failed prefetch task).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);
