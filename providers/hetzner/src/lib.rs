//! Hetzner Cloud API DNS provider (`https://api.hetzner.cloud/v1`, zones and RRsets; the old
//! DNS Console API was shut down in May 2026).
//!
//! Values are added and removed with the RRset actions `POST /zones/{zone}/rrsets/{name}/TXT/
//! actions/add_records` and `…/remove_records`, which change single values of an RRset (and
//! create it when absent) without touching the others. A replace of the RRset
//! (`…/actions/set_records`, `PUT`) would overwrite the value another certificate (apex next to
//! wildcard) or the user put there, so it is never used. Every action is polled
//! (`GET /actions/{id}`) until `success` or `error`, bounded by `action_timeout`.
//!
//! Before a change the TXT RRsets at the names are read: values already there are not added
//! again, and removal sends each value in the form the zone stores it (zones migrated from the
//! DNS Console may hold unquoted or differently split values; `remove_records` matches values
//! as stored). Two instances writing one RRset at once are safe: both actions only add or
//! remove their own values.

pub mod settings;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{DEFAULT_BASE_URL, HetznerConfig, HetznerSettings, KIND, PROVIDER};

/// Smallest TTL the API takes.
pub const MIN_TTL: u32 = 60;
/// Items asked for per list page (the API's maximum).
const PER_PAGE: &str = "50";
/// Bound on the pages of one listing.
const MAX_PAGES: u32 = 1000;
/// At most this many names are read one by one; above it all TXT RRsets are listed.
const PER_NAME_READS: usize = 4;

/// The Hetzner Cloud DNS provider.
#[derive(Debug)]
pub struct HetznerProvider {
    config: HetznerConfig,
    api: JsonApi,
    zones: ZoneCache,
}

/// An action (`{"action": {…}}`), as far as we use it.
#[derive(Debug, serde::Deserialize)]
struct Action {
    id: u64,
    status: String,
    #[serde(default)]
    error: Option<Value>,
}

