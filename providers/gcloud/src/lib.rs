//! Google Cloud DNS provider (`https://dns.googleapis.com/dns/v1`, managed zones, resource
//! record sets, changes).
//!
//! Cloud DNS changes whole RRsets: `changes.create` takes `additions` and `deletions`, and an
//! addition to a name that already has a TXT RRset is refused (409 `alreadyExists`), while a
//! deletion must match the stored TTL and rrdatas exactly (412 `conditionNotMet`). So each
//! name's TXT RRset is read first and one change per batch deletes the old RRset (as stored)
//! and adds the merged one: every other value (another certificate's, the user's) is kept, and
//! the change is atomic. A 409 or 412 means another writer changed the RRset since it was read:
//! it is read again and the change redone (bounded), so two independent instances are safe.
//! Changes are applied asynchronously: each is polled (`changes.get`) until `done`, bounded by
//! `change_timeout`. Zones are listed (`managedZones.list`, every page) unless `zone_id` names
//! one; private zones are skipped unless `allow_private_zone`.

pub mod auth;
pub mod settings;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use wildcert_provider::api::{JsonApi, secret_header, server_message};
use wildcert_provider::http::{RateLimitBudget, Response};
use wildcert_provider::record::{quote_txt, unquote_txt};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_provider::{ZoneCache, ZoneLocks};

pub use auth::TokenSource;
pub use settings::{Credentials, DEFAULT_BASE_URL, GcloudConfig, GcloudSettings, KIND, PROVIDER};

/// RRsets changed by one `changes.create` (within the default quotas).
const NAMES_PER_CHANGE: usize = 100;
/// At most this many names are read one by one; above it all RRsets of the zone are listed.
const PER_NAME_READS: usize = 4;
/// Reads and changes redone after another writer's change (409/412).
const CONFLICT_ROUNDS: u32 = 6;
/// Bound on the pages of one listing.
const MAX_PAGES: u32 = 1000;

/// The Google Cloud DNS provider.
#[derive(Debug)]
pub struct GcloudProvider {
    config: GcloudConfig,
    api: JsonApi,
    tokens: TokenSource,
    project: OnceCell<String>,
    zones: ZoneCache,
    locks: ZoneLocks,
}

/// A TXT RRset as stored: TTL and rrdatas.
type Stored = HashMap<String, (u64, Vec<String>)>;

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}

fn not_found(zone: String, message: String) -> ProviderError {
    let provider = KIND;
    ProviderError::ZoneNotFound {
        provider,
        zone,
        message,
    }
}

impl GcloudProvider {
    /// Build from settings (reads and checks the service-account key).
    pub fn new(settings: &GcloudSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: GcloudConfig) -> Result<Self, ProviderError> {
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let base = config.base_url.clone();
        let api = JsonApi::new(KIND, base, HeaderMap::new(), config.timeout, budget)?;
        let tokens = TokenSource::new(&config)?;
        let project = OnceCell::new_with(config.project.clone());
        let (zones, locks) = (ZoneCache::default(), ZoneLocks::default());
        Ok(GcloudProvider {
            config,
            api,
            tokens,
            project,
            zones,
            locks,
        })
    }

    /// The project: configured, from the key, or the metadata server's.
    async fn project(&self) -> Result<&str, ProviderError> {
        let p = self.project.get_or_try_init(|| async {
            let url = self
                .config
                .metadata_url
                .join("computeMetadata/v1/project/project-id");
            let url = url.map_err(|e| other(format!("metadata URL: {e}")))?;
            let resp = auth::metadata_get(&self.api, url).await?;
            Ok::<_, ProviderError>(resp.text().trim().to_string())
        });
        Ok(p.await?.as_str())
    }

    /// `{base}/dns/v1/projects/{project}/managedZones/…`.
    async fn url(&self, rest: &[&str]) -> Result<Url, ProviderError> {
        let project = self.project().await?;
        let head = ["dns", "v1", "projects", project, "managedZones"];
        Ok(self.api.url(&[&head[..], rest].concat()))
    }

