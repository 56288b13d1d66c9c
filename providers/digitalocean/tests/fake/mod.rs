//! A stateful fake of the DigitalOcean API v2 endpoints a DNS-01 client uses, on the kit's
//! router, after docs.digitalocean.com/reference/api (no DigitalOcean server can run here):
//! `GET /v2/domains`, `GET /v2/domains/{domain}`, `GET|POST /v2/domains/{domain}/records`
//! (filters `type` and `name`, the fully qualified name), `GET|PUT|PATCH|DELETE
//! /v2/domains/{domain}/records/{id}` with integer ids; lists paged as DigitalOcean pages them
//! (`page`, `per_page` 20 by default and at most 200, `links.pages.{first,prev,next,last}`,
//! `meta.total`); bearer tokens with the custom scopes `domain:read` / `domain:update` (the
//! kit's `FakeToken`: `zone_read` / `dns_edit`) and zone limits; errors as
//! `{"id": …, "message": …, "request_id": …}`: 401 `unauthorized`, 403 `forbidden`,
//! 404 `not_found`, 422 `unprocessable_entity` (a TTL below 30, a bad type, name or data),
//! 429 `too_many_requests` with `Retry-After` and the `ratelimit-*` headers. Record names are
//! relative (`@` is the apex) unless they end with a dot. With [`DoFakeOptions::backed_by`]
//! every TXT change lands in the BIND topology's primary before the API answers.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, paginate,
};

/// The token every fake accepts unless options say otherwise (all scopes, all domains).
pub const DEFAULT_TOKEN: &str =
    "dop_v1_0000000000000000000000000000000000000000000000000000000000000001";
/// The record types DigitalOcean takes.
const TYPES: &[&str] = &["A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"];

/// Options for [`DoFake::start`].
#[derive(Debug, Clone)]
pub struct DoFakeOptions {
    /// Domain names.
    pub zones: Vec<String>,
    /// Accepted tokens.
    pub tokens: Vec<FakeToken>,
    /// The largest `per_page` served (200, as DigitalOcean; smaller to force more pages).
    pub max_per_page: u32,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for DoFakeOptions {
    fn default() -> Self {
        DoFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            max_per_page: 200,
            dns: None,
        }
    }
}

impl DoFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        DoFakeOptions {
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
    opts: DoFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct DoFake(FakeServer<State>);

impl Deref for DoFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// DigitalOcean's error body.
fn err(status: u16, id: &str, message: &str) -> Reply {
    let body = json!({ "id": id, "message": message,
        "request_id": "4d9d8375-3c56-4925-a3e7-eb137fed17e9" });
    Reply::json(status, &body).tag(id)
}

fn not_found() -> Reply {
    err(
        404,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn invalid(message: &str) -> Reply {
    err(422, "unprocessable_entity", message)
}

/// The integer id DigitalOcean shows for a record (from the store's hex id).
pub fn record_id(r: &FakeRecord) -> u64 {
    u64::from_str_radix(r.id.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

impl DoFake {
    /// Start on a free loopback port.
    pub fn start(opts: DoFakeOptions) -> Result<DoFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let records = "/domains/{domain}/records";
        let record = "/domains/{domain}/records/{id}";
        let server = Router::new("digitalocean")
            .prefix("/v2")
            .auth(authenticate)
            .route("GET /domains", list_domains)
            .route("GET /domains/{domain}", get_domain)
            .route(&format!("GET {records}"), list_records)
            .route(&format!("POST {records}"), |st, c| write(st, c, None))
            .route(&format!("GET {record}"), get_record)
            .route(&format!("PUT {record}"), |st, c| write(st, c, Some(false)))
            .route(&format!("PATCH {record}"), |st, c| write(st, c, Some(true)))
            .route(&format!("DELETE {record}"), delete_record)
            .fallback(|_, _| not_found())
            .start(State { store, opts })?;
        Ok(DoFake(server))
    }

    /// `http://127.0.0.1:PORT`: what goes into `base_url` / `DO_API_URL`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/v2").to_owned()
    }

    /// Answer the next `n` requests with 429, `Retry-After: 1` and the rate-limit headers.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, too_many(1));
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Create a record as the control panel would (data as stored); its integer id.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, data: &str, ttl: u32) -> u64 {
        let id = self.seed_record(zone, rtype, name, data, ttl);
        let id = id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
        u64::from_str_radix(id.get(..12).unwrap_or("0"), 16).unwrap_or(0)
    }
}

fn too_many(secs: u64) -> Reply {
    err(429, "too_many_requests", "API Rate limit exceeded.")
        .header("Retry-After", secs.to_string())
        .header("ratelimit-limit", "5000")
        .header("ratelimit-remaining", "0")
        .header("ratelimit-reset", "1767225600")
}

/// The auth hook: the index of the bearer token, or 401.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let token = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| err(401, "unauthorized", "Unable to authenticate you"))?;
    c.principal = Some(i.to_string());
    Ok(())
}

impl State {
    fn token(&self, c: &Call) -> FakeToken {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        i.and_then(|i| self.opts.tokens.get(i).cloned())
            .unwrap_or_else(|| FakeToken::full(""))
    }

