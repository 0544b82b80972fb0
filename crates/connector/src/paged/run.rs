//! One run of a [`PagedStream`]: open at the stored cursor (or recover from its refusal), then page by
//! page until caught up, each record with its exact cursor.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use logcrawl_core::{Cursor, LogRecord, LogStream, RecordCursor, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, redact_url};

use super::{Next, Page, PagedApi, PagedStream, Position, Refused, Resume, Stored};
use crate::cursor;

/// Where a run's first page starts delivering: after the event a mid-page cursor was taken at.
#[derive(Debug, Default)]
struct Skip {
    through: Option<String>,
    index: Option<usize>,
}

impl Skip {
    /// The index of the first event to deliver on `events`, the page `page` served again.
    fn start<A: PagedApi>(self, api: &A, events: &[A::Event], page: &RequestSpec) -> usize {
        match (self.through, self.index) {
            (Some(through), index) => match events.iter().position(|e| api.key(e).id == Some(through.as_str())) {
                Some(at) => at + 1,
                None => {
                    tracing::warn!(stream = %api.stream_name(), url = %redact_url(&page.url), through = %through, index = ?index,
                        "the event the checkpoint points at is no longer on its page; delivering the page again");
                    0
                }
            },
            (None, Some(index)) => (index + 1).min(events.len()),
            (None, None) => 0,
        }
    }
}

/// What a page leaves for the one after it: the ids at its last event's instant (the API may serve
/// them again) and that instant.
#[derive(Debug, Default)]
struct Boundary {
    ids: Vec<String>,
    instant: Option<String>,
}

impl Boundary {
    /// The boundary of a page, or `None` for an empty page: the previous boundary stays in force. A page
    /// whose events all share the previous boundary's instant continues it (the instant began on an
    /// earlier page): its ids are added to the previous ones.
    fn of_page<A: PagedApi>(api: &A, events: &[A::Event], previous: &Boundary) -> Option<Self> {
        let last = api.key(events.last()?).instant;
        let mut ids: Vec<String> = events
            .iter()
            .rev()
            .map(|e| api.key(e))
            .take_while(|key| key.instant == last)
            .filter_map(|key| key.id.map(str::to_owned))
            .collect();
        let whole_page = events.iter().all(|e| api.key(e).instant == last);
        if whole_page && last.is_some() && previous.instant.as_deref() == last {
            ids.extend(previous.ids.iter().filter(|id| !ids.contains(id)).cloned().collect::<Vec<_>>());
        }
        Some(Self { ids, instant: last.map(str::to_owned) })
    }
}

/// A run's first page, and what the stored cursor says about it.
struct Opened<E> {
    request: RequestSpec,
    page: Page<E>,
    skip: Skip,
    boundary: Boundary,
}

impl<A: PagedApi> PagedStream<A> {
    /// A request made from a stored cursor must stay on the configured origin: a cursor of another
    /// origin (the source was pointed elsewhere) is a checkpoint problem, and nothing is sent.
    fn check_stored(&self, request: &RequestSpec) -> Result<(), StreamError> {
        self.client.ensure_same_origin(&request.url).map_err(|_| {
            StreamError::checkpoint(Refused(format!(
                "the stored checkpoint points at {}, but this source now points at {}; reset the checkpoint to restart from the configured start",
                request.url.origin().ascii_serialization(),
                self.client.base_url().origin().ascii_serialization()
            )))
        })
    }

