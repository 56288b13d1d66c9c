//! `list`, `show` and `revoke` (RFC 8555 §7.6): commands over the certificates in the store.
//!
//! `list` and the offline part of `show` read only the store; `revoke` takes the
//! certificate's lock first.

use std::collections::BTreeMap;
use std::path::PathBuf;

use time::OffsetDateTime;
use tracing::info;
use wildcert_acme::{CertKey, ProblemType, RevocationReason, RevokeWith};

use crate::commands::account::stored_account;
use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::model::LOCK_WAIT;
use crate::renew::plan::parse_time;
use crate::renew::{Decision, cert_name, decide, recorded_settings};
use crate::settings::CertificateSettings;
use crate::store::{CERT_FILES, CertMeta, Store};
use crate::verify::{inspect, rfc3339};

/// One line of `wildcert list` (from `meta.json` alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Store name.
    pub name: String,
    /// Names in the certificate.
    pub names: Vec<String>,
    /// RFC 3339 notAfter of the live certificate.
    pub not_after: Option<String>,
    /// Whole days until notAfter (negative once expired).
    pub days_left: Option<i64>,
    /// Archive version `live/` points at.
    pub version: Option<u32>,
    /// Provider id or kind.
    pub provider: String,
    /// Key type.
    pub key_type: String,
    /// RFC 3339 time it was revoked through wildcert.
    pub revoked_at: Option<String>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Why `meta.json` could not be read (the other fields are then empty).
    pub error: Option<String>,
}

fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// `wildcert list`: every certificate in the store, sorted by name. Reads only `meta.json`.
pub fn list(store: &Store, now: OffsetDateTime) -> Result<Vec<CertSummary>, IssueError> {
    let mut out = Vec::new();
    for name in store.list()? {
        let summary = match store.read_meta(&name) {
            Ok(Some(m)) => CertSummary {
                days_left: parse_time(&m.not_after).map(|t| days_left(t, now)),
                name,
                names: m.names,
                not_after: m.not_after,
                version: m.version,
                provider: m.provider,
                key_type: m.key_type,
                revoked_at: m.revoked_at,
                last_error: m.last_error,
                error: None,
            },
            Ok(None) => continue,
            Err(e) => CertSummary {
                name,
                names: Vec::new(),
                not_after: None,
                days_left: None,
                version: None,
                provider: String::new(),
                key_type: String::new(),
                revoked_at: None,
                last_error: None,
                error: Some(e.to_string()),
            },
        };
        out.push(summary);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The parsed live certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCert {
    /// Issuer common name of the leaf.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: String,
    /// Subject alternative DNS names.
    pub names: Vec<String>,
    /// RFC 3339 notBefore.
    pub not_before: String,
    /// RFC 3339 notAfter.
    pub not_after: String,
    /// Whole days until notAfter (negative once expired).
    pub days_left: i64,
    /// Certificates in `fullchain.pem` (leaf included).
    pub chain_length: usize,
}

/// When the certificate is renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalState {
    /// What `wildcert renew` would do now (`action`: issue | renew | skip, with reason or due).
    pub decision: Decision,
    /// A `[[certificate]]` in the settings names this certificate (else the default rule
    /// applies and `renew` does not handle it).
    pub configured: bool,
    /// Where `renew` takes this certificate's request from.
    pub source: RenewalSource,
}

/// Where `renew` takes a certificate's request from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalSource {
    /// A `[[certificate]]` entry in the config (it wins over a recorded request).
    Config,
    /// The request `wildcert issue` recorded with the certificate.
    Recorded,
    /// Neither: `renew` does not handle it.
    None,
}

/// `wildcert show NAME`.
#[derive(Debug, Clone)]
pub struct CertDetails {
    /// Store name.
    pub name: String,
    /// `certs/<name>`.
    pub dir: PathBuf,
    /// `certs/<name>/live`.
    pub live_dir: PathBuf,
    /// The live files by short name (`cert`, `chain`, `fullchain`, `privkey`).
    pub files: BTreeMap<String, PathBuf>,
    /// `meta.json`.
    pub meta: CertMeta,
    /// The live certificate, parsed.
    pub live: Option<LiveCert>,
    /// Why the live certificate could not be read, when it could not.
    pub live_error: Option<String>,
    /// When it is renewed.
    pub renewal: RenewalState,
    /// Versions in `archive/`, ascending.
    pub archive_versions: Vec<u32>,
}

