//! The simulators a scenario talks to, in this process or in a child process.
//!
//! In a child (`logcrawl-bench serve KIND …`), a simulator's CPU and memory are not the crawler's, so what
//! the table reports for the crawler is the crawler alone; the child's CPU time is reported apart. The
//! child prints `LISTENING <base_url>` once it accepts connections and exits when its standard input
//! closes (the parent dropping it, or dying).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use logcrawl_sim::auth0::Auth0Sim;
use logcrawl_sim::datadog::DatadogIntake;
use logcrawl_sim::duo::DuoSim;
use logcrawl_sim::entra::EntraSim;
use logcrawl_sim::github::GithubSim;
use logcrawl_sim::google_workspace::GoogleWorkspaceSim;
use logcrawl_sim::office365::Office365Sim;
use logcrawl_sim::okta::OktaSim;
use logcrawl_sim::onepassword::OnePasswordSim;
use logcrawl_sim::slack::SlackSim;

use crate::procstat;

/// The token the Okta simulator requires and the connector sends.
pub const OKTA_TOKEN: &str = "bench-okta-token";
/// The token the 1Password simulator requires and the connector sends.
pub const ONEPASSWORD_TOKEN: &str = "bench-onepassword-token";
/// The token the Slack simulator requires and the connector sends.
pub const SLACK_TOKEN: &str = "xoxp-bench-slack-token";
/// The token the GitHub simulator requires and the connector sends.
pub const GITHUB_TOKEN: &str = "bench-github-token";
/// The Management API token the Auth0 simulator accepts and the connector sends.
pub const AUTH0_TOKEN: &str = "bench-auth0-token";
/// The key the fake intake requires and the Datadog sink sends.
pub const DD_API_KEY: &str = "bench-dd-api-key";

/// Which simulator, and how it is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimSpec {
    /// The Okta System Log with `events` events, 1 ms apart, the newest a minute old.
    Okta {
        /// Events in the log.
        events: u64,
    },
    /// The fake Datadog intake (ids kept only as a digest).
    Datadog,
    /// The 1Password Events API with `per_feed` events on each of its three feeds, 1 ms apart, the
    /// newest a minute old; its rate limits lifted.
    OnePassword {
        /// Events per feed.
        per_feed: u64,
    },
    /// The Slack Audit Logs API with `events` entries 10 ms apart, the newest ten minutes old; its
    /// rate limit lifted.
    Slack {
        /// Entries in the log.
        events: u64,
    },
    /// A Microsoft Entra tenant with `events` events over its three logs, 1 ms apart, the newest a minute
    /// old; its throttling lifted, its token endpoint taking the default client secret.
    Entra {
        /// Events over the three logs.
        events: u64,
    },
    /// A Google Workspace customer with `events` activities over five applications, 1 ms apart, the
    /// newest a minute old; its quota lifted, its token endpoint verifying the test key's assertions.
    GoogleWorkspace {
        /// Activities over the five applications.
        events: u64,
    },
    /// A Microsoft 365 tenant with `events` audit records over its five content types, 1 ms apart, the
    /// newest a minute old, in blobs of 2 s created a second after; its throttling lifted, its token
    /// endpoint taking the default client secret.
    Office365 {
        /// Records over the five content types.
        events: u64,
    },
    /// The GitHub audit log of an organization with `events` web events, 1 ms apart, the newest a minute
    /// old.
    Github {
        /// Events in the log.
        events: u64,
    },
    /// An Auth0 tenant with `events` events stored 1 ms apart from `first_stored_ms` (epoch ms): the
    /// parent picks it, so that it knows every log id.
    Auth0 {
        /// Events in the log.
        events: u64,
        /// When event 0 was stored, in epoch milliseconds.
        first_stored_ms: i64,
    },
    /// A Duo account with `events` authentications 1 ms apart, the newest a minute old, served at once
    /// (no delay) with the default credentials; its rate limit lifted.
    Duo {
        /// Authentication events.
        events: u64,
    },
    /// The ACME logs API with `events` events at start and `live_rate` more per second.
    Acme {
        /// Events at start.
        events: u64,
        /// Events added per second.
        live_rate: u64,
    },
}

