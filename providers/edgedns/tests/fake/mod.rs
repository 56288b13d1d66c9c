//! A stateful fake of Akamai's Edge DNS Zone Management API v2 (techdocs.akamai.com/edge-dns:
//! "Zones", "Record sets", "Use pagination"; no Akamai server can run here) on the kit's
//! router, under `/config-dns/v2`: `GET /zones` and `GET /zones/{zone}/recordsets` (paged:
//! `page` from 1, `pageSize` 25 by default, `showAll`, `metadata.totalElements`),
//! `GET /zones/{zone}`, and `GET`, `POST` (201; 409 when the set exists), `PUT` (200, replaces
//! the whole set; 404 when there is none) and `DELETE` (204) on
//! `/zones/{zone}/names/{name}/types/{type}` with `{"name", "type", "ttl", "rdata": […]}`
//! (names are FQDNs; TXT rdata stored and returned quoted). Errors are problem documents
//! (`type`, `title`, `status`, `detail`, `instance`).
//!
//! Every request must carry an EdgeGrid `EG1-HMAC-SHA256` signature, verified here as Akamai's
//! gateway does: the client token and access token must belong to one API client (else 401),
//! the timestamp be within 30 s (else 400 `Invalid timestamp`), the nonce be new, and the
//! signature over method, scheme, host, path and query, the SHA-256 of a POST body (first
//! 131072 bytes) and the unsigned header match the client secret's (else 401 `The signature
//! does not match`). A READ-ONLY client may only `GET` (403). Host traps: writes made busy
//! with [`EdgeFake::busy_writes`] answer 409 `concurrentZoneModification`; 429 carries
//! `Retry-After`. Proven by edgegrid-python's `EdgeGridAuth` (tests/sdk/prove.py).
//!
//! With [`EdgeFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};
use wildcert_testkit::{now_rfc3339, paginate, txt_rdata};

/// The credentials of the API client every fake accepts unless told otherwise.
pub const CLIENT: (&str, &str, &str) = (
    "akab-fakeclienttoken-0000000000000001",
    "ZmFrZS1jbGllbnQtc2VjcmV0LWZvci13aWxkY2VydA==",
    "akab-fakeaccesstoken-0000000000000001",
);
const PROBLEMS: &str = "https://problems.luna.akamaiapis.net";

/// An API client: its three credentials, READ-WRITE or READ-ONLY, the zones of its contracts.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `client_token`, `client_secret`, `access_token`.
    pub tokens: (String, String, String),
    /// READ-WRITE access to DNS—Zone Record Management (else READ-ONLY).
    pub read_write: bool,
    /// Zones it sees (`None`: all).
    pub zones: Option<Vec<String>>,
}

impl ApiClient {
    /// A READ-WRITE client seeing every zone.
    pub fn full((ct, cs, at): (&str, &str, &str)) -> Self {
        let tokens = (ct.into(), cs.into(), at.into());
        ApiClient {
            tokens,
            read_write: true,
            zones: None,
        }
    }
}

