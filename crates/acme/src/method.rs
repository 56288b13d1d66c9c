//! DNS validation methods: `dns-01` (RFC 8555 §8.4), `dns-account-01`
//! (draft-ietf-acme-dns-account-label) and `dns-persist-01` (draft-ietf-acme-dns-persist).
//!
//! Choosing one per authorization ([`Authorization::require_challenge`],
//! [`Authorization::choose`]), the TXT record name each one reads
//! ([`Authorization::record_name`]) and what goes into it ([`Account::challenge_txt_value`] for
//! the two token-based methods, [`Account::persist_challenge`] for dns-persist-01, whose value
//! the caller builds with `wildcert_dns::persist`).

use std::fmt;
use std::str::FromStr;

use crate::account::Account;
use crate::error::{Error, Result};
use crate::key::sha256;
use crate::order::Authorization;
use crate::types::{Challenge, ChallengeType};

/// The label under which dns-01 and dns-account-01 records live.
pub const ACME_CHALLENGE_LABEL: &str = "_acme-challenge";
/// The label under which dns-persist-01 records live.
pub const PERSIST_LABEL: &str = "_validation-persist";

/// A DNS-based validation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValidationMethod {
    /// `dns-01`: a fresh TXT at `_acme-challenge.<name>` per order.
    Dns01,
    /// `dns-account-01`: a fresh TXT at `_<account label>._acme-challenge.<name>`, so several
    /// accounts can validate the same name at once.
    DnsAccount01,
    /// `dns-persist-01`: a standing TXT at `_validation-persist.<name>` naming the CA and the
    /// account; nothing is published per order.
    DnsPersist01,
}

impl ValidationMethod {
    /// Every method, in the order wildcert documents them.
    pub const ALL: [ValidationMethod; 3] = [
        ValidationMethod::Dns01,
        ValidationMethod::DnsAccount01,
        ValidationMethod::DnsPersist01,
    ];

    /// The protocol name (`dns-01`, `dns-account-01`, `dns-persist-01`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationMethod::Dns01 => "dns-01",
            ValidationMethod::DnsAccount01 => "dns-account-01",
            ValidationMethod::DnsPersist01 => "dns-persist-01",
        }
    }

    /// The challenge type the CA lists for this method.
    pub fn challenge_type(self) -> ChallengeType {
        match self {
            ValidationMethod::Dns01 => ChallengeType::Dns01,
            ValidationMethod::DnsAccount01 => ChallengeType::DnsAccount01,
            ValidationMethod::DnsPersist01 => ChallengeType::DnsPersist01,
        }
    }

    /// The method for a challenge type, when it is one of ours.
    pub fn from_challenge_type(kind: &ChallengeType) -> Option<Self> {
        match kind {
            ChallengeType::Dns01 => Some(ValidationMethod::Dns01),
            ChallengeType::DnsAccount01 => Some(ValidationMethod::DnsAccount01),
            ChallengeType::DnsPersist01 => Some(ValidationMethod::DnsPersist01),
            _ => None,
        }
    }

    /// True for the methods that publish a fresh record per order (and clean it up).
    pub fn publishes_per_order(self) -> bool {
        !matches!(self, ValidationMethod::DnsPersist01)
    }

    /// The TXT record name this method reads for `identifier` (no `*.`: a wildcard is
    /// validated at its base name). `account_url` matters only for dns-account-01.
    pub fn record_name(self, identifier: &str, account_url: &str) -> String {
        let base = identifier.strip_prefix("*.").unwrap_or(identifier);
        match self {
            ValidationMethod::Dns01 => format!("{ACME_CHALLENGE_LABEL}.{base}"),
            ValidationMethod::DnsAccount01 => format!(
                "_{}.{ACME_CHALLENGE_LABEL}.{base}",
                dns_account_label(account_url)
            ),
            ValidationMethod::DnsPersist01 => format!("{PERSIST_LABEL}.{base}"),
        }
    }
}

impl fmt::Display for ValidationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValidationMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        ValidationMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == t)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown validation method {s:?} (known: dns-01, dns-account-01, dns-persist-01)"
                ))
            })
    }
}

