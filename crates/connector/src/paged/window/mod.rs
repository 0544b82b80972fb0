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
//!
//! ## Overlap: events indexed late
//!
//! `settle_lag` waits for the events a vendor indexes a little late; one indexed later still, after its
//! window was read, would be missed. With an [`WindowPlan::overlap`], each window is read from that long
//! before its start, and the window's end cursor lists the ids delivered in the overlap before its end
//! ([`Overlap`], at most [`WindowPlan::max_overlap_ids`] of the newest): the next window re-reads that
//! stretch, drops what is listed, and delivers what is not — the events indexed late, once. An event
//! indexed later than `settle_lag + overlap` after it happened is still missed (the limit). The ids need
//! the connector's [`WindowedApi::key`]; an event without a key is delivered whenever it is read. A cursor
//! without an overlap (a first run, a cursor written by hand) re-reads nothing, and, so that the re-read
//! costs at most as much as the read, a run starts a new window only once `overlap` (or `step`, if
//! shorter) has settled since the last one: events reach the sink up to `settle_lag + overlap` after they
//! happened.

mod cursor;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use logcrawl_core::{Cursor, LogRecord, LogStream, RecordStream, StreamError};
use logcrawl_http::{HttpClient, HttpError, RequestSpec, Response, redact_url};

use super::Prefetch;
use super::run::{Reader, continuation, fetch};
use super::{Page, Refused};

use self::cursor::{Inside, Recent, already_delivered, window_end};
pub use self::cursor::{Overlap, Partial, WindowCursor};

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
    /// parameters is the connector's: an inclusive `latest` in whole seconds is `end − 1 s`). With an
    /// [overlap](WindowPlan::overlap) the window asked for starts before the one committed.
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
    /// How long before its start each window is read again, for the events indexed after their window
    /// was read (see the module documentation); zero (the default): windows are read once.
    pub overlap: Duration,
    /// The most ids a cursor lists for its overlap: past it, the newest whole instants are kept and the
    /// overlap shrinks to them.
    pub max_overlap_ids: usize,
}

/// The ids a cursor lists for its overlap by default ([`WindowPlan::max_overlap_ids`]).
pub const DEFAULT_MAX_OVERLAP_IDS: usize = 5_000;

impl WindowPlan {
    /// Windows of `step`, `settle_lag` behind now, the first run `lookback` back; no cap on windows per
    /// run, at most 10 000 pages a window, nanosecond resolution, no overlap.
    pub fn new(step: Duration, settle_lag: Duration, lookback: Duration) -> Self {
        Self {
            step,
            settle_lag,
            lookback,
            max_windows_per_run: None,
            max_pages_per_window: 10_000,
            resolution: Duration::from_nanos(1),
            overlap: Duration::ZERO,
            max_overlap_ids: DEFAULT_MAX_OVERLAP_IDS,
        }
    }

    /// The same plan with windows aligned on `resolution`.
    #[must_use]
    pub fn with_resolution(mut self, resolution: Duration) -> Self {
        self.resolution = resolution;
        self
    }

    /// The same plan re-reading `overlap` before each window's start.
    #[must_use]
    pub fn with_overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }
}

/// One window of a run: what to request, where the checkpoint goes once it is read, the ids a partial
/// cursor had delivered at its boundary, and the overlap before its end that partial cursor had built.
#[derive(Debug, Clone)]
struct Planned {
    window: Window,
    commit: Timestamp,
    boundary: Option<(Timestamp, Vec<String>)>,
    building: Option<Overlap>,
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

    /// How the stream cuts time (for inspection and tests).
    pub fn window_plan(&self) -> &WindowPlan {
        &self.plan
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
        // With an overlap, a window shorter than it (or than `step`) waits: its re-read would cost more
        // than reading it.
        let shortest = floor_span(signed(self.plan.overlap), resolution).min(step);
        let horizon = align(now - signed(self.plan.settle_lag));
        let (mut first, mut start) = match cursor {
            None => (None, align(now - signed(self.plan.lookback))),
            Some(WindowCursor { until, partial: None, .. }) => (None, stored(*until)),
            Some(WindowCursor { until, partial: Some(Partial { below, then, seen, overlap }), .. }) => {
                let (until, below, then) = (stored(*until), stored(*below), stored(*then));
                let window = Window { start: until, end: below.min(then) };
                let boundary = (!seen.is_empty()).then(|| (below - resolution, seen.clone()));
                let building = overlap.clone();
                let first = (window.start < window.end).then_some(Planned { window, commit: then, boundary, building });
                (first, then.max(until))
            }
        };
        std::iter::from_fn(move || {
            if let Some(first) = first.take() {
                return Some(first);
            }
            if start >= horizon || horizon.duration_since(start) < shortest {
                return None;
            }
            let end = (start + step).min(horizon);
            let window = Window { start, end };
            start = end;
            Some(Planned { window, commit: end, boundary: None, building: None })
        })
        .take(self.plan.max_windows_per_run.unwrap_or(usize::MAX))
    }

