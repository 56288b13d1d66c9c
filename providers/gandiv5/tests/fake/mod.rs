//! A stateful fake of Gandi's LiveDNS API v5 (api.gandi.net/docs/livedns: "Domains",
//! "Records"; no Gandi server can run here) on the kit's router, under `/v5/livedns`:
//! `GET /domains` and `GET /domains/{fqdn}/records` (paged: `page` from 1, `per_page` 100 by
//! default, the `Total-Count` header), `GET /domains/{fqdn}`, and `GET`, `POST` (create; 409
//! when the RRset exists), `PUT` (replace the whole RRset) and `DELETE` (204) on
//! `/domains/{fqdn}/records/{rrset_name}/{rrset_type}`, with `{"rrset_values": […],
//! "rrset_ttl": N}` (TTL 300..2592000, 10800 by default; names relative, `@` the apex).
//! TXT values are stored and returned quoted, whichever form was sent. Errors are
//! `{"code", "message", "object", "cause"}`. Credentials: a personal access token
//! (`Authorization: Bearer …`; unknown → 401, one without record permission → 403 on writes,
//! one of another organization sees none of the domains → 404) or an API key (`Apikey …`:
//! a key still in `api_keys` works, any other is refused with 403 — Gandi's answer to retired
//! keys, the host's trap). 429 carries `Retry-After`. Proven by dns-lexicon's `gandi`
//! provider (tests/sdk/prove.py).
//!
//! With [`GandiFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary
//! (the kit's `ZoneMirror`) before it is answered, so Pebble validates end to end.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};
use wildcert_testkit::{paginate, txt_rdata};

/// The personal access token every fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "pat_wildcert-fake-gandi-personal-access-token-0001";
/// The record types LiveDNS takes.
const TYPES: &str = " A AAAA ALIAS CAA CDS CNAME DNAME DS KEY LOC MX NAPTR NS OPENPGPKEY PTR RP SPF SRV SSHFP TLSA TXT WKS ";

/// Options for [`GandiFake::start`].
#[derive(Debug, Clone)]
pub struct GandiFakeOptions {
    /// The LiveDNS domains of the account.
    pub zones: Vec<String>,
    /// Accepted personal access tokens: `zones` = the domains of its organization (`None`:
    /// all), `dns_edit` false = no "Manage domain name technical configurations".
    pub tokens: Vec<FakeToken>,
    /// Deprecated API keys still accepted (any other `Apikey` is refused with 403).
    pub api_keys: Vec<String>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for GandiFakeOptions {
    fn default() -> Self {
        GandiFakeOptions {
            zones: vec!["example.test".into()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            api_keys: Vec::new(),
            dns: None,
        }
    }
}

impl GandiFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = GandiFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: GandiFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct GandiFake(FakeServer<State>);

impl Deref for GandiFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// Gandi's error document for `status`.
pub fn err(status: u16, message: &str) -> Reply {
    let (object, cause) = match status {
        400 => ("HTTPBadRequest", "Bad Request"),
        401 => ("HTTPUnauthorized", "Unauthorized"),
        403 => ("HTTPForbidden", "Forbidden"),
        404 => ("HTTPNotFound", "Not Found"),
        409 => ("HTTPConflict", "Conflict"),
        429 => ("HTTPTooManyRequests", "Too Many Requests"),
        _ => ("HTTPInternalServerError", "Internal Server Error"),
    };
    let body = json!({ "code": status, "message": message, "object": object, "cause": cause });
    Reply::json(status, &body).tag(cause)
}

fn not_found() -> Reply {
    err(404, "The resource could not be found.")
}

/// Gandi's 429, asking to come back in `secs`.
pub fn rate_limited(secs: u64) -> Reply {
    let reply = err(429, "Too many requests, please retry later.");
    reply.header("Retry-After", secs.max(1).to_string())
}

impl GandiFake {
    /// Start on a free loopback port.
    pub fn start(opts: GandiFakeOptions) -> Result<GandiFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let rrset = "/domains/{fqdn}/records/{name}/{type}";
        let server = Router::new("gandiv5")
            .prefix("/v5/livedns")
            .auth(authenticate)
            .route("GET /domains", list_domains)
            .route("GET /domains/{fqdn}", |st, c| {
                let z = st.zone(c)?;
                let mut doc = domain_json(c, &z.name);
                doc["automatic_snapshots"] = json!(false);
                Ok::<_, Reply>(Reply::json(200, &doc))
            })
            .route("GET /domains/{fqdn}/records", list_records)
            .route(&format!("GET {rrset}"), get_rrset)
            .route(&format!("PUT {rrset}"), write_rrset)
            .route(&format!("POST {rrset}"), write_rrset)
            .route(&format!("DELETE {rrset}"), delete_rrset)
            .fallback(|_, known| match known {
                true => err(405, "The method is not allowed for the requested URL."),
                false => not_found(),
            });
        let state = State { store, opts };
        Ok(GandiFake(server.start(state)?))
    }

    /// `http://127.0.0.1:PORT/v5/livedns`: what goes into `base_url` / `GANDIV5_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Accept another personal access token.
    pub fn add_token(&self, token: FakeToken) {
        self.with(|st| st.opts.tokens.push(token));
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |left| rate_limited(left.as_secs()));
    }

