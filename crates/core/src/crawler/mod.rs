//! The crawler runtime: schedules streams, batches their records, and commits cursors only after the
//! sink acknowledged every record up to them.
//!
//! One run of one stream is a small pipeline:
//!
//! ```text
//! load cursor ─▶ records(cursor) ─▶ skip too old/new ─▶ batch (count, linger) ─▶ sink.send ─▶ in-order ack ─▶ commit
//! ```
//!
//! Up to [`Sink::max_in_flight`] batches of a stream are in flight at once while the next batch is being
//! fetched and filled (fetching pauses only when that one is full too); of those, at most
//! [`MAX_BATCHES_HOLDING_RECORDS`] may still hold their records, so memory is bounded by what the sink has
//! not encoded yet (see [`RecordsHold`]). Acknowledgements are consumed strictly in stream order, and a
//! batch's cursor (the last non-`None` cursor among the records it consumed, skipped ones included) is
//! committed only when that batch and every batch before it were acknowledged. A failed page ends the run
//! after the records before it were delivered; a failed send ends the run and drops later batches
//! unacknowledged, so the next run re-sends from the last commit: at-least-once, never a cursor past an
//! undelivered record.
//!
//! This file holds the public types, the [`Crawler`] and the per-stream schedule (`StreamTask`). One run
//! lives in `pipeline.rs`: `Pipeline` is its state (the batch being filled and its cursor, the linger
//! deadline, the acknowledgements in flight, whether it still fetches, how the run will end), and
//! `Pipeline::run` is a short event loop over it with one small method per event (`cut_batch`,
//! `on_ack`, `on_record`, `on_page_error`).
//!
//! [`MAX_BATCHES_HOLDING_RECORDS`]: crate::sink::MAX_BATCHES_HOLDING_RECORDS
//! [`RecordsHold`]: crate::sink::RecordsHold

mod pipeline;

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::pipeline::Pipeline;
use crate::checkpoint::{CheckpointStore, StreamKey};
use crate::labels::{self, StreamLabels};
use crate::lease::{LeaseGate, RunPermit};
use crate::record::{Cursor, Fields, LogRecord, now_seconds};
use crate::sink::{Batch, BatchLimits, Sink, SourceMeta};
use crate::stats::{CrawlStats, StreamStats};
use crate::stream::{Connector, LogStream};

/// The Agent's default check interval, and ours.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// One configured source: a connector instance, the sink its records go to, and how often it runs.
#[derive(Clone)]
pub struct Source {
    /// Name, tags, `ddsource` and `service`.
    pub meta: Arc<SourceMeta>,
    /// The connector instance.
    pub connector: Arc<dyn Connector>,
    /// Where its records go.
    pub sink: Arc<dyn Sink>,
    /// Time between the starts of two runs of a stream.
    pub interval: Duration,
    /// Batching, when it should differ from the sink's preference.
    pub batch: Option<BatchLimits>,
    /// Whether a failed run also sends a `status:error` record describing it (seed: "Error logging").
    pub emit_errors: bool,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("meta", &self.meta)
            .field("sink", &self.sink.name())
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Which step of a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureStage {
    /// Loading the cursor, or resuming from it (the connector found it unusable).
    LoadCheckpoint,
    /// Fetching records from the vendor API.
    Fetch,
    /// Delivering a batch.
    Send,
    /// Committing a cursor.
    Commit,
    /// The stream's lease was lost or handed over (several workers on one store): it stopped at once.
    Lease,
}

impl FailureStage {
    /// Every stage, in the order of a run.
    pub const ALL: [FailureStage; 5] = [Self::LoadCheckpoint, Self::Fetch, Self::Send, Self::Commit, Self::Lease];

    /// Its name as a metric label: `load_checkpoint`, `fetch`, `send`, `commit` or `lease`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoadCheckpoint => "load_checkpoint",
            Self::Fetch => "fetch",
            Self::Send => "send",
            Self::Commit => "commit",
            Self::Lease => "lease",
        }
    }
}

/// Why a run ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// Where it failed.
    pub stage: FailureStage,
    /// Whether the source must stop (credentials rejected) rather than try again next interval.
    pub fatal: bool,
    /// What happened, with secrets already redacted by the component that failed.
    pub message: String,
}

/// How a run of a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The stream ended: caught up with the vendor.
    CaughtUp,
    /// Shutdown was requested; the in-flight batch was delivered and committed.
    Interrupted,
    /// An error ended the run; acknowledged progress stays committed.
    Failed(RunFailure),
}