/// Options for [`EdgeFake::start`].
#[derive(Debug, Clone)]
pub struct EdgeFakeOptions {
    /// The Edge DNS zones of the account (all PRIMARY).
    pub zones: Vec<String>,
    /// Accepted API clients.
    pub clients: Vec<ApiClient>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for EdgeFakeOptions {
    fn default() -> Self {
        let (zones, dns) = (vec!["example.test".into()], None);
        EdgeFakeOptions {
            zones,
            clients: vec![ApiClient::full(CLIENT)],
            dns,
        }
    }
}

impl EdgeFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = EdgeFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: EdgeFakeOptions,
    nonces: Mutex<HashSet<String>>,
    busy: u32,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct EdgeFake(FakeServer<State>);

impl Deref for EdgeFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// A record set as written (`POST`, `PUT`).
#[derive(Deserialize)]
struct Body {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: u32,
    rdata: Vec<String>,
}

/// An Edge DNS problem document (`{PROBLEMS}/authoritative-dns/{kind}`).
pub fn problem(status: u16, kind: &str, detail: &str) -> Reply {
    let title = match status {
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        _ => "Server error",
    };
    let body = json!({ "type": format!("{PROBLEMS}/authoritative-dns/{kind}"), "title": title,
        "status": status, "detail": detail, "instance": "fake-6c1e2c4e", "problemId": "fake-6c1e2c4e" });
    Reply::json(status, &body).tag(kind)
}

fn not_found(what: String) -> Reply {
    problem(404, "notFound", &format!("{what} does not exist"))
}

/// The API gateway's refusal: 401 `pep-authn/deny`, 400 `pep-authn/request-error`, 403
/// `pep-authz/deny`.
fn gateway(c: &Call, status: u16, detail: &str) -> Reply {
    let (kind, title) = match status {
        401 => ("pep-authn/deny", "Not authorized"),
        400 => ("pep-authn/request-error", "Bad request"),
        _ => ("pep-authz/deny", "Forbidden"),
    };
    let instance = format!("http://{}{}", c.header("host").unwrap_or(""), c.raw_path());
    let body = json!({ "type": format!("{PROBLEMS}/-/{kind}"), "title": title, "status": status,
        "detail": detail, "instance": instance, "method": c.method, "serverIp": "127.0.0.1",
        "clientIp": "127.0.0.1", "requestId": "fake1d", "requestTime": now_rfc3339() });
    Reply::json(status, &body).tag(kind)
}

/// The 409 of a write while the zone is being changed by another request.
pub fn zone_busy() -> Reply {
    let detail = "The zone is being modified by another request; retry the request later.";
    problem(409, "concurrentZoneModification", detail)
}

/// The 429 of the API gateway, asking to come back in `secs`.
pub fn rate_limited(secs: u64) -> Reply {
    let reply = problem(429, "tooManyRequests", "Request rate limit exceeded.");
    reply.header("Retry-After", secs.max(1).to_string())
}

impl EdgeFake {
    /// Start on a free loopback port.
    pub fn start(opts: EdgeFakeOptions) -> Result<EdgeFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let set = "/zones/{zone}/names/{name}/types/{type}";
        let server = Router::new("edgedns")
            .prefix("/config-dns/v2")
            .auth(authenticate)
            .route("GET /zones", |st, c| {
                let seen = st.store.zones.iter().filter(|z| st.may(c, &z.name));
                page(
                    c,
                    seen.map(|z| zone_doc(&z.name)).collect(),
                    json!({}),
                    "zones",
                )
            })
            .route("GET /zones/{zone}", |st, c| {
                Ok::<_, Reply>(Reply::json(200, &zone_doc(&st.zone(c)?.name)))
            })
            .route("GET /zones/{zone}/recordsets", |st, c| {
                let z = st.zone(c)?;
                let meta = json!({ "zone": z.name, "types": [] });
                page(c, st.sets(&z, None), meta, "recordsets")
            })
            .route(&format!("GET {set}"), |st, c| {
                let (z, name, rtype) = st.target(c)?;
                let found = st.sets(&z, Some((&name, &rtype))).pop();
                let found = found.ok_or_else(|| not_found(format!("Recordset {name} {rtype}")));
                Ok::<_, Reply>(Reply::json(200, &found?))
            })
            .route(&format!("POST {set}"), write)
            .route(&format!("PUT {set}"), write)
            .route(&format!("DELETE {set}"), write)
            .fallback(|_, known| match known {
                true => problem(405, "methodNotAllowed", "The method is not allowed."),
                false => not_found("The resource".into()),
            });
        let (nonces, busy) = (Mutex::default(), 0);
        Ok(EdgeFake(server.start(State {
            store,
            opts,
            nonces,
            busy,
        })?))
    }

    /// `http://127.0.0.1:PORT`: the EdgeGrid host (`AKAMAI_HOST`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Accept another API client.
    pub fn add_client(&self, client: ApiClient) {
        self.with(|st| st.opts.clients.push(client));
    }

    /// Answer the next `n` writes (POST, PUT, DELETE) with 409 `concurrentZoneModification`.
    pub fn busy_writes(&self, n: u32) {
        self.with(|st| st.busy = n);
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |left| rate_limited(left.as_secs()));
    }
}

fn b64_hmac(key: &[u8], data: &[u8]) -> String {
    STANDARD.encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data))
}

