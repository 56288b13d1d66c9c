//! A stateful fake of the Cloudflare API v4 endpoints a DNS-01 client uses, on the kit's
//! router: `GET /zones` (filters, pagination), `GET /zones/{id}`, `GET|POST
//! /zones/{id}/dns_records` (filters `type`, `search`, `name`/`content` with `.exact`,
//! `.contains`, `.startswith`, `.endswith`), `GET|PUT|PATCH|DELETE
//! /zones/{id}/dns_records/{record}`, `POST …/dns_records/batch`; the v4 envelope (`success`,
//! `errors[{code,message}]`, `result`, `result_info`); API tokens (`Authorization: Bearer`,
//! 40 characters or prefixed `cfut_`/`cfat_`) with zone scopes and permissions, the legacy
//! Global API Key (`X-Auth-Email` + `X-Auth-Key`); and the traps: 429 (`Retry-After: 1`),
//! the five-minute block (429 to everything, `Retry-After` counting down or absent), HTML
//! 5xx/403 pages from the edge, and the errors of `errors.json` (81058 for an identical
//! record, 81044, 9109, 7003, 6003/6111, …). It follows developers.cloudflare.com/api (no
//! Cloudflare server can run here) and is proven against the official Python SDK by
//! `tests/sdk/prove.py`. Responses are built from the JSON fixtures beside this file.
//!
//! With [`CloudflareFakeOptions::backed_by`], every TXT change lands in the BIND topology's
//! primary (the kit's `ZoneMirror`) before the API answers, so Pebble validates end to end.
//! The kit's [`FakeServer`] (deref) gives the request log (`requests`, `count`,
//! `count_prefix`, `clear_requests`) and the record helpers (`zone_id`, `records`,
//! `txt_values`, `seed_record`). Used by this provider's tests and, through the crate's `fake`
//! feature, by the CLI's e2e tests.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
use wildcert_testkit::{
    BindTopology, Call, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore, Reply, Router,
    ZoneMirror, absolute_name, dns_name, fixture, paginate,
};
pub use wildcert_testkit::{FakeRecord, FakeToken};

/// The path prefix of the API (as in `https://api.cloudflare.com/client/v4`).
pub const API_PREFIX: &str = "/client/v4";
/// The token every fake accepts unless options say otherwise: all zones, all permissions.
pub const DEFAULT_TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";
/// The record types Cloudflare takes (others: 9000).
const TYPES: &str = " A AAAA CAA CERT CNAME DNSKEY DS HTTPS LOC MX NAPTR NS OPENPGPKEY PTR SMIMEA SRV SSHFP SVCB TLSA TXT URI ";

/// Options for [`CloudflareFake::start`].
#[derive(Debug, Clone)]
pub struct CloudflareFakeOptions {
    /// Zone names (each gets a random 32-hex id), all `active`.
    pub zones: Vec<String>,
    /// Accepted API tokens (Cloudflare's are 40 characters of `[A-Za-z0-9_-]`, or prefixed).
    pub tokens: Vec<FakeToken>,
    /// The legacy Global API Key: (e-mail, key), if accepted.
    pub global_key: Option<(String, String)>,
    /// Force a smaller maximum `per_page` on every list (e.g. 1 to exercise pagination).
    pub max_per_page: Option<u32>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
    /// Smallest TTL accepted besides 1 (60; Enterprise zones take 30).
    pub min_ttl: u32,
}

impl Default for CloudflareFakeOptions {
    fn default() -> Self {
        CloudflareFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            global_key: None,
            max_per_page: None,
            dns: None,
            min_ttl: 60,
        }
    }
}

impl CloudflareFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        let opts = CloudflareFakeOptions::default();
        CloudflareFakeOptions { zones, dns, ..opts }
    }
}

/// What the fake holds: zones and records, and its options.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: CloudflareFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct CloudflareFake(FakeServer<State>);

impl Deref for CloudflareFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Made<T> = Result<T, Reply>;
type Answer = Made<Reply>;

/// The error `key` of `errors.json` (`[status, error]`), `{}` in it replaced by `arg`, in
/// the v4 envelope.
fn err(key: &str, arg: &str) -> Reply {
    let all: Value = serde_json::from_str(include_str!("errors.json")).unwrap_or_default();
    let error = all[key][1].to_string().replace("{}", arg);
    let error: Value = serde_json::from_str(&error).unwrap_or_default();
    let body = json!({ "success": false, "errors": [error], "messages": [], "result": null });
    Reply::json(all[key][0].as_u64().unwrap_or(500) as u16, &body)
}

