//! A stateful fake of netcup's CCP DNS API (ccp.netcup.net/run/webservice/servers/endpoint.php,
//! "DNS API" of the netcup help center; no netcup server can run here) on the kit's router:
//! `POST /run/webservice/servers/endpoint.php?JSON` with `{"action", "param"}`, answered with
//! HTTP 200 and `{"serverrequestid", "clientrequestid", "action", "status", "statuscode",
//! "shortmessage", "longmessage", "responsedata"}` whatever happened. Actions: `login`
//! (customernumber + apikey + apipassword → `apisessionid`; anything wrong → `4013`),
//! `logout`, `infoDnsZone`, `infoDnsRecords` (`5029` for a zone without records) and
//! `updateDnsRecords` (records without `id` created, with `id` changed, with `deleterecord`
//! deleted — type, hostname and destination required even then; records not listed stay).
//! Every other action needs a live session of the same customer and key (`4001` otherwise;
//! sessions last 15 minutes). More than `requests_per_minute` (netcup: 180) requests within a
//! minute get netcup's `4013` "More than 180 requests per minute". TXT destinations are kept
//! without quotes, ids are decimal strings, the TTL is the zone's. Proven by dns-lexicon's
//! `netcup` provider (tests/sdk/prove.py).
//!
//! With [`NetcupFakeOptions::backed_by`] the records land in the BIND topology's primary (the
//! kit's `ZoneMirror`): at once, or — netcup's trap — only when [`NetcupFake::reload`] runs
//! (`reload_manually`), as netcup's nameservers load a changed zone about every 10 minutes.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, HoldsRecords, KitError};
use wildcert_testkit::{RecordStore, Reply, Router, ZoneMirror, absolute_name, random_id};
use wildcert_testkit::{txt_rdata, unquote_txt};

/// The customer number every fake accepts unless told otherwise.
pub const CUSTOMER: &str = "123456";
/// An API key of that customer.
pub const API_KEY: &str = "wildcertFakeNetcupApiKey0123456789abcdefghijklmnop";
/// The customer's API password.
pub const API_PASSWORD: &str = "wildcertFakeNetcupApiPassword0123456789abcdefghij";
/// netcup's answer when the limit is reached (also, by netcup, to some bad logins).
pub const RATE_MESSAGE: &str = "More than 180 requests per minute. Please wait and retry later. \
     Please contact our customer service to find out if the limitation of requests can be increased.";
/// How long a session lives.
const SESSION_LIFE: Duration = Duration::from_secs(15 * 60);
/// The record types netcup takes.
const TYPES: &str = " A AAAA MX CNAME CAA SRV TXT TLSA NS DS OPENPGPKEY SMIMEA SSHFP ";

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
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: NetcupFakeOptions,
    /// Live sessions: id → (API key, started).
    sessions: HashMap<String, (String, Instant)>,
    hits: VecDeque<Instant>,
    /// TXT names changed since the last reload.
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

/// netcup's answer document (always HTTP 200).
pub fn answer(action: &str, code: u32, short: &str, long: &str, data: Value) -> Reply {
    let status = if code < 3000 { "success" } else { "error" };
    let id = random_id(
        27,
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    );
    let body = json!({ "serverrequestid": id.unwrap_or_default(), "clientrequestid": "",
        "action": action, "status": status, "statuscode": code, "shortmessage": short,
        "longmessage": long, "responsedata": data });
    Reply::json(200, &body).tag(code.to_string())
}

fn refuse(action: &str, code: u32, short: &str, long: &str) -> Reply {
    answer(action, code, short, long, json!(""))
}

/// netcup's rate-limit answer.
pub fn rate_limited() -> Reply {
    refuse("", 4013, "Validation Error.", RATE_MESSAGE)
}

/// netcup's answer to a session it does not know (also its early-expiry fault).
pub fn session_gone(action: &str) -> Reply {
    let long = "The session id is not in a valid format.";
    refuse(action, 4001, "Api session id in invalid format", long)
}