/// EdgeGrid, checked as Akamai's gateway checks it (see the module doc).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let header = c.header("authorization").unwrap_or_default().to_string();
    let parts = header.strip_prefix("EG1-HMAC-SHA256 ");
    let Some((unsigned, signature)) = parts.and_then(|h| h.split_once("signature=")) else {
        return Err(gateway(c, 401, "Invalid authorization header"));
    };
    let field = |k: &str| {
        let mut kvs = unsigned
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='));
        kvs.find(|(key, _)| *key == k).map_or("", |(_, v)| v)
    };
    let i = st
        .opts
        .clients
        .iter()
        .position(|a| a.tokens.0 == field("client_token"));
    let i = i.ok_or_else(|| gateway(c, 401, "Invalid authorization client token"))?;
    let client = &st.opts.clients[i];
    c.principal = Some(i.to_string());
    if client.tokens.2 != field("access_token") {
        return Err(gateway(c, 401, "Invalid authorization access token"));
    }
    let ts = field("timestamp");
    let fmt = format_description!("[year][month][day]T[hour]:[minute]:[second]+0000");
    let at = PrimitiveDateTime::parse(ts, &fmt).map(|t| t.assume_utc());
    let skew = at.map(|t| (OffsetDateTime::now_utc() - t).abs().whole_seconds());
    if skew.map_or(true, |s| s > 30) {
        return Err(gateway(c, 400, "Invalid timestamp"));
    }
    let nonce = field("nonce").to_string();
    let fresh = st.nonces.lock().map(|mut n| n.insert(nonce.clone()));
    if nonce.is_empty() || !fresh.unwrap_or(false) {
        return Err(gateway(c, 401, "Invalid nonce"));
    }
    let signed = &c.body[..c.body.len().min(131_072)];
    let hash = match (c.method.as_str(), signed.is_empty()) {
        ("POST", false) => STANDARD.encode(digest::digest(&digest::SHA256, signed)),
        _ => String::new(),
    };
    let (host, unsigned) = (
        c.header("host").unwrap_or(""),
        format!("EG1-HMAC-SHA256 {unsigned}"),
    );
    let data = [
        c.method.as_str(),
        "http",
        host,
        &c.target,
        "",
        &hash,
        &unsigned,
    ]
    .join("\t");
    let key = b64_hmac(client.tokens.1.as_bytes(), ts.as_bytes());
    if b64_hmac(key.as_bytes(), data.as_bytes()) != signature.trim() {
        return Err(gateway(c, 401, "The signature does not match"));
    }
    match !client.read_write && c.method != "GET" {
        true => Err(gateway(
            c,
            403,
            "The client does not have the grant needed for the request",
        )),
        false => Ok(()),
    }
}

fn zone_doc(zone: &str) -> Value {
    json!({ "contractId": "1-FAKE01", "zone": zone, "type": "PRIMARY", "aliasCount": 0,
        "signAndServe": false, "versionId": "fake-version", "activationState": "ACTIVE" })
}

impl State {
    fn may(&self, c: &Call, zone: &str) -> bool {
        let i = c.principal.as_deref().and_then(|p| p.parse::<usize>().ok());
        let zones = i.and_then(|i| self.opts.clients[i].zones.as_ref());
        zones.is_none_or(|zs| zs.iter().any(|z| z == zone))
    }

    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let name = c.param("zone").trim_end_matches('.').to_ascii_lowercase();
        let zone = self
            .store
            .zone_named(&name)
            .filter(|z| self.may(c, &z.name));
        zone.cloned()
            .ok_or_else(|| not_found(format!("Zone {name}")))
    }

    /// The record sets of a zone (or the one at `only`), in first-seen order.
    fn sets(&self, z: &FakeZone, only: Option<(&str, &str)>) -> Vec<Value> {
        let mut sets: Vec<Value> = Vec::new();
        for r in self.store.in_zone(&z.name) {
            if only.is_some_and(|o| o != (r.name.as_str(), r.rtype.as_str())) {
                continue;
            }
            let same =
                |s: &&mut Value| s["name"] == r.name.as_str() && s["type"] == r.rtype.as_str();
            match sets.iter_mut().find(same) {
                Some(s) => s["rdata"]
                    .as_array_mut()
                    .into_iter()
                    .for_each(|a| a.push(json!(r.content))),
                None => sets.push(
                    json!({ "name": r.name, "type": r.rtype, "ttl": r.ttl, "rdata": [r.content] }),
                ),
            }
        }
        sets
    }

    /// The zone, record name (absolute, lower case) and type a record-set route names.
    fn target(&self, c: &Call) -> Result<(FakeZone, String, String), Reply> {
        let z = self.zone(c)?;
        let inside = |n: &String| n == &z.name || n.ends_with(&format!(".{}", z.name));
        let name = absolute_name(c.param("name"), &z.name).filter(inside);
        let bad = || {
            problem(
                400,
                "invalidName",
                &format!("Invalid record name {}", c.param("name")),
            )
        };
        Ok((
            z,
            name.ok_or_else(bad)?,
            c.param("type").to_ascii_uppercase(),
        ))
    }
}

