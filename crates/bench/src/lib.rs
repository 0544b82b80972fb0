//! # logcrawl-bench
//!
//! Makes logcrawl's performance visible, and defends it: each scenario drives the real crawler
//! ([`logcrawl_core::Crawler`]), the real connectors and the real sinks against the loopback simulators of
//! `logcrawl-sim`, measures what the crawler process spent, and **fails unless every event arrived exactly
//! once**. `cargo xtask bench [ARGS]` runs `cargo run --release -p logcrawl-bench -- ARGS`; the results and
//! the machine they were taken on are in `docs/benchmarks.md`.
//!
//! ## Scenarios
//!
//! | name | what runs | what it measures |
//! |---|---|---|
//! | `okta-ndjson` | Okta System Log simulator → `logcrawl-okta` (pages of 1000) → crawler → NDJSON [`FileSink`] writing to `/dev/null` | backfill throughput of fetch + parse + map + NDJSON encode + write, and its peak memory |
//! | `okta-datadog` | the same source → [`DatadogSink`] (gzip, 4 requests in flight) → fake Datadog intake | the same with the Datadog encoding, gzip and HTTP delivery |
//! | `okta-datadog-zstd` | the same with `compression = "zstd"` (level 1 unless `--compression-level`) | the Datadog path with zstd instead of gzip |
//! | `github-ndjson` | GitHub audit log simulator (an organization's web events) → `logcrawl-github` (pages of 100, GitHub's most) → crawler → NDJSON to `/dev/null` | the same backfill for GitHub's page-level `Link` cursors |
//! | `auth0-ndjson` | Auth0 logs simulator → `logcrawl-auth0` (pages of 100, Auth0's most; a static token) → crawler → NDJSON to `/dev/null` | the same backfill for Auth0's checkpoint reads |
//! | `slack-ndjson` | Slack Audit Logs simulator (`--events` entries 10 ms apart) → `logcrawl-slack` (windows of 1 h, pages of 1000, its pace lifted) → crawler → NDJSON to `/dev/null` | the windowed path: newest-first pages, an exact cursor per record |
//! | `duo-ndjson` | Duo Admin API simulator (`--events` authentications 1 ms apart; every signature verified) → `logcrawl-duo` (its authentication stream: one window, pages of 1000 newest first by `next_offset`, each request HMAC-signed, its pace lifted) → crawler → NDJSON to `/dev/null` | the windowed path with a signature per request |
//! | `entra-ndjson` | Microsoft Entra simulator (`--events` split over its three logs, 1 ms apart) → `logcrawl-entra` (three streams, pages of 1000, a client secret, a settle lag and overlap of 30 s, its pace lifted) → crawler → NDJSON to `/dev/null` | the windowed path for three streams sharing one token and one budget, with the overlap's bookkeeping |
//! | `onepassword-ndjson` | 1Password Events API simulator (`--events` split over its three feeds) → `logcrawl-onepassword` (three streams, pages of 1000, its rate budget lifted) → crawler → NDJSON to `/dev/null` | the same backfill path over POST body cursors, three streams at once |
//! | `google_workspace-ndjson` | Google Workspace simulator (`--events` activities over five applications, 1 ms apart; every token request's assertion verified) → `logcrawl-google_workspace` (five streams, pages of 1000, one service-account token, a settle lag and overlap of 30 s, its pace lifted) → crawler → NDJSON to `/dev/null` | the windowed path for five streams sharing one JWT-bearer token and one budget, with the overlap's bookkeeping on composite keys |
//! | `office365-ndjson` | Office 365 Management Activity API simulator (`--events` records over its five content types, 1 ms apart, in blobs of 2 s created a second later) → `logcrawl-office365` (five streams, one listing and one fetch per blob, a client secret, an overlap of 30 s, its pace lifted) → crawler → NDJSON to `/dev/null` | the two-level path (listings, then blobs fetched one ahead) for five streams sharing one token and one budget, with exact in-blob cursors |
//! | `http-okta-ndjson` | Okta System Log simulator → `logcrawl-http-source` configured by `examples/http-okta.toml` (the same pages of 1000, `Link` continuation, JSON paths for id, time and three attributes) → crawler → NDJSON to `/dev/null` | a declared source's cost beside the native connector's (`okta-ndjson`): templates, JSON paths and the value map on the same pages |
//! | `many-streams` | `--streams` ACME sources (one stream each, one shared ACME simulator with new events arriving live, `--interval` between runs) → crawler `run_forever` for `--duration` → NDJSON to `/dev/null` | resident memory of many concurrent streams, and how late their runs start compared with their schedule (p50/p99/max) |
//! | `cost-curve` | the `many-streams` fleet ([`fleet`]) at each of `--sizes` (1, 10, 100, 1 000, 10 000), one size after the other, each for `--duration` against an ACME simulator of its own (every size starts from the same 20 events) and in a fresh child process of the bench | per size: events/s, CPU per event, baseline, idle and peak RSS, idle RSS per source, lateness p50/p99/max ([`curve`]); not part of `all` |
//! | `flat-memory` | one fleet of `--streams` for `--duration` (minutes), in a child process | the RSS series per `--sample-every` (lowest, highest, events delivered), its range and slope once steady; not part of `all` |
//!
//! ## How it measures
//!
//! * **The limit probe** ([`probe`]) runs first, in a child process (`logcrawl-bench probe`, so that none of
//!   its memory is in the scenarios' peak RSS; inside the process with `--in-process`): what splitting the Okta simulator's pages,
//!   writing NDJSON, gzip-6 and zstd-1 cost per event on this machine, and the CPU model. The table's
//!   *× floor* column is each scenario's CPU per event over its floor (split + write for NDJSON, plus the
//!   compression for Datadog); for the other vendors' scenarios the floor is Okta's, scaled by nothing, so
//!   it is a yardstick there, not a bound.
//! * **Processes.** By default each simulator runs in a child process (`logcrawl-bench serve okta|onepassword|datadog|acme`),
//!   so the *events/s*, *CPU s* and *peak RSS* columns are the crawler process alone; the children's CPU time is
//!   the *sim CPU s* column. All processes share the machine's cores: a simulator's work is not free, it just
//!   is not counted as the crawler's. `--in-process` runs them inside (the test suite does that).
//! * **Time** is wall time from the crawler's start to its end (`run_once` returning: every record delivered
//!   and committed), excluding simulator start-up.
//! * **CPU** is user + system time of the process from `/proc/self/stat` over the same span.
//! * **Peak RSS** is `VmHWM` from `/proc/self/status`, reset (`/proc/self/clear_refs`) before each scenario,
//!   so each row shows that scenario's own peak.
//! * **Lateness** (`many-streams` and the fleets of `cost-curve` and `flat-memory`): the crawler's [`CrawlStats::lateness`](logcrawl_core::CrawlStats::lateness)
//!   histogram: for every run after a stream's first, its start minus (the previous start + interval).
//!   First runs all start at once; how long the last of them waited is reported apart
//!   ([`CrawlStats::first_run_delay`](logcrawl_core::CrawlStats::first_run_delay)).
//! * **Idle RSS** (`cost-curve`, `flat-memory`): RSS sampled every interval / 8 while the fleet runs; a
//!   size's idle RSS is the lowest sample of the second half of its run, the fleet between two bursts of
//!   runs (why the lowest and not the median: [`curve`]). Each size runs in its own process, so nothing a
//!   previous size allocated is counted; its baseline is the child's RSS before the sources are built.
//! * **Checkpoints** go to a [`FileCheckpointStore`] in a temporary
//!   directory (each commit `fsync`s) unless `--store memory`; `many-streams` defaults to the memory store.
//!
//! ## Exactly-once checks
//!
//! * `okta-datadog`, `okta-datadog-zstd`: the fake intake keeps an [`IdDigest`] of every `uuid` it
//!   accepted; it must equal the digest of the simulator's `uuid`s `0..N`, with exactly `N` entries.
//! * `okta-ndjson`, `onepassword-ndjson`, `slack-ndjson`, `duo-ndjson`, `entra-ndjson`, `office365-ndjson`, `many-streams`, `cost-curve` and `flat-memory`: a [`VerifyingSink`] in front of the file sink keeps a digest, per
//!   source, of the ids of every batch the sink acknowledged; it must equal the expected ids (Okta: `0..N`; 1Password: each feed's `0..N/3`; Slack, Entra and Office 365: `0..N`; GitHub: the `_document_id`s and Auth0: the
//!   `log_id`s of `0..N`, read from the raw event; Duo: the `txid`s of `0..N`, from the raw event too; ACME:
//!   ids `1..=k` for each stream, `k` being what that stream delivered, at least the events present when its
//!   fleet started;
//!   Google Workspace: the `uniqueQualifier`s of `0..N`, each counted as often as activities share it).
//! * Every scenario also requires no failed run and no dropped or skipped record.
//!
//! A failed check makes the binary exit non-zero. Benchmarks are commands, not timed tests: the test suite runs
//! every scenario at a tiny size (`tests/small.rs`) and checks delivery, never timing.

