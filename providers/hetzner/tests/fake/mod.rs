//! A stateful fake of the Hetzner Cloud API's DNS endpoints (docs.hetzner.cloud, "Zones",
//! "Zone RRSets", "Zone RRSet Actions", "Actions"; no Hetzner server can run here) on the kit's
//! router: `GET /zones` (`name`, `mode`), `GET /zones/{id_or_name}`, `GET …/rrsets` (`name`,
//! `type`), `GET …/rrsets/{name}/{type}`, `POST …/rrsets/{name}/{type}/actions/add_records`,
//! `…/remove_records`, `…/set_records`, `GET /actions/{id}`. Lists are paged (`page`,
//! `per_page` 25 by default, at most 50, `meta.pagination`); errors are `{"error": {"code",
//! "message", "details"}}` (`errors.json`: 401 `unauthorized`, 403 `token_readonly`, 404
//! `not_found`, 400 `invalid_input`, 422 `incorrect_zone_mode`, 429 `rate_limit_exceeded`
//! with the `RateLimit-*` headers and no `Retry-After`). An action is `running` when answered
//! and takes effect `action_delay` later (then `success`, or `error` when a record carries
//! `failing_value`), so a client that does not poll sees nothing yet. Zone ids are integers;
//! RRset names are relative (`@` the apex); TXT values must be quoted (values planted with
//! `seed_record` may not be, as in zones migrated from the DNS Console). Proven by `hcloud`
//! (tests/sdk/prove.py).
//!
//! With [`HetznerFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary
//! (the kit's `ZoneMirror`) when its action succeeds, so Pebble validates end to end.

use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};
use wildcert_testkit::{dns_name, fixture, now_rfc3339, paginate};

/// The token every fake accepts unless told otherwise (64 characters, as Hetzner's are).
pub const DEFAULT_TOKEN: &str = "wildcertFakeHetznerCloudProjectTokenReadWrite0000000000000000001";
/// The record types the API takes.
const TYPES: &str = " A AAAA CAA CNAME DS HINFO HTTPS MX NS PTR RP SOA SRV SVCB TLSA TXT ";

/// Options for [`HetznerFake::start`].
#[derive(Debug, Clone)]
pub struct HetznerFakeOptions {
    /// Zones in primary mode (ids 42, 43, …).
    pub zones: Vec<String>,
    /// Zones in secondary mode (writes refused with 422 `incorrect_zone_mode`).
    pub secondary: Vec<String>,
    /// Accepted tokens: `zones` = the project's zones (`None`: all), `dns_edit` false = Read.
    pub tokens: Vec<FakeToken>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
    /// How long an action stays `running`.
    pub action_delay: Duration,
    /// An action with a record of this value ends in `error` and changes nothing.
    pub failing_value: Option<String>,
}

impl Default for HetznerFakeOptions {
    fn default() -> Self {
        HetznerFakeOptions {
            zones: vec!["example.test".into()],
            secondary: Vec::new(),
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            dns: None,
            action_delay: Duration::from_millis(150),
            failing_value: None,
        }
    }
}

impl HetznerFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = HetznerFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// An RRset change: zone name, RRset name, type, TTL of a new RRset, values added, removed.
type Change = (String, String, String, u32, Vec<String>, Vec<String>);

/// An RRset action: when it started, its document, the change it makes when done.
type FakeAction = (Instant, Value, Change);

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: HetznerFakeOptions,
    actions: Vec<FakeAction>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct HetznerFake(FakeServer<State>);

impl Deref for HetznerFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// The error `code` of `errors.json` (`[status, message]`, `{}` replaced by `arg`).
pub fn err(code: &str, arg: &str) -> Reply {
    let all: Value = serde_json::from_str(include_str!("errors.json")).unwrap_or_default();
    let message = all[code][1].as_str().unwrap_or(code).replace("{}", arg);
    let body = json!({ "error": { "code": code, "message": message, "details": {} } });
    Reply::json(all[code][0].as_u64().unwrap_or(500) as u16, &body).tag(code)
}

fn ok(body: Value) -> Answer {
    Ok(Reply::json(200, &body))
}

