//! `wildcert-bench --stub-ca --certs N [--json]`: wildcert's own cost for N certificates
//! (see the library's documentation and docs/benchmarks.md).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use clap::Parser;
use wildcert_bench::{BenchError, BenchOptions, BenchReport, StubEndpoints, StubUsage};

/// wildcert's own cost for many certificates, against an instant stub CA and an in-memory DNS
/// side.
#[derive(Debug, Parser)]
#[command(name = "wildcert-bench", version)]
struct Args {
    /// Use the in-process stub CA and DNS server (the only mode: a real CA's and DNS host's
    /// latency would be measured instead of wildcert's cost).
    #[arg(long)]
    stub_ca: bool,
    /// Certificates to issue.
    #[arg(long, default_value_t = 10_000)]
    certs: usize,
    /// Orders at once (as `wildcert renew --parallel`).
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Keep the config and the store in this directory (default: a removed temporary one).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Write the client's log here (the filter: `RUST_LOG`, else `wildcert renew`'s default);
    /// default: the log is formatted as usual and dropped.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Only the none-due round, over the store an earlier run left in `--keep DIR` (for
    /// iterating on that round; no stubs are started).
    #[arg(long, requires = "keep")]
    none_due_only: bool,
    /// Leave the PostgreSQL store out (its member says `{"skipped": …}`): for iterating on
    /// the filesystem's figures.
    #[arg(long)]
    no_postgresql: bool,
    /// Internal: serve the stubs on loopback until stdin closes.
    #[arg(long, hide = true)]
    serve_stub: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.serve_stub {
        return match runtime.block_on(wildcert_bench::serve_stub()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if !args.stub_ca {
        eprintln!(
            "error: give --stub-ca (the only mode: the benchmark measures wildcert against an instant stub CA and DNS server)"
        );
        return ExitCode::from(2);
    }
    if args.certs == 0 {
        eprintln!("error: --certs must be at least 1");
        return ExitCode::from(2);
    }
    match run(&args, &runtime) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, runtime: &tokio::runtime::Runtime) -> Result<(), BenchError> {
    // The client logs as `wildcert renew` does by default (info for ours, warn for the rest),
    // into a sink: formatting is the client's cost, a terminal's speed is not.
    const DEFAULT_FILTER: &str = "warn,wildcert=info,wildcert_acme=info,wildcert_dns=info,wildcert_manager=info,wildcert_rfc2136=info";
    let fmt = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false);
    match &args.log {
        Some(path) => {
            let file = std::fs::File::create(path)?;
            let filter = std::env::var("RUST_LOG")
                .ok()
                .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
                .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
            fmt.with_env_filter(filter)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => fmt
            .with_env_filter(tracing_subscriber::EnvFilter::new(DEFAULT_FILTER))
            .with_writer(std::io::sink)
            .init(),
    }

    if args.none_due_only {
        let opts = BenchOptions {
            certs: args.certs,
            parallel: args.parallel.max(1),
            keep: args.keep.clone(),
        };
        let dir = args.keep.clone().unwrap_or_default();
        let figures = runtime.block_on(wildcert_bench::run_none_due_only(&opts, &dir))?;
        let mut out = std::io::stdout().lock();
        if args.json {
            let doc = serde_json::to_string_pretty(&serde_json::json!({ "none_due": figures }))
                .map_err(|e| BenchError::Stub(format!("JSON: {e}")))?;
            writeln!(out, "{doc}")?;
        } else {
            writeln!(
                out,
                "none-due renew over {} certificates: {:.3} s wall, {:.0} ms CPU",
                figures.certs, figures.wall_s, figures.cpu_ms
            )?;
        }
        return Ok(());
    }

    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .arg("--serve-stub")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Stub("no stdout from the stub process".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .transpose()?
        .ok_or_else(|| BenchError::Stub("the stub process ended before it listened".into()))?;
    let stubs: StubEndpoints = serde_json::from_str(&first)
        .map_err(|e| BenchError::Stub(format!("the stub process said {first:?}: {e}")))?;

    let opts = BenchOptions {
        certs: args.certs,
        parallel: args.parallel.max(1),
        keep: args.keep.clone(),
    };
    let result = runtime.block_on(wildcert_bench::run_filesystem(&opts, &stubs));
    // The PostgreSQL store after the filesystem's (skipped when its figures failed).
    let postgresql = match &result {
        Ok(_) if args.no_postgresql => Ok(serde_json::json!({ "skipped": "--no-postgresql" })),
        Ok(_) => runtime.block_on(wildcert_bench::pg::run_postgresql(&opts, &stubs)),
        Err(_) => Ok(serde_json::json!({ "skipped": "the filesystem round failed" })),
    };

    // Stop the stubs (closing their stdin), read their usage, reap them.
    drop(child.stdin.take());
    let usage: StubUsage = lines
        .next()
        .transpose()?
        .and_then(|l| serde_json::from_str(&l).ok())
        .unwrap_or_default();
    let _ = child.wait();
    let (filesystem, none_due) = result?;
    let postgresql = postgresql?;
    let report = BenchReport {
        filesystem,
        postgresql,
        none_due,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::to_string_pretty(&report)
            .map_err(|e| BenchError::Stub(format!("JSON: {e}")))?;
        writeln!(out, "{doc}")?;
    } else {
        write!(out, "{}", wildcert_bench::render(&report, &usage))?;
    }
    Ok(())
}
