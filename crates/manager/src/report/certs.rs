//! The documents of `list`, `show`, `revoke` and `delete`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::commands::{
    CertDetails, CertSummary, Deleted, LiveCert, RenewalSource, RenewalState, Revoked,
};
use crate::renew::Decision;
use crate::store::{CertMeta, RecordedRequest as StoredRequest};

/// `list --json`: `{"ok": true, "certificates": […]}`.
#[derive(Debug, Clone, Serialize)]
pub struct ListDoc {
    /// Always true.
    pub ok: bool,
    /// Every certificate in the store, sorted by name.
    pub certificates: Vec<ListedCertificate>,
}

impl ListDoc {
    /// The document of `list`.
    pub fn new(certs: &[CertSummary]) -> Self {
        ListDoc {
            ok: true,
            certificates: certs.iter().map(Into::into).collect(),
        }
    }
}

/// One certificate of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListedCertificate {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Why `meta.json` could not be read (the other fields are then empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&CertSummary> for ListedCertificate {
    fn from(c: &CertSummary) -> Self {
        ListedCertificate {
            name: c.name.clone(),
            names: c.names.clone(),
            not_after: c.not_after.clone(),
            days_left: c.days_left,
            version: c.version,
            provider: c.provider.clone(),
            key_type: c.key_type.clone(),
            revoked_at: c.revoked_at.clone(),
            last_error: c.last_error.clone(),
            error: c.error.clone(),
        }
    }
}

/// `show NAME --json`: `{"ok": true, "certificate": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct ShowDoc {
    /// Always true.
    pub ok: bool,
    /// The certificate.
    pub certificate: ShownCertificate,
}

impl From<&CertDetails> for ShowDoc {
    fn from(d: &CertDetails) -> Self {
        ShowDoc {
            ok: true,
            certificate: d.into(),
        }
    }
}

/// One certificate in detail.
#[derive(Debug, Clone, Serialize)]
pub struct ShownCertificate {
    /// Store name.
    pub name: String,
    /// `certs/<name>`.
    pub dir: PathBuf,
    /// `certs/<name>/live`.
    pub live_dir: PathBuf,
    /// The live files by short name (`cert`, `chain`, `fullchain`, `privkey`).
    pub files: BTreeMap<String, PathBuf>,
    /// What `meta.json` records.
    pub meta: Meta,
    /// The live certificate, parsed.
    pub live: Option<LiveCertificate>,
    /// Why the live certificate could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_error: Option<String>,
    /// When it is renewed.
    pub renewal: RenewalPlan,
    /// Versions in `archive/`, ascending.
    pub archive_versions: Vec<u32>,
}

impl From<&CertDetails> for ShownCertificate {
    fn from(d: &CertDetails) -> Self {
        ShownCertificate {
            name: d.name.clone(),
            dir: d.dir.clone(),
            live_dir: d.live_dir.clone(),
            files: d.files.clone(),
            meta: (&d.meta).into(),
            live: d.live.as_ref().map(Into::into),
            live_error: d.live_error.clone(),
            renewal: (&d.renewal).into(),
            archive_versions: d.archive_versions.clone(),
        }
    }
}

/// What `meta.json` records about a certificate (the fields `show --json` has always had).
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// The names in the certificate, in request order.
    pub names: Vec<String>,
    /// Key type (`ec256`, …).
    pub key_type: String,
    /// Provider id or kind used to answer the challenges.
    pub provider: String,
    /// Archive version that `live/` points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// ACME order URL of the last issuance (or of the pending order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    /// ARI CertID (RFC 9773) of the live certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ari_cert_id: Option<String>,
    /// RFC 3339 time of issuance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// RFC 3339 notBefore of the live certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339 notAfter of the live certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Directory URL of the CA that issued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The last error, if the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// An order placed and not yet finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_order: Option<String>,
    /// RFC 3339 time ARI suggested for renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ari_renew_at: Option<String>,
    /// RFC 3339 time before which the CA asked not to fetch renewal information again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ari_next_check: Option<String>,
    /// RFC 3339 time of revocation through wildcert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The validation method(s) the last issuance used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The ACME profile the last order used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// RFC 3339 time the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<String>,
    /// What `issue` asked for (`renew` renews the certificate with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
}

impl From<&CertMeta> for Meta {
    fn from(m: &CertMeta) -> Self {
        Meta {
            names: m.names.clone(),
            key_type: m.key_type.clone(),
            provider: m.provider.clone(),
            version: m.version,
            order_url: m.order_url.clone(),
            ari_cert_id: m.ari_cert_id.clone(),
            issued_at: m.issued_at.clone(),
            not_before: m.not_before.clone(),
            not_after: m.not_after.clone(),
            server: m.server.clone(),
            last_error: m.last_error.clone(),
            pending_order: m.pending_order.clone(),
            ari_renew_at: m.ari_renew_at.clone(),
            ari_next_check: m.ari_next_check.clone(),
            revoked_at: m.revoked_at.clone(),
            challenge: m.challenge.clone(),
            profile: m.profile.clone(),
            last_failure_at: m.last_failure_at.clone(),
            request: m.request.as_ref().map(Into::into),
        }
    }
}

