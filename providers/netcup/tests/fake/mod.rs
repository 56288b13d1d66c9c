//! A stateful fake of netcup's CCP DNS API (ccp.netcup.net/run/webservice/servers/endpoint.php,
//! "DNS API" of the netcup help center; no netcup server can run here) on the kit's router:
//! `POST /run/webservice/servers/endpoint.php?JSON` with `{"action", "param"}`, answered with
//! HTTP 200 and `{"serverrequestid", "clientrequestid", "action", "status", "statuscode",
//! "shortmessage", "longmessage", "responsedata"}` whatever happened (netcup's words in
//! `answers.json`). Actions: `login` (customernumber + apikey + apipassword → `apisessionid`;
//! anything wrong → `4013`), `logout`, `infoDnsZone` (`5031` unknown), `infoDnsRecords` (`5029`
//! unknown or without records) and `updateDnsRecords` (records without `id` created, with `id`
//! changed, with `deleterecord` deleted — type, hostname and destination required even then;
//! records not listed stay; `5028` unknown zone or id). Every other action needs a live session
//! of the same customer and key (`4001` otherwise; sessions last 15 minutes). More than
//! `requests_per_minute` (netcup: 180) requests in a minute get netcup's `4013` "More than 180
//! requests per minute". TXT destinations are kept without quotes, ids are decimal strings
//! (seeded records keep the kit's hex ids), the TTL is the zone's. Proven by dns-lexicon's
//! `netcup` provider (tests/sdk/prove.py).
//!
//! With [`NetcupFakeOptions::backed_by`] the records land in the BIND topology's primary (the
//! kit's `ZoneMirror`): at once, or — netcup's trap — only when [`NetcupFake::reload`] runs
//! (`reload_manually`), as netcup's nameservers load a changed zone about every 10 minutes.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, absolute_name};
use wildcert_testkit::{random_id, txt_rdata, unquote_txt};

/// The customer number every fake accepts unless told otherwise.
pub const CUSTOMER: &str = "123456";
/// An API key of that customer.
pub const API_KEY: &str = "wildcertFakeNetcupApiKey0123456789abcdefghijklmnop";
/// The customer's API password.
pub const API_PASSWORD: &str = "wildcertFakeNetcupApiPassword0123456789abcdefghij";
/// How long a session lives.
const SESSION_LIFE: Duration = Duration::from_secs(15 * 60);
/// The record types netcup takes.
const TYPES: &str = " A AAAA MX CNAME CAA SRV TXT TLSA NS DS OPENPGPKEY SMIMEA SSHFP ";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Options for [`NetcupFake::start`].
#[derive(Debug, Clone)]
pub struct NetcupFakeOptions {
    /// The customer's domains (each one DNS zone).
    pub zones: Vec<String>,
    /// The customer number.
    pub customer: String,
    /// The customer's API keys.
    pub api_keys: Vec<String>,
    /// The customer's API password.
    pub api_password: String,
    /// Requests served per sliding minute (netcup: 180).
    pub requests_per_minute: usize,
    /// Changes reach DNS only on [`NetcupFake::reload`] (netcup's zone reload), not at once.
    pub reload_manually: bool,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for NetcupFakeOptions {
    fn default() -> Self {
        NetcupFakeOptions {
            zones: vec!["example.test".into()],
            customer: CUSTOMER.into(),
            api_keys: vec![API_KEY.into()],
            api_password: API_PASSWORD.into(),
            requests_per_minute: 180,
            reload_manually: false,
            dns: None,
        }
    }
}

impl NetcupFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = NetcupFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct State {
    store: RecordStore,
    opts: NetcupFakeOptions,
    /// Live sessions: id → (API key, started).
    sessions: HashMap<String, (String, Instant)>,
    hits: VecDeque<Instant>,
    /// TXT names changed through the API since the last reload.
    dirty: BTreeSet<String>,
    next_id: u64,
    logins: usize,
    /// Sessions still to end at their next use (netcup's early-expiry fault).
    early_ends: u32,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct NetcupFake(FakeServer<State>);

impl Deref for NetcupFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

/// netcup's answer `what` (a key of `answers.json`; `{d}`: `domain`), always HTTP 200.
pub fn said(what: &str, action: &str, domain: &str, data: Value) -> Reply {
    let a = &answers()[what];
    let code = a[0].as_u64().unwrap_or(4013);
    let status = if code < 3000 { "success" } else { "error" };
    let long = a[2].as_str().unwrap_or_default().replace("{d}", domain);
    let body = json!({ "serverrequestid": random_id(27, ALNUM).unwrap_or_default(),
        "clientrequestid": "", "action": action, "status": status, "statuscode": code,
        "shortmessage": a[1], "longmessage": long, "responsedata": data });
    Reply::json(200, &body).tag(code.to_string())
}

fn answers() -> Value {
    serde_json::from_str(include_str!("answers.json")).unwrap_or_default()
}

/// netcup's refusal `what` (no `responsedata`).
pub fn refused(what: &str, action: &str, domain: &str) -> Reply {
    said(what, action, domain, json!(""))
}

impl NetcupFake {
    /// Start on a free loopback port.
    pub fn start(opts: NetcupFakeOptions) -> Result<NetcupFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("netcup")
            .prefix("/run/webservice/servers")
            .route("POST /endpoint.php", handle)
            .fallback(|_, _| Reply::text(404, "text/html", "<h1>404 Not Found</h1>"));
        let (next_id, d) = (1000, State::default());
        let state = State {
            store,
            opts,
            next_id,
            ..d
        };
        Ok(NetcupFake(server.start(state)?))
    }