impl NetcupFake {
    /// Start on a free loopback port.
    pub fn start(opts: NetcupFakeOptions) -> Result<NetcupFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("netcup")
            .prefix("/run/webservice/servers")
            .route("POST /endpoint.php", handle)
            .fallback(|_, _| Reply::text(404, "text/html", "<h1>404 Not Found</h1>"));
        let (sessions, hits, dirty) = Default::default();
        let state = State {
            store,
            opts,
            sessions,
            hits,
            dirty,
            next_id: 1000,
            logins: 0,
            early_ends: 0,
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
            let sets: Vec<(String, u32, Vec<String>)> = (st.dirty.iter())
                .map(|n| (n.clone(), 300, txt_of(&st.store, n)))
                .collect();
            m.set_txt(&sets)?;
            st.dirty.clear();
            Ok(())
        })
    }
}

/// The TXT data at `name`, presentation form, sorted.
fn txt_of(store: &RecordStore, name: &str) -> Vec<String> {
    let mut v: Vec<String> = (store.records.iter())
        .filter(|r| r.rtype == "TXT" && r.name == name)
        .map(|r| txt_rdata(&r.content))
        .collect();
    v.sort();
    v
}

fn handle(st: &mut State, c: &Call) -> Reply {
    if c.query("JSON").is_none() {
        return Reply::text(
            400,
            "text/xml",
            "<SOAP-ENV:Fault>only ?JSON is served</SOAP-ENV:Fault>",
        );
    }
    let now = Instant::now();
    while st
        .hits
        .front()
        .is_some_and(|t| now - *t > Duration::from_secs(60))
    {
        st.hits.pop_front();
    }
    if st.hits.len() >= st.opts.requests_per_minute {
        return rate_limited();
    }
    st.hits.push_back(now);
    let Some(body) = c.json() else {
        let long = "Customer account not found. JSON decode failed while validating request.";
        return refuse("", 4013, "Validation Error.", long);
    };
    let action = body["action"].as_str().unwrap_or_default();
    let p = &body["param"];
    let text = |k: &str| match &p[k] {
        Value::Number(n) => n.to_string(),
        v => v.as_str().unwrap_or_default().to_string(),
    };
    let (customer, key) = (text("customernumber"), text("apikey"));
    if action == "login" {
        let o = &st.opts;
        let ok = customer == o.customer
            && o.api_keys.contains(&key)
            && text("apipassword") == o.api_password;
        if !ok {
            // Observed wording: netcup blames the customer account for a wrong key or password.
            let long = "Customer account not found. JSON decode failed while validating request.";
            return refuse(action, 4013, "Validation Error.", long);
        }
        let id = random_id(
            32,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        );
        let id = id.unwrap_or_default();
        st.sessions.insert(id.clone(), (key, now));
        st.logins += 1;
        let (short, long) = ("Login successful", "Session has been created successful.");
        return answer(action, 2000, short, long, json!({ "apisessionid": id }));
    }
    let sid = text("apisessionid");
    let live = st
        .sessions
        .get(&sid)
        .is_some_and(|(k, t)| *k == key && customer == st.opts.customer && now - *t < SESSION_LIFE);
    if !live || (st.early_ends > 0 && action != "logout") {
        st.early_ends -= u32::from(live);
        st.sessions.remove(&sid);
        return session_gone(action);
    }
    let domain = text("domainname").to_ascii_lowercase();
    let zone = st.store.zone_named(&domain).cloned();
    let bad_name = || {
        let long = "Value in field domainname does not match requirements of type: domainname. ";
        refuse(action, 4013, "Validation Error.", long)
    };
    match action {
        "logout" => {
            st.sessions.remove(&sid);
            let (short, long) = (
                "Logout successful",
                "Session has been terminated successful.",
            );
            answer(action, 2000, short, long, json!(""))
        }
        "infoDnsZone" | "infoDnsRecords" | "updateDnsRecords"
            if !domain.contains('.') || absolute_name(&domain, &domain).is_none() =>
        {
            bad_name()
        }
        "infoDnsZone" => match zone {
            None => refuse(
                action,
                5031,
                "Getting DNS zone failed",
                &format!("Can not get DNS zone. The zone {domain} could not be found."),
            ),
            Some(z) => answer(
                action,
                2000,
                "DNS zone found",
                "DNS zone was found.",
                json!({ "name": z.name, "ttl": "86400", "serial": "2026120701", "refresh": "28800",
                    "retry": "7200", "expire": "1209600", "dnssecstatus": false }),
            ),
        },
        "infoDnsRecords" => {
            let short = "Getting DNS records failed";
            let Some(z) = zone else {
                return refuse(
                    action,
                    5029,
                    short,
                    &format!(
                        "Can not get DNS records for zone. The zone {domain} could not be found."
                    ),
                );
            };
            let list = records_json(&st.store, &z.name);
            match list.is_empty() {
                true => refuse(
                    action,
                    5029,
                    short,
                    &format!(
                        "Can not get DNS records for zone.  The zone does not {domain} contain any DNS records."
                    ),
                ),
                false => answer(
                    action,
                    2000,
                    "DNS records found",
                    "DNS Records for this zone were found.",
                    json!({ "dnsrecords": list }),
                ),
            }
        }
        "updateDnsRecords" => update(st, p, zone, &domain),
        _ => refuse(
            action,
            4013,
            "Validation Error.",
            "The given action does not exist.",
        ),
    }
}

