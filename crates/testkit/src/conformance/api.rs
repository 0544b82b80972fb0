//! The suite's API (a feed of events on wiremock, with planted faults) and the [`Harness`] that crawls
//! it with the real crawler.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcrawl_core::{
    BatchLimits, CheckpointStore, Connector, Crawler, Cursor, MemoryCheckpointStore, RunFailure, RunOutcome, Source,
    SourceMeta, StreamKey,
};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{Ask, Event, PageReply, Vendor};
use crate::logs::{CaptureGuard, LogCapture};
use crate::sink::RecordingSink;
use crate::wire::url_as_sent;

/// The source name the harness crawls under.
pub(crate) const SOURCE: &str = "conformance";

/// What a planted fault does to the request it hits.
enum Fault {
    /// Answer this instead of the page.
    Answer(ResponseTemplate),
    /// Serve the page, with continuation links on this origin.
    LinkTo(String),
}

struct Planned {
    /// The position it hits; `None`: any request.
    at: Option<usize>,
    remaining: usize,
    fault: Fault,
}

struct ApiState {
    vendor: Arc<dyn Vendor>,
    origin: String,
    events: Mutex<Vec<Event>>,
    faults: Mutex<Vec<Planned>>,
}

struct Responder(Arc<ApiState>);

impl ApiState {
    /// What `request` asks for, its position counted from the feed's start (for a windowed API, the
    /// events before its window plus the offset inside it), and the events it selects in the API's
    /// order (every event for an API paged by position; the window's, newest first, otherwise).
    fn locate(&self, request: &Request) -> (Ask, Ask, Vec<Event>) {
        let asked = self.vendor.ask(request);
        let events = self.events.lock().expect("feed poisoned");
        match self.vendor.window(request) {
            None => (asked, asked, events.clone()),
            Some((from, to)) => {
                let before = events.iter().filter(|e| e.published_ms() < from).count();
                let inside: Vec<Event> =
                    events.iter().rev().filter(|e| (from..to).contains(&e.published_ms())).cloned().collect();
                (Ask { position: before + asked.position, ..asked }, asked, inside)
            }
        }
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let api = &self.0;
        if !api.vendor.authorized(request) {
            return ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "missing or wrong credential"}));
        }
        if let Some(answer) = api.vendor.content(request) {
            return answer;
        }
        let (at, ask, events) = api.locate(request);
        let mut link_origin = api.origin.clone();
        {
            let mut faults = api.faults.lock().expect("faults poisoned");
            let hit = faults.iter_mut().find(|p| p.remaining > 0 && p.at.is_none_or(|at_| at_ == at.position));
            if let Some(planned) = hit {
                planned.remaining -= 1;
                match &planned.fault {
                    Fault::Answer(answer) => return answer.clone(),
                    Fault::LinkTo(origin) => link_origin = origin.clone(),
                }
            }
        }
        let start = ask.position.min(events.len());
        let end = start.saturating_add(ask.limit).min(events.len());
        api.vendor.page(&PageReply {
            request,
            request_url: url_as_sent(&api.origin, request),
            ask,
            events: &events[start..end],
            next_position: end,
            more: end < events.len(),
            link_origin: &link_origin,
        })
    }
}

/// What one crawler run did, as the API and the sink saw it.
#[derive(Debug)]
pub struct Run {
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The `seq` of every record the sink acknowledged, in order.
    pub delivered: Vec<u64>,
    /// What each request of the run asked for, in the order received (content a page points at,
    /// [`Vendor::content`], aside).
    pub asks: Vec<Ask>,
    /// The run's wall time.
    pub elapsed: Duration,
    /// The run's sink.
    pub sink: Arc<RecordingSink>,
}

impl Run {
    /// The failure that ended the run, if any.
    pub fn failure(&self) -> Option<&RunFailure> {
        match &self.outcome {
            RunOutcome::Failed(failure) => Some(failure),
            _ => None,
        }
    }

    /// The positions the run's requests asked for.
    pub fn positions(&self) -> Vec<usize> {
        self.asks.iter().map(|a| a.position).collect()
    }

    /// Panics unless the run caught up.
    pub fn assert_caught_up(&self) {
        assert_eq!(self.outcome, RunOutcome::CaughtUp, "the run should have caught up: {:?}", self.outcome);
    }

