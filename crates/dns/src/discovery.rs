//! Zone discovery through resolvers: the zone apex of a name (SOA walk), the zone's
//! nameservers and every A and AAAA address of each, and `_acme-challenge` CNAME delegation.
//!
//! Queries carry RD=1 so a recursive resolver works, but authoritative answers from a server
//! with recursion off are accepted just as well (tests and split-horizon setups point the
//! resolvers straight at the authoritative servers).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde::{Deserialize, Serialize};

use crate::name::DnsName;
use crate::query::{self, from_hickory, rcode_name};

/// Longest CNAME chain we follow from `_acme-challenge.<name>`.
pub const MAX_CNAME_DEPTH: usize = 10;

/// One authoritative server address to check: the NS name it came from, if any.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuthServer {
    /// The nameserver's name from the zone's NS set; `None` when given by address
    /// (`--authoritative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<DnsName>,
    /// Address and port to query.
    pub addr: SocketAddr,
}

impl fmt::Display for AuthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} ({})", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// A CNAME chain followed from a challenge name to where the TXT record really goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// The name the CA asks for (`_acme-challenge.<name>`).
    pub from: DnsName,
    /// Every CNAME target in order; the last one is where we publish.
    pub chain: Vec<DnsName>,
}

impl Delegation {
    /// Where the record is published: the end of the chain, or `from` when there is none.
    pub fn target(&self) -> &DnsName {
        self.chain.last().unwrap_or(&self.from)
    }
}

impl fmt::Display for Delegation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.from)?;
        for n in &self.chain {
            write!(f, " → {n}")?;
        }
        Ok(())
    }
}

/// Why discovery failed. Each message names the name or zone concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// No zone contains the name.
    #[error("no zone found for {name}: {reason}")]
    NoZone {
        /// The name we looked for.
        name: DnsName,
        /// What the resolvers said.
        reason: String,
    },
    /// The zone has no nameserver we could find an address for.
    #[error("no authoritative nameserver address found for zone {zone}: {reason}")]
    NoNameservers {
        /// The zone.
        zone: DnsName,
        /// What went wrong.
        reason: String,
    },
    /// The CNAME chain loops.
    #[error("CNAME loop at {}: {}", .chain.first().map(DnsName::as_str).unwrap_or(""), join(.chain))]
    CnameLoop {
        /// The names visited, ending with the repeated one.
        chain: Vec<DnsName>,
    },
    /// The CNAME chain is longer than [`MAX_CNAME_DEPTH`].
    #[error("CNAME chain longer than {limit} at {}: {}", .chain.first().map(DnsName::as_str).unwrap_or(""), join(.chain))]
    CnameTooDeep {
        /// The names visited.
        chain: Vec<DnsName>,
        /// The limit.
        limit: usize,
    },
    /// No resolver configured and none found in /etc/resolv.conf.
    #[error("no DNS resolver to ask: {0} (give --resolver ADDRESS)")]
    NoResolvers(String),
    /// Every resolver failed for a question.
    #[error("no resolver answered {name} {rtype}: {reason}")]
    Unanswered {
        /// The name asked.
        name: DnsName,
        /// The type asked.
        rtype: String,
        /// What each resolver did.
        reason: String,
    },
}

