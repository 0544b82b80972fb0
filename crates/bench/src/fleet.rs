//! A fleet of ACME sources, one stream each, against one live ACME simulator, run on their schedule
//! (`Crawler::run_forever`) into NDJSON to `/dev/null` through a [`VerifyingSink`]: the one piece of logic
//! behind `many-streams`, `cost-curve` and `flat-memory`.
//!
//! A fleet runs in the calling process ([`run`]) or, for the cost curve, in a fresh child of the bench
//! (`logcrawl-bench fleet '<plan as JSON>'`, which prints `FLEET <result as JSON>`): a child starts with
//! nothing allocated by an earlier size, so its RSS is that size's alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use logcrawl_acme::AcmeConfig;
use logcrawl_core::config::ComponentTable;
use logcrawl_core::{CrawlStats, Crawler, Sink, Source, SourceMeta};
use logcrawl_sim::datadog::IdDigest;
use serde::{Deserialize, Serialize};

use crate::sims::SimSpec;
use crate::{Lateness, Meter, StoreKind, VerifyingSink, null_sink, procstat, run_problems, store_of};

/// Events in the simulator's log when it starts.
pub const INITIAL_EVENTS: u64 = 20;
/// Events the simulator adds per second, which every stream reads (all streams read the same log).
pub const LIVE_RATE: u64 = 2;

/// The simulator every fleet crawls.
pub fn acme_spec() -> SimSpec {
    SimSpec::Acme { events: INITIAL_EVENTS, live_rate: LIVE_RATE }
}

/// The fewest events a stream started at `since_sim_start` after the simulator must deliver: what the
/// log held then, counted from the simulator's side (its clock started before it answered, so it has
/// seen at least as much time pass).
pub fn present_after(since_sim_start: Duration) -> u64 {
    INITIAL_EVENTS + LIVE_RATE.saturating_mul(since_sim_start.as_millis() as u64) / 1000
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPlan {
    /// The ACME simulator's base URL.
    pub base_url: String,
    /// Sources (one stream each).
    pub streams: usize,
    /// How long the crawler runs.
    pub duration: Duration,
    /// Interval between two runs of a stream.
    pub interval: Duration,
    /// Where checkpoints go.
    pub store: StoreKind,
    /// Events each stream must have delivered at the end (those in the log when the fleet started).
    pub at_least: u64,
    /// How often to sample RSS and events delivered while the fleet runs; `None`: not at all.
    pub sample_every: Option<Duration>,
}

/// One sample of the crawler process while a fleet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Time since the crawler started.
    pub at: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Events delivered so far, every stream together.
    pub delivered: u64,
    /// Threads of the process ([`procstat::threads`]).
    pub threads: Option<u64>,
}

/// What a fleet did and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetResult {
    /// Sources run.
    pub streams: usize,
    /// RSS before the sources were built, bytes.
    pub baseline_rss: Option<u64>,
    /// Threads before the sources were built.
    pub baseline_threads: Option<u64>,
    /// RSS just before shutdown, bytes.
    pub end_rss: Option<u64>,
    /// Peak RSS from building the sources to the end, bytes.
    pub peak_rss: Option<u64>,
    /// The samples taken while the crawler ran, oldest first.
    pub samples: Vec<Sample>,
    /// Events delivered.
    pub events: u64,
    /// Runs started.
    pub runs: u64,
    /// Wall time from building the sources to the crawler's end.
    pub elapsed: Duration,
    /// CPU time of the process over `elapsed`.
    pub cpu: Option<Duration>,
    /// Run-start lateness.
    pub lateness: Lateness,
    /// `Ok(what was checked)` or `Err(what is wrong)`.
    pub check: Result<String, String>,
}

/// The name of source `i`, which the exactly-once check looks up.
fn source_name(i: usize) -> String {
    format!("acme-{i:05}")
}

