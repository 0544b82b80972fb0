//! `logcrawl run`: the daemon, its operations listener, and live reload.
//!
//! Each source runs as its own [`Crawler`] (all sharing one checkpoint store and one [`CrawlStats`]),
//! so that a reload can stop, start or restart one source without touching the others. A reload (SIGHUP,
//! or a change of the file with `--watch-config`) reads the whole configuration again and builds every
//! added or changed component before anything is stopped: an invalid configuration, or one whose
//! component cannot be built, is refused with its located errors and the running one goes on as it
//! was. Then:
//!
//! - a removed source stops like at shutdown: fetching stops, its in-flight batches are delivered and
//!   their cursors committed;
//! - a changed source (any of its keys, or its sink's) is stopped that way, then started anew;
//! - an added source starts;
//! - an unchanged source is not interrupted.
//!
//! `state_dir`, `[state]` and `[api] listen` are read at start only (a reload that changes them says so
//! and keeps the old ones); `[api] failure_budget` applies at once.
//!
//! With `[state] type = "postgres"` several workers share the streams: every crawler runs only the
//! streams this worker's lease manager holds (see `logcrawl-state-postgres`), the manager is told the
//! configured streams at start and after each reload, and at shutdown, once every crawler stopped, it
//! releases every lease so the other workers take the streams over at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use logcrawl_core::{CheckpointStore, CrawlReport, CrawlStats, Crawler, Sink, StreamKey};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{describe_failures, stop_on_signals};
use crate::api::{self, ApiState};
use crate::app::build_source;
use crate::config::{Config, ConfigError, SinkConfig, SourceConfig};
use crate::progress;
use crate::registry::build_sink;
use crate::store::{Leases, WorkerStore, open_worker};

/// How often `--watch-config` looks at the file.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// `logcrawl run`.
pub async fn run(config_path: &Path, once: bool, watch_config: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    if config.sources.is_empty() {
        bail!("{}: no [[sources]] configured", config_path.display());
    }
    let WorkerStore { store, leases } = open_worker(&config)?;
    let stats = Arc::new(CrawlStats::default());
    let shutdown = CancellationToken::new();
    stop_on_signals(shutdown.clone());
    let started = Instant::now();
    let report = if once {
        let mut crawler = Crawler::new(store).with_stats(stats.clone());
        let built = Supervisor::build(&config, &BTreeMap::new())?;
        if let Some(leases) = &leases {
            // Claim a share first: `--once` runs the streams this worker holds then.
            leases.want(built.iter().flat_map(|(source, _)| stream_keys(source)).collect());
            let leases_now = leases.clone();
            tokio::task::spawn_blocking(move || leases_now.round()).await??;
            crawler = crawler.with_gate(leases.gate());
        }
        for (source, _) in built {
            crawler.add_source(source);
        }
        let token = crawler.shutdown_token();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            token.cancel()
        });
        let progress = progress::show(stats.clone());
        let report = crawler.run_once().await;
        progress.finish();
        if let Some(leases) = &leases {
            leases.shutdown().await;
        }
        report
    } else {
        daemon(config_path, config, store, leases, stats.clone(), shutdown, watch_config).await?
    };
    let failures = describe_failures(&report, Some(config_path));
    log_totals(&stats, "stopped", started);
    // A daemon judges by what is stopped at exit: a source stopped on a fatal error and then reloaded
    // with a fixed configuration is not a failure any more.
    let fatal = if once {
        report.failures().any(|(_, f)| f.fatal)
    } else {
        stats.streams().iter().any(|stream| stream.health().stopped)
    };
    Ok(if (once && failures > 0) || fatal { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn daemon(
    config_path: &Path,
    config: Config,
    store: Arc<dyn CheckpointStore>,
    leases: Option<Leases>,
    stats: Arc<CrawlStats>,
    shutdown: CancellationToken,
    watch_config: bool,
) -> anyhow::Result<CrawlReport> {
    let api_state = ApiState::new(stats.clone(), store.clone(), config.api.failure_budget);
    let api_shutdown = CancellationToken::new();
    if let Some(addr) = config.api.listen {
        // The lease manager sets its gauges once a renewal: they must outlive two of them.
        let gauge_idle = match &config.state {
            crate::config::StateConfig::Postgres(pg) => api::metrics::DEFAULT_GAUGE_IDLE + pg.renew * 2,
            crate::config::StateConfig::File => api::metrics::DEFAULT_GAUGE_IDLE,
        };
        api::metrics::install(gauge_idle);
        api::serve(addr, api_state.clone(), api_shutdown.clone()).await?;
    }
    let mut supervisor = Supervisor {
        store,
        leases: leases.clone(),
        stats: stats.clone(),
        running: BTreeMap::new(),
        report: CrawlReport::default(),
    };
    supervisor.apply(&config).await?;
    api_state.sources.store(supervisor.running.len(), Ordering::Relaxed);
    let heartbeat = tokio::spawn(log_totals_every(stats, Duration::from_secs(60)));
    let mut reloads = reload_requests(config_path, watch_config);
    let mut current = config;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(why) = reloads.recv() => {
                tracing::info!(reason = why, "reloading the configuration");
                match reload(config_path, &current, &mut supervisor).await {
                    Ok(next) => {
                        api_state.failure_budget.store(next.api.failure_budget, Ordering::Relaxed);
                        api_state.sources.store(supervisor.running.len(), Ordering::Relaxed);
                        current = next;
                    }
                    Err(err) => tracing::error!(error = %format!("{err:#}"), "the new configuration is refused; the running one goes on unchanged"),
                }
            }
        }
    }
    heartbeat.abort();
    let report = supervisor.stop_all().await;
    if let Some(leases) = &leases {
        leases.shutdown().await;
    }
    api_shutdown.cancel();
    Ok(report)
}

