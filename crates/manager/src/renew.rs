//! `wildcert renew`: issue what is missing, renew what is due, skip the rest quickly.
//!
//! Planning reads only `meta.json` (never the PEM files) and needs no network, so a run over
//! thousands of certificates of which none is due takes well under a second. When to renew:
//! 1. `renew_before` in the certificate's settings, when given;
//! 2. else the CA's ARI window (RFC 9773): a random time in the suggested window, fetched at
//!    most as often as the CA's `Retry-After` allows;
//! 3. else at 1/3 of the lifetime remaining (1/2 for certificates of 10 days or less).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};
use wildcert_dns::{DnsProvider, Identifier, PropagationProgress};

use crate::error::IssueError;
use crate::hooks::{DEFAULT_HOOK_TIMEOUT, HookReport, run_deploy_hook};
use crate::issue::{IssueRequest, Issued, RunConfig, acme_client};
use crate::pipeline::{self, Job};
use crate::settings::{CertificateSettings, parse_duration};
use crate::store::{CertMeta, KeyPerms, Store};
use crate::verify::rfc3339;

/// How often to ask for ARI when the CA gives no `Retry-After` (RFC 9773 §4.3 suggests hours).
pub const ARI_DEFAULT_RECHECK: Duration = Duration::from_secs(6 * 3600);

/// What to do with one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Not in the store yet (or its names changed, or it was revoked): issue now.
    Issue {
        /// Why.
        reason: String,
    },
    /// Due: renew now.
    Renew {
        /// Why.
        reason: String,
    },
    /// Not due.
    Skip {
        /// RFC 3339 time it becomes due.
        due: String,
        /// Which rule set that time.
        rule: String,
    },
}

/// The store name of a `[[certificate]]`: `name`, or the first domain without `*.`.
pub fn cert_name(c: &CertificateSettings) -> Result<String, IssueError> {
    if let Some(n) = &c.name {
        return Ok(n.clone());
    }
    let first = c.domains.first().ok_or(IssueError::NoNames)?;
    Ok(Identifier::parse(first)?.base().to_string())
}

