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
//! a guess). Hosts are the kit's `FakeRecord`s (full names; `comment` holds the MXPref, and
//! ` ddns` for a dynamic-DNS host, a flag setHosts never keeps). `GET /getip` (outside the
//! endpoint) answers the address the fake sees, as dynamicdns.park-your-domain.com/getip does. Proven by
//! dns-lexicon's namecheap provider (tests/sdk/prove.py). With
//! [`NamecheapFakeOptions::backed_by`] every TXT change lands in the BIND topology's primary.

use std::collections::BTreeMap;
use std::ops::Deref;

use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, HoldsRecords, KitError};
use wildcert_testkit::{RecordStore, Reply, Router, ZoneMirror, absolute_name, dns_name};

/// The account every fake knows unless told otherwise.
pub const USER: &str = "wildcert";
/// Its API key (32 hex characters, as Namecheap's are).
pub const KEY: &str = "0123456789abcdef0123456789abcdef";
/// The record types setHosts takes.
const TYPES: &str = " A AAAA ALIAS CAA CNAME MX MXE NS TXT URL URL301 FRAME ";

/// Options for [`NamecheapFake::start`].
#[derive(Debug, Clone)]
pub struct NamecheapFakeOptions {
    /// Domains of the account on Namecheap's nameservers.
    pub zones: Vec<String>,
    /// Domains of the account on other nameservers (`IsOurDNS="false"`).
    pub elsewhere: Vec<String>,
    /// Domains of another account (2016166).
    pub foreign: Vec<String>,
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
            whitelist: vec!["127.0.0.1".into()],
            request_ip: "127.0.0.1".into(),
            dns: None,
        }
    }
}

impl NamecheapFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let mut o = NamecheapFakeOptions::default();
        (o.zones, o.dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        o
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: NamecheapFakeOptions,
    /// `EmailType` per domain.
    email: BTreeMap<String, String>,
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
    let s = s.replace('&', "&amp;").replace('<', "&lt;");
    s.replace('>', "&gt;").replace('"', "&quot;")
}

/// An answer document: HTTP 200 whatever happened, `Status` `OK` or `ERROR`.
fn doc(status: &str, errors: &str, command: &str, inner: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ApiResponse Status=\"{status}\" \
         xmlns=\"http://api.namecheap.com/xml.response\"><Errors{errors}<Warnings />\
         <RequestedCommand>{command}</RequestedCommand>{inner}<Server>WILDCERT-FAKE</Server><GMTTimeDifference>--5:00</GMTTimeDifference>\
         <ExecutionTime>0.012</ExecutionTime></ApiResponse>"
    );
    Reply::text(200, "text/xml; charset=utf-8", body)
}

fn ok(command: &str, inner: &str) -> Reply {
    let inner = format!("<CommandResponse Type=\"{command}\">{inner}</CommandResponse>");
    doc("OK", " />", command, &inner)
}

/// An error answer: `<Error Number="…">text</Error>`.
pub fn error(number: &str, text: &str) -> Reply {
    let errors = format!("><Error Number=\"{number}\">{}</Error></Errors>", esc(text));
    doc("ERROR", &errors, "", "").tag(number)
}

/// The rate limit's answer (a guess: Namecheap documents none).
pub fn rate_limited() -> Reply {
    Reply::text(429, "text/plain", "Too many requests").header("Retry-After", "1")
}

/// Query and form parameters, names lower case.
fn params(c: &Call) -> BTreeMap<String, String> {
    let form = c.header("content-type").unwrap_or_default();
    let form = form.starts_with("application/x-www-form-urlencoded");
    let form = wildcert_testkit::parse_query(&c.text())
        .into_iter()
        .filter(|_| form);
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
                _ => Reply::text(404, "text/html", "404 - File or directory not found."),
            });
        let email = names.iter().map(|n| (dns_name(n), "NONE".into())).collect();
        let state = State { store, opts, email };
        Ok(NamecheapFake(server.start(state)?))
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
            let z = st.store.zone_named(zone).cloned();
            let z = z.expect("zone of the fake");
            let fqdn = absolute_name(name, zone).expect("host name");
            let mut rec = FakeRecord::new(&z, rtype, &fqdn, address, ttl).expect("record");
            rec.comment = Some(format!("{pref}{}", if ddns { " ddns" } else { "" }));
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
        let mut v: Vec<Shown> = self.records(zone).iter().map(shown).collect();
        v.sort();
        v
    }
}