pub mod child;
pub mod curve;
pub mod fleet;
pub mod pg_scale;
pub mod probe;
pub mod procstat;
pub mod sims;
pub mod verify;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use logcrawl_auth0::{Auth0Config, Auth0Connector};
use logcrawl_core::{
    BuildContext, CheckpointStore, Connector, CrawlStats, Crawler, FileCheckpointStore, MemoryCheckpointStore, Sink,
    Source, SourceMeta,
};
use logcrawl_github::GithubConfig;
use logcrawl_okta::{OktaConfig, OktaConnector};
use logcrawl_onepassword::OnePasswordConnector;
use logcrawl_sim::datadog::{IdDigest, fetch_stats};
use logcrawl_sim::okta::event_uuid;
use logcrawl_sim::onepassword::Feed;
use logcrawl_sink_datadog::{DatadogConfig, DatadogSink};
use logcrawl_sink_file::{FileSink, FileSinkConfig};

use crate::sims::{AUTH0_TOKEN, DD_API_KEY, GITHUB_TOKEN, OKTA_TOKEN, ONEPASSWORD_TOKEN, SLACK_TOKEN, Sim, SimSpec};
pub use crate::verify::VerifyingSink;

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Okta → crawler → NDJSON to `/dev/null`.
    OktaNdjson,
    /// Okta → crawler → Datadog sink (gzip) → fake intake.
    OktaDatadog,
    /// Okta → crawler → Datadog sink (zstd) → fake intake.
    OktaDatadogZstd,
    /// Many small ACME streams on a short interval.
    ManyStreams,
    /// 1Password (three streams) → crawler → NDJSON to `/dev/null`.
    OnePasswordNdjson,
    /// Slack (time windows) → crawler → NDJSON to `/dev/null`.
    SlackNdjson,
    /// GitHub audit log → crawler → NDJSON to `/dev/null`.
    GithubNdjson,
    /// Microsoft Entra (three windowed streams) → crawler → NDJSON to `/dev/null`.
    EntraNdjson,
    /// Auth0 logs → crawler → NDJSON to `/dev/null`.
    Auth0Ndjson,
    /// Duo's authentication log (time windows, signed requests) → crawler → NDJSON to `/dev/null`.
    DuoNdjson,
    /// Google Workspace (five windowed applications, one service-account token) → crawler → NDJSON to
    /// `/dev/null`.
    GoogleWorkspaceNdjson,
    /// Office 365 (five streams of listed blobs) → crawler → NDJSON to `/dev/null`.
    Office365Ndjson,
    /// Okta through the declarative `http` connector (`examples/http-okta.toml`) → NDJSON to `/dev/null`.
    HttpOktaNdjson,
}

