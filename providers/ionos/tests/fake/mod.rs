//! A stateful fake of the IONOS DNS API (developer.hosting.ionos.com/docs/dns, root
//! `https://api.hosting.ionos.com/dns`) a DNS-01 client uses, on the kit's router (no IONOS
//! server can run here): `GET /v1/zones` (every zone, no paging), `GET /v1/zones/{zoneId}`
//! (the zone with all its records, filtered by `suffix`, `recordName`, `recordType`; no
//! paging), `POST /v1/zones/{zoneId}/records` (an array; 201 with the created records),
//! `GET|DELETE /v1/zones/{zoneId}/records/{recordId}`; ids are UUIDs, names full (no final
//! dot), TXT content taken unquoted and shown quoted as IONOS shows it; the key in `X-API-Key`
//! (`<prefix>.<secret>`, the kit's `FakeToken`: `dns_edit` false is a key whose user may not use
//! the API, `zones` the zones of its account); errors as IONOS's array
//! `[{"code": …, "message": …}]`: 401 `UNAUTHORIZED`, 403, 404, 400 `INVALID_RECORD`, 429 with
//! `Retry-After`. With [`IonosFakeOptions::backed_by`] every TXT change lands in the BIND
//! topology's primary before the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, txt_rdata,
};

/// The key every fake accepts unless options say otherwise (all zones).
pub const DEFAULT_KEY: &str =
    "0123456789abcdef0123456789abcdef.IONOSSECRETaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The record types IONOS takes (those a test may seed).
const TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT", "CAA", "TLSA", "SSHFP",
];

/// Options for [`IonosFake::start`].
#[derive(Debug, Clone)]
pub struct IonosFakeOptions {
    /// Zone names.
    pub zones: Vec<String>,
    /// Accepted API keys.
    pub tokens: Vec<FakeToken>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for IonosFakeOptions {
    fn default() -> Self {
        IonosFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_KEY)],
            dns: None,
        }
    }
}

impl IonosFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        IonosFakeOptions {
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
    opts: IonosFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct IonosFake(FakeServer<State>);

impl Deref for IonosFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// IONOS's error body: an array of `{code, message}`.
fn err(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!([{ "code": code, "message": message }])).tag(code.to_owned())
}

/// The UUID IONOS shows for a 32-hex id of the store.
pub fn uuid(hex: &str) -> String {
    let h = format!("{hex:0<32}");
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

impl IonosFake {
    /// Start on a free loopback port.
    pub fn start(opts: IonosFakeOptions) -> Result<IonosFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("ionos")
            .prefix("/dns")
            .auth(authenticate)
            .route("GET /v1/zones", list_zones)
            .route("GET /v1/zones/{zone}", get_zone)
            .route("POST /v1/zones/{zone}/records", create_records)
            .route("GET /v1/zones/{zone}/records/{id}", get_record)
            .route("DELETE /v1/zones/{zone}/records/{id}", delete_record)
            .fallback(|_, known| match known {
                true => err(405, "METHOD_NOT_ALLOWED", "Method not allowed."),
                false => err(404, "NOT_FOUND", "Resource not found."),
            })
            .start(State { store, opts })?;
        Ok(IonosFake(server))
    }

    /// `http://127.0.0.1:PORT/dns`: what goes into `base_url` / `IONOS_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// The UUID of a zone by name.
    pub fn zone_uuid(&self, zone: &str) -> String {
        uuid(&self.zone_id(zone).unwrap_or_default())
    }

    /// Answer the next `n` requests with 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, too_many(1));
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Create a record as the control panel would (TXT content unquoted, stored quoted).
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, content: &str, ttl: u32) {
        let content = stored(rtype, content);
        let id = self.seed_record(zone, rtype, name, &content, ttl);
        id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
}

fn too_many(secs: u64) -> Reply {
    let r = err(429, "TOO_MANY_REQUESTS", "Too many requests, slow down.");
    r.header("Retry-After", secs.to_string())
}

/// TXT content as IONOS keeps and shows it: quoted.
fn stored(rtype: &str, content: &str) -> String {
    match rtype.eq_ignore_ascii_case("TXT") {
        true => txt_rdata(content),
        false => content.to_owned(),
    }
}

/// The auth hook: the index of the key, or 401.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let key = c.header("x-api-key").unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == key);
    let unauthorized = "The customer is not authorized to do this operation.";
    let i = i.ok_or_else(|| err(401, "UNAUTHORIZED", unauthorized))?;
    c.principal = Some(i.to_string());
    Ok(())
}