/// The dns-account-01 label of an account: lower-case base32 (RFC 4648, no padding) of the
/// first 10 bytes of SHA-256 of the account URL, 16 characters.
pub fn dns_account_label(account_url: &str) -> String {
    let digest = sha256(account_url.as_bytes());
    base32_lower(&digest[..10])
}

/// RFC 4648 base32, lower case, no padding.
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// What a dns-persist-01 record for one authorization must say (draft-ietf-acme-dns-persist).
#[derive(Debug, Clone)]
pub struct PersistChallenge {
    /// The identifier (no `*.`).
    pub identifier: String,
    /// True when the name ordered was `*.<identifier>`: the record needs `policy=wildcard`.
    pub wildcard: bool,
    /// Where the record goes: `_validation-persist.<identifier>`.
    pub record_name: String,
    /// The CA's issuer domain names: the record must name one of them (the challenge's
    /// `issuer-domain-names`, else the directory's `caaIdentities`).
    pub issuer_domain_names: Vec<String>,
    /// The account URL the record's `accounturi` must equal exactly (the challenge's
    /// `accounturi`, else this account's URL).
    pub account_uri: String,
    /// The challenge to respond to.
    pub challenge: Challenge,
}

impl Authorization {
    /// The challenge types the CA offers for this authorization, as it names them.
    pub fn offered_methods(&self) -> Vec<String> {
        self.state
            .challenges
            .iter()
            .map(|c| c.kind.as_str().to_owned())
            .collect()
    }

    /// True when the CA offers `method` for this authorization.
    pub fn offers(&self, method: ValidationMethod) -> bool {
        self.challenge(&method.challenge_type()).is_some()
    }

    /// The `dns-01` challenge, or [`Error::MethodNotOffered`] naming the identifier and the
    /// methods the CA offers.
    pub fn require_dns01(&self) -> Result<&Challenge> {
        self.require_challenge(ValidationMethod::Dns01)
    }

    /// The challenge for `method`, or [`Error::MethodNotOffered`] listing what the CA offers.
    pub fn require_challenge(&self, method: ValidationMethod) -> Result<&Challenge> {
        self.challenge(&method.challenge_type())
            .ok_or_else(|| Error::MethodNotOffered {
                identifier: self.name(),
                method: method.as_str().to_owned(),
                offered: self.offered_methods(),
            })
    }

    /// The first method of `preferred` the CA offers, with its challenge; otherwise
    /// [`Error::MethodNotOffered`] naming the first preference and listing what is offered.
    pub fn choose(&self, preferred: &[ValidationMethod]) -> Result<(ValidationMethod, &Challenge)> {
        for &m in preferred {
            if let Some(c) = self.challenge(&m.challenge_type()) {
                return Ok((m, c));
            }
        }
        Err(Error::MethodNotOffered {
            identifier: self.name(),
            method: preferred
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            offered: self.offered_methods(),
        })
    }

    /// The TXT record name `method` reads for this authorization (see
    /// [`ValidationMethod::record_name`]).
    pub fn record_name(&self, method: ValidationMethod, account_url: &str) -> String {
        method.record_name(self.identifier(), account_url)
    }
}

impl Account {
    /// This account's dns-account-01 label (see [`dns_account_label`]).
    pub fn dns_account_label(&self) -> String {
        dns_account_label(self.url())
    }

    /// Where `method`'s TXT record goes for `authz`, for this account.
    pub fn record_name(&self, authz: &Authorization, method: ValidationMethod) -> String {
        authz.record_name(method, self.url())
    }

    /// The TXT value for a dns-01 or dns-account-01 challenge (the same for both:
    /// base64url(SHA-256(key authorization))). A dns-persist-01 challenge has no token and
    /// no per-order value: [`Error::InvalidArgument`].
    pub fn challenge_txt_value(&self, challenge: &Challenge) -> Result<String> {
        match challenge.kind {
            ChallengeType::Dns01 | ChallengeType::DnsAccount01 => self.dns01_txt_value(challenge),
            ref other => Err(Error::InvalidArgument(format!(
                "a {other} challenge has no per-order TXT value"
            ))),
        }
    }