    /// Send with a fresh bearer token, any answer.
    async fn send(
        &self,
        m: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Response, ProviderError> {
        let token = self.tokens.token(&self.api).await?;
        let h = secret_header(KIND, "authorization", "Bearer ", &token, "the access token")?;
        self.api
            .send_with(m, url, body, &HeaderMap::from_iter([h]))
            .await
    }

    /// Send, require 2xx (else an error phrased for Cloud DNS), parse.
    async fn call(
        &self,
        m: Method,
        url: Url,
        body: Option<&Value>,
        zone: Option<&Zone>,
    ) -> Result<Value, ProviderError> {
        let resp = self.send(m, url, body).await?;
        if !resp.is_success() {
            return Err(self.error(&resp, zone));
        }
        serde_json::from_slice(&resp.body)
            .map_err(|e| other(format!("cannot parse the answer: {e}")))
    }

    /// A Google API error (`{"error": {"code", "message", "errors": [{"reason"}]}}`).
    fn error(&self, resp: &Response, zone: Option<&Zone>) -> ProviderError {
        let msg = server_message(&resp.body);
        let who = self.tokens.describe();
        let message = match resp.status {
            401 => format!("Cloud DNS refused the token of the {who} (401 {msg})"),
            403 => format!(
                "the {who} may not do this (403 {msg}); it needs roles/dns.admin on the project \
                 or the zone (listing zones needs dns.managedZones.list: or set GCE_ZONE_ID)"
            ),
            404 => format!("404 {msg} (project or managed zone)"),
            _ => return self.api.status_error(resp, zone),
        };
        self.api.status_error_saying(resp, zone, message)
    }

    /// Every item under `key` of a listing (`pageToken` / `nextPageToken`).
    async fn list(
        &self,
        url: Url,
        key: &str,
        zone: Option<&Zone>,
    ) -> Result<Vec<Value>, ProviderError> {
        let (mut items, mut token) = (Vec::new(), None::<String>);
        for _ in 0..MAX_PAGES {
            let mut u = url.clone();
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("pageToken", t);
            }
            let v = self.call(Method::GET, u, None, zone).await?;
            items.extend(v[key].as_array().cloned().unwrap_or_default());
            token = v["nextPageToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(items);
            }
        }
        Err(other(format!("more than {MAX_PAGES} pages of {key}")))
    }

    /// The TXT RRsets at `names` (absolute, with the dot), as stored.
    async fn read_txt(&self, zone: &Zone, names: &[String]) -> Result<Stored, ProviderError> {
        let base = self.url(&[&zone_ref(zone), "rrsets"]).await?;
        let mut rrsets = Vec::new();
        if names.len() <= PER_NAME_READS {
            for n in names {
                let mut u = base.clone();
                u.query_pairs_mut()
                    .append_pair("name", n)
                    .append_pair("type", "TXT");
                rrsets.extend(self.list(u, "rrsets", Some(zone)).await?);
            }
        } else {
            rrsets = self.list(base, "rrsets", Some(zone)).await?;
        }
        let txt = rrsets.into_iter().filter(|r| r["type"] == "TXT");
        let stored = txt.filter_map(|r| {
            let ttl = r["ttl"]
                .as_u64()
                .or_else(|| r["ttl"].as_str()?.parse().ok())?;
            let data = r["rrdatas"]
                .as_array()?
                .iter()
                .filter_map(|d| Some(d.as_str()?.to_string()));
            Some((
                r["name"].as_str()?.to_ascii_lowercase(),
                (ttl, data.collect()),
            ))
        });
        Ok(stored.collect())
    }

