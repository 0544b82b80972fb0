//! One run of one stream: the [`Pipeline`] state and the event loop that drives it.
//!
//! Each turn of [`Pipeline::run`] first does what needs no waiting (cut a batch that is due, or end the
//! run when nothing is left), then waits for the first of five events, in this order of priority, and
//! hands it to its method:
//!
//! 1. a sink let go of a batch's records (a [`RecordsHold`] came free): the next turn may cut a batch;
//! 2. the oldest batch in flight was acknowledged: [`Pipeline::on_ack`] counts it and commits its cursor;
//! 3. shutdown was requested: fetching stops, what was fetched is still delivered and committed;
//! 4. the linger deadline of a partial batch passed: [`Pipeline::cut_batch`];
//! 5. the stream yielded: [`Pipeline::on_record`], [`Pipeline::on_page_error`], or the end of the stream.
//!
//! Where the module's invariants live: acknowledgements come out of `in_flight` (a [`FuturesOrdered`])
//! in the order the batches were cut, and [`Pipeline::on_ack`] commits only after `Ok`, so cursors are
//! committed in stream order and never past an undelivered record. A batch is cut only when there is
//! [`Room`] for it (a slot of [`Sink::max_in_flight`] and a free records hold, see
//! [`MAX_BATCHES_HOLDING_RECORDS`]), and records are fetched only while the batch filling is not full, so
//! memory stays at that many batches of records plus the one filling.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt as _, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{FailureStage, RunFailure, RunOutcome, StreamRunReport, StreamTask};
use crate::record::{Cursor, LogRecord, RecordCursor, now_seconds};
use crate::sink::{Batch, Delivery, MAX_BATCHES_HOLDING_RECORDS, RecordsHold, Sink, SinkError};
use crate::stats::{CrawlStats, StreamStats};
use crate::stream::{RecordStream, StreamError, StreamErrorKind};

/// A batch's acknowledgement: the sink's verdict, the cursor to commit once it is `Ok`, and the newest
/// record time in the batch (seconds since the epoch), for the stream's lag.
type Ack = (Result<Delivery, SinkError>, Option<RecordCursor>, Option<f64>);

/// A batch on its way to the sink.
type AckFuture<'a> = BoxFuture<'a, Ack>;

/// What the sink can take, read once at the start of each turn of the loop.
#[derive(Debug, Clone, Copy)]
struct Room {
    /// Fewer than `max_in_flight` batches are in flight.
    slot: bool,
    /// A slot and a free records hold: a batch may be cut now.
    batch: bool,
}

/// The state of one run of one stream.
pub(super) struct Pipeline<'a> {
    task: &'a StreamTask,
    sink: &'a dyn Sink,
    /// The run's counters, read by the caller whatever the outcome.
    report: &'a mut StreamRunReport,
    records: RecordStream<'a>,
    stream_name: Arc<str>,
    age: AgeWindow,
    max_records: usize,
    linger: Duration,
    max_in_flight: usize,
    /// Batches whose records are still in memory (cut, not yet encoded by the sink): see [`RecordsHold`].
    holding: Arc<Semaphore>,
    /// The batch being filled.
    batch: Vec<LogRecord>,
    /// The last cursor among the records the batch consumed, skipped ones included.
    batch_cursor: Option<RecordCursor>,
    /// When the batch being filled must be sent even if it is not full (set by its first record).
    deadline: Option<Instant>,
    /// The batches sent and not yet acknowledged, oldest first.
    in_flight: FuturesOrdered<AckFuture<'a>>,
    /// Whether records are still read: false once the stream ended or failed, or shutdown was requested.
    fetching: bool,
    /// How the run ends once everything in flight was acknowledged (a failed send ends it sooner).
    outcome: RunOutcome,
}

impl<'a> Pipeline<'a> {
    /// A run of `task`'s stream from `cursor`, counting into `report`.
    pub(super) fn new(task: &'a StreamTask, report: &'a mut StreamRunReport, cursor: Option<Cursor>) -> Self {
        let sink = task.source.sink.as_ref();
        let limits = task.source.batch.unwrap_or_else(|| sink.batch_limits());
        let max_records = limits.max_records.max(1);
        let max_in_flight = sink.max_in_flight().max(1);
        let age = AgeWindow::of(sink);
        let stream_name: Arc<str> = Arc::from(task.key.stream.as_str());
        let records = task.stream.records(cursor);
        Self {
            task,
            sink,
            report,
            records,
            stream_name,
            age,
            max_records,
            linger: limits.linger,
            max_in_flight,
            holding: Arc::new(Semaphore::new(MAX_BATCHES_HOLDING_RECORDS.min(max_in_flight))),
            batch: Vec::with_capacity(max_records),
            batch_cursor: None,
            deadline: None,
            in_flight: FuturesOrdered::new(),
            fetching: true,
            outcome: RunOutcome::CaughtUp,
        }
    }

