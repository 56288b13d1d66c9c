//! A throwaway PostgreSQL cluster (Debian's `postgresql`, 15 or newer) on a free loopback port.
//!
//! `initdb` and `pg_ctl` refuse to run as root, so they run as the `postgres` system user
//! (`runuser`) on a data directory inside a temp dir owned by that user. TCP listens on
//! 127.0.0.1 only (password auth, scram-sha-256), TLS is on with a certificate for `localhost`
//! and `127.0.0.1` from a throwaway CA ([`Postgres::ca_cert_pem`]), the socket sits in the data
//! directory (peer auth, used by the kit's own `psql` as `postgres`), and `fsync` is off. The
//! cluster is stopped (`pg_ctl -m fast stop`) and its directory removed on drop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::util::{KitError, Result, free_tcp_port, log_tail, retry_port_clash, run, temp_dir};

/// Where Debian's `postgresql` packages install the server binaries, newest first.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The system user the cluster runs as.
const PG_USER: &str = "postgres";

/// The directory of `initdb`, `pg_ctl`, `psql` and `pg_dump` (PostgreSQL 15 or newer), if installed.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    BIN_DIRS.iter().map(PathBuf::from).find(|d| {
        ["initdb", "pg_ctl", "postgres", "psql", "pg_dump"]
            .iter()
            .all(|t| d.join(t).is_file())
    })
}

/// True when PostgreSQL's binaries, the `postgres` user and `runuser` are here and we are root;
/// otherwise prints a skip message and returns false, or panics when `CI=true`.
pub fn require_postgres() -> bool {
    let problem = if postgres_bin_dir().is_none() {
        Some(format!(
            "PostgreSQL 15+ is not installed (no {BIN_DIRS:?}; apt-get install postgresql)"
        ))
    } else if crate::find_tool("runuser").is_none() {
        Some("`runuser` is not installed".to_owned())
    } else if !crate::is_root() {
        Some("the PostgreSQL cluster needs root (to run initdb as `postgres`)".to_owned())
    } else {
        None
    };
    let Some(what) = problem else { return true };
    if crate::is_ci() {
        panic!("{what}, and CI=true: this test may not be skipped");
    }
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
    false
}

/// A running throwaway cluster; stopped and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    ca_pem: String,
    running: bool,
    dir: TempDir,
}

impl Postgres {
    /// Runs initdb, starts the server and waits (at most 30 s) until it accepts connections.
    pub fn start() -> Result<Postgres> {
        retry_port_clash(Self::start_once)
    }

    fn start_once() -> Result<Postgres> {
        let bin = postgres_bin_dir().ok_or_else(|| {
            KitError::new("PostgreSQL 15+ is not installed (apt-get install postgresql)")
        })?;
        let dir = temp_dir("postgres")?;
        let (uid, gid) = pg_ids()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        let data = dir.path().join("data");
        run(as_pg(&bin.join("initdb"))
            .args([
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
            ])
            .args(["--locale=C", "--no-sync", "--username", PG_USER, "-D"])
            .arg(&data))
        .map_err(|e| KitError(format!("initdb: {e}")))?;

        let (ca_pem, cert_pem, key_pem) = crate::pebble::make_tls()?;
        for (name, text, mode) in [
            ("server.crt", &cert_pem, 0o644),
            ("server.key", &key_pem, 0o600),
        ] {
            let path = data.join(name);
            std::fs::write(&path, text)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
        let port = free_tcp_port()?;
        let conf = format!(
            "\n# wildcert testkit\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nssl = on\nssl_cert_file = 'server.crt'\n\
             ssl_key_file = 'server.key'\nmax_connections = 50\n",
            data.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        drop(f);

        let log = dir.path().join("postgres.log");
        std::fs::File::create(&log)?;
        std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
        // `-w -t 30`: pg_ctl itself waits, bounded, until the server accepts connections.
        let started = run(as_pg(&bin.join("pg_ctl"))
            .args(["-w", "-t", "30", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("start"));
        if let Err(e) = started {
            // pg_ctl may have timed out on a server that is still coming up: stop it.
            let _ = run(as_pg(&bin.join("pg_ctl"))
                .args(["-m", "immediate", "-D"])
                .arg(&data)
                .arg("stop"));
            let tail = log_tail(&log, 40);
            // Tell retry_port_clash to try another port.
            let clash = if tail.contains("Address already in use") {
                " address already in use"
            } else {
                ""
            };
            return Err(KitError(format!(
                "pg_ctl start failed{clash}: {e}; log:\n{tail}"
            )));
        }
        Ok(Postgres {
            bin,
            data,
            port,
            ca_pem,
            running: true,
            dir,
        })
    }

    /// The TCP port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM of the CA that signed the server's TLS certificate (`localhost`, `127.0.0.1`).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The directory of the server binaries (`pg_dump`, `psql`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Runs SQL (one or more statements) in database `db` as the superuser over the socket;
    /// returns the unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        run(as_pg(&self.bin.join("psql"))
            .arg("-h")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-d",
                db,
                "-X",
                "-q",
                "-A",
                "-t",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql]))
    }