    /// `http://127.0.0.1:PORT/run/webservice/servers/endpoint.php?JSON`: what goes into
    /// `base_url` / `NETCUP_API_URL` (and lexicon's `api_endpoint`).
    pub fn base_url(&self) -> String {
        format!("{}/endpoint.php?JSON", self.url())
    }

    /// Sessions logged in and not logged out.
    pub fn open_sessions(&self) -> usize {
        self.with(|st| st.sessions.len())
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        self.with(|st| st.logins)
    }

    /// End the next `n` sessions at their next use after the login, with netcup's `4001`
    /// (netcup's fault: sessions that should last 15 minutes end within seconds).
    pub fn end_sessions_early(&self, n: u32) {
        self.with(|st| st.early_ends = n);
    }

    /// Serve `n` requests a minute from now on (0: none).
    pub fn set_requests_per_minute(&self, n: usize) {
        self.with(|st| st.opts.requests_per_minute = n);
    }

    /// netcup's zone reload: every TXT name changed through the API since the last reload is
    /// put into DNS as the API now holds it.
    pub fn reload(&self) -> Result<(), KitError> {
        self.with(|st| {
            let Some(m) = st.store.mirror.clone() else {
                return Ok(());
            };
            let txt = |n: &String| {
                let at = st
                    .store
                    .records
                    .iter()
                    .filter(|r| r.rtype == "TXT" && &r.name == n);
                (n.clone(), 300, at.map(|r| txt_rdata(&r.content)).collect())
            };
            m.set_txt(&st.dirty.iter().map(txt).collect::<Vec<_>>())?;
            st.dirty.clear();
            Ok(())
        })
    }
}

fn handle(st: &mut State, c: &Call) -> Reply {
    if c.query("JSON").is_none() {
        return Reply::text(
            400,
            "text/xml",
            "<SOAP-ENV:Fault>a SOAP request</SOAP-ENV:Fault>",
        );
    }
    let now = Instant::now();
    st.hits.retain(|t| now - *t < Duration::from_secs(60));
    if st.hits.len() >= st.opts.requests_per_minute {
        return refused("rate", "", "");
    }
    st.hits.push_back(now);
    let Some(body) = c.json() else {
        return refused("bad-json", "", "");
    };
    let (action, p) = (body["action"].as_str().unwrap_or_default(), &body["param"]);
    let text = |k: &str| match &p[k] {
        Value::Number(n) => n.to_string(),
        v => v.as_str().unwrap_or_default().to_string(),
    };
    let (customer, key, o) = (text("customernumber"), text("apikey"), &st.opts);
    if action == "login" {
        let pw = text("apipassword");
        if customer != o.customer || !o.api_keys.contains(&key) || pw != o.api_password {
            return refused("bad-login", action, "");
        }
        let id = random_id(32, ALNUM).unwrap_or_default();
        st.sessions.insert(id.clone(), (key, now));
        st.logins += 1;
        return said("login", action, "", json!({ "apisessionid": id }));
    }
    let sid = text("apisessionid");
    let session = st
        .sessions
        .get(&sid)
        .filter(|(k, t)| *k == key && now - *t < SESSION_LIFE);
    let live = session.is_some() && customer == o.customer;
    if !live || (st.early_ends > 0 && action != "logout") {
        st.early_ends -= u32::from(live);
        st.sessions.remove(&sid);
        return refused("session", action, "");
    }
    let domain = text("domainname").to_ascii_lowercase();
    let zone = st.store.zone_named(&domain).cloned();
    let valid = domain.contains('.') && absolute_name(&domain, &domain).is_some();
    match (action, zone) {
        ("logout", _) => {
            st.sessions.remove(&sid);
            refused("logout", action, "")
        }
        ("infoDnsZone" | "infoDnsRecords" | "updateDnsRecords", _) if !valid => {
            refused("bad-domain", action, "")
        }
        ("infoDnsZone", None) => refused("no-zone", action, &domain),
        ("infoDnsZone", Some(z)) => {
            let mut data = answers()["zone-data"].clone();
            data["name"] = json!(z.name);
            said("zone", action, "", data)
        }
        ("infoDnsRecords", None) => refused("no-records", action, &domain),
        ("infoDnsRecords", Some(z)) => match records_json(&st.store, &z.name) {
            list if list.is_empty() => refused("empty", action, &domain),
            list => said("records", action, "", json!({ "dnsrecords": list })),
        },
        ("updateDnsRecords", None) => refused("no-update", action, &domain),
        ("updateDnsRecords", Some(z)) => update(st, p, &z),
        _ => refused("bad-action", action, ""),
    }
}

/// The zone's records as netcup lists them.
fn records_json(store: &RecordStore, zone: &str) -> Vec<Value> {
    let rel = |n: &str| {
        n.strip_suffix(&format!(".{zone}"))
            .unwrap_or("@")
            .to_string()
    };
    let dest = |r: &FakeRecord| match r.rtype.as_str() {
        "TXT" => unquote_txt(&r.content),
        _ => r.content.clone(),
    };
    let all = store.in_zone(zone).into_iter();
    all.map(|r| {
        json!({ "id": r.id, "hostname": rel(&r.name), "type": r.rtype, "priority": "0",
            "destination": dest(&r), "deleterecord": false, "state": "yes" })
    })
    .collect()
}

/// `updateDnsRecords`: create, change or delete the listed records, all or nothing.
fn update(st: &mut State, p: &Value, z: &FakeZone) -> Reply {
    let action = "updateDnsRecords";
    let list = p["dnsrecordset"]["dnsrecords"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut plan = Vec::new();
    for r in &list {
        let field = |k: &str| r[k].as_str().map(str::trim).filter(|v| !v.is_empty());
        let rtype = field("type")
            .map(str::to_ascii_uppercase)
            .unwrap_or_default();
        let (host, dest) = (field("hostname").unwrap_or_default(), field("destination"));
        let name = absolute_name(host, &z.name).filter(|_| TYPES.contains(&format!(" {rtype} ")));
        let (Some(name), Some(dest)) = (name, dest) else {
            return refused("bad-record", action, "");
        };
        let id = field("id").map(str::to_string);
        if id
            .as_ref()
            .is_some_and(|id| !st.store.records.iter().any(|x| &x.id == id))
        {
            return refused("no-record", action, "");
        }
        let content = if rtype == "TXT" {
            txt_rdata(dest)
        } else {
            dest.to_string()
        };
        plan.push((id, r["deleterecord"] == json!(true), rtype, name, content));
    }
    let manual = st.opts.reload_manually;
    let mirror = if manual { st.store.mirror.take() } else { None };
    let mut next_id = st.next_id;
    let result = st.store.edit(|s| {
        for (id, delete, rtype, name, content) in &plan {
            let rec = FakeRecord::new(z, rtype, name, content, 300)?;
            next_id += u64::from(id.is_none() && !delete);
            let id_now = id.clone().unwrap_or(next_id.to_string());
            s.put(
                id.as_deref(),
                (!delete).then_some(FakeRecord { id: id_now, ..rec }),
            );
        }
        Ok::<_, KitError>(())
    });
    if manual {
        st.store.mirror = mirror;
        st.dirty
            .extend(plan.iter().filter(|r| r.2 == "TXT").map(|r| r.3.clone()));
    }
    if result.is_err() {
        return refused("no-update", action, &z.name);
    }
    st.next_id = next_id;
    let list = records_json(&st.store, &z.name);
    said("updated", action, "", json!({ "dnsrecords": list }))
}