/// The request `wildcert issue` recorded with a certificate (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// Directory URL of the CA it was issued by.
    pub server: String,
    /// The names asked for, in request order.
    pub domains: Vec<String>,
    /// Provider id or kind (empty for dns-persist-01).
    pub provider: String,
    /// Key type (`ec256`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// ACME profile asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Preferred chain asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<String>,
    /// Validation method asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Deploy hook command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_hook: Option<String>,
    /// Group of the private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_group: Option<String>,
    /// Mode of the private key (octal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_mode: Option<String>,
    /// The certbot credentials file the provider read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_credentials: Option<PathBuf>,
    /// The CA bundle trusted for the CA's HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Resolvers for discovery (empty: the system's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<String>,
    /// Servers checked for propagation (empty: the zone's NS set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authoritative: Vec<String>,
    /// Propagation timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_timeout: Option<String>,
    /// Install targets given to `issue`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<crate::settings::InstallTarget>,
    /// Keep the key across renewals (only present when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuse_key: bool,
}

impl From<&StoredRequest> for RecordedRequest {
    fn from(r: &StoredRequest) -> Self {
        RecordedRequest {
            server: r.server.clone(),
            domains: r.domains.clone(),
            provider: r.provider.clone(),
            key_type: r.key_type.clone(),
            profile: r.profile.clone(),
            preferred_chain: r.preferred_chain.clone(),
            challenge: r.challenge.clone(),
            deploy_hook: r.deploy_hook.clone(),
            key_group: r.key_group.clone(),
            key_mode: r.key_mode.clone(),
            dns_credentials: r.dns_credentials.clone(),
            ca_bundle: r.ca_bundle.clone(),
            resolvers: r.resolvers.clone(),
            authoritative: r.authoritative.clone(),
            propagation_timeout: r.propagation_timeout.clone(),
            install: r.install.clone(),
            reuse_key: r.reuse_key,
        }
    }
}

/// The parsed live certificate.
#[derive(Debug, Clone, Serialize)]
pub struct LiveCertificate {
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

impl From<&LiveCert> for LiveCertificate {
    fn from(l: &LiveCert) -> Self {
        LiveCertificate {
            issuer: l.issuer.clone(),
            serial: l.serial.clone(),
            names: l.names.clone(),
            not_before: l.not_before.clone(),
            not_after: l.not_after.clone(),
            days_left: l.days_left,
            chain_length: l.chain_length,
        }
    }
}

/// When a certificate is renewed: `action` (`issue`, `renew`, `skip`) with `reason`, or `due`
/// and `rule`; `configured`; `source` (`config`, `recorded`, `none`).
#[derive(Debug, Clone, Serialize)]
pub struct RenewalPlan {
    /// What `wildcert renew` would do now.
    #[serde(flatten)]
    pub decision: PlannedAction,
    /// A `[[certificate]]` in the settings names this certificate.
    pub configured: bool,
    /// Where `renew` takes this certificate's request from.
    pub source: &'static str,
}

/// What `wildcert renew` would do now with a certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlannedAction {
    /// Issue now.
    Issue {
        /// Why.
        reason: String,
    },
    /// Renew now.
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

impl From<&RenewalState> for RenewalPlan {
    fn from(r: &RenewalState) -> Self {
        RenewalPlan {
            decision: match &r.decision {
                Decision::Issue { reason } => PlannedAction::Issue {
                    reason: reason.clone(),
                },
                Decision::Renew { reason } => PlannedAction::Renew {
                    reason: reason.clone(),
                },
                Decision::Skip { due, rule } => PlannedAction::Skip {
                    due: due.clone(),
                    rule: rule.clone(),
                },
            },
            configured: r.configured,
            source: match r.source {
                RenewalSource::Config => "config",
                RenewalSource::Recorded => "recorded",
                RenewalSource::None => "none",
            },
        }
    }
}

/// `revoke NAME --json`: `{"ok": true, "revoked": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeDoc {
    /// Always true.
    pub ok: bool,
    /// The revocation.
    pub revoked: Revocation,
}

impl From<&Revoked> for RevokeDoc {
    fn from(r: &Revoked) -> Self {
        RevokeDoc {
            ok: true,
            revoked: r.into(),
        }
    }
}

/// What `wildcert revoke` did.
#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
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
    /// RFC 3339 time recorded in `meta.json`.
    pub revoked_at: String,
    /// The CA's directory URL.
    pub server: String,
}

impl From<&Revoked> for Revocation {
    fn from(r: &Revoked) -> Self {
        Revocation {
            name: r.name.clone(),
            serial: r.serial.clone(),
            reason: r.reason.clone(),
            signed_with: r.signed_with,
            already_revoked: r.already_revoked,
            revoked_at: r.revoked_at.clone(),
            server: r.server.clone(),
        }
    }
}

/// `delete NAME --json`: `{"ok": true, "deleted": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteDoc {
    /// Always true.
    pub ok: bool,
    /// The deletion.
    pub deleted: Deletion,
}

impl From<&Deleted> for DeleteDoc {
    fn from(d: &Deleted) -> Self {
        DeleteDoc {
            ok: true,
            deleted: Deletion {
                name: d.name.clone(),
                dir: d.dir.clone(),
                revoked: d.revoked.as_ref().map(Into::into),
            },
        }
    }
}

/// What `wildcert delete` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    /// Store name.
    pub name: String,
    /// The directory removed.
    pub dir: PathBuf,
    /// The revocation done first, with `--revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}
