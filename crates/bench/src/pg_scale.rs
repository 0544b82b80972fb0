//! `pg-scale`: many streams over several workers on one PostgreSQL, measured at the store.
//!
//! Every worker is a [`PgStore`] opened as a worker (its own pool, runtime and lease manager), in this
//! process: what is measured is the database's share of the work, which processes would not change.
//!
//! 1. **claim**: all workers start together; the time until each holds its fair share of the streams;
//! 2. **lease overhead**: the mean time of one lease round (heartbeat, renew, rebalance) per worker at
//!    balance, and that divided by the streams it holds;
//! 3. **commits/s**: every worker commits fenced cursors to the streams it holds from `threads` threads for
//!    `duration`;
//! 4. **takeover**: one worker stops without releasing its leases (as a `kill -9` would); the time until
//!    the others hold all the streams again (one lease, plus up to one renew, is expected).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use logcrawl_core::{CheckpointStore, StreamKey};
use logcrawl_state_postgres::{PgSettings, PgStore};
use serde_json::json;

/// What `pg-scale` runs.
#[derive(Debug, Clone)]
pub struct PgScaleOptions {
    /// The database; `None`: a throw-away server started for the run.
    pub url: Option<String>,
    /// Streams.
    pub streams: usize,
    /// Workers.
    pub workers: usize,
    /// Lease, and renew (a third of it).
    pub lease: Duration,
    /// How long the commit phase lasts.
    pub duration: Duration,
    /// Committing threads per worker.
    pub threads: usize,
}

/// What `pg-scale` measured.
#[derive(Debug, Clone)]
pub struct PgScaleReport {
    /// The options it ran with.
    pub options: PgScaleOptions,
    /// Time until every worker held its fair share.
    pub claim: Duration,
    /// Mean duration of one lease round of one worker at balance.
    pub round: Duration,
    /// Fenced commits per second, all workers together.
    pub commits_per_sec: f64,
    /// Time from a worker's stop (leases not released) until the others held every stream.
    pub takeover: Duration,
}

impl PgScaleReport {
    /// A Markdown table of the figures.
    pub fn table(&self) -> String {
        let o = &self.options;
        let per_worker = o.streams.div_ceil(o.workers);
        format!(
            "| streams | workers | lease | claim s | lease round ms | µs per stream per round | commits/s | takeover s |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} | {:?} | {:.2} | {:.1} | {:.1} | {:.0} | {:.2} |\n",
            o.streams,
            o.workers,
            o.lease,
            self.claim.as_secs_f64(),
            self.round.as_secs_f64() * 1e3,
            self.round.as_secs_f64() * 1e6 / per_worker as f64,
            self.commits_per_sec,
            self.takeover.as_secs_f64(),
        )
    }
}

/// Live leases by holder, from the database.
fn holders(admin: &PgStore) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for row in admin.leases()? {
        if let (Some(holder), Some(left)) = (row.holder, row.expires_in)
            && left > 0.0
        {
            *out.entry(holder).or_insert(0) += 1;
        }
    }
    Ok(out)
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            bail!("{what}: not reached in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Runs the scenario (blocking; call it off any async runtime's workers).
pub fn run(options: PgScaleOptions) -> anyhow::Result<PgScaleReport> {
    let server = match options.url {
        Some(_) => None,
        None => Some(logcrawl_testkit::pg::PgServer::start()),
    };
    let url = options.url.clone().or_else(|| server.as_ref().map(|s| s.url())).context("a database")?;
    let settings = PgSettings {
        lease: options.lease,
        renew: options.lease / 3,
        pool_size: options.threads.max(2),
        schema: "logcrawl_bench".into(),
        ..PgSettings::new(url)
    };
    let admin = PgStore::open_admin(settings.clone())?;
    let keys: Vec<StreamKey> =
        (0..options.streams).map(|i| StreamKey::new("bench", format!("stream-{i:05}"))).collect();
    let mut workers: Vec<Arc<PgStore>> = Vec::new();
    for _ in 0..options.workers {
        workers.push(Arc::new(PgStore::open_worker(settings.clone())?));
    }

    let started = Instant::now();
    for worker in &workers {
        worker.start_leases(keys.clone());
    }
    let (n, total) = (options.workers, options.streams);
    let per = total.div_ceil(n);
    wait_until(options.lease * 10, "every worker holds its share", || {
        let held = holders(&admin)?;
        Ok(held.len() == n && held.values().sum::<usize>() == total && held.values().all(|&c| c + n >= per))
    })?;
    let claim = started.elapsed();

    let mut rounds = Duration::ZERO;
    for worker in &workers {
        let at = Instant::now();
        worker.lease_round()?;
        rounds += at.elapsed();
    }
    let round = rounds / options.workers as u32;

    let commits = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for worker in &workers {
        let gate = worker.gate();
        let mine: Vec<StreamKey> = keys.iter().filter(|k| gate.may_send(k)).cloned().collect();
        let mine = Arc::new(mine);
        for t in 0..options.threads {
            let (worker, mine, commits, stop) = (worker.clone(), mine.clone(), commits.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) && !mine.is_empty() {
                    let key = &mine[i % mine.len()];
                    if worker.commit(key, &json!({"after": format!("{i:012}")})).is_ok() {
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                    i += options.threads;
                }
            }));
        }
    }
    let phase = Instant::now();
    std::thread::sleep(options.duration);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _joined = thread.join();
    }
    let commits_per_sec = commits.load(Ordering::Relaxed) as f64 / phase.elapsed().as_secs_f64();

    // A worker gone without releasing: its manager stops with it, its leases expire.
    let gone = workers.remove(0);
    drop(gone);
    let stopped = Instant::now();
    let left = options.workers - 1;
    wait_until(options.lease * 10, "the others hold every stream", || {
        let held = holders(&admin)?;
        Ok(held.len() == left && held.values().sum::<usize>() == options.streams)
    })?;
    let takeover = stopped.elapsed();
    Ok(PgScaleReport { options, claim, round, commits_per_sec, takeover })
}