    /// Fetches the first page of a run: at the stored cursor, or — when the API refuses it and the
    /// connector names a [fallback](PagedApi::fallback) — at the fallback, with the events the stored
    /// cursor had delivered at its instant to be dropped if served again.
    async fn open(&self, stored: Option<Stored<A::Cursor>>) -> Result<Opened<A::Event>, StreamError> {
        let Some(Stored { cursor, through, index, seen }) = stored else {
            let request = self.api.first_request(None)?;
            let page = self.fetch(request.clone()).await?;
            return Ok(Opened { request, page, skip: Skip::default(), boundary: Boundary::default() });
        };
        let instant = self.api.cursor_instant(&cursor).map(str::to_owned);
        let request = self.api.first_request(Some(&cursor))?;
        self.check_stored(&request)?;
        let (refused, fallback) = match self.client.execute(request.clone()).await {
            Ok(response) => {
                let page = self.api.parse(&response)?;
                let boundary = Boundary { ids: seen, instant };
                return Ok(Opened { request, page, skip: Skip { through, index }, boundary });
            }
            Err(err) => match self.api.fallback(&cursor, &err) {
                None => return Err(self.api.error(err)),
                Some(Err(unrecoverable)) => return Err(unrecoverable),
                Some(Ok(fallback)) => (err, fallback),
            },
        };
        let request = self.api.first_request(Some(&fallback))?;
        self.check_stored(&request)?;
        let instant = self.api.cursor_instant(&fallback).map(str::to_owned).or(instant);
        tracing::warn!(stream = %self.api.stream_name(), url = %redact_url(&request.url), instant = instant.as_deref().unwrap_or("-"), error = %refused,
            "the API refused the checkpoint's position; resuming from the earlier position the connector names, dropping the events already delivered at the checkpoint's instant");
        // A mid-page cursor knows only its own event at its instant; others before it may come again.
        let mut seen = seen;
        seen.extend(through.filter(|through| !seen.contains(through)));
        match self.client.execute(request.clone()).await {
            Ok(response) => {
                let page = self.api.parse(&response)?;
                Ok(Opened { request, page, skip: Skip::default(), boundary: Boundary { ids: seen, instant } })
            }
            Err(err) if err.status().is_some() && err.status() == refused.status() => {
                Err(StreamError::checkpoint(Refused(format!(
                    "the API refused the stored position ({refused}), and the fallback from it too ({err}); the \
                     checkpoint must be reset (restart from the configured start) or set to a position the API accepts"
                ))))
            }
            Err(err) => Err(self.api.error(err)),
        }
    }

    pub(super) fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let stored: Option<Stored<A::Cursor>> = cursor.as_ref().map(cursor::load).transpose()?;
            let Opened { mut request, page, mut skip, mut boundary } = self.open(stored).await?;
            let mut first = Some(page);
            let mut prefetched: Option<Prefetch<Page<A::Event>>> = None;
            let mut pages = 0usize;
            let mut empty_in_a_row = 0usize;
            loop {
                let page = match (first.take(), prefetched.take()) {
                    (Some(page), _) => page,
                    (None, Some(prefetch)) => prefetch.join().await?,
                    (None, None) => self.fetch(request.clone()).await?,
                };
                pages += 1;
                let Page { events, next } = page;
                empty_in_a_row = if events.is_empty() { empty_in_a_row + 1 } else { 0 };
                let next = continuation(&self.client, &request, next)?;
                let mut follow = next.as_ref().filter(|(_, now)| *now).map(|(next, _)| next.clone());
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
                    prefetched = Some(Prefetch::spawn(self.fetch(next.clone())));
                }

