//! The subcommands. Each returns the process exit code or an error printed as `logcrawl: …`; the
//! `state` family lives in [`state`].

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
#[cfg(all(feature = "acme", feature = "file"))]
use std::time::{Duration, Instant};

use anyhow::Context;
use logcrawl_core::{CrawlReport, Crawler, ReadOnlyStore};
#[cfg(all(feature = "acme", feature = "file"))]
use logcrawl_core::{CrawlStats, FileCheckpointStore};
use logcrawl_sink_file::FileSink;
use tokio_util::sync::CancellationToken;

use crate::app::{build_sinks, build_source};
use crate::config::Config;
use crate::registry::{CONNECTOR_NAMES, CONNECTORS, SINK_NAMES, SINKS, listing};

mod run;
pub mod state;

pub use run::run;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _closed = writeln!(out, "{line}");
}

/// Cancels `token` on SIGINT or SIGTERM; a second signal exits at once.
fn stop_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight batches (signal again to exit at once)");
        token.cancel();
        wait_for_signal().await;
        eprintln!("logcrawl: second signal, exiting without waiting");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ignored = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ignored = tokio::signal::ctrl_c().await;
    }
}

/// Prints each failed run and returns how many there were. `config` is the configuration file, for the
/// commands a checkpoint failure suggests (`None`: the demo, which has none).
fn describe_failures(report: &CrawlReport, config: Option<&Path>) -> usize {
    use logcrawl_core::FailureStage;
    let mut failures = 0;
    for (key, failure) in report.failures() {
        failures += 1;
        let checkpoint = failure.stage == FailureStage::LoadCheckpoint;
        eprintln!(
            "logcrawl: {key}: {} failed{}: {}",
            match failure.stage {
                FailureStage::LoadCheckpoint => "loading the checkpoint",
                FailureStage::Fetch => "fetching",
                FailureStage::Send => "sending",
                FailureStage::Commit => "committing the checkpoint",
                FailureStage::Lease => "holding the lease",
            },
            match (failure.fatal, checkpoint) {
                (false, _) => "",
                (true, true) => " (fatal: the stored checkpoint must be repaired)",
                (true, false) => " (fatal: fix the configuration)",
            },
            failure.message
        );
        if checkpoint {
            // The stream stays stopped until its checkpoint is dealt with; say how, ready to copy.
            let args = format!(
                "-c {} {} {}",
                config.map_or_else(|| "CONFIG".to_owned(), |c| state::shell_word(&c.display().to_string())),
                state::shell_word(&key.source),
                state::shell_word(&key.stream)
            );
            eprintln!(
                "logcrawl: hint: `logcrawl state reset {args}` restarts the stream from its initial lookback; \
                 `logcrawl state set {args} CURSOR_JSON` sets the cursor to resume from"
            );
        }
    }
    failures
}

