//! `logcrawl run --once` with a Google Workspace source (five applications) and a file sink over a
//! simulated customer of 60 000 activities (a thousand a second, a minute of them, a minute old, some
//! sharing a `uniqueQualifier`): every activity delivered exactly once across many windows and their
//! overlaps on one token, a second run adds nothing, activities the customer logs between runs are
//! delivered exactly once by the next; a subject that is not the customer's administrator stops every
//! stream, naming what to check.

use std::collections::HashSet;
use std::time::Duration;

use logcrawl_sim::google_workspace::{APPLICATIONS, GoogleWorkspaceSim, SUBJECT, application_of};

use crate::support::{FileRun, assert_keeps};

const EVENTS: u64 = 60_000;

/// The source's keys, the key file written to `dir`.
fn keys(sim: &GoogleWorkspaceSim, dir: &std::path::Path, subject: &str) -> String {
    let file = dir.join("service-account.json");
    std::fs::write(&file, sim.service_account_key()).unwrap();
    format!(
        "credentials_file = \"{}\"\nsubject = \"{subject}\"\nbase_url = \"{}\"\ncustomer_id = \"C03az79cb\"\n\
         applications = [\"login\", \"drive\", \"admin\", \"token\", \"saml\"]\npage_size = 1000\n\
         initial_lookback = \"20m\"\nwindow_step = \"15s\"\nsettle_lag = \"2s\"\nrequests_per_second = 500",
        file.display(),
        sim.base_url()
    )
}

/// The dedupe key of a delivered line.
fn key(line: &serde_json::Value) -> String {
    format!("{} {}", line["id"]["time"].as_str().unwrap(), line["id"]["uniqueQualifier"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_google_workspace_activity_exactly_once() {
    let sim = GoogleWorkspaceSim::builder()
        .events(EVENTS)
        .spacing(Duration::from_millis(1))
        .rate_limit(1_000_000, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crawl = FileRun::new("google-example", "google_workspace", &keys(&sim, dir.path(), SUBJECT));
    let started = std::time::Instant::now();
    crawl.run_once().await;
    eprintln!("google_workspace e2e: {EVENTS} activities in {:.2} s", started.elapsed().as_secs_f64());
    let lines = crawl.lines();
    assert_eq!(lines.len() as u64, EVENTS);
    let seen: HashSet<String> = lines.iter().map(key).collect();
    assert_eq!(seen.len() as u64, EVENTS, "duplicates delivered");
    assert_eq!(seen, (0..EVENTS).map(|i| sim.event_key(i)).collect::<HashSet<_>>());
    assert_eq!(sim.token_requests(), 1, "one token for the five applications");
    let qualifiers: HashSet<&str> = lines.iter().map(|l| l["uniqueQualifier"].as_str().unwrap()).collect();
    assert!((qualifiers.len() as u64) < EVENTS, "qualifiers repeat, keys do not");

    // Each line is the whole activity as Google served it, plus the attributes logcrawl adds.
    for i in [0, 4, 7, 8, 9, EVENTS - 1] {
        let wanted = sim.event_key(i);
        let line = lines.iter().find(|l| key(l) == wanted).unwrap();
        assert_eq!(line["id"]["applicationName"], application_of(i));
        let added = ["message", "timestamp", "status", "usr", "network", "evt", "uniqueQualifier"];
        assert_keeps(line, &sim.render_event(i), &[], &added);
        assert!((line["timestamp"].as_f64().unwrap() - sim.at_ms(i) as f64 / 1e3).abs() < 1e-3, "{i}");
        assert!(
            line["message"].as_str().unwrap().ends_with(&format!("({})", application_of(i))),
            "{}",
            line["message"]
        );
    }
    assert!(APPLICATIONS.iter().all(|a| lines.iter().any(|l| l["id"]["applicationName"] == *a)));

    crawl.run_once().await;
    assert_eq!(crawl.lines().len() as u64, EVENTS, "the second run re-delivered activities");

    // The customer logs 777 more (0.777 s of them): delivered once they are older than the settle lag and
    // a window's worth of it has passed since the last run.
    sim.append_now(777);
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    crawl.run_once().await;
    let lines = crawl.lines();
    let new: HashSet<String> = lines[EVENTS as usize..].iter().map(key).collect();
    assert_eq!(lines.len() as u64, EVENTS + 777);
    assert_eq!(new, (EVENTS..EVENTS + 777).map(|i| sim.event_key(i)).collect::<HashSet<_>>(), "exactly the new ones");
}

#[tokio::test]
async fn a_subject_that_is_no_administrator_stops_the_source_naming_what_to_check() {
    let sim = GoogleWorkspaceSim::builder().events(10).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sinks.out]\ntype = \"file\"\npath = \"{}\"\n\n[[sources]]\nname = \"google-example\"\nconnector = \"google_workspace\"\nsink = \"out\"\n{}\n",
        dir.path().join("out.ndjson").display(),
        keys(&sim, dir.path(), "intern@example.com")
    );
    let crawler = crate::support::crawler(&toml, dir.path());
    let report = crawler.run_once().await;
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 5, "each stream stops: {failures:?}");
    for (key, failure) in failures {
        assert_eq!(key.source, "google-example");
        assert!(failure.fatal, "{failure:?}");
        assert!(
            failure.message.contains("invalid_grant") && failure.message.contains("subject must be"),
            "{}",
            failure.message
        );
        assert!(!failure.message.contains("PRIVATE KEY"), "{}", failure.message);
    }
}
