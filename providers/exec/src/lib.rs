//! The exec provider: any DNS host, through a program of the user's.
//!
//! For every (name, value) of a zone's set, wildcert runs
//! `PROGRAM publish FQDN VALUE` (and `PROGRAM unpublish FQDN VALUE` at cleanup), one run at a
//! time, with `FQDN` fully qualified with its trailing dot (`_acme-challenge.example.com.`),
//! exactly as lego's exec provider passes it. lego's words are `present`/`cleanup`; the
//! setting `mode = "lego"` passes those instead, so lego scripts work unchanged.
//!
//! The program inherits wildcert's environment, gets no stdin, and must exit 0 once the
//! record is added (or removed). Its output is captured (bounded) and logged; a run longer
//! than `timeout` is killed together with its process group. The program must *add* a value
//! next to any other at the same name (a wildcard and its apex share one name) and remove
//! only the given value.

pub mod settings;

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};

pub use settings::{
    DEFAULT_TIMEOUT, ExecConfig, ExecSettings, KIND, Mode, PROVIDER, TimeoutSetting,
};

/// Bytes of each output stream we keep (the end of it; the rest is read and dropped).
const OUTPUT_LIMIT: usize = 16 * 1024;
/// How long we wait for the output pipes to close after the program exited (a background
/// child may hold them open).
const PIPE_GRACE: Duration = Duration::from_secs(2);
/// Longest output excerpt in a log line or error.
const EXCERPT_LIMIT: usize = 2000;

/// The exec provider.
#[derive(Debug, Clone)]
pub struct ExecProvider {
    config: ExecConfig,
}

/// What one run produced.
#[derive(Debug)]
struct RunOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl ExecProvider {
    /// Build from settings (checks that the program exists and is executable).
    pub fn new(settings: &ExecSettings) -> Result<Self, ProviderError> {
        Ok(Self::from_config(settings.validate()?))
    }

    /// Build from a validated configuration.
    pub fn from_config(config: ExecConfig) -> Self {
        ExecProvider { config }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    fn program_name(&self) -> String {
        self.config.program.display().to_string()
    }

    /// Run the program once for one value.
    async fn run_one(&self, add: bool, fqdn: &DnsName, value: &str) -> Result<(), ProviderError> {
        let verb = self.config.mode.verb(add);
        let program = self.program_name();
        let fq = fqdn.to_fqdn();
        tracing::debug!(%program, verb, fqdn = %fq, value, "exec: running");
        let out = run_program(
            &self.config.program,
            &[verb, &fq, value],
            self.config.timeout,
            &self.config.pass_env,
        )
            .await
            .map_err(|e| match e {
                RunError::Spawn(err) => {
                    let message = format!("cannot run `{program}`: {err}");
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                    ) {
                        ProviderError::Config {
                            provider: KIND,
                            message,
                        }
                    } else {
                        ProviderError::Other {
                            provider: KIND,
                            message,
                        }
                    }
                }
                RunError::Timeout { stdout, stderr } => {
                    log_output(true, &program, verb, &stdout, &stderr);
                    ProviderError::Other {
                        provider: KIND,
                        message: format!(
                            "`{program} {verb} {fq} …` did not finish within {} and was killed{}; make it faster \
                             or raise `timeout` (EXEC_TIMEOUT)",
                            humantime::format_duration(self.config.timeout),
                            last_line(&stderr)
                                .map(|l| format!(" (last stderr line: {l})"))
                                .unwrap_or_default()
                        ),
                    }
                }
                RunError::Wait(err) => ProviderError::Other {
                    provider: KIND,
                    message: format!("waiting for `{program}` failed: {err}"),
                },
            })?;
        if out.status.success() {
            log_output(false, &program, verb, &out.stdout, &out.stderr);
            return Ok(());
        }
        log_output(true, &program, verb, &out.stdout, &out.stderr);
        let how = match out.status.code() {
            Some(c) => format!("exited with code {c}"),
            None => signal_text(&out.status),
        };
        let detail = last_line(&out.stderr)
            .or_else(|| last_line(&out.stdout))
            .map(|l| format!(": {l}"))
            .unwrap_or_else(|| " (no output)".into());
        Err(ProviderError::Rejected {
            provider: KIND,
            message: format!("`{program} {verb} {fq} {value}` {how}{detail}"),
        })
    }
}

#[async_trait]
impl DnsProvider for ExecProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        for (name, _) in set.pairs() {
            check_inside(zone, name)?;
        }
        let mut done: Vec<(&DnsName, &str)> = Vec::new();
        for (name, value) in set.pairs() {
            if let Err(e) = self.run_one(true, name, value).await {
                // The pipeline only cleans up zones that published: undo this zone's part here.
                for (n, v) in done {
                    if let Err(u) = self.run_one(false, n, v).await {
                        tracing::warn!(zone = %zone, "exec: could not remove {n} again: {u}");
                    }
                }
                return Err(e);
            }
            done.push((name, value));
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        // Try every value, so one failure does not leave the others behind.
        let mut first = None;
        let mut failed = 0;
        for (name, value) in set.pairs() {
            let res = match check_inside(zone, name) {
                Ok(()) => self.run_one(false, name, value).await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                failed += 1;
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(e) if failed == 1 => Err(e),
            Some(e) => {
                tracing::info!(zone = %zone, failed, "exec: {failed} removals failed");
                Err(e)
            }
        }
    }
}

