//! A stateful fake of the acme-dns HTTP API (joohoi/acme-dns `api.go`, `auth.go`,
//! `validation.go`, `db.go`; no acme-dns server can run here) on the kit's router:
//!
//! - `POST /register`, an optional JSON body `{"allowfrom": [CIDR…]}` → 201 `{"username",
//!   "password", "fulldomain", "subdomain", "allowfrom"}` (username and subdomain UUIDs, a
//!   40-character password, `fulldomain` = `<subdomain>.<domain>`); 400 `malformed_json_payload`
//!   or `invalid_allowfrom_cidr`; absent (404) when registration is disabled. Bodies are read
//!   as acme-dns's Go decoder reads them: `null` is no body, member names match in any case.
//! - `POST /update` with `X-Api-User` / `X-Api-Key` and `{"subdomain", "txt"}` → 200
//!   `{"txt": …}`; 401 `{"error": "forbidden"}` for an unknown user, a wrong key, a subdomain that
//!   is not the user's, or a client address outside `allowfrom` (the peer address, or with
//!   `use_header` the first `X-Forwarded-For` entry that is allowed, as acme-dns's `use_header`);
//!   400 `bad_subdomain`, `bad_txt` (the value must be exactly 43 characters).
//! - `GET /health` → 200. Other paths 404 `404 page not found` (httprouter).
//!
//! Each registration has two TXT rows, created empty with LastUpdate 0; an update overwrites the
//! row with the oldest LastUpdate (unix seconds; ties: the first row, as SQLite returns them),
//! so only the two latest values stay. The non-empty values are served at `fulldomain` (TTL 1):
//! with [`AcmeDnsFakeOptions::backed_by`] they land in the BIND topology's zone of `domain`.
//! The fake listens on loopback only, so the peer address is always 127.0.0.1.

use std::net::IpAddr;
use std::ops::Deref;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, HoldsRecords, KitError};
use wildcert_testkit::{RecordStore, Reply, Router, ZoneMirror, dns_name, random_id};

/// The acme-dns domain the fake serves by default (a zone of its own, as acme-dns's is).
pub const DOMAIN: &str = "auth.acme-dns.test";

/// Options for [`AcmeDnsFake::start`].
#[derive(Debug, Clone)]
pub struct AcmeDnsFakeOptions {
    /// The acme-dns `domain` (fulldomains are `<subdomain>.<domain>`).
    pub domain: String,
    /// Mirror the served values into real DNS.
    pub dns: Option<ZoneMirror>,
    /// Take the client address from this header (acme-dns's `use_header` / `header_name`).
    pub use_header: Option<String>,
    /// `disable_registration = true`: no `/register` route.
    pub disable_registration: bool,
}

impl Default for AcmeDnsFakeOptions {
    fn default() -> Self {
        AcmeDnsFakeOptions {
            domain: DOMAIN.into(),
            dns: None,
            use_header: None,
            disable_registration: false,
        }
    }
}

impl AcmeDnsFakeOptions {
    /// Options serving values into `topo` (which must serve [`DOMAIN`] as a zone).
    pub fn backed_by(topo: &BindTopology) -> Self {
        AcmeDnsFakeOptions {
            dns: Some(ZoneMirror::of(topo)),
            ..Default::default()
        }
    }
}

/// One registration: its credentials, networks and two TXT rows `(value, last update)`.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `X-Api-User` (a UUID).
    pub username: String,
    /// `X-Api-Key` (40 characters; acme-dns keeps a bcrypt hash).
    pub password: String,
    /// The one label under the domain.
    pub subdomain: String,
    /// Networks updates may come from (empty: any).
    pub allowfrom: Vec<String>,
    /// The two rows.
    pub rows: [(String, u64); 2],
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: AcmeDnsFakeOptions,
    /// The registrations, in creation order.
    pub regs: Vec<Registration>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct AcmeDnsFake(FakeServer<State>);

impl Deref for AcmeDnsFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

/// acme-dns's error document (`jsonError`).
fn error(status: u16, code: &str) -> Reply {
    Reply::json(status, &json!({ "error": code })).tag(code)
}

fn uuid() -> Result<String, KitError> {
    let h = random_id(32, b"0123456789abcdef")?;
    Ok(format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    ))
}

impl AcmeDnsFake {
    /// Start on a free loopback port.
    pub fn start(opts: AcmeDnsFakeOptions) -> Result<AcmeDnsFake, KitError> {
        let store = RecordStore::new(std::slice::from_ref(&opts.domain), opts.dns.clone())?;
        let mut router = Router::new("acme-dns-fake");
        if !opts.disable_registration {
            router = router.route("POST /register", register);
        }
        let router = router
            .route("POST /update", update)
            .route("GET /health", |_: &mut State, _: &Call| {
                Reply::text(200, "text/plain", "")
            })
            .fallback(|_, known| match known {
                true => Reply::text(405, "text/plain", "Method Not Allowed\n"),
                false => Reply::text(404, "text/plain", "404 page not found\n"),
            });
        let state = State {
            store,
            opts,
            regs: Vec::new(),
        };
        Ok(AcmeDnsFake(router.start(state)?))
    }

    /// The API root (`ACME_DNS_API_BASE`).
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// The non-empty values served at `fulldomain`, sorted.
    pub fn values(&self, fulldomain: &str) -> Vec<String> {
        self.txt_values(fulldomain)
    }