/// Builds `plan.streams` ACME sources, runs them for `plan.duration`, stops the crawler (in-flight
/// batches are delivered and committed) and checks that each stream delivered ids `1..=k` exactly once,
/// with `k ≥ plan.at_least`. Everything the fleet allocated is dropped before this returns.
pub async fn run(plan: &FleetPlan) -> anyhow::Result<FleetResult> {
    let (store, _dir) = store_of(plan.store)?;
    let verifier = Arc::new(VerifyingSink::new(null_sink()?));
    let sink: Arc<dyn Sink> = verifier.clone();
    let mut table = logcrawl_core::config::Table::new();
    table.insert("base_url".into(), plan.base_url.clone().into());
    let (config, http): (AcmeConfig, _) = ComponentTable::split(&table, logcrawl_acme::HTTP_DEFAULTS)?;
    let mut crawler = Crawler::new(store);

    let baseline_rss = procstat::current_rss();
    let baseline_threads = procstat::threads();
    let meter = Meter::start(&[]);
    for i in 0..plan.streams {
        let connector = Arc::new(logcrawl_acme::connector(config.clone(), &http).map_err(|e| anyhow::anyhow!("{e}"))?);
        crawler.add_source(Source {
            meta: Arc::new(SourceMeta {
                name: source_name(i),
                connector: "acme".into(),
                ddsource: "acme".into(),
                service: "acme".into(),
                tags: Vec::new(),
                hostname: None,
            }),
            connector,
            sink: sink.clone(),
            interval: plan.interval,
            batch: None,
            emit_errors: false,
        });
    }
    let shutdown = crawler.shutdown_token();
    let stats = crawler.stats();
    let crawler = Arc::new(crawler);
    let started = Instant::now();
    let running = tokio::spawn({
        let crawler = crawler.clone();
        async move { crawler.run_forever().await }
    });
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = plan.sample_every.map(|every| {
        let (samples, stats, shutdown) = (samples.clone(), stats.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                if let Some(rss) = procstat::current_rss() {
                    let delivered = CrawlStats::get(&stats.delivered);
                    let sample = Sample { at: started.elapsed(), rss, delivered, threads: procstat::threads() };
                    samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(sample);
                }
            }
        })
    });
    tokio::time::sleep(plan.duration).await;
    let end_rss = procstat::current_rss();
    shutdown.cancel();
    let report = running.await.context("the crawler task panicked")?;
    if let Some(sampler) = sampler {
        sampler.await.context("the RSS sampler panicked")?;
    }
    let (elapsed, cpu, _) = meter.stop(&[]);
    let peak_rss = procstat::peak_rss();
    drop(crawler);

    let mut problems = run_problems(&report, &stats);
    problems.extend(exactly_once_problems(&verifier, plan.streams, plan.at_least));
    let runs = CrawlStats::get(&stats.runs);
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    Ok(FleetResult {
        streams: plan.streams,
        baseline_rss,
        baseline_threads,
        end_rss,
        peak_rss,
        samples,
        events: report.delivered(),
        runs,
        elapsed,
        cpu,
        lateness: Lateness {
            runs: stats.lateness.count(),
            p50: stats.lateness.quantile(0.5),
            p99: stats.lateness.quantile(0.99),
            max: stats.lateness.max(),
            first_run_max: stats.first_run_delay.max(),
        },
        check: if problems.is_empty() {
            Ok(format!("{runs} runs; every stream delivered ids 1..=k (k ≥ {}) exactly once", plan.at_least))
        } else {
            Err(problems.join("; "))
        },
    })
}

/// What is wrong with the ids each of the `streams` sources' sink acknowledged: each must be ids `1..=k`
/// exactly once, `k ≥ at_least`.
fn exactly_once_problems(verifier: &VerifyingSink, streams: usize, at_least: u64) -> Vec<String> {
    let tallies = verifier.tallies();
    let mut short = 0usize;
    let mut wrong = Vec::new();
    for i in 0..streams {
        let name = source_name(i);
        let tally = tallies.get(&name).copied().unwrap_or_default();
        let k = tally.digest.count;
        if k < at_least {
            short += 1;
        }
        let mut expected = IdDigest::default();
        for id in 1..=k {
            expected.add(&format!("{id:012}"));
        }
        if tally.digest != expected || tally.without_id > 0 || tally.dropped > 0 {
            wrong.push(name);
        }
    }
    let mut problems = Vec::new();
    if short > 0 {
        problems.push(format!("{short} streams delivered fewer than the {at_least} events present at start"));
    }
    if !wrong.is_empty() {
        problems.push(format!(
            "{} streams did not deliver ids 1..=k exactly once, e.g. {}",
            wrong.len(),
            wrong.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    problems
}

/// Runs `plan` in a fresh child `exe fleet '<plan>'` and returns what it printed.
pub async fn run_in_child(exe: &std::path::Path, plan: &FleetPlan) -> anyhow::Result<FleetResult> {
    crate::child::run_for_result(exe, &["fleet".to_owned(), serde_json::to_string(plan)?], "FLEET").await
}

/// The body of `logcrawl-bench fleet '<plan>'`: runs the plan and prints `FLEET <result>` on stdout.
pub async fn serve_plan(plan: &str) -> anyhow::Result<()> {
    let plan: FleetPlan = serde_json::from_str(plan).context("reading the fleet plan")?;
    crate::child::print_result("FLEET", &run(&plan).await?)
}
