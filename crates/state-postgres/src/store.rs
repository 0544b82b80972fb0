//! [`PgStore`]: opening (pool, TLS, migrations), the [`CheckpointStore`] calls, and what `logcrawl state
//! --leases` shows.
//!
//! A store opened as a worker ([`PgStore::open_worker`]) fences every commit with its lease; one opened for
//! an operator ([`PgStore::open_admin`], `logcrawl state set/reset/import`) writes only streams that no
//! live worker holds, and says who holds the others.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use logcrawl_core::{CheckpointError, CheckpointStore, Cursor, LocalLeases, StreamKey};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::schema::{self, Sql};
use crate::{Error, PgSettings, describe};

/// The longest a single store call may take before it is reported failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One stream's row, as `logcrawl state --leases` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRow {
    /// The stream.
    pub key: StreamKey,
    /// The worker holding (or last holding) its lease.
    pub holder: Option<String>,
    /// Its fencing epoch: how many times it was claimed.
    pub epoch: i64,
    /// Seconds until the lease expires (negative: expired), by the database's clock.
    pub expires_in: Option<f64>,
    /// Its cursor.
    pub cursor: Option<Cursor>,
}

/// One worker's row.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// Its id (`host-pid-random`).
    pub id: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age: f64,
    /// Whether its heartbeat is still valid.
    pub live: bool,
}

/// The state shared by the store's calls and its lease manager.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) sql: Sql,
    /// `PostgreSQL host:port/db`, for errors.
    pub(crate) store: String,
    pub(crate) settings: PgSettings,
    /// This worker's id; `None` for an operator's store.
    pub(crate) worker: Option<String>,
    pub(crate) leases: LocalLeases,
    /// The streams this worker is configured to run, and whether the table has rows for them yet.
    pub(crate) wanted: Mutex<(Vec<StreamKey>, bool)>,
    /// Held for a lease round: two at once (the manager's and an explicit one) would each claim a share.
    pub(crate) rounds: tokio::sync::Mutex<()>,
}

impl Inner {
    pub(crate) fn backend(&self, err: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Backend { store: self.store.clone(), reason: err.to_string() }
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, Error> {
        Ok(self.pool.get().await?)
    }
}

/// The PostgreSQL checkpoint store and lease authority (see the crate documentation).
#[derive(Debug)]
pub struct PgStore {
    pub(crate) inner: Arc<Inner>,
    runtime: Option<Runtime>,
    /// The lease manager: its stop signal and task, once started.
    pub(crate) manager: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl PgStore {
    /// Opens the store for a worker: connects, migrates the schema, and picks a worker id. Leases are
    /// taken only once [`PgStore::start_leases`] runs.
    pub fn open_worker(settings: PgSettings) -> Result<Self, CheckpointError> {
        Self::open(settings, Some(worker_id()))
    }

    /// Opens the store for an operator's commands: commits and deletes refuse streams leased to a live
    /// worker.
    pub fn open_admin(settings: PgSettings) -> Result<Self, CheckpointError> {
        Self::open(settings, None)
    }

    fn open(settings: PgSettings, worker: Option<String>) -> Result<Self, CheckpointError> {
        let invalid = |reason: String| CheckpointError::Backend { store: "PostgreSQL".into(), reason };
        settings.check().map_err(invalid)?;
        let mut config: tokio_postgres::Config = settings.url.parse().map_err(|e| invalid(format!("url: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("logcrawl");
        }
        let store = describe(&config);
        let tls = crate::tls::connector(settings.ca_file.as_deref())
            .map_err(|reason| CheckpointError::Backend { store: store.clone(), reason })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("logcrawl-postgres")
            .enable_all()
            .build()
            .map_err(|err| CheckpointError::Backend { store: store.clone(), reason: format!("runtime: {err}") })?;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|err| CheckpointError::Backend { store: store.clone(), reason: format!("pool: {err}") })?;
        let inner = Arc::new(Inner {
            pool,
            sql: Sql::new(&settings.schema),
            store,
            settings,
            worker,
            leases: LocalLeases::new(),
            wanted: Mutex::new((Vec::new(), false)),
            rounds: tokio::sync::Mutex::new(()),
        });
        let this = Self { inner, runtime: Some(runtime), manager: Mutex::new(None) };
        this.call(|inner| async move {
            let mut client = inner.client().await?;
            let applied = schema::migrate(&mut client, &inner.settings.schema).await?;
            if !applied.is_empty() {
                tracing::info!(store = %inner.store, schema = %inner.settings.schema, versions = ?applied, "schema migrated");
            }
            Ok(())
        })?;
        Ok(this)
    }

    /// This worker's id, `None` for an operator's store.
    pub fn worker_id(&self) -> Option<&str> {
        self.inner.worker.as_deref()
    }

    /// The database, without credentials.
    pub fn describe(&self) -> &str {
        &self.inner.store
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i32, CheckpointError> {
        self.call(|inner| async move {
            let client = inner.client().await?;
            schema::version(&client, &inner.settings.schema).await
        })
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives as long as the store").handle()
    }

    /// Runs `op` on the store's runtime and waits for it, from any thread, with [`CALL_TIMEOUT`].
    pub(crate) fn call<T, F, Fut>(&self, op: F) -> Result<T, CheckpointError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let inner = self.inner.clone();
        let fut = op(inner.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime().spawn(async move {
            let result = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout(CALL_TIMEOUT)),
            };
            let _caller_gone = tx.send(result.map_err(|err| inner.backend(err)));
        });
        rx.recv().unwrap_or_else(|_| Err(self.inner.backend("the store's runtime stopped")))
    }

    /// Every stream's row: holder, epoch, expiry and cursor.
    pub fn leases(&self) -> Result<Vec<LeaseRow>, CheckpointError> {
        self.call(|inner| async move {
            let rows = inner.client().await?.query(&inner.sql.leases, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| LeaseRow {
                    key: StreamKey::new(row.get::<_, String>(0), row.get::<_, String>(1)),
                    holder: row.get(2),
                    epoch: row.get(3),
                    expires_in: row.get(4),
                    cursor: row.get(5),
                })
                .collect())
        })
    }

