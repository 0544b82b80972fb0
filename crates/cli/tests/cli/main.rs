//! The real `logcrawl` binary: exit codes, what it prints, what it leaves on disk (`state reset/set` in
//! [`state`]).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use serde_json::Value;

mod ops;
#[cfg(feature = "postgres")]
mod pg;
mod state;

/// `logcrawl ARGS` in `dir`, with debug logs and the ACME key the test configurations read.
fn command(dir: &Path, acme_api_key: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logcrawl"));
    command
        .args(args)
        .current_dir(dir)
        .env("ACME_API_KEY", acme_api_key)
        .env("LOGCRAWL_LOG", "debug")
        .stdin(Stdio::null());
    command
}

/// A `logcrawl` process a test started, killed if still running when dropped: a test that panics before
/// stopping it must not leave it behind, holding its ports and whatever file locks the test runner handed
/// down to it.
struct Running(Option<std::process::Child>);

impl Running {
    fn spawn(command: &mut Command) -> Self {
        Self(Some(command.spawn().expect("logcrawl starts")))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }

    /// `kill -SIG` it (`-TERM`, `-HUP`).
    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(&mut self) {
        if let Some(child) = self.0.as_mut() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Waits for it to exit, with what it printed.
    fn wait_with_output(mut self) -> Output {
        self.0.take().expect("running").wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _gone = child.kill();
            let _reaped = child.wait();
        }
    }
}

