//! The few Cloudflare API v4 calls we make: [`JsonApi`] (the shared retry policy: 429 with
//! `Retry-After`, 5xx, transport errors) with each call's own credentials, the response
//! envelope, and the mapping of Cloudflare's error codes to [`ProviderError`].

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;
use wildcert_provider::ProviderError;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::RateLimitBudget;
use wildcert_provider::settings::config_error;

use crate::settings::{Auth, DEFAULT_RATE_LIMIT_WAIT, KIND};

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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiMessage {
    /// Numeric code.
    pub code: i64,
    /// Text.
    pub message: String,
    /// Nested causes (Cloudflare's `error_chain`).
    pub error_chain: Vec<ApiMessage>,
}

/// The v4 envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    /// Whether the call succeeded.
    pub success: bool,
    /// Errors, if any.
    pub errors: Vec<ApiMessage>,
    /// The result.
    pub result: Value,
    /// Paging information of list calls (`total_pages`, …).
    pub result_info: Value,
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
        /// A non-envelope body, cut short, for the message.
        body: String,
        /// Whether the body was JSON at all (Cloudflare's edge answers HTML).
        json: bool,
    },
    /// No usable answer: rate limited or unreachable after the bounded retries, or
    /// credentials that cannot be sent.
    Failed(ProviderError),
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

    /// Map to a [`ProviderError`]: `what` says what we were doing, `zone` which zone.
    pub fn into_provider(self, what: &str, zone: &str, auth: &Auth, base: &str) -> ProviderError {
        let (status, errors, body, json) = match self {
            CallError::Failed(ProviderError::Unreachable {
                provider,
                target,
                message,
            }) => {
                let message = format!("{what}: {message}");
                return ProviderError::Unreachable {
                    provider,
                    target,
                    message,
                };
            }
            CallError::Failed(e) => return e,
            CallError::Api {
                status,
                ref errors,
                ref body,
                json,
            } => (status, errors, body, json),
        };
        let text = match errors.as_slice() {
            [] if body.is_empty() => format!("HTTP {status}"),
            [] => format!("HTTP {status}: {body}"),
            errors => {
                let part = |e: &ApiMessage| {
                    format!("{} (code {})", e.message.trim_end_matches('.'), e.code)
                };
                let parts: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        std::iter::once(part(e))
                            .chain(e.error_chain.iter().map(part))
                            .collect::<Vec<_>>()
                            .join(": ")
                    })
                    .collect();
                format!("HTTP {status}: {}", parts.join("; "))
            }
        };
        let (provider, refused) = (KIND, matches!(status, 401 | 403));
        if refused && !json && errors.is_empty() {
            let message = format!(
                "{what}: blocked before the API (HTTP {status}, not JSON — a firewall or WAF rule?); \
                 the credentials were not checked. Look at the network path to {base} (proxy, egress \
                 firewall, Cloudflare's own challenge page): {text}"
            );
            let target = base.to_string();
            ProviderError::Unreachable {
                provider,
                target,
                message,
            }
        } else if refused || self.has_code(AUTH_CODES) {
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
            let who = auth.describe();
            let message = format!("{what} with the {who} was refused: {text}; {hint}");
            ProviderError::Auth { provider, message }
        } else if status == 404 || self.has_code(ZONE_CODES) {
            let message = format!(
                "{what}: {text}; check zone_id (32 hex digits from the zone's Overview page) \
                 or that the zone is in this account"
            );
            let zone = zone.to_string();
            ProviderError::ZoneNotFound {
                provider,
                zone,
                message,
            }
        } else if status >= 500 {
            let message = format!(
                "{what}: Cloudflare answered {text} after retries (a problem on Cloudflare's side; try again later)"
            );
            ProviderError::Other { provider, message }
        } else {
            let message = format!("{what}: {text}");
            ProviderError::Rejected { provider, message }
        }
    }
}

/// A thin client of the v4 API.
#[derive(Debug, Clone)]
pub struct Api {
    json: JsonApi,
}

impl Api {
    /// A client for `base` (e.g. `https://api.cloudflare.com/client/v4`).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let url =
            Url::parse(base).map_err(|e| config_error(KIND, format!("base_url `{base}`: {e}")))?;
        let budget = RateLimitBudget::new(DEFAULT_RATE_LIMIT_WAIT, "rate_limit_wait");
        // The shared policy's defaults suit Cloudflare: 4 attempts on 5xx and transport errors
        // within 180 s, up to 100 rate-limited answers per request (a five-minute block without
        // `Retry-After` costs about 60-120 requests at 0.5-5 s each), 4 MiB answers.
        let mut json = JsonApi::new(KIND, url, HeaderMap::new(), timeout, budget)?;
        json.policy.rate_limit_note =
            Some("over 1,200 requests in 5 minutes blocks the token for 5 minutes");
        Ok(Api { json })
    }

    /// Bound the time all requests together may wait out rate limiting (a budget of its own).
    pub fn with_rate_limit_wait(self, wait: Duration) -> Self {
        self.with_rate_limit_budget(RateLimitBudget::new(wait, "rate_limit_wait"))
    }

    /// Wait out rate limits from `budget` (shared with whoever else holds a clone of it).
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.json.policy.budget = budget;
        self
    }

    /// Time spent waiting out rate limits so far.
    pub fn rate_limit_waited(&self) -> Duration {
        self.json.policy.budget.waited()
    }

    /// The endpoint, for messages.
    pub fn base(&self) -> String {
        self.json.base()
    }

    /// Send one call through the shared retry policy (429 honouring `Retry-After` within
    /// `rate_limit_wait`, 5xx and transport errors within bounds). `path` is `/`-separated
    /// segments; `query` pairs are encoded here.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        auth: &Auth,
    ) -> Result<Envelope, CallError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut url = self.json.url(&segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let headers = headers(auth).map_err(CallError::Failed)?;
        let resp =
            (self.json.send_with(method, url, body, &headers).await).map_err(CallError::Failed)?;
        let (status, env) = (resp.status, serde_json::from_slice::<Envelope>(&resp.body));
        let json = env.is_ok() || serde_json::from_slice::<Value>(&resp.body).is_ok();
        match env {
            Ok(env) if env.success && status < 400 => Ok(env),
            Ok(env) => Err(CallError::Api {
                status,
                errors: env.errors,
                body: String::new(),
                json,
            }),
            Err(_) => Err(CallError::Api {
                status,
                errors: vec![],
                body: server_message(&resp.body),
                json,
            }),
        }
    }
}

/// The credential headers of one call.
fn headers(auth: &Auth) -> Result<HeaderMap, ProviderError> {
    let mut h = HeaderMap::new();
    let (name, value) = match auth {
        Auth::Token(t) => secret_header(KIND, "authorization", "Bearer ", t, "api_token")?,
        Auth::GlobalKey { email, key } => {
            let email = HeaderValue::from_str(email)
                .map_err(|_| config_error(KIND, "email is not a valid HTTP header value"))?;
            h.insert("x-auth-email", email);
            secret_header(KIND, "x-auth-key", "", key, "api_key")?
        }
    };
    h.insert(name, value);
    Ok(h)
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
