//! HTTP transport: one reqwest client (rustls on ring), bounded bodies, retries for
//! requests that are safe to repeat, and the header parsing ACME needs.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::debug;

use crate::error::{Error, Result};
use crate::problem::{Problem, one_line};

/// Largest JSON body accepted (directory, orders with many authorizations, problems).
pub(crate) const JSON_LIMIT: usize = 1024 * 1024;
/// Largest certificate chain accepted.
pub(crate) const CERT_LIMIT: usize = 1024 * 1024;
/// Attempts for requests that are safe to repeat (GET, HEAD, POST-as-GET).
const ATTEMPTS: u32 = 4;
/// Longest server-requested pause between retries of a 5xx that we accept.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

static RING_PROVIDER: Once = Once::new();

/// Install rustls' ring provider once per process (reqwest is built without one).
fn install_ring_provider() {
    RING_PROVIDER.call_once(|| {
        // Err means another provider is already installed: fine, use that one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How the HTTP client is set up.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpConfig {
    pub(crate) extra_roots_pem: Option<Vec<u8>>,
    pub(crate) only_extra_roots: bool,
    pub(crate) user_agent_suffix: Option<String>,
    /// Bound on one request (default [`REQUEST_TIMEOUT`]).
    pub(crate) request_timeout: Option<Duration>,
    /// Plain http to loopback addresses (the tests' Pebble); never to any other host.
    pub(crate) allow_insecure_http: bool,
}

/// Bound on one HTTP request to the CA, unless configured.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests in a row that got no answer (timeout, connection refused) before the CA is taken
/// as not answering: every request then fails at once, in flight or not, so a run over many
/// certificates ends in minutes instead of trying each one for minutes.
pub const UNANSWERED_LIMIT: u32 = 3;

/// A response whose body has been read (within its limit).
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Why a single send failed.
pub(crate) struct SendFailure {
    pub(crate) error: Error,
    /// The request never reached the server (connect failed): safe to resend anything.
    pub(crate) not_sent: bool,
    /// No answer at all (timeout, connection refused): counts towards [`UNANSWERED_LIMIT`].
    pub(crate) unanswered: bool,
}

/// The shared HTTP client.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    requests: AtomicU64,
    /// Requests in a row without an answer; any answer resets it.
    unanswered: AtomicU32,
    /// Set once the CA is taken as not answering (see [`UNANSWERED_LIMIT`]).
    not_answering: watch::Sender<bool>,
    allow_insecure_http: bool,
}

impl Http {
    /// Build the client: HTTP/2 via ALPN, no redirects, 10 s connect / 30 s request timeouts.
    pub(crate) fn new(cfg: &HttpConfig) -> Result<Self> {
        install_ring_provider();
        let mut ua = format!("wildcert/{}", env!("CARGO_PKG_VERSION"));
        if let Some(s) = cfg.user_agent_suffix.as_deref().filter(|s| !s.is_empty()) {
            ua.push(' ');
            ua.push_str(s);
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(ua)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(cfg.request_timeout.unwrap_or(REQUEST_TIMEOUT))
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(pem) = &cfg.extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("cannot read trusted roots: {}", chain(&e))))?;
            if certs.is_empty() {
                return Err(Error::Config(
                    "no certificate in the trusted roots PEM".into(),
                ));
            }
            builder = if cfg.only_extra_roots {
                builder.tls_certs_only(certs)
            } else {
                builder.tls_certs_merge(certs)
            };
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {}", chain(&e))))?;
        Ok(Http {
            client,
            requests: AtomicU64::new(0),
            unanswered: AtomicU32::new(0),
            not_answering: watch::Sender::new(false),
            allow_insecure_http: cfg.allow_insecure_http,
        })
    }

    /// How many HTTP requests were sent (including retries).
    pub(crate) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// True once the CA is taken as not answering.
    pub(crate) fn is_not_answering(&self) -> bool {
        *self.not_answering.borrow()
    }

    fn not_answering_error(&self, url: &str) -> SendFailure {
        SendFailure {
            // Nothing is sent: no caller may retry on this.
            not_sent: false,
            unanswered: false,
            error: Error::CaNotAnswering {
                url: url.to_owned(),
                requests: UNANSWERED_LIMIT,
            },
        }
    }

    /// Count a request that got no answer; trip the breaker at the limit.
    fn unanswered(&self, url: &str) {
        let n = self.unanswered.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= UNANSWERED_LIMIT && !self.is_not_answering() {
            tracing::warn!(
                url,
                "the CA is not answering ({n} requests in a row got no answer): giving up on it for this run"
            );
            self.not_answering.send_replace(true);
        }
    }

    /// Send one request and read its body up to `limit` bytes. Once the CA is taken as not
    /// answering, fails at once (requests in flight too).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Response, SendFailure> {
        // Every URL, wherever it came from, is checked here, before a byte is sent.
        check_request_url(url, self.allow_insecure_http).map_err(|error| SendFailure {
            error,
            not_sent: true,
            unanswered: false,
        })?;
        if self.is_not_answering() {
            return Err(self.not_answering_error(url));
        }
        let mut tripped = self.not_answering.subscribe();
        tokio::select! {
            r = self.send_inner(method, url, body, limit) => {
                match &r {
                    Err(f) if f.unanswered => self.unanswered(url),
                    _ => self.unanswered.store(0, Ordering::Relaxed),
                }
                r
            }
            _ = tripped.wait_for(|t| *t) => Err(self.not_answering_error(url)),
        }
    }

    async fn send_inner(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Response, SendFailure> {
        let mut req = self.client.request(method.clone(), url);
        if let Some(b) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/jose+json")
                .body(b);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut resp = req.send().await.map_err(|e| SendFailure {
            not_sent: e.is_connect(),
            // Refused or timed out: no answer. A TLS failure is an answer (a certificate we
            // do not trust), and a name that does not resolve is the caller's typo.
            unanswered: matches!(
                crate::error::TransportKind::of(&e),
                crate::error::TransportKind::Connect | crate::error::TransportKind::Timeout
            ),
            error: Error::Http {
                url: url.to_owned(),
                message: chain(&e),
                kind: crate::error::TransportKind::of(&e),
            },
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let too_large = || SendFailure {
            not_sent: false,
            unanswered: false,
            error: Error::BodyTooLarge {
                url: url.to_owned(),
                limit,
            },
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(SendFailure {
                        not_sent: false,
                        unanswered: e.is_timeout(),
                        error: Error::Http {
                            url: url.to_owned(),
                            message: chain(&e),
                            kind: crate::error::TransportKind::of(&e),
                        },
                    });
                }
            }
        }
        debug!(%method, url, status, bytes = body.len(), "acme http");
        Ok(Response {
            url: url.to_owned(),
            status,
            headers,
            body,
        })
    }

    /// GET or HEAD with retries on transport errors and 5xx (safe to repeat).
    pub(crate) async fn fetch(&self, method: Method, url: &str, limit: usize) -> Result<Response> {
        let mut attempt = 0;
        let mut last: Option<Error> = None;
        loop {
            attempt += 1;
            let pause = match self.send(method.clone(), url, None, limit).await {
                // The breaker tripped while we retried: our own last error says more.
                Err(f) if matches!(f.error, Error::CaNotAnswering { .. }) && last.is_some() => {
                    return Err(last.unwrap_or(f.error));
                }
                Ok(r) if r.is_server_error() && attempt < ATTEMPTS => {
                    retry_pause(attempt, r.retry_after())
                }
                Ok(r) => return Ok(r),
                Err(f) if attempt < ATTEMPTS && matches!(f.error, Error::Http { .. }) => {
                    last = Some(f.error);
                    retry_pause(attempt, None)
                }
                Err(f) => return Err(f.error),
            };
            debug!(url, attempt, ?pause, "retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

/// Backoff between retries: 250 ms, 500 ms, 1 s…, or the server's `Retry-After` if short.
pub(crate) fn retry_pause(attempt: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(d) if d <= MAX_RETRY_PAUSE => d,
        _ => Duration::from_millis(250 << attempt.saturating_sub(1).min(5)),
    }
}

/// Flatten an error and its sources into one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    one_line(&s)
}

impl Response {
    /// 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 5xx.
    pub(crate) fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// A header as a string.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type, lower case, without parameters ("none" when absent).
    pub(crate) fn content_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "none".to_owned())
    }

    /// The `Location` header, resolved against the request URL.
    pub(crate) fn location(&self) -> Result<String> {
        self.header("location")
            .and_then(|l| resolve(&self.url, l))
            .ok_or_else(|| Error::MissingHeader {
                url: self.url.clone(),
                header: "Location",
            })
    }

    /// The `Retry-After` header as a duration from now.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header("retry-after")?, SystemTime::now())
    }

    /// URLs of every `Link` header with this relation, resolved.
    pub(crate) fn links(&self, rel: &str) -> Vec<String> {
        let values = self
            .headers
            .get_all(header::LINK)
            .iter()
            .filter_map(|v: &HeaderValue| v.to_str().ok());
        parse_links(values, rel)
            .into_iter()
            .filter_map(|u| resolve(&self.url, &u))
            .collect()
    }

    /// Parse a JSON body after checking the content type.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let ct = self.content_type();
        if !(ct == "application/json" || ct.ends_with("+json")) {
            return Err(Error::UnexpectedContentType {
                url: self.url.clone(),
                expected: "application/json",
                got: ct,
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidJson {
            url: self.url.clone(),
            message: e.to_string(),
        })
    }

    /// The problem document of an error response, if the body is one.
    pub(crate) fn problem(&self) -> Option<Problem> {
        let ct = self.content_type();
        if !(ct == "application/problem+json" || ct == "application/json") {
            return None;
        }
        let mut p = Problem::from_json(&self.body)?;
        if p.status.is_none() {
            p.status = Some(self.status);
        }
        p.retry_after = self.retry_after();
        Some(p)
    }

    /// Turn an error response into the best typed error.
    pub(crate) fn into_error(self) -> Error {
        if let Some(p) = self.problem() {
            return Error::Problem(Box::new(p));
        }
        let snippet: String = String::from_utf8_lossy(&self.body)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        Error::HttpStatus {
            content_type: self.content_type(),
            url: self.url,
            status: self.status,
            snippet,
        }
    }
}

