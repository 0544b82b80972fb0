//! The Prometheus side of `/metrics`: one process-wide recorder from `metrics-exporter-prometheus`, the
//! descriptions of [`metric::ALL`], and the per-stream series published from [`StreamStats`] at each
//! scrape (the crawler keeps them as atomics, so recording costs the hot path nothing).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use logcrawl_core::{CrawlStats, FailureStage, StreamStats, metric};
use metrics::{SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use super::health::standing;

/// How long a gauge may go unset before it leaves the exposition, by default. The per-stream gauges are
/// set by [`render`] just before the exposition is rendered, so only those of a stream no longer running
/// (its source removed by a reload) age out: a removed source must not go on reporting
/// `logcrawl_stream_up 0` to an alert forever. Counters and histograms stay, as their last values (a flat
/// counter alarms nobody).
pub const DEFAULT_GAUGE_IDLE: Duration = Duration::from_secs(10);

/// The process's recorder, installed on first use with gauges leaving after [`DEFAULT_GAUGE_IDLE`].
/// Later calls (a second crawler in one test process) get the same handle.
pub fn handle() -> &'static PrometheusHandle {
    install(DEFAULT_GAUGE_IDLE)
}

/// The process's recorder, installed now if it is not yet, with gauges leaving the exposition once unset
/// for `gauge_idle`. A component that sets gauges on its own schedule (the PostgreSQL lease manager, at
/// each renewal) needs `gauge_idle` above its period.
pub fn install(gauge_idle: Duration) -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().idle_timeout(MetricKindMask::GAUGE, Some(gauge_idle)).build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed before the Prometheus one: /metrics misses its series");
        }
        describe();
        handle
    })
}

fn describe() {
    for entry in metric::ALL {
        let unit = if entry.name.ends_with("_seconds") || entry.name.ends_with("_seconds_total") {
            Some(Unit::Seconds)
        } else if entry.name.ends_with("_bytes") || entry.name.ends_with("_bytes_total") {
            Some(Unit::Bytes)
        } else {
            None
        };
        let help = SharedString::const_str(entry.help);
        match (entry.kind, unit) {
            (metric::Kind::Counter, Some(unit)) => metrics::describe_counter!(entry.name, unit, help),
            (metric::Kind::Counter, None) => metrics::describe_counter!(entry.name, help),
            (metric::Kind::Gauge, Some(unit)) => metrics::describe_gauge!(entry.name, unit, help),
            (metric::Kind::Gauge, None) => metrics::describe_gauge!(entry.name, help),
            (metric::Kind::Histogram, Some(unit)) => metrics::describe_histogram!(entry.name, unit, help),
            (metric::Kind::Histogram, None) => metrics::describe_histogram!(entry.name, help),
        }
    }
}

/// Publishes each stream's counters and gauges, the process's RSS and the number of sources, then
/// renders the exposition text.
pub fn render(stats: &CrawlStats, sources: usize, budget: u32) -> String {
    let handle = handle();
    let now = SystemTime::now();
    for stream in stats.streams() {
        publish(&stream, now, budget);
    }
    metrics::gauge!(metric::SOURCES).set(sources as f64);
    if let Some(rss) = resident_memory() {
        metrics::gauge!(metric::RESIDENT_MEMORY).set(rss as f64);
    }
    handle.render()
}

fn publish(stream: &StreamStats, now: SystemTime, budget: u32) {
    let labels = [("source", stream.key.source.clone()), ("stream", stream.key.stream.clone())];
    let counters = [
        (metric::EVENTS_FETCHED, &stream.fetched),
        (metric::EVENTS_DELIVERED, &stream.delivered),
        (metric::EVENTS_SKIPPED, &stream.skipped),
        (metric::EVENTS_DROPPED, &stream.dropped),
        (metric::EVENTS_DEAD_LETTERED, &stream.dead_lettered),
        (metric::RUNS, &stream.runs),
        (metric::COMMITS, &stream.commits),
    ];
    for (name, counter) in counters {
        metrics::counter!(name, &labels).absolute(StreamStats::get(counter));
    }
    for (stage, counter) in FailureStage::ALL.iter().zip(&stream.failed_by_stage) {
        let [source, stream_name] = labels.clone();
        let labels = [source, stream_name, ("stage", stage.as_str().to_owned())];
        metrics::counter!(metric::RUNS_FAILED, &labels).absolute(StreamStats::get(counter));
    }
    if let Some(lag) = stream.lag(now) {
        metrics::gauge!(metric::LAG, &labels).set(lag.as_secs_f64());
    }
    if let Some(committed) = stream.last_commit() {
        let age = now.duration_since(committed).unwrap_or_default();
        metrics::gauge!(metric::CHECKPOINT_AGE, &labels).set(age.as_secs_f64());
    }
    let up = standing(stream, &stream.health(), budget).ready();
    metrics::gauge!(metric::STREAM_UP, &labels).set(if up { 1.0 } else { 0.0 });
}

/// The resident set size, from `VmRSS` in `/proc/self/status` (Linux, in kB whatever the page size);
/// `None` elsewhere.
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}
