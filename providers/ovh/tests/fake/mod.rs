//! A stateful fake of the OVHcloud API v1 endpoints a DNS-01 client uses, on the kit's router,
//! after eu.api.ovh.com/console (no OVH server can run here): `GET /1.0/auth/time` (no
//! credentials; the fake's own clock, [`OvhFakeOptions::clock_offset`] away from the real one),
//! `GET /1.0/domain/zone`, `GET /1.0/domain/zone/{zone}`, `GET|POST
//! /1.0/domain/zone/{zone}/record` (the list is every matching id, filtered by `fieldType` and
//! `subDomain`; no pages), `GET|DELETE …/record/{id}` with integer ids, and `POST
//! …/refresh`. Requests are authenticated as OVH does: `X-Ovh-Application`, `X-Ovh-Consumer`,
//! `X-Ovh-Timestamp` (refused more than [`WINDOW`] seconds from the fake's clock) and
//! `X-Ovh-Signature` (`$1$` + SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP`); consumer keys carry
//! access rules (the kit's `FakeToken`: `zone_read` GET, `dns_edit` POST/DELETE, `zones` the
//! rules' `/domain/zone/<zone>/*`, which do not cover `GET /domain/zone`); or by an OAuth2
//! bearer token from `POST /auth/oauth2/token` (client credentials). Errors as
//! `{"class", "message", "errorCode"}`: 400 `INVALID_SIGNATURE` / `QUERY_TIME_OUT`, 401
//! `NOT_AUTHENTICATED`, 403 `INVALID_KEY` / `NOT_CREDENTIAL` / `NOT_GRANTED_CALL`, 404, 429
//! with `Retry-After`. TXT targets are stored quoted. The trap: records reach DNS (the BIND
//! topology, with [`OvhFakeOptions::backed_by`]) **only on refresh**, as at OVH.

use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, absolute_name, dns_name, parse_query, random_id, txt_rdata,
};

/// The application every fake knows unless options say otherwise.
pub const APP_KEY: &str = "7kbG7Bk7S9Nt7ZSV";
/// Its secret.
pub const APP_SECRET: &str = "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF";
/// A consumer key with every right on every zone.
pub const CONSUMER_KEY: &str = "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1";
/// An OAuth2 client (id, secret) with every right.
pub const CLIENT: (&str, &str) = ("EU.0a1b2c3d4e5f6789", "0123456789abcdef0123456789abcdef");
/// Seconds a timestamp may be away from the fake's clock.
pub const WINDOW: i64 = 60;
/// The record types OVH takes.
const TYPES: &[&str] = &["A", "AAAA", "CAA", "CNAME", "MX", "NS", "SPF", "SRV", "TXT"];

/// Options for [`OvhFake::start`].
#[derive(Debug, Clone)]
pub struct OvhFakeOptions {
    /// Zone names.
    pub zones: Vec<String>,
    /// Consumer keys of the application [`APP_KEY`] and their access rules.
    pub consumers: Vec<FakeToken>,
    /// OAuth2 clients (id, secret).
    pub clients: Vec<(String, String)>,
    /// Bearer tokens accepted (every right); OAuth2 adds to them.
    pub bearers: Vec<String>,
    /// The fake's clock minus the real one, in seconds.
    pub clock_offset: i64,
    /// Mirror TXT changes into real DNS (on refresh).
    pub dns: Option<ZoneMirror>,
}

impl Default for OvhFakeOptions {
    fn default() -> Self {
        OvhFakeOptions {
            zones: vec!["example.test".to_owned()],
            consumers: vec![FakeToken::full(CONSUMER_KEY)],
            clients: vec![(CLIENT.0.to_owned(), CLIENT.1.to_owned())],
            bearers: Vec::new(),
            clock_offset: 0,
            dns: None,
        }
    }
}