/// Resolve a possibly relative URL against a base.
fn resolve(base: &str, link: &str) -> Option<String> {
    Url::parse(base)
        .and_then(|b| b.join(link))
        .ok()
        .map(String::from)
}

/// Parse `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parse `Link` header values (RFC 8288) and return the targets with relation `rel`.
pub(crate) fn parse_links<'a>(values: impl Iterator<Item = &'a str>, rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in values {
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start + 1..].find('>') else {
                break;
            };
            let target = &rest[start + 1..start + 1 + len];
            rest = &rest[start + 2 + len..];
            // Parameters run to the next link (a '<' outside quotes).
            let mut end = rest.len();
            let mut quoted = false;
            for (i, c) in rest.char_indices() {
                match c {
                    '"' => quoted = !quoted,
                    '<' if !quoted => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let params = &rest[..end];
            let matches = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_end_matches(',')
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
            });
            if matches {
                out.push(target.to_owned());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Check a directory URL: https, or http on loopback when explicitly allowed.
pub(crate) fn check_directory_url(url: &str, allow_insecure_http: bool) -> Result<()> {
    url_policy(url, allow_insecure_http).map_err(|reason| Error::InvalidDirectoryUrl {
        url: url.to_owned(),
        reason,
    })
}

/// Check a URL we are about to send a request to: the same rule as the directory URL.
pub(crate) fn check_request_url(url: &str, allow_insecure_http: bool) -> Result<()> {
    url_policy(url, allow_insecure_http).map_err(|reason| Error::InsecureUrl {
        url: url.to_owned(),
        reason,
    })
}

/// https, or http on a loopback address when explicitly allowed.
fn url_policy(url: &str, allow_insecure_http: bool) -> std::result::Result<(), &'static str> {
    let bad = |reason| reason;
    let u = Url::parse(url).map_err(|_| bad("not a URL"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = u.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                Err(bad("plain http is only allowed on a loopback address"))
            } else if !allow_insecure_http {
                Err(bad("plain http needs allow_insecure_http"))
            } else {
                Ok(())
            }
        }
        _ => Err(bad("the scheme must be https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn link_headers() {
        let values = [
            r#"<https://ca/cert/1/alt/1>;rel="alternate", <https://ca/dir>;rel="index""#,
            r#"<https://ca/cert/1/alt/2>; rel=alternate"#,
            r#"<https://ca/help>;title="a<b";rel="help""#,
        ];
        assert_eq!(
            parse_links(values.into_iter(), "alternate"),
            vec!["https://ca/cert/1/alt/1", "https://ca/cert/1/alt/2"]
        );
        assert_eq!(
            parse_links(values.into_iter(), "index"),
            vec!["https://ca/dir"]
        );
        assert_eq!(
            parse_links(values.into_iter(), "help"),
            vec!["https://ca/help"]
        );
        assert!(parse_links(values.into_iter(), "up").is_empty());
    }

    #[test]
    fn request_url_policy() {
        assert!(check_request_url("https://ca.example/acme/order/1", false).is_ok());
        for bad in [
            "http://ca.example/acme/new-order",
            "ftp://ca.example/x",
            "//ca.example/x",
            "http://10.0.0.1/x",
        ] {
            let e = check_request_url(bad, true).expect_err(bad);
            assert!(
                matches!(&e, Error::InsecureUrl { url, .. } if url == bad),
                "{e}"
            );
        }
        assert!(check_request_url("http://127.0.0.1:14000/x", true).is_ok());
        assert!(check_request_url("http://127.0.0.1:14000/x", false).is_err());
    }

    #[test]
    fn directory_url_policy() {
        assert!(check_directory_url("https://acme.example/dir", false).is_ok());
        assert!(check_directory_url("http://acme.example/dir", true).is_err());
        assert!(check_directory_url("http://127.0.0.1:14000/dir", false).is_err());
        assert!(check_directory_url("http://127.0.0.1:14000/dir", true).is_ok());
        assert!(check_directory_url("http://[::1]:14000/dir", true).is_ok());
        assert!(check_directory_url("http://localhost/dir", true).is_ok());
        assert!(check_directory_url("ftp://localhost/dir", true).is_err());
        assert!(check_directory_url("not a url", true).is_err());
    }

    #[test]
    fn retry_pauses_grow() {
        assert_eq!(retry_pause(1, None), Duration::from_millis(250));
        assert_eq!(retry_pause(2, None), Duration::from_millis(500));
        assert_eq!(
            retry_pause(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_pause(1, Some(Duration::from_secs(60))),
            Duration::from_millis(250)
        );
    }
}