impl SimSpec {
    /// The `serve` arguments that reproduce this spec in a child.
    pub fn args(&self) -> Vec<String> {
        match self {
            SimSpec::Okta { events } => vec!["okta".into(), "--events".into(), events.to_string()],
            SimSpec::Datadog => vec!["datadog".into()],
            SimSpec::OnePassword { per_feed } => vec!["onepassword".into(), "--events".into(), per_feed.to_string()],
            SimSpec::Slack { events } => vec!["slack".into(), "--events".into(), events.to_string()],
            SimSpec::Github { events } => vec!["github".into(), "--events".into(), events.to_string()],
            SimSpec::Entra { events } => vec!["entra".into(), "--events".into(), events.to_string()],
            SimSpec::GoogleWorkspace { events } => {
                vec!["google-workspace".into(), "--events".into(), events.to_string()]
            }
            SimSpec::Office365 { events } => vec!["office365".into(), "--events".into(), events.to_string()],
            SimSpec::Auth0 { events, first_stored_ms } => vec![
                "auth0".into(),
                "--events".into(),
                events.to_string(),
                "--first-stored-ms".into(),
                first_stored_ms.to_string(),
            ],
            SimSpec::Duo { events } => vec!["duo".into(), "--events".into(), events.to_string()],
            SimSpec::Acme { events, live_rate } => {
                vec!["acme".into(), "--events".into(), events.to_string(), "--live-rate".into(), live_rate.to_string()]
            }
        }
    }

    /// Starts the simulator on the current runtime.
    pub async fn start_here(&self) -> anyhow::Result<Running> {
        Ok(match self {
            SimSpec::Okta { events } => {
                Running::Okta(OktaSim::builder().events(*events).token(OKTA_TOKEN).start().await?)
            }
            SimSpec::Datadog => {
                Running::Datadog(DatadogIntake::builder().api_key(DD_API_KEY).record_ids(false).start().await?)
            }
            SimSpec::OnePassword { per_feed } => Running::OnePassword(
                OnePasswordSim::builder()
                    .events(*per_feed)
                    .token(ONEPASSWORD_TOKEN)
                    .rate_limit(u64::MAX, Duration::from_secs(60))
                    .hourly_limit(u64::MAX)
                    .start()
                    .await?,
            ),
            SimSpec::Slack { events } => Running::Slack(
                SlackSim::builder()
                    .events(*events)
                    .token(SLACK_TOKEN)
                    .rate_limit(u64::MAX, Duration::from_secs(60))
                    .start()
                    .await?,
            ),
            SimSpec::Entra { events } => Running::Entra(
                EntraSim::builder().events(*events).rate_limit(u64::MAX, Duration::from_secs(1)).start().await?,
            ),
            SimSpec::GoogleWorkspace { events } => Running::GoogleWorkspace(
                GoogleWorkspaceSim::builder()
                    .events(*events)
                    .rate_limit(u64::MAX, Duration::from_secs(1))
                    .start()
                    .await?,
            ),
            SimSpec::Office365 { events } => Running::Office365(
                Office365Sim::builder()
                    .events(*events)
                    .blob_span(Duration::from_secs(2))
                    .publish_delay(Duration::from_secs(1), Duration::ZERO)
                    .rate_limit(u64::MAX, Duration::from_secs(1))
                    .start()
                    .await?,
            ),
            SimSpec::Github { events } => {
                Running::Github(GithubSim::builder().events(*events).git_every(0).token(GITHUB_TOKEN).start().await?)
            }
            SimSpec::Auth0 { events, first_stored_ms } => {
                let first = jiff::Timestamp::from_millisecond(*first_stored_ms)?;
                Running::Auth0(
                    Auth0Sim::builder().events(*events).first_event_at(first).token(AUTH0_TOKEN).start().await?,
                )
            }
            SimSpec::Duo { events } => Running::Duo(
                DuoSim::builder()
                    .events(*events)
                    .administrator(0, Duration::from_secs(1))
                    .telephony(0, Duration::from_secs(1))
                    .delay(Duration::ZERO)
                    .rate_limit(u64::MAX, Duration::from_secs(60))
                    .start()
                    .await?,
            ),
            SimSpec::Acme { events, live_rate } => {
                let config = AcmeSimConfig { events: *events, live_rate: *live_rate, ..AcmeSimConfig::default() };
                Running::Acme(AcmeSim::start(config).await?)
            }
        })
    }
}

