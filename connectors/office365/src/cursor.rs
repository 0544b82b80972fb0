//! The stream's cursor and how it plans a run's windows.
//!
//! A window is a stretch `[start, end)` of content *creation* time (`contentCreated`), on whole seconds
//! (the listing's `startTime`/`endTime` take seconds). Its listing is read from `overlap` before its
//! start, for the blobs listed late; every blob delivered in that stretch is named in the cursor, so it
//! is skipped when listed again, and a blob listed late is delivered once.
//!
//! ```json
//! {"v": 1, "until": "2026-12-02T10:00:00Z",
//!  "done": [{"id": "20261202095512345…", "created": "2026-12-02T09:55:12.345Z"}],
//!  "reading": {"end": "2026-12-02T11:00:00Z", "blob": {"id": "…", "records": 120}}}
//! ```
//!
//! * `until`: every blob created before it was delivered, but for blobs listed late (within `overlap`);
//! * `done`: the blobs delivered that a listing may serve again: those created in the `overlap` before
//!   `until`, and inside the window being read (at most [`MAX_DONE`], the newest kept);
//! * `reading`: present inside a window: the window ends at `end`, and `blob` says how many records of a
//!   blob (immutable, so always served alike) were delivered; a resumed run goes on at the next record.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use logcrawl_connector::TypedCursor;
use serde::{Deserialize, Serialize};

use crate::config::RETENTION;

/// The most blob ids a cursor keeps for its overlap; past it the newest are kept (an older one listed
/// again would be delivered again: at least once).
pub const MAX_DONE: usize = 20_000;

/// How far inside the API's seven days a listing starts at the earliest: a listing that reaches back
/// seven days exactly would be refused by the time it arrives (AF20030).
pub const RETENTION_MARGIN: Duration = Duration::from_secs(15 * 60);

/// A content type's place: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedCursor {
    /// Blobs created before it are delivered (but those listed late, inside the overlap).
    pub until: Timestamp,
    /// Blobs delivered that a listing may serve again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<Done>,
    /// Inside a window: where it ends and how far into a blob the run got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<Reading>,
}

impl TypedCursor for FeedCursor {
    const SHAPE: &'static str =
        r#"{"until": INSTANT, "done": [{"id", "created"}], "reading": {"end": INSTANT, "blob": {"id", "records"}}}"#;
}

/// A delivered blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    /// Its `contentId`.
    pub id: String,
    /// Its `contentCreated` (the window's end when it did not say).
    pub created: Timestamp,
}

/// A window being read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// The window's end.
    pub end: Timestamp,
    /// The blob delivered in part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<InBlob>,
}

/// A blob delivered in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InBlob {
    /// Its `contentId`.
    pub id: String,
    /// How many of its records, in the blob's order, were delivered.
    pub records: usize,
}

/// How a stream cuts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPlan {
    /// The longest window.
    pub step: Duration,
    /// How far behind now the newest window ends.
    pub settle_lag: Duration,
    /// How long before its start each window's listing is read again.
    pub overlap: Duration,
    /// Where the very first run starts, behind now.
    pub lookback: Duration,
    /// Windows read in one run at most (`None`: until caught up).
    pub max_windows_per_run: Option<usize>,
    /// Listing pages of one window at most: more is an error (lower `window_step`), never a loop.
    pub max_pages_per_window: usize,
}

/// One window of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Its start: the cursor's `until` while it is read.
    pub start: Timestamp,
    /// Its end: the cursor's `until` once it is read.
    pub end: Timestamp,
    /// Where its listing starts: `overlap` before `start`, never before the API's seven days.
    pub read_from: Timestamp,
    /// The blob a stored cursor had delivered in part.
    pub resume: Option<InBlob>,
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

/// `at` rounded down to a whole second.
pub fn floor_second(at: Timestamp) -> Timestamp {
    let nanos = at.as_nanosecond();
    Timestamp::from_nanosecond(nanos - nanos.rem_euclid(1_000_000_000)).unwrap_or(at)
}

/// `at` rounded up to a whole second.
pub fn ceil_second(at: Timestamp) -> Timestamp {
    let down = floor_second(at);
    if down == at { at } else { down + SignedDuration::from_secs(1) }
}

impl FeedPlan {
    /// The earliest instant a listing may start at, `now`.
    pub fn earliest(now: Timestamp) -> Timestamp {
        ceil_second(now - signed(RETENTION) + signed(RETENTION_MARGIN))
    }

    /// The windows a run starting at `now` reads, oldest first, from `cursor` (`None`: a first run).
    /// A cursor older than the API keeps starts at the earliest listing allowed (what lies before is
    /// gone); the caller says so.
    pub fn windows(&self, cursor: Option<&FeedCursor>, now: Timestamp) -> Vec<Planned> {
        let horizon = floor_second(now - signed(self.settle_lag));
        let earliest = Self::earliest(now);
        let overlap = signed(self.overlap);
        let read_from = |start: Timestamp| floor_second(start - overlap).max(earliest).min(start);
        let max = self.max_windows_per_run.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut start = match cursor {
            None => floor_second(now - signed(self.lookback)),
            Some(cursor) => ceil_second(cursor.until),
        };
        if let Some(reading) = cursor.and_then(|c| c.reading.as_ref()) {
            let end = ceil_second(reading.end);
            if start < end && max > 0 {
                out.push(Planned { start, end, read_from: read_from(start), resume: reading.blob.clone() });
            }
            start = start.max(end);
        }
        let step = signed(self.step).max(SignedDuration::from_secs(1));
        start = start.max(earliest);
        while start < horizon && out.len() < max {
            let end = floor_second(start + step).min(horizon).max(start + SignedDuration::from_secs(1));
            out.push(Planned { start, end, read_from: read_from(start), resume: None });
            start = end;
        }
        out
    }
}

