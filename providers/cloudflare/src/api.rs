//! The few Cloudflare API v4 calls we make, the response envelope, retries through the shared
//! policy of [`wildcert_provider::http`] (429 with `Retry-After`, 5xx, transport errors) and the mapping of error codes to [`ProviderError`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use wildcert_provider::ProviderError;
use wildcert_provider::http::{self, RateLimitBudget, RetryPolicy};

use crate::settings::{Auth, KIND};

/// Largest response body we read.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Most pages we read from one list.
pub const MAX_PAGES: u32 = 1000;

/// Error codes: authentication / authorisation.
const AUTH_CODES: &[i64] = &[
    1000, 6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9107, 9109, 10000,
];
/// Error codes: the zone (identifier) is unknown.
const ZONE_CODES: &[i64] = &[1001, 7000, 7003];
/// Create: record already exists / an identical record already exists.
pub const ALREADY_EXISTS: &[i64] = &[81057, 81058];
/// Delete: record does not exist.
pub const RECORD_MISSING: i64 = 81044;

/// One `errors[]` entry of the envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiMessage {
    /// Numeric code.
    #[serde(default)]
    pub code: i64,
    /// Text.
    #[serde(default)]
    pub message: String,
    /// Nested causes (Cloudflare's `error_chain`).
    #[serde(default)]
    pub error_chain: Vec<ApiMessage>,
}

/// `result_info` of a list answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultInfo {
    /// Page number (from 1).
    #[serde(default)]
    pub page: u32,
    /// Items per page.
    #[serde(default)]
    pub per_page: u32,
    /// Items on this page.
    #[serde(default)]
    pub count: u32,
    /// Items in all pages.
    #[serde(default)]
    pub total_count: u32,
    /// Number of pages.
    #[serde(default)]
    pub total_pages: u32,
}

/// The v4 envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Whether the call succeeded.
    #[serde(default)]
    pub success: bool,
    /// Errors, if any.
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    /// The result.
    #[serde(default)]
    pub result: Value,
    /// Paging information of list calls.
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// A failed call, before it is given context.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error.
    Api {
        /// HTTP status.
        status: u16,
        /// Envelope errors (empty when the body was not an envelope).
        errors: Vec<ApiMessage>,
        /// Start of a non-envelope body, for the message.
        body: String,
        /// Whether the body was JSON at all (Cloudflare's edge answers HTML).
        json: bool,
    },
    /// Still rate limited after the bounded retries.
    RateLimited(Option<Duration>),
    /// No answer.
    Transport(String),
}

impl CallError {
    /// True when any error (or nested error) has one of `codes`.
    pub fn has_code(&self, codes: &[i64]) -> bool {
        fn any(list: &[ApiMessage], codes: &[i64]) -> bool {
            list.iter()
                .any(|m| codes.contains(&m.code) || any(&m.error_chain, codes))
        }
        matches!(self, CallError::Api { errors, .. } if any(errors, codes))
    }

    /// HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            CallError::Api {
                status,
                errors,
                body,
                ..
            } => {
                if errors.is_empty() {
                    let body = body.trim();
                    if body.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {body}")
                    }
                } else {
                    let mut parts = Vec::new();
                    for e in errors {
                        let mut s =
                            format!("{} (code {})", e.message.trim_end_matches('.'), e.code);
                        for c in &e.error_chain {
                            s.push_str(&format!(
                                ": {} (code {})",
                                c.message.trim_end_matches('.'),
                                c.code
                            ));
                        }
                        parts.push(s);
                    }
                    format!("HTTP {status}: {}", parts.join("; "))
                }
            }
            CallError::RateLimited(_) => "rate limited".into(),
            CallError::Transport(m) => m.clone(),
        }
    }

    /// Map to a [`ProviderError`]: `what` says what we were doing, `zone` which zone.
    pub fn into_provider(self, what: &str, zone: &str, auth: &Auth, base: &str) -> ProviderError {
        let text = self.describe();
        match &self {
            CallError::RateLimited(after) => ProviderError::RateLimited {
                provider: KIND,
                retry_after: *after,
            },
            CallError::Transport(m) => ProviderError::Unreachable {
                provider: KIND,
                target: base.to_string(),
                message: format!("{what}: {m}"),
            },
            CallError::Api {
                status,
                errors,
                json: false,
                ..
            } if errors.is_empty() && matches!(status, 401 | 403) => ProviderError::Unreachable {
                provider: KIND,
                target: base.to_string(),
                message: format!(
                    "{what}: blocked before the API (HTTP {status}, not JSON — a firewall or WAF rule?); \
                     the credentials were not checked. Look at the network path to {base} (proxy, egress \
                     firewall, Cloudflare's own challenge page): {text}"
                ),
            },
            CallError::Api { status, .. }
                if self.has_code(AUTH_CODES) || matches!(status, 401 | 403) =>
            {
                let hint = match auth {
                    Auth::Token(_) => {
                        "check the API token: it must be active and have Zone:DNS:Edit on this zone \
                         (and Zone:Zone:Read for the zone lookup, unless zone_id is set); a token \
                         is not a Global API Key (that one goes in api_key with email)"
                    }
                    Auth::GlobalKey { .. } => {
                        "check api_key (the Global API Key, not a token) and the account e-mail"
                    }
                };
                ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "{what} with the {} was refused: {text}; {hint}",
                        auth.describe()
                    ),
                }
            }
            CallError::Api { status, .. } if self.has_code(ZONE_CODES) || *status == 404 => {
                ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone: zone.to_string(),
                    message: format!(
                        "{what}: {text}; check zone_id (32 hex digits from the zone's Overview page) \
                         or that the zone is in this account"
                    ),
                }
            }
            CallError::Api { status, .. } if *status >= 500 => ProviderError::Other {
                provider: KIND,
                message: format!(
                    "{what}: Cloudflare answered {text} after retries (a problem on Cloudflare's side; try again later)"
                ),
            },
            CallError::Api { .. } => ProviderError::Rejected {
                provider: KIND,
                message: format!("{what}: {text}"),
            },
        }
    }
}