impl Scenario {
    /// Every scenario, in table order.
    pub const ALL: [Scenario; 13] = [
        Scenario::OktaNdjson,
        Scenario::OktaDatadog,
        Scenario::ManyStreams,
        Scenario::OnePasswordNdjson,
        Scenario::SlackNdjson,
        Scenario::GithubNdjson,
        Scenario::Auth0Ndjson,
        Scenario::DuoNdjson,
        Scenario::EntraNdjson,
        Scenario::GoogleWorkspaceNdjson,
        Scenario::Office365Ndjson,
        Scenario::HttpOktaNdjson,
        Scenario::OktaDatadogZstd,
    ];

    /// The name used by `--scenario`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::OktaNdjson => "okta-ndjson",
            Scenario::OktaDatadog => "okta-datadog",
            Scenario::OktaDatadogZstd => "okta-datadog-zstd",
            Scenario::ManyStreams => "many-streams",
            Scenario::OnePasswordNdjson => "onepassword-ndjson",
            Scenario::SlackNdjson => "slack-ndjson",
            Scenario::GithubNdjson => "github-ndjson",
            Scenario::Auth0Ndjson => "auth0-ndjson",
            Scenario::DuoNdjson => "duo-ndjson",
            Scenario::EntraNdjson => "entra-ndjson",
            Scenario::GoogleWorkspaceNdjson => "google_workspace-ndjson",
            Scenario::Office365Ndjson => "office365-ndjson",
            Scenario::HttpOktaNdjson => "http-okta-ndjson",
        }
    }

    /// The floor of the [limit probe](probe) this scenario's CPU per event is compared with.
    pub fn floor(self) -> probe::Floor {
        match self {
            Scenario::OktaDatadog => probe::Floor::Gzip,
            Scenario::OktaDatadogZstd => probe::Floor::Zstd,
            _ => probe::Floor::Ndjson,
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where checkpoints go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StoreKind {
    /// [`MemoryCheckpointStore`].
    Memory,
    /// [`FileCheckpointStore`] in a temporary directory.
    File,
}

/// The knobs of a benchmark run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events to backfill (Okta's log; 1Password's three feeds together).
    pub events: u64,
    /// Concurrent streams of `many-streams`.
    pub streams: usize,
    /// How long `many-streams` runs.
    pub duration: Duration,
    /// Interval between two runs of a stream in `many-streams`.
    pub interval: Duration,
    /// Checkpoint store of the backfills; `None`: file.
    pub store: Option<StoreKind>,
    /// Checkpoint store of `many-streams`; `None`: memory.
    pub many_store: Option<StoreKind>,
    /// The `logcrawl-bench` executable to run simulators in (`serve`); `None`: in this process.
    pub sim_exe: Option<PathBuf>,
    /// Compression level of the Datadog sink (gzip or zstd); `None`: the sink's default.
    pub compression_level: Option<u32>,
    /// The fleet sizes of `cost-curve`, run one after the other.
    pub sizes: Vec<usize>,
    /// The span of one row of `flat-memory`'s series (each row: the lowest and highest RSS sampled in it).
    pub sample_every: Duration,
}

impl Options {
    /// The full-size defaults: 1 000 000 events, 10 000 streams for 60 s at a 5 s interval, the cost
    /// curve at 1, 10, 100, 1 000 and 10 000 sources, rows of 5 s in `flat-memory`.
    pub fn full() -> Self {
        Self {
            events: 1_000_000,
            streams: 10_000,
            duration: Duration::from_secs(60),
            interval: Duration::from_secs(5),
            store: None,
            many_store: None,
            sim_exe: None,
            compression_level: None,
            sizes: vec![1, 10, 100, 1_000, 10_000],
            sample_every: Duration::from_secs(5),
        }
    }

    /// A tiny size for CI: a few seconds in a debug build.
    pub fn small() -> Self {
        Self {
            events: 3_500,
            streams: 40,
            duration: Duration::from_millis(1500),
            interval: Duration::from_millis(300),
            sizes: vec![1, 4, 16],
            sample_every: Duration::from_millis(300),
            ..Self::full()
        }
    }
}

/// Run-start lateness of `many-streams` (and of each fleet of the cost curve).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lateness {
    /// Scheduled runs measured (first runs excluded).
    pub runs: u64,
    /// Median lateness.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst.
    pub max: Duration,
    /// How long the last stream waited for its first run after the crawler started.
    pub first_run_max: Duration,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which scenario.
    pub scenario: Scenario,
    /// Streams crawled.
    pub streams: usize,
    /// The checkpoint store used.
    pub store: StoreKind,
    /// Events delivered.
    pub events: u64,
    /// Wall time of the crawl.
    pub elapsed: Duration,
    /// CPU time of this process during the crawl.
    pub cpu: Option<Duration>,
    /// CPU time of the simulator children during the crawl.
    pub sim_cpu: Option<Duration>,
    /// Peak RSS of this process during the scenario.
    pub peak_rss: Option<u64>,
    /// RSS at the end of the crawl (before anything was freed).
    pub end_rss: Option<u64>,
    /// Run lateness (`many-streams`).
    pub lateness: Option<Lateness>,
    /// `Ok(what was checked)` or `Err(what is wrong)`.
    pub check: Result<String, String>,
}