/// What one run of one stream did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRunReport {
    /// Which stream.
    pub key: StreamKey,
    /// Records acknowledged as accepted.
    pub delivered: u64,
    /// Records the sink dropped by rule.
    pub dropped: u64,
    /// Records the backend refused alone that the sink set aside in its dead-letter file.
    pub dead_lettered: u64,
    /// Records skipped for age.
    pub skipped: u64,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// What every run of one stream did, summed: a fixed size however many runs a daemon makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTotals {
    /// Runs made.
    pub runs: u64,
    /// Runs that failed.
    pub failed_runs: u64,
    /// Records acknowledged as accepted.
    pub delivered: u64,
    /// Records the sink dropped by rule.
    pub dropped: u64,
    /// Records set aside in a dead-letter file.
    pub dead_lettered: u64,
    /// Records skipped for age.
    pub skipped: u64,
}

impl StreamTotals {
    fn add(&mut self, run: &StreamRunReport) {
        self.runs += 1;
        self.failed_runs += u64::from(matches!(run.outcome, RunOutcome::Failed(_)));
        self.delivered += run.delivered;
        self.dropped += run.dropped;
        self.dead_lettered += run.dead_lettered;
        self.skipped += run.skipped;
    }
}

/// The outcome of a crawl: per stream, its last run and the totals of all its runs.
///
/// A daemon makes a run per stream per interval (5 760 a day at 15 s); keeping each of them would grow
/// without bound, so only the last one is kept, beside the counters.
#[derive(Debug, Clone, Default)]
pub struct CrawlReport {
    /// The last run of each stream, in the order the streams finished.
    pub runs: Vec<StreamRunReport>,
    /// The totals of each stream's runs, in the same order as `runs`.
    pub totals: Vec<StreamTotals>,
}

impl CrawlReport {
    fn push(&mut self, last: StreamRunReport, totals: StreamTotals) {
        self.runs.push(last);
        self.totals.push(totals);
    }

    /// Records delivered across all runs.
    pub fn delivered(&self) -> u64 {
        self.totals.iter().map(|t| t.delivered).sum()
    }

    /// The streams whose last run failed, with its failure.
    pub fn failures(&self) -> impl Iterator<Item = (&StreamKey, &RunFailure)> {
        self.runs.iter().filter_map(|r| match &r.outcome {
            RunOutcome::Failed(failure) => Some((&r.key, failure)),
            _ => None,
        })
    }
}

/// Runs sources: once each (`--once`, `check`) or on their schedule until shutdown.
#[derive(Debug)]
pub struct Crawler {
    sources: Vec<Source>,
    store: Arc<dyn CheckpointStore>,
    shutdown: CancellationToken,
    stats: Arc<CrawlStats>,
    gate: Option<Arc<dyn LeaseGate>>,
}

/// How often a stream this worker does not hold asks its [`LeaseGate`] again (at most: a stream with a
/// shorter interval asks at its interval).
pub const LEASE_POLL: Duration = Duration::from_millis(500);

impl Crawler {
    /// A crawler committing to `store`.
    pub fn new(store: Arc<dyn CheckpointStore>) -> Self {
        Self { sources: Vec::new(), store, shutdown: CancellationToken::new(), stats: Arc::default(), gate: None }
    }

