//! Namecheap DNS provider (the XML API at `https://api.namecheap.com/xml.response`).
//!
//! Namecheap has no call that adds or removes one record: `namecheap.domains.dns.setHosts`
//! replaces the domain's **whole** host list, and whatever it is not sent is deleted. So every
//! change is a read-modify-write under the zone's lock: `getHosts`, our TXT values added to or
//! removed from that list, and the list written back with every other host exactly as read
//! (name, type, address, MXPref, TTL) and the domain's `EmailType` (email forwarding, private
//! MX, …). A read that is cut off, malformed, for another domain, or holds anything setHosts
//! cannot write back (a host type it does not take, a dynamic-DNS or inactive host) stops the
//! change before anything is written. Namecheap has no conditional write, so only one process
//! may change a domain at a time; inside one process changes to a domain are serialised.

pub mod settings;
pub mod xml;

use std::net::Ipv4Addr;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use wildcert_provider::api::server_message;
use wildcert_provider::http::{self, ClientBuilder, RateLimitBudget, RetryPolicy};
use wildcert_provider::name::zone_listing;
use wildcert_provider::settings::config_error;
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, ProviderTuning, TxtSet};
use wildcert_provider::{Zone, ZoneCache, ZoneLocks};

pub use settings::{DEFAULT_BASE_URL, KIND, NamecheapConfig, NamecheapSettings, PROVIDER};
use xml::Element;

/// Record types `setHosts` takes: a zone holding any other cannot be written back whole.
pub const WRITABLE_TYPES: &[&str] = &[
    "A", "AAAA", "ALIAS", "CAA", "CNAME", "MX", "MXE", "NS", "TXT", "URL", "URL301", "FRAME",
];
/// Domains asked for per `domains.getList` page (the API's maximum).
const PAGE_SIZE: usize = 100;
/// Bound on the pages of one listing.
const MAX_PAGES: usize = 100;
/// What Namecheap's rate limit is, for the progress line.
const RATE_LIMIT: &str = "Namecheap allows 20 API calls a minute, 700 an hour";

/// One host record as `getHosts` lists it and `setHosts` takes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `HostName`: relative, `@` for the apex.
    pub name: String,
    /// `RecordType`.
    pub rtype: String,
    /// `Address`, exactly as read.
    pub address: String,
    /// `MXPref`, exactly as read.
    pub mx_pref: String,
    /// `TTL`, exactly as read.
    pub ttl: String,
}

/// A domain's whole host list and its email setting, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList {
    /// `EmailType` (`MX`, `MXE`, `FWD`, `OX`, …), sent back unchanged.
    pub email_type: String,
    /// Every host, in the order read.
    pub hosts: Vec<Host>,
}

/// The Namecheap DNS provider.
#[derive(Debug)]
pub struct NamecheapProvider {
    config: NamecheapConfig,
    client: reqwest::Client,
    policy: RetryPolicy,
    zones: ZoneCache,
    locks: ZoneLocks,
    client_ip: Mutex<Option<Ipv4Addr>>,
}

fn other(message: String) -> ProviderError {
    ProviderError::Other {
        provider: KIND,
        message,
    }
}
fn rejected(message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: KIND,
        message,
    }
}
fn auth(message: String) -> ProviderError {
    ProviderError::Auth {
        provider: KIND,
        message,
    }
}

impl NamecheapProvider {
    /// Build from settings (reads the key file).
    pub fn new(settings: &NamecheapSettings) -> Result<Self, ProviderError> {
        Self::from_config(settings.validate()?)
    }

