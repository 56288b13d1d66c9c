//! DNSimple API v2 provider (`{base}/v2/{account}/zones/{zone}/records`).
//!
//! DNSimple keeps every TXT value as its own record with an integer id, so publishing is one
//! `POST` per missing value and nothing already there is rewritten; cleanup lists the TXT
//! records at the name — **every page** (`pagination.total_pages`; 30 a page unless `per_page`
//! says otherwise, at most 100) — and deletes by id exactly those whose content is one of our
//! values. The account id in every path is `account_id`, else the token's account
//! (`/v2/whoami`), else — for a user token — the only account it reaches (`/v2/accounts`).
//! The zone is the longest zone of the account containing the name (`/v2/{account}/zones`,
//! every page) unless `zone` names it.

pub mod settings;

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::unquote_txt;
use wildcert_provider::settings::config_error;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{
    DEFAULT_BASE_URL, DnsimpleConfig, DnsimpleSettings, KIND, PROVIDER, SANDBOX_BASE_URL,
};

/// Largest page DNSimple serves; we ask for it to save requests.
pub const PER_PAGE: u32 = 100;
/// Bound on the pages of one list.
const MAX_PAGES: u32 = 1000;

/// The DNSimple provider.
#[derive(Debug)]
pub struct DnsimpleProvider {
    config: DnsimpleConfig,
    api: JsonApi,
    account: OnceCell<String>,
    zones: ZoneCache,
}

/// A zone record (only what we use).
#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content: String,
}

/// The `data` of a whoami answer: an account token has an account, a user token a user.
#[derive(Debug, Deserialize)]
struct Whoami {
    account: Option<Account>,
}

/// An account (only what we use).
#[derive(Debug, Deserialize)]
struct Account {
    id: u64,
    #[serde(default)]
    name: Option<String>,
}

impl DnsimpleProvider {
    /// Build from settings (reads the token file).
    pub fn new(settings: &DnsimpleSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: DnsimpleConfig) -> Result<Self, ProviderError> {
        let (name, value) =
            secret_header(KIND, "authorization", "Bearer ", &config.token, "the token")?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let mut base = config.base_url.clone();
        if let Ok(mut p) = base.path_segments_mut() {
            p.pop_if_empty().push("v2");
        }
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let api = JsonApi::new(KIND, base, headers, config.timeout, budget)?;
        let account = OnceCell::new_with(config.account_id.map(|a| a.to_string()));
        Ok(DnsimpleProvider {
            config,
            api,
            account,
            zones: ZoneCache::default(),
        })
    }