    /// The same crawler running only the streams `gate` grants, and sending a batch only while it allows
    /// (see [`crate::lease`]): how several workers share one store without crawling a stream twice.
    #[must_use]
    pub fn with_gate(mut self, gate: Arc<dyn LeaseGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The same crawler counting into `stats`: several crawlers (one per source, as `logcrawl run` keeps
    /// them so a reload can stop one without touching the others) can share one set of counters.
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<CrawlStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Adds a source.
    pub fn add_source(&mut self, source: Source) -> &mut Self {
        self.sources.push(source);
        self
    }

    /// Cancel this token to stop: fetching stops, in-flight batches are delivered and committed.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<CrawlStats> {
        self.stats.clone()
    }

    fn stream_tasks(&self) -> Vec<StreamTask> {
        self.sources
            .iter()
            .flat_map(|source| {
                source.connector.streams().into_iter().map(move |stream| {
                    let key = StreamKey::new(source.meta.name.clone(), stream.name());
                    let stream_stats = self.stats.stream(&key);
                    stream_stats.restarted();
                    StreamTask {
                        key,
                        stream,
                        source: source.clone(),
                        store: self.store.clone(),
                        shutdown: self.shutdown.clone(),
                        stats: self.stats.clone(),
                        stream_stats,
                        gate: self.gate.clone(),
                    }
                })
            })
            .collect()
    }

    /// Runs every stream of every source once, concurrently, until each caught up, failed or was stopped.
    /// With a [`LeaseGate`], only the streams it grants now run (the others are not in the report).
    pub async fn run_once(&self) -> CrawlReport {
        let mut set = JoinSet::new();
        for task in self.stream_tasks() {
            let permit = match &task.gate {
                Some(gate) => match gate.try_run(&task.key) {
                    Some(permit) => Some(permit),
                    None => continue,
                },
                None => None,
            };
            let (span, labels) = (task.span(), task.labels());
            let run = async move {
                let run = task.run().await;
                drop(permit);
                let mut totals = StreamTotals::default();
                totals.add(&run);
                (run, totals)
            };
            set.spawn(labels::scope(labels, run).instrument(span));
        }
        collect(set).await
    }

    /// Runs every stream on its source's interval until shutdown. A run never overlaps the previous run
    /// of the same stream; a slow or failing stream never delays another. A stream whose run failed
    /// fatally stops. Returns each stream's last run and totals; memory does not grow with the runs.
    pub async fn run_forever(&self) -> CrawlReport {
        let mut set = JoinSet::new();
        let started = Instant::now();
        for task in self.stream_tasks() {
            let (span, labels) = (task.span(), task.labels());
            set.spawn(labels::scope(labels, task.run_scheduled(started)).instrument(span));
        }
        collect(set).await
    }
}

async fn collect(mut set: JoinSet<(StreamRunReport, StreamTotals)>) -> CrawlReport {
    let mut report = CrawlReport::default();
    while let Some(joined) = set.join_next().await {
        let (last, totals) = joined.expect("stream task panicked");
        report.push(last, totals);
    }
    report
}

/// One stream of one source: its schedule, its runs, and its checkpoint.
struct StreamTask {
    key: StreamKey,
    stream: Arc<dyn LogStream>,
    source: Source,
    store: Arc<dyn CheckpointStore>,
    shutdown: CancellationToken,
    stats: Arc<CrawlStats>,
    /// This stream's own counters and health.
    stream_stats: Arc<StreamStats>,
    /// Whether this worker may run the stream now, when several share the store.
    gate: Option<Arc<dyn LeaseGate>>,
}

impl StreamTask {
    /// The labels its metrics carry, also in tasks spawned on its behalf.
    fn labels(&self) -> StreamLabels {
        StreamLabels { source: Arc::from(self.key.source.as_str()), stream: Arc::from(self.key.stream.as_str()) }
    }

    /// The span every log line of this stream's runs is in: what names the source and the stream on
    /// each (the connector's, the HTTP client's, the sink's).
    fn span(&self) -> tracing::Span {
        tracing::info_span!("stream", source = %self.key.source, stream = %self.key.stream)
    }

    /// Waits until the gate grants a run (at once without a gate); `Err` when shutdown came first.
    async fn permit(&self) -> Result<Option<RunPermit>, ()> {
        let Some(gate) = &self.gate else { return Ok(None) };
        let poll = self.source.interval.min(LEASE_POLL);
        loop {
            if let Some(permit) = gate.try_run(&self.key) {
                return Ok(Some(permit));
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.shutdown.cancelled() => return Err(()),
            }
        }
    }

    /// Whether a batch may be sent now (always without a gate).
    fn may_send(&self) -> bool {
        self.gate.as_ref().is_none_or(|gate| gate.may_send(&self.key))
    }

    async fn run_scheduled(self, crawl_started: Instant) -> (StreamRunReport, StreamTotals) {
        let mut totals = StreamTotals::default();
        let mut scheduled: Option<Instant> = None;
        let mut last = None;
        loop {
            let Ok(permit) = self.permit().await else {
                let none = || self.empty_report(RunOutcome::Interrupted);
                return (last.unwrap_or_else(none), totals);
            };
            let started = Instant::now();
            // A stream under a gate waits for its lease, which is no lateness of the schedule.
            if self.gate.is_none() {
                match scheduled {
                    Some(at) => self.stats.lateness.record(started.saturating_duration_since(at)),
                    None => self.stats.first_run_delay.record(started.saturating_duration_since(crawl_started)),
                }
            }
            scheduled = Some(started + self.source.interval);
            let run = self.run().await;
            drop(permit);
            let stop = match &run.outcome {
                RunOutcome::Failed(failure) if failure.fatal => {
                    tracing::error!(stream = %self.key, error = %failure.message, "stopping stream after a fatal error");
                    true
                }
                RunOutcome::Interrupted => true,
                _ => false,
            };
            totals.add(&run);
            if stop {
                return (run, totals);
            }
            tokio::select! {
                () = tokio::time::sleep_until(scheduled.expect("set above")) => {}
                () = self.shutdown.cancelled() => return (run, totals),
            }
            last = Some(run);
        }
    }

