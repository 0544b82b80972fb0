//! Several real `logcrawl run` workers on one real PostgreSQL (a throw-away cluster) and one live ACME
//! simulator: streams spread exactly once, a killed worker's streams taken over, a frozen worker fenced,
//! and a database outage waited out. Every source has its own NDJSON file sink in each worker's
//! directory, so what was delivered is counted per stream at the sinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logcrawl_core::StreamKey;
use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use logcrawl_state_postgres::{PgSettings, PgStore};
use logcrawl_testkit::pg::PgServer;

const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(1);
const INTERVAL: Duration = Duration::from_secs(1);
const BATCH: usize = 20;

struct Cluster {
    server: PgServer,
    sim: AcmeSim,
    _rt: tokio::runtime::Runtime,
    root: tempfile::TempDir,
    sources: usize,
    workers: Vec<Option<Child>>,
    admin: PgStore,
}

impl Cluster {
    fn start(workers: usize, sources: usize) -> Self {
        let server = PgServer::start();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sim = rt.block_on(AcmeSim::start(AcmeSimConfig { events: 200, live_rate: 20, ..AcmeSimConfig::default() }));
        let sim = sim.unwrap();
        let root = tempfile::tempdir().unwrap();
        let admin = PgStore::open_admin(PgSettings::new(server.url())).unwrap();
        let mut cluster = Self { server, sim, _rt: rt, root, sources, workers: Vec::new(), admin };
        for worker in 0..workers {
            cluster.write_config(worker);
            let child = cluster.spawn(worker);
            cluster.workers.push(Some(child));
        }
        cluster
    }

    fn dir(&self, worker: usize) -> PathBuf {
        self.root.path().join(format!("w{worker}"))
    }

    fn write_config(&self, worker: usize) {
        let dir = self.dir(worker);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!(
            "state_dir = \"state\"\n\n[state]\ntype = \"postgres\"\nurl = \"${{PG_URL}}\"\nlease = \"{}s\"\nrenew = \"{}s\"\npool_size = 4\n",
            LEASE.as_secs(),
            RENEW.as_secs()
        );
        for s in 0..self.sources {
            text.push_str(&format!("\n[sinks.s{s:02}]\ntype = \"file\"\npath = \"s{s:02}.ndjson\"\n"));
        }
        for s in 0..self.sources {
            text.push_str(&format!(
                "\n[[sources]]\nname = \"acme-{s:02}\"\nconnector = \"acme\"\nsink = \"s{s:02}\"\ninterval = \"{}s\"\n\
                 base_url = \"{}\"\napi_key = \"none\"\npage_size = {BATCH}\nbatch_max_records = {BATCH}\n",
                INTERVAL.as_secs(),
                self.sim.base_url()
            ));
        }
        std::fs::write(dir.join("logcrawl.toml"), text).unwrap();
    }

    fn spawn(&self, worker: usize) -> Child {
        let dir = self.dir(worker);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("log")).unwrap();
        Command::new(env!("CARGO_BIN_EXE_logcrawl"))
            .args(["--log-format", "json", "run", "-c", "logcrawl.toml"])
            .current_dir(&dir)
            .env("PG_URL", self.server.url())
            .env("LOGCRAWL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("logcrawl starts")
    }

    fn pid(&self, worker: usize) -> String {
        self.workers[worker].as_ref().expect("running").id().to_string()
    }