    /// A registration acme-dns already holds in its database (made on an earlier run of the
    /// server, e.g. the one a client's registrations file names), with its credentials.
    pub fn restore_registration(&self, username: &str, password: &str, subdomain: &str) {
        let reg = Registration {
            username: username.into(),
            password: password.into(),
            subdomain: subdomain.into(),
            allowfrom: Vec::new(),
            rows: Default::default(),
        };
        self.with(|st| st.regs.push(reg));
    }

    /// A registration made directly (as another client would), with its `allowfrom`.
    pub fn add_registration(&self, allowfrom: &[&str]) -> Result<Value, KitError> {
        let body = json!({ "allowfrom": allowfrom });
        self.with(|st| new_registration(st, &body))
    }
}

fn valid_cidr(s: &str) -> bool {
    let Some((a, bits)) = s.trim().split_once('/') else {
        return false;
    };
    match (a.parse::<IpAddr>(), bits.parse::<u8>()) {
        (Ok(IpAddr::V4(_)), Ok(b)) => b <= 32,
        (Ok(IpAddr::V6(_)), Ok(b)) => b <= 128,
        _ => false,
    }
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let (a, n, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = width - bits.min(width);
    shift >= 128 || (a >> shift) == (n >> shift)
}

fn new_registration(st: &mut State, body: &Value) -> Result<Value, KitError> {
    let allowfrom: Vec<String> = body["allowfrom"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(|s| s.trim().to_string()))
        .collect();
    let reg = Registration {
        username: uuid()?,
        password: random_id(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        )?,
        subdomain: uuid()?,
        allowfrom: allowfrom.clone(),
        rows: Default::default(),
    };
    let doc = json!({
        "username": reg.username, "password": reg.password,
        "fulldomain": format!("{}.{}", reg.subdomain, st.opts.domain),
        "subdomain": reg.subdomain, "allowfrom": allowfrom,
    });
    st.regs.push(reg);
    Ok(doc)
}

/// The member `name` of a JSON object as Go's `json.Unmarshal` fills a struct field: the exact
/// key, else one differing only in case (goacmedns v0.1.1, lego 4.x up to 4.21, sends
/// `{"SubDomain", "Txt"}` and `{"AllowFrom"}`); `null` for no member.
fn field<'a>(body: &'a Value, name: &str) -> &'a Value {
    let Some(obj) = body.as_object() else {
        return &Value::Null;
    };
    obj.get(name)
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

fn register(st: &mut State, c: &Call) -> Reply {
    // acme-dns: `json.Unmarshal` into its struct when the body is not empty; JSON `null`
    // (goacmedns v0.2.0's body without an allowfrom, as lego 4.22+ sends it) is no error.
    let body = match c.body.is_empty() {
        true => json!({}),
        false => match c.json() {
            Some(Value::Null) => json!({}),
            Some(v) if v.is_object() => v,
            _ => return error(400, "malformed_json_payload"),
        },
    };
    let body = json!({ "allowfrom": field(&body, "allowfrom") });
    let cidrs = body["allowfrom"].as_array().cloned().unwrap_or_default();
    if !cidrs.iter().all(|v| v.as_str().is_some_and(valid_cidr)) {
        return error(400, "invalid_allowfrom_cidr");
    }
    match new_registration(st, &body) {
        Ok(doc) => Reply::json(201, &doc),
        Err(e) => error(500, &e.to_string()),
    }
}

/// The client addresses acme-dns checks `allowfrom` against.
fn client_ips(st: &State, c: &Call) -> Vec<IpAddr> {
    match &st.opts.use_header {
        None => vec![IpAddr::from([127, 0, 0, 1])],
        Some(h) => {
            let list = c.header(h).unwrap_or_default();
            list.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        }
    }
}

fn update(st: &mut State, c: &Call) -> Reply {
    let forbidden = || error(401, "forbidden");
    let user = c.header("x-api-user").unwrap_or_default();
    let key = c.header("x-api-key").unwrap_or_default();
    let Some(i) = st.regs.iter().position(|r| r.username == user) else {
        return forbidden();
    };
    let reg = &st.regs[i];
    if key.chars().count() != 40 || reg.password != key {
        return forbidden();
    }
    let ips = client_ips(st, c);
    let allowed = reg.allowfrom.is_empty()
        || ips
            .iter()
            .any(|ip| reg.allowfrom.iter().any(|n| in_cidr(*ip, n)));
    let body = c.json().unwrap_or_default();
    if !allowed || field(&body, "subdomain").as_str() != Some(reg.subdomain.as_str()) {
        return forbidden();
    }
    let txt = field(&body, "txt").as_str().unwrap_or_default().to_string();
    if txt.chars().count() != 43
        || !txt
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return error(400, "bad_txt");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    let mut rows = reg.rows.clone();
    let oldest = if rows[1].1 < rows[0].1 { 1 } else { 0 };
    rows[oldest] = (txt.clone(), now);
    let fulldomain = format!("{}.{}", reg.subdomain, st.opts.domain);
    let zone = st.store.zone_named(&st.opts.domain).cloned();
    let served: Result<(), KitError> = st.store.edit(|s| {
        s.records
            .retain(|r| !(r.rtype == "TXT" && r.name == dns_name(&fulldomain)));
        for (v, _) in rows.iter().filter(|(v, _)| !v.is_empty()) {
            let z = zone.as_ref().ok_or_else(|| KitError("no zone".into()))?;
            s.records
                .push(FakeRecord::new(z, "TXT", &fulldomain, v, 1)?);
        }
        Ok(())
    });
    if served.is_err() {
        return error(500, "db_error");
    }
    st.regs[i].rows = rows;
    Reply::json(200, &json!({ "txt": txt }))
}
