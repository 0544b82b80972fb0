//! `cost-curve` and `flat-memory`: what a source costs as their number grows, and whether a fleet's memory
//! stays flat over a long run. Both run [`fleet`]s of ACME sources against one ACME simulator.
//!
//! * **cost-curve** runs one fleet per size (`--sizes`, default 1, 10, 100, 1 000, 10 000), one after the
//!   other, each for `--duration` at `--interval`, all its sources against one ACME simulator started for
//!   that size (the log grows while a simulator runs and each stream's first run reads all of it: a fresh
//!   one gives every size the same 20-event start). With the simulators in child processes (the default),
//!   each fleet runs in a fresh child of the bench too: its RSS starts clean, with nothing an earlier size
//!   left in the allocator. Per size it reports events/s, CPU per event,
//!   the baseline RSS (before the sources were built), the idle RSS, RSS per source =
//!   (idle − baseline) / N, the peak, p50/p99/max lateness and the exactly-once check.
//! * **Idle RSS** is the *lowest* of the RSS samples taken in the second half of the run (every
//!   interval / 8). A fleet's streams run in bursts: their first runs all start together and each next run
//!   is scheduled one interval after the previous start, so the whole fleet runs within a few hundred
//!   milliseconds of every interval and waits the rest. The lowest late sample is the fleet between two
//!   bursts, with no run in flight and the allocator's dirty pages of the last burst returned (jemalloc
//!   here: after a second): what the sources cost while they wait, which is most of their life. The
//!   median of the late samples is printed beside it; it moves with the share of time spent in bursts.
//! * **flat-memory** runs one fleet (`--streams`, `--duration`) and prints its RSS series: per row of
//!   `--sample-every`, the lowest and highest RSS sampled in it and the events delivered so far; then,
//!   from the third interval on (after the first runs read the simulator's backlog), the lowest and
//!   highest idle RSS and the least-squares slope of the rows' lowest and highest RSS over time.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::fleet::{self, FleetPlan, FleetResult};
use crate::sims::Sim;
use crate::{Options, StoreKind};

/// The per-source idle RSS the cost curve aims at for 10 000 sources, bytes.
pub const TARGET_RSS_PER_SOURCE: u64 = 20_000;
/// The p99 lateness the cost curve aims at for 10 000 sources.
pub const TARGET_P99: Duration = Duration::from_millis(500);