impl Report {
    /// Events per second of wall time.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn meta(name: &str, kind: &str) -> Arc<SourceMeta> {
    Arc::new(SourceMeta {
        name: name.to_owned(),
        connector: kind.into(),
        ddsource: kind.into(),
        service: kind.into(),
        tags: vec!["env:bench".into()],
        hostname: None,
    })
}

pub(crate) fn store_of(kind: StoreKind) -> anyhow::Result<(Arc<dyn CheckpointStore>, Option<tempfile::TempDir>)> {
    Ok(match kind {
        StoreKind::Memory => (Arc::new(MemoryCheckpointStore::new()), None),
        StoreKind::File => {
            let dir = tempfile::tempdir().context("creating the checkpoint directory")?;
            (Arc::new(FileCheckpointStore::open(dir.path())?), Some(dir))
        }
    })
}

pub(crate) fn null_sink() -> anyhow::Result<Arc<dyn Sink>> {
    Ok(Arc::new(FileSink::new("null", FileSinkConfig { path: "/dev/null".into(), fsync: false })?))
}

/// Wall time, CPU time and simulator CPU time over a span, and the peak RSS reset at its start.
pub(crate) struct Meter {
    started: Instant,
    cpu: Option<Duration>,
    sim_cpu: Option<Duration>,
}

impl Meter {
    pub(crate) fn start(sims: &[&Sim]) -> Self {
        procstat::reset_peak_rss();
        Self { started: Instant::now(), cpu: procstat::cpu_time(None), sim_cpu: sims_cpu(sims) }
    }

    pub(crate) fn stop(self, sims: &[&Sim]) -> (Duration, Option<Duration>, Option<Duration>) {
        let elapsed = self.started.elapsed();
        let cpu = procstat::cpu_time(None).zip(self.cpu).map(|(end, start)| end.saturating_sub(start));
        let sim_cpu = sims_cpu(sims).zip(self.sim_cpu).map(|(end, start)| end.saturating_sub(start));
        (elapsed, cpu, sim_cpu)
    }
}

