//! The store against a real PostgreSQL server (a throw-away cluster per test): migrations, the commit
//! fence, fair shares among workers, operators' writes, and the gate closing when the database is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use logcrawl_core::{CheckpointError, CheckpointStore, StreamKey};
use logcrawl_state_postgres::{PgSettings, PgStore};
use logcrawl_testkit::pg::PgServer;
use serde_json::json;

fn settings(server: &PgServer, lease_ms: u64) -> PgSettings {
    PgSettings {
        lease: Duration::from_millis(lease_ms),
        renew: Duration::from_millis(lease_ms / 3),
        pool_size: 4,
        ..PgSettings::new(server.url())
    }
}

fn keys(n: usize) -> Vec<StreamKey> {
    (0..n).map(|i| StreamKey::new("src", format!("stream {i:02}"))).collect()
}

/// Polls `done` for up to 30 s.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "not reached in 30 s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Holder → streams held, from the database.
fn holders(store: &PgStore) -> BTreeMap<String, BTreeSet<StreamKey>> {
    let mut out: BTreeMap<String, BTreeSet<StreamKey>> = BTreeMap::new();
    for row in store.leases().unwrap() {
        if let (Some(holder), Some(left)) = (row.holder, row.expires_in)
            && left > 0.0
        {
            out.entry(holder).or_default().insert(row.key);
        }
    }
    out
}

#[test]
fn the_schema_is_migrated_once_and_a_second_start_changes_nothing() {
    let server = PgServer::start();
    let first = PgStore::open_admin(settings(&server, 3000)).unwrap();
    assert_eq!(first.schema_version().unwrap(), 1);
    let key = StreamKey::new("okta", "system log");
    first.commit(&key, &json!({"next": "a"})).unwrap();
    let second = PgStore::open_worker(settings(&server, 3000)).unwrap();
    assert_eq!(second.schema_version().unwrap(), 1);
    assert_eq!(second.load(&key).unwrap(), Some(json!({"next": "a"})));
    assert_eq!(second.list().unwrap(), vec![(key.clone(), json!({"next": "a"}))]);
    assert!(second.describe().starts_with("PostgreSQL 127.0.0.1:"), "{}", second.describe());
    second.check_writable().unwrap();
    assert!(first.delete(&key).unwrap());
    assert!(!first.delete(&key).unwrap(), "a second delete finds nothing");
    assert_eq!(second.load(&key).unwrap(), None);
}

#[test]
fn a_worker_whose_lease_expired_and_was_taken_over_is_fenced() {
    let server = PgServer::start();
    let key = StreamKey::new("src", "the stream");
    let zombie = PgStore::open_worker(settings(&server, 900)).unwrap();
    zombie.set_wanted(vec![key.clone()]);
    zombie.lease_round().unwrap();
    let gate = zombie.gate();
    assert!(gate.may_send(&key), "held after the first round");
    zombie.commit(&key, &json!({"after": "1"})).unwrap();

    // The zombie renews no more (as if frozen): its gate closes before the database lets anyone in.
    wait_for("the zombie's gate closes", || !gate.may_send(&key));
    let next = PgStore::open_worker(settings(&server, 900)).unwrap();
    next.set_wanted(vec![key.clone()]);
    wait_for("the lease expires and is taken over", || {
        next.lease_round().unwrap();
        next.gate().may_send(&key)
    });
    let err = zombie.commit(&key, &json!({"after": "2"})).unwrap_err();
    assert!(matches!(err, CheckpointError::LeaseLost { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("src/the stream") && text.contains(next.worker_id().unwrap()), "{text}");
    // The fence held: the zombie's cursor was not stored, the new holder's is.
    assert_eq!(next.load(&key).unwrap(), Some(json!({"after": "1"})));
    next.commit(&key, &json!({"after": "3"})).unwrap();
    assert_eq!(zombie.load(&key).unwrap(), Some(json!({"after": "3"})));
    // Once lost, the zombie does not commit again, even without asking the database.
    let again = zombie.commit(&key, &json!({"after": "4"})).unwrap_err();
    assert!(again.to_string().contains("does not hold it"), "{again}");
    // Its next round finds the stream gone and does not take it back while the new holder renews.
    next.lease_round().unwrap();
    zombie.lease_round().unwrap();
    assert!(!zombie.gate().may_send(&key));
    let rows = next.leases().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].holder.as_deref(), next.worker_id());
    assert_eq!(rows[0].epoch, 2, "claimed twice");
}

