//! Command-line parsing and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::registry::{CONNECTORS, SINKS, kind_names};

fn long_version() -> &'static str {
    let text = format!(
        "{}\nconnectors: {}\nsinks: {}\nallocator: {}",
        env!("CARGO_PKG_VERSION"),
        kind_names(CONNECTORS),
        kind_names(SINKS),
        logcrawl_alloc::describe()
    );
    Box::leak(text.into_boxed_str())
}

/// Crawl vendor audit-log APIs into log backends, with durable checkpoints and at-least-once delivery.
#[derive(Debug, Parser)]
#[command(name = "logcrawl", version, long_version = long_version())]
pub struct Cli {
    /// How log lines are written on stderr: `text`, or `json` (one object per line, for a log shipper).
    /// Default: text on a terminal, JSON otherwise. `LOGCRAWL_LOG` filters them (`info`,
    /// `logcrawl::requests=debug`, …).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-01T10:00:00Z  INFO target: message key=value`.
    Text,
    /// `{"timestamp": …, "level": "INFO", "fields": {"message": …, …}, "target": …}`.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl the built-in ACME simulator into an NDJSON file: no account, no network.
    Demo {
        /// Events the simulator holds.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// NDJSON output file.
        #[arg(long, default_value = "logcrawl-demo.ndjson")]
        out: PathBuf,
        /// Checkpoint directory; run again with the same one and nothing is delivered twice.
        #[arg(long, default_value = "logcrawl-demo-state")]
        state_dir: PathBuf,
    },
    /// Run every configured source on its interval until SIGINT/SIGTERM; SIGHUP reloads the configuration.
    Run {
        /// Configuration file.
        #[arg(short, long, env = "LOGCRAWL_CONFIG")]
        config: PathBuf,
        /// Run each source until it is caught up, then exit (non-zero if any run failed).
        #[arg(long)]
        once: bool,
        /// Reload the configuration whenever the file's contents change (SIGHUP always reloads).
        #[arg(long, conflicts_with = "once")]
        watch_config: bool,
    },
    /// Run one source once and print its records as NDJSON on stdout, and each request it sends (method,
    /// URL, status) on stderr; commits nothing.
    Check {
        /// Configuration file.
        #[arg(short, long, env = "LOGCRAWL_CONFIG")]
        config: PathBuf,
        /// The source's `name`.
        source: String,
    },
    /// Check a configuration: syntax, keys, values; builds every component without sending anything.
    Validate {
        /// Configuration file.
        #[arg(short, long, env = "LOGCRAWL_CONFIG")]
        config: PathBuf,
    },
    /// List the checkpoints stored in the configured store, reset or set one, or export and import them.
    State {
        /// Configuration file (required; accepted before or after `reset`/`set`).
        #[arg(short, long, env = "LOGCRAWL_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// List every stream's lease (holder, epoch, expiry) and the workers instead (PostgreSQL state).
        #[arg(long)]
        leases: bool,
        /// Without one, the stored checkpoints are listed.
        #[command(subcommand)]
        action: Option<StateCommand>,
    },
    /// List the connectors and sinks compiled into this binary.
    Connectors,
    /// Print a shell completion script for SHELL on stdout (e.g. `logcrawl completions bash >
    /// /etc/bash_completion.d/logcrawl`).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `logcrawl state reset|set`: the ways to repair a checkpoint. Both refuse while a daemon holds the state
/// directory, show what they will change, and ask first (on a terminal; elsewhere they need `--yes`).
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Delete the checkpoint of STREAM, or of every stream of SOURCE: they start over from their initial
    /// lookback at their next run. Unreadable checkpoints are deleted too.
    Reset {
        /// The source's `name`.
        source: String,
        /// One stream of it (as `logcrawl state` lists it); all of them when left out.
        stream: Option<String>,
        /// Do it without asking (needed when standard input is not a terminal).
        #[arg(short, long)]
        yes: bool,
    },
    /// Store CURSOR as the checkpoint of SOURCE's STREAM: the next run resumes from it.
    Set {
        /// The source's `name`; it must be configured.
        source: String,
        /// The stream's name (as `logcrawl state` lists it).
        stream: String,
        /// The cursor, as JSON in the connector's format, e.g. '{"after": "000000000750"}'.
        cursor: String,
        /// Do it without asking (needed when standard input is not a terminal).
        #[arg(short, long)]
        yes: bool,
    },
    /// Write every checkpoint as JSON lines ({"source", "stream", "cursor"}), to move them to another
    /// store with `import`.
    Export {
        /// The file to write; standard output when left out.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Store the checkpoints of a file written by `export` (`-`: standard input) in the configured store.
    Import {
        /// The JSON lines file.
        file: PathBuf,
        /// Do it without asking (needed when standard input is not a terminal).
        #[arg(short, long)]
        yes: bool,
    },
}

fn init_tracing(default_level: &str, format: Option<LogFormat>) {
    // A filter that does not parse is said, not silently replaced: someone asked for other logs.
    let filter = match std::env::var("LOGCRAWL_LOG") {
        Ok(spec) => tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|err| {
            eprintln!("logcrawl: LOGCRAWL_LOG={spec:?} is not a log filter ({err}); logging at {default_level:?}");
            tracing_subscriber::EnvFilter::new(default_level)
        }),
        Err(_) => tracing_subscriber::EnvFilter::new(default_level),
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_set = match format.unwrap_or(if terminal { LogFormat::Text } else { LogFormat::Json }) {
        // Colours only for a terminal: a journal or a file gets plain `key=value` text.
        LogFormat::Text => builder.with_ansi(terminal).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

/// Parses the command line, runs the command, and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Run { .. } => "info",
        // `check` is for seeing what a source does: every request it sends, too.
        Command::Check { .. } => "warn,logcrawl::requests=debug",
        _ => "warn",
    };
    init_tracing(default_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("logcrawl: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo { events, out, state_dir } => commands::demo(events, &out, &state_dir).await,
            Command::Run { config, once, watch_config } => commands::run(&config, once, watch_config).await,
            Command::Check { config, source } => commands::check(&config, &source).await,
            Command::Validate { config } => commands::validate(&config),
            Command::State { config, leases, action } => {
                let config = config.ok_or_else(|| {
                    anyhow::anyhow!("`state` needs the configuration: pass -c FILE or set LOGCRAWL_CONFIG")
                })?;
                match action {
                    None if leases => commands::state::leases(&config),
                    None => commands::state::list(&config),
                    Some(StateCommand::Export { out }) => commands::state::export(&config, out.as_deref()),
                    Some(StateCommand::Import { file, yes }) => commands::state::import(&config, &file, yes),
                    Some(StateCommand::Reset { source, stream, yes }) => {
                        commands::state::reset(&config, &source, stream.as_deref(), yes)
                    }
                    Some(StateCommand::Set { source, stream, cursor, yes }) => {
                        commands::state::set(&config, &source, &stream, &cursor, yes)
                    }
                }
            }
            Command::Connectors => Ok(commands::connectors()),
            Command::Completions { shell } => {
                use clap::CommandFactory;
                clap_complete::generate(shell, &mut Cli::command(), "logcrawl", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("logcrawl: {err:#}");
            ExitCode::FAILURE
        }
    }
}