fn sims_cpu(sims: &[&Sim]) -> Option<Duration> {
    sims.iter().map(|sim| sim.child_cpu()).sum()
}

/// Runs one scenario and returns its row. An `Err` means the scenario could not run at all; a failed
/// delivery check is `Ok` with [`Report::check`] set to `Err`.
pub async fn run(scenario: Scenario, options: &Options) -> anyhow::Result<Report> {
    match scenario {
        Scenario::OktaNdjson
        | Scenario::OktaDatadog
        | Scenario::OktaDatadogZstd
        | Scenario::OnePasswordNdjson
        | Scenario::SlackNdjson
        | Scenario::GithubNdjson
        | Scenario::Auth0Ndjson
        | Scenario::DuoNdjson => backfill(scenario, options).await,
        Scenario::EntraNdjson => backfill(scenario, options).await,
        Scenario::GoogleWorkspaceNdjson => backfill(scenario, options).await,
        Scenario::Office365Ndjson | Scenario::HttpOktaNdjson => backfill(scenario, options).await,
        Scenario::ManyStreams => many_streams(options).await,
    }
}

/// The digest of `ids`.
fn digest(ids: impl Iterator<Item = String>) -> IdDigest {
    let mut digest = IdDigest::default();
    for id in ids {
        digest.add(&id);
    }
    digest
}

/// The vendor side of a backfill: its simulator, its connector, and the ids it must deliver.
struct Backfill {
    spec: SimSpec,
    kind: &'static str,
    expected: IdDigest,
    /// The member holding each record's id when it is not `uuid`/`id` in `data` (it may be in the raw
    /// event).
    id_key: Option<&'static str>,
}

impl Backfill {
    fn of(scenario: Scenario, events: u64) -> Self {
        match scenario {
            Scenario::OnePasswordNdjson => {
                let per_feed = events.div_ceil(3);
                let mut expected = IdDigest::default();
                for feed in Feed::ALL {
                    for i in 0..per_feed {
                        expected.add(&logcrawl_sim::onepassword::event_uuid(feed, i));
                    }
                }
                Self { spec: SimSpec::OnePassword { per_feed }, kind: "onepassword", expected, id_key: None }
            }
            Scenario::SlackNdjson => {
                let mut expected = IdDigest::default();
                for i in 0..events {
                    expected.add(&logcrawl_sim::slack::entry_id(i));
                }
                Self { spec: SimSpec::Slack { events }, kind: "slack", expected, id_key: None }
            }
            Scenario::EntraNdjson => {
                let expected = digest((0..events).map(logcrawl_sim::entra::event_id));
                Self { spec: SimSpec::Entra { events }, kind: "entra", expected, id_key: None }
            }
            Scenario::GoogleWorkspaceNdjson => {
                // `uniqueQualifier` is shared by pairs of activities: the digest counts each the times it
                // is expected (a duplicate or a loss changes it).
                let expected =
                    digest((0..events).map(|i| logcrawl_sim::google_workspace::unique_qualifier(i).to_string()));
                let spec = SimSpec::GoogleWorkspace { events };
                Self { spec, kind: "google_workspace", expected, id_key: Some("uniqueQualifier") }
            }
            Scenario::Office365Ndjson => {
                let expected = digest((0..events).map(logcrawl_sim::office365::record_id));
                Self { spec: SimSpec::Office365 { events }, kind: "office365", expected, id_key: None }
            }
            Scenario::GithubNdjson => {
                let expected = digest((0..events).map(logcrawl_sim::github::document_id));
                Self { spec: SimSpec::Github { events }, kind: "github", expected, id_key: Some("_document_id") }
            }
            Scenario::DuoNdjson => {
                let expected = digest((0..events).map(logcrawl_sim::duo::txid));
                Self { spec: SimSpec::Duo { events }, kind: "duo", expected, id_key: Some("txid") }
            }
            Scenario::Auth0Ndjson => {
                // The newest event a minute old; chosen here, so that every log id is known here even with
                // the simulator in a child.
                let span = jiff::SignedDuration::from_millis(i64::try_from(events).unwrap_or(i64::MAX / 2));
                let first = jiff::Timestamp::now() - span - jiff::SignedDuration::from_mins(1);
                let spacing = Duration::from_millis(1);
                let expected = digest((0..events).map(|i| logcrawl_sim::auth0::log_id_of(first, spacing, i)));
                let spec = SimSpec::Auth0 { events, first_stored_ms: first.as_millisecond() };
                Self { spec, kind: "auth0", expected, id_key: Some("log_id") }
            }
            Scenario::HttpOktaNdjson => {
                let expected = digest((0..events).map(event_uuid));
                // The declared source keeps `uuid` in the raw event only.
                Self { spec: SimSpec::Okta { events }, kind: "http", expected, id_key: Some("uuid") }
            }
            _ => {
                let mut expected = IdDigest::default();
                for i in 0..events {
                    expected.add(&event_uuid(i));
                }
                Self { spec: SimSpec::Okta { events }, kind: "okta", expected, id_key: None }
            }
        }
    }

