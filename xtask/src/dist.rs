//! `cargo xtask dist`: the release archive of the `logcrawl` binary.
//!
//! The build uses the workspace's `release-dist` profile (fat LTO, one codegen unit, stripped symbols;
//! not named `dist`, or cargo would build into `target/dist`, which this task empties). The archive is
//! `target/dist/logcrawl-<version>-<target>.tar.gz` below the workspace root, whatever
//! `CARGO_TARGET_DIR` says about where cargo builds, with one top-level directory of the same name
//! holding the binary, `README.md`, `LICENSE-*` and `examples/*.toml`. Entries are sorted and carry
//! fixed owners, modes and times (`SOURCE_DATE_EPOCH`, else the last commit's time), so the same
//! binary always packs to the same bytes. Next to it, `<archive>.sha256` in `sha256sum` format, so
//! `sha256sum -c` verifies a download.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::project::{self, human_size, say};

/// What `cargo xtask dist` was asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Exactly these features, without the defaults; `None`: the default features (everything).
    pub(crate) features: Option<Vec<String>>,
    /// The target triple; `None`: the host's.
    pub(crate) target: Option<String>,
}

impl Options {
    /// Parses `[--features F[,F…]]… [--target TRIPLE]` (also `--flag=value`).
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value =
                || inline.clone().or_else(|| args.next().cloned()).with_context(|| format!("{flag} needs a value"));
            match flag {
                "--features" | "-F" => {
                    let value = value()?;
                    let list = options.features.get_or_insert_with(Vec::new);
                    list.extend(value.split([',', ' ']).filter(|f| !f.is_empty()).map(str::to_owned));
                }
                "--target" => {
                    if options.target.replace(value()?).is_some() {
                        bail!("--target given twice");
                    }
                }
                other => bail!("unknown option {other:?}; usage: cargo xtask dist [--features F,…] [--target TRIPLE]"),
            }
        }
        if options.features.as_ref().is_some_and(Vec::is_empty) {
            bail!("--features names no feature");
        }
        Ok(options)
    }
}

/// Builds, packs, checksums and reports.
pub(crate) fn run(options: &Options) -> Result<ExitCode> {
    let root = project::root();
    let version = project::cli_version(&root)?;
    let host = host_triple()?;
    let target = options.target.clone().unwrap_or_else(|| host.clone());
    if let Some(features) = &options.features {
        let known = project::cli_features(&root)?;
        if let Some(unknown) = features.iter().find(|f| !known.iter().any(|(name, _)| name == *f)) {
            let names: Vec<&str> = known.iter().map(|(name, _)| name.as_str()).collect();
            bail!("`logcrawl` has no feature {unknown:?} (features: {})", names.join(", "));
        }
    }

    let binary = build(options)?;
    let binary_size = std::fs::metadata(&binary)?.len();
    if target == host {
        let version_text = project::output(Command::new(&binary).arg("--version"))?;
        eprintln!("{} --version:\n{}", binary.display(), version_text.trim_end());
    }

    let dist_dir = root.join("target").join("dist");
    if dist_dir.exists() {
        std::fs::remove_dir_all(&dist_dir).with_context(|| format!("cannot clean {}", dist_dir.display()))?;
    }
    std::fs::create_dir_all(&dist_dir).with_context(|| format!("cannot create {}", dist_dir.display()))?;
    let stem = format!("logcrawl-{version}-{target}");
    let archive = dist_dir.join(format!("{stem}.tar.gz"));
    let entries = archive_entries(&root, &binary)?;
    write_archive(&archive, &stem, &entries, source_date(&root))?;
    let checksum = write_checksum(&archive)?;

    let archive_size = std::fs::metadata(&archive)?.len();
    say(&format!("binary   {}  {}", human_size(binary_size), binary.display()));
    say(&format!("archive  {}  {}", human_size(archive_size), archive.display()));
    say(&format!("sha256   {}", checksum.trim_end()));
    Ok(ExitCode::SUCCESS)
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let text = project::output(Command::new(rustc).arg("-vV"))?;
    parse_host(&text).context("`rustc -vV` printed no `host:` line")
}

fn parse_host(rustc_vv: &str) -> Option<String> {
    rustc_vv.lines().find_map(|line| line.strip_prefix("host:")).map(|host| host.trim().to_owned())
}

