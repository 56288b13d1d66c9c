//! A stateful fake of GoDaddy's Domains API v1 (developer.godaddy.com/doc/endpoint/domains; no
//! GoDaddy server can run here) on the kit's router, under `/v1`: `GET /domains` (sorted by
//! name, paged by `limit` and `marker`), `GET /domains/{domain}`, `GET …/records[/{type}[/{name}]]`
//! (`offset`, `limit`), `PATCH …/records` (append; 422 `DUPLICATE_RECORD` for a record that
//! exists), `PUT …/records/{type}` and `PUT …/records/{type}/{name}` (replace every record of
//! the type, or of the type and name; an empty list is ignored, as GoDaddy does) and
//! `DELETE …/records/{type}/{name}` (204; 404 when there is none). Records have no id: `type`,
//! `name` (relative, `@` the apex), `data` (TXT unquoted), `ttl` (600..604800, 3600 when left
//! out; below → 422 `INVALID_BODY` with `fields`). Errors are `{"code", "message"[, "fields"]}`.
//! Credentials: `Authorization: sso-key KEY:SECRET`, the pair as a kit `FakeToken` (`zones` =
//! the account's domains; `dns_edit` false = an account GoDaddy does not open the API to, which
//! gets 403 `ACCESS_DENIED` on every call — the host's trap); malformed → 401
//! `MALFORMED_CREDENTIALS`, unknown → 401 `UNABLE_TO_AUTHENTICATE`; a domain of another account
//! → 404 `UNKNOWN_DOMAIN`. 429 `TOO_MANY_REQUESTS` carries `retryAfterSec` (and `Retry-After`).
//! Proven by dns-lexicon's `godaddy` provider (tests/sdk/prove.py).
//!
//! With [`GoDaddyFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary
//! (the kit's `ZoneMirror`) before it is answered, so Pebble validates end to end.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, dns_name};

/// The API key every fake accepts unless told otherwise.
pub const DEFAULT_KEY: &str = "dKYwXq3Ftx8V_GodaddyFakeKey0001";
/// Its secret.
pub const DEFAULT_SECRET: &str = "GodaddyFakeSecret0001";
/// The record types GoDaddy takes.
const TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT", "CAA"];

/// Options for [`GoDaddyFake::start`].
#[derive(Debug, Clone)]
pub struct GoDaddyFakeOptions {
    /// The domains (of every account).
    pub zones: Vec<String>,
    /// Accepted `KEY:SECRET` pairs (see the module doc).
    pub tokens: Vec<FakeToken>,
    /// The most domains one `GET /domains` returns, whatever `limit` asks.
    pub max_limit: usize,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for GoDaddyFakeOptions {
    fn default() -> Self {
        GoDaddyFakeOptions {
            zones: vec!["example.test".into()],
            tokens: vec![FakeToken::full(&format!("{DEFAULT_KEY}:{DEFAULT_SECRET}"))],
            max_limit: 1000,
            dns: None,
        }
    }
}

impl GoDaddyFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = GoDaddyFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: GoDaddyFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct GoDaddyFake(FakeServer<State>);

impl Deref for GoDaddyFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// GoDaddy's error document.
pub fn err(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({ "code": code, "message": message })).tag(code)
}

/// 422 `INVALID_BODY` naming the field at `path`.
fn invalid(path: &str, message: &str) -> Reply {
    let body = json!({ "code": "INVALID_BODY",
        "message": "Request body doesn't fulfill schema, see details in `fields`",
        "fields": [{ "code": "INVALID_VALUE", "path": path, "message": message }] });
    Reply::json(422, &body).tag("INVALID_BODY")
}

/// GoDaddy's 429, asking to come back in `secs`.
pub fn rate_limited(secs: u64) -> Reply {
    let secs = secs.max(1);
    let body = json!({ "code": "TOO_MANY_REQUESTS",
        "message": "Too many requests received within interval", "retryAfterSec": secs });
    Reply::json(429, &body)
        .header("Retry-After", secs.to_string())
        .tag("TOO_MANY_REQUESTS")
}

