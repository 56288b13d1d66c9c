//! Errors: one enum for the crate, with the server's RFC 7807 problem documents as a variant.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::types::{AuthorizationStatus, Identifier};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an ACME server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an RFC 7807 problem document (RFC 8555 §6.7).
    #[error("ACME server error: {0}")]
    Problem(Box<Problem>),
    /// An authorization became invalid; `problem` is the failed challenge's `error` (RFC 8555 §7.5.1).
    #[error("authorization for {identifier} failed ({status}){}", fmt_opt_problem(.problem))]
    AuthorizationFailed {
        /// The identifier whose validation failed (`*.` prefixed for wildcard authorizations).
        identifier: String,
        /// The final status of the authorization.
        status: AuthorizationStatus,
        /// The challenge's (or authorization's) error, when the server gave one.
        problem: Option<Box<Problem>>,
    },
    /// The order became `invalid` (RFC 8555 §7.1.6).
    #[error("order {url} became invalid{}", fmt_opt_problem(.problem))]
    OrderFailed {
        /// The order URL.
        url: String,
        /// The order's `error` field, when the server gave one.
        problem: Option<Box<Problem>>,
    },
    /// An order or authorization was not in a state this operation can work with.
    #[error("{what} is {status}, expected {expected}")]
    UnexpectedStatus {
        /// What was inspected (e.g. "order https://…").
        what: String,
        /// Its current status.
        status: String,
        /// The status(es) the operation needs.
        expected: &'static str,
    },
    /// A wait did not finish before its deadline.
    #[error("timed out after {waited:?} waiting for {what} (last status: {last_status})")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The last status seen.
        last_status: String,
    },
    /// The authorization does not offer the validation method asked for.
    #[error("the CA offers no {method} challenge for {identifier} (it offers{})", offered_list(.offered))]
    MethodNotOffered {
        /// The identifier of the authorization (`*.` prefixed for wildcards).
        identifier: String,
        /// The method(s) asked for (`dns-01`, or `dns-01 or dns-account-01`).
        method: String,
        /// The challenge types the CA offers for it, as it names them.
        offered: Vec<String>,
    },
    /// The CA refused the external account binding: unknown key id or wrong HMAC key.
    #[error("the CA rejected the external account binding for key id {key_id}: {problem}")]
    EabRejected {
        /// The EAB key id sent (not secret; the HMAC key never appears).
        key_id: String,
        /// The CA's problem document.
        problem: Box<Problem>,
    },
    /// The CA stopped answering: several requests in a row got no answer (timeout,
    /// connection refused), so this run sends it nothing more.
    #[error(
        "the CA is not answering ({requests} requests in a row got no answer; this one was for {url})"
    )]
    CaNotAnswering {
        /// The URL of the request that was not sent (or was cut off).
        url: String,
        /// How many requests in a row got no answer.
        requests: u32,
    },
    /// The request could not be sent or the response not read (connection, TLS, timeout).
    #[error("HTTP request to {url} failed ({kind}): {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong (source chain flattened into one line).
        message: String,
        /// Which part failed: the CA host's DNS name, the connection, TLS, a timeout.
        kind: TransportKind,
    },
    /// The server answered with an error status and a body that is not a problem document.
    #[error("{url} answered HTTP {status} ({content_type}): {snippet}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The response content type ("none" when absent).
        content_type: String,
        /// The start of the body, printable characters only.
        snippet: String,
    },
    /// The response had an unexpected content type.
    #[error("{url} answered with content type {got}, expected {expected}")]
    UnexpectedContentType {
        /// The URL requested.
        url: String,
        /// What we expected.
        expected: &'static str,
        /// What the server sent ("none" when absent).
        got: String,
    },
    /// The response body was larger than allowed for its kind.
    #[error("response body from {url} exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The response body was not the JSON we expected.
    #[error("invalid JSON from {url}: {message}")]
    InvalidJson {
        /// The URL requested.
        url: String,
        /// The parser's message.
        message: String,
    },
    /// A required response header was missing or malformed.
    #[error("response from {url} lacks a valid {header} header")]
    MissingHeader {
        /// The URL requested.
        url: String,
        /// The header name.
        header: &'static str,
    },
    /// The directory URL is not acceptable (not https, malformed).
    #[error("invalid directory URL {url}: {reason}")]
    InvalidDirectoryUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A URL the CA handed us (directory entry, `Location`, order, authorization, challenge,
    /// finalize, certificate, `Link` alternate, ARI) is not https: refused before any request.
    #[error("refusing to send a request to {url}: {reason}")]
    InsecureUrl {
        /// The URL.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The HTTP client could not be configured (e.g. unreadable trusted roots).
    #[error("HTTP client configuration: {0}")]
    Config(String),
    /// A key could not be generated, parsed or used. Never carries key material.
    #[error("key error: {0}")]
    Key(String),
    /// External account binding data was unusable. Never carries the HMAC key.
    #[error("external account binding: {0}")]
    Eab(String),
    /// A CSR could not be built.
    #[error("CSR error: {0}")]
    Csr(String),
    /// A certificate could not be parsed.
    #[error("certificate error: {0}")]
    Certificate(String),
    /// The CA does not support what was asked (no ARI, unknown profile, …).
    #[error("not supported by this CA: {0}")]
    Unsupported(String),
    /// Invalid input from the caller.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn offered_list(offered: &[String]) -> String {
    if offered.is_empty() {
        " none".to_owned()
    } else {
        format!(": {}", offered.join(", "))
    }
}

/// Why a request to the CA did not get through (the kind of an [`Error::Http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The CA's host name did not resolve.
    Dns,
    /// No TCP connection (refused, unreachable, reset while connecting).
    Connect,
    /// The TLS handshake failed (untrusted or mismatched certificate, protocol error).
    Tls,
    /// No answer in time.
    Timeout,
    /// The connection broke later (while reading the answer) or anything else.
    Other,
}

