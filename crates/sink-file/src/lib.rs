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
//! was never acknowledged, so it comes again whole). A write that fails halfway in a running process (a
//! full disk) is cut back (`set_len`) to the end of the last whole batch before the failure is reported,
//! so the retry starts on a clean line; should the cut fail as well, the next write begins with a newline.
//! Every line is therefore one whole record, but for at most one torn fragment on a line of its own.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `path` | — | file to append to; `"-"` means standard output |
//! | `fsync` | `false` | `fdatasync` every batch before acknowledging it |
//!
//! It takes none of the shared settings: it talks no HTTP, and a local file has no request size or
//! concurrency to tune (the crawler's default batching applies, and a source's own `batch_max_records`
//! and `linger`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use logcrawl_core::config::ComponentTable;
use logcrawl_core::{Batch, ConfigError, Delivery, Sink, SinkError, SinkKind};
use serde::Deserialize;

/// `type = "file"`: the sink built from its `[sinks.NAME]` table; a path that cannot be opened is an
/// error about `path`.
pub const KIND: SinkKind = SinkKind::new("file", "NDJSON to a file or stdout", |table, context| {
    let config = ComponentTable::new(table).own()?;
    let sink = FileSink::new(&context.name, config).map_err(|err| ConfigError::new("path", err.to_string()))?;
    Ok(Arc::new(sink))
});

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
    File(FileTarget),
}

/// The file operations the sink relies on. A trait so tests can make a write fail halfway, as a full disk
/// does, and check what the sink leaves in the real file.
trait AppendFile: Send {
    /// Appends all of `bytes` (the file is opened in append mode) and hands them to the OS.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&mut self) -> io::Result<u64>;
}

