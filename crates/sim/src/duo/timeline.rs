//! When the simulated Duo's events happened: runs of events a fixed spacing apart, the first run from
//! the simulator's start, each later one from the moment it was published.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// When each event of a log happened: runs of events `spacing` apart, the first from the start, each
/// appended one from the moment it was published.
#[derive(Debug)]
pub(super) struct Timeline {
    spacing_us: i64,
    /// `(first index, epoch µs of that event)`, in index order.
    runs: RwLock<Vec<(u64, i64)>>,
    total: AtomicU64,
}

impl Timeline {
    pub(super) fn new(events: u64, spacing: Duration, start_ms: Option<i64>) -> Self {
        let spacing_us = spacing.as_micros().min(i64::MAX as u128) as i64;
        let now_us = jiff::Timestamp::now().as_microsecond();
        let span = (events as i64).saturating_sub(1).max(0).saturating_mul(spacing_us);
        let start_us = start_ms.map_or(now_us - span - 60_000_000, |ms| ms * 1000);
        Self { spacing_us, runs: RwLock::new(vec![(0, start_us)]), total: AtomicU64::new(events) }
    }

    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(super) fn clock(&self) -> Clock {
        Clock { spacing_us: self.spacing_us, runs: self.runs.read().unwrap_or_else(PoisonError::into_inner).clone() }
    }

    /// Publishes `n` more events, the first of them now (or right after the newest, if that is later).
    pub(super) fn append(&self, n: u64) {
        let mut runs = self.runs.write().unwrap_or_else(PoisonError::into_inner);
        let total = self.total();
        let clock = Clock { spacing_us: self.spacing_us, runs: runs.clone() };
        let after_newest = if total == 0 { i64::MIN } else { clock.at_us(total - 1) + self.spacing_us.max(1) };
        runs.push((total, jiff::Timestamp::now().as_microsecond().max(after_newest)));
        self.total.fetch_add(n, Ordering::Relaxed);
    }
}

/// A snapshot of a [`Timeline`]'s runs, for one request.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    spacing_us: i64,
    runs: Vec<(u64, i64)>,
}

impl Clock {
    pub(super) fn at_us(&self, i: u64) -> i64 {
        let run = self.runs.iter().rev().find(|(first, _)| *first <= i).copied().unwrap_or((0, 0));
        run.1 + ((i - run.0) as i64).saturating_mul(self.spacing_us)
    }

    pub(super) fn at_ms(&self, i: u64) -> i64 {
        self.at_us(i).div_euclid(1000)
    }

    /// The first of `total` events that happened at or after epoch millisecond `ms`.
    pub(super) fn first_at_or_after(&self, ms: i64, total: u64) -> u64 {
        let (mut low, mut high) = (0, total);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.at_ms(mid) < ms { low = mid + 1 } else { high = mid }
        }
        low
    }
}
