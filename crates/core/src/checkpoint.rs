//! Durable cursors: the [`CheckpointStore`] trait and its embedded default, [`FileCheckpointStore`].
//!
//! The file store keeps one small JSON document per `(source, stream)` under the state directory and
//! replaces it atomically on every commit: write a temporary file, `fsync` it, `rename` it over the old
//! one, `fsync` the directory. A `kill -9` at any instant leaves either the old or the new cursor, never a
//! torn one. A file that cannot be read or parsed is an error naming the file, never a silent reset to
//! "no cursor" (which would re-crawl the whole lookback window).
//!
//! [`CheckpointStore::delete`] removes a stream's file and syncs the directory, which is how
//! `logcrawl state reset` makes a stream start over from its initial lookback.
//!
//! Names are percent-encoded byte for byte outside `[A-Za-z0-9_-]`, so `ACME log stream` and
//! `ACMElogstream` never share a file (the Datadog Agent strips such characters and lets them collide).

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::record::Cursor;

/// Identifies one stream of one configured source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The configured source name.
    pub source: String,
    /// The stream name within that source.
    pub stream: String,
}

impl StreamKey {
    /// A key for `stream` of `source`.
    pub fn new(source: impl Into<String>, stream: impl Into<String>) -> Self {
        Self { source: source.into(), stream: stream.into() }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.stream)
    }
}

/// A checkpoint that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the store failed.
    #[error("checkpoint store I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A stored checkpoint is not what this version of logcrawl wrote.
    #[error("checkpoint file {path} is corrupt ({reason}); fix or delete it to re-crawl this stream from its start")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process holds the state directory.
    #[error("state directory {path} is in use by another logcrawl process")]
    Locked {
        /// The state directory.
        path: PathBuf,
    },
    /// The store does not delete checkpoints (it is read-only, or it cannot).
    #[error("cannot delete the checkpoint of {key}: {reason}")]
    DeleteRefused {
        /// The key.
        key: StreamKey,
        /// Why.
        reason: String,
    },
    /// The commit was refused by the lease fence: another worker holds the stream now (or this worker
    /// never held it). The stream must stop at once and send nothing more.
    #[error("the lease of {key} was lost: {reason}")]
    LeaseLost {
        /// The stream.
        key: StreamKey,
        /// What the store found.
        reason: String,
    },
    /// The stream is leased to a running worker, so an operator's change would race it.
    #[error(
        "{key} is leased to worker {holder} until {until}; stop that worker (or wait for its lease to expire) first"
    )]
    Leased {
        /// The stream.
        key: StreamKey,
        /// The worker holding it.
        holder: String,
        /// When its lease expires (the store's clock).
        until: String,
    },
    /// A remote store (a database) failed or could not be reached.
    #[error("checkpoint store {store}: {reason}")]
    Backend {
        /// Which store, without credentials (e.g. `PostgreSQL db.example:5432/logcrawl`).
        store: String,
        /// What went wrong.
        reason: String,
    },
    /// A name cannot be stored (it is empty).
    #[error("cannot store checkpoint for {key}: {reason}")]
    InvalidKey {
        /// The key.
        key: StreamKey,
        /// Why.
        reason: String,
    },
}

/// Where cursors live between runs.
pub trait CheckpointStore: Send + Sync + fmt::Debug {
    /// The last committed cursor of a stream, `None` when it never committed one.
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError>;

    /// Durably records `cursor` as the stream's resume point. It is on disk when this returns.
    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError>;

    /// Every stored checkpoint, for state inspection.
    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError>;