impl HetznerFake {
    /// Start on a free loopback port.
    pub fn start(opts: HetznerFakeOptions) -> Result<HetznerFake, KitError> {
        let names: Vec<String> = opts.zones.iter().chain(&opts.secondary).cloned().collect();
        let mut store = RecordStore::new(&names, opts.dns.clone())?;
        for (i, z) in store.zones.iter_mut().enumerate() {
            z.id = (42 + i).to_string();
        }
        let rrset = "/zones/{zone}/rrsets/{name}/{type}";
        let server = Router::new("hetzner")
            .prefix("/v1")
            .auth(authenticate)
            .route("GET /zones", list_zones)
            .route("GET /zones/{zone}", |st, c| {
                ok(json!({ "zone": st.zone_json(&st.zone(c, false)?) }))
            })
            .route("GET /zones/{zone}/rrsets", list_rrsets)
            .route(&format!("GET {rrset}"), get_rrset)
            .route(&format!("POST {rrset}/actions/{{verb}}"), rrset_action)
            .route("GET /actions/{id}", get_action)
            .fallback(|c, _| err("not_found", &format!("route {} {}", c.method, c.path)));
        let state = State {
            store,
            opts,
            actions: vec![],
        };
        Ok(HetznerFake(server.start(state)?))
    }

    /// `http://127.0.0.1:PORT/v1`: what goes into `base_url` / `HETZNER_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Accept another token.
    pub fn add_token(&self, token: FakeToken) {
        self.with(|st| st.opts.tokens.push(token));
    }

    /// The action documents so far.
    pub fn actions(&self) -> Vec<Value> {
        self.with(|st| st.actions.iter().map(|a| a.1.clone()).collect())
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |_| rate_limited());
    }
}

/// Hetzner's 429: the bucket refills one request a second; `RateLimit-*`, no `Retry-After`.
pub fn rate_limited() -> Reply {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    let now = now.map_or(0, |d| d.as_secs());
    let reply = err("rate_limit_exceeded", "").header("RateLimit-Limit", "3600");
    let reply = reply.header("RateLimit-Remaining", "0");
    reply.header("RateLimit-Reset", (now + 1).to_string())
}

/// A token of the project; a Read token may only GET.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let token = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| err("unauthorized", ""))?;
    c.principal = Some(i.to_string());
    match !st.opts.tokens[i].dns_edit && c.method != "GET" {
        true => Err(err("token_readonly", "")),
        false => Ok(()),
    }
}

/// The `value`s of a list of records.
fn values(records: &Value) -> Vec<String> {
    let all = records.as_array().into_iter().flatten();
    all.filter_map(|r| Some(r["value"].as_str()?.into()))
        .collect()
}

impl State {
    fn token(&self, c: &Call) -> &FakeToken {
        let i = c.principal.as_deref().and_then(|p| p.parse().ok());
        &self.opts.tokens[i.unwrap_or(0)]
    }

    fn is_secondary(&self, name: &str) -> bool {
        let secondary = &self.opts.secondary;
        secondary.iter().any(|s| s.eq_ignore_ascii_case(name))
    }

    /// The route's zone (by id or name) if in the token's project; `write`: primary mode only.
    fn zone(&self, c: &Call, write: bool) -> Result<FakeZone, Reply> {
        let p = c.param("zone").trim_end_matches('.').to_ascii_lowercase();
        let zone = self.store.zones.iter().find(|z| z.id == p || z.name == p);
        let zone = zone.filter(|z| self.token(c).may(&z.name)).cloned();
        let zone = zone.ok_or_else(|| err("not_found", &format!("zone with ID or name '{p}'")))?;
        match write && self.is_secondary(&zone.name) {
            true => Err(err("incorrect_zone_mode", "")),
            false => Ok(zone),
        }
    }

    fn zone_json(&self, z: &FakeZone) -> Value {
        let mode = ["primary", "secondary"][usize::from(self.is_secondary(&z.name))];
        let (count, id) = (self.store.in_zone(&z.name).len(), z.id.parse::<u64>().ok());
        let fields = json!({ "id": id, "name": z.name, "mode": mode, "record_count": count });
        fixture(include_str!("zone.json"), fields)
    }

