//! A stateful fake of the NS1 API v1 zone and record endpoints a DNS-01 client uses, on the
//! kit's router (no NS1 server can run here), after NS1's API reference and what its clients
//! (ns1-python, ns1-go) expect: `GET /v1/zones` (every zone the key may see), `GET
//! /v1/zones/{zone}` (`records=false` leaves the short records out), and `GET | PUT (create) |
//! POST (update) | DELETE /v1/zones/{zone}/{domain}/{type}`: one record per (zone, domain,
//! type) holding `answers` (`{"id", "answer": [rdata…], "meta"}`), `domain` a full name. Lists
//! are cursor-paged as NS1 pages them (2,500 items unless `limit` or `page_size` say fewer): a
//! `Link: <http://HOST/v1/…?after=…&limit=…>; rel="next"` header while more follow. The trap:
//! a `PUT` for a record that exists is 400 `record already exists` (a second value must be
//! POSTed into the answers). Errors are `{"message": …}`: 401 `Unauthorized` (no or unknown
//! `X-NSONE-Key`), 403 `insufficient permissions` (a key without Manage zones writing), 404
//! `zone not found` / `record not found` (also for a zone the key may not see), 400 for bad
//! input, 429 `Rate limit exceeded` with `X-RateLimit-{By,Limit,Remaining,Period}` (NS1 sends no
//! `Retry-After`). Each answer is one record of the kit's store (its meta kept as the record's
//! comment), so with [`Ns1FakeOptions::backed_by`] every TXT change lands in the BIND
//! topology's primary before the API answers. Proven by ns1-python (tests/sdk/prove.py).

use std::collections::HashMap;
use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{
    KitError, RecordStore, Reply, Router, ZoneMirror, dns_name, fixture, hex_id,
};

/// The key every fake accepts unless options say otherwise (20 characters, as NS1's are).
pub const DEFAULT_KEY: &str = "WcFakeNs1ApiKey00001";

/// Options for [`Ns1Fake::start`].
#[derive(Debug, Clone)]
pub struct Ns1FakeOptions {
    /// Zone names.
    pub zones: Vec<String>,
    /// Accepted keys: `zones` = the zones allowed to it (`None`: all), `dns_edit` false = a
    /// key with View zones only.
    pub keys: Vec<FakeToken>,
    /// Items per list page unless the client asks fewer (`limit`); NS1 serves 2,500.
    pub page_size: usize,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for Ns1FakeOptions {
    fn default() -> Self {
        Ns1FakeOptions {
            zones: vec!["example.test".into()],
            keys: vec![FakeToken::full(DEFAULT_KEY)],
            page_size: 2500,
            dns: None,
        }
    }
}

impl Ns1FakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        Ns1FakeOptions {
            zones,
            dns,
            ..Default::default()
        }
    }
}

/// What the fake holds: the store (one kit record per answer) and each NS1 record's id.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: Ns1FakeOptions,
    ids: HashMap<String, String>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct Ns1Fake(FakeServer<State>);

impl Deref for Ns1Fake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// NS1's error document.
pub fn err(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "message": message })).tag(message)
}

impl Ns1Fake {
    /// Start on a free loopback port.
    pub fn start(opts: Ns1FakeOptions) -> Result<Ns1Fake, KitError> {
        let mut store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        for z in store.zones.iter_mut() {
            z.id.truncate(24);
        }
        let record = "/zones/{zone}/{domain}/{type}";
        let server = Router::new("ns1")
            .prefix("/v1")
            .auth(authenticate)
            .route("GET /zones", list_zones)
            .route("GET /zones/{zone}", get_zone)
            .route(&format!("GET {record}"), |st: &mut State, c| {
                let (z, key) = st.record(c)?;
                ok(st
                    .record_json(&z, &key)
                    .ok_or_else(|| err(404, "record not found"))?)
            })
            .route(&format!("PUT {record}"), write)
            .route(&format!("POST {record}"), write)
            .route(&format!("DELETE {record}"), write)
            .fallback(|_, known| err([404, 405][usize::from(known)], "Not Found"));
        let ids = HashMap::new();
        Ok(Ns1Fake(server.start(State { store, opts, ids })?))
    }

    /// `http://127.0.0.1:PORT/v1`: what goes into `base_url` / `NS1_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Accept another key.
    pub fn add_key(&self, key: FakeToken) {
        self.with(|st| st.opts.keys.push(key));
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |_| rate_limited());
    }

    /// The record document at `domain` (type TXT) as the API serves it.
    pub fn txt_record(&self, zone: &str, domain: &str) -> Option<Value> {
        self.with(|st| {
            let z = st.store.zone_named(zone)?.clone();
            st.record_json(&z, &(dns_name(domain), "TXT".into()))
        })
    }
}

