//! The tables, their versioned migrations, and every SQL statement the store sends.
//!
//! Migrations are applied at start in one transaction under an advisory lock, so workers starting
//! together never race to create the same table; each applied version is a row of `schema_migrations`.
//! A database whose schema is newer than this build knows is refused rather than written to.
//!
//! Times (`expires_at`, `heartbeat_at`) are always the database's `now()`, never a worker's clock.

use crate::Error;

/// `(version, what it does, SQL with `{s}` for the quoted schema name)`, oldest first. Never edit an
/// applied entry: add the next version.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "streams (cursor, lease holder, epoch, expiry) and workers (heartbeats)",
    r#"
CREATE TABLE {s}.streams (
    source       text        NOT NULL,
    stream       text        NOT NULL,
    cursor       jsonb,
    committed_at timestamptz,
    holder       text,
    epoch        bigint      NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    claimed_at   timestamptz,
    PRIMARY KEY (source, stream)
);
CREATE INDEX streams_holder ON {s}.streams (holder);
CREATE TABLE {s}.workers (
    id           text        PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
"#,
)];

/// The newest schema version this build knows.
pub(crate) const VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// A constant key for `pg_advisory_xact_lock`: "logcrawl" in ASCII.
const MIGRATION_LOCK: i64 = 0x6c6f_6763_7261_776c;

/// Whether `name` is a plain schema name: it is put in statements quoted, but only such names are taken
/// so that no quoting rule can be got wrong.
pub(crate) fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// Creates the schema and applies the missing migrations; returns the versions applied now.
pub(crate) async fn migrate(client: &mut deadpool_postgres::Client, schema: &str) -> Result<Vec<i32>, Error> {
    let s = format!("\"{schema}\"");
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await?;
    let current: i32 =
        tx.query_one(&format!("SELECT coalesce(max(version), 0) FROM {s}.schema_migrations"), &[]).await?.get(0);
    if current > VERSION {
        return Err(Error::Schema(format!(
            "schema {schema:?} is at version {current}, newer than this logcrawl knows ({VERSION}): upgrade logcrawl"
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        tx.batch_execute(&sql.replace("{s}", &s)).await?;
        tx.execute(&format!("INSERT INTO {s}.schema_migrations (version, name) VALUES ($1, $2)"), &[version, name])
            .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// The schema version recorded in the database (0 when none).
pub(crate) async fn version(client: &tokio_postgres::Client, schema: &str) -> Result<i32, Error> {
    let sql = format!("SELECT coalesce(max(version), 0) FROM \"{schema}\".schema_migrations");
    Ok(client.query_one(&sql, &[]).await?.get(0))
}

/// Every statement, with the schema filled in once.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) load: String,
    pub(crate) list: String,
    pub(crate) fenced_commit: String,
    pub(crate) admin_commit: String,
    pub(crate) admin_delete: String,
    pub(crate) lease_of: String,
    pub(crate) heartbeat: String,
    pub(crate) live_workers: String,
    pub(crate) forget_worker: String,
    pub(crate) register: String,
    pub(crate) renew: String,
    pub(crate) release: String,
    pub(crate) claim: String,
    pub(crate) leases: String,
    pub(crate) workers: String,
}

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let t = format!("\"{schema}\".streams");
        let w = format!("\"{schema}\".workers");
        let free = "(holder IS NULL OR expires_at IS NULL OR expires_at < now())";
        Self {
            load: format!("SELECT cursor FROM {t} WHERE source = $1 AND stream = $2"),
            list: format!("SELECT source, stream, cursor FROM {t} WHERE cursor IS NOT NULL ORDER BY source, stream"),
            fenced_commit: format!(
                "UPDATE {t} SET cursor = $3, committed_at = now()
                 WHERE source = $1 AND stream = $2 AND holder = $4 AND epoch = $5"
            ),
            admin_commit: format!(
                "INSERT INTO {t} AS s (source, stream, cursor, committed_at) VALUES ($1, $2, $3, now())
                 ON CONFLICT (source, stream) DO UPDATE SET cursor = EXCLUDED.cursor, committed_at = now()
                 WHERE s.holder IS NULL OR s.expires_at IS NULL OR s.expires_at < now()"
            ),
            admin_delete: format!(
                "UPDATE {t} SET cursor = NULL, committed_at = now()
                 WHERE source = $1 AND stream = $2 AND cursor IS NOT NULL AND {free}"
            ),
            lease_of: format!(
                "SELECT holder, expires_at::text FROM {t}
                 WHERE source = $1 AND stream = $2 AND holder IS NOT NULL AND expires_at >= now()"
            ),
            heartbeat: format!(
                "INSERT INTO {w} (id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at"
            ),
            live_workers: format!("SELECT count(*) FROM {w} WHERE expires_at > now()"),
            forget_worker: format!("DELETE FROM {w} WHERE id = $1 OR expires_at < now() - interval '1 day'"),
            register: format!(
                "INSERT INTO {t} (source, stream) SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (source, stream) DO NOTHING"
            ),
            renew: format!(
                "UPDATE {t} SET expires_at = now() + make_interval(secs => $2)
                 WHERE holder = $1 RETURNING source, stream, epoch"
            ),
            release: format!(
                "UPDATE {t} SET holder = NULL, expires_at = NULL
                 WHERE source = $1 AND stream = $2 AND holder = $3 AND epoch = $4"
            ),
            claim: format!(
                "WITH wanted AS (SELECT * FROM unnest($2::text[], $3::text[]) AS w (source, stream)),
                 candidates AS (
                     SELECT s.source, s.stream, s.holder AS previous FROM {t} s
                     JOIN wanted w ON w.source = s.source AND w.stream = s.stream
                     WHERE s.holder IS NULL OR s.expires_at IS NULL OR s.expires_at < now()
                     ORDER BY random() LIMIT $4
                     FOR UPDATE OF s SKIP LOCKED)
                 UPDATE {t} s SET holder = $1, epoch = s.epoch + 1, claimed_at = now(),
                     expires_at = now() + make_interval(secs => $5)
                 FROM candidates c WHERE s.source = c.source AND s.stream = c.stream
                 RETURNING s.source, s.stream, s.epoch, c.previous"
            ),
            leases: format!(
                "SELECT source, stream, holder, epoch,
                        CASE WHEN expires_at IS NULL THEN NULL
                             ELSE extract(epoch FROM expires_at - now())::float8 END,
                        cursor
                 FROM {t} ORDER BY source, stream"
            ),
            workers: format!(
                "SELECT id, extract(epoch FROM now() - heartbeat_at)::float8, expires_at > now() FROM {w} ORDER BY id"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_schema_names_are_taken() {
        for ok in ["logcrawl", "_x", "a1_b2"] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in ["", "1a", "Logcrawl", "a-b", "a\"b", "x;drop", &"a".repeat(64)] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i32 + 1);
            assert!(!name.is_empty() && sql.contains("{s}."), "{version}");
        }
    }
}
