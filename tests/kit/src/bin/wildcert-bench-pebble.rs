//! `wildcert-bench-pebble`: the benchmark of issue 6, against a local Pebble (`PEBBLE_VA_NOSLEEP`) and
//! BIND 9 started by the test kit. Runs the release `wildcert` binary found next to this one.
//!
//! ```text
//! cargo build --release -p wildcert -p wildcert-testkit --bin wildcert --bin wildcert-bench-pebble
//! sudo target/release/wildcert-bench-pebble [--runs 10] [--certs 100] [--parallel 16] [--stored 10000]
//! ```
//! Prints, for N = 1 and N = certs: wall time, p50/p95 per-certificate latency, certificates per
//! second, peak RSS, HTTP requests per certificate, DNS messages; then the renew check over
//! `stored` certificates of which none is due. Timing lives here, never in unit tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildcert_testkit::{BindOptions, BindTopology, Pebble, PebbleOptions};

struct Args {
    runs: usize,
    certs: usize,
    parallel: usize,
    stored: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        runs: 10,
        certs: 100,
        parallel: 16,
        stored: 10_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let n: usize = v
            .parse()
            .map_err(|_| format!("{k}: `{v}` is not a number"))?;
        match k.as_str() {
            "--runs" => a.runs = n.max(1),
            "--certs" => a.certs = n.max(1),
            "--parallel" => a.parallel = n.max(1),
            "--stored" => a.stored = n,
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    Ok(a)
}

/// CPU time (user + sys) of this process's reaped children, from `/proc/self/stat`
/// (`cutime` + `cstime`): the difference around one run is that run's CPU time.
fn children_cpu() -> Duration {
    let ticks_per_s: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 16 (cutime) and 17 (cstime) of proc(5); index 0 here is field 3.
    let ticks: f64 = [13, 14]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks / ticks_per_s)
}

/// One run of the binary: wall time, CPU time, peak RSS (VmHWM sampled from /proc), stdout.
struct Measured {
    wall: Duration,
    /// User + sys CPU time of the run.
    cpu: Duration,
    peak_rss_kib: u64,
    stdout: String,
    stderr: String,
    ok: bool,
}