    /// Durably forgets the stream's checkpoint, so its next run starts from its initial lookback; `Ok(true)`
    /// when there was one, `Ok(false)` when there was none. Gone from disk when this returns.
    ///
    /// The default refuses: a store that cannot delete must say so rather than pretend, since the caller
    /// (`logcrawl state reset`) tells the operator the stream will start over.
    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        Err(CheckpointError::DeleteRefused { key: key.clone(), reason: "this checkpoint store cannot delete".into() })
    }

    /// Whether a commit could succeed now, for readiness (`/ready`): the file store writes and removes a
    /// probe file in its directory. The default (stores in memory) always can.
    fn check_writable(&self) -> Result<(), CheckpointError> {
        Ok(())
    }

    /// Whether a call can block its thread (file I/O, `fsync`, a database round trip): the crawler then
    /// makes it on tokio's blocking pool, never on an async worker. A store that only touches memory
    /// returns `false` and is called in place, sparing two thread hand-offs per run (the load and the
    /// commit), which at thousands of streams is much of a run's cost. The default is the safe answer.
    fn blocks(&self) -> bool {
        true
    }
}

const FORMAT_VERSION: u32 = 1;

/// Everything but `[A-Za-z0-9_-]` is encoded.
pub(crate) const NAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// The longest file name most file systems take, less room for the suffix.
const MAX_ENCODED_NAME: usize = 240;

#[derive(Serialize, Deserialize)]
struct StoredCheckpoint {
    version: u32,
    source: String,
    stream: String,
    cursor: Cursor,
    committed_at: String,
}

/// The embedded checkpoint store: one atomically replaced JSON file per stream under a state directory.
#[derive(Debug)]
pub struct FileCheckpointStore {
    dir: PathBuf,
    _lock: Option<File>,
}

impl FileCheckpointStore {
    /// Opens (creating if needed) the store in `dir` and takes an exclusive lock on it, so two
    /// `logcrawl` processes never run the same streams from one state directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| CheckpointError::Io { path: dir.clone(), source })?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| CheckpointError::Io { path: lock_path.clone(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(CheckpointError::Locked { path: dir }),
            Err(fs::TryLockError::Error(source)) => return Err(CheckpointError::Io { path: lock_path, source }),
        }
        Ok(Self { dir, _lock: Some(lock) })
    }

    /// Opens the store without locking it, for readers such as `logcrawl check` that never commit
    /// while a daemon may be running.
    pub fn open_shared(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), _lock: None }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `key`'s checkpoint.
    pub fn path_for(&self, key: &StreamKey) -> Result<PathBuf, CheckpointError> {
        let source = encode_name(key, &key.source)?;
        let stream = encode_name(key, &key.stream)?;
        Ok(self.dir.join(source).join(format!("{stream}.json")))
    }

    fn read(path: &Path, expected: Option<&StreamKey>) -> Result<Option<(StreamKey, Cursor)>, CheckpointError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path: path.to_owned(), source }),
        };
        let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_owned(), reason };
        let stored: StoredCheckpoint =
            serde_json::from_slice(&bytes).map_err(|err| corrupt(format!("not a checkpoint document: {err}")))?;
        if stored.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not the supported version {FORMAT_VERSION}",
                stored.version
            )));
        }
        let key = StreamKey::new(stored.source, stored.stream);
        if let Some(expected) = expected
            && &key != expected
        {
            return Err(corrupt(format!("it belongs to {key}, not {expected}")));
        }
        Ok(Some((key, stored.cursor)))
    }
}

/// One checkpoint file of a source, read on its own: what `logcrawl state reset` shows before deleting.
#[derive(Debug)]
pub struct CheckpointFile {
    /// Its stream: as the document records it, or, when it cannot be read, as its file name says.
    pub key: StreamKey,
    /// The file.
    pub path: PathBuf,
    /// Its cursor, or why it cannot be used.
    pub cursor: Result<Cursor, CheckpointError>,
}

