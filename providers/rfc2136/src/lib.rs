//! RFC 2136 DNS UPDATE provider with TSIG (RFC 8945), for BIND, Knot, PowerDNS and any server
//! that takes dynamic updates.
//!
//! One UPDATE message per zone carries every record: values are *added* to their RRsets
//! (RFC 2136 §2.5.1), never replacing what is there, and cleanup deletes exactly our values
//! (§2.5.4), so a wildcard's and an apex's tokens at one name live side by side.

pub mod settings;
pub mod tsig;

use std::net::SocketAddr;

use async_trait::async_trait;
use hickory_proto::op::update_message::UpdateMessage;
use hickory_proto::op::{
    DnsRequest, DnsRequestOptions, Edns, Message, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::sync::OnceCell;
use wildcert_dns::query::{self, QueryError, Transport, rcode_name, to_hickory};
use wildcert_dns::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{KIND, Nameserver, Rfc2136Config, Rfc2136Settings, SETTINGS};
pub use tsig::{Algorithm, TsigKey};

/// Above this size (bytes, before the TSIG record) an update goes over TCP.
const UDP_LIMIT: usize = 1200;
/// Room for the TSIG record added when signing (name, algorithm, 64-byte MAC, fields).
const TSIG_OVERHEAD: usize = 160;

/// The RFC 2136 provider.
#[derive(Debug)]
pub struct Rfc2136Provider {
    config: Rfc2136Config,
    server: OnceCell<SocketAddr>,
    zones: ZoneCache,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Delete,
}

impl Rfc2136Provider {
    /// Build from settings (reads key files; the nameserver name is resolved on first use).
    pub fn new(settings: &Rfc2136Settings) -> Result<Self, ProviderError> {
        Ok(Self::from_config(settings.validate()?))
    }

    /// Build from a validated configuration.
    pub fn from_config(config: Rfc2136Config) -> Self {
        Rfc2136Provider {
            config,
            server: OnceCell::new(),
            zones: ZoneCache::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Rfc2136Config {
        &self.config
    }

    /// The nameserver's socket address (resolved once).
    pub async fn server_addr(&self) -> Result<SocketAddr, ProviderError> {
        let ns = &self.config.nameserver;
        self.server
            .get_or_try_init(|| async {
                if let Ok(ip) = ns.host.parse::<std::net::IpAddr>() {
                    return Ok(SocketAddr::new(ip, ns.port));
                }
                let found = tokio::time::timeout(
                    self.config.timeout,
                    tokio::net::lookup_host((ns.host.as_str(), ns.port)),
                )
                .await
                .map_err(|_| unreachable(ns.to_string(), "name lookup timed out".into()))?
                .map_err(|e| {
                    unreachable(ns.to_string(), format!("cannot resolve the name: {e}"))
                })?;
                let addrs: Vec<SocketAddr> = found.collect();
                // Prefer IPv4: loopback and most server setups listen there for sure.
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| unreachable(ns.to_string(), "the name has no address".into()))
            })
            .await
            .copied()
    }

    fn transport(&self, size: usize) -> Transport {
        if self.config.tcp || size + TSIG_OVERHEAD > UDP_LIMIT {
            Transport::Tcp
        } else {
            Transport::Udp
        }
    }

    /// Build one UPDATE message carrying every (name, value) of `set` (RFC 2136 §2.5.1 / §2.5.4).
    fn update_message(zone: &Zone, set: &TxtSet, op: Op) -> Result<Message, ProviderError> {
        let mut msg = Message::query();
        msg.metadata.op_code = OpCode::Update;
        msg.metadata.recursion_desired = false;
        let mut zq = Query::new();
        zq.set_name(to_hickory(&zone.name))
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        msg.add_zone(zq);
        for (name, value) in set.pairs() {
            if !name.is_within(&zone.name) {
                return Err(ProviderError::Other {
                    provider: KIND,
                    message: format!("{name} is not inside zone {}", zone.name),
                });
            }
            let mut r = Record::from_rdata(
                to_hickory(name),
                set.ttl,
                RData::TXT(TXT::new(txt_strings(value))),
            );
            match op {
                Op::Add => r.dns_class = DNSClass::IN,
                Op::Delete => {
                    r.dns_class = DNSClass::NONE;
                    r.ttl = 0;
                }
            }
            msg.add_update(r);
        }
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_version(0);
        msg.edns = Some(edns);
        Ok(msg)
    }

    async fn send_update(&self, zone: &Zone, set: &TxtSet, op: Op) -> Result<(), ProviderError> {
        if set.is_empty() {
            return Ok(());
        }
        let server = self.server_addr().await?;
        let msg = Self::update_message(zone, set, op)?;
        let size = msg
            .to_vec()
            .map_err(|e| ProviderError::Other {
                provider: KIND,
                message: format!("cannot encode the update: {e}"),
            })?
            .len();
        let transport = self.transport(size);
        let signer = match &self.config.key {
            Some(k) => Some(k.signer().map_err(|m| ProviderError::Config {
                provider: KIND,
                message: m,
            })?),
            None => None,
        };
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = false;
        let verb = if op == Op::Add { "add" } else { "delete" };
        tracing::debug!(%server, zone = %zone, values = set.len(), bytes = size, ?transport,
            key = self.config.key.as_ref().map(|k| k.name.as_str()).unwrap_or("(unsigned)"), "sending UPDATE ({verb})");
        let answer = query::exchange(
            server,
            DnsRequest::new(msg, options),
            transport,
            signer,
            self.config.timeout,
        )
        .await
        .map_err(|e| self.map_query_error(e))?;
        let code = answer.metadata.response_code;
        // A TSIG error can ride in the TSIG record even when hickory accepted the answer.
        let tsig_error = answer.signature.as_ref().and_then(|s| s.data.error);
        if code == ResponseCode::NoError && tsig_error.is_none() {
            tracing::debug!(%server, zone = %zone, "UPDATE ({verb}) accepted");
            return Ok(());
        }
        let signed = answer.signature.is_some();
        Err(self.map_rcode(
            code,
            tsig_error.map(|e| format!("{e:?}")),
            signed,
            zone,
            set,
        ))
    }

    fn key_desc(&self) -> String {
        match &self.config.key {
            Some(k) => format!("key `{}` ({})", k.name, k.algorithm),
            None => "no key (unsigned)".into(),
        }
    }

    fn map_query_error(&self, e: QueryError) -> ProviderError {
        let target = self.config.nameserver.to_string();
        match e {
            QueryError::Tsig { message, .. } => {
                // hickory's own text ("Please file an issue ... truncated HMACs") misleads: keep it for -v.
                tracing::debug!(server = %target, "TSIG verification of the answer failed: {message}");
                ProviderError::Auth {
                    provider: KIND,
                    message: format!(
                        "TSIG rejected by server {target} (bad key name, secret or algorithm, or clock skew) for {}; \
                         compare them with the server's `key` statement, and check this machine's clock",
                        self.key_desc()
                    ),
                }
            }
            QueryError::Timeout { after, .. } => {
                unreachable(target, format!("no answer within {} s", after.as_secs()))
            }
            QueryError::Io { message, .. } => unreachable(target, message),
            QueryError::Protocol { message, .. } => ProviderError::Other {
                provider: KIND,
                message: format!("{target}: bad answer: {message}"),
            },
            other => ProviderError::Other {
                provider: KIND,
                message: other.to_string(),
            },
        }
    }

    fn map_rcode(
        &self,
        code: ResponseCode,
        tsig_error: Option<String>,
        signed: bool,
        zone: &Zone,
        set: &TxtSet,
    ) -> ProviderError {
        let ns = self.config.nameserver.to_string();
        let names = set
            .names()
            .map(DnsName::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let auth = |what: &str| ProviderError::Auth {
            provider: KIND,
            message: format!(
                "{ns} answered {what}: TSIG rejected by server (bad key name, secret or algorithm, or clock skew) for {}",
                self.key_desc()
            ),
        };
        if let Some(t) = tsig_error {
            return auth(&format!(
                "{} ({})",
                rcode_name(code),
                t.to_ascii_uppercase()
            ));
        }
        match code {
            ResponseCode::BADSIG => auth("BADSIG (wrong secret)"),
            ResponseCode::BADKEY => {
                auth("BADKEY (the server has no key of this name and algorithm)")
            }
            ResponseCode::BADTIME => ProviderError::Auth {
                provider: KIND,
                message: format!(
                    "{ns} answered BADTIME: this machine's clock differs from the server's by more than 5 minutes; fix the clock (NTP)"
                ),
            },
            // A correctly signed NOTAUTH: the key was fine, the zone is not served there.
            ResponseCode::NotAuth if self.config.key.is_some() && !signed => ProviderError::Auth {
                provider: KIND,
                message: format!(
                    "{ns} answered NOTAUTH for zone {zone}: either TSIG was rejected (bad key name, secret or algorithm, \
                     or clock skew) for {}, or the server is not authoritative for the zone",
                    self.key_desc()
                ),
            },
            ResponseCode::NotAuth => ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.to_string(),
                message: format!(
                    "{ns} answered NOTAUTH: it is not authoritative for zone {zone} (check the zone name, and send \
                     updates to the zone's primary)"
                ),
            },
            ResponseCode::NotZone => ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.to_string(),
                message: format!(
                    "{ns} answered NOTZONE: {names} is not inside zone {zone} on that server; set `zone` correctly"
                ),
            },
            ResponseCode::Refused if self.config.key.is_none() => ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "{ns} answered REFUSED to an unsigned update of zone {zone}: the server wants a TSIG key \
                     (set tsig_file), or does not allow updates from this address"
                ),
            },
            ResponseCode::Refused => ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "{ns} answered REFUSED for {names} in zone {zone}: the server's update policy does not let {} \
                     change TXT records there (update-policy {{ grant \"KEY\" zonesub TXT; }}), the zone is not \
                     dynamic there, or the server is a secondary (send updates to the primary)",
                    self.key_desc()
                ),
            },
            ResponseCode::ServFail => ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "{ns} answered SERVFAIL for zone {zone}: the server failed to apply the update (a server-side \
                     problem; see its log; BIND says `journal ... permission denied` when named cannot write the \
                     zone's directory)"
                ),
            },
            ResponseCode::NotImp => ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "{ns} answered NOTIMP: it does not support dynamic updates (RFC 2136)"
                ),
            },
            ResponseCode::FormErr => ProviderError::Rejected {
                provider: KIND,
                message: format!("{ns} answered FORMERR: it could not parse the update"),
            },
            other => ProviderError::Rejected {
                provider: KIND,
                message: format!("{ns} answered {} for zone {zone}", rcode_name(other)),
            },
        }
    }

    /// Ask the nameserver itself for the SOA of `fqdn` and its parents.
    async fn discover_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let server = self.server_addr().await?;
        let transport = if self.config.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let timeout = self.config.timeout.min(query::DEFAULT_QUERY_TIMEOUT * 2);
        let mut last = String::new();
        for candidate in fqdn.ancestors() {
            let m = query::query_over(
                transport,
                server,
                &candidate,
                RecordType::SOA,
                false,
                timeout,
            )
            .await
            .map_err(|e| self.map_query_error(e))?;
            let code = m.metadata.response_code;
            if matches!(code, ResponseCode::NoError | ResponseCode::NXDomain) {
                let cand = to_hickory(&candidate);
                if m.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA && r.name == cand)
                {
                    return Ok(Zone::new(candidate));
                }
                if let Some(owner) = m
                    .authorities
                    .iter()
                    .filter(|r| r.record_type() == RecordType::SOA && r.name.zone_of(&cand))
                    .find_map(|r| query::from_hickory(&r.name))
                {
                    return Ok(Zone::new(owner));
                }
            }
            last = format!("{candidate}: {}", rcode_name(code));
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "{} serves no zone containing {fqdn} (last answer: {last}); check the name, or set `zone`",
                self.config.nameserver
            ),
        })
    }
}