    /// The RRsets of a zone, in first-seen order.
    fn rrsets(&self, z: &FakeZone) -> Vec<Value> {
        let mut sets: Vec<Value> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            let rel = r.name.strip_suffix(&format!(".{}", z.name)).unwrap_or("@");
            let value = json!({ "value": r.content, "comment": r.comment.unwrap_or_default() });
            let same = |s: &&mut Value| s["name"] == rel && s["type"] == r.rtype.as_str();
            match sets
                .iter_mut()
                .find(same)
                .and_then(|s| s["records"].as_array_mut())
            {
                Some(records) => records.push(value),
                None => sets.push(json!({ "id": format!("{rel}/{}", r.rtype), "name": rel,
                    "type": r.rtype, "ttl": r.ttl, "labels": {}, "protection": { "change": false },
                    "records": [value], "zone": z.id.parse::<u64>().ok() })),
            }
        }
        sets
    }

    /// One RRset.
    fn rrset(&self, z: &FakeZone, name: &str, rtype: &str) -> Option<Value> {
        let mut sets = self.rrsets(z).into_iter();
        sets.find(|r| r["name"] == name && r["type"] == rtype)
    }

    /// Apply every action whose time has come, in order (mirrored to DNS first).
    fn settle(&mut self) {
        let (delay, failing) = (self.opts.action_delay, self.opts.failing_value.clone());
        let failing = failing.map(|v| format!("\"{v}\""));
        for (started, doc, change) in self.actions.iter_mut() {
            if doc["status"] != "running" || started.elapsed() < delay {
                continue;
            }
            let fails = failing.as_ref().is_some_and(|f| change.4.contains(f));
            let z = self.store.zone_named(&change.0).cloned().filter(|_| !fails);
            let applied = z.map(|z| self.store.edit(|s| apply(s, &z, change)));
            let done = matches!(applied, Some(Ok(())));
            let error = json!({ "code": "action_failed", "message": "Action failed" });
            doc["status"] = json!(if done { "success" } else { "error" });
            doc["error"] = if done { Value::Null } else { error };
            (doc["progress"], doc["finished"]) = (json!(100), json!(now_rfc3339()));
        }
    }
}

/// Apply `change` to `s` (an existing RRset keeps its TTL).
fn apply(s: &mut RecordStore, z: &FakeZone, change: &Change) -> Result<(), KitError> {
    let (zone, name, rtype, ttl, add, remove) = change;
    let fqdn = absolute_name(&name.replace('@', zone), zone).unwrap_or_default();
    let twin = |r: &FakeRecord| r.name == fqdn && &r.rtype == rtype;
    let ttl = s.records.iter().find(|r| twin(r)).map_or(*ttl, |r| r.ttl);
    s.records
        .retain(|r| !twin(r) || !remove.contains(&r.content));
    for v in add {
        s.records.push(FakeRecord::new(z, rtype, &fqdn, v, ttl)?);
    }
    Ok(())
}

/// One page of `items` under `key`, with Hetzner's `meta.pagination`.
fn page(items: Vec<Value>, c: &Call, key: &str) -> Answer {
    let (page, per_page) = c.page(25, 1, 50);
    let total = items.len() as u32;
    let last = total.div_ceil(per_page).max(1);
    let next = (page < last).then_some(page + 1);
    let previous = (page > 1).then(|| page - 1);
    let pagination = json!({ "page": page, "per_page": per_page, "previous_page": previous,
        "next_page": next, "last_page": last, "total_entries": total });
    ok(json!({ key: paginate(&items, page, per_page), "meta": { "pagination": pagination } }))
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let (token, mode) = (st.token(c).clone(), c.query("mode"));
    let name = c.query("name").map(dns_name);
    let named = |z: &&FakeZone| token.may(&z.name) && name.as_ref().is_none_or(|n| &z.name == n);
    let zones = st.store.zones.iter().filter(named).map(|z| st.zone_json(z));
    let zones = zones.filter(|z| mode.is_none_or(|m| z["mode"] == m));
    page(zones.collect(), c, "zones")
}

