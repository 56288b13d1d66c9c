//! The server's RFC 7807 problem documents (RFC 8555 §6.7), with subproblems per identifier.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::identifier::Identifier;

/// The `type` of a problem document: RFC 8555 §6.7, plus extensions (RFC 9773, profiles).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemType {
    /// `accountDoesNotExist`: no account for this key (e.g. `onlyReturnExisting`).
    AccountDoesNotExist,
    /// `alreadyRevoked`: the certificate was revoked before.
    AlreadyRevoked,
    /// `alreadyReplaced` (RFC 9773): the certificate named in `replaces` was already replaced.
    AlreadyReplaced,
    /// `badCSR`: the CSR is unacceptable.
    BadCsr,
    /// `badNonce`: the nonce was unacceptable; retry with the fresh one.
    BadNonce,
    /// `badPublicKey`: the JWS key is unsupported.
    BadPublicKey,
    /// `badRevocationReason`: the revocation reason is not allowed.
    BadRevocationReason,
    /// `badSignatureAlgorithm`: the JWS algorithm is unsupported.
    BadSignatureAlgorithm,
    /// `caa`: a CAA record forbids issuance.
    Caa,
    /// `compound`: see the subproblems.
    Compound,
    /// `connection`: the server could not connect to the validation target.
    Connection,
    /// `dns`: a DNS lookup failed during validation.
    Dns,
    /// `externalAccountRequired`: the CA needs external account binding.
    ExternalAccountRequired,
    /// `incorrectResponse`: the challenge response did not match.
    IncorrectResponse,
    /// `invalidContact`: a contact URL is invalid.
    InvalidContact,
    /// `invalidProfile` (draft-ietf-acme-profiles): the profile is unknown or retired.
    InvalidProfile,
    /// `malformed`: the request was malformed.
    Malformed,
    /// `orderNotReady`: finalize before the order was ready.
    OrderNotReady,
    /// `rateLimited`: a rate limit was hit; see `Retry-After`.
    RateLimited,
    /// `rejectedIdentifier`: the CA will not issue for this name.
    RejectedIdentifier,
    /// `serverInternal`: the server had an internal error.
    ServerInternal,
    /// `tls`: TLS error during validation.
    Tls,
    /// `unauthorized`: the client lacks authorization (deactivated account, wrong key…).
    Unauthorized,
    /// `unsupportedContact`: a contact URL scheme is unsupported.
    UnsupportedContact,
    /// `unsupportedIdentifier`: the identifier type is unsupported.
    UnsupportedIdentifier,
    /// `userActionRequired`: visit the `instance` URL (e.g. new terms of service).
    UserActionRequired,
    /// Any other type URI, verbatim.
    Other(String),
}

const ACME_URN: &str = "urn:ietf:params:acme:error:";

impl ProblemType {
    /// Parse a problem `type` URI.
    pub fn from_uri(uri: &str) -> Self {
        let Some(short) = uri.strip_prefix(ACME_URN) else {
            return ProblemType::Other(uri.to_owned());
        };
        match short {
            "accountDoesNotExist" => Self::AccountDoesNotExist,
            "alreadyRevoked" => Self::AlreadyRevoked,
            "alreadyReplaced" => Self::AlreadyReplaced,
            "badCSR" => Self::BadCsr,
            "badNonce" => Self::BadNonce,
            "badPublicKey" => Self::BadPublicKey,
            "badRevocationReason" => Self::BadRevocationReason,
            "badSignatureAlgorithm" => Self::BadSignatureAlgorithm,
            "caa" => Self::Caa,
            "compound" => Self::Compound,
            "connection" => Self::Connection,
            "dns" => Self::Dns,
            "externalAccountRequired" => Self::ExternalAccountRequired,
            "incorrectResponse" => Self::IncorrectResponse,
            "invalidContact" => Self::InvalidContact,
            "invalidProfile" => Self::InvalidProfile,
            "malformed" => Self::Malformed,
            "orderNotReady" => Self::OrderNotReady,
            "rateLimited" => Self::RateLimited,
            "rejectedIdentifier" => Self::RejectedIdentifier,
            "serverInternal" => Self::ServerInternal,
            "tls" => Self::Tls,
            "unauthorized" => Self::Unauthorized,
            "unsupportedContact" => Self::UnsupportedContact,
            "unsupportedIdentifier" => Self::UnsupportedIdentifier,
            "userActionRequired" => Self::UserActionRequired,
            _ => Self::Other(uri.to_owned()),
        }
    }

    /// The short name (`badNonce`) for ACME types, the full URI otherwise.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AccountDoesNotExist => "accountDoesNotExist",
            Self::AlreadyRevoked => "alreadyRevoked",
            Self::AlreadyReplaced => "alreadyReplaced",
            Self::BadCsr => "badCSR",
            Self::BadNonce => "badNonce",
            Self::BadPublicKey => "badPublicKey",
            Self::BadRevocationReason => "badRevocationReason",
            Self::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Self::Caa => "caa",
            Self::Compound => "compound",
            Self::Connection => "connection",
            Self::Dns => "dns",
            Self::ExternalAccountRequired => "externalAccountRequired",
            Self::IncorrectResponse => "incorrectResponse",
            Self::InvalidContact => "invalidContact",
            Self::InvalidProfile => "invalidProfile",
            Self::Malformed => "malformed",
            Self::OrderNotReady => "orderNotReady",
            Self::RateLimited => "rateLimited",
            Self::RejectedIdentifier => "rejectedIdentifier",
            Self::ServerInternal => "serverInternal",
            Self::Tls => "tls",
            Self::Unauthorized => "unauthorized",
            Self::UnsupportedContact => "unsupportedContact",
            Self::UnsupportedIdentifier => "unsupportedIdentifier",
            Self::UserActionRequired => "userActionRequired",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 7807 problem document as used by RFC 8555 §6.7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The typed `type` field.
    pub problem_type: ProblemType,
    /// Human-readable explanation.
    pub detail: Option<String>,
    /// HTTP status the server put in the document (or the response status).
    pub status: Option<u16>,
    /// Per-identifier problems (RFC 8555 §6.7.1).
    pub subproblems: Vec<Subproblem>,
    /// A URL for the user to visit (`userActionRequired`).
    pub instance: Option<String>,
    /// The response's `Retry-After`, when given (rate limits, RFC 8555 §6.6).
    pub retry_after: Option<Duration>,
}

