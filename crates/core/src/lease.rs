//! Stream ownership for several workers on one shared checkpoint store: the [`LeaseGate`] the crawler
//! consults, and [`LocalLeases`], the bookkeeping a lease authority (the PostgreSQL store) keeps in memory.
//!
//! A crawler given a gate runs a stream only while the gate grants it a [`RunPermit`], and asks the gate
//! again before it sends each batch: once the gate says no (the lease was lost, is being handed over, or
//! its deadline passed because the authority could not be reached), no further batch of that stream is
//! sent; the batches already in flight are still awaited and their cursors committed, which the store's
//! fence refuses if the lease really went to another worker. A crawler without a gate (the file store)
//! runs every stream and pays nothing for this.
//!
//! [`LocalLeases`] is the worker's view: the streams it holds with their epochs, whether each is running,
//! and one deadline for all of them, measured on the monotonic clock: the instant its last successful
//! renewal *started*, plus the lease, less a margin. The authority's own expiry (from the database's
//! clock) is at least that late, so a worker stops sending before anyone else may take its streams over,
//! even if it was frozen (`SIGSTOP`), suspended or cut off from the authority.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::checkpoint::StreamKey;

/// Whether this worker may run a stream and send its batches now.
pub trait LeaseGate: Send + Sync + fmt::Debug {
    /// A permit to start a run of `key`, `None` when this worker does not hold it now. The stream counts
    /// as running (it is not handed over) while the permit lives.
    fn try_run(&self, key: &StreamKey) -> Option<RunPermit>;

    /// Whether a batch of `key` may be sent now: consulted before each one.
    fn may_send(&self, key: &StreamKey) -> bool;
}

/// Held for the length of one run of one stream; dropping it tells the gate the run ended.
pub struct RunPermit(Option<Box<dyn FnOnce() + Send + Sync>>);

impl RunPermit {
    /// A permit that calls `on_end` when the run ends (the permit is dropped).
    pub fn new(on_end: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(on_end)))
    }
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        if let Some(on_end) = self.0.take() {
            on_end();
        }
    }
}

impl fmt::Debug for RunPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RunPermit")
    }
}

/// One stream this worker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The fencing token the authority gave with the lease: every commit carries it.
    pub epoch: i64,
    /// A run of the stream is going on.
    pub running: bool,
    /// The lease is being given up (surplus, or shutdown): no new run, no new batch; it is released once
    /// the running run ended.
    pub releasing: bool,
}

#[derive(Debug, Default)]
struct State {
    held: HashMap<StreamKey, Held>,
    /// Until when sending is allowed; `None` before the first successful renewal.
    deadline: Option<Instant>,
}

/// The streams a worker holds, their epochs, and the deadline past which none of them may send.
///
/// Cheap to clone (one shared state). The lease authority updates it ([`LocalLeases::grant`],
/// [`LocalLeases::renewed`], [`LocalLeases::lose`]); the crawler reads it through [`LeaseGate`].
#[derive(Debug, Clone, Default)]
pub struct LocalLeases(Arc<Mutex<State>>);

impl LocalLeases {
    /// No stream held.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data, valid after any panic of a holder: keep using it.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `key` was claimed with `epoch`.
    pub fn grant(&self, key: StreamKey, epoch: i64) {
        self.state().held.insert(key, Held { epoch, running: false, releasing: false });
    }

    /// A renewal that started at `started` succeeded: sending is allowed until `started + valid`.
    pub fn renewed(&self, started: Instant, valid: Duration) {
        self.state().deadline = Some(started + valid);
    }

    /// The instant past which nothing may be sent, if any renewal succeeded yet.
    pub fn deadline(&self) -> Option<Instant> {
        self.state().deadline
    }

    /// Forgets `key` (lost to another worker, or released): returns whether it was held.
    pub fn lose(&self, key: &StreamKey) -> bool {
        self.state().held.remove(key).is_some()
    }

    /// The epoch of `key` if held (releasing or not).
    pub fn epoch(&self, key: &StreamKey) -> Option<i64> {
        self.state().held.get(key).map(|held| held.epoch)
    }

