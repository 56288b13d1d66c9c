//! Signing keys: the only module that names ring for signing, HMAC and digests.
//!
//! Account keys sign JWS (RFC 7515/7518, RFC 8555 §6.2); certificate keys sign
//! `revokeCert` requests (§7.6). Both are held as PKCS#8 DER and loaded into ring.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::error::{Error, Result};

/// JWS signature algorithm (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl JwsAlgorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }
}

impl AccountKeyType {
    /// Every type, in the order settings list them.
    pub const ALL: [AccountKeyType; 5] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Ed25519,
        Self::Rsa2048,
        Self::Rsa4096,
    ];

    /// The settings name (same names as certificate key types).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ec256",
            Self::EcdsaP384 => "ec384",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa4096 => "rsa4096",
        }
    }
}

impl fmt::Display for AccountKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AccountKeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown account key type {s:?} (expected one of ec256, ec384, ed25519, rsa2048, rsa4096)"
                ))
            })
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of account key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AccountKeyType {
    /// ECDSA P-256 (ES256), supported by every CA: the default.
    #[default]
    EcdsaP256,
    /// ECDSA P-384 (ES384).
    EcdsaP384,
    /// Ed25519 (EdDSA); not every CA accepts it.
    Ed25519,
    /// RSA 2048 (RS256).
    Rsa2048,
    /// RSA 4096 (RS256).
    Rsa4096,
}

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key that can sign JWS: ring key pair plus its public JWK.
pub(crate) struct SigningKey {
    inner: Inner,
    alg: JwsAlgorithm,
    pkcs8: Vec<u8>,
    /// Public JWK members, sorted by name (the RFC 7638 required members only).
    jwk: BTreeMap<&'static str, String>,
    thumbprint: String,
    rng: SystemRandom,
}

impl SigningKey {
    /// Load a PKCS#8 v1/v2 DER private key: ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 bits.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let (inner, alg, jwk) = if let Ok(kp) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        {
            let jwk = ec_jwk("P-256", kp.public_key().as_ref(), 32)?;
            (Inner::Ecdsa(kp), JwsAlgorithm::Es256, jwk)
        } else if let Ok(kp) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng)
        {
            let jwk = ec_jwk("P-384", kp.public_key().as_ref(), 48)?;
            (Inner::Ecdsa(kp), JwsAlgorithm::Es384, jwk)
        } else if let Ok(kp) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let jwk = BTreeMap::from([
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", b64(kp.public_key().as_ref())),
            ]);
            (Inner::Ed25519(kp), JwsAlgorithm::EdDsa, jwk)
        } else if let Ok(kp) = RsaKeyPair::from_pkcs8(der) {
            let c: signature::RsaPublicKeyComponents<Vec<u8>> = kp.public().into();
            let jwk = BTreeMap::from([
                ("e", b64(strip_zeros(&c.e))),
                ("kty", "RSA".to_owned()),
                ("n", b64(strip_zeros(&c.n))),
            ]);
            (Inner::Rsa(kp), JwsAlgorithm::Rs256, jwk)
        } else {
            return Err(Error::Key(
                "unsupported PKCS#8 private key (expected ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 bits)"
                    .into(),
            ));
        };
        let thumbprint = thumbprint_of(&jwk);
        Ok(SigningKey {
            inner,
            alg,
            pkcs8: der.to_vec(),
            jwk,
            thumbprint,
            rng,
        })
    }

    /// Load from PEM: PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY` (converted).
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self> {
        Self::from_pkcs8(&pkcs8_from_pem(pem)?)
    }

    pub(crate) fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// RSA modulus size in bits (None for other key types).
    pub(crate) fn rsa_bits(&self) -> Option<usize> {
        match &self.inner {
            Inner::Rsa(kp) => Some(kp.public().modulus_len() * 8),
            _ => None,
        }
    }

    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public JWK (RFC 7517) as JSON.
    pub(crate) fn jwk_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.jwk
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }

    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub(crate) fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Sign `msg` as the JWS `alg` requires (ECDSA: fixed-width r||s).
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let failed = |_| Error::Key("signing failed".into());
        match &self.inner {
            Inner::Ecdsa(kp) => Ok(kp.sign(&self.rng, msg).map_err(failed)?.as_ref().to_vec()),
            Inner::Ed25519(kp) => Ok(kp.sign(msg).as_ref().to_vec()),
            Inner::Rsa(kp) => {
                let mut out = vec![0; kp.public().modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &self.rng, msg, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[start..]
}

fn ec_jwk(crv: &str, point: &[u8], len: usize) -> Result<BTreeMap<&'static str, String>> {
    // Uncompressed point: 0x04 || X || Y.
    if point.len() != 1 + 2 * len || point.first() != Some(&4) {
        return Err(Error::Key("unexpected EC public key encoding".into()));
    }
    Ok(BTreeMap::from([
        ("crv", crv.to_owned()),
        ("kty", "EC".to_owned()),
        ("x", URL_SAFE_NO_PAD.encode(&point[1..=len])),
        ("y", URL_SAFE_NO_PAD.encode(&point[1 + len..])),
    ]))
}

/// RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace.
fn thumbprint_of(jwk: &BTreeMap<&'static str, String>) -> String {
    // A BTreeMap serializes in key order with no whitespace: exactly the canonical form.
    let canonical = serde_json::to_string(jwk).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

/// SHA-256 digest.
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// HMAC algorithm for external account binding (RFC 8555 §7.3.4, RFC 7518 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MacAlgorithm {
    /// HMAC-SHA-256: the default, and what every CA accepts.
    #[default]
    Hs256,
    /// HMAC-SHA-384.
    Hs384,
    /// HMAC-SHA-512.
    Hs512,
}

impl MacAlgorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }
}