fn list_rrsets(st: &mut State, c: &Call) -> Answer {
    st.settle();
    let zone = st.zone(c, false)?;
    let types: Vec<&(String, String)> = c.query.iter().filter(|(k, _)| k == "type").collect();
    let name = c.query("name");
    let typed = |r: &Value| types.is_empty() || types.iter().any(|t| r["type"] == t.1.as_str());
    let wanted = |r: &Value| name.is_none_or(|n| r["name"] == n) && typed(r);
    let sets = st.rrsets(&zone).into_iter().filter(wanted);
    page(sets.collect(), c, "rrsets")
}

fn get_rrset(st: &mut State, c: &Call) -> Answer {
    st.settle();
    let zone = st.zone(c, false)?;
    let (name, rtype) = (c.param("name"), c.param("type"));
    let found = st
        .rrset(&zone, name, rtype)
        .ok_or_else(|| err("not_found", "rrset"))?;
    ok(json!({ "rrset": found }))
}

/// `add_records`, `remove_records`, `set_records` (the last replaces every value of the RRset:
/// the trap a DNS-01 client must avoid).
fn rrset_action(st: &mut State, c: &Call) -> Answer {
    st.settle();
    let (verb, zone) = (c.param("verb"), st.zone(c, true)?);
    let (name, rtype) = (c.param("name"), c.param("type"));
    let relative = name == name.to_ascii_lowercase() && !name.ends_with('.');
    let name_ok = name == "@" || (relative && absolute_name(name, "x").is_some());
    if !name_ok || name.ends_with(&zone.name) || !TYPES.contains(&format!(" {rtype} ")) {
        let what = format!("'name' or 'type': {name}/{rtype}");
        return Err(err("invalid_input", &what));
    }
    let body = c.json().ok_or_else(|| err("json_error", ""))?;
    let current = st.rrset(&zone, name, rtype).map(|r| values(&r["records"]));
    let (values, current) = (values(&body["records"]), current.unwrap_or_default());
    let bad = |m: &str| Err(err("invalid_input", &format!("'records': {m}")));
    let (add, remove, command) = match verb {
        "add_records" if values.iter().any(|v| current.contains(v)) => return bad("duplicate"),
        "remove_records" if values.iter().any(|v| !current.contains(v)) => return bad("unknown"),
        "add_records" => (values, Vec::new(), "add_rrset_records"),
        "remove_records" => (Vec::new(), values, "remove_rrset_records"),
        "set_records" => (values, current, "set_rrset_records"),
        _ => return Err(err("not_found", "action")),
    };
    let quoted = |v: &String| v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
    let short = |v: &String| v.split("\" \"").all(|p| p.len() <= 256);
    let txt_ok = rtype != "TXT" || add.iter().all(|v| quoted(v) && short(v));
    if (add.is_empty() && remove.is_empty()) || !txt_ok {
        return bad("TXT values are one or more quoted strings of up to 255 characters");
    }
    let ttl = body["ttl"].as_u64().unwrap_or(3600);
    if !(60..=2_147_483_647).contains(&ttl) {
        return Err(err("invalid_input", "'ttl': must be at least 60"));
    }
    let (name, rtype) = (name.to_string(), rtype.to_string());
    let change = (zone.name, name, rtype, ttl as u32, add, remove);
    let zone_id = zone.id.parse::<u64>().ok();
    let doc = json!({ "id": st.actions.len() + 1, "command": command, "status": "running",
        "progress": 0, "started": now_rfc3339(), "finished": null,
        "resources": [{ "id": zone_id, "type": "zone" }], "error": null });
    st.actions.push((Instant::now(), doc.clone(), change));
    Ok(Reply::json(201, &json!({ "action": doc })))
}

fn get_action(st: &mut State, c: &Call) -> Answer {
    st.settle();
    let id = c.param("id");
    let token = st.token(c);
    let mine = |a: &&FakeAction| a.1["id"].as_u64() == id.parse().ok() && token.may(&a.2.0);
    let found = st.actions.iter().find(mine);
    let found = found.map(|a| json!({ "action": a.1 }));
    ok(found.ok_or_else(|| err("not_found", &format!("action with ID '{id}'")))?)
}
