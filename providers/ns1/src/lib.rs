//! NS1 (IBM NS1 Connect) API v1 provider (`{base}/zones/{zone}/{domain}/TXT`, `X-NSONE-Key`).
//!
//! NS1 keeps **one record per (zone, domain, type)** holding a list of `answers`; each TXT
//! value is one answer (`{"answer": ["value"]}`). Creating a record that exists (`PUT`) fails
//! with 400 `record already exists` — the trap that broke wildcard + apex pairs in other
//! clients — so a value is added by reading the record and writing its whole answer list back
//! (`POST`: every other answer kept as it was, with its id and metadata), and the record is
//! created (`PUT`) only when absent. Removal writes the answers without ours, and deletes the
//! record (`DELETE`) when ours were its last. The read-modify-write is serialised per zone
//! inside the process (NS1 has no conditional write); a create or update that lost a race
//! (`record already exists` / `record not found`) is done again from a fresh read.
//!
//! The zone is the longest zone of the account containing the name (`GET /zones`, every page
//! of its `Link: <…>; rel="next"` chain) unless `zone` names it.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{Value, json};
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::Change;
use wildcert_provider::{
    Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache, ZoneLocks,
};

pub use settings::{DEFAULT_BASE_URL, KIND, Ns1Config, Ns1Settings, PROVIDER};

/// Bound on the pages of the zone list.
const MAX_PAGES: u32 = 1000;
/// Rounds of read-modify-write for one name when another writer keeps getting in between.
const MAX_ROUNDS: u32 = 3;
/// What NS1's rate limit is, for the progress line.
const RATE_LIMIT: &str = "token buckets per route, writes refill about one a second";

