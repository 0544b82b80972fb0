//! Where things are and how to run cargo: shared by every task and by the repository rules.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

/// The workspace root: the parent of this crate's directory, wherever the command was started.
pub(crate) fn root() -> PathBuf {
    // `cargo run` sets the variable at run time; the compile-time value covers a binary run directly.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir.parent().expect("xtask lives one level below the workspace root").to_path_buf()
}

/// A `cargo` command run from the workspace root, using the cargo that runs us (`CARGO`).
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// Prints the command line (to stderr, like cargo's own progress) and hands the command back.
pub(crate) fn echo(cmd: &mut Command) -> &mut Command {
    let program = Path::new(cmd.get_program()).file_name().unwrap_or(cmd.get_program()).to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    eprintln!("$ {program} {}", args.join(" "));
    cmd
}

/// Runs `cmd` (echoed) and fails unless it exits 0.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = echo(cmd).status().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` (not echoed) and returns its stdout; fails with its stderr unless it exits 0.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!("`{}` failed ({}): {}", describe(cmd), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{}` printed non-UTF-8", describe(cmd)))
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// A line of the command's real output (results, sizes), on stdout; progress goes to stderr.
#[expect(clippy::print_stdout, reason = "xtask is a command-line tool; this is its one stdout writer")]
pub(crate) fn say(line: &str) {
    println!("{line}");
}

/// `12.3 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Reads and parses a TOML file below the root.
pub(crate) fn read_toml(root: &Path, relative: &str) -> Result<Table> {
    let text = read(root, relative)?;
    text.parse::<Table>().with_context(|| format!("{relative} is not valid TOML"))
}

/// Reads a text file below the root, naming it on failure.
pub(crate) fn read(root: &Path, relative: &str) -> Result<String> {
    std::fs::read_to_string(root.join(relative)).with_context(|| format!("cannot read {relative}"))
}

/// The `logcrawl` package's manifest.
pub(crate) const CLI_MANIFEST: &str = "crates/cli/Cargo.toml";

/// The `logcrawl` package's features: `(name, entries)`, in manifest order.
pub(crate) fn cli_features(root: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let manifest = read_toml(root, CLI_MANIFEST)?;
    let Some(features) = manifest.get("features").and_then(Value::as_table) else {
        bail!("{CLI_MANIFEST} has no [features] table");
    };
    features
        .iter()
        .map(|(name, entries)| {
            let entries = entries
                .as_array()
                .with_context(|| format!("{CLI_MANIFEST}: feature {name} is not a list"))?
                .iter()
                .map(|e| e.as_str().map(str::to_owned).with_context(|| format!("{CLI_MANIFEST}: feature {name}")))
                .collect::<Result<Vec<_>>>()?;
            Ok((name.clone(), entries))
        })
        .collect()
}

/// The members of an aggregate feature of `logcrawl` (`all-connectors`, `all-sinks`).
pub(crate) fn feature_group(root: &Path, group: &str) -> Result<Vec<String>> {
    cli_features(root)?
        .into_iter()
        .find(|(name, _)| name == group)
        .map(|(_, entries)| entries)
        .with_context(|| format!("{CLI_MANIFEST} has no `{group}` feature"))
}

/// The features that each add one component (every feature but `default` and the aggregates, which
/// only name other features).
pub(crate) fn component_features(root: &Path) -> Result<Vec<String>> {
    let features = cli_features(root)?;
    let names: Vec<&str> = features.iter().map(|(name, _)| name.as_str()).collect();
    Ok(features
        .iter()
        .filter(|(name, entries)| {
            name != "default" && (entries.is_empty() || !entries.iter().all(|e| names.contains(&e.as_str())))
        })
        .map(|(name, _)| name.clone())
        .collect())
}

/// The workspace's version (`[workspace.package] version`), which every crate inherits.
pub(crate) fn workspace_version(root: &Path) -> Result<String> {
    let manifest = read_toml(root, "Cargo.toml")?;
    manifest
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("Cargo.toml has no [workspace.package] version")
}

/// The version of the `logcrawl` package: its own, or the workspace's when inherited.
pub(crate) fn cli_version(root: &Path) -> Result<String> {
    let manifest = read_toml(root, CLI_MANIFEST)?;
    match manifest.get("package").and_then(|p| p.get("version")) {
        Some(Value::String(version)) => Ok(version.clone()),
        _ => workspace_version(root),
    }
}

/// The workspace members' directories, relative to the root, sorted (`members` globs of the form `dir/*`
/// are expanded to the directories that hold a `Cargo.toml`). Used by the repository rules.
#[cfg(test)]
pub(crate) fn members(root: &Path) -> Result<Vec<String>> {
    let manifest = read_toml(root, "Cargo.toml")?;
    let patterns = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(Value::as_array)
        .context("Cargo.toml has no [workspace] members")?;
    let mut members = Vec::new();
    for pattern in patterns {
        let pattern = pattern.as_str().context("a workspace member is not a string")?.trim_end_matches('/');
        if let Some(dir) = pattern.strip_suffix("/*") {
            let entries = std::fs::read_dir(root.join(dir)).with_context(|| format!("cannot list {dir}"))?;
            for entry in entries {
                let entry = entry?;
                if entry.path().join("Cargo.toml").is_file() {
                    members.push(format!("{dir}/{}", entry.file_name().to_string_lossy()));
                }
            }
        } else if pattern.contains('*') {
            bail!("workspace member pattern {pattern:?}: only `dir/*` globs are understood by xtask");
        } else {
            members.push(pattern.to_owned());
        }
    }
    members.sort();
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }

    #[test]
    fn component_features_leave_out_default_and_aggregates() {
        let features = component_features(&root()).unwrap();
        for expected in ["acme", "okta", "file", "datadog", "lts"] {
            assert!(features.iter().any(|f| f == expected), "{expected} missing from {features:?}");
        }
        for aggregate in ["default", "all-connectors", "all-sinks"] {
            assert!(!features.iter().any(|f| f == aggregate), "{aggregate} is an aggregate: {features:?}");
        }
    }

    #[test]
    fn members_include_this_crate_and_the_connectors() {
        let members = members(&root()).unwrap();
        assert!(members.iter().any(|m| m == "xtask"), "{members:?}");
        assert!(members.iter().any(|m| m == "connectors/acme"), "{members:?}");
        assert!(members.iter().any(|m| m == "crates/cli"), "{members:?}");
    }
}