/// HMAC `data` with `key`.
pub(crate) fn hmac(alg: MacAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let a = match alg {
        MacAlgorithm::Hs256 => ring::hmac::HMAC_SHA256,
        MacAlgorithm::Hs384 => ring::hmac::HMAC_SHA384,
        MacAlgorithm::Hs512 => ring::hmac::HMAC_SHA512,
    };
    ring::hmac::sign(&ring::hmac::Key::new(a, key), data)
        .as_ref()
        .to_vec()
}

/// Fill a buffer with random bytes from the system.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    use ring::rand::SecureRandom as _;
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Key("system random generator failed".into()))
}

/// PEM-encode DER with the given label, 64 columns (RFC 7468).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Read the first private key of a PEM document as PKCS#8 DER.
pub(crate) fn pkcs8_from_pem(pem: &[u8]) -> Result<Vec<u8>> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(k)) => Ok(k.secret_pkcs8_der().to_vec()),
        Ok(PrivateKeyDer::Pkcs1(k)) => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            use rsa::pkcs8::EncodePrivateKey as _;
            let key = rsa::PrivateKey::from_pkcs1_der(k.secret_pkcs1_der())
                .map_err(|_| Error::Key("invalid PKCS#1 RSA private key".into()))?;
            let doc = key
                .to_pkcs8_der()
                .map_err(|_| Error::Key("cannot convert RSA key to PKCS#8".into()))?;
            Ok(doc.as_bytes().to_vec())
        }
        Ok(PrivateKeyDer::Sec1(k)) => sec1_to_pkcs8(k.secret_sec1_der()),
        Ok(_) => Err(Error::Key("unsupported private key format".into())),
        Err(_) => Err(Error::Key("no PEM private key found".into())),
    }
}

/// Read one DER TLV: (tag, value, rest). Definite lengths up to 4 bytes.
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Encode one DER TLV.
fn der_write(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}

/// A DER INTEGER's content for an unsigned big-endian number (a leading zero when the top
/// bit is set).
fn der_uint(b: &[u8]) -> Vec<u8> {
    let b = strip_zeros(b);
    let mut out = Vec::with_capacity(b.len() + 1);
    if b.first().is_none_or(|&f| f >= 0x80) {
        out.push(0);
    }
    out.extend_from_slice(b);
    out
}