fn parse_time(s: &Option<String>) -> Option<OffsetDateTime> {
    s.as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

fn normalised(names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .map(|n| {
            Identifier::parse(n)
                .map(|i| i.to_string())
                .unwrap_or_else(|_| n.clone())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Decide offline, from `meta.json` alone.
pub fn decide(
    meta: Option<&CertMeta>,
    c: &CertificateSettings,
    now: OffsetDateTime,
    force: bool,
) -> Result<Decision, IssueError> {
    let Some(meta) = meta else {
        return Ok(Decision::Issue {
            reason: "not issued yet".into(),
        });
    };
    let (Some(not_before), Some(not_after)) =
        (parse_time(&meta.not_before), parse_time(&meta.not_after))
    else {
        return Ok(Decision::Issue {
            reason: "not issued yet".into(),
        });
    };
    if meta.version.is_none() {
        return Ok(Decision::Issue {
            reason: "not issued yet".into(),
        });
    }
    if normalised(&meta.names) != normalised(&c.domains) {
        return Ok(Decision::Issue {
            reason: "the names changed".into(),
        });
    }
    if meta.revoked_at.is_some() {
        return Ok(Decision::Issue {
            reason: "revoked".into(),
        });
    }
    if force {
        return Ok(Decision::Renew {
            reason: "--force".into(),
        });
    }
    let (due, rule) = if let Some(before) = &c.renew_before {
        let d =
            parse_duration(before).map_err(|message| crate::settings::SettingsError::Value {
                key: "certificate.renew_before".into(),
                message,
            })?;
        (not_after - d, format!("renew_before {before}"))
    } else if let Some(at) = parse_time(&meta.ari_renew_at) {
        (at, "ARI window".to_string())
    } else {
        let lifetime = not_after - not_before;
        let (window, rule) = if lifetime <= time::Duration::days(10) {
            (lifetime / 2, "1/2 of a short lifetime left")
        } else {
            (lifetime / 3, "1/3 of the lifetime left")
        };
        (not_after - window, rule.to_string())
    };
    if now >= due {
        Ok(Decision::Renew {
            reason: if now >= not_after {
                "expired".into()
            } else {
                format!("due ({rule})")
            },
        })
    } else {
        Ok(Decision::Skip {
            due: rfc3339(due),
            rule,
        })
    }
}

/// One certificate's line in the summary.
#[derive(Debug, Serialize)]
pub struct RenewOutcome {
    /// Store name.
    pub name: String,
    /// issued | renewed | skipped | failed.
    pub outcome: &'static str,
    /// Why (the decision's reason, or the error).
    pub detail: String,
    /// RFC 3339 time the certificate is next due (skipped ones), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<String>,
    /// The issued certificate, when one was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Issued>,
    /// The deploy hook's report, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookReport>,
    /// Hint for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Exit code of a failure.
    #[serde(skip)]
    pub code: i32,
}

/// Options of one `renew` run.
#[derive(Clone, Default)]
pub struct RenewOptions {
    /// Renew everything now.
    pub force: bool,
    /// Only these certificate names (empty: all).
    pub only: Vec<String>,
    /// Orders at once.
    pub parallel: usize,
    /// Overrides every certificate's deploy_hook.
    pub deploy_hook: Option<String>,
    /// Progress reporter.
    pub progress: Option<Arc<dyn PropagationProgress>>,
}

/// Run one round over `certificates`. `provider_for` builds a provider by id (each built once).
pub async fn renew<F>(
    cfg: &RunConfig,
    certificates: &[CertificateSettings],
    opts: &RenewOptions,
    provider_for: F,
) -> Result<Vec<RenewOutcome>, IssueError>
where
    F: Fn(&str) -> Result<Arc<dyn DnsProvider>, IssueError>,
{
    let store = Store::open(&cfg.state_dir)?;
    let now = OffsetDateTime::now_utc();
    let mut outcomes = Vec::new();
    let mut due: Vec<(CertificateSettings, String, Decision, Option<CertMeta>)> = Vec::new();
    let mut ari_due: Vec<usize> = Vec::new();
    for c in certificates {
        let name = match cert_name(c) {
            Ok(n) => n,
            Err(e) => {
                outcomes.push(failed(c.domains.first().cloned().unwrap_or_default(), &e));
                continue;
            }
        };
        if !opts.only.is_empty() && !opts.only.contains(&name) {
            continue;
        }
        let meta = match store.read_meta(&name) {
            Ok(m) => m,
            Err(e) => {
                outcomes.push(failed(name, &e.into()));
                continue;
            }
        };
        if meta
            .as_ref()
            .and_then(|m| parse_time(&m.ari_next_check))
            .is_some_and(|t| t <= now)
        {
            ari_due.push(due.len());
        }
        match decide(meta.as_ref(), c, now, opts.force) {
            Ok(d) => due.push((c.clone(), name, d, meta)),
            Err(e) => outcomes.push(failed(name, &e)),
        }
    }
    // ARI: refresh windows whose re-check time has come (needs the CA; everything else is offline).
    if !ari_due.is_empty() {
        match acme_client(cfg).await {
            Ok(client) => {
                for i in ari_due {
                    let (c, name, decision, meta) = &mut due[i];
                    let Some(m) = meta.as_mut() else { continue };
                    if refresh_ari(&client, m).await {
                        let _ = store.write_meta(name, m);
                        if let Ok(d) = decide(Some(m), c, now, opts.force) {
                            *decision = d;
                        }
                    }
                }
            }
            Err(e) => warn!("renewal information (ARI) not refreshed: {e}"),
        }
    }
    // Build each provider once; jobs for every due certificate.
    let mut providers: HashMap<String, Result<Arc<dyn DnsProvider>, String>> = HashMap::new();
    let mut jobs = Vec::new();
    let mut reasons = HashMap::new();
    for (c, name, decision, meta) in due {
        let reason = match &decision {
            Decision::Skip { due, rule } => {
                outcomes.push(RenewOutcome {
                    name,
                    outcome: "skipped",
                    detail: format!("not due ({rule})"),
                    next_due: Some(due.clone()),
                    certificate: None,
                    hook: None,
                    hint: None,
                    code: 0,
                });
                continue;
            }
            Decision::Issue { reason } => ("issued", reason.clone()),
            Decision::Renew { reason } => ("renewed", reason.clone()),
        };
        let provider = providers.entry(c.provider.clone()).or_insert_with(|| {
            provider_for(&c.provider).map_err(|e| format!("{e}\u{0}{}", e.hint()))
        });
        let provider = match provider {
            Ok(p) => p.clone(),
            Err(msg) => {
                let (m, h) = msg.split_once('\u{0}').unwrap_or((msg.as_str(), ""));
                outcomes.push(RenewOutcome {
                    name,
                    outcome: "failed",
                    detail: m.to_string(),
                    next_due: None,
                    certificate: None,
                    hook: None,
                    hint: Some(h.to_string()),
                    code: 2,
                });
                continue;
            }
        };
        let key_type = match c.key_type.as_deref().unwrap_or("ec256").parse() {
            Ok(k) => k,
            Err(e) => {
                outcomes.push(failed(name, &IssueError::Acme(e)));
                continue;
            }
        };
        let key_perms = match KeyPerms::parse(c.key_group.as_deref(), c.key_mode.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                let e = crate::settings::SettingsError::Value {
                    key: "certificate.key_group / key_mode".into(),
                    message: e.to_string(),
                };
                outcomes.push(failed(name, &IssueError::Settings(e)));
                continue;
            }
        };
        let replaces = match &decision {
            Decision::Renew { .. } => meta
                .as_ref()
                .and_then(|m| m.ari_cert_id.clone())
                .filter(|_| meta.as_ref().is_some_and(|m| m.ari_next_check.is_some())),
            _ => None,
        };
        let hook = opts.deploy_hook.clone().or_else(|| c.deploy_hook.clone());
        let if_version = Some(meta.as_ref().and_then(|m| m.version));
        reasons.insert(name.clone(), (reason, hook));
        jobs.push(Job {
            req: IssueRequest {
                cert_name: Some(name),
                names: c.domains.clone(),
                provider_id: c.provider.clone(),
                key_type,
                profile: c.profile.clone(),
                preferred_chain: None,
                key_perms,
            },
            provider,
            replaces,
            if_version,
            skip_if_locked: true,
        });
    }
    if jobs.is_empty() {
        return Ok(outcomes);
    }
    info!(due = jobs.len(), "issuing and renewing");
    let results = pipeline::run(cfg, jobs, opts.parallel.max(1), opts.progress.clone()).await?;
    for r in results {
        let (kind, reason, hook) = match reasons.remove(&r.cert_name) {
            Some(((kind, reason), hook)) => (kind, reason, hook),
            None => ("issued", String::new(), None),
        };
        match r.result {
            Ok(issued) => {
                let hook = match &hook {
                    Some(cmd) => Some(run_deploy_hook(cmd, &issued, DEFAULT_HOOK_TIMEOUT).await),
                    None => None,
                };
                outcomes.push(RenewOutcome {
                    name: r.cert_name,
                    outcome: kind,
                    detail: reason,
                    next_due: None,
                    certificate: Some(issued),
                    hook,
                    hint: None,
                    code: 0,
                });
            }
            Err(e @ (IssueError::Superseded(_) | IssueError::Busy(_))) => {
                outcomes.push(RenewOutcome {
                    name: r.cert_name,
                    outcome: "skipped",
                    detail: if matches!(e, IssueError::Busy(_)) {
                        "another run is working on it".into()
                    } else {
                        "another run stored it meanwhile".into()
                    },
                    next_due: None,
                    certificate: None,
                    hook: None,
                    hint: None,
                    code: 0,
                })
            }
            Err(e) => outcomes.push(failed(r.cert_name, &e)),
        }
    }
    Ok(outcomes)
}

fn failed(name: String, e: &IssueError) -> RenewOutcome {
    RenewOutcome {
        name,
        outcome: "failed",
        detail: e.to_string(),
        next_due: None,
        certificate: None,
        hook: None,
        hint: Some(e.hint()),
        code: e.exit_code(),
    }
}

/// Fetch ARI for one certificate and record the window; true when meta changed.
async fn refresh_ari(client: &wildcert_acme::AcmeClient, meta: &mut CertMeta) -> bool {
    let Some(id) = meta.ari_cert_id.clone() else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    match client
        .renewal_info(&wildcert_acme::CertId::from_string(id))
        .await
    {
        Ok(info) => {
            meta.ari_renew_at = Some(rfc3339(info.suggested_window.random_time()));
            let wait = info.retry_after.unwrap_or(ARI_DEFAULT_RECHECK);
            meta.ari_next_check = Some(rfc3339(now + wait));
            true
        }
        Err(e) => {
            warn!("renewal information (ARI): {e}");
            meta.ari_next_check = Some(rfc3339(now + time::Duration::hours(1)));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(domains: &[&str]) -> CertificateSettings {
        CertificateSettings {
            name: None,
            domains: domains.iter().map(|s| s.to_string()).collect(),
            provider: "p".into(),
            key_type: None,
            profile: None,
            deploy_hook: None,
            renew_before: None,
            key_group: None,
            key_mode: None,
        }
    }

    fn meta(days_valid: i64, issued_days_ago: i64) -> CertMeta {
        let now = OffsetDateTime::now_utc();
        let nb = now - time::Duration::days(issued_days_ago);
        CertMeta {
            names: vec!["*.example.com".into(), "example.com".into()],
            version: Some(1),
            not_before: Some(rfc3339(nb)),
            not_after: Some(rfc3339(nb + time::Duration::days(days_valid))),
            ..Default::default()
        }
    }

    #[test]
    fn lifetime_fractions_overrides_and_ari() {
        let c = cert(&["example.com", "*.example.com"]);
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            decide(None, &c, now, false),
            Ok(Decision::Issue { .. })
        ));
        // 90 days, 50 days in: 40 left > 30 → skip; 61 days in: 29 left → renew.
        assert!(matches!(
            decide(Some(&meta(90, 50)), &c, now, false),
            Ok(Decision::Skip { .. })
        ));
        assert!(matches!(
            decide(Some(&meta(90, 61)), &c, now, false),
            Ok(Decision::Renew { .. })
        ));
        // 6-day certificate: renew at half.
        assert!(matches!(
            decide(Some(&meta(6, 2)), &c, now, false),
            Ok(Decision::Skip { .. })
        ));
        assert!(matches!(
            decide(Some(&meta(6, 4)), &c, now, false),
            Ok(Decision::Renew { .. })
        ));
        // --force, names changed, revoked.
        assert!(matches!(
            decide(Some(&meta(90, 1)), &c, now, true),
            Ok(Decision::Renew { .. })
        ));
        assert!(matches!(
            decide(Some(&meta(90, 1)), &cert(&["example.com"]), now, false),
            Ok(Decision::Issue { .. })
        ));
        let mut revoked = meta(90, 1);
        revoked.revoked_at = Some(rfc3339(now));
        assert!(matches!(
            decide(Some(&revoked), &c, now, false),
            Ok(Decision::Issue { .. })
        ));
        // renew_before wins over the fraction.
        let mut c2 = c.clone();
        c2.renew_before = Some("60d".into());
        assert!(matches!(
            decide(Some(&meta(90, 31)), &c2, now, false),
            Ok(Decision::Renew { .. })
        ));
        // ARI window wins over the fraction.
        let mut m = meta(90, 1);
        m.ari_renew_at = Some(rfc3339(now - time::Duration::minutes(1)));
        assert!(
            matches!(decide(Some(&m), &c, now, false), Ok(Decision::Renew { reason }) if reason.contains("ARI"))
        );
        m.ari_renew_at = Some(rfc3339(now + time::Duration::days(3)));
        assert!(
            matches!(decide(Some(&m), &c, now, false), Ok(Decision::Skip { rule, .. }) if rule == "ARI window")
        );
    }
}
