//! `wildcert-bench`: what wildcert itself costs for many certificates.
//!
//! The client runs its real lifecycle, the one `wildcert renew` runs (the manager's
//! [`Session::renew_command`], settings loaded and checked as the CLI does, `parallel` 8 as the
//! CLI's default), against stubs that cost it nothing to wait for: the [`stub_ca`] (an instant
//! ACME server that signs real certificates) and the [`stub_dns`] (an authoritative server in
//! memory that takes RFC 2136 updates). The stubs run in a child process (this binary with
//! `--serve-stub`), so the figures are the client's alone: wall time, CPU (user + system of
//! the client process and the children it waited for, from `/proc/self/stat`) and peak memory
//! (`VmHWM`).
//!
//! Phases: the first round issues every certificate into a filesystem store in a temporary
//! directory; a second round over the same store finds none due (`none_due`). Then the same
//! two rounds on the PostgreSQL store ([`pg`]: a throwaway cluster, `[store] url`), when one
//! can start here; otherwise its member says why it is absent.

pub mod measure;
pub mod pg;
pub mod stub_ca;
pub mod stub_dns;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use wildcert_manager::renew::{Outcome, RenewOptions, RenewRound};
use wildcert_manager::session::{RenewCommand, RenewListener, Session, Stopped};
use wildcert_manager::{Loaded, Overrides};

use crate::measure::ProcStats;

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or socket operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The stub CA or DNS server could not be set up.
    #[error("stub: {0}")]
    Stub(String),
    /// A round did not do what the benchmark needs (every certificate issued, then none due).
    #[error("{0}")]
    Round(String),
}

/// Where the stubs listen (the child's first line on stdout).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StubEndpoints {
    /// The ACME directory URL.
    pub directory: String,
    /// The DNS server (UDP and TCP).
    pub dns: String,
    /// The stub issuer (PEM): the client's `ca_bundle`.
    pub ca_pem: String,
}

/// What the stubs report when they stop (the child's second line).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct StubUsage {
    /// HTTP requests the stub CA served.
    pub acme_requests: u64,
    /// CPU seconds (user + system) the stub process used.
    pub cpu_s: f64,
}

/// The figures of one store backend.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFigures {
    /// Certificates issued and stored.
    pub certs: usize,
    /// Wall time of the issuing round, seconds.
    pub wall_s: f64,
    /// CPU (user + system) per certificate, milliseconds.
    pub cpu_ms_per_cert: f64,
    /// Peak resident memory of the client process, MB (`VmHWM`).
    pub peak_rss_mb: f64,
    /// User CPU of the round, seconds.
    pub user_s: f64,
    /// System CPU of the round, seconds.
    pub sys_s: f64,
}

/// The none-due round's figures.
#[derive(Debug, Clone, Serialize)]
pub struct NoneDueFigures {
    /// Wall time of the round (settings loaded and checked, store read, every certificate
    /// decided), seconds.
    pub wall_s: f64,
    /// CPU of the round, milliseconds.
    pub cpu_ms: f64,
    /// Certificates the round looked at (all skipped).
    pub certs: usize,
}

/// The `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The filesystem store.
    pub filesystem: StoreFigures,
    /// The PostgreSQL store: figures, or `{"skipped": why}`.
    pub postgresql: serde_json::Value,
    /// A `renew` over the stored certificates, none due.
    pub none_due: NoneDueFigures,
}

/// How the benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Certificates to issue.
    pub certs: usize,
    /// Orders at once (the CLI's `renew --parallel`, default 8).
    pub parallel: usize,
    /// Keep the work directory (config, store) here instead of a removed temporary one.
    pub keep: Option<PathBuf>,
}

/// The certificate names of a run of `n` (one name each, in [`stub_dns::ZONE`]).
pub fn cert_domain(i: usize) -> String {
    format!("c{i:05}.{}", stub_dns::ZONE)
}

