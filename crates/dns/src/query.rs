//! Raw DNS exchanges with one server: no cache, UDP with TCP fallback on truncation.
//!
//! Every exchange opens a fresh socket (UDP) or connection (TCP), so nothing is remembered
//! between polls: what a server answers now is what we see.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::{DnsHandle, DnsMultiplexer, NetError};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType, TSigner};

use crate::name::DnsName;

/// Default time we wait for one answer from one server.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// EDNS UDP payload we advertise (DNS flag day 2020): larger answers come back truncated and
/// are fetched again over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// How to reach a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP, retried over TCP when the answer is truncated.
    Udp,
    /// TCP only.
    Tcp,
}

/// Why an exchange with one server failed (a DNS answer with an error rcode is *not* an error
/// here: callers look at [`Message::metadata`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No answer in time.
    #[error("{server}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// How long we waited.
        after: Duration,
    },
    /// The socket or connection failed (refused, unreachable).
    #[error("{server}: {message}")]
    Io {
        /// The server asked.
        server: SocketAddr,
        /// The OS error.
        message: String,
    },
    /// The server's TSIG on the answer was missing or wrong: it rejected our key.
    #[error(
        "{server}: TSIG rejected by server (bad key name, secret or algorithm, or clock skew): {message}"
    )]
    Tsig {
        /// The server asked.
        server: SocketAddr,
        /// What hickory reported.
        message: String,
    },
    /// The answer could not be parsed or did not match the question.
    #[error("{server}: bad answer: {message}")]
    Protocol {
        /// The server asked.
        server: SocketAddr,
        /// What went wrong.
        message: String,
    },
}

impl QueryError {
    /// The server this error is about.
    pub fn server(&self) -> SocketAddr {
        match self {
            QueryError::Timeout { server, .. }
            | QueryError::Io { server, .. }
            | QueryError::Tsig { server, .. }
            | QueryError::Protocol { server, .. } => *server,
        }
    }

    /// True when this host has no route to the server's address family or network (no IPv6
    /// connectivity): a local condition, not a server fault.
    pub fn is_no_route(&self) -> bool {
        match self {
            QueryError::Io { message, .. } => {
                let m = message.to_ascii_lowercase();
                m.contains("network is unreachable")
                    || m.contains("os error 101")
                    || m.contains("address family not supported")
                    || m.contains("os error 97")
                    || m.contains("cannot assign requested address")
                    || m.contains("os error 99")
            }
            _ => false,
        }
    }

    /// A short label for reports: `timeout`, `unreachable`, `TSIG rejected`, `bad answer`.
    pub fn short(&self) -> String {
        match self {
            QueryError::Timeout { .. } => "timeout".into(),
            QueryError::Io { message, .. } => format!("unreachable ({message})"),
            QueryError::Tsig { .. } => "TSIG rejected".into(),
            QueryError::Protocol { message, .. } => format!("bad answer ({message})"),
        }
    }

    fn from_net(server: SocketAddr, after: Duration, e: NetError) -> Self {
        match e {
            NetError::Timeout => QueryError::Timeout { server, after },
            NetError::Io(io) => QueryError::Io {
                server,
                message: io.to_string(),
            },
            other => {
                let message = other.to_string();
                let lower = message.to_ascii_lowercase();
                // hickory reports a BADSIG/BADKEY answer (empty MAC, RFC 8945 §5.3.2) as a
                // "truncated HMACs" error; any TSIG/HMAC failure means the key was refused.
                if lower.contains("hmac") || lower.contains("tsig") {
                    QueryError::Tsig { server, message }
                } else if lower.contains("connection refused") || lower.contains("unreachable") {
                    QueryError::Io { server, message }
                } else {
                    QueryError::Protocol { server, message }
                }
            }
        }
    }
}

/// Convert our name to hickory's fully qualified form.
pub fn to_hickory(name: &DnsName) -> Name {
    // A DnsName is validated ASCII, so this cannot fail in practice; fall back to root rather
    // than panic.
    Name::from_ascii(name.to_fqdn()).unwrap_or_else(|_| Name::root())
}

/// Convert a hickory name to ours; `None` for the root or anything we do not accept.
pub fn from_hickory(name: &Name) -> Option<DnsName> {
    if name.is_root() {
        return None;
    }
    DnsName::parse(&name.to_ascii()).ok()
}