/// The blobs of `done` a listing after `until` may still serve: created in the `overlap` before it, at
/// most [`MAX_DONE`] (the newest).
pub fn horizon(mut done: Vec<Done>, until: Timestamp, overlap: Duration) -> Vec<Done> {
    let from = until - signed(overlap);
    done.retain(|d| d.created >= from);
    if done.len() > MAX_DONE {
        done.sort_by_key(|d| std::cmp::Reverse(d.created));
        done.truncate(MAX_DONE);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_connector::cursor::{load, store};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn plan(step: u64, lag: u64, overlap: u64) -> FeedPlan {
        FeedPlan {
            step: Duration::from_secs(step),
            settle_lag: Duration::from_secs(lag),
            overlap: Duration::from_secs(overlap),
            lookback: Duration::from_secs(3 * 3600),
            max_windows_per_run: None,
            max_pages_per_window: 100,
        }
    }

    #[test]
    fn windows_run_oldest_first_on_whole_seconds_up_to_the_settle_lag_each_read_from_the_overlap() {
        let now = at("2026-12-02T12:00:00.700Z");
        let windows = plan(3600, 600, 1800).windows(None, now);
        let bounds: Vec<(String, String, String)> =
            windows.iter().map(|w| (w.read_from.to_string(), w.start.to_string(), w.end.to_string())).collect();
        assert_eq!(
            bounds,
            [
                ("2026-12-02T08:30:00Z", "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z"),
                ("2026-12-02T09:30:00Z", "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"),
                ("2026-12-02T10:30:00Z", "2026-12-02T11:00:00Z", "2026-12-02T11:50:00Z"),
            ]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        );
    }

    #[test]
    fn a_cursor_inside_a_window_finishes_it_first_and_an_expired_one_starts_at_the_earliest_listing() {
        let now = at("2026-12-02T12:00:00Z");
        let cursor = FeedCursor {
            until: at("2026-12-02T11:00:00Z"),
            done: vec![],
            reading: Some(Reading {
                end: at("2026-12-02T11:30:00Z"),
                blob: Some(InBlob { id: "b".into(), records: 3 }),
            }),
        };
        let windows = plan(3600, 0, 0).windows(Some(&cursor), now);
        assert_eq!(windows[0].resume.as_ref().map(|b| b.records), Some(3));
        assert_eq!((windows[0].start, windows[0].end), (at("2026-12-02T11:00:00Z"), at("2026-12-02T11:30:00Z")));
        assert_eq!((windows[1].start, windows[1].end), (at("2026-12-02T11:30:00Z"), now));
        let old = FeedCursor { until: at("2026-11-01T00:00:00Z"), done: vec![], reading: None };
        let windows = plan(3600, 0, 0).windows(Some(&old), now);
        assert_eq!(windows[0].start, FeedPlan::earliest(now));
        assert_eq!(FeedPlan::earliest(now), at("2026-11-25T12:15:00Z"));
    }

    #[test]
    fn the_horizon_keeps_the_overlap_and_the_newest() {
        let until = at("2026-12-02T12:00:00Z");
        let done = |id: &str, t: &str| Done { id: id.into(), created: at(t) };
        let kept = horizon(
            vec![done("old", "2026-12-02T10:59:59Z"), done("in", "2026-12-02T11:00:00Z")],
            until,
            Duration::from_secs(3600),
        );
        assert_eq!(kept, [done("in", "2026-12-02T11:00:00Z")]);
        let many: Vec<Done> = (0..MAX_DONE as i64 + 10)
            .map(|i| Done { id: i.to_string(), created: until - SignedDuration::from_millis(i) })
            .collect();
        let kept = horizon(many, until, Duration::from_secs(3600));
        assert_eq!(kept.len(), MAX_DONE);
        assert_eq!(kept.last().map(|d| d.id.as_str()), Some((MAX_DONE - 1).to_string().as_str()));
    }

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        let cursor = FeedCursor {
            until: at("2026-12-02T11:00:00Z"),
            done: vec![Done { id: "a".into(), created: at("2026-12-02T10:30:00.5Z") }],
            reading: Some(Reading { end: at("2026-12-02T12:00:00Z"), blob: None }),
        };
        let stored = store(&cursor);
        assert_eq!(stored["v"], 1);
        assert_eq!(load::<FeedCursor>(&stored).unwrap(), cursor);
        assert!(load::<FeedCursor>(&serde_json::json!({"after": 5})).is_err());
        assert!(load::<FeedCursor>(&serde_json::json!({"until": "yesterday"})).is_err());
    }

    proptest::proptest! {
        /// Consecutive windows meet exactly and none ends past the horizon, wherever the run starts.
        #[test]
        fn windows_meet_exactly(lookback in 1u64..200_000, step in 1u64..86_400, lag in 0u64..3_600, ms in 0i64..1_000) {
            let now = at("2026-12-02T12:00:00Z") + SignedDuration::from_millis(ms);
            let plan = FeedPlan { lookback: Duration::from_secs(lookback), ..plan(step, lag, 0) };
            let windows = plan.windows(None, now);
            for pair in windows.windows(2) {
                proptest::prop_assert_eq!(pair[0].end, pair[1].start);
            }
            for w in &windows {
                proptest::prop_assert!(w.start < w.end && w.end <= now - SignedDuration::from_secs(lag as i64));
                proptest::prop_assert_eq!(w.start, floor_second(w.start));
                proptest::prop_assert!(w.read_from >= FeedPlan::earliest(now));
            }
        }
    }
}
