//! A stateful fake of the ClouDNS HTTP API (www.cloudns.net/wiki/article/41/ ff., root
//! `https://api.cloudns.net`) a DNS-01 client uses, on the kit's router (no ClouDNS server can
//! run here): `/dns/list-zones.json` (`page`, `rows-per-page` of 10/20/30/50/100),
//! `/dns/get-zone-info.json`, `/dns/records.json` (`host`, `type` filters; an object keyed by
//! record id, `[]` when empty; unpaged), `/dns/add-record.json`, `/dns/mod-record.json`,
//! `/dns/delete-record.json`, each by GET or POST with parameters in the query or a form
//! body; credentials as parameters (`auth-id` or `sub-auth-id`, `auth-password`; the kit's
//! `FakeToken` with `token` = `<id>:<password>` or `sub:<id>:<password>`, `zones` the zones a
//! sub-user sees); ids and TTLs as strings, the apex host `""`; every failure HTTP 200
//! `{"status":"Failed","statusDescription":…}` as ClouDNS words it: `Invalid authentication…`,
//! `Missing domain-name`, `Invalid record-id param.`, `Invalid TTL…`, and the rate limit
//! `Request blocked. <ip> is sending more than 20 requests per second.`. With
//! [`CloudnsFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary first.

use std::ops::Deref;
use std::time::Duration;

use serde_json::{Map, Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, parse_query,
};

/// The API user every fake accepts unless options say otherwise: id 4321, all zones.
pub const DEFAULT_LOGIN: &str = "4321:CLOUDNSPASSWORD";
/// The TTLs ClouDNS takes.
const TTLS: &[u64] = &[
    60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000,
];
const TYPES: &[&str] = &[
    "A", "AAAA", "MX", "CNAME", "TXT", "SPF", "NS", "SRV", "CAA", "ALIAS",
];

/// Options for [`CloudnsFake::start`].
#[derive(Debug, Clone)]
pub struct CloudnsFakeOptions {
    /// Zone names.
    pub zones: Vec<String>,
    /// Accepted logins.
    pub tokens: Vec<FakeToken>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for CloudnsFakeOptions {
    fn default() -> Self {
        CloudnsFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_LOGIN)],
            dns: None,
        }
    }
}

impl CloudnsFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        CloudnsFakeOptions {
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
    opts: CloudnsFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct CloudnsFake(FakeServer<State>);

impl Deref for CloudnsFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;
type Params = Vec<(String, String)>;

/// A ClouDNS answer: HTTP 200 with `status` and `statusDescription`.
fn status(ok: bool, text: &str) -> Reply {
    let s = if ok { "Success" } else { "Failed" };
    let r = Reply::json(200, &json!({ "status": s, "statusDescription": text }));
    if ok {
        r
    } else {
        r.tag(text.split(['.', ',']).next().unwrap_or(text).to_owned())
    }
}

fn failed(text: &str) -> Reply {
    status(false, text)
}

/// The numeric id ClouDNS shows for a store id.
pub fn num_id(hex: &str) -> String {
    u64::from_str_radix(hex.get(..12).unwrap_or("1"), 16)
        .unwrap_or(1)
        .to_string()
}

/// Query and form-body parameters of a call.
fn params(c: &Call) -> Params {
    let mut p = c.query.clone();
    p.extend(parse_query(&c.text()));
    p
}

fn get<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

impl CloudnsFake {
    /// Start on a free loopback port.
    pub fn start(opts: CloudnsFakeOptions) -> Result<CloudnsFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        type Handler = fn(&mut State, &Call) -> Answer;
        let routes: [(&str, Handler); 6] = [
            ("list-zones", list_zones),
            ("get-zone-info", zone_info),
            ("records", records),
            ("add-record", |st, c| write(st, c, false)),
            ("mod-record", |st, c| write(st, c, true)),
            ("delete-record", delete_record),
        ];
        let mut router = Router::new("cloudns").prefix("/dns").auth(authenticate);
        for (name, h) in routes {
            for m in ["GET", "POST"] {
                router = router.route(&format!("{m} /{name}.json"), h);
            }
        }
        let router = router.fallback(|_, _| failed("Invalid request."));
        Ok(CloudnsFake(router.start(State { store, opts })?))
    }

    /// `http://127.0.0.1:PORT`: what goes into `base_url` / `CLOUDNS_API_URL`.
    pub fn base_url(&self) -> String {
        self.url().trim_end_matches("/dns").to_owned()
    }

    /// Answer the next `n` requests with ClouDNS's rate-limit failure.
    pub fn fail_next_blocked(&self, n: u32) {
        self.fail_next(n, blocked());
    }

    /// Answer every request with the rate-limit failure for `d` from now.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |_| blocked());
    }

    /// Create a record as the control panel would.
    pub fn seed(&self, zone: &str, rtype: &str, name: &str, content: &str, ttl: u32) {
        let id = self.seed_record(zone, rtype, name, content, ttl);
        id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
}

fn blocked() -> Reply {
    failed("Request blocked. 127.0.0.1 is sending more than 20 requests per second.")
}