/// "No certificate named …", with the closest stored name when one is close.
fn unknown_certificate(store: &Store, name: &str) -> IssueError {
    let stored = store.list().unwrap_or_default();
    IssueError::UnknownCertificate {
        name: name.to_string(),
        suggestion: crate::error::did_you_mean(name, stored.iter().map(String::as_str)),
    }
}

/// `wildcert show NAME`: meta, files, the parsed live certificate and the renewal state.
/// `certificates` are the `[[certificate]]` settings (the matching one sets the renewal rule).
pub fn show(
    store: &Store,
    name: &str,
    certificates: &[CertificateSettings],
    now: OffsetDateTime,
) -> Result<CertDetails, IssueError> {
    let meta = store
        .read_meta(name)?
        .ok_or_else(|| unknown_certificate(store, name))?;
    let dir = store.cert_dir(name)?;
    let live_dir = store.live_dir(name)?;
    let files = CERT_FILES
        .iter()
        .map(|f| (f.trim_end_matches(".pem").to_string(), live_dir.join(f)))
        .collect();
    let (live, live_error) = match store.read_live_file(name, "fullchain.pem") {
        Ok(Some(pem)) => match inspect(&pem) {
            Ok(info) => (
                Some(LiveCert {
                    issuer: info.issuer_cn,
                    serial: info.serial_hex,
                    names: info.names,
                    not_before: rfc3339(info.not_before),
                    not_after: rfc3339(info.not_after),
                    days_left: days_left(info.not_after, now),
                    chain_length: 1 + pem_count(&info.chain_pem),
                }),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        },
        Ok(None) => (None, Some("no live certificate yet".to_string())),
        Err(e) => return Err(e.into()),
    };
    let (rule, source) = rule_for(name, &meta, certificates);
    let renewal = RenewalState {
        decision: decide(Some(&meta), &rule, now, false)?,
        configured: source == RenewalSource::Config,
        source,
    };
    Ok(CertDetails {
        name: name.to_string(),
        archive_versions: store.archive_versions(name)?,
        dir,
        live_dir,
        files,
        meta,
        live,
        live_error,
        renewal,
    })
}

/// The settings `renew` would take for a stored certificate, and where from: the
/// `[[certificate]]` that names it, else the request `issue` recorded, else the default rule.
pub fn rule_for(
    name: &str,
    meta: &CertMeta,
    certificates: &[CertificateSettings],
) -> (CertificateSettings, RenewalSource) {
    let configured = certificates
        .iter()
        .find(|c| cert_name(c).is_ok_and(|n| n == name));
    match (configured, &meta.request) {
        (Some(c), _) => (c.clone(), RenewalSource::Config),
        (None, Some(r)) => (recorded_settings(name, r), RenewalSource::Recorded),
        (None, None) => (settings_from_meta(name, meta), RenewalSource::None),
    }
}

/// The default rule for a certificate that no `[[certificate]]` names.
fn settings_from_meta(name: &str, meta: &CertMeta) -> CertificateSettings {
    CertificateSettings {
        name: Some(name.to_string()),
        domains: meta.names.clone(),
        provider: meta.provider.clone(),
        key_type: Some(meta.key_type.clone()),
        profile: None,
        preferred_chain: None,
        deploy_hook: None,
        renew_before: None,
        key_group: None,
        key_mode: None,
        challenge: None,
        install: Vec::new(),
        dns_credentials: None,
        reuse_key: None,
    }
}

fn pem_count(pem: &str) -> usize {
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

/// What `wildcert delete` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Store name.
    pub name: String,
    /// The directory removed.
    pub dir: PathBuf,
    /// The revocation done first, with `--revoke`.
    pub revoked: Option<Revoked>,
}

/// `wildcert delete NAME`: remove the certificate from the store (and so from renewal),
/// revoking it first with `revoke`. A name that a `[[certificate]]` entry still names is
/// refused (the next `renew` would issue it again).
pub async fn delete(
    cfg: &RunConfig,
    store: &Store,
    name: &str,
    certificates: &[CertificateSettings],
    revoke_first: bool,
) -> Result<Deleted, IssueError> {
    if store.read_meta(name)?.is_none() {
        return Err(unknown_certificate(store, name));
    }
    if certificates
        .iter()
        .any(|c| cert_name(c).is_ok_and(|n| n == name))
    {
        return Err(IssueError::Command {
            message: format!(
                "`{name}` is still a [[certificate]] in the config, so the next `renew` would issue it again"
            ),
            hint: format!(
                "remove its [[certificate]] entry from the --config file first, then run `wildcert delete {name}` again"
            ),
            code: ExitCode::Settings,
        });
    }
    let revoked = if revoke_first {
        Some(revoke(cfg, store, name, None, false).await?)
    } else {
        None
    };
    let _lock = store.lock(name, LOCK_WAIT).await?;
    let dir = store.cert_dir(name)?;
    store.delete_cert(name)?;
    info!(cert = name, "certificate deleted from the store");
    Ok(Deleted {
        name: name.to_string(),
        dir,
        revoked,
    })
}

/// Parse a revocation reason: an RFC 5280 name (any case) or its code.
pub fn parse_reason(s: &str) -> Result<RevocationReason, IssueError> {
    s.parse().map_err(|_| IssueError::Command {
        message: format!("unknown revocation reason `{s}`"),
        hint:
            "use unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation \
               (or a code 0-10); the CA may accept only some"
                .into(),
        code: ExitCode::Settings,
    })
}

/// What `wildcert revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Store name.
    pub name: String,
    /// Serial number of the revoked certificate, hex.
    pub serial: String,
    /// The reason sent, if any.
    pub reason: Option<String>,
    /// `account_key` or `certificate_key`.
    pub signed_with: &'static str,
    /// The CA said the certificate was revoked before (`alreadyRevoked`).
    pub already_revoked: bool,
    /// RFC 3339 time recorded in `meta.json` (the next `renew` re-issues the certificate).
    pub revoked_at: String,
    /// The CA's directory URL.
    pub server: String,
}