    /// The failure, panicking when the run did not fail.
    pub fn expect_failure(&self) -> &RunFailure {
        self.failure().unwrap_or_else(|| panic!("the run should have failed, it ended {:?}", self.outcome))
    }
}

/// A wiremock API serving a feed for a [`Vendor`], an in-memory checkpoint store, and a log capture
/// installed for the harness's life. Every run builds a fresh connector (as a restart would) and checks
/// that each request reached the API with the credential.
#[derive(Debug)]
pub struct Harness {
    vendor: Arc<dyn Vendor>,
    server: MockServer,
    api: Arc<ApiState>,
    store: Arc<MemoryCheckpointStore>,
    key: StreamKey,
    page_size: usize,
    batch_size: usize,
    messages: Mutex<Vec<String>>,
    /// When the last run started (epoch ms), for spacing the runs of a windowed API.
    last_run_ms: Mutex<Option<i64>>,
    logs: CaptureGuard,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for dyn Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vendor")
    }
}

impl Harness {
    /// An API of `events` events crawled `page_size` at a time (batches of `page_size` records).
    pub async fn start(vendor: Arc<dyn Vendor>, events: u64, page_size: usize) -> Self {
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread,
            "the conformance suite captures logs per thread: run it on a current-thread runtime (#[tokio::test])"
        );
        let logs = LogCapture::start();
        let server = MockServer::start().await;
        let api = Arc::new(ApiState {
            vendor: vendor.clone(),
            origin: server.uri(),
            events: Mutex::new((1..=events).map(Event::new).collect()),
            faults: Mutex::default(),
        });
        // Any method: most APIs page with `GET`, some (1Password) `POST` a body cursor.
        Mock::given(any()).respond_with(Responder(api.clone())).mount(&server).await;
        let streams = vendor.connector(&server.uri(), page_size).streams();
        assert_eq!(streams.len(), 1, "the suite crawls a connector of exactly one stream");
        let key = StreamKey::new(SOURCE, streams[0].name());
        Self {
            vendor,
            server,
            api,
            store: Arc::new(MemoryCheckpointStore::new()),
            key,
            page_size,
            batch_size: page_size,
            messages: Mutex::default(),
            last_run_ms: Mutex::default(),
            logs,
        }
    }

    /// Cuts batches of `n` records instead of a page's worth.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The vendor.
    pub fn vendor(&self) -> &dyn Vendor {
        self.vendor.as_ref()
    }

    /// The API's origin, `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A new connector for the API.
    pub fn connector(&self) -> Arc<dyn Connector> {
        self.vendor.connector(&self.server.uri(), self.page_size)
    }

    /// The checkpoint key of the crawled stream.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The checkpoint store.
    pub fn store(&self) -> &MemoryCheckpointStore {
        &self.store
    }

    /// The committed cursor of the stream.
    pub fn committed(&self) -> Option<Cursor> {
        self.store.load(&self.key).expect("the memory store cannot fail")
    }

    /// The captured log lines.
    pub fn logs(&self) -> &LogCapture {
        &self.logs
    }

    /// Publishes `n` more events (for a windowed API stamped now, one millisecond apart, as new events
    /// of a live log are).
    pub fn append(&self, n: u64) {
        let mut events = self.api.events.lock().expect("feed poisoned");
        let last = events.len() as u64;
        if self.vendor.windowed().is_some() {
            let newest = events.last().map_or(i64::MIN, |e| e.published_ms() + 1);
            let start = jiff::Timestamp::now().as_millisecond().max(newest);
            events.extend((last + 1..=last + n).zip(start..).map(|(seq, at)| Event::at(seq, at)));
        } else {
            events.extend((last + 1..=last + n).map(Event::new));
        }
    }

    /// `seqs` in the order the API serves them when they lie in one window: as they are for an API paged
    /// by position, newest first for a windowed one.
    pub fn in_order(&self, mut seqs: Vec<u64>) -> Vec<u64> {
        if self.vendor.windowed().is_some() {
            seqs.reverse();
        }
        seqs
    }

    /// For a windowed API, waits until a run reaches every event and has a window the previous run did
    /// not read: `windowed()` after the newest event and after the previous run's start.
    async fn settle(&self) {
        let Some(delay) = self.vendor.windowed() else { return };
        let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let newest = self.api.events.lock().expect("feed poisoned").last().map_or(i64::MIN, Event::published_ms);
        let previous = self.last_run_ms.lock().expect("runs poisoned").unwrap_or(i64::MIN);
        let ready = newest.max(previous).saturating_add(delay).saturating_add(20);
        let wait = ready.saturating_sub(jiff::Timestamp::now().as_millisecond());
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Answers `answer` to the next `times` requests asking for `position` (`None`: any request).
    pub fn fail_at(&self, position: Option<usize>, times: usize, answer: ResponseTemplate) {
        self.plant(Planned { at: position, remaining: times, fault: Fault::Answer(answer) });
    }

    /// Serves the page at `position` (once) with its continuation links on `origin`.
    pub fn link_elsewhere_at(&self, position: usize, origin: &str) {
        self.plant(Planned { at: Some(position), remaining: 1, fault: Fault::LinkTo(origin.to_owned()) });
    }

    fn plant(&self, planned: Planned) {
        self.api.faults.lock().expect("faults poisoned").push(planned);
    }

    /// Removes every planted fault.
    pub fn clear_faults(&self) {
        self.api.faults.lock().expect("faults poisoned").clear();
    }

    /// Every request the API received.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.expect("request recording is on")
    }

    /// One crawler run into a [`RecordingSink`] requiring `message` and `timestamp`.
    pub async fn run(&self) -> Run {
        self.run_with(RecordingSink::new().requiring_message_and_timestamp()).await
    }

    /// One crawler run into `sink`.
    pub async fn run_with(&self, sink: RecordingSink) -> Run {
        self.settle().await;
        *self.last_run_ms.lock().expect("runs poisoned") = Some(jiff::Timestamp::now().as_millisecond());
        let before = self.requests().await.len();
        let connector = self.connector();
        let sink = Arc::new(sink);
        let mut crawler = Crawler::new(self.store.clone());
        crawler.add_source(Source {
            meta: Arc::new(SourceMeta {
                name: SOURCE.into(),
                connector: connector.kind().into(),
                ddsource: connector.kind().into(),
                service: connector.kind().into(),
                ..SourceMeta::default()
            }),
            connector,
            sink: sink.clone(),
            interval: Duration::from_secs(60),
            batch: Some(BatchLimits { max_records: self.batch_size, linger: Duration::from_millis(20) }),
            emit_errors: false,
        });
        let started = Instant::now();
        let report = crawler.run_once().await;
        let elapsed = started.elapsed();
        let mut runs = report.runs.into_iter();
        let run = runs.next().expect("one stream ran");
        assert!(runs.next().is_none(), "one stream ran");
        if let RunOutcome::Failed(failure) = &run.outcome {
            self.messages.lock().expect("messages poisoned").push(failure.message.clone());
        }
        let requests = self.requests().await;
        for (i, request) in requests.iter().enumerate().skip(before) {
            assert!(self.vendor.authorized(request), "request {i} ({}) lacks the credential", request.url);
        }
        let delivered = sink
            .delivered_field(self.vendor.id_field())
            .iter()
            .map(|id| Event::seq_of(id).unwrap_or_else(|| panic!("a delivered record's id {id:?} is not an event id")))
            .collect();
        let asks = requests[before..]
            .iter()
            .filter(|r| self.vendor.content(r).is_none())
            .map(|r| self.api.locate(r).0)
            .collect();
        Run { outcome: run.outcome, delivered, asks, elapsed, sink }
    }

    /// Keeps `text` (an error message) to check for secrets in [`finish`](Self::finish).
    pub fn note_message(&self, text: String) {
        self.messages.lock().expect("messages poisoned").push(text);
    }

    /// Ends the case: no failure message and no captured log line may contain the secret.
    pub fn finish(self) {
        let secret = self.vendor.secret().to_owned();
        assert!(!secret.is_empty(), "the vendor's secret must not be empty");
        for message in self.messages.lock().expect("messages poisoned").iter() {
            assert!(!message.contains(&secret), "an error message contains the secret: {message}");
        }
        self.logs.assert_absent(&secret);
    }
}

/// The `seq`s `from..=to`.
pub(crate) fn seqs(from: u64, to: u64) -> Vec<u64> {
    (from..=to).collect()
}