                let start = std::mem::take(&mut skip).start(self.api.as_ref(), &events, &request);
                // Events at the previous page's last instant, served again: already delivered.
                let seen: HashSet<&str> = boundary.ids.iter().map(String::as_str).collect();
                let duplicate = |e: &A::Event| !seen.is_empty() && self.api.key(e).id.is_some_and(|id| seen.contains(id));
                let last_kept = events.iter().enumerate().skip(start).rev().find(|(_, e)| !duplicate(e)).map(|(i, _)| i);
                let dropped = events.iter().skip(start).filter(|e| duplicate(e)).count();
                if dropped > 0 {
                    tracing::debug!(stream = %self.api.stream_name(), url = %redact_url(&request.url), dropped,
                        "dropped events already delivered at the previous page's boundary");
                }
                // The page's last delivered record resumes at the next page (followed now or by the next
                // run), dropping the events at this page's last instant should they come again; an empty
                // page says nothing new, so the previous boundary stays in force.
                let tail = Boundary::of_page(self.api.as_ref(), &events, &boundary);
                let carried = tail.as_ref().unwrap_or(&boundary);
                let mut end = next.as_ref().and_then(|(next, _)| {
                    let cursor = self.api.cursor_at(next, carried.instant.as_deref())?;
                    Some(Stored { seen: carried.ids.clone(), ..Stored::plain(cursor) })
                });
                // A page that ends the chain has no continuation to resume at: its last record resumes
                // inside it, keeping the ids at its last instant too, so that a fallback from it (the API
                // refusing the page later) drops all of them, not only the record's own.
                let mut chain_end_seen = match (&next, &tail) {
                    (None, Some(tail)) => Some(tail.ids.clone()),
                    _ => None,
                };
                if last_kept.is_none()
                    && let Some(end) = end.take()
                {
                    // Nothing to deliver here, but the stream moved on: commit that, or the next run would
                    // walk the same empty pages again.
                    yield LogRecord::position(RecordCursor::deferred(move || cursor::store(&end)));
                }
                for (index, event) in events.into_iter().enumerate().skip(start) {
                    if duplicate(&event) {
                        continue;
                    }
                    let id = self.api.key(&event).id.map(str::to_owned);
                    let (mut record, resume) = self.api.record(event, Position { page: &request, index });
                    let stored = match (Some(index) == last_kept).then(|| end.take()).flatten() {
                        Some(end) => Some(end),
                        None => match resume {
                            Resume::After(cursor) => Some(Stored::plain(cursor)),
                            Resume::InPage(cursor) => {
                                let seen = if Some(index) == last_kept { chain_end_seen.take() } else { None };
                                Some(Stored { through: id, index: Some(index), seen: seen.unwrap_or_default(), ..Stored::plain(cursor) })
                            }
                            Resume::Stay => None,
                        },
                    };
                    if let Some(stored) = stored {
                        // Serialised only if this record's cursor is the one the crawler commits.
                        record.cursor = Some(RecordCursor::deferred(move || cursor::store(&stored)));
                    }
                    yield record;
                }
                if let Some(tail) = tail {
                    boundary = tail;
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

/// The page after `page` as the connector named it, checked against `client`'s origin: the request,
/// and whether to fetch it in this run. `None`: nothing after this page (or `next` is the page itself,
/// the API's way of saying "caught up, poll here later").
pub(super) fn continuation(
    client: &HttpClient,
    page: &RequestSpec,
    next: Next,
) -> Result<Option<(RequestSpec, bool)>, StreamError> {
    let (request, now) = match next {
        Next::Done => return Ok(None),
        Next::Url(url) => (RequestSpec::get(url), true),
        Next::Request(request) => (request, true),
        Next::Later(request) => (request, false),
    };
    // Refused before anything is delivered or sent: a committed cursor must never point off the
    // origin, and the credential never leaves it.
    client.ensure_same_origin(&request.url).map_err(|err| {
        StreamError::fatal(Refused(format!("the next page after {} leaves the origin: {err}", redact_url(&page.url))))
    })?;
    let polling = request.url == page.url && request.method == page.method && request.body == page.body;
    Ok((!polling).then_some((request, now)))
}

/// How a connector reads a response (`parse`) and names a failed request (`error`): the two methods the
/// page loops share between [`PagedApi`] and [`WindowedApi`](super::WindowedApi).
pub(super) struct Reader<A, E> {
    pub(super) parse: fn(&A, &Response) -> Result<Page<E>, StreamError>,
    pub(super) error: fn(&A, HttpError) -> StreamError,
}

/// Fetches and parses one page; run on its own task for the page after the current one.
pub(super) async fn fetch<A, E>(
    api: Arc<A>,
    client: HttpClient,
    request: RequestSpec,
    reader: Reader<A, E>,
) -> Result<Page<E>, StreamError> {
    let response = client.execute(request).await.map_err(|err| (reader.error)(&api, err))?;
    (reader.parse)(&api, &response)
}

impl<A: PagedApi> PagedStream<A> {
    fn fetch(&self, request: RequestSpec) -> impl Future<Output = Result<Page<A::Event>, StreamError>> + use<A> {
        fetch(self.api.clone(), self.client.clone(), request, Reader { parse: A::parse, error: A::error })
    }
}

/// A page fetched on its own task while the current one is delivered: one page ahead at most, so memory
/// stays two pages. Dropping it (the run ended early) aborts the request. Public for connectors that run
/// a loop of their own.
#[derive(Debug)]
pub struct Prefetch<T>(tokio::task::JoinHandle<Result<T, StreamError>>);

impl<T: Send + 'static> Prefetch<T> {
    /// Starts `fetch` on its own task, in the current span (its log lines name the stream too) and with the
    /// current stream labels (its requests are counted for the stream).
    pub fn spawn(fetch: impl std::future::Future<Output = Result<T, StreamError>> + Send + 'static) -> Self {
        use tracing::Instrument;
        Self(tokio::spawn(logcrawl_core::labels::propagate(fetch).in_current_span()))
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
