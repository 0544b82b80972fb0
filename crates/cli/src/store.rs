//! Opening the configured checkpoint store: the file store in `state_dir`, or PostgreSQL (`[state] type =
//! "postgres"`, the `postgres` feature), for a worker (`logcrawl run`) or for an operator's command
//! (`logcrawl state …`).

use std::sync::Arc;

use anyhow::{anyhow, bail};
use logcrawl_core::{CheckpointError, CheckpointStore, FileCheckpointStore, LeaseGate, StreamKey};

use crate::config::{Config, StateConfig};

/// What `logcrawl run` commits to, and the leases when the store is shared.
#[derive(Debug)]
pub struct WorkerStore {
    /// The checkpoint store.
    pub store: Arc<dyn CheckpointStore>,
    /// The lease manager, with PostgreSQL.
    pub leases: Option<Leases>,
}

/// A worker's leases on the shared store: which streams it runs.
#[derive(Debug, Clone)]
pub struct Leases {
    #[cfg(feature = "postgres")]
    pg: Arc<logcrawl_state_postgres::PgStore>,
}

impl Leases {
    /// What the crawlers consult before each run and each batch.
    pub fn gate(&self) -> Arc<dyn LeaseGate> {
        #[cfg(feature = "postgres")]
        return self.pg.gate();
        #[cfg(not(feature = "postgres"))]
        unreachable!("no shared store without the postgres feature")
    }

    /// Starts the lease manager for `keys`, or tells it the streams configured now (after a reload).
    pub fn want(&self, keys: Vec<StreamKey>) {
        #[cfg(feature = "postgres")]
        self.pg.start_leases(keys);
        #[cfg(not(feature = "postgres"))]
        drop(keys);
    }

    /// One round of the lease manager now (`--once`: claim before running).
    pub fn round(&self) -> Result<(), CheckpointError> {
        #[cfg(feature = "postgres")]
        return self.pg.lease_round();
        #[cfg(not(feature = "postgres"))]
        Ok(())
    }

    /// Releases every lease (after the crawlers stopped).
    pub async fn shutdown(&self) {
        #[cfg(feature = "postgres")]
        self.pg.shutdown().await;
    }
}

/// Opens the store `logcrawl run` commits to.
pub fn open_worker(config: &Config) -> anyhow::Result<WorkerStore> {
    match &config.state {
        StateConfig::File => {
            Ok(WorkerStore { store: Arc::new(FileCheckpointStore::open(&config.state_dir)?), leases: None })
        }
        #[cfg(feature = "postgres")]
        StateConfig::Postgres(pg) => {
            let pg = Arc::new(logcrawl_state_postgres::PgStore::open_worker(settings(pg))?);
            tracing::info!(store = %pg.describe(), worker = pg.worker_id().unwrap_or(""), "shared state: streams are leased");
            Ok(WorkerStore { store: pg.clone(), leases: Some(Leases { pg }) })
        }
        #[cfg(not(feature = "postgres"))]
        StateConfig::Postgres(_) => bail!("{}", no_postgres(config)),
    }
}

/// A store for an operator's command.
#[derive(Debug)]
pub enum AdminStore {
    /// The state directory, locked.
    File(FileCheckpointStore),
    /// PostgreSQL: writes refuse streams leased to a live worker.
    #[cfg(feature = "postgres")]
    Postgres(logcrawl_state_postgres::PgStore),
}

impl AdminStore {
    /// The state directory's store, when that is the configured one.
    pub fn file(&self) -> Option<&FileCheckpointStore> {
        match self {
            Self::File(store) => Some(store),
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => None,
        }
    }

    /// The store as a [`CheckpointStore`].
    pub fn store(&self) -> &dyn CheckpointStore {
        match self {
            Self::File(store) => store,
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store,
        }
    }

    /// Where it is, for messages: the state directory, or the database without credentials.
    pub fn describe(&self) -> String {
        match self {
            Self::File(store) => store.dir().display().to_string(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.describe().to_owned(),
        }
    }
}

impl CheckpointStore for AdminStore {
    fn load(&self, key: &StreamKey) -> Result<Option<logcrawl_core::Cursor>, CheckpointError> {
        self.store().load(key)
    }

    fn commit(&self, key: &StreamKey, cursor: &logcrawl_core::Cursor) -> Result<(), CheckpointError> {
        self.store().commit(key, cursor)
    }

    fn list(&self) -> Result<Vec<(StreamKey, logcrawl_core::Cursor)>, CheckpointError> {
        self.store().list()
    }

    fn delete(&self, key: &StreamKey) -> Result<bool, CheckpointError> {
        self.store().delete(key)
    }

    fn check_writable(&self) -> Result<(), CheckpointError> {
        self.store().check_writable()
    }

    fn blocks(&self) -> bool {
        self.store().blocks()
    }
}

/// Opens the configured store for an operator: the file store with the state directory's exclusive
/// lock (refused while a daemon runs: `action` says what was to be done), or PostgreSQL.
pub fn open_admin(config: &Config, action: &str) -> anyhow::Result<AdminStore> {
    match &config.state {
        StateConfig::File => FileCheckpointStore::open(&config.state_dir).map(AdminStore::File).map_err(|err| match err {
            CheckpointError::Locked { path } => anyhow!(
                "cannot {action}: state directory {} is in use by another logcrawl process (a running `logcrawl run`?); \
                 stop it first, since it would overwrite or race the change",
                path.display()
            ),
            other => other.into(),
        }),
        #[cfg(feature = "postgres")]
        StateConfig::Postgres(pg) => Ok(AdminStore::Postgres(logcrawl_state_postgres::PgStore::open_admin(settings(pg))?)),
        #[cfg(not(feature = "postgres"))]
        StateConfig::Postgres(_) => bail!("{}", no_postgres(config)),
    }
}

/// Opens the configured store to read it, without taking the state directory's lock.
pub fn open_reader(config: &Config) -> anyhow::Result<AdminStore> {
    match &config.state {
        StateConfig::File => Ok(AdminStore::File(FileCheckpointStore::open_shared(&config.state_dir))),
        _ => open_admin(config, "read the checkpoints"),
    }
}

#[cfg(feature = "postgres")]
fn settings(pg: &crate::config::PostgresState) -> logcrawl_state_postgres::PgSettings {
    logcrawl_state_postgres::PgSettings {
        url: pg.url.clone(),
        pool_size: pg.pool_size,
        schema: pg.schema.clone(),
        lease: pg.lease,
        renew: pg.renew,
        ca_file: pg.ca_file.clone(),
    }
}

#[cfg(not(feature = "postgres"))]
fn no_postgres(config: &Config) -> String {
    let err = config.locate(crate::config::ConfigError::new(
        "state.type",
        "this logcrawl was built without the postgres feature (cargo build --features postgres)",
    ));
    err.to_string()
}

/// Refuses a command that is only for PostgreSQL.
pub fn only_postgres(config: &Config, what: &str) -> anyhow::Result<()> {
    match config.state {
        StateConfig::File => bail!(
            "{what} needs [state] type = \"postgres\": the file store has no leases (one process holds the whole \
             state directory, {})",
            config.state_dir.display()
        ),
        StateConfig::Postgres(_) => Ok(()),
    }
}
