//! External account binding (RFC 8555 §7.3.4).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::error::{Error, Result};
use crate::jws::{Jws, sign_mac};
use crate::key::MacAlgorithm;

/// The key id and HMAC key a CA issues to bind a new ACME account to an existing customer.
///
/// `Debug` never shows the HMAC key.
#[derive(Clone)]
pub struct Eab {
    kid: String,
    hmac_key: Vec<u8>,
    alg: MacAlgorithm,
}

impl Eab {
    /// Build from the key id and the base64 HMAC key as CAs print it.
    ///
    /// Accepts base64url or standard base64, padded or not; uses HS256.
    pub fn new(kid: impl Into<String>, hmac_key_b64: &str) -> Result<Self> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(Error::Eab("empty key id".into()));
        }
        let cleaned: String = hmac_key_b64
            .trim()
            .trim_end_matches('=')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let hmac_key = URL_SAFE_NO_PAD
            .decode(&cleaned)
            .or_else(|_| STANDARD_NO_PAD.decode(&cleaned))
            .map_err(|_| Error::Eab("the HMAC key is not valid base64".into()))?;
        if hmac_key.is_empty() {
            return Err(Error::Eab("empty HMAC key".into()));
        }
        Ok(Eab {
            kid,
            hmac_key,
            alg: MacAlgorithm::Hs256,
        })
    }

    /// Use another MAC algorithm (HS384, HS512).
    pub fn with_algorithm(mut self, alg: MacAlgorithm) -> Self {
        self.alg = alg;
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The MAC algorithm.
    pub fn algorithm(&self) -> MacAlgorithm {
        self.alg
    }

    /// The inner JWS for `externalAccountBinding`: the account JWK, MACed (§7.3.4).
    pub(crate) fn binding(&self, account_jwk: &serde_json::Value, new_account_url: &str) -> Jws {
        sign_mac(
            self.alg,
            &self.hmac_key,
            &self.kid,
            new_account_url,
            account_jwk.to_string().as_bytes(),
        )
    }
}

impl fmt::Debug for Eab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Eab")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("hmac_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::decode_part;
    use crate::key::hmac;

    #[test]
    fn accepts_every_base64_flavour() {
        let raw = [0xfbu8, 0xff, 0xfe, 0x01, 0x02];
        let forms = [
            URL_SAFE_NO_PAD.encode(raw),
            base64::engine::general_purpose::URL_SAFE.encode(raw),
            STANDARD_NO_PAD.encode(raw),
            base64::engine::general_purpose::STANDARD.encode(raw),
        ];
        for f in forms {
            let e = Eab::new("kid", &f).expect(&f);
            assert_eq!(e.hmac_key, raw, "{f}");
        }
        assert!(Eab::new("kid", "***").is_err());
        assert!(Eab::new("", "AAAA").is_err());
    }

    #[test]
    fn binding_macs_the_account_jwk() {
        let e = Eab::new("kid-1", "c2VjcmV0")
            .expect("valid")
            .with_algorithm(MacAlgorithm::Hs512);
        let jwk = serde_json::json!({"kty":"EC","crv":"P-256","x":"a","y":"b"});
        let jws = e.binding(&jwk, "https://ca/new-acct");
        let h = decode_part(&jws.protected);
        assert_eq!(h["alg"], "HS512");
        assert_eq!(h["kid"], "kid-1");
        assert_eq!(h["url"], "https://ca/new-acct");
        assert_eq!(decode_part(&jws.payload), jwk);
        let mac = hmac(
            MacAlgorithm::Hs512,
            b"secret",
            format!("{}.{}", jws.protected, jws.payload).as_bytes(),
        );
        assert_eq!(URL_SAFE_NO_PAD.encode(mac), jws.signature);
    }

    #[test]
    fn debug_is_redacted() {
        let e = Eab::new("kid-1", "c2VjcmV0").expect("valid");
        let d = format!("{e:?}");
        assert!(d.contains("redacted") && !d.contains("115"), "{d}");
    }
}
