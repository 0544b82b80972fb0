//! # logcrawl-state-postgres
//!
//! The shared checkpoint store for several `logcrawl` workers: cursors in PostgreSQL, and PostgreSQL as
//! the lease authority that decides which worker crawls which stream. No consensus of our own: the
//! database's row locks and clock are the only arbiters.
//!
//! ## The model
//!
//! One row of `streams` per `(source, stream)` holds the cursor and the lease: `holder` (a worker id),
//! `epoch` (a fencing token, incremented by every claim) and `expires_at` (the database's `now()` plus
//! the lease). Every worker has a row of `workers` that it heartbeats. A lease manager task per worker
//! ([`PgStore::start_leases`]), every `renew`:
//!
//! 1. heartbeats, and renews every lease it holds (`expires_at = now() + lease`); a lease missing from
//!    the answer was taken over and is dropped at once;
//! 2. counts the live workers and takes its fair share, `ceil(streams / workers)`: it releases the
//!    surplus (once each surplus stream's run has ended, so hand-overs never duplicate) or claims free
//!    and expired streams (`FOR UPDATE SKIP LOCKED`, so workers claiming together never block).
//!
//! Every commit is `UPDATE … WHERE holder = $me AND epoch = $mine`: zero rows means the lease is gone,
//! [`CheckpointError::LeaseLost`](logcrawl_core::CheckpointError::LeaseLost), and the crawler stops that stream at once. The worker also keeps a
//! deadline on its monotonic clock, the start of its last successful renewal plus the lease less a
//! margin; past it (the database is unreachable, or the process was frozen) the [`LeaseGate`] sends no
//! batch, before any other worker may take the stream over.
//!
//! ## Runtime
//!
//! [`CheckpointStore`](logcrawl_core::CheckpointStore) is synchronous (the crawler calls it from blocking threads). The store runs its
//! pool, its connections and its lease manager on a small runtime of its own, so those calls work from
//! any thread and the lease renewals are never delayed by a busy crawl.
//!
//! [`LeaseGate`]: logcrawl_core::LeaseGate

mod schema;
mod store;
mod tls;
mod worker;

use std::time::Duration;

pub use store::{LeaseRow, PgStore, WorkerRow};

/// What `[state] type = "postgres"` configures.
#[derive(Debug, Clone, PartialEq)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database?sslmode=require`, or the key/value form.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// The schema holding the tables (created if missing).
    pub schema: String,
    /// How long a claim or renewal is valid.
    pub lease: Duration,
    /// How often leases are renewed and shares rebalanced.
    pub renew: Duration,
    /// A PEM file of CA certificates to trust for TLS, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgSettings {
    /// The defaults but for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            schema: "logcrawl".into(),
            lease: Duration::from_secs(30),
            renew: Duration::from_secs(10),
            ca_file: None,
        }
    }

    /// Why these settings cannot work, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if !schema::valid_schema(&self.schema) {
            return Err(format!(
                "schema {:?}: use lower-case letters, digits and `_`, not starting with a digit",
                self.schema
            ));
        }
        if self.pool_size == 0 {
            return Err("pool_size must be at least 1".into());
        }
        if self.renew.is_zero() || self.lease < self.renew * 2 {
            return Err(format!(
                "lease ({:?}) must be at least twice renew ({:?}), so one missed renewal does not lose every stream",
                self.lease, self.renew
            ));
        }
        self.url.parse::<tokio_postgres::Config>().map(drop).map_err(|err| format!("url: {err}"))
    }

    /// How much before the lease's expiry a worker stops sending.
    pub fn margin(&self) -> Duration {
        self.lease / 10
    }
}

/// A failure inside the store, turned into a [`logcrawl_core::CheckpointError::Backend`] naming the database.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("no connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("{0}")]
    Schema(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Describes a database without its credentials: `PostgreSQL host:port/database`.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("PostgreSQL {host}:{port}/{}", config.get_dbname().unwrap_or("(default database)"))
}
