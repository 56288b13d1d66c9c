//! The PostgreSQL member of the benchmark: a throwaway PostgreSQL cluster (Debian's binaries,
//! 15 or newer) on a free loopback port, the product configured with `[store] url` and
//! `key_file`, the same two rounds as the filesystem store (every certificate issued, then
//! none due), and the server's own cost measured apart.
//!
//! The cluster is a small copy of the test kit's (`tests/kit/src/postgres.rs`; the benchmark
//! does not depend on the test kit): `initdb` and `pg_ctl` refuse to run as root, so as root
//! they run as the `postgres` system user (`runuser`) on a data directory it owns, otherwise as
//! the current user. Unlike the kit's, the cluster keeps PostgreSQL's default durability
//! (`fsync`, `synchronous_commit` on: what a user runs, and the filesystem store fsyncs too) and
//! loads `pg_stat_statements` to count the statements each certificate costs. TCP on
//! 127.0.0.1 only, without TLS (`sslmode=disable`), password auth. [`Cluster`] stops the
//! server (`pg_ctl -m fast stop`) and removes its directory on drop: on success, on error and
//! on a panic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::measure::ProcStats;
use crate::{
    BenchError, BenchOptions, NoneDueFigures, StoreFigures, StubEndpoints, Tally, config_text,
    renew_round, secs,
};

/// Where Debian's `postgresql` packages put the server binaries, newest first.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The system user the cluster runs as when the benchmark runs as root.
const PG_USER: &str = "postgres";

/// The role and database the product uses.
const ROLE: &str = "wildcert";

/// Statements listed in the figures (the most frequent).
const TOP_STATEMENTS: usize = 8;

/// The PostgreSQL store's figures: the client's (as for the filesystem) and the server's.
#[derive(Debug, Clone, Serialize)]
pub struct PgFigures {
    /// The issuing round, the client process only.
    #[serde(flatten)]
    pub client: StoreFigures,
    /// CPU of the PostgreSQL server processes (postmaster, backends, background workers) over
    /// the issuing round, per certificate, milliseconds.
    pub server_cpu_ms_per_cert: f64,
    /// Statements the server executed per certificate over the issuing round
    /// (`pg_stat_statements`, `BEGIN`/`COMMIT` included).
    pub statements_per_cert: f64,
    /// The most frequent statements of the issuing round, with their calls per certificate.
    pub top_statements: Vec<StatementCount>,
    /// The none-due round over the stored certificates.
    pub none_due: PgNoneDue,
}

/// The none-due round on PostgreSQL.
#[derive(Debug, Clone, Serialize)]
pub struct PgNoneDue {
    /// The client's figures.
    #[serde(flatten)]
    pub client: NoneDueFigures,
    /// The server's CPU over the round, milliseconds.
    pub server_cpu_ms: f64,
    /// Statements the server executed over the round.
    pub statements: u64,
}

/// One statement (normalised by `pg_stat_statements`) and how often it ran.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCount {
    /// Calls per certificate.
    pub per_cert: f64,
    /// The statement, whitespace collapsed, at most 120 characters.
    pub query: String,
}

/// The `postgresql` member: figures, or `{"skipped": why}` when no cluster can start here; an
/// error when one started and the rounds failed.
pub async fn run_postgresql(
    opts: &BenchOptions,
    stubs: &StubEndpoints,
) -> Result<serde_json::Value, BenchError> {
    let cluster = match Cluster::start() {
        Ok(c) => c,
        Err(why) => return Ok(serde_json::json!({ "skipped": why.to_string() })),
    };
    // A ^C ends the rounds here, so the cluster is stopped on the way out (drop).
    let figures = tokio::select! {
        r = measure(&cluster, opts, stubs) => r,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Round("interrupted".into())),
    };
    drop(cluster);
    serde_json::to_value(figures?).map_err(|e| BenchError::Round(format!("JSON: {e}")))
}