/// One page of `items` under `key`, with Akamai's `metadata`.
fn page(c: &Call, items: Vec<Value>, mut meta: Value, key: &str) -> Answer {
    let get = |k: &str| c.query(k).and_then(|v| v.parse::<u32>().ok());
    let all = c.query("showAll") == Some("true");
    let (page, size) = (
        get("page").unwrap_or(1).max(1),
        get("pageSize").unwrap_or(25).clamp(1, 1000),
    );
    let body = if all {
        items.clone()
    } else {
        paginate(&items, page, size)
    };
    let total = items.len();
    let more = json!({ "page": page, "pageSize": size, "showAll": all, "totalElements": total });
    meta.as_object_mut()
        .into_iter()
        .for_each(|m| m.extend(more.as_object().cloned().unwrap_or_default()));
    Ok(Reply::json(200, &json!({ "metadata": meta, key: body })))
}

/// POST creates a record set (409 when it exists), PUT replaces one (404 when there is none:
/// the whole set, the trap a DNS-01 client must avoid by merging), DELETE removes one (204).
fn write(st: &mut State, c: &Call) -> Answer {
    let (zone, name, rtype) = st.target(c)?;
    if st.busy > 0 {
        st.busy -= 1;
        return Err(zone_busy());
    }
    let what = format!("Recordset {name} {rtype}");
    match (
        c.method.as_str(),
        st.sets(&zone, Some((&name, &rtype))).is_empty(),
    ) {
        ("POST", false) => {
            return Err(problem(
                409,
                "recordSetExists",
                &format!("{what} already exists"),
            ));
        }
        ("PUT" | "DELETE", true) => return Err(not_found(what)),
        _ => {}
    }
    let body = serde_json::from_slice::<Body>(&c.body).ok().filter(|b| {
        let same = b.name.trim_end_matches('.').eq_ignore_ascii_case(&name);
        same && b.rtype.eq_ignore_ascii_case(&rtype) && b.ttl > 0 && !b.rdata.is_empty()
    });
    let detail = "The record set needs the URL's name and type, a ttl and a non-empty rdata list.";
    let (values, ttl) = match (c.method.as_str(), body) {
        ("DELETE", _) => (Vec::new(), 0),
        (_, Some(b)) => (b.rdata, b.ttl),
        (_, None) => return Err(problem(400, "invalidRecordSet", detail)),
    };
    let edit = st.store.edit(|s| {
        s.records.retain(|r| !(r.name == name && r.rtype == rtype));
        for v in &values {
            let content = if rtype == "TXT" {
                txt_rdata(v)
            } else {
                v.clone()
            };
            s.records
                .push(FakeRecord::new(&zone, &rtype, &name, &content, ttl)?);
        }
        Ok::<_, KitError>(())
    });
    edit.map_err(|e| problem(500, "serverError", &e.to_string()))?;
    let stored = st
        .sets(&zone, Some((&name, &rtype)))
        .pop()
        .unwrap_or_default();
    Ok(match c.method.as_str() {
        "POST" => Reply::json(201, &stored),
        "PUT" => Reply::json(200, &stored),
        _ => Reply::text(204, "application/json", ""),
    })
}
