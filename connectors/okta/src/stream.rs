//! The `system_log` stream: polling `/api/v1/logs` by its `next` links, with exact per-record cursors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use logcrawl_connector::Prefetch;
use logcrawl_core::{Cursor, LogRecord, LogStream, RawEvent, RecordCursor, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, Response, StatusCode, Url, redact_url};
use serde_json::value::RawValue;

use crate::cursor::{Boundary, Resume, mid_page_cursor_of, page_end_cursor};
use crate::event::{Event, to_event};

/// The stream's name (the checkpoint key's second half).
pub const STREAM_NAME: &str = "system_log";
/// Okta's page size when a URL carries no `limit`.
const OKTA_DEFAULT_LIMIT: usize = 100;
/// Empty pages whose `next` moves on (possible with a `filter`) followed in one run before it ends.
const MAX_EMPTY_HOPS: usize = 5;

/// Okta's System Log as one resumable stream.
///
/// See the crate documentation for the cursor scheme; in short, every record's cursor is either
/// `{"v":1,"url":NEXT,"seen":[…],"published":P}` (last record of a page: request Okta's `next` link, drop the
/// listed `uuid`s if served again) or `{"v":1,"url":PAGE,"through":UUID,"index":I,"published":P}` (inside a
/// page: request the same page again and skip through that event). Both are exact, and the mid-page one
/// costs one URL clone and two short strings. `published` is where a run restarts (`since`) when Okta
/// refuses the stored URL.
pub struct SystemLogStream {
    http: HttpClient,
    logs_url: Url,
    limit: u32,
    lookback: Duration,
    filter: Option<String>,
}

impl fmt::Debug for SystemLogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemLogStream")
            .field("logs_url", &self.logs_url.as_str())
            .field("limit", &self.limit)
            .field("lookback", &self.lookback)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// An HTTP failure with advice for the operator appended.
#[derive(Debug, thiserror::Error)]
#[error("{inner}{hint}")]
struct Advised {
    inner: HttpError,
    hint: &'static str,
}

fn stream_error(err: HttpError) -> StreamError {
    let hint = match err.status().map(|s| s.as_u16()) {
        Some(401) => {
            " — Okta rejected the credentials: check `token` (API tokens expire after 30 days unused) or the OAuth app's `client_id`/key"
        }
        Some(403) => {
            " — Okta refused access to the System Log: the API token's admin needs a role that may read the System Log (e.g. Read-Only Administrator); an OAuth app needs the okta.logs.read scope granted and an admin role"
        }
        _ => "",
    };
    if err.is_fatal() {
        StreamError::fatal(Advised { inner: err, hint })
    } else {
        StreamError::transient(Advised { inner: err, hint })
    }
}

