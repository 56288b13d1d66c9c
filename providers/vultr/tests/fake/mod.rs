//! A stateful fake of the Vultr API v2 DNS endpoints a DNS-01 client uses, on the kit's router,
//! after www.vultr.com/api/#tag/dns (no Vultr server can run here): `GET /v2/domains`,
//! `GET /v2/domains/{domain}`, `GET|POST /v2/domains/{domain}/records` (no filters),
//! `GET|PATCH|DELETE /v2/domains/{domain}/records/{record-id}` with UUIDs; lists paged by
//! cursor as Vultr pages them (`per_page` 100 by default and at most 500, an opaque `cursor`,
//! `meta.total` and `meta.links.{next,prev}`, empty strings at the ends); record names
//! relative to the domain (`""` the apex); data stored as sent (TXT quoted by Vultr's clients);
//! API keys as bearer tokens (the kit's `FakeToken`: `dns_edit` false is a sub-user without the
//! DNS permission, `zones` the domains of its account); errors as `{"error": …, "status": …}`:
//! 401 `Invalid API token.`, 401 `Unauthorized IP address: …` for a caller outside the key's
//! access control, 403, 404, 400 for a bad record or cursor, 429 with `Retry-After`. With
//! [`VultrFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary before
//! the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name,
};

/// The key every fake accepts unless options say otherwise (DNS permission, all domains).
pub const DEFAULT_KEY: &str = "VULTRKEY0000000000000000000000000001";
/// The record types Vultr takes.
const TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "NS", "MX", "SRV", "TXT", "CAA", "SSHFP",
];

/// Options for [`VultrFake::start`].
#[derive(Debug, Clone)]
pub struct VultrFakeOptions {
    /// Domain names.
    pub zones: Vec<String>,
    /// Accepted API keys.
    pub tokens: Vec<FakeToken>,
    /// The largest `per_page` served (500, as Vultr; smaller to force more pages).
    pub max_per_page: u32,
    /// The caller's address when it is outside the keys' access control (401 naming it).
    pub blocked_ip: Option<String>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for VultrFakeOptions {
    fn default() -> Self {
        VultrFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_KEY)],
            max_per_page: 500,
            blocked_ip: None,
            dns: None,
        }
    }
}

impl VultrFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        VultrFakeOptions {
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
    opts: VultrFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct VultrFake(FakeServer<State>);

impl Deref for VultrFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Vultr's error body.
fn err(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message, "status": status })).tag(status.to_string())
}

/// The UUID Vultr shows for a record (from the store's hex id).
pub fn record_id(r: &FakeRecord) -> String {
    let h = format!("{:0<32}", r.id);
    let part = |a: usize, b: usize| h.get(a..b).unwrap_or("0");
    let (a, b, c, d, e) = (
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32),
    );
    format!("{a}-{b}-{c}-{d}-{e}")
}

impl VultrFake {
    /// Start on a free loopback port.
    pub fn start(opts: VultrFakeOptions) -> Result<VultrFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let records = "/domains/{domain}/records";
        let record = "/domains/{domain}/records/{id}";
        let server = Router::new("vultr")
            .prefix("/v2")
            .auth(authenticate)
            .route("GET /domains", list_domains)
            .route("GET /domains/{domain}", get_domain)
            .route(&format!("GET {records}"), list_records)
            .route(&format!("POST {records}"), |st, c| write(st, c, false))
            .route(&format!("GET {record}"), get_record)
            .route(&format!("PATCH {record}"), |st, c| write(st, c, true))
            .route(&format!("DELETE {record}"), delete_record)
            .fallback(|_, known| match known {
                true => err(405, "Method not allowed"),
                false => err(404, "Not found"),
            })
            .start(State { store, opts })?;
        Ok(VultrFake(server))
    }

    /// `http://127.0.0.1:PORT/v2`: what goes into `base_url` / `VULTR_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Answer the next `n` requests with 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, too_many(1));
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Create a record as the control panel would (data as stored); its UUID.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, data: &str, ttl: u32) -> String {
        let id = self.seed_record(zone, rtype, name, data, ttl);
        let id = id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
        let recs = self.records(zone);
        recs.iter()
            .find(|r| r.id == id)
            .map(record_id)
            .unwrap_or_default()
    }
}

fn too_many(secs: u64) -> Reply {
    err(429, "Rate limit exceeded").header("Retry-After", secs.to_string())
}

/// The auth hook: the index of the bearer key, or 401 (unknown key, or the caller's address
/// outside the key's access control).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let key = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == key);
    let i = i.ok_or_else(|| err(401, "Invalid API token."))?;
    c.principal = Some(i.to_string());
    match &st.opts.blocked_ip {
        Some(ip) => Err(err(401, &format!("Unauthorized IP address: {ip}"))),
        None => Ok(()),
    }
}

impl State {
    /// The caller's key; 403 when its user lacks the DNS permission.
    fn token(&self, c: &Call) -> Result<FakeToken, Reply> {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        let t = i.and_then(|i| self.opts.tokens.get(i).cloned());
        let t = t.unwrap_or_else(|| FakeToken::full(""));
        match t.dns_edit {
            true => Ok(t),
            false => Err(err(
                403,
                "Unauthorized: this user lacks the dns permission.",
            )),
        }
    }

