//! The paged-API helper: the page loop every cursor-paginated connector needs, written once.
//!
//! A connector implements [`PagedApi`]: the first request of a run for a cursor, how to read a page into
//! events plus where the next page is ([`Next`]), and each event's record and resume cursor. The helper,
//! [`PagedStream`], owns the rest, which is where connectors used to differ in subtle ways:
//!
//! * **prefetch**: once a page says another follows, the next one is fetched and parsed on its own task
//!   while this page's records are delivered (one page ahead, so memory stays two pages; dropping the
//!   stream aborts it);
//! * **the same-origin guard** on every continuation, before anything is sent: a `next` link to another
//!   host ends the run with a fatal error, and the credential never leaves its origin;
//! * **the empty-page guard**: a page with no events that claims more is followed at most
//!   [`PageLimits::max_empty_pages`] times in a row (then the run ends, to resume from its cursor), and a
//!   `next` equal to the page just read (Okta's and Auth0's polling answer) means caught up;
//! * **a cap on pages per run** ([`PageLimits::max_pages_per_run`]), so one huge backfill yields to the
//!   schedule and commits as it goes;
//! * **typed cursors**: the stored cursor is decoded into the connector's type before the first request
//!   (an unreadable one is a checkpoint error, and nothing is sent) and each record's cursor is stored in
//!   the versioned form ([`crate::cursor`]), lazily: only the cursor the crawler commits is serialised.

use std::sync::Arc;

use futures::StreamExt;
use logcrawl_core::{Cursor, LogRecord, LogStream, RecordCursor, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, Url, redact_url};

use crate::cursor::{self, TypedCursor};

/// Where the page after this one is.
#[derive(Debug, Clone)]
pub enum Next {
    /// No further page this run: caught up (the next run starts from the last record's cursor).
    Done,
    /// `GET` this URL: a `Link rel="next"` or an absolute next URL in the body.
    Url(Url),
    /// Send this request: a body token passed back, an offset, a page number, a `POST` query.
    Request(RequestSpec),
}

/// One page as the connector read it.
#[derive(Debug)]
pub struct Page<E> {
    /// The page's events, in the order they are to be delivered.
    pub events: Vec<E>,
    /// Where the next page is.
    pub next: Next,
}

/// Where an event sits, for connectors whose cursors depend on it (a mid-page cursor names its page).
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// The request that fetched the event's page.
    pub page: &'a RequestSpec,
    /// The event's index on its page.
    pub index: usize,
    /// Whether it is the page's last event.
    pub last: bool,
}

/// A vendor API read page by page: what a connector supplies to [`PagedStream`].
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

    /// The record for `event`, and the cursor that resumes right after it (`None`: the record does not
    /// move the checkpoint).
    fn record(&self, event: Self::Event, at: Position<'_>) -> (LogRecord, Option<Self::Cursor>);
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

/// The error for a page that is not what the API documents: names the URL (redacted), never a secret.
pub fn malformed(response: &Response, message: impl Into<String>) -> StreamError {
    HttpError::Decode { url: redact_url(&response.url), message: message.into() }.into()
}

/// A [`LogStream`] over a [`PagedApi`]: the helper that owns the page loop (see the module documentation).
pub struct PagedStream<A: PagedApi> {
    api: Arc<A>,
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
        Self { api: Arc::new(api), client, limits: PageLimits::default() }
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

    fn continuation(&self, page: &RequestSpec, next: Next) -> Result<Option<RequestSpec>, StreamError> {
        let request = match next {
            Next::Done => return Ok(None),
            Next::Url(url) => RequestSpec::get(url),
            Next::Request(request) => request,
        };
        // Refused before anything is delivered or sent: a committed cursor must never point off the
        // origin, and the credential never leaves it.
        self.client.ensure_same_origin(&request.url).map_err(|err| {
            StreamError::fatal(Refused(format!(
                "the next page after {} leaves the origin: {err}",
                redact_url(&page.url)
            )))
        })?;
        // `next` equal to the page just read: the API's way of saying "caught up, poll here later".
        let polling = request.url == page.url && request.method == page.method && request.body == page.body;
        Ok((!polling).then_some(request))
    }

    fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resume: Option<A::Cursor> = cursor.as_ref().map(cursor::load).transpose()?;
            let mut request = self.api.first_request(resume.as_ref())?;
            let mut prefetched: Option<Prefetch<Page<A::Event>>> = None;
            let mut pages = 0usize;
            let mut empty_in_a_row = 0usize;
            loop {
                let page = match prefetched.take() {
                    Some(prefetch) => prefetch.join().await?,
                    None => fetch(self.api.clone(), self.client.clone(), request.clone()).await?,
                };
                pages += 1;
                let Page { events, next } = page;
                empty_in_a_row = if events.is_empty() { empty_in_a_row + 1 } else { 0 };
                let mut follow = self.continuation(&request, next)?;
                if follow.is_some() && empty_in_a_row > self.limits.max_empty_pages {
                    tracing::info!(stream = %self.api.stream_name(), url = %redact_url(&request.url), empty_in_a_row,
                        "several empty pages in a row; ending the run, the next one resumes here");
                    follow = None;
                }
                if follow.is_some() && self.limits.max_pages_per_run.is_some_and(|max| pages >= max) {
                    tracing::debug!(stream = %self.api.stream_name(), pages, "page cap of the run reached");
                    follow = None;
                }
                if let Some(next) = &follow {
                    prefetched = Some(Prefetch::spawn(fetch(self.api.clone(), self.client.clone(), next.clone())));
                }
                let count = events.len();
                for (index, event) in events.into_iter().enumerate() {
                    let at = Position { page: &request, index, last: index + 1 == count };
                    let (mut record, resume) = self.api.record(event, at);
                    if let Some(resume) = resume {
                        // Built only if this record's cursor is the one the crawler commits.
                        record.cursor = Some(RecordCursor::deferred(move || cursor::store(&resume)));
                    }
                    yield record;
                }
                match follow {
                    Some(next) => request = next,
                    None => break,
                }
            }
        }
        .boxed()
    }
}

impl<A: PagedApi> LogStream for PagedStream<A> {
    fn name(&self) -> &str {
        self.api.stream_name()
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.run(cursor)
    }
}

/// Fetches and parses one page; run on its own task for the page after the current one.
async fn fetch<A: PagedApi>(
    api: Arc<A>,
    client: HttpClient,
    request: RequestSpec,
) -> Result<Page<A::Event>, StreamError> {
    let response = client.execute(request).await?;
    api.parse(&response)
}

/// A page fetched on its own task while the current one is delivered: one page ahead at most, so memory
/// stays two pages. Dropping it (the run ended early) aborts the request. Public for connectors that still
/// run their own page loop.
#[derive(Debug)]
pub struct Prefetch<T>(tokio::task::JoinHandle<Result<T, StreamError>>);

impl<T: Send + 'static> Prefetch<T> {
    /// Starts `fetch` on its own task.
    pub fn spawn(fetch: impl std::future::Future<Output = Result<T, StreamError>> + Send + 'static) -> Self {
        Self(tokio::spawn(fetch))
    }

    /// The fetched page, or the error that ended it (a task that panicked or was cancelled is transient).
    pub async fn join(mut self) -> Result<T, StreamError> {
        match (&mut self.0).await {
            Ok(page) => page,
            Err(join) => Err(StreamError::transient(Refused(format!("fetching the next page failed: {join}")))),
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A refusal by the helper itself (a continuation off the origin, a failed prefetch task).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);
