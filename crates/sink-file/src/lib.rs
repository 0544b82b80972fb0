//! # logcrawl-sink-file
//!
//! Writes records as NDJSON — one JSON object per line, the record's `data` exactly as the connector
//! produced it — to a file or to standard output. It is the demo's sink, the `check` command's output,
//! and a simple archive that other tools (`jq`, Vector's file source, `gzip`) can take from there.
//!
//! A batch is serialised into one buffer and written with a single `write_all`, so lines of concurrent
//! streams never interleave. The sink acknowledges a batch only after the bytes were handed to the
//! operating system (`flush`), and, with `fsync = true`, after they reached the disk: with the default a
//! crash of logcrawl loses nothing acknowledged, a power loss may lose the last batches, which the
//! checkpoints then re-crawl only if `fsync` is on.
//!
//! A crash in the middle of a write can leave a torn last line; on opening, the sink ends the file with a
//! newline so the fragment stays on a line of its own and the next record starts clean (the torn record
//! was never acknowledged, so it comes again whole).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `path` | — | file to append to; `"-"` means standard output |
//! | `fsync` | `false` | `fdatasync` every batch before acknowledging it |

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use logcrawl_core::{Batch, Delivery, Sink, SinkError};
use serde::Deserialize;

/// `[sinks.NAME]` with `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// File to append to, or `-` for standard output.
    pub path: PathBuf,
    /// Sync data to disk before acknowledging each batch.
    #[serde(default)]
    pub fsync: bool,
}

/// A configuration the sink cannot start with.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink:?}: cannot open path {path}: {source}")]
pub struct FileSinkError {
    sink: String,
    path: PathBuf,
    source: io::Error,
}

enum Target {
    Stdout,
    File(File),
}

/// The NDJSON sink.
pub struct FileSink {
    name: String,
    path: PathBuf,
    fsync: bool,
    target: Arc<Mutex<Target>>,
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink").field("name", &self.name).field("path", &self.path).finish_non_exhaustive()
    }
}

impl FileSink {
    /// Opens the file for appending (creating it and its directory) or selects standard output.
    pub fn new(name: &str, config: FileSinkConfig) -> Result<Self, FileSinkError> {
        let target = if config.path.as_os_str() == "-" {
            Target::Stdout
        } else {
            let err = |source| FileSinkError { sink: name.to_owned(), path: config.path.clone(), source };
            if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let mut file = OpenOptions::new().create(true).read(true).append(true).open(&config.path).map_err(err)?;
            end_with_newline(&mut file).map_err(err)?;
            Target::File(file)
        };
        Ok(Self { name: name.to_owned(), path: config.path, fsync: config.fsync, target: Arc::new(Mutex::new(target)) })
    }

    /// A sink writing to standard output.
    pub fn stdout(name: &str) -> Self {
        Self { name: name.to_owned(), path: "-".into(), fsync: false, target: Arc::new(Mutex::new(Target::Stdout)) }
    }
}

/// A crash in the middle of a write can leave a partial last line; appending after it would glue the next
/// record to the fragment. Ending the file with a newline first keeps the fragment on a line of its own
/// (its record was never acknowledged, so it is sent again whole).
fn end_with_newline(file: &mut File) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Serialises records as NDJSON lines into `out`.
pub fn encode_ndjson(batch: &Batch, out: &mut Vec<u8>) {
    for record in &batch.records {
        let mark = out.len();
        if let Err(err) = record.write_json(out, |_| false) {
            // Only a connector bug (a raw event that is not an object) gets here: keep the line valid JSON.
            tracing::warn!(error = %err, "a record's raw event is not a JSON object; writing its attributes only");
            out.truncate(mark);
            serde_json::to_writer(&mut *out, &record.data).expect("a JSON map always serialises");
        }
        out.push(b'\n');
    }
}

/// The largest encode buffer a blocking-pool thread keeps between batches (a batch of 1000 records of
/// ~1.5 KB needs ~1.6 MB).
const MAX_KEPT_BUFFER: usize = 8 << 20;