fn check_inside(zone: &Zone, name: &DnsName) -> Result<(), ProviderError> {
    if name.is_within(&zone.name) {
        Ok(())
    } else {
        Err(ProviderError::Other {
            provider: KIND,
            message: format!("{name} is not inside zone {}", zone.name),
        })
    }
}

enum RunError {
    Spawn(std::io::Error),
    Wait(std::io::Error),
    Timeout { stdout: String, stderr: String },
}

/// Run `program args…` with no stdin, output captured (bounded), killed after `timeout`.
async fn run_program(
    program: &Path,
    args: &[&str],
    timeout: Duration,
    pass_env: &[String],
) -> Result<RunOutput, RunError> {
    let mut cmd = tokio::process::Command::new(program);
    // A clean environment: the program never sees another provider's credentials.
    cmd.args(args)
        .env_clear()
        .envs(wildcert_provider::settings::child_env(
            std::env::vars(),
            pass_env,
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so a timeout kills the script's children too.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let pid = child.id();
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_tail(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_tail(s)));
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let status = match waited {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => {
            kill_group(pid).await;
            let _ = child.kill().await;
            return Err(RunError::Wait(e));
        }
        Err(_) => {
            kill_group(pid).await;
            let _ = child.kill().await;
            None
        }
    };
    let stdout = collect(stdout).await;
    let stderr = collect(stderr).await;
    match status {
        Some(status) => Ok(RunOutput {
            status,
            stdout,
            stderr,
        }),
        None => Err(RunError::Timeout { stdout, stderr }),
    }
}

/// SIGKILL the process group `pid` leads (no libc here: `kill -KILL -- -PGID`).
async fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        let run = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status();
        match tokio::time::timeout(Duration::from_secs(2), run).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(pid, "exec: cannot kill the process group: {e}"),
            Err(_) => tracing::debug!(pid, "exec: `kill` of the process group timed out"),
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

async fn collect(task: Option<tokio::task::JoinHandle<String>>) -> String {
    let Some(mut task) = task else {
        return String::new();
    };
    match tokio::time::timeout(PIPE_GRACE, &mut task).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => String::new(),
        Err(_) => {
            // A background process still holds the pipe: stop reading.
            task.abort();
            String::from("(output still open after the program exited; not read)")
        }
    }
}

/// Read a stream to its end, keeping only its last `OUTPUT_LIMIT` bytes.
async fn read_tail(mut r: impl AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * OUTPUT_LIMIT {
                    let cut = kept.len() - OUTPUT_LIMIT;
                    kept.drain(..cut);
                    dropped = true;
                }
            }
        }
    }
    if kept.len() > OUTPUT_LIMIT {
        let cut = kept.len() - OUTPUT_LIMIT;
        kept.drain(..cut);
        dropped = true;
    }
    let text = String::from_utf8_lossy(&kept).into_owned();
    if dropped { format!("…{text}") } else { text }
}

fn excerpt(s: &str) -> String {
    let t = s.trim();
    if t.chars().count() <= EXCERPT_LIMIT {
        return t.to_string();
    }
    let skip = t.chars().count() - EXCERPT_LIMIT;
    format!("…{}", t.chars().skip(skip).collect::<String>())
}

fn last_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| excerpt(l).chars().take(300).collect())
}

fn log_output(failed: bool, program: &str, verb: &str, stdout: &str, stderr: &str) {
    let (out, err) = (excerpt(stdout), excerpt(stderr));
    if failed {
        tracing::info!(%program, verb, stdout = %out, stderr = %err, "exec: program failed");
    } else if !out.is_empty() || !err.is_empty() {
        tracing::debug!(%program, verb, stdout = %out, stderr = %err, "exec: program output");
    }
}

#[cfg(unix)]
fn signal_text(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(s) => format!("was killed by signal {s}"),
        None => format!("failed ({status})"),
    }
}

#[cfg(not(unix))]
fn signal_text(status: &ExitStatus) -> String {
    format!("failed ({status})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_and_excerpts() {
        assert_eq!(last_line("a\nb\n\n  \n").as_deref(), Some("b"));
        assert_eq!(last_line("\n \n"), None);
        let long = "x".repeat(5000);
        assert!(excerpt(&long).starts_with('…'));
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_LIMIT + 1);
    }

    #[tokio::test]
    async fn tail_is_bounded() {
        let data = vec![b'y'; 100_000];
        let s = read_tail(&data[..]).await;
        assert!(s.starts_with('…'));
        assert_eq!(s.len(), OUTPUT_LIMIT + '…'.len_utf8());
    }
}
