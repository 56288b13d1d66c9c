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

/// What Hetzner's rate limit is, for the progress line.
const RATE_LIMIT: &str = "3,600 requests an hour per project, one more each second";
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

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

fn rejected(message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: KIND,
        message,
    }
}

impl HetznerProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &HetznerSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: HetznerConfig) -> Result<Self, ProviderError> {
        let token = &config.token;
        let header = secret_header(KIND, "authorization", "Bearer ", token, "the API token")?;
        let headers = HeaderMap::from_iter([header]);
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let mut api = JsonApi::new(KIND, base, headers, timeout, budget)?;
        api.policy.rate_limit_note = Some(RATE_LIMIT);
        let zones = ZoneCache::default();
        Ok(HetznerProvider { config, api, zones })
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
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let msg = server_message(&resp.body);
        let message = match (resp.status, code) {
            (401, _) => format!(
                "the Hetzner Cloud API refused the token (401 {msg}); use a Cloud project API \
                 token (HETZNER_API_TOKEN): tokens of the old DNS Console no longer work"
            ),
            (403, "token_readonly" | "forbidden") => format!(
                "the token may not change records (403 {code}: {msg}); create a project API \
                 token with Read & Write"
            ),
            (404, _) => format!("404 {code}: {msg}"),
            (422, "incorrect_zone_mode") => format!(
                "the zone is in secondary mode (422 {msg}): change its records at its primary"
            ),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send, require 2xx, parse JSON.
    async fn call(&self, req: (Method, Url), body: Option<&Value>, zone: Option<&Zone>) -> Answer {
        let resp = self.api.send(req.0, req.1, body).await?;
        if !resp.is_success() {
            return Err(self.error(&resp, zone));
        }
        let base = self.api.base();
        let parsed = serde_json::from_slice(&resp.body);
        parsed.map_err(|e| other(format!("cannot parse the answer of {base}: {e}")))
    }

    /// Every item under `key` of a paginated list (`meta.pagination.next_page`).
    async fn list(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        key: &str,
        zone: Option<&Zone>,
    ) -> Result<Vec<Value>, ProviderError> {
        let (mut items, mut page) = (Vec::new(), 1u32);
        loop {
            let mut url = self.api.url(path);
            let (p, n) = (page.to_string(), PER_PAGE);
            let pairs = query
                .iter()
                .copied()
                .chain([("page", p.as_str()), ("per_page", n)]);
            url.query_pairs_mut().extend_pairs(pairs);
            let v = self.call((Method::GET, url), None, zone).await?;
            items.extend(v[key].as_array().cloned().unwrap_or_default());
            match v["meta"]["pagination"]["next_page"].as_u64() {
                Some(next) if next > u64::from(page) && page < MAX_PAGES => page = next as u32,
                _ => return Ok(items),
            }
        }
    }

    /// The TXT values stored at each RRset name (relative, `@` for the apex), as stored.
    async fn read_txt(&self, zone: &Zone, names: &[&String]) -> Result<Stored, ProviderError> {
        let id = zone_ref(zone);
        let path = ["zones", id.as_str(), "rrsets"];
        let mut rrsets = Vec::new();
        if names.len() <= PER_NAME_READS {
            for n in names {
                let q = [("type", "TXT"), ("name", n.as_str())];
                rrsets.extend(self.list(&path, &q, "rrsets", Some(zone)).await?);
            }
        } else {
            rrsets = self
                .list(&path, &[("type", "TXT")], "rrsets", Some(zone))
                .await?;
        }
        let mut found = Stored::new();
        for rr in rrsets.iter().filter(|r| r["type"] == "TXT") {
            let name = rr["name"].as_str().unwrap_or_default().to_string();
            found
                .entry(name)
                .or_default()
                .extend(values(&rr["records"]));
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
        let rel: Vec<&String> = names.iter().map(|n| &n.0).collect();
        let (current, id) = (self.read_txt(zone, &rel).await?, zone_ref(zone));
        let verb = if add { "add_records" } else { "remove_records" };
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
            let (z, n) = (id.as_str(), name.as_str());
            let url = self
                .api
                .url(&["zones", z, "rrsets", n, "TXT", "actions", verb]);
            let v = self
                .call((Method::POST, url), Some(&body), Some(zone))
                .await?;
            actions.push(parse_action(&v)?);
        }
        for (i, action) in actions.into_iter().enumerate() {
            self.wait_action(action, zone, i == 0).await?;
        }
        Ok(())
    }

    /// Poll `GET /actions/{id}` until the action succeeds or fails, within `action_timeout`
    /// (later actions of a batch are asked at once: they ran while the first was awaited).
    async fn wait_action(
        &self,
        mut a: Action,
        zone: &Zone,
        first: bool,
    ) -> Result<(), ProviderError> {
        let (start, limit) = (Instant::now(), self.config.action_timeout);
        let mut pause = Duration::from_millis(if first { 100 } else { 0 });
        loop {
            let id = a.id;
            match a.status.as_str() {
                "success" => return Ok(()),
                "error" => {
                    let e = a.error.unwrap_or_default();
                    let code = e["code"].as_str().unwrap_or("error");
                    let why = e["message"].as_str().unwrap_or("no reason given");
                    return Err(rejected(format!(
                        "action {id} on zone {zone} failed ({code}: {why})"
                    )));
                }
                status if start.elapsed() + pause > limit => {
                    let secs = limit.as_secs();
                    return Err(other(format!(
                        "action {id} on zone {zone} still `{status}` after {secs} s (action_timeout, \
                         HETZNER_ACTION_TIMEOUT)"
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
            let url = self.api.url(&["actions", &id.to_string()]);
            a = parse_action(&self.call((Method::GET, url), None, Some(zone)).await?)?;
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
            let seen = Some(seen.join(", ")).filter(|s| !s.is_empty());
            let seen = seen.unwrap_or_else(|| "none".into());
            let (provider, zone) = (KIND, fqdn.to_string());
            let message = format!("no zone the token can see holds {fqdn}; the token sees: {seen}");
            return Err(ProviderError::ZoneNotFound {
                provider,
                zone,
                message,
            });
        };
        if z["mode"] == "secondary" {
            let why = "change its records at its primary nameserver";
            return Err(rejected(format!("zone {name} is in secondary mode: {why}")));
        }
        let id = z["id"].as_u64().map(|i| i.to_string());
        let id = id.or_else(|| z["id"].as_str().map(str::to_string));
        Ok(Zone {
            name: name.clone(),
            provider_id: id,
        })
    }
}

/// A parsed JSON answer.
type Answer = Result<Value, ProviderError>;
/// TXT values by RRset name, as stored.
type Stored = HashMap<String, Vec<String>>;

/// The zone's path segment: its id when looked up, else its name.
fn zone_ref(zone: &Zone) -> String {
    let id = zone.provider_id.clone();
    id.unwrap_or_else(|| zone.name.to_string())
}

/// The `value`s of a list of records.
fn values(records: &Value) -> Vec<String> {
    let all = records.as_array().into_iter().flatten();
    all.filter_map(|r| r["value"].as_str().map(str::to_string))
        .collect()
}

/// The RRset name of `name` in `zone`: relative, lower case, `@` for the apex.
fn rrset_name(name: &DnsName, zone: &DnsName) -> Result<String, ProviderError> {
    if !name.is_within(zone) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let (full, zone) = (
        name.as_str().to_ascii_lowercase(),
        zone.as_str().to_ascii_lowercase(),
    );
    let rel = full
        .strip_suffix(&zone)
        .unwrap_or_default()
        .trim_end_matches('.');
    Ok(if rel.is_empty() {
        "@".into()
    } else {
        rel.into()
    })
}

/// The `records` of an `add_records` (ours not yet served, quoted) or `remove_records` (the
/// stored values that are ours, as stored) request.
fn records_to_send(stored: &[String], ours: &BTreeSet<String>, add: bool) -> Vec<Value> {
    let served: Vec<String> = stored.iter().map(|s| unquote_txt(s)).collect();
    let values: Vec<String> = match add {
        true => ours
            .iter()
            .filter(|v| !served.contains(*v))
            .map(|v| quote_txt(v))
            .collect(),
        false => stored
            .iter()
            .filter(|s| ours.contains(&unquote_txt(s)))
            .cloned()
            .collect(),
    };
    values
        .into_iter()
        .map(|value| json!({ "value": value }))
        .collect()
}

fn parse_action(v: &Value) -> Result<Action, ProviderError> {
    let action = serde_json::from_value(v["action"].clone());
    action.map_err(|e| other(format!("the answer holds no action: {e}")))
}

#[async_trait]
impl DnsProvider for HetznerProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(zone) = &self.config.zone {
            if !fqdn.is_within(zone) {
                let (provider, set) = (KIND, "set in zone (HETZNER_ZONE)");
                let message = format!("{fqdn} is not inside the zone `{zone}` {set}");
                return Err(ProviderError::Config { provider, message });
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
