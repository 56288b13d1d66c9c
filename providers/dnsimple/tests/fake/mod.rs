//! A stateful fake of the DNSimple API v2 endpoints a DNS-01 client uses, on the kit's router,
//! after developer.dnsimple.com/v2 and the official clients' recorded answers (no DNSimple
//! server can run here): `GET /v2/whoami` (an account token answers its account, a user token
//! its user and `"account": null`), `GET /v2/accounts`, `GET /v2/{account}/zones[/{zone}]`,
//! `GET|POST /v2/{account}/zones/{zone}/records` (filters `name` — exact and relative, an empty
//! one ignored —, `name_like`, `type`), `GET|PATCH|DELETE …/records/{id}` with integer ids; lists
//! paged as DNSimple pages them (`page`, `per_page` 30 by default and at most 100, `pagination`
//! {current_page, per_page, total_entries, total_pages}); `X-RateLimit-*` headers on every
//! answer; errors as `{"message": …}`: 401 `Authentication failed`, 403 `Permission Denied.
//! Required Scope: …` (the kit's `FakeToken` without `dns_edit`), 404 `Zone `…` not found` /
//! `Record `…` not found` / an account the token does not reach, 400 `Validation failed` with
//! `errors`, 429 with `Retry-After`. With [`DnsimpleFakeOptions::backed_by`] every TXT change
//! lands in the BIND topology's primary before the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, absolute_name, paginate,
};

/// The account every zone of the fake belongs to.
pub const ACCOUNT_ID: u64 = 1010;
/// The account token every fake accepts unless options say otherwise.
pub const DEFAULT_TOKEN: &str = "dnsimple_a_00000000000000000000000000000001";
/// The record types DNSimple takes (those a test may use).
const TYPES: &[&str] = &[
    "A", "AAAA", "ALIAS", "CAA", "CNAME", "MX", "NS", "SRV", "TXT",
];
/// When the fake's stamps are.
const STAMP: &str = "2026-12-01T10:00:00Z";

/// Options for [`DnsimpleFake::start`].
#[derive(Debug, Clone)]
pub struct DnsimpleFakeOptions {
    /// Zone names, all in account [`ACCOUNT_ID`].
    pub zones: Vec<String>,
    /// Account tokens of [`ACCOUNT_ID`].
    pub tokens: Vec<FakeToken>,
    /// User tokens: they reach [`ACCOUNT_ID`] and `other_accounts`, with every right.
    pub user_tokens: Vec<String>,
    /// Further accounts (no zones) a user token reaches.
    pub other_accounts: Vec<u64>,
    /// The largest `per_page` served (100, as DNSimple; smaller to force more pages).
    pub max_per_page: u32,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for DnsimpleFakeOptions {
    fn default() -> Self {
        DnsimpleFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            user_tokens: Vec::new(),
            other_accounts: Vec::new(),
            max_per_page: 100,
            dns: None,
        }
    }
}

impl DnsimpleFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        DnsimpleFakeOptions {
            zones,
            dns,
            ..Default::default()
        }
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: DnsimpleFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct DnsimpleFake(FakeServer<State>);

impl Deref for DnsimpleFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// An answer with DNSimple's rate-limit headers (the official Python client requires them).
fn reply(status: u16, body: &Value) -> Reply {
    let r = match status {
        204 => Reply::text(204, "application/json", ""),
        _ => Reply::json(status, body),
    };
    let left = if status == 429 { "0" } else { "2398" };
    let r = r.header("X-RateLimit-Limit", "2400");
    r.header("X-RateLimit-Remaining", left)
        .header("X-RateLimit-Reset", "1796119200")
}

/// DNSimple's error body.
fn err(status: u16, message: &str) -> Reply {
    reply(status, &json!({ "message": message })).tag(status.to_string())
}

fn invalid(field: &str, what: &str) -> Reply {
    let body = json!({ "message": "Validation failed", "errors": { field: [what] } });
    reply(400, &body).tag("400")
}

/// The integer id DNSimple shows for a record (from the store's hex id).
pub fn record_id(r: &FakeRecord) -> u64 {
    int_id(&r.id)
}