    /// Add or remove our values: read, merge, one change per batch (delete the RRset as stored,
    /// add the merged one), redone on 409/412, then wait for each change to be `done`.
    async fn change(&self, zone: &Zone, set: &TxtSet, add: bool) -> Result<(), ProviderError> {
        let _guard = self.locks.lock(zone).await;
        let names: Vec<String> = set
            .names()
            .map(|n| n.to_fqdn().to_ascii_lowercase())
            .collect();
        let ours: Vec<&BTreeSet<String>> = set.iter().map(|(_, v)| v).collect();
        // Changes made, in every round: each is waited for, even when a later batch conflicted.
        let mut made = Vec::new();
        for round in 1..=CONFLICT_ROUNDS {
            let stored = self.read_txt(zone, &names).await?;
            let mut edits = Vec::new();
            for (name, ours) in names.iter().zip(&ours) {
                edits.extend(edit(name, stored.get(name), ours, add, set.ttl));
            }
            let mut conflict = false;
            for batch in edits.chunks(NAMES_PER_CHANGE) {
                let (dels, adds): (Vec<_>, Vec<_>) = batch.iter().cloned().unzip();
                let body = json!({ "kind": "dns#change",
                    "deletions": dels.into_iter().flatten().collect::<Vec<_>>(),
                    "additions": adds.into_iter().flatten().collect::<Vec<_>>() });
                let url = self.url(&[&zone_ref(zone), "changes"]).await?;
                let resp = self.send(Method::POST, url, Some(&body)).await?;
                if matches!(resp.status, 409 | 412) && round < CONFLICT_ROUNDS {
                    // Another writer changed an RRset since we read it: read again.
                    tracing::debug!(%zone, status = resp.status, round, "gcloud: RRset changed meanwhile");
                    conflict = true;
                    break;
                } else if !resp.is_success() {
                    return Err(self.error(&resp, Some(zone)));
                }
                let change = serde_json::from_slice(&resp.body);
                made.push(change.map_err(|e| other(format!("cannot parse the change: {e}")))?);
            }
            if !conflict {
                for c in made {
                    self.wait_done(zone, c).await?;
                }
                return Ok(());
            }
            let pause = wildcert_provider::http::backoff(
                round,
                Duration::from_millis(50),
                Duration::from_secs(1),
            );
            tokio::time::sleep(pause).await;
        }
        Err(other(format!(
            "zone {zone}: the TXT RRsets kept changing under us"
        )))
    }