    fn fetch(&self, request: RequestSpec) -> impl Future<Output = Result<Page<A::Event>, StreamError>> + use<A> {
        fetch(self.api.clone(), self.client.clone(), request, Reader { parse: A::parse, error: A::error })
    }

    /// What a window's read starts with: the window as requested (re-reading the overlap the previous
    /// window's end listed, no further back than the plan's overlap), and the overlap being built for its
    /// end (when the plan has one).
    fn reading(&self, planned: &Planned, previous: Option<&Overlap>) -> (Window, Option<Recent>) {
        let (window, overlap) = (planned.window, signed(self.plan.overlap));
        let read = match previous {
            Some(previous) => Window { start: previous.from.max(window.start - overlap).min(window.start), ..window },
            None => window,
        };
        let recent = (!overlap.is_zero()).then(|| {
            let from = (planned.commit - overlap).max(read.start);
            let (from, carried) = match &planned.building {
                Some(building) => (from.max(building.from), building.ids.clone()),
                None => (from, Vec::new()),
            };
            let resolution = signed(self.plan.resolution).max(SignedDuration::from_nanos(1));
            Recent::new(from, planned.commit, carried, self.plan.max_overlap_ids, resolution)
        });
        (read, recent)
    }

    fn run(&self, cursor: Option<Cursor>) -> RecordStream<'_> {
        async_stream::try_stream! {
            let resume: Option<WindowCursor> = cursor.as_ref().map(crate::cursor::load).transpose()?;
            let resolution = signed(self.plan.resolution).max(SignedDuration::from_nanos(1));
            // The overlap before the next window's start: the stored cursor's, then each window's end's.
            let mut previous = resume.as_ref().and_then(|c| c.overlap.clone()).filter(|_| !self.plan.overlap.is_zero());
            for planned in self.plan(resume.as_ref(), Timestamp::now()) {
                let window = planned.window;
                let (read, recent) = self.reading(&planned, previous.as_ref());
                let mut request = self.api.window_request(read)?;
                self.client.ensure_same_origin(&request.url).map_err(|err| StreamError::fatal(Refused(err.to_string())))?;
                let end_cursor = window_end(planned.commit, recent.clone());
                // Events delivered before: listed by the previous overlap, or by a partial cursor at its
                // boundary. Dropped if served again.
                let boundary = planned.boundary.as_ref().map_or(&[][..], |(_, ids)| ids.as_slice());
                let delivered = already_delivered(previous.as_ref(), boundary);
                let mut inside =
                    Inside::new(window, planned.commit, planned.boundary.clone(), resolution, previous.take(), recent.clone());
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
                    let again =
                        |event: &A::Event| !delivered.is_empty() && self.api.key(event).is_some_and(|k| delivered.contains(k.id));
                    // Every event of the page goes into the overlap being built before any is yielded:
                    // the window's end cursor lists them all, dropped ones included.
                    let met: Vec<usize> = match &recent {
                        None => Vec::new(),
                        Some(recent) => events.iter().map(|e| self.api.key(e).map_or_else(|| recent.len(), |k| recent.meet(k))).collect(),
                    };
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
                        let exact = inside.after(self.api.key(&event), met.get(index).copied().unwrap_or(0));
                        let mut record = self.api.record(event);
                        record.cursor = if Some(index) == last_kept { Some(end_cursor.clone()) } else { exact };
                        yield record;
                    }
                    match follow {
                        Some(next) => request = next,
                        None => break,
                    }
                }
                previous = recent.map(|recent| recent.overlap(recent.len()));
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