    /// The route's domain if the key's account has it (else 404).
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let t = self.token(c)?;
        let z = self.store.zone_named(&dns_name(c.param("domain")));
        let z = z.filter(|z| t.may(&z.name));
        z.cloned().ok_or_else(|| err(404, "Domain not found."))
    }

    /// One cursor page of `items` under `key`, with `meta.total` and `meta.links`.
    fn page(&self, c: &Call, key: &str, items: &[Value]) -> Answer {
        let per = c.query("per_page").map(str::parse::<u32>);
        let per = per
            .unwrap_or(Ok(100))
            .map_err(|_| err(400, "Invalid per_page."))?;
        let per = per.clamp(1, self.opts.max_per_page.min(500)) as usize;
        let start = match c.query("cursor").filter(|s| !s.is_empty()) {
            Some(s) => decode_cursor(s).ok_or_else(|| err(400, "Invalid cursor."))?,
            None => 0,
        };
        let next = match start + per < items.len() {
            true => cursor("next", start + per),
            false => String::new(),
        };
        let prev = match start > 0 {
            true => cursor("prev", start.saturating_sub(per)),
            false => String::new(),
        };
        let page: Vec<&Value> = items.iter().skip(start).take(per).collect();
        let body = json!({ key: page,
            "meta": { "total": items.len(), "links": { "next": next, "prev": prev } } });
        Ok(Reply::json(200, &body))
    }
}

/// An opaque cursor (Vultr's are base64 text; here hex of `next__<offset>`).
fn cursor(dir: &str, offset: usize) -> String {
    let text = format!("{dir}__{offset}");
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(s: &str) -> Option<usize> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (_, n) = text.split_once("__")?;
    n.parse().ok()
}

fn domain_json(z: &FakeZone) -> Value {
    json!({ "domain": z.name, "date_created": "2026-01-02T03:04:05+00:00", "dns_sec": "disabled" })
}

/// A record as Vultr shows it: name relative to the domain (`""` the apex).
fn record_json(r: &FakeRecord) -> Value {
    let name = match r.name.strip_suffix(&r.zone_name) {
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => r.name.clone(),
    };
    json!({ "id": record_id(r), "type": r.rtype, "name": name, "data": r.content,
        "priority": if r.rtype == "MX" || r.rtype == "SRV" { 10 } else { -1 }, "ttl": r.ttl })
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let t = st.token(c)?;
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(|z| t.may(&z.name)).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = zones.iter().map(|z| domain_json(z)).collect();
    st.page(c, "domains", &items)
}

fn get_domain(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    Ok(Reply::json(200, &json!({ "domain": domain_json(&z) })))
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let items: Vec<Value> = st.store.in_zone(&z.name).iter().map(record_json).collect();
    st.page(c, "records", &items)
}

fn get_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = find(&st.store, &z, c)?;
    Ok(Reply::json(200, &json!({ "record": record_json(&r) })))
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = find(&st.store, &z, c)?;
    st.store.change(Some(&r.id), None)?;
    Ok(Reply::text(204, "application/json", ""))
}

fn find(store: &RecordStore, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let id = c.param("id");
    let found = store
        .in_zone(&z.name)
        .into_iter()
        .find(|r| record_id(r) == id);
    found.ok_or_else(|| err(404, "Record not found."))
}

/// Create (POST, 201 with the record) or update (PATCH: name, data, ttl, priority; 204) a
/// record, checked as Vultr checks it.
fn write(st: &mut State, c: &Call, patch: bool) -> Answer {
    let z = st.zone(c)?;
    let old = patch.then(|| find(&st.store, &z, c)).transpose()?;
    let body = c.json().filter(Value::is_object);
    let body = body.ok_or_else(|| err(400, "Invalid JSON body."))?;
    let base = old.as_ref().map(record_json);
    let field = |k: &str| {
        let from_old = base.as_ref().and_then(|b| b.get(k));
        body.get(k).or(from_old).cloned()
    };
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_owned));
    let rtype = text("type").unwrap_or_default().to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(err(400, "Invalid record type."));
    }
    let name = text("name").ok_or_else(|| err(400, "Missing name."))?;
    let full = match dns_name(&name) {
        n if n.is_empty() => z.name.clone(),
        n => format!("{n}.{}", z.name),
    };
    if !full.split('.').all(|l| (1..=63).contains(&l.len())) || name.contains(' ') {
        return Err(err(400, "Invalid record name."));
    }
    let data = text("data").filter(|d| !d.trim().is_empty());
    let data = data.ok_or_else(|| err(400, "Invalid record data."))?;
    let ttl = field("ttl").map_or(Some(300), |t| t.as_u64()).unwrap_or(0);
    if !(1..=2_147_483_647).contains(&ttl) {
        return Err(err(400, "Invalid TTL."));
    }
    let mut rec = FakeRecord::new(&z, &rtype, &full, &data, ttl as u32)?;
    if let Some(o) = &old {
        (rec.id, rec.created) = (o.id.clone(), o.created.clone());
    }
    let old_id = old.as_ref().map(|o| o.id.as_str());
    st.store.change(old_id, Some(rec.clone()))?;
    match patch {
        true => Ok(Reply::text(204, "application/json", "")),
        false => Ok(Reply::json(201, &json!({ "record": record_json(&rec) }))),
    }
}
