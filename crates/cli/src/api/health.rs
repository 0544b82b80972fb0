//! What `/ready` answers: every stream's standing, judged from its [`Health`], and the state store.
//!
//! A stream is ready while its last run succeeded, while it runs for the first time, or while its
//! failures in a row stay within the failure budget (a non-fatal failure is retried every interval, and
//! a vendor's short outage should not page anyone). It is not ready once it stopped on a fatal error
//! (credentials refused, a corrupt checkpoint) or failed more often in a row than the budget allows. A
//! source is ready when all its streams are; the process is ready when every source is and a commit to
//! the state store could succeed now.

use logcrawl_core::{CrawlStats, FailureStage, Health, StreamStats};
use serde::Serialize;

/// One stream's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamStanding {
    /// The stream's name.
    pub stream: String,
    /// `starting` (no run finished yet), `ok`, `retrying` (failing within the budget), `failing` (past
    /// it) or `stopped` (a fatal error: it will not run again until the configuration is reloaded).
    pub state: &'static str,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// The last failure, redacted by the component that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StreamStanding {
    /// Whether this stream counts as ready.
    pub fn ready(&self) -> bool {
        matches!(self.state, "starting" | "ok" | "retrying")
    }
}

/// One source's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStanding {
    /// The source's name.
    pub source: String,
    /// Whether every stream of it is ready.
    pub ready: bool,
    /// Its streams.
    pub streams: Vec<StreamStanding>,
}

/// The whole answer of `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Whether the process is ready (200) or not (503).
    pub ready: bool,
    /// `ok`, or why a commit to the checkpoint store would fail now.
    pub state_store: String,
    /// Each source, ready ones included.
    pub sources: Vec<SourceStanding>,
}

/// The standing of one stream with `health`, given the failure budget.
pub fn standing(stats: &StreamStats, health: &Health, budget: u32) -> StreamStanding {
    let state = if health.stopped {
        "stopped"
    } else if health.consecutive_failures > budget {
        "failing"
    } else if health.consecutive_failures > 0 {
        "retrying"
    } else if health.finished_runs == 0 {
        "starting"
    } else {
        "ok"
    };
    let error = health.last_failure.as_ref().map(|failure| {
        let stage = match failure.stage {
            FailureStage::LoadCheckpoint => "loading the checkpoint",
            FailureStage::Fetch => "fetching",
            FailureStage::Send => "sending",
            FailureStage::Commit => "committing",
            FailureStage::Lease => "holding the lease",
        };
        format!("{stage}: {}", failure.message)
    });
    StreamStanding { stream: stats.key.stream.clone(), state, consecutive_failures: health.consecutive_failures, error }
}

/// Judges every stream `stats` knows, with the store's probe result.
pub fn readiness(stats: &CrawlStats, budget: u32, store: Result<(), String>) -> Readiness {
    let mut sources: Vec<SourceStanding> = Vec::new();
    for stream in stats.streams() {
        let standing = standing(&stream, &stream.health(), budget);
        match sources.last_mut() {
            Some(last) if last.source == stream.key.source => last.streams.push(standing),
            _ => {
                sources.push(SourceStanding { source: stream.key.source.clone(), ready: true, streams: vec![standing] })
            }
        }
    }
    for source in &mut sources {
        source.ready = source.streams.iter().all(StreamStanding::ready);
    }
    let ready = store.is_ok() && sources.iter().all(|s| s.ready);
    Readiness { ready, state_store: store.err().unwrap_or_else(|| "ok".to_owned()), sources }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::{RunFailure, StreamKey};

    fn health(consecutive_failures: u32, stopped: bool, finished_runs: u64) -> Health {
        let last_failure = (consecutive_failures > 0).then(|| RunFailure {
            stage: FailureStage::Fetch,
            fatal: stopped,
            message: "HTTP 401".into(),
        });
        Health { consecutive_failures, last_failure, stopped, finished_runs }
    }

    #[test]
    fn the_budget_separates_retrying_from_failing_and_fatal_stops_at_once() {
        let stats = StreamStats::new(StreamKey::new("okta", "logs"));
        let state = |h: Health| standing(&stats, &h, 3).state;
        assert_eq!(state(health(0, false, 0)), "starting");
        assert_eq!(state(health(0, false, 5)), "ok");
        assert_eq!(state(health(3, false, 5)), "retrying");
        assert_eq!(state(health(4, false, 5)), "failing");
        assert_eq!(state(health(1, true, 1)), "stopped");
        let stopped = standing(&stats, &health(1, true, 1), 3);
        assert!(!stopped.ready());
        assert_eq!(stopped.error.as_deref(), Some("fetching: HTTP 401"));
    }

    #[test]
    fn one_bad_stream_makes_its_source_and_the_process_unready() {
        let stats = CrawlStats::default();
        stats.stream(&StreamKey::new("a", "x"));
        stats.stream(&StreamKey::new("b", "y"));
        let ready = readiness(&stats, 3, Ok(()));
        assert!(ready.ready);
        assert_eq!(ready.sources.len(), 2);
        let unwritable = readiness(&stats, 3, Err("read-only file system".into()));
        assert!(!unwritable.ready);
        assert_eq!(unwritable.state_store, "read-only file system");
    }
}
