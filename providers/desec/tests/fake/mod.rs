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
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::dns_name;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};

/// The token every fake accepts unless told otherwise (28 characters, as deSEC's are).
pub const DEFAULT_TOKEN: &str = "wildcertFakeDesecToken000001";
/// Items in one list page.
pub const PAGE: usize = 500;

/// Options for [`start`].
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
    /// Domains and records.
    pub store: RecordStore,
    /// The options, changeable while running (tokens, `minimum_ttl`).
    pub opts: DesecFakeOptions,
    /// RRset writes per domain, for `write_limit`.
    hits: HashMap<String, Vec<Instant>>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake (its `url()` goes into `base_url` / `DESEC_API_URL`); stopped on drop.
pub type DesecFake = FakeServer<State>;

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

/// Start on a free loopback port.
pub fn start(opts: DesecFakeOptions) -> Result<DesecFake, KitError> {
    let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
    let all = "/domains/{domain}/rrsets";
    let one = format!("{all}/{{subname}}/{{type}}");
    let router = Router::new("desec").prefix("/api/v1").auth(authenticate);
    let mut router = router
        .faults_after_auth()
        .route("GET /domains", list_domains);
    router = router.route("GET /domains/{domain}", get_domain);
    router = router.route(&format!("GET {all}"), list_rrsets);
    router = router.route(&format!("GET {one}"), get_rrset);
    for route in ["POST", "PUT", "PATCH"].map(|m| format!("{m} {all}")) {
        router = router.route(&route, write);
    }
    for route in ["PUT", "PATCH", "DELETE"].map(|m| format!("{m} {one}")) {
        router = router.route(&route, write);
    }
    let router = router.fallback(|c, known| match known {
        true => detail(405, &format!("Method \"{}\" not allowed.", c.method)),
        false => detail(404, "Not found."),
    });
    let hits = HashMap::new();
    router.start(State { store, opts, hits })
}

/// `Token …` of a known token; a token whose policy may not write may only read.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let given = c.header("authorization");
    let given = given.and_then(|h| h.strip_prefix("Token "));
    let mut tokens = st.opts.tokens.iter();
    let i = tokens.position(|t| Some(t.token.as_str()) == given);
    let Some(i) = i else {
        let none = "Authentication credentials were not provided.";
        let msg = given.map_or(none, |_| "Invalid token.");
        return Err(detail(401, msg).header("WWW-Authenticate", "Token"));
    };
    c.principal = Some(i.to_string());
    let may = st.opts.tokens[i].dns_edit || c.method == "GET";
    may.then_some(())
        .ok_or_else(|| detail(403, "Insufficient token permissions."))
}

/// The subname of a URL segment: `@` and `...` are the apex, `x...` is `x`.
fn subname(p: &str) -> String {
    let p = p.strip_suffix("...").unwrap_or(p);
    if p == "@" { "" } else { p }.to_string()
}

impl State {
    /// The route's domain, if the token sees it.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let name = c.param("domain");
        let found = self.visible(c).into_iter().find(|z| z.name == name);
        found.ok_or_else(|| detail(404, "Not found."))
    }

    fn visible(&self, c: &Call) -> Vec<FakeZone> {
        let p = c.principal.as_deref();
        let i: usize = p.and_then(|p| p.parse().ok()).unwrap_or(0);
        let token = &self.opts.tokens[i];
        let seen = self.store.zones.iter().filter(|z| token.may(&z.name));
        seen.cloned().collect()
    }

    fn minimum_ttl(&self, zone: &str) -> u32 {
        let set = self.opts.minimum_ttl.iter().find(|(z, _)| z == zone);
        set.map_or(3600, |s| s.1)
    }

    fn domain_json(&self, z: &FakeZone) -> Value {
        let (t, min) = ("2026-01-01T00:00:00.000000Z", self.minimum_ttl(&z.name));
        json!({ "created": t, "minimum_ttl": min, "name": z.name, "published": t, "touched": t })
    }

    /// The RRsets of a domain, newest first.
    fn rrsets(&self, z: &FakeZone) -> Vec<Value> {
        let mut sets: Vec<Value> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            let sub = r.name.strip_suffix(&z.name).unwrap_or_default();
            let sub = sub.trim_end_matches('.');
            let same = |s: &&mut Value| s["subname"] == sub && s["type"] == r.rtype.as_str();
            let found = sets.iter_mut().find(same);
            match found.and_then(|s| s["records"].as_array_mut()) {
                Some(records) => records.push(json!(r.content)),
                None => sets.push(json!({ "created": r.created, "domain": z.name,
                    "subname": sub, "name": format!("{}.", r.name), "type": r.rtype,
                    "records": [r.content], "ttl": r.ttl, "touched": r.created })),
            }
        }
        sets.reverse();
        sets
    }

    fn rrset(&self, z: &FakeZone, sub: &str, rtype: &str) -> Option<Value> {
        let same = |r: &Value| r["subname"] == sub && r["type"] == rtype;
        self.rrsets(z).into_iter().find(same)
    }

    /// Count one RRset write of `zone`, or the 429 of a full window.
    fn throttle(&mut self, zone: &str) -> Result<(), Reply> {
        let Some((n, window)) = self.opts.write_limit else {
            return Ok(());
        };
        let w = self.hits.entry(zone.into()).or_default();
        w.retain(|t| t.elapsed() < window);
        if w.len() >= n {
            let left = window.saturating_sub(w[0].elapsed()).as_secs_f64();
            return Err(throttled(left.ceil().max(1.0) as u64));
        }
        w.push(Instant::now());
        Ok(())
    }
}