    /// Every stream held, with its state, sorted by key.
    pub fn snapshot(&self) -> Vec<(StreamKey, Held)> {
        let mut out: Vec<_> = self.state().held.iter().map(|(k, h)| (k.clone(), *h)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How many streams are held and not being released.
    pub fn count_active(&self) -> usize {
        self.state().held.values().filter(|h| !h.releasing).count()
    }

    /// Marks up to `n` held streams (idle ones first) for release, and returns how many were marked.
    pub fn mark_surplus(&self, n: usize) -> usize {
        let mut state = self.state();
        let mut candidates: Vec<(&StreamKey, &mut Held)> =
            state.held.iter_mut().filter(|(_, h)| !h.releasing).collect();
        candidates.sort_by(|a, b| a.1.running.cmp(&b.1.running).then_with(|| b.0.cmp(a.0)));
        let mut marked = 0;
        for (_, held) in candidates.into_iter().take(n) {
            held.releasing = true;
            marked += 1;
        }
        marked
    }

    /// Marks every held stream for release (shutdown).
    pub fn mark_all(&self) {
        for held in self.state().held.values_mut() {
            held.releasing = true;
        }
    }

    /// Marks `key` for release (it is no longer configured here).
    pub fn mark(&self, key: &StreamKey) {
        if let Some(held) = self.state().held.get_mut(key) {
            held.releasing = true;
        }
    }

    /// The streams marked for release whose run ended: safe to hand over now, with their epochs.
    pub fn releasable(&self) -> Vec<(StreamKey, i64)> {
        self.state().held.iter().filter(|(_, h)| h.releasing && !h.running).map(|(k, h)| (k.clone(), h.epoch)).collect()
    }

    fn within_deadline(state: &State) -> bool {
        state.deadline.is_some_and(|deadline| Instant::now() < deadline)
    }
}

impl LeaseGate for LocalLeases {
    fn try_run(&self, key: &StreamKey) -> Option<RunPermit> {
        let mut state = self.state();
        let valid = Self::within_deadline(&state);
        let held = state.held.get_mut(key)?;
        if !valid || held.releasing || held.running {
            return None;
        }
        held.running = true;
        let (leases, key) = (self.clone(), key.clone());
        Some(RunPermit::new(move || {
            if let Some(held) = leases.state().held.get_mut(&key) {
                held.running = false;
            }
        }))
    }

    fn may_send(&self, key: &StreamKey) -> bool {
        let state = self.state();
        Self::within_deadline(&state) && state.held.get(key).is_some_and(|held| !held.releasing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> StreamKey {
        StreamKey::new("s", format!("{n}"))
    }

    #[test]
    fn nothing_runs_before_a_renewal_or_past_the_deadline() {
        let leases = LocalLeases::new();
        leases.grant(key(1), 7);
        assert!(leases.try_run(&key(1)).is_none(), "no renewal yet");
        assert!(!leases.may_send(&key(1)));
        leases.renewed(Instant::now(), Duration::from_secs(60));
        assert!(leases.may_send(&key(1)));
        assert!(!leases.may_send(&key(2)), "not held");
        leases.renewed(Instant::now() - Duration::from_secs(2), Duration::from_secs(1));
        assert!(!leases.may_send(&key(1)), "deadline passed");
        assert!(leases.try_run(&key(1)).is_none());
    }

    #[test]
    fn a_running_stream_is_released_only_after_its_run_ended() {
        let leases = LocalLeases::new();
        leases.grant(key(1), 1);
        leases.grant(key(2), 2);
        leases.renewed(Instant::now(), Duration::from_secs(60));
        let permit = leases.try_run(&key(1)).expect("held");
        assert!(leases.try_run(&key(1)).is_none(), "one run at a time");
        leases.mark_all();
        assert!(!leases.may_send(&key(1)), "releasing: no new batch");
        assert_eq!(leases.releasable(), vec![(key(2), 2)]);
        drop(permit);
        let mut releasable = leases.releasable();
        releasable.sort();
        assert_eq!(releasable, vec![(key(1), 1), (key(2), 2)]);
        assert!(leases.lose(&key(1)) && !leases.lose(&key(1)));
        assert_eq!(leases.epoch(&key(2)), Some(2));
    }

    #[test]
    fn surplus_marks_idle_streams_first() {
        let leases = LocalLeases::new();
        for n in 0..4 {
            leases.grant(key(n), i64::from(n));
        }
        leases.renewed(Instant::now(), Duration::from_secs(60));
        let _running: Vec<_> = (0..2).map(|n| leases.try_run(&key(n)).unwrap()).collect();
        assert_eq!(leases.mark_surplus(2), 2);
        assert_eq!(leases.count_active(), 2);
        let mut released: Vec<_> = leases.releasable().into_iter().map(|(k, _)| k).collect();
        released.sort();
        assert_eq!(released, vec![key(2), key(3)], "the idle ones");
    }
}