impl TransportKind {
    /// A short name for messages (`dns`, `connect`, `tls`, `timeout`, `transport`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Dns => "dns",
            TransportKind::Connect => "connect",
            TransportKind::Tls => "tls",
            TransportKind::Timeout => "timeout",
            TransportKind::Other => "transport",
        }
    }

    /// Classify a reqwest error by walking its source chain.
    pub(crate) fn of(e: &reqwest::Error) -> Self {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut text = String::new();
        while let Some(err) = src {
            if err.downcast_ref::<rustls::Error>().is_some() {
                return TransportKind::Tls;
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return TransportKind::Tls;
            }
            text.push_str(&err.to_string().to_ascii_lowercase());
            text.push(' ');
            src = err.source();
        }
        if e.is_timeout() {
            TransportKind::Timeout
        } else if text.contains("dns error") || text.contains("failed to lookup address") {
            TransportKind::Dns
        } else if text.contains("certificate") || text.contains("handshake") {
            TransportKind::Tls
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn fmt_opt_problem(p: &Option<Box<Problem>>) -> String {
    match p {
        Some(p) => format!(": {p}"),
        None => String::new(),
    }
}

impl Error {
    /// The problem type when this error carries a server problem document.
    pub fn problem_type(&self) -> Option<&ProblemType> {
        self.problem().map(|p| &p.problem_type)
    }

    /// The problem document this error carries, if any.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Problem(p) => Some(p),
            Error::AuthorizationFailed { problem, .. } | Error::OrderFailed { problem, .. } => {
                problem.as_deref()
            }
            _ => None,
        }
    }

    /// True when the server reported this problem type.
    pub fn is_problem(&self, ty: &ProblemType) -> bool {
        self.problem_type() == Some(ty)
    }

    /// The server's `Retry-After` for rate limits and similar errors.
    pub fn retry_after(&self) -> Option<Duration> {
        self.problem().and_then(|p| p.retry_after)
    }

    /// A one-line hint fitting the cause, for the kinds this crate can tell apart (a
    /// rejected EAB key id or HMAC key, a method the CA does not offer, an unreachable CA by
    /// DNS, connection, TLS or timeout); `None` otherwise (the caller's generic hint).
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::EabRejected { .. } => {
                "the CA did not accept the EAB key id or HMAC key: copy both again from the CA's dashboard (the HMAC key is base64url, as shown there) and check --server is that CA's directory"
            }
            Error::MethodNotOffered { .. } => {
                "choose a method the CA offers (the error lists them) with --challenge or `challenge = \"…\"`; dns-01 is the common one"
            }
            Error::Http { kind, .. } => match kind {
                TransportKind::Dns => {
                    "the CA's host name does not resolve from here: check the --server URL for typos and this host's DNS resolver (/etc/resolv.conf)"
                }
                TransportKind::Connect => {
                    "could not connect to the CA: check the --server URL and port, and that a firewall or proxy lets HTTPS out"
                }
                TransportKind::Tls => {
                    "TLS with the CA failed: if it uses a private CA, pass its root with --ca-bundle; otherwise check the system clock and for a TLS-intercepting proxy"
                }
                TransportKind::Timeout => {
                    "the CA did not answer in time: check connectivity to it, then try again later"
                }
                TransportKind::Other => return None,
            },
            _ => return None,
        })
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Problem(Box::new(p))
    }
}

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

    #[test]
    fn error_exposes_retry_after() {
        let mut p = Problem::from_json(
            br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many"}"#,
        )
        .expect("parses");
        p.retry_after = Some(Duration::from_secs(30));
        let e = Error::from(p);
        assert!(e.is_problem(&ProblemType::RateLimited));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            e.to_string(),
            "ACME server error: rateLimited: too many (retry after 30s)"
        );
    }
}
