//! A stateful fake of the Infomaniak API v1 DNS endpoints (developer.infomaniak.com; no
//! Infomaniak server can run here) on the kit's router, under `/1`:
//! `GET /product?service_name=domain[&customer_name=…]` (the account's domains with numeric
//! ids), `GET|POST /domain/{id}/dns/record` (every record; create one), `GET|PUT|DELETE
//! /domain/{id}/dns/record/{record}`. Records: numeric `id`, `type`, `source` (relative, `"."`
//! the apex) and `source_idn` (full name), `target` / `target_idn` (TXT unquoted), `ttl`.
//! Answers are `{"result": "success", "data": …}` or `{"result": "error", "error": {"code",
//! "description"}}`. Bearer tokens are the kit's `FakeToken` (`zones` = the account's domains,
//! `dns_edit` false = a token without the `domain` scope → 403); unknown → 401
//! `not_authorized`; another account's domain or record → 404 `object_not_found`; 429
//! `too_many_requests` with `Retry-After`. Proven by dns-lexicon's `infomaniak` provider.
//!
//! With [`InfomaniakFakeOptions::backed_by`] every TXT change lands in the BIND topology's
//! primary before it is answered, so Pebble validates end to end.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, dns_name};

/// The token every fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "infomaniakFakeToken0000000000000000000000000001";

/// Options for [`InfomaniakFake::start`].
#[derive(Debug, Clone)]
pub struct InfomaniakFakeOptions {
    /// The domains (of every account).
    pub zones: Vec<String>,
    /// Accepted tokens.
    pub tokens: Vec<FakeToken>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for InfomaniakFakeOptions {
    fn default() -> Self {
        InfomaniakFakeOptions {
            zones: vec!["example.test".into()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            dns: None,
        }
    }
}

impl InfomaniakFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = InfomaniakFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: InfomaniakFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct InfomaniakFake(FakeServer<State>);

impl Deref for InfomaniakFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Infomaniak's error document.
pub fn err(status: u16, code: &str, description: &str) -> Reply {
    let body = json!({ "result": "error", "error": { "code": code, "description": description } });
    Reply::json(status, &body).tag(code)
}

fn ok(data: Value) -> Answer {
    Ok(Reply::json(
        200,
        &json!({ "result": "success", "data": data }),
    ))
}

fn not_found() -> Reply {
    err(404, "object_not_found", "Object not found")
}

/// Infomaniak's 429, asking to come back in `secs`.
pub fn rate_limited(secs: u64) -> Reply {
    let reply = err(429, "too_many_requests", "Too many requests");
    reply.header("Retry-After", secs.max(1).to_string())
}

/// The numeric id shown for a store id.
fn num(id: &str) -> u64 {
    u64::from_str_radix(id.get(..10).unwrap_or("1"), 16).unwrap_or(1)
}

impl InfomaniakFake {
    /// Start on a free loopback port.
    pub fn start(opts: InfomaniakFakeOptions) -> Result<InfomaniakFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let records = "/domain/{id}/dns/record";
        let server = Router::new("infomaniak")
            .prefix("/1")
            .auth(authenticate)
            .route("GET /product", list_products)
            .route(&format!("GET {records}"), |st, c| {
                let z = st.zone(c)?;
                ok(st.store.in_zone(&z.name).iter().map(record_json).collect())
            })
            .route(&format!("POST {records}"), create)
            .route(&format!("GET {records}/{{record}}"), |st, c| {
                ok(record_json(&st.record(c)?))
            })
            .route(&format!("PUT {records}/{{record}}"), update)
            .route(&format!("DELETE {records}/{{record}}"), |st, c| {
                let r = st.record(c)?;
                st.store.change(Some(&r.id), None)?;
                ok(json!(true))
            })
            .fallback(|_, _| not_found());
        Ok(InfomaniakFake(server.start(State { store, opts })?))
    }

    /// `http://127.0.0.1:PORT` (requests go to `/1/…`): `base_url` / `INFOMANIAK_ENDPOINT`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/1").to_string()
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |left| rate_limited(left.as_secs()));
    }
}

/// A known bearer token (its index), else 401; one without the `domain` scope: 403.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let token = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| err(401, "not_authorized", "Authorization required"))?;
    c.principal = Some(i.to_string());
    match st.opts.tokens[i].dns_edit {
        true => Ok(()),
        false => Err(err(403, "forbidden", "The token lacks the scope domain")),
    }
}

