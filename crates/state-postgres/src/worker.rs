//! The lease manager of one worker: heartbeat, renew, release the surplus, claim a fair share, every
//! `renew`; and at shutdown, release everything (see the crate documentation for the rules).

use std::sync::Arc;
use std::time::Instant;

use logcrawl_core::metric;
use logcrawl_core::{LeaseGate, StreamKey};
use tokio::sync::watch;

use crate::Error;
use crate::store::{Inner, PgStore};

impl PgStore {
    /// What the crawler consults before each run and each batch: the streams this worker holds.
    pub fn gate(&self) -> Arc<dyn LeaseGate> {
        Arc::new(self.inner.leases.clone())
    }

    /// The streams this worker is configured to run (all of them, whoever holds them): its fair share
    /// is taken among these. Call again after a reload; a stream no longer wanted is released.
    pub fn set_wanted(&self, mut keys: Vec<StreamKey>) {
        keys.sort();
        keys.dedup();
        let mut wanted = self.inner.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, _) in self.inner.leases.snapshot() {
            if keys.binary_search(&key).is_err() {
                self.inner.leases.mark(&key);
            }
        }
        *wanted = (keys, false);
    }

    /// Starts the lease manager (a worker's store only): the first round runs at once.
    pub fn start_leases(&self, keys: Vec<StreamKey>) {
        self.set_wanted(keys);
        let mut manager = self.manager.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if manager.is_some() || self.inner.worker.is_none() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = self.runtime().spawn(run(self.inner.clone(), stopped));
        *manager = Some((stop, task));
    }

    /// One round of the lease manager now (what the manager does every `renew`), for tests and tools.
    pub fn lease_round(&self) -> Result<(), logcrawl_core::CheckpointError> {
        self.call(|inner| async move { round(&inner).await })
    }

    /// Stops the lease manager and releases every lease (the crawler must have stopped: a stream still
    /// running is released once its run ends, or expires), then removes the worker's row.
    pub async fn shutdown(&self) {
        let manager = self.manager.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let Some((stop, task)) = manager else { return };
        let _stopped = stop.send(true);
        let _ended = task.await;
        let inner = self.inner.clone();
        let release = self.runtime().spawn(async move { release_all(&inner).await });
        match release.await {
            Ok(Ok(released)) => tracing::info!(released, "leases released"),
            Ok(Err(err)) => tracing::warn!(error = %err, "could not release the leases: they expire on their own"),
            Err(join) => tracing::warn!(error = %join, "could not release the leases: they expire on their own"),
        }
    }
}

/// Counts a lease this worker lost (found at renewal, or by the fence) and zeroes its epoch gauge.
pub(crate) fn lost(key: &StreamKey) {
    metrics::counter!(metric::LEASE_LOSSES).increment(1);
    metrics::gauge!(metric::LEASE_EPOCH, "source" => key.source.clone(), "stream" => key.stream.clone()).set(0.0);
}

async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(inner.settings.renew);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        // A round that hangs (the database stopped answering) must not outlive the lease.
        match tokio::time::timeout(inner.settings.renew, round(&inner)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => renewal_failed(&inner, &err.to_string()),
            Err(_) => renewal_failed(&inner, "no answer within the renew interval"),
        }
    }
}

fn renewal_failed(inner: &Inner, why: &str) {
    metrics::counter!(metric::LEASE_RENEWAL_FAILURES).increment(1);
    let left = inner.leases.deadline().map(|d| d.saturating_duration_since(Instant::now()));
    tracing::warn!(store = %inner.store, error = why, sending_for = ?left,
        "lease renewal failed: the streams stop sending when the lease would expire");
}