/// `cargo build --profile release-dist` of the `logcrawl` binary; returns the executable cargo reports.
fn build(options: &Options) -> Result<PathBuf> {
    let mut cmd = project::cargo();
    cmd.args(["build", "--profile", "release-dist", "--locked", "--package", "logcrawl", "--bin", "logcrawl"]);
    cmd.arg("--message-format=json-render-diagnostics");
    if let Some(features) = &options.features {
        cmd.arg("--no-default-features").arg("--features").arg(features.join(","));
    }
    if let Some(target) = &options.target {
        cmd.arg("--target").arg(target);
    }
    project::echo(&mut cmd);
    let mut child = cmd.stdout(Stdio::piped()).spawn().context("cannot start cargo")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(path) = executable_of(&line) {
            executable = Some(path);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the release build failed ({status})");
    }
    executable.context("cargo built no `logcrawl` executable")
}

/// The executable of a `compiler-artifact` message for the `logcrawl` binary.
pub(crate) fn executable_of(message: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(message).ok()?;
    let is_logcrawl_bin = message["reason"] == "compiler-artifact"
        && message["target"]["name"] == "logcrawl"
        && message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
    if !is_logcrawl_bin {
        return None;
    }
    message["executable"].as_str().map(PathBuf::from)
}

/// One file of the archive: where it is now, its name inside the archive's directory, its mode.
#[derive(Debug)]
struct Entry {
    source: PathBuf,
    name: String,
    mode: u32,
}

/// The binary, README.md, LICENSE-* and examples/*.toml, in a fixed order.
fn archive_entries(root: &Path, binary: &Path) -> Result<Vec<Entry>> {
    let binary_name = binary.file_name().context("the binary has no file name")?.to_string_lossy().into_owned();
    let mut entries = vec![Entry { source: binary.to_path_buf(), name: binary_name, mode: 0o755 }];
    let file = |name: &str| Entry { source: root.join(name), name: name.to_owned(), mode: 0o644 };
    entries.push(file("README.md"));
    let mut licenses = files_in(root, "", |name| name.starts_with("LICENSE-"))?;
    if licenses.is_empty() {
        bail!("no LICENSE-* file at the workspace root");
    }
    licenses.sort();
    entries.extend(licenses.iter().map(|name| file(name)));
    let mut examples = files_in(root, "examples", |name| name.ends_with(".toml"))?;
    examples.sort();
    entries.extend(examples.iter().map(|name| file(&format!("examples/{name}"))));
    for entry in &entries {
        if !entry.source.is_file() {
            bail!("{} is missing", entry.source.display());
        }
    }
    Ok(entries)
}

fn files_in(root: &Path, dir: &str, wanted: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let path = root.join(dir);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && wanted(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The entries' time: `SOURCE_DATE_EPOCH`, else the last commit's time, else now.
fn source_date(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok()) {
        return epoch;
    }
    let commit_time = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok());
    commit_time.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    })
}

