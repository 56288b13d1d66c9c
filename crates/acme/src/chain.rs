//! Certificate chains as downloaded (RFC 8555 §7.4.2), and choosing among alternates.

use std::fmt;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use x509_parser::prelude::*;

use crate::certkey::CertKey;
use crate::error::{Error, Result};
use crate::key::pem_encode;

/// A PEM certificate chain: the leaf first, then its issuers.
#[derive(Clone)]
pub struct CertificateChain {
    /// The URL it was downloaded from.
    pub url: String,
    /// The chain as the CA sent it (leaf first).
    pub pem: String,
    certs: Vec<Vec<u8>>,
}

impl fmt::Debug for CertificateChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateChain")
            .field("url", &self.url)
            .field("certificates", &self.certs.len())
            .field("top_issuer", &self.top_issuer_cn())
            .finish()
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| Error::Certificate(format!("cannot parse certificate: {e}")))
}

fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

impl CertificateChain {
    /// Parse a PEM chain; it must hold at least one certificate.
    pub fn from_pem(url: impl Into<String>, pem: String) -> Result<Self> {
        let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Certificate(format!("invalid PEM chain: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Certificate("no certificate in the chain".into()));
        }
        for c in &certs {
            parse(c)?;
        }
        Ok(CertificateChain {
            url: url.into(),
            pem,
            certs,
        })
    }

    /// DER certificates, leaf first.
    pub fn certificates_der(&self) -> &[Vec<u8>] {
        &self.certs
    }

    /// The leaf certificate, PEM (`cert.pem`).
    pub fn leaf_pem(&self) -> String {
        self.certs
            .first()
            .map(|c| pem_encode("CERTIFICATE", c))
            .unwrap_or_default()
    }

    /// The issuers without the leaf, PEM (`chain.pem`).
    pub fn issuers_pem(&self) -> String {
        self.certs
            .iter()
            .skip(1)
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// Leaf and issuers, PEM (`fullchain.pem`).
    pub fn fullchain_pem(&self) -> String {
        self.certs
            .iter()
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// Issuer CN of the topmost certificate: the root this chain leads to.
    pub fn top_issuer_cn(&self) -> Option<String> {
        let top = self.certs.last()?;
        common_name(parse(top).ok()?.issuer())
    }

    /// Issuer CNs of every certificate, leaf first.
    pub fn issuer_cns(&self) -> Vec<String> {
        self.certs
            .iter()
            .filter_map(|c| common_name(parse(c).ok()?.issuer()))
            .collect()
    }

    /// The leaf's subjectAltName DNS names.
    pub fn leaf_dns_names(&self) -> Result<Vec<String>> {
        let leaf = parse(self.leaf_der())?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = leaf.subject_alternative_name() {
            for n in &san.value.general_names {
                if let GeneralName::DNSName(d) = n {
                    names.push((*d).to_owned());
                }
            }
        }
        Ok(names)
    }

    /// The leaf's notAfter as a Unix timestamp.
    pub fn leaf_not_after(&self) -> Result<i64> {
        Ok(parse(self.leaf_der())?.validity().not_after.timestamp())
    }

    /// True when the leaf certifies `key`'s public key.
    pub fn leaf_matches_key(&self, key: &CertKey) -> Result<bool> {
        let leaf = parse(self.leaf_der())?;
        Ok(leaf.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
    }

    fn leaf_der(&self) -> &[u8] {
        self.certs.first().map(Vec::as_slice).unwrap_or_default()
    }
}

/// Choose a chain by issuer common name; the first (default) chain when nothing matches.
///
/// Like certbot, a chain matches when its **topmost** certificate's issuer CN equals
/// `preferred`; failing that, like lego, when **any** certificate's issuer CN does.
pub fn select_chain(
    chains: Vec<CertificateChain>,
    preferred: Option<&str>,
) -> Option<CertificateChain> {
    if let Some(p) = preferred {
        let pos = chains
            .iter()
            .position(|c| c.top_issuer_cn().as_deref() == Some(p))
            .or_else(|| {
                chains
                    .iter()
                    .position(|c| c.issuer_cns().iter().any(|cn| cn == p))
            });
        if let Some(i) = pos {
            return chains.into_iter().nth(i);
        }
    }
    chains.into_iter().next()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };

    /// A CA named `cn` plus a leaf for `names` issued by it.
    pub(crate) fn make_chain(root_cn: &str, names: &[&str]) -> (String, String) {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Intermediate");
        ca.distinguished_name = dn;
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        // Re-issue the intermediate "by" root_cn: only the issuer name matters here.
        let root_key = KeyPair::generate().expect("key");
        let mut root = CertificateParams::new(Vec::<String>::new()).expect("params");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut rdn = DistinguishedName::new();
        rdn.push(DnType::CommonName, root_cn);
        root.distinguished_name = rdn;
        let root_issuer = Issuer::new(root, &root_key);
        let inter = ca.signed_by(&ca_key, &root_issuer).expect("intermediate");
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
        let _ = ca_cert;
        let ca_issuer = Issuer::from_params(&ca, &ca_key);
        let leaf = leaf.signed_by(&leaf_key, &ca_issuer).expect("leaf");
        (
            format!("{}{}", leaf.pem(), inter.pem()),
            leaf_key.serialize_pem(),
        )
    }

    #[test]
    fn selects_by_top_issuer() {
        let a = CertificateChain::from_pem("a", make_chain("Root A", &["x.test"]).0).expect("a");
        let b = CertificateChain::from_pem("b", make_chain("Root B", &["x.test"]).0).expect("b");
        assert_eq!(a.top_issuer_cn().as_deref(), Some("Root A"));
        assert_eq!(a.certificates_der().len(), 2);
        let pick = |p| select_chain(vec![a.clone(), b.clone()], p).map(|c| c.url);
        assert_eq!(pick(Some("Root B")).as_deref(), Some("b"));
        assert_eq!(pick(Some("Root A")).as_deref(), Some("a"));
        assert_eq!(
            pick(Some("Intermediate")).as_deref(),
            Some("a"),
            "any-issuer fallback"
        );
        assert_eq!(pick(Some("nope")).as_deref(), Some("a"));
        assert_eq!(pick(None).as_deref(), Some("a"));
        assert_eq!(a.leaf_dns_names().expect("names"), vec!["x.test"]);
        assert_eq!(
            a.fullchain_pem(),
            format!("{}{}", a.leaf_pem(), a.issuers_pem())
        );
    }

    #[test]
    fn rejects_empty_and_garbage() {
        assert!(CertificateChain::from_pem("u", String::new()).is_err());
        assert!(
            CertificateChain::from_pem(
                "u",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()
            )
            .is_err()
        );
    }
}
