//! A stateful fake of the Namecheap XML API a DNS-01 client uses, on the kit's router, after
//! namecheap.com/support/api (no Namecheap server can run here): one endpoint,
//! `GET|POST /xml.response`, parameters in the query or a form body (names in any case), the
//! global parameters `ApiUser`, `ApiKey`, `UserName`, `ClientIp`, `Command`, and the commands
//! `namecheap.domains.getList` (`Page`, `PageSize` 10–100, default 20, `<Paging>`),
//! `namecheap.domains.getInfo`, `namecheap.domains.dns.getHosts` and
//! `namecheap.domains.dns.setHosts` (`SLD`, `TLD`, `HostNameN`, `RecordTypeN`, `AddressN`,
//! `MXPrefN`, `TTLN` 60–60000, `EmailType`), which **replaces the whole host list**: hosts not
//! sent are gone, an omitted `EmailType` turns the email setting (forwarding, private email)
//! off, and MX hosts are kept only with `EmailType=MX`. Answers are HTTP 200 with
//! `Status="OK"` or `Status="ERROR"` and `<Error Number="…">` (1011102 bad key, 1011150
//! `Invalid request IP: <the address the request came from>` unless it is whitelisted,
//! 1010105 no ClientIp, 2019166 / 2016166 unknown or foreign domain, 2030288 a domain on other
//! nameservers). Rate limiting is 429 with `Retry-After` (Namecheap documents no form; this is
//! a guess). Hosts are the kit's `FakeRecord`s (full names; `comment` holds the MXPref);
//! dynamic-DNS hosts are marked. `GET /getip` (outside the endpoint) answers the address the
//! fake sees, as Namecheap's dynamicdns.park-your-domain.com/getip does. Proven by
//! dns-lexicon's namecheap provider (tests/sdk/prove.py). With
//! [`NamecheapFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::time::Duration;

use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, HoldsRecords, KitError};
use wildcert_testkit::{RecordStore, Reply, Router, ZoneMirror, absolute_name, dns_name};

/// The account every fake knows unless told otherwise.
pub const USER: &str = "wildcert";
/// Its API key (32 hex characters, as Namecheap's are).
pub const KEY: &str = "0123456789abcdef0123456789abcdef";
/// The record types setHosts takes.
const TYPES: &[&str] = &[
    "A", "AAAA", "ALIAS", "CAA", "CNAME", "MX", "MXE", "NS", "TXT", "URL", "URL301", "FRAME",
];
const NS: &str = "http://api.namecheap.com/xml.response";

/// Options for [`NamecheapFake::start`].
#[derive(Debug, Clone)]
pub struct NamecheapFakeOptions {
    /// Domains of the account on Namecheap's nameservers.
    pub zones: Vec<String>,
    /// Domains of the account on other nameservers (`IsOurDNS="false"`).
    pub elsewhere: Vec<String>,
    /// Domains of another account (2016166).
    pub foreign: Vec<String>,
    /// Accounts: `(ApiUser, ApiKey)`.
    pub users: Vec<(String, String)>,
    /// Addresses allowed to call the API.
    pub whitelist: Vec<String>,
    /// The address the fake sees requests come from (a NAT's outside address, say).
    pub request_ip: String,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for NamecheapFakeOptions {
    fn default() -> Self {
        NamecheapFakeOptions {
            zones: vec!["example.test".into()],
            elsewhere: vec![],
            foreign: vec![],
            users: vec![(USER.into(), KEY.into())],
            whitelist: vec!["127.0.0.1".into()],
            request_ip: "127.0.0.1".into(),
            dns: None,
        }
    }
}

impl NamecheapFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        NamecheapFakeOptions {
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
    opts: NamecheapFakeOptions,
    /// `EmailType` per domain.
    email: BTreeMap<String, String>,
    /// Ids of dynamic-DNS hosts.
    ddns: BTreeSet<String>,
    next_id: u64,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct NamecheapFake(FakeServer<State>);

impl Deref for NamecheapFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

/// One host as getHosts shows it: name, type, address, MXPref, TTL, IsDDNSEnabled.
pub type Shown = (String, String, String, String, u32, bool);

fn esc(s: &str) -> String {
    let s = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    s.replace('"', "&quot;")
}

/// An answer document around `inner` (`Status="OK"`).
fn ok(command: &str, inner: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ApiResponse Status=\"OK\" xmlns=\"{NS}\">\
         <Errors /><Warnings /><RequestedCommand>{command}</RequestedCommand>\
         <CommandResponse Type=\"{command}\">{inner}</CommandResponse><Server>WILDCERT-FAKE</Server>\
         <GMTTimeDifference>--5:00</GMTTimeDifference><ExecutionTime>0.012</ExecutionTime></ApiResponse>"
    );
    Reply::text(200, "text/xml; charset=utf-8", body)
}

/// An error answer: HTTP 200, `Status="ERROR"`, one `<Error>`.
pub fn error(number: &str, text: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ApiResponse Status=\"ERROR\" xmlns=\"{NS}\">\
         <Errors><Error Number=\"{number}\">{}</Error></Errors><Warnings /><RequestedCommand />\
         <Server>WILDCERT-FAKE</Server><GMTTimeDifference>--5:00</GMTTimeDifference>\
         <ExecutionTime>0</ExecutionTime></ApiResponse>",
        esc(text)
    );
    Reply::text(200, "text/xml; charset=utf-8", body).tag(number)
}