thread_local! {
    /// Each blocking-pool thread encodes into one buffer it keeps: a fresh multi-megabyte buffer per batch
    /// costs a page-fault storm and leaves the allocator holding freed spans on every thread.
    static ENCODE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes one encoded batch with a single `write_all` under the target's lock.
fn write_batch(target: &Mutex<Target>, buffer: &[u8], fsync: bool) -> io::Result<()> {
    let mut target = target.lock().expect("file sink lock poisoned");
    match &mut *target {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(buffer)?;
            out.flush()
        }
        Target::File(file) => {
            file.write_all(buffer)?;
            file.flush()?;
            if fsync { file.sync_data() } else { Ok(()) }
        }
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&self, batch: Batch) -> BoxFuture<'_, Result<Delivery, SinkError>> {
        Box::pin(async move {
            let count = batch.records.len();
            let target = self.target.clone();
            let fsync = self.fsync;
            // Encoding runs on the blocking pool too: the crawler's task goes on parsing the next page on
            // another core meanwhile.
            let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
                ENCODE_BUFFER.with_borrow_mut(|buffer| {
                    buffer.clear();
                    encode_ndjson(&batch, buffer);
                    drop(batch);
                    let written = write_batch(&target, buffer, fsync);
                    if buffer.capacity() > MAX_KEPT_BUFFER {
                        *buffer = Vec::new();
                    }
                    written
                })
            })
            .await
            .map_err(|err| SinkError::retryable(format!("file sink {}: writer task failed: {err}", self.name)))?;
            written.map_err(|err| {
                SinkError::retryable(format!("file sink {}: writing {}: {err}", self.name, self.path.display()))
            })?;
            Ok(Delivery { accepted: count, dropped: 0 })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::{LogRecord, SourceMeta};
    use serde_json::{Value, json};

    fn batch(messages: &[&str]) -> Batch {
        Batch::new(
            Arc::new(SourceMeta::default()),
            Arc::from("s"),
            messages
                .iter()
                .map(|m| {
                    let Value::Object(data) = json!({"message": m, "n": {"nested": true}}) else { unreachable!() };
                    LogRecord::new(data)
                })
                .collect(),
        )
    }

    #[tokio::test]
    async fn appends_one_line_per_record_across_batches_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.ndjson");
        let sink = FileSink::new("out", FileSinkConfig { path: path.clone(), fsync: true }).unwrap();
        assert_eq!(sink.send(batch(&["a", "b"])).await.unwrap(), Delivery { accepted: 2, dropped: 0 });
        drop(sink);
        let sink = FileSink::new("out", FileSinkConfig { path: path.clone(), fsync: false }).unwrap();
        sink.send(batch(&["c"])).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            lines,
            vec![
                json!({"message": "a", "n": {"nested": true}}),
                json!({"message": "b", "n": {"nested": true}}),
                json!({"message": "c", "n": {"nested": true}}),
            ]
        );
    }

    #[tokio::test]
    async fn a_torn_last_line_is_kept_apart_from_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "{\"message\":\"whole\"}\n{\"message\":\"to").unwrap();
        let sink = FileSink::new("out", FileSinkConfig { path: path.clone(), fsync: false }).unwrap();
        sink.send(batch(&["next"])).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], ["{\"message\":\"whole\"}", "{\"message\":\"to"]);
        assert_eq!(serde_json::from_str::<Value>(lines[2]).unwrap()["message"], "next");
    }

    #[test]
    fn raw_events_are_written_under_their_lifted_attributes() {
        let raw = |text: &str| serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
        let Value::Object(data) = json!({"message": "m", "uuid": "u1"}) else { unreachable!() };
        let batch = Batch::new(
            Arc::new(SourceMeta::default()),
            Arc::from("s"),
            vec![
                LogRecord::new(data.clone()).with_raw(raw(r#"{"uuid":"u1","message":"old","a":{"b":[1,2]}}"#)),
                LogRecord::new(data).with_raw(raw("[1]")),
            ],
        );
        let mut out = Vec::new();
        encode_ndjson(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [r#"{"message":"m","uuid":"u1","a":{"b":[1,2]}}"#, r#"{"message":"m","uuid":"u1"}"#]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<FileSinkConfig>("path = \"x\"\nfsynk = true").unwrap_err();
        assert!(err.to_string().contains("fsynk"), "{err}");
    }

    #[test]
    fn an_unopenable_path_names_the_sink_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileSink::new("out", FileSinkConfig { path: dir.path().to_owned(), fsync: false }).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"out\"") && text.contains(&dir.path().display().to_string()), "{text}");
    }
}