#[test]
fn workers_share_the_streams_fairly_and_a_departing_one_hands_its_share_over() {
    let server = PgServer::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let all = keys(30);
    let workers: Vec<PgStore> = (0..3).map(|_| PgStore::open_worker(settings(&server, 1500)).unwrap()).collect();
    for worker in &workers {
        worker.start_leases(all.clone());
    }
    let admin = PgStore::open_admin(settings(&server, 1500)).unwrap();
    wait_for("three shares of ten", || {
        let held = holders(&admin);
        held.len() == 3 && held.values().all(|streams| streams.len() == 10)
    });
    let held = holders(&admin);
    let union: BTreeSet<&StreamKey> = held.values().flatten().collect();
    assert_eq!(union.len(), 30, "every stream held once");
    for worker in &workers {
        let mine = &held[worker.worker_id().unwrap()];
        assert!(
            all.iter().all(|key| worker.gate().may_send(key) == mine.contains(key)),
            "the gate is the database's view"
        );
    }

    let leaving = &workers[0];
    let share = held[leaving.worker_id().unwrap()].clone();
    rt.block_on(leaving.shutdown());
    // Released at once, not left to expire: the others take it within a few renewals.
    let released = admin.leases().unwrap().into_iter().filter(|row| share.contains(&row.key));
    assert!(released.into_iter().all(|row| row.holder.is_none() || row.holder.as_deref() != leaving.worker_id()));
    wait_for("two shares of fifteen", || {
        let held = holders(&admin);
        held.len() == 2 && held.values().all(|streams| streams.len() == 15)
    });
    let workers_seen = admin.workers().unwrap();
    assert_eq!(workers_seen.len(), 2, "the departed worker's row is gone: {workers_seen:?}");
}

#[test]
fn an_operator_write_refuses_a_stream_a_live_worker_holds() {
    let server = PgServer::start();
    let key = StreamKey::new("src", "held");
    let worker = PgStore::open_worker(settings(&server, 3000)).unwrap();
    worker.set_wanted(vec![key.clone()]);
    worker.lease_round().unwrap();
    worker.commit(&key, &json!(1)).unwrap();
    let admin = PgStore::open_admin(settings(&server, 3000)).unwrap();
    for err in [admin.commit(&key, &json!(2)).unwrap_err(), admin.delete(&key).unwrap_err()] {
        assert!(matches!(err, CheckpointError::Leased { .. }), "{err}");
        assert!(err.to_string().contains(worker.worker_id().unwrap()), "{err}");
    }
    assert_eq!(admin.load(&key).unwrap(), Some(json!(1)));
    let other = StreamKey::new("src", "free");
    admin.commit(&other, &json!({"after": "9"})).unwrap();
    assert_eq!(worker.load(&other).unwrap(), Some(json!({"after": "9"})));
    // A worker commits only what it holds.
    let err = worker.commit(&other, &json!(3)).unwrap_err();
    assert!(matches!(err, CheckpointError::LeaseLost { .. }), "{err}");
}

#[test]
fn without_the_database_the_gate_closes_at_the_lease_and_opens_again_after() {
    let server = PgServer::start();
    let key = StreamKey::new("src", "s");
    let worker = PgStore::open_worker(settings(&server, 1200)).unwrap();
    worker.start_leases(vec![key.clone()]);
    let gate = worker.gate();
    wait_for("the stream is claimed", || gate.may_send(&key));
    server.stop();
    let stopped = Instant::now();
    wait_for("the gate closes", || !gate.may_send(&key));
    assert!(stopped.elapsed() < Duration::from_millis(1200), "closed within the lease: {:?}", stopped.elapsed());
    let err = worker.commit(&key, &json!(1)).unwrap_err();
    assert!(matches!(err, CheckpointError::Backend { .. }), "{err}");
    assert!(err.to_string().contains("PostgreSQL 127.0.0.1:"), "{err}");
    server.start_again();
    wait_for("the gate opens again", || gate.may_send(&key));
    worker.commit(&key, &json!(2)).unwrap();
    assert_eq!(worker.load(&key).unwrap(), Some(json!(2)));
}
