//! A measurement in a fresh child process of the bench, handed back as one line of JSON.
//!
//! A fleet of `cost-curve` and the limit probe each run in a process of their own, so that nothing they
//! allocate stays resident in the process that measures next. The child prints `<TAG> <json>` on stdout
//! ([`print_result`]); the parent runs it and reads that line back ([`run_for_result`]).

use std::process::{Command, Stdio};

use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs `exe args…` (standard error inherited) and parses the JSON after `tag ` on its standard output.
pub async fn run_for_result<T: DeserializeOwned>(
    exe: &std::path::Path,
    args: &[String],
    tag: &'static str,
) -> anyhow::Result<T> {
    let name = tag.to_ascii_lowercase();
    let mut command = Command::new(exe);
    command.args(args).stdin(Stdio::null()).stderr(Stdio::inherit());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await?
        .with_context(|| format!("running the {name} child"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{tag} ");
    let Some(json) = stdout.lines().find_map(|line| line.strip_prefix(prefix.as_str())) else {
        anyhow::bail!("the {name} child ({}) printed no result: {stdout:?}", output.status);
    };
    serde_json::from_str(json).with_context(|| format!("reading the {name} child's result"))
}

/// Prints `tag <result as JSON>` on standard output: the child's side of [`run_for_result`].
pub fn print_result(tag: &str, result: &impl Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tag} {}", serde_json::to_string(result)?)?;
    out.flush()?;
    Ok(())
}
