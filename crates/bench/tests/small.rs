//! Every scenario at a tiny size, simulators in child processes as the binary runs them: the bench
//! command works and its exactly-once checks hold. No timing is asserted.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_bench::verify::VerifyingSink;
use logcrawl_bench::{Options, Scenario, run, table};
use logcrawl_core::{BuildContext, Crawler, LogRecord, MemoryCheckpointStore, Sink, Source, SourceMeta};
use logcrawl_okta::{OktaConfig, OktaConnector};
use logcrawl_sim::datadog::{DatadogIntake, IdDigest};
use logcrawl_sim::okta::{OktaSim, event_uuid};
use logcrawl_sink_datadog::{DatadogConfig, DatadogSink};

fn options() -> Options {
    Options { sim_exe: Some(env!("CARGO_BIN_EXE_logcrawl-bench").into()), ..Options::small() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_delivers_exactly_once_at_a_tiny_size() {
    let options = options();
    let mut reports = Vec::new();
    for scenario in Scenario::ALL {
        let report = run(scenario, &options).await.unwrap();
        assert!(report.check.is_ok(), "{}: {:?}", scenario.name(), report.check);
        reports.push(report);
    }
    assert_eq!(reports[0].events, options.events);
    assert_eq!(reports[1].events, options.events);
    assert_eq!(reports[3].events, options.events.div_ceil(3) * 3, "1Password: every feed's share");
    assert_eq!(reports[3].streams, 3);
    assert_eq!(reports[4].events, options.events, "Slack");
    assert_eq!(reports[5].events, options.events, "GitHub");
    assert_eq!(reports[6].events, options.events, "Auth0");
    assert_eq!(reports[7].events, options.events, "Duo");
    assert_eq!(reports[8].events, options.events, "Entra");
    assert_eq!(reports[8].streams, 3);
    assert_eq!(reports[9].events, options.events, "Google Workspace");
    assert_eq!(reports[9].streams, 5);
    assert_eq!(reports[10].events, options.events, "Office 365");
    assert_eq!(reports[10].streams, 5);
    assert_eq!(reports[11].events, options.events, "Okta through http");
    let many = &reports[2];
    assert!(many.events >= 20 * options.streams as u64, "{}", many.events);
    let lateness = many.lateness.unwrap();
    assert!(lateness.runs > 0, "scheduled runs were measured");
    let text = table(&reports);
    for scenario in Scenario::ALL {
        assert!(text.contains(scenario.name()), "{text}");
    }
    assert!(!text.contains("NO"), "{text}");
}

/// The cost curve through the binary, as `cargo xtask bench --scenario cost-curve` runs it: the simulator
/// and each size's fleet in child processes.
#[test]
fn the_cost_curve_prints_a_checked_row_for_every_size() {
    let sizes = [1, 3, 12];
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_logcrawl-bench"))
        .args(["--scenario", "cost-curve", "--small", "--sizes", "1,3,12"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{text}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    for size in sizes {
        let row = text.lines().find(|l| l.starts_with(&format!("| {size} |"))).unwrap_or_else(|| panic!("{text}"));
        assert!(row.ends_with("| yes |"), "{row}");
        let events: u64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(events >= 20 * size, "{row}");
        assert!(text.contains(&format!("- {size} sources: ok: ")), "{text}");
    }
    assert!(text.contains("- targets at 12 sources: "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_memory_samples_a_series_in_process() {
    let options = Options { sim_exe: None, streams: 10, ..Options::small() };
    let report = logcrawl_bench::curve::flat_memory(&options).await.unwrap();
    assert!(report.check().is_ok(), "{:?}", report.check());
    let rows = report.windows();
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(rows.windows(2).all(|w| w[0].end < w[1].end && w[0].delivered <= w[1].delivered), "{rows:?}");
    assert!(rows.iter().all(|w| w.min_rss > 0 && w.min_rss <= w.max_rss), "{rows:?}");
    assert!(report.trend().is_some_and(|t| t.rows >= 1), "{rows:?}");
    let text = report.table();
    assert!(text.contains("- ok: ") && text.contains("slope"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_simulators_work_too() {
    let options = Options { sim_exe: None, events: 1200, ..Options::small() };
    let report = run(Scenario::OktaDatadog, &options).await.unwrap();
    assert!(report.check.is_ok(), "{:?}", report.check);
    assert_eq!(report.sim_cpu, None, "no child, no child CPU");
}

/// A sink that acknowledges each batch after delivering it twice: the check must notice.
#[derive(Debug)]
struct Twice(Arc<VerifyingSink>);

impl Sink for Twice {
    fn name(&self) -> &str {
        "twice"
    }

    fn send(
        &self,
        batch: logcrawl_core::Batch,
    ) -> futures::future::BoxFuture<'_, Result<logcrawl_core::Delivery, logcrawl_core::SinkError>> {
        Box::pin(async move {
            let copy = logcrawl_core::Batch::new(batch.source.clone(), batch.stream.clone(), batch.records.clone());
            self.0.send(copy).await?;
            self.0.send(batch).await
        })
    }
}

#[tokio::test]
async fn the_verifier_sees_a_duplicate() {
    let inner = Arc::new(VerifyingSink::new(Arc::new(
        logcrawl_sink_file::FileSink::new(
            "null",
            logcrawl_sink_file::FileSinkConfig { path: "/dev/null".into(), fsync: false },
        )
        .unwrap(),
    )));
    let twice = Twice(inner.clone());
    let record = |id: &str| {
        let serde_json::Value::Object(data) = serde_json::json!({"message": "m", "uuid": id}) else { unreachable!() };
        LogRecord::new(data)
    };
    let batch = logcrawl_core::Batch::new(
        Arc::new(SourceMeta { name: "s".into(), ..SourceMeta::default() }),
        Arc::from("x"),
        vec![record("a"), record("b")],
    );
    twice.send(batch).await.unwrap();
    let tally = inner.total();
    assert_eq!(tally.digest.count, 4);
    assert_ne!(tally.digest, IdDigest::of(["a", "b"]));
    assert_eq!(tally.digest, IdDigest::of(["a", "b", "a", "b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_503s_are_retried_without_loss_or_duplicates() {
    const EVENTS: u64 = 2500;
    let okta = OktaSim::builder().events(EVENTS).token("t").start().await.unwrap();
    let intake = DatadogIntake::builder().api_key("k").fail_every(2).start().await.unwrap();
    let mut config = DatadogConfig {
        endpoint: Some(intake.base_url().to_owned()),
        api_key: Some("k".to_owned().into()),
        ..DatadogConfig::default()
    };
    config.delivery.batch_max_records = 400;
    config.http.retry_initial_delay = Duration::from_millis(10);
    config.http.retry_max_delay = Duration::from_millis(50);
    config.http.max_retry_wait = Duration::from_millis(50);
    let sink = DatadogSink::new(config, &BuildContext::new("dd")).unwrap();
    let config = OktaConfig {
        base_url: Some(okta.base_url().to_owned()),
        token: Some("t".to_owned().into()),
        ..OktaConfig::empty()
    };
    let connector = OktaConnector::new(config, &BuildContext::new("o").with_max_age(sink.max_age())).unwrap();
    let mut crawler = Crawler::new(Arc::new(MemoryCheckpointStore::new()));
    crawler.add_source(Source {
        meta: Arc::new(SourceMeta { name: "o".into(), ..SourceMeta::default() }),
        connector: Arc::new(connector),
        sink: Arc::new(sink),
        interval: Duration::from_secs(60),
        batch: None,
        emit_errors: false,
    });
    let report = crawler.run_once().await;
    assert_eq!(report.failures().count(), 0, "{report:?}");
    let stats = intake.stats();
    assert!(stats.injected_failures >= 3, "{stats:?}");
    assert_eq!((stats.entries, stats.distinct_ids, stats.repeated_ids), (EVENTS, EVENTS, 0));
    for i in [0, EVENTS / 2, EVENTS - 1] {
        assert_eq!(intake.deliveries_of(&event_uuid(i)), 1);
    }
}

/// The probe the binary runs before its scenarios, in a child of its own: the floors come back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_runs_in_a_child_process() {
    let probe = logcrawl_bench::probe::run_in_child(env!("CARGO_BIN_EXE_logcrawl-bench").as_ref()).await.unwrap();
    assert_eq!(probe.events_per_page, 1000);
    assert!(probe.bytes_per_event > 1000.0, "{probe:?}");
    assert!(probe.split > std::time::Duration::ZERO && probe.zstd1 > std::time::Duration::ZERO, "{probe:?}");
    assert!(probe.describe().contains("pages of 1000 events"), "{}", probe.describe());
}