    /// A non-2xx answer, phrased for the person fixing it: an unknown token (401) is told
    /// apart from a token that may not do this (403).
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let account = self.account.get().map_or("?", String::as_str);
        let message = match resp.status {
            401 => format!(
                "DNSimple refused the token (401 {msg}): it is unknown, expired or revoked, or \
                 belongs to the other site (sandbox vs production); check DNSIMPLE_OAUTH_TOKEN"
            ),
            403 => format!(
                "the token may not do this (403 {msg}): it needs write access to the zone's \
                 records in account {account}"
            ),
            404 if zone.is_none() => {
                let message = format!(
                    "DNSimple has no account {account} visible to this token (404 {msg}); \
                     check account_id (DNSIMPLE_ACCOUNT_ID)"
                );
                return ProviderError::Auth {
                    provider: KIND,
                    message,
                };
            }
            404 => format!("DNSimple has no such zone in account {account} (404 {msg})"),
            400 => format!("DNSimple refused it (400 {msg}): {}", errors(&resp.body)),
            402 => format!("DNSimple wants a plan for this (402 {msg})"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Send; a 2xx answer (or 404 when `gone_ok`) is returned, anything else mapped.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
        gone_ok: bool,
    ) -> Result<Response, ProviderError> {
        let resp = self.api.send(method, url, body).await?;
        match resp.status {
            s if (200..300).contains(&s) => Ok(resp),
            404 if gone_ok => Ok(resp),
            _ => Err(self.error(&resp, zone)),
        }
    }

    /// GET `url` and parse its `data` as `T`, and its `pagination.total_pages`.
    async fn get<T: DeserializeOwned>(
        &self,
        url: reqwest::Url,
        zone: Option<&Zone>,
    ) -> Result<(T, Option<u64>), ProviderError> {
        let resp = self.call(Method::GET, url, None, zone, false).await?;
        let parse = |e: serde_json::Error| ProviderError::Other {
            provider: KIND,
            message: format!("cannot parse DNSimple's answer: {e}"),
        };
        let mut doc: Value = serde_json::from_slice(&resp.body).map_err(parse)?;
        let pages = doc
            .pointer("/pagination/total_pages")
            .and_then(Value::as_u64);
        Ok((
            serde_json::from_value(doc["data"].take()).map_err(parse)?,
            pages,
        ))
    }

    /// The account id for the paths: given, the token's own, or a user token's only account.
    async fn account(&self) -> Result<&str, ProviderError> {
        let find = || async {
            let (who, _): (Whoami, _) = self.get(self.api.url(&["whoami"]), None).await?;
            if let Some(a) = who.account {
                return Ok(a.id.to_string());
            }
            // A user token (no account): its only account, or the user must say which.
            let (accounts, _): (Vec<Account>, _) =
                self.get(self.api.url(&["accounts"]), None).await?;
            if let [one] = accounts.as_slice() {
                return Ok(one.id.to_string());
            }
            let name = |a: &Account| format!("{} ({})", a.id, a.name.as_deref().unwrap_or("-"));
            let seen: Vec<String> = accounts.iter().map(name).collect();
            Err(config_error(
                KIND,
                format!(
                    "a user token reaching {} accounts [{}]: set account_id \
                     (DNSIMPLE_ACCOUNT_ID) to the one holding the zone, or use an account token",
                    seen.len(),
                    seen.join(", ")
                ),
            ))
        };
        Ok(self.account.get_or_try_init(find).await?)
    }

    /// Every item of a paged list at `{account}/{path…}`, every page.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        zone: Option<&Zone>,
    ) -> Result<Vec<T>, ProviderError> {
        let mut segments = vec![self.account().await?];
        segments.extend(path);
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.api.url(&segments);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("page", &page.to_string())
                .append_pair("per_page", &PER_PAGE.to_string());
            let (items, pages): (Vec<T>, _) = self.get(url, zone).await?;
            out.extend(items);
            if pages.is_none_or(|t| u64::from(page) >= t) {
                return Ok(out);
            }
        }
        Err(ProviderError::Other {
            provider: KIND,
            message: format!("the list of {} has more than {MAX_PAGES} pages", path[0]),
        })
    }

    /// The TXT records at `name` in `zone` (every page). The `name` filter is exact and
    /// relative; DNSimple ignores an empty one (the apex), so the name is checked here too.
    async fn txt_records(&self, zone: &Zone, name: &DnsName) -> Result<Vec<Record>, ProviderError> {
        let rel = relative_name(name, &zone.name);
        let query = [("name", rel.as_str()), ("type", "TXT")];
        let all: Vec<Record> = self
            .list_all(
                &["zones", zone.name.as_str(), "records"],
                &query,
                Some(zone),
            )
            .await?;
        Ok(all
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&rel))
            .collect())
    }

    /// The zones of the account, every page.
    async fn zone_names(&self) -> Result<Vec<DnsName>, ProviderError> {
        let all: Vec<Value> = self.list_all(&["zones"], &[], None).await?;
        let name = |d: &Value| DnsName::parse(d.get("name")?.as_str()?).ok();
        Ok(all.iter().filter_map(name).collect())
    }

    /// Check that every name of `set` lies in `zone`.
    fn inside(zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        match set.names().find(|n| !n.is_within(&zone.name)) {
            Some(n) => Err(ProviderError::Other {
                provider: KIND,
                message: format!("{n} is not inside zone {}", zone.name),
            }),
            None => Ok(()),
        }
    }

    /// `{account}/zones/{zone}/records[/{id}]`.
    async fn records_url(
        &self,
        zone: &Zone,
        id: Option<u64>,
    ) -> Result<reqwest::Url, ProviderError> {
        let account = self.account().await?;
        let id = id.map(|i| i.to_string());
        let mut path = vec![account, "zones", zone.name.as_str(), "records"];
        path.extend(id.as_deref());
        Ok(self.api.url(&path))
    }
}