impl HetznerProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &HetznerSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: HetznerConfig) -> Result<Self, ProviderError> {
        let (name, value) = secret_header(
            KIND,
            "authorization",
            "Bearer ",
            &config.token,
            "the API token",
        )?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let mut api = JsonApi::new(
            KIND,
            config.base_url.clone(),
            headers,
            config.timeout,
            budget,
        )?;
        api.policy.rate_limit_note =
            Some("3,600 requests an hour per project, one more each second");
        Ok(HetznerProvider {
            config,
            api,
            zones: ZoneCache::default(),
        })
    }

    /// Use `budget` (shared with every holder of a clone) for waiting out rate limits.
    pub fn with_rate_limit_budget(mut self, budget: RateLimitBudget) -> Self {
        self.api.policy.budget = budget;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &HetznerConfig {
        &self.config
    }

    /// A non-2xx answer (`{"error": {"code", "message"}}`), phrased for the person fixing it.
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let msg = server_message(&resp.body);
        let message = match (resp.status, code) {
            (401, _) => format!(
                "the Hetzner Cloud API refused the token (401 {msg}); use a Cloud project API token \
                 (HETZNER_API_TOKEN): tokens of the old DNS Console no longer work"
            ),
            (403, "token_readonly" | "forbidden") => format!(
                "the token may not change records (403 {code}: {msg}); create a project API token with Read & Write"
            ),
            (404, _) => {
                let zone = zone.map(|z| z.to_string()).unwrap_or_default();
                return ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone,
                    message: format!("404 {code}: {msg}"),
                };
            }
            (422, "incorrect_zone_mode") => format!(
                "the zone is in secondary mode (422 {msg}): change its records at its primary nameserver"
            ),
            _ => return self.api.status_error(resp, zone),
        };
        match resp.status {
            401 | 403 => ProviderError::Auth {
                provider: KIND,
                message,
            },
            _ => ProviderError::Rejected {
                provider: KIND,
                message,
            },
        }
    }

    /// Send, require 2xx, parse JSON.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<Value, ProviderError> {
        let resp = self.api.send(method, url, body).await?;
        if !resp.is_success() {
            return Err(self.error(&resp, zone));
        }
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse the answer of {}: {e}", self.api.base()),
        })
    }

    /// Every item under `key` of a paginated list (`meta.pagination.next_page`).
    async fn list(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        key: &str,
        zone: Option<&Zone>,
    ) -> Result<Vec<Value>, ProviderError> {
        let (mut items, mut page) = (Vec::new(), 1u32);
        loop {
            let mut url = self.api.url(segments);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("page", &page.to_string())
                .append_pair("per_page", PER_PAGE);
            let v = self.call(Method::GET, url, None, zone).await?;
            items.extend(
                v.get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            match v
                .pointer("/meta/pagination/next_page")
                .and_then(Value::as_u64)
            {
                Some(next) if next > u64::from(page) && page < MAX_PAGES => page = next as u32,
                _ => return Ok(items),
            }
        }
    }

    /// The zone's path segment: its id when looked up, else its name.
    fn zone_ref(zone: &Zone) -> String {
        zone.provider_id
            .clone()
            .unwrap_or_else(|| zone.name.to_string())
    }

    /// The TXT values stored at each RRset name (relative, `@` for the apex), as stored.
    async fn read_txt(
        &self,
        zone: &Zone,
        names: &[String],
    ) -> Result<HashMap<String, Vec<String>>, ProviderError> {
        let id = Self::zone_ref(zone);
        let segments = ["zones", id.as_str(), "rrsets"];
        let mut rrsets = Vec::new();
        if names.len() <= PER_NAME_READS {
            for n in names {
                rrsets.extend(
                    self.list(
                        &segments,
                        &[("type", "TXT"), ("name", n.as_str())],
                        "rrsets",
                        Some(zone),
                    )
                    .await?,
                );
            }
        } else {
            rrsets = self
                .list(&segments, &[("type", "TXT")], "rrsets", Some(zone))
                .await?;
        }
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for rr in rrsets.iter().filter(|r| r["type"] == "TXT") {
            let values = rr["records"].as_array().into_iter().flatten();
            let values = values.filter_map(|r| r["value"].as_str().map(str::to_string));
            found
                .entry(rr["name"].as_str().unwrap_or_default().to_string())
                .or_default()
                .extend(values);
        }
        Ok(found)
    }

    /// Add (`add_records`) or remove (`remove_records`) our values, one action per name, then
    /// wait for every action.
    async fn change(&self, zone: &Zone, set: &TxtSet, add: bool) -> Result<(), ProviderError> {
        let mut names = Vec::new();
        for (name, ours) in set.iter() {
            names.push((rrset_name(name, &zone.name)?, ours));
        }
        let rel: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
        let current = self.read_txt(zone, &rel).await?;
        let id = Self::zone_ref(zone);
        let mut actions = Vec::new();
        for (name, ours) in &names {
            let stored = current.get(name).map(Vec::as_slice).unwrap_or_default();
            let records = records_to_send(stored, ours, add);
            if records.is_empty() {
                continue;
            }
            let mut body = json!({ "records": records });
            if add && stored.is_empty() {
                // Only for a new RRset: an existing one keeps the TTL its owner chose.
                body["ttl"] = json!(set.ttl.max(MIN_TTL));
            }
            let verb = if add { "add_records" } else { "remove_records" };
            let url = self.api.url(&[
                "zones",
                id.as_str(),
                "rrsets",
                name.as_str(),
                "TXT",
                "actions",
                verb,
            ]);
            let v = self
                .call(Method::POST, url, Some(&body), Some(zone))
                .await?;
            actions.push(parse_action(&v)?);
        }
        for action in actions {
            self.wait_action(action, zone).await?;
        }
        Ok(())
    }

    /// Poll `GET /actions/{id}` until the action succeeds or fails, within `action_timeout`.
    async fn wait_action(&self, mut action: Action, zone: &Zone) -> Result<(), ProviderError> {
        let (start, mut pause) = (Instant::now(), Duration::from_millis(100));
        loop {
            match action.status.as_str() {
                "success" => return Ok(()),
                "error" => {
                    let e = action.error.unwrap_or_default();
                    let code = e["code"].as_str().unwrap_or("error");
                    let message = e["message"].as_str().unwrap_or("no reason given");
                    return Err(ProviderError::Rejected {
                        provider: KIND,
                        message: format!(
                            "action {} on zone {zone} failed ({code}: {message})",
                            action.id
                        ),
                    });
                }
                _ if start.elapsed() + pause > self.config.action_timeout => {
                    return Err(ProviderError::Other {
                        provider: KIND,
                        message: format!(
                            "action {} on zone {zone} still `{}` after {} s (action_timeout, HETZNER_ACTION_TIMEOUT)",
                            action.id,
                            action.status,
                            self.config.action_timeout.as_secs()
                        ),
                    });
                }
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            let url = self.api.url(&["actions", &action.id.to_string()]);
            action = parse_action(&self.call(Method::GET, url, None, Some(zone)).await?)?;
        }
    }

    /// The longest zone the token can see that holds `fqdn` (`GET /zones`, every page).
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let zones = self.list(&["zones"], &[], "zones", None).await?;
        let named = |z: &Value| Some((DnsName::parse(z["name"].as_str()?).ok()?, z.clone()));
        let mut visible: Vec<(DnsName, Value)> = zones.iter().filter_map(named).collect();
        visible.sort_by_key(|(n, _)| std::cmp::Reverse(n.label_count()));
        let Some((name, z)) = visible.iter().find(|(n, _)| fqdn.is_within(n)) else {
            let mut seen: Vec<String> = visible.iter().map(|(n, _)| n.to_string()).collect();
            seen.sort();
            let seen = if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            };
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message: format!("no zone the token can see holds {fqdn}; the token sees: {seen}"),
            });
        };
        if z["mode"] == "secondary" {
            return Err(ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "zone {name} is in secondary mode: change its records at its primary nameserver"
                ),
            });
        }
        let id = z["id"]
            .as_u64()
            .map(|i| i.to_string())
            .or_else(|| z["id"].as_str().map(str::to_string));
        Ok(Zone {
            name: name.clone(),
            provider_id: id,
        })
    }
}

