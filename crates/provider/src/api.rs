//! [`JsonApi`]: a DNS host's JSON API as most of them look — a base URL, credentials in fixed
//! headers, JSON bodies — sent through the shared [`RetryPolicy`] with bounded answers, and
//! answers mapped to [`ProviderError`] by status. A provider keeps only what is its own: its
//! paths, its documents and its wording.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Kind, ProviderError};
use crate::http::{self, ClientBuilder, RateLimitBudget, Response, RetryPolicy, Verdict};
use crate::record::Zone;
use crate::settings::{Secret, config_error};

/// Longest server message put into an error.
pub const MESSAGE_LIMIT: usize = 300;

/// A JSON HTTP API: base URL, fixed headers, the shared retry policy.
#[derive(Debug, Clone)]
pub struct JsonApi {
    kind: Kind,
    base: Url,
    client: reqwest::Client,
    /// The retry policy every request goes through (adjust its fields after [`JsonApi::new`]).
    pub policy: RetryPolicy,
}

impl JsonApi {
    /// An API at `base` (its path is kept; [`JsonApi::url`] appends to it), sending `headers`
    /// with every request, `timeout` per request, rate-limit waits bounded by `budget`.
    /// Redirects are followed only within `base`'s origin, so credentials stay with it.
    pub fn new(
        kind: Kind,
        base: Url,
        headers: HeaderMap,
        timeout: Duration,
        budget: RateLimitBudget,
    ) -> Result<JsonApi, ProviderError> {
        let client = ClientBuilder::new(kind, timeout)
            .default_headers(headers)
            .follow_redirects(5)
            .build()?;
        Ok(JsonApi {
            kind,
            base,
            client,
            policy: RetryPolicy::new(kind, budget),
        })
    }

    /// The provider kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The base URL, without credentials, for messages.
    pub fn base(&self) -> String {
        redact_url(&self.base)
    }

    /// `base/segment/…`, each segment percent-encoded (a zone name with `/` stays one segment).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        u
    }

    /// Send one request through the retry policy (429 honouring `Retry-After`, 5xx, transport
    /// errors retried within bounds); a server still failing after that is `Unreachable`.
    /// Any other answer is returned as it is, whatever its status.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Response, ProviderError> {
        self.send_with(method, url, body, &HeaderMap::new()).await
    }

    /// [`JsonApi::send`] with `headers` added to this request only: credentials that differ
    /// from call to call (mark secret ones sensitive, as [`secret_header`] does).
    pub async fn send_with(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &HeaderMap,
    ) -> Result<Response, ProviderError> {
        let shown = redact_url(&url);
        let make = |attempt: u32| {
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(provider = self.kind.name, %method, url = %shown, attempt, "request");
            async move { Ok(req) }
        };
        let resp = self
            .policy
            .send(&shown, make, http::default_verdict)
            .await?;
        tracing::debug!(provider = self.kind.name, %method, url = %shown, status = resp.status,
            bytes = resp.body.len(), "answer");
        if http::default_verdict(&resp) == Verdict::Retry {
            return Err(ProviderError::Unreachable {
                provider: self.kind,
                target: shown,
                message: format!(
                    "HTTP {}: {} (after {} attempts)",
                    resp.status,
                    server_message(&resp.body),
                    resp.attempts
                ),
            });
        }
        Ok(resp)
    }

    /// Send, require a 2xx answer ([`JsonApi::status_error`] otherwise) and parse it as `T`
    /// (an empty body parses as JSON `null`).
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<T, ProviderError> {
        let resp = self.send(method, url, body).await?;
        if !resp.is_success() {
            return Err(self.status_error(&resp, zone));
        }
        let body: &[u8] = if resp.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &resp.body
        };
        serde_json::from_slice(body).map_err(|e| ProviderError::Other {
            provider: self.kind,
            message: format!("cannot parse the answer of {}: {e}", self.base()),
        })
    }

    /// The usual meaning of an error status: 401/403 credentials, 404 zone, 429 rate limit,
    /// 400/409/412/422 the change refused, anything else as it is; the server's own message
    /// ([`server_message`]) is kept.
    pub fn status_error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let status = resp.status;
        let message = match status {
            401 | 403 => format!("{} answered {status}: {msg}", self.base()),
            404 => format!("{} answered 404: {msg}", self.base()),
            400 | 409 | 412 | 422 => format!("HTTP {status}: {msg}"),
            _ => format!("{} answered HTTP {status}: {msg}", self.base()),
        };
        self.status_error_saying(resp, zone, message)
    }

    /// [`JsonApi::status_error`]'s kind for the status, with the provider's own `message` (its
    /// wording for a status it knows better); a 429 carries no message, only `Retry-After`.
    pub fn status_error_saying(
        &self,
        resp: &Response,
        zone: Option<&Zone>,
        message: String,
    ) -> ProviderError {
        let provider = self.kind;
        match resp.status {
            401 | 403 => ProviderError::Auth { provider, message },
            404 => ProviderError::ZoneNotFound {
                provider,
                zone: zone.map(|z| z.to_string()).unwrap_or_default(),
                message,
            },
            429 => ProviderError::RateLimited {
                provider,
                retry_after: resp.retry_after(),
            },
            400 | 409 | 412 | 422 => ProviderError::Rejected { provider, message },
            _ => ProviderError::Other { provider, message },
        }
    }
}