fn logcrawl(dir: &Path, args: &[&str]) -> Output {
    command(dir, "", args).output().expect("logcrawl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn demo_twice_with_one_state_dir_delivers_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let first = logcrawl(dir.path(), &["demo", "--events", "5000", "--out", "out.ndjson", "--state-dir", "state"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let summary = text(&first.stdout);
    assert!(summary.contains("5000 events in") && summary.contains("events/s"), "{summary}");
    let second = logcrawl(dir.path(), &["demo", "--events", "5000", "--out", "out.ndjson", "--state-dir", "state"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(text(&second.stdout).contains("0 events in"), "{}", text(&second.stdout));
    let records = lines(&dir.path().join("out.ndjson"));
    assert_eq!(records.len(), 5000);
    let mut ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5000);
}

fn write_config(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let path = dir.join("logcrawl.toml");
    std::fs::write(
        &path,
        format!(
            r#"state_dir = "state"

[sinks.out]
type = "file"
path = "out.ndjson"

[[sources]]
name = "acme-demo"
connector = "acme"
sink = "out"
interval = "1s"
base_url = "{base_url}"
api_key = "${{ACME_API_KEY}}"
page_size = 100
"#
        ),
    )
    .unwrap();
    path
}

/// Polls `done` until it holds (a generous bound, so a loaded machine only makes the test slower).
fn wait_for(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "condition not reached in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

#[test]
fn run_once_then_check_then_state() {
    let rt = runtime();
    let sim = rt
        .block_on(AcmeSim::start(AcmeSimConfig {
            events: 750,
            api_key: Some("k3y-for-acme".into()),
            ..AcmeSimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let run = |args: &[&str]| command(dir.path(), "k3y-for-acme", args).output().unwrap();
    let validate = run(&["validate", "-c", "logcrawl.toml"]);
    assert!(validate.status.success(), "{}", text(&validate.stderr));
    assert!(text(&validate.stdout).contains("OK (1 sources, 1 sinks"), "{}", text(&validate.stdout));

    let once = run(&["run", "-c", "logcrawl.toml", "--once"]);
    assert!(once.status.success(), "{}", text(&once.stderr));
    assert_eq!(lines(&dir.path().join("out.ndjson")).len(), 750);
    assert!(!text(&once.stderr).contains("k3y-for-acme"), "secret in logs");

    // check: records on stdout, from the committed cursor (so none now), and nothing committed.
    let check = run(&["check", "-c", "logcrawl.toml", "acme-demo"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout).lines().count(), 0);

    let state = run(&["state", "-c", "logcrawl.toml"]);
    let listing = text(&state.stdout);
    assert!(listing.contains("acme-demo\tACME log stream\t{\"after\":\"000000000750\",\"v\":1}"), "{listing}");
}

#[test]
fn check_prints_records_and_commits_nothing() {
    let rt = runtime();
    let sim = rt
        .block_on(AcmeSim::start(AcmeSimConfig {
            events: 120,
            api_key: Some("k3y-for-acme".into()),
            ..AcmeSimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let check =
        || command(dir.path(), "k3y-for-acme", &["check", "-c", "logcrawl.toml", "acme-demo"]).output().unwrap();
    let first = check();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let records: Vec<Value> = text(&first.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 120);
    assert_eq!(records[0]["message"].as_str().map(|m| m.contains(' ')), Some(true));
    // Every request it sent is on stderr (JSON lines off a terminal): method, URL and status, never the key.
    let stderr = text(&first.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("not a JSON line ({err}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["target"] == "logcrawl::requests").collect();
    assert!(!requests.is_empty(), "{stderr}");
    for request in &requests {
        let fields = &request["fields"];
        assert_eq!((fields["method"].as_str(), fields["status"].as_u64()), (Some("GET"), Some(200)), "{request}");
        assert!(fields["url"].as_str().is_some_and(|u| u.contains("/v1/logs")), "{request}");
        // Every line of a stream's run names the source and the stream.
        assert_eq!(request["span"]["source"], "acme-demo", "{request}");
        assert_eq!(request["span"]["stream"], "ACME log stream", "{request}");
    }
    assert!(!stderr.contains("k3y-for-acme"), "secret in logs: {stderr}");
    // Asked for text, the same lines as text.
    let as_text =
        command(dir.path(), "k3y-for-acme", &["--log-format", "text", "check", "-c", "logcrawl.toml", "acme-demo"])
            .output()
            .unwrap();
    let stderr = text(&as_text.stderr);
    assert!(stderr.lines().any(|l| l.contains("logcrawl::requests") && l.contains("method=GET")), "{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with('{')), "{stderr}");
    // Nothing was committed: the same records again.
    assert_eq!(text(&check().stdout).lines().count(), 120);
    assert!(!dir.path().join("state/acme-demo").exists());
}

#[test]
fn a_rejected_key_fails_the_run_without_printing_the_key() {
    let rt = runtime();
    let sim = rt
        .block_on(AcmeSim::start(AcmeSimConfig {
            events: 10,
            api_key: Some("the-right-key".into()),
            ..AcmeSimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let output = command(dir.path(), "wrong-secret-value-123", &["run", "-c", "logcrawl.toml", "--once"])
        .env("LOGCRAWL_LOG", "trace")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("401") && stderr.contains("fatal"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value-123"), "secret leaked: {stderr}");
    assert!(!text(&output.stdout).contains("wrong-secret-value-123"));
}

#[test]
fn config_errors_name_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "http://127.0.0.1:9");
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, original.replace("page_size = 100", "page_size = 100\npage_sise = 5")).unwrap();
    let output = command(dir.path(), "x", &["validate", "-c", "logcrawl.toml"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("logcrawl.toml:15: sources[0].page_sise: unknown field `page_sise`"), "{stderr}");

    std::fs::write(&path, original.replace("interval = \"1s\"", "interval = \"soon\"")).unwrap();
    let output = command(dir.path(), "x", &["validate", "-c", "logcrawl.toml"]).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(stderr.contains("logcrawl.toml:11: sources[0].interval: invalid duration \"soon\""), "{stderr}");
}

#[test]
fn sigterm_stops_the_daemon_cleanly_with_the_checkpoint_committed() {
    let rt = runtime();
    let sim = rt
        .block_on(AcmeSim::start(AcmeSimConfig {
            events: 300,
            live_rate: 200,
            api_key: Some("k".into()),
            ..AcmeSimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let child = Running::spawn(
        command(dir.path(), "k", &["run", "-c", "logcrawl.toml"]).stdout(Stdio::null()).stderr(Stdio::piped()),
    );
    let out = dir.path().join("out.ndjson");
    wait_for(|| std::fs::read_to_string(&out).unwrap_or_default().matches('\n').count() >= 300);
    std::thread::sleep(Duration::from_millis(300));
    child.signal("-TERM");
    let output = child.wait_with_output();
    assert!(output.status.success(), "exit {:?}: {}", output.status, text(&output.stderr));
    let delivered = lines(&dir.path().join("out.ndjson"));
    assert!(delivered.len() >= 300, "{}", delivered.len());
    let state = std::fs::read_to_string(dir.path().join("state/acme-demo/ACME%20log%20stream.json")).unwrap();
    let last_id = delivered.last().unwrap()["id"].as_str().unwrap().to_owned();
    assert!(state.contains(&last_id), "checkpoint {state} is not at the last delivered record {last_id}");
}

#[test]
fn connectors_and_version_list_what_is_compiled_in() {
    let dir = tempfile::tempdir().unwrap();
    let version = logcrawl(dir.path(), &["--version"]);
    assert!(text(&version.stdout).contains("connectors: acme"), "{}", text(&version.stdout));
    // The binary runs on jemalloc with the settings compiled in by logcrawl-alloc (unless overridden).
    assert!(text(&version.stdout).contains("allocator: jemalloc 5."), "{}", text(&version.stdout));
    if std::env::var_os("_RJEM_MALLOC_CONF").is_none() {
        assert!(text(&version.stdout).contains("(arenas: 1, background thread: on)"), "{}", text(&version.stdout));
    }
    let listing = logcrawl(dir.path(), &["connectors"]);
    assert!(text(&listing.stdout).contains("acme"), "{}", text(&listing.stdout));
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef logcrawl"), ("fish", "complete -c logcrawl")] {
        let script = logcrawl(dir.path(), &["completions", shell]);
        assert!(script.status.success(), "{shell}: {}", text(&script.stderr));
        let script = text(&script.stdout);
        assert!(script.contains(marker) && script.contains("check"), "{shell}: {script}");
    }
}

#[test]
fn a_corrupt_checkpoint_stops_the_stream_with_an_error_naming_the_file() {
    let rt = runtime();
    let sim = rt.block_on(AcmeSim::start(AcmeSimConfig { events: 50, ..AcmeSimConfig::default() })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let checkpoint = dir.path().join("state/acme-demo/ACME%20log%20stream.json");
    std::fs::create_dir_all(checkpoint.parent().unwrap()).unwrap();
    std::fs::write(&checkpoint, "{\"version\": 1, \"cursor\": ").unwrap();
    let output = command(dir.path(), "x", &["run", "-c", "logcrawl.toml", "--once"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("loading the checkpoint") && stderr.contains("ACME%20log%20stream.json"), "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    // Nothing was crawled from scratch.
    assert!(lines(&dir.path().join("out.ndjson")).is_empty());
}

#[test]
fn kill_9_mid_crawl_loses_nothing_and_resends_at_most_the_in_flight_batch() {
    let rt = runtime();
    let sim = rt
        .block_on(AcmeSim::start(AcmeSimConfig {
            events: 20_000,
            live_rate: 2_000,
            api_key: Some("k".into()),
            ..AcmeSimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sim.base_url());
    // Small pages and batches, synced to disk: many commits to be killed in the middle of.
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("path = \"out.ndjson\"", "path = \"out.ndjson\"\nfsync = true")
        .replace("[[sources]]", "[[sources]]\nbatch_max_records = 50");
    std::fs::write(&path, config).unwrap();
    let mut child = Running::spawn(
        command(dir.path(), "k", &["run", "-c", "logcrawl.toml"]).stdout(Stdio::null()).stderr(Stdio::null()),
    );
    // Kill while it is busy: once a first checkpoint exists, a little later.
    let checkpoint_file = dir.path().join("state/acme-demo/ACME%20log%20stream.json");
    wait_for(|| checkpoint_file.exists());
    std::thread::sleep(Duration::from_millis(300));
    child.kill();

    let checkpoint: Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint_file).unwrap())
        .expect("the checkpoint is whole after kill -9");
    let committed: u64 = checkpoint["cursor"]["after"].as_str().unwrap().parse().unwrap();
    assert!(committed > 0, "nothing was committed in 1.5 s");
    // A kill in the middle of a write may leave one torn line, never acknowledged; the sink keeps it on a
    // line of its own and the record is sent again whole.
    let ids = |path: &Path| -> Vec<u64> {
        let text = std::fs::read_to_string(path).unwrap();
        let parsed: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert!(text.lines().count() - parsed.len() <= 1, "more than one torn line");
        parsed.iter().map(|r| r["id"].as_str().unwrap().parse::<u64>().unwrap()).collect()
    };
    let before = ids(&dir.path().join("out.ndjson"));
    // Everything up to the checkpoint reached the file before it was committed.
    assert!(before.len() as u64 >= committed);
    assert_eq!(&before[..committed as usize], (1..=committed).collect::<Vec<_>>().as_slice());

    let again = command(dir.path(), "k", &["run", "-c", "logcrawl.toml", "--once"]).output().unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    let after = ids(&dir.path().join("out.ndjson"));
    let resent = &after[before.len()..];
    // The restart resumes right after the checkpoint: only records written but not yet committed (at most
    // the batches in flight at the kill) come again, then new ones, in order and without gaps.
    assert_eq!(resent.first().copied(), Some(committed + 1));
    assert!(resent.windows(2).all(|w| w[1] == w[0] + 1), "gap or reorder after restart");
    let duplicates = before.len() as u64 - committed;
    assert!(duplicates <= 2 * 50, "{duplicates} records re-sent, more than the batches in flight");
}
