//! The probes `wildcert check` reports on: what each authoritative server says about a zone's
//! SOA, the zone's NS set as the nameservers and as the resolvers see it. The DNS wire data is
//! read here, so the report in the manager deals in facts, not messages.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use crate::discovery::AuthServer;
use crate::name::DnsName;
use crate::query::{self, rcode_name};

/// What one authoritative server answered to `SOA <zone>` (RD=0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoaAnswer {
    /// Authoritative, with the zone's SOA serial.
    Serial(u32),
    /// Answered with an error code (`REFUSED`, `SERVFAIL`, …).
    Rcode(String),
    /// Answered without the AA bit: not authoritative for the zone (lame delegation).
    NotAuthoritative,
    /// Authoritative, but no SOA of the zone in the answer.
    NoSoa,
    /// No route from this host to the address (IPv6 on an IPv4-only host).
    NoRoute(String),
    /// No answer (timeout, refused connection, bad answer).
    NoAnswer(String),
}

/// Ask every server for the zone's SOA, all at once.
pub async fn soa_answers(
    servers: &[AuthServer],
    zone: &DnsName,
    timeout: Duration,
) -> Vec<(AuthServer, SoaAnswer)> {
    let answers = join_all(
        servers
            .iter()
            .map(|s| query::query(s.addr, zone, RecordType::SOA, false, timeout)),
    )
    .await;
    servers
        .iter()
        .cloned()
        .zip(answers)
        .map(|(s, a)| {
            let answer = match a {
                Ok(m) if m.metadata.response_code != ResponseCode::NoError => {
                    SoaAnswer::Rcode(rcode_name(m.metadata.response_code))
                }
                Ok(m) if !m.metadata.authoritative => SoaAnswer::NotAuthoritative,
                Ok(m) => soa_serial(&m, zone).map_or(SoaAnswer::NoSoa, SoaAnswer::Serial),
                Err(e) if e.is_no_route() => SoaAnswer::NoRoute(e.short()),
                Err(e) => SoaAnswer::NoAnswer(e.short()),
            };
            (s, answer)
        })
        .collect()
}

/// The zone's NS set as one server answers it (RD=0); `None` when it does not answer.
pub async fn ns_set(
    server: SocketAddr,
    zone: &DnsName,
    timeout: Duration,
) -> Option<BTreeSet<DnsName>> {
    let m = query::query(server, zone, RecordType::NS, false, timeout)
        .await
        .ok()?;
    Some(ns_names(&m, zone))
}

/// How the resolvers see a zone: its SOA serial and NS set, from the first resolver that
/// answers the SOA query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverView {
    /// The SOA serial the resolvers return.
    pub serial: Option<u32>,
    /// The NS set the resolvers return.
    pub ns: Option<BTreeSet<DnsName>>,
}

/// Ask the resolvers (RD=1) for the zone's SOA and NS set.
pub async fn resolver_view(
    resolvers: &[SocketAddr],
    zone: &DnsName,
    timeout: Duration,
) -> ResolverView {
    for &r in resolvers {
        if let Ok(m) = query::query(r, zone, RecordType::SOA, true, timeout).await
            && m.metadata.response_code == ResponseCode::NoError
        {
            let serial = soa_serial(&m, zone);
            let ns = match query::query(r, zone, RecordType::NS, true, timeout).await {
                Ok(m) => Some(ns_names(&m, zone)),
                Err(_) => None,
            };
            return ResolverView { serial, ns };
        }
    }
    ResolverView::default()
}

fn soa_serial(m: &Message, zone: &DnsName) -> Option<u32> {
    let want = query::to_hickory(zone);
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) if r.name == want => Some(soa.serial),
        _ => None,
    })
}

fn ns_names(m: &Message, zone: &DnsName) -> BTreeSet<DnsName> {
    let want = query::to_hickory(zone);
    m.answers
        .iter()
        .filter(|r| r.name == want)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => query::from_hickory(&ns.0),
            _ => None,
        })
        .collect()
}

/// The TXT values one server serves at `name` (RD=0); `None` when it does not answer.
pub async fn txt_at(server: SocketAddr, name: &DnsName, timeout: Duration) -> Option<Vec<String>> {
    let m = query::query(server, name, RecordType::TXT, false, timeout)
        .await
        .ok()?;
    Some(query::txt_values(&m, name))
}