impl GoDaddyFake {
    /// Start on a free loopback port.
    pub fn start(opts: GoDaddyFakeOptions) -> Result<GoDaddyFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let records = "/domains/{domain}/records";
        let server = Router::new("godaddy")
            .prefix("/v1")
            .auth(authenticate)
            .route("GET /domains", list_domains)
            .route("GET /domains/{domain}", |st, c| {
                let z = st.zone(c, "NOT_FOUND")?;
                Ok::<_, Reply>(Reply::json(200, &domain_json(&z)))
            })
            .route(&format!("GET {records}"), get_records)
            .route(&format!("GET {records}/{{type}}"), get_records)
            .route(&format!("GET {records}/{{type}}/{{name}}"), get_records)
            .route(&format!("PATCH {records}"), |st, c| write(st, c, false))
            .route(&format!("PUT {records}/{{type}}"), |st, c| {
                write(st, c, true)
            })
            .route(&format!("PUT {records}/{{type}}/{{name}}"), |st, c| {
                write(st, c, true)
            })
            .route(
                &format!("DELETE {records}/{{type}}/{{name}}"),
                delete_records,
            )
            .fallback(|_, known| match known {
                true => err(405, "METHOD_NOT_ALLOWED", "Method not allowed"),
                false => err(404, "NOT_FOUND", "Resource not found"),
            });
        Ok(GoDaddyFake(server.start(State { store, opts })?))
    }

    /// `http://127.0.0.1:PORT` (requests go to `/v1/…`): `base_url` / `GODADDY_API_URL`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/v1").to_string()
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |left| rate_limited(left.as_secs()));
    }
}

const MALFORMED: &str = "Unauthorized : Could not authenticate API key/secret";
const UNABLE: &str = "Unable to authenticate with the credentials provided";
const DENIED: &str = "Authenticated user is not allowed access";
const DUPLICATE: &str = "Another record with the same attributes already exists";
const UNKNOWN: &str = "The given domain is not registered, or does not have a zone file";

/// `sso-key KEY:SECRET`: the pair's index, or 401; an account without API access: 403.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let auth = c.header("authorization").unwrap_or_default();
    let pair = auth.strip_prefix("sso-key ").map(str::trim);
    let Some(pair) = pair.filter(|p| p.contains(':')) else {
        return Err(err(401, "MALFORMED_CREDENTIALS", MALFORMED));
    };
    let i = st.opts.tokens.iter().position(|t| t.token == pair);
    let i = i.ok_or_else(|| err(401, "UNABLE_TO_AUTHENTICATE", UNABLE))?;
    c.principal = Some(i.to_string());
    match st.opts.tokens[i].dns_edit {
        true => Ok(()),
        false => Err(err(403, "ACCESS_DENIED", DENIED)),
    }
}

impl State {
    /// Whether the caller's account holds `zone`.
    fn may(&self, c: &Call, zone: &str) -> bool {
        let i = c.principal.as_deref().and_then(|p| p.parse::<usize>().ok());
        i.and_then(|i| self.opts.tokens.get(i))
            .is_some_and(|t| t.may(zone))
    }

    /// The route's domain if the caller's account holds it; else 404 with `code`.
    fn zone(&self, c: &Call, code: &str) -> Result<FakeZone, Reply> {
        let z = self.store.zone_named(c.param("domain"));
        let z = z.filter(|z| self.may(c, &z.name)).cloned();
        let other = format!("Domain {} not found for shopper", c.param("domain"));
        let message = if code == "UNKNOWN_DOMAIN" {
            UNKNOWN
        } else {
            &other
        };
        z.ok_or_else(|| err(404, code, message))
    }
}

fn domain_json(z: &FakeZone) -> Value {
    let id = u64::from_str_radix(z.id.get(..10).unwrap_or("1"), 16).unwrap_or(1);
    json!({ "domainId": id, "domain": z.name, "status": "ACTIVE", "renewAuto": true,
        "locked": true, "privacy": false, "expires": "2027-12-07T12:00:00.000Z",
        "createdAt": "2020-01-02T03:04:05.000Z" })
}

/// A record as GoDaddy shows it: no id, its name relative (`@` the apex).
fn record_json(r: &FakeRecord) -> Value {
    json!({ "type": r.rtype, "name": relative(&r.name, &r.zone_name), "data": r.content, "ttl": r.ttl })
}

fn relative(name: &str, zone: &str) -> String {
    let rel = name
        .strip_suffix(zone)
        .unwrap_or(name)
        .trim_end_matches('.');
    Some(rel).filter(|r| !r.is_empty()).unwrap_or("@").into()
}