impl State {
    /// The caller's key; 403 when its user may not use the API.
    fn token(&self, c: &Call) -> Result<FakeToken, Reply> {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        let t = i.and_then(|i| self.opts.tokens.get(i).cloned());
        let t = t.unwrap_or_else(|| FakeToken::full(""));
        let msg = "The customer is not allowed to access this resource.";
        t.dns_edit
            .then_some(t.clone())
            .ok_or_else(|| err(403, "FORBIDDEN", msg))
    }

    /// The route's zone (by UUID) if the key's account has it (else 404).
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let t = self.token(c)?;
        let id = c.param("zone");
        let z = self.store.zones.iter().find(|z| uuid(&z.id) == id);
        let z = z.filter(|z| t.may(&z.name));
        z.cloned()
            .ok_or_else(|| err(404, "ZONE_NOT_FOUND", "Zone not found."))
    }
}

/// A record as IONOS shows it.
fn record_json(r: &FakeRecord) -> Value {
    let mut v = json!({ "id": uuid(&r.id), "name": r.name, "rootName": r.zone_name,
        "type": r.rtype, "content": r.content, "changeDate": r.created, "ttl": r.ttl,
        "disabled": false });
    if r.rtype == "MX" || r.rtype == "SRV" {
        v["prio"] = json!(10);
    }
    v
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let t = st.token(c)?;
    let zones = st.store.zones.iter().filter(|z| t.may(&z.name));
    let items: Vec<Value> = zones
        .map(|z| json!({ "id": uuid(&z.id), "name": z.name, "type": "NATIVE" }))
        .collect();
    Ok(Reply::json(200, &Value::Array(items)))
}

fn get_zone(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let suffix = c.query("suffix").map(dns_name);
    let name = c.query("recordName").map(dns_name);
    let types: Option<Vec<String>> = c.query("recordType").map(|t| {
        t.split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .collect()
    });
    let keep = |r: &FakeRecord| {
        suffix.as_ref().is_none_or(|s| r.name.ends_with(s.as_str()))
            && name.as_ref().is_none_or(|n| &r.name == n)
            && types.as_ref().is_none_or(|t| t.contains(&r.rtype))
    };
    let records: Vec<Value> = st
        .store
        .in_zone(&z.name)
        .iter()
        .filter(|r| keep(r))
        .map(record_json)
        .collect();
    let body = json!({ "id": uuid(&z.id), "name": z.name, "type": "NATIVE", "records": records });
    Ok(Reply::json(200, &body))
}

fn find(st: &State, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let id = c.param("id");
    let found = st
        .store
        .in_zone(&z.name)
        .into_iter()
        .find(|r| uuid(&r.id) == id);
    found.ok_or_else(|| err(404, "RECORD_NOT_FOUND", "Record does not exist."))
}

fn get_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    Ok(Reply::json(200, &record_json(&find(st, &z, c)?)))
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = find(st, &z, c)?;
    st.store.change(Some(&r.id), None)?;
    Ok(Reply::text(200, "application/json", ""))
}

/// One record of a `POST` body, checked as IONOS checks it.
fn new_record(z: &FakeZone, v: &Value) -> Result<FakeRecord, Reply> {
    let invalid = |m: &str| err(400, "INVALID_RECORD", m);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let rtype = text("type").unwrap_or_default().to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(invalid("The record type is not supported."));
    }
    let name = dns_name(&text("name").ok_or_else(|| invalid("The record name is required."))?);
    let inside = name == z.name || name.ends_with(&format!(".{}", z.name));
    if !inside || !name.split('.').all(|l| (1..=63).contains(&l.len())) {
        return Err(invalid("The record name must be inside the zone."));
    }
    let content = text("content").filter(|c| !c.trim().is_empty());
    let content = content.ok_or_else(|| invalid("The record content is required."))?;
    let ttl = v.get("ttl").map_or(Some(3600), Value::as_u64).unwrap_or(0);
    if !(60..=86_400).contains(&ttl) {
        return Err(invalid("The TTL must be between 60 and 86400."));
    }
    Ok(FakeRecord::new(
        z,
        &rtype,
        &name,
        &stored(&rtype, &content),
        ttl as u32,
    )?)
}

/// `POST /v1/zones/{zoneId}/records`: every record of the array or none; 201 with them.
fn create_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let body = c.json().and_then(|v| v.as_array().cloned());
    let body = body.ok_or_else(|| {
        err(
            400,
            "INVALID_REQUEST",
            "The body must be an array of records.",
        )
    })?;
    let recs = body
        .iter()
        .map(|v| new_record(&z, v))
        .collect::<Result<Vec<_>, _>>()?;
    st.store.edit(|s| {
        recs.iter().for_each(|r| s.put(None, Some(r.clone())));
        Ok::<_, KitError>(())
    })?;
    let out: Vec<Value> = recs.iter().map(record_json).collect();
    Ok(Reply::json(201, &Value::Array(out)))
}
