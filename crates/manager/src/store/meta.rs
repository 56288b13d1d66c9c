//! What the store records about a certificate: its metadata, the request that made it, its
//! files and the key permissions it keeps.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// What `meta.json` records about a certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CertMeta {
    /// The names in the certificate, in request order.
    pub names: Vec<String>,
    /// Key type (`ec256`, …).
    pub key_type: String,
    /// Provider id or kind used to answer the challenges.
    pub provider: String,
    /// Archive version that `live/` points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// ACME order URL of the last issuance (or of the pending order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_url: Option<String>,
    /// ARI CertID (RFC 9773) of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_cert_id: Option<String>,
    /// RFC 3339 time of issuance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// RFC 3339 notBefore of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339 notAfter of the live certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Directory URL of the CA that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The last error, if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// An order placed and not yet finished: a re-run after a crash resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_order: Option<String>,
    /// RFC 3339 time ARI (RFC 9773) suggested for renewal (a random point in its window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_renew_at: Option<String>,
    /// RFC 3339 time before which the CA asked us not to fetch renewal information again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_next_check: Option<String>,
    /// RFC 3339 time of revocation, when revoked through wildcert (re-issue is then due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The validation method(s) the last issuance used (`dns-01`, `dns-account-01`,
    /// `dns-persist-01`; comma-separated when names used different ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The ACME profile the CA says the last order used (`Order::profile()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// RFC 3339 time the last attempt failed (kept across later successes, for metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<String>,
    /// What `issue` asked for: `renew` renews the certificate with it (unless a
    /// `[[certificate]]` entry names it, which wins). Absent for config-only certificates and
    /// in `meta.json` written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
    /// The config file whose `[[certificate]]` entry it was last issued for (absolute): a
    /// `renew` with that file that no longer names it says so on every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
}

/// The request `wildcert issue` recorded with a certificate (no secrets: the provider is an
/// id whose credentials come from the config or the environment at renewal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Directory URL of the CA it was issued by (renewed only by runs against that CA).
    pub server: String,
    /// The names asked for, in request order.
    pub domains: Vec<String>,
    /// Provider id or kind (empty for dns-persist-01).
    #[serde(default)]
    pub provider: String,
    /// Key type (`ec256`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// ACME profile asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Preferred chain asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<String>,
    /// Validation method asked for (`dns-01`, `auto`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Deploy hook command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_hook: Option<String>,
    /// Group of the private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_group: Option<String>,
    /// Mode of the private key (octal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_mode: Option<String>,
    /// The certbot credentials file the provider read (`issue --dns-credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_credentials: Option<PathBuf>,
    /// The CA bundle trusted for the CA's HTTPS (`--ca-bundle`), as an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Resolvers for discovery (`--resolver`); empty: the system's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<String>,
    /// Servers checked for propagation (`--authoritative`); empty: the zone's NS set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authoritative: Vec<String>,
    /// Propagation timeout (`--propagation-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_timeout: Option<String>,
    /// Install targets given on the command line (`--install-dir`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<crate::settings::InstallTarget>,
    /// Keep the key across renewals (`--reuse-key`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reuse_key: bool,
}

/// The files of one issued certificate.
#[derive(Clone)]
pub struct CertFiles {
    /// Leaf certificate PEM.
    pub cert: String,
    /// Issuer chain PEM (without the leaf).
    pub chain: String,
    /// Private key PEM (PKCS#8).
    pub privkey: String,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("privkey", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Group and mode for a certificate's private key (`key_group`, `key_mode` settings).
///
/// When set, they win over what the previous version had; the certificate's directories get
/// the group too (with group read and search), so a server running as that group can reach
/// the key. A key is never world-readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyPerms {
    /// Numeric group id.
    pub group: Option<u32>,
    /// Mode bits (no world bits).
    pub mode: Option<u32>,
}

impl KeyPerms {
    /// Parse `key_group` (a name from `/etc/group` or a number) and `key_mode` (octal, `"0640"`).
    pub fn parse(group: Option<&str>, mode: Option<&str>) -> Result<KeyPerms, StoreError> {
        let group = group.map(lookup_group).transpose()?;
        let mode = match mode {
            None => None,
            Some(m) => {
                let bits = u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| {
                    StoreError::BadPerms(format!("key_mode `{m}` is not an octal mode"))
                })?;
                if bits & !0o660 != 0 {
                    return Err(StoreError::BadPerms(format!(
                        "key_mode `{m}` would make the private key executable or readable by every user"
                    )));
                }
                if bits & 0o600 != 0o600 {
                    return Err(StoreError::BadPerms(format!(
                        "key_mode `{m}` must keep read and write for the owner (0600)"
                    )));
                }
                Some(bits)
            }
        };
        Ok(KeyPerms { group, mode })
    }
}

pub(super) fn lookup_group(name: &str) -> Result<u32, StoreError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let gid = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| StoreError::BadPerms(format!("key_group `{name}` is not a known group")))
}
