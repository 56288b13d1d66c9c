//! A stateful fake of the deSEC DNS API (desec.readthedocs.io: "Domain Management", "Retrieving
//! and Creating DNS Records", "Rate Limits"; no deSEC server can run here) on the kit's router,
//! under `/api/v1`: `GET /domains/` (`owns_qname`), `GET /domains/{name}/`, `GET …/rrsets/`
//! (`type`, `subname`), `POST`/`PUT`/`PATCH …/rrsets/` (one RRset or a bulk list, atomic),
//! `GET`/`PUT`/`PATCH`/`DELETE …/rrsets/{subname}/{type}/` (`@` or `...` for the apex).
//! Lists hold up to 500 items; above that a request without `cursor` is refused with 400 and
//! pages are linked by `Link: <…?cursor=…>; rel="next"`. Auth is `Authorization: Token …`
//! (401 `Invalid token.`; 403 `Insufficient token permissions.` for a token whose policy may
//! not write); errors are `{"detail": …}`, or field errors (`{"ttl": ["…"]}`, a list with one
//! object per RRset for bulk requests). RRsets are written whole (`records: []` deletes one);
//! TTLs below the domain's `minimum_ttl` (3,600 unless told) are refused; TXT content is
//! stored canonical (quoted). RRset writes may be throttled per domain (`write_limit`: 429
//! `Request was throttled. Expected available in N seconds.` with `Retry-After`). Proven by
//! dns-lexicon's desec provider (tests/sdk/prove.py).
//!
//! With [`DesecFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary
//! (the kit's `ZoneMirror`), so Pebble validates end to end.

use std::collections::HashMap;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};
use wildcert_testkit::{dns_name, now_rfc3339};

/// The token every fake accepts unless told otherwise (28 characters, as deSEC's are).
pub const DEFAULT_TOKEN: &str = "wildcertFakeDesecToken000001";
/// Items in one list page.
pub const PAGE: usize = 500;
/// The record types the fake takes (deSEC takes many more).
const TYPES: &str = " A AAAA CAA CNAME HTTPS MX NS SRV SVCB TLSA TXT ";

/// Options for [`DesecFake::start`].
#[derive(Debug, Clone)]
pub struct DesecFakeOptions {
    /// Domains of the account.
    pub zones: Vec<String>,
    /// `minimum_ttl` of the domains named here; others have 3,600.
    pub minimum_ttl: Vec<(String, u32)>,
    /// Accepted tokens: `zones` = the domains it may see (`None`: all), `dns_edit` false = a
    /// policy without write permission.
    pub tokens: Vec<FakeToken>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
    /// At most this many RRset writes per domain within the window (deSEC: 2/s, 15/min, …).
    pub write_limit: Option<(usize, Duration)>,
}

impl Default for DesecFakeOptions {
    fn default() -> Self {
        DesecFakeOptions {
            zones: vec!["example.test".into()],
            minimum_ttl: Vec::new(),
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            dns: None,
            write_limit: None,
        }
    }
}

impl DesecFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = DesecFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: DesecFakeOptions,
    writes: HashMap<String, Vec<Instant>>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct DesecFake(FakeServer<State>);

impl Deref for DesecFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// `{"detail": …}` with `status`.
pub fn detail(status: u16, msg: &str) -> Reply {
    Reply::json(status, &json!({ "detail": msg })).tag(msg)
}

/// deSEC's 429 (DRF's throttle message and `Retry-After`).
pub fn throttled(secs: u64) -> Reply {
    let unit = if secs == 1 { "second" } else { "seconds" };
    let msg = format!("Request was throttled. Expected available in {secs} {unit}.");
    detail(429, &msg).header("Retry-After", secs.to_string())
}