/// A host as getHosts shows it (the record's `comment` holds `MXPref` and ` ddns`).
fn shown(r: &FakeRecord) -> Shown {
    let rel = r.name.strip_suffix(&format!(".{}", r.zone_name));
    let comment = r.comment.clone().unwrap_or_else(|| "10".into());
    let pref = comment.trim_end_matches(" ddns");
    let ddns = comment.ends_with(" ddns");
    let (t, a) = (r.rtype.clone(), r.content.clone());
    (rel.unwrap_or("@").into(), t, a, pref.into(), r.ttl, ddns)
}

impl State {
    /// The account's domain named by `SLD` + `TLD` (or `DomainName`), on our nameservers.
    fn domain(&self, p: &BTreeMap<String, String>, our_dns: bool) -> Result<String, Reply> {
        let get = |k: &str| p.get(k).cloned().unwrap_or_default();
        let given = Some(get("domainname")).filter(|d| !d.is_empty());
        let name = dns_name(&given.unwrap_or_else(|| format!("{}.{}", get("sld"), get("tld"))));
        let is = |l: &Vec<String>| l.iter().any(|z| dns_name(z) == name);
        if is(&self.opts.foreign) {
            let text = "Domain is not associated with your account";
            return Err(error("2016166", text));
        }
        if !is(&self.opts.zones) && !is(&self.opts.elsewhere) {
            return Err(error("2019166", "Domain not found"));
        }
        if our_dns && is(&self.opts.elsewhere) {
            let text = "Cannot complete this command as this domain is not using proper DNS";
            return Err(error("2030288", &format!("{text} servers")));
        }
        Ok(name)
    }

    fn email_of(&self, d: &str) -> &str {
        self.email.get(d).map_or("NONE", |e| e.as_str())
    }
}

/// The global parameters: a known ApiUser with its key, from a whitelisted address.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let p = params(c);
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let user = p.get("apiuser").cloned();
    let user = user.ok_or_else(|| error("1010101", "Parameter APIUser is missing"))?;
    c.principal = Some(user.clone());
    if !user.eq_ignore_ascii_case(USER) || get("apikey") != KEY {
        let text = "API Key is invalid or API access has not been enabled";
        return Err(error("1011102", text));
    }
    let ip = &st.opts.request_ip;
    if !st.opts.whitelist.contains(ip) {
        return Err(error("1011150", &format!("Invalid request IP: {ip}")));
    }
    if get("clientip").is_empty() {
        return Err(error("1010105", "Parameter ClientIP is missing"));
    }
    match get("username").eq_ignore_ascii_case(&user) {
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
            let (n, email) = (st.store.in_zone(&d).len(), st.email_of(&d));
            let our = st.opts.zones.iter().any(|z| dns_name(z) == d);
            let inner = format!(
                "<DomainGetInfoResult Status=\"Ok\" ID=\"1\" DomainName=\"{d}\" OwnerName=\"{USER}\" \
                 IsOwner=\"true\" IsPremium=\"false\"><DnsDetails ProviderType=\"FREE\" \
                 IsUsingOurDNS=\"{our}\" HostCount=\"{n}\" EmailType=\"{email}\" DynamicDNSStatus=\"false\" \
                 IsFailover=\"false\"><Nameserver>dns1.registrar-servers.com</Nameserver></DnsDetails>\
                 </DomainGetInfoResult>"
            );
            Ok(ok(cmd, &inner))
        }
        "namecheap.domains.dns.gethosts" => {
            let d = st.domain(&p, true)?;
            let mut hosts = String::new();
            for r in st.store.in_zone(&d) {
                let (name, rtype, address, pref, ttl, ddns) = shown(&r);
                let id = u64::from_str_radix(r.id.get(..8).unwrap_or("1"), 16).unwrap_or(1);
                let (name, address) = (esc(&name), esc(&address));
                hosts += &format!(
                    "<host HostId=\"{id}\" Name=\"{name}\" Type=\"{rtype}\" Address=\"{address}\" \
                     MXPref=\"{pref}\" TTL=\"{ttl}\" AssociatedAppTitle=\"\" FriendlyName=\"\" \
                     IsActive=\"true\" IsDDNSEnabled=\"{ddns}\" />"
                );
            }
            let attrs = format!("Domain=\"{d}\" EmailType=\"{}\"", st.email_of(&d));
            let result = "DomainDNSGetHostsResult";
            let inner = format!("<{result} {attrs} IsUsingOurDNS=\"true\">{hosts}</{result}>");
            Ok(ok(cmd, &inner))
        }
        "namecheap.domains.dns.sethosts" => set_hosts(st, &p, cmd),
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
    let total = mine.len();
    let paging = format!(
        "<Paging><TotalItems>{total}</TotalItems><CurrentPage>{page}</CurrentPage>\
         <PageSize>{size}</PageSize></Paging>"
    );
    ok(cmd, &format!("{inner}</DomainGetListResult>{paging}"))
}