/// How often a fleet samples its RSS: several times between two bursts of runs, however long the interval.
fn sample_period(interval: Duration) -> Duration {
    (interval / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Runs `plan` in a child of `exe` when set, else here; returns the result and the simulator's CPU meanwhile.
async fn run_fleet(
    acme: &Sim,
    exe: Option<&std::path::Path>,
    plan: &FleetPlan,
) -> anyhow::Result<(FleetResult, Option<Duration>)> {
    let before = acme.child_cpu();
    let result = match exe {
        Some(exe) => fleet::run_in_child(exe, plan).await?,
        None => fleet::run(plan).await?,
    };
    let sim_cpu = acme.child_cpu().zip(before).map(|(end, start)| end.saturating_sub(start));
    Ok((result, sim_cpu))
}

/// One size of the cost curve.
#[derive(Debug, Clone)]
pub struct CurveRow {
    /// The fleet's result.
    pub result: FleetResult,
    /// The simulator's CPU time while the fleet ran (`None` in process).
    pub sim_cpu: Option<Duration>,
    /// How long the fleet ran, which sets what "late in the run" is.
    pub duration: Duration,
}

impl CurveRow {
    /// The samples taken in the second half of the run.
    fn late(&self) -> impl Iterator<Item = &fleet::Sample> {
        let half = self.duration / 2;
        self.result.samples.iter().filter(move |s| s.at >= half)
    }

    /// The late sample with the lowest RSS: the fleet idle between two bursts of runs (see the module
    /// documentation).
    pub fn idle(&self) -> Option<fleet::Sample> {
        self.late().min_by_key(|s| s.rss).copied()
    }

    /// The idle RSS, bytes.
    pub fn idle_rss(&self) -> Option<u64> {
        self.idle().map(|s| s.rss)
    }

    /// The median of the late RSS samples.
    pub fn late_median_rss(&self) -> Option<u64> {
        let mut late: Vec<u64> = self.late().map(|s| s.rss).collect();
        late.sort_unstable();
        late.get(late.len() / 2).copied()
    }

    /// (idle RSS − baseline RSS) / sources, in bytes; negative when the allocator returned more than the
    /// sources took (one source, noise).
    pub fn rss_per_source(&self) -> Option<f64> {
        self.per_source(self.idle_rss()?, self.result.baseline_rss?)
    }

    fn per_source(&self, now: u64, baseline: u64) -> Option<f64> {
        Some((now as f64 - baseline as f64) / self.result.streams.max(1) as f64)
    }

    /// Events delivered per second of wall time.
    pub fn events_per_sec(&self) -> f64 {
        self.result.events as f64 / self.result.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU time per event delivered.
    pub fn cpu_per_event(&self) -> Option<Duration> {
        let events = u32::try_from(self.result.events).unwrap_or(u32::MAX);
        self.result.cpu.filter(|_| events > 0).map(|cpu| cpu / events)
    }
}

/// The result of `cost-curve`: one row per size, in the order run.
#[derive(Debug, Clone)]
pub struct CurveReport {
    /// The rows.
    pub rows: Vec<CurveRow>,
    /// The interval between two runs of a stream.
    pub interval: Duration,
}

/// Runs the cost curve of `options.sizes` against one simulator; see the module documentation.
pub async fn cost_curve(options: &Options) -> anyhow::Result<CurveReport> {
    let exe = options.sim_exe.as_deref();
    let mut rows = Vec::new();
    for &streams in &options.sizes {
        // A simulator per size: its log grows while it runs, and every stream's first run reads all of
        // it, so a size run against an older simulator would start with a backfill, not with the same
        // 20 events as the others (measured: the 10 000th source after the four smaller sizes read 340).
        let acme = Sim::start(&fleet::acme_spec(), exe).await?;
        let sim_started = Instant::now();
        let plan = FleetPlan {
            base_url: acme.base_url(),
            streams,
            duration: options.duration,
            interval: options.interval,
            store: options.many_store.unwrap_or(StoreKind::Memory),
            at_least: fleet::present_after(sim_started.elapsed()),
            sample_every: Some(sample_period(options.interval)),
        };
        let (result, sim_cpu) = run_fleet(&acme, exe, &plan).await?;
        rows.push(CurveRow { result, sim_cpu, duration: options.duration });
    }
    Ok(CurveReport { rows, interval: options.interval })
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "?".into(), |b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)))
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "?".into(), |n| n.to_string())
}

fn kb(bytes: Option<f64>) -> String {
    bytes.map_or_else(|| "?".into(), |b| format!("{:.1}", b / 1000.0))
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// `Ok` when every row's exactly-once check held, else each failed row's problem.
fn checks<'a>(rows: impl Iterator<Item = &'a FleetResult>) -> Result<(), String> {
    let failed: Vec<String> =
        rows.filter_map(|r| r.check.as_ref().err().map(|e| format!("{} sources: {e}", r.streams))).collect();
    if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
}

impl CurveReport {
    /// `Ok` when every size delivered exactly once.
    pub fn check(&self) -> Result<(), String> {
        checks(self.rows.iter().map(|r| &r.result))
    }