/// Reads the configuration again and applies it; an error leaves everything as it was.
async fn reload(config_path: &Path, current: &Config, supervisor: &mut Supervisor) -> anyhow::Result<Config> {
    let next = Config::load(config_path)?;
    if next.state_dir != current.state_dir {
        tracing::warn!(running = %current.state_dir.display(), configured = %next.state_dir.display(),
            "state_dir changes take effect at the next start; the running process keeps its state directory");
    }
    if next.state != current.state {
        tracing::warn!("[state] changes take effect at the next start; the running process keeps its store");
    }
    if next.api.listen != current.api.listen {
        tracing::warn!("[api] listen changes take effect at the next start");
    }
    supervisor.apply(&next).await?;
    Ok(next)
}

/// Reload requests: SIGHUP, and with `--watch-config` a change of the file's contents.
fn reload_requests(config_path: &Path, watch: bool) -> mpsc::Receiver<&'static str> {
    let (tx, rx) = mpsc::channel(4);
    #[cfg(unix)]
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP: reload by signal is off");
                return;
            };
            while hangup.recv().await.is_some() {
                let _full = tx.try_send("SIGHUP");
            }
        });
    }
    if watch {
        let path: PathBuf = config_path.to_owned();
        tokio::spawn(async move {
            // Contents, not modification times: an editor's rename, a Kubernetes ConfigMap's symlink swap
            // and a `touch` are all seen for what they are.
            let mut last = std::fs::read(&path).ok();
            loop {
                tokio::time::sleep(WATCH_PERIOD).await;
                let now = std::fs::read(&path).ok();
                if now.is_some() && now != last {
                    last = now;
                    if tx.send("the configuration file changed").await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    rx
}

/// A source running on its own crawler.
struct Running {
    config: SourceConfig,
    sink_config: SinkConfig,
    sink: Arc<dyn Sink>,
    /// Its streams, for the lease manager.
    keys: Vec<StreamKey>,
    shutdown: CancellationToken,
    task: JoinHandle<CrawlReport>,
}

/// The running sources, by name.
struct Supervisor {
    store: Arc<dyn CheckpointStore>,
    /// With a shared store: which streams this worker runs.
    leases: Option<Leases>,
    stats: Arc<CrawlStats>,
    running: BTreeMap<String, Running>,
    /// The last runs of sources stopped so far.
    report: CrawlReport,
}

/// A source built but not started (its sink built, or the running one when unchanged), and the
/// configuration of that sink.
type Built = (logcrawl_core::Source, SinkConfig);

impl Supervisor {
    /// Builds every source of `config` that is not running as configured in `running`, each sink once
    /// (reusing a running sink whose configuration did not change). Nothing is started.
    fn build(config: &Config, running: &BTreeMap<String, Running>) -> Result<Vec<Built>, ConfigError> {
        let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
        for old in running.values() {
            if config.sinks.get(&old.sink_config.name) == Some(&old.sink_config) {
                sinks.entry(old.sink_config.name.clone()).or_insert_with(|| old.sink.clone());
            }
        }
        let mut built = Vec::new();
        for source in &config.sources {
            let sink_config = &config.sinks[&source.sink];
            if running
                .get(&source.name)
                .is_some_and(|old| same_source(&old.config, source) && &old.sink_config == sink_config)
            {
                continue;
            }
            let sink = match sinks.get(&source.sink) {
                Some(sink) => sink.clone(),
                None => {
                    let sink = build_sink(sink_config, &config.state_dir).map_err(|e| config.locate(e))?;
                    sinks.insert(source.sink.clone(), sink.clone());
                    sink
                }
            };
            let built_source = build_source(config, source, sink.clone())?;
            built.push((built_source, sink_config.clone()));
        }
        Ok(built)
    }

    /// Makes the running sources those of `config` (see the module documentation).
    async fn apply(&mut self, config: &Config) -> anyhow::Result<()> {
        let built = Self::build(config, &self.running)?;
        let wanted: BTreeMap<&str, &SourceConfig> = config.sources.iter().map(|s| (s.name.as_str(), s)).collect();
        let starting: Vec<&str> = built.iter().map(|(source, _)| source.meta.name.as_str()).collect();
        let stopping: Vec<String> = self
            .running
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()) || starting.contains(&name.as_str()))
            .cloned()
            .collect();
        let mut stopped = Vec::new();
        for name in &stopping {
            let running = self.running.remove(name).expect("listed from the map");
            running.shutdown.cancel();
            stopped.push((name.clone(), running.task));
        }
        for (name, task) in stopped {
            let restarting = starting.contains(&name.as_str());
            match task.await {
                Ok(report) => self.merge(report),
                Err(join) => tracing::error!(source = %name, error = %join, "the source's task failed"),
            }
            if restarting {
                tracing::info!(source = %name, "source changed: stopped after committing its in-flight batches; starting it anew");
            } else {
                self.stats.forget_source(&name);
                tracing::info!(source = %name, "source removed: stopped after committing its in-flight batches");
            }
        }
        for (source, sink_config) in built {
            let name = source.meta.name.clone();
            if !stopping.contains(&name) {
                tracing::info!(source = %name, "source started");
            }
            let config = wanted[name.as_str()].clone();
            self.start(config, source, sink_config);
        }
        if let Some(leases) = &self.leases {
            leases.want(self.running.values().flat_map(|running| running.keys.iter().cloned()).collect());
        }
        Ok(())
    }

    fn start(&mut self, config: SourceConfig, source: logcrawl_core::Source, sink_config: SinkConfig) {
        let name = config.name.clone();
        let sink = source.sink.clone();
        let keys = stream_keys(&source);
        let mut crawler = Crawler::new(self.store.clone()).with_stats(self.stats.clone());
        if let Some(leases) = &self.leases {
            crawler = crawler.with_gate(leases.gate());
        }
        crawler.add_source(source);
        let shutdown = crawler.shutdown_token();
        let task = tokio::spawn(async move { crawler.run_forever().await });
        self.running.insert(name, Running { config, sink_config, sink, keys, shutdown, task });
    }

    fn merge(&mut self, report: CrawlReport) {
        self.report.runs.extend(report.runs);
        self.report.totals.extend(report.totals);
    }

    /// Stops every source (delivering and committing what is in flight) and returns all their runs.
    async fn stop_all(mut self) -> CrawlReport {
        for running in self.running.values() {
            running.shutdown.cancel();
        }
        for (name, running) in std::mem::take(&mut self.running) {
            match running.task.await {
                Ok(report) => self.merge(report),
                Err(join) => tracing::error!(source = %name, error = %join, "the source's task failed"),
            }
        }
        self.report
    }
}

/// The keys of a source's streams.
fn stream_keys(source: &logcrawl_core::Source) -> Vec<StreamKey> {
    source.connector.streams().iter().map(|stream| StreamKey::new(source.meta.name.clone(), stream.name())).collect()
}

/// Whether two configurations of a source are the same but for their place in the file.
fn same_source(a: &SourceConfig, b: &SourceConfig) -> bool {
    let mut b = b.clone();
    b.index = a.index;
    *a == b
}

/// Logs the running totals periodically, so a quiet daemon still shows it is alive and what it did.
async fn log_totals_every(stats: Arc<CrawlStats>, period: Duration) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        log_totals(&stats, "totals", started);
    }
}

/// One line of the process's totals: `what` says when (`totals` every minute, `stopped` at exit).
fn log_totals(stats: &CrawlStats, what: &str, started: Instant) {
    tracing::info!(
        delivered = CrawlStats::get(&stats.delivered),
        skipped = CrawlStats::get(&stats.skipped),
        dropped = CrawlStats::get(&stats.dropped),
        commits = CrawlStats::get(&stats.commits),
        runs = CrawlStats::get(&stats.runs),
        failed_runs = CrawlStats::get(&stats.failed_runs),
        seconds = started.elapsed().as_secs_f64(),
        "{what}"
    );
}
