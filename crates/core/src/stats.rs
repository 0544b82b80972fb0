//! Live counters of a crawl: totals and run-lateness histograms, readable while the crawler runs, and
//! each stream's own counters and health ([`StreamStats`]).

mod stream;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use self::stream::{Health, StreamStats};
use crate::checkpoint::StreamKey;

/// Running totals across all streams, readable while the crawler runs (progress bars, metrics).
#[derive(Debug, Default)]
pub struct CrawlStats {
    /// Records the sinks accepted.
    pub delivered: AtomicU64,
    /// Records the sinks dropped as never acceptable.
    pub dropped: AtomicU64,
    /// Records a backend refused alone, set aside in the sink's dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Records skipped because they were older than the sink's max age or too far in the future.
    pub skipped: AtomicU64,
    /// Cursors committed.
    pub commits: AtomicU64,
    /// Runs that ended in an error.
    pub failed_runs: AtomicU64,
    /// Runs started.
    pub runs: AtomicU64,
    /// How late each scheduled run of [`Crawler::run_forever`](crate::Crawler::run_forever) started compared with its schedule (the
    /// previous run's start plus the interval), first runs excluded. Benchmarks and metrics read it.
    pub lateness: Histogram,
    /// How long after [`Crawler::run_forever`](crate::Crawler::run_forever) started each stream's first run began (its schedule is
    /// "immediately", so this is the first run's lateness: the cost of starting many streams at once).
    pub first_run_delay: Histogram,
    /// Each stream's own counters and health, by stream.
    streams: Mutex<BTreeMap<StreamKey, Arc<StreamStats>>>,
}

/// A lock-free histogram of durations: log-linear buckets (8 per power of two, so a quantile is exact
/// to 12.5 %) from 1 µs to about 12 days, recorded with one relaxed atomic add.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max_micros: AtomicU64,
}

const HISTOGRAM_BUCKETS: usize = 16 + 37 * 8;

impl Default for Histogram {
    fn default() -> Self {
        Self { buckets: (0..HISTOGRAM_BUCKETS).map(|_| AtomicU64::new(0)).collect(), max_micros: AtomicU64::new(0) }
    }
}

impl Histogram {
    fn bucket_of(micros: u64) -> usize {
        if micros < 16 {
            return micros as usize;
        }
        let exp = 63 - micros.leading_zeros() as usize; // ≥ 4
        let sub = ((micros >> (exp - 3)) & 7) as usize;
        (16 + (exp - 4) * 8 + sub).min(HISTOGRAM_BUCKETS - 1)
    }

    /// The largest value that falls in bucket `index`.
    fn upper_of(index: usize) -> u64 {
        if index < 16 {
            return index as u64;
        }
        let exp = (index - 16) / 8 + 4;
        let sub = ((index - 16) % 8) as u64;
        ((8 + sub + 1) << (exp - 3)) - 1
    }

    /// Records one duration.
    pub fn record(&self, value: Duration) {
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The largest value recorded.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_micros.load(Ordering::Relaxed))
    }

    /// The `q`-quantile (0.5 for the median, 0.99 …), as the upper bound of its bucket (never above
    /// [`Histogram::max`]); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(Self::upper_of(index)).min(self.max());
            }
        }
        self.max()
    }
}

impl CrawlStats {
    /// The state of the stream `key`, created on first use. A source that is reloaded keeps its streams'
    /// counters (Prometheus counters only grow) and starts with a clean health.
    pub fn stream(&self, key: &StreamKey) -> Arc<StreamStats> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.entry(key.clone()).or_insert_with(|| Arc::new(StreamStats::new(key.clone()))).clone()
    }

    /// Every stream's state, ordered by source then stream.
    pub fn streams(&self) -> Vec<Arc<StreamStats>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    /// Forgets the streams of `source` (removed from the configuration): they are no longer reported.
    pub fn forget_source(&self, source: &str) {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner).retain(|key, _| key.source != source);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.99), Duration::ZERO);
        for ms in 1..=1000u64 {
            histogram.record(Duration::from_millis(ms));
        }
        assert_eq!(histogram.count(), 1000);
        assert_eq!(histogram.max(), Duration::from_secs(1));
        let p50 = histogram.quantile(0.5).as_secs_f64();
        let p99 = histogram.quantile(0.99).as_secs_f64();
        assert!((0.5..=0.5 * 1.125).contains(&p50), "{p50}");
        assert!((0.99..=1.0).contains(&p99), "{p99}");
        for micros in [0u64, 1, 15, 16, 17, 1023, 1024, 123_456_789] {
            let index = Histogram::bucket_of(micros);
            assert!(Histogram::upper_of(index) >= micros, "{micros}");
            assert!(index == 0 || Histogram::upper_of(index - 1) < micros, "{micros}");
        }
    }
}
