//! Which certificates are due: decided offline, from `meta.json` alone (never the PEM files),
//! so a run over thousands of certificates of which none is due takes well under a second.
//! When to renew:
//! 1. `renew_before` in the certificate's settings, when given;
//! 2. else the CA's ARI window (RFC 9773): a random time in the suggested window, fetched at
//!    most as often as the CA's `Retry-After` allows;
//! 3. else at 1/3 of the lifetime remaining (1/2 for certificates of 10 days or less).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wildcert_dns::Identifier;

use crate::error::IssueError;
use crate::settings::{CertificateSettings, parse_duration};
use crate::store::CertMeta;
use crate::verify::rfc3339;

/// What to do with one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
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

pub(crate) fn parse_time(s: &Option<String>) -> Option<OffsetDateTime> {
    s.as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// A time field of `meta.json`: absent is `None`; present but not RFC 3339 is an error that
/// names the file and the field (never "not issued yet", which would re-issue for ever).
fn meta_time(
    value: &Option<String>,
    field: &str,
    cert: &str,
) -> Result<Option<OffsetDateTime>, IssueError> {
    match value.as_deref() {
        None => Ok(None),
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map(Some).map_err(|e| {
            IssueError::Store(crate::store::StoreError::Corrupt {
                path: std::path::PathBuf::from(format!("certs/{cert}/meta.json")),
                message: format!("`{field}` is `{t}`, not an RFC 3339 time ({e})"),
            })
        }),
    }
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
    let name = cert_name(c)?;
    let not_before = meta_time(&meta.not_before, "not_before", &name)?;
    let not_after = meta_time(&meta.not_after, "not_after", &name)?;
    let ari_renew_at = meta_time(&meta.ari_renew_at, "ari_renew_at", &name)?;
    meta_time(&meta.ari_next_check, "ari_next_check", &name)?;
    meta_time(&meta.revoked_at, "revoked_at", &name)?;
    if !meta.key_type.is_empty() && meta.key_type.parse::<wildcert_acme::CertKeyType>().is_err() {
        return Err(IssueError::Store(crate::store::StoreError::Corrupt {
            path: std::path::PathBuf::from(format!("certs/{name}/meta.json")),
            message: format!(
                "`key_type` is `{}`, not a key type wildcert knows",
                meta.key_type
            ),
        }));
    }
    let (Some(not_before), Some(not_after)) = (not_before, not_after) else {
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
    } else if let Some(at) = ari_renew_at {
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
            preferred_chain: None,
            key_group: None,
            key_mode: None,
            deploy_hook: None,
            renew_before: None,
            challenge: None,
            install: Vec::new(),
            dns_credentials: None,
            reuse_key: None,
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
        let mut bad = meta(90, 1);
        bad.not_after = Some("next tuesday".into());
        let e = decide(Some(&bad), &c, now, false).expect_err("a damaged time is an error");
        assert!(
            e.to_string().contains("meta.json") && e.to_string().contains("not_after"),
            "{e}"
        );
        assert!(
            matches!(decide(Some(&m), &c, now, false), Ok(Decision::Skip { rule, .. }) if rule == "ARI window")
        );
    }
}