/// The rate limit's answer (a guess: Namecheap documents none).
pub fn rate_limited() -> Reply {
    Reply::text(429, "text/plain", "Too many requests").header("Retry-After", "1")
}

/// Query and form parameters, names lower case.
fn params(c: &Call) -> BTreeMap<String, String> {
    let form = match c.header("content-type") {
        Some(t) if t.starts_with("application/x-www-form-urlencoded") => {
            wildcert_testkit::parse_query(&c.text())
        }
        _ => vec![],
    };
    let all = c.query.iter().cloned().chain(form);
    all.map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

impl NamecheapFake {
    /// Start on a free loopback port.
    pub fn start(opts: NamecheapFakeOptions) -> Result<NamecheapFake, KitError> {
        let all = [&opts.zones, &opts.elsewhere, &opts.foreign];
        let names: Vec<String> = all.into_iter().flatten().cloned().collect();
        let store = RecordStore::new(&names, opts.dns.clone())?;
        let seen = opts.request_ip.clone();
        let server = Router::new("namecheap")
            .prefix("/xml.response")
            .auth(authenticate)
            .route("GET /", command)
            .route("POST /", command)
            .fallback(move |c, _| match c.path.as_str() {
                "/getip" => Reply::text(200, "text/html", seen.clone()),
                _ => Reply::text(
                    404,
                    "text/html",
                    "<h1>404 - File or directory not found.</h1>",
                ),
            });
        let email = names
            .iter()
            .map(|n| (dns_name(n), "NONE".to_string()))
            .collect();
        let (ddns, next_id) = (BTreeSet::new(), 1000);
        Ok(NamecheapFake(server.start(State {
            store,
            opts,
            email,
            ddns,
            next_id,
        })?))
    }

    /// `http://127.0.0.1:PORT/xml.response`: what goes into `base_url` / `NAMECHEAP_API_URL`.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// `http://127.0.0.1:PORT/getip`: the address-discovery service.
    pub fn ip_url(&self) -> String {
        format!("http://{}/getip", self.addr())
    }

    /// Plant a host as the dashboard would (`ttl` seconds, `ddns` for a dynamic-DNS A host).
    pub fn seed_host(&self, zone: &str, host: (&str, &str, &str, &str), ttl: u32, ddns: bool) {
        let (name, rtype, address, pref) = host;
        self.with(|st| {
            let z = st
                .store
                .zone_named(zone)
                .cloned()
                .expect("zone of the fake");
            let fqdn = absolute_name(name, zone).expect("host name");
            let mut rec = FakeRecord::new(&z, rtype, &fqdn, address, ttl).expect("record");
            (rec.id, rec.comment) = (st.next_id.to_string(), Some(pref.to_string()));
            st.next_id += 1;
            if ddns {
                st.ddns.insert(rec.id.clone());
            }
            st.store.change(None, Some(rec)).expect("mirrored");
        });
    }

    /// The email setting of `zone`.
    pub fn email_type(&self, zone: &str) -> String {
        self.with(|st| st.email.get(&dns_name(zone)).cloned().unwrap_or_default())
    }

    /// Set the email setting of `zone` (as the dashboard does).
    pub fn set_email_type(&self, zone: &str, t: &str) {
        self.with(|st| st.email.insert(dns_name(zone), t.to_string()));
    }

    /// Every host of `zone` as getHosts shows it, sorted.
    pub fn hosts(&self, zone: &str) -> Vec<Shown> {
        self.with(|st| {
            let mut v: Vec<Shown> = st.store.in_zone(zone).iter().map(|r| st.shown(r)).collect();
            v.sort();
            v
        })
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |_| rate_limited());
    }
}