/// `items` as one page (500 a page, `cursor` = the offset, opaque to clients), with deSEC's
/// `Link` header; 400 when more than a page would match and no `cursor` was given.
fn paged(items: Vec<Value>, c: &Call) -> Answer {
    let link = |at: usize, rel: &str| {
        let (host, path) = (c.header("host").unwrap_or("localhost"), c.raw_path());
        let q = c.raw_query().split('&');
        let q = q.filter(|p| !p.is_empty() && !p.starts_with("cursor="));
        let q: String = q.map(|p| format!("{p}&")).collect();
        let at = Some(at)
            .filter(|a| *a > 0)
            .map_or(String::new(), |a| a.to_string());
        format!("<http://{host}{path}?{q}cursor={at}>; rel=\"{rel}\"")
    };
    let n = items.len();
    let at: usize = match c.query("cursor") {
        _ if n <= PAGE => return Ok(Reply::json(200, &Value::Array(items))),
        None => {
            let msg = format!(
                "Pagination required. You can query up to {PAGE} items at a time \
                ({n} total). Please use the `first` page link (see Link header)."
            );
            return Err(detail(400, &msg).header("Link", link(0, "first")));
        }
        Some("") => 0,
        Some(cur) => cur.parse().map_err(|_| detail(404, "Invalid cursor"))?,
    };
    let mut links = vec![link(0, "first")];
    links.extend((at > 0).then(|| link(at.saturating_sub(PAGE), "prev")));
    links.extend((at + PAGE < n).then(|| link(at + PAGE, "next")));
    let page: Vec<Value> = items.into_iter().skip(at).take(PAGE).collect();
    Ok(Reply::json(200, &Value::Array(page)).header("Link", links.join(", ")))
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let zones = st.visible(c);
    let Some(q) = c.query("owns_qname").map(dns_name) else {
        return paged(zones.iter().rev().map(|z| st.domain_json(z)).collect(), c);
    };
    let within = |z: &&FakeZone| q == z.name || q.ends_with(&format!(".{}", z.name));
    let best = zones.iter().filter(within).max_by_key(|z| z.name.len());
    let found: Vec<Value> = best.map(|z| st.domain_json(z)).into_iter().collect();
    Ok(Reply::json(200, &Value::Array(found)))
}

fn get_domain(st: &mut State, c: &Call) -> Answer {
    let mut d = st.domain_json(&st.zone(c)?);
    d["keys"] = json!([]);
    Ok(Reply::json(200, &d))
}

fn list_rrsets(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let (t, sub) = (c.query("type"), c.query("subname"));
    let typed = |r: &Value| t.is_none_or(|t| r["type"] == t);
    let wanted = |r: &Value| typed(r) && sub.is_none_or(|s| r["subname"] == s);
    paged(st.rrsets(&z).into_iter().filter(wanted).collect(), c)
}

fn get_rrset(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let found = st.rrset(&z, &subname(c.param("subname")), c.param("type"));
    let found = found.ok_or_else(|| detail(404, "Not found."))?;
    Ok(Reply::json(200, &found))
}

/// One RRset of a write request, checked: subname, type, TTL, records (TXT canonical: quoted).
type Item = (String, String, Option<u32>, Option<Vec<String>>);

