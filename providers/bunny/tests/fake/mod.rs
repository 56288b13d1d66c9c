//! A stateful fake of the Bunny DNS API endpoints a DNS client uses, on the kit's router, after
//! docs.bunny.net/reference (DNS Zone; no Bunny server can run here): `GET /dnszone` (pages:
//! `page`, `perPage` 5–1000, 1000 by default; `Items`, `CurrentPage`, `TotalItems`,
//! `HasMoreItems`; `search` on the domain), `GET /dnszone/{id}` (the zone with its `Records`),
//! `PUT /dnszone/{id}/records` (add: 201 and the record), `POST /dnszone/{id}/records/{rid}`
//! (update: 204), `DELETE /dnszone/{id}/records/{rid}` (204). Zones and records have integer
//! ids, record types are numbers (TXT is 3), names are relative to their zone (`""` the apex);
//! a delegated sub-zone (`sub.example.test` beside `example.test`) is a zone of its own. The
//! key goes in the `AccessKey` header: an unknown one is 401; errors are 400 with `{"ErrorKey",
//! "Field", "Message"}` (a TTL below 15, an empty value, an unknown type), 404 for an unknown
//! zone or record, 429 with `Retry-After`. With [`BunnyFakeOptions::backed_by`] every TXT
//! change lands in the BIND topology's primary before the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, paginate,
};

/// The API key every fake accepts unless options say otherwise.
pub const API_KEY: &str = "5e8f1a2b-0000-4000-8000-000000000001-0000-4000-8000-000000000001";
/// Bunny's record types by number (index = number; 5–7 and 11 are Bunny's own kinds).
const TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "TXT", "MX", "RDR", "FLATTEN", "PZ", "SRV", "CAA", "PTR", "SCR", "NS",
];

/// Options for [`BunnyFake::start`].
#[derive(Debug, Clone)]
pub struct BunnyFakeOptions {
    /// Zone names (a sub-zone beside its parent is a zone of its own).
    pub zones: Vec<String>,
    /// Accepted API keys.
    pub keys: Vec<String>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for BunnyFakeOptions {
    fn default() -> Self {
        BunnyFakeOptions {
            zones: vec!["example.test".to_owned()],
            keys: vec![API_KEY.to_owned()],
            dns: None,
        }
    }
}

impl BunnyFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        BunnyFakeOptions {
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
    opts: BunnyFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct BunnyFake(FakeServer<State>);

impl Deref for BunnyFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Bunny's error body.
fn err(status: u16, key: &str, field: &str, message: &str) -> Reply {
    let body = json!({ "ErrorKey": key, "Field": field, "Message": message });
    Reply::json(status, &body).tag(key)
}

fn not_found(what: &str) -> Reply {
    err(
        404,
        &format!("{what}.not_found"),
        "Id",
        &format!("The requested {what} was not found"),
    )
}

/// The integer id Bunny shows (from the store's hex id).
pub fn int_id(hex: &str) -> u64 {
    u64::from_str_radix(hex.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

fn too_many(secs: u64) -> Reply {
    err(429, "too_many_requests", "", "Too many requests").header("Retry-After", secs.to_string())
}

impl BunnyFake {
    /// Start on a free loopback port.
    pub fn start(opts: BunnyFakeOptions) -> Result<BunnyFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("bunny")
            .auth(authenticate)
            .route("GET /dnszone", list_zones)
            .route("GET /dnszone/{zone}", get_zone)
            .route("PUT /dnszone/{zone}/records", |st, c| write(st, c, false))
            .route("POST /dnszone/{zone}/records/{id}", |st, c| {
                write(st, c, true)
            })
            .route("DELETE /dnszone/{zone}/records/{id}", delete)
            .start(State { store, opts })?;
        Ok(BunnyFake(server))
    }

    /// `http://127.0.0.1:PORT`: what goes into `base_url` / `BUNNY_API_URL`.
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

    /// The integer id of a zone.
    pub fn zone_int_id(&self, zone: &str) -> u64 {
        int_id(&self.zone_id(zone).unwrap_or_default())
    }

    /// Create a record as the dashboard would; its integer id.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, value: &str, ttl: u32) -> u64 {
        let id = self.seed_record(zone, rtype, name, value, ttl);
        int_id(&id.unwrap_or_else(|e| panic!("seed {name}: {e}")))
    }
}

/// The auth hook: the `AccessKey` header must be a known key (401 otherwise).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let key = c.header("accesskey").unwrap_or_default();
    let i = st.opts.keys.iter().position(|k| k == key);
    let denied = || {
        let body = json!({ "HttpCode": 401, "Message": "Authorization has been denied for this request." });
        Reply::json(401, &body).tag("unauthorized")
    };
    c.principal = Some(i.ok_or_else(denied)?.to_string());
    Ok(())
}

impl State {
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let id = c.param("zone");
        let z = self
            .store
            .zones
            .iter()
            .find(|z| int_id(&z.id).to_string() == id);
        z.cloned().ok_or_else(|| not_found("dnszone"))
    }