fn ok(result: Value) -> Answer {
    let body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    Ok(Reply::json(200, &body))
}

impl CloudflareFake {
    /// Start on a free loopback port.
    pub fn start(opts: CloudflareFakeOptions) -> Result<CloudflareFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let records = "/zones/{zone}/dns_records";
        let record = "/zones/{zone}/dns_records/{record}";
        let router = Router::new("cloudflare").prefix(API_PREFIX);
        let server = router
            .auth(authenticate)
            .route("GET /zones", list_zones)
            .route("GET /zones/{zone}", |st, c| {
                ok(zone_json(&st.zone(c, "zone")?))
            })
            .route(&format!("GET {records}"), list_records)
            .route(&format!("POST {records}"), |st, c| write(st, c, "posts"))
            .route(&format!("POST {records}/batch"), batch)
            .route(&format!("GET {record}"), |st, c| {
                let zone = st.zone(c, "read")?;
                ok(record_json(&find(&st.store, &zone, c.param("record"))?))
            })
            .route(&format!("PUT {record}"), |st, c| write(st, c, "puts"))
            .route(&format!("PATCH {record}"), |st, c| write(st, c, "patches"))
            .route(&format!("DELETE {record}"), |st, c| write(st, c, "deletes"))
            .fallback(|c, known| match known {
                true => err("bad_method", &c.method),
                false => err("no_such_uri", ""),
            });
        Ok(CloudflareFake(server.start(State { store, opts })?))
    }

    /// `http://127.0.0.1:PORT/client/v4`: what goes into `base_url` / `CLOUDFLARE_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Accept another token.
    pub fn add_token(&self, token: FakeToken) {
        self.with(|st| st.opts.tokens.push(token));
    }

    /// Answer the next `n` requests with HTTP 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, err("slow_down", "").header("Retry-After", "1"));
    }

    /// Answer the next `n` requests with HTTP 502 (an HTML page, as Cloudflare's edge does).
    pub fn fail_next_with_5xx(&self, n: u32) {
        self.fail_next_with_html(502, n);
    }

    /// Answer the next `n` requests with `status` and an HTML page (an edge firewall / WAF
    /// block, before the API), not the JSON envelope.
    pub fn fail_next_with_html(&self, status: u16, n: u32) {
        let page = format!("<html><head><title>{status} | Cloudflare</title></head></html>");
        self.fail_next(n, Reply::text(status, "text/html; charset=UTF-8", page));
    }

    /// Answer every request with 429 for `d` from now, as Cloudflare blocks a token for five
    /// minutes after 1,200 requests in five minutes; `retry_after`: send the seconds left.
    pub fn block_for(&self, d: Duration, retry_after: bool) {
        self.0.block_for(d, move |left| {
            let secs = left.as_millis().div_ceil(1000).max(1).to_string();
            match retry_after {
                true => err("blocked", "").header("Retry-After", secs),
                false => err("blocked", ""),
            }
        });
    }
}

/// The auth hook: who is calling (the index of a token, or `global-key`), or the refusal.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let pair = |e: &str, k: &str| (e.to_ascii_lowercase(), k.to_owned());
    let sent = c.header("x-auth-email").zip(c.header("x-auth-key"));
    let sent = sent.map(|(e, k)| pair(e, k));
    let known = st.opts.global_key.as_ref().map(|(e, k)| pair(e, k));
    let who = match (c.header("authorization"), c.bearer()) {
        (Some(_), None) => return Err(err("invalid_headers", "")),
        (Some(_), Some(token)) => {
            // 40 characters of [A-Za-z0-9_-]; the newer `cfut_`/`cfat_` tokens may be longer.
            let rest = token.strip_prefix("cfut_").or(token.strip_prefix("cfat_"));
            let len_ok = rest.map_or(token.len() == 40, |r| (40..=200).contains(&r.len()));
            let token_char = |ch: char| ch.is_ascii_alphanumeric() || "_-".contains(ch);
            if !len_ok || !rest.unwrap_or(token).chars().all(token_char) {
                return Err(err("invalid_headers", ""));
            }
            let i = st.opts.tokens.iter().position(|t| t.token == token);
            i.ok_or_else(|| err("no_token", ""))?.to_string()
        }
        (None, _) if sent.is_none() => return Err(err("no_token", "")),
        (None, _) if sent == known => "global-key".into(),
        (None, _) => return Err(err("bad_global_key", "")),
    };
    c.principal = Some(who);
    Ok(())
}

