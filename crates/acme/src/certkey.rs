//! Certificate keys: the key pair the certificate is issued for.

use std::fmt;
use std::str::FromStr;

use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use rustls_pki_types::PrivatePkcs8KeyDer;

use crate::error::{Error, Result};
use crate::key::{JwsAlgorithm, SigningKey, generate_rsa_pkcs8, pem_encode, pkcs8_from_pem};

/// Certificate key type; the names are the CLI's `--key-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CertKeyType {
    /// ECDSA P-256: the default.
    #[default]
    Ec256,
    /// ECDSA P-384.
    Ec384,
    /// Ed25519 (few public CAs issue for it).
    Ed25519,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

impl CertKeyType {
    /// Every type, in the order the CLI lists them.
    pub const ALL: [CertKeyType; 6] = [
        Self::Ec256,
        Self::Ec384,
        Self::Ed25519,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
    ];

    /// The name used on the command line and in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ec256 => "ec256",
            Self::Ec384 => "ec384",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
        }
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }
}

impl fmt::Display for CertKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertKeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown key type {s:?} (expected one of ec256, ec384, ed25519, rsa2048, rsa3072, rsa4096)"
                ))
            })
    }
}

/// A certificate private key. `Debug` shows no secret.
pub struct CertKey {
    kind: CertKeyType,
    key_pair: KeyPair,
}

impl CertKey {
    /// Generate a new key (RSA through the `rsa` crate: ring cannot generate RSA).
    pub fn generate(kind: CertKeyType) -> Result<Self> {
        let key_pair = match kind.rsa_bits() {
            Some(bits) => rsa_key_pair(&generate_rsa_pkcs8(bits)?)?,
            None => {
                let alg = match kind {
                    CertKeyType::Ec384 => &PKCS_ECDSA_P384_SHA384,
                    CertKeyType::Ed25519 => &PKCS_ED25519,
                    _ => &PKCS_ECDSA_P256_SHA256,
                };
                KeyPair::generate_for(alg).map_err(|e| Error::Key(e.to_string()))?
            }
        };
        Ok(CertKey { kind, key_pair })
    }

    /// Load a PEM private key (PKCS#8, or PKCS#1 RSA); the type is detected.
    pub fn from_pem(pem: &str) -> Result<Self> {
        Self::from_pkcs8_der(&pkcs8_from_pem(pem.as_bytes())?)
    }

    /// Load a PKCS#8 DER private key; the type is detected.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let probe = SigningKey::from_pkcs8(der)?;
        let kind = match (probe.alg(), probe.rsa_bits()) {
            (JwsAlgorithm::Es256, _) => CertKeyType::Ec256,
            (JwsAlgorithm::Es384, _) => CertKeyType::Ec384,
            (JwsAlgorithm::EdDsa, _) => CertKeyType::Ed25519,
            (_, Some(2048)) => CertKeyType::Rsa2048,
            (_, Some(3072)) => CertKeyType::Rsa3072,
            (_, Some(4096)) => CertKeyType::Rsa4096,
            (_, bits) => {
                return Err(Error::Key(format!(
                    "unsupported RSA key size {} (use 2048, 3072 or 4096)",
                    bits.unwrap_or(0)
                )));
            }
        };
        let key_pair = if kind.rsa_bits().is_some() {
            rsa_key_pair(der)?
        } else {
            KeyPair::try_from(der).map_err(|e| Error::Key(e.to_string()))?
        };
        Ok(CertKey { kind, key_pair })
    }

    /// The key type.
    pub fn key_type(&self) -> CertKeyType {
        self.kind
    }

    /// PKCS#8 PEM (`PRIVATE KEY`), for `privkey.pem`. The result is secret.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.key_pair.serialized_der())
    }

    /// The raw public key (EC point, Ed25519 bytes, or PKCS#1 RSAPublicKey), to match a certificate.
    pub fn public_key_raw(&self) -> &[u8] {
        self.key_pair.public_key_raw()
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// A JWS signer for this key (revocation by certificate key, RFC 8555 §7.6).
    pub(crate) fn signing_key(&self) -> Result<SigningKey> {
        SigningKey::from_pkcs8(self.key_pair.serialized_der())
    }
}

fn rsa_key_pair(der: &[u8]) -> Result<KeyPair> {
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), &PKCS_RSA_SHA256)
        .map_err(|e| Error::Key(e.to_string()))
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in CertKeyType::ALL {
            assert_eq!(t.as_str().parse::<CertKeyType>().expect("parses"), t);
            assert_eq!(t.to_string(), t.as_str());
        }
        assert!("rsa1024".parse::<CertKeyType>().is_err());
        assert_eq!(CertKeyType::default(), CertKeyType::Ec256);
    }

    #[test]
    fn loads_sec1_certificate_keys() {
        let k = CertKey::from_pem(crate::key::tests::SEC1_P256).expect("loads");
        assert_eq!(k.key_type(), CertKeyType::Ec256);
        assert!(CertKey::from_pem(&k.to_pem()).is_ok());
    }

    #[test]
    fn keys_round_trip_through_pem() {
        for t in [
            CertKeyType::Ec256,
            CertKeyType::Ec384,
            CertKeyType::Ed25519,
            CertKeyType::Rsa2048,
        ] {
            let k = CertKey::generate(t).expect("generates");
            let pem = k.to_pem();
            let back = CertKey::from_pem(&pem).expect("loads");
            assert_eq!(back.key_type(), t);
            assert_eq!(back.public_key_raw(), k.public_key_raw());
            assert!(k.signing_key().is_ok());
            let dbg = format!("{k:?}");
            assert!(!dbg.contains(&pem[30..50]), "{dbg}");
        }
    }
}
