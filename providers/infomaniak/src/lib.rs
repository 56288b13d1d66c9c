//! Infomaniak provider: the Infomaniak API v1 (`https://api.infomaniak.com/1`), authenticated
//! with a bearer token of the `domain` scope.
//!
//! A domain is a product with a numeric id (`GET /1/product?service_name=domain&customer_name=…`);
//! its records are `GET /1/domain/{id}/dns/record` (every record, `source_idn` the full name,
//! `target_idn` the data, TXT unquoted), one record per value: `POST …/dns/record`
//! (`{type, source, target, ttl}`, `source` relative, `""` the apex) and
//! `DELETE …/dns/record/{record id}`. Publishing adds the missing values, cleaning up deletes
//! exactly the records holding ours; nothing is read-modify-written, so two instances do not
//! lose each other's values. Answers are `{"result": "success"|"error", "data", "error":
//! {"code", "description"}}`.

pub mod settings;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::name::zone_listing;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};

pub use settings::{DEFAULT_BASE_URL, InfomaniakConfig, InfomaniakSettings, KIND, PROVIDER};

/// The Infomaniak provider.
#[derive(Debug)]
pub struct InfomaniakProvider {
    api: JsonApi,
    /// Domain ids by domain name, as found.
    ids: Mutex<HashMap<DnsName, u64>>,
}

