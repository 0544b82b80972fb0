//! What one stream did and how it stands, readable while it runs: the counters `/metrics` exports, the
//! freshness `lag` and checkpoint-age gauges are computed from, and the run state `/ready` judges.
//!
//! Counters are relaxed atomics bumped once per batch (once per record only for skipped records, which
//! are rare), so the hot path pays nothing it would notice; the run state is behind a mutex touched once
//! per run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checkpoint::StreamKey;
use crate::crawler::{RunFailure, RunOutcome};

/// The live state of one stream of one source, shared by its task and whoever reports on it.
#[derive(Debug)]
pub struct StreamStats {
    /// Which stream.
    pub key: StreamKey,
    /// Records read from the vendor (positions excluded), skipped ones included.
    pub fetched: AtomicU64,
    /// Records the sink accepted.
    pub delivered: AtomicU64,
    /// Records the sink dropped as never acceptable.
    pub dropped: AtomicU64,
    /// Records set aside in the sink's dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Records skipped for age.
    pub skipped: AtomicU64,
    /// Runs started.
    pub runs: AtomicU64,
    /// Runs that failed.
    pub failed_runs: AtomicU64,
    /// Runs that failed, by the stage that failed (indexed in [`FailureStage::ALL`](crate::FailureStage::ALL)'s order).
    pub failed_by_stage: [AtomicU64; crate::FailureStage::ALL.len()],
    /// Cursors committed.
    pub commits: AtomicU64,
    /// The newest `timestamp` among the delivered records, in milliseconds since the epoch (0: none yet).
    newest_event_ms: AtomicU64,
    /// When a cursor was last committed, in milliseconds since the epoch (0: never in this process).
    last_commit_ms: AtomicU64,
    /// Whether a run is going on.
    running: AtomicBool,
    health: Mutex<Health>,
}

/// How a stream's runs have gone, for readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Runs that failed in a row, up to the last one (0 once a run succeeds).
    pub consecutive_failures: u32,
    /// The last failure, while the failures go on.
    pub last_failure: Option<RunFailure>,
    /// Set when the stream stopped on a fatal error: it will not run again until reloaded.
    pub stopped: bool,
    /// Runs that ended, in this process: 0 while the first one goes on.
    pub finished_runs: u64,
}

impl StreamStats {
    /// Fresh state for `key`.
    pub fn new(key: StreamKey) -> Self {
        Self {
            key,
            fetched: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            failed_runs: AtomicU64::new(0),
            failed_by_stage: Default::default(),
            commits: AtomicU64::new(0),
            newest_event_ms: AtomicU64::new(0),
            last_commit_ms: AtomicU64::new(0),
            running: AtomicBool::new(false),
            health: Mutex::new(Health::default()),
        }
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The newest delivered record's time, if any record carried one.
    pub fn newest_event(&self) -> Option<SystemTime> {
        from_millis(self.newest_event_ms.load(Ordering::Relaxed))
    }

    /// When a cursor was last committed by this process.
    pub fn last_commit(&self) -> Option<SystemTime> {
        from_millis(self.last_commit_ms.load(Ordering::Relaxed))
    }

    /// How far behind now the delivered records are: now minus the newest delivered record's time (zero
    /// for a record from the future). `None` before any record with a timestamp was delivered.
    pub fn lag(&self, now: SystemTime) -> Option<Duration> {
        self.newest_event().map(|newest| now.duration_since(newest).unwrap_or_default())
    }

    /// Whether a run is going on.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// How the stream's runs have gone.
    pub fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A batch whose newest record is `newest` (seconds since the epoch) was delivered.
    pub(crate) fn saw_event(&self, newest: f64) {
        if newest.is_finite() && newest > 0.0 {
            self.newest_event_ms.fetch_max((newest * 1000.0) as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn committed(&self) {
        Self::add(&self.commits, 1);
        self.last_commit_ms.store(to_millis(SystemTime::now()), Ordering::Relaxed);
    }

    pub(crate) fn run_started(&self) {
        Self::add(&self.runs, 1);
        self.running.store(true, Ordering::Relaxed);
    }

    pub(crate) fn run_ended(&self, outcome: &RunOutcome) {
        self.running.store(false, Ordering::Relaxed);
        let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        health.finished_runs += 1;
        match outcome {
            RunOutcome::Failed(failure) => {
                Self::add(&self.failed_runs, 1);
                Self::add(&self.failed_by_stage[failure.stage as usize], 1);
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                health.stopped = failure.fatal;
                health.last_failure = Some(failure.clone());
            }
            RunOutcome::CaughtUp | RunOutcome::Interrupted => {
                health.consecutive_failures = 0;
                health.last_failure = None;
            }
        }
    }

    /// A new task took the stream over (a reloaded source): its past failures no longer say anything.
    pub(crate) fn restarted(&self) {
        *self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Health::default();
    }
}

fn to_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> Option<SystemTime> {
    (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crawler::FailureStage;

    #[test]
    fn lag_follows_the_newest_delivered_record() {
        let stats = StreamStats::new(StreamKey::new("s", "t"));
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(stats.lag(now), None);
        stats.saw_event(990.0);
        stats.saw_event(400.0); // older: the newest stays
        assert_eq!(stats.lag(now), Some(Duration::from_secs(10)));
        stats.saw_event(1_005.0); // from the future: no negative lag
        assert_eq!(stats.lag(now), Some(Duration::ZERO));
        stats.saw_event(f64::NAN);
        assert_eq!(stats.newest_event(), Some(UNIX_EPOCH + Duration::from_secs(1_005)));
    }

    #[test]
    fn failures_count_in_a_row_and_a_success_clears_them() {
        let stats = StreamStats::new(StreamKey::new("s", "t"));
        let failure = RunFailure { stage: FailureStage::Fetch, fatal: false, message: "503".into() };
        stats.run_started();
        assert!(stats.is_running());
        stats.run_ended(&RunOutcome::Failed(failure.clone()));
        stats.run_ended(&RunOutcome::Failed(failure.clone()));
        let health = stats.health();
        assert_eq!((health.consecutive_failures, health.stopped, health.finished_runs), (2, false, 2));
        assert_eq!(health.last_failure, Some(failure));
        stats.run_ended(&RunOutcome::CaughtUp);
        assert_eq!(stats.health().consecutive_failures, 0);
        assert_eq!(StreamStats::get(&stats.failed_runs), 2);
        assert_eq!(StreamStats::get(&stats.failed_by_stage[1]), 2, "both while fetching");
        for (index, stage) in FailureStage::ALL.into_iter().enumerate() {
            assert_eq!(stage as usize, index, "failed_by_stage is indexed by the discriminant");
        }
        let fatal = RunFailure { stage: FailureStage::Fetch, fatal: true, message: "401".into() };
        stats.run_ended(&RunOutcome::Failed(fatal));
        assert!(stats.health().stopped);
        stats.restarted();
        assert_eq!(stats.health(), Health::default());
    }
}