/// A problem found by the stream itself (a corrupt or refused cursor, a `next` link to another host).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl SystemLogStream {
    pub(crate) fn new(http: HttpClient, logs_url: Url, limit: u32, lookback: Duration, filter: Option<String>) -> Self {
        Self { http, logs_url, limit, lookback, filter }
    }

    /// The first request of a stream without a cursor: `since = now − lookback`, `limit`, ascending.
    pub fn first_url(&self) -> Url {
        let since = jiff::Timestamp::now()
            - jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        let since = since.round(jiff::Unit::Millisecond).unwrap_or(since);
        self.since_url(&since.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    }

    /// A polling query from `since` (RFC 3339): the configured `limit` and `filter`, ascending, no `until`.
    fn since_url(&self, since: &str) -> Url {
        let mut url = self.logs_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("since", since);
            query.append_pair("limit", &self.limit.to_string());
            query.append_pair("sortOrder", "ASCENDING");
            if let Some(filter) = &self.filter {
                query.append_pair("filter", filter);
            }
        }
        url
    }

    fn resume_point(&self, cursor: Option<Cursor>) -> Result<Resume, StreamError> {
        match cursor {
            None => Ok(Resume::start(self.first_url())),
            Some(cursor) => {
                let resume = Resume::from_cursor(&cursor).map_err(|why| {
                    StreamError::checkpoint(Refused(format!(
                        "the stored checkpoint is not an Okta System Log cursor ({why}); fix or delete it to restart from initial_lookback"
                    )))
                })?;
                if resume.url.origin() != self.logs_url.origin() {
                    return Err(StreamError::checkpoint(Refused(format!(
                        "the stored checkpoint belongs to {}, but this source now points at {}; delete the checkpoint to restart from initial_lookback",
                        resume.url.origin().ascii_serialization(),
                        self.logs_url.origin().ascii_serialization()
                    ))));
                }
                Ok(resume)
            }
        }
    }

    fn fetch_records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resumed = cursor.is_some();
            let (resume, first) = self.open(self.resume_point(cursor)?, resumed).await?;
            let Resume { mut url, mut through, mut index, seen, published } = resume;
            // The boundary of the last page that had events; an empty page carries it forward.
            let mut boundary = Boundary { uuids: seen, published };
            let mut seen = boundary.seen();
            let mut first = Some(first);
            let mut empty_hops = 0usize;
            let mut prefetched: Option<Prefetch<Page>> = None;
            loop {
                let page = match (first.take(), prefetched.take()) {
                    (Some(page), _) => page,
                    (None, Some(prefetch)) => prefetch.join().await?,
                    (None, None) => fetch_page(self.http.clone(), url.clone()).await?,
                };
                let Page { next, events } = page;
                let served = events.len();
                let page_limit = limit_of(&url);

                // Where this page's delivery starts (a cursor taken inside the page skips what was delivered).
                let start = match (through.take(), index.take()) {
                    (Some(uuid), index) => match events.iter().position(|e| e.uuid() == Some(uuid.as_str())) {
                        Some(pos) => pos + 1,
                        None => {
                            tracing::warn!(url = %redact_url(&url), uuid = %uuid, index = ?index, "the event the checkpoint points at is no longer on its page; re-delivering the page");
                            0
                        }
                    },
                    (None, Some(index)) => (index + 1).min(served),
                    (None, None) => 0,
                };

                // The uuids at the page's final `published` instant: dropped if the next page serves them again.
                // An empty page has none of its own: the previous page's stay in force, in memory and in the
                // cursor, or the page after it could deliver them a second time.
                let tail = Boundary::of_page(&events);
                let end_cursor = next.as_ref().map(|next| page_end_cursor(next, tail.as_ref().unwrap_or(&boundary)));
                let duplicate = |e: &Event| !seen.is_empty() && e.uuid().is_some_and(|u| seen.contains(u));
                let last_kept = events.iter().enumerate().skip(start).rev().find(|(_, e)| !duplicate(e)).map(|(i, _)| i);
                let dropped = events.iter().skip(start).filter(|e| duplicate(e)).count();
                if dropped > 0 {
                    tracing::debug!(url = %redact_url(&url), dropped, "dropped events already delivered at the previous page's boundary");
                }

                // Whether another page follows is known now; if so, fetch and parse it on another task while
                // this page's records are delivered.
                let follow = match &next {
                    None => None,
                    Some(next) if *next == url => None, // polling and caught up: Okta answers `[]` with next == self
                    Some(next) if served == 0 => {
                        empty_hops += 1;
                        (empty_hops <= MAX_EMPTY_HOPS).then(|| next.clone())
                    }
                    // A short page: caught up, the next run starts at `next` (no wasted empty poll).
                    Some(next) => {
                        empty_hops = 0;
                        (served >= page_limit).then(|| next.clone())
                    }
                };
                if let Some(follow) = &follow {
                    prefetched = Some(Prefetch::spawn(fetch_page(self.http.clone(), follow.clone())));
                }

                let mut end_cursor = end_cursor;
                // Shared by this page's mid-page cursors, which are built only for the record whose cursor
                // the crawler commits (one per batch): each record carries the page, its index and its event.
                let page = Arc::new(url.clone());
                for (i, event) in events.into_iter().enumerate().skip(start) {
                    if duplicate(&event) {
                        continue;
                    }
                    let cursor = if Some(i) == last_kept && end_cursor.is_some() {
                        RecordCursor::Ready(end_cursor.take().expect("checked"))
                    } else {
                        let (page, raw) = (page.clone(), event.raw.clone());
                        RecordCursor::deferred(move || mid_page_cursor_of(&page, i, &raw))
                    };
                    yield LogRecord { data: event.data, cursor: Some(cursor), raw: Some(event.raw) };
                }
                if let Some(tail) = tail {
                    seen = tail.seen();
                    boundary = tail;
                }

                match follow {
                    Some(follow) => url = follow,
                    None => break,
                }
            }
        }
        .boxed()
    }

    /// The first page of a run, and where the run really resumes: `resume` itself, or — when Okta refuses
    /// a stored URL with 400 (an `after` it no longer honours, a `since` beyond its retention) — a polling
    /// query from the cursor's `published`, dropping the uuids already delivered at that instant. Without
    /// a `published`, or when the fallback is refused too, the checkpoint cannot be resumed from losslessly:
    /// a checkpoint error, never a silent restart.
    async fn open(&self, resume: Resume, resumed: bool) -> Result<(Resume, Page), StreamError> {
        let refused = match self.http.get(resume.url.clone()).await {
            Ok(response) => {
                let page = parse_page(&self.http, &resume.url, &response)?;
                return Ok((resume, page));
            }
            Err(err) if resumed && err.status() == Some(StatusCode::BAD_REQUEST) => err,
            Err(err) => return Err(stream_error(err)),
        };
        let Some(published) = resume.published.filter(|p| p.parse::<jiff::Timestamp>().is_ok()) else {
            return Err(StreamError::checkpoint(Refused(format!(
                "Okta refused the stored position: {refused}; the checkpoint keeps no usable `published` instant \
                 to restart from without loss (it was written before that key existed), so it must be reset (restart from \
                 initial_lookback) or set to a position Okta accepts"
            ))));
        };
        tracing::warn!(
            url = %redact_url(&resume.url),
            since = %published,
            error = %refused,
            "Okta refused the checkpoint's URL; resuming from since = the last delivered event's published, dropping the events already delivered at that instant"
        );
        let mut seen = resume.seen;
        // A mid-page cursor knows only its own event at that instant; others before it may come again.
        if let Some(through) = resume.through
            && !seen.contains(&through)
        {
            seen.push(through);
        }
        let fallback =
            Resume { url: self.since_url(&published), through: None, index: None, seen, published: Some(published) };
        match self.http.get(fallback.url.clone()).await {
            Ok(response) => {
                let page = parse_page(&self.http, &fallback.url, &response)?;
                Ok((fallback, page))
            }
            Err(err) if err.status() == Some(StatusCode::BAD_REQUEST) => {
                Err(StreamError::checkpoint(Refused(format!(
                    "Okta refused the stored position: {refused}; and the fallback from since = {} too: {err}; the \
                 checkpoint must be reset (restart from initial_lookback) or set to a position Okta accepts",
                    fallback.published.unwrap_or_default()
                ))))
            }
            Err(err) => Err(stream_error(err)),
        }
    }
}