    /// The connector crawling the simulator at `base_url`, its first run inside `max_age`.
    fn connector(&self, base_url: String, max_age: Option<Duration>) -> anyhow::Result<Arc<dyn Connector>> {
        let context = BuildContext::new(format!("{}-bench", self.kind)).with_max_age(max_age);
        Ok(match self.spec {
            SimSpec::OnePassword { .. } => {
                let mut table = logcrawl_core::config::Table::new();
                table.insert("base_url".into(), base_url.into());
                table.insert("token".into(), ONEPASSWORD_TOKEN.into());
                // The simulator does not limit the bench: lift the quota that paces the real API.
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(OnePasswordConnector::from_table(&table, &context)?)
            }
            SimSpec::Slack { .. } => {
                let mut table = logcrawl_core::config::Table::new();
                table.insert("base_url".into(), base_url.into());
                table.insert("token".into(), SLACK_TOKEN.into());
                // The simulator indexes at once and does not limit the bench: no settle lag, no pace.
                table.insert("settle_lag".into(), "0s".into());
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(logcrawl_slack::from_table(&table, &context)?)
            }
            SimSpec::Duo { .. } => {
                let mut table = logcrawl_core::config::Table::new();
                table.insert("api_host".into(), logcrawl_sim::duo::DEFAULT_API_HOST.into());
                table.insert("integration_key".into(), logcrawl_sim::duo::DEFAULT_INTEGRATION_KEY.into());
                table.insert("secret_key".into(), logcrawl_sim::duo::DEFAULT_SECRET_KEY.into());
                table.insert("base_url".into(), base_url.into());
                table.insert("streams".into(), vec!["authentication"].into());
                // The simulator serves at once and does not limit the bench: no settle lag, no pace.
                table.insert("settle_lag".into(), "0s".into());
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(logcrawl_duo::DuoConnector::from_table(&table, &context)?)
            }
            SimSpec::Entra { .. } => {
                use logcrawl_sim::entra::{CLIENT_ID, CLIENT_SECRET, TENANT};
                let mut table = logcrawl_core::config::Table::new();
                for (key, value) in [("tenant_id", TENANT), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]
                {
                    table.insert(key.into(), value.into());
                }
                table.insert("base_url".into(), base_url.clone().into());
                table.insert("login_url".into(), base_url.into());
                // The simulator indexes at once and does not limit the bench; the overlap stays on.
                table.insert("settle_lag".into(), "30s".into());
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(logcrawl_entra::EntraConnector::from_table(&table, &context)?)
            }
            SimSpec::GoogleWorkspace { .. } => {
                use logcrawl_sim::google_workspace::{SUBJECT, TEST_PRIVATE_KEY, service_account_key};
                let mut table = logcrawl_core::config::Table::new();
                let key = service_account_key(&format!("{base_url}/token"), TEST_PRIVATE_KEY);
                table.insert("credentials".into(), key.into());
                table.insert("subject".into(), SUBJECT.into());
                table.insert("base_url".into(), base_url.into());
                // The simulator lists at once and does not limit the bench; the overlap stays on.
                table.insert("settle_lag".into(), "30s".into());
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(logcrawl_google_workspace::GoogleWorkspaceConnector::from_table(&table, &context)?)
            }
            SimSpec::Office365 { .. } => {
                use logcrawl_sim::entra::{CLIENT_ID, CLIENT_SECRET, TENANT};
                let mut table = logcrawl_core::config::Table::new();
                for (key, value) in [("tenant_id", TENANT), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]
                {
                    table.insert(key.into(), value.into());
                }
                table.insert("base_url".into(), base_url.clone().into());
                table.insert("login_url".into(), base_url.into());
                // The simulator lists blobs once created and does not limit the bench; the overlap stays on.
                table.insert("settle_lag".into(), "0s".into());
                table.insert("overlap".into(), "30s".into());
                table.insert("requests_per_second".into(), 100_000.into());
                Arc::new(logcrawl_office365::Office365Connector::from_table(&table, &context)?)
            }
            SimSpec::Github { .. } => {
                let config =
                    GithubConfig { base_url: Some(base_url), ..GithubConfig::for_org("acme-corp", GITHUB_TOKEN) };
                Arc::new(logcrawl_github::connector(config, &logcrawl_github::HTTP_DEFAULTS, &context)?)
            }
            SimSpec::Auth0 { .. } => {
                let config =
                    Auth0Config { base_url: Some(base_url), domain: None, ..Auth0Config::with_token("x", AUTH0_TOKEN) };
                Arc::new(Auth0Connector::new(config, &logcrawl_auth0::HTTP_DEFAULTS, &context)?)
            }
            SimSpec::Okta { .. } if self.kind == "http" => Arc::new(declared_okta(&base_url, &context)?),
            _ => {
                let config = OktaConfig {
                    base_url: Some(base_url),
                    token: Some(OKTA_TOKEN.to_owned().into()),
                    ..OktaConfig::empty()
                };
                Arc::new(OktaConnector::new(config, &context)?)
            }
        })
    }
}

