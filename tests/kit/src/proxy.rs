//! A fault-injecting TCP relay on 127.0.0.1: put it between a client and a server (e.g.
//! wildcert and Pebble) to drop connections, slow responses down or cut them mid-stream.
//!
//! It relays bytes blindly, so TLS works end to end (the client still sees the server's
//! certificate). For plain-HTTP upstreams it can also stand in for the server and answer
//! every request itself ([`FaultProxy::answer_http`]): a rate limit (429 with `Retry-After`,
//! Route53's 400 `Throttling`) in front of a server that has none. Every thread it starts ends when the
//! [`FaultProxy`] is dropped (the accept loop polls a stop flag every 20 ms; relays poll it
//! between reads with a 50 ms read timeout).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::util::{KitError, Result};

/// What the proxy does with the next connections (see [`FaultProxy::set_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Relay everything untouched.
    Pass,
    /// Accept and immediately close the next `n` connections (then relay again).
    DropNext(u32),
    /// Accept and immediately close every connection (the server looks down).
    DropAll,
    /// Hold every server→client chunk for this long before relaying it.
    Delay(Duration),
    /// Relay nothing, on open and new connections alike, while the mode lasts: the server
    /// looks alive (connections are accepted) but never answers — a hung CA.
    Stall,
    /// For the next `n` connections, close both directions once `after_bytes` bytes went
    /// from the server to the client (mid-handshake or mid-response, depending on the count).
    CutNext {
        /// How many connections to cut.
        n: u32,
        /// Server→client bytes relayed before the cut.
        after_bytes: u64,
    },
}

/// A canned HTTP/1.1 answer the proxy gives to every request (see [`FaultProxy::answer_http`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code, e.g. 429.
    pub status: u16,
    /// Extra headers, e.g. `("Retry-After", "1")` (Content-Length is added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpAnswer {
    /// HTTP 429 with `Retry-After: <secs>` and a short text body.
    pub fn too_many_requests(retry_after_secs: u32) -> HttpAnswer {
        HttpAnswer {
            status: 429,
            headers: vec![("Retry-After".into(), retry_after_secs.to_string())],
            body: "rate limited by the test kit's proxy".into(),
        }
    }
}

struct Shared {
    mode: Mutex<ProxyMode>,
    answer: Mutex<Option<HttpAnswer>>,
    answered: AtomicU64,
    stop: AtomicBool,
    accepted: AtomicU64,
    faulted: AtomicU64,
    /// Bumped by [`FaultProxy::cut_open`]: relays started before the bump close.
    generation: AtomicU64,
}

/// A running relay; stopped (threads joined, sockets closed) on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(50);

