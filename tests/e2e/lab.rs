//! A lab: BIND topology + Pebble + a state dir, and a way to run the binary with a bound.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildcert_testkit::{BindOptions, BindResolver, BindTopology, Pebble, PebbleOptions};

/// Bound on one run of the binary.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Servers for one test, torn down on drop.
pub struct Lab {
    pub bind: BindTopology,
    pub pebble: Pebble,
    /// Kept alive for the lab's lifetime (Pebble asks it).
    pub _resolver: Option<BindResolver>,
    pub state: tempfile::TempDir,
}

/// What one run printed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Lab {
    /// `None` when the servers are missing outside CI (the test then returns early).
    pub fn start(opts: BindOptions, via_resolver: bool) -> Option<Lab> {
        if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble() {
            return None;
        }
        let bind = BindTopology::start(opts).expect("BIND topology starts");
        let (resolver, dns) = if via_resolver {
            let r = bind
                .start_resolver_with(wildcert_testkit::ResolverOptions { lagging_only: true })
                .expect("resolver starts");
            let addr = r.addr();
            (Some(r), addr)
        } else {
            (None, bind.lagging_secondary_addr())
        };
        let pebble = Pebble::start(PebbleOptions {
            dns_server: Some(dns),
            ..Default::default()
        })
        .expect("pebble starts");
        let state = tempfile::tempdir().expect("state dir");
        Some(Lab {
            bind,
            pebble,
            _resolver: resolver,
            state,
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Live directory of a certificate.
    pub fn live(&self, name: &str) -> PathBuf {
        self.state_dir().join("certs").join(name).join("live")
    }

    /// Run `wildcert` with the lab's CA, resolver and RFC 2136 settings, plus `args`.
    pub fn wildcert(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.wildcert_at(&self.pebble.directory_url(), args, env)
    }

    /// [`Lab::wildcert`] with another directory URL (e.g. a test server in front of Pebble).
    pub fn wildcert_at(&self, server: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_bounded(self.command_at(server, args, env), RUN_LIMIT)
    }

    /// The command [`Lab::wildcert_at`] runs, for tests that drive the process themselves.
    pub fn command_at(&self, server: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--server")
            .arg(server)
            .arg("--ca-bundle")
            .arg(self.pebble.ca_cert_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--agree-tos")
            .arg("--email")
            .arg("e2e@example.test")
            .arg("--resolver")
            .arg(self.bind.prompt_secondary_addr().to_string())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RFC2136_NAMESERVER", self.bind.primary_addr().to_string())
            .env("RFC2136_TSIG_FILE", self.bind.tsig_key_file_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// TXT values at `name` on the primary.
    pub fn primary_txt(&self, name: &str) -> Vec<String> {
        self.bind
            .txt_values(self.bind.primary_addr(), name)
            .expect("dig answers")
    }
}

/// The binary under test: this build's, or `WILDCERT_E2E_BIN` (to show that a test fails on
/// another build, e.g. main's).
pub fn bin() -> std::ffi::OsString {
    std::env::var_os("WILDCERT_E2E_BIN")
        .unwrap_or_else(|| std::ffi::OsString::from(env!("CARGO_BIN_EXE_wildcert")))
}

/// Run a command, killing it after `limit`. Output is drained while it runs, so a chatty
/// process (trace logging) never blocks on a full pipe.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("wildcert starts");
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("wait failed: {e}"),
        }
    };
    Run {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// DNS SAN names of a PEM certificate, via the JSON output (kept simple: parse `--json`).
pub fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", run.all()))
}