impl DesecFake {
    /// Start on a free loopback port.
    pub fn start(opts: DesecFakeOptions) -> Result<DesecFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let one = "/domains/{domain}/rrsets/{subname}/{type}";
        let mut router = Router::new("desec")
            .prefix("/api/v1")
            .auth(authenticate)
            .faults_after_auth()
            .route("GET /domains", list_domains)
            .route("GET /domains/{domain}", |st, c| {
                let z = st.zone(c)?;
                Ok::<_, Reply>(Reply::json(200, &st.domain_json(&z, true)))
            })
            .route("GET /domains/{domain}/rrsets", list_rrsets)
            .route(&format!("GET {one}"), |st, c| {
                let z = st.zone(c)?;
                let (sub, t) = (subname(c.param("subname")), c.param("type"));
                let found = st
                    .rrsets(&z)
                    .into_iter()
                    .find(|r| r["subname"] == sub && r["type"] == t);
                Ok::<_, Reply>(Reply::json(
                    200,
                    &found.ok_or_else(|| detail(404, "Not found."))?,
                ))
            });
        for m in ["POST", "PUT", "PATCH"] {
            router = router.route(&format!("{m} /domains/{{domain}}/rrsets"), write);
        }
        for m in ["PUT", "PATCH", "DELETE"] {
            router = router.route(&format!("{m} {one}"), write);
        }
        let router = router.fallback(|c, known| match known {
            true => detail(405, &format!("Method \"{}\" not allowed.", c.method)),
            false => detail(404, "Not found."),
        });
        let state = State {
            store,
            opts,
            writes: HashMap::new(),
        };
        Ok(DesecFake(router.start(state)?))
    }

    /// `http://127.0.0.1:PORT/api/v1`: what goes into `base_url` / `DESEC_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Accept another token.
    pub fn add_token(&self, token: FakeToken) {
        self.with(|st| st.opts.tokens.push(token));
    }

    /// Change a domain's `minimum_ttl` (as deSEC support may).
    pub fn set_minimum_ttl(&self, zone: &str, ttl: u32) {
        self.with(|st| st.opts.minimum_ttl.insert(0, (dns_name(zone), ttl)));
    }

    /// TTLs of the RRset `name`/`rtype` (one per record).
    pub fn ttls(&self, name: &str, rtype: &str) -> Vec<u32> {
        let recs = self.with(|st| st.store.records.clone());
        let n = dns_name(name);
        recs.iter()
            .filter(|r| r.name == n && r.rtype == rtype)
            .map(|r| r.ttl)
            .collect()
    }
}

/// `Token …` of a known token; a token whose policy may not write may only read.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let Some(h) = c.header("authorization") else {
        let r = detail(401, "Authentication credentials were not provided.");
        return Err(r.header("WWW-Authenticate", "Token"));
    };
    let token = h.strip_prefix("Token ").unwrap_or_default().trim();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| detail(401, "Invalid token.").header("WWW-Authenticate", "Token"))?;
    c.principal = Some(i.to_string());
    match !st.opts.tokens[i].dns_edit && c.method != "GET" {
        true => Err(detail(403, "Insufficient token permissions.")),
        false => Ok(()),
    }
}

/// The subname of a URL segment: `@` and `...` are the apex, `x...` is `x`.
fn subname(p: &str) -> String {
    let p = p.strip_suffix("...").unwrap_or(p);
    if p == "@" {
        String::new()
    } else {
        p.to_string()
    }
}

impl State {
    fn token(&self, c: &Call) -> &FakeToken {
        let i = c.principal.as_deref().and_then(|p| p.parse().ok());
        &self.opts.tokens[i.unwrap_or(0)]
    }

    fn visible(&self, c: &Call) -> Vec<FakeZone> {
        let token = self.token(c);
        self.store
            .zones
            .iter()
            .filter(|z| token.may(&z.name))
            .cloned()
            .collect()
    }

    /// The route's domain, if the token sees it.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let name = c.param("domain").to_string();
        let found = self.visible(c).into_iter().find(|z| z.name == name);
        found.ok_or_else(|| detail(404, "Not found."))
    }

    fn minimum_ttl(&self, zone: &str) -> u32 {
        let set = self.opts.minimum_ttl.iter().find(|(z, _)| z == zone);
        set.map_or(3600, |s| s.1)
    }

    fn domain_json(&self, z: &FakeZone, keys: bool) -> Value {
        let t = "2026-01-01T00:00:00.000000Z";
        let mut d = json!({ "created": t, "minimum_ttl": self.minimum_ttl(&z.name), "name": z.name,
            "published": t, "touched": t });
        if keys {
            d["keys"] = json!([]);
        }
        d
    }

    /// The RRsets of a domain, newest first.
    fn rrsets(&self, z: &FakeZone) -> Vec<Value> {
        let mut sets: Vec<Value> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            let sub = r
                .name
                .strip_suffix(&z.name)
                .unwrap_or_default()
                .trim_end_matches('.');
            let same = |s: &&mut Value| s["subname"] == sub && s["type"] == r.rtype.as_str();
            match sets
                .iter_mut()
                .find(same)
                .and_then(|s| s["records"].as_array_mut())
            {
                Some(records) => records.push(json!(r.content)),
                None => sets.push(
                    json!({ "created": r.created, "domain": z.name, "subname": sub,
                    "name": format!("{}.", r.name), "type": r.rtype, "records": [r.content],
                    "ttl": r.ttl, "touched": r.created }),
                ),
            }
        }
        sets.reverse();
        sets
    }

    /// Count one RRset write of `zone`, or the 429 of a full window.
    fn throttle(&mut self, zone: &str) -> Result<(), Reply> {
        let Some((n, window)) = self.opts.write_limit else {
            return Ok(());
        };
        let w = self.writes.entry(zone.into()).or_default();
        w.retain(|t| t.elapsed() < window);
        if w.len() >= n {
            let left = window.saturating_sub(w[0].elapsed());
            return Err(throttled(left.as_secs_f64().ceil().max(1.0) as u64));
        }
        w.push(Instant::now());
        Ok(())
    }
}