impl State {
    /// What the caller may do (the global key may do everything).
    fn perms(&self, c: &Call) -> FakeToken {
        let i = c.principal.as_deref().and_then(|p| p.parse().ok());
        let token = i.and_then(|i: usize| self.opts.tokens.get(i));
        token.cloned().unwrap_or_else(|| FakeToken::full(""))
    }

    /// The route's zone if the caller may: `need` is `zone` (read the zone), `read` (its
    /// records) or `edit` (change them).
    fn zone(&self, c: &Call, need: &str) -> Made<FakeZone> {
        let zone = self.store.zone(c.param("zone"));
        let zone = zone.ok_or_else(|| err("no_route", &c.path))?;
        let p = self.perms(c);
        let granted = [("zone", p.zone_read), ("edit", p.dns_edit), ("read", true)];
        match (p.may(&zone.name) && granted.contains(&(need, true)), need) {
            (true, _) => Ok(zone.clone()),
            (false, "zone") => Err(err("no_access", "")),
            (false, _) => Err(err("auth", "")),
        }
    }

    /// One page of `items` (`per_page` 5..=`max`, and at most the forced maximum).
    fn page(&self, items: Vec<Value>, c: &Call, default: u32, max: u32) -> Answer {
        let forced = self.opts.max_per_page.unwrap_or(u32::MAX).max(1);
        let (page, per_page) = c.page(default, 5, max);
        let per_page = per_page.min(forced);
        let (result, total_count) = (paginate(&items, page, per_page), items.len());
        let (count, total_pages) = (result.len(), (total_count as u32).div_ceil(per_page));
        let body = json!({ "success": true, "errors": [], "messages": [], "result": result,
            "result_info": { "page": page, "per_page": per_page, "count": count,
                "total_count": total_count, "total_pages": total_pages.max(1) } });
        Ok(Reply::json(200, &body))
    }
}

fn zone_json(z: &FakeZone) -> Value {
    let ns = [format!("ns1.{}", z.name), format!("ns2.{}", z.name)];
    let fields = json!({ "id": z.id, "name": z.name, "name_servers": ns });
    fixture(include_str!("zone.json"), fields)
}

fn record_json(r: &FakeRecord) -> Value {
    let fields = json!({ "id": r.id, "zone_id": r.zone_id, "zone_name": r.zone_name,
        "name": r.name, "type": r.rtype, "content": r.content, "ttl": r.ttl,
        "comment": r.comment, "created_on": r.created, "modified_on": r.created });
    fixture(include_str!("record.json"), fields)
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let (p, name) = (st.perms(c), c.query("name").map(dns_name));
    let active = c.query("status").is_none_or(|s| s == "active");
    let named = |z: &FakeZone| name.as_ref().is_none_or(|n| &z.name == n);
    let wanted = |z: &&FakeZone| active && p.may(&z.name) && named(z);
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(wanted).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let zones = zones.into_iter().map(zone_json).collect();
    match p.zone_read {
        true => st.page(zones, c, 20, 50),
        false => Err(err("no_access", "")),
    }
}

/// The list filters of `name` or `content`: `X` / `X.exact`, `X.contains`, `X.startswith`,
/// `X.endswith` (case-insensitive, as Cloudflare documents them).
fn field_matches(c: &Call, field: &str, value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    c.query.iter().all(|(k, q)| {
        let q = q.to_ascii_lowercase();
        let q = q.trim_end_matches(|ch| ch == '.' && field == "name");
        match k.strip_prefix(field) {
            Some("" | ".exact") => v == q,
            Some(".contains") => v.contains(q),
            Some(".startswith") => v.starts_with(q),
            Some(".endswith") => v.ends_with(q),
            _ => true,
        }
    })
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let zone = st.zone(c, "read")?;
    let rtype = c.query("type").map(str::to_ascii_uppercase);
    let search = c.query("search").map(str::to_ascii_lowercase);
    let wanted = |r: &&FakeRecord| {
        let found = |q: &String| r.name.contains(q) || r.content.to_ascii_lowercase().contains(q);
        let typed = rtype.as_ref().is_none_or(|t| &r.rtype == t);
        let filtered = field_matches(c, "name", &r.name) && field_matches(c, "content", &r.content);
        typed && filtered && search.as_ref().is_none_or(found)
    };
    let records = st.store.in_zone(&zone.name);
    let items = records.iter().filter(wanted).map(record_json).collect();
    st.page(items, c, 100, 5_000_000)
}