fn join(chain: &[DnsName]) -> String {
    chain
        .iter()
        .map(DnsName::as_str)
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The resolvers' best answer to one question.
enum Answer {
    /// A NOERROR or NXDOMAIN answer.
    Found(Message),
    /// Every resolver refused or failed; the reasons, one per resolver.
    Failed(Vec<String>),
}

/// Asks the configured resolvers about zones, nameservers and CNAMEs.
#[derive(Clone, Debug)]
pub struct Discovery {
    resolvers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Discovery {
    /// Use these resolvers (port included). An empty list means the system's
    /// (see [`Discovery::system`]).
    pub fn new(resolvers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Discovery { resolvers, timeout }
    }

    /// The resolvers from `/etc/resolv.conf`.
    pub async fn system(timeout: Duration) -> Result<Self, DiscoveryError> {
        let text = tokio::fs::read_to_string("/etc/resolv.conf")
            .await
            .map_err(|e| {
                DiscoveryError::NoResolvers(format!("cannot read /etc/resolv.conf: {e}"))
            })?;
        let resolvers = parse_resolv_conf(&text);
        if resolvers.is_empty() {
            return Err(DiscoveryError::NoResolvers(
                "/etc/resolv.conf lists no usable nameserver".into(),
            ));
        }
        Ok(Discovery { resolvers, timeout })
    }

    /// The resolvers in use.
    pub fn resolvers(&self) -> &[SocketAddr] {
        &self.resolvers
    }

    /// Ask each resolver in turn until one gives NOERROR or NXDOMAIN.
    async fn ask(&self, name: &DnsName, rtype: RecordType) -> Answer {
        let mut reasons = Vec::new();
        for &resolver in &self.resolvers {
            match query::query(resolver, name, rtype, true, self.timeout).await {
                Ok(m) => match m.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => return Answer::Found(m),
                    code => reasons.push(format!("{resolver}: {}", rcode_name(code))),
                },
                Err(e) => reasons.push(e.to_string()),
            }
        }
        if self.resolvers.is_empty() {
            reasons.push("no resolvers configured".into());
        }
        Answer::Failed(reasons)
    }

    /// The apex of the closest zone that contains `name` (RFC 1034 §4.3.2 via SOA).
    pub async fn find_zone(&self, name: &DnsName) -> Result<DnsName, DiscoveryError> {
        let mut reasons: Vec<String> = Vec::new();
        for candidate in name.ancestors() {
            match self.ask(&candidate, RecordType::SOA).await {
                Answer::Failed(r) => {
                    tracing::debug!(%candidate, reasons = ?r, "SOA: no usable answer, trying the parent");
                    reasons = r;
                }
                Answer::Found(m) => match zone_from_soa_answer(&m, &candidate) {
                    SoaVerdict::Zone(zone) => return check_zone(name, zone),
                    SoaVerdict::RootOnly => {
                        return Err(DiscoveryError::NoZone {
                            name: name.clone(),
                            reason: "the resolvers answered NXDOMAIN up to the root".into(),
                        });
                    }
                    SoaVerdict::Unknown => {
                        reasons = vec![format!(
                            "{candidate}: {} without SOA",
                            rcode_name(m.metadata.response_code)
                        )];
                    }
                },
            }
        }
        Err(DiscoveryError::NoZone {
            name: name.clone(),
            reason: if reasons.is_empty() {
                "no resolver knows any of its parent names".into()
            } else {
                format!(
                    "no resolver knows any of its parent names (last: {})",
                    reasons.join("; ")
                )
            },
        })
    }

    /// The zone's nameservers (NS set) and every A and AAAA address of each, port 53.
    /// The addresses are looked up concurrently; see [`Discovery::nameservers_within`] for a
    /// bound on the whole lookup.
    pub async fn nameservers(&self, zone: &DnsName) -> Result<Vec<AuthServer>, DiscoveryError> {
        self.nameservers_within(zone, None).await
    }

    /// Like [`Discovery::nameservers`], ending within `bound` (the propagation timeout): the
    /// NS query and every address lookup (all at once) must finish by then. A nameserver whose
    /// address did not come in time is left out with a warning (it cannot be checked); when no
    /// address came at all, the error names the nameservers and the bound.
    pub async fn nameservers_within(
        &self,
        zone: &DnsName,
        bound: Option<Duration>,
    ) -> Result<Vec<AuthServer>, DiscoveryError> {
        let deadline = bound.map(|b| tokio::time::Instant::now() + b);
        let late = |what: String| DiscoveryError::NoNameservers {
            zone: zone.clone(),
            reason: format!(
                "{what} within {} s",
                bound.map(|b| b.as_secs_f64()).unwrap_or_default()
            ),
        };
        let ns_answer = match deadline {
            None => self.ask(zone, RecordType::NS).await,
            Some(d) => tokio::time::timeout_at(d, self.ask(zone, RecordType::NS))
                .await
                .map_err(|_| late(format!("no answer to {zone} NS")))?,
        };
        let m = match ns_answer {
            Answer::Found(m) => m,
            Answer::Failed(r) => {
                return Err(DiscoveryError::NoNameservers {
                    zone: zone.clone(),
                    reason: r.join("; "),
                });
            }
        };
        let zone_h = query::to_hickory(zone);
        let mut ns_names = BTreeSet::new();
        // Answer section, or a referral's authority section (a parent server asked about a child).
        for r in m.answers.iter().chain(m.authorities.iter()) {
            if let RData::NS(ns) = &r.data
                && r.name == zone_h
                && let Some(n) = from_hickory(&ns.0)
            {
                ns_names.insert(n);
            }
        }
        if ns_names.is_empty() {
            return Err(DiscoveryError::NoNameservers {
                zone: zone.clone(),
                reason: format!(
                    "the resolvers returned no NS records ({})",
                    rcode_name(m.metadata.response_code)
                ),
            });
        }
        // Every A and AAAA lookup at once, each bounded by the deadline.
        let lookups = ns_names.iter().flat_map(|ns| {
            [RecordType::A, RecordType::AAAA].map(|rtype| async move {
                let ask = self.ask(ns, rtype);
                let found = match deadline {
                    None => Some(ask.await),
                    Some(d) => tokio::time::timeout_at(d, ask).await.ok(),
                };
                (ns, found)
            })
        });
        let answers = join_all(lookups).await;
        let mut servers = BTreeSet::new();
        let mut missing = Vec::new();
        let mut timed_out = BTreeSet::new();
        let mut unanswered = false;
        for ns in &ns_names {
            let mut addrs = glue(&m, ns);
            for (_, found) in answers.iter().filter(|(n, _)| *n == ns) {
                match found {
                    Some(Answer::Found(a)) => addrs.extend(addresses(a, ns)),
                    Some(Answer::Failed(_)) => unanswered = true,
                    None => {
                        timed_out.insert(ns);
                    }
                }
            }
            if addrs.is_empty() {
                if timed_out.contains(ns) {
                    tracing::warn!(nameserver = %ns, %zone, "no address for the nameserver within the propagation timeout; it cannot be checked");
                } else {
                    tracing::warn!(nameserver = %ns, %zone, "nameserver has no A or AAAA address; it cannot be checked");
                }
                missing.push(ns.to_string());
            }
            for ip in addrs {
                servers.insert(AuthServer {
                    name: Some(ns.clone()),
                    addr: SocketAddr::new(ip, 53),
                });
            }
        }
        if servers.is_empty() {
            let list = if missing.len() > 5 {
                format!("{} and {} more", missing[..5].join(", "), missing.len() - 5)
            } else {
                missing.join(", ")
            };
            if !timed_out.is_empty() {
                return Err(late(format!(
                    "no address for {list} (their address lookups got no answer)"
                )));
            }
            let why = if unanswered {
                " (their address lookups got no answer)"
            } else {
                ""
            };
            return Err(DiscoveryError::NoNameservers {
                zone: zone.clone(),
                reason: format!("no address for {list}{why}"),
            });
        }
        Ok(servers.into_iter().collect())
    }

    /// Follow CNAMEs from `name` (an `_acme-challenge` name) to the name that holds the TXT record.
    pub async fn follow_cnames(&self, name: &DnsName) -> Result<Delegation, DiscoveryError> {
        let mut chain: Vec<DnsName> = Vec::new();
        let mut seen = BTreeSet::from([name.clone()]);
        let mut current = name.clone();
        loop {
            let next = match self.ask(&current, RecordType::CNAME).await {
                Answer::Found(m) => cname_target(&m, &current),
                Answer::Failed(r) => {
                    // Nobody knows the name: no delegation; zone discovery reports the real problem.
                    tracing::debug!(name = %current, reasons = ?r, "CNAME lookup unanswered; assuming no delegation");
                    None
                }
            };
            let Some(next) = next else { break };
            tracing::debug!(from = %current, to = %next, "following CNAME");
            chain.push(next.clone());
            if !seen.insert(next.clone()) {
                let mut all = vec![name.clone()];
                all.extend(chain);
                return Err(DiscoveryError::CnameLoop { chain: all });
            }
            if chain.len() > MAX_CNAME_DEPTH {
                let mut all = vec![name.clone()];
                all.extend(chain);
                return Err(DiscoveryError::CnameTooDeep {
                    chain: all,
                    limit: MAX_CNAME_DEPTH,
                });
            }
            current = next;
        }
        Ok(Delegation {
            from: name.clone(),
            chain,
        })
    }
}

enum SoaVerdict {
    Zone(DnsName),
    RootOnly,
    Unknown,
}

/// Read the zone from an SOA answer for `candidate`: an SOA owned by `candidate` in the answer,
/// or the SOA in the authority section of an NXDOMAIN/NODATA answer (RFC 2308 §2).
fn zone_from_soa_answer(m: &Message, candidate: &DnsName) -> SoaVerdict {
    let cand = query::to_hickory(candidate);
    for r in &m.answers {
        if r.record_type() == RecordType::SOA && r.name == cand {
            return SoaVerdict::Zone(candidate.clone());
        }
    }
    for r in &m.authorities {
        if r.record_type() == RecordType::SOA && r.name.zone_of(&cand) {
            return match from_hickory(&r.name) {
                Some(z) => SoaVerdict::Zone(z),
                None => SoaVerdict::RootOnly,
            };
        }
    }
    // A referral (NS in authority, no AA): the delegated child is the zone.
    if !m.metadata.authoritative {
        for r in &m.authorities {
            if r.record_type() == RecordType::NS
                && r.name.zone_of(&cand)
                && !r.name.is_root()
                && let Some(z) = from_hickory(&r.name)
            {
                return SoaVerdict::Zone(z);
            }
        }
    }
    SoaVerdict::Unknown
}

fn check_zone(name: &DnsName, zone: DnsName) -> Result<DnsName, DiscoveryError> {
    if zone.label_count() < 2 {
        return Err(DiscoveryError::NoZone {
            name: name.clone(),
            reason: format!(
                "only the top-level domain `{zone}` exists (is the domain registered and delegated? \
                 for a private zone, set the provider's zone)"
            ),
        });
    }
    tracing::debug!(%name, %zone, "zone found");
    Ok(zone)
}

fn cname_target(m: &Message, name: &DnsName) -> Option<DnsName> {
    let want = query::to_hickory(name);
    m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if r.name == want => from_hickory(&c.0),
        _ => None,
    })
}