/// One round: heartbeat, renew, rebalance.
async fn round(inner: &Inner) -> Result<(), Error> {
    let Some(me) = inner.worker.as_deref() else { return Ok(()) };
    let _one_at_a_time = inner.rounds.lock().await;
    let started = Instant::now();
    let lease = inner.settings.lease.as_secs_f64();
    let client = inner.client().await?;
    client.execute(&inner.sql.heartbeat, &[&me, &lease]).await?;
    let (wanted, registered) = inner.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let (sources, streams): (Vec<&str>, Vec<&str>) =
        wanted.iter().map(|k| (k.source.as_str(), k.stream.as_str())).unzip();
    if !registered {
        client.execute(&inner.sql.register, &[&sources, &streams]).await?;
        inner.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1 = true;
    }

    // Renew: what the database no longer gives this worker was taken over.
    let renewed = client.query(&inner.sql.renew, &[&me, &lease]).await?;
    let mut kept = std::collections::HashMap::new();
    for row in &renewed {
        kept.insert(StreamKey::new(row.get::<_, String>(0), row.get::<_, String>(1)), row.get::<_, i64>(2));
    }
    for (key, held) in inner.leases.snapshot() {
        if kept.get(&key) != Some(&held.epoch) {
            inner.leases.lose(&key);
            lost(&key);
            tracing::warn!(stream = %key, epoch = held.epoch, "lease lost: another worker took the stream over");
        }
    }
    for (key, epoch) in &kept {
        // Set again at every round, not only at the claim: the exporter drops a gauge left unset.
        metrics::gauge!(metric::LEASE_EPOCH, "source" => key.source.clone(), "stream" => key.stream.clone())
            .set(*epoch as f64);
        if inner.leases.epoch(key).is_none() {
            // Claimed by a round whose answer was lost: the database says it is ours.
            inner.leases.grant(key.clone(), *epoch);
        }
    }
    inner.leases.renewed(started, inner.settings.lease.saturating_sub(inner.settings.margin()));

    // Rebalance: the fair share of the streams configured here, among the live workers.
    let live: i64 = client.query_one(&inner.sql.live_workers, &[]).await?.get(0);
    let live = usize::try_from(live.max(1)).unwrap_or(1);
    let fair = wanted.len().div_ceil(live);
    metrics::gauge!(metric::LEASE_WORKERS).set(live as f64);
    let active = inner.leases.count_active();
    if active > fair {
        inner.leases.mark_surplus(active - fair);
    }
    for (key, epoch) in inner.leases.releasable() {
        client.execute(&inner.sql.release, &[&key.source, &key.stream, &me, &epoch]).await?;
        inner.leases.lose(&key);
        metrics::counter!(metric::LEASE_RELEASES).increment(1);
        metrics::gauge!(metric::LEASE_EPOCH, "source" => key.source.clone(), "stream" => key.stream.clone()).set(0.0);
        tracing::info!(stream = %key, epoch, "lease released");
    }
    let active = inner.leases.count_active();
    if active < fair {
        let want = i64::try_from(fair - active).unwrap_or(i64::MAX);
        let claimed = client.query(&inner.sql.claim, &[&me, &sources, &streams, &want, &lease]).await?;
        for row in &claimed {
            let key = StreamKey::new(row.get::<_, String>(0), row.get::<_, String>(1));
            let epoch: i64 = row.get(2);
            let previous: Option<String> = row.get(3);
            metrics::counter!(metric::LEASE_CLAIMS).increment(1);
            metrics::gauge!(metric::LEASE_EPOCH, "source" => key.source.clone(), "stream" => key.stream.clone())
                .set(epoch as f64);
            match previous {
                Some(previous) if previous != me => {
                    tracing::info!(stream = %key, epoch, from = %previous, "lease taken over from an expired holder")
                }
                _ => tracing::info!(stream = %key, epoch, "lease claimed"),
            }
            inner.leases.grant(key, epoch);
        }
    }
    metrics::gauge!(metric::LEASES_HELD).set(inner.leases.count_active() as f64);
    Ok(())
}

/// Releases every lease whose run ended, and forgets the worker: returns how many were released.
async fn release_all(inner: &Inner) -> Result<usize, Error> {
    let Some(me) = inner.worker.as_deref() else { return Ok(0) };
    let _one_at_a_time = inner.rounds.lock().await;
    inner.leases.mark_all();
    let client = inner.client().await?;
    let mut released = 0;
    for (key, epoch) in inner.leases.releasable() {
        released += client.execute(&inner.sql.release, &[&key.source, &key.stream, &me, &epoch]).await? as usize;
        inner.leases.lose(&key);
    }
    client.execute(&inner.sql.forget_worker, &[&me]).await?;
    metrics::gauge!(metric::LEASES_HELD).set(0.0);
    Ok(released)
}