    /// The rows as a Markdown table, each size's check, and the largest size against the targets.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| sources | events | seconds | events/s | CPU s | CPU µs/event | sim CPU s | baseline MiB | idle MiB | late median MiB | peak MiB | idle RSS/source kB | threads base/idle/max | lateness p50/p99/max ms | first-run max ms | exactly once |\n",
        );
        out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|\n");
        for row in &self.rows {
            let r = &row.result;
            let l = r.lateness;
            let _infallible = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{}/{} | {}/{}/{} | {} | {} |",
                r.streams,
                r.events,
                r.elapsed.as_secs_f64(),
                row.events_per_sec(),
                secs(r.cpu),
                row.cpu_per_event().map_or_else(|| "-".into(), |c| format!("{:.2}", c.as_secs_f64() * 1e6)),
                secs(row.sim_cpu),
                mib(r.baseline_rss),
                mib(row.idle_rss()),
                mib(row.late_median_rss()),
                mib(r.peak_rss),
                kb(row.rss_per_source()),
                count(r.baseline_threads),
                count(row.idle().and_then(|s| s.threads)),
                count(r.samples.iter().filter_map(|s| s.threads).max()),
                ms(l.p50),
                ms(l.p99),
                ms(l.max),
                ms(l.first_run_max),
                if r.check.is_ok() { "yes" } else { "**NO**" },
            );
        }
        let _infallible = writeln!(
            out,
            "\ninterval {} ms; idle = the lowest RSS sampled (every {} ms) in the second half of each run; kB = 1000 bytes\n",
            ms(self.interval),
            ms(sample_period(self.interval)),
        );
        for row in &self.rows {
            let _infallible = match &row.result.check {
                Ok(what) => writeln!(out, "- {} sources: ok: {what}", row.result.streams),
                Err(what) => writeln!(out, "- {} sources: FAILED: {what}", row.result.streams),
            };
        }
        if let Some(largest) = self.rows.iter().max_by_key(|r| r.result.streams) {
            let per_source = largest.rss_per_source();
            let p99 = largest.result.lateness.p99;
            let _infallible = writeln!(
                out,
                "- targets at {} sources: idle RSS/source {} kB (≤ {} kB: {}), p99 lateness {} ms (≤ {} ms: {})",
                largest.result.streams,
                kb(per_source),
                TARGET_RSS_PER_SOURCE / 1000,
                if per_source.is_some_and(|b| b <= TARGET_RSS_PER_SOURCE as f64) { "met" } else { "not met" },
                ms(p99),
                ms(TARGET_P99),
                if p99 <= TARGET_P99 { "met" } else { "not met" },
            );
        }
        out
    }
}

/// One row of the `flat-memory` series: the samples of one span of `--sample-every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the span ended, since the crawler started.
    pub end: Duration,
    /// The lowest RSS sampled in it, bytes.
    pub min_rss: u64,
    /// The highest RSS sampled in it, bytes.
    pub max_rss: u64,
    /// Events delivered at its last sample.
    pub delivered: u64,
    /// The most threads sampled in it.
    pub threads: Option<u64>,
}

/// The samples grouped in consecutive spans of `every` (spans without a sample are left out).
pub fn windows(samples: &[fleet::Sample], every: Duration) -> Vec<Window> {
    let every = every.max(Duration::from_millis(1));
    let mut out: Vec<Window> = Vec::new();
    for s in samples {
        let end = every * (u32::try_from(s.at.as_nanos() / every.as_nanos()).unwrap_or(u32::MAX) + 1);
        match out.last_mut() {
            Some(w) if w.end == end => {
                w.min_rss = w.min_rss.min(s.rss);
                w.max_rss = w.max_rss.max(s.rss);
                w.delivered = s.delivered;
                w.threads = w.threads.max(s.threads);
            }
            _ => out.push(Window { end, min_rss: s.rss, max_rss: s.rss, delivered: s.delivered, threads: s.threads }),
        }
    }
    out
}

/// The least-squares slope of `points` (x, y); `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

/// How RSS moved over the steady part of a `flat-memory` run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Where the steady part starts (the third interval).
    pub from: Duration,
    /// Rows in it.
    pub rows: usize,
    /// The lowest of the rows' lowest RSS, bytes.
    pub idle_min: u64,
    /// The highest of the rows' lowest RSS, bytes.
    pub idle_max: u64,
    /// The highest RSS sampled, bytes.
    pub peak: u64,
    /// Slope of the rows' lowest RSS, bytes per minute.
    pub idle_slope: Option<f64>,
    /// Slope of the rows' highest RSS, bytes per minute.
    pub peak_slope: Option<f64>,
}