/// The source of `examples/http-okta.toml`, crawling the simulator at `base_url`.
fn declared_okta(base_url: &str, context: &BuildContext) -> anyhow::Result<logcrawl_http_source::HttpConnector> {
    let text = include_str!("../../../examples/http-okta.toml")
        .replace("https://acme.okta.com", base_url)
        .replace("${OKTA_API_TOKEN}", OKTA_TOKEN);
    let mut root: logcrawl_core::config::Table = text.parse()?;
    let Some(toml::Value::Array(mut sources)) = root.remove("sources") else {
        anyhow::bail!("the example has no source")
    };
    let Some(toml::Value::Table(mut table)) = sources.pop() else {
        anyhow::bail!("the example's source is not a table")
    };
    // The runtime's keys, not the connector's.
    for key in ["name", "connector", "sink", "interval"] {
        table.remove(key);
    }
    Ok(logcrawl_http_source::HttpConnector::from_table(&table, context)?)
}

async fn backfill(scenario: Scenario, options: &Options) -> anyhow::Result<Report> {
    let exe = options.sim_exe.as_deref();
    let vendor = Backfill::of(scenario, options.events);
    let api = Sim::start(&vendor.spec, exe).await?;
    let intake = match scenario {
        Scenario::OktaDatadog | Scenario::OktaDatadogZstd => Some(Sim::start(&SimSpec::Datadog, exe).await?),
        _ => None,
    };
    let store_kind = options.store.unwrap_or(StoreKind::File);
    let (store, _dir) = store_of(store_kind)?;

    let (sink, verifier): (Arc<dyn Sink>, Option<Arc<VerifyingSink>>) = match &intake {
        Some(intake) => {
            let mut config = DatadogConfig {
                endpoint: Some(intake.base_url()),
                api_key: Some(DD_API_KEY.to_owned().into()),
                ..DatadogConfig::default()
            };
            if scenario == Scenario::OktaDatadogZstd {
                config.compression = logcrawl_sink_datadog::Compression::Zstd;
            }
            config.compression_level = options.compression_level;
            (Arc::new(DatadogSink::new(config, &BuildContext::new("datadog"))?), None)
        }
        None => {
            let verifier = Arc::new(match vendor.id_key {
                Some(key) => VerifyingSink::keyed(null_sink()?, key),
                None => VerifyingSink::new(null_sink()?),
            });
            (verifier.clone(), Some(verifier))
        }
    };
    let connector = vendor.connector(api.base_url(), sink.max_age())?;
    let streams = connector.streams().len();
    let mut crawler = Crawler::new(store);
    crawler.add_source(Source {
        meta: meta(&format!("{}-bench", vendor.kind), vendor.kind),
        connector,
        sink,
        interval: logcrawl_core::DEFAULT_INTERVAL,
        batch: None,
        emit_errors: false,
    });

    let sims: Vec<&Sim> = [Some(&api), intake.as_ref()].into_iter().flatten().collect();
    let meter = Meter::start(&sims);
    let report = crawler.run_once().await;
    let end_rss = procstat::current_rss();
    let (elapsed, cpu, sim_cpu) = meter.stop(&sims);
    let peak_rss = procstat::peak_rss();

    let stats = crawler.stats();
    let expected = vendor.expected;
    let mut problems = run_problems(&report, &stats);
    let checked = match (&intake, &verifier) {
        (Some(intake), _) => {
            let got = fetch_stats(&intake.base_url()).await.map_err(anyhow::Error::msg)?;
            if got.entries != expected.count || got.digest != expected || got.entries_without_id > 0 {
                problems.push(format!(
                    "the intake accepted {} entries ({} without id), expected each of the {} ids once{}",
                    got.entries,
                    got.entries_without_id,
                    expected.count,
                    if got.digest == expected { "" } else { "; the id digest differs" }
                ));
            }
            format!("intake got {} entries in {} requests, id digest matches", got.entries, got.accepted_requests)
        }
        (None, Some(verifier)) => {
            let tally = verifier.total();
            if tally.digest != expected || tally.without_id > 0 || tally.dropped > 0 {
                problems.push(format!(
                    "the sink acknowledged {} records ({} without id, {} dropped), expected each of the {} ids once{}",
                    tally.digest.count,
                    tally.without_id,
                    tally.dropped,
                    expected.count,
                    if tally.digest == expected { "" } else { "; the id digest differs" }
                ));
            }
            format!("{} acknowledged records, id digest matches", tally.digest.count)
        }
        (None, None) => unreachable!("one of intake or verifier is set"),
    };
    Ok(Report {
        scenario,
        streams,
        store: store_kind,
        events: report.delivered(),
        elapsed,
        cpu,
        sim_cpu,
        peak_rss,
        end_rss,
        lateness: None,
        check: if problems.is_empty() { Ok(checked) } else { Err(problems.join("; ")) },
    })
}