    /// Build from a validated configuration.
    pub fn from_config(config: NamecheapConfig) -> Result<Self, ProviderError> {
        let client = ClientBuilder::new(KIND, config.timeout).build()?;
        let budget = RateLimitBudget::new(config.rate_limit_wait, "rate_limit_wait");
        let mut policy = RetryPolicy::new(KIND, budget);
        policy.rate_limit_note = Some(RATE_LIMIT);
        let client_ip = Mutex::new(config.client_ip);
        let (zones, locks) = (ZoneCache::default(), ZoneLocks::default());
        Ok(NamecheapProvider {
            config,
            client,
            policy,
            zones,
            locks,
            client_ip,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &NamecheapConfig {
        &self.config
    }

    /// ClientIp: as configured, else asked once from `client_ip_url` (as lego does).
    async fn client_ip(&self) -> Result<Ipv4Addr, ProviderError> {
        if let Some(ip) = *self.client_ip.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(ip);
        }
        let url = &self.config.client_ip_url;
        let fix = "set client_ip (NAMECHEAP_CLIENT_IP) to this host's public IPv4 address";
        let req = self.client.get(url.clone());
        let resp = self
            .policy
            .send_builder(url.as_str(), req, http::default_verdict)
            .await;
        let text = resp.map(|r| (r.status, r.text())).map_err(|e| match e {
            ProviderError::RateLimited { .. } => e,
            e => other(format!(
                "cannot learn this host's public address from {url} ({e}); {fix}"
            )),
        })?;
        let ip = match text.1.trim().parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) if text.0 == 200 => ip,
            Ok(std::net::IpAddr::V6(ip)) => {
                let why =
                    format!("{url} answered the IPv6 address {ip}; Namecheap takes only IPv4");
                return Err(other(format!("{why}: {fix}")));
            }
            _ => {
                let said = server_message(text.1.as_bytes());
                let why = format!("{url} answered HTTP {} `{said}`, not an address", text.0);
                return Err(other(format!("{why}: {fix}")));
            }
        };
        tracing::debug!(%ip, "namecheap: ClientIp from {url}");
        *self.client_ip.lock().unwrap_or_else(|p| p.into_inner()) = Some(ip);
        Ok(ip)
    }

    /// POST one command (credentials in the form body, never in the URL); the answer's
    /// elements when its `Status` is `OK`, its first error mapped otherwise.
    async fn call(&self, params: &[(String, String)]) -> Result<Vec<Element>, ProviderError> {
        let ip = self.client_ip().await?;
        let c = &self.config;
        let mut form =
            reqwest::Url::parse("http://form.invalid/").map_err(|e| other(e.to_string()))?;
        form.query_pairs_mut()
            .append_pair("ApiUser", &c.api_user)
            .append_pair("ApiKey", c.api_key.expose())
            .append_pair("UserName", &c.api_user)
            .append_pair("ClientIp", &ip.to_string())
            .extend_pairs(params);
        let body = form.query().unwrap_or_default().to_string();
        let content = HeaderValue::from_static("application/x-www-form-urlencoded");
        let req = self
            .client
            .post(c.base_url.clone())
            .header(CONTENT_TYPE, content)
            .body(body);
        let command = params.first().map(|p| p.1.as_str()).unwrap_or_default();
        tracing::debug!(provider = KIND.name, command, "request");
        let base = c.base_url.as_str();
        let resp = self
            .policy
            .send_builder(base, req, http::default_verdict)
            .await?;
        let msg = || server_message(&resp.body);
        match resp.status {
            200 => {}
            s @ (401 | 403) => return Err(auth(format!("{base} answered HTTP {s}: {}", msg()))),
            s if s >= 500 => {
                let (target, message) = (base.to_string(), format!("HTTP {s}: {}", msg()));
                return Err(ProviderError::Unreachable {
                    provider: KIND,
                    target,
                    message,
                });
            }
            s => return Err(other(format!("{base} answered HTTP {s}: {}", msg()))),
        }
        let text = String::from_utf8_lossy(&resp.body);
        let els = xml::parse(&text).map_err(|e| other(format!("{command}: {e}")))?;
        let root = els.first().filter(|r| r.is("ApiResponse"));
        let status = root.and_then(|r| r.attr("Status")).unwrap_or_default();
        if status.eq_ignore_ascii_case("OK") {
            return Ok(els);
        }
        let error = els.iter().find(|e| e.is("Error"));
        let number = error.and_then(|e| e.attr("Number")).unwrap_or_default();
        let text = error.map(|e| e.text.trim()).unwrap_or("(no error text)");
        Err(api_error(number, text, ip, command))
    }