    fn signal(&self, worker: usize, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid(worker)]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// SIGTERM and wait: in-flight batches are delivered and committed, leases released.
    fn stop(&mut self, worker: usize) {
        self.signal(worker, "-TERM");
        let mut child = self.workers[worker].take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "worker {worker} exited with {status}: {}", self.log(worker));
                return;
            }
            assert!(Instant::now() < deadline, "worker {worker} did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self, worker: usize) {
        self.signal(worker, "-KILL");
        let _status = self.workers[worker].take().unwrap().wait();
    }

    fn stop_all(&mut self) {
        for worker in 0..self.workers.len() {
            if self.workers[worker].is_some() {
                self.stop(worker);
            }
        }
    }

    fn log(&self, worker: usize) -> String {
        std::fs::read_to_string(self.dir(worker).join("log")).unwrap_or_default()
    }

    /// The ids `worker` delivered for source `s`, in order.
    fn ids(&self, worker: usize, s: usize) -> Vec<u64> {
        let text = std::fs::read_to_string(self.dir(worker).join(format!("s{s:02}.ndjson"))).unwrap_or_default();
        text.lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                value["id"].as_str().unwrap().parse().unwrap()
            })
            .collect()
    }

    fn key(s: usize) -> StreamKey {
        StreamKey::new(format!("acme-{s:02}"), "ACME log stream")
    }

    /// Worker id → streams it holds (live leases), from the database.
    fn holders(&self) -> BTreeMap<String, BTreeSet<StreamKey>> {
        let mut out: BTreeMap<String, BTreeSet<StreamKey>> = BTreeMap::new();
        for row in self.admin.leases().unwrap() {
            if let (Some(holder), Some(left)) = (row.holder, row.expires_in)
                && left > 0.0
            {
                out.entry(holder).or_default().insert(row.key);
            }
        }
        out
    }

    /// Waits until `n` workers hold an even share each.
    fn wait_balanced(&self, n: usize) -> BTreeMap<String, BTreeSet<StreamKey>> {
        let share = self.sources.div_ceil(n);
        wait_for(&format!("{n} workers holding {share} streams each"), || {
            let held = self.holders();
            held.len() == n && held.values().all(|streams| streams.len() == share)
        });
        self.holders()
    }

    /// The id of `worker` (`host-pid-random`) among the holders.
    fn id_of(&self, worker: usize, held: &BTreeMap<String, BTreeSet<StreamKey>>) -> String {
        let pid = self.pid(worker);
        let id = held.keys().find(|id| id.split('-').rev().nth(1) == Some(pid.as_str()));
        id.unwrap_or_else(|| panic!("worker {worker} (pid {pid}) holds nothing: {held:?}")).clone()
    }

    /// For every source: nothing lost (the ids delivered by all workers together are 1..=max, with max past
    /// the initial backlog), and how many ids were delivered more than once.
    fn check_nothing_lost(&self) -> usize {
        let mut duplicates = 0;
        for s in 0..self.sources {
            let mut all: Vec<u64> = (0..self.workers.len()).flat_map(|w| self.ids(w, s)).collect();
            all.sort_unstable();
            let total = all.len();
            all.dedup();
            duplicates += total - all.len();
            let max = *all.last().unwrap_or(&0);
            assert!(max >= 200, "source {s} got only to {max}");
            assert_eq!(all.len() as u64, max, "source {s}: ids lost between 1 and {max}");
        }
        duplicates
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().flatten() {
            let _killed = child.kill();
            let _reaped = child.wait();
        }
    }
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "not reached in 60 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lines(cluster: &Cluster, worker: usize) -> Vec<usize> {
    (0..cluster.sources).map(|s| cluster.ids(worker, s).len()).collect()
}

#[test]
fn three_workers_share_thirty_streams_and_deliver_every_event_once() {
    let mut cluster = Cluster::start(3, 30);
    let held = cluster.wait_balanced(3);
    let union: BTreeSet<&StreamKey> = held.values().flatten().collect();
    assert_eq!(union.len(), 30);
    std::thread::sleep(Duration::from_secs(4));
    cluster.stop_all();
    assert_eq!(cluster.check_nothing_lost(), 0, "an event was delivered twice");
    for worker in 0..3 {
        let delivered: usize = lines(&cluster, worker).iter().sum();
        assert!(delivered > 0, "worker {worker} delivered nothing");
    }
    assert!(cluster.holders().is_empty(), "every lease released at shutdown");
}