/// A header carrying a secret (`X-API-Key`, `Authorization: Bearer …`), marked sensitive so it
/// is never logged; a value that is not a valid header is a settings error naming `what`.
pub fn secret_header(
    kind: Kind,
    name: &'static str,
    prefix: &str,
    secret: &Secret,
    what: &str,
) -> Result<(HeaderName, HeaderValue), ProviderError> {
    let mut value = HeaderValue::from_str(&format!("{prefix}{}", secret.expose()))
        .map_err(|_| config_error(kind, format!("{what} is not a valid HTTP header value")))?;
    value.set_sensitive(true);
    Ok((HeaderName::from_static(name), value))
}

/// The URL without user info, query or fragment, for messages.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The server's message in an error answer: the first of the JSON fields `error`, `message`,
/// `detail`, `errors[0].message` (or `errors[0]`) that is a string, else the trimmed text;
/// control characters blanked, cut at [`MESSAGE_LIMIT`] characters.
pub fn server_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            [
                "/error",
                "/message",
                "/detail",
                "/errors/0/message",
                "/errors/0",
                "/error/message",
            ]
            .iter()
            .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_string))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        return "(empty answer)".into();
    }
    if text.chars().count() > MESSAGE_LIMIT {
        let cut: String = text.chars().take(MESSAGE_LIMIT).collect();
        return format!("{cut}…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages() {
        assert_eq!(
            server_message(b"{\"error\": \"Not in expected format\"}"),
            "Not in expected format"
        );
        assert_eq!(
            server_message(b"{\"errors\": [{\"message\": \"bad\"}]}"),
            "bad"
        );
        assert_eq!(server_message(b"Unauthorized\n"), "Unauthorized");
        assert_eq!(server_message(b""), "(empty answer)");
        assert!(server_message(&[b'x'; 1000]).ends_with('…'));
    }

    #[test]
    fn urls_are_redacted_and_segments_encoded() {
        let base = Url::parse("https://u:p@api.example/v1/?k=s").expect("url");
        assert_eq!(redact_url(&base), "https://api.example/v1/");
        let api = JsonApi::new(
            Kind::plain("t"),
            Url::parse("https://api.example/v1/").expect("url"),
            HeaderMap::new(),
            Duration::from_secs(1),
            RateLimitBudget::new(Duration::from_secs(1), "rate_limit_wait"),
        )
        .expect("api");
        assert_eq!(
            api.url(&["zones", "a/b."]).as_str(),
            "https://api.example/v1/zones/a%2Fb."
        );
        let (name, value) =
            secret_header(Kind::plain("t"), "x-api-key", "", &Secret::new("k"), "key")
                .expect("header");
        assert!(value.is_sensitive() && name == "x-api-key");
        assert!(
            secret_header(
                Kind::plain("t"),
                "x-api-key",
                "",
                &Secret::new("a\nb"),
                "key"
            )
            .is_err()
        );
    }
}
