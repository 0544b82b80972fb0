//! Time-window crawling, for APIs that return newest first (Slack's audit logs, Google Workspace's
//! activities, Microsoft Graph's sign-ins): the page order inside a query is the wrong way round for a
//! resumable cursor, so the stream is cut into windows of time instead.
//!
//! A [`WindowedStream`] walks windows oldest to newest, each `[start, end)` at most
//! [`WindowPlan::step`] long and aligned on the API's [`WindowPlan::resolution`] (whole seconds for an
//! API that takes epoch seconds), and pages through each window to its last page in whatever order the
//! API serves it. The last record of a window carries the cursor `{"until": END}`, and a window without
//! events is committed as a [position](logcrawl_core::LogRecord::position). No window ends later than
//! `now − settle_lag`: vendors that index events late (Duo by about two minutes, Google by application)
//! would otherwise have events appear inside a window already committed.
//!
//! Inside a window the API's order decides what a cursor can say:
//!
//! * **Any order** (the default): records inside a window carry no cursor, so a run that stops inside a
//!   window repeats that one window (at-least-once; a shorter step repeats less), never skips one.
//! * **Newest first, with ids** (the connector implements [`WindowedApi::key`]): every record is exact.
//!   Having delivered a window's events down to instant `t`, everything in `[t + resolution, end)` and
//!   the ids delivered at `t` are done, so a record's cursor is `{"until": START, "partial": {"below":
//!   t + resolution, "then": END, "seen": [ids at t]}}`: the resumed run reads `[START, t + resolution)`,
//!   drops `seen`, and goes on from `END`. An event served out of that order (newer than one before it,
//!   outside its window) or without a key ends the window's exact cursors: its remaining records carry
//!   none, as in any order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{Cursor, LogRecord, LogStream, RecordCursor, RecordStream, StreamError};
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

    /// The event's unique id and instant, for an API that serves each window **newest first** (ties
    /// in any order): then every record carries an exact cursor (see the module documentation). `None`
    /// (the default): the API's order inside a window promises nothing, and only windows' ends are
    /// committed.
    fn key<'e>(&self, event: &'e Self::Event) -> Option<Keyed<'e>> {
        let _ = event;
        None
    }

    /// The stream error for a failed request (see [`PagedApi::error`](super::PagedApi::error)).
    fn error(&self, err: HttpError) -> StreamError {
        err.into()
    }
}

/// What places an event inside its window ([`WindowedApi::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyed<'e> {
    /// The event's unique id.
    pub id: &'e str,
    /// The instant the API orders and filters by.
    pub at: Timestamp,
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
    /// The API's time resolution: windows start and end on whole multiples of it (and are at least one
    /// long), so a window maps onto the API's inclusive bounds in its unit without overlap or gap (for
    /// epoch seconds, `[start, end)` is `oldest = start`, `latest = end − 1`). Events lie on whole
    /// multiples too, so a stored instant between two (a cursor written by hand) is read as the next one.
    pub resolution: Duration,
}

impl WindowPlan {
    /// Windows of `step`, `settle_lag` behind now, the first run `lookback` back; no cap on windows per
    /// run, at most 10 000 pages a window, nanosecond resolution.
    pub fn new(step: Duration, settle_lag: Duration, lookback: Duration) -> Self {
        Self {
            step,
            settle_lag,
            lookback,
            max_windows_per_run: None,
            max_pages_per_window: 10_000,
            resolution: Duration::from_nanos(1),
        }
    }

    /// The same plan with windows aligned on `resolution`.
    #[must_use]
    pub fn with_resolution(mut self, resolution: Duration) -> Self {
        self.resolution = resolution;
        self
    }
}

/// Where a windowed stream resumes: every event before `until` was delivered (and, inside the window
/// after it, what `partial` says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowCursor {
    /// The end of the last window delivered whole.
    pub until: Timestamp,
    /// The window after `until`, read newest first down to an instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

impl WindowCursor {
    /// Every event before `until` was delivered, nothing after it.
    pub fn at(until: Timestamp) -> Self {
        Self { until, partial: None }
    }
}

/// A window read newest first down to an instant: what of `[until, then)` was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Every event in `[below, then)` was delivered; `[until, below)` is what remains.
    pub below: Timestamp,
    /// The window's end, where the next window starts once the rest is read.
    pub then: Timestamp,
    /// The ids delivered at the instant just before `below`: dropped should they come again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
}

impl TypedCursor for WindowCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str =
        r#"{"until": "<RFC 3339 instant>", "partial": {"below": …, "then": …, "seen": […]}, "v": 1}"#;
}

/// One window of a run: what to request, where the checkpoint goes once it is read, and the ids a
/// partial cursor had delivered at its boundary.
#[derive(Debug, Clone)]
struct Planned {
    window: Window,
    commit: Timestamp,
    boundary: Option<(Timestamp, Vec<String>)>,
}

/// The exact cursors of a window read newest first: the instant delivered down to, and the ids
/// delivered at it (shared with the cursors already handed out, which read their own prefix).
struct Inside {
    window: Window,
    commit: Timestamp,
    resolution: SignedDuration,
    boundary: Option<Timestamp>,
    ids: Arc<Mutex<Vec<String>>>,
    exact: bool,
}

impl Inside {
    fn new(planned: &Planned, resolution: SignedDuration) -> Self {
        let (boundary, ids) = match &planned.boundary {
            Some((at, seen)) => (Some(*at), seen.clone()),
            None => (None, Vec::new()),
        };
        Self {
            window: planned.window,
            commit: planned.commit,
            resolution,
            boundary,
            ids: Arc::new(Mutex::new(ids)),
            exact: true,
        }
    }