    /// Runs until the stream ended (or failed, or shutdown stopped it) and every batch was acknowledged
    /// and committed, or until a send or a commit failed.
    pub(super) async fn run(mut self) -> RunOutcome {
        loop {
            let room = self.room();
            if room.batch && self.batch_due() {
                self.cut_batch();
                continue;
            }
            if self.finished() {
                return self.outcome;
            }
            // The next batch fills while up to `max_in_flight` batches are in flight; fetching pauses only
            // when that batch is full too. Of the batches in flight at most `MAX_BATCHES_HOLDING_RECORDS`
            // still hold their records (the others are encoded and wait for the backend), so memory stays
            // at most that many batches of records plus the one filling.
            let may_fetch = self.fetching && self.batch.len() < self.max_records;
            let may_linger = self.fetching && room.batch && self.deadline.is_some();
            tokio::select! {
                biased;
                // A sink let go of a batch's records while its request is still out: room for the next.
                () = hold_freed(&self.holding), if room.slot && !room.batch => {}
                Some(ack) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if let Err(failure) = self.on_ack(ack).await {
                        // Later batches may still be in flight: they are dropped unacknowledged and
                        // re-sent by the next run. Nothing past this point is committed.
                        return RunOutcome::Failed(failure);
                    }
                }
                () = self.task.shutdown.cancelled(), if self.fetching => self.stop_fetching(RunOutcome::Interrupted),
                () = sleep_until_opt(self.deadline), if may_linger => self.cut_batch(),
                item = self.records.next(), if may_fetch => {
                    if self.on_item(item) {
                        self.take_ready_records();
                    }
                }
            }
        }
    }

    /// Handles what the stream yielded: a record, a failed page, or its end (caught up). True for a
    /// record, after which more may be ready.
    fn on_item(&mut self, item: Option<Result<LogRecord, StreamError>>) -> bool {
        match item {
            Some(Ok(record)) => {
                self.on_record(record);
                true
            }
            Some(Err(err)) => {
                self.on_page_error(&err);
                false
            }
            None => {
                self.fetching = false;
                false
            }
        }
    }

    /// Takes the records the stream has ready now (the rest of a page already parsed), until the batch is
    /// full, without another turn of the `select!`: a turn sets up its timer and its futures again, which
    /// cost more than handling the record itself. A record not ready yet, an error or the end of the stream
    /// goes back to the `select!`; acknowledgements and shutdown wait at most one batch of ready records.
    fn take_ready_records(&mut self) {
        while self.batch.len() < self.max_records {
            let Some(item) = self.records.next().now_or_never() else { return };
            if !self.on_item(item) {
                return;
            }
        }
    }

    fn room(&self) -> Room {
        let slot = self.in_flight.len() < self.max_in_flight;
        Room { slot, batch: slot && self.holding.available_permits() > 0 }
    }

    /// Whether the batch being filled (or a cursor of skipped records) has something to send.
    fn pending(&self) -> bool {
        !self.batch.is_empty() || self.batch_cursor.is_some()
    }

    /// Whether the batch must be cut as soon as there is room: it is full, or no more records will come.
    fn batch_due(&self) -> bool {
        self.batch.len() >= self.max_records || (!self.fetching && self.pending())
    }

    /// Nothing left to fetch, to send or to wait for.
    fn finished(&self) -> bool {
        !self.fetching && !self.pending() && self.in_flight.is_empty()
    }

    /// Sends the batch being filled (possibly empty, to carry the cursor of skipped records) and starts
    /// the next one.
    fn cut_batch(&mut self) {
        self.deadline = None;
        if !self.task.may_send() {
            // The lease is gone or being handed over: nothing more is sent. What is in flight is still
            // awaited, and its commit refused by the store's fence if another worker took the stream.
            self.batch.clear();
            self.batch_cursor = None;
            tracing::warn!(stream = %self.task.key, "the stream's lease is lost or being handed over: sending no more of it");
            let message = format!("{}: this worker no longer holds the stream's lease", self.task.key);
            self.stop_fetching(RunOutcome::Failed(RunFailure { stage: FailureStage::Lease, fatal: false, message }));
            return;
        }
        // Once fetching stopped, no record comes to fill the next batch.
        let capacity = if self.fetching { self.max_records } else { 0 };
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(capacity));
        let cursor = self.batch_cursor.take();
        let ack = self.send(records, cursor);
        self.in_flight.push_back(ack);
    }

    fn send(&self, records: Vec<LogRecord>, cursor: Option<RecordCursor>) -> AckFuture<'a> {
        if records.is_empty() {
            return Box::pin(async move { (Ok(Delivery::default()), cursor, None) });
        }
        StreamStats::add(&self.task.stream_stats.fetched, records.len() as u64);
        // Records come mostly oldest first, some APIs newest first: the ends of the batch bound it.
        let newest =
            match (records.first().and_then(LogRecord::timestamp), records.last().and_then(LogRecord::timestamp)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        // `Room` checked that a hold is free, and only this loop takes holds.
        let hold = self.holding.clone().try_acquire_owned().map(RecordsHold::new).unwrap_or_default();
        let batch = Batch { source: self.task.source.meta.clone(), stream: self.stream_name.clone(), records, hold };
        let sink = self.sink;
        Box::pin(async move { (sink.send(batch).await, cursor, newest) })
    }

    /// The oldest batch in flight was answered: count it and commit its cursor, or fail the run.
    async fn on_ack(&mut self, (result, cursor, newest): Ack) -> Result<(), RunFailure> {
        let delivery = result.map_err(|err| RunFailure {
            stage: FailureStage::Send,
            fatal: err.is_fatal(),
            message: format!("sink {}: {err}", self.sink.name()),
        })?;
        self.report.delivered += delivery.accepted as u64;
        self.report.dropped += delivery.dropped as u64;
        self.report.dead_lettered += delivery.dead_lettered as u64;
        let stats = &self.task.stats;
        CrawlStats::add(&stats.delivered, delivery.accepted);
        CrawlStats::add(&stats.dropped, delivery.dropped);
        CrawlStats::add(&stats.dead_lettered, delivery.dead_lettered);
        let stream = &self.task.stream_stats;
        StreamStats::add(&stream.delivered, delivery.accepted as u64);
        StreamStats::add(&stream.dropped, delivery.dropped as u64);
        StreamStats::add(&stream.dead_lettered, delivery.dead_lettered as u64);
        if let Some(newest) = newest.filter(|_| delivery.accepted > 0) {
            stream.saw_event(newest);
        }
        match cursor {
            Some(cursor) => self.task.commit(cursor.into_cursor()).await,
            None => Ok(()),
        }
    }

    /// A record: its cursor moves the batch's, and it joins the batch unless it is a position (nothing to
    /// deliver) or the sink would refuse its age.
    fn on_record(&mut self, mut record: LogRecord) {
        if let Some(cursor) = record.cursor.take() {
            self.batch_cursor = Some(cursor);
        }
        if record.is_position() {
            return;
        }
        if self.age.admits(&record) {
            self.batch.push(record);
            if self.batch.len() == 1 {
                self.deadline = Some(Instant::now() + self.linger);
            }
        } else {
            self.report.skipped += 1;
            CrawlStats::add(&self.task.stats.skipped, 1);
            StreamStats::add(&self.task.stream_stats.fetched, 1);
            StreamStats::add(&self.task.stream_stats.skipped, 1);
        }
    }

    /// A page failed: fetching stops, what came before it is still delivered and committed. A cursor the
    /// connector cannot resume from is a checkpoint failure, not a fetch failure.
    fn on_page_error(&mut self, err: &StreamError) {
        let (stage, message) = match err.kind() {
            StreamErrorKind::Checkpoint => (
                FailureStage::LoadCheckpoint,
                format!("the checkpoint of {} cannot be resumed from: {err}", self.task.key),
            ),
            _ => (FailureStage::Fetch, err.to_string()),
        };
        self.stop_fetching(RunOutcome::Failed(RunFailure { stage, fatal: err.is_fatal(), message }));
    }

    /// No more records are read; once what is in flight is acknowledged, the run ends with `outcome`.
    fn stop_fetching(&mut self, outcome: RunOutcome) {
        self.fetching = false;
        self.outcome = outcome;
    }
}

/// Resolves once a records hold is free (and lets go of it at once: the next turn cuts the batch).
async fn hold_freed(holding: &Semaphore) {
    let _free = holding.acquire().await;
}

fn sleep_until_opt(deadline: Option<Instant>) -> impl Future<Output = ()> {
    tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now))
}

/// The window of record timestamps a sink accepts.
#[derive(Debug, Clone, Copy)]
struct AgeWindow {
    max_age: Option<f64>,
    max_future: Option<f64>,
}

impl AgeWindow {
    fn of(sink: &dyn Sink) -> Self {
        Self {
            max_age: sink.max_age().map(|d| d.as_secs_f64()),
            max_future: sink.max_future().map(|d| d.as_secs_f64()),
        }
    }

    fn admits(&self, record: &LogRecord) -> bool {
        if self.max_age.is_none() && self.max_future.is_none() {
            return true;
        }
        let Some(ts) = record.timestamp() else { return true };
        let now = now_seconds();
        self.max_age.is_none_or(|age| ts >= now - age) && self.max_future.is_none_or(|ahead| ts <= now + ahead)
    }
}