/// The config file of a run: the stubs, the rfc2136 provider, `n` certificates.
pub fn config_text(stubs: &StubEndpoints, work: &Path, n: usize) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "state_dir = {:?}",
        work.join("state").display().to_string()
    );
    let _ = writeln!(t, "\n[acme]\nserver = {:?}", stubs.directory);
    let _ = writeln!(
        t,
        "ca_bundle = {:?}\nagree_tos = true",
        work.join("ca.pem").display().to_string()
    );
    let _ = writeln!(
        t,
        "\n[dns]\nresolvers = [{:?}]\nauthoritative = [{:?}]\npropagation_timeout = \"120s\"",
        stubs.dns, stubs.dns
    );
    let _ = writeln!(
        t,
        "\n[providers.bench]\nkind = \"rfc2136\"\nnameserver = {:?}\ninsecure_unsigned = true",
        stubs.dns
    );
    for i in 0..n {
        let _ = writeln!(
            t,
            "\n[[certificate]]\ndomains = [{:?}]\nprovider = \"bench\"",
            cert_domain(i)
        );
    }
    t
}

/// Counts what each round did.
#[derive(Default)]
pub(crate) struct Tally {
    rounds: Mutex<Vec<Result<BTreeMap<&'static str, usize>, String>>>,
    failures: Mutex<Vec<String>>,
}

impl RenewListener for Tally {
    fn dry_run(&self, _directory: &str, _staging: bool) {}

    fn round(&self, result: &Result<RenewRound, Stopped>) {
        let r = match result {
            Ok(round) => {
                let mut counts = BTreeMap::new();
                for o in &round.outcomes {
                    *counts.entry(o.outcome.as_str()).or_insert(0) += 1;
                    if o.outcome == Outcome::Failed
                        && let Ok(mut f) = self.failures.lock()
                        && f.len() < 5
                    {
                        f.push(format!("{}: {}", o.name, o.detail));
                    }
                }
                Ok(counts)
            }
            Err(Stopped::Failed(e)) => Err(e.to_string()),
            Err(Stopped::Interrupted { .. }) => Err("interrupted".into()),
        };
        if let Ok(mut rounds) = self.rounds.lock() {
            rounds.push(r);
        }
    }
}

impl Tally {
    /// The last round's counts, or why it failed (with the first failures).
    pub(crate) fn last(&self) -> Result<BTreeMap<&'static str, usize>, BenchError> {
        let last = self.rounds.lock().ok().and_then(|mut r| r.pop());
        let failures = self
            .failures
            .lock()
            .map(|f| f.join("; "))
            .unwrap_or_default();
        match last {
            Some(Ok(c)) if c.get("failed").copied().unwrap_or(0) == 0 => Ok(c),
            Some(Ok(c)) => Err(BenchError::Round(format!(
                "{} certificate(s) failed: {failures}",
                c.get("failed").copied().unwrap_or(0)
            ))),
            Some(Err(e)) => Err(BenchError::Round(format!("the round failed: {e}"))),
            None => Err(BenchError::Round("no round ran".into())),
        }
    }
}

/// Run one `renew` round as the CLI does (settings loaded and checked, then the session).
pub(crate) async fn renew_round(config: &Path, parallel: usize, tally: &Tally) {
    let load = || {
        let loaded = Loaded::load(Some(config), BTreeMap::new(), &Overrides::default())?;
        match wildcert_manager::validate::check(&loaded).into_error() {
            Some(e) => Err(e),
            None => Ok(loaded),
        }
    };
    let cmd = RenewCommand {
        options: RenewOptions {
            parallel,
            ..RenewOptions::default()
        },
        dry_run: false,
        until_next: false,
    };
    let _ = Session::renew_command(load, &cmd, tally).await;
}

/// Issue `opts.certs` certificates into a filesystem store, then run a none-due round.
pub async fn run_filesystem(
    opts: &BenchOptions,
    stubs: &StubEndpoints,
) -> Result<(StoreFigures, NoneDueFigures), BenchError> {
    let temp;
    let work = match &opts.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    std::fs::write(work.join("ca.pem"), &stubs.ca_pem)?;
    let config = work.join("wildcert.toml");
    std::fs::write(&config, config_text(stubs, &work, opts.certs))?;
    let tally = Tally::default();

    let before = ProcStats::now()?;
    let t = Instant::now();
    renew_round(&config, opts.parallel, &tally).await;
    let wall = t.elapsed();
    let after = ProcStats::now()?;
    let issued = tally.last()?;
    let n = issued.get("issued").copied().unwrap_or(0);
    if n != opts.certs {
        return Err(BenchError::Round(format!(
            "{n} of {} certificates issued ({issued:?})",
            opts.certs
        )));
    }
    let (user, sys) = after.cpu_since(&before);
    let fs = StoreFigures {
        certs: n,
        wall_s: secs(wall),
        cpu_ms_per_cert: (user + sys) * 1000.0 / n.max(1) as f64,
        peak_rss_mb: after.peak_rss_kb as f64 / 1024.0,
        user_s: user,
        sys_s: sys,
    };

    let none_due = run_none_due(&config, opts, &tally).await?;
    Ok((fs, none_due))
}

