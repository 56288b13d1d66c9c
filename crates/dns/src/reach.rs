//! The reachability preflight: before an order is placed, every authoritative server of every
//! zone in a [`Plan`] is asked once for the zone's SOA (RD=0). A server that answers REFUSED
//! (or NOTAUTH, or without the AA bit) will never serve the records, and a zone none of whose
//! servers answers cannot be checked: both fail here, at once and before anything is ordered,
//! with a hint that names the real cause (an `--authoritative` address only when one was
//! given). A server that times out while another of its zone answers is only warned about: the
//! propagation check decides.

use std::fmt;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::discovery::AuthServer;
use crate::name::DnsName;
use crate::query::{self, rcode_name};
use crate::solver::Plan;

/// Attempts per server (a lost UDP packet is not a dead server).
const ATTEMPTS: usize = 2;

/// A zone whose servers cannot serve its records to this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReachError {
    /// A server refused the zone (REFUSED, NOTAUTH) or answered without authority.
    #[error(
        "zone {zone}: nameserver {server} {answer} to a query for the zone's SOA: it will never serve the challenge records to this host; nothing was ordered"
    )]
    Refused {
        /// The zone.
        zone: DnsName,
        /// The server.
        server: AuthServer,
        /// What it answered: `answered REFUSED`, `answered without the AA bit`.
        answer: String,
        /// True when the address came from `--authoritative` / `[dns] authoritative`.
        given: bool,
    },
    /// No server of the zone answered.
    #[error("zone {zone}: none of its nameservers answered a query for the zone's SOA ({}); nothing was ordered", failures(.servers))]
    Unreachable {
        /// The zone.
        zone: DnsName,
        /// Each server and what happened.
        servers: Vec<(AuthServer, String)>,
        /// True when the addresses came from `--authoritative` / `[dns] authoritative`.
        given: bool,
    },
}

fn failures(v: &[(AuthServer, String)]) -> String {
    v.iter()
        .map(|(s, e)| format!("{s}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ReachError {
    /// What to do, naming the cause this error has.
    pub fn hint(&self) -> &'static str {
        match self {
            ReachError::Refused { given: true, .. } => {
                "that address is not a nameserver of the zone, or it refuses this host: fix --authoritative / [dns] authoritative \
                 (`dig @ADDRESS ZONE SOA +norecurse` must answer with the aa flag)"
            }
            ReachError::Refused { given: false, .. } => {
                "the zone's NS set names a server that refuses to serve it to this host (a lame delegation, or an allow-query ACL): \
                 fix the NS records or the server's ACL, or give --authoritative with the servers that do answer"
            }
            ReachError::Unreachable { given: true, .. } => {
                "check --authoritative / [dns] authoritative (each address must be a nameserver of the zone, reachable from here) \
                 and that no firewall blocks DNS (UDP and TCP port 53) to them"
            }
            ReachError::Unreachable { given: false, .. } => {
                "none of the nameservers in the zone's NS set answered from this host: a firewall blocking DNS (UDP and TCP port 53), \
                 or NS records naming hosts that are down; give --authoritative ADDRESS for a hidden primary or split horizon"
            }
        }
    }
}

/// What one server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Answered the SOA query with authority.
    Authoritative,
    /// Refused or answered without authority (the text says which).
    Refused(String),
    /// Answered with another error code (SERVFAIL: maybe transient).
    Rcode(String),
    /// Did not answer.
    Silent(String),
    /// An IPv6 address this host has no route to.
    NoRoute,
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Authoritative => f.write_str("answers with authority"),
            Reach::Refused(s) | Reach::Rcode(s) | Reach::Silent(s) => f.write_str(s),
            Reach::NoRoute => f.write_str("no route from this host"),
        }
    }
}

/// Ask `server` for `zone`'s SOA (RD=0), up to [`ATTEMPTS`] times while it is silent.
pub async fn probe(server: &AuthServer, zone: &DnsName, timeout: Duration) -> Reach {
    let mut last = Reach::Silent("no answer".into());
    for _ in 0..ATTEMPTS {
        match query::query(server.addr, zone, RecordType::SOA, false, timeout).await {
            Ok(m) => {
                return match m.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain if m.metadata.authoritative => {
                        Reach::Authoritative
                    }
                    ResponseCode::NoError | ResponseCode::NXDomain => Reach::Refused(
                        "answered without the AA bit (not authoritative for the zone)".into(),
                    ),
                    code @ (ResponseCode::Refused | ResponseCode::NotAuth) => {
                        Reach::Refused(format!("answered {}", rcode_name(code)))
                    }
                    code => Reach::Rcode(format!("answered {}", rcode_name(code))),
                };
            }
            Err(e) if server.addr.is_ipv6() && e.is_no_route() => return Reach::NoRoute,
            Err(e) => last = Reach::Silent(e.short()),
        }
    }
    last
}

