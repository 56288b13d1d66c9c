//! The in-memory DNS side: one authoritative server for the zone [`ZONE`] on loopback (UDP and
//! TCP), answering from memory, that takes RFC 2136 UPDATEs into the same memory.
//!
//! The client runs its real DNS-01 flow against it through product settings only: the
//! `rfc2136` provider publishes and removes the TXT records (unsigned updates,
//! `insecure_unsigned = true`: one HMAC per UPDATE message is all TSIG would add), zone
//! discovery and CAA go to it as `[dns] resolvers`, and the propagation check asks it as
//! `[dns] authoritative`. Nothing is validated; every name in the zone exists.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::BenchError;

/// The zone every benchmark name lives in.
pub const ZONE: &str = "bench.test";

/// The TXT values by owner name (lower case, with the trailing dot).
#[derive(Default)]
struct Records {
    txt: HashMap<String, Vec<String>>,
}

/// The stub authoritative server.
pub struct StubDns {
    records: Mutex<Records>,
    zone: Name,
    ns: Name,
}

impl StubDns {
    /// Bind UDP and TCP on one free loopback port and serve until the runtime stops.
    pub async fn start() -> Result<(Arc<StubDns>, SocketAddr), BenchError> {
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = udp.local_addr()?;
        let tcp = TcpListener::bind(addr).await?;
        let zone = Name::from_ascii(format!("{ZONE}."))
            .map_err(|e| BenchError::Stub(format!("zone name: {e}")))?;
        let ns = Name::from_ascii(format!("ns1.{ZONE}."))
            .map_err(|e| BenchError::Stub(format!("ns name: {e}")))?;
        let dns = Arc::new(StubDns {
            records: Mutex::new(Records::default()),
            zone,
            ns,
        });
        let d = dns.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let Some(answer) = d.answer(&buf[..n], true) else {
                    continue;
                };
                let _ = udp.send_to(&answer, peer).await;
            }
        });
        let d = dns.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                let d = d.clone();
                tokio::spawn(async move {
                    // Bounded: a connection carries at most this many messages.
                    for _ in 0..10_000 {
                        let mut len = [0u8; 2];
                        if s.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if s.read_exact(&mut msg).await.is_err() {
                            return;
                        }
                        let Some(answer) = d.answer(&msg, false) else {
                            return;
                        };
                        let Ok(n) = u16::try_from(answer.len()) else {
                            return;
                        };
                        if s.write_all(&n.to_be_bytes()).await.is_err()
                            || s.write_all(&answer).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Ok((dns, addr))
    }

    /// TXT values published now (for the report and the test).
    pub fn txt_count(&self) -> usize {
        self.records
            .lock()
            .map(|r| r.txt.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// The answer to one message, in wire form (`None`: not a DNS message).
    fn answer(&self, wire: &[u8], udp: bool) -> Option<Vec<u8>> {
        let req = Message::from_vec(wire).ok()?;
        let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
        resp.metadata.authoritative = true;
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.add_queries(req.queries.iter().cloned());
        resp.metadata.response_code = match req.metadata.op_code {
            OpCode::Update => self.update(&req),
            OpCode::Query => self.query(&req, &mut resp),
            _ => ResponseCode::NotImp,
        };
        let bytes = resp.to_vec().ok()?;
        if udp && bytes.len() > 1232 {
            let mut t = resp.truncate();
            t.metadata.truncation = true;
            return t.to_vec().ok();
        }
        Some(bytes)
    }

    /// RFC 2136 §3.4: add (class IN) or delete (class NONE: one value; ANY: the set) TXT values.
    fn update(&self, req: &Message) -> ResponseCode {
        let Ok(mut records) = self.records.lock() else {
            return ResponseCode::ServFail;
        };
        for r in &req.authorities {
            if !self.zone.zone_of(&r.name) {
                return ResponseCode::NotZone;
            }
            let owner = r.name.to_ascii().to_ascii_lowercase();
            match (r.dns_class, &r.data) {
                (DNSClass::IN, RData::TXT(t)) => {
                    let v = txt_value(t);
                    let set = records.txt.entry(owner).or_default();
                    if !set.contains(&v) {
                        set.push(v);
                    }
                }
                (DNSClass::NONE, RData::TXT(t)) => {
                    let v = txt_value(t);
                    if let Some(set) = records.txt.get_mut(&owner) {
                        set.retain(|x| *x != v);
                        if set.is_empty() {
                            records.txt.remove(&owner);
                        }
                    }
                }
                (DNSClass::ANY, _) => {
                    records.txt.remove(&owner);
                }
                _ => {}
            }
        }
        ResponseCode::NoError
    }

    fn query(&self, req: &Message, resp: &mut Message) -> ResponseCode {
        let Some(q) = req.queries.first() else {
            return ResponseCode::FormErr;
        };
        let name = q.name();
        if !self.zone.zone_of(name) {
            // The zone's parents (the CAA walk climbs to them): nothing there.
            return match name.zone_of(&self.zone) {
                true => ResponseCode::NoError,
                false => ResponseCode::Refused,
            };
        }
        let apex = *name == self.zone;
        match q.query_type() {
            RecordType::SOA if apex => {
                resp.add_answer(self.soa());
            }
            RecordType::NS if apex => {
                resp.add_answer(Record::from_rdata(
                    self.zone.clone(),
                    300,
                    RData::NS(NS(self.ns.clone())),
                ));
            }
            RecordType::A if *name == self.ns => {
                resp.add_answer(Record::from_rdata(
                    self.ns.clone(),
                    300,
                    RData::A(A(Ipv4Addr::LOCALHOST)),
                ));
            }
            RecordType::TXT => {
                let owner = name.to_ascii().to_ascii_lowercase();
                let values = self
                    .records
                    .lock()
                    .ok()
                    .and_then(|r| r.txt.get(&owner).cloned())
                    .unwrap_or_default();
                for v in values {
                    resp.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::TXT(TXT::new(vec![v])),
                    ));
                }
            }
            _ => {}
        }
        if resp.answers.is_empty() {
            // NODATA: the zone's SOA in the authority section (RFC 2308).
            resp.add_authority(self.soa());
        }
        ResponseCode::NoError
    }

    fn soa(&self) -> Record {
        let rname =
            Name::from_ascii(format!("hostmaster.{ZONE}.")).unwrap_or_else(|_| Name::root());
        Record::from_rdata(
            self.zone.clone(),
            300,
            RData::SOA(SOA::new(self.ns.clone(), rname, 1, 3600, 600, 86400, 60)),
        )
    }
}

/// A TXT record's character-strings joined (the value as published).
fn txt_value(t: &TXT) -> String {
    t.txt_data
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}