/// The RRset name of `name` in `zone`: relative, lower case, `@` for the apex.
fn rrset_name(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(ProviderError::Other {
            provider: KIND,
            message: format!("{name} is not inside zone {zone}"),
        });
    }
    let full = name.as_str().to_ascii_lowercase();
    let rel = full
        .strip_suffix(&zone.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match rel.trim_end_matches('.') {
        "" => "@".to_string(),
        r => r.to_string(),
    })
}

/// The `records` of an `add_records` (ours not yet served, quoted) or `remove_records` (the
/// stored values that are ours, as stored) request.
fn records_to_send(stored: &[String], ours: &BTreeSet<String>, add: bool) -> Vec<Value> {
    let values: Vec<String> = if add {
        let served: Vec<String> = stored.iter().map(|s| unquote_txt(s)).collect();
        ours.iter()
            .filter(|v| !served.contains(*v))
            .map(|v| quote_txt(v))
            .collect()
    } else {
        stored
            .iter()
            .filter(|s| ours.contains(&unquote_txt(s)))
            .cloned()
            .collect()
    };
    values
        .into_iter()
        .map(|value| json!({ "value": value }))
        .collect()
}

fn parse_action(v: &Value) -> Result<Action, ProviderError> {
    serde_json::from_value(v["action"].clone()).map_err(|e| ProviderError::Other {
        provider: KIND,
        message: format!("the answer holds no action: {e}"),
    })
}

#[async_trait]
impl DnsProvider for HetznerProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(zone) = &self.config.zone {
            if !fqdn.is_within(zone) {
                let message =
                    format!("{fqdn} is not inside the zone `{zone}` set in zone (HETZNER_ZONE)");
                return Err(ProviderError::Config {
                    provider: KIND,
                    message,
                });
            }
            return Ok(Some(Zone::new(zone.clone())));
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, "hetzner: zone from the API");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.change(zone, set, true).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.change(zone, set, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn rrset_names_are_relative() {
        let zone = name("example.com");
        assert_eq!(
            rrset_name(&name("_acme-challenge.example.com"), &zone)
                .ok()
                .as_deref(),
            Some("_acme-challenge")
        );
        assert_eq!(
            rrset_name(&name("_acme-challenge.A.example.com"), &zone)
                .ok()
                .as_deref(),
            Some("_acme-challenge.a")
        );
        assert_eq!(rrset_name(&zone, &zone).ok().as_deref(), Some("@"));
        assert!(rrset_name(&name("x.example.org"), &zone).is_err());
        assert!(rrset_name(&name("xexample.com"), &zone).is_err());
    }

    #[test]
    fn only_missing_values_are_added_and_stored_forms_removed() {
        let ours: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let stored = vec!["\"a\"".to_string(), "keep".to_string(), "b".to_string()];
        assert!(records_to_send(&stored, &ours, true).is_empty());
        assert_eq!(
            records_to_send(&["\"keep\"".into()], &ours, true),
            vec![json!({"value": "\"a\""}), json!({"value": "\"b\""})]
        );
        assert_eq!(
            records_to_send(&stored, &ours, false),
            vec![json!({"value": "\"a\""}), json!({"value": "b"})]
        );
    }
}
