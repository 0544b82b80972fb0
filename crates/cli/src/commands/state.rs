//! `logcrawl state`: list, reset and set the stored checkpoints; list the leases (PostgreSQL); export and
//! import checkpoints as JSON lines (in `transfer`).
//!
//! Changing a checkpoint under a running crawler would be undone by its next commit, or would race it, so
//! with the file store `reset` and `set` take the state directory's exclusive lock, the one `logcrawl
//! run` holds, and refuse while a daemon runs; with PostgreSQL they refuse a stream leased to a live
//! worker (naming it), and change the others. Both show what they will change and ask before doing it:
//! on a terminal they ask, anywhere else they need `--yes`, so a script never deletes a cursor by
//! accident and an operator never has to guess what was deleted.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use logcrawl_core::{CheckpointError, CheckpointStore, Cursor, StreamKey};

use super::say;
use crate::config::Config;
use crate::store::{AdminStore, open_admin, open_reader};

mod transfer;

pub use transfer::{export, import};

/// `logcrawl state`: every stored checkpoint, one `source<TAB>stream<TAB>cursor` line each, then the
/// records each sink set aside in its dead-letter file, if any.
pub fn list(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let store = open_reader(&config)?;
    let entries = store.list()?;
    if entries.is_empty() {
        say(&format!("no checkpoints in {}", store.describe()));
    }
    for (key, cursor) in entries {
        say(&format!("{}\t{}\t{}", key.source, key.stream, cursor));
    }
    let letters = logcrawl_core::deadletter::count_in(&config.state_dir)
        .with_context(|| format!("reading the dead-letter files in {}", config.state_dir.display()))?;
    for (sink, count, bytes) in letters {
        say(&format!(
            "dead letters\t{sink}\t{count} record{} ({bytes} bytes) in {}",
            if count == 1 { "" } else { "s" },
            config.state_dir.join(logcrawl_core::deadletter::DEAD_LETTER_DIR).join(format!("{sink}.ndjson")).display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `logcrawl state reset SOURCE [STREAM]`: deletes the checkpoint of one stream, or of every stream of
/// the source, so they start over from their initial lookback at their next run. Unreadable checkpoints
/// are deleted too (they are what a reset is usually for). A source no longer configured may still be
/// reset while checkpoints of it are stored.
pub fn reset(config_path: &Path, source: &str, stream: Option<&str>, yes: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let store = open_admin(&config, "reset")?;
    let files = stored_of(&store, source).with_context(|| format!("reading the checkpoints of source {source:?}"))?;
    let stored: Vec<&str> = files.iter().map(|f| f.key.stream.as_str()).collect();
    let chosen: Vec<&Stored> = files.iter().filter(|f| stream.is_none_or(|s| f.key.stream == s)).collect();
    if chosen.is_empty() {
        let dir = store.describe();
        match (stream, config.source(source)) {
            (Some(stream), _) => bail!(
                "no checkpoint stored for {source}/{stream} in {dir} (stored streams of {source:?}: {})",
                list_or_none(&stored)
            ),
            (None, Ok(_)) => {
                say(&format!("nothing to reset: no checkpoint stored for source {source:?} in {dir}"));
                return Ok(ExitCode::SUCCESS);
            }
            (None, Err(unknown)) => bail!("{unknown}, and no checkpoint of {source:?} is stored in {dir}"),
        }
    }
    if let Some(files) = store.file() {
        for file in &chosen {
            // Only an unreadable file whose name was shortened with a hash gets here: its key is unknown.
            let path = file.path.as_ref().expect("file checkpoints have a path");
            if &files.path_for(&file.key)? != path {
                bail!(
                    "{} belongs to source {source:?} but cannot be read, and its name is too long to tell its stream; \
                     delete it by hand while no logcrawl runs",
                    path.display()
                );
            }
        }
    }
    say(&format!("checkpoints to delete from {}:", store.describe()));
    for file in &chosen {
        say(&format!("  {}\t{}", file.key, describe(&file.cursor)));
    }
    say("their streams start over from their initial lookback at their next run");
    let question = format!("delete {} checkpoint{}?", chosen.len(), if chosen.len() == 1 { "" } else { "s" });
    if !confirm(&question, yes, "reset")? {
        return Ok(declined());
    }
    for file in chosen {
        store.delete(&file.key).with_context(|| format!("deleting the checkpoint of {}", file.key))?;
        say(&format!("deleted {}", file.key));
    }
    Ok(ExitCode::SUCCESS)
}

/// `logcrawl state set SOURCE STREAM JSON`: stores `json` as the stream's cursor, the way a commit does.
/// The source must be configured and have that stream (a typo must not store a checkpoint nobody
/// reads); the cursor's shape is the connector's business and is checked when the stream resumes.
pub fn set(config_path: &Path, source: &str, stream: &str, json: &str, yes: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let source_config = config.source(source)?;
    let key = StreamKey::new(source, stream);
    let cursor: Cursor =
        serde_json::from_str(json).map_err(|err| anyhow!("the cursor given for {key} is not JSON: {err}"))?;
    // Only the connector knows its streams; it is built without its sink (nothing is opened or sent).
    let connector =
        crate::registry::build_connector(source_config, &config.state_dir, None).map_err(|err| config.locate(err))?;
    let streams: Vec<String> = connector.streams().iter().map(|s| s.name().to_owned()).collect();
    if !streams.iter().any(|s| s == stream) {
        let names: Vec<&str> = streams.iter().map(String::as_str).collect();
        bail!("source {source:?} has no stream {stream:?} (its streams: {})", list_or_none(&names));
    }
    let store = open_admin(&config, "set a cursor")?;
    let old = match store.load(&key) {
        Ok(Some(old)) => old.to_string(),
        Ok(None) => "(none)".to_owned(),
        // Replacing an unreadable checkpoint is one of the reasons to set one.
        Err(err @ CheckpointError::Corrupt { .. }) => format!("(unreadable: {err})"),
        Err(err) => return Err(err).with_context(|| format!("reading the checkpoint of {key}")),
    };
    say(&format!("{key}\n  old cursor: {old}\n  new cursor: {cursor}"));
    if !confirm(&format!("set the cursor of {key}?"), yes, "set a cursor")? {
        return Ok(declined());
    }
    store.commit(&key, &cursor).with_context(|| format!("storing the cursor of {key}"))?;
    say(&format!("set {key}"));
    Ok(ExitCode::SUCCESS)
}

/// One stored checkpoint of a source, as a reset shows it.
struct Stored {
    key: StreamKey,
    /// Its file, with the file store.
    path: Option<std::path::PathBuf>,
    cursor: Result<Cursor, CheckpointError>,
}

/// Every checkpoint of `source`: with the file store unreadable files too (a reset is for them).
fn stored_of(store: &AdminStore, source: &str) -> Result<Vec<Stored>, CheckpointError> {
    Ok(match store {
        AdminStore::File(files) => files
            .source_files(source)?
            .into_iter()
            .map(|f| Stored { key: f.key, path: Some(f.path), cursor: f.cursor })
            .collect(),
        #[cfg(feature = "postgres")]
        AdminStore::Postgres(pg) => pg
            .list()?
            .into_iter()
            .filter(|(key, _)| key.source == source)
            .map(|(key, cursor)| Stored { key, path: None, cursor: Ok(cursor) })
            .collect(),
    })
}

/// `logcrawl state --leases`: every stream's holder, epoch and lease expiry, then the workers.
#[cfg(feature = "postgres")]
pub fn leases(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    crate::store::only_postgres(&config, "`state --leases`")?;
    let AdminStore::Postgres(pg) = open_reader(&config)? else { unreachable!("checked: postgres") };
    say("source\tstream\tholder\tepoch\tlease\tcursor");
    for row in pg.leases()? {
        let lease = match (&row.holder, row.expires_in) {
            (None, _) | (_, None) => "free".to_owned(),
            (Some(_), Some(left)) if left >= 0.0 => format!("expires in {left:.1}s"),
            (Some(_), Some(left)) => format!("expired {:.1}s ago", -left),
        };
        let cursor = row.cursor.map_or_else(|| "(none)".to_owned(), |c| c.to_string());
        let holder = row.holder.as_deref().unwrap_or("-");
        say(&format!("{}\t{}\t{holder}\t{}\t{lease}\t{cursor}", row.key.source, row.key.stream, row.epoch));
    }
    for worker in pg.workers()? {
        let state = if worker.live { "live" } else { "gone" };
        say(&format!("worker\t{}\t{state}\tlast heartbeat {:.1}s ago", worker.id, worker.heartbeat_age));
    }
    Ok(ExitCode::SUCCESS)
}

/// `logcrawl state --leases` without the postgres feature: there are no leases to show.
#[cfg(not(feature = "postgres"))]
pub fn leases(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    crate::store::only_postgres(&config, "`state --leases`")?;
    bail!("this logcrawl was built without the postgres feature, so it cannot read PostgreSQL state")
}

fn describe(cursor: &Result<Cursor, CheckpointError>) -> String {
    match cursor {
        Ok(cursor) => cursor.to_string(),
        Err(err) => format!("(unreadable: {err})"),
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

fn declined() -> ExitCode {
    eprintln!("logcrawl: not confirmed; nothing changed");
    ExitCode::FAILURE
}

/// Whether to go ahead: `--yes`, or the operator's answer on a terminal. Without either it is an error
/// that says to pass `--yes`, never a silent default in either direction.
fn confirm(question: &str, yes: bool, action: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to {action} without confirmation: standard input is not a terminal; pass --yes to confirm");
    }
    ask(question, &mut stdin.lock(), &mut std::io::stderr()).context("reading the answer")
}

/// Asks `question` on `out` and reads a yes/no answer from `input`; anything but `y`/`yes` is a no.
fn ask(question: &str, input: &mut dyn BufRead, out: &mut dyn Write) -> std::io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// `s` as one shell word, for commands the user may copy.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_confirms() {
        for (typed, expected) in [("y\n", true), ("YES\n", true), (" yes \n", true), ("\n", false), ("n\n", false)] {
            let mut shown = Vec::new();
            assert_eq!(ask("delete 2 checkpoints?", &mut typed.as_bytes(), &mut shown).unwrap(), expected, "{typed:?}");
            assert_eq!(String::from_utf8(shown).unwrap(), "delete 2 checkpoints? [y/N] ");
        }
        assert!(!ask("q?", &mut "".as_bytes(), &mut Vec::new()).unwrap(), "end of input is a no");
    }

    #[test]
    fn shell_words_survive_copying() {
        assert_eq!(shell_word("acme-demo"), "acme-demo");
        assert_eq!(shell_word("ACME log stream"), "'ACME log stream'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
