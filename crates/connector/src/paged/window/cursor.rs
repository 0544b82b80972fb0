//! What a windowed stream stores and hands out: the window cursor, its partial form inside a window read
//! newest first, the overlap a window's end keeps for the next window's re-read, and the exact cursors of
//! a window being read ([`Inside`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};
use logcrawl_core::RecordCursor;
use serde::{Deserialize, Serialize};

use super::{Keyed, Window};
use crate::cursor::{self, TypedCursor};

/// Where a windowed stream resumes: every event before `until` was delivered (and, inside the window
/// after it, what `partial` says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowCursor {
    /// The end of the last window delivered whole.
    pub until: Timestamp,
    /// The window after `until`, read newest first down to an instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// The events delivered in the overlap before `until`, for a plan with an
    /// [`overlap`](super::WindowPlan::overlap): the next window re-reads `[overlap.from, until)` and drops
    /// them. Without it the next window starts at `until` and re-reads nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
}

impl WindowCursor {
    /// Every event before `until` was delivered, nothing after it.
    pub fn at(until: Timestamp) -> Self {
        Self { until, partial: None, overlap: None }
    }
}

/// A window read newest first down to an instant: what of `[until, then)` was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Every event in `[below, then)` was delivered; `[until, below)` is what remains.
    pub below: Timestamp,
    /// The window's end, where the next window starts once the rest is read.
    pub then: Timestamp,
    /// The ids delivered at the instant just before `below`: dropped should they come again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// The overlap before `then` as far as this window was read: the ids it delivered at or after
    /// `overlap.from` (the resumed window adds those it reads, and ends with the whole of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
}

/// The events delivered in a stretch of time just before a window's end, by id: what the next window
/// re-reads and drops, so that an event indexed late (it was not there when its window was read) is
/// delivered then, and exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlap {
    /// Every event delivered in `[from, end)` is listed (`end`: the `until` or `then` it goes with); an
    /// event found there later that is not listed was not delivered.
    pub from: Timestamp,
    /// Their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

impl TypedCursor for WindowCursor {
    const VERSION: u64 = 1;
    const SHAPE: &'static str = r#"{"until": "<RFC 3339 instant>", "partial": {"below": …, "then": …, "seen": […], "overlap": …}, "overlap": {"from": …, "ids": […]}, "v": 1}"#;
}

/// The ids a window's read met at or after `from` (delivered now, or dropped as delivered before): the
/// overlap its end cursor lists, shared with the partial cursors handed out, each of which reads the
/// prefix met before it.
#[derive(Debug, Clone)]
pub(super) struct Recent {
    from: Timestamp,
    /// What a partial cursor the window resumed from listed: all newer than what this read meets.
    carried: Arc<Vec<String>>,
    /// Their instant for [`Recent::overlap`]'s cut: the window's end.
    carried_at: Timestamp,
    met: Arc<Mutex<Vec<(Timestamp, String)>>>,
    limit: usize,
    resolution: SignedDuration,
}

impl Recent {
    /// The overlap before `end` that `from` starts, carrying `carried` (a resumed window's), at most
    /// `limit` ids.
    pub(super) fn new(
        from: Timestamp,
        end: Timestamp,
        carried: Vec<String>,
        limit: usize,
        resolution: SignedDuration,
    ) -> Self {
        Self { from, carried: Arc::new(carried), carried_at: end, met: Arc::default(), limit, resolution }
    }

    /// Notes an event met; how many are noted now (a partial cursor's prefix).
    pub(super) fn meet(&self, key: Keyed<'_>) -> usize {
        let mut met = self.met.lock().unwrap_or_else(PoisonError::into_inner);
        if key.at >= self.from {
            met.push((key.at, key.id.to_owned()));
        }
        met.len()
    }

