//! `logcrawl-bench`: runs the benchmark scenarios and prints their table; see the library documentation
//! (`logcrawl_bench`) for what each scenario measures and how.
//!
//! ```text
//! logcrawl-bench [--scenario all|okta-ndjson|okta-datadog|okta-datadog-zstd|many-streams|onepassword-ndjson|slack-ndjson
//!                            |github-ndjson|auth0-ndjson|duo-ndjson|entra-ndjson
//!                            |google_workspace-ndjson|office365-ndjson|http-okta-ndjson]
//!                [--events N] [--streams N]
//!                [--duration 60s] [--interval 5s] [--store file|memory] [--compression-level 0-9]
//!                [--in-process] [--small] [--no-probe]
//! logcrawl-bench --scenario cost-curve [--sizes 1,10,100,1000,10000] [--duration 60s] [--interval 5s]
//! logcrawl-bench --scenario flat-memory [--streams N] [--duration 10m] [--interval 5s] [--sample-every 5s]
//! logcrawl-bench serve okta --events N | serve datadog | serve acme --events N --live-rate R
//!                | serve onepassword --events N | serve slack --events N | serve github --events N
//!                | serve auth0 --events N --first-stored-ms T | serve duo --events N
//!                | serve entra --events N | serve google-workspace --events N
//!                | serve office365 --events N
//! logcrawl-bench pg-scale [--url URL] [--streams 10000] [--workers 4] [--lease 6s] [--duration 10s]
//! logcrawl-bench fleet '<plan as JSON>'      (one size of cost-curve or flat-memory, in a fresh process)
//! logcrawl-bench probe                       (the limit probe, in a fresh process; prints `PROBE <json>`)
//! ```
//!
//! `all` runs every scenario but `cost-curve` and `flat-memory`, which are studies of several minutes at
//! full size, run on their own.
//!
//! Exits 1 when a scenario's exactly-once check fails, 2 when a scenario could not run.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use logcrawl_bench::sims::{SimSpec, serve};
use logcrawl_bench::{Options, Scenario, StoreKind, run, table_with};

/// The same allocator as the `logcrawl` binary (see its `main.rs`), so the figures are the shipped binary's.
#[global_allocator]
static GLOBAL: logcrawl_alloc::Allocator = logcrawl_alloc::Allocator;

#[derive(Parser, Debug)]
#[command(name = "logcrawl-bench", about = "Throughput, memory and many-stream benchmarks of logcrawl")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Which scenario to run: all, okta-ndjson, okta-datadog, okta-datadog-zstd, many-streams, onepassword-ndjson,
    /// slack-ndjson, github-ndjson, auth0-ndjson, duo-ndjson, entra-ndjson, google_workspace-ndjson,
    /// office365-ndjson or http-okta-ndjson; or one of the studies not in `all`: cost-curve (resident memory,
    /// CPU and lateness per source at each of --sizes) or flat-memory (the RSS series of one long run).
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Events to backfill, 1Password's three feeds together (default 1 000 000; 3 500 with --small).
    #[arg(long)]
    events: Option<u64>,
    /// Concurrent streams of many-streams and flat-memory (default 10 000; 40 with --small).
    #[arg(long)]
    streams: Option<usize>,
    /// The fleet sizes of cost-curve, run one after the other (default 1,10,100,1000,10000; 1,4,16 with
    /// --small).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// The span of one row of flat-memory's RSS series (default 5s; 300ms with --small).
    #[arg(long, value_parser = logcrawl_core::config::parse_duration)]
    sample_every: Option<Duration>,
    /// How long many-streams, flat-memory and each size of cost-curve run, e.g. 60s (default 60s; 1.5s
    /// with --small).
    #[arg(long, value_parser = logcrawl_core::config::parse_duration)]
    duration: Option<Duration>,
    /// Interval between two runs of a stream in many-streams, cost-curve and flat-memory (default 5s; 300ms
    /// with --small).
    #[arg(long, value_parser = logcrawl_core::config::parse_duration)]
    interval: Option<Duration>,
    /// Checkpoint store (default: file for the backfills, memory for many-streams).
    #[arg(long)]
    store: Option<Store>,
    /// Compression level of the Datadog sink, gzip 0-9 or zstd 1-22 (default: the sink's default).
    #[arg(long)]
    compression_level: Option<u32>,
    /// Run the simulators inside this process instead of child processes.
    #[arg(long)]
    in_process: bool,
    /// A tiny size for CI: a few seconds even in a debug build.
    #[arg(long)]
    small: bool,
    /// Skip the limit probe (and the table's × floor column).
    #[arg(long)]
    no_probe: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Store {
    File,
    Memory,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one fleet of ACME sources as `plan` (JSON) says and print `FLEET <result>`: how cost-curve and
    /// flat-memory measure each fleet in a process of its own.
    Fleet {
        /// The `logcrawl_bench::fleet::FleetPlan`, as JSON.
        plan: String,
    },
    /// Run the limit probe and print `PROBE <result>` (JSON): how the scenarios are probed, in a process of
    /// its own so that its memory is not in their peak RSS.
    Probe,
    /// Serve a simulator until standard input closes (used by the scenarios; prints `LISTENING <url>`).
    Serve {
        #[command(subcommand)]
        sim: ServeSim,
    },
    /// `pg-scale`: streams over several workers on one PostgreSQL (claim time, lease overhead,
    /// commits per second, takeover time); see `logcrawl_bench::pg_scale`.
    PgScale {
        /// The database; without it a throw-away server is started (PostgreSQL binaries needed).
        #[arg(long)]
        url: Option<String>,
        /// Streams.
        #[arg(long, default_value_t = 10_000)]
        streams: usize,
        /// Workers.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Lease (renew is a third of it).
        #[arg(long, default_value = "6s", value_parser = logcrawl_core::config::parse_duration)]
        lease: Duration,
        /// How long the commit phase lasts.
        #[arg(long, default_value = "10s", value_parser = logcrawl_core::config::parse_duration)]
        duration: Duration,
        /// Committing threads per worker.
        #[arg(long, default_value_t = 8)]
        threads: usize,
    },
}