    /// Every worker's row.
    pub fn workers(&self) -> Result<Vec<WorkerRow>, CheckpointError> {
        self.call(|inner| async move {
            let rows = inner.client().await?.query(&inner.sql.workers, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| WorkerRow { id: row.get(0), heartbeat_age: row.get(1), live: row.get(2) })
                .collect())
        })
    }

    /// The error for a write refused because `key` is leased: who holds it, until when.
    fn leased(&self, key: &StreamKey) -> CheckpointError {
        let lookup = key.clone();
        match self.call(move |inner| async move {
            let client = inner.client().await?;
            let row = client.query_opt(&inner.sql.lease_of, &[&lookup.source, &lookup.stream]).await?;
            Ok(row.map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))))
        }) {
            Ok(Some((holder, until))) => CheckpointError::Leased { key: key.clone(), holder, until },
            Ok(None) => {
                self.inner.backend(format!("the write of {key} was refused and the stream is not leased; retry"))
            }
            Err(err) => err,
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which an async caller must not: let them go.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl CheckpointStore for PgStore {
    fn load(&self, key: &StreamKey) -> Result<Option<Cursor>, CheckpointError> {
        let key = key.clone();
        self.call(move |inner| async move {
            let row = inner.client().await?.query_opt(&inner.sql.load, &[&key.source, &key.stream]).await?;
            Ok(row.and_then(|row| row.get::<_, Option<Value>>(0)))
        })
    }

    fn commit(&self, key: &StreamKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        let Some(worker) = self.inner.worker.clone() else {
            let (k, c) = (key.clone(), cursor.clone());
            let rows = self.call(move |inner| async move {
                Ok(inner.client().await?.execute(&inner.sql.admin_commit, &[&k.source, &k.stream, &c]).await?)
            })?;
            return if rows == 1 { Ok(()) } else { Err(self.leased(key)) };
        };
        let Some(epoch) = self.inner.leases.epoch(key) else {
            return Err(CheckpointError::LeaseLost { key: key.clone(), reason: "this worker does not hold it".into() });
        };
        let (k, c) = (key.clone(), cursor.clone());
        let rows = self.call(move |inner| async move {
            let client = inner.client().await?;
            Ok(client.execute(&inner.sql.fenced_commit, &[&k.source, &k.stream, &c, &worker, &epoch]).await?)
        })?;
        if rows == 1 {
            return Ok(());
        }
        self.inner.leases.lose(key);
        crate::worker::lost(key);
        let holder = match self.leased(key) {
            CheckpointError::Leased { holder, .. } => format!("worker {holder} holds it now"),
            _ => "no worker holds it now".into(),
        };
        let reason = format!("the store refused the commit of epoch {epoch} ({holder}); the stream stops here");
        tracing::error!(stream = %key, epoch, "{reason}");
        Err(CheckpointError::LeaseLost { key: key.clone(), reason })
    }

    fn list(&self) -> Result<Vec<(StreamKey, Cursor)>, CheckpointError> {
        self.call(|inner| async move {
            let rows = inner.client().await?.query(&inner.sql.list, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| (StreamKey::new(row.get::<_, String>(0), row.get::<_, String>(1)), row.get(2)))
                .collect())
        })
    }

    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        let k = key.clone();
        let rows = self.call(move |inner| async move {
            Ok(inner.client().await?.execute(&inner.sql.admin_delete, &[&k.source, &k.stream]).await?)
        })?;
        if rows == 1 {
            return Ok(true);
        }
        match self.leased(key) {
            err @ CheckpointError::Leased { .. } => Err(err),
            _ => Ok(false),
        }
    }

    fn check_writable(&self) -> Result<(), CheckpointError> {
        self.call(|inner| async move { Ok(inner.client().await?.execute("SELECT 1", &[]).await.map(drop)?) })
    }
}

/// `host-pid-random`: unique per process, readable in `state --leases`.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{host}-{}-{:04x}", std::process::id(), (nanos ^ (nanos >> 16)) & 0xffff)
}
