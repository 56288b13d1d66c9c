//! A stateful fake of the Linode API v4 endpoints a DNS-01 client uses, on the kit's router,
//! after techdocs.akamai.com/linode-api (no Linode server can run here): `GET /v4/domains`,
//! `GET /v4/domains/{domainId}`, `GET|POST /v4/domains/{domainId}/records`,
//! `GET|DELETE /v4/domains/{domainId}/records/{recordId}`, with integer ids; lists paged as
//! Linode pages them (`page`, `page_size` 25..=500, 100 by default; `{data, page, pages,
//! results}`) and filtered by the `X-Filter` header (equality on `domain`, `type`, `name`);
//! record names relative to the domain (the apex is `""`; a full name is taken too), the value
//! in `target`, `ttl_sec` rounded to Linode's values (300, 3600, …); errors as
//! `{"errors":[{"reason", "field"?}]}`: 401 `Invalid Token` for an unknown token, 401 `Your
//! OAuth token is not authorized to use this endpoint.` for a token without the Domains scope
//! (the kit's `FakeToken::zone_read`) or with Read Only (`dns_edit` false), 403 `Unauthorized`
//! for a restricted user with Read Only access to the domain (`read_only_users`), 404 `Not
//! found` (also for domains a restricted user may not see, `FakeToken::zones`), 400 with the
//! field, 429 with `Retry-After` and `X-RateLimit-*`. With [`LinodeFakeOptions::backed_by`]
//! every TXT change lands in the BIND topology's primary; with `edge_delay` it lands there only
//! that long after the API answered, as Linode's nameservers pick changes up minutes late.

use std::ops::Deref;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, absolute_name, paginate, txt_rdata,
};

/// The token every fake accepts unless options say otherwise (all scopes, all domains).
pub const DEFAULT_TOKEN: &str = "0000000000000000000000000000000000000000000000000000000000000001";
/// The reason Linode gives a token that lacks the endpoint's scope.
pub const NO_SCOPE: &str = "Your OAuth token is not authorized to use this endpoint.";
const TYPES: &[&str] = &["A", "AAAA", "NS", "MX", "CNAME", "TXT", "SRV", "PTR", "CAA"];
const TTLS: [u64; 12] = [
    300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
];

/// Options for [`LinodeFake::start`].
#[derive(Debug, Clone)]
pub struct LinodeFakeOptions {
    /// Domain names.
    pub zones: Vec<String>,
    /// Accepted tokens (`zone_read`: the Domains scope; `dns_edit`: Read/Write; `zones`: the
    /// domains of a restricted user).
    pub tokens: Vec<FakeToken>,
    /// Tokens of restricted users with Read Only access to their domains (writes: 403).
    pub read_only_users: Vec<String>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
    /// How long after the API answered a change reaches DNS (`None`: before it answers).
    pub edge_delay: Option<Duration>,
}

impl Default for LinodeFakeOptions {
    fn default() -> Self {
        LinodeFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            read_only_users: Vec::new(),
            dns: None,
            edge_delay: None,
        }
    }
}

impl LinodeFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        LinodeFakeOptions {
            zones,
            dns,
            ..Default::default()
        }
    }
}

type Sets = Vec<(String, u32, Vec<String>)>;

