//! A stateful fake of the Porkbun API v3 endpoints a DNS client uses, on the kit's router, after
//! porkbun.com/api/json/v3/documentation (no Porkbun server can run here). Every call is a
//! `POST` under `/api/json/v3` whose JSON body carries `apikey` + `secretapikey`: `ping`,
//! `domain/listAll` (`start`, 1,000 domains a call, an empty list past the end),
//! `dns/create/{domain}`, `dns/edit/{domain}/{id}`, `dns/delete/{domain}/{id}`,
//! `dns/retrieve/{domain}[/{id}]`, `dns/retrieveByNameType/{domain}/{type}[/{sub}]` and
//! `dns/deleteByNameType/{domain}/{type}[/{sub}]`. Records carry string ids (numbers), full
//! names, TTLs as strings (`"600"`: smaller TTLs are raised to Porkbun's minimum), `prio` and
//! `notes`. Every refusal is HTTP 400 with `{"status":"ERROR","message":…}`: `Invalid API key.
//! (002)`, `Domain is not opted in to API access.` (a domain whose API Access is off),
//! `Invalid domain.` (not in the account, or a subdomain), `Invalid record ID.`; `GET` is
//! refused as Porkbun refuses it. The rate limit is Porkbun's edge answer: an HTML 503 with
//! no `Retry-After`. With [`PbFakeOptions::backed_by`] every TXT change lands in the BIND
//! topology's primary before the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name,
};

/// The key pair every fake accepts unless options say otherwise.
pub const API_KEY: &str = "pk1_0000000000000000000000000000000000000000000000000000000000000001";
/// Its secret.
pub const SECRET_KEY: &str = "sk1_0000000000000000000000000000000000000000000000000000000000000001";
/// Domains per `listAll` answer.
pub const CHUNK: usize = 1000;
/// The record types Porkbun takes.
const TYPES: &[&str] = &[
    "A", "MX", "CNAME", "ALIAS", "TXT", "NS", "AAAA", "SRV", "TLSA", "CAA", "HTTPS", "SVCB",
];

/// Options for [`PbFake::start`].
#[derive(Debug, Clone)]
pub struct PbFakeOptions {
    /// Domains of the account.
    pub zones: Vec<String>,
    /// Accepted key pairs (API key, secret API key).
    pub keys: Vec<(String, String)>,
    /// Domains whose "API Access" is on (`None`: every domain).
    pub api_access: Option<Vec<String>>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for PbFakeOptions {
    fn default() -> Self {
        PbFakeOptions {
            zones: vec!["example.test".to_owned()],
            keys: vec![(API_KEY.to_owned(), SECRET_KEY.to_owned())],
            api_access: None,
            dns: None,
        }
    }
}

impl PbFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        PbFakeOptions {
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
    opts: PbFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct PbFake(FakeServer<State>);

impl Deref for PbFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Porkbun's refusal: HTTP 400 and `{"status":"ERROR","message":…}`.
fn refuse(message: &str) -> Reply {
    let body = json!({ "status": "ERROR", "message": message });
    Reply::json(400, &body).tag(message)
}

fn success(mut fields: Value) -> Answer {
    if let Some(m) = fields.as_object_mut() {
        m.insert("status".into(), "SUCCESS".into());
    }
    Ok(Reply::json(200, &fields))
}

/// The numeric id Porkbun shows for a record (from the store's hex id).
pub fn record_id(r: &FakeRecord) -> u64 {
    u64::from_str_radix(r.id.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

/// Porkbun's rate limit: its edge's HTML 503, no `Retry-After`.
fn unavailable() -> Reply {
    let html = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n\
        <body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n\
        <hr><center>openresty</center>\r\n</body>\r\n</html>\r\n";
    Reply::text(503, "text/html", html).tag("rate limited")
}

impl PbFake {
    /// Start on a free loopback port.
    pub fn start(opts: PbFakeOptions) -> Result<PbFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("porkbun")
            .prefix("/api/json/v3")
            .auth(authenticate)
            .route("POST /ping", |_, _| {
                success(json!({ "yourIp": "127.0.0.1" }))
            })
            .route("POST /domain/listAll", list_domains)
            .route("POST /dns/create/{domain}", |st, c| write(st, c, false))
            .route("POST /dns/edit/{domain}/{id}", |st, c| write(st, c, true))
            .route("POST /dns/delete/{domain}/{id}", delete)
            .route("POST /dns/retrieve/{domain}", retrieve)
            .route("POST /dns/retrieve/{domain}/{id}", retrieve)
            .route("POST /dns/retrieveByNameType/{domain}/{type}", retrieve)
            .route(
                "POST /dns/retrieveByNameType/{domain}/{type}/{sub}",
                retrieve,
            )
            .route(
                "POST /dns/deleteByNameType/{domain}/{type}",
                delete_by_name_type,
            )
            .route(
                "POST /dns/deleteByNameType/{domain}/{type}/{sub}",
                delete_by_name_type,
            )
            .fallback(|c, known| match c.method.as_str() {
                "POST" if !known => Reply::text(404, "text/html", "<html>404 Not Found</html>"),
                _ => refuse("All HTTP request must use POST."),
            })
            .start(State { store, opts })?;
        Ok(PbFake(server))
    }

    /// `http://127.0.0.1:PORT`: what goes into `base_url` / `PORKBUN_API_URL`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/api/json/v3").to_owned()
    }

    /// Answer the next `n` requests with Porkbun's rate-limit 503.
    pub fn fail_next_with_503(&self, n: u32) {
        self.fail_next(n, unavailable());
    }

    /// Answer every request with the rate-limit 503 for `d` from now.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |_| unavailable());
    }