    /// The cursor right after the event keyed `key`, while the window is served newest first.
    fn after(&mut self, key: Option<Keyed<'_>>) -> Option<RecordCursor> {
        let key = key.filter(|_| self.exact);
        let Some(Keyed { id, at }) = key else {
            self.exact = false;
            return None;
        };
        let in_window = self.window.start <= at && at < self.window.end;
        match self.boundary {
            _ if !in_window => self.exact = false,
            Some(boundary) if at > boundary => self.exact = false,
            Some(boundary) if at == boundary => {}
            _ => {
                self.boundary = Some(at);
                self.ids = Arc::new(Mutex::new(Vec::new()));
            }
        }
        if !self.exact {
            tracing::debug!(id, at = %at, window_start = %self.window.start, window_end = %self.window.end,
                "an event out of newest-first order: the rest of this window commits only at its end");
            return None;
        }
        let seen = self.ids.clone();
        let count = {
            let mut ids = seen.lock().unwrap_or_else(PoisonError::into_inner);
            ids.push(id.to_owned());
            ids.len()
        };
        let (until, then, below) = (self.window.start, self.commit, at + self.resolution);
        Some(RecordCursor::deferred(move || {
            let seen = seen.lock().unwrap_or_else(PoisonError::into_inner)[..count].to_vec();
            cursor::store(&WindowCursor { until, partial: Some(Partial { below, then, seen }) })
        }))
    }
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

    /// The client the stream sends with.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The windows a run starting now would read first, oldest first (for inspection and tests).
    pub fn windows_from(&self, cursor: Option<&WindowCursor>, now: Timestamp) -> impl Iterator<Item = Window> {
        self.plan(cursor, now).map(|planned| planned.window)
    }

    fn plan(&self, cursor: Option<&WindowCursor>, now: Timestamp) -> impl Iterator<Item = Planned> + use<A> {
        let resolution = signed(self.plan.resolution).max(SignedDuration::from_nanos(1));
        let align = move |at: Timestamp| floor(at, resolution);
        let stored = move |at: Timestamp| {
            let down = floor(at, resolution);
            if down == at { at } else { down + resolution }
        };
        let step = floor_span(signed(self.plan.step).max(SignedDuration::from_secs(1)), resolution).max(resolution);
        let horizon = align(now - signed(self.plan.settle_lag));
        let (mut first, mut start) = match cursor {
            None => (None, align(now - signed(self.plan.lookback))),
            Some(WindowCursor { until, partial: None }) => (None, stored(*until)),
            Some(WindowCursor { until, partial: Some(Partial { below, then, seen }) }) => {
                let (until, below, then) = (stored(*until), stored(*below), stored(*then));
                let window = Window { start: until, end: below.min(then) };
                let boundary = (!seen.is_empty()).then(|| (below - resolution, seen.clone()));
                let first = (window.start < window.end).then_some(Planned { window, commit: then, boundary });
                (first, then.max(until))
            }
        };
        std::iter::from_fn(move || {
            if let Some(first) = first.take() {
                return Some(first);
            }
            if start >= horizon {
                return None;
            }
            let end = (start + step).min(horizon);
            let window = Window { start, end };
            start = end;
            Some(Planned { window, commit: end, boundary: None })
        })
        .take(self.plan.max_windows_per_run.unwrap_or(usize::MAX))
    }

    fn fetch(&self, request: RequestSpec) -> impl Future<Output = Result<Page<A::Event>, StreamError>> + use<A> {
        fetch(self.api.clone(), self.client.clone(), request, Reader { parse: A::parse, error: A::error })
    }

    fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resume: Option<WindowCursor> = cursor.as_ref().map(cursor::load).transpose()?;
            let resolution = signed(self.plan.resolution).max(SignedDuration::from_nanos(1));
            for planned in self.plan(resume.as_ref(), Timestamp::now()) {
                let window = planned.window;
                let mut request = self.api.window_request(window)?;
                self.client.ensure_same_origin(&request.url).map_err(|err| StreamError::fatal(Refused(err.to_string())))?;
                let end_cursor = cursor::store(&WindowCursor::at(planned.commit));
                // Events a partial cursor had delivered at its boundary: dropped if served again.
                let seen: HashSet<String> = planned.boundary.iter().flat_map(|(_, ids)| ids.iter().cloned()).collect();
                let mut inside = Inside::new(&planned, resolution);
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
                    let again = |event: &A::Event| !seen.is_empty() && self.api.key(event).is_some_and(|k| seen.contains(k.id));
                    // The window's last delivered record commits its end; with none (an empty last page,
                    // or only events already delivered on it) a position does.
                    let last_kept = events.iter().rposition(|event| !again(event)).filter(|_| last_page);
                    if last_page && last_kept.is_none() {
                        yield LogRecord::position(end_cursor.clone());
                    }
                    for (index, event) in events.into_iter().enumerate() {
                        if again(&event) {
                            continue;
                        }
                        let exact = inside.after(self.api.key(&event));
                        let mut record = self.api.record(event);
                        record.cursor = if Some(index) == last_kept { Some(end_cursor.clone().into()) } else { exact };
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

/// `at` rounded down to a whole multiple of `resolution` since the epoch.
fn floor(at: Timestamp, resolution: SignedDuration) -> Timestamp {
    let unit = resolution.as_nanos().max(1);
    let nanos = at.as_nanosecond();
    Timestamp::from_nanosecond(nanos - nanos.rem_euclid(unit)).unwrap_or(at)
}

/// `span` rounded down to a whole multiple of `resolution`.
fn floor_span(span: SignedDuration, resolution: SignedDuration) -> SignedDuration {
    let unit = resolution.as_nanos().max(1);
    let nanos = span.as_nanos();
    SignedDuration::try_from_nanos_i128(nanos - nanos.rem_euclid(unit)).unwrap_or(span)
}