/// Changes on their way to DNS: a worker applies each `edge_delay` after it was made.
#[derive(Debug)]
struct Edge {
    tx: Sender<(Instant, Sets)>,
    pending: Arc<(Mutex<usize>, Condvar)>,
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: LinodeFakeOptions,
    edge: Option<Edge>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct LinodeFake(FakeServer<State>);

impl Deref for LinodeFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Linode's error body; `field` names the offending field.
fn err(status: u16, reason: &str, field: Option<&str>) -> Reply {
    let mut e = json!({ "reason": reason });
    if let Some(f) = field {
        e["field"] = f.into();
    }
    Reply::json(status, &json!({ "errors": [e] })).tag(reason.to_owned())
}

fn not_found() -> Reply {
    err(404, "Not found", None)
}

/// The integer id Linode shows for a store's hex id.
pub fn int_id(hex: &str) -> u64 {
    u64::from_str_radix(hex.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

/// `ttl_sec` as Linode keeps it: 0 (the domain's default) or the nearest of its values.
fn kept_ttl(t: u64) -> u32 {
    let near = TTLS.into_iter().rev().min_by_key(|v| v.abs_diff(t));
    near.filter(|_| t > 0).unwrap_or(0) as u32
}

fn iid(hex: &str) -> String {
    int_id(hex).to_string()
}

impl LinodeFake {
    /// Start on a free loopback port.
    pub fn start(opts: LinodeFakeOptions) -> Result<LinodeFake, KitError> {
        // With an edge delay the worker, not the store, writes to DNS.
        let edge = opts.edge_delay.and(opts.dns.clone()).map(spawn_edge);
        let mirror = opts.dns.clone().filter(|_| edge.is_none());
        let store = RecordStore::new(&opts.zones, mirror)?;
        let records = "/domains/{id}/records";
        let record = "/domains/{id}/records/{rid}";
        let server = Router::new("linode")
            .prefix("/v4")
            .auth(authenticate)
            .route("GET /domains", list_domains)
            .route("GET /domains/{id}", get_domain)
            .route(&format!("GET {records}"), list_records)
            .route(&format!("POST {records}"), create_record)
            .route(&format!("GET {record}"), get_record)
            .route(&format!("DELETE {record}"), delete_record)
            .fallback(|_, _| not_found())
            .start(State { store, opts, edge })?;
        Ok(LinodeFake(server))
    }

    /// `http://127.0.0.1:PORT/v4`: what goes into `base_url` / `LINODE_API_URL`.
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

    /// Create a record as Cloud Manager would (`name` full, `target` as stored); its id.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, target: &str, ttl: u32) -> u64 {
        let id = self.seed_record(zone, rtype, name, target, ttl);
        let id = id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
        self.with(|st| st.send_to_edge(name));
        int_id(&id)
    }

    /// The integer id of a domain.
    pub fn domain_id(&self, zone: &str) -> u64 {
        int_id(&self.zone_id(zone).unwrap_or_default())
    }

    /// Wait (at most the edge delay and 10 s more) until every change has reached DNS.
    pub fn settle(&self) {
        let edge = self.with(|st| st.edge.as_ref().map(|e| e.pending.clone()));
        let Some((count, cv)) = edge.as_deref() else {
            return;
        };
        let bound = self.with(|st| st.opts.edge_delay.unwrap_or_default());
        let n = count.lock().unwrap_or_else(|e| e.into_inner());
        let n = cv.wait_timeout_while(n, bound + Duration::from_secs(10), |n| *n > 0);
        let n = n.unwrap_or_else(|e| e.into_inner()).0;
        assert_eq!(*n, 0, "changes still on their way to DNS");
    }
}

/// The worker that applies changes to DNS `delay` after they were made, in order.
fn spawn_edge(mirror: ZoneMirror) -> Edge {
    let (tx, rx) = channel::<(Instant, Sets)>();
    let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
    let p = pending.clone();
    std::thread::spawn(move || {
        // Ends when the fake (the sender) is dropped.
        for (due, sets) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if let Err(e) = mirror.set_txt(&sets) {
                eprintln!("linode fake: edge update failed: {e}");
            }
            *p.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
            p.1.notify_all();
        }
    });
    Edge { tx, pending }
}

fn too_many(secs: u64) -> Reply {
    err(429, "Too Many Requests", None)
        .header("Retry-After", secs.to_string())
        .header("X-RateLimit-Limit", "800")
        .header("X-RateLimit-Remaining", "0")
        .header("X-RateLimit-Reset", "1767225600")
}

/// The auth hook: the index of the bearer token, or 401 `Invalid Token`.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let token = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| err(401, "Invalid Token", None))?;
    c.principal = Some(i.to_string());
    Ok(())
}

impl State {
    /// The caller's token if it has the Domains scope, Read/Write when `edit` (else 401).
    fn scope(&self, c: &Call, edit: bool) -> Result<FakeToken, Reply> {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        let t = i.and_then(|i| self.opts.tokens.get(i));
        let t = t.filter(|t| t.zone_read && (t.dns_edit || !edit)).cloned();
        t.ok_or_else(|| err(401, NO_SCOPE, None))
    }

    /// The route's domain if the token sees it (else 404) and may write it when `edit`.
    fn zone(&self, c: &Call, edit: bool) -> Result<FakeZone, Reply> {
        let t = self.scope(c, edit)?;
        let zones = self.store.zones.iter();
        let mut z = zones.filter(|z| iid(&z.id) == c.param("id"));
        let z = z.find(|z| t.may(&z.name)).ok_or_else(not_found)?;
        if edit && self.opts.read_only_users.contains(&t.token) {
            return Err(err(403, "Unauthorized", None));
        }
        Ok(z.clone())
    }

    /// Send the TXT set now at `name` to the edge (when changes reach DNS late).
    fn send_to_edge(&mut self, name: &str) {
        let Some(edge) = &self.edge else { return };
        let name = wildcert_testkit::dns_name(name);
        let rdata = self
            .store
            .txt_values(&name)
            .iter()
            .map(|v| txt_rdata(v))
            .collect();
        let mut txt = self.store.records.iter().filter(|r| r.rtype == "TXT");
        let ttl = txt.find(|r| r.name == name).map_or(300, |r| r.ttl.max(1));
        *edge.pending.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let due = Instant::now() + self.opts.edge_delay.unwrap_or_default();
        let _ = edge.tx.send((due, vec![(name, ttl, rdata)]));
    }
}

