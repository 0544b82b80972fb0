//! Dead letters: records a backend refused on their own, kept on disk instead of being dropped.
//!
//! A backend answering 400 to a request says something in it is unacceptable. When bisecting isolates a
//! record that the backend refuses while it accepts its neighbours (or this sink's other requests), the
//! record is poison: sending it again would only fail again, and holding the stream behind it would stop
//! every later log. So it leaves the stream, but it is not lost: it is appended, with the backend's
//! reason, to the sink's dead-letter file (NDJSON, one record per line) under the state directory, and
//! counted in `logcrawl state`. An operator can read it, fix the cause and replay it.
//!
//! When the backend accepts *nothing*, refusals point at the configuration (a wrong endpoint, labels, a
//! proxy), not at the records; the delivery driver then fails the send instead of filling this file.
//!
//! The file is bounded ([`DEFAULT_MAX_BYTES`]): a full file refuses more letters, the send fails, and the
//! stream waits at its last checkpoint until the file is moved away: the bound protects the disk without
//! ever dropping a record. Each write is appended whole and `fsync`ed before the batch is acknowledged, and
//! a failed write is cut back, so the file only ever holds whole lines.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use percent_encoding::utf8_percent_encode;
use serde::Serialize;
use serde_json::value::RawValue;

/// The state directory's subdirectory holding one dead-letter file per sink.
pub const DEAD_LETTER_DIR: &str = "dead-letter";

/// The default bound of one sink's dead-letter file: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// One refused record on its way to the file.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The stream the record came from.
    pub stream: &'a str,
    /// What the backend said about it (already free of secrets).
    pub reason: &'a str,
    /// The record as it was sent (JSON when it is JSON, else kept as a string).
    pub entry: &'a [u8],
}

/// Why a dead letter could not be kept. The send fails: nothing is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError {
    /// Writing failed (disk full, permissions).
    #[error("cannot write the dead-letter file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file reached its bound.
    #[error(
        "the dead-letter file {path} is full ({max_bytes} bytes); read it, fix what the backend refused, and move it away so that delivery can go on"
    )]
    Full {
        /// The file.
        path: PathBuf,
        /// Its bound.
        max_bytes: u64,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    sink: &'a str,
    stream: &'a str,
    reason: &'a str,
    entry: Entry<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Json(&'a RawValue),
    Text(std::borrow::Cow<'a, str>),
}

/// One sink's dead-letter file. Created on the first letter; shared by every stream of the sink.
#[derive(Debug)]
pub struct DeadLetterFile {
    sink: String,
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<File>>,
}

impl DeadLetterFile {
    /// The dead-letter file of sink `sink` in `state_dir`: `dead-letter/<sink>.ndjson`, the name
    /// percent-encoded as checkpoint names are.
    pub fn in_state_dir(state_dir: &Path, sink: &str, max_bytes: u64) -> Self {
        let name = utf8_percent_encode(sink, crate::checkpoint::NAME_ENCODE).to_string();
        Self::at(state_dir.join(DEAD_LETTER_DIR).join(format!("{name}.ndjson")), sink, max_bytes)
    }

    /// A dead-letter file at `path` for sink `sink`.
    pub fn at(path: PathBuf, sink: &str, max_bytes: u64) -> Self {
        Self { sink: sink.to_owned(), path, max_bytes, file: Mutex::new(None) }
    }

    /// Where the letters go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `letters` durably (all of them or none), so the batch they belong to may be acknowledged.
    /// Blocking I/O, rare by nature (a record the backend refuses alone).
    pub fn write(&self, letters: &[DeadLetter<'_>]) -> Result<(), DeadLetterError> {
        let io = |source| DeadLetterError::Io { path: self.path.clone(), source };
        let time = jiff::Timestamp::now().to_string();
        let mut buffer = Vec::new();
        for letter in letters {
            let entry = match serde_json::from_slice::<&RawValue>(letter.entry) {
                Ok(raw) => Entry::Json(raw),
                Err(_) => Entry::Text(String::from_utf8_lossy(letter.entry)),
            };
            let line =
                Line { time: time.clone(), sink: &self.sink, stream: letter.stream, reason: letter.reason, entry };
            serde_json::to_writer(&mut buffer, &line).map_err(|err| io(err.into()))?;
            buffer.push(b'\n');
        }
        let mut guard = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        let len = file.metadata().map_err(io)?.len();
        if len + buffer.len() as u64 > self.max_bytes {
            return Err(DeadLetterError::Full { path: self.path.clone(), max_bytes: self.max_bytes });
        }
        if let Err(err) = file.write_all(&buffer).and_then(|()| file.sync_data()) {
            // Keep the file whole lines: cut the partial append back (best effort; the send fails anyway).
            let _cut = file.set_len(len);
            return Err(io(err));
        }
        Ok(())
    }
}

/// The dead letters kept in a state directory: per file (sink name as encoded in the file name), the
/// number of letters and bytes. Empty when there are none.
pub fn count_in(state_dir: &Path) -> io::Result<Vec<(String, u64, u64)>> {
    let dir = state_dir.join(DEAD_LETTER_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut counts = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ndjson")) else {
            continue;
        };
        let sink = percent_encoding::percent_decode_str(name).decode_utf8_lossy().into_owned();
        let file = File::open(&path)?;
        let bytes = file.metadata()?.len();
        let mut lines = 0u64;
        for line in io::BufReader::new(file).split(b'\n') {
            lines += u64::from(!line?.is_empty());
        }
        counts.push((sink, lines, bytes));
    }
    counts.sort();
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn letters_are_whole_json_lines_with_their_reason_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let file = DeadLetterFile::in_state_dir(dir.path(), "dd eu", DEFAULT_MAX_BYTES);
        assert!(count_in(dir.path()).unwrap().is_empty());
        file.write(&[
            DeadLetter { stream: "system_log", reason: "HTTP 400: bad", entry: br#"{"message":"m","n":1}"# },
            DeadLetter { stream: "system_log", reason: "HTTP 413", entry: b"not json \xff" },
        ])
        .unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["entry"], serde_json::json!({"message": "m", "n": 1}));
        assert_eq!((lines[0]["sink"].as_str(), lines[0]["reason"].as_str()), (Some("dd eu"), Some("HTTP 400: bad")));
        assert_eq!(lines[1]["entry"], "not json \u{fffd}");
        let counts = count_in(dir.path()).unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!((counts[0].0.as_str(), counts[0].1), ("dd eu", 2));
    }

    #[test]
    fn a_full_file_refuses_more_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let file = DeadLetterFile::in_state_dir(dir.path(), "lts", 200);
        let letter = DeadLetter { stream: "s", reason: "r", entry: b"{\"message\":\"0123456789\"}" };
        file.write(&[letter]).unwrap();
        let before = std::fs::read(file.path()).unwrap();
        let err = file.write(&[letter, letter]).unwrap_err();
        assert!(matches!(err, DeadLetterError::Full { max_bytes: 200, .. }), "{err}");
        assert!(err.to_string().contains("move it away"), "{err}");
        assert_eq!(std::fs::read(file.path()).unwrap(), before);
    }
}
