//! The ACME client: one per CA directory, shared by every account and order.

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use tracing::debug;

use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::http::{self, Http, HttpConfig, JSON_LIMIT, Response, retry_pause};
use crate::jws::{self, KeyRef};
use crate::key::SigningKey;
use crate::nonce::{Nonce, NoncePool};
use crate::problem::ProblemType;

/// How many times one request is signed before a `badNonce` is given up on (RFC 8555 §6.5).
/// Re-signing is cheap; with a CA rejecting half of all nonces (Pebble's storm setting) 20
/// attempts fail about once in a million requests, 10 would fail once in a thousand.
pub(crate) const BAD_NONCE_ATTEMPTS: u32 = 20;
/// Attempts for requests that are safe to repeat after a 5xx or a transport error.
const SAFE_ATTEMPTS: u32 = 4;
/// Longest `Retry-After` of a rate limit that a safe request waits out by itself.
const SHORT_RATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Settings for [`AcmeClient::new`].
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// The CA's directory URL (https; http only on loopback with `allow_insecure_http`).
    pub directory_url: String,
    /// Extra trusted roots, PEM (e.g. Pebble's or a private CA's).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Trust only `extra_roots_pem`, not the system roots.
    pub only_extra_roots: bool,
    /// Allow a plain-http directory URL on a loopback address (tests only).
    pub allow_insecure_http: bool,
    /// Appended to the `User-Agent` (`wildcert/<version> <suffix>`).
    pub user_agent_suffix: Option<String>,
    /// Bound on one HTTP request (default 30 s).
    pub request_timeout: Option<std::time::Duration>,
}

impl ClientConfig {
    /// Settings for a directory URL, everything else default.
    pub fn new(directory_url: impl Into<String>) -> Self {
        ClientConfig {
            directory_url: directory_url.into(),
            ..Default::default()
        }
    }
}

/// Whether a signed POST may be sent again after a 5xx or a transport error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// POST-as-GET and other requests without side effects on repeat.
    Safe,
    /// Requests that may create something (newOrder, finalize): never resent once sent.
    Once,
}

/// An ACME client for one CA: HTTP client, directory and nonce pool. Cheap to clone.
#[derive(Clone)]
pub struct AcmeClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: Http,
    directory: Directory,
    directory_url: String,
    nonces: NoncePool,
}

impl fmt::Debug for AcmeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeClient")
            .field("directory_url", &self.inner.directory_url)
            .finish_non_exhaustive()
    }
}

impl AcmeClient {
    /// Build the HTTP client and fetch the directory (RFC 8555 §7.1.1).
    pub async fn new(config: ClientConfig) -> Result<Self> {
        http::check_directory_url(&config.directory_url, config.allow_insecure_http)?;
        let http = Http::new(&HttpConfig {
            extra_roots_pem: config.extra_roots_pem.clone(),
            only_extra_roots: config.only_extra_roots,
            user_agent_suffix: config.user_agent_suffix.clone(),
            request_timeout: config.request_timeout,
            allow_insecure_http: config.allow_insecure_http,
        })?;
        let resp = http
            .fetch(Method::GET, &config.directory_url, JSON_LIMIT)
            .await?;
        if !resp.is_success() {
            return Err(resp.into_error());
        }
        let directory: Directory = resp.json()?;
        // A directory pointing anywhere but https is refused at once, naming the entry.
        for url in directory.request_urls() {
            http::check_request_url(url, config.allow_insecure_http)?;
        }
        debug!(url = %config.directory_url, "fetched directory");
        let nonces = NoncePool::default();
        if let Some(n) = resp.header("replay-nonce").and_then(Nonce::parse) {
            nonces.put(n);
        }
        Ok(AcmeClient {
            inner: Arc::new(ClientInner {
                http,
                directory,
                directory_url: config.directory_url,
                nonces,
            }),
        })
    }

    /// The CA's directory.
    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    /// The directory URL this client was built with.
    pub fn directory_url(&self) -> &str {
        &self.inner.directory_url
    }

    /// How many HTTP requests this client has sent (for benchmarks).
    pub fn requests_sent(&self) -> u64 {
        self.inner.http.requests_sent()
    }

    /// True once the CA is taken as not answering (several requests in a row got no answer):
    /// every further request fails at once with [`Error::CaNotAnswering`].
    pub fn is_not_answering(&self) -> bool {
        self.inner.http.is_not_answering()
    }

