//! ACME Renewal Information (RFC 9773): CertID, `renewalInfo`, renewal windows.

use std::fmt;
use std::time::{Duration, SystemTime};

use ::time::OffsetDateTime;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Deserialize;
use x509_parser::prelude::*;

use crate::client::AcmeClient;
use crate::error::{Error, Result};
use crate::http::JSON_LIMIT;

/// RFC 9773 §4.1 certificate identifier: `b64url(AKI keyIdentifier) "." b64url(serial)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId(String);

impl CertId {
    /// A CertID kept from earlier (e.g. in meta.json), as its string form.
    pub fn from_string(id: impl Into<String>) -> Self {
        CertId(id.into())
    }

    /// From the authority key identifier and the serial number's DER content bytes.
    pub fn from_parts(key_identifier: &[u8], serial: &[u8]) -> Self {
        CertId(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(key_identifier),
            URL_SAFE_NO_PAD.encode(serial)
        ))
    }

    /// From a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::Certificate(format!("cannot parse certificate: {e}")))?;
        let aki = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Certificate("certificate has no authority key identifier".into())
            })?;
        Ok(Self::from_parts(aki.0, cert.tbs_certificate.raw_serial()))
    }

    /// From the first certificate (the leaf) of a PEM document.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| Error::Certificate(format!("no PEM certificate: {e}")))?;
        Self::from_der(der.as_ref())
    }

    /// The identifier text (goes in the URL and in `replaces`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The renewal window the CA suggests (RFC 9773 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SuggestedWindow {
    /// Start of the window.
    #[serde(with = "::time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// End of the window.
    #[serde(with = "::time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl SuggestedWindow {
    /// A uniformly random time in the window (RFC 9773 §4.2 recommends one).
    pub fn random_time(&self) -> OffsetDateTime {
        let span = (self.end - self.start).whole_seconds();
        if span <= 0 {
            return self.start;
        }
        let offset = rand::random_range(0..=span);
        self.start + ::time::Duration::seconds(offset)
    }
}

/// A `renewalInfo` response.
#[derive(Debug, Clone)]
pub struct RenewalInfo {
    /// When to renew.
    pub suggested_window: SuggestedWindow,
    /// A page explaining an unusual window (e.g. a revocation incident).
    pub explanation_url: Option<String>,
    /// When to ask again (`Retry-After`).
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRenewalInfo {
    suggested_window: SuggestedWindow,
    #[serde(rename = "explanationURL", default)]
    explanation_url: Option<String>,
}

impl RenewalInfo {
    /// When to renew: a random time in the window, or now if the window has started
    /// and that time is already past.
    pub fn renew_at(&self) -> SystemTime {
        SystemTime::from(self.suggested_window.random_time())
    }
}

impl AcmeClient {
    /// Fetch renewal information for a certificate (RFC 9773 §4.2, plain GET).
    pub async fn renewal_info(&self, cert_id: &CertId) -> Result<RenewalInfo> {
        let base = self.directory().renewal_info.as_deref().ok_or_else(|| {
            Error::Unsupported("this CA does not offer renewal information (ARI)".into())
        })?;
        let url = format!("{}/{}", base.trim_end_matches('/'), cert_id.as_str());
        let resp = self.get(&url, JSON_LIMIT).await?;
        if !resp.is_success() {
            return Err(resp.into_error());
        }
        let raw: RawRenewalInfo = resp.json()?;
        if raw.suggested_window.end < raw.suggested_window.start {
            return Err(Error::InvalidJson {
                url,
                message: "suggestedWindow ends before it starts".into(),
            });
        }
        Ok(RenewalInfo {
            suggested_window: raw.suggested_window,
            explanation_url: raw.explanation_url,
            retry_after: resp.retry_after(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, Issuer, KeyIdMethod, KeyPair, SerialNumber};

    const AKI: [u8; 20] = [
        0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE,
        0x2C, 0xDE, 0x01, 0xC8, 0xD4,
    ];
    const SERIAL: [u8; 5] = [0x00, 0x87, 0x65, 0x43, 0x21];
    const EXPECTED: &str = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

    #[test]
    fn cert_id_matches_rfc9773_example() {
        assert_eq!(CertId::from_parts(&AKI, &SERIAL).as_str(), EXPECTED);
    }

    #[test]
    fn cert_id_from_a_certificate() {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.key_identifier_method = KeyIdMethod::PreSpecified(AKI.to_vec());
        let issuer = Issuer::new(ca, &ca_key);
        let mut leaf = CertificateParams::new(vec!["example.org".to_owned()]).expect("params");
        leaf.serial_number = Some(SerialNumber::from_slice(&SERIAL[1..]));
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().expect("key");
        let cert = leaf.signed_by(&leaf_key, &issuer).expect("signs");
        assert_eq!(
            CertId::from_pem(&cert.pem()).expect("id").as_str(),
            EXPECTED
        );
        assert!(CertId::from_pem("junk").is_err());
    }

    #[test]
    fn parses_renewal_info_and_picks_time_in_window() {
        let raw: RawRenewalInfo = serde_json::from_str(
            r#"{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},
                "explanationURL":"https://acme.example.com/docs/ari"}"#,
        )
        .expect("parses");
        let w = raw.suggested_window;
        for _ in 0..100 {
            let t = w.random_time();
            assert!(t >= w.start && t <= w.end);
        }
        assert_eq!(
            raw.explanation_url.as_deref(),
            Some("https://acme.example.com/docs/ari")
        );
    }
}