#[test]
fn a_killed_workers_streams_are_taken_over_within_a_lease_and_nothing_is_lost() {
    let mut cluster = Cluster::start(3, 30);
    let held = cluster.wait_balanced(3);
    let share = held[&cluster.id_of(0, &held)].clone();
    assert_eq!(share.len(), 10, "{held:?}");
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<Vec<usize>> = (1..3).map(|w| lines(&cluster, w)).collect();
    cluster.kill(0);
    let killed = Instant::now();
    let shares: Vec<usize> = (0..30).filter(|s| share.contains(&Cluster::key(*s))).collect();
    // Resumed: each stream of the killed worker delivered again by a survivor.
    wait_for("the killed worker's streams resume elsewhere", || {
        shares.iter().all(|&s| (1..3).any(|w| cluster.ids(w, s).len() > before[w - 1][s]))
    });
    let takeover = killed.elapsed();
    eprintln!("takeover of {} streams after kill -9: {takeover:?}", shares.len());
    let bound = LEASE + RENEW + INTERVAL + Duration::from_secs(5);
    assert!(takeover < bound, "took {takeover:?}, more than a lease plus an interval (with slack: {bound:?})");
    cluster.wait_balanced(2);
    std::thread::sleep(Duration::from_secs(2));
    cluster.stop_all();
    let duplicates = cluster.check_nothing_lost();
    assert!(
        duplicates <= shares.len() * BATCH,
        "{duplicates} duplicates: more than the killed worker's in-flight batches"
    );
}

#[test]
fn a_frozen_worker_is_fenced_and_sends_nothing_stale_after_it_resumes() {
    let mut cluster = Cluster::start(2, 10);
    let held = cluster.wait_balanced(2);
    let share = held[&cluster.id_of(0, &held)].clone();
    let other_id = cluster.id_of(1, &held);
    std::thread::sleep(Duration::from_secs(2));
    cluster.signal(0, "-STOP");
    wait_for("the other worker takes every stream over", || {
        cluster.holders().get(&other_id).is_some_and(|s| s.len() == 10)
    });
    let frozen = lines(&cluster, 0);
    cluster.signal(0, "-CONT");
    // Let it run into the fence, lose its streams and win some back by rebalancing.
    cluster.wait_balanced(2);
    std::thread::sleep(Duration::from_secs(3));
    cluster.stop_all();
    let log = cluster.log(0);
    assert!(log.contains("lease lost") || log.contains("lease is lost"), "the zombie logs its lost leases:\n{log}");
    for (s, &seen) in frozen.iter().enumerate() {
        let after_resume: BTreeSet<u64> = cluster.ids(0, s).into_iter().skip(seen).collect();
        let others: BTreeSet<u64> = cluster.ids(1, s).into_iter().collect();
        let stale: Vec<&u64> = after_resume.intersection(&others).collect();
        assert!(
            stale.is_empty(),
            "source {s}: the resumed zombie re-sent {} events the new holder had sent",
            stale.len()
        );
    }
    let duplicates = cluster.check_nothing_lost();
    assert!(
        duplicates <= share.len() * BATCH,
        "{duplicates} duplicates: more than the frozen worker's in-flight batches"
    );
}

#[test]
fn workers_pause_while_the_database_is_down_and_resume_without_loss() {
    let mut cluster = Cluster::start(2, 10);
    cluster.wait_balanced(2);
    std::thread::sleep(Duration::from_secs(2));
    cluster.server.stop();
    std::thread::sleep(LEASE + RENEW);
    let paused: Vec<Vec<usize>> = (0..2).map(|w| lines(&cluster, w)).collect();
    std::thread::sleep(Duration::from_secs(20) - LEASE - RENEW);
    let still: Vec<Vec<usize>> = (0..2).map(|w| lines(&cluster, w)).collect();
    assert_eq!(paused, still, "a worker sent batches while it could not renew its leases");
    cluster.server.start_again();
    wait_for("every stream delivers again", || (0..10).all(|s| (0..2).any(|w| cluster.ids(w, s).len() > still[w][s])));
    std::thread::sleep(Duration::from_secs(2));
    cluster.stop_all();
    let duplicates = cluster.check_nothing_lost();
    assert!(duplicates <= 10 * BATCH, "{duplicates} duplicates: more than the batches in flight at the outage");
}
