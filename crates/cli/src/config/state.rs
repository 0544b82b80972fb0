//! `[state]`: where checkpoints live: the embedded file store (the default, in `state_dir`), or
//! PostgreSQL, shared by several workers that spread the streams among themselves with leases.
//!
//! ```toml
//! [state]
//! type = "postgres"          # or "file" (the default: no [state] at all)
//! url = "${PG_URL}"          # postgres://user:password@host:5432/db?sslmode=require
//! pool_size = 8
//! schema = "logcrawl"        # created and migrated at start
//! lease = "30s"              # how long a claim or renewal is valid
//! renew = "10s"              # how often leases are renewed and shares rebalanced
//! ca_file = "/etc/ssl/db-ca.pem"   # optional: CA certificates to trust besides the system's
//! ```
//!
//! `state_dir` keeps the dead-letter files (and the checkpoints with the file store) in either case.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use logcrawl_core::config::parse_duration;
use toml::{Table, Value};

use super::{ConfigError, expected};

/// The `[state]` table.
#[derive(Clone, PartialEq, Default)]
pub enum StateConfig {
    /// One JSON file per stream under `state_dir`, locked by one process.
    #[default]
    File,
    /// PostgreSQL, shared by several workers.
    Postgres(PostgresState),
}

/// `[state] type = "postgres"`.
#[derive(Clone, PartialEq)]
pub struct PostgresState {
    /// The connection URL (it may hold a password: never printed).
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// The schema of the tables.
    pub schema: String,
    /// How long a lease is valid.
    pub lease: Duration,
    /// How often leases are renewed.
    pub renew: Duration,
    /// Extra CA certificates for TLS.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => f.write_str("File"),
            Self::Postgres(pg) => f.debug_tuple("Postgres").field(pg).finish(),
        }
    }
}

impl fmt::Debug for PostgresState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresState")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("schema", &self.schema)
            .field("lease", &self.lease)
            .field("renew", &self.renew)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

const KEYS: &str = "type, url, pool_size, schema, lease, renew, ca_file";

/// Reads the `[state]` table.
pub(super) fn state_config(value: Value) -> Result<StateConfig, ConfigError> {
    let Value::Table(mut table): Value = value else {
        return Err(expected("state", "a table [state]", &value));
    };
    let kind = match table.remove("type") {
        None => "file".to_owned(),
        Some(Value::String(kind)) => kind,
        Some(other) => return Err(expected("state.type", "\"file\" or \"postgres\"", &other)),
    };
    match kind.as_str() {
        "file" => {
            refuse_unknown(&table, "type (the file store keeps its checkpoints in state_dir)")?;
            Ok(StateConfig::File)
        }
        "postgres" => postgres(table).map(StateConfig::Postgres),
        other => Err(ConfigError::new("state.type", format!("unknown store {other:?} (known: file, postgres)"))),
    }
}

fn postgres(mut table: Table) -> Result<PostgresState, ConfigError> {
    let mut string = |key: &str| -> Result<Option<String>, ConfigError> {
        match table.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(Value::String(_)) => Err(ConfigError::new(format!("state.{key}"), "must not be empty")),
            Some(other) => Err(expected(&format!("state.{key}"), "a string", &other)),
        }
    };
    let url = string("url")?
        .ok_or_else(|| ConfigError::new("state.url", "missing key (the PostgreSQL URL, e.g. url = \"${PG_URL}\")"))?;
    let schema = string("schema")?.unwrap_or_else(|| "logcrawl".into());
    let duration = |key: &str, text: Option<String>, default: u64| -> Result<Duration, ConfigError> {
        let Some(text) = text else { return Ok(Duration::from_secs(default)) };
        let value = parse_duration(&text).map_err(|m| ConfigError::new(format!("state.{key}"), m))?;
        if value.is_zero() {
            return Err(ConfigError::new(format!("state.{key}"), "must be longer than zero"));
        }
        Ok(value)
    };
    let lease = duration("lease", string("lease")?, 30)?;
    let renew = duration("renew", string("renew")?, 10)?;
    let ca_file = string("ca_file")?.map(PathBuf::from);
    let pool_size = match table.remove("pool_size") {
        None => 8,
        Some(Value::Integer(n)) if (1..=1000).contains(&n) => n as usize,
        Some(other) => return Err(expected("state.pool_size", "a number of connections from 1 to 1000", &other)),
    };
    if lease < renew * 2 {
        return Err(ConfigError::new(
            "state.lease",
            format!(
                "{lease:?} must be at least twice renew ({renew:?}), so one late renewal does not lose the streams"
            ),
        ));
    }
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if !schema.chars().all(plain) || schema.starts_with(|c: char| c.is_ascii_digit()) || schema.len() > 63 {
        return Err(ConfigError::new(
            "state.schema",
            format!("{schema:?}: use lower-case letters, digits and `_`, not starting with a digit"),
        ));
    }
    refuse_unknown(&table, KEYS)?;
    Ok(PostgresState { url, pool_size, schema, lease, renew, ca_file })
}

fn refuse_unknown(table: &Table, known: &str) -> Result<(), ConfigError> {
    match table.keys().next() {
        Some(key) => Err(ConfigError::new(format!("state.{key}"), format!("unknown key (known: {known})"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StateConfig, ConfigError> {
        state_config(Value::Table(text.parse().unwrap()))
    }

    #[test]
    fn postgres_is_read_with_its_defaults() {
        let StateConfig::Postgres(pg) = parse("type = \"postgres\"\nurl = \"postgres://u:pw@db/x\"").unwrap() else {
            panic!("postgres")
        };
        assert_eq!((pg.pool_size, pg.schema.as_str()), (8, "logcrawl"));
        assert_eq!((pg.lease, pg.renew), (Duration::from_secs(30), Duration::from_secs(10)));
        assert!(!format!("{pg:?}").contains("pw"), "the URL's password is never printed");
        let StateConfig::Postgres(pg) =
            parse("type = \"postgres\"\nurl = \"x\"\nlease = \"3s\"\nrenew = \"1s\"\npool_size = 2").unwrap()
        else {
            panic!("postgres")
        };
        assert_eq!((pg.lease, pg.renew, pg.pool_size), (Duration::from_secs(3), Duration::from_secs(1), 2));
        assert_eq!(parse("type = \"file\"").unwrap(), StateConfig::File);
    }

    #[test]
    fn mistakes_name_their_key() {
        for (text, key, words) in [
            ("type = \"redis\"", "state.type", "known: file, postgres"),
            ("type = \"postgres\"", "state.url", "missing key"),
            ("type = \"postgres\"\nurl = \"x\"\nlease = \"10s\"\nrenew = \"10s\"", "state.lease", "twice renew"),
            ("type = \"postgres\"\nurl = \"x\"\nschema = \"My-Schema\"", "state.schema", "lower-case"),
            ("type = \"postgres\"\nurl = \"x\"\npool_size = 0", "state.pool_size", "from 1 to 1000"),
            ("type = \"postgres\"\nurl = \"x\"\nrenew = \"soon\"", "state.renew", ""),
            ("type = \"postgres\"\nurl = \"x\"\nhost = \"db\"", "state.host", "unknown key"),
            ("type = \"file\"\nurl = \"x\"", "state.url", "unknown key"),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err:?}");
            assert!(err.message.contains(words), "{text}: {}", err.message);
        }
    }
}