    /// Creates a login role with a random password and a database it owns; returns its URL
    /// (`postgresql://ROLE:PASSWORD@127.0.0.1:PORT/DB?sslmode=disable`).
    pub fn create_owner(&self, role: &str, db: &str) -> Result<String> {
        let pw = random_password()?;
        self.psql(
            "postgres",
            &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{pw}'"),
        )?;
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""),
        )?;
        Ok(self.url(role, &pw, db))
    }

    /// Creates a login role that may only read what `owner` creates in `db` (now and later,
    /// through `ALTER DEFAULT PRIVILEGES … GRANT SELECT ON TABLES`); returns its URL.
    pub fn create_reader(&self, role: &str, db: &str, owner: &str) -> Result<String> {
        let pw = random_password()?;
        self.psql(
            "postgres",
            &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{pw}'"),
        )?;
        self.psql(
            db,
            &format!(
                "GRANT CONNECT ON DATABASE \"{db}\" TO \"{role}\";\
                 GRANT USAGE ON SCHEMA public TO \"{role}\";\
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\";\
                 ALTER DEFAULT PRIVILEGES FOR ROLE \"{owner}\" IN SCHEMA public \
                 GRANT SELECT ON TABLES TO \"{role}\";"
            ),
        )?;
        Ok(self.url(role, &pw, db))
    }

    /// The URL of `role` with password `pw` on database `db` (no TLS).
    pub fn url(&self, role: &str, pw: &str, db: &str) -> String {
        format!(
            "postgresql://{role}:{pw}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// A plain-text `pg_dump` of `db` (Debian's, as the superuser), without the `\restrict`
    /// line that changes on every run.
    pub fn pg_dump(&self, db: &str) -> Result<String> {
        let out = run(as_pg(&self.bin.join("pg_dump"))
            .arg("-h")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), db]))?;
        Ok(out
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    /// Stops the server now (`pg_ctl -m fast stop`); idempotent. Clients see the connection end.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        run(as_pg(&self.bin.join("pg_ctl"))
            .args(["-w", "-t", "30", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop"))
        .map(|_| ())
    }

    /// Starts the stopped server again on the same data directory and port (a database that
    /// went away and came back); waits (at most 30 s) until it accepts connections. A no-op
    /// while it runs.
    pub fn start_again(&mut self) -> Result<()> {
        if self.running {
            return Ok(());
        }
        run(as_pg(&self.bin.join("pg_ctl"))
            .args(["-w", "-t", "30", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path())
            .arg("start"))
        .map_err(|e| {
            KitError(format!(
                "pg_ctl start (again) failed: {e}; log:\n{}",
                log_tail(&self.log_path(), 40)
            ))
        })?;
        self.running = true;
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- postgres log, last 40 lines ----\n{}\n----",
                log_tail(&self.log_path(), 40)
            );
        }
        if let Err(e) = self.stop() {
            eprintln!("stopping the throwaway PostgreSQL cluster: {e}");
        }
    }
}

/// A command that runs `program` as the `postgres` user.
fn as_pg(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", PG_USER, "--"])
        .arg(program)
        .current_dir("/");
    cmd
}

/// The uid and gid of the `postgres` user.
fn pg_ids() -> Result<(u32, u32)> {
    let out = run(Command::new("id").args(["-u", PG_USER]))?;
    let gid = run(Command::new("id").args(["-g", PG_USER]))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| KitError(format!("no `{PG_USER}` system user (install postgresql)")))
    };
    Ok((parse(&out)?, parse(&gid)?))
}

/// 24 random hex characters (safe inside SQL quotes and URLs).
fn random_password() -> Result<String> {
    Ok(crate::util::random_bytes::<12>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