impl State {
    fn shown(&self, r: &FakeRecord) -> Shown {
        let rel = r
            .name
            .strip_suffix(&format!(".{}", r.zone_name))
            .unwrap_or("@");
        let pref = r.comment.clone().unwrap_or_else(|| "10".into());
        let ddns = self.ddns.contains(&r.id);
        (
            rel.into(),
            r.rtype.clone(),
            r.content.clone(),
            pref,
            r.ttl,
            ddns,
        )
    }

    /// The account's domain named by `SLD` + `TLD` (or `DomainName`), on our nameservers.
    fn domain(&self, p: &BTreeMap<String, String>, need_our_dns: bool) -> Result<String, Reply> {
        let given = p.get("domainname").cloned();
        let name = given.unwrap_or_else(|| {
            format!(
                "{}.{}",
                p.get("sld").map_or("", |s| s),
                p.get("tld").map_or("", |s| s)
            )
        });
        let name = dns_name(&name);
        let is = |l: &Vec<String>| l.iter().any(|z| dns_name(z) == name);
        if is(&self.opts.foreign) {
            return Err(error(
                "2016166",
                "Domain is not associated with your account",
            ));
        }
        if !is(&self.opts.zones) && !is(&self.opts.elsewhere) {
            return Err(error("2019166", "Domain not found"));
        }
        if need_our_dns && is(&self.opts.elsewhere) {
            let text =
                "Cannot complete this command as this domain is not using proper DNS servers";
            return Err(error("2030288", text));
        }
        Ok(name)
    }
}

/// The global parameters: a known ApiUser with its key, from a whitelisted address.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let p = params(c);
    let user = p
        .get("apiuser")
        .ok_or_else(|| error("1010101", "Parameter APIUser is missing"))?;
    c.principal = Some(user.clone());
    let key = p.get("apikey").map_or("", |k| k.as_str());
    if !st
        .opts
        .users
        .iter()
        .any(|(u, k)| u.eq_ignore_ascii_case(user) && k == key)
    {
        return Err(error(
            "1011102",
            "API Key is invalid or API access has not been enabled",
        ));
    }
    if !st.opts.whitelist.contains(&st.opts.request_ip) {
        return Err(error(
            "1011150",
            &format!("Invalid request IP: {}", st.opts.request_ip),
        ));
    }
    if p.get("clientip").is_none_or(|ip| ip.is_empty()) {
        return Err(error("1010105", "Parameter ClientIP is missing"));
    }
    match p
        .get("username")
        .is_some_and(|u| u.eq_ignore_ascii_case(user))
    {
        true => Ok(()),
        false => Err(error("1016103", "Parameter UserName is unauthorized")),
    }
}

fn command(st: &mut State, c: &Call) -> Result<Reply, Reply> {
    let p = params(c);
    let cmd = p.get("command").map_or("", |s| s.as_str());
    match cmd.to_ascii_lowercase().as_str() {
        "namecheap.domains.getlist" => Ok(get_list(st, &p, cmd)),
        "namecheap.domains.getinfo" => {
            let d = st.domain(&p, false)?;
            let (user, hosts) = (
                c.principal.clone().unwrap_or_default(),
                st.store.in_zone(&d).len(),
            );
            let our = st.opts.zones.iter().any(|z| dns_name(z) == d);
            let inner = format!(
                "<DomainGetInfoResult Status=\"Ok\" ID=\"1\" DomainName=\"{d}\" OwnerName=\"{user}\" IsOwner=\"true\" \
                 IsPremium=\"false\"><DnsDetails ProviderType=\"FREE\" IsUsingOurDNS=\"{our}\" HostCount=\"{hosts}\" \
                 EmailType=\"{}\" DynamicDNSStatus=\"false\" IsFailover=\"false\"><Nameserver>dns1.registrar-servers.com\
                 </Nameserver></DnsDetails></DomainGetInfoResult>",
                st.email.get(&d).map_or("NONE", |e| e.as_str())
            );
            Ok(ok(cmd, &inner))
        }
        "namecheap.domains.dns.gethosts" => {
            let d = st.domain(&p, true)?;
            let mut hosts = String::new();
            for r in st.store.in_zone(&d) {
                let (name, rtype, address, pref, ttl, ddns) = st.shown(&r);
                hosts += &format!(
                    "<host HostId=\"{}\" Name=\"{}\" Type=\"{rtype}\" Address=\"{}\" MXPref=\"{pref}\" TTL=\"{ttl}\" \
                     AssociatedAppTitle=\"\" FriendlyName=\"\" IsActive=\"true\" IsDDNSEnabled=\"{ddns}\" />",
                    r.id,
                    esc(&name),
                    esc(&address)
                );
            }
            let email = st.email.get(&d).map_or("NONE", |e| e.as_str());
            let attrs = format!("Domain=\"{d}\" EmailType=\"{email}\" IsUsingOurDNS=\"true\"");
            Ok(ok(
                cmd,
                &format!("<DomainDNSGetHostsResult {attrs}>{hosts}</DomainDNSGetHostsResult>"),
            ))
        }
        "namecheap.domains.dns.sethosts" => set_hosts(st, &p, cmd),
        "" => Err(error("1010104", "Parameter Command is missing")),
        _ => Err(error(
            "1010104",
            &format!("Parameter Command is invalid: {cmd}"),
        )),
    }
}

