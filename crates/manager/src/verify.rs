//! Checks a certificate must pass before it may replace `live/`: the chain parses, each
//! certificate is issued by the next one (issuer == next subject, and the signature verifies
//! with the next one's key, on ring), the leaf matches our private key, the names are exactly
//! the ones requested, and it is valid now.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::X509Certificate;

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
    /// The leaf came without any issuer certificate.
    #[error("the CA sent the certificate without its issuer chain (chain.pem would be empty)")]
    NoIssuer,
    /// The chain is in reverse order (root first, our certificate last).
    #[error("the CA sent the chain in reverse order (issuer first, our certificate last)")]
    Reversed,
    /// A certificate is not issued by the one after it.
    #[error(
        "certificate {position} of the chain (issued by {issuer}) is not followed by its issuer but by {next_subject}"
    )]
    Unlinked {
        /// 0 = the leaf.
        position: usize,
        /// Its issuer name.
        issuer: String,
        /// The subject of the certificate that follows.
        next_subject: String,
    },
    /// A certificate's signature does not verify with the key of the one after it.
    #[error(
        "the signature of certificate {position} of the chain ({subject}) does not verify with its issuer's key: {reason}"
    )]
    BadSignature {
        /// 0 = the leaf.
        position: usize,
        /// Its subject name.
        subject: String,
        /// What the verifier said.
        reason: String,
    },
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
    let ders = cert_ders(fullchain_pem)?;
    let certs = ders
        .iter()
        .map(|d| {
            x509_parser::parse_x509_certificate(d)
                .map(|(_, c)| c)
                .map_err(|e| VerifyError::Parse(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ours =
        |c: &X509Certificate<'_>| c.public_key().subject_public_key.data.as_ref() == public_key_raw;
    let Some(x) = certs.first() else {
        return Err(VerifyError::Empty);
    };
    if !ours(x) {
        // Our certificate last and the rest in reverse: name it, not "key mismatch".
        let reversed: Vec<_> = certs.iter().rev().cloned().collect();
        if certs.len() > 1 && certs.last().is_some_and(ours) && check_links(&reversed).is_ok() {
            return Err(VerifyError::Reversed);
        }
        return Err(VerifyError::KeyMismatch);
    }
    if certs.len() < 2 {
        return Err(VerifyError::NoIssuer);
    }
    check_links(&certs)?;
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

/// Each certificate is issued by the next: issuer == next subject, signature verifies.
fn check_links(certs: &[X509Certificate<'_>]) -> Result<(), VerifyError> {
    for (position, pair) in certs.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(VerifyError::Unlinked {
                position,
                issuer: cert.issuer().to_string(),
                next_subject: issuer.subject().to_string(),
            });
        }
        cert.verify_signature(Some(issuer.public_key()))
            .map_err(|e| VerifyError::BadSignature {
                position,
                subject: cert.subject().to_string(),
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

fn cert_ders(pem: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut out = Vec::new();
    for p in Pem::iter_from_buffer(pem.as_bytes()) {
        let p = p.map_err(|e| VerifyError::Parse(e.to_string()))?;
        if p.label == "CERTIFICATE" {
            out.push(p.contents);
        }
    }
    Ok(out)
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
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    fn make_ca(cn: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::self_signed(p, key).expect("ca"),
        }
    }

    /// A leaf for `names` signed by `ca`, and its key.
    fn leaf(names: &[&str], ca: &Ca) -> (String, KeyPair) {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &ca.issuer).expect("leaf");
        (cert.pem(), key)
    }

    fn names() -> Vec<String> {
        vec!["example.com".to_string(), "*.example.com".to_string()]
    }

    #[test]
    fn accepts_matching_and_refuses_mismatch() {
        let ca = make_ca("Test CA");
        let (pem, key) = leaf(&["*.example.com", "example.com"], &ca);
        let full = format!("{pem}{}", ca.issuer.pem());
        let want = names();
        let info = verify(&full, key.public_key_raw(), &want).expect("matches");
        assert_eq!(info.names.len(), 2);
        let other = KeyPair::generate().expect("key");
        assert_eq!(
            verify(&full, other.public_key_raw(), &want),
            Err(VerifyError::KeyMismatch)
        );
        assert!(matches!(
            verify(&full, key.public_key_raw(), &["example.com".to_string()]),
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

    #[test]
    fn the_leaf_alone_is_refused() {
        let ca = make_ca("Test CA");
        let (pem, key) = leaf(&["example.com", "*.example.com"], &ca);
        assert_eq!(
            verify(&pem, key.public_key_raw(), &names()),
            Err(VerifyError::NoIssuer)
        );
    }

    #[test]
    fn a_foreign_chain_is_refused() {
        let ca = make_ca("Test CA");
        let stranger = make_ca("Stranger CA");
        let (pem, key) = leaf(&["example.com", "*.example.com"], &ca);
        let e = verify(
            &format!("{pem}{}", stranger.issuer.pem()),
            key.public_key_raw(),
            &names(),
        )
        .expect_err("foreign chain");
        assert!(
            matches!(e, VerifyError::Unlinked { position: 0, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("Stranger CA"), "{e}");
        // Same name, other key: the names link but the signature does not verify.
        let impostor = make_ca("Test CA");
        let e = verify(
            &format!("{pem}{}", impostor.issuer.pem()),
            key.public_key_raw(),
            &names(),
        )
        .expect_err("impostor");
        assert!(
            matches!(e, VerifyError::BadSignature { position: 0, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_reversed_chain_is_named_as_such() {
        let ca = make_ca("Test CA");
        let (pem, key) = leaf(&["example.com", "*.example.com"], &ca);
        assert_eq!(
            verify(
                &format!("{}{pem}", ca.issuer.pem()),
                key.public_key_raw(),
                &names()
            ),
            Err(VerifyError::Reversed)
        );
    }
}