    /// The TTL of the RRset `name`/`rtype`, if it exists.
    pub fn ttl_of(&self, name: &str, rtype: &str) -> Option<u32> {
        let all = self.with(|st| st.store.records.clone());
        let r = all.iter().find(|r| r.name == name && r.rtype == rtype);
        r.map(|r| r.ttl)
    }
}

/// A token of the organization (principal: its index) or a still accepted API key (`key`);
/// a token without record permission may only read.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let auth = c.header("authorization").unwrap_or_default().to_string();
    if let Some(key) = auth.strip_prefix("Apikey ") {
        c.principal = Some("key".into());
        return match st.opts.api_keys.iter().any(|k| k == key.trim()) {
            true => Ok(()),
            false => Err(err(403, "Access was denied to this resource.")),
        };
    }
    let token = c.bearer().unwrap_or_default();
    let i = st.opts.tokens.iter().position(|t| t.token == token);
    let i = i.ok_or_else(|| {
        err(401, "The server could not verify that you authorized to access the document you requested. \
             Either you supplied the wrong credentials (e.g., a bad password), or your browser doesn't \
             understand how to supply the credentials required.")
    })?;
    c.principal = Some(i.to_string());
    match !st.opts.tokens[i].dns_edit && c.method != "GET" {
        true => Err(err(403, "Access was denied to this resource.")),
        false => Ok(()),
    }
}

impl State {
    /// Whether the caller sees domain `zone` (an API key sees every domain of the account).
    fn may(&self, c: &Call, zone: &str) -> bool {
        let i = c.principal.as_deref().and_then(|p| p.parse::<usize>().ok());
        i.is_none_or(|i| self.opts.tokens[i].may(zone))
    }

    /// The route's domain, if the caller sees it.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let zone = self.store.zone_named(c.param("fqdn")).cloned();
        zone.filter(|z| self.may(c, &z.name)).ok_or_else(not_found)
    }

    /// The RRsets of a zone, in first-seen order.
    fn rrsets(&self, c: &Call, z: &FakeZone) -> Vec<Value> {
        let mut sets: Vec<Value> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            let rel = r.name.strip_suffix(&format!(".{}", z.name)).unwrap_or("@");
            let same =
                |s: &&mut Value| s["rrset_name"] == rel && s["rrset_type"] == r.rtype.as_str();
            match sets
                .iter_mut()
                .find(same)
                .and_then(|s| s["rrset_values"].as_array_mut())
            {
                Some(values) => values.push(json!(r.content)),
                None => {
                    let href = format!(
                        "{}/records/{rel}/{}",
                        domain_json(c, &z.name)["domain_href"]
                            .as_str()
                            .unwrap_or(""),
                        r.rtype
                    );
                    sets.push(
                        json!({ "rrset_name": rel, "rrset_type": r.rtype, "rrset_ttl": r.ttl,
                        "rrset_values": [r.content], "rrset_href": href }),
                    )
                }
            }
        }
        sets
    }

    /// The RRset the route names, if any; and its absolute name.
    fn rrset(&self, c: &Call, z: &FakeZone) -> Result<(Option<Value>, String), Reply> {
        let (name, rtype) = (c.param("name"), c.param("type"));
        let full = if name == "@" {
            z.name.clone()
        } else {
            format!("{name}.{}", z.name)
        };
        let full = absolute_name(&full, &z.name).filter(|_| TYPES.contains(&format!(" {rtype} ")));
        let full =
            full.ok_or_else(|| err(400, &format!("Invalid record name or type: {name}/{rtype}")))?;
        let mut found = self.rrsets(c, z).into_iter();
        let found = found.find(|s| s["rrset_name"] == name && s["rrset_type"] == rtype);
        Ok((found, full))
    }
}