    fn empty_report(&self, outcome: RunOutcome) -> StreamRunReport {
        StreamRunReport { key: self.key.clone(), delivered: 0, dropped: 0, dead_lettered: 0, skipped: 0, outcome }
    }

    async fn run(&self) -> StreamRunReport {
        CrawlStats::add(&self.stats.runs, 1);
        self.stream_stats.run_started();
        let started = Instant::now();
        let mut report = self.empty_report(RunOutcome::CaughtUp);
        let outcome = self.pipeline(&mut report).await;
        if let RunOutcome::Failed(failure) = &outcome {
            CrawlStats::add(&self.stats.failed_runs, 1);
            tracing::warn!(stream = %self.key, stage = ?failure.stage, fatal = failure.fatal, error = %failure.message, "run failed");
            if self.source.emit_errors && matches!(failure.stage, FailureStage::Fetch | FailureStage::LoadCheckpoint) {
                self.emit_error_record(failure).await;
            }
        }
        self.stream_stats.run_ended(&outcome);
        metrics::histogram!(crate::metric::RUN_DURATION, &crate::metric::stream_labels())
            .record(started.elapsed().as_secs_f64());
        report.outcome = outcome;
        report
    }

    /// Loads the stream's cursor and runs the pipeline from it.
    async fn pipeline(&self, report: &mut StreamRunReport) -> RunOutcome {
        let cursor = match self.call_store(|store, key| store.load(key)).await {
            Ok(cursor) => cursor,
            // A corrupt checkpoint does not heal: the stream stops until it is repaired (`logcrawl state
            // reset/set`), as for a cursor the connector cannot resume from. An I/O error may pass.
            Err(failure) => return failed(FailureStage::LoadCheckpoint, failure.corrupt, failure.message),
        };
        Pipeline::new(self, report, cursor).run().await
    }

    async fn commit(&self, cursor: Cursor) -> Result<(), RunFailure> {
        self.call_store(move |store, key| store.commit(key, &cursor)).await.map_err(|failure| RunFailure {
            stage: if failure.lease_lost { FailureStage::Lease } else { FailureStage::Commit },
            fatal: false,
            message: failure.message,
        })?;
        CrawlStats::add(&self.stats.commits, 1);
        self.stream_stats.committed();
        Ok(())
    }

    /// Calls the store: on the blocking pool when its calls can block (they may `fsync`), which must stay
    /// off the async workers; in place when they cannot ([`CheckpointStore::blocks`]).
    async fn call_store<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn CheckpointStore, &StreamKey) -> Result<T, crate::checkpoint::CheckpointError> + Send + 'static,
    ) -> Result<T, StoreFailure> {
        let failure = |err: crate::checkpoint::CheckpointError| StoreFailure {
            corrupt: matches!(err, crate::checkpoint::CheckpointError::Corrupt { .. }),
            lease_lost: matches!(err, crate::checkpoint::CheckpointError::LeaseLost { .. }),
            message: err.to_string(),
        };
        if !self.store.blocks() {
            return op(self.store.as_ref(), &self.key).map_err(failure);
        }
        let store = self.store.clone();
        let key = self.key.clone();
        tokio::task::spawn_blocking(move || op(store.as_ref(), &key).map_err(failure)).await.unwrap_or_else(|join| {
            Err(StoreFailure { corrupt: false, lease_lost: false, message: format!("checkpoint task failed: {join}") })
        })
    }

    async fn emit_error_record(&self, failure: &RunFailure) {
        let Value::Object(data) = json!({
            "message": format!("logcrawl: run of stream {:?} of source {:?} failed: {}", self.key.stream, self.key.source, failure.message),
            "status": "error",
            "timestamp": now_seconds(),
            "error": {"kind": format!("{:?}", failure.stage), "fatal": failure.fatal},
            "logcrawl": {"source": self.key.source, "stream": self.key.stream},
        }) else {
            unreachable!("json! of an object literal is an object")
        };
        let batch = Batch::new(
            self.source.meta.clone(),
            Arc::from(self.key.stream.as_str()),
            vec![LogRecord::new(Fields::from(data))],
        );
        if let Err(err) = self.source.sink.send(batch).await {
            tracing::warn!(stream = %self.key, error = %err, "could not deliver the error record");
        }
    }
}

/// A checkpoint store call that failed: what it said, and whether the stored checkpoint is corrupt.
struct StoreFailure {
    corrupt: bool,
    lease_lost: bool,
    message: String,
}

fn failed(stage: FailureStage, fatal: bool, message: String) -> RunOutcome {
    RunOutcome::Failed(RunFailure { stage, fatal, message })
}