/// A record as `GET /1/domain/{id}/dns/record` lists it (what we use of it).
#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "type")]
    rtype: String,
    source_idn: String,
    target_idn: String,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl InfomaniakProvider {
    /// Build from settings (reads the secret file).
    pub fn new(settings: &InfomaniakSettings) -> Result<Self, ProviderError> {
        let config = settings.validate()?;
        let header = secret_header(KIND, "authorization", "Bearer ", &config.token, "the token")?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let headers = HeaderMap::from_iter([header]);
        let api = JsonApi::new(KIND, config.base_url, headers, config.timeout, budget)?;
        Ok(InfomaniakProvider {
            api,
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// `{base}/1/…`.
    fn url(&self, segments: &[&str]) -> Url {
        self.api.url(&[&["1"], segments].concat())
    }

    /// Send; the `data` of a `success` answer, else an error phrased for the person fixing it.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<Value, ProviderError> {
        let resp: Response = self.api.send(method, url, body).await?;
        let doc: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        if resp.is_success() && doc["result"] == "success" {
            return Ok(doc["data"].clone());
        }
        let (code, text) = (&doc["error"]["code"], &doc["error"]["description"]);
        let what = format!(
            "{} {}",
            code.as_str().unwrap_or(""),
            text.as_str().unwrap_or("")
        );
        let message = match resp.status {
            401 => format!(
                "Infomaniak refused the token (401 {what}); check INFOMANIAK_ACCESS_TOKEN: it may be \
                 revoked or expired"
            ),
            403 => format!(
                "the token may not do this (403 {what}): it needs the scope \"domain\" \
                 (manager.infomaniak.com/v3/infomaniak-api)"
            ),
            _ if resp.is_success() => return Err(other(format!("Infomaniak answered {what}"))),
            s => format!("Infomaniak answered {s}: {what}"),
        };
        Err(self.api.status_error_saying(&resp, zone, message))
    }

    /// Domains of the account named `name` (every domain when `name` is empty).
    async fn domains(&self, name: &str) -> Result<Vec<(DnsName, u64)>, ProviderError> {
        let mut url = self.url(&["product"]);
        url.query_pairs_mut().append_pair("service_name", "domain");
        if !name.is_empty() {
            url.query_pairs_mut().append_pair("customer_name", name);
        }
        let data = self.call(Method::GET, url, None, None).await?;
        let items = data.as_array().cloned().unwrap_or_default();
        let found = items.iter().filter_map(|d| {
            let name = DnsName::parse(d["customer_name"].as_str()?).ok()?;
            Some((name, d["id"].as_u64()?))
        });
        Ok(found.collect())
    }

    /// The domain id of `zone`.
    async fn id(&self, zone: &Zone) -> Result<u64, ProviderError> {
        let known = self
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&zone.name)
            .copied();
        if let Some(id) = known {
            return Ok(id);
        }
        let found = self.domains(zone.name.as_str()).await?;
        let id = found
            .iter()
            .find(|(n, _)| n == &zone.name)
            .map(|(_, id)| *id);
        let id = id.ok_or_else(|| ProviderError::ZoneNotFound {
            provider: KIND,
            zone: zone.to_string(),
            message: format!("the Infomaniak account of this token has no domain {zone}"),
        })?;
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(zone.name.clone(), id);
        Ok(id)
    }

    /// Every TXT record of the domain.
    async fn records(&self, zone: &Zone, id: &str) -> Result<Vec<Record>, ProviderError> {
        let url = self.url(&["domain", id, "dns", "record"]);
        let data = self.call(Method::GET, url, None, Some(zone)).await?;
        let all: Vec<Record> = serde_json::from_value(data)
            .map_err(|e| other(format!("cannot parse the records of {zone}: {e}")))?;
        Ok(all.into_iter().filter(|r| r.rtype == "TXT").collect())
    }
}

/// Whether record `r` holds value `v` at `name`.
fn holds(r: &Record, name: &DnsName, v: &str) -> bool {
    r.source_idn
        .trim_end_matches('.')
        .eq_ignore_ascii_case(name.as_str())
        && r.target_idn == v
}

#[async_trait]
impl DnsProvider for InfomaniakProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        // The longest ancestor that is a domain of the account (one query per candidate).
        for candidate in fqdn.ancestors().filter(|n| n.label_count() >= 2) {
            let zone = Zone::new(candidate);
            match self.id(&zone).await {
                Ok(_) => return Ok(Some(zone)),
                Err(ProviderError::ZoneNotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let visible = self.domains("").await?;
        let names: Vec<DnsName> = visible.into_iter().map(|(n, _)| n).collect();
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "no domain of this Infomaniak account holds {fqdn}; it has: {}",
                zone_listing(&names)
            ),
        })
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        let id = self.id(zone).await?.to_string();
        let existing = self.records(zone, &id).await?;
        for (name, value) in set.pairs() {
            if existing.iter().any(|r| holds(r, name, value)) {
                continue;
            }
            let rel = name
                .as_str()
                .strip_suffix(zone.name.as_str())
                .unwrap_or_default();
            let body = json!({ "type": "TXT", "source": rel.trim_end_matches('.'),
                "target": value, "ttl": set.ttl });
            let url = self.url(&["domain", &id, "dns", "record"]);
            self.call(Method::POST, url, Some(&body), Some(zone))
                .await?;
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        let id = self.id(zone).await?.to_string();
        let existing = self.records(zone, &id).await?;
        let ours = existing
            .iter()
            .filter(|r| set.pairs().any(|(n, v)| holds(r, n, v)));
        for r in ours {
            let url = self.url(&["domain", &id, "dns", "record", &r.id.to_string()]);
            if let Err(e) = self.call(Method::DELETE, url, None, Some(zone)).await {
                // Gone meanwhile is not an error.
                if !matches!(e, ProviderError::ZoneNotFound { .. }) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn credential_source(&self) -> Option<String> {
        Some("API token".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_matched_by_full_name_and_value() {
        let r = Record {
            id: 1,
            rtype: "TXT".into(),
            source_idn: "_acme-challenge.Example.com".into(),
            target_idn: "v".into(),
        };
        let name = DnsName::parse("_acme-challenge.example.com").expect("name");
        assert!(holds(&r, &name, "v") && !holds(&r, &name, "w"));
        let p = InfomaniakProvider::new(&InfomaniakSettings {
            token: Some(wildcert_provider::Secret::new("s3cret")),
            ..Default::default()
        })
        .expect("valid");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(p.url(&["product"]).path(), "/1/product");
    }
}