/// The result of `flat-memory`.
#[derive(Debug, Clone)]
pub struct FlatReport {
    /// The fleet's result, with its samples.
    pub result: FleetResult,
    /// The simulator's CPU time meanwhile (`None` in process).
    pub sim_cpu: Option<Duration>,
    /// The interval between two runs of a stream.
    pub interval: Duration,
    /// The span of one row.
    pub every: Duration,
}

/// Runs one fleet of `options.streams` for `options.duration`, sampling its RSS; see the module
/// documentation.
pub async fn flat_memory(options: &Options) -> anyhow::Result<FlatReport> {
    let exe = options.sim_exe.as_deref();
    let acme = Sim::start(&fleet::acme_spec(), exe).await?;
    let plan = FleetPlan {
        base_url: acme.base_url(),
        streams: options.streams,
        duration: options.duration,
        interval: options.interval,
        store: options.many_store.unwrap_or(StoreKind::Memory),
        at_least: fleet::INITIAL_EVENTS,
        sample_every: Some(sample_period(options.interval).min(options.sample_every)),
    };
    let (result, sim_cpu) = run_fleet(&acme, exe, &plan).await?;
    Ok(FlatReport { result, sim_cpu, interval: options.interval, every: options.sample_every })
}

impl FlatReport {
    /// The series, one row per span of [`FlatReport::every`].
    pub fn windows(&self) -> Vec<Window> {
        windows(&self.result.samples, self.every)
    }

    /// RSS over the rows that start at the third interval or later; `None` when there are none.
    pub fn trend(&self) -> Option<Trend> {
        let from = self.interval * 2;
        let steady: Vec<Window> =
            self.windows().into_iter().filter(|w| w.end.saturating_sub(self.every) >= from).collect();
        let minutes = |w: &Window| w.end.as_secs_f64() / 60.0;
        Some(Trend {
            from,
            rows: steady.len(),
            idle_min: steady.iter().map(|w| w.min_rss).min()?,
            idle_max: steady.iter().map(|w| w.min_rss).max()?,
            peak: steady.iter().map(|w| w.max_rss).max()?,
            idle_slope: slope(&steady.iter().map(|w| (minutes(w), w.min_rss as f64)).collect::<Vec<_>>()),
            peak_slope: slope(&steady.iter().map(|w| (minutes(w), w.max_rss as f64)).collect::<Vec<_>>()),
        })
    }

    /// `Ok` when every stream delivered exactly once.
    pub fn check(&self) -> Result<(), String> {
        checks(std::iter::once(&self.result))
    }