impl FileCheckpointStore {
    /// Every checkpoint file of `source`, sorted by stream. Unlike [`CheckpointStore::list`], a file that
    /// cannot be read does not fail the listing but is returned with its error, since those are the
    /// files a reset is for. A file whose name is not its key's (a hashed long name that cannot be read)
    /// keeps the decoded file name as its stream, so [`CheckpointStore::delete`] of that key misses it.
    pub fn source_files(&self, source: &str) -> Result<Vec<CheckpointFile>, CheckpointError> {
        let probe = self.path_for(&StreamKey::new(source, "-"))?;
        let dir = probe.parent().expect("checkpoint paths have a parent");
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CheckpointError::Io { path: dir.to_owned(), source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|source| CheckpointError::Io { path: dir.to_owned(), source })?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(stem) = name.strip_suffix(".json").filter(|_| !name.starts_with('.')) else { continue };
            let named = StreamKey::new(source, decode_name(stem));
            let (key, cursor) = match Self::read(&path, None) {
                Ok(None) => continue, // deleted meanwhile
                Ok(Some((key, cursor))) if self.path_for(&key).is_ok_and(|p| p == path) => (key, Ok(cursor)),
                Ok(Some((key, _))) => {
                    let reason = format!("it belongs to {key}");
                    (named, Err(CheckpointError::Corrupt { path: path.clone(), reason }))
                }
                Err(err) => (named, Err(err)),
            };
            out.push(CheckpointFile { key, path, cursor });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

fn encode_name(key: &StreamKey, name: &str) -> Result<String, CheckpointError> {
    if name.is_empty() {
        return Err(CheckpointError::InvalidKey { key: key.clone(), reason: "empty name".into() });
    }
    let encoded = utf8_percent_encode(name, NAME_ENCODE).to_string();
    if encoded.len() <= MAX_ENCODED_NAME {
        return Ok(encoded);
    }
    // Too long for a file name: keep a readable prefix and make it unique with a hash of the whole
    // name. `~` never appears in an encoded name, so these cannot collide with short names, and the
    // document inside records the full key, which `load` verifies.
    let prefix = &encoded[..MAX_ENCODED_NAME - 17];
    Ok(format!("{prefix}~{:016x}", fnv1a64(name.as_bytes())))
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| CheckpointError::Io { path: dir.to_owned(), source })
}

impl CheckpointStore for FileCheckpointStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        let path = self.path_for(key)?;
        Ok(Self::read(&path, Some(key))?.map(|(_, cursor)| cursor))
    }

    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        let path = self.path_for(key)?;
        let dir = path.parent().expect("checkpoint paths have a parent").to_owned();
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|source| CheckpointError::Io { path: dir.clone(), source })?;
            sync_dir(&self.dir)?;
        }
        let doc = StoredCheckpoint {
            version: FORMAT_VERSION,
            source: key.source.clone(),
            stream: key.stream.clone(),
            cursor: cursor.clone(),
            committed_at: jiff::Timestamp::now().to_string(),
        };
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("a JSON value always serialises");
        bytes.push(b'\n');
        let file_name = path.file_name().expect("checkpoint paths have a file name").to_string_lossy();
        let tmp = dir.join(format!(".{file_name}.tmp"));
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| CheckpointError::Io { path, source }
        };
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&dir)
    }

    fn check_writable(&self) -> Result<(), CheckpointError> {
        let probe = self.dir.join(".ready-probe");
        let io_err = |source| CheckpointError::Io { path: probe.clone(), source };
        File::create(&probe).and_then(|mut file| file.write_all(b"ok")).map_err(io_err)?;
        fs::remove_file(&probe).map_err(io_err)
    }

    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        let path = self.path_for(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        }
        // The removal is durable only once the directory entry is synced, like a commit's rename.
        sync_dir(path.parent().expect("checkpoint paths have a parent"))?;
        Ok(true)
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(CheckpointError::Io { path: self.dir.clone(), source }),
        };
        for source_dir in entries {
            let source_dir = source_dir.map_err(|source| CheckpointError::Io { path: self.dir.clone(), source })?;
            if !source_dir.path().is_dir() {
                continue;
            }
            let files = fs::read_dir(source_dir.path())
                .map_err(|source| CheckpointError::Io { path: source_dir.path(), source })?;
            for file in files {
                let path = file.map_err(|source| CheckpointError::Io { path: source_dir.path(), source })?.path();
                let is_checkpoint = path.extension().is_some_and(|ext| ext == "json")
                    && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if is_checkpoint && let Some(entry) = Self::read(&path, None)? {
                    out.push(entry);
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Decodes a percent-encoded store name back to the original (for tools that browse the directory).
pub fn decode_name(encoded: &str) -> String {
    percent_decode_str(encoded).decode_utf8_lossy().into_owned()
}

/// An in-memory store: for tests and for runs that must leave no trace.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    cursors: Mutex<HashMap<StreamKey, Cursor>>,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        Ok(self.cursors.lock().expect("checkpoint map poisoned").get(key).cloned())
    }

    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        self.cursors.lock().expect("checkpoint map poisoned").insert(key.clone(), cursor.clone());
        Ok(())
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        let mut out: Vec<_> =
            self.cursors.lock().expect("checkpoint map poisoned").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        Ok(self.cursors.lock().expect("checkpoint map poisoned").remove(key).is_some())
    }

    /// A map behind a mutex held for a lookup or an insert: called in place.
    fn blocks(&self) -> bool {
        false
    }
}