/// Split a value into TXT character-strings of at most 255 bytes (RFC 1035 §3.3.14).
fn txt_strings(value: &str) -> Vec<String> {
    if value.len() <= 255 {
        return vec![value.to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in value.chars() {
        if cur.len() + c.len_utf8() > 255 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unreachable(target: String, message: String) -> ProviderError {
    ProviderError::Unreachable {
        provider: KIND,
        target,
        message,
    }
}

#[async_trait]
impl DnsProvider for Rfc2136Provider {
    fn name(&self) -> &'static str {
        KIND
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = &self.config.zone {
            if fqdn.is_within(z) {
                return Ok(Some(Zone::new(z.clone())));
            }
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: z.to_string(),
                message: format!("{fqdn} is not inside the configured zone {z}"),
            });
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.discover_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, server = %self.config.nameserver, "zone from the nameserver's SOA");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        self.send_update(zone, set, Op::Add).await?;
        Ok(Applied::default())
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        self.send_update(zone, set, Op::Delete).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_for_all_names() {
        let zone = Zone::new(DnsName::parse("example.test").expect("name"));
        let mut set = TxtSet::new();
        let a = DnsName::parse("_acme-challenge.example.test").expect("name");
        let b = DnsName::parse("_acme-challenge.www.example.test").expect("name");
        set.insert(a.clone(), "v1");
        set.insert(a, "v2");
        set.insert(b, "v3");
        let add = Rfc2136Provider::update_message(&zone, &set, Op::Add).expect("msg");
        assert_eq!(add.metadata.op_code, OpCode::Update);
        assert_eq!(add.authorities.len(), 3);
        assert!(
            add.authorities
                .iter()
                .all(|r| r.dns_class == DNSClass::IN && r.ttl == 60)
        );
        let del = Rfc2136Provider::update_message(&zone, &set, Op::Delete).expect("msg");
        assert!(
            del.authorities
                .iter()
                .all(|r| r.dns_class == DNSClass::NONE && r.ttl == 0)
        );
        let outside = Zone::new(DnsName::parse("other.test").expect("name"));
        assert!(Rfc2136Provider::update_message(&outside, &set, Op::Add).is_err());
    }

    #[test]
    fn long_values_are_split() {
        let v = "x".repeat(600);
        let parts = txt_strings(&v);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(txt_strings("short"), ["short"]);
    }
}