    /// How many events are noted.
    pub(super) fn len(&self) -> usize {
        self.met.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The overlap of the first `count` events noted and the carried ones. Past `limit` ids the newest
    /// are kept, whole instants at a time, and `from` moves up to the oldest instant kept: an event
    /// older than that and indexed late is not caught (the limit the cursor's size sets).
    pub(super) fn overlap(&self, count: usize) -> Overlap {
        let met = self.met.lock().unwrap_or_else(PoisonError::into_inner);
        let carried = self.carried.iter().map(|id| (self.carried_at, id.as_str()));
        let mut entries: Vec<(Timestamp, &str)> =
            carried.chain(met[..count.min(met.len())].iter().map(|(at, id)| (*at, id.as_str()))).collect();
        entries.sort_unstable_by(|a, b| b.cmp(a));
        // An id met again (a boundary event a resumed window reads again) counts once, at its newest.
        let mut once = HashSet::with_capacity(entries.len());
        entries.retain(|(_, id)| once.insert(*id));
        let mut from = self.from;
        if entries.len() > self.limit {
            let cut = entries[self.limit].0;
            entries.retain(|(at, _)| *at > cut);
            from = cut.checked_add(self.resolution).unwrap_or(cut).max(self.from);
        }
        Overlap { from, ids: entries.into_iter().map(|(_, id)| id.to_owned()).collect() }
    }
}

/// The ids a window's read drops: those the previous window's overlap lists, and those a partial cursor
/// had delivered at its boundary.
pub(super) fn already_delivered(previous: Option<&Overlap>, boundary: &[String]) -> HashSet<String> {
    previous.into_iter().flat_map(|overlap| overlap.ids.iter()).chain(boundary).cloned().collect()
}

/// The exact cursors of a window read newest first: the instant delivered down to, and the ids
/// delivered at it (shared with the cursors already handed out, which read their own prefix).
pub(super) struct Inside {
    window: Window,
    commit: Timestamp,
    resolution: SignedDuration,
    boundary: Option<Timestamp>,
    ids: Arc<Mutex<Vec<String>>>,
    exact: bool,
    /// The overlap before the window's start (what a resumed run must drop again).
    previous: Arc<Option<Overlap>>,
    /// The overlap being built for the window's end, when the plan has one.
    recent: Option<Recent>,
}

impl Inside {
    /// The cursors of `window` (committed at `commit`), resumed at `boundary` (the instant and ids a
    /// partial cursor had delivered) if any.
    pub(super) fn new(
        window: Window,
        commit: Timestamp,
        boundary: Option<(Timestamp, Vec<String>)>,
        resolution: SignedDuration,
        previous: Option<Overlap>,
        recent: Option<Recent>,
    ) -> Self {
        let (boundary, ids) = match boundary {
            Some((at, seen)) => (Some(at), seen),
            None => (None, Vec::new()),
        };
        Self {
            window,
            commit,
            resolution,
            boundary,
            ids: Arc::new(Mutex::new(ids)),
            exact: true,
            previous: Arc::new(previous),
            recent,
        }
    }