    /// The route's domain if the token sees it (else 404) and has the scope (else 403):
    /// `domain:update` when `edit`, `domain:read` otherwise.
    fn zone(&self, c: &Call, edit: bool) -> Result<FakeZone, Reply> {
        let t = self.token(c);
        let z = self.store.zone_named(&dns_name(c.param("domain")));
        let z = z.filter(|z| t.may(&z.name)).ok_or_else(not_found)?;
        match if edit { t.dns_edit } else { t.zone_read } {
            true => Ok(z.clone()),
            false => Err(err(
                403,
                "forbidden",
                "You are not authorized to perform this operation",
            )),
        }
    }

    /// One page of `items` under `key`, with `links.pages` and `meta.total`.
    fn page(&self, c: &Call, key: &str, items: &[Value]) -> Answer {
        let (page, per) = c.page(20, 1, self.opts.max_per_page.min(200));
        let last = (items.len() as u32).div_ceil(per).max(1);
        let host = c.header("host").unwrap_or("api.digitalocean.com");
        let mut q: Vec<(String, String)> = c.query.clone();
        q.retain(|(k, _)| k != "page" && k != "per_page");
        let extra: String = q.iter().map(|(k, v)| format!("&{k}={v}")).collect();
        let at = |p: u32| {
            format!(
                "http://{host}{}?page={p}&per_page={per}{extra}",
                c.raw_path()
            )
        };
        let mut pages = serde_json::Map::new();
        if page > 1 {
            pages.insert("first".into(), at(1).into());
            pages.insert("prev".into(), at(page - 1).into());
        }
        if page < last {
            pages.insert("next".into(), at(page + 1).into());
            pages.insert("last".into(), at(last).into());
        }
        let links = if pages.is_empty() {
            json!({})
        } else {
            json!({ "pages": pages })
        };
        let body = json!({ key: paginate(items, page, per), "links": links,
            "meta": { "total": items.len() } });
        Ok(Reply::json(200, &body))
    }
}

fn domain_json(z: &FakeZone) -> Value {
    json!({ "name": z.name, "ttl": 1800,
        "zone_file": format!("$ORIGIN {}.\n$TTL 1800\n", z.name) })
}

/// A record as DigitalOcean shows it: name relative to the domain (`@` the apex).
fn record_json(r: &FakeRecord) -> Value {
    let name = match r.name.strip_suffix(&r.zone_name) {
        Some("") => "@".to_owned(),
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => r.name.clone(),
    };
    json!({ "id": record_id(r), "type": r.rtype, "name": name, "data": r.content,
        "priority": null, "port": null, "ttl": r.ttl, "weight": null, "flags": null, "tag": null })
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let t = st.token(c);
    if !t.zone_read {
        return Err(err(
            403,
            "forbidden",
            "You are not authorized to perform this operation",
        ));
    }
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(|z| t.may(&z.name)).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = zones.iter().map(|z| domain_json(z)).collect();
    st.page(c, "domains", &items)
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    let rtype = c.query("type").map(str::to_ascii_uppercase);
    let name = c.query("name").map(dns_name);
    let wanted = |r: &&FakeRecord| {
        rtype.as_ref().is_none_or(|t| &r.rtype == t) && name.as_ref().is_none_or(|n| &r.name == n)
    };
    let all = st.store.in_zone(&z.name);
    let items: Vec<Value> = all.iter().filter(wanted).map(record_json).collect();
    st.page(c, "domain_records", &items)
}

fn get_domain(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    Ok(Reply::json(200, &json!({ "domain": domain_json(&z) })))
}

fn get_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    let r = find(&st.store, &z, c)?;
    Ok(Reply::json(
        200,
        &json!({ "domain_record": record_json(&r) }),
    ))
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, true)?;
    let r = find(&st.store, &z, c)?;
    st.store.change(Some(&r.id), None)?;
    Ok(Reply::text(204, "application/json", ""))
}

