//! # xtask
//!
//! logcrawl's repository automation, in Rust so it runs wherever cargo does (the `cargo xtask` pattern:
//! `.cargo/config.toml` aliases `xtask` to `run --package xtask --`).
//!
//! | command | what it does |
//! |---|---|
//! | `cargo xtask dist [--features F,…] [--target TRIPLE]` | release build with the `release-dist` profile, then `target/dist/logcrawl-<version>-<target>.tar.gz` and its `.sha256` |
//! | `cargo xtask new-connector NAME` | scaffolds `connectors/NAME` (crate `logcrawl-NAME`) and wires it into the workspace, the `logcrawl` features and the registry |
//! | `cargo xtask ci [--skip-tests]` | fmt, clippy, every connector and sink feature alone, a feature-subset binary smoke test, then the README's test command |
//! | `cargo xtask bench [ARGS…]` | `cargo run --release -p logcrawl-bench -- ARGS…` |
//!
//! The repository's rules (lints inherited everywhere, crate docs, features registered, no `todo!`, the
//! tutorial's code equal to the ACME connector) are `#[test]`s of this crate (`src/tidy.rs`), so
//! `cargo test --workspace` enforces them and their failures say what to fix.
//!
//! ## Design
//!
//! * Paths come from where this crate lives (`CARGO_MANIFEST_DIR/..`), never from the current directory, so
//!   the alias works from anywhere in the tree. Build output follows `CARGO_TARGET_DIR` like any cargo
//!   command; only the release archive has a fixed home, `<workspace>/target/dist`.
//! * cargo is invoked through the `CARGO` variable cargo sets for us, so the same toolchain runs throughout.
//! * Few dependencies (anyhow, toml, serde_json, tar, flate2, sha2, hex), all already in the workspace's
//!   build graph but `tar`: this crate is compiled before anything else in CI and must stay cheap.

mod ci;
mod dist;
mod new_connector;
mod project;
#[cfg(test)]
mod tidy;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  dist [--features F[,F...]] [--target TRIPLE]
        release build (profile `dist`: fat LTO, one codegen unit, stripped) of the logcrawl binary, packed
        with README.md, LICENSE-* and examples/*.toml into target/dist/logcrawl-<version>-<target>.tar.gz,
        plus a sha256sum-style .sha256 file. --features builds exactly those features (no defaults);
        without it, every connector and sink. --target defaults to the host (`rustc -vV`).
  new-connector NAME
        scaffold connectors/NAME (package logcrawl-NAME) with a working cursor-paginated stream, a wiremock
        test and a README stub, and wire it into Cargo.toml, crates/cli/Cargo.toml and the registry.
        NAME: lowercase letters, digits and `_`, starting with a letter.
  ci [--skip-tests]
        cargo fmt --check; cargo clippy -D warnings; each connector and sink feature of `logcrawl` alone;
        a binary built with only some features; then (unless --skip-tests) the README's test command.
  bench [ARGS...]
        cargo run --release -p logcrawl-bench -- ARGS...
  help
        this text
";

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<OsString>) -> Result<ExitCode> {
    let mut args =
        args.into_iter().map(|a| a.into_string().map_err(|a| anyhow::anyhow!("argument {a:?} is not UTF-8")));
    let Some(command) = args.next().transpose()? else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    let rest: Vec<String> = args.collect::<Result<_>>()?;
    match command.as_str() {
        "dist" => dist::run(&dist::Options::parse(&rest)?),
        "new-connector" => {
            let [name] = rest.as_slice() else { bail!("usage: cargo xtask new-connector NAME") };
            new_connector::run(name)
        }
        "ci" => {
            let skip_tests = match rest.as_slice() {
                [] => false,
                [flag] if flag == "--skip-tests" => true,
                other => bail!("unexpected arguments {other:?}; usage: cargo xtask ci [--skip-tests]"),
            };
            ci::run(skip_tests)
        }
        "bench" => bench(&rest),
        "help" | "-h" | "--help" => {
            project::say(USAGE.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command {other:?}")
        }
    }
}

/// `cargo xtask bench ARGS…`: the benchmark program, optimised, with the arguments passed through.
fn bench(args: &[String]) -> Result<ExitCode> {
    let root = project::root();
    if !root.join("crates/bench/Cargo.toml").exists() {
        bail!("crates/bench (package logcrawl-bench) is not in this checkout");
    }
    let mut cmd = project::cargo();
    cmd.args(["run", "--release", "--package", "logcrawl-bench", "--"]).args(args);
    let status = project::echo(&mut cmd).status().context("running cargo")?;
    // The benchmark's own exit status is ours: a failed comparison must fail the caller too.
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