    /// A plain GET (directory-like resources, ARI), retried when safe.
    pub(crate) async fn get(&self, url: &str, limit: usize) -> Result<Response> {
        let resp = self.inner.http.fetch(Method::GET, url, limit).await?;
        self.keep_nonce(&resp);
        Ok(resp)
    }

    fn keep_nonce(&self, resp: &Response) {
        if let Some(n) = resp.header("replay-nonce").and_then(Nonce::parse) {
            self.inner.nonces.put(n);
        }
    }

    /// A nonce from the pool, or a fresh one from `newNonce` (RFC 8555 §7.2).
    async fn nonce(&self) -> Result<Nonce> {
        if let Some(n) = self.inner.nonces.take() {
            return Ok(n);
        }
        let url = &self.inner.directory.new_nonce;
        let resp = self.inner.http.fetch(Method::HEAD, url, JSON_LIMIT).await?;
        if !resp.is_success() {
            return Err(resp.into_error());
        }
        resp.header("replay-nonce")
            .and_then(Nonce::parse)
            .ok_or_else(|| Error::MissingHeader {
                url: url.clone(),
                header: "Replay-Nonce",
            })
    }

    /// Sign and POST `payload` (empty = POST-as-GET, §6.3) to `url`.
    ///
    /// Retries with the error's fresh nonce on `badNonce` (bounded), and — only for
    /// [`Repeat::Safe`] requests, or when nothing reached the server — after 5xx and
    /// transport errors. Returns the response when it is 2xx, a typed error otherwise.
    pub(crate) async fn post(
        &self,
        key: &SigningKey,
        key_ref: KeyRef<'_>,
        url: &str,
        payload: &[u8],
        repeat: Repeat,
        limit: usize,
    ) -> Result<Response> {
        let mut next_nonce: Option<Nonce> = None;
        let mut bad_nonces = 0;
        let mut failures = 0;
        let mut last_transport: Option<Error> = None;
        loop {
            let nonce = match next_nonce.take() {
                Some(n) => n,
                None => self.nonce().await?,
            };
            let jws = jws::sign(key, key_ref, Some(nonce), url, payload)?;
            let body = serde_json::to_vec(&jws).map_err(|e| Error::Key(e.to_string()))?;
            debug!(url, post_as_get = payload.is_empty(), "acme post");
            let resp = match self
                .inner
                .http
                .send(Method::POST, url, Some(body), limit)
                .await
            {
                Ok(r) => r,
                Err(f) => {
                    failures += 1;
                    let retry = f.not_sent || repeat == Repeat::Safe;
                    if retry && failures < SAFE_ATTEMPTS && matches!(f.error, Error::Http { .. }) {
                        last_transport = Some(f.error);
                        tokio::time::sleep(retry_pause(failures, None)).await;
                        continue;
                    }
                    // The breaker tripped while we retried: our own last error says more.
                    if matches!(f.error, Error::CaNotAnswering { .. })
                        && let Some(e) = last_transport
                    {
                        return Err(e);
                    }
                    return Err(f.error);
                }
            };
            let fresh = resp.header("replay-nonce").and_then(Nonce::parse);
            if resp.is_success() {
                if let Some(n) = fresh {
                    self.inner.nonces.put(n);
                }
                return Ok(resp);
            }
            let err = resp.into_error();
            if err.is_problem(&ProblemType::BadNonce) && bad_nonces + 1 < BAD_NONCE_ATTEMPTS {
                bad_nonces += 1;
                debug!(
                    url,
                    attempt = bad_nonces,
                    "badNonce, retrying with the fresh nonce"
                );
                next_nonce = fresh;
                continue;
            }
            if let Some(n) = fresh {
                self.inner.nonces.put(n);
            }
            let server_error = match &err {
                Error::Problem(p) => p.status.is_some_and(|s| s >= 500),
                Error::HttpStatus { status, .. } => *status >= 500,
                _ => false,
            };
            // A rate limit with a short Retry-After (per-endpoint limits, RFC 8555 §6.6) is
            // waited out for requests that are safe to repeat; long ones go to the caller.
            let short_rate_limit = err.is_problem(&ProblemType::RateLimited)
                && err.retry_after().is_some_and(|d| d <= SHORT_RATE_LIMIT);
            if (server_error || short_rate_limit)
                && repeat == Repeat::Safe
                && failures + 1 < SAFE_ATTEMPTS
            {
                failures += 1;
                tokio::time::sleep(retry_pause(failures, err.retry_after())).await;
                continue;
            }
            return Err(err);
        }
    }
}