impl OvhFakeOptions {
    /// Options serving the topology's zones and mirroring refreshed TXT sets into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = OvhFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds: the records as the API shows them, and as last refreshed (served).
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    served: RecordStore,
    opts: OvhFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct OvhFake(FakeServer<State>);

impl Deref for OvhFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// OVH's error body: `class` from the status, `errorCode` where OVH's clients key on it.
fn err(status: u16, code: &str, message: &str) -> Reply {
    let class = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        _ => "TooManyRequests",
    };
    let mut body = json!({ "class": format!("Client::{class}"), "message": message });
    if !code.is_empty() {
        body["errorCode"] = code.into();
    }
    Reply::json(status, &body).tag(if code.is_empty() { class } else { code })
}

fn not_found(message: &str) -> Reply {
    err(404, "", message)
}

fn refused() -> Reply {
    err(403, "NOT_GRANTED_CALL", "This call has not been granted")
}

/// OVH's request signature, computed here independently of the provider.
pub fn sign(secret: &str, ck: &str, method: &str, url: &str, body: &str, ts: &str) -> String {
    let text = format!("{secret}+{ck}+{method}+{url}+{body}+{ts}");
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// The integer id OVH shows for a record (from the store's hex id).
pub fn record_id(r: &FakeRecord) -> u64 {
    u64::from_str_radix(r.id.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

impl OvhFake {
    /// Start on a free loopback port.
    pub fn start(opts: OvhFakeOptions) -> Result<OvhFake, KitError> {
        let store = RecordStore::new(&opts.zones, None)?;
        let served = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let z = "/1.0/domain/zone/{zone}";
        let rec = format!("{z}/record/{{id}}");
        let state = State {
            store,
            served,
            opts,
        };
        let server = Router::new("ovh")
            .auth(authenticate)
            .route("GET /1.0/auth/time", |st: &mut State, _: &Call| {
                Reply::json(200, &json!(now() + st.opts.clock_offset))
            })
            .route("POST /auth/oauth2/token", oauth_token)
            .route("GET /1.0/domain/zone", list_zones)
            .route(&format!("GET {z}/record"), list_records)
            .route(&format!("POST {z}/record"), create_record)
            .route(&format!("GET {rec}"), get_record)
            .route(&format!("DELETE {rec}"), delete_record)
            .route(&format!("POST {z}/refresh"), refresh)
            .fallback(|_, _| not_found("Got an invalid (or empty) URL"))
            .start(state)?;
        Ok(OvhFake(server))
    }

    /// `http://127.0.0.1:PORT/1.0`: what goes into `base_url` / `OVH_ENDPOINT`.
    pub fn base_url(&self) -> String {
        format!("{}/1.0", self.url())
    }

    /// The OAuth2 token URL.
    pub fn token_url(&self) -> String {
        format!("{}/auth/oauth2/token", self.url())
    }

    /// Answer the next `n` requests with 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        self.fail_next(n, too_many(1));
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Create a TXT record as the control panel would (which refreshes the zone).
    pub fn seed(&self, zone: &str, name: &str, target: &str, ttl: u32) {
        let id = self.seed_record(zone, "TXT", name, &txt_rdata(target), ttl);
        let done = id.and_then(|_| self.with(sync_served));
        done.unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }

    /// TXT values at `name` as last refreshed: what OVH's nameservers serve.
    pub fn served_values(&self, name: &str) -> Vec<String> {
        self.with(|st| st.served.txt_values(name))
    }
}

fn now() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH);
    d.map_or(0, |d| d.as_secs() as i64)
}

fn too_many(secs: u64) -> Reply {
    err(429, "", "Too many requests").header("Retry-After", secs.to_string())
}

/// The auth hook: OVH's signature (principal `ck:<i>`) or a bearer token (`bearer`).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    if c.path == "/1.0/auth/time" || c.path == "/auth/oauth2/token" {
        return Ok(());
    }
    if let Some(ok) = c.bearer().map(|t| st.opts.bearers.iter().any(|b| b == t)) {
        c.principal = Some("bearer".into());
        let invalid = || err(401, "INVALID_CREDENTIAL", "Invalid token");
        return ok.then_some(()).ok_or_else(invalid);
    }
    let login = || err(401, "NOT_AUTHENTICATED", "You must login first");
    if c.header("x-ovh-application").ok_or_else(login)? != APP_KEY {
        return Err(err(403, "INVALID_KEY", "This application key is invalid"));
    }
    let get = |h: &str| c.header(h).map(str::to_owned).ok_or_else(login);
    let (ck, ts) = (get("x-ovh-consumer")?, get("x-ovh-timestamp")?);
    let sig = get("x-ovh-signature")?;
    if (ts.parse().unwrap_or(0) - now() - st.opts.clock_offset).abs() > WINDOW {
        return Err(err(400, "QUERY_TIME_OUT", "Query out of time"));
    }
    let i = st.opts.consumers.iter().position(|t| t.token == ck);
    let gone = || err(403, "NOT_CREDENTIAL", "This credential does not exist");
    c.principal = Some(format!("ck:{}", i.ok_or_else(gone)?));
    let host = c.header("host").unwrap_or_default();
    let url = format!("http://{host}{}", c.target);
    if sig != sign(APP_SECRET, &ck, &c.method, &url, &c.text(), &ts) {
        return Err(err(400, "INVALID_SIGNATURE", "Invalid signature"));
    }
    Ok(())
}