/// The none-due round alone, over the store a kept work directory (`--keep DIR` of an earlier
/// run) holds: `DIR/wildcert.toml`, every certificate stored. Nothing is asked of the stubs in
/// a none-due round, so none run.
pub async fn run_none_due_only(
    opts: &BenchOptions,
    work: &Path,
) -> Result<NoneDueFigures, BenchError> {
    let config = work.join("wildcert.toml");
    if !config.is_file() {
        return Err(BenchError::Round(format!(
            "{} is missing: run once with --keep {} first",
            config.display(),
            work.display()
        )));
    }
    run_none_due(&config, opts, &Tally::default()).await
}

async fn run_none_due(
    config: &Path,
    opts: &BenchOptions,
    tally: &Tally,
) -> Result<NoneDueFigures, BenchError> {
    let before = ProcStats::now()?;
    let t = Instant::now();
    renew_round(config, opts.parallel, tally).await;
    let wall = t.elapsed();
    let after = ProcStats::now()?;
    let skipped = tally.last()?;
    let s = skipped.get("skipped").copied().unwrap_or(0);
    if s != opts.certs || skipped.len() != 1 {
        return Err(BenchError::Round(format!(
            "the second round was not none-due: {skipped:?}"
        )));
    }
    let (user, sys) = after.cpu_since(&before);
    Ok(NoneDueFigures {
        wall_s: secs(wall),
        cpu_ms: (user + sys) * 1000.0,
        certs: s,
    })
}

pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Serve the stubs until stdin closes (the child side of the benchmark): print the
/// [`StubEndpoints`] as one JSON line, then, on EOF, the [`StubUsage`] line.
pub async fn serve_stub() -> Result<(), BenchError> {
    let identity = stub_ca::StubIdentity::generate()?;
    let ca_pem = identity.ca_pem.clone();
    let (ca, _) = stub_ca::StubCa::start(identity).await?;
    let (_dns, dns_addr) = stub_dns::StubDns::start().await?;
    let endpoints = StubEndpoints {
        directory: ca.directory_url(),
        dns: dns_addr.to_string(),
        ca_pem,
    };
    println!("{}", serde_json::to_string(&endpoints).unwrap_or_default());
    // Until the parent closes our stdin (or goes away).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    let usage = StubUsage {
        acme_requests: ca.requests.load(std::sync::atomic::Ordering::Relaxed),
        cpu_s: ProcStats::now()
            .map(|s| s.cpu_since(&ProcStats::default()))
            .map(|(u, s)| u + s)
            .unwrap_or(0.0),
    };
    println!("{}", serde_json::to_string(&usage).unwrap_or_default());
    Ok(())
}

/// The human summary.
pub fn render(report: &BenchReport, stub: &StubUsage) -> String {
    let f = &report.filesystem;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "filesystem store: {} certificates in {:.2} s wall; CPU {:.3} ms per certificate ({:.2} s user, {:.2} s system); peak memory {:.1} MB",
        f.certs, f.wall_s, f.cpu_ms_per_cert, f.user_s, f.sys_s, f.peak_rss_mb
    );
    let pg = pg::render(&report.postgresql);
    let _ = writeln!(s, "{pg}");
    let _ = writeln!(
        s,
        "none-due renew over {} certificates: {:.3} s wall, {:.0} ms CPU",
        report.none_due.certs, report.none_due.wall_s, report.none_due.cpu_ms
    );
    let _ = writeln!(
        s,
        "(stub CA and DNS, in their own process: {} ACME requests, {:.2} s CPU, not counted above)",
        stub.acme_requests, stub.cpu_s
    );
    s
}