    /// Poll `changes.get` until `done`, within `change_timeout`.
    async fn wait_done(&self, zone: &Zone, mut change: Value) -> Result<(), ProviderError> {
        let (start, limit) = (Instant::now(), self.config.change_timeout);
        let mut pause = Duration::from_millis(100);
        loop {
            let id = change["id"].as_str().unwrap_or_default().to_string();
            match change["status"].as_str().unwrap_or_default() {
                "done" => return Ok(()),
                s if start.elapsed() + pause > limit => {
                    let secs = limit.as_secs();
                    let why = "change_timeout, GCE_CHANGE_TIMEOUT";
                    return Err(other(format!(
                        "change {id} in zone {zone} still `{s}` after {secs} s ({why})"
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(3));
            let url = self.url(&[&zone_ref(zone), "changes", &id]).await?;
            change = self.call(Method::GET, url, None, Some(zone)).await?;
        }
    }

    /// The zone of `zone_id`, checked to hold `fqdn`.
    async fn given_zone(&self, fqdn: &DnsName, id: &str) -> Result<Zone, ProviderError> {
        let z = self
            .call(Method::GET, self.url(&[id]).await?, None, None)
            .await;
        let z = z.map_err(|e| match e {
            ProviderError::ZoneNotFound { message, .. } => not_found(
                id.into(),
                format!("zone_id (GCE_ZONE_ID) `{id}`: {message}"),
            ),
            e => e,
        })?;
        let name =
            zone_name(&z).ok_or_else(|| other(format!("managed zone {id} has no dnsName")))?;
        if !fqdn.is_within(&name) {
            let message = format!("{fqdn} is not inside {name}, the zone_id (GCE_ZONE_ID) `{id}`");
            return Err(ProviderError::Config {
                provider: KIND,
                message,
            });
        }
        Ok(Zone {
            name,
            provider_id: Some(id.into()),
        })
    }

    /// The longest zone the account can see that holds `fqdn` (public first).
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let all = self
            .list(self.url(&[]).await?, "managedZones", None)
            .await?;
        let mut seen: Vec<(DnsName, bool, String)> = all
            .iter()
            .filter_map(|z| {
                Some((
                    zone_name(z)?,
                    z["visibility"] == "private",
                    z["name"].as_str()?.into(),
                ))
            })
            .collect();
        seen.sort_by_key(|(n, private, _)| (std::cmp::Reverse(n.label_count()), *private));
        let holds = |(n, private, _): &&(DnsName, bool, String)| {
            fqdn.is_within(n) && (!private || self.config.allow_private_zone)
        };
        if let Some((name, _, id)) = seen.iter().find(holds) {
            return Ok(Zone {
                name: name.clone(),
                provider_id: Some(id.clone()),
            });
        }
        let mut names: Vec<String> = seen
            .iter()
            .map(|(n, p, _)| format!("{n}{}", if *p { " (private)" } else { "" }))
            .collect();
        names.sort();
        names.dedup();
        let names = Some(names.join(", "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".into());
        let private = seen.iter().any(|(n, p, _)| *p && fqdn.is_within(n));
        let why = if private {
            "; only a private zone holds it: set GCE_ALLOW_PRIVATE_ZONE=true to write there"
        } else {
            ""
        };
        let message =
            format!("no public zone of the project holds {fqdn}{why}; the project has: {names}");
        Err(not_found(fqdn.to_string(), message))
    }
}

/// The managed zone's path segment: its name (or id) when looked up, else the DNS name.
fn zone_ref(zone: &Zone) -> String {
    zone.provider_id
        .clone()
        .unwrap_or_else(|| zone.name.to_string())
}

/// A managed zone's `dnsName`.
fn zone_name(z: &Value) -> Option<DnsName> {
    DnsName::parse(z["dnsName"].as_str()?).ok()
}

/// The deletion (the RRset as stored) and addition (the merged RRset) for one name, `None`
/// when nothing changes.
fn edit(
    name: &str,
    stored: Option<&(u64, Vec<String>)>,
    ours: &BTreeSet<String>,
    add: bool,
    ttl: u32,
) -> Option<(Option<Value>, Option<Value>)> {
    let (old_ttl, old) = stored.cloned().unwrap_or((u64::from(ttl), Vec::new()));
    let served: Vec<String> = old.iter().map(|d| unquote_txt(d)).collect();
    let new: Vec<String> = if add {
        let missing = ours
            .iter()
            .filter(|v| !served.contains(*v))
            .map(|v| quote_txt(v));
        old.iter().cloned().chain(missing).collect()
    } else {
        let keep = old.iter().zip(&served).filter(|(_, s)| !ours.contains(*s));
        keep.map(|(d, _)| d.clone()).collect()
    };
    if new == old {
        return None;
    }
    let rrset = |data: &Vec<String>| {
        json!({ "kind": "dns#resourceRecordSet", "name": name,
        "type": "TXT", "ttl": old_ttl, "rrdatas": data })
    };
    let deletion = stored.map(|_| rrset(&old));
    Some((deletion, (!new.is_empty()).then(|| rrset(&new))))
}

#[async_trait]
impl DnsProvider for GcloudProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = match &self.config.zone_id {
            Some(id) => self.given_zone(fqdn, id).await?,
            None => self.lookup_zone(fqdn).await?,
        };
        tracing::debug!(%fqdn, zone = %zone, id = ?zone.provider_id, "gcloud: managed zone");
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

    fn credential_source(&self) -> Option<String> {
        Some(self.tokens.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_every_other_value_and_the_stored_form() {
        let ours: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let stored = (300, vec!["\"keep\"".to_string(), "\"a\"".to_string()]);
        let (del, add) = edit("x.example.", Some(&stored), &ours, true, 60).expect("a change");
        assert_eq!(
            del.expect("deletion")["rrdatas"],
            json!(["\"keep\"", "\"a\""])
        );
        let add = add.expect("addition");
        assert_eq!(
            (add["rrdatas"].clone(), add["ttl"].clone()),
            (json!(["\"keep\"", "\"a\"", "\"b\""]), json!(300))
        );
        let (del, add) = edit("x.example.", None, &ours, true, 60).expect("a change");
        assert!(del.is_none());
        assert_eq!(add.expect("new")["ttl"], json!(60));
        let (_, add) = edit("x.example.", Some(&stored), &ours, false, 60).expect("a change");
        assert_eq!(add.expect("kept")["rrdatas"], json!(["\"keep\""]));
        let only = (60, vec!["a".to_string(), "\"b\"".to_string()]);
        let (del, add) = edit("x.example.", Some(&only), &ours, false, 60).expect("a change");
        assert!(add.is_none() && del.is_some(), "the RRset goes");
        assert!(edit("x.example.", None, &ours, false, 60).is_none());
        let both = (60, vec!["\"a\"".to_string(), "\"b\"".to_string()]);
        assert!(edit("x.example.", Some(&both), &ours, true, 60).is_none());
    }
}