/// An integer id from the store's hex id.
fn int_id(hex: &str) -> u64 {
    u64::from_str_radix(hex.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

impl DnsimpleFake {
    /// Start on a free loopback port.
    pub fn start(opts: DnsimpleFakeOptions) -> Result<DnsimpleFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let (zone, recs, rec) = (
            "/{account}/zones/{zone}",
            "/{account}/zones/{zone}/records",
            "/{account}/zones/{zone}/records/{id}",
        );
        let server = Router::new("dnsimple")
            .prefix("/v2")
            .auth(authenticate)
            .route("GET /whoami", whoami)
            .route("GET /accounts", accounts)
            .route("GET /{account}/zones", list_zones)
            .route(&format!("GET {zone}"), |st, c| {
                let z = st.zone(c, false)?;
                Ok(reply(200, &json!({ "data": zone_json(&z) })))
            })
            .route(&format!("GET {recs}"), list_records)
            .route(&format!("POST {recs}"), |st, c| write(st, c, false))
            .route(&format!("GET {rec}"), |st, c| {
                let z = st.zone(c, false)?;
                let r = find(&st.store, &z, c)?;
                Ok(reply(200, &json!({ "data": record_json(&r) })))
            })
            .route(&format!("PATCH {rec}"), |st, c| write(st, c, true))
            .route(&format!("DELETE {rec}"), |st, c| {
                let z = st.zone(c, true)?;
                let r = find(&st.store, &z, c)?;
                st.store.change(Some(&r.id), None)?;
                Ok(reply(204, &Value::Null))
            })
            .fallback(|c, known| err(if known { 405 } else { 404 }, &c.path))
            .start(State { store, opts })?;
        Ok(DnsimpleFake(server))
    }

    /// `http://127.0.0.1:PORT`: what goes into `base_url` / `DNSIMPLE_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/v2").to_owned()
    }

    /// Answer the next `n` requests with 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, too_many(1));
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Create a record as the web interface would (content as stored); its integer id.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, content: &str, ttl: u32) -> u64 {
        let id = self.seed_record(zone, rtype, name, content, ttl);
        int_id(&id.unwrap_or_else(|e| panic!("seed {name}: {e}")))
    }
}

fn too_many(secs: u64) -> Reply {
    let body = json!({ "message": "Your API rate limit has been exceeded" });
    reply(429, &body)
        .header("Retry-After", secs.to_string())
        .tag("429")
}

/// Who calls: `a<i>` for account token `i`, `u<i>` for user token `i`; else 401.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let token = c.bearer().unwrap_or_default();
    let o = &st.opts;
    let who = match o.tokens.iter().position(|t| t.token == token) {
        Some(i) => format!("a{i}"),
        None => match o.user_tokens.iter().position(|t| t == token) {
            Some(i) => format!("u{i}"),
            None => return Err(err(401, "Authentication failed")),
        },
    };
    c.principal = Some(who);
    Ok(())
}

fn account_json(id: u64) -> Value {
    json!({ "id": id, "email": format!("ops-{id}@example.test"), "name": format!("Account {id}"),
        "plan_identifier": "teams-v2-monthly", "created_at": STAMP, "updated_at": STAMP })
}

impl State {
    /// The caller's account token (`None`: a user token, which may do everything).
    fn token(&self, c: &Call) -> Option<FakeToken> {
        let i = c.principal.as_deref()?.strip_prefix('a')?;
        self.opts.tokens.get(i.parse::<usize>().ok()?).cloned()
    }

    /// The accounts the caller reaches.
    fn accounts(&self, c: &Call) -> Vec<u64> {
        let users = self.token(c).is_none().then_some(&self.opts.other_accounts);
        [ACCOUNT_ID]
            .into_iter()
            .chain(users.into_iter().flatten().copied())
            .collect()
    }

    /// The route's account if the caller reaches it (else 404); true when it holds the zones.
    fn account(&self, c: &Call) -> Result<bool, Reply> {
        let a = c.param("account");
        let id = a
            .parse::<u64>()
            .ok()
            .filter(|a| self.accounts(c).contains(a));
        Ok(id.ok_or_else(|| err(404, &format!("Account `{a}` not found")))? == ACCOUNT_ID)
    }

    /// The route's zone if the token sees it (else 404) and may change it when `edit` (else 403).
    fn zone(&self, c: &Call, edit: bool) -> Result<FakeZone, Reply> {
        let mine = self.account(c)?;
        let t = self.token(c).unwrap_or_else(|| FakeToken::full(""));
        let name = c.param("zone");
        let z = self
            .store
            .zone_named(name)
            .filter(|z| mine && t.may(&z.name));
        let z = z.ok_or_else(|| err(404, &format!("Zone `{name}` not found")))?;
        if edit && !t.dns_edit || !t.zone_read {
            let scope = if edit { "write" } else { "read" };
            let m = format!(
                "Permission Denied. Required Scope: zones:{}:{scope}",
                z.name
            );
            return Err(err(403, &m));
        }
        Ok(z.clone())
    }

    /// One page of `items`, with `pagination`.
    fn page(&self, c: &Call, items: &[Value]) -> Answer {
        let (page, per) = c.page(30, 1, self.opts.max_per_page.min(100));
        let pages = (items.len() as u32).div_ceil(per);
        let body = json!({ "data": paginate(items, page, per), "pagination": {
            "current_page": page, "per_page": per, "total_entries": items.len(),
            "total_pages": pages } });
        Ok(reply(200, &body))
    }
}