    /// What the dns-persist-01 record for `authz` must say, or [`Error::MethodNotOffered`].
    pub fn persist_challenge(&self, authz: &Authorization) -> Result<PersistChallenge> {
        let challenge = authz
            .require_challenge(ValidationMethod::DnsPersist01)?
            .clone();
        let issuer_domain_names = if challenge.issuer_domain_names.is_empty() {
            self.client().directory().meta.caa_identities.clone()
        } else {
            challenge.issuer_domain_names.clone()
        };
        let account_uri = challenge
            .accounturi
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.url().to_owned());
        Ok(PersistChallenge {
            identifier: authz.identifier().to_owned(),
            wildcard: authz.wildcard(),
            record_name: authz.record_name(ValidationMethod::DnsPersist01, self.url()),
            issuer_domain_names,
            account_uri,
            challenge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AuthorizationState;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lower-cased, padding removed.
        for (input, want) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_lower(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn account_label_is_sixteen_base32_characters_of_the_url_hash() {
        let url = "https://example.com/acme/acct/ExampleAccount";
        let label = dns_account_label(url);
        assert_eq!(label.len(), 16);
        // Independent computation: SHA-256 of the URL, first 10 bytes, base32 by hand.
        let digest = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
        let mut bits = String::new();
        for b in &digest.as_ref()[..10] {
            bits.push_str(&format!("{b:08b}"));
        }
        let alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        let manual: String = bits
            .as_bytes()
            .chunks(5)
            .map(|c| {
                let v =
                    usize::from_str_radix(std::str::from_utf8(c).unwrap_or("0"), 2).unwrap_or(0);
                alphabet.as_bytes()[v] as char
            })
            .collect();
        assert_eq!(label, manual);
        assert_ne!(
            label,
            dns_account_label("https://example.com/acme/acct/Other")
        );
        assert_eq!(
            ValidationMethod::DnsAccount01.record_name("*.example.org", url),
            format!("_{label}._acme-challenge.example.org")
        );
    }

    #[test]
    fn documented_label_example() {
        // docs/validation-methods.md quotes this one (computed independently with Python).
        assert_eq!(
            dns_account_label("https://acme-v02.api.letsencrypt.org/acme/acct/123456"),
            "bnxkrtp5hx67nw4s"
        );
    }

    #[test]
    fn record_names_per_method() {
        assert_eq!(
            ValidationMethod::Dns01.record_name("example.org", "u"),
            "_acme-challenge.example.org"
        );
        assert_eq!(
            ValidationMethod::DnsPersist01.record_name("*.example.org", "u"),
            "_validation-persist.example.org"
        );
        assert_eq!(
            "DNS-Persist-01".parse::<ValidationMethod>().ok(),
            Some(ValidationMethod::DnsPersist01)
        );
        let e = "dns-02".parse::<ValidationMethod>().expect_err("unknown");
        assert!(e.to_string().contains("dns-account-01"), "{e}");
    }

    fn authz(challenges: &str) -> Authorization {
        let state: AuthorizationState = serde_json::from_str(&format!(
            r#"{{"status":"pending","identifier":{{"type":"dns","value":"example.org"}},
                "wildcard":true,"challenges":[{challenges}]}}"#
        ))
        .expect("parses");
        Authorization {
            url: "https://x/a".into(),
            state,
            retry_after: None,
        }
    }

    #[test]
    fn missing_method_lists_what_the_ca_offers() {
        let a = authz(
            r#"{"type":"dns-account-01","url":"https://x/c/1","status":"pending","token":"t"},
               {"type":"dns-persist-01","url":"https://x/c/2","status":"pending"}"#,
        );
        let e = a.require_dns01().expect_err("no dns-01");
        assert_eq!(
            e.to_string(),
            "the CA offers no dns-01 challenge for *.example.org (it offers: dns-account-01, dns-persist-01)"
        );
        assert!(matches!(e, Error::MethodNotOffered { ref offered, .. } if offered.len() == 2));
        let (m, c) = a
            .choose(&[ValidationMethod::Dns01, ValidationMethod::DnsPersist01])
            .expect("persist offered");
        assert_eq!(m, ValidationMethod::DnsPersist01);
        assert_eq!(c.url, "https://x/c/2");
        let none = authz("");
        let e = none
            .choose(&[ValidationMethod::Dns01, ValidationMethod::DnsAccount01])
            .expect_err("nothing");
        assert_eq!(
            e.to_string(),
            "the CA offers no dns-01 or dns-account-01 challenge for *.example.org (it offers none)"
        );
    }
}