impl AppendFile for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)?;
        self.flush()
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn len(&mut self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// An output file and what the sink knows about its end.
///
/// A write that fails halfway (a full disk) leaves part of a line. The records are sent again, so the
/// sink cuts the file back to the end of the last whole batch before answering; if even that fails, it
/// remembers the file is torn and starts the next write with a newline. Either way every line is a whole
/// record, but for at most one torn fragment on a line of its own.
struct FileTarget {
    file: Box<dyn AppendFile>,
    /// The file's length after the last batch written whole: where a failed write is cut back to.
    good_len: u64,
    /// A failed write could not be cut back, so the file ends with a fragment of a line.
    torn: bool,
}

impl FileTarget {
    /// Takes over `file`, which ends with a whole line (or is empty).
    fn new(mut file: Box<dyn AppendFile>) -> io::Result<Self> {
        let good_len = file.len()?;
        Ok(Self { file, good_len, torn: false })
    }

    /// Appends one encoded batch (whole lines); on failure the file is left as before the call, or, when it
    /// cannot be cut back, marked torn.
    fn write(&mut self, buffer: &[u8], fsync: bool) -> io::Result<()> {
        // Where the batch will start: after the fragment and the newline that closes it, when torn. Asking
        // the file (rather than adding up) is needed only then, since the fragment's length is unknown.
        let start = if self.torn { self.file.len()? + 1 } else { self.good_len };
        let written = self.append(buffer, fsync);
        match written {
            Ok(()) => {
                self.good_len = start + buffer.len() as u64;
                self.torn = false;
                Ok(())
            }
            Err(err) => {
                // Cutting back to the last whole batch also removes an older fragment, if any.
                match self.file.set_len(self.good_len) {
                    Ok(()) => self.torn = false,
                    Err(cut) => {
                        tracing::warn!(error = %cut, "cannot cut a failed write back; the file keeps a torn line");
                        self.torn = true;
                    }
                }
                Err(err)
            }
        }
    }

    fn append(&mut self, buffer: &[u8], fsync: bool) -> io::Result<()> {
        if self.torn {
            self.file.append(b"\n")?;
        }
        self.file.append(buffer)?;
        if fsync { self.file.sync_data() } else { Ok(()) }
    }
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
            Target::File(FileTarget::new(Box::new(file)).map_err(err)?)
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
        Target::File(file) => file.write(buffer, fsync),
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
            Ok(Delivery::accepted(count))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::{Fields, LogRecord, SourceMeta};
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
        assert_eq!(sink.send(batch(&["a", "b"])).await.unwrap(), Delivery { accepted: 2, ..Delivery::default() });
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

    /// What [`FullDisk`] does to the next operations.
    #[derive(Debug, Default)]
    struct Faults {
        /// The next append writes this many bytes to the real file, then fails with "no space left".
        cut_next_append_at: Option<usize>,
        /// `set_len` fails (a truncate the file system refuses as well).
        refuse_truncate: bool,
    }

    /// The real output file behind a switchable fault: an append cut short by a full disk.
    struct FullDisk {
        file: File,
        faults: Arc<Mutex<Faults>>,
    }

    impl AppendFile for FullDisk {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            match self.faults.lock().unwrap().cut_next_append_at.take() {
                Some(cut) => {
                    self.file.write_all(&bytes[..cut.min(bytes.len())])?;
                    Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device"))
                }
                None => self.file.append(bytes),
            }
        }

        fn sync_data(&mut self) -> io::Result<()> {
            AppendFile::sync_data(&mut self.file)
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            if self.faults.lock().unwrap().refuse_truncate {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device"));
            }
            AppendFile::set_len(&mut self.file, len)
        }

        fn len(&mut self) -> io::Result<u64> {
            AppendFile::len(&mut self.file)
        }
    }

    /// A file sink at `path` whose file fails as `faults` says.
    fn sink_on_full_disk(path: &std::path::Path) -> (FileSink, Arc<Mutex<Faults>>) {
        let sink = FileSink::new("out", FileSinkConfig { path: path.to_owned(), fsync: false }).unwrap();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let file = OpenOptions::new().append(true).open(path).unwrap();
        let target = FileTarget::new(Box::new(FullDisk { file, faults: faults.clone() })).unwrap();
        *sink.target.lock().unwrap() = Target::File(target);
        (sink, faults)
    }

    fn messages_and_torn_lines(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "the file does not end with a whole line: {text:?}");
        let (mut whole, mut torn) = (Vec::new(), Vec::new());
        for line in text.lines() {
            match serde_json::from_str::<Value>(line) {
                Ok(value) => whole.push(value["message"].as_str().unwrap().to_owned()),
                Err(_) => torn.push(line.to_owned()),
            }
        }
        (whole, torn)
    }

    #[tokio::test]
    async fn a_write_cut_short_by_a_full_disk_is_cut_back_before_the_retry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let (sink, faults) = sink_on_full_disk(&path);
        sink.send(batch(&["a", "b"])).await.unwrap();
        let after_first = std::fs::read_to_string(&path).unwrap();

        faults.lock().unwrap().cut_next_append_at = Some(7);
        let err = sink.send(batch(&["c", "d"])).await.unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        // The partial line is gone: the file is what the acknowledged batch left.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after_first);

        sink.send(batch(&["c", "d"])).await.unwrap();
        let (whole, torn) = messages_and_torn_lines(&path);
        assert_eq!(whole, ["a", "b", "c", "d"]);
        assert!(torn.is_empty(), "{torn:?}");
    }

    #[tokio::test]
    async fn when_the_cut_back_fails_too_the_torn_line_stays_on_a_line_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let (sink, faults) = sink_on_full_disk(&path);
        sink.send(batch(&["a", "b"])).await.unwrap();

        *faults.lock().unwrap() = Faults { cut_next_append_at: Some(7), refuse_truncate: true };
        sink.send(batch(&["c", "d"])).await.unwrap_err();
        sink.send(batch(&["c", "d"])).await.unwrap();
        let (whole, torn) = messages_and_torn_lines(&path);
        assert_eq!(whole, ["a", "b", "c", "d"]);
        assert_eq!(torn, ["{\"messa"], "exactly one torn line, alone");
        let lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned).collect();
        assert_eq!(lines[2], "{\"messa", "the fragment sits where the failed write left it");

        // Once truncating works again, a later failure is cut back to the last whole batch, fragment and all
        // staying as they were before it.
        *faults.lock().unwrap() = Faults { cut_next_append_at: Some(3), refuse_truncate: false };
        let before = std::fs::read_to_string(&path).unwrap();
        sink.send(batch(&["e"])).await.unwrap_err();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        sink.send(batch(&["e"])).await.unwrap();
        let (whole, torn) = messages_and_torn_lines(&path);
        assert_eq!(whole, ["a", "b", "c", "d", "e"]);
        assert_eq!(torn.len(), 1);
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
                // Pretty-printed by the vendor: still one line.
                LogRecord::new(Fields::new()).with_raw(raw("{\n  \"a\": {\n    \"b\": [\r\n      1\n    ]\n  }\n}")),
            ],
        );
        let mut out = Vec::new();
        encode_ndjson(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [r#"{"message":"m","uuid":"u1","a":{"b":[1,2]}}"#, r#"{"message":"m","uuid":"u1"}"#, r#"{"a":{"b": [1]}}"#]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<FileSinkConfig>("path = \"x\"\nfsynk = true").unwrap_err();
        assert!(err.to_string().contains("fsynk"), "{err}");
        let table = |text: &str| text.parse::<toml::Table>().unwrap();
        let context = logcrawl_core::BuildContext::new("out");
        let Err(err) = KIND.build(&table("path = \"x\"\nlinger = \"1s\""), &context) else { panic!("built") };
        assert_eq!(err.key(), "linger", "no shared setting applies to a file: {err}");
    }

    #[test]
    fn an_unopenable_path_names_the_sink_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileSink::new("out", FileSinkConfig { path: dir.path().to_owned(), fsync: false }).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"out\"") && text.contains(&dir.path().display().to_string()), "{text}");
        let mut table = toml::Table::new();
        table.insert("path".into(), dir.path().display().to_string().into());
        let Err(err) = KIND.build(&table, &logcrawl_core::BuildContext::new("out")) else { panic!("built") };
        assert_eq!((err.key(), err.message()), ("path", text.as_str()));
    }
}