pub(crate) fn run_problems(report: &logcrawl_core::CrawlReport, stats: &CrawlStats) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some((key, failure)) = report.failures().next() {
        problems.push(format!(
            "{} failed runs, e.g. {key}: {:?} {}",
            report.failures().count(),
            failure.stage,
            failure.message
        ));
    }
    let dropped = CrawlStats::get(&stats.dropped);
    let skipped = CrawlStats::get(&stats.skipped);
    if dropped + skipped > 0 {
        problems.push(format!("{dropped} records dropped and {skipped} skipped"));
    }
    problems
}

async fn many_streams(options: &Options) -> anyhow::Result<Report> {
    let acme = Sim::start(&fleet::acme_spec(), options.sim_exe.as_deref()).await?;
    let store = options.many_store.unwrap_or(StoreKind::Memory);
    let plan = fleet::FleetPlan {
        base_url: acme.base_url(),
        streams: options.streams,
        duration: options.duration,
        interval: options.interval,
        store,
        at_least: fleet::INITIAL_EVENTS,
        sample_every: None,
    };
    let sim_cpu_before = acme.child_cpu();
    let result = fleet::run(&plan).await?;
    let sim_cpu = acme.child_cpu().zip(sim_cpu_before).map(|(end, start)| end.saturating_sub(start));
    Ok(Report {
        scenario: Scenario::ManyStreams,
        streams: options.streams,
        store,
        events: result.events,
        elapsed: result.elapsed,
        cpu: result.cpu,
        sim_cpu,
        peak_rss: result.peak_rss,
        end_rss: result.end_rss,
        lateness: Some(result.lateness),
        check: result.check,
    })
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "?".into(), |b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)))
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// The results as a Markdown table, then one line per scenario with its check.
pub fn table(reports: &[Report]) -> String {
    table_with(reports, None)
}

/// [`table`] with each scenario's CPU per event also as a multiple of its floor in `probe`.
pub fn table_with(reports: &[Report], probe: Option<&probe::Probe>) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | streams | store | events | seconds | events/s | CPU s | CPU µs/event | × floor | sim CPU s | peak RSS MiB | lateness p50/p99/max ms | first-run max ms | exactly once |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n");
    for r in reports {
        let (lateness, first) = match r.lateness {
            Some(l) => (format!("{}/{}/{}", ms(l.p50), ms(l.p99), ms(l.max)), ms(l.first_run_max)),
            None => ("-".into(), "-".into()),
        };
        let per_event = r.cpu.filter(|_| r.events > 0).map(|cpu| cpu / u32::try_from(r.events).unwrap_or(u32::MAX));
        let times = per_event.zip(probe).map_or_else(
            || "-".into(),
            |(cpu, p)| format!("{:.1}", cpu.as_secs_f64() / p.floor(r.scenario.floor()).as_secs_f64().max(1e-12)),
        );
        let per_event = per_event.map_or_else(|| "-".into(), |cpu| format!("{:.2}", cpu.as_secs_f64() * 1e6));
        let _infallible = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario.name(),
            r.streams,
            match r.store {
                StoreKind::File => "file",
                StoreKind::Memory => "memory",
            },
            r.events,
            r.elapsed.as_secs_f64(),
            r.events_per_sec(),
            secs(r.cpu),
            per_event,
            times,
            secs(r.sim_cpu),
            mib(r.peak_rss),
            lateness,
            first,
            if r.check.is_ok() { "yes" } else { "**NO**" },
        );
    }
    out.push('\n');
    if let Some(probe) = probe {
        let _infallible = writeln!(out, "{}\n", probe.describe());
    }
    for r in reports {
        let _infallible = match &r.check {
            Ok(what) => writeln!(out, "- {}: ok: {what}", r.scenario.name()),
            Err(what) => writeln!(out, "- {}: FAILED: {what}", r.scenario.name()),
        };
    }
    out
}