/// One page's events, already mapped to records, and Okta's `next` link (already checked to stay on the
/// org).
struct Page {
    next: Option<Url>,
    events: Vec<Event>,
}

/// Fetches and parses the page at `url`. Run on its own task for the page after the current one, so
/// parsing overlaps the delivery of the current page on another core.
async fn fetch_page(http: HttpClient, url: Url) -> Result<Page, StreamError> {
    let response = http.get(url.clone()).await.map_err(stream_error)?;
    parse_page(&http, &url, &response)
}

/// A fetched page's events and checked `next` link.
fn parse_page(http: &HttpClient, url: &Url, response: &Response) -> Result<Page, StreamError> {
    let next = response.link("next");
    if let Some(next) = &next {
        // Refuse before delivering anything: a committed cursor must never point off the org.
        http.ensure_same_origin(next).map_err(|err| {
            StreamError::fatal(Refused(format!("Okta's next link from {} leaves the org: {err}", redact_url(url))))
        })?;
    }
    // Each event stays the JSON Okta sent, a slice of the page's body (nothing is allocated or copied per
    // event for it); only what logcrawl reads is parsed.
    let events: Vec<&RawValue> = response.json().map_err(stream_error)?;
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            to_event(RawEvent::in_page(&response.body, raw)).map_err(|err| {
                stream_error(HttpError::Decode { url: redact_url(url), message: format!("event {i}: {err}") })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { next, events })
}

impl LogStream for SystemLogStream {
    fn name(&self) -> &str {
        STREAM_NAME
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.fetch_records(cursor)
    }
}

/// The page size a URL asks for (Okta's default when absent), so a stored `next` from an older `limit`
/// setting is judged by the limit it carries.
fn limit_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(OKTA_DEFAULT_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_a_url_asks_for() {
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?limit=20").unwrap()), 20);
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?after=1").unwrap()), 100);
        assert_eq!(limit_of(&Url::parse("https://x/api/v1/logs?limit=0").unwrap()), 100);
    }
}