    fn record(&self, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
        let id = c.param("id");
        let r = self
            .store
            .in_zone(&z.name)
            .into_iter()
            .find(|r| int_id(&r.id).to_string() == id);
        r.ok_or_else(|| not_found("dnszone.record"))
    }
}

/// A record as Bunny shows it: number type, name relative to the zone.
fn record_json(r: &FakeRecord) -> Value {
    let name = match r.name.strip_suffix(&r.zone_name) {
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => r.name.clone(),
    };
    let rtype = TYPES.iter().position(|t| *t == r.rtype).unwrap_or(0);
    json!({ "Id": int_id(&r.id), "Type": rtype, "Ttl": r.ttl, "Value": r.content, "Name": name,
        "Weight": 0, "Priority": 0, "Port": 0, "Flags": 0, "Tag": "", "Accelerated": false,
        "AcceleratedPullZoneId": 0, "LinkName": "", "MonitorStatus": 0, "MonitorType": 0,
        "Disabled": false, "Comment": null })
}

fn zone_json(st: &State, z: &FakeZone) -> Value {
    let records: Vec<Value> = st.store.in_zone(&z.name).iter().map(record_json).collect();
    json!({ "Id": int_id(&z.id), "Domain": z.name, "Records": records,
        "DateModified": "2026-11-02T10:00:00", "DateCreated": "2025-03-01T09:30:00",
        "NameserversDetected": true, "CustomNameserversEnabled": false,
        "Nameserver1": "kiki.bunny.net", "Nameserver2": "coco.bunny.net",
        "SoaEmail": "hostmaster@bunny.net", "LoggingEnabled": false })
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let page = c
        .query("page")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let per = c
        .query("perPage")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1000);
    let per = per.clamp(5, 1000);
    let search = c.query("search").map(dns_name).unwrap_or_default();
    let mut zones: Vec<&FakeZone> = st
        .store
        .zones
        .iter()
        .filter(|z| z.name.contains(&search))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = zones.iter().map(|z| zone_json(st, z)).collect();
    let more = (page as usize) * (per as usize) < items.len();
    Ok(Reply::json(
        200,
        &json!({ "Items": paginate(&items, page, per), "CurrentPage": page,
        "TotalItems": items.len(), "HasMoreItems": more }),
    ))
}

fn get_zone(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    Ok(Reply::json(200, &zone_json(st, &z)))
}

fn delete(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = st.record(&z, c)?;
    st.store.change(Some(&r.id), None)?;
    Ok(Reply::text(204, "application/json", ""))
}

/// Add (`update` false) or update a record, checked as Bunny checks it.
fn write(st: &mut State, c: &Call, update: bool) -> Answer {
    let z = st.zone(c)?;
    let old = if update {
        Some(st.record(&z, c)?)
    } else {
        None
    };
    let body = c.json().filter(Value::is_object);
    let body =
        body.ok_or_else(|| err(400, "validation_error", "", "The request body is invalid"))?;
    let base = old.as_ref().map(record_json);
    let field = |k: &str| {
        body.get(k)
            .or(base.as_ref().and_then(|b| b.get(k)))
            .cloned()
    };
    let rtype = field("Type")
        .and_then(|t| t.as_u64())
        .and_then(|t| TYPES.get(t as usize));
    let rtype = rtype.ok_or_else(|| {
        err(
            400,
            "validation_error",
            "Type",
            "The record type is invalid",
        )
    })?;
    let name = field("Name")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let full = match dns_name(&name).as_str() {
        "" | "@" => z.name.clone(),
        n => format!("{n}.{}", z.name),
    };
    if !full.split('.').all(|l| (1..=63).contains(&l.len())) {
        return Err(err(
            400,
            "validation_error",
            "Name",
            "The record name is invalid",
        ));
    }
    let value = field("Value")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if value.is_empty() {
        return Err(err(
            400,
            "validation_error",
            "Value",
            "The record value is required",
        ));
    }
    let ttl = field("Ttl").and_then(|t| t.as_u64()).unwrap_or(300);
    if !(15..=2_147_483_647).contains(&ttl) {
        return Err(err(
            400,
            "validation_error",
            "Ttl",
            "The TTL must be at least 15 seconds",
        ));
    }
    let mut rec = FakeRecord::new(&z, rtype, &full, &value, ttl as u32)?;
    if let Some(o) = &old {
        (rec.id, rec.created) = (o.id.clone(), o.created.clone());
    }
    st.store
        .change(old.as_ref().map(|o| o.id.as_str()), Some(rec.clone()))?;
    match update {
        true => Ok(Reply::text(204, "application/json", "")),
        false => Ok(Reply::json(201, &record_json(&rec))),
    }
}