/// Reads from an inner store and discards commits: what `logcrawl check` uses, so a dry run starts
/// where the real one would and changes nothing.
#[derive(Debug)]
pub struct ReadOnlyStore<S>(pub S);

impl<S: CheckpointStore> CheckpointStore for ReadOnlyStore<S> {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        self.0.load(key)
    }

    fn commit(&self, _key: &StreamKey, _cursor: &Cursor) -> Result<(), CheckpointError> {
        Ok(())
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        self.0.list()
    }

    /// Refuses, unlike `commit`, which it discards: a dry run must never lose a cursor, and saying a
    /// checkpoint was deleted when it was not would mislead.
    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        Err(CheckpointError::DeleteRefused { key: key.clone(), reason: "the store is read-only".into() })
    }

    fn blocks(&self) -> bool {
        self.0.blocks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commit_then_load_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = StreamKey::new("acme-demo", "ACME log stream");
        {
            let store = FileCheckpointStore::open(dir.path()).unwrap();
            assert_eq!(store.load(&key).unwrap(), None);
            store.commit(&key, &json!({"after": "a1"})).unwrap();
            store.commit(&key, &json!({"after": "a2"})).unwrap();
        }
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(json!({"after": "a2"})));
        assert_eq!(store.list().unwrap(), vec![(key, json!({"after": "a2"}))]);
    }

    #[test]
    fn names_that_the_agent_would_collapse_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let spaced = StreamKey::new("s", "ACME log stream");
        let squashed = StreamKey::new("s", "ACMElogstream");
        store.commit(&spaced, &json!(1)).unwrap();
        store.commit(&squashed, &json!(2)).unwrap();
        assert_eq!(store.load(&spaced).unwrap(), Some(json!(1)));
        assert_eq!(store.load(&squashed).unwrap(), Some(json!(2)));
        assert_ne!(store.path_for(&spaced).unwrap(), store.path_for(&squashed).unwrap());
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let key = StreamKey::new("okta", "system log");
        store.commit(&key, &json!({"next": "x"})).unwrap();
        let path = store.path_for(&key).unwrap();
        fs::write(&path, b"{\"version\":1,\"sour").unwrap();
        let err = store.load(&key).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }

    #[test]
    fn a_file_for_another_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let a = StreamKey::new("src", "a");
        let b = StreamKey::new("src", "b");
        store.commit(&a, &json!(1)).unwrap();
        fs::copy(store.path_for(&a).unwrap(), store.path_for(&b).unwrap()).unwrap();
        assert!(matches!(store.load(&b), Err(CheckpointError::Corrupt { .. })));
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FileCheckpointStore::open(dir.path()).unwrap();
        assert!(matches!(FileCheckpointStore::open(dir.path()), Err(CheckpointError::Locked { .. })));
    }

    #[test]
    fn a_writable_state_dir_passes_the_probe_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path().join("state")).unwrap();
        store.check_writable().unwrap();
        let names: Vec<_> = fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(!names.iter().any(|n| n.to_string_lossy().contains("probe")), "{names:?}");
        fs::remove_dir_all(store.dir()).unwrap();
        let err = store.check_writable().unwrap_err();
        assert!(err.to_string().contains(".ready-probe"), "{err}");
    }

    #[test]
    fn read_only_store_discards_commits() {
        let inner = MemoryCheckpointStore::new();
        let key = StreamKey::new("a", "b");
        inner.commit(&key, &json!(1)).unwrap();
        let ro = ReadOnlyStore(inner);
        ro.commit(&key, &json!(2)).unwrap();
        assert_eq!(ro.load(&key).unwrap(), Some(json!(1)));
    }

    #[test]
    fn delete_removes_the_file_and_only_that_stream() {
        let dir = tempfile::tempdir().unwrap();
        let key = StreamKey::new("acme-demo", "ACME log stream");
        let other = StreamKey::new("acme-demo", "other");
        {
            let store = FileCheckpointStore::open(dir.path()).unwrap();
            store.commit(&key, &json!({"after": "a1"})).unwrap();
            store.commit(&other, &json!({"after": "b1"})).unwrap();
            let path = store.path_for(&key).unwrap();
            assert!(store.delete(&key).unwrap());
            assert!(!path.exists());
            assert!(!store.delete(&key).unwrap(), "a second delete finds nothing");
        }
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load(&key).unwrap(), None);
        assert_eq!(store.list().unwrap(), vec![(other, json!({"after": "b1"}))]);
    }

    #[test]
    fn delete_removes_a_corrupt_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let key = StreamKey::new("okta", "system log");
        store.commit(&key, &json!(1)).unwrap();
        fs::write(store.path_for(&key).unwrap(), b"{\"version\":1,\"sour").unwrap();
        assert!(store.delete(&key).unwrap());
        assert_eq!(store.load(&key).unwrap(), None);
    }

    #[test]
    fn source_files_lists_unreadable_files_with_their_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let good = StreamKey::new("src", "good stream");
        let bad = StreamKey::new("src", "bad stream");
        store.commit(&good, &json!({"after": "1"})).unwrap();
        store.commit(&bad, &json!(2)).unwrap();
        store.commit(&StreamKey::new("elsewhere", "x"), &json!(3)).unwrap();
        fs::write(store.path_for(&bad).unwrap(), b"{").unwrap();
        let files = store.source_files("src").unwrap();
        let keys: Vec<&StreamKey> = files.iter().map(|f| &f.key).collect();
        assert_eq!(keys, [&bad, &good]);
        assert!(matches!(files[0].cursor, Err(CheckpointError::Corrupt { .. })));
        assert_eq!(files[0].path, store.path_for(&bad).unwrap());
        assert_eq!(files[1].cursor.as_ref().unwrap(), &json!({"after": "1"}));
        assert!(store.source_files("none").unwrap().is_empty());
    }

    #[test]
    fn memory_store_deletes_and_read_only_store_refuses() {
        let inner = MemoryCheckpointStore::new();
        let key = StreamKey::new("a", "b");
        inner.commit(&key, &json!(1)).unwrap();
        let ro = ReadOnlyStore(inner);
        let err = ro.delete(&key).unwrap_err();
        assert!(matches!(err, CheckpointError::DeleteRefused { .. }), "{err}");
        assert!(err.to_string().contains("a/b") && err.to_string().contains("read-only"), "{err}");
        assert_eq!(ro.load(&key).unwrap(), Some(json!(1)));
        let inner = ro.0;
        assert!(inner.delete(&key).unwrap());
        assert!(!inner.delete(&key).unwrap());
        assert_eq!(inner.load(&key).unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn any_names_round_trip_to_distinct_files(a in ".{1,40}", b in ".{1,40}") {
            let dir = tempfile::tempdir().unwrap();
            let store = FileCheckpointStore::open(dir.path()).unwrap();
            let ka = StreamKey::new("s", a.clone());
            let kb = StreamKey::new("s", b.clone());
            store.commit(&ka, &json!("a")).unwrap();
            store.commit(&kb, &json!("b")).unwrap();
            let expect_a = if a == b { json!("b") } else { json!("a") };
            proptest::prop_assert_eq!(store.load(&ka).unwrap(), Some(expect_a));
            proptest::prop_assert_eq!(store.load(&kb).unwrap(), Some(json!("b")));
        }
    }
}
