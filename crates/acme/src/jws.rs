//! Flattened JWS JSON serialization (RFC 7515 §7.2.2) as RFC 8555 §6.2 requires.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::key::{MacAlgorithm, SigningKey, hmac};
use crate::nonce::Nonce;

/// How the protected header names the key (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRef<'a> {
    /// Embed the public key: newAccount, revokeCert by certificate key, keyChange inner JWS.
    Jwk,
    /// Name the account URL: every other request.
    Kid(&'a str),
}

/// A flattened JWS, ready to POST as `application/jose+json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Jws {
    pub(crate) protected: String,
    pub(crate) payload: String,
    pub(crate) signature: String,
}

/// Sign `payload` (already-serialized JSON, or empty for POST-as-GET, §6.3).
///
/// `nonce` is `None` only for the inner JWS of a key change (§7.3.5).
pub(crate) fn sign(
    key: &SigningKey,
    key_ref: KeyRef<'_>,
    nonce: Option<Nonce>,
    url: &str,
    payload: &[u8],
) -> Result<Jws> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::from(key.alg().as_str()));
    match key_ref {
        KeyRef::Jwk => {
            header.insert("jwk".into(), key.jwk_json());
        }
        KeyRef::Kid(kid) => {
            header.insert("kid".into(), Value::from(kid));
        }
    }
    if let Some(n) = nonce {
        header.insert("nonce".into(), Value::from(n.into_string()));
    }
    header.insert("url".into(), Value::from(url));
    let protected = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let signature = URL_SAFE_NO_PAD.encode(key.sign(format!("{protected}.{payload}").as_bytes())?);
    Ok(Jws {
        protected,
        payload,
        signature,
    })
}

/// Sign `payload` with an HMAC key (the external account binding, RFC 8555 §7.3.4).
pub(crate) fn sign_mac(
    alg: MacAlgorithm,
    mac_key: &[u8],
    kid: &str,
    url: &str,
    payload: &[u8],
) -> Jws {
    let header = serde_json::json!({ "alg": alg.as_str(), "kid": kid, "url": url });
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let signature = URL_SAFE_NO_PAD.encode(hmac(
        alg,
        mac_key,
        format!("{protected}.{payload}").as_bytes(),
    ));
    Jws {
        protected,
        payload,
        signature,
    }
}

#[cfg(test)]
pub(crate) fn decode_part(part: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{AccountKey, AccountKeyType};

    #[test]
    fn kid_jws_shape() {
        let k = AccountKey::generate(AccountKeyType::EcdsaP256).expect("key");
        let jws = sign(
            k.signing_key(),
            KeyRef::Kid("https://ca/acct/1"),
            Nonce::parse("abc"),
            "https://ca/order",
            b"",
        )
        .expect("signs");
        assert_eq!(jws.payload, "", "POST-as-GET has an empty payload");
        let h = decode_part(&jws.protected);
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["kid"], "https://ca/acct/1");
        assert_eq!(h["nonce"], "abc");
        assert_eq!(h["url"], "https://ca/order");
        assert!(h.get("jwk").is_none());
        let sig = URL_SAFE_NO_PAD.decode(&jws.signature).expect("b64");
        assert_eq!(sig.len(), 64);
        // The signature verifies with the public key from the JWK.
        let jwk = k.public_jwk();
        let mut point = vec![4u8];
        for c in ["x", "y"] {
            point.extend(
                URL_SAFE_NO_PAD
                    .decode(jwk[c].as_str().unwrap_or_default())
                    .expect("b64"),
            );
        }
        let pk = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            point,
        );
        pk.verify(
            format!("{}.{}", jws.protected, jws.payload).as_bytes(),
            &sig,
        )
        .expect("signature verifies");
    }

    #[test]
    fn jwk_jws_shape() {
        let k = AccountKey::generate(AccountKeyType::Ed25519).expect("key");
        let jws = sign(
            k.signing_key(),
            KeyRef::Jwk,
            None,
            "https://ca/new-acct",
            br#"{"a":1}"#,
        )
        .expect("signs");
        let h = decode_part(&jws.protected);
        assert_eq!(h["alg"], "EdDSA");
        assert_eq!(h["jwk"]["kty"], "OKP");
        assert!(h.get("kid").is_none());
        assert!(h.get("nonce").is_none());
        assert_eq!(decode_part(&jws.payload)["a"], 1);
    }

    #[test]
    fn mac_jws_shape() {
        let jws = sign_mac(
            MacAlgorithm::Hs256,
            b"secret",
            "kid-1",
            "https://ca/new-acct",
            b"{}",
        );
        let h = decode_part(&jws.protected);
        assert_eq!(h["alg"], "HS256");
        assert_eq!(h["kid"], "kid-1");
        assert!(h.get("nonce").is_none());
        let expected = hmac(
            MacAlgorithm::Hs256,
            b"secret",
            format!("{}.{}", jws.protected, jws.payload).as_bytes(),
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&jws.signature).expect("b64"),
            expected
        );
    }
}