fn find(store: &RecordStore, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let id = c.param("id");
    let found = store
        .in_zone(&z.name)
        .into_iter()
        .find(|r| record_id(r).to_string() == id);
    found.ok_or_else(not_found)
}

/// Create (`patch` None), replace (`Some(false)`, PUT) or update (`Some(true)`, PATCH) a
/// record, checked as DigitalOcean checks it.
fn write(st: &mut State, c: &Call, patch: Option<bool>) -> Answer {
    let z = st.zone(c, true)?;
    let old = patch.map(|_| find(&st.store, &z, c)).transpose()?;
    let body = c
        .json()
        .filter(Value::is_object)
        .ok_or_else(|| invalid("Invalid JSON body."))?;
    let base = old
        .as_ref()
        .filter(|_| patch == Some(true))
        .map(record_json);
    let field = |k: &str| {
        body.get(k)
            .or(base.as_ref().and_then(|b| b.get(k)))
            .cloned()
    };
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_owned));
    let rtype = text("type").unwrap_or_default().to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(invalid("Type is not a valid record type."));
    }
    let name = text("name").unwrap_or_default();
    let full = match name.as_str() {
        "@" => Some(z.name.clone()),
        n if n.ends_with('.') => {
            Some(dns_name(n)).filter(|n| n == &z.name || n.ends_with(&format!(".{}", z.name)))
        }
        "" => None,
        n => Some(format!("{}.{}", dns_name(n), z.name)),
    };
    let full = full.filter(|f| f.split('.').all(|l| (1..=63).contains(&l.len())));
    let full = full.ok_or_else(|| invalid("Name is invalid."))?;
    let data = text("data").filter(|d| !d.is_empty() && d.len() <= 512);
    let data = data.ok_or_else(|| invalid("Data needs to be between 1 and 512 characters."))?;
    let ttl = field("ttl").map_or(Some(1800), |t| t.as_u64()).unwrap_or(0);
    if !(30..=2_147_483_647).contains(&ttl) {
        return Err(invalid("Ttl must be greater than or equal to 30."));
    }
    let mut rec = FakeRecord::new(&z, &rtype, &full, &data, ttl as u32)?;
    if let Some(o) = &old {
        (rec.id, rec.created) = (o.id.clone(), o.created.clone());
    }
    st.store
        .change(old.as_ref().map(|o| o.id.as_str()), Some(rec.clone()))?;
    let status = if patch.is_none() { 201 } else { 200 };
    Ok(Reply::json(
        status,
        &json!({ "domain_record": record_json(&rec) }),
    ))
}