/// A thin client of the v4 API.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
    policy: RetryPolicy,
}

impl Api {
    /// A client for `base` (e.g. `https://api.cloudflare.com/client/v4`).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let client = http::client(KIND, timeout)?;
        Ok(Api {
            client,
            base: base.to_string(),
            timeout,
            policy: policy(RateLimitBudget::new(
                crate::settings::DEFAULT_RATE_LIMIT_WAIT,
                "rate_limit_wait",
            )),
        })
    }

    /// Bound the time all requests together may wait out rate limiting (a budget of its own).
    pub fn with_rate_limit_wait(self, wait: Duration) -> Self {
        self.with_rate_limit_budget(RateLimitBudget::new(wait, "rate_limit_wait"))
    }

    /// Wait out rate limits from `budget` (shared with whoever else holds a clone of it).
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.policy.budget = budget;
        self
    }

    /// Time spent waiting out rate limits so far.
    pub fn rate_limit_waited(&self) -> Duration {
        self.policy.budget.waited()
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send one call through the shared retry policy (429 honouring `Retry-After` within
    /// `rate_limit_wait`, 5xx and transport errors within bounds). `path` starts with `/`;
    /// `query` pairs are encoded here.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        auth: &Auth,
    ) -> Result<Envelope, CallError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| CallError::Transport(format!("bad URL {}{path}: {e}", self.base)))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let make = |attempt: u32| {
            let mut req = self.client.request(method.clone(), url.clone());
            req = match auth {
                Auth::Token(t) => req.bearer_auth(t.expose()),
                Auth::GlobalKey { email, key } => req
                    .header("X-Auth-Email", email.as_str())
                    .header("X-Auth-Key", key.expose()),
            };
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(%method, path = %url.path(), query = url.query().unwrap_or(""), attempt, "cloudflare request");
            async move { Ok(req) }
        };
        let resp = match self
            .policy
            .send(&self.base, make, http::default_verdict)
            .await
        {
            Ok(r) => r,
            Err(ProviderError::RateLimited { retry_after, .. }) => {
                return Err(CallError::RateLimited(retry_after));
            }
            Err(ProviderError::Unreachable { message, .. }) => {
                return Err(CallError::Transport(message));
            }
            Err(e) => return Err(CallError::Transport(e.to_string())),
        };
        let (status, bytes) = (resp.status, resp.body);
        let env: Option<Envelope> = serde_json::from_slice(&bytes).ok();
        match env {
            Some(env) if env.success && status < 400 => Ok(env),
            Some(env) => Err(CallError::Api {
                status,
                errors: env.errors,
                body: String::new(),
                json: true,
            }),
            None => Err(CallError::Api {
                status,
                errors: Vec::new(),
                body: snippet(&bytes),
                json: serde_json::from_slice::<Value>(&bytes).is_ok(),
            }),
        }
    }

    /// Bound on one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Cloudflare's use of the shared policy: 4 attempts on 5xx and transport errors within
/// 180 s, up to 100 rate-limited answers per request (a five-minute block without
/// `Retry-After` costs about 60-120 requests at 0.5-5 s each), 4 MiB answers.
fn policy(budget: RateLimitBudget) -> RetryPolicy {
    let mut p = RetryPolicy::new(KIND, budget);
    p.max_attempts = 4;
    p.max_transport_attempts = 4;
    p.max_rate_limited = 100;
    p.max_total = Duration::from_secs(180);
    p.base = Duration::from_millis(500);
    p.cap = Duration::from_secs(5);
    p.body_limit = MAX_BODY;
    p.rate_limit_note = Some("over 1,200 requests in 5 minutes blocks the token for 5 minutes");
    p
}

/// The start of a non-JSON body, on one line.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}…", one.chars().take(200).collect::<String>())
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    #[test]
    fn error_codes_map_to_variants() {
        let auth = Auth::Token(Secret::new("t"));
        let api = |status, code| CallError::Api {
            status,
            errors: vec![ApiMessage {
                code,
                message: "m".into(),
                error_chain: vec![],
            }],
            body: String::new(),
            json: true,
        };
        assert!(matches!(
            api(400, 9109).into_provider("x", "z", &auth, "b"),
            ProviderError::Auth { .. }
        ));
        assert!(matches!(
            api(400, 7003).into_provider("x", "z", &auth, "b"),
            ProviderError::ZoneNotFound { .. }
        ));
        let e = api(400, 9021).into_provider("x", "z", &auth, "b");
        assert!(
            matches!(&e, ProviderError::Rejected { message, .. } if message.contains("code 9021")),
            "{e}"
        );
        let chained = CallError::Api {
            status: 400,
            errors: vec![ApiMessage {
                code: 6003,
                message: "Invalid request headers".into(),
                error_chain: vec![ApiMessage {
                    code: 6111,
                    message: "Invalid format for Authorization header".into(),
                    error_chain: vec![],
                }],
            }],
            body: String::new(),
            json: true,
        };
        assert!(chained.has_code(&[6111]));
        let text = chained.into_provider("x", "z", &auth, "b").to_string();
        assert!(
            text.contains("Authorization header") && text.contains("DNS:Edit"),
            "{text}"
        );
    }
}