/// One line for the human summary of the `postgresql` member.
pub fn render(member: &serde_json::Value) -> String {
    if let Some(why) = member.get("skipped").and_then(|v| v.as_str()) {
        return format!("postgresql store: skipped ({why})");
    }
    let f = |k: &str| member.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let nd = |k: &str| {
        member
            .get("none_due")
            .and_then(|n| n.get(k))
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN)
    };
    format!(
        "postgresql store: {} certificates in {:.2} s wall; CPU {:.3} ms per certificate ({:.2} s user, {:.2} s system); \
         peak memory {:.1} MB; server CPU {:.3} ms and {:.1} statements per certificate; \
         none-due renew {:.3} s wall, {:.0} ms CPU (server {:.0} ms, {} statements)",
        f("certs"),
        f("wall_s"),
        f("cpu_ms_per_cert"),
        f("user_s"),
        f("sys_s"),
        f("peak_rss_mb"),
        f("server_cpu_ms_per_cert"),
        f("statements_per_cert"),
        nd("wall_s"),
        nd("cpu_ms"),
        nd("server_cpu_ms"),
        nd("statements"),
    )
}

/// The two rounds against `cluster`.
async fn measure(
    cluster: &Cluster,
    opts: &BenchOptions,
    stubs: &StubEndpoints,
) -> Result<PgFigures, BenchError> {
    let url = cluster.create_database()?;
    let temp;
    let work = match &opts.keep {
        Some(dir) => {
            let dir = dir.join("postgresql");
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    std::fs::write(work.join("ca.pem"), &stubs.ca_pem)?;
    let config = work.join("wildcert.toml");
    let mut text = config_text(stubs, &work, opts.certs);
    text.push_str(&format!(
        "\n[store]\nurl = {url:?}\nkey_file = {:?}\n",
        work.join("store.key").display().to_string()
    ));
    std::fs::write(&config, text)?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    // The peak memory of this phase alone (the filesystem phase ran in this process first):
    // "5" resets VmHWM to the current resident size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let tally = Tally::default();

    cluster.reset_statements()?;
    let server = cluster.cpu_s();
    let before = ProcStats::now()?;
    let t = Instant::now();
    renew_round(&config, opts.parallel, &tally).await;
    let wall = t.elapsed();
    let after = ProcStats::now()?;
    let server_cpu = cluster.cpu_s() - server;
    let statements = cluster.statements()?;
    let issued = tally.last()?;
    let n = issued.get("issued").copied().unwrap_or(0);
    if n != opts.certs {
        return Err(BenchError::Round(format!(
            "{n} of {} certificates issued on PostgreSQL ({issued:?})",
            opts.certs
        )));
    }
    let (user, sys) = after.cpu_since(&before);
    let per = |v: f64| (v / n.max(1) as f64 * 1000.0).round() / 1000.0; // 3 decimals
    let total: u64 = statements.iter().map(|(_, c)| c).sum();
    let client = StoreFigures {
        certs: n,
        wall_s: secs(wall),
        cpu_ms_per_cert: (user + sys) * 1000.0 / n.max(1) as f64,
        peak_rss_mb: after.peak_rss_kb as f64 / 1024.0,
        user_s: user,
        sys_s: sys,
    };
    let top_statements = statements
        .iter()
        .take(TOP_STATEMENTS)
        .map(|(q, c)| StatementCount {
            per_cert: per(*c as f64),
            query: q.clone(),
        })
        .collect();

    cluster.reset_statements()?;
    let server = cluster.cpu_s();
    let before = ProcStats::now()?;
    let t = Instant::now();
    renew_round(&config, opts.parallel, &tally).await;
    let wall = t.elapsed();
    let after = ProcStats::now()?;
    let none_server = cluster.cpu_s() - server;
    let none_statements: u64 = cluster.statements()?.iter().map(|(_, c)| c).sum();
    let skipped = tally.last()?;
    let s = skipped.get("skipped").copied().unwrap_or(0);
    if s != opts.certs || skipped.len() != 1 {
        return Err(BenchError::Round(format!(
            "the second round on PostgreSQL was not none-due: {skipped:?}"
        )));
    }
    let (nu, ns) = after.cpu_since(&before);
    Ok(PgFigures {
        client,
        server_cpu_ms_per_cert: per(server_cpu * 1000.0),
        statements_per_cert: per(total as f64),
        top_statements,
        none_due: PgNoneDue {
            client: NoneDueFigures {
                wall_s: secs(wall),
                cpu_ms: (nu + ns) * 1000.0,
                certs: s,
            },
            server_cpu_ms: (none_server * 1000.0).round(),
            statements: none_statements,
        },
    })
}

/// Why no cluster could start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoCluster(String);

/// A running throwaway cluster; stopped and removed on drop.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    // Removed after the server stopped (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Runs initdb and starts the server on a free loopback port (at most 3 ports tried; each
    /// start waits at most 30 s).
    pub fn start() -> Result<Cluster, NoCluster> {
        let bin = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|d| {
                ["initdb", "pg_ctl", "postgres", "psql"]
                    .iter()
                    .all(|t| d.join(t).is_file())
            })
            .ok_or_else(|| {
                NoCluster(format!(
                    "PostgreSQL 15 or newer is not installed (none of {BIN_DIRS:?}; apt-get install postgresql)"
                ))
            })?;
        let as_postgres = rustix::process::geteuid().is_root();
        let mut last = String::new();
        for _ in 0..3 {
            match Self::start_once(&bin, as_postgres) {
                Ok(c) => return Ok(c),
                Err(e) if e.0.contains("already in use") => last = e.0,
                Err(e) => return Err(e),
            }
        }
        Err(NoCluster(last))
    }

    fn start_once(bin: &Path, as_postgres: bool) -> Result<Cluster, NoCluster> {
        let io = |what: &str, e: std::io::Error| NoCluster(format!("{what}: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("wildcert-bench-pg")
            .tempdir()
            .map_err(|e| io("temporary directory", e))?;
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| io("chown of the cluster directory", e))?;
        }
        let data = dir.path().join("data");
        let cluster = Cluster {
            bin: bin.to_path_buf(),
            data: data.clone(),
            port: 0,
            as_postgres,
            running: false,
            _dir: dir,
        };
        cluster
            .run("initdb", |c| {
                c.args(["--auth-local=peer", "--auth-host=scram-sha-256"])
                    .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
                    .args(["--username", PG_USER, "-D"])
                    .arg(&data);
            })
            .map_err(|e| NoCluster(format!("initdb: {e}")))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| io("a free loopback port", e))?
            .port();
        let conf = format!(
            "\n# wildcert-bench\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nmax_connections = 50\n\
             shared_preload_libraries = 'pg_stat_statements'\n\
             pg_stat_statements.max = 1000\npg_stat_statements.track_utility = on\n",
            data.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| io("postgresql.conf", e))?;
        let log = cluster._dir.path().join("postgres.log");
        let mut cluster = cluster;
        cluster.port = port;
        // `-w -t 30`: pg_ctl waits, bounded, until the server accepts connections.
        cluster.running = true;
        let started = cluster.run("pg_ctl", |c| {
            c.args(["-w", "-t", "30", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("start");
        });
        if let Err(e) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(NoCluster(format!(
                "pg_ctl start: {e}; log: {}",
                tail.join(" | ")
            )));
        }
        Ok(cluster)
    }

    /// Runs `tool` of the server's binaries (as `postgres` when we are root); its stdout.
    fn run(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Result<String, String> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_USER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.current_dir("/");
        args(&mut cmd);
        let out = cmd.output().map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{tool} exited {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// SQL as the superuser over the socket, in database `db`: unaligned, tuples only.
    fn psql(&self, db: &str, sql: &str) -> Result<String, BenchError> {
        let port = self.port.to_string();
        self.run("psql", |c| {
            c.arg("-h")
                .arg(&self.data)
                .args(["-p", &port, "-U", PG_USER, "-d", db, "-X", "-q", "-A", "-t"])
                .args(["-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        })
        .map_err(|e| BenchError::Round(format!("psql: {e}")))
    }

    /// Creates the product's role (random password) and its database with
    /// `pg_stat_statements`; the `[store] url`.
    fn create_database(&self) -> Result<String, BenchError> {
        let pw: String = {
            let mut b = [0u8; 12];
            std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
            b.iter().map(|b| format!("{b:02x}")).collect()
        };
        self.psql(
            "postgres",
            &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{pw}'"),
        )?;
        self.psql("postgres", &format!("CREATE DATABASE {ROLE} OWNER {ROLE}"))?;
        self.psql(ROLE, "CREATE EXTENSION pg_stat_statements")?;
        Ok(format!(
            "postgresql://{ROLE}:{pw}@127.0.0.1:{}/{ROLE}?sslmode=disable",
            self.port
        ))
    }

    fn reset_statements(&self) -> Result<(), BenchError> {
        self.psql(ROLE, "SELECT pg_stat_statements_reset()")
            .map(drop)
    }

    /// The statements run in the product's database since the last reset, most frequent
    /// first (the benchmark's own `psql` calls left out).
    fn statements(&self) -> Result<Vec<(String, u64)>, BenchError> {
        let out = self.psql(
            ROLE,
            &format!(
                "SELECT calls, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{ROLE}') \
                 AND userid = (SELECT oid FROM pg_roles WHERE rolname = '{ROLE}') \
                 ORDER BY calls DESC"
            ),
        )?;
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        for line in out.lines() {
            let Some((calls, query)) = line.split_once('\t') else {
                continue;
            };
            let query: String = query.trim().chars().take(120).collect();
            *merged.entry(query).or_default() += calls.trim().parse::<u64>().unwrap_or(0);
        }
        let mut v: Vec<(String, u64)> = merged.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(v)
    }

    /// CPU seconds (user + system) of the server so far: the postmaster with the children it
    /// reaped (`cutime`, `cstime`: backends that ended) and its living children.
    fn cpu_s(&self) -> f64 {
        let Some(pid) = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        else {
            return 0.0;
        };
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let mut ticks = proc_ticks(pid, true).map_or(0, |(_, t)| t);
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten().take(1_000_000) {
                let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some((ppid, t)) = proc_ticks(child, false)
                    && ppid == pid
                {
                    ticks += t;
                }
            }
        }
        ticks as f64 / hz
    }
}

/// (parent pid, utime + stime [+ cutime + cstime]) of process `pid`, from `/proc/<pid>/stat`.
fn proc_ticks(pid: u32, with_children: bool) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let ppid = f.get(1)?.parse().ok()?;
    let mut t = num(11)? + num(12)?;
    if with_children {
        t += num(13)? + num(14)?;
    }
    Some((ppid, t))
}

/// The uid and gid of the `postgres` user (from `/etc/passwd`).
fn postgres_ids() -> Result<(u32, u32), NoCluster> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| NoCluster(format!("/etc/passwd: {e}")))?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&PG_USER)).then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .ok_or_else(|| {
            NoCluster(format!(
                "no `{PG_USER}` system user to run the cluster as (we are root; apt-get install postgresql)"
            ))
        })
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let data = self.data.clone();
        if let Err(e) = self.run("pg_ctl", |c| {
            c.args(["-w", "-t", "30", "-m", "fast", "-D"])
                .arg(&data)
                .arg("stop");
        }) {
            eprintln!("stopping the benchmark's PostgreSQL cluster: {e}");
            let _ = self.run("pg_ctl", |c| {
                c.args(["-m", "immediate", "-D"]).arg(&data).arg("stop");
            });
        }
    }
}