    /// Every domain of the account (`domains.getList`, every page): name and `IsOurDNS`.
    async fn domains(&self) -> Result<Vec<(DnsName, bool)>, ProviderError> {
        let mut found = Vec::new();
        for page in 1..=MAX_PAGES {
            let params = [
                ("Command", "namecheap.domains.getList".to_string()),
                ("Page", page.to_string()),
                ("PageSize", PAGE_SIZE.to_string()),
            ];
            let els = self.call(&owned(&params)).await?;
            for d in els.iter().filter(|e| e.is("Domain")) {
                let name = d.attr("Name").and_then(|n| DnsName::parse(n).ok());
                let ours = d
                    .attr("IsOurDNS")
                    .is_none_or(|v| v.eq_ignore_ascii_case("true"));
                found.extend(name.map(|n| (n, ours)));
            }
            let number = |n: &str| {
                els.iter()
                    .find(|e| e.is(n))
                    .and_then(|e| e.text.trim().parse().ok())
            };
            let total: usize = number("TotalItems").unwrap_or(0);
            if page * number("PageSize").unwrap_or(PAGE_SIZE) >= total {
                break;
            }
        }
        Ok(found)
    }

    /// The longest domain of the account that holds `fqdn`.
    async fn lookup_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let mut domains = self.domains().await?;
        domains.sort_by_key(|(n, _)| std::cmp::Reverse(n.label_count()));
        let Some((name, ours)) = domains.iter().find(|(n, _)| fqdn.is_within(n)) else {
            let seen = zone_listing(domains.iter().map(|(n, _)| n));
            let message =
                format!("no domain of this account holds {fqdn}; the account has: {seen}");
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: fqdn.to_string(),
                message,
            });
        };
        if !ours {
            let why = "its records are served by other nameservers: use that DNS host's provider";
            return Err(rejected(format!(
                "{name} does not use Namecheap's DNS (IsOurDNS=false); {why}"
            )));
        }
        Ok(Zone::new(name.clone()))
    }

    /// The domain's whole host list (`getHosts`), or an error when any of it is not understood.
    pub async fn read_hosts(&self, zone: &Zone) -> Result<HostList, ProviderError> {
        let mut params = owned(&[("Command", "namecheap.domains.dns.getHosts".to_string())]);
        params.extend(sld_tld(zone)?);
        parse_hosts(&self.call(&params).await?, zone)
    }

    /// Read, change our TXT values, write the whole list back (when something changed).
    async fn change(&self, zone: &Zone, set: &TxtSet, add: bool) -> Result<(), ProviderError> {
        let _guard = self.locks.lock(zone).await;
        let list = self.read_hosts(zone).await?;
        let Some(hosts) = merge(&list.hosts, zone, set, add)? else {
            return Ok(());
        };
        let mut params = owned(&[("Command", "namecheap.domains.dns.setHosts".to_string())]);
        params.extend(sld_tld(zone)?);
        params.push(("EmailType".into(), list.email_type.clone()));
        for (i, h) in hosts.iter().enumerate() {
            let n = i + 1;
            params.extend([
                (format!("HostName{n}"), h.name.clone()),
                (format!("RecordType{n}"), h.rtype.clone()),
                (format!("Address{n}"), h.address.clone()),
                (format!("MXPref{n}"), h.mx_pref.clone()),
                (format!("TTL{n}"), h.ttl.clone()),
            ]);
        }
        let els = self.call(&params).await?;
        let result = els.iter().find(|e| e.is("DomainDNSSetHostsResult"));
        match result.and_then(|r| r.attr("IsSuccess")) {
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(()),
            s => Err(rejected(format!(
                "setHosts for {zone} did not succeed (IsSuccess={s:?})"
            ))),
        }
    }
}

