//! Errors: one enum for the crate, with the server's RFC 7807 problem documents as a variant.

use std::fmt;
use std::time::Duration;

use crate::problem::{Problem, ProblemType};
use crate::types::AuthorizationStatus;

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
    #[error("timed out after {} waiting for {what} (last status: {last_status})", fmt_wait(*.waited))]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The last status seen.
        last_status: String,
    },
    /// The CA's `Retry-After` points past the deadline: waiting it out would end in a timeout
    /// without asking again, so the wait stops at once.
    #[error(
        "the CA asks to wait {} (Retry-After) before asking again about {what} ({last_status}), longer than the {} this run waits for it (waited {} so far)",
        fmt_wait(*.retry_after), fmt_wait(round_secs(*.limit)), fmt_wait(*.waited)
    )]
    RetryAfterTooLong {
        /// What we waited for.
        what: String,
        /// The CA's `Retry-After`.
        retry_after: Duration,
        /// How long this run waits in all.
        limit: Duration,
        /// How long it waited so far.
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
            Error::RetryAfterTooLong { .. } => {
                "the CA asked to be asked again later than this run waits: run again after that time (an order the CA is still processing is resumed, not ordered again)"
            }
            Error::Timeout { .. } => {
                "the CA did not finish in time: run again later (an order the CA is still processing is resumed, not ordered again)"
            }
            Error::Eab(_) => {
                "the EAB HMAC key must be the base64url string exactly as the CA shows it (letters, digits, `-` and `_`); copy --eab-hmac-key (or eab_hmac_key_file) again, and --eab-kid beside it"
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

/// `d` to the nearest whole second (a deadline measured a moment after it was set).
pub(crate) fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

/// `48 ms`, `12.5 s`, `300 s`, `11 d 13 h` (999999 s): a wait as a person reads it.
pub(crate) fn fmt_wait(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if s < 10 {
        format!("{:.1} s", d.as_secs_f64())
    } else if s < 86_400 {
        format!("{s} s")
    } else {
        format!("{s} s ({} d {} h)", s / 86_400, s % 86_400 / 3600)
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Problem(Box::new(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
