//! Time-window crawling, for APIs that return newest first (Slack's audit logs, Google Workspace's
//! activities, Microsoft Graph's sign-ins): the page order inside a query is the wrong way round for a
//! resumable cursor, so the stream is cut into windows of time instead.
//!
//! A [`WindowedStream`] walks windows oldest to newest, each `[start, end)` at most
//! [`WindowPlan::step`] long, and pages through each window to its last page in whatever order the API
//! serves it. It commits only at a window's end — the last record of the window carries the cursor
//! `{"until": END}`, and a window without events is committed as a
//! [position](logcrawl_core::LogRecord::position) — so a run that stops inside a window repeats that one
//! window (at-least-once; a shorter step repeats less), never skips one. No window ends later than
//! `now − settle_lag`: vendors that index events late (Duo by about two minutes, Google by application)
//! would otherwise have events appear inside a window already committed.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{Cursor, LogRecord, LogStream, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, redact_url};
use serde::{Deserialize, Serialize};

use super::Prefetch;
use super::run::{Reader, continuation, fetch};
use super::{Page, Refused};
use crate::cursor::{self, TypedCursor};

/// A window of time: events at `start` belong to it, events at `end` to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its first instant (included).
    pub start: Timestamp,
    /// Its end (excluded).
    pub end: Timestamp,
}

/// A newest-first API read window by window: what a connector supplies to [`WindowedStream`].
pub trait WindowedApi: Send + Sync + 'static {
    /// One parsed event of a page.
    type Event: Send + 'static;

    /// The stream's name (the checkpoint key's second half).
    fn stream_name(&self) -> &str;

    /// The first request for the events of `window` (mapping its half-open bounds onto the API's
    /// parameters is the connector's: an inclusive `latest` in whole seconds is `end − 1 s`).
    fn window_request(&self, window: Window) -> Result<RequestSpec, StreamError>;

    /// Reads one response into events and where the next page of the same window is. A window is read
    /// to its end, so [`Next::Later`](super::Next::Later) is followed like any other continuation.
    fn parse(&self, response: &Response) -> Result<Page<Self::Event>, StreamError>;

    /// The record for `event` (its cursor is set by the stream).
    fn record(&self, event: Self::Event) -> LogRecord;

    /// The stream error for a failed request (see [`PagedApi::error`](super::PagedApi::error)).
    fn error(&self, err: HttpError) -> StreamError {
        err.into()
    }
}

/// How a [`WindowedStream`] cuts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPlan {
    /// The longest window (also the most a run stopped inside a window repeats).
    pub step: Duration,
    /// How far behind now the newest window ends: the vendor's indexing delay.
    pub settle_lag: Duration,
    /// Where the very first run starts, behind now.
    pub lookback: Duration,
    /// Windows read in one run at most (`None`: until caught up); the next run goes on from there.
    pub max_windows_per_run: Option<usize>,
    /// Pages of one window at most: a window with more is an error (lower `step`), never a loop.
    pub max_pages_per_window: usize,
}

impl WindowPlan {
    /// Windows of `step`, `settle_lag` behind now, the first run `lookback` back; no cap on windows per
    /// run, at most 10 000 pages a window.
    pub fn new(step: Duration, settle_lag: Duration, lookback: Duration) -> Self {
        Self { step, settle_lag, lookback, max_windows_per_run: None, max_pages_per_window: 10_000 }
    }
}

/// Where a windowed stream resumes: every event before `until` was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowCursor {
    /// The end of the last window delivered whole.
    pub until: Timestamp,
}

impl TypedCursor for WindowCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"{"until": "<RFC 3339 instant>", "v": 1}"#;
}

/// A [`LogStream`] over a [`WindowedApi`] (see the module documentation).
pub struct WindowedStream<A: WindowedApi> {
    api: Arc<A>,
    client: HttpClient,
    plan: WindowPlan,
}

impl<A: WindowedApi> std::fmt::Debug for WindowedStream<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedStream")
            .field("stream", &self.api.stream_name())
            .field("base_url", &self.client.base_url().as_str())
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl<A: WindowedApi> WindowedStream<A> {
    /// A stream reading `api` through `client` window by window, as `plan` says.
    pub fn new(api: A, client: HttpClient, plan: WindowPlan) -> Self {
        Self { api: Arc::new(api), client, plan }
    }

    /// The connector's side.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// The windows a run starting now would read first, oldest first (for inspection and tests).
    pub fn windows_from(&self, cursor: Option<&WindowCursor>, now: Timestamp) -> impl Iterator<Item = Window> {
        let step = signed(self.plan.step).max(SignedDuration::from_secs(1));
        let horizon = now - signed(self.plan.settle_lag);
        let mut start = cursor.map_or_else(|| now - signed(self.plan.lookback), |c| c.until);
        std::iter::from_fn(move || {
            if start >= horizon {
                return None;
            }
            let end = (start + step).min(horizon);
            let window = Window { start, end };
            start = end;
            Some(window)
        })
        .take(self.plan.max_windows_per_run.unwrap_or(usize::MAX))
    }

    fn fetch(&self, request: RequestSpec) -> impl Future<Output = Result<Page<A::Event>, StreamError>> + use<A> {
        fetch(self.api.clone(), self.client.clone(), request, Reader { parse: A::parse, error: A::error })
    }

    fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resume: Option<WindowCursor> = cursor.as_ref().map(cursor::load).transpose()?;
            for window in self.windows_from(resume.as_ref(), Timestamp::now()) {
                let mut request = self.api.window_request(window)?;
                self.client.ensure_same_origin(&request.url).map_err(|err| StreamError::fatal(Refused(err.to_string())))?;
                let end_cursor = cursor::store(&WindowCursor { until: window.end });
                let mut prefetched: Option<Prefetch<Page<A::Event>>> = None;
                let mut pages = 0usize;
                loop {
                    let page = match prefetched.take() {
                        Some(prefetch) => prefetch.join().await?,
                        None => self.fetch(request.clone()).await?,
                    };
                    pages += 1;
                    let Page { events, next } = page;
                    let follow = continuation(&self.client, &request, next)?.map(|(next, _)| next);
                    if follow.is_some() && pages >= self.plan.max_pages_per_window {
                        Err(StreamError::transient(Refused(format!(
                            "the window {} to {} has more than {} pages (at {}); lower the window step",
                            window.start, window.end, self.plan.max_pages_per_window, redact_url(&request.url)
                        ))))?;
                    }
                    if let Some(next) = &follow {
                        prefetched = Some(Prefetch::spawn(self.fetch(next.clone())));
                    }
                    let last_page = follow.is_none();
                    if last_page && events.is_empty() {
                        yield LogRecord::position(end_cursor.clone());
                    }
                    let count = events.len();
                    for (index, event) in events.into_iter().enumerate() {
                        let mut record = self.api.record(event);
                        // Only the window's very last record moves the checkpoint: inside a window
                        // the API's order is not one a cursor can resume from.
                        record.cursor = (last_page && index + 1 == count).then(|| end_cursor.clone().into());
                        yield record;
                    }
                    match follow {
                        Some(next) => request = next,
                        None => break,
                    }
                }
            }
        }
        .boxed()
    }
}

impl<A: WindowedApi> LogStream for WindowedStream<A> {
    fn name(&self) -> &str {
        self.api.stream_name()
    }

    fn records(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        self.run(cursor)
    }
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}