/// The zone's records as netcup lists them.
fn records_json(store: &RecordStore, zone: &str) -> Vec<Value> {
    let rel = |n: &str| {
        n.strip_suffix(&format!(".{zone}"))
            .unwrap_or("@")
            .to_string()
    };
    let records = store.in_zone(zone).into_iter();
    records
        .map(|r| {
            let dest = if r.rtype == "TXT" {
                unquote_txt(&r.content)
            } else {
                r.content
            };
            json!({ "id": r.id, "hostname": rel(&r.name), "type": r.rtype, "priority": "0",
                "destination": dest, "deleterecord": false, "state": "yes" })
        })
        .collect()
}

/// `updateDnsRecords`: create, change or delete the listed records, all or nothing.
fn update(
    st: &mut State,
    p: &Value,
    zone: Option<wildcert_testkit::FakeZone>,
    domain: &str,
) -> Reply {
    let action = "updateDnsRecords";
    let failed = |long: &str| refuse(action, 5028, "Update of DNS records failed", long);
    let Some(z) = zone else {
        return failed(&format!(
            "Can not update (all) DNS records for zone. The zone {domain} could not be found."
        ));
    };
    let list = p["dnsrecordset"]["dnsrecords"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut plan = Vec::new();
    for r in &list {
        let field = |k: &str| r[k].as_str().map(str::trim).filter(|v| !v.is_empty());
        let (host, rtype, dest) = (
            field("hostname"),
            field("type").map(str::to_ascii_uppercase),
            field("destination"),
        );
        let (Some(host), Some(rtype), Some(dest)) = (host, rtype, dest) else {
            return refuse(
                action,
                4013,
                "Validation Error.",
                "Value in field dnsrecord does not match requirements of type: dnsrecord. ",
            );
        };
        let name = absolute_name(host, &z.name).filter(|_| TYPES.contains(&format!(" {rtype} ")));
        let Some(name) = name else {
            return refuse(
                action,
                4013,
                "Validation Error.",
                "the host must not be empty or consist of special characters",
            );
        };
        let id = field("id").map(str::to_string);
        if id
            .as_ref()
            .is_some_and(|id| !st.store.in_zone(&z.name).iter().any(|x| &x.id == id))
        {
            return failed(
                "Can not update (all) DNS records for zone. A given DNS record could not be found.",
            );
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
            let new = match delete {
                true => None,
                false => {
                    let rec = FakeRecord::new(&z, rtype, name, content, 300)?;
                    next_id += u64::from(id.is_none());
                    Some(FakeRecord {
                        id: id.clone().unwrap_or(next_id.to_string()),
                        ..rec
                    })
                }
            };
            s.put(id.as_deref(), new);
        }
        Ok::<_, KitError>(())
    });
    if manual {
        st.store.mirror = mirror;
        st.dirty
            .extend(plan.iter().filter(|r| r.2 == "TXT").map(|r| r.3.clone()));
    }
    if let Err(e) = result {
        return failed(&e.to_string());
    }
    st.next_id = next_id;
    let list = records_json(&st.store, &z.name);
    answer(
        action,
        2000,
        "DNS records successful updated",
        "The given DNS records for this zone were updated.",
        json!({ "dnsrecords": list }),
    )
}
