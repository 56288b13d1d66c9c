//! Checks a certificate must pass before it may replace `live/`: the chain parses, the leaf
//! matches our private key, the names are exactly the ones requested, and it is valid now.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Why an issued certificate was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The PEM or DER did not parse.
    #[error("the CA sent a certificate chain that does not parse: {0}")]
    Parse(String),
    /// The chain was empty.
    #[error("the CA sent an empty certificate chain")]
    Empty,
    /// The leaf's public key is not ours.
    #[error("the certificate's public key does not match our private key")]
    KeyMismatch,
    /// The names differ from the request.
    #[error("the certificate names {got:?} differ from the requested {want:?}")]
    NameMismatch {
        /// Names requested.
        want: Vec<String>,
        /// Names in the certificate.
        got: Vec<String>,
    },
    /// Expired or not yet valid.
    #[error("the certificate is not valid now (valid {not_before} to {not_after})")]
    NotValidNow {
        /// notBefore.
        not_before: String,
        /// notAfter.
        not_after: String,
    },
}

/// What we learn from a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Leaf PEM.
    pub leaf_pem: String,
    /// The rest of the chain, PEM.
    pub chain_pem: String,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// Subject alternative DNS names.
    pub names: Vec<String>,
    /// Issuer common name of the leaf.
    pub issuer_cn: Option<String>,
    /// Serial number, hex.
    pub serial_hex: String,
}

/// Split and inspect a PEM chain without checking it against a request.
pub fn inspect(fullchain_pem: &str) -> Result<CertInfo, VerifyError> {
    let mut pems = Vec::new();
    for pem in Pem::iter_from_buffer(fullchain_pem.as_bytes()) {
        let pem = pem.map_err(|e| VerifyError::Parse(e.to_string()))?;
        if pem.label == "CERTIFICATE" {
            pems.push(pem);
        }
    }
    let leaf = pems.first().ok_or(VerifyError::Empty)?;
    for p in &pems {
        p.parse_x509()
            .map_err(|e| VerifyError::Parse(e.to_string()))?;
    }
    let x = leaf
        .parse_x509()
        .map_err(|e| VerifyError::Parse(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    let issuer_cn = x
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let blocks: Vec<String> = pems.iter().map(to_pem).collect();
    Ok(CertInfo {
        leaf_pem: blocks[0].clone(),
        chain_pem: blocks[1..].concat(),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        names,
        issuer_cn,
        serial_hex: x.raw_serial_as_string().replace(':', ""),
    })
}

/// Verify an issued chain against what we asked for.
///
/// `public_key_raw` is our certificate key's raw public key (the SubjectPublicKeyInfo's bit
/// string: EC point, Ed25519 key, or PKCS#1 RSAPublicKey).
pub fn verify(
    fullchain_pem: &str,
    public_key_raw: &[u8],
    requested: &[String],
) -> Result<CertInfo, VerifyError> {
    let info = inspect(fullchain_pem)?;
    let leaf = Pem::iter_from_buffer(info.leaf_pem.as_bytes())
        .next()
        .ok_or(VerifyError::Empty)?
        .map_err(|e| VerifyError::Parse(e.to_string()))?;
    let x = leaf
        .parse_x509()
        .map_err(|e| VerifyError::Parse(e.to_string()))?;
    if x.public_key().subject_public_key.data.as_ref() != public_key_raw {
        return Err(VerifyError::KeyMismatch);
    }
    let want: BTreeSet<String> = requested.iter().map(|n| n.to_ascii_lowercase()).collect();
    let got: BTreeSet<String> = info.names.iter().cloned().collect();
    if want != got {
        return Err(VerifyError::NameMismatch {
            want: want.into_iter().collect(),
            got: got.into_iter().collect(),
        });
    }
    let now = OffsetDateTime::now_utc();
    if now < info.not_before - time::Duration::minutes(5) || now > info.not_after {
        return Err(VerifyError::NotValidNow {
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
        });
    }
    Ok(info)
}

/// Format a time as RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn to_pem(p: &Pem) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&p.contents);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(names: &[&str]) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key)
    }

    #[test]
    fn accepts_matching_and_refuses_mismatch() {
        let (pem, key) = make(&["*.example.com", "example.com"]);
        let want = vec!["example.com".to_string(), "*.example.com".to_string()];
        let info = verify(&pem, key.public_key_raw(), &want).expect("matches");
        assert_eq!(info.names.len(), 2);
        let other = rcgen::KeyPair::generate().expect("key");
        assert_eq!(
            verify(&pem, other.public_key_raw(), &want),
            Err(VerifyError::KeyMismatch)
        );
        assert!(matches!(
            verify(&pem, key.public_key_raw(), &["example.com".to_string()]),
            Err(VerifyError::NameMismatch { .. })
        ));
        assert_eq!(
            verify("", key.public_key_raw(), &want),
            Err(VerifyError::Empty)
        );
        assert!(matches!(
            verify(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                &[],
                &want
            ),
            Err(VerifyError::Parse(_))
        ));
    }
}