/// One page of `items` as Linode pages it, after the `X-Filter` equality filter on `fields`.
fn page(c: &Call, items: Vec<Value>, fields: &[&str]) -> Answer {
    let filter: Map<String, Value> = match c.header("x-filter") {
        None => Map::new(),
        Some(f) => {
            serde_json::from_str(f).map_err(|_| err(400, "Invalid JSON", Some("X-Filter")))?
        }
    };
    if let Some(k) = filter.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(err(400, &format!("Cannot filter on {k}"), Some("X-Filter")));
    }
    let keep = |i: &Value| filter.iter().all(|(k, v)| i.get(k) == Some(v));
    let items: Vec<Value> = items.into_iter().filter(keep).collect();
    let num = |k: &str, d: u32| c.query(k).map_or(Some(d), |v| v.parse::<u32>().ok());
    let size = num("page_size", 100).filter(|s| (25..=500).contains(s));
    let size = size.ok_or_else(|| err(400, "Must be 25-500", Some("page_size")))?;
    let p = num("page", 1).filter(|p| *p >= 1);
    let p = p.ok_or_else(|| err(400, "Must be 1 or greater", Some("page")))?;
    let pages = (items.len() as u32).div_ceil(size).max(1);
    let body = json!({ "data": paginate(&items, p, size), "page": p, "pages": pages,
        "results": items.len() });
    Ok(Reply::json(200, &body))
}

fn domain_json(z: &FakeZone) -> Value {
    let soa = format!("hostmaster@{}", z.name);
    json!({ "id": int_id(&z.id), "domain": z.name, "type": "master", "status": "active",
        "soa_email": soa, "description": "", "group": "", "tags": [], "ttl_sec": 0,
        "refresh_sec": 0, "retry_sec": 0, "expire_sec": 0, "master_ips": [], "axfr_ips": [],
        "created": "2026-01-01T00:00:00", "updated": "2026-01-01T00:00:00" })
}

fn get_domain(st: &mut State, c: &Call) -> Answer {
    Ok(Reply::json(200, &domain_json(&st.zone(c, false)?)))
}

fn get_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    Ok(Reply::json(200, &record_json(&find(&st.store, &z, c)?)))
}

/// A record as Linode shows it: name relative to the domain (`""` the apex).
fn record_json(r: &FakeRecord) -> Value {
    let name = r.name.strip_suffix(&r.zone_name).unwrap_or(&r.name);
    let name = name.trim_end_matches('.');
    let created = r.created.get(..19).unwrap_or("2026-01-01T00:00:00");
    json!({ "id": int_id(&r.id), "type": r.rtype, "name": name, "target": r.content,
        "priority": 0, "weight": 0, "port": 0, "service": null, "protocol": null,
        "ttl_sec": r.ttl, "tag": null, "created": created, "updated": created })
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let t = st.scope(c, false)?;
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(|z| t.may(&z.name)).collect();
    zones.sort_by_key(|z| int_id(&z.id));
    let items = zones.into_iter().map(domain_json).collect();
    page(c, items, &["domain", "type", "status"])
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    let items = st.store.in_zone(&z.name).iter().map(record_json).collect();
    page(c, items, &["name", "type", "tag", "target"])
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, true)?;
    let r = find(&st.store, &z, c)?;
    st.store.change(Some(&r.id), None)?;
    st.send_to_edge(&r.name);
    Ok(Reply::json(200, &json!({})))
}

fn find(store: &RecordStore, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let mut all = store.in_zone(&z.name).into_iter();
    all.find(|r| iid(&r.id) == c.param("rid"))
        .ok_or_else(not_found)
}

/// Create a record, checked as Linode checks it; the TTL rounded to Linode's values.
fn create_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, true)?;
    let body = c.json().filter(Value::is_object);
    let body = body.ok_or_else(|| err(400, "Invalid JSON", None))?;
    let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
    let rtype = field("type").as_str().unwrap_or_default().to_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(err(400, "Invalid record type", Some("type")));
    }
    let name = field("name").as_str().unwrap_or_default().to_owned();
    let full = absolute_name(if name.is_empty() { "@" } else { &name }, &z.name);
    let full = full.ok_or_else(|| err(400, "Invalid record name", Some("name")))?;
    let target = field("target").as_str().unwrap_or_default().to_owned();
    if target.is_empty() {
        return Err(err(400, "target is required", Some("target")));
    }
    let ttl = Some(field("ttl_sec"))
        .filter(|t| !t.is_null())
        .map(|t| t.as_u64());
    let ttl = ttl.unwrap_or(Some(0));
    let ttl = ttl.ok_or_else(|| err(400, "Must be an integer", Some("ttl_sec")))?;
    let rec = FakeRecord::new(&z, &rtype, &full, &target, kept_ttl(ttl))?;
    st.store.change(None, Some(rec.clone()))?;
    st.send_to_edge(&rec.name);
    Ok(Reply::json(200, &record_json(&rec)))
}