/// `wildcert revoke NAME`: revoke the live certificate at the CA that issued it and mark it
/// for re-issue. `alreadyRevoked` from the CA still marks it.
pub async fn revoke(
    cfg: &RunConfig,
    store: &Store,
    name: &str,
    reason: Option<RevocationReason>,
    with_cert_key: bool,
) -> Result<Revoked, IssueError> {
    if store.read_meta(name)?.is_none() {
        return Err(unknown_certificate(store, name));
    }
    let _lock = store.lock(name, LOCK_WAIT).await?;
    // Re-read under the lock: a concurrent run may have replaced it.
    let meta = store
        .read_meta(name)?
        .ok_or_else(|| unknown_certificate(store, name))?;
    let live = store.read_live(name)?.ok_or_else(|| IssueError::Command {
        message: format!("`{name}` has no live certificate to revoke"),
        hint: format!("`wildcert show {name}` shows its state"),
        code: ExitCode::Settings,
    })?;
    let info = inspect(&live.cert).map_err(|e| IssueError::Command {
        message: format!("the live certificate of `{name}` cannot be read: {e}"),
        hint: format!(
            "check {}/cert.pem; nothing was sent to the CA",
            store
                .live_dir(name)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        code: ExitCode::Store,
    })?;
    // Revoke at the CA that issued it, with the configured trust settings.
    let mut ca = cfg.clone();
    if let Some(server) = &meta.server {
        ca.directory_url = server.clone();
    }
    let client = ca.acme_client().await?;
    let result = if with_cert_key {
        let key = CertKey::from_pem(&live.privkey)?;
        client.revoke_with_cert_key(&live.cert, reason, &key).await
    } else {
        let account = stored_account(store, &client).map_err(|e| match e {
            IssueError::NoAccount(ca) => IssueError::Command {
                message: format!("no ACME account is stored for {ca} to sign the revocation"),
                hint: "add --with-cert-key to sign with the certificate's own key instead".into(),
                code: ExitCode::Settings,
            },
            other => other,
        })?;
        account
            .account
            .revoke(&live.cert, reason, RevokeWith::AccountKey)
            .await
    };
    let already_revoked = match result {
        Ok(()) => false,
        Err(e) if e.is_problem(&ProblemType::AlreadyRevoked) => {
            info!(cert = %name, "the CA says the certificate was already revoked");
            true
        }
        Err(e) if e.is_problem(&ProblemType::BadRevocationReason) => {
            return Err(IssueError::Command {
                message: format!("the CA does not accept this revocation reason: {e}"),
                hint: "give another --reason (unspecified, keyCompromise, superseded, \
                       cessationOfOperation and affiliationChanged are the usual ones)"
                    .into(),
                code: ExitCode::Settings,
            });
        }
        Err(e) if e.is_problem(&ProblemType::Unauthorized) && !with_cert_key => {
            return Err(IssueError::Command {
                message: format!("the CA refused to revoke `{name}` with the account key: {e}"),
                hint: "the account must be the one that issued it (or hold valid authorizations \
                       for its names); try --with-cert-key"
                    .into(),
                code: ExitCode::Ca,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut meta = meta;
    let revoked_at = match (&meta.revoked_at, already_revoked) {
        (Some(t), true) => t.clone(),
        _ => rfc3339(
            OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
        ),
    };
    meta.revoked_at = Some(revoked_at.clone());
    store.write_meta(name, &meta)?;
    info!(cert = %name, serial = %info.serial_hex, "certificate revoked; the next `renew` issues a new one");
    Ok(Revoked {
        name: name.to_string(),
        serial: info.serial_hex,
        reason: reason.map(|r| r.as_str().to_string()),
        signed_with: if with_cert_key {
            "certificate_key"
        } else {
            "account_key"
        },
        already_revoked,
        revoked_at,
        server: client.directory_url().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CertFiles;
    use std::fs;

    fn self_signed(names: &[&str]) -> CertFiles {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        CertFiles {
            cert: cert.pem(),
            chain: String::new(),
            privkey: key.serialize_pem(),
        }
    }

    fn meta(names: &[&str], not_after: Option<OffsetDateTime>) -> CertMeta {
        CertMeta {
            names: names.iter().map(|s| s.to_string()).collect(),
            key_type: "ec256".into(),
            provider: "rfc2136".into(),
            version: not_after.map(|_| 1),
            not_before: not_after.map(|t| rfc3339(t - time::Duration::days(90))),
            not_after: not_after.map(rfc3339),
            ..Default::default()
        }
    }

    #[test]
    fn list_reads_meta_sorted_and_survives_damage() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        let now = OffsetDateTime::now_utc();
        store
            .write_meta(
                "b.example",
                &meta(&["b.example"], Some(now + time::Duration::days(40))),
            )
            .expect("write");
        store
            .write_meta("a.example", &meta(&["a.example"], None))
            .expect("write");
        let damaged = store.cert_dir("c.example").expect("dir");
        fs::create_dir_all(&damaged).expect("mkdir");
        fs::write(damaged.join("meta.json"), "{not json").expect("write");
        let l = list(&store, now).expect("list");
        let names: Vec<&str> = l.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a.example", "b.example", "c.example"]);
        assert_eq!(l[0].days_left, None);
        assert_eq!(l[1].days_left, Some(40));
        assert_eq!(l[1].provider, "rfc2136");
        assert!(l[2].error.as_deref().is_some_and(|e| e.contains("damaged")));
    }

    #[test]
    fn show_parses_live_and_decides_with_config_or_meta() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            show(&store, "x.example", &[], now),
            Err(IssueError::UnknownCertificate { name, .. }) if name == "x.example"
        ));
        let files = self_signed(&["x.example"]);
        let m = meta(&["x.example"], Some(now + time::Duration::days(80)));
        let perms = crate::store::KeyPerms::default();
        store
            .install("x.example", &files, &m, &perms)
            .expect("install");
        store
            .install("x.example", &files, &m, &perms)
            .expect("install");
        store
            .write_meta(
                "x.example",
                &meta(&["x.example"], Some(now + time::Duration::days(80))),
            )
            .expect("write");
        let d = show(&store, "x.example", &[], now).expect("show");
        assert_eq!(d.archive_versions, [1, 2]);
        let live = d.live.expect("live parsed");
        assert_eq!(live.names, ["x.example"]);
        assert_eq!(live.chain_length, 1);
        assert!(!d.renewal.configured);
        assert!(matches!(d.renewal.decision, Decision::Skip { .. }));
        assert!(d.files["privkey"].ends_with("live/privkey.pem"));
        // A [[certificate]] with other names: `renew` would issue anew.
        let c = CertificateSettings {
            name: Some("x.example".into()),
            ..settings_from_meta("x.example", &meta(&["y.example"], None))
        };
        let d = show(&store, "x.example", &[c], now).expect("show");
        assert!(d.renewal.configured);
        assert!(matches!(d.renewal.decision, Decision::Issue { .. }));
        assert_eq!(d.renewal.source, RenewalSource::Config);
    }

    #[test]
    fn reasons_names_codes_and_errors() {
        assert_eq!(
            parse_reason("KEYCOMPROMISE").expect("name"),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            parse_reason("4").expect("code"),
            RevocationReason::Superseded
        );
        let e = parse_reason("stolen").expect_err("unknown");
        assert_eq!(e.exit_code(), ExitCode::Settings);
        assert!(e.hint().contains("keyCompromise"));
    }
}