/// A simulator running in this process.
#[derive(Debug)]
pub enum Running {
    /// Okta.
    Okta(OktaSim),
    /// Datadog intake.
    Datadog(DatadogIntake),
    /// ACME.
    Acme(AcmeSim),
    /// 1Password.
    OnePassword(OnePasswordSim),
    /// Slack.
    Slack(SlackSim),
    /// GitHub.
    Github(GithubSim),
    /// Auth0.
    Auth0(Auth0Sim),
    /// Duo.
    Duo(DuoSim),
    /// Microsoft Entra.
    Entra(EntraSim),
    /// Google Workspace.
    GoogleWorkspace(GoogleWorkspaceSim),
    /// Office 365.
    Office365(Office365Sim),
}

impl Running {
    /// Its base URL.
    pub fn base_url(&self) -> String {
        match self {
            Running::Okta(sim) => sim.base_url().to_owned(),
            Running::Datadog(sim) => sim.base_url().to_owned(),
            Running::Acme(sim) => sim.base_url(),
            Running::OnePassword(sim) => sim.base_url().to_owned(),
            Running::Slack(sim) => sim.base_url().to_owned(),
            Running::Github(sim) => sim.base_url(),
            Running::Auth0(sim) => sim.base_url().to_owned(),
            Running::Duo(sim) => sim.base_url().to_owned(),
            Running::Entra(sim) => sim.base_url().to_owned(),
            Running::GoogleWorkspace(sim) => sim.base_url().to_owned(),
            Running::Office365(sim) => sim.base_url().to_owned(),
        }
    }
}

/// A simulator the scenario uses, wherever it runs.
#[derive(Debug)]
pub enum Sim {
    /// In this process: its CPU and memory count as the crawler's.
    Here(Running),
    /// In a child process.
    Child {
        /// The child.
        child: Child,
        /// Its base URL.
        base_url: String,
    },
}

impl Sim {
    /// Starts `spec` in a child running `exe serve …`, or here when `exe` is `None`.
    pub async fn start(spec: &SimSpec, exe: Option<&Path>) -> anyhow::Result<Self> {
        let Some(exe) = exe else { return Ok(Sim::Here(spec.start_here().await?)) };
        let exe: PathBuf = exe.to_owned();
        let args = spec.args();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Sim> {
            let mut child = Command::new(&exe)
                .arg("serve")
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting {} serve {}", exe.display(), args.join(" ")))?;
            let stdout = child.stdout.take().context("child stdout")?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).context("reading the child's LISTENING line")?;
            let Some(base_url) = line.trim().strip_prefix("LISTENING ") else {
                let _killed = child.kill();
                bail!("simulator child said {line:?} instead of LISTENING <url>");
            };
            Ok(Sim::Child { base_url: base_url.to_owned(), child })
        })
        .await?
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        match self {
            Sim::Here(running) => running.base_url(),
            Sim::Child { base_url, .. } => base_url.clone(),
        }
    }

    /// CPU time the child used so far (`None` in process).
    pub fn child_cpu(&self) -> Option<Duration> {
        match self {
            Sim::Here(_) => None,
            Sim::Child { child, .. } => procstat::cpu_time(Some(child.id())),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Sim::Child { child, .. } = self {
            drop(child.stdin.take()); // the child exits on EOF
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _killed = child.kill();
            let _reaped = child.wait();
        }
    }
}

/// The body of `logcrawl-bench serve …`: starts `spec`, announces it on stdout, serves until stdin closes.
pub async fn serve(spec: SimSpec) -> anyhow::Result<()> {
    let running = spec.start_here().await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING {}", running.base_url())?;
        out.flush()?;
    }
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _eof = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
    })
    .await?;
    drop(running);
    Ok(())
}