/// An RRset of a write request (`method` PATCH: fields may be left out), or its field errors
/// (`{"ttl": ["…"]}`).
fn check(st: &State, z: &FakeZone, item: &Value, method: &str) -> Result<Item, Value> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    let sub = item["subname"].as_str().unwrap_or_default().to_string();
    let rtype = item["type"].as_str().unwrap_or_default().to_string();
    let txt = |r: String| (r.starts_with('"') || rtype != "TXT").then_some(r.clone());
    let quote = |r: String| txt(r.clone()).unwrap_or_else(|| format!("\"{r}\""));
    let records = serde_json::from_value::<Option<Vec<String>>>(item["records"].clone());
    let records = records.map(|r| r.map(|r| r.into_iter().map(quote).collect::<Vec<_>>()));
    let bad = records.is_err();
    let bad_records = bad.then(|| ("records", "Expected a list of items.".into()));
    let records = records.unwrap_or_default();
    let exists = st.rrset(z, &sub, &rtype).is_some();
    let creates = !exists && records.as_ref().is_some_and(|r| !r.is_empty());
    let ttl = item["ttl"].as_u64();
    let ttl = ttl.or_else(|| item["ttl"].as_str()?.parse().ok());
    let min = u64::from(st.minimum_ttl(&z.name));
    let (at_least, required) = ("Ensure this value is greater than or equal to", REQUIRED);
    match ttl {
        Some(t) if t < min => errs.push(("ttl", format!("{at_least} {min}."))),
        Some(t) if t > 86_400 => errs.push(("ttl", format!("{AT_MOST} 86400."))),
        None if method != "PATCH" || creates => errs.push(("ttl", required.into())),
        _ => {}
    }
    errs.extend(bad_records);
    errs.extend(rtype.is_empty().then(|| ("type", required.into())));
    let no_records = records.is_none() && method != "PATCH";
    errs.extend(no_records.then(|| ("records", required.into())));
    errs.extend((method == "POST" && exists).then(|| ("non_field_errors", EXISTS.into())));
    let errs = errs.into_iter().map(|(k, m)| (k.into(), json!([m])));
    let errs: Map<String, Value> = errs.collect();
    match errs.is_empty() {
        true => Ok((sub, rtype, ttl.map(|t| t as u32), records)),
        false => Err(Value::Object(errs)),
    }
}

const REQUIRED: &str = "This field is required.";
const AT_MOST: &str = "Ensure this value is less than or equal to";
const INVALID: &str = "Invalid data. Expected a dictionary, but got list.";
const EXISTS: &str = "Another RRset with the same subdomain and type exists for this domain.";

/// Every write: one RRset (by URL, or one object) or a bulk list, all or nothing.
fn write(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let (url_sub, url_type) = (subname(c.param("subname")), c.param("type"));
    let body = c.json().unwrap_or_default();
    let bulk = body.is_array() && url_type.is_empty();
    let mut items = match body {
        Value::Array(a) if bulk => a,
        _ if c.method == "DELETE" => vec![json!({ "records": [] })],
        v @ Value::Object(_) => vec![v],
        _ => return Err(detail(400, INVALID)),
    };
    if !url_type.is_empty() {
        if c.method != "DELETE" && st.rrset(&z, &url_sub, url_type).is_none() {
            return Err(detail(404, "Not found."));
        }
        (items[0]["subname"], items[0]["type"]) = (json!(url_sub), json!(url_type));
    }
    st.throttle(&z.name)?;
    let m = c.method.as_str();
    let method = if m == "DELETE" { "PATCH" } else { m };
    let checked = items.iter().map(|i| check(st, &z, i, method));
    let checked: Vec<Result<Item, Value>> = checked.collect();
    if checked.iter().any(Result::is_err) {
        let errors = checked.into_iter().map(|r| r.err().unwrap_or(json!({})));
        let mut body = Value::Array(errors.collect());
        if !bulk {
            body = body[0].take();
        }
        return Err(Reply::json(400, &body));
    }
    let ok: Vec<Item> = checked.into_iter().flatten().collect();
    let store = &mut st.store;
    store.edit(|s| ok.iter().try_for_each(|i| apply(s, &z, i)))?;
    let out = ok.iter().filter_map(|(s, t, ..)| st.rrset(&z, s, t));
    let out: Vec<Value> = out.collect();
    let status = if c.method == "POST" { 201 } else { 200 };
    Ok(match (bulk, out.first()) {
        (true, _) => Reply::json(status, &Value::Array(out)),
        (false, Some(one)) => Reply::json(status, one),
        (false, None) => Reply::text(204, "application/json", ""),
    })
}

/// Replace the RRset (keeping its TTL and creation time unless given), or delete it.
fn apply(s: &mut RecordStore, z: &FakeZone, item: &Item) -> Result<(), KitError> {
    let (sub, rtype, ttl, records) = item;
    let fqdn = absolute_name(if sub.is_empty() { "@" } else { sub }, &z.name).unwrap_or_default();
    let mine = |r: &FakeRecord| r.name == fqdn && &r.rtype == rtype;
    let old: Vec<FakeRecord> = s.records.iter().filter(|r| mine(r)).cloned().collect();
    let kept = || old.iter().map(|r| r.content.clone()).collect();
    let mut new: Vec<String> = records.clone().unwrap_or_else(kept);
    new.sort();
    new.dedup();
    let ttl = ttl.or(old.first().map(|r| r.ttl)).unwrap_or(3600);
    s.records.retain(|r| !mine(r));
    for content in new {
        let rec = FakeRecord::new(z, rtype, &fqdn, &content, ttl)?;
        let first = old.first().unwrap_or(&rec);
        let created = first.created.clone();
        s.records.push(FakeRecord { created, ..rec });
    }
    Ok(())
}
