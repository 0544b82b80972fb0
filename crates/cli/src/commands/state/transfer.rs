//! `logcrawl state export` and `state import`: checkpoints as JSON lines, one
//! `{"source": …, "stream": …, "cursor": …}` object a line, to move them between stores (export with the
//! file store configured, import with PostgreSQL configured, or back), or to keep a copy.
//!
//! An import writes like `state set` does: with the file store it takes the state directory's lock, with
//! PostgreSQL it refuses a stream leased to a live worker. It checks the whole input before writing any
//! of it, so a malformed line changes nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use logcrawl_core::{CheckpointStore, Cursor, StreamKey};
use serde_json::{Value, json};

use super::{confirm, declined, say};
use crate::config::Config;
use crate::store::{open_admin, open_reader};

/// `logcrawl state export [--out FILE]`: every checkpoint of the configured store, as JSON lines on
/// standard output or in `out`.
pub fn export(config_path: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let store = open_reader(&config)?;
    let entries = store.list().with_context(|| format!("reading the checkpoints in {}", store.describe()))?;
    let mut text = String::new();
    for (key, cursor) in &entries {
        text.push_str(&json!({"source": key.source, "stream": key.stream, "cursor": cursor}).to_string());
        text.push('\n');
    }
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "logcrawl: exported {} checkpoints from {} to {}",
                entries.len(),
                store.describe(),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).context("writing the checkpoints to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `logcrawl state import FILE [--yes]`: stores every checkpoint of `file` (`-`: standard input) in the
/// configured store, replacing those of the same streams.
pub fn import(config_path: &Path, file: &Path, yes: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let entries = if file == Path::new("-") {
        parse(BufReader::new(std::io::stdin().lock()), "standard input")?
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        parse(BufReader::new(opened), &file.display().to_string())?
    };
    let store = open_admin(&config, "import checkpoints")?;
    say(&format!("{} checkpoints to store in {}:", entries.len(), store.describe()));
    for (key, cursor) in &entries {
        let old = match store.load(key) {
            Ok(Some(old)) => old.to_string(),
            Ok(None) => "(none)".into(),
            Err(err) => format!("(unreadable: {err})"),
        };
        say(&format!("  {key}\t{old} -> {cursor}"));
    }
    if !confirm(&format!("store {} checkpoints?", entries.len()), yes, "import checkpoints")? {
        return Ok(declined());
    }
    for (key, cursor) in &entries {
        store.commit(key, cursor).with_context(|| format!("storing the cursor of {key}"))?;
    }
    say(&format!("imported {} checkpoints", entries.len()));
    Ok(ExitCode::SUCCESS)
}

/// Every line of `input`, checked: an object with a non-empty `source` and `stream` and a `cursor`.
fn parse(input: impl BufRead, name: &str) -> anyhow::Result<Vec<(StreamKey, Cursor)>> {
    let mut entries: Vec<(StreamKey, Cursor)> = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let at = || format!("{name}, line {}", index + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let text = |field: &str| match value.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => bail!("{}: `{field}` must be a non-empty string", at()),
        };
        let key = StreamKey::new(text("source")?, text("stream")?);
        let Some(cursor) = value.get("cursor").filter(|c| !c.is_null()) else {
            bail!("{}: `cursor` is missing", at());
        };
        if entries.iter().any(|(k, _)| k == &key) {
            bail!("{}: {key} appears twice", at());
        }
        entries.push((key, cursor.clone()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked_before_anything_is_stored() {
        let good = "{\"source\":\"a\",\"stream\":\"s 1\",\"cursor\":{\"after\":\"1\"}}\n\n{\"source\":\"b\",\"stream\":\"t\",\"cursor\":2}\n";
        let entries = parse(good.as_bytes(), "in").unwrap();
        assert_eq!(
            entries,
            vec![(StreamKey::new("a", "s 1"), json!({"after": "1"})), (StreamKey::new("b", "t"), json!(2))]
        );
        for (bad, words) in [
            ("{\"source\":\"a\",\"stream\":\"s\"}", "in, line 1: `cursor` is missing"),
            ("{\"source\":\"\",\"stream\":\"s\",\"cursor\":1}", "`source` must be"),
            ("nope", "in, line 1: not JSON"),
            (
                "{\"source\":\"a\",\"stream\":\"s\",\"cursor\":1}\n{\"source\":\"a\",\"stream\":\"s\",\"cursor\":2}",
                "line 2: a/s appears twice",
            ),
        ] {
            let err = parse(bad.as_bytes(), "in").unwrap_err();
            assert!(format!("{err:#}").contains(words), "{bad}: {err:#}");
        }
    }
}