/// Parameters as owned pairs.
fn owned(p: &[(&str, String)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// `SLD` and `TLD` of a registered domain: its first label, and the rest (`co.uk`).
fn sld_tld(zone: &Zone) -> Result<[(String, String); 2], ProviderError> {
    match zone.name.as_str().split_once('.') {
        Some((sld, tld)) if !tld.is_empty() => {
            Ok([("SLD".into(), sld.into()), ("TLD".into(), tld.into())])
        }
        _ => Err(other(format!(
            "{zone} is not a registered domain (SLD.TLD)"
        ))),
    }
}

/// An error answer (`<Error Number="…">text</Error>`), phrased for the person fixing it.
fn api_error(number: &str, text: &str, ip: Ipv4Addr, command: &str) -> ProviderError {
    let said = format!("{text} [{number}]");
    match number {
        "1011150" | "1017150" => {
            let seen = text
                .rsplit(' ')
                .next()
                .filter(|s| s.parse::<Ipv4Addr>().is_ok());
            let seen = seen.unwrap_or("the address in the message");
            let nat = " (not the ClientIp sent: a NAT, proxy or second address is in the way)";
            let nat = if seen == ip.to_string() { "" } else { nat };
            auth(format!(
                "Namecheap refused the address the request came from: {said}; wildcert sent ClientIp={ip}. \
                 Whitelist {seen}{nat} under Profile, Tools, API Access, Whitelisted IPs"
            ))
        }
        "1010105" | "1011105" | "1017105" => auth(format!(
            "{said} (ClientIp sent: {ip}); set client_ip (NAMECHEAP_CLIENT_IP)"
        )),
        "2019166" | "2016166" => ProviderError::ZoneNotFound {
            provider: KIND,
            zone: String::new(),
            message: format!("{command}: {said}"),
        },
        "2030166" => auth(format!(
            "{command}: {said}: this account may not edit the domain's hosts"
        )),
        n if n.starts_with("101") || n.starts_with("1050") => auth(format!(
            "{said} (NAMECHEAP_API_USER / NAMECHEAP_API_KEY; API access must be enabled for the account)"
        )),
        "2030288" => rejected(format!(
            "{command}: {said}: the domain does not use Namecheap's nameservers"
        )),
        _ => rejected(format!("{command}: {said}")),
    }
}

/// The host list of a `getHosts` answer for `zone`, or why it cannot be written back whole.
pub fn parse_hosts(els: &[Element], zone: &Zone) -> Result<HostList, ProviderError> {
    let refuse = |why: String| {
        other(format!(
            "getHosts for {zone}: {why}; nothing written (setHosts replaces the whole zone)"
        ))
    };
    let results = els.iter().enumerate();
    let mut results = results.filter(|(_, e)| e.is("DomainDNSGetHostsResult"));
    let (Some((at, result)), None) = (results.next(), results.next()) else {
        let why = "the answer holds no single DomainDNSGetHostsResult";
        return Err(refuse(why.into()));
    };
    let domain = result.attr("Domain").unwrap_or_default();
    if !domain.eq_ignore_ascii_case(zone.name.as_str()) {
        return Err(refuse(format!("the answer is for `{domain}`")));
    }
    let is = |attr: &str, v: &str| result.attr(attr).is_some_and(|a| a.eq_ignore_ascii_case(v));
    if is("IsUsingOurDNS", "false") {
        let why = "does not use Namecheap's nameservers (IsUsingOurDNS=false)";
        return Err(rejected(format!("{zone} {why}")));
    }
    let email_type = result.attr("EmailType").filter(|t| !t.trim().is_empty());
    let no_email = || refuse("no EmailType: the email setting could not be kept".into());
    let email_type = email_type.ok_or_else(no_email)?;
    let mut hosts = Vec::new();
    for e in els[at + 1..].iter().take_while(|e| e.depth > result.depth) {
        if e.depth != result.depth + 1 || !e.is("host") {
            let name = &e.name;
            return Err(refuse(format!(
                "an element <{name}> it does not understand"
            )));
        }
        let get = |k: &str| {
            e.attr(k)
                .map(str::to_string)
                .ok_or_else(|| refuse(format!("a host without {k}")))
        };
        let h = Host {
            name: get("Name")?,
            rtype: get("Type")?,
            address: get("Address")?,
            mx_pref: get("MXPref")?,
            ttl: get("TTL")?,
        };
        let what = format!("the {} host `{}`", h.rtype, h.name);
        let number = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        let (pref, ttl) = (&h.mx_pref, &h.ttl);
        let mut why =
            (!number(pref) || !number(ttl)).then(|| format!("MXPref `{pref}`, TTL `{ttl}`"));
        if !WRITABLE_TYPES.contains(&h.rtype.as_str()) {
            why = Some("a type setHosts cannot write back".into());
        }
        for (flag, bad) in [("IsDDNSEnabled", "true"), ("IsActive", "false")] {
            let flagged = e.attr(flag).is_some_and(|v| v.eq_ignore_ascii_case(bad));
            why = why.or(flagged.then(|| format!("{flag}={bad}, which setHosts would not keep")));
        }
        if let Some(why) = why {
            return Err(refuse(format!("{what} has {why}")));
        }
        hosts.push(h);
    }
    Ok(HostList {
        email_type: email_type.to_string(),
        hosts,
    })
}

/// The host name of `name` in `zone`: relative, lower case, `@` for the apex.
fn host_name(name: &DnsName, zone: &Zone) -> Result<String, ProviderError> {
    if !name.is_within(&zone.name) {
        return Err(other(format!("{name} is not inside zone {zone}")));
    }
    let full = name.as_str().to_ascii_lowercase();
    let rel = full.strip_suffix(&zone.name.as_str().to_ascii_lowercase());
    let rel = rel.unwrap_or_default().trim_end_matches('.');
    Ok(if rel.is_empty() { "@" } else { rel }.to_string())
}

/// `hosts` with our TXT values added (each once) or removed, every other host kept as it is;
/// `None` when nothing changes.
pub fn merge(
    hosts: &[Host],
    zone: &Zone,
    set: &TxtSet,
    add: bool,
) -> Result<Option<Vec<Host>>, ProviderError> {
    let mut out = hosts.to_vec();
    let ttl = set.ttl.clamp(60, 60_000).to_string();
    for (name, ours) in set.iter() {
        let rel = host_name(name, zone)?;
        let at = |h: &Host| h.rtype == "TXT" && h.name.eq_ignore_ascii_case(&rel);
        let is_ours = |h: &Host| at(h) && ours.contains(h.address.trim_matches('"'));
        match add {
            false => out.retain(|h| !is_ours(h)),
            true => {
                let served = |v: &String| {
                    out.iter()
                        .any(|h| at(h) && h.address.trim_matches('"') == v)
                };
                let missing: Vec<String> = ours.iter().filter(|v| !served(v)).cloned().collect();
                for address in missing {
                    let (name, mx_pref, ttl) = (rel.clone(), "10".to_string(), ttl.clone());
                    out.push(Host {
                        name,
                        rtype: "TXT".into(),
                        address,
                        mx_pref,
                        ttl,
                    });
                }
            }
        }
    }
    Ok((out != hosts).then_some(out))
}

#[async_trait]
impl DnsProvider for NamecheapProvider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(zone) = &self.config.zone {
            if !fqdn.is_within(zone) {
                let set = "set in zone (NAMECHEAP_ZONE)";
                let why = format!("{fqdn} is not inside the domain `{zone}` {set}");
                return Err(config_error(KIND, why));
            }
            return Ok(Some(Zone::new(zone.clone())));
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.lookup_zone(fqdn).await?;
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.change(zone, set, true).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.change(zone, set, false).await
    }

    fn tuning(&self) -> ProviderTuning {
        // NAMECHEAP_PROPAGATION_TIMEOUT (an hour, as lego) unless the run sets its own.
        let propagation_timeout = Some(self.config.propagation_timeout);
        ProviderTuning {
            propagation_timeout,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(s: &str) -> Zone {
        Zone::new(DnsName::parse(s).expect("name"))
    }

    fn host(name: &str, rtype: &str, address: &str) -> Host {
        let (mx_pref, ttl) = ("10".into(), "1800".into());
        Host {
            name: name.into(),
            rtype: rtype.into(),
            address: address.into(),
            mx_pref,
            ttl,
        }
    }

    #[test]
    fn sld_tld_and_host_names() {
        let z = zone("example.co.uk");
        assert_eq!(sld_tld(&z).expect("split")[1].1, "co.uk");
        assert!(sld_tld(&zone("com")).is_err());
        let name = |s: &str| host_name(&DnsName::parse(s).expect("name"), &z).ok();
        assert_eq!(
            name("_acme-challenge.A.example.co.uk").as_deref(),
            Some("_acme-challenge.a")
        );
        assert_eq!(name("example.co.uk").as_deref(), Some("@"));
        assert_eq!(name("example.com"), None);
    }

    #[test]
    fn merge_keeps_every_other_host() {
        let z = zone("example.com");
        let hosts = vec![
            host("@", "MX", "mx.example.net."),
            host("_acme-challenge", "TXT", "foreign"),
        ];
        let mut set = TxtSet::with_ttl(30);
        let n = DnsName::parse("_acme-challenge.example.com").expect("name");
        set.insert(n.clone(), "ours");
        let added = merge(&hosts, &z, &set, true).expect("ok").expect("changed");
        assert_eq!(added[..2], hosts[..]);
        assert_eq!(
            added[2],
            Host {
                ttl: "60".into(),
                ..host("_acme-challenge", "TXT", "ours")
            }
        );
        assert_eq!(
            merge(&added, &z, &set, true).expect("ok"),
            None,
            "no duplicate"
        );
        assert_eq!(
            merge(&added, &z, &set, false).expect("ok"),
            Some(hosts.clone())
        );
        assert_eq!(merge(&hosts, &z, &set, false).expect("ok"), None);
    }

    #[test]
    fn partial_or_foreign_reads_are_refused() {
        let z = zone("example.com");
        let doc = |inner: &str| {
            let d = format!(
                r#"<ApiResponse Status="OK"><CommandResponse Type="namecheap.domains.dns.getHosts">{inner}</CommandResponse></ApiResponse>"#
            );
            xml::parse(&d).expect("xml")
        };
        let ok = r#"<DomainDNSGetHostsResult Domain="example.com" EmailType="FWD" IsUsingOurDNS="true">
            <host HostId="1" Name="@" Type="URL301" Address="https://www.example.com/" MXPref="10" TTL="1800"/>
            </DomainDNSGetHostsResult>"#;
        let list = parse_hosts(&doc(ok), &z).expect("parses");
        assert_eq!((list.email_type.as_str(), list.hosts.len()), ("FWD", 1));
        for (bad, says) in [
            (ok.replace(" EmailType=\"FWD\"", ""), "EmailType"),
            (
                ok.replace("example.com\" Email", "other.com\" Email"),
                "other.com",
            ),
            (ok.replace("URL301", "SRV"), "type"),
            (ok.replace("TTL=\"1800\"", "TTL=\"\""), "TTL"),
            (
                ok.replace("HostId", "IsDDNSEnabled=\"true\" HostId"),
                "IsDDNSEnabled",
            ),
            (ok.replace(" MXPref=\"10\"", ""), "MXPref"),
            (String::new(), "DomainDNSGetHostsResult"),
        ] {
            let e = parse_hosts(&doc(&bad), &z).expect_err(says).to_string();
            assert!(e.contains(says) && e.contains("nothing written"), "{e}");
        }
    }

    #[test]
    fn invalid_request_ip_names_both_addresses() {
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        let e = api_error("1011150", "Invalid request IP: 203.0.113.9", ip, "x").to_string();
        assert!(
            e.contains("203.0.113.9") && e.contains("ClientIp=192.0.2.1") && e.contains("NAT"),
            "{e}"
        );
        assert!(matches!(
            api_error("1011102", "API Key is invalid", ip, "x"),
            ProviderError::Auth { .. }
        ));
        assert!(matches!(
            api_error("2019166", "Domain not found", ip, "x"),
            ProviderError::ZoneNotFound { .. }
        ));
    }
}
