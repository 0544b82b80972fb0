//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.
//!
//! 1. `cargo fmt --all --check`
//! 2. `cargo clippy --workspace --all-targets --all-features --locked -- -D warnings`
//! 3. `cargo doc --workspace --all-features --no-deps` with `RUSTDOCFLAGS=-D warnings`: broken intra-doc
//!    links and malformed docs fail here (only rustdoc sees the flags, so nothing is rebuilt for them).
//! 4. `cargo clippy -p logcrawl --no-default-features --features X -- -D warnings` for each connector and
//!    sink feature X (read from `crates/cli/Cargo.toml`, so a scaffolded connector is included): a component
//!    that only builds alongside another, or code left dead or unused in a slimmed-down build, fails here,
//!    not in a user's build. Only the `logcrawl` crate and the component's own crate are re-checked per
//!    feature; the dependencies' metadata is shared with step 2.
//! 5. a debug binary with only `okta,datadog`: `--version` and `connectors` list exactly those, and a
//!    configuration naming a left-out connector or sink fails saying which feature to enable. This needs a
//!    binary with a feature subset, which the normal test run (all features) never builds, so it lives here.
//! 6. unless `--skip-tests`, the README's test command, `cargo test --workspace --all-features`.
//!
//! Everything shares one target directory (`CARGO_TARGET_DIR`, else `target/`); nothing sets `RUSTFLAGS`,
//! which would rebuild every dependency.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::project::{self, say};

/// The README's test command, which CI runs verbatim (a rule in `tidy.rs` keeps the README and `.ci/run`
/// saying the same).
pub(crate) const TEST_COMMAND: &str = "cargo test --workspace --all-features";

/// The feature subset of the smoke test: one connector, one sink, neither of them the default example's.
const SUBSET: [&str; 2] = ["okta", "datadog"];

/// Runs the steps, timing each.
pub(crate) fn run(skip_tests: bool) -> Result<ExitCode> {
    let root = project::root();
    let started = Instant::now();
    let mut timings: Vec<(String, Duration)> = Vec::new();
    let mut step = |name: &str, work: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!("== {name}");
        let start = Instant::now();
        work().with_context(|| format!("ci step `{name}` failed"))?;
        timings.push((name.to_owned(), start.elapsed()));
        Ok(())
    };

    step("fmt", &mut || project::run(project::cargo().args(["fmt", "--all", "--check"])))?;
    step("clippy", &mut || {
        project::run(project::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("docs", &mut || {
        let mut cmd = project::cargo();
        cmd.args(["doc", "--workspace", "--all-features", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings");
        project::run(&mut cmd)
    })?;
    let features = project::component_features(&root)?;
    step(&format!("each feature alone: {}", features.join(", ")), &mut || {
        features.iter().try_for_each(|feature| {
            let mut cmd = project::cargo();
            cmd.args(["clippy", "--package", "logcrawl", "--locked", "--no-default-features", "--features", feature]);
            cmd.args(["--", "-D", "warnings"]);
            project::run(&mut cmd)
        })
    })?;
    step(&format!("binary with only {}", SUBSET.join(",")), &mut || subset_binary(&root))?;
    if !skip_tests {
        let mut words = TEST_COMMAND.split_whitespace().skip(1);
        step("tests (the README's test command)", &mut || project::run(project::cargo().args(&mut words)))?;
    }

    for (name, took) in &timings {
        say(&format!("{:>7.1}s  {name}", took.as_secs_f64()));
    }
    let skipped = if skip_tests { " (tests skipped)" } else { "" };
    say(&format!("{:>7.1}s  ci total{skipped}", started.elapsed().as_secs_f64()));
    Ok(ExitCode::SUCCESS)
}

/// Builds `logcrawl` with only [`SUBSET`] and checks what it says about itself and about the rest.
fn subset_binary(root: &Path) -> Result<()> {
    let mut cmd = project::cargo();
    cmd.args(["build", "--locked", "--package", "logcrawl", "--bin", "logcrawl", "--no-default-features"]);
    cmd.arg("--features").arg(SUBSET.join(",")).arg("--message-format=json-render-diagnostics");
    let out = project::echo(&mut cmd).stderr(Stdio::inherit()).output().context("cannot start cargo")?;
    ensure!(out.status.success(), "the build failed ({})", out.status);
    let binary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(crate::dist::executable_of)
        .context("cargo reported no `logcrawl` executable")?;

    let version = logcrawl(&binary, root, &["--version"])?;
    ensure!(version.status.success(), "`logcrawl --version` failed: {}", stderr(&version));
    let text = String::from_utf8_lossy(&version.stdout).into_owned();
    let connectors = SUBSET.iter().filter(|f| project_has(root, "all-connectors", f)).copied().collect::<Vec<_>>();
    let sinks = SUBSET.iter().filter(|f| project_has(root, "all-sinks", f)).copied().collect::<Vec<_>>();
    for expected in [format!("connectors: {}", connectors.join(", ")), format!("sinks: {}", sinks.join(", "))] {
        ensure!(text.lines().any(|l| l == expected), "`logcrawl --version` should say {expected:?}:\n{text}");
    }
    let listing = logcrawl(&binary, root, &["connectors"])?;
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let all = project::component_features(root)?;
    for feature in &all {
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(feature.as_str()))
            .with_context(|| format!("`logcrawl connectors` does not list {feature}:\n{listing}"))?;
        let compiled_in = line.split_whitespace().nth(1) == Some("yes");
        ensure!(
            compiled_in == SUBSET.contains(&feature.as_str()),
            "`logcrawl connectors` is wrong about {feature}: {line}"
        );
    }

    let dir = scratch_dir()?;
    let result = missing_components_name_their_feature(&binary, &dir);
    std::fs::remove_dir_all(&dir).ok();
    result?;
    eprintln!("{}: {} ok", binary.display(), SUBSET.join(","));
    Ok(())
}

fn project_has(root: &Path, group: &str, feature: &str) -> bool {
    project::feature_group(root, group).is_ok_and(|members| members.iter().any(|m| m == feature))
}

/// A configuration naming the `acme` connector and the `file` sink, neither compiled in.
fn missing_components_name_their_feature(binary: &Path, dir: &Path) -> Result<()> {
    let datadog_sink = "[sinks.dd]\ntype = \"datadog\"\nsite = \"datadoghq.com\"\napi_key = \"not-a-real-key\"\n";
    let cases = [
        ("file sink", "[sinks.out]\ntype = \"file\"\npath = \"out.ndjson\"\n".to_owned(), "out", "--features file"),
        ("acme connector", datadog_sink.to_owned(), "dd", "--features acme"),
    ];
    for (what, sink, sink_name, advice) in cases {
        let config = format!(
            "state_dir = \"state\"\n\n{sink}\n[[sources]]\nname = \"a\"\nconnector = \"acme\"\nsink = \"{sink_name}\"\nbase_url = \"http://127.0.0.1:9\"\n"
        );
        std::fs::write(dir.join("logcrawl.toml"), config)?;
        let out = logcrawl(binary, dir, &["validate", "-c", "logcrawl.toml"])?;
        let text = stderr(&out);
        ensure!(!out.status.success(), "`logcrawl validate` accepted a configuration with a missing {what}");
        ensure!(
            text.contains("not compiled into this binary") && text.contains(advice),
            "a configuration naming the missing {what} should say `{advice}`; it said:\n{text}"
        );
    }
    Ok(())
}

fn logcrawl(binary: &Path, dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new(binary)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-ci-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
