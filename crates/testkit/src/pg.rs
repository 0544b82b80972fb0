//! A throw-away PostgreSQL server for tests: `initdb` in a temporary directory, started on a free
//! loopback port, stopped (and its files removed) on drop.
//!
//! The binaries are looked up on `PATH`, then in `/usr/lib/postgresql/*/bin` (Debian's `postgresql`
//! package; the newest version wins). Without them [`PgServer::start`] panics with what to install: a
//! test that needs a database fails, it never passes by skipping. `initdb` refuses to run as root, so as
//! root the server runs as `nobody` (through `runuser`), in a directory owned by that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The unprivileged user the server runs as when the tests run as root.
const SERVER_USER: &str = "nobody";

/// A running PostgreSQL server (see the module documentation).
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl PgServer {
    /// Initialises and starts a server, with `trust` authentication for the `postgres` user on
    /// 127.0.0.1 only, `fsync` off (its data need not survive a power loss).
    ///
    /// # Panics
    /// When the PostgreSQL binaries are not installed, or the server does not start: the message says
    /// why and where its log is.
    pub fn start() -> Self {
        let bin = find_binaries().unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor in \
                 /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql; .ci/run does)"
            )
        });
        let as_root = run_output(Command::new("id").arg("-u")).is_ok_and(|out| out.trim() == "0");
        let dir = std::env::temp_dir().join(format!("logcrawl-pg-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        if as_root {
            run(Command::new("chown").arg(format!("{SERVER_USER}:")).arg(&dir));
        }
        let port = free_port();
        let server = Self { dir, bin, port, as_root };
        let mut initdb = server.pg("initdb");
        initdb.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"]).arg(server.data());
        run(&mut initdb);
        server.start_again();
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: connections are closed), keeping its data.
    pub fn stop(&self) {
        let mut stop = self.pg("pg_ctl");
        stop.args(["stop", "-m", "fast", "-w", "-D"]).arg(self.data());
        run(&mut stop);
    }

    /// Starts the server again on the same port, after [`PgServer::stop`]; waits until it answers.
    pub fn start_again(&self) {
        let mut start = self.pg("pg_ctl");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        start.args(["start", "-w", "-t", "60", "-l"]).arg(self.dir.join("server.log")).arg("-o").arg(options);
        start.arg("-D").arg(self.data());
        if let Err(err) = run_output(&mut start) {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!("PostgreSQL did not start: {err}\nserver log:\n{log}");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL does not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command for the PostgreSQL binary `name`, as the server's user.
    fn pg(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = self.pg("pg_ctl");
        stop.args(["stop", "-m", "immediate", "-w", "-D"]).arg(self.data());
        let _stopped = stop.output();
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| complete(dir));
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|dir| complete(dir))
            .collect();
        versions
            .sort_by_key(|dir| dir.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0));
        versions.pop()
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound").port()
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos());
    nanos.unwrap_or(0) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

fn run_output(command: &mut Command) -> Result<String, String> {
    let Output { status, stdout, stderr } = command.output().map_err(|err| format!("{command:?}: {err}"))?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    } else {
        Err(format!("{command:?} exited with {status}: {}", String::from_utf8_lossy(&stderr)))
    }
}

fn run(command: &mut Command) {
    if let Err(err) = run_output(command) {
        panic!("{err}");
    }
}