/// NS1's 429: its token bucket is empty; the `X-RateLimit-*` headers, no `Retry-After`.
pub fn rate_limited() -> Reply {
    let r = err(429, "Rate limit exceeded").header("X-RateLimit-By", "customer");
    let r = r
        .header("X-RateLimit-Limit", "300")
        .header("X-RateLimit-Remaining", "0");
    r.header("X-RateLimit-Period", "300")
}

fn ok(body: Value) -> Answer {
    Ok(Reply::json(200, &body))
}

fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let key = c.header("x-nsone-key").unwrap_or_default();
    let i = st.opts.keys.iter().position(|k| k.token == key);
    c.principal = Some(i.ok_or_else(|| err(401, "Unauthorized"))?.to_string());
    Ok(())
}

/// A page of `items` after the cursor `after` (the key `key` gives each), and the `Link` of the
/// next page when more follow.
fn page(st: &State, c: &Call, items: Vec<Value>, key: &str) -> (Vec<Value>, Option<String>) {
    let after = c.query("after");
    let start = after.map_or(0, |a| {
        items.iter().position(|i| i[key] == a).map_or(0, |p| p + 1)
    });
    let limit = c
        .query("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(st.opts.page_size);
    let limit = limit.clamp(1, st.opts.page_size);
    let out: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let last = out.last().and_then(|l| l[key].as_str()).unwrap_or_default();
    let host = c.header("host").unwrap_or("api.nsone.net");
    let mut q = vec![("after", last.to_string()), ("limit", limit.to_string())];
    q.extend(c.query("records").map(|r| ("records", r.to_string())));
    let q: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let more = start + out.len() < items.len();
    let link = more.then(|| format!("<http://{host}/v1{}?{}>; rel=\"next\"", c.path, q.join("&")));
    (out, link)
}

fn paged(body: Value, link: Option<String>) -> Answer {
    let reply = Reply::json(200, &body);
    Ok(link.map_or(reply.clone(), |l| reply.header("Link", l)))
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let key = st.key(c);
    let mut zones: Vec<FakeZone> = st.store.zones.clone();
    zones.retain(|z| key.may(&z.name));
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let docs = zones.iter().map(|z| st.zone_json(z, vec![])).collect();
    let (out, link) = page(st, c, docs, "zone");
    paged(Value::Array(out), link)
}

fn get_zone(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let records: Vec<Value> = match c.query("records") {
        Some("false") => vec![],
        _ => st
            .records(&z)
            .iter()
            .map(|k| st.short_json(&z, k))
            .collect(),
    };
    let (records, link) = page(st, c, records, "id");
    paged(st.zone_json(&z, records), link)
}

/// 400 for a request NS1 would not take.
fn invalid(what: &str) -> Reply {
    err(400, &format!("Input validation failed ({what})"))
}

/// `PUT` (create: 400 `record already exists` when it does), `POST` (update: answers and TTL
/// replaced as given; answers sent back with their id keep it) or `DELETE` of a record.
fn write(st: &mut State, c: &Call) -> Answer {
    let (z, key) = st.record(c)?;
    if !st.key(c).dns_edit {
        return Err(err(403, "insufficient permissions"));
    }
    let (old, create, delete) = (
        st.answers(&z, &key),
        c.method == "PUT",
        c.method == "DELETE",
    );
    match (create, old.is_empty()) {
        (true, false) => return Err(err(400, "record already exists")),
        (false, true) => return Err(err(404, "record not found")),
        _ => {}
    }
    let body = c.json().filter(Value::is_object);
    let body = match delete {
        true => json!({ "answers": [] }),
        false => body.ok_or_else(|| invalid("not a JSON object"))?,
    };
    let ttl = body["ttl"].as_u64().map(|t| t as u32);
    let ttl = ttl.or(old.first().map(|r| r.ttl)).unwrap_or(3600);
    let answers = match (&body["answers"], create) {
        (Value::Array(a), _) => a.clone(),
        (Value::Null, false) => old.iter().map(answer_json).collect(),
        _ => return Err(invalid("answers must be a list")),
    };
    let mut new = Vec::new();
    for a in &answers {
        let rdata = a["answer"]
            .as_array()
            .filter(|r| r.iter().all(Value::is_string));
        let rdata = rdata
            .filter(|r| !r.is_empty())
            .ok_or_else(|| invalid("bad answer"))?;
        let text: String = rdata.iter().filter_map(Value::as_str).collect();
        let mut rec = FakeRecord::new(&z, &key.1, &key.0, &text, ttl)?;
        let kept = |id: &&str| old.iter().any(|o| o.id == *id);
        let id = a["id"].as_str().filter(kept);
        rec.id = id.map_or_else(|| rec.id[..24].to_string(), str::to_string);
        rec.comment = a.get("meta").map(Value::to_string);
        new.push(rec);
    }
    let gone: Vec<String> = old.iter().map(|r| r.id.clone()).collect();
    st.store.edit(|s| {
        s.records.retain(|r| !gone.contains(&r.id));
        s.records.extend(new);
        Ok::<(), KitError>(())
    })?;
    if create {
        let id = hex_id()?[..24].to_string();
        st.ids.insert(format!("{}|{}|{}", z.name, key.0, key.1), id);
    }
    ok(st.record_json(&z, &key).unwrap_or_else(|| json!({})))
}

/// One answer as NS1 serves it.
fn answer_json(r: &FakeRecord) -> Value {
    let meta = r
        .comment
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    json!({ "id": r.id, "answer": [r.content], "meta": meta.unwrap_or(json!({})) })
}

/// (domain, type) of a record.
type RecordKey = (String, String);

impl State {
    fn key(&self, c: &Call) -> FakeToken {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        i.and_then(|i| self.opts.keys.get(i).cloned())
            .unwrap_or_else(|| FakeToken::full(""))
    }

    /// The route's zone, if the key may see it (else 404 `zone not found`, as NS1 hides it).
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let z = self.store.zone_named(c.param("zone")).cloned();
        z.filter(|z| self.key(c).may(&z.name))
            .ok_or_else(|| err(404, "zone not found"))
    }

    /// The route's zone and (domain, type); the domain must lie in the zone.
    fn record(&self, c: &Call) -> Result<(FakeZone, RecordKey), Reply> {
        let z = self.zone(c)?;
        let (domain, rtype) = (
            dns_name(c.param("domain")),
            c.param("type").to_ascii_uppercase(),
        );
        if domain != z.name && !domain.ends_with(&format!(".{}", z.name)) {
            return Err(err(
                400,
                &format!(
                    "Input validation failed (domain {domain} is not in zone {})",
                    z.name
                ),
            ));
        }
        Ok((z, (domain, rtype)))
    }

    /// The store records (answers) of one NS1 record.
    fn answers(&self, z: &FakeZone, key: &RecordKey) -> Vec<FakeRecord> {
        let same = |r: &&FakeRecord| r.zone_id == z.id && r.name == key.0 && r.rtype == key.1;
        self.store.records.iter().filter(same).cloned().collect()
    }

    /// Every (domain, type) of the zone, in first-seen order.
    fn records(&self, z: &FakeZone) -> Vec<RecordKey> {
        let mut keys: Vec<RecordKey> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            let k = (r.name.clone(), r.rtype.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }

    /// The record's id: given at creation, derived from its first answer for seeded ones.
    fn record_id(&self, z: &FakeZone, key: &RecordKey, first: &FakeRecord) -> String {
        let id = self.ids.get(&format!("{}|{}|{}", z.name, key.0, key.1));
        id.cloned()
            .unwrap_or_else(|| first.id.chars().rev().take(24).collect())
    }

    fn record_json(&self, z: &FakeZone, key: &RecordKey) -> Option<Value> {
        let answers = self.answers(z, key);
        let first = answers.first()?;
        Some(
            json!({ "id": self.record_id(z, key, first), "zone": z.name, "domain": key.0,
            "type": key.1, "ttl": first.ttl, "answers": answers.iter().map(answer_json).collect::<Vec<_>>(),
            "filters": [], "meta": {}, "regions": {}, "link": null, "tier": 1, "networks": [0],
            "use_client_subnet": true, "override_ttl": false, "feeds": [] }),
        )
    }

    fn short_json(&self, z: &FakeZone, key: &RecordKey) -> Value {
        let answers = self.answers(z, key);
        let short: Vec<&str> = answers.iter().map(|r| r.content.as_str()).collect();
        let (id, ttl) = answers
            .first()
            .map_or((String::new(), 0), |f| (self.record_id(z, key, f), f.ttl));
        json!({ "id": id, "domain": key.0, "type": key.1, "ttl": ttl, "short_answers": short,
            "link": null, "tier": 1 })
    }

    fn zone_json(&self, z: &FakeZone, records: Vec<Value>) -> Value {
        let fields = json!({ "id": z.id, "zone": z.name, "name": z.name, "records": records });
        fixture(include_str!("zone.json"), fields)
    }
}