/// Ask `server` one question over UDP (TCP on truncation). `recursion_desired` sets the RD bit.
pub async fn query(
    server: SocketAddr,
    name: &DnsName,
    rtype: RecordType,
    recursion_desired: bool,
    timeout: Duration,
) -> Result<Message, QueryError> {
    query_over(
        Transport::Udp,
        server,
        name,
        rtype,
        recursion_desired,
        timeout,
    )
    .await
}

/// Like [`query`], over the given transport.
pub async fn query_over(
    transport: Transport,
    server: SocketAddr,
    name: &DnsName,
    rtype: RecordType,
    recursion_desired: bool,
    timeout: Duration,
) -> Result<Message, QueryError> {
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = recursion_desired;
    options.use_edns = true;
    options.edns_payload_len = EDNS_PAYLOAD;
    let q = Query::query(to_hickory(name), rtype);
    let request = DnsRequest::from_query(q, options);
    tracing::trace!(%server, %name, ?rtype, rd = recursion_desired, "query");
    exchange(server, request, transport, None, timeout).await
}

/// Send a prepared request. With [`Transport::Udp`], a truncated answer is fetched again over
/// TCP. `signer` signs the request (UPDATE) and verifies the answer's TSIG.
pub async fn exchange(
    server: SocketAddr,
    request: DnsRequest,
    transport: Transport,
    signer: Option<TSigner>,
    timeout: Duration,
) -> Result<Message, QueryError> {
    if transport == Transport::Udp {
        let answer = send_udp(server, request.clone(), signer.clone(), timeout).await?;
        if !answer.metadata.truncation {
            return Ok(answer);
        }
        tracing::debug!(%server, "answer truncated over UDP, asking again over TCP");
    }
    send_tcp(server, request, signer, timeout).await
}

/// Send a DNS message already in wire form (signed by the caller, e.g. with TSIG) and return
/// the answer's bytes as received, so the caller can check its signature itself. Over UDP,
/// answers whose ID differs are ignored and a truncated answer is fetched again over TCP.
pub async fn exchange_bytes(
    server: SocketAddr,
    message: &[u8],
    transport: Transport,
    timeout: Duration,
) -> Result<Vec<u8>, QueryError> {
    let Some(id) = message.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return Err(QueryError::Protocol {
            server,
            message: "empty message".into(),
        });
    };
    let bounded = async {
        if transport == Transport::Udp {
            let answer = udp_bytes(server, message, id).await?;
            // TC is bit 1 of the third byte.
            let truncated = answer.get(2).is_some_and(|b| b & 0x02 != 0);
            if !truncated {
                return Ok(answer);
            }
            tracing::debug!(%server, "answer truncated over UDP, asking again over TCP");
        }
        tcp_bytes(server, message, id).await
    };
    match tokio::time::timeout(timeout, bounded).await {
        Err(_) => Err(QueryError::Timeout {
            server,
            after: timeout,
        }),
        Ok(r) => r,
    }
}

fn io_error(server: SocketAddr, e: std::io::Error) -> QueryError {
    QueryError::Io {
        server,
        message: e.to_string(),
    }
}

async fn udp_bytes(server: SocketAddr, message: &[u8], id: u16) -> Result<Vec<u8>, QueryError> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| io_error(server, e))?;
    sock.connect(server)
        .await
        .map_err(|e| io_error(server, e))?;
    sock.send(message).await.map_err(|e| io_error(server, e))?;
    let mut buf = vec![0u8; 65535];
    // Bounded by the caller's timeout; stray datagrams with another ID are skipped.
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| io_error(server, e))?;
        if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_bytes(server: SocketAddr, message: &[u8], id: u16) -> Result<Vec<u8>, QueryError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let len = u16::try_from(message.len()).map_err(|_| QueryError::Protocol {
        server,
        message: format!(
            "message of {} bytes is larger than a DNS message may be (65535)",
            message.len()
        ),
    })?;
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|e| io_error(server, e))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| io_error(server, e))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| io_error(server, e))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| io_error(server, e))?;
    if buf.len() < 12 || u16::from_be_bytes([buf[0], buf[1]]) != id {
        return Err(QueryError::Protocol {
            server,
            message: "answer does not match the question (ID)".into(),
        });
    }
    Ok(buf)
}