#[derive(Subcommand, Debug)]
enum ServeSim {
    /// The Okta System Log.
    Okta {
        /// Events in the log.
        #[arg(long)]
        events: u64,
    },
    /// The fake Datadog intake.
    Datadog,
    /// The 1Password Events API.
    Onepassword {
        /// Events on each of the three feeds.
        #[arg(long)]
        events: u64,
    },
    /// The Slack Audit Logs API.
    Slack {
        /// Entries in the log.
        #[arg(long)]
        events: u64,
    },
    /// The GitHub audit log of an organization.
    Github {
        /// Events in the log.
        #[arg(long)]
        events: u64,
    },
    /// A Microsoft Entra tenant's audit logs and token endpoint.
    Entra {
        /// Events over the three logs.
        #[arg(long)]
        events: u64,
    },
    /// A Microsoft 365 tenant's Management Activity API and token endpoint.
    Office365 {
        /// Records over the five content types.
        #[arg(long)]
        events: u64,
    },
    /// An Auth0 tenant's logs.
    Auth0 {
        /// Events in the log.
        #[arg(long)]
        events: u64,
        /// When event 0 was stored, in epoch milliseconds.
        #[arg(long)]
        first_stored_ms: i64,
    },
    /// A Duo account's Admin API logs.
    Duo {
        /// Authentication events.
        #[arg(long)]
        events: u64,
    },
    /// A Google Workspace customer's Reports API activities and token endpoint.
    GoogleWorkspace {
        /// Activities over the five applications.
        #[arg(long)]
        events: u64,
    },
    /// The ACME logs API.
    Acme {
        /// Events at start.
        #[arg(long)]
        events: u64,
        /// Events added per second.
        #[arg(long, default_value_t = 0)]
        live_rate: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGCRAWL_BENCH_LOG").unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async_main(cli))
}

/// How a subcommand that prints its own output ends: 0, or 2 with its error on standard error.
fn exit_code(command: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("logcrawl-bench {command}: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn async_main(cli: Cli) -> ExitCode {
    if let Some(Command::PgScale { url, streams, workers, lease, duration, threads }) = cli.command {
        let options = logcrawl_bench::pg_scale::PgScaleOptions { url, streams, workers, lease, duration, threads };
        return match tokio::task::spawn_blocking(move || logcrawl_bench::pg_scale::run(options)).await {
            Ok(Ok(report)) => {
                let _closed = std::io::stdout().write_all(report.table().as_bytes());
                ExitCode::SUCCESS
            }
            Ok(Err(err)) => {
                eprintln!("logcrawl-bench pg-scale: {err:#}");
                ExitCode::from(2)
            }
            Err(join) => {
                eprintln!("logcrawl-bench pg-scale: {join}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(Command::Fleet { plan }) = &cli.command {
        return exit_code("fleet", logcrawl_bench::fleet::serve_plan(plan).await);
    }
    if let Some(Command::Probe) = &cli.command {
        return exit_code("probe", logcrawl_bench::probe::serve_probe().await);
    }
    if let Some(Command::Serve { sim }) = cli.command {
        let spec = match sim {
            ServeSim::Okta { events } => SimSpec::Okta { events },
            ServeSim::Datadog => SimSpec::Datadog,
            ServeSim::Acme { events, live_rate } => SimSpec::Acme { events, live_rate },
            ServeSim::Onepassword { events } => SimSpec::OnePassword { per_feed: events },
            ServeSim::Slack { events } => SimSpec::Slack { events },
            ServeSim::Github { events } => SimSpec::Github { events },
            ServeSim::Auth0 { events, first_stored_ms } => SimSpec::Auth0 { events, first_stored_ms },
            ServeSim::Duo { events } => SimSpec::Duo { events },
            ServeSim::Entra { events } => SimSpec::Entra { events },
            ServeSim::GoogleWorkspace { events } => SimSpec::GoogleWorkspace { events },
            ServeSim::Office365 { events } => SimSpec::Office365 { events },
        };
        return exit_code("serve", serve(spec).await);
    }
    let mut options = if cli.small { Options::small() } else { Options::full() };
    options.events = cli.events.unwrap_or(options.events);
    options.streams = cli.streams.unwrap_or(options.streams);
    options.duration = cli.duration.unwrap_or(options.duration);
    options.interval = cli.interval.unwrap_or(options.interval);
    let store = cli.store.map(|s| match s {
        Store::File => StoreKind::File,
        Store::Memory => StoreKind::Memory,
    });
    options.store = store;
    options.many_store = store;
    options.compression_level = cli.compression_level;
    options.sizes = cli.sizes.unwrap_or(options.sizes);
    options.sample_every = cli.sample_every.unwrap_or(options.sample_every);
    if !cli.in_process {
        match std::env::current_exe() {
            Ok(exe) => options.sim_exe = Some(exe),
            Err(err) => eprintln!("cannot find my own executable ({err}); running the simulators in process"),
        }
    }

    if let Some(code) = study(&cli.scenario, &options).await {
        return code;
    }
    let scenarios: Vec<Scenario> = if cli.scenario == "all" {
        Scenario::ALL.to_vec()
    } else {
        match Scenario::from_name(&cli.scenario) {
            Some(s) => vec![s],
            None => {
                eprintln!(
                    "unknown scenario {:?}: all, okta-ndjson, okta-datadog, okta-datadog-zstd, many-streams, onepassword-ndjson, slack-ndjson, github-ndjson, auth0-ndjson, duo-ndjson, entra-ndjson, google_workspace-ndjson, office365-ndjson, http-okta-ndjson, cost-curve or flat-memory",
                    cli.scenario
                );
                return ExitCode::from(2);
            }
        }
    };
    let probe = if cli.no_probe {
        None
    } else {
        eprintln!("probing the machine's limits …");
        let probed = match std::env::current_exe() {
            Ok(exe) if !cli.in_process => logcrawl_bench::probe::run_in_child(&exe).await,
            _ => logcrawl_bench::probe::run().await,
        };
        match probed {
            Ok(probe) => Some(probe),
            Err(err) => {
                eprintln!("the limit probe failed: {err:#}");
                None
            }
        }
    };
    let mut reports = Vec::new();
    let mut broken = false;
    for scenario in scenarios {
        eprintln!("running {} …", scenario.name());
        match run(scenario, &options).await {
            Ok(report) => reports.push(report),
            Err(err) => {
                eprintln!("{}: could not run: {err:#}", scenario.name());
                broken = true;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let _written = out.write_all(table_with(&reports, probe.as_ref()).as_bytes());
    let _written = writeln!(out, "\nallocator: {}", logcrawl_alloc::describe());
    if broken {
        ExitCode::from(2)
    } else if reports.iter().any(|r| r.check.is_err()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `name` when it is one of the studies (`cost-curve`, `flat-memory`), which print their own tables,
/// and returns the exit code; `None` for any other name.
async fn study(name: &str, options: &Options) -> Option<ExitCode> {
    if !matches!(name, "cost-curve" | "flat-memory") {
        return None;
    }
    eprintln!("running {name} …");
    let outcome = match name {
        "cost-curve" => logcrawl_bench::curve::cost_curve(options).await.map(|r| (r.table(), r.check())),
        _ => logcrawl_bench::curve::flat_memory(options).await.map(|r| (r.table(), r.check())),
    };
    Some(match outcome {
        Ok((table, check)) => {
            let mut out = std::io::stdout().lock();
            let _written = out.write_all(table.as_bytes());
            let _written = writeln!(out, "\nallocator: {}", logcrawl_alloc::describe());
            if check.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(err) => {
            eprintln!("{name}: could not run: {err:#}");
            ExitCode::from(2)
        }
    })
}