/// `items` as one page (500 a page, `cursor` = the offset), with deSEC's `Link` header; 400
/// when more than a page would match and no `cursor` was given.
fn paged(items: Vec<Value>, c: &Call) -> Answer {
    let link = |cursor: &str| {
        let host = c.header("host").unwrap_or("127.0.0.1");
        let mut q: Vec<String> = c
            .query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        q.push(format!("cursor={cursor}"));
        format!("<http://{host}{}?{}>", c.raw_path(), q.join("&"))
    };
    if items.len() <= PAGE {
        return Ok(Reply::json(200, &Value::Array(items)));
    }
    let Some(cursor) = c.query("cursor") else {
        let msg = format!(
            "Pagination required. You can query up to {PAGE} items at a time ({} total). \
            Please use the `first` page link (see Link header).",
            items.len()
        );
        return Err(detail(400, &msg).header("Link", format!("{}; rel=\"first\"", link(""))));
    };
    let at = match cursor {
        "" => 0,
        c => c
            .strip_prefix('p')
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| detail(404, "Invalid cursor"))?,
    };
    let mut links = vec![format!("{}; rel=\"first\"", link(""))];
    if at > 0 {
        links.push(format!(
            "{}; rel=\"prev\"",
            link(&format!("p{:x}", at.saturating_sub(PAGE)))
        ));
    }
    if at + PAGE < items.len() {
        links.push(format!(
            "{}; rel=\"next\"",
            link(&format!("p{:x}", at + PAGE))
        ));
    }
    let page: Vec<Value> = items.into_iter().skip(at).take(PAGE).collect();
    Ok(Reply::json(200, &Value::Array(page)).header("Link", links.join(", ")))
}

fn encode(v: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    v.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let zones = st.visible(c);
    if let Some(q) = c.query("owns_qname") {
        let q = dns_name(q);
        let within = |z: &&FakeZone| q == z.name || q.ends_with(&format!(".{}", z.name));
        let best = zones.iter().filter(within).max_by_key(|z| z.name.len());
        let found: Vec<Value> = best.map(|z| st.domain_json(z, false)).into_iter().collect();
        return Ok(Reply::json(200, &Value::Array(found)));
    }
    paged(
        zones
            .iter()
            .rev()
            .map(|z| st.domain_json(z, false))
            .collect(),
        c,
    )
}

fn list_rrsets(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let (t, sub) = (c.query("type"), c.query("subname"));
    let wanted =
        |r: &Value| t.is_none_or(|t| r["type"] == t) && sub.is_none_or(|s| r["subname"] == s);
    paged(st.rrsets(&z).into_iter().filter(wanted).collect(), c)
}

/// One RRset of a write request, checked: (subname, type, ttl, records), or its field errors.
type Checked = (String, String, Option<u32>, Option<Vec<String>>);

fn check(
    st: &State,
    z: &FakeZone,
    item: &Value,
    method: &str,
    seen: &[Checked],
) -> Result<Checked, Value> {
    let mut e = serde_json::Map::new();
    let required = || json!(["This field is required."]);
    let sub = item["subname"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let rtype = item["type"].as_str().unwrap_or_default().to_string();
    if rtype.is_empty() {
        e.insert("type".into(), required());
    } else if !TYPES.contains(&format!(" {rtype} ")) {
        e.insert(
            "type".into(),
            json!([format!("The {rtype} RR set type is currently unsupported.")]),
        );
    }
    if !sub.is_empty() && absolute_name(&sub, &z.name).is_none() {
        e.insert("subname".into(), json!(["Enter a valid subname."]));
    }
    let records = match &item["records"] {
        Value::Null => None,
        Value::Array(a) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(|r| {
                    if rtype == "TXT" && !r.starts_with('"') {
                        format!("\"{r}\"")
                    } else {
                        r.into()
                    }
                })
                .collect::<Vec<_>>(),
        ),
        _ => {
            e.insert("records".into(), json!(["Expected a list of items."]));
            None
        }
    };
    let exists = st
        .rrsets(z)
        .iter()
        .any(|r| r["subname"] == sub.as_str() && r["type"] == rtype.as_str());
    let ttl = item["ttl"]
        .as_u64()
        .or_else(|| item["ttl"].as_str().and_then(|s| s.parse().ok()));
    let min = st.minimum_ttl(&z.name);
    match ttl {
        Some(t) if t < u64::from(min) => {
            e.insert(
                "ttl".into(),
                json!([format!(
                    "Ensure this value is greater than or equal to {min}."
                )]),
            );
        }
        Some(t) if t > 86_400 => {
            e.insert(
                "ttl".into(),
                json!(["Ensure this value is less than or equal to 86400."]),
            );
        }
        None if method != "PATCH"
            || (!exists && records.as_ref().is_some_and(|r| !r.is_empty())) =>
        {
            e.insert("ttl".into(), required());
        }
        _ => {}
    }
    if records.is_none() && method != "PATCH" {
        e.insert("records".into(), required());
    }
    let conflict = if method == "POST" && exists {
        Some("Another RRset with the same subdomain and type exists for this domain.".to_string())
    } else {
        let at = seen.iter().position(|s| s.0 == sub && s.1 == rtype);
        at.map(|i| format!("Same subname and type as in position(s) {i}, but must be unique."))
    };
    if let Some(msg) = conflict {
        e.insert("non_field_errors".into(), json!([msg]));
    }
    match e.is_empty() {
        true => Ok((sub, rtype, ttl.map(|t| t as u32), records)),
        false => Err(Value::Object(e)),
    }
}