    /// The cursor right after the event keyed `key`, while the window is served newest first; `met`
    /// is how many events the overlap being built had noted through this one.
    pub(super) fn after(&mut self, key: Option<Keyed<'_>>, met: usize) -> Option<RecordCursor> {
        let key = key.filter(|_| self.exact);
        let Some(Keyed { id, at }) = key else {
            self.exact = false;
            return None;
        };
        let in_window = self.window.start <= at && at < self.window.end;
        match self.boundary {
            _ if !in_window => self.exact = false,
            Some(boundary) if at > boundary => self.exact = false,
            Some(boundary) if at == boundary => {}
            _ => {
                self.boundary = Some(at);
                self.ids = Arc::new(Mutex::new(Vec::new()));
            }
        }
        if !self.exact {
            tracing::debug!(id, at = %at, window_start = %self.window.start, window_end = %self.window.end,
                "an event out of newest-first order: the rest of this window commits only at its end");
            return None;
        }
        let seen = self.ids.clone();
        let count = {
            let mut ids = seen.lock().unwrap_or_else(PoisonError::into_inner);
            ids.push(id.to_owned());
            ids.len()
        };
        let (until, then, below) = (self.window.start, self.commit, at + self.resolution);
        let (previous, recent) = (self.previous.clone(), self.recent.clone());
        Some(RecordCursor::deferred(move || {
            let seen = seen.lock().unwrap_or_else(PoisonError::into_inner)[..count].to_vec();
            let overlap = recent.as_ref().map(|recent| recent.overlap(met));
            let partial = Some(Partial { below, then, seen, overlap });
            cursor::store(&WindowCursor { until, partial, overlap: (*previous).clone() })
        }))
    }
}

/// The cursor at the end of a window committed at `until`, with the overlap `recent` noted (all of it,
/// read when the cursor is built: the window is read by then).
pub(super) fn window_end(until: Timestamp, recent: Option<Recent>) -> RecordCursor {
    match recent {
        None => RecordCursor::from(cursor::store(&WindowCursor::at(until))),
        Some(recent) => RecordCursor::deferred(move || {
            let overlap = Some(recent.overlap(recent.len()));
            cursor::store(&WindowCursor { until, partial: None, overlap })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn keyed(id: &str, second: i64) -> Keyed<'_> {
        Keyed { id, at: at(second) }
    }

    #[test]
    fn an_overlap_lists_what_was_met_since_its_start_newest_first() {
        let recent = Recent::new(at(100), at(200), vec!["carried".into()], 10, SignedDuration::from_secs(1));
        assert_eq!(recent.meet(keyed("old", 99)), 0, "before the overlap: not noted");
        assert_eq!(recent.meet(keyed("a", 150)), 1);
        assert_eq!(recent.meet(keyed("b", 120)), 2);
        assert_eq!(recent.meet(keyed("a", 150)), 3, "met twice (a page served again)");
        let overlap = recent.overlap(recent.len());
        assert_eq!(overlap, Overlap { from: at(100), ids: vec!["carried".into(), "a".into(), "b".into()] });
        assert_eq!(recent.overlap(1).ids, ["carried", "a"], "a prefix: what was met before a cursor");
    }

    #[test]
    fn past_its_limit_an_overlap_keeps_the_newest_whole_instants() {
        let recent = Recent::new(at(100), at(200), Vec::new(), 3, SignedDuration::from_secs(1));
        for (id, second) in [("a", 190), ("b", 180), ("c", 180), ("d", 170), ("e", 170), ("f", 160)] {
            recent.meet(keyed(id, second));
        }
        let overlap = recent.overlap(recent.len());
        assert_eq!(overlap.from, at(171), "the instant the limit cuts through is dropped whole");
        assert_eq!(overlap.ids, ["a", "c", "b"]);
        let tight = Recent::new(at(100), at(200), Vec::new(), 1, SignedDuration::from_secs(1));
        tight.meet(keyed("x", 150));
        tight.meet(keyed("y", 150));
        assert_eq!(tight.overlap(2), Overlap { from: at(151), ids: Vec::new() }, "a tie wider than the limit");
    }

    proptest::proptest! {
        /// Whatever is met and whatever the limit: at most `limit` ids, each met at or after `from`, and
        /// every event met at or after `from` listed — the promise the next window's re-read relies on.
        #[test]
        fn an_overlap_lists_exactly_what_was_met_since_its_start(
            seconds in proptest::collection::vec(90i64..200, 0..40),
            limit in 1usize..12,
        ) {
            let recent = Recent::new(at(100), at(200), Vec::new(), limit, SignedDuration::from_secs(1));
            let ids: Vec<String> = (0..seconds.len()).map(|i| format!("id{i}")).collect();
            for (id, second) in ids.iter().zip(&seconds) {
                recent.meet(keyed(id, *second));
            }
            let overlap = recent.overlap(recent.len());
            proptest::prop_assert!(overlap.ids.len() <= limit);
            proptest::prop_assert!(overlap.from >= at(100));
            for (id, second) in ids.iter().zip(&seconds) {
                let listed = overlap.ids.contains(id);
                proptest::prop_assert_eq!(listed, at(*second) >= overlap.from, "{} at {}", id, second);
            }
        }
    }

    #[test]
    fn the_delivered_set_joins_the_previous_overlap_and_the_boundary() {
        let previous = Overlap { from: at(1), ids: vec!["p".into()] };
        let set = already_delivered(Some(&previous), &["s".to_owned()]);
        assert!(set.contains("p") && set.contains("s") && set.len() == 2);
        assert!(already_delivered(None, &[]).is_empty());
    }

    #[test]
    fn cursors_without_an_overlap_keep_their_old_shape() {
        let stored = cursor::store(&WindowCursor::at(at(5)));
        assert_eq!(stored, serde_json::json!({"until": "1970-01-01T00:00:05Z", "v": 1}));
        let read: WindowCursor = cursor::load(&serde_json::json!({"until": "1970-01-01T00:00:05Z",
            "partial": {"below": "1970-01-01T00:00:04Z", "then": "1970-01-01T00:00:09Z"}}))
        .unwrap();
        assert_eq!(read.partial.unwrap().overlap, None);
    }
}