fn absolute(rel: &str, zone: &str) -> Option<String> {
    let full = format!("{}.{zone}", dns_name(rel));
    let full = full.strip_prefix("@.").unwrap_or(&full).to_string();
    let ok = |l: &str| (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_graphic());
    full.split('.').all(ok).then_some(full)
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let marker = dns_name(c.query("marker").unwrap_or(""));
    let limit = c.query("limit").map(str::parse::<usize>).transpose();
    let limit = limit.map_err(|_| err(400, "INVALID_QUERY", "limit must be a number"))?;
    let mut zones: Vec<&FakeZone> = st
        .store
        .zones
        .iter()
        .filter(|z| st.may(c, &z.name))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let after = zones
        .into_iter()
        .filter(|z| marker.is_empty() || z.name > marker);
    let take = limit.unwrap_or(usize::MAX).min(st.opts.max_limit);
    let page: Vec<Value> = after.take(take).map(domain_json).collect();
    Ok(Reply::json(200, &Value::Array(page)))
}

fn get_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, "UNKNOWN_DOMAIN")?;
    let (rtype, name) = (c.param("type").to_ascii_uppercase(), c.param("name"));
    let full = (!name.is_empty())
        .then(|| absolute(name, &z.name))
        .flatten();
    let num = |k: &str| c.query(k).and_then(|v| v.parse::<usize>().ok());
    let all = st.store.in_zone(&z.name).into_iter();
    let all = all.filter(|r| rtype.is_empty() || r.rtype == rtype);
    let all = all.filter(|r| name.is_empty() || Some(&r.name) == full.as_ref());
    let page = all
        .skip(num("offset").unwrap_or(0))
        .take(num("limit").unwrap_or(usize::MAX));
    Ok(Reply::json(
        200,
        &Value::Array(page.map(|r| record_json(&r)).collect()),
    ))
}

/// `PATCH …/records` (append), `PUT …/records/{type}[/{name}]` (replace that set).
fn write(st: &mut State, c: &Call, replace: bool) -> Answer {
    let z = st.zone(c, "UNKNOWN_DOMAIN")?;
    let body = c.json().and_then(|b| b.as_array().cloned());
    let body = body.ok_or_else(|| invalid("records", "must be an array of records"))?;
    let (route_type, route_name) = (c.param("type").to_ascii_uppercase(), c.param("name"));
    let mut new = Vec::new();
    for (i, r) in body.iter().enumerate() {
        let text = |k: &str, fixed: &str| match fixed.is_empty() {
            true => r[k].as_str().unwrap_or("").to_string(),
            false => fixed.to_string(),
        };
        let rtype = text("type", &route_type).to_ascii_uppercase();
        if !TYPES.contains(&rtype.as_str()) {
            return Err(invalid(&format!("records[{i}].type"), "unknown type"));
        }
        let full = absolute(&text("name", route_name), &z.name);
        let full = full.ok_or_else(|| invalid(&format!("records[{i}].name"), "invalid name"))?;
        let data = r["data"].as_str().filter(|d| !d.trim().is_empty());
        let data = data.ok_or_else(|| invalid(&format!("records[{i}].data"), "is required"))?;
        let ttl = r
            .get("ttl")
            .map_or(Some(3600), Value::as_u64)
            .filter(|t| (600..=604_800).contains(t));
        let ttl = ttl.ok_or_else(|| {
            invalid(
                &format!("records[{i}].ttl"),
                "must be between 600 and 604800",
            )
        })?;
        new.push(
            FakeRecord::new(&z, &rtype, &full, data, ttl as u32)
                .map_err(|e| err(500, "INTERNAL", &e.to_string()))?,
        );
    }
    if new.is_empty() {
        return Ok(Reply::text(200, "application/json", ""));
    }
    let gone = |r: &FakeRecord| {
        replace
            && r.zone_name == z.name
            && r.rtype == route_type
            && (route_name.is_empty() || absolute(route_name, &z.name).as_ref() == Some(&r.name))
    };
    st.store.edit(|s| {
        s.records.retain(|r| !gone(r));
        for n in new {
            if s.identical(&n) {
                return Err(err(422, "DUPLICATE_RECORD", DUPLICATE));
            }
            s.records.push(n);
        }
        Ok(())
    })?;
    Ok(Reply::text(200, "application/json", ""))
}

fn delete_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, "UNKNOWN_DOMAIN")?;
    let rtype = c.param("type").to_ascii_uppercase();
    let full = absolute(c.param("name"), &z.name);
    let hit = |r: &FakeRecord| {
        r.zone_name == z.name && r.rtype == rtype && Some(&r.name) == full.as_ref()
    };
    if !st.store.records.iter().any(hit) {
        return Err(err(
            404,
            "NOT_FOUND",
            &format!("No {rtype} records named {} found", c.param("name")),
        ));
    }
    st.store.edit(|s| {
        s.records.retain(|r| !hit(r));
        Ok::<_, Reply>(())
    })?;
    Ok(Reply::text(204, "application/json", ""))
}