fn whoami(st: &mut State, c: &Call) -> Answer {
    let data = match st.token(c) {
        Some(_) => json!({ "user": null, "account": account_json(ACCOUNT_ID) }),
        None => json!({ "account": null, "user": { "id": 7, "email": "user@example.test",
            "created_at": STAMP, "updated_at": STAMP } }),
    };
    Ok(reply(200, &json!({ "data": data })))
}

fn accounts(st: &mut State, c: &Call) -> Answer {
    let list: Vec<Value> = st.accounts(c).into_iter().map(account_json).collect();
    Ok(reply(200, &json!({ "data": list })))
}

fn zone_json(z: &FakeZone) -> Value {
    json!({ "id": u64::from_str_radix(&z.id[..8], 16).unwrap_or(1), "account_id": ACCOUNT_ID,
        "name": z.name, "reverse": false, "secondary": false, "last_transferred_at": null,
        "active": true, "created_at": STAMP, "updated_at": STAMP })
}

/// A record as DNSimple shows it: name relative to the zone (empty for the apex).
fn record_json(r: &FakeRecord) -> Value {
    let name = r.name.strip_suffix(&r.zone_name).unwrap_or(&r.name);
    json!({ "id": record_id(r), "zone_id": r.zone_name, "parent_id": null,
        "name": name.trim_end_matches('.'), "content": r.content, "ttl": r.ttl, "priority": null,
        "type": r.rtype, "regions": ["global"], "system_record": false,
        "created_at": r.created, "updated_at": r.created })
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let mine = st.account(c)?;
    let t = st.token(c).unwrap_or_else(|| FakeToken::full(""));
    let like = c.query("name_like").unwrap_or("");
    let seen = |z: &&FakeZone| mine && t.may(&z.name) && z.name.contains(like);
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(seen).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = zones.iter().map(|z| zone_json(z)).collect();
    st.page(c, &items)
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    let q = |k: &str| c.query(k).filter(|v| !v.is_empty());
    let (name, like, rtype) = (q("name"), q("name_like"), q("type"));
    let keep = |r: &Value| {
        let n = r["name"].as_str().unwrap_or("");
        name.is_none_or(|w| n == w)
            && like.is_none_or(|w| n.contains(w))
            && rtype.is_none_or(|t| r["type"].as_str() == Some(&t.to_ascii_uppercase()))
    };
    let all = st.store.in_zone(&z.name);
    let items: Vec<Value> = all.iter().map(record_json).filter(keep).collect();
    st.page(c, &items)
}

fn find(store: &RecordStore, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let id = c.param("id");
    let all = store.in_zone(&z.name);
    let found = all.into_iter().find(|r| record_id(r).to_string() == id);
    found.ok_or_else(|| err(404, &format!("Record `{id}` not found")))
}

/// Create (`patch` false) or update (PATCH: name, content, ttl) a record, checked as DNSimple
/// checks it.
fn write(st: &mut State, c: &Call, patch: bool) -> Answer {
    let z = st.zone(c, true)?;
    let old = patch.then(|| find(&st.store, &z, c)).transpose()?;
    let body = c.json().filter(Value::is_object).unwrap_or(json!({}));
    let base = old
        .as_ref()
        .map_or(json!({ "name": "", "ttl": 3600 }), record_json);
    let given = |k: &str| body.get(k).filter(|v| !v.is_null());
    let field = |k: &str| given(k).or(base.get(k)).cloned();
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_owned));
    let rtype = text("type").unwrap_or_default().to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(invalid("type", "is not included in the list"));
    }
    let name = text("name").unwrap_or_default();
    let full = absolute_name(if name.is_empty() { "@" } else { &name }, &z.name);
    let full = full.ok_or_else(|| invalid("name", "is invalid"))?;
    let content = text("content").filter(|d| !d.trim().is_empty());
    let content = content.ok_or_else(|| invalid("content", "can't be blank"))?;
    let ttl = field("ttl").and_then(|t| t.as_u64());
    let ttl = ttl.filter(|t| *t > 0 && *t <= 2_147_483_647);
    let ttl = ttl.ok_or_else(|| invalid("ttl", "must be a positive number"))?;
    let mut rec = FakeRecord::new(&z, &rtype, &full, &content, ttl as u32)?;
    if let Some(o) = &old {
        (rec.id, rec.created) = (o.id.clone(), o.created.clone());
    }
    if st.store.identical(&rec) {
        return Err(invalid("base", "Zone record already exists"));
    }
    let old_id = old.as_ref().map(|o| o.id.as_str());
    st.store.change(old_id, Some(rec.clone()))?;
    let status = if patch { 200 } else { 201 };
    Ok(reply(status, &json!({ "data": record_json(&rec) })))
}