fn oauth_token(st: &mut State, c: &Call) -> Answer {
    let grant = ("grant_type".to_owned(), "client_credentials".to_owned());
    let auth = c.header("authorization").unwrap_or_default();
    let basic = auth.trim_start_matches("Basic ");
    let basic = STANDARD.decode(basic).unwrap_or_default();
    let basic = String::from_utf8_lossy(&basic);
    let pair = basic.split_once(':');
    let pair = pair.map(|(i, s)| (i.to_owned(), s.to_owned()));
    let oauth = |status, error: &str, d: &str| {
        Reply::json(status, &json!({ "error": error, "error_description": d })).tag(error)
    };
    if !parse_query(&c.text()).contains(&grant) {
        let why = "grant_type must be client_credentials";
        return Err(oauth(400, "unsupported_grant_type", why));
    }
    // RFC 6749 §2.3.1: HTTP Basic, as OVH's clients send it.
    if !pair.is_some_and(|g| st.opts.clients.contains(&g)) {
        return Err(oauth(401, "invalid_client", "client authentication failed"));
    }
    let token = random_id(40, b"abcdefghijklmnopqrstuvwxyz0123456789")?;
    st.opts.bearers.push(token.clone());
    let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3599,
        "scope": "all" });
    Ok(Reply::json(200, &body))
}

impl State {
    /// The caller's rights: a consumer key's rules, or everything for a bearer token.
    fn rights(&self, c: &Call) -> FakeToken {
        let ck = c.principal.as_deref().and_then(|p| p.strip_prefix("ck:"));
        let ck = ck.and_then(|i| i.parse::<usize>().ok());
        ck.and_then(|i| self.opts.consumers.get(i).cloned())
            .unwrap_or_else(|| FakeToken::full(""))
    }

    /// The route's zone if the rules grant the call (else 403) and it exists (else 404).
    fn zone(&self, c: &Call, edit: bool) -> Result<FakeZone, Reply> {
        let t = self.rights(c);
        let name = dns_name(c.param("zone"));
        if !t.may(&name) || !(if edit { t.dns_edit } else { t.zone_read }) {
            return Err(refused());
        }
        let z = self.store.zone_named(&name).cloned();
        z.ok_or_else(|| not_found(&format!("This service does not exist: {name}")))
    }
}

