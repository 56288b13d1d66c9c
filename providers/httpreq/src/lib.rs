//! lego's generic HTTP request provider (`httpreq`): your own service publishes the records.
//!
//! For each TXT value wildcert sends `POST {endpoint}/present` (and afterwards `POST
//! {endpoint}/cleanup`) with the JSON body lego's httpreq sends in its default mode, `{"fqdn":
//! "_acme-challenge.example.com.", "value": "…"}` (the name with its trailing dot), with HTTP
//! basic authentication when `username` and `password` are set; any 2xx answer is success. A
//! service written for lego works unchanged. lego's `RAW` mode (domain, token and key
//! authorization) is refused: wildcert hands providers the TXT record, not the key
//! authorization. The service knows its zones, so the zone is found through DNS.

pub mod settings;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::json;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::RateLimitBudget;
use wildcert_provider::{Applied, DnsProvider, ProviderError, Secret, TxtSet, Zone};

pub use settings::{HttpreqConfig, HttpreqSettings, KIND, PROVIDER};

/// Bound on waiting out HTTP 429 answers of the service, for the whole run.
const RATE_LIMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The httpreq provider.
#[derive(Debug)]
pub struct HttpreqProvider {
    api: JsonApi,
}

impl HttpreqProvider {
    /// Build from settings (reads the password file).
    pub fn new(settings: &HttpreqSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: HttpreqConfig) -> Result<Self, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some((user, password)) = &config.auth {
            let pair = format!("{user}:{}", password.expose());
            let basic = Secret::new(base64::engine::general_purpose::STANDARD.encode(pair));
            let (name, value) = secret_header(
                KIND,
                "authorization",
                "Basic ",
                &basic,
                "username / password",
            )?;
            headers.insert(name, value);
        }
        let budget = RateLimitBudget::new(RATE_LIMIT_WAIT, "the 60 s for rate limits");
        let api = JsonApi::new(KIND, config.endpoint, headers, config.timeout, budget)?;
        Ok(HttpreqProvider { api })
    }

    /// `POST {endpoint}/{action}` with `{"fqdn", "value"}` for every value of `set`.
    async fn post(&self, action: &str, set: &TxtSet) -> Result<(), ProviderError> {
        for (name, value) in set.pairs() {
            let body = json!({ "fqdn": name.to_fqdn(), "value": value });
            let url: Url = self.api.url(&[action]);
            let resp = self.api.send(Method::POST, url, Some(&body)).await?;
            if resp.is_success() {
                continue;
            }
            let msg = server_message(&resp.body);
            let (status, target) = (resp.status, self.api.base());
            let message = match status {
                401 | 403 => format!(
                    "the service at {target} refused the credentials ({status} {msg}); check \
                     username / password (HTTPREQ_USERNAME, HTTPREQ_PASSWORD)"
                ),
                _ => format!("{action} of {name} refused by {target}: HTTP {status} {msg}"),
            };
            return Err(self.api.status_error_saying(&resp, None, message));
        }
        Ok(())
    }
}

#[async_trait]
impl DnsProvider for HttpreqProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn publish(&self, _zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.post("present", set).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, _zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.post("cleanup", set).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = HttpreqProvider::new(&HttpreqSettings {
            endpoint: Some("http://127.0.0.1:9/hook/".into()),
            username: Some("acme".into()),
            password: Some(Secret::new("pw-hidden")),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["present"]).as_str(),
            "http://127.0.0.1:9/hook/present"
        );
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("pw-hidden") && !shown.contains("YWNtZTpwdy1oaWRkZW4"),
            "{shown}"
        );
    }
}