/// DER of the OIDs (tag and length included) we need for EC keys.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Wrap a SEC1 `EC PRIVATE KEY` (RFC 5915, as lego and `openssl ecparam` write) in PKCS#8.
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::Key("invalid SEC1 EC private key".into());
    let (tag, body, _) = der_read(sec1).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    // version INTEGER, privateKey OCTET STRING, [0] parameters, [1] publicKey.
    let (_, _, rest) = der_read(body).ok_or_else(bad)?;
    let (_, _, mut rest) = der_read(rest).ok_or_else(bad)?;
    let mut curve: Option<Vec<u8>> = None;
    while let Some((tag, value, next)) = der_read(rest) {
        if tag == 0xa0 {
            curve = Some(value.to_vec());
        }
        rest = next;
    }
    let wrap = |curve_oid: &[u8]| {
        let mut alg = OID_EC_PUBLIC_KEY.to_vec();
        alg.extend_from_slice(curve_oid);
        let mut seq = vec![0x02, 0x01, 0x00];
        seq.extend(der_write(0x30, &alg));
        seq.extend(der_write(0x04, sec1));
        der_write(0x30, &seq)
    };
    let candidates: Vec<&[u8]> = match &curve {
        Some(c) if c == OID_P256 || c == OID_P384 => vec![c.as_slice()],
        Some(_) => {
            return Err(Error::Key(
                "unsupported EC curve (use P-256 or P-384)".into(),
            ));
        }
        None => vec![OID_P256, OID_P384],
    };
    let rng = SystemRandom::new();
    for oid in candidates {
        let der = wrap(oid);
        let alg = if oid == OID_P256 {
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING
        } else {
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING
        };
        if EcdsaKeyPair::from_pkcs8(alg, &der, &rng).is_ok() {
            return Ok(der);
        }
    }
    Err(Error::Key(
        "unusable SEC1 EC private key (it must include its public key)".into(),
    ))
}

/// Generate a PKCS#8 DER key of the given kind with ring (ECDSA, Ed25519).
fn generate_ring_pkcs8(kind: AccountKeyType) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let failed = |_| Error::Key("key generation failed".into());
    let doc = match kind {
        AccountKeyType::EcdsaP256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?
        }
        AccountKeyType::EcdsaP384 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .map_err(failed)?
        }
        AccountKeyType::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?,
        AccountKeyType::Rsa2048 => return generate_rsa_pkcs8(2048),
        AccountKeyType::Rsa4096 => return generate_rsa_pkcs8(4096),
    };
    Ok(doc.as_ref().to_vec())
}

/// Generate an RSA key (the `rsa` crate: ring cannot generate RSA) as PKCS#8 DER.
pub(crate) fn generate_rsa_pkcs8(bits: usize) -> Result<Vec<u8>> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::new(&mut RingRng, bits)
        .map_err(|_| Error::Key("RSA key generation failed".into()))?;
    let doc = key
        .to_pkcs8_der()
        .map_err(|_| Error::Key("RSA key encoding failed".into()))?;
    Ok(doc.as_bytes().to_vec())
}

/// rand_core adapter over ring's system RNG, for `rsa` key generation.
struct RingRng;

/// Error of [`RingRng`].
#[derive(Debug)]
struct RngError;

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("system random generator failed")
    }
}

impl std::error::Error for RngError {}

impl rsa::rand_core::TryRng for RingRng {
    type Error = RngError;
    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        random_bytes(dst).map_err(|_| RngError)
    }
}

impl rsa::rand_core::TryCryptoRng for RingRng {}

/// An ACME account key (RFC 8555 §6.2). Cheap to clone; `Debug` shows no secret.
#[derive(Clone)]
pub struct AccountKey {
    key: Arc<SigningKey>,
}

impl AccountKey {
    /// Generate a new key.
    pub fn generate(kind: AccountKeyType) -> Result<Self> {
        Self::from_pkcs8_der(&generate_ring_pkcs8(kind)?)
    }

