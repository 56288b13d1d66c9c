//! Certificate revocation (RFC 8555 §7.6) with RFC 5280 §5.3.1 reason codes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::json;
use tracing::info;

use crate::account::Account;
use crate::certkey::CertKey;
use crate::client::{AcmeClient, Repeat};
use crate::error::{Error, Result};
use crate::http::JSON_LIMIT;
use crate::jws::KeyRef;

/// Revocation reason (RFC 5280 §5.3.1 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// 0 `unspecified`.
    Unspecified,
    /// 1 `keyCompromise`.
    KeyCompromise,
    /// 2 `cACompromise`.
    CaCompromise,
    /// 3 `affiliationChanged`.
    AffiliationChanged,
    /// 4 `superseded`.
    Superseded,
    /// 5 `cessationOfOperation`.
    CessationOfOperation,
    /// 6 `certificateHold`.
    CertificateHold,
    /// 8 `removeFromCRL`.
    RemoveFromCrl,
    /// 9 `privilegeWithdrawn`.
    PrivilegeWithdrawn,
    /// 10 `aACompromise`.
    AaCompromise,
}

impl RevocationReason {
    const ALL: [RevocationReason; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The RFC 5280 name (`keyCompromise`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = Error;
    /// Accepts the RFC 5280 name (any case, `-`/`_` ignored) or the numeric code.
    fn from_str(s: &str) -> Result<Self> {
        let norm = |x: &str| x.replace(['-', '_'], "").to_ascii_lowercase();
        let wanted = norm(s.trim());
        if let Ok(code) = wanted.parse::<u8>() {
            return Self::from_code(code).ok_or_else(|| {
                Error::InvalidArgument(format!("unknown revocation reason code {code}"))
            });
        }
        Self::ALL
            .into_iter()
            .find(|r| norm(r.as_str()) == wanted)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown revocation reason {s:?}")))
    }
}

/// Which key signs a revocation request (RFC 8555 §7.6).
#[derive(Debug, Clone, Copy)]
pub enum RevokeWith<'a> {
    /// The account key (`kid`): the account must hold authorizations for the names.
    AccountKey,
    /// The certificate's own key (`jwk`): proves possession, needs no account.
    CertKey(&'a CertKey),
}

fn revocation_payload(cert_pem: &str, reason: Option<RevocationReason>) -> Result<String> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| Error::Certificate(format!("no PEM certificate: {e}")))?;
    let mut body = json!({ "certificate": URL_SAFE_NO_PAD.encode(der.as_ref()) });
    if let Some(r) = reason {
        body["reason"] = json!(r.code());
    }
    Ok(body.to_string())
}

impl AcmeClient {
    /// Revoke the (first) certificate in `cert_pem`, signing with the certificate key.
    pub async fn revoke_with_cert_key(
        &self,
        cert_pem: &str,
        reason: Option<RevocationReason>,
        key: &CertKey,
    ) -> Result<()> {
        let body = revocation_payload(cert_pem, reason)?;
        let url = self.directory().revoke_cert.clone();
        let signer = key.signing_key()?;
        self.post(
            &signer,
            KeyRef::Jwk,
            &url,
            body.as_bytes(),
            Repeat::Once,
            JSON_LIMIT,
        )
        .await?;
        info!(reason = ?reason.map(RevocationReason::as_str), "revoked certificate (certificate key)");
        Ok(())
    }
}

impl Account {
    /// Revoke the (first) certificate in `cert_pem` (RFC 8555 §7.6).
    pub async fn revoke(
        &self,
        cert_pem: &str,
        reason: Option<RevocationReason>,
        by: RevokeWith<'_>,
    ) -> Result<()> {
        match by {
            RevokeWith::CertKey(key) => {
                self.client()
                    .revoke_with_cert_key(cert_pem, reason, key)
                    .await
            }
            RevokeWith::AccountKey => {
                let body = revocation_payload(cert_pem, reason)?;
                let url = self.client().directory().revoke_cert.clone();
                self.post(&url, body.as_bytes(), Repeat::Once, JSON_LIMIT)
                    .await?;
                info!(reason = ?reason.map(RevocationReason::as_str), "revoked certificate (account key)");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes() {
        assert_eq!(RevocationReason::KeyCompromise.code(), 1);
        assert_eq!(RevocationReason::RemoveFromCrl.code(), 8);
        assert_eq!(RevocationReason::AaCompromise.code(), 10);
        assert_eq!(RevocationReason::from_code(7), None);
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>().expect("name"), r);
            assert_eq!(
                r.code()
                    .to_string()
                    .parse::<RevocationReason>()
                    .expect("code"),
                r
            );
        }
        assert_eq!(
            "key-compromise"
                .parse::<RevocationReason>()
                .expect("lenient"),
            RevocationReason::KeyCompromise
        );
        assert!("7".parse::<RevocationReason>().is_err());
        assert!("nope".parse::<RevocationReason>().is_err());
    }

    #[test]
    fn payload_shape() {
        let (pem, _) = crate::chain::tests::make_chain("Root", &["x.test"]);
        let body: serde_json::Value = serde_json::from_str(
            &revocation_payload(&pem, Some(RevocationReason::Superseded)).expect("ok"),
        )
        .expect("json");
        assert_eq!(body["reason"], 4);
        assert!(
            body["certificate"]
                .as_str()
                .is_some_and(|c| !c.contains('='))
        );
        assert!(revocation_payload("x", None).is_err());
    }
}