    /// Create a record as the web panel would; its numeric id.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, content: &str, ttl: u32) -> u64 {
        let id = self.seed_record(zone, rtype, name, content, ttl);
        let id = id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
        u64::from_str_radix(id.get(..12).unwrap_or("0"), 16).unwrap_or(0)
    }
}

/// The auth hook: the key pair in the body, else `Invalid API key. (002)`. The principal is
/// the pair's index, never a key.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    if c.method != "POST" {
        return Ok(()); // the fallback refuses it
    }
    let body = c.json().unwrap_or(Value::Null);
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (key, secret) = (field("apikey"), field("secretapikey"));
    let i = st
        .opts
        .keys
        .iter()
        .position(|(k, s)| *k == key && *s == secret);
    let i = i.ok_or_else(|| refuse("Invalid API key. (002)"))?;
    c.principal = Some(i.to_string());
    Ok(())
}

impl State {
    /// The route's domain: in the account (else `Invalid domain.`) and opted in to API access.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let z = self.store.zone_named(&dns_name(c.param("domain")));
        let z = z.cloned().ok_or_else(|| refuse("Invalid domain."))?;
        let on = |list: &Vec<String>| list.iter().any(|d| dns_name(d) == z.name);
        match self.opts.api_access.as_ref().is_none_or(on) {
            true => Ok(z),
            false => Err(refuse("Domain is not opted in to API access.")),
        }
    }

    /// The records a `retrieve…`/`…ByNameType` route names: by id, or by type and subdomain.
    fn selected(&self, c: &Call, z: &FakeZone) -> Vec<FakeRecord> {
        let rtype = c.params.iter().any(|(k, _)| k == "type");
        let full = match c.param("sub") {
            "" => z.name.clone(),
            s => format!("{}.{}", dns_name(s), z.name),
        };
        let id = c.param("id");
        let wanted = |r: &FakeRecord| match (id, rtype) {
            ("", false) => true,
            ("", true) => r.rtype.eq_ignore_ascii_case(c.param("type")) && r.name == full,
            (id, _) => record_id(r).to_string() == id,
        };
        self.store
            .in_zone(&z.name)
            .into_iter()
            .filter(wanted)
            .collect()
    }
}

/// A record as Porkbun shows it: full name, id and TTL as strings.
fn record_json(r: &FakeRecord) -> Value {
    let prio = if matches!(r.rtype.as_str(), "MX" | "SRV") {
        "10"
    } else {
        "0"
    };
    json!({ "id": record_id(r).to_string(), "name": r.name, "type": r.rtype,
        "content": r.content, "ttl": r.ttl.to_string(), "prio": prio, "notes": "" })
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let body = c.json().unwrap_or(Value::Null);
    let start = match body.get("start") {
        Some(Value::String(s)) => s.trim().parse::<usize>().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0) as usize,
        None => 0,
    };
    let mut names: Vec<&str> = st.store.zones.iter().map(|z| z.name.as_str()).collect();
    names.sort();
    let page = names.iter().skip(start).take(CHUNK);
    let domains: Vec<Value> = page
        .map(|d| {
            let tld = d.rsplit('.').next().unwrap_or_default();
            json!({ "domain": d, "status": "ACTIVE", "tld": tld,
                "createDate": "2024-01-05 14:22:10", "expireDate": "2027-01-05 14:22:10",
                "securityLock": "1", "whoisPrivacy": "1", "autoRenew": 0, "notLocal": 0 })
        })
        .collect();
    success(json!({ "domains": domains }))
}

fn retrieve(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let records: Vec<Value> = st.selected(c, &z).iter().map(record_json).collect();
    success(json!({ "cloudflare": "enabled", "records": records }))
}

fn delete(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = st.selected(c, &z).into_iter().next();
    let r = r.ok_or_else(|| refuse("Invalid record ID."))?;
    st.store.change(Some(&r.id), None)?;
    success(json!({}))
}

fn delete_by_name_type(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let gone: Vec<String> = st.selected(c, &z).into_iter().map(|r| r.id).collect();
    st.store.edit(|s| {
        s.records.retain(|r| !gone.contains(&r.id));
        Ok::<(), KitError>(())
    })?;
    success(json!({}))
}

/// Create (`edit` false) or edit a record, checked as Porkbun checks it.
fn write(st: &mut State, c: &Call, edit: bool) -> Answer {
    let z = st.zone(c)?;
    let old = match edit {
        true => Some(
            st.selected(c, &z)
                .into_iter()
                .next()
                .ok_or_else(|| refuse("Invalid record ID."))?,
        ),
        false => None,
    };
    let body = c.json().unwrap_or(Value::Null);
    let text = |k: &str| match body.get(k) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let rtype = text("type").to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(refuse("Invalid type."));
    }
    let full = match text("name").as_str() {
        "" => z.name.clone(),
        n => format!("{}.{}", dns_name(n), z.name),
    };
    if !full.split('.').all(|l| (1..=63).contains(&l.len())) || full.len() > 253 {
        return Err(refuse("Invalid name."));
    }
    let content = text("content");
    if content.is_empty() {
        return Err(refuse("Content is required."));
    }
    // Porkbun's minimum (and default) TTL is 600: smaller ones are raised, not refused.
    let ttl = text("ttl")
        .parse::<u32>()
        .unwrap_or(600)
        .clamp(600, 86_400 * 7);
    let mut rec = FakeRecord::new(&z, &rtype, &full, &content, ttl)?;
    if let Some(o) = &old {
        (rec.id, rec.created) = (o.id.clone(), o.created.clone());
    }
    st.store
        .change(old.as_ref().map(|o| o.id.as_str()), Some(rec.clone()))?;
    match edit {
        true => success(json!({})),
        false => success(json!({ "id": record_id(&rec) })),
    }
}