async fn send_udp(
    server: SocketAddr,
    request: DnsRequest,
    signer: Option<TSigner>,
    timeout: Duration,
) -> Result<Message, QueryError> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(timeout))
        .with_signer(signer)
        .build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    drive(server, &client, request, bg, timeout).await
}

async fn send_tcp(
    server: SocketAddr,
    request: DnsRequest,
    signer: Option<TSigner>,
    timeout: Duration,
) -> Result<Message, QueryError> {
    let (connect, handle) =
        TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::default());
    let stream = match tokio::time::timeout(timeout, connect).await {
        Err(_) => {
            return Err(QueryError::Timeout {
                server,
                after: timeout,
            });
        }
        Ok(Err(e)) => return Err(QueryError::from_net(server, timeout, e)),
        Ok(Ok(s)) => s,
    };
    let mut mux = DnsMultiplexer::new(stream, handle).with_timeout(timeout);
    if let Some(signer) = signer {
        mux = mux.with_signer(signer);
    }
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(mux);
    drive(server, &client, request, bg, timeout).await
}

/// Run the client's background task next to our one request, so nothing outlives the call.
async fn drive(
    server: SocketAddr,
    client: &Client<TokioRuntimeProvider>,
    request: DnsRequest,
    bg: impl std::future::Future<Output = ()>,
    timeout: Duration,
) -> Result<Message, QueryError> {
    let started = std::time::Instant::now();
    let mut responses = client.send(request);
    let work = async {
        tokio::pin!(bg);
        tokio::select! {
            biased;
            r = responses.next() => r,
            _ = &mut bg => responses.next().await,
        }
    };
    // The transport has its own timeout; this outer bound only guards against a stuck task.
    match tokio::time::timeout(timeout + Duration::from_millis(500), work).await {
        Err(_) => Err(QueryError::Timeout {
            server,
            after: timeout,
        }),
        // The transport gave up without a reply. After the whole timeout, the server was
        // silent (packets dropped); sooner, something said no: on loopback, an ICMP port
        // unreachable, i.e. nothing listens there.
        Ok(None) if started.elapsed() + Duration::from_millis(50) >= timeout => {
            Err(QueryError::Timeout {
                server,
                after: timeout,
            })
        }
        Ok(None) => Err(QueryError::Io {
            server,
            message: "no answer (connection refused or closed)".into(),
        }),
        Ok(Some(Err(e))) => Err(QueryError::from_net(server, timeout, e)),
        Ok(Some(Ok(r))) => Ok(DnsResponse::into_message(r)),
    }
}

/// The TXT values at `name` in an answer: each record's strings joined (RFC 7208 §3.3 style).
pub fn txt_values(answer: &Message, name: &DnsName) -> Vec<String> {
    let want = to_hickory(name);
    answer
        .answers
        .iter()
        .filter(|r| r.name.eq_case(&want) || r.name == want)
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => {
                let mut s = Vec::new();
                for part in txt.txt_data.iter() {
                    s.extend_from_slice(part);
                }
                Some(String::from_utf8_lossy(&s).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// A one-word name for an rcode in reports (`NXDOMAIN`, `REFUSED`, ...).
pub fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        ResponseCode::BADSIG => "BADSIG".into(),
        ResponseCode::BADKEY => "BADKEY".into(),
        ResponseCode::BADTIME => "BADTIME".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_is_a_local_condition() {
        let server: SocketAddr = "[2001:db8::1]:53".parse().expect("addr");
        let io = |m: &str| QueryError::Io {
            server,
            message: m.into(),
        };
        assert!(io("Network is unreachable (os error 101)").is_no_route());
        assert!(io("Address family not supported by protocol (os error 97)").is_no_route());
        assert!(!io("Connection refused (os error 111)").is_no_route());
        assert!(
            !QueryError::Timeout {
                server,
                after: DEFAULT_QUERY_TIMEOUT
            }
            .is_no_route()
        );
    }

    #[test]
    fn names_convert_both_ways() {
        let n = DnsName::parse("_acme-challenge.Example.test").expect("name");
        let h = to_hickory(&n);
        assert_eq!(h.to_ascii(), "_acme-challenge.example.test.");
        assert_eq!(from_hickory(&h), Some(n));
        assert_eq!(from_hickory(&Name::root()), None);
    }
}