impl FaultProxy {
    /// Listen on a free 127.0.0.1 port and relay to `upstream`, in [`ProxyMode::Pass`].
    pub fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: Mutex::new(ProxyMode::Pass),
            answer: Mutex::new(None),
            answered: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(listener, upstream, s))
            .map_err(|e| KitError(format!("cannot start the proxy thread: {e}")))?;
        Ok(FaultProxy {
            addr,
            upstream,
            shared,
            accept: Some(accept),
        })
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `url` with its `host:port` (the upstream's) replaced by the proxy's.
    pub fn rewrite_url(&self, url: &str) -> String {
        url.replacen(&self.upstream.to_string(), &self.addr.to_string(), 1)
    }

    /// Change what happens to the next connections.
    pub fn set_mode(&self, mode: ProxyMode) {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = mode;
        }
    }

    /// The current mode (a `DropNext`/`CutNext` counts down to `Pass`).
    pub fn mode(&self) -> ProxyMode {
        self.shared
            .mode
            .lock()
            .map(|m| *m)
            .unwrap_or(ProxyMode::Pass)
    }

    /// Answer every HTTP request on new connections with `answer` instead of relaying it
    /// (`None`: relay again). Open connections are closed, so a client's pooled connections
    /// see the change at once.
    pub fn answer_http(&self, answer: Option<HttpAnswer>) {
        if let Ok(mut a) = self.shared.answer.lock() {
            *a = answer;
        }
        self.cut_open();
    }

    /// HTTP requests answered by [`Self::answer_http`] so far.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Close every connection open right now (new ones are relayed per the mode).
    pub fn cut_open(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections dropped or cut so far (by the mode or [`Self::cut_open`]).
    pub fn faulted(&self) -> u64 {
        self.shared.faulted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// What one accepted connection gets, decided (and counted down) at accept time.
enum Plan {
    Drop,
    Relay {
        delay: Option<Duration>,
        cut_after: Option<u64>,
    },
}

fn plan_for(shared: &Shared) -> Plan {
    let Ok(mut mode) = shared.mode.lock() else {
        return Plan::Relay {
            delay: None,
            cut_after: None,
        };
    };
    match *mode {
        ProxyMode::Pass => Plan::Relay {
            delay: None,
            cut_after: None,
        },
        ProxyMode::DropAll => Plan::Drop,
        ProxyMode::DropNext(n) => {
            *mode = if n <= 1 {
                ProxyMode::Pass
            } else {
                ProxyMode::DropNext(n - 1)
            };
            Plan::Drop
        }
        ProxyMode::Delay(d) => Plan::Relay {
            delay: Some(d),
            cut_after: None,
        },
        ProxyMode::Stall => Plan::Relay {
            delay: None,
            cut_after: None,
        },
        ProxyMode::CutNext { n, after_bytes } => {
            *mode = if n <= 1 {
                ProxyMode::Pass
            } else {
                ProxyMode::CutNext {
                    n: n - 1,
                    after_bytes,
                }
            };
            Plan::Relay {
                delay: None,
                cut_after: Some(after_bytes),
            }
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut relays: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let answer = shared.answer.lock().ok().and_then(|a| a.clone());
                if let Some(answer) = answer {
                    let s = shared.clone();
                    if let Ok(h) = std::thread::Builder::new()
                        .name("fault-proxy-answer".into())
                        .spawn(move || answer_requests(client, &answer, &s))
                    {
                        relays.push(h);
                    }
                    relays.retain(|h| !h.is_finished());
                    continue;
                }
                match plan_for(&shared) {
                    Plan::Drop => {
                        shared.faulted.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    Plan::Relay { delay, cut_after } => {
                        let s = shared.clone();
                        if let Ok(h) = std::thread::Builder::new()
                            .name("fault-proxy-conn".into())
                            .spawn(move || relay(client, upstream, s, delay, cut_after))
                        {
                            relays.push(h);
                        }
                    }
                }
                relays.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    for h in relays {
        let _ = h.join();
    }
}

/// Answer each HTTP/1.1 request on `client` with `answer` (keep-alive), until the client
/// closes, 10 s pass without a request, or the proxy stops.
fn answer_requests(mut client: TcpStream, answer: &HttpAnswer, shared: &Shared) {
    const IDLE: Duration = Duration::from_secs(10);
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(POLL));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut idle = std::time::Instant::now();
    while !shared.stop.load(Ordering::SeqCst) && idle.elapsed() < IDLE {
        // A whole request in the buffer? (head, then Content-Length bytes of body)
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                buf.drain(..end + 4 + length);
                let mut out = format!("HTTP/1.1 {} Kit Answer\r\n", answer.status);
                for (k, v) in &answer.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str(&format!(
                    "Content-Length: {}\r\nConnection: keep-alive\r\n\r\n{}",
                    answer.body.len(),
                    answer.body
                ));
                shared.answered.fetch_add(1, Ordering::SeqCst);
                if client.write_all(out.as_bytes()).is_err() {
                    break;
                }
                idle = std::time::Instant::now();
                continue;
            }
        }
        match client.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 8 << 20 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// True while [`ProxyMode::Stall`] holds every relay still.
fn stalled(shared: &Shared) -> bool {
    shared
        .mode
        .lock()
        .map(|m| *m == ProxyMode::Stall)
        .unwrap_or(false)
}

/// Relay one connection until either side closes, the proxy stops, or a fault ends it.
fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    delay: Option<Duration>,
    cut_after: Option<u64>,
) {
    let generation = shared.generation.load(Ordering::SeqCst);
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nonblocking(false);
    for s in [&client, &server] {
        let _ = s.set_read_timeout(Some(POLL));
        let _ = s.set_nodelay(true);
    }
    let (Ok(client_r), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let done = Arc::new(AtomicBool::new(false));
    // client → server in its own thread; server → client here (where the faults apply).
    let up = {
        let (shared, done) = (shared.clone(), done.clone());
        let mut server_w = server.try_clone().ok();
        std::thread::spawn(move || {
            let mut from = client_r;
            let mut buf = [0u8; 16 * 1024];
            loop {
                if done.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if stalled(&shared) {
                    std::thread::sleep(POLL);
                    continue;
                }
                match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let ok = server_w
                            .as_mut()
                            .is_some_and(|w| w.write_all(&buf[..n]).is_ok());
                        if !ok {
                            break;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut from = server_r;
    let mut to = client.try_clone().ok();
    let mut sent: u64 = 0;
    let mut buf = [0u8; 16 * 1024];
    let mut faulted = false;
    loop {
        if done.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            break;
        }
        if shared.generation.load(Ordering::SeqCst) != generation {
            faulted = true;
            break;
        }
        if stalled(&shared) {
            std::thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut n = n;
                if let Some(limit) = cut_after {
                    let room = limit.saturating_sub(sent);
                    if (n as u64) >= room {
                        n = usize::try_from(room).unwrap_or(n);
                        faulted = true;
                    }
                }
                if let Some(d) = delay {
                    std::thread::sleep(d);
                }
                let ok = to.as_mut().is_some_and(|w| w.write_all(&buf[..n]).is_ok());
                sent += n as u64;
                if !ok || faulted {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    if faulted {
        shared.faulted.fetch_add(1, Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = std::thread::spawn(move || {
            // Serve at most 8 connections, then stop.
            for conn in l.incoming().take(8) {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 64];
                if let Ok(n) = c.read(&mut buf) {
                    let _ = c.write_all(&buf[..n]);
                }
            }
        });
        (addr, h)
    }

    #[test]
    fn answers_http_itself_when_told() {
        let (up, _server) = echo_server();
        let proxy = FaultProxy::start(up).expect("proxy");
        proxy.answer_http(Some(HttpAnswer::too_many_requests(7)));
        let mut c =
            TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let req = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let mut buf = [0u8; 512];
        for _ in 0..2 {
            c.write_all(req.as_bytes()).expect("write");
            let n = c.read(&mut buf).expect("answer");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(text.starts_with("HTTP/1.1 429 "), "{text}");
            assert!(text.contains("Retry-After: 7\r\n"), "{text}");
        }
        assert_eq!(
            proxy.answered(),
            2,
            "keep-alive: two answers on one connection"
        );
        proxy.answer_http(None);
        assert_eq!(
            roundtrip(proxy.addr()).expect("relayed again"),
            b"hello world"
        );
    }

    fn roundtrip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(b"hello world")?;
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        Ok(out)
    }

    #[test]
    fn pass_drop_and_cut() {
        let (up, _server) = echo_server();
        let proxy = FaultProxy::start(up).expect("proxy");
        assert_eq!(roundtrip(proxy.addr()).expect("pass"), b"hello world");
        proxy.set_mode(ProxyMode::DropNext(1));
        assert!(
            roundtrip(proxy.addr())
                .map(|v| v.is_empty())
                .unwrap_or(true)
        );
        assert_eq!(proxy.mode(), ProxyMode::Pass);
        proxy.set_mode(ProxyMode::CutNext {
            n: 1,
            after_bytes: 5,
        });
        assert_eq!(roundtrip(proxy.addr()).expect("cut"), b"hello");
        assert_eq!(roundtrip(proxy.addr()).expect("pass again"), b"hello world");
        assert_eq!(proxy.faulted(), 2);
        // Stall: the connection is accepted, nothing comes back until the mode ends.
        proxy.set_mode(ProxyMode::Stall);
        let mut c =
            TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)).expect("connect");
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        c.write_all(b"ping").expect("write");
        let mut buf = [0u8; 8];
        assert!(c.read(&mut buf).is_err(), "a stalled proxy answered");
        proxy.set_mode(ProxyMode::Pass);
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert_eq!(c.read(&mut buf).expect("answer after the stall"), 4);
        assert!(
            proxy
                .rewrite_url(&format!("https://{up}/dir"))
                .contains(&proxy.addr().to_string())
        );
    }
}