/// DNSimple's validation errors (`{"errors": {"field": ["message", …]}}`) as sent, cut short.
fn errors(body: &[u8]) -> String {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = doc.get("errors").map(Value::to_string).unwrap_or_default();
    e.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// The record name DNSimple takes: relative to the zone, empty for the apex.
pub fn relative_name(name: &DnsName, zone: &DnsName) -> String {
    match name.as_str().strip_suffix(zone.as_str()) {
        Some(rest) => rest.trim_end_matches('.').to_string(),
        None => name.as_str().to_string(),
    }
}

#[async_trait]
impl DnsProvider for DnsimpleProvider {
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
        let found = match &self.config.zone {
            Some(z) if fqdn.is_within(z) => z.clone(),
            Some(z) => {
                return Err(not_found(format!(
                    "{fqdn} is not inside zone {z} (DNSIMPLE_ZONE)"
                )));
            }
            None => {
                let zones = self.zone_names().await?;
                let best = fqdn.ancestors().find(|a| zones.contains(a));
                best.ok_or_else(|| {
                    let mut names: Vec<String> = zones.iter().map(ToString::to_string).collect();
                    names.sort();
                    let n = names.len();
                    names.truncate(20);
                    let seen = format!("[{}] ({n} in all)", names.join(", "));
                    let account = self.account.get().map_or("?", String::as_str);
                    not_found(format!(
                        "no zone of account {account} contains {fqdn}; it has: {seen}"
                    ))
                })?
            }
        };
        let zone = Zone {
            provider_id: Some(found.to_string()),
            name: found,
        };
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        Self::inside(zone, set)?;
        let url = self.records_url(zone, None).await?;
        for (name, ours) in set.iter() {
            let there: BTreeSet<String> = self
                .txt_records(zone, name)
                .await?
                .iter()
                .map(|r| unquote_txt(&r.content))
                .collect();
            for value in ours.iter().filter(|v| !there.contains(*v)) {
                let body = json!({ "name": relative_name(name, &zone.name), "type": "TXT",
                    "content": value, "ttl": set.ttl });
                self.call(Method::POST, url.clone(), Some(&body), Some(zone), false)
                    .await?;
            }
        }
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        Self::inside(zone, set)?;
        for (name, ours) in set.iter() {
            let records = self.txt_records(zone, name).await?;
            for r in records
                .iter()
                .filter(|r| ours.contains(&unquote_txt(&r.content)))
            {
                let url = self.records_url(zone, Some(r.id)).await?;
                self.call(Method::DELETE, url, None, Some(zone), true)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_provider::Secret;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn relative_names() {
        let zone = name("example.com");
        assert_eq!(relative_name(&name("example.com"), &zone), "");
        assert_eq!(
            relative_name(&name("_acme-challenge.example.com"), &zone),
            "_acme-challenge"
        );
        assert_eq!(
            relative_name(&name("_acme-challenge.a.example.com"), &zone),
            "_acme-challenge.a"
        );
    }

    #[test]
    fn validation_errors_on_one_line() {
        let body = br#"{"message":"Validation failed","errors":{"content":["can't be blank"],"ttl":["is too low","is odd"]}}"#;
        let want = r#"{"content":["can't be blank"],"ttl":["is too low","is odd"]}"#;
        assert_eq!(errors(body), want);
        assert_eq!(errors(b"{\"message\":\"x\"}"), "");
    }

    #[test]
    fn urls_and_no_secret_in_debug() {
        let p = DnsimpleProvider::new(&DnsimpleSettings {
            token: Some(Secret::new("dnsimple_hidden")),
            base_url: Some("http://127.0.0.1:9/v2".into()),
            account_id: Some(1010),
            ..Default::default()
        })
        .expect("provider");
        assert_eq!(
            p.api.url(&["whoami"]).as_str(),
            "http://127.0.0.1:9/v2/whoami"
        );
        assert_eq!(p.account.get().map(String::as_str), Some("1010"));
        assert!(!format!("{p:?}").contains("dnsimple_hidden"));
    }
}
