//! Operating the daemon: `/metrics` against what the sink received, `/ready` through a revoked key and a
//! reload, live reload under load, and the progress line on a terminal (and not off one).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{Running, command, runtime, wait_for};
use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};

/// The ACME simulator with `events` in the past (one a millisecond up to now), `live_rate` more a second
/// from now on, and the key `key`.
fn acme(rt: &tokio::runtime::Runtime, events: u64, live_rate: u64, key: &str) -> AcmeSim {
    let config = AcmeSimConfig { events, live_rate, api_key: Some(key.into()), ..AcmeSimConfig::default() };
    rt.block_on(AcmeSim::start(config)).unwrap()
}

/// A loopback port nothing listens on (bound and released; the daemon binds it right after).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `GET path` with a plain HTTP/1.1 request: `(status, body)`, or `None` while nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())?;
    Some((status, body))
}

/// The value of the series `name{labels}` (labels as written in the exposition, in its order).
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() { name.to_owned() } else { format!("{name}{{{labels}}}") };
    metrics.lines().find_map(|line| line.strip_prefix(&series)?.strip_prefix(' ')?.trim().parse().ok())
}

const STREAM: &str = r#"source="acme-demo",stream="ACME log stream""#;

/// `logcrawl.toml` in `dir`: each `(name, base_url, page_size)` an ACME source into `NAME.ndjson`, and the
/// operations listener on `listen` if any.
fn config(dir: &Path, sources: &[(&str, &str, u32)], listen: Option<SocketAddr>) -> std::path::PathBuf {
    let mut text = "state_dir = \"state\"\n\n".to_owned();
    if let Some(listen) = listen {
        text.push_str(&format!("[api]\nlisten = \"{listen}\"\n\n"));
    }
    for (name, _, _) in sources {
        text.push_str(&format!("[sinks.{name}]\ntype = \"file\"\npath = \"{name}.ndjson\"\n\n"));
    }
    for (name, base_url, page_size) in sources {
        text.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nconnector = \"acme\"\nsink = \"{name}\"\ninterval = \"1s\"\n\
             base_url = \"{base_url}\"\napi_key = \"${{ACME_API_KEY}}\"\npage_size = {page_size}\nbatch_max_records = 50\n\n"
        ));
    }
    let path = dir.join("logcrawl.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn daemon(dir: &Path, key: &str, args: &[&str]) -> Running {
    let mut all = vec!["run", "-c", "logcrawl.toml"];
    all.extend_from_slice(args);
    Running::spawn(command(dir, key, &all).env("LOGCRAWL_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()))
}

/// SIGTERM, then the daemon's stderr once it exited.
fn stop(daemon: Running) -> String {
    daemon.signal("-TERM");
    let output = daemon.wait_with_output();
    let stderr = super::text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// The ids of the records in an NDJSON file the daemon may be appending to: complete lines only.
fn ids(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["id"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

#[test]
fn metrics_equal_what_the_sink_received_and_lag_falls_once_caught_up() {
    let rt = runtime();
    // A backlog of 20 s of events, then 1 000 a second as they happen: the crawl catches up to now.
    let sim = acme(&rt, 20_000, 1_000, "k");
    let quiet = acme(&rt, 3_000, 0, "k");
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    config(dir.path(), &[("acme-demo", &quiet.base_url(), 100), ("live", &sim.base_url(), 500)], Some(addr));
    let child = daemon(dir.path(), "k", &[]);

    wait_for(|| ids(&dir.path().join("acme-demo.ndjson")).len() == 3_000);
    // The quiet source is done: its counters are final and must equal the file.
    let metrics = || get(addr, "/metrics").map(|(_, body)| body).unwrap_or_default();
    wait_for(|| sample(&metrics(), "logcrawl_events_delivered_total", STREAM) == Some(3_000.0));
    let scraped = metrics();
    assert_eq!(sample(&scraped, "logcrawl_events_fetched_total", STREAM), Some(3_000.0), "{scraped}");
    assert_eq!(sample(&scraped, "logcrawl_events_skipped_total", STREAM), Some(0.0));
    assert_eq!(sample(&scraped, "logcrawl_stream_up", STREAM), Some(1.0));
    assert!(sample(&scraped, "logcrawl_checkpoint_commits_total", STREAM).unwrap() >= 60.0, "batches of 50");
    // 30 pages of 100; no failure.
    let ok = sample(&scraped, "logcrawl_vendor_requests_total", &format!("{STREAM},status=\"2xx\"")).unwrap();
    assert!(ok >= 30.0, "{ok}");
    assert_eq!(sample(&scraped, "logcrawl_vendor_requests_total", &format!("{STREAM},status=\"4xx\"")), None);
    assert!(sample(&scraped, "logcrawl_checkpoint_age_seconds", STREAM).is_some());
    assert!(sample(&scraped, "logcrawl_process_resident_memory_bytes", "").unwrap() > 1e6);
    assert_eq!(sample(&scraped, "logcrawl_sources", ""), Some(2.0));
    assert!(scraped.contains("# TYPE logcrawl_run_duration_seconds summary"), "{scraped}");
    assert!(scraped.contains("# HELP logcrawl_events_delivered_total Records the sink accepted."));

    // The live source: caught up, its newest record is about an interval old.
    let live = r#"source="live",stream="ACME log stream""#;
    wait_for(|| sample(&metrics(), "logcrawl_lag_seconds", live).is_some_and(|lag| lag < 3.0));
    let counted = sample(&metrics(), "logcrawl_events_delivered_total", live).unwrap();
    stop(child);
    // Less than 3 s behind: at least the first 17 s of the backlog (an event a millisecond) were counted.
    assert!(counted >= 17_000.0, "{counted}");
    // Still growing when scraped: the file holds at least what the counter said, and every record once.
    let live_ids = ids(&dir.path().join("live.ndjson"));
    assert!(live_ids.len() as f64 >= counted, "{} < {counted}", live_ids.len());
    assert!(live_ids.windows(2).all(|w| w[1] == w[0] + 1), "a gap or a duplicate");
}

/// The `fields` of each JSON log line in `stderr` (the daemon logs JSON when stderr is not a terminal).
fn log_fields(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|l| l["fields"].clone())
        .collect()
}

#[test]
fn ready_names_a_source_whose_key_was_revoked_and_recovers_after_a_reload_with_the_new_key() {
    let rt = runtime();
    let sim = acme(&rt, 2_000, 50, "first-key");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.txt"), "first-key\n").unwrap();
    let addr = free_port();
    let path = config(dir.path(), &[("acme-demo", &sim.base_url(), 500)], Some(addr));
    let text = std::fs::read_to_string(&path).unwrap().replace("${ACME_API_KEY}", "${file:key.txt}");
    std::fs::write(&path, text).unwrap();
    let child = daemon(dir.path(), "unused", &[]);

    let ready = || get(addr, "/ready").unwrap_or((0, String::new()));
    // Caught up: the first run ended well.
    wait_for(|| ready().1.contains(r#""state":"ok""#) && ids(&dir.path().join("acme-demo.ndjson")).len() >= 2_000);
    let (status, body) = ready();
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["sources"][0]["streams"][0]["state"], "ok", "{body}");
    assert_eq!(get(addr, "/health").unwrap().0, 200);

    // The administrator revokes the key: the next run is refused with 401, a fatal error.
    sim.rotate_key(Some("second-key".into()));
    wait_for(|| ready().0 == 503);
    let (_, body) = ready();
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ready"], false, "{body}");
    assert_eq!(answer["state_store"], "ok");
    let source = &answer["sources"][0];
    assert_eq!((source["source"].as_str(), source["ready"].as_bool()), (Some("acme-demo"), Some(false)), "{body}");
    let stream = &source["streams"][0];
    assert_eq!(stream["state"], "stopped", "{body}");
    assert!(stream["error"].as_str().unwrap().contains("401"), "{body}");
    assert!(!body.contains("first-key") && !body.contains("second-key"), "a key in {body}");
    // The process still serves: only readiness is lost.
    assert_eq!(get(addr, "/health").unwrap().0, 200);

    // The secret file gets the new key; SIGHUP reloads, the source (its key changed) restarts.
    std::fs::write(dir.path().join("key.txt"), "second-key\n").unwrap();
    let before = ids(&dir.path().join("acme-demo.ndjson")).len();
    child.signal("-HUP");
    wait_for(|| ready().0 == 200 && ids(&dir.path().join("acme-demo.ndjson")).len() > before);
    let stderr = stop(child);
    assert!(!stderr.contains("first-key") && !stderr.contains("second-key"), "a key in the logs");
    let messages: Vec<String> =
        log_fields(&stderr).iter().filter_map(|f| f["message"].as_str().map(str::to_owned)).collect();
    assert!(messages.iter().any(|m| m.starts_with("source changed")), "{messages:?}");
    let delivered = ids(&dir.path().join("acme-demo.ndjson"));
    assert!(delivered.windows(2).all(|w| w[1] == w[0] + 1), "a gap or a duplicate across the revocation");
}

#[test]
fn a_reload_under_load_starts_changes_and_removes_sources_and_leaves_the_others_running() {
    let rt = runtime();
    let live = || acme(&rt, 5_000, 500, "k");
    let (a, b, c, d) = (live(), live(), live(), live());
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let file = |name: &str| dir.path().join(format!("{name}.ndjson"));
    config(dir.path(), &[("a", &a.base_url(), 200), ("b", &b.base_url(), 200), ("c", &c.base_url(), 200)], Some(addr));
    let child = daemon(dir.path(), "k", &["--watch-config"]);
    wait_for(|| ["a", "b", "c"].iter().all(|name| ids(&file(name)).len() >= 5_000));

    let scrape = || get(addr, "/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(scrape().contains(r#"logcrawl_stream_up{source="c""#));

    // An invalid configuration is refused, located, and changes nothing.
    let valid = std::fs::read_to_string(dir.path().join("logcrawl.toml")).unwrap();
    std::fs::write(dir.path().join("logcrawl.toml"), valid.replacen("interval = \"1s\"", "interval = \"soon\"", 1))
        .unwrap();
    let a_before = ids(&file("a")).len();
    wait_for(|| ids(&file("a")).len() > a_before + 1_000);

    // Under load (each source gains 500 events a second): b's page size changes, c goes, d comes.
    config(dir.path(), &[("a", &a.base_url(), 200), ("b", &b.base_url(), 300), ("d", &d.base_url(), 200)], Some(addr));
    wait_for(|| ids(&file("d")).len() >= 5_000);
    let c_at_removal = ids(&file("c"));
    // The removed source's gauges leave /metrics (an alert on its stream_up must not fire forever).
    wait_for(|| !scrape().contains(r#"logcrawl_stream_up{source="c""#));
    assert!(scrape().contains(r#"logcrawl_stream_up{source="a""#));
    let a_before = ids(&file("a")).len();
    wait_for(|| ids(&file("a")).len() > a_before + 500);
    let stderr = stop(child);

    let lifecycle: Vec<(String, String)> = log_fields(&stderr)
        .iter()
        .filter_map(|f| Some((f["source"].as_str()?.to_owned(), f["message"].as_str()?.to_owned())))
        .filter(|(_, message)| message.starts_with("source "))
        .collect();
    let fields = log_fields(&stderr);
    let refusals: Vec<&serde_json::Value> = fields
        .iter()
        .filter(|f| f["message"].as_str().is_some_and(|m| m.starts_with("the new configuration is refused")))
        .collect();
    assert_eq!(refusals.len(), 1, "{stderr}");
    let why = refusals[0]["error"].as_str().unwrap();
    assert!(why.contains("logcrawl.toml:") && why.contains("sources[0].interval") && why.contains("soon"), "{why}");
    let of = |name: &str| -> Vec<&str> {
        lifecycle.iter().filter(|(source, _)| source == name).map(|(_, m)| m.split(':').next().unwrap()).collect()
    };
    assert_eq!(of("a"), ["source started"], "a was interrupted: {lifecycle:?}");
    assert_eq!(of("b"), ["source started", "source changed"], "{lifecycle:?}");
    assert_eq!(of("c"), ["source started", "source removed"], "{lifecycle:?}");
    assert_eq!(of("d"), ["source started"], "{lifecycle:?}");
    // c delivered nothing after its removal.
    assert_eq!(ids(&file("c")), c_at_removal);
    for name in ["a", "b", "c", "d"] {
        let delivered = ids(&file(name));
        assert_eq!(delivered.first(), Some(&1), "{name}: the first event");
        assert!(delivered.windows(2).all(|w| w[1] == w[0] + 1), "{name}: a gap or a duplicate");
    }

    // c committed its last acknowledged batch when it was removed: crawled again, it repeats nothing.
    config(dir.path(), &[("c", &c.base_url(), 200)], Some(addr));
    let again = command(dir.path(), "k", &["run", "-c", "logcrawl.toml", "--once"]).output().unwrap();
    assert!(again.status.success(), "{}", super::text(&again.stderr));
    let c_ids = ids(&file("c"));
    assert!(c_ids.len() > c_at_removal.len());
    assert!(c_ids.windows(2).all(|w| w[1] == w[0] + 1), "c re-sent or lost events across its removal");
}

#[cfg(unix)]
#[test]
fn a_terminal_shows_a_progress_line_per_stream() {
    let rt = runtime();
    let sim = acme(&rt, 30_000, 0, "k");
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &[("acme-demo", &sim.base_url(), 100)], None);
    let mut run = command(dir.path(), "k", &["run", "-c", "logcrawl.toml", "--once"]);
    run.env("LOGCRAWL_LOG", "warn");
    use expectrl::Expect as _;
    let mut session = expectrl::Session::spawn(run).expect("a pseudo-terminal");
    session.set_expect_timeout(Some(Duration::from_secs(60)));
    // The final line stays on the terminal when the run ends.
    session.expect(expectrl::Regex(r"acme-demo/ACME log stream: 30 000 events, [\d ]+/s")).expect("the progress line");
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(ids(&dir.path().join("acme-demo.ndjson")).len(), 30_000);
}

#[test]
fn nothing_of_the_progress_line_reaches_a_pipe() {
    let rt = runtime();
    let sim = acme(&rt, 5_000, 0, "k");
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &[("acme-demo", &sim.base_url(), 100)], None);
    let out = command(dir.path(), "k", &["run", "-c", "logcrawl.toml", "--once"]).output().unwrap();
    assert!(out.status.success());
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = super::text(bytes);
        assert!(!text.contains('\x1b'), "an escape sequence on {what}");
        assert!(!text.contains('\r'), "a carriage return on {what}");
        assert!(!text.contains("events, "), "a progress line on {what}: {text}");
    }
    assert_eq!(ids(&dir.path().join("acme-demo.ndjson")).len(), 5_000);
}

#[test]
fn a_log_filter_that_does_not_parse_is_said_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), "", &["connectors"]).env("LOGCRAWL_LOG", "logcrawl=loudest").output().unwrap();
    assert!(out.status.success());
    let stderr = super::text(&out.stderr);
    assert!(stderr.contains(r#"LOGCRAWL_LOG="logcrawl=loudest" is not a log filter"#), "{stderr}");
}