fn get_list(st: &State, p: &BTreeMap<String, String>, cmd: &str) -> Reply {
    let num = |k: &str, d: usize| p.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (page, size) = (num("page", 1).max(1), num("pagesize", 20).clamp(10, 100));
    let mut mine: Vec<(String, bool)> = st.opts.zones.iter().map(|z| (dns_name(z), true)).collect();
    mine.extend(st.opts.elsewhere.iter().map(|z| (dns_name(z), false)));
    mine.sort();
    let mut inner = String::from("<DomainGetListResult>");
    for (i, (name, our)) in mine.iter().enumerate().skip((page - 1) * size).take(size) {
        inner += &format!(
            "<Domain ID=\"{}\" Name=\"{name}\" User=\"{USER}\" Created=\"01/02/2024\" Expires=\"01/02/2027\" \
             IsExpired=\"false\" IsLocked=\"false\" AutoRenew=\"true\" WhoisGuard=\"ENABLED\" IsPremium=\"false\" \
             IsOurDNS=\"{our}\" />",
            i + 1
        );
    }
    let paging = format!(
        "<Paging><TotalItems>{}</TotalItems><CurrentPage>{page}</CurrentPage><PageSize>{size}</PageSize></Paging>",
        mine.len()
    );
    ok(cmd, &format!("{inner}</DomainGetListResult>{paging}"))
}

/// Replace the domain's whole host list (and its email setting) by what was sent.
fn set_hosts(st: &mut State, p: &BTreeMap<String, String>, cmd: &str) -> Result<Reply, Reply> {
    let d = st.domain(p, true)?;
    let zone = st
        .store
        .zone_named(&d)
        .cloned()
        .ok_or_else(|| error("2019166", "Domain not found"))?;
    let email = p
        .get("emailtype")
        .map(|e| e.to_ascii_uppercase())
        .unwrap_or_else(|| "NONE".into());
    if !["NONE", "MXE", "MX", "FWD", "OX", "GMAIL"].contains(&email.as_str()) {
        return Err(error("2011331", &format!("EmailType is invalid: {email}")));
    }
    let mut n: Vec<u32> = p
        .keys()
        .filter_map(|k| k.strip_prefix("hostname")?.parse().ok())
        .collect();
    n.sort();
    let mut hosts = Vec::new();
    for i in n {
        let get = |k: &str| p.get(&format!("{k}{i}")).cloned().unwrap_or_default();
        let (rtype, ttl) = (get("recordtype").to_ascii_uppercase(), get("ttl"));
        let ttl: u32 = if ttl.is_empty() {
            1800
        } else {
            ttl.parse().unwrap_or(0)
        };
        let fqdn = absolute_name(&get("hostname"), &d);
        let address = get("address");
        if !TYPES.contains(&rtype.as_str())
            || fqdn.is_none()
            || address.is_empty()
            || !(60..=60000).contains(&ttl)
        {
            let what = format!("HostName{i}/RecordType{i}/Address{i}/TTL{i}");
            return Err(error("2050900", &format!("Invalid host record: {what}")));
        }
        let pref = Some(get("mxpref"))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "10".into());
        if (rtype == "MX" && email != "MX") || (rtype == "MXE" && email != "MXE") {
            continue; // MX hosts are kept only with the matching EmailType
        }
        let fqdn = fqdn.unwrap_or_default();
        let mut rec = FakeRecord::new(&zone, &rtype, &fqdn, &address, ttl).map_err(Reply::from)?;
        (rec.id, rec.comment) = (st.next_id.to_string(), Some(pref));
        st.next_id += 1;
        hosts.push(rec);
    }
    st.store.edit(|s| {
        s.records.retain(|r| r.zone_name != d);
        s.records.extend(hosts);
        Ok::<_, Reply>(())
    })?;
    st.email.insert(d.clone(), email);
    let inner = format!(
        "<DomainDNSSetHostsResult Domain=\"{d}\" IsSuccess=\"true\"><Warnings /></DomainDNSSetHostsResult>"
    );
    Ok(ok(cmd, &inner))
}
