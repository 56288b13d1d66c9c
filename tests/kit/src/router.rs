//! A small router for API fakes: routes (`METHOD /path/{param}`) to handlers over shared
//! state, JSON bodies and fixtures, an auth hook, fault injection (the next `n` requests,
//! after `k` good ones, or everything for a while — 429 with a `Retry-After` counting down),
//! and an audit of every request (secret headers redacted). A fake beside its provider is
//! then its routes, its state and the host's quirks; [`crate::ZoneMirror`] puts its TXT
//! records into a real BIND zone, so Pebble validates end to end through it.
//!
//! Served with keep-alive by the kit's HTTP/1.1 server on its own thread and runtime (sync
//! and async tests alike); handlers run on the blocking pool, one at a time (the state is
//! behind one lock), so they may call [`crate::ZoneMirror`] directly. Stopped on drop.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::BufReader;

use crate::http::{HttpServer, Request, read_request, write_response};
use crate::util::{KitError, Result, free_tcp_port, random_bytes};

/// How long a keep-alive connection may sit idle.
const IDLE: Duration = Duration::from_secs(30);
/// Headers never written to the audit (values replaced by `<redacted>`).
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-auth-key",
    "x-api-key",
    "x-amz-security-token",
    "x-ovh-application",
    "x-ovh-consumer",
    "x-ovh-signature",
    "x-identity-header",
    "x-nsone-key",
    "accesskey",
    "x-api-user",
];

/// One request as a handler sees it.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// The path without the router's prefix and without the query.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Headers as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The `{name}` parts of the matched route.
    pub params: Vec<(String, String)>,
    /// Who the auth hook says is calling (an id, never a secret); kept in the audit.
    pub principal: Option<String>,
}

impl Call {
    /// The route parameter `name` (empty when the route has none).
    pub fn param(&self, name: &str) -> &str {
        lookup(&self.params, name).unwrap_or("")
    }

    /// The first query value of `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        lookup(&self.query, key)
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `page` (from 1) and `per_page` of a paged list: `per_page` as asked or `default`,
    /// clamped to `min..=max`.
    pub fn page(&self, default: u32, min: u32, max: u32) -> (u32, u32) {
        let get = |k: &str| self.query(k).and_then(|v| v.parse::<u32>().ok());
        let per_page = get("per_page").unwrap_or(default).clamp(min, max.max(min));
        (get("page").unwrap_or(1).max(1), per_page)
    }

    /// The token of an `Authorization: Bearer …` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?
            .strip_prefix("Bearer ")
            .map(str::trim)
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The path as sent (prefix kept, still percent-encoded).
    pub fn raw_path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query as sent (after `?`, still percent-encoded).
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An answer: status, content type, headers, body, and a tag for the audit (an error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Further headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Recorded in the audit (e.g. the host's error code), not sent.
    pub tag: Option<String>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::text(status, "application/json", body.to_string())
    }

    /// An answer of any content type.
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            tag: None,
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// With a tag for the audit.
    pub fn tag(mut self, tag: impl Into<String>) -> Reply {
        self.tag = Some(tag.into());
        self
    }
}

impl From<std::result::Result<Reply, Reply>> for Reply {
    /// A handler's answer, success or refusal alike.
    fn from(r: std::result::Result<Reply, Reply>) -> Reply {
        r.unwrap_or_else(|e| e)
    }
}

impl From<KitError> for Reply {
    /// The fake itself failed (its DNS mirror, its randomness): 500 with the reason.
    fn from(e: KitError) -> Reply {
        Reply::text(500, "text/plain", format!("the fake failed: {e}"))
    }
}

/// One request the fake saw, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// The matched route's name (its pattern unless named), `None` when nothing matched.
    pub route: Option<String>,
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Path without the prefix and the query.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers, secret ones redacted.
    pub headers: Vec<(String, String)>,
    /// Body (lossy text).
    pub body: String,
    /// Who called, as the auth hook said (also for refused requests).
    pub principal: Option<String>,
    /// Status answered.
    pub status: u16,
    /// The reply's tag.
    pub tag: Option<String>,
}