fn sync_served(st: &mut State) -> Result<(), KitError> {
    let records = st.store.records.clone();
    st.served.edit(|s| {
        s.records = records;
        Ok::<_, KitError>(())
    })
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let t = st.rights(c);
    if t.zones.is_some() || !t.zone_read {
        return Err(refused());
    }
    let names: Vec<&str> = st.store.zones.iter().map(|z| z.name.as_str()).collect();
    Ok(Reply::json(200, &json!(names)))
}

/// The sub-domain of a record: its name relative to the zone, empty at the apex.
fn sub_domain(r: &FakeRecord) -> String {
    let rest = r.name.strip_suffix(&r.zone_name).unwrap_or(&r.name);
    rest.trim_end_matches('.').to_owned()
}

fn record_json(r: &FakeRecord) -> Value {
    json!({ "id": record_id(r), "zone": r.zone_name, "subDomain": sub_domain(r),
        "fieldType": r.rtype, "target": r.content, "ttl": r.ttl })
}

fn list_records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    let (ft, sub) = (c.query("fieldType"), c.query("subDomain").map(dns_name));
    let wanted = |r: &&FakeRecord| {
        ft.is_none_or(|t| r.rtype == t) && sub.as_ref().is_none_or(|s| &sub_domain(r) == s)
    };
    let all = st.store.in_zone(&z.name);
    let ids: Vec<u64> = all.iter().filter(wanted).map(record_id).collect();
    Ok(Reply::json(200, &json!(ids)))
}

fn find(st: &State, z: &FakeZone, c: &Call) -> Result<FakeRecord, Reply> {
    let id = c.param("id");
    let all = st.store.in_zone(&z.name);
    let r = all.into_iter().find(|r| record_id(r).to_string() == id);
    r.ok_or_else(|| not_found(&format!("The requested object (id = {id}) does not exist")))
}

fn get_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, false)?;
    Ok(Reply::json(200, &record_json(&find(st, &z, c)?)))
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, true)?;
    let r = find(st, &z, c)?;
    st.store.change(Some(&r.id), None)?;
    Ok(Reply::json(200, &Value::Null))
}

/// `POST …/record`, checked as OVH checks it; not served until the zone is refreshed.
fn create_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c, true)?;
    let bad = |m: &str| err(400, "", m);
    let body = c.json().filter(Value::is_object);
    let body = body.ok_or_else(|| bad("Invalid JSON received"))?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let ft = text("fieldType").ok_or_else(|| bad("[fieldType] Property is mandatory"))?;
    if !TYPES.contains(&ft.as_str()) {
        let enumeration = "does not belong to the DnsRecordTypeEnum enumeration";
        return Err(bad(&format!("[fieldType] Given data ({ft}) {enumeration}")));
    }
    let target = text("target").filter(|t| !t.is_empty());
    let target = target.ok_or_else(|| bad("[target] Property is mandatory"))?;
    let sub = text("subDomain").filter(|s| !s.is_empty());
    let full = absolute_name(sub.as_deref().unwrap_or("@"), &z.name);
    let full = full.ok_or_else(|| bad("[subDomain] Given data is not a valid name"))?;
    let ttl = body.get("ttl").filter(|t| !t.is_null());
    let ttl = ttl.map_or(Some(0), Value::as_u64);
    let ttl = ttl.and_then(|t| u32::try_from(t).ok());
    let ttl = ttl.ok_or_else(|| bad("[ttl] Given data is not a valid unsigned integer"))?;
    let content = match ft.as_str() {
        "TXT" => txt_rdata(&target),
        _ => target,
    };
    let rec = FakeRecord::new(&z, &ft, &full, &content, ttl)?;
    st.store.change(None, Some(rec.clone()))?;
    Ok(Reply::json(200, &record_json(&rec)))
}

fn refresh(st: &mut State, c: &Call) -> Answer {
    st.zone(c, true)?;
    sync_served(st)?;
    Ok(Reply::json(200, &Value::Null))
}