fn addresses(m: &Message, name: &DnsName) -> Vec<IpAddr> {
    let want = query::to_hickory(name);
    m.answers
        .iter()
        .filter(|r| r.name == want)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn glue(m: &Message, name: &DnsName) -> BTreeSet<IpAddr> {
    let want = query::to_hickory(name);
    m.additionals
        .iter()
        .filter(|r| r.name == want)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The `nameserver` lines of a resolv.conf, port 53 (scoped IPv6 addresses are skipped).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let l = l.split(['#', ';']).next().unwrap_or("");
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let text = "# comment\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1 # six\nnameserver fe80::1%eth0\noptions edns0\n";
        let addrs = parse_resolv_conf(text);
        assert_eq!(
            addrs,
            vec![
                "127.0.0.53:53".parse().expect("addr"),
                "[::1]:53".parse().expect("addr")
            ]
        );
    }

    #[test]
    fn delegation_display_and_target() {
        let from = DnsName::parse("_acme-challenge.a.example").expect("name");
        let to = DnsName::parse("x.auth.example").expect("name");
        let d = Delegation {
            from: from.clone(),
            chain: vec![to.clone()],
        };
        assert_eq!(d.target(), &to);
        assert_eq!(d.to_string(), "_acme-challenge.a.example → x.auth.example");
        let none = Delegation {
            from: from.clone(),
            chain: vec![],
        };
        assert_eq!(none.target(), &from);
    }
}