fn find(store: &RecordStore, zone: &FakeZone, id: &str) -> Made<FakeRecord> {
    let found = store.find(&zone.id, id).cloned();
    found.ok_or_else(|| err("missing", ""))
}

/// The record a `posts`, `puts` or `patches` item asks for (replacing `old`), checked as
/// Cloudflare checks it against the zone's records in `store`.
type Item<'a> = (&'a str, &'a Value, Option<&'a FakeRecord>);

fn build(store: &RecordStore, zone: &FakeZone, min_ttl: u32, item: Item) -> Made<FakeRecord> {
    let (key, v, old) = item;
    let base = old.filter(|_| key == "patches").map(record_json);
    let base = base.unwrap_or_default();
    let field = |k: &str| v.get(k).or(base.get(k)).cloned().unwrap_or_default();
    let text = |k: &str| field(k).as_str().map(str::to_owned);
    let rtype = text("type").unwrap_or_default().to_ascii_uppercase();
    // Cloudflare completes relative names and `@` with the zone name.
    let name = text("name").and_then(|n| absolute_name(&n, &zone.name));
    let content = text("content").filter(|c| rtype != "TXT" || (1..=4096).contains(&c.len()));
    let t = field("ttl");
    let ttl = if t.is_null() { Some(1) } else { t.as_u64() };
    let ttl = ttl.filter(|t| *t == 1 || (u64::from(min_ttl)..=86400).contains(t));
    let (name, content, ttl) = match (TYPES.contains(&format!(" {rtype} ")), name, content, ttl) {
        (false, ..) => return Err(err("bad_type", "")),
        (_, None, ..) => return Err(err("bad_name", "")),
        (_, _, None, _) => return Err(err("bad_content", "")),
        (_, _, _, None) => return Err(err("bad_ttl", &min_ttl.to_string())),
        (true, Some(n), Some(c), Some(t)) => (n, c, t as u32),
    };
    let mut rec = FakeRecord::new(zone, &rtype, &name, &content, ttl)?;
    rec.comment = text("comment");
    if let Some(b) = old {
        (rec.id, rec.created) = (b.id.clone(), b.created.clone());
    }
    match store.identical(&rec) {
        true => Err(err("identical", "")),
        false => Ok(rec),
    }
}

/// Apply one batch item (`deletes`, `patches`, `puts`, `posts`) to `s`; the record as answered.
fn apply(s: &mut RecordStore, (zone, ttl): (&FakeZone, u32), key: &str, v: &Value) -> Made<Value> {
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let old = (key != "posts").then(|| find(s, zone, id)).transpose()?;
    let make = |s: &RecordStore| build(s, zone, ttl, (key, v, old.as_ref()));
    let new = (key != "deletes").then(|| make(s)).transpose()?;
    let shown = new.as_ref().or(old.as_ref()).map(record_json);
    s.put(old.as_ref().map(|o| o.id.as_str()), new);
    Ok(shown.unwrap_or_default())
}

/// A create, PUT, PATCH or DELETE of one record: a batch of one.
fn write(st: &mut State, c: &Call, key: &str) -> Answer {
    let (zone, min_ttl) = (st.zone(c, "edit")?, st.opts.min_ttl);
    let item = c.json().or((key == "deletes").then_some(Value::Null));
    let item = item.ok_or_else(|| err("bad_body", ""))?;
    let item = fixture(&item.to_string(), json!({ "id": c.param("record") }));
    let rec = st.store.edit(|s| apply(s, (&zone, min_ttl), key, &item))?;
    let id = json!({ "id": rec["id"] });
    ok(if key == "deletes" { id } else { rec })
}

/// `POST …/dns_records/batch`: deletes, patches, puts, posts, in that order, all or nothing.
fn batch(st: &mut State, c: &Call) -> Answer {
    let (zone, min_ttl) = (st.zone(c, "edit")?, st.opts.min_ttl);
    let v = c.json().ok_or_else(|| err("bad_body", ""))?;
    let keys = ["deletes", "patches", "puts", "posts"];
    let mut result = BTreeMap::from(keys.map(|k| (k, Vec::new())));
    let list = |k| v.get(k).and_then(Value::as_array).into_iter().flatten();
    let items = keys.into_iter().flat_map(|k| list(k).map(move |i| (k, i)));
    st.store.edit(|s| {
        for (key, item) in items {
            let shown = apply(s, (&zone, min_ttl), key, item)?;
            result.entry(key).or_default().push(shown);
        }
        Ok::<_, Reply>(())
    })?;
    ok(json!(result))
}