fn write_archive(archive: &Path, top: &str, entries: &[Entry], mtime: u64) -> Result<()> {
    let file = File::create(archive).with_context(|| format!("cannot create {}", archive.display()))?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::best()));
    let header = |size: u64, mode: u32, kind: tar::EntryType| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    };
    let mut directories: Vec<String> = vec![String::new()];
    for entry in entries {
        if let Some((dir, _)) = entry.name.rsplit_once('/')
            && !directories.iter().any(|d| d == dir)
        {
            directories.push(dir.to_owned());
        }
    }
    for dir in &directories {
        let path = if dir.is_empty() { format!("{top}/") } else { format!("{top}/{dir}/") };
        let mut header = header(0, 0o755, tar::EntryType::Directory);
        tar.append_data(&mut header, &path, std::io::empty())?;
    }
    for entry in entries {
        let source = File::open(&entry.source).with_context(|| format!("cannot open {}", entry.source.display()))?;
        let size = source.metadata()?.len();
        let mut header = header(size, entry.mode, tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{top}/{}", entry.name), source)
            .with_context(|| format!("cannot add {} to the archive", entry.source.display()))?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()?.sync_all()?;
    Ok(())
}

/// Writes `<archive>.sha256` (`<hex>  <file name>`, as `sha256sum` prints) and returns its line.
fn write_checksum(archive: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut file = File::open(archive)?;
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let name = archive.file_name().context("archive name")?.to_string_lossy();
    let line = format!("{}  {name}\n", hex::encode(hasher.finalize()));
    let path = archive.with_file_name(format!("{name}.sha256"));
    std::fs::write(&path, &line).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_take_features_and_target_in_both_spellings() {
        let options = Options::parse(&args(&["--features", "okta,datadog", "--target=x86_64-unknown-linux-musl"]));
        assert_eq!(
            options.unwrap(),
            Options {
                features: Some(vec!["okta".into(), "datadog".into()]),
                target: Some("x86_64-unknown-linux-musl".into())
            }
        );
        let repeated = Options::parse(&args(&["--features=okta", "-F", "lts file"])).unwrap();
        assert_eq!(repeated.features.unwrap(), ["okta", "lts", "file"]);
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        assert!(Options::parse(&args(&["--features"])).unwrap_err().to_string().contains("--features needs a value"));
        assert!(Options::parse(&args(&["--release"])).unwrap_err().to_string().contains("unknown option"));
        assert!(Options::parse(&args(&["--features", ","])).unwrap_err().to_string().contains("names no feature"));
        assert!(Options::parse(&args(&["--target", "a", "--target", "b"])).is_err());
    }

    #[test]
    fn the_host_comes_from_rustc_vv() {
        let text =
            "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        assert_eq!(parse_host(text).as_deref(), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(parse_host("rustc 1.95.0\n"), None);
    }

    #[test]
    fn the_executable_is_read_from_cargo_messages() {
        let bin = r#"{"reason":"compiler-artifact","target":{"name":"logcrawl","kind":["bin"]},"executable":"/t/dist/logcrawl"}"#;
        let lib = r#"{"reason":"compiler-artifact","target":{"name":"logcrawl","kind":["lib"]},"executable":null}"#;
        assert_eq!(executable_of(bin), Some(PathBuf::from("/t/dist/logcrawl")));
        assert_eq!(executable_of(lib), None);
        assert_eq!(executable_of(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(executable_of("not json"), None);
    }

    #[test]
    fn the_archive_is_reproducible_and_the_checksum_is_sha256sum_format() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("examples")).unwrap();
        std::fs::write(dir.join("logcrawl"), b"\x7fELF binary").unwrap();
        std::fs::write(dir.join("README.md"), "readme").unwrap();
        std::fs::write(dir.join("LICENSE-MIT"), "mit").unwrap();
        std::fs::write(dir.join("LICENSE-APACHE"), "apache").unwrap();
        std::fs::write(dir.join("examples/b.toml"), "b = 1").unwrap();
        std::fs::write(dir.join("examples/a.toml"), "a = 1").unwrap();
        std::fs::write(dir.join("examples/notes.txt"), "not packed").unwrap();
        let entries = archive_entries(&dir, &dir.join("logcrawl")).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["logcrawl", "README.md", "LICENSE-APACHE", "LICENSE-MIT", "examples/a.toml", "examples/b.toml"]
        );

        let first = dir.join("one.tar.gz");
        let second = dir.join("two.tar.gz");
        write_archive(&first, "logcrawl-1.0.0-x", &entries, 1_700_000_000).unwrap();
        write_archive(&second, "logcrawl-1.0.0-x", &entries, 1_700_000_000).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap(), "same input, same bytes");

        let mut unpacked = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&first).unwrap()));
        let mut listed = Vec::new();
        for entry in unpacked.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            listed.push((path, mode, body));
        }
        assert_eq!(listed[0].0, "logcrawl-1.0.0-x/");
        assert_eq!(listed[1].0, "logcrawl-1.0.0-x/examples/");
        let binary = listed.iter().find(|(p, _, _)| p == "logcrawl-1.0.0-x/logcrawl").unwrap();
        assert_eq!(binary.1, 0o755);
        let example = listed.iter().find(|(p, _, _)| p == "logcrawl-1.0.0-x/examples/a.toml").unwrap();
        assert_eq!((example.1, example.2.as_str()), (0o644, "a = 1"));
        assert!(!listed.iter().any(|(p, _, _)| p.ends_with("notes.txt")));

        let line = write_checksum(&first).unwrap();
        let expected = hex::encode(Sha256::digest(std::fs::read(&first).unwrap()));
        assert_eq!(line, format!("{expected}  one.tar.gz\n"));
        assert_eq!(std::fs::read_to_string(dir.join("one.tar.gz.sha256")).unwrap(), line);
    }
}
