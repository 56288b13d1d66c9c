//! Protocol objects as the server sends them (RFC 8555 §7.1).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identifier::Identifier;
use crate::problem::Problem;

macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)*
        }
        impl $name {
            /// The protocol name of this status.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s,)* }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Order status (RFC 8555 §7.1.6).
    OrderStatus {
        /// Authorizations not yet all valid.
        Pending = "pending",
        /// All authorizations valid; finalize may be called.
        Ready = "ready",
        /// The CA is issuing.
        Processing = "processing",
        /// The certificate is available.
        Valid = "valid",
        /// The order failed. (Pebble 2.4 reports an order whose authorizations were
        /// deactivated as `deactivated`, which RFC 8555 does not define for orders: an order
        /// that can no longer succeed, so it reads as invalid.)
        #[serde(alias = "deactivated")]
        Invalid = "invalid",
    }
);

status_enum!(
    /// Authorization status (RFC 8555 §7.1.6).
    AuthorizationStatus {
        /// Awaiting a challenge response.
        Pending = "pending",
        /// Validated.
        Valid = "valid",
        /// Validation failed.
        Invalid = "invalid",
        /// Deactivated by the client.
        Deactivated = "deactivated",
        /// Expired.
        Expired = "expired",
        /// Revoked by the server.
        Revoked = "revoked",
    }
);

status_enum!(
    /// Challenge status (RFC 8555 §7.1.6).
    ChallengeStatus {
        /// Not yet answered.
        Pending = "pending",
        /// The server is validating.
        Processing = "processing",
        /// Validated.
        Valid = "valid",
        /// Validation failed.
        Invalid = "invalid",
    }
);

status_enum!(
    /// Account status (RFC 8555 §7.1.6).
    AccountStatus {
        /// Usable.
        Valid = "valid",
        /// Deactivated by the client.
        Deactivated = "deactivated",
        /// Revoked by the server.
        Revoked = "revoked",
    }
);

/// Challenge type (RFC 8555 §8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChallengeType {
    /// `dns-01` (RFC 8555 §8.4).
    Dns01,
    /// `http-01` (RFC 8555 §8.3).
    Http01,
    /// `tls-alpn-01` (RFC 8737).
    TlsAlpn01,
    /// `dns-account-01` (draft-ietf-acme-dns-account-label): TXT at
    /// `_<account label>._acme-challenge.<name>`, value as for dns-01.
    DnsAccount01,
    /// `dns-persist-01` (draft-ietf-acme-dns-persist): a standing TXT at
    /// `_validation-persist.<name>` naming the CA and the account.
    DnsPersist01,
    /// Anything else, verbatim.
    Other(String),
}

impl ChallengeType {
    /// The protocol name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Dns01 => "dns-01",
            Self::Http01 => "http-01",
            Self::TlsAlpn01 => "tls-alpn-01",
            Self::DnsAccount01 => "dns-account-01",
            Self::DnsPersist01 => "dns-persist-01",
            Self::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for ChallengeType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "dns-01" => Self::Dns01,
            "http-01" => Self::Http01,
            "tls-alpn-01" => Self::TlsAlpn01,
            "dns-account-01" => Self::DnsAccount01,
            "dns-persist-01" => Self::DnsPersist01,
            _ => Self::Other(s),
        })
    }
}

impl Serialize for ChallengeType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for ChallengeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A challenge object (RFC 8555 §7.1.5, §8).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Challenge {
    /// Challenge type.
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    /// The challenge URL (POST `{}` here to respond).
    pub url: String,
    /// Status.
    pub status: ChallengeStatus,
    /// The token (dns-01, dns-account-01, http-01; dns-persist-01 has none).
    #[serde(default)]
    pub token: Option<String>,
    /// dns-persist-01: the account URL the CA expects in the record's `accounturi`.
    #[serde(default)]
    pub accounturi: Option<String>,
    /// dns-persist-01: the CA's issuer domain names (its CAA identities); the record must
    /// name one of them.
    #[serde(default, rename = "issuer-domain-names")]
    pub issuer_domain_names: Vec<String>,
    /// When it was validated (RFC 3339).
    #[serde(default)]
    pub validated: Option<String>,
    /// Why validation failed.
    #[serde(default)]
    pub error: Option<Problem>,
}

/// The account object (RFC 8555 §7.1.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AccountState {
    /// Status.
    pub status: AccountStatus,
    /// Contact URLs (`mailto:`).
    #[serde(default)]
    pub contact: Vec<String>,
    /// Whether the terms of service were agreed.
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
    /// URL of the account's order list.
    #[serde(default)]
    pub orders: Option<String>,
}

/// The order object (RFC 8555 §7.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OrderState {
    /// Status.
    pub status: OrderStatus,
    /// When the order expires (RFC 3339).
    #[serde(default)]
    pub expires: Option<String>,
    /// The identifiers ordered.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    /// Authorization URLs.
    #[serde(default)]
    pub authorizations: Vec<String>,
    /// Finalize URL.
    pub finalize: String,
    /// Certificate URL, once valid.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Why the order failed.
    #[serde(default)]
    pub error: Option<Problem>,
    /// The profile the CA applies (draft-ietf-acme-profiles).
    #[serde(default)]
    pub profile: Option<String>,
    /// The certificate this order replaces (RFC 9773).
    #[serde(default)]
    pub replaces: Option<String>,
}

/// The authorization object (RFC 8555 §7.1.4).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationState {
    /// The identifier (without `*.` even for wildcards).
    pub identifier: Identifier,
    /// Status.
    pub status: AuthorizationStatus,
    /// When it expires (RFC 3339).
    #[serde(default)]
    pub expires: Option<String>,
    /// Challenges offered.
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    /// True when this authorization is for a wildcard name.
    #[serde(default)]
    pub wildcard: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deactivated_order_reads_as_invalid() {
        let s: OrderStatus = serde_json::from_str("\"deactivated\"").expect("parses");
        assert_eq!(s, OrderStatus::Invalid);
    }

    #[test]
    fn parses_authorization() {
        let a: AuthorizationState = serde_json::from_str(
            r#"{"status":"pending","identifier":{"type":"dns","value":"example.org"},
                "wildcard":true,"challenges":[
                  {"type":"dns-01","url":"https://x/c/1","status":"pending","token":"tok"},
                  {"type":"dns-persist-01","url":"https://x/c/2","status":"pending",
                   "accounturi":"https://x/acct/1","issuer-domain-names":["ca.example"]},
                  {"type":"dns-account-01","url":"https://x/c/3","status":"pending","token":"t2"},
                  {"type":"dns-02","url":"https://x/c/4","status":"pending"}]}"#,
        )
        .expect("parses");
        assert!(a.wildcard);
        assert_eq!(a.challenges[0].kind, ChallengeType::Dns01);
        assert_eq!(a.challenges[1].kind, ChallengeType::DnsPersist01);
        assert_eq!(a.challenges[1].token, None);
        assert_eq!(
            a.challenges[1].accounturi.as_deref(),
            Some("https://x/acct/1")
        );
        assert_eq!(a.challenges[1].issuer_domain_names, ["ca.example"]);
        assert_eq!(a.challenges[2].kind, ChallengeType::DnsAccount01);
        assert_eq!(a.challenges[3].kind, ChallengeType::Other("dns-02".into()));
        assert_eq!(a.challenges[3].kind.as_str(), "dns-02");
        assert_eq!(a.status, AuthorizationStatus::Pending);
    }
}