impl State {
    /// Whether the caller's account holds `zone`.
    fn may(&self, c: &Call, zone: &str) -> bool {
        let i = c.principal.as_deref().and_then(|p| p.parse::<usize>().ok());
        let t = i.and_then(|i| self.opts.tokens.get(i));
        t.is_some_and(|t| t.may(zone))
    }

    /// The route's domain (by numeric id) if the caller's account holds it.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let z = self
            .store
            .zones
            .iter()
            .find(|z| num(&z.id).to_string() == c.param("id"));
        let z = z.filter(|z| self.may(c, &z.name)).cloned();
        z.ok_or_else(not_found)
    }

    /// The route's record.
    fn record(&self, c: &Call) -> Result<FakeRecord, Reply> {
        let z = self.zone(c)?;
        let mut all = self.store.in_zone(&z.name).into_iter();
        let found = all.find(|r| num(&r.id).to_string() == c.param("record"));
        found.ok_or_else(not_found)
    }
}

/// A record as Infomaniak shows it.
fn record_json(r: &FakeRecord) -> Value {
    let rel = r.name.strip_suffix(&r.zone_name).unwrap_or(&r.name);
    let rel = Some(rel.trim_end_matches('.'))
        .filter(|s| !s.is_empty())
        .unwrap_or(".");
    json!({ "id": num(&r.id), "type": r.rtype, "source": rel, "source_idn": r.name,
        "target": r.content, "target_idn": r.content, "ttl": r.ttl, "priority": null,
        "delegated_zone": null, "updated_at": 1_796_000_000 })
}

fn list_products(st: &mut State, c: &Call) -> Answer {
    if c.query("service_name").is_some_and(|s| s != "domain") {
        return ok(json!([]));
    }
    let wanted = c.query("customer_name").map(dns_name);
    let mine = st.store.zones.iter().filter(|z| st.may(c, &z.name));
    let mine = mine.filter(|z| wanted.as_ref().is_none_or(|w| w == &z.name));
    let items = mine.map(|z| {
        json!({ "id": num(&z.id), "account_id": 1234, "service_id": 6,
        "service_name": "domain", "customer_name": z.name, "internal_name": null })
    });
    ok(items.collect())
}

/// The record a body describes (`type`, `source`, `target`, `ttl`), checked.
fn from_body(z: &FakeZone, body: &Value, old: Option<&FakeRecord>) -> Result<FakeRecord, Reply> {
    let bad = |field: &str| {
        let e = json!({ "code": "validation_failed", "description": "Validation failed",
            "errors": [{ "code": "attribute_invalid", "description": format!("The {field} attribute is invalid"),
            "context": { "attribute": field } }] });
        Reply::json(422, &json!({ "result": "error", "error": e })).tag("validation_failed")
    };
    let text = |k: &str, was: Option<String>| body[k].as_str().map(str::to_string).or(was);
    let rtype = text("type", old.map(|o| o.rtype.clone())).ok_or_else(|| bad("type"))?;
    let source = text("source", old.map(|o| o.name.clone())).ok_or_else(|| bad("source"))?;
    let source = dns_name(&source);
    let full = match source.as_str() {
        "" | "." | "@" => z.name.clone(),
        s if s == z.name || s.ends_with(&format!(".{}", z.name)) => s.to_string(),
        s => format!("{s}.{}", z.name),
    };
    let target = text("target", old.map(|o| o.content.clone()));
    let target = target
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("target"))?;
    let ttl = body
        .get("ttl")
        .map_or(Some(old.map_or(3600, |o| o.ttl) as u64), Value::as_u64);
    let ttl = ttl
        .filter(|t| (60..=86_400).contains(t))
        .ok_or_else(|| bad("ttl"))?;
    let mut r = FakeRecord::new(z, &rtype.to_ascii_uppercase(), &full, &target, ttl as u32)
        .map_err(|_| bad("source"))?;
    if let Some(o) = old {
        r.id = o.id.clone();
    }
    Ok(r)
}

fn create(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = from_body(&z, &c.json().unwrap_or_default(), None)?;
    if st.store.identical(&r) {
        return Err(err(
            409,
            "record_already_exists",
            "A record with this content already exists",
        ));
    }
    let id = num(&r.id);
    st.store.change(None, Some(r))?;
    ok(json!(id.to_string()))
}

fn update(st: &mut State, c: &Call) -> Answer {
    let old = st.record(c)?;
    let z = st.zone(c)?;
    let r = from_body(&z, &c.json().unwrap_or_default(), Some(&old))?;
    st.store.change(Some(&old.id), Some(r))?;
    ok(json!(true))
}