/// The NS1 provider.
#[derive(Debug)]
pub struct Ns1Provider {
    config: Ns1Config,
    api: JsonApi,
    zones: ZoneCache,
    locks: ZoneLocks,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

impl Ns1Provider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &Ns1Settings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: Ns1Config) -> Result<Self, ProviderError> {
        let key = secret_header(KIND, "x-nsone-key", "", &config.api_key, "the API key")?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let (base, timeout) = (config.base_url.clone(), config.timeout);
        let mut api = JsonApi::new(KIND, base, HeaderMap::from_iter([key]), timeout, budget)?;
        api.policy.rate_limit_note = Some(RATE_LIMIT);
        let (zones, locks) = (ZoneCache::default(), ZoneLocks::default());
        Ok(Ns1Provider {
            config,
            api,
            zones,
            locks,
        })
    }

    /// A non-2xx answer (`{"message": …}`), phrased for the person fixing it: an unknown key
    /// (401) is told apart from a key without the permission (403).
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let message = match resp.status {
            401 => format!(
                "NS1 refused the API key (401 {msg}): it is unknown, disabled or deleted; check \
                 api_key / NS1_API_KEY"
            ),
            403 => format!(
                "the API key may not do this (403 {msg}): it needs the DNS permissions View \
                 zones and Manage zones, with this zone allowed"
            ),
            404 => format!("NS1 answered 404: {msg}"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; the answer when 2xx, `None` when `lost` names its message (a race), else an error.
    async fn call(
        &self,
        req: (Method, Url),
        body: Option<&Value>,
        zone: Option<&Zone>,
        lost: &[&str],
    ) -> Result<Option<Response>, ProviderError> {
        let resp = self.api.send(req.0, req.1, body).await?;
        if resp.is_success() {
            return Ok(Some(resp));
        }
        let msg = server_message(&resp.body);
        match resp.status {
            400 | 404 if lost.contains(&msg.as_str()) => Ok(None),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// Every zone of the account (`GET /zones`, following `Link: <…>; rel="next"`; only the
    /// query of the link is used, so a proxy in `base_url` stays in the path).
    async fn list_zones(&self) -> Result<Vec<(DnsName, String)>, ProviderError> {
        let (mut out, mut query) = (Vec::new(), Vec::<(String, String)>::new());
        for _ in 0..MAX_PAGES {
            let mut url = self.api.url(&["zones"]);
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(&query);
            }
            let resp = self.call((Method::GET, url), None, None, &[]).await?;
            let Some(resp) = resp else { break };
            let page: Vec<Value> = serde_json::from_slice(&resp.body)
                .map_err(|e| other(format!("cannot parse NS1's list of zones: {e}")))?;
            for z in &page {
                let Some(Ok(fqdn)) = z["zone"].as_str().map(DnsName::parse) else {
                    continue;
                };
                let id = z["name"].as_str().unwrap_or(fqdn.as_str()).to_string();
                out.push((fqdn, id));
            }
            match next_link(&resp.headers) {
                Some(q) if q != query && !page.is_empty() => query = q,
                _ => return Ok(out),
            }
        }
        Err(other(format!(
            "the list of zones has more than {MAX_PAGES} pages"
        )))
    }

    /// The TXT record at `name`, `None` when there is none.
    async fn read(&self, zone: &Zone, name: &DnsName) -> Result<Option<Value>, ProviderError> {
        let url = self.record_url(zone, name);
        let lost = ["record not found"];
        let Some(resp) = self
            .call((Method::GET, url), None, Some(zone), &lost)
            .await?
        else {
            return Ok(None);
        };
        let rec = serde_json::from_slice(&resp.body);
        rec.map(Some)
            .map_err(|e| other(format!("cannot parse the TXT record {name}: {e}")))
    }

    fn record_url(&self, zone: &Zone, name: &DnsName) -> Url {
        let z = zone.provider_id.as_deref().unwrap_or(zone.name.as_str());
        self.api.url(&["zones", z, name.as_str(), "TXT"])
    }

    /// One round of read-merge-write of `ours` at `name`: true when done, false when the write
    /// lost a race (the record appeared or vanished since the read).
    async fn round(
        &self,
        zone: &Zone,
        name: &DnsName,
        ours: &BTreeSet<String>,
        op: Change,
        ttl: u32,
    ) -> Result<bool, ProviderError> {
        let current = self.read(zone, name).await?;
        let answers = current.as_ref().map(|r| r["answers"].clone());
        let answers = answers
            .and_then(|a| a.as_array().cloned())
            .unwrap_or_default();
        let Some(next) = merge_answers(&answers, ours, op) else {
            return Ok(true);
        };
        let url = self.record_url(zone, name);
        let z = zone.provider_id.as_deref().unwrap_or(zone.name.as_str());
        let body = json!({ "zone": z, "domain": name.as_str(), "type": "TXT", "answers": next });
        let (req, body, lost) = match (&current, next.is_empty()) {
            (None, _) => {
                let mut body = body;
                body["ttl"] = json!(ttl);
                ((Method::PUT, url), Some(body), "record already exists")
            }
            (Some(_), true) => ((Method::DELETE, url), None, "record not found"),
            (Some(_), false) => ((Method::POST, url), Some(body), "record not found"),
        };
        let done = self.call(req, body.as_ref(), Some(zone), &[lost]).await?;
        Ok(done.is_some())
    }

    /// Apply `op` of every value of `set`, name by name, under the zone's lock.
    async fn change(&self, zone: &Zone, set: &TxtSet, op: Change) -> Result<(), ProviderError> {
        if let Some(n) = set.names().find(|n| !n.is_within(&zone.name)) {
            return Err(other(format!("{n} is not inside zone {}", zone.name)));
        }
        let _guard = self.locks.lock(zone).await;
        for (name, ours) in set.iter() {
            let mut rounds = 1;
            while !self.round(zone, name, ours, op, set.ttl).await? {
                tracing::debug!(%name, "ns1: the record changed under us; reading it again");
                rounds += 1;
                if rounds > MAX_ROUNDS {
                    return Err(other(format!(
                        "the TXT record {name} kept changing under us ({MAX_ROUNDS} rounds): another \
                     client is writing it"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The query of the `rel="next"` link of a `Link` header, if any.
fn next_link(headers: &HeaderMap) -> Option<Vec<(String, String)>> {
    let all = headers.get_all(reqwest::header::LINK).iter();
    let links = all
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for link in links {
        let (target, params) = link.split_once(';').unwrap_or((link, ""));
        let next = params.split(';').any(|p| {
            let p = p.trim().replace(['"', ' '], "");
            p.eq_ignore_ascii_case("rel=next")
        });
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        if let (true, Ok(url)) = (next, Url::parse(target)) {
            return Some(url.query_pairs().into_owned().collect());
        }
    }
    None
}

/// The text of a TXT answer (its character-strings joined).
fn answer_text(answer: &Value) -> String {
    let parts = answer["answer"].as_array().into_iter().flatten();
    parts.filter_map(Value::as_str).collect()
}

/// The answers the record must hold after `op` of `ours`: every other answer kept as it is
/// (id, meta and all), ours added once as `{"answer": [value]}`; `None`: nothing to write.
/// Empty means: delete the record.
pub fn merge_answers(answers: &[Value], ours: &BTreeSet<String>, op: Change) -> Option<Vec<Value>> {
    let served: Vec<String> = answers.iter().map(answer_text).collect();
    match op {
        Change::Add => {
            let missing = ours.iter().filter(|v| !served.contains(v));
            let missing: Vec<Value> = missing.map(|v| json!({ "answer": [v] })).collect();
            (!missing.is_empty()).then(|| [answers, &missing].concat())
        }
        Change::Remove => {
            let keep = answers
                .iter()
                .zip(&served)
                .filter(|(_, s)| !ours.contains(*s));
            let keep: Vec<Value> = keep.map(|(a, _)| a.clone()).collect();
            (keep.len() < answers.len()).then_some(keep)
        }
    }
}

#[async_trait]
impl DnsProvider for Ns1Provider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let not_found = |message: String| ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message,
        };
        let zone = match &self.config.zone {
            Some(z) if fqdn.is_within(z) => Zone::new(z.clone()),
            Some(z) => {
                return Err(not_found(format!(
                    "{fqdn} is not inside zone {z} (NS1_ZONE)"
                )));
            }
            None => {
                let zones = self.list_zones().await?;
                let best = fqdn
                    .ancestors()
                    .find_map(|a| zones.iter().find(|z| z.0 == a));
                let Some((name, id)) = best else {
                    let seen = wildcert_provider::name::zone_listing(zones.iter().map(|z| &z.0));
                    let msg = format!(
                        "no zone of this NS1 account contains {fqdn}; the key sees: {seen}"
                    );
                    return Err(not_found(msg));
                };
                Zone {
                    name: name.clone(),
                    provider_id: Some(id.clone()),
                }
            }
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.change(zone, set, Change::Add).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.change(zone, set, Change::Remove).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    #[test]
    fn answers_are_merged_keeping_the_others_as_they_are() {
        let foreign = json!({ "id": "5f0c", "answer": ["keep"], "meta": { "note": "x" } });
        let ours: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let answers = vec![foreign.clone(), json!({ "id": "6a1d", "answer": ["a"] })];
        let added = merge_answers(&answers, &ours, Change::Add).expect("b is missing");
        assert_eq!(
            added,
            [answers.clone(), vec![json!({ "answer": ["b"] })]].concat()
        );
        assert!(merge_answers(&added, &ours, Change::Add).is_none());
        assert_eq!(
            merge_answers(&added, &ours, Change::Remove),
            Some(vec![foreign.clone()])
        );
        assert!(merge_answers(&[foreign], &ours, Change::Remove).is_none());
        let last = [json!({ "answer": ["a"] })];
        assert_eq!(merge_answers(&last, &ours, Change::Remove), Some(vec![]));
        assert_eq!(answer_text(&json!({ "answer": ["ab", "cd"] })), "abcd");
    }

    #[test]
    fn next_links() {
        let mut h = HeaderMap::new();
        assert_eq!(next_link(&h), None);
        let link = "<https://api.nsone.net/v1/zones?after=b.test&limit=2>; rel=\"next\", \
                    <https://api.nsone.net/v1/zones>; rel=\"first\"";
        h.insert(reqwest::header::LINK, link.parse().expect("header"));
        let q = next_link(&h).expect("next");
        assert_eq!(
            q,
            [
                ("after".into(), "b.test".into()),
                ("limit".into(), "2".into())
            ]
        );
        h.insert(
            reqwest::header::LINK,
            "<https://x/v1/zones>; rel=prev".parse().expect("h"),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = Ns1Provider::new(&Ns1Settings {
            api_key: Some(Secret::new("hiddenKey")),
            base_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        })
        .expect("provider");
        let zone = Zone::new(DnsName::parse("example.com").expect("name"));
        let name = DnsName::parse("_acme-challenge.example.com").expect("name");
        assert_eq!(
            p.record_url(&zone, &name).as_str(),
            "http://127.0.0.1:9/v1/zones/example.com/_acme-challenge.example.com/TXT"
        );
        assert!(!format!("{p:?}").contains("hiddenKey"));
    }
}