/// Every write: one RRset (by URL, or a single object) or a bulk list, all or nothing.
fn write(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let body = c.json().unwrap_or(Value::Null);
    let by_url = !c.param("type").is_empty();
    let (bulk, mut items) = match body {
        Value::Array(a) => (true, a),
        _ if c.method == "DELETE" => (false, vec![json!({ "records": [] })]),
        Value::Object(_) => (false, vec![body]),
        _ => return Err(detail(400, "JSON parse error - Expecting value")),
    };
    if by_url && bulk {
        return Err(detail(
            400,
            "Invalid data. Expected a dictionary, but got list.",
        ));
    }
    if by_url {
        items[0]["subname"] = json!(subname(c.param("subname")));
        items[0]["type"] = json!(c.param("type"));
        let exists = st
            .rrsets(&z)
            .iter()
            .any(|r| r["subname"] == items[0]["subname"] && r["type"] == items[0]["type"]);
        if !exists && c.method != "DELETE" {
            return Err(detail(404, "Not found."));
        }
    }
    st.throttle(&z.name)?;
    let method = if c.method == "DELETE" {
        "PATCH"
    } else {
        c.method.as_str()
    };
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for item in &items {
        match check(st, &z, item, method, &ok) {
            Ok(checked) => (ok.push(checked), errors.push(json!({}))),
            Err(e) => (ok.push(Default::default()), errors.push(e)),
        };
    }
    if errors
        .iter()
        .any(|e| e.as_object().is_some_and(|o| !o.is_empty()))
    {
        let body = if bulk {
            Value::Array(errors)
        } else {
            errors.swap_remove(0)
        };
        return Err(Reply::json(400, &body));
    }
    st.store
        .edit(|s| ok.iter().try_for_each(|item| apply(s, &z, item)))?;
    let sets = st.rrsets(&z);
    let find = |(sub, t, ..): &Checked| {
        let same = |r: &&Value| r["subname"] == sub.as_str() && r["type"] == t.as_str();
        sets.iter().find(same).cloned()
    };
    let out: Vec<Value> = ok.iter().filter_map(find).collect();
    let status = if c.method == "POST" { 201 } else { 200 };
    Ok(match (bulk, out.first()) {
        (true, _) => Reply::json(status, &Value::Array(out)),
        (false, Some(one)) => Reply::json(status, one),
        (false, None) => Reply::text(204, "application/json", ""),
    })
}

/// Replace the RRset (keeping its TTL and creation time unless given), or delete it.
fn apply(
    s: &mut RecordStore,
    z: &FakeZone,
    (sub, rtype, ttl, records): &Checked,
) -> Result<(), KitError> {
    let fqdn = absolute_name(if sub.is_empty() { "@" } else { sub }, &z.name).unwrap_or_default();
    let old: Vec<FakeRecord> = s
        .records
        .iter()
        .filter(|r| r.name == fqdn && &r.rtype == rtype)
        .cloned()
        .collect();
    let kept = || old.iter().map(|r| r.content.clone()).collect();
    let records: Vec<String> = records.clone().unwrap_or_else(kept);
    let ttl = ttl.or(old.first().map(|r| r.ttl)).unwrap_or(3600);
    let created = old.first().map_or_else(now_rfc3339, |r| r.created.clone());
    s.records.retain(|r| !(r.name == fqdn && &r.rtype == rtype));
    let mut uniq: Vec<String> = Vec::new();
    for r in records.into_iter().filter(|r| !r.is_empty()) {
        if !uniq.contains(&r) {
            uniq.push(r);
        }
    }
    for content in uniq {
        let rec = FakeRecord::new(z, rtype, &fqdn, &content, ttl)?;
        s.records.push(FakeRecord {
            created: created.clone(),
            ..rec
        });
    }
    Ok(())
}
