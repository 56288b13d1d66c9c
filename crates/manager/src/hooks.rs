//! Hooks: commands run through `sh -c`, their output logged, each bounded in time.
//!
//! - the deploy hook runs after a certificate is stored (reload nginx, copy to a load
//!   balancer, …), with the certificate's facts in its environment (ours and certbot's
//!   `RENEWED_LINEAGE` / `RENEWED_DOMAINS`); a failure is reported (exit code
//!   [`crate::error::ExitCode::Hook`]) but never undoes the stored certificate;
//! - `renew`'s pre and post hooks run once per run, around the certificates that are due
//!   (certbot's semantics: neither runs when nothing is due);
//! - every hook starts from a clean environment: `PATH`, `HOME`, `LANG`, `LC_*` and the like,
//!   the documented variables, and what `[hooks] pass_env` names — never a credential.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tracing::{debug, info, warn};

use crate::model::Issued;

/// Variables of wildcert's environment passed to hooks on purpose (`[hooks] pass_env`), set
/// once per command by the session.
static PASS_ENV: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Set the variables hooks get besides the allowed basics (`[hooks] pass_env`).
pub fn set_pass_env(names: Vec<String>) {
    if let Ok(mut p) = PASS_ENV.write() {
        *p = names;
    }
}

/// The environment every hook starts from: the allowed basics of ours
/// ([`wildcert_dns::settings::child_env`]) and what `[hooks] pass_env` names.
fn base_env() -> Vec<(String, String)> {
    let pass = PASS_ENV.read().map(|p| p.clone()).unwrap_or_default();
    wildcert_dns::settings::child_env(std::env::vars(), &pass)
}

/// Default bound on a hook's run time.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// Most output kept from a hook (each stream).
const OUTPUT_LIMIT: usize = 64 * 1024;

/// What a hook run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookReport {
    /// The command.
    pub command: String,
    /// Exit code, `None` when killed (timeout) or not started.
    pub exit_code: Option<i32>,
    /// True when the hook exited 0.
    pub ok: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The environment a hook sees.
pub fn hook_env(issued: &Issued) -> Vec<(String, String)> {
    let live = issued.live_dir.display().to_string();
    vec![
        ("WILDCERT_CERT_NAME".into(), issued.cert_name.clone()),
        ("WILDCERT_CERT_NAMES".into(), issued.names.join(" ")),
        ("WILDCERT_CERT_DIR".into(), live.clone()),
        ("WILDCERT_CERT_PATH".into(), format!("{live}/cert.pem")),
        ("WILDCERT_CHAIN_PATH".into(), format!("{live}/chain.pem")),
        (
            "WILDCERT_FULLCHAIN_PATH".into(),
            format!("{live}/fullchain.pem"),
        ),
        ("WILDCERT_KEY_PATH".into(), format!("{live}/privkey.pem")),
        ("WILDCERT_CERT_VERSION".into(), issued.version.to_string()),
        ("WILDCERT_NOT_AFTER".into(), issued.not_after.clone()),
        ("WILDCERT_SERIAL".into(), issued.serial.clone()),
        // certbot's names, so deploy hooks written for certbot work unchanged.
        ("RENEWED_LINEAGE".into(), live),
        ("RENEWED_DOMAINS".into(), issued.names.join(" ")),
    ]
}

/// Run `command` for a stored certificate, bounded by `timeout`.
pub async fn run_deploy_hook(command: &str, issued: &Issued, timeout: Duration) -> HookReport {
    run_hook(command, &hook_env(issued), &issued.cert_name, timeout).await
}

/// Run `command` through `sh -c` with `env` added, bounded by `timeout`; `label` names it in
/// the log (a certificate name, or `pre_hook`).
pub async fn run_hook(
    command: &str,
    env: &[(String, String)],
    label: &str,
    timeout: Duration,
) -> HookReport {
    let mut report = HookReport {
        command: command.to_string(),
        exit_code: None,
        ok: false,
        error: None,
    };
    let mut cmd = tokio::process::Command::new("sh");
    // A clean environment: no TSIG secret, API token or EAB key of ours reaches a hook.
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .envs(base_env())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("cannot start `sh -c`: {e}"));
            return report;
        }
    };
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let waited = tokio::time::timeout(timeout, async {
        tokio::join!(read_limited(out), read_limited(err), child.wait())
    })
    .await;
    match waited {
        Err(_) => {
            let _ = child.kill().await;
            report.error = Some(format!(
                "timed out after {} s and was killed",
                timeout.as_secs()
            ));
        }
        Ok((o, e, status)) => {
            for line in String::from_utf8_lossy(&o)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                info!(cert = %label, "hook: {line}");
            }
            for line in String::from_utf8_lossy(&e)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                warn!(cert = %label, "hook stderr: {line}");
            }
            match status {
                Ok(st) => {
                    report.exit_code = st.code();
                    report.ok = st.success();
                    if !st.success() {
                        report.error = Some(match st.code() {
                            Some(c) => format!("exited with status {c}"),
                            None => "was killed by a signal".into(),
                        });
                    }
                }
                Err(e) => report.error = Some(format!("wait failed: {e}")),
            }
        }
    }
    if let Some(e) = &report.error {
        // The command's caller reports the failure (one line, even with -q).
        debug!(cert = %label, "hook `{command}` {e}");
    }
    report
}

async fn read_limited<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(r) = r {
        let _ = r.take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timings;

    fn issued(dir: &std::path::Path) -> Issued {
        Issued {
            cert_name: "example.com".into(),
            version: 3,
            live_dir: dir.join("live"),
            names: vec!["*.example.com".into(), "example.com".into()],
            key_type: "ec256".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-04-01T00:00:00Z".into(),
            issuer: None,
            serial: "01".into(),
            order_url: "https://ca/order/1".into(),
            timings_ms: Timings::default(),
            zones: vec![],
            acme_requests: 0,
            dns_queries: 0,
        }
    }

    #[tokio::test]
    async fn hook_sees_environment_and_failures_are_reported() {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = tmp.path().join("env.txt");
        let cmd = format!(
            "echo \"$WILDCERT_CERT_NAME|$WILDCERT_CERT_NAMES|$WILDCERT_KEY_PATH|$WILDCERT_CERT_VERSION|$RENEWED_LINEAGE|$RENEWED_DOMAINS\" > {}",
            out.display()
        );
        let r = run_deploy_hook(&cmd, &issued(tmp.path()), Duration::from_secs(10)).await;
        assert!(r.ok, "{r:?}");
        let text = std::fs::read_to_string(&out).expect("hook wrote");
        assert_eq!(
            text.trim(),
            format!(
                "example.com|*.example.com example.com|{}/live/privkey.pem|3|{}/live|*.example.com example.com",
                tmp.path().display(),
                tmp.path().display()
            )
        );
        let r = run_deploy_hook("exit 7", &issued(tmp.path()), Duration::from_secs(10)).await;
        assert_eq!((r.ok, r.exit_code), (false, Some(7)));
        let r = run_deploy_hook("sleep 5", &issued(tmp.path()), Duration::from_millis(200)).await;
        assert!(
            !r.ok && r.error.as_deref().is_some_and(|e| e.contains("timed out")),
            "{r:?}"
        );
    }
}