fn measure(mut cmd: Command, limit: Duration) -> Result<Measured, String> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // Drain output on threads so a full pipe never blocks the child.
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut err = child.stderr.take().ok_or("no stderr")?;
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_path).ok().and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        }) {
            peak = peak.max(kib);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(st) => break st,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                return Err(format!("killed after {limit:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let wall = start.elapsed();
    Ok(Measured {
        wall,
        cpu: children_cpu().saturating_sub(cpu_before),
        peak_rss_kib: peak,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        ok: status.success(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Lab {
    bind: BindTopology,
    pebble: Pebble,
    wildcert: PathBuf,
    state: tempfile::TempDir,
}

impl Lab {
    fn cmd(&self, state: &Path) -> Command {
        let mut c = Command::new(&self.wildcert);
        c.arg("--server")
            .arg(self.pebble.directory_url())
            .arg("--ca-bundle")
            .arg(self.pebble.ca_cert_path())
            .arg("--state-dir")
            .arg(state)
            .arg("--agree-tos")
            .arg("--resolver")
            .arg(self.bind.prompt_secondary_addr().to_string())
            .arg("-q")
            .env("RFC2136_NAMESERVER", self.bind.primary_addr().to_string())
            .env("RFC2136_TSIG_FILE", self.bind.tsig_key_file_path());
        c
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wildcert-bench-pebble: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("wildcert-bench-pebble: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let wildcert = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(|d| d.join("wildcert"))
        .filter(|p| p.exists())
        .ok_or(
            "build the wildcert binary next to this one first (cargo build --release -p wildcert)",
        )?;
    let zones = vec!["bench-a.test".to_string(), "bench-b.test".to_string()];
    let bind = BindTopology::start(BindOptions {
        zones: zones.clone(),
        lagging_secondary: false,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.prompt_secondary_addr()),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let lab = Lab {
        bind,
        pebble,
        wildcert,
        state: tempfile::tempdir().map_err(|e| e.to_string())?,
    };
    println!(
        "machine: {} cores; wildcert {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        lab.wildcert.display()
    );

    // Warm-up: registers the account (not part of the figures).
    let state = lab.state.path().join("single");
    let mut c = lab.cmd(&state);
    c.args([
        "--json",
        "issue",
        "-d",
        "warmup.bench-a.test",
        "--dns",
        "rfc2136",
    ]);
    let m = measure(c, Duration::from_secs(120))?;
    if !m.ok {
        return Err(format!("warm-up failed:\n{}\n{}", m.stdout, m.stderr));
    }

    // N = 1: one wildcard + apex certificate per run, `runs` times.
    let mut walls = Vec::new();
    let mut cpu = Duration::ZERO;
    let mut rss = 0;
    let mut requests = 0u64;
    let mut queries = 0u64;
    for i in 0..args.runs {
        let mut c = lab.cmd(&state);
        c.args([
            "--json",
            "issue",
            "-d",
            "*.bench-a.test",
            "-d",
            "bench-a.test",
            "--dns",
            "rfc2136",
            "--cert-name",
            &format!("single-{i}"),
        ]);
        let m = measure(c, Duration::from_secs(120))?;
        if !m.ok {
            return Err(format!(
                "single issuance failed:\n{}\n{}",
                m.stdout, m.stderr
            ));
        }
        let v: serde_json::Value =
            serde_json::from_str(m.stdout.trim()).map_err(|e| e.to_string())?;
        requests = v["certificate"]["acme_requests"].as_u64().unwrap_or(0);
        queries = v["certificate"]["dns_queries"].as_u64().unwrap_or(0);
        walls.push(m.wall.as_secs_f64());
        cpu += m.cpu;
        rss = rss.max(m.peak_rss_kib);
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "\nN = 1 (wildcard + apex, `wildcert issue`, {} runs)",
        args.runs
    );
    println!(
        "  wall           median {:.3} s   p95 {:.3} s   min {:.3} s",
        percentile(&walls, 0.5),
        percentile(&walls, 0.95),
        walls[0]
    );
    println!("  peak RSS       {:.1} MB", rss as f64 / 1024.0);
    println!(
        "  CPU            {:.1} ms per certificate (user + sys of the client, over {} runs)",
        cpu.as_secs_f64() * 1000.0 / args.runs.max(1) as f64,
        args.runs
    );
    println!(
        "  HTTP requests  {requests} per certificate (directory, nonce, order, 2 authz, 2 challenges, polls, finalize, download)"
    );
    println!("  DNS messages   2 UPDATE (publish + cleanup) + {queries} propagation queries");

    // N = certs: one `renew` over a config of `certs` wildcard + apex certificates in 2 zones.
    let mut config = String::from("[providers.bench]\nkind = \"rfc2136\"\n\n");
    for i in 0..args.certs {
        let zone = &zones[i % zones.len()];
        config.push_str(&format!(
            "[[certificate]]\nname = \"c{i}\"\ndomains = [\"*.c{i}.{zone}\", \"c{i}.{zone}\"]\nprovider = \"bench\"\n\n"
        ));
    }
    let config_path = lab.state.path().join("bench.toml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let mut c = lab.cmd(&state);
    c.arg("--config").arg(&config_path).args([
        "--json",
        "renew",
        "--parallel",
        &args.parallel.to_string(),
    ]);
    let m = measure(c, Duration::from_secs(600))?;
    let v: serde_json::Value = serde_json::from_str(m.stdout.trim())
        .map_err(|e| format!("{e}: {}\n{}", m.stdout, m.stderr))?;
    let certs = v["certificates"].as_array().cloned().unwrap_or_default();
    let mut lat: Vec<f64> = certs
        .iter()
        .filter_map(|c| c["certificate"]["timings_ms"]["total"].as_f64())
        .map(|ms| ms / 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    let issued = lat.len();
    let max_requests = certs
        .iter()
        .filter_map(|c| c["certificate"]["acme_requests"].as_u64())
        .max()
        .unwrap_or(0);
    let dns_q = certs
        .iter()
        .filter_map(|c| c["certificate"]["dns_queries"].as_u64())
        .max()
        .unwrap_or(0);
    let zones_used = zones.len();
    println!(
        "\nN = {} (each wildcard + apex, {} zones, one `wildcert renew --parallel {}`)",
        args.certs, zones_used, args.parallel
    );
    println!(
        "  issued         {issued} of {} ({})",
        args.certs, v["summary"]
    );
    println!(
        "  wall           {:.3} s   ({:.1} certificates/s)",
        m.wall.as_secs_f64(),
        issued as f64 / m.wall.as_secs_f64()
    );
    println!(
        "  latency        p50 {:.3} s   p95 {:.3} s   (per certificate, from the run's start)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.95)
    );
    println!("  peak RSS       {:.1} MB", m.peak_rss_kib as f64 / 1024.0);
    println!(
        "  CPU            {:.1} ms per certificate (user + sys of the client: {:.2} s over {issued})",
        m.cpu.as_secs_f64() * 1000.0 / issued.max(1) as f64,
        m.cpu.as_secs_f64()
    );
    println!(
        "  HTTP requests  {:.1} per certificate ({} in all)",
        max_requests as f64 / args.certs as f64,
        max_requests
    );
    println!(
        "  DNS messages   {} UPDATE ({} zones × publish + cleanup) + {} propagation queries",
        zones_used * 2,
        zones_used,
        dns_q
    );
    if !m.ok {
        println!(
            "  (some certificates failed: {})",
            m.stderr.lines().take(5).collect::<Vec<_>>().join(" | ")
        );
    }

    // `renew` over `stored` certificates, none due, no network: the CA URL is a closed port.
    if args.stored > 0 {
        let store = lab.state.path().join("stored");
        let now = time::OffsetDateTime::now_utc();
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let mut config = String::from("[providers.bench]\nkind = \"rfc2136\"\n\n");
        for i in 0..args.stored {
            let name = format!("s{i}");
            let dir = store.join("certs").join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let meta = serde_json::json!({
                "names": [format!("s{i}.bench-a.test")],
                "key_type": "ec256",
                "provider": "bench",
                "version": 1,
                "not_before": fmt(now - time::Duration::days(1)),
                "not_after": fmt(now + time::Duration::days(89)),
            });
            std::fs::write(dir.join("meta.json"), meta.to_string()).map_err(|e| e.to_string())?;
            config.push_str(&format!("[[certificate]]\nname = \"{name}\"\ndomains = [\"s{i}.bench-a.test\"]\nprovider = \"bench\"\n\n"));
        }
        let config_path = lab.state.path().join("stored.toml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let mut walls = Vec::new();
        let mut rss = 0;
        for _ in 0..5 {
            let mut c = Command::new(&lab.wildcert);
            c.arg("--server")
                .arg("https://127.0.0.1:9/dir")
                .arg("--state-dir")
                .arg(&store)
                .arg("--config")
                .arg(&config_path)
                .args(["-q", "--json", "renew"])
                .env("RFC2136_NAMESERVER", "127.0.0.1:9")
                .env("RFC2136_TSIG_FILE", lab.bind.tsig_key_file_path());
            let m = measure(c, Duration::from_secs(60))?;
            let v: serde_json::Value =
                serde_json::from_str(m.stdout.trim()).map_err(|e| format!("{e}: {}", m.stderr))?;
            if v["summary"]["skipped"].as_u64() != Some(args.stored as u64) || !m.ok {
                return Err(format!(
                    "stored check did not skip everything: {}",
                    v["summary"]
                ));
            }
            walls.push(m.wall.as_secs_f64());
            rss = rss.max(m.peak_rss_kib);
        }
        walls.sort_by(f64::total_cmp);
        println!(
            "\nrenew over {} stored certificates, none due (CA and DNS unreachable: proves no network)",
            args.stored
        );
        println!(
            "  wall           median {:.3} s   max {:.3} s   peak RSS {:.1} MB",
            percentile(&walls, 0.5),
            walls[walls.len() - 1],
            rss as f64 / 1024.0
        );
    }
    Ok(())
}