type Handler<S> = Box<dyn Fn(&mut S, &Call) -> Reply + Send + Sync>;
type AuthHook<S> = Box<dyn Fn(&S, &mut Call) -> std::result::Result<(), Reply> + Send + Sync>;
type Fallback = Box<dyn Fn(&Call, bool) -> Reply + Send + Sync>;
type BlockReply = Box<dyn Fn(Duration) -> Reply + Send + Sync>;

struct Route<S> {
    method: String,
    segments: Vec<String>,
    name: String,
    handler: Handler<S>,
}

impl<S> Route<S> {
    /// The parameters when `path` matches the pattern (any method).
    fn matches(&self, path: &[&str]) -> Option<Vec<(String, String)>> {
        if path.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, got) in self.segments.iter().zip(path) {
            match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => params.push((name.to_owned(), percent_decode(got))),
                None if seg == got => {}
                None => return None,
            }
        }
        Some(params)
    }
}

/// Routes and hooks of a fake; [`Router::start`] serves them.
pub struct Router<S> {
    name: String,
    prefix: String,
    routes: Vec<Route<S>>,
    auth: Option<AuthHook<S>>,
    fallback: Fallback,
    faults_after_auth: bool,
}

impl<S: Send + 'static> Router<S> {
    /// An empty router; `name` names the server's thread and errors.
    pub fn new(name: &str) -> Router<S> {
        Router {
            name: name.to_owned(),
            prefix: String::new(),
            routes: Vec::new(),
            auth: None,
            fallback: Box::new(|c, known| {
                let status = if known { 405 } else { 404 };
                Reply::text(status, "text/plain", format!("no route for {}", c.path))
            }),
            faults_after_auth: false,
        }
    }

    /// Serve under `prefix` (e.g. `/client/v4`): other paths go to the fallback.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_owned();
        self
    }

    /// Route `spec` (`"GET /zones/{zone}"`; empty segments and a trailing `/` ignored) to
    /// `handler`, which gets the state (locked) and the call, and answers a [`Reply`] (or a
    /// `Result<Reply, Reply>`). First match wins.
    pub fn route<R: Into<Reply>>(
        mut self,
        spec: &str,
        handler: impl Fn(&mut S, &Call) -> R + Send + Sync + 'static,
    ) -> Self {
        let (method, pattern) = spec.split_once(' ').unwrap_or(("GET", spec));
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            segments: split_path(pattern).map(str::to_owned).collect(),
            name: pattern.to_owned(),
            handler: Box::new(move |st, c| handler(st, c).into()),
        });
        self
    }

    /// Name the last route (in the audit), e.g. after the host's operation.
    pub fn named(mut self, name: &str) -> Self {
        if let Some(r) = self.routes.last_mut() {
            r.name = name.to_owned();
        }
        self
    }

    /// Check every request under the prefix before routing; `Err` answers it. The hook may
    /// set [`Call::principal`] (also when refusing: the audit keeps it).
    pub fn auth(
        mut self,
        hook: impl Fn(&S, &mut Call) -> std::result::Result<(), Reply> + Send + Sync + 'static,
    ) -> Self {
        self.auth = Some(Box::new(hook));
        self
    }

    /// Answer requests no route takes; `known` is true when the path exists for another
    /// method (405), or false (404; also outside the prefix).
    pub fn fallback(mut self, f: impl Fn(&Call, bool) -> Reply + Send + Sync + 'static) -> Self {
        self.fallback = Box::new(f);
        self
    }

    /// Injected faults answer only authenticated requests (AWS throttles after checking
    /// the signature); by default they come first (an edge in front of the API).
    pub fn faults_after_auth(mut self) -> Self {
        self.faults_after_auth = true;
        self
    }

    /// Serve on a free loopback port, with `state`.
    pub fn start(self, state: S) -> Result<FakeServer<S>> {
        let shared = Arc::new(Shared {
            router: self,
            state: Mutex::new(state),
            control: Mutex::new(Control::default()),
        });
        let mut last = None;
        for _ in 0..3 {
            match std::net::TcpListener::bind(("127.0.0.1", free_tcp_port()?)) {
                Ok(listener) => {
                    let s = shared.clone();
                    let name = shared.router.name.clone();
                    let server = HttpServer::start(&name, listener, move |stream| {
                        serve_connection(stream, s.clone())
                    })?;
                    return Ok(FakeServer { shared, server });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(KitError(format!(
            "cannot bind the {} fake: {}",
            shared.router.name,
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }
}

fn split_path(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|s| !s.is_empty())
}

struct Fault {
    /// Requests to let through before this one answers.
    pass: u32,
    reply: Reply,
}

#[derive(Default)]
struct Control {
    faults: VecDeque<Fault>,
    block: Option<(Instant, BlockReply)>,
    audit: Vec<Audited>,
}

impl Control {
    fn take_fault(&mut self) -> Option<Reply> {
        if let Some(f) = self.faults.front_mut() {
            if f.pass == 0 {
                return self.faults.pop_front().map(|f| f.reply);
            }
            f.pass -= 1;
        }
        let (until, reply) = self.block.as_ref()?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.block = None;
            return None;
        }
        Some(reply(left))
    }
}

struct Shared<S> {
    router: Router<S>,
    state: Mutex<S>,
    control: Mutex<Control>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fake: its state, faults and audit; stopped on drop.
pub struct FakeServer<S> {
    shared: Arc<Shared<S>>,
    server: HttpServer,
}

impl<S> std::fmt::Debug for FakeServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("name", &self.shared.router.name)
            .field("addr", &self.server.addr())
            .finish()
    }
}

impl<S> FakeServer<S> {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT` followed by the prefix.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.server.addr(), self.shared.router.prefix)
    }

    /// Run `f` on the state (locked: no request is served meanwhile).
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Answer the next `n` requests with `reply` (after faults queued before).
    pub fn fail_next(&self, n: u32, reply: Reply) {
        self.fail_after(0, n, reply);
    }

    /// Let `pass` requests through, then answer `n` with `reply`.
    pub fn fail_after(&self, pass: u32, n: u32, reply: Reply) {
        let mut c = lock(&self.shared.control);
        for i in 0..n {
            let pass = if i == 0 { pass } else { 0 };
            c.faults.push_back(Fault {
                pass,
                reply: reply.clone(),
            });
        }
    }

    /// Answer every request for `d` from now with `reply(time left)` (a host's block).
    pub fn block_for(
        &self,
        d: Duration,
        reply: impl Fn(Duration) -> Reply + Send + Sync + 'static,
    ) {
        lock(&self.shared.control).block = Some((Instant::now() + d, Box::new(reply)));
    }

    /// Every request so far, in order (the audit).
    pub fn requests(&self) -> Vec<Audited> {
        lock(&self.shared.control).audit.clone()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.control).audit.clear();
    }

    /// Requests with this method and exactly this path (without prefix and query).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.count_where(|a| a.method.eq_ignore_ascii_case(method) && a.path == path)
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn count_prefix(&self, method: &str, prefix: &str) -> usize {
        self.count_where(|a| a.method.eq_ignore_ascii_case(method) && a.path.starts_with(prefix))
    }

    /// Requests for which `f` holds.
    pub fn count_where(&self, f: impl Fn(&Audited) -> bool) -> usize {
        lock(&self.shared.control)
            .audit
            .iter()
            .filter(|a| f(a))
            .count()
    }
}

async fn serve_connection<S: Send + 'static>(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared<S>>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let req = match tokio::time::timeout(IDLE, read_request(&mut rd)).await {
            Ok(Ok(Some(r))) => r,
            _ => return,
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let reply = if chunked {
            Reply::text(
                411,
                "text/plain",
                "chunked bodies are not supported by the fake",
            )
        } else {
            let s = shared.clone();
            match tokio::task::spawn_blocking(move || dispatch(&s, req)).await {
                Ok(r) => r,
                Err(e) => Reply::text(500, "text/plain", format!("the fake's handler failed: {e}")),
            }
        };
        let headers: Vec<(&str, String)> = reply
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let close = close || chunked;
        let written = write_response(
            &mut wr,
            reply.status,
            &reply.content_type,
            &headers,
            &reply.body,
            close,
        )
        .await;
        if written.is_err() || close {
            return;
        }
    }
}

fn dispatch<S>(shared: &Shared<S>, req: Request) -> Reply {
    let r = &shared.router;
    let raw_path = req.path().to_owned();
    let in_prefix = raw_path == r.prefix || raw_path.starts_with(&format!("{}/", r.prefix));
    let path = raw_path.strip_prefix(&r.prefix).unwrap_or(&raw_path);
    let mut call = Call {
        query: parse_query(req.raw_query()),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        method: req.method,
        target: req.target,
        headers: req.headers,
        body: req.body,
        ..Call::default()
    };
    let segs: Vec<&str> = split_path(path).collect();
    let found = r
        .routes
        .iter()
        .filter(|_| in_prefix)
        .find_map(|rt| Some((rt, rt.matches(&segs)?)).filter(|_| rt.method == call.method));
    let known = in_prefix && r.routes.iter().any(|rt| rt.matches(&segs).is_some());
    let route = found.as_ref().map(|(rt, _)| rt.name.clone());
    let fault = |after_auth: bool| {
        (r.faults_after_auth == after_auth)
            .then(|| lock(&shared.control).take_fault())
            .flatten()
    };
    let reply = if let Some(f) = fault(false) {
        f
    } else if !in_prefix {
        (r.fallback)(&call, false)
    } else if let Some(Err(refused)) = r.auth.as_ref().map(|a| a(&lock(&shared.state), &mut call)) {
        refused
    } else if let Some(f) = fault(true) {
        f
    } else if let Some((route, params)) = found {
        call.params = params;
        (route.handler)(&mut lock(&shared.state), &call)
    } else {
        (r.fallback)(&call, known)
    };
    let headers = call
        .headers
        .iter()
        .map(|(k, v)| {
            let secret = SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s));
            (
                k.clone(),
                if secret {
                    "<redacted>".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    lock(&shared.control).audit.push(Audited {
        route,
        body: call.text(),
        method: call.method,
        target: call.target,
        path: call.path,
        query: call.query,
        headers,
        principal: call.principal,
        status: reply.status,
        tag: reply.tag.clone(),
    });
    reply
}

/// `%XX` and `+` (a space) decoded; malformed escapes kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string as decoded pairs, in order.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `items` of page `page` (from 1) at `per_page` a page.
pub fn paginate<T: Clone>(items: &[T], page: u32, per_page: u32) -> Vec<T> {
    let start = (page.max(1) as usize - 1).saturating_mul(per_page as usize);
    items
        .iter()
        .skip(start)
        .take(per_page as usize)
        .cloned()
        .collect()
}

/// A JSON fixture (a fake's `*.json` file, e.g. through `include_str!`) with `fields` laid
/// over it (objects merged key by key, anything else replaced). An unreadable fixture is
/// `fields` alone.
pub fn fixture(text: &str, fields: Value) -> Value {
    fn overlay(base: &mut Value, top: Value) {
        match (base, top) {
            (Value::Object(b), Value::Object(t)) => {
                for (k, v) in t {
                    overlay(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, t) => *b = t,
        }
    }
    let mut base = serde_json::from_str(text).unwrap_or(Value::Null);
    overlay(&mut base, fields);
    base
}

/// `len` characters drawn at random from `alphabet` (ids of fake objects).
pub fn random_id(len: usize, alphabet: &[u8]) -> Result<String> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>()? {
            if out.len() < len && !alphabet.is_empty() {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
        if alphabet.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// Now as `2026-01-02T03:04:05.000000Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000000Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Notes {
        items: Vec<String>,
    }

    fn notes() -> Router<Notes> {
        Router::new("notes")
            .prefix("/api")
            .route("GET /notes", |st: &mut Notes, c| {
                let per = c
                    .query("per_page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(10);
                Reply::json(200, &json!(paginate(&st.items, 1, per)))
            })
            .named("ListNotes")
            .route("POST /notes", |st, c| match c.json() {
                Some(v) => {
                    st.items
                        .push(v["text"].as_str().unwrap_or_default().to_owned());
                    Reply::json(200, &json!({ "n": st.items.len(), "who": c.principal }))
                }
                None => Reply::json(400, &json!({ "error": "not JSON" })).tag("BadJson"),
            })
            .route("GET /notes/{id}/", |st, c| {
                match c
                    .param("id")
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| st.items.get(i))
                {
                    Some(t) => Reply::text(200, "text/plain", t.clone()),
                    None => Reply::json(404, &json!({ "missing": c.param("id") })),
                }
            })
            .auth(|_, c| match c.header("authorization") {
                Some("Bearer good") => {
                    c.principal = Some("alice".into());
                    Ok(())
                }
                _ => Err(Reply::json(401, &json!({ "error": "auth" }))),
            })
    }

    async fn send(
        client: &reqwest::Client,
        method: reqwest::Method,
        url: String,
        body: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let mut req = client.request(method, url).bearer_auth("good");
        if let Some(b) = body {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.expect("answer");
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            resp.status().as_u16(),
            retry,
            resp.text().await.expect("body"),
        )
    }

    #[tokio::test]
    async fn routes_auth_faults_and_audit() {
        crate::install_crypto_provider();
        let fake = notes().start(Notes::default()).expect("starts");
        let client = reqwest::Client::new();
        let url = fake.url();
        assert!(url.ends_with("/api"), "{url}");
        let post = |b: &'static str| {
            send(
                &client,
                reqwest::Method::POST,
                format!("{url}/notes"),
                Some(b),
            )
        };
        assert_eq!(
            post(r#"{"text":"a b"}"#).await.2,
            r#"{"n":1,"who":"alice"}"#
        );
        assert_eq!(post("nope").await.0, 400);
        let get = |p: String| send(&client, reqwest::Method::GET, format!("{url}{p}"), None);
        assert_eq!(get("/notes/0/".into()).await, (200, None, "a b".into()));
        assert_eq!(get("/notes/7".into()).await.2, r#"{"missing":"7"}"#);
        assert_eq!(get("/notes?per_page=0".into()).await.2, "[]");
        // 405 for a known path, 404 for an unknown one and outside the prefix.
        assert_eq!(
            send(
                &client,
                reqwest::Method::DELETE,
                format!("{url}/notes"),
                None
            )
            .await
            .0,
            405
        );
        assert_eq!(get("/nothing".into()).await.0, 404);
        let outside = format!("http://{}/notes", fake.addr());
        assert_eq!(
            send(&client, reqwest::Method::GET, outside, None).await.0,
            404
        );
        // Auth.
        let anon = client
            .get(format!("{url}/notes"))
            .send()
            .await
            .expect("answer");
        assert_eq!(anon.status().as_u16(), 401);

        // One good request, then two 429s, then served again.
        fake.fail_after(
            1,
            2,
            Reply::json(429, &json!({}))
                .header("Retry-After", "1")
                .tag("Throttled"),
        );
        let statuses: Vec<(u16, Option<String>)> = futures_serial(&get, 4).await;
        assert_eq!(
            statuses,
            [
                (200, None),
                (429, Some("1".into())),
                (429, Some("1".into())),
                (200, None)
            ]
        );
        // A block answers everything, with the time left, until it ends.
        fake.block_for(Duration::from_secs(30), |left| {
            Reply::json(429, &json!({})).header("Retry-After", left.as_secs().max(1).to_string())
        });
        let (status, retry, _) = get("/notes".into()).await;
        assert_eq!(status, 429);
        assert!(
            retry
                .and_then(|r| r.parse::<u64>().ok())
                .is_some_and(|s| (28..=30).contains(&s))
        );
        fake.block_for(Duration::ZERO, |_| Reply::json(500, &json!({})));
        assert_eq!(get("/notes".into()).await.0, 200);

        let audit = fake.requests();
        assert_eq!(audit[0].route.as_deref(), Some("/notes"));
        assert_eq!(audit[0].principal.as_deref(), Some("alice"));
        assert_eq!(audit[0].body, r#"{"text":"a b"}"#);
        assert!(audit.iter().all(|a| {
            a.headers
                .iter()
                .all(|(k, v)| !k.eq_ignore_ascii_case("authorization") || v == "<redacted>")
        }));
        assert!(audit.iter().any(|a| {
            a.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        }));
        assert_eq!(audit[1].tag.as_deref(), Some("BadJson"));
        assert!(audit.iter().any(|a| a.route.as_deref() == Some("ListNotes")
            && a.query == [("per_page".into(), "0".into())]));
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.tag.as_deref() == Some("Throttled"))
                .count(),
            2
        );
        assert_eq!(fake.with(|st| st.items.clone()), ["a b"]);
        assert_eq!(fake.count("post", "/notes"), 2);
        assert_eq!(fake.count_prefix("GET", "/notes/"), 2);
        fake.clear_requests();
        assert!(fake.requests().is_empty());
    }

    async fn futures_serial<F, Fut>(get: &F, n: usize) -> Vec<(u16, Option<String>)>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = (u16, Option<String>, String)>,
    {
        let mut out = Vec::new();
        for _ in 0..n {
            let (s, r, _) = get("/notes".into()).await;
            out.push((s, r));
        }
        out
    }

    #[tokio::test]
    async fn faults_after_auth_spare_refused_requests() {
        crate::install_crypto_provider();
        let fake = notes()
            .faults_after_auth()
            .start(Notes::default())
            .expect("starts");
        fake.fail_next(1, Reply::json(503, &json!({})));
        let client = reqwest::Client::new();
        let anon = client
            .get(format!("{}/notes", fake.url()))
            .send()
            .await
            .expect("answer");
        assert_eq!(anon.status().as_u16(), 401, "auth before the fault");
        let (status, ..) = send(
            &client,
            reqwest::Method::GET,
            format!("{}/notes", fake.url()),
            None,
        )
        .await;
        assert_eq!(status, 503);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            parse_query("name=_acme-challenge.example.test&x=a%2Bb+c&bad=%zz%4"),
            [
                ("name".into(), "_acme-challenge.example.test".into()),
                ("x".into(), "a+b c".into()),
                ("bad".into(), "%zz%4".into())
            ]
        );
        let items: Vec<u32> = (1..=7).collect();
        assert_eq!(paginate(&items, 2, 3), [4, 5, 6]);
        assert!(paginate(&items, 4, 3).is_empty());
        assert!(now_rfc3339().ends_with(".000000Z") && now_rfc3339().len() == 27);
        let id = random_id(32, b"0123456789abcdef").expect("rng");
        assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            fixture(
                r#"{"a":1,"o":{"x":1,"y":2}}"#,
                json!({"o":{"y":3},"b":true})
            ),
            json!({"a":1,"o":{"x":1,"y":3},"b":true})
        );
    }
}