/// A subproblem naming one identifier (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subproblem {
    /// The typed `type` field.
    pub problem_type: ProblemType,
    /// Human-readable explanation.
    pub detail: Option<String>,
    /// The identifier this subproblem is about.
    pub identifier: Option<Identifier>,
}

#[derive(Deserialize)]
struct RawProblem {
    #[serde(rename = "type", default)]
    ty: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    subproblems: Vec<RawSubproblem>,
    #[serde(default)]
    instance: Option<String>,
}

#[derive(Deserialize)]
struct RawSubproblem {
    #[serde(rename = "type", default)]
    ty: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    identifier: Option<Identifier>,
}

impl<'de> Deserialize<'de> for Problem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawProblem::deserialize(d)?;
        Ok(Problem {
            // RFC 7807 §4.2: a missing type means "about:blank".
            problem_type: ProblemType::from_uri(raw.ty.as_deref().unwrap_or("about:blank")),
            detail: raw.detail,
            status: raw.status,
            subproblems: raw
                .subproblems
                .into_iter()
                .map(|s| Subproblem {
                    problem_type: ProblemType::from_uri(s.ty.as_deref().unwrap_or("about:blank")),
                    detail: s.detail,
                    identifier: s.identifier,
                })
                .collect(),
            instance: raw.instance,
            retry_after: None,
        })
    }
}

impl Problem {
    /// Parse a problem document from a JSON body.
    pub fn from_json(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every server-sent field goes through `one_line`: a hostile CA cannot add lines
        // (or terminal control characters) to our one-line errors.
        write!(f, "{}", one_line(self.problem_type.as_str()))?;
        if let Some(d) = &self.detail {
            write!(f, ": {}", one_line(d))?;
        }
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        if let Some(i) = &self.instance {
            write!(f, " [see {}]", one_line(i))?;
        }
        for sp in &self.subproblems {
            f.write_str("; ")?;
            if let Some(id) = &sp.identifier {
                write!(f, "{}: ", one_line(&id.value))?;
            }
            write!(f, "{}", one_line(sp.problem_type.as_str()))?;
            if let Some(d) = &sp.detail {
                write!(f, ": {}", one_line(d))?;
            }
        }
        if let Some(r) = self.retry_after {
            write!(f, " (retry after {}s)", r.as_secs())?;
        }
        Ok(())
    }
}

/// Collapse whitespace and drop control characters so server text stays on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_problem_fields_stay_on_one_line() {
        let body =
            br#"{"type": "urn:x\nevil", "detail": "a\r\nb\u001b[31m", "instance": "https://ca/\nx",
            "subproblems": [{"type": "t\n", "identifier": {"type": "dns", "value": "x\ny"}}]}"#;
        let p = Problem::from_json(body).expect("problem");
        let shown = p.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }

    #[test]
    fn parses_problem_with_subproblems() {
        let body = br#"{
            "type": "urn:ietf:params:acme:error:compound",
            "detail": "Errors during validation",
            "status": 403,
            "subproblems": [
                {"type": "urn:ietf:params:acme:error:caa", "detail": "CAA forbids",
                 "identifier": {"type": "dns", "value": "example.org"}},
                {"type": "urn:ietf:params:acme:error:dns", "detail": "NXDOMAIN\nlookup",
                 "identifier": {"type": "dns", "value": "www.example.org"}}
            ]
        }"#;
        let p = Problem::from_json(body).expect("parses");
        assert_eq!(p.problem_type, ProblemType::Compound);
        assert_eq!(p.status, Some(403));
        assert_eq!(p.subproblems.len(), 2);
        assert_eq!(p.subproblems[0].problem_type, ProblemType::Caa);
        assert_eq!(
            p.subproblems[1]
                .identifier
                .as_ref()
                .map(|i| i.value.as_str()),
            Some("www.example.org")
        );
        let shown = p.to_string();
        assert!(!shown.contains('\n'));
        assert!(shown.contains("example.org: caa: CAA forbids"), "{shown}");
        assert!(
            shown.contains("www.example.org: dns: NXDOMAIN lookup"),
            "{shown}"
        );
    }

    #[test]
    fn problem_types_round_trip() {
        for name in [
            "badNonce",
            "rateLimited",
            "caa",
            "dns",
            "unauthorized",
            "accountDoesNotExist",
            "externalAccountRequired",
            "rejectedIdentifier",
            "malformed",
            "orderNotReady",
            "badRevocationReason",
            "alreadyRevoked",
            "badCSR",
        ] {
            let t = ProblemType::from_uri(&format!("{ACME_URN}{name}"));
            assert!(!matches!(t, ProblemType::Other(_)), "{name}");
            assert_eq!(t.as_str(), name);
        }
        assert_eq!(
            ProblemType::from_uri("urn:example:x"),
            ProblemType::Other("urn:example:x".into())
        );
        let p = Problem::from_json(br#"{"detail":"x"}"#).expect("parses");
        assert_eq!(p.problem_type, ProblemType::Other("about:blank".into()));
    }
}