/// The document of a domain (`fqdn` and its links, on the address the caller used).
fn domain_json(c: &Call, fqdn: &str) -> Value {
    let base = format!(
        "http://{}/v5/livedns/domains/{fqdn}",
        c.header("host").unwrap_or("localhost")
    );
    json!({ "fqdn": fqdn, "domain_href": base, "domain_records_href": format!("{base}/records"),
        "domain_keys_href": format!("{base}/keys") })
}

/// One page of `items`, the total in `Total-Count`.
fn page(items: Vec<Value>, c: &Call) -> Answer {
    let (page, per_page) = c.page(100, 1, 1000);
    let body = Value::Array(paginate(&items, page, per_page));
    Ok(Reply::json(200, &body).header("Total-Count", items.len().to_string()))
}

fn list_domains(st: &mut State, c: &Call) -> Answer {
    let seen = st.store.zones.iter().filter(|z| st.may(c, &z.name));
    page(seen.map(|z| domain_json(c, &z.name)).collect(), c)
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let zone = st.zone(c)?;
    page(st.rrsets(c, &zone), c)
}

fn get_rrset(st: &mut State, c: &Call) -> Answer {
    let zone = st.zone(c)?;
    let found = st.rrset(c, &zone)?.0;
    Ok(Reply::json(200, &found.ok_or_else(not_found)?))
}

/// `PUT` replaces every value of the RRset (the trap a DNS-01 client must avoid: read and
/// merge first); `POST` creates it and refuses an existing one.
fn write_rrset(st: &mut State, c: &Call) -> Answer {
    let zone = st.zone(c)?;
    let (existing, full) = st.rrset(c, &zone)?;
    if c.method == "POST" && existing.is_some() {
        return Err(err(
            409,
            "A DNS record already exists with the same name and type.",
        ));
    }
    let body = c
        .json()
        .ok_or_else(|| err(400, "The request body is not valid JSON."))?;
    let values = body["rrset_values"].as_array().cloned().unwrap_or_default();
    let values: Option<Vec<String>> = values
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect();
    let values = values.filter(|v| !v.is_empty() && v.iter().all(|s| !s.trim().is_empty()));
    let values =
        values.ok_or_else(|| err(400, "rrset_values: a non-empty list of strings is required"))?;
    let ttl = body.get("rrset_ttl").map_or(Some(10800), Value::as_u64);
    let ttl = ttl.filter(|t| (300..=2_592_000).contains(t));
    let ttl = ttl.ok_or_else(|| err(400, "rrset_ttl: must be between 300 and 2592000"))? as u32;
    let rtype = c.param("type").to_string();
    let twin = |r: &FakeRecord| r.name == full && r.rtype == rtype;
    st.store
        .edit(|s| {
            s.records.retain(|r| !twin(r));
            for v in &values {
                let content = if rtype == "TXT" {
                    txt_rdata(v)
                } else {
                    v.clone()
                };
                s.records
                    .push(FakeRecord::new(&zone, &rtype, &full, &content, ttl)?);
            }
            Ok::<_, KitError>(())
        })
        .map_err(|e| err(500, &e.to_string()))?;
    Ok(Reply::json(
        201,
        &json!({ "message": "DNS Record Created" }),
    ))
}

fn delete_rrset(st: &mut State, c: &Call) -> Answer {
    let zone = st.zone(c)?;
    let (existing, full) = st.rrset(c, &zone)?;
    existing.ok_or_else(not_found)?;
    let rtype = c.param("type").to_string();
    st.store
        .edit(|s| {
            s.records.retain(|r| !(r.name == full && r.rtype == rtype));
            Ok::<_, KitError>(())
        })
        .map_err(|e| err(500, &e.to_string()))?;
    Ok(Reply::text(204, "application/json", ""))
}