/// Probe every server of every zone of `plan` at once; the first zone that cannot work is the
/// error. Servers that stay silent or answer SERVFAIL while another of their zone answers are
/// logged as warnings.
pub async fn check_plan(plan: &Plan, timeout: Duration) -> Result<(), ReachError> {
    let probes = join_all(plan.zones.iter().flat_map(|z| {
        z.servers
            .iter()
            .map(move |s| async move { (&z.zone.name, s, probe(s, &z.zone.name, timeout).await) })
    }))
    .await;
    for z in &plan.zones {
        let mine: Vec<_> = probes
            .iter()
            .filter(|(zone, _, _)| *zone == &z.zone.name)
            .collect();
        let given = mine.iter().any(|(_, s, _)| s.name.is_none());
        if let Some((_, s, Reach::Refused(answer))) =
            mine.iter().find(|(_, _, r)| matches!(r, Reach::Refused(_)))
        {
            return Err(ReachError::Refused {
                zone: z.zone.name.clone(),
                server: (*s).clone(),
                answer: answer.clone(),
                given,
            });
        }
        let answered = mine
            .iter()
            .any(|(_, _, r)| matches!(r, Reach::Authoritative));
        if !answered && mine.iter().any(|(_, _, r)| matches!(r, Reach::Silent(_))) {
            return Err(ReachError::Unreachable {
                zone: z.zone.name.clone(),
                servers: mine
                    .iter()
                    .map(|(_, s, r)| ((*s).clone(), r.to_string()))
                    .collect(),
                given,
            });
        }
        for (_, s, r) in &mine {
            if matches!(r, Reach::Silent(_) | Reach::Rcode(_)) {
                tracing::warn!(zone = %z.zone.name, server = %s, "nameserver {r} before the order; the propagation check waits for it");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TxtSet, Zone};
    use crate::solver::PlannedZone;

    /// A UDP server on loopback that answers every query with `rcode` (QR set, no AA), or
    /// never answers with `None`; it stops after `bound`.
    fn responder(rcode: Option<u8>, bound: Duration) -> std::net::SocketAddr {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut buf = [0u8; 4096];
            while start.elapsed() < bound {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some(code) = rcode.filter(|_| n >= 12) else {
                    continue;
                };
                let mut reply = buf[..n].to_vec();
                reply[2] |= 0x80;
                reply[3] = (reply[3] & 0xf0) | code;
                let _ = sock.send_to(&reply, from);
            }
        });
        addr
    }

    fn plan(servers: Vec<AuthServer>) -> Plan {
        let zone = DnsName::parse("example.test").expect("name");
        Plan {
            provider: "test".into(),
            zones: vec![PlannedZone {
                zone: Zone::new(zone),
                records: TxtSet::default(),
                servers,
            }],
            delegations: Vec::new(),
        }
    }

    fn named(addr: std::net::SocketAddr) -> AuthServer {
        AuthServer {
            name: Some(DnsName::parse("ns1.example.test").expect("name")),
            addr,
        }
    }

    #[tokio::test]
    async fn a_refusing_server_fails_at_once_with_the_cause_it_has() {
        let bound = Duration::from_secs(10);
        let refused = responder(Some(5), bound);
        let silent = responder(None, bound);
        let t = Duration::from_millis(300);
        // Given by --authoritative: the hint names it.
        let given = AuthServer {
            name: None,
            addr: refused,
        };
        let e = check_plan(&plan(vec![given]), t)
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, ReachError::Refused { given: true, answer, .. } if answer == "answered REFUSED"),
            "{e:?}"
        );
        assert!(e.to_string().contains("nothing was ordered"), "{e}");
        assert!(e.hint().contains("--authoritative"), "{}", e.hint());
        // From the zone's NS set: a lame delegation or an ACL, and another answering server
        // does not excuse it (it would be polled until the timeout).
        let e = check_plan(&plan(vec![named(silent), named(refused)]), t)
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, ReachError::Refused { given: false, .. }),
            "{e:?}"
        );
        assert!(
            e.hint().contains("NS set") && !e.hint().contains("fix --authoritative"),
            "{}",
            e.hint()
        );
        // Every server silent: unreachable, named, before anything is ordered.
        let e = check_plan(&plan(vec![named(silent)]), t)
            .await
            .expect_err("silent");
        assert!(
            matches!(&e, ReachError::Unreachable { given: false, .. })
                && e.to_string().contains(&silent.to_string()),
            "{e:?}"
        );
        assert!(e.hint().contains("firewall"), "{}", e.hint());
        // SERVFAIL alone is not proof of anything: only a warning (the checker decides).
        let servfail = responder(Some(2), bound);
        assert_eq!(check_plan(&plan(vec![named(servfail)]), t).await, Ok(()));
    }
}