/// Replace the domain's whole host list (and its email setting) by what was sent.
fn set_hosts(st: &mut State, p: &BTreeMap<String, String>, cmd: &str) -> Result<Reply, Reply> {
    let d = st.domain(p, true)?;
    let zone = st.store.zone_named(&d).cloned();
    let zone = zone.ok_or_else(|| error("2019166", "Domain not found"))?;
    let email = p.get("emailtype").map(|e| e.to_ascii_uppercase());
    let email = email.filter(|e| !e.is_empty()).unwrap_or("NONE".into());
    if !["NONE", "MXE", "MX", "FWD", "OX", "GMAIL"].contains(&email.as_str()) {
        return Err(error("2011331", &format!("EmailType is invalid: {email}")));
    }
    let keys = p
        .keys()
        .map(|k| k.strip_prefix("hostname").and_then(|n| n.parse().ok()));
    let (mut n, mut hosts): (Vec<u32>, Vec<FakeRecord>) = (keys.flatten().collect(), vec![]);
    n.sort();
    for i in n {
        let get = |k: &str| p.get(&format!("{k}{i}")).cloned().unwrap_or_default();
        let (rtype, address) = (get("recordtype").to_ascii_uppercase(), get("address"));
        let ttl = Some(get("ttl")).filter(|t| !t.is_empty());
        let ttl: u32 = ttl.map_or(1800, |t| t.parse().unwrap_or(0));
        let fqdn = absolute_name(&get("hostname"), &d).filter(|_| !address.is_empty());
        let valid = TYPES.contains(&format!(" {rtype} ")) && (60..=60000).contains(&ttl);
        let Some(fqdn) = fqdn.filter(|_| valid) else {
            let what = format!("HostName{i}/RecordType{i}/Address{i}/TTL{i}");
            return Err(error("2050900", &format!("Invalid host record: {what}")));
        };
        if (rtype == "MX" && email != "MX") || (rtype == "MXE" && email != "MXE") {
            continue; // MX hosts are kept only with the matching EmailType
        }
        let mut rec = FakeRecord::new(&zone, &rtype, &fqdn, &address, ttl).map_err(Reply::from)?;
        rec.comment = Some(get("mxpref")).filter(|m| !m.is_empty()); // a new host: no ddns
        hosts.push(rec);
    }
    st.store.edit(|s| {
        s.records.retain(|r| r.zone_name != d);
        s.records.extend(hosts);
        Ok::<_, Reply>(())
    })?;
    st.email.insert(d.clone(), email);
    let result = "DomainDNSSetHostsResult";
    let inner = format!("<{result} Domain=\"{d}\" IsSuccess=\"true\"><Warnings /></{result}>");
    Ok(ok(cmd, &inner))
}