/// `logcrawl check`: the seed's "check command".
pub async fn check(config_path: &Path, source_name: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let source = config.source(source_name)?;
    // The configured sink decides the lookback window; records go to stdout instead of to it.
    let configured_sink = build_sinks(&config)?.remove(&source.sink).context("sink was validated")?;
    let mut built = build_source(&config, source, configured_sink)?;
    built.sink = Arc::new(FileSink::stdout("stdout"));
    let store = ReadOnlyStore(crate::store::open_reader(&config)?);
    let mut crawler = Crawler::new(Arc::new(store));
    crawler.add_source(built);
    stop_on_signals(crawler.shutdown_token());
    let progress = crate::progress::show(crawler.stats());
    let report = crawler.run_once().await;
    progress.finish();
    let failures = describe_failures(&report, Some(config_path));
    eprintln!("logcrawl check: {} records from {source_name:?} (nothing committed)", report.delivered());
    Ok(if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `logcrawl validate`.
pub fn validate(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let sinks = build_sinks(&config)?;
    for source in &config.sources {
        build_source(&config, source, sinks[&source.sink].clone())?;
    }
    say(&format!(
        "{}: OK ({} sources, {} sinks, state in {})",
        config_path.display(),
        config.sources.len(),
        sinks.len(),
        config.state_dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// `logcrawl connectors`: every connector and sink logcrawl has, whether this binary has it, and its
/// one line (or the feature that adds it).
pub fn connectors() -> ExitCode {
    let width = CONNECTOR_NAMES.iter().chain(SINK_NAMES).map(|name| name.len()).max().unwrap_or(0).max(10);
    let line = |name: &str, about: Option<&str>| match about {
        Some(about) => say(&format!("  {name:<width$} {:<18} {about}", "yes")),
        None => say(&format!("  {name:<width$} {:<18} rebuild with `--features {name}`", "no (feature off)")),
    };
    say("connectors:");
    for (name, about) in listing(CONNECTORS, CONNECTOR_NAMES) {
        line(name, about);
    }
    say("sinks:");
    for (name, about) in listing(SINKS, SINK_NAMES) {
        line(name, about);
    }
    say("checkpoint stores (besides the embedded file store):");
    let postgres = "[state] type = \"postgres\": shared by several workers, streams leased";
    line("postgres", cfg!(feature = "postgres").then_some(postgres));
    ExitCode::SUCCESS
}

/// `logcrawl demo`: the ACME simulator, in-process, crawled into NDJSON.
pub async fn demo(events: u64, out: &Path, state_dir: &Path) -> anyhow::Result<ExitCode> {
    demo_impl(events, out, state_dir).await
}

#[cfg(all(feature = "acme", feature = "file"))]
async fn demo_impl(events: u64, out: &Path, state_dir: &Path) -> anyhow::Result<ExitCode> {
    use logcrawl_core::{RunOutcome, Sink, SourceMeta};
    use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
    use logcrawl_sink_file::FileSinkConfig;

    // Events end "now" so every one is within any sink's max age; ids are stable across runs, which is
    // what makes a second run with the same state directory deliver nothing new.
    let sim = AcmeSim::start(AcmeSimConfig { events, ..AcmeSimConfig::default() })
        .await
        .context("starting the ACME simulator on 127.0.0.1")?;
    let mut table = toml::Table::new();
    table.insert("base_url".into(), sim.base_url().into());
    let connector = logcrawl_acme::KIND.build(&table, &logcrawl_core::BuildContext::new("acme-demo"))?;
    let sink: Arc<dyn Sink> = Arc::new(FileSink::new("demo", FileSinkConfig { path: out.to_owned(), fsync: false })?);
    let store = FileCheckpointStore::open(state_dir)?;
    let mut crawler = Crawler::new(Arc::new(store));
    crawler.add_source(logcrawl_core::Source {
        meta: Arc::new(SourceMeta {
            name: "acme-demo".into(),
            connector: "acme".into(),
            ddsource: "acme".into(),
            service: "acme".into(),
            tags: vec!["env:demo".into()],
            hostname: None,
        }),
        connector,
        sink,
        interval: logcrawl_core::DEFAULT_INTERVAL,
        batch: None,
        emit_errors: false,
    });
    stop_on_signals(crawler.shutdown_token());
    let stats = crawler.stats();
    let progress = show_progress(stats.clone(), events);
    let started = Instant::now();
    let report = crawler.run_once().await;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let failures = describe_failures(&report, None);
    let delivered = report.delivered();
    let rate = if seconds > 0.0 { delivered as f64 / seconds } else { 0.0 };
    let interrupted = report.runs.iter().any(|r| r.outcome == RunOutcome::Interrupted);
    say(&format!(
        "logcrawl demo: {delivered} events in {seconds:.2} s ({rate:.0} events/s) -> {}{}; checkpoints in {}{}",
        out.display(),
        if delivered == 0 && failures == 0 { " (nothing new: already crawled)" } else { "" },
        state_dir.display(),
        if interrupted { " (interrupted)" } else { "" },
    ));
    Ok(if failures > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(not(all(feature = "acme", feature = "file")))]
async fn demo_impl(_events: u64, _out: &Path, _state_dir: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "the demo needs the `acme` and `file` features: rebuild with `cargo build -p logcrawl --features acme,file`"
    )
}

/// A progress bar on a terminal, nothing otherwise.
#[cfg(all(feature = "acme", feature = "file"))]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[cfg(all(feature = "acme", feature = "file"))]
impl Progress {
    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(all(feature = "acme", feature = "file"))]
fn show_progress(stats: Arc<CrawlStats>, total: u64) -> Progress {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return Progress { bar: None, task: None };
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {human_pos}/{human_len} events [{bar:40}] {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let ticker = bar.clone();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        loop {
            let done = CrawlStats::get(&stats.delivered) + CrawlStats::get(&stats.skipped);
            ticker.set_position(done);
            let seconds = started.elapsed().as_secs_f64().max(0.001);
            ticker.set_message(format!("{:.0} events/s", done as f64 / seconds));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Progress { bar: Some(bar), task: Some(task) }
}