/// The auth hook: the index of the login, or ClouDNS's failure (HTTP 200).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let p = params(c);
    let pw = get(&p, "auth-password").unwrap_or_default();
    let (login, text) = match (get(&p, "auth-id"), get(&p, "sub-auth-id")) {
        (Some(id), _) => (format!("{id}:{pw}"), "auth-id or auth-password"),
        (None, Some(id)) => (
            format!("sub:{id}:{pw}"),
            "sub-auth-id, sub-auth-user or auth-password",
        ),
        (None, None) => return Err(failed("Wrong or missing required parameter 'auth-id'.")),
    };
    let i = st.opts.tokens.iter().position(|t| t.token == login);
    let i = i.ok_or_else(|| failed(&format!("Invalid authentication, incorrect {text}.")))?;
    c.principal = Some(i.to_string());
    Ok(())
}

impl State {
    fn token(&self, c: &Call) -> FakeToken {
        let i: Option<usize> = c.principal.as_deref().and_then(|p| p.parse().ok());
        let t = i.and_then(|i| self.opts.tokens.get(i).cloned());
        t.unwrap_or_else(|| FakeToken::full(""))
    }

    /// The `domain-name` zone if the login sees it.
    fn zone(&self, c: &Call) -> Result<FakeZone, Reply> {
        let p = params(c);
        let z = self
            .store
            .zone_named(get(&p, "domain-name").unwrap_or_default());
        let z = z.filter(|z| self.token(c).may(&z.name));
        z.cloned().ok_or_else(|| failed("Missing domain-name"))
    }
}

fn zone_json(z: &FakeZone) -> Value {
    json!({ "name": z.name, "type": "master", "zone": "domain", "status": "1" })
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let p = params(c);
    let page: usize = get(&p, "page")
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| failed("Missing required parameter 'page'."))?;
    let per = get(&p, "rows-per-page").and_then(|v| v.parse::<usize>().ok());
    let per = per
        .filter(|n| [10, 20, 30, 50, 100].contains(n))
        .ok_or_else(|| failed("Wrong or missing required parameter 'rows-per-page'."))?;
    let t = st.token(c);
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(|z| t.may(&z.name)).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = zones
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|z| zone_json(z))
        .collect();
    Ok(Reply::json(200, &Value::Array(items)))
}

fn zone_info(st: &mut State, c: &Call) -> Answer {
    Ok(Reply::json(200, &zone_json(&st.zone(c)?)))
}

/// The host ClouDNS shows: relative to the zone, `""` for the apex.
fn host_of(r: &FakeRecord) -> String {
    let rest = r.name.strip_suffix(&r.zone_name).unwrap_or(&r.name);
    rest.trim_end_matches('.').to_owned()
}

fn records(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let p = params(c);
    let (host, rtype) = (
        get(&p, "host"),
        get(&p, "type").map(str::to_ascii_uppercase),
    );
    let mut out = Map::new();
    for r in st.store.in_zone(&z.name) {
        if host.is_some_and(|h| dns_name(h) != host_of(&r))
            || rtype.as_ref().is_some_and(|t| *t != r.rtype)
        {
            continue;
        }
        out.insert(
            num_id(&r.id),
            json!({ "id": num_id(&r.id), "type": r.rtype, "host": host_of(&r),
            "record": r.content, "dynamicurl_status": 0, "failover": "0",
            "ttl": r.ttl.to_string(), "status": 1 }),
        );
    }
    let body = if out.is_empty() {
        json!([])
    } else {
        Value::Object(out)
    };
    Ok(Reply::json(200, &body))
}

fn find(st: &State, z: &FakeZone, p: &Params) -> Result<FakeRecord, Reply> {
    let id = get(p, "record-id").unwrap_or_default();
    let found = st
        .store
        .in_zone(&z.name)
        .into_iter()
        .find(|r| num_id(&r.id) == id);
    found.ok_or_else(|| failed("Invalid record-id param."))
}

fn delete_record(st: &mut State, c: &Call) -> Answer {
    let z = st.zone(c)?;
    let r = find(st, &z, &params(c))?;
    st.store.change(Some(&r.id), None)?;
    Ok(status(true, "The record was deleted successfully."))
}

/// `add-record` (new id) or `mod-record` (same id and type), checked as ClouDNS checks them.
fn write(st: &mut State, c: &Call, modify: bool) -> Answer {
    let z = st.zone(c)?;
    let p = params(c);
    let old = modify.then(|| find(st, &z, &p)).transpose()?;
    let rtype = match &old {
        Some(o) => o.rtype.clone(),
        None => get(&p, "record-type")
            .unwrap_or_default()
            .to_ascii_uppercase(),
    };
    if !TYPES.contains(&rtype.as_str()) {
        return Err(failed("This record type is not supported."));
    }
    let host = dns_name(get(&p, "host").ok_or_else(|| failed("Missing host."))?);
    let name = if host.is_empty() {
        z.name.clone()
    } else {
        format!("{host}.{}", z.name)
    };
    let record = get(&p, "record").filter(|r| !r.trim().is_empty());
    let record = record.ok_or_else(|| failed("Missing record."))?;
    let ttl = get(&p, "ttl")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| TTLS.contains(t));
    let ttl =
        ttl.ok_or_else(|| failed("Invalid TTL. Choose from the list of the values we support."))?;
    let mut rec = FakeRecord::new(&z, &rtype, &name, record, ttl as u32)?;
    if let Some(o) = &old {
        rec.id = o.id.clone();
    }
    st.store
        .change(old.as_ref().map(|o| o.id.as_str()), Some(rec.clone()))?;
    Ok(match modify {
        true => status(true, "The record was modified successfully."),
        false => Reply::json(
            200,
            &json!({ "status": "Success",
            "statusDescription": "The record was added successfully.", "data": { "id": num_id(&rec.id) } }),
        ),
    })
}
