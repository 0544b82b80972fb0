//! The names of every metric logcrawl exports, with their kind and help text: one table that the
//! exporter describes them from, the README documents and the Grafana dashboard's test checks.
//!
//! Components record with the [`metrics`] facade (a no-op until `logcrawl run` installs the Prometheus
//! recorder for `[api] listen`); per-stream counters are not recorded one by one but kept in
//! [`StreamStats`](crate::StreamStats) and published when `/metrics` is scraped, so the hot path only
//! bumps atomics. Names follow Prometheus conventions: `_total` for counters, base units (seconds,
//! bytes), `source` and `stream` labels where a metric concerns one stream.

use metrics::SharedString;

use crate::labels;

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (resets with the process).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (exported as a summary of quantiles).
    Histogram,
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Its Prometheus name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its labels besides `source` and `stream` when [`Metric::per_stream`].
    pub labels: &'static str,
    /// Whether it carries the `source` and `stream` labels.
    pub per_stream: bool,
    /// What it counts or measures.
    pub help: &'static str,
}

macro_rules! metrics_table {
    ($( $const:ident = $name:literal, $kind:ident, $per_stream:literal, $labels:literal, $help:literal; )*) => {
        $(
            #[doc = $help]
            pub const $const: &str = $name;
        )*
        /// Every metric, in the order the README's table lists them.
        pub const ALL: &[Metric] = &[
            $( Metric { name: $name, kind: Kind::$kind, per_stream: $per_stream, labels: $labels, help: $help }, )*
        ];
    };
}

metrics_table! {
    EVENTS_FETCHED = "logcrawl_events_fetched_total", Counter, true, "",
        "Records read from the vendor (skipped ones included).";
    EVENTS_DELIVERED = "logcrawl_events_delivered_total", Counter, true, "",
        "Records the sink accepted.";
    EVENTS_SKIPPED = "logcrawl_events_skipped_total", Counter, true, "",
        "Records skipped because the sink would refuse their age.";
    EVENTS_DROPPED = "logcrawl_events_dropped_total", Counter, true, "",
        "Records the sink dropped as never acceptable (too large, malformed).";
    EVENTS_DEAD_LETTERED = "logcrawl_events_dead_lettered_total", Counter, true, "",
        "Records the backend refused alone, set aside in the sink's dead-letter file.";
    RUNS = "logcrawl_runs_total", Counter, true, "",
        "Runs of the stream started.";
    RUNS_FAILED = "logcrawl_runs_failed_total", Counter, true, "stage",
        "Runs of the stream that ended in an error, by the stage that failed (load_checkpoint, fetch, send, commit, lease).";
    COMMITS = "logcrawl_checkpoint_commits_total", Counter, true, "",
        "Cursors committed to the checkpoint store.";
    RUN_DURATION = "logcrawl_run_duration_seconds", Histogram, true, "",
        "How long each run of the stream took.";
    LAG = "logcrawl_lag_seconds", Gauge, true, "",
        "Now minus the time of the newest delivered record: how far behind the vendor the data is.";
    CHECKPOINT_AGE = "logcrawl_checkpoint_age_seconds", Gauge, true, "",
        "Seconds since this process last committed the stream's cursor.";
    STREAM_UP = "logcrawl_stream_up", Gauge, true, "",
        "1 while the stream is healthy, 0 when it stopped on a fatal error or failed past its retry budget.";
    VENDOR_REQUESTS = "logcrawl_vendor_requests_total", Counter, true, "status",
        "Requests to the vendor API by status class (2xx, 3xx, 4xx, 5xx, or error for no answer).";
    RATE_LIMIT_WAIT = "logcrawl_rate_limit_wait_seconds", Histogram, true, "",
        "Each wait of a request for a rate limit (a 429, a vendor quota answer, the budget held at its margin): `_count` is the waits, `_sum` their seconds.";
    SINK_REQUESTS = "logcrawl_sink_requests_total", Counter, false, "sink, outcome",
        "Requests to a sink's backend by outcome (accepted, retried, refused, split, error).";
    SINK_RETRIES = "logcrawl_sink_retries_total", Counter, false, "sink",
        "Requests to a sink's backend sent again after a retryable failure.";
    SINK_BYTES = "logcrawl_sink_bytes_total", Counter, false, "sink, stage",
        "Bytes of payload a sink sent: stage=\"raw\" before compression, stage=\"sent\" as sent.";
    RESIDENT_MEMORY = "logcrawl_process_resident_memory_bytes", Gauge, false, "",
        "The process's resident memory (RSS).";
    SOURCES = "logcrawl_sources", Gauge, false, "",
        "Sources running.";
    LEASES_HELD = "logcrawl_leases_held", Gauge, false, "",
        "Streams whose lease this worker holds (PostgreSQL state only).";
    LEASE_EPOCH = "logcrawl_lease_epoch", Gauge, true, "",
        "The fencing epoch of the stream's lease while this worker holds it, 0 once it does not.";
    LEASE_WORKERS = "logcrawl_lease_workers", Gauge, false, "",
        "Live workers sharing the PostgreSQL state, as this worker counted them at its last renewal.";
    LEASE_CLAIMS = "logcrawl_lease_claims_total", Counter, false, "",
        "Leases this worker claimed (free streams, and streams taken over from an expired holder).";
    LEASE_RELEASES = "logcrawl_lease_releases_total", Counter, false, "",
        "Leases this worker gave up (surplus over its fair share, a stream no longer configured, shutdown).";
    LEASE_LOSSES = "logcrawl_lease_losses_total", Counter, false, "",
        "Leases this worker lost to another (found at renewal, or by the fence refusing a commit).";
    LEASE_RENEWAL_FAILURES = "logcrawl_lease_renewal_failures_total", Counter, false, "",
        "Lease rounds that failed (the database unreachable or slow); past the lease the streams stop sending.";
}

/// The `source` and `stream` labels of the current task (empty outside a stream).
pub fn stream_labels() -> [(&'static str, SharedString); 2] {
    match labels::current() {
        Some(current) => {
            [("source", SharedString::from(current.source)), ("stream", SharedString::from(current.stream))]
        }
        None => [("source", SharedString::const_str("")), ("stream", SharedString::const_str(""))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for metric in ALL {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(metric.name.starts_with("logcrawl_"), "{}", metric.name);
            assert!(metric.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", metric.name);
            assert_eq!(metric.kind == Kind::Counter, metric.name.ends_with("_total"), "{}", metric.name);
        }
    }
}