    /// The series as a Markdown table, then the fleet's totals, the trend and the check.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| s | RSS min MiB | RSS max MiB | events delivered | threads max |\n|---:|---:|---:|---:|---:|\n",
        );
        for w in self.windows() {
            let _infallible = writeln!(
                out,
                "| {:.1} | {} | {} | {} | {} |",
                w.end.as_secs_f64(),
                mib(Some(w.min_rss)),
                mib(Some(w.max_rss)),
                w.delivered,
                count(w.threads),
            );
        }
        let r = &self.result;
        let l = r.lateness;
        let per_event = u32::try_from(r.events).ok().filter(|&e| e > 0).zip(r.cpu).map(|(e, cpu)| cpu / e);
        let _infallible = writeln!(
            out,
            "\n{} sources, interval {} ms, {:.1} s: {} events ({:.0}/s), CPU {} s ({} µs/event), sim CPU {} s, \
             baseline {} MiB, peak {} MiB, lateness p50/p99/max {}/{}/{} ms, first-run max {} ms",
            r.streams,
            ms(self.interval),
            r.elapsed.as_secs_f64(),
            r.events,
            r.events as f64 / r.elapsed.as_secs_f64().max(1e-9),
            secs(r.cpu),
            per_event.map_or_else(|| "-".into(), |c| format!("{:.2}", c.as_secs_f64() * 1e6)),
            secs(self.sim_cpu),
            mib(r.baseline_rss),
            mib(r.peak_rss),
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            ms(l.first_run_max),
        );
        let kib_per_min = |s: Option<f64>| s.map_or_else(|| "?".into(), |s| format!("{:+.1}", s / 1024.0));
        let _infallible = match self.trend() {
            Some(t) => writeln!(
                out,
                "- from {:.1} s on ({} rows): idle RSS (each row's lowest) {}–{} MiB, slope {} KiB/min; \
                 highest {} MiB, slope {} KiB/min",
                t.from.as_secs_f64(),
                t.rows,
                mib(Some(t.idle_min)),
                mib(Some(t.idle_max)),
                kib_per_min(t.idle_slope),
                mib(Some(t.peak)),
                kib_per_min(t.peak_slope),
            ),
            None => writeln!(out, "- the run was too short for a trend (no row after the second interval)"),
        };
        let _infallible = match &r.check {
            Ok(what) => writeln!(out, "- ok: {what}"),
            Err(what) => writeln!(out, "- FAILED: {what}"),
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Sample;

    fn sample(ms: u64, rss: u64, delivered: u64) -> Sample {
        Sample { at: Duration::from_millis(ms), rss, delivered, threads: Some(delivered + 1) }
    }

    #[test]
    fn windows_keep_each_spans_lowest_highest_and_last_count() {
        let samples = [sample(100, 5, 1), sample(900, 9, 2), sample(1000, 7, 3), sample(2500, 6, 4)];
        let got = windows(&samples, Duration::from_secs(1));
        assert_eq!(
            got,
            [
                Window { end: Duration::from_secs(1), min_rss: 5, max_rss: 9, delivered: 2, threads: Some(3) },
                Window { end: Duration::from_secs(2), min_rss: 7, max_rss: 7, delivered: 3, threads: Some(4) },
                Window { end: Duration::from_secs(3), min_rss: 6, max_rss: 6, delivered: 4, threads: Some(5) },
            ]
        );
    }

    #[test]
    fn slope_is_least_squares() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), Some(2.0));
        assert_eq!(slope(&[(0.0, 4.0), (1.0, 4.0)]), Some(0.0));
        assert_eq!(slope(&[(1.0, 4.0)]), None);
        assert_eq!(slope(&[(1.0, 4.0), (1.0, 5.0)]), None);
    }

    #[test]
    fn idle_is_the_lowest_late_sample_and_per_source_subtracts_the_baseline() {
        let lateness = crate::Lateness {
            runs: 0,
            p50: Duration::ZERO,
            p99: Duration::ZERO,
            max: Duration::ZERO,
            first_run_max: Duration::ZERO,
        };
        let result = FleetResult {
            streams: 4,
            baseline_rss: Some(1000),
            baseline_threads: Some(3),
            end_rss: None,
            peak_rss: None,
            // The early low sample (before the first burst) is not idle: it is before the sources ran.
            samples: vec![sample(100, 900, 0), sample(600, 9000, 0), sample(700, 5000, 0), sample(900, 7000, 0)],
            events: 10,
            runs: 8,
            elapsed: Duration::from_secs(2),
            cpu: Some(Duration::from_millis(1)),
            lateness,
            check: Ok(String::new()),
        };
        let row = CurveRow { result, sim_cpu: None, duration: Duration::from_secs(1) };
        assert_eq!(row.idle_rss(), Some(5000));
        assert_eq!(row.late_median_rss(), Some(7000));
        assert_eq!(row.rss_per_source(), Some(1000.0));
        assert_eq!(row.events_per_sec(), 5.0);
        assert_eq!(row.cpu_per_event(), Some(Duration::from_micros(100)));
    }
}