    /// Load a PKCS#8 DER private key (ECDSA P-256/P-384, Ed25519, RSA).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        Ok(AccountKey {
            key: Arc::new(SigningKey::from_pkcs8(der)?),
        })
    }

    /// Load a PEM private key: PKCS#8 `PRIVATE KEY` (or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self> {
        Ok(AccountKey {
            key: Arc::new(SigningKey::from_pem(pem.as_bytes())?),
        })
    }

    /// Load a private JWK (RFC 7518 §6): RSA (`n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`) or EC
    /// P-256/P-384 (`d`, `x`, `y`), as certbot keeps account keys (`private_key.json`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self> {
        let bad = |what: String| Error::Key(format!("invalid private JWK: {what}"));
        let field = |k: &str| -> Result<Vec<u8>> {
            let s = jwk
                .get(k)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(format!("no `{k}`")))?;
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| bad(format!("`{k}` is not base64url")))
        };
        match jwk.get("kty").and_then(serde_json::Value::as_str) {
            Some("RSA") => {
                let mut seq = der_write(0x02, &[0]);
                for k in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
                    seq.extend(der_write(0x02, &der_uint(&field(k)?)));
                }
                Self::from_pem(&pem_encode("RSA PRIVATE KEY", &der_write(0x30, &seq)))
            }
            Some("EC") => {
                let (oid, len) = match jwk.get("crv").and_then(serde_json::Value::as_str) {
                    Some("P-256") => (OID_P256, 32),
                    Some("P-384") => (OID_P384, 48),
                    other => return Err(bad(format!("unsupported curve {other:?}"))),
                };
                let fixed = |b: Vec<u8>| -> Result<Vec<u8>> {
                    let b = strip_zeros(&b);
                    if b.len() > len {
                        return Err(bad("a coordinate is too long for the curve".into()));
                    }
                    let mut out = vec![0u8; len - b.len()];
                    out.extend_from_slice(b);
                    Ok(out)
                };
                let mut point = vec![0u8, 4];
                point.extend(fixed(field("x")?)?);
                point.extend(fixed(field("y")?)?);
                let mut seq = der_write(0x02, &[1]);
                seq.extend(der_write(0x04, &fixed(field("d")?)?));
                seq.extend(der_write(0xa0, oid));
                seq.extend(der_write(0xa1, &der_write(0x03, &point)));
                Self::from_pkcs8_der(&sec1_to_pkcs8(&der_write(0x30, &seq))?)
            }
            other => Err(bad(format!("kty {other:?} (expected RSA or EC)"))),
        }
    }

    /// Export as PKCS#8 PEM (`PRIVATE KEY`). The result is secret.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.key.pkcs8_der())
    }

    /// The PKCS#8 DER encoding. The result is secret.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        self.key.pkcs8_der().to_vec()
    }

    /// The JWS algorithm this key signs with.
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.key.alg()
    }

    /// The public key as a JWK (RFC 7517).
    pub fn public_jwk(&self) -> serde_json::Value {
        self.key.jwk_json()
    }

    /// RFC 7638 SHA-256 thumbprint of the public key, base64url (used in key authorizations).
    pub fn thumbprint(&self) -> &str {
        self.key.thumbprint()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("alg", &format_args!("{}", self.key.alg()))
            .field("thumbprint", &self.key.thumbprint())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_private_ec_jwk_loads_as_the_same_key() {
        for kind in [AccountKeyType::EcdsaP256, AccountKeyType::EcdsaP384] {
            let key = AccountKey::generate(kind).expect("key");
            // d from the PKCS#8's SEC1: SEQ { INT, SEQ alg, OCTET STRING { SEQ { INT 1, OCTET d … } } }.
            let der = key.to_pkcs8_der();
            let (_, body, _) = der_read(&der).expect("pkcs8");
            let (_, _, rest) = der_read(body).expect("version");
            let (_, _, rest) = der_read(rest).expect("alg");
            let (_, sec1, _) = der_read(rest).expect("octets");
            let (_, sec1, _) = der_read(sec1).expect("sec1");
            let (_, _, rest) = der_read(sec1).expect("version");
            let (_, d, _) = der_read(rest).expect("d");
            let mut jwk = key.public_jwk();
            jwk["d"] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(d));
            let loaded = AccountKey::from_jwk(&jwk).expect("loads");
            assert_eq!(loaded.public_jwk(), key.public_jwk());
            assert_eq!(loaded.algorithm(), key.algorithm());
        }
        let e = AccountKey::from_jwk(&serde_json::json!({"kty": "oct", "k": "x"}))
            .expect_err("not a private key");
        assert!(e.to_string().contains("kty"), "{e}");
        let e = AccountKey::from_jwk(&serde_json::json!({"kty": "RSA", "n": "AQAB"}))
            .expect_err("incomplete");
        assert!(e.to_string().contains("`e`"), "{e}");
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = BTreeMap::from([
            ("e", "AQAB".to_owned()),
            ("kty", "RSA".to_owned()),
            ("n", n.to_owned()),
        ]);
        assert_eq!(
            thumbprint_of(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for (kind, alg, kty) in [
            (AccountKeyType::EcdsaP256, JwsAlgorithm::Es256, "EC"),
            (AccountKeyType::EcdsaP384, JwsAlgorithm::Es384, "EC"),
            (AccountKeyType::Ed25519, JwsAlgorithm::EdDsa, "OKP"),
        ] {
            let k = AccountKey::generate(kind).expect("generates");
            assert_eq!(k.algorithm(), alg);
            assert_eq!(k.public_jwk()["kty"], kty);
            let pem = k.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = AccountKey::from_pem(&pem).expect("loads");
            assert_eq!(back.thumbprint(), k.thumbprint());
            assert_eq!(back.algorithm(), alg);
            let sig = k.signing_key().sign(b"msg").expect("signs");
            match alg {
                JwsAlgorithm::Es256 | JwsAlgorithm::EdDsa => assert_eq!(sig.len(), 64),
                JwsAlgorithm::Es384 => assert_eq!(sig.len(), 96),
                JwsAlgorithm::Rs256 => {}
            }
        }
    }

    #[test]
    fn rsa_key_generates_and_imports() {
        let k = AccountKey::generate(AccountKeyType::Rsa2048).expect("generates");
        assert_eq!(k.algorithm(), JwsAlgorithm::Rs256);
        assert_eq!(k.public_jwk()["e"], "AQAB");
        let back = AccountKey::from_pem(&k.to_pem()).expect("loads");
        assert_eq!(back.thumbprint(), k.thumbprint());
        assert_eq!(k.signing_key().sign(b"x").expect("signs").len(), 256);
    }

    #[test]
    fn debug_is_redacted() {
        let k = AccountKey::generate(AccountKeyType::EcdsaP256).expect("generates");
        let dbg = format!("{k:?}");
        let pem = k.to_pem();
        let body: String = pem
            .lines()
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(20)
            .collect();
        assert!(!dbg.contains(&body));
        assert!(dbg.contains("ES256"));
    }

    #[test]
    fn account_key_type_names() {
        for t in AccountKeyType::ALL {
            assert_eq!(t.as_str().parse::<AccountKeyType>().expect("parses"), t);
        }
        assert!("rsa3072".parse::<AccountKeyType>().is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(AccountKey::from_pem("nothing here").is_err());
        let sec1 = pem_encode("EC PRIVATE KEY", &[0x30, 0x00]);
        assert!(AccountKey::from_pem(&sec1).is_err());
    }

    /// Made with `openssl ecparam -name prime256v1|secp384r1 -genkey -noout` (test keys).
    pub(crate) const SEC1_P256: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIAx+0/60JGIsJ13twoQWrvY48AWgIbxObKhHmUJBclY6oAoGCCqGSM49
AwEHoUQDQgAEwaa+y9SKJCjm033R6dVAfEeQy50KKj5BtCzn8juGsum0elMsPZRV
ViTzDcNOFQuSKYLvRdLdjLOOa2o7MlKvZw==
-----END EC PRIVATE KEY-----
";
    const SEC1_P384: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDC1K7TB/aSeF0PqPAbW4jW5rYgxEDBH5gh3TYCsFI+jLiMLdYPqJyTo
z2yTMzwuPZugBwYFK4EEACKhZANiAAQ7uB8zams2Rau6fxlFuLXvLwxnX1Dvhyao
dEibcMJQJT90F1h4s4W6G5JlY1WFnuCiZSVR7zjxDOs7pyRFtsc8Ep88ARSqx+cI
hG+C4oTBMDYZ2qcy0Sn3tQazsYBY3Gw=
-----END EC PRIVATE KEY-----
";

    #[test]
    fn imports_sec1_ec_keys() {
        let k = AccountKey::from_pem(SEC1_P256).expect("P-256 SEC1 loads");
        assert_eq!(k.algorithm(), JwsAlgorithm::Es256);
        let again = AccountKey::from_pem(&k.to_pem()).expect("PKCS#8 round trip");
        assert_eq!(again.thumbprint(), k.thumbprint());
        let k = AccountKey::from_pem(SEC1_P384).expect("P-384 SEC1 loads");
        assert_eq!(k.algorithm(), JwsAlgorithm::Es384);
    }

    #[test]
    fn imports_sec1_without_parameters() {
        // ring's PKCS#8 holds a SEC1 ECPrivateKey without [0] parameters: unwrap it.
        let k = AccountKey::generate(AccountKeyType::EcdsaP384).expect("key");
        let der = k.to_pkcs8_der();
        let (_, body, _) = der_read(&der).expect("seq");
        let (_, _, rest) = der_read(body).expect("version");
        let (_, _, rest) = der_read(rest).expect("alg");
        let (tag, sec1, _) = der_read(rest).expect("octets");
        assert_eq!(tag, 0x04);
        let back = AccountKey::from_pem(&pem_encode("EC PRIVATE KEY", sec1)).expect("loads");
        assert_eq!(back.thumbprint(), k.thumbprint());
    }
}
