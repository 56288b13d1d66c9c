//! A stateful fake of the Cloudflare API v4 endpoints a DNS-01 client uses, on loopback:
//! `GET /zones` (filters, pagination), `GET /zones/{id}`, `GET|POST /zones/{id}/dns_records`,
//! `GET|PUT|PATCH|DELETE /zones/{id}/dns_records/{record_id}`, `POST …/dns_records/batch`,
//! the list filters (`name`/`content` with `.exact`, `.contains`, `.startswith`, `.endswith`,
//! `search`, `order`, `direction`), with the v4 envelope
//! (`success`, `errors[{code,message}]`, `messages`, `result`, `result_info`), API tokens
//! (`Authorization: Bearer`) with zone scopes and permissions, the legacy Global API Key
//! (`X-Auth-Email` + `X-Auth-Key`), and knobs to force a small `per_page` and to inject 429
//! (`Retry-After: 1`) or 5xx answers, a timed block (every call 429, as after 1,200 requests in
//! five minutes), HTML 401/403 pages (an edge firewall), and prefixed tokens (`cfut_`, `cfat_`).
//! `tests/kit/sdk/check_fakes.py` proves it against the official Python SDK. No Cloudflare
//! server can run here, so this follows the public API documentation (developers.cloudflare.com/api: List Zones, List/Create/Delete DNS
//! Records) and error codes seen in the wild (81044, 81058, 7003, 9109, 10000, 6003/6111).
//!
//! Backed by a real DNS zone: with [`CloudflareFakeOptions::backed_by`], every TXT record created
//! or deleted is applied to the BIND topology's hidden primary through RFC 2136 (`nsupdate -k`),
//! before the API answers, so Pebble validates end to end through the secondaries.
//!
//! Served with keep-alive by the kit's small HTTP/1.1 server ([`crate::http`]) on its own
//! thread and tokio runtime, so it serves sync and async tests alike; stopped on drop.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::BufReader;

use crate::BindTopology;
use crate::http::{HttpServer, Request, read_request, write_response};
use crate::nsupdate::{nsupdate, nsupdate_blocking};
use crate::util::{KitError, Result, free_tcp_port, random_bytes};

/// The path prefix of the API (as in `https://api.cloudflare.com/client/v4`).
pub const API_PREFIX: &str = "/client/v4";
/// The token every fake accepts unless options say otherwise: all zones, all permissions.
pub const DEFAULT_TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";

const IDLE: Duration = Duration::from_secs(30);

/// An API token known to the fake.
#[derive(Debug, Clone)]
pub struct FakeToken {
    /// The token (Cloudflare tokens are 40 characters of `[A-Za-z0-9_-]`; others get 400/6111).
    pub token: String,
    /// Zone names it may touch (`None`: every zone).
    pub zones: Option<Vec<String>>,
    /// Zone:Zone:Read (needed for `GET /zones`).
    pub zone_read: bool,
    /// Zone:DNS:Edit (needed for POST/DELETE of records; also allows reading them).
    pub dns_edit: bool,
}

impl FakeToken {
    /// A token with Zone:Read and DNS:Edit on every zone.
    pub fn full(token: &str) -> Self {
        FakeToken {
            token: token.to_owned(),
            zones: None,
            zone_read: true,
            dns_edit: true,
        }
    }
}

/// Where the fake mirrors TXT changes: a primary taking TSIG-signed RFC 2136 updates.
#[derive(Debug, Clone)]
pub struct FakeDnsBackend {
    /// The primary (address and port).
    pub server: SocketAddr,
    /// A BIND key file (`tsig-keygen` output) allowed to change TXT records.
    pub key_file: PathBuf,
    /// The zones the primary serves (others are kept in the fake only).
    pub zones: Vec<String>,
}

/// Options for [`CloudflareFake::start`].
#[derive(Debug, Clone)]
pub struct CloudflareFakeOptions {
    /// Zone names (each gets a random 32-hex id), all `active`.
    pub zones: Vec<String>,
    /// Accepted API tokens.
    pub tokens: Vec<FakeToken>,
    /// The legacy Global API Key: (e-mail, key), if accepted.
    pub global_key: Option<(String, String)>,
    /// Force a smaller maximum `per_page` on every list (e.g. 1 to exercise pagination).
    pub max_per_page: Option<u32>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<FakeDnsBackend>,
    /// Smallest TTL accepted besides 1 (60; Enterprise zones take 30).
    pub min_ttl: u32,
}

impl Default for CloudflareFakeOptions {
    fn default() -> Self {
        CloudflareFakeOptions {
            zones: vec!["example.test".to_owned()],
            tokens: vec![FakeToken::full(DEFAULT_TOKEN)],
            global_key: None,
            max_per_page: None,
            dns: None,
            min_ttl: 60,
        }
    }
}

impl CloudflareFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let zones = topo.zones().to_vec();
        CloudflareFakeOptions {
            zones: zones.clone(),
            dns: Some(FakeDnsBackend {
                server: topo.primary_addr(),
                key_file: topo.tsig_key_file_path().to_owned(),
                zones,
            }),
            ..Default::default()
        }
    }
}

/// A DNS record as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// Record id (32 hex).
    pub id: String,
    /// Zone id.
    pub zone_id: String,
    /// Zone name.
    pub zone_name: String,
    /// Type, e.g. `TXT`.
    pub rtype: String,
    /// Full name, lower case, no trailing dot.
    pub name: String,
    /// Content exactly as given (TXT: quoted or not).
    pub content: String,
    /// TTL (1 = automatic).
    pub ttl: u32,
    /// Comment, if any.
    pub comment: Option<String>,
    created: String,
}

/// One request the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the `/client/v4` prefix and without the query, e.g. `/zones`.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Status answered.
    pub status: u16,
}

#[derive(Debug)]
struct ZoneEntry {
    id: String,
    name: String,
}

#[derive(Debug)]
struct State {
    zones: Vec<ZoneEntry>,
    records: Vec<FakeRecord>,
    tokens: Vec<FakeToken>,
    global_key: Option<(String, String)>,
    max_per_page: Option<u32>,
    fail_429: u32,
    fail_5xx: u32,
    fail_html: Option<(u16, u32)>,
    blocked_until: Option<std::time::Instant>,
    block_retry_after: bool,
    min_ttl: u32,
    requests: Vec<FakeRequest>,
    dns: Option<FakeDnsBackend>,
    account_id: String,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running fake; stopped on drop.
pub struct CloudflareFake {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl std::fmt::Debug for CloudflareFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareFake")
            .field("addr", &self.server.addr())
            .finish()
    }
}

fn hex_id() -> Result<String> {
    let b = random_bytes::<16>()?;
    Ok(b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    }))
}

impl CloudflareFake {
    /// Start on a free loopback port.
    pub fn start(opts: CloudflareFakeOptions) -> Result<CloudflareFake> {
        let mut zones = Vec::new();
        for z in &opts.zones {
            zones.push(ZoneEntry {
                id: hex_id()?,
                name: z.trim_end_matches('.').to_ascii_lowercase(),
            });
        }
        let state = Arc::new(Mutex::new(State {
            zones,
            records: Vec::new(),
            tokens: opts.tokens,
            global_key: opts.global_key,
            max_per_page: opts.max_per_page,
            fail_429: 0,
            fail_5xx: 0,
            fail_html: None,
            blocked_until: None,
            block_retry_after: false,
            min_ttl: opts.min_ttl,
            requests: Vec::new(),
            dns: opts.dns,
            account_id: hex_id()?,
        }));
        // A port from the kit's registry, so no other server of this process is handed it.
        let listener = {
            let mut last = None;
            let mut bound = None;
            for _ in 0..3 {
                match std::net::TcpListener::bind(("127.0.0.1", free_tcp_port()?)) {
                    Ok(l) => {
                        bound = Some(l);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match bound {
                Some(l) => l,
                None => {
                    return Err(KitError(format!(
                        "cannot bind the Cloudflare fake: {}",
                        last.map(|e| e.to_string()).unwrap_or_default()
                    )));
                }
            }
        };
        let st = state.clone();
        let server = HttpServer::start("cloudflare", listener, move |stream| {
            serve_connection(stream, st.clone())
        })?;
        Ok(CloudflareFake { state, server })
    }

    /// `http://127.0.0.1:PORT/client/v4`: what goes into `base_url` / `CLOUDFLARE_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.server.addr())
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The id of a zone by name.
    pub fn zone_id(&self, zone: &str) -> Option<String> {
        let z = zone.trim_end_matches('.').to_ascii_lowercase();
        lock(&self.state)
            .zones
            .iter()
            .find(|e| e.name == z)
            .map(|e| e.id.clone())
    }

    /// Add a zone (not mirrored to DNS unless the backend serves it); returns its id.
    pub fn add_zone(&self, zone: &str) -> Result<String> {
        let id = hex_id()?;
        lock(&self.state).zones.push(ZoneEntry {
            id: id.clone(),
            name: zone.trim_end_matches('.').to_ascii_lowercase(),
        });
        Ok(id)
    }

    /// Accept another token.
    pub fn add_token(&self, token: FakeToken) {
        lock(&self.state).tokens.push(token);
    }

    /// Every record of a zone, in creation order.
    pub fn records(&self, zone: &str) -> Vec<FakeRecord> {
        let z = zone.trim_end_matches('.').to_ascii_lowercase();
        lock(&self.state)
            .records
            .iter()
            .filter(|r| r.zone_name == z)
            .cloned()
            .collect()
    }

    /// TXT contents (unquoted, sorted) at `name`.
    pub fn txt_values(&self, name: &str) -> Vec<String> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        let mut v: Vec<String> = lock(&self.state)
            .records
            .iter()
            .filter(|r| r.rtype == "TXT" && r.name == n)
            .map(|r| unquote(&r.content))
            .collect();
        v.sort();
        v
    }

    /// Create a record directly (as a user of the dashboard would), mirrored to DNS like an
    /// API create; `content` as Cloudflare stores it (TXT: quoted or not). Returns the id.
    pub fn seed_record(
        &self,
        zone: &str,
        rtype: &str,
        name: &str,
        content: &str,
        ttl: u32,
    ) -> Result<String> {
        let z = zone.trim_end_matches('.').to_ascii_lowercase();
        let (rec, backend) = {
            let st = lock(&self.state);
            let zone_id = st
                .zones
                .iter()
                .find(|e| e.name == z)
                .map(|e| e.id.clone())
                .ok_or_else(|| KitError(format!("the fake has no zone {zone}")))?;
            let rec = FakeRecord {
                id: hex_id()?,
                zone_id,
                zone_name: z.clone(),
                rtype: rtype.to_ascii_uppercase(),
                name: name.trim_end_matches('.').to_ascii_lowercase(),
                content: content.to_owned(),
                ttl,
                comment: None,
                created: now_rfc3339(),
            };
            (rec, mirror_target(&st, &z, rtype))
        };
        if let Some(b) = backend {
            let script = nsupdate_script(&b, &z, "add", &rec.name, rec.ttl, &rec.content);
            nsupdate_blocking(&b.key_file, &script)?;
        }
        let id = rec.id.clone();
        lock(&self.state).records.push(rec);
        Ok(id)
    }

    /// Answer the next `n` requests with HTTP 429 and `Retry-After: 1`.
    pub fn fail_next_with_429(&self, n: u32) {
        lock(&self.state).fail_429 = n;
    }

    /// Answer the next `n` requests with HTTP 502 (an HTML page, as Cloudflare's edge does).
    pub fn fail_next_with_5xx(&self, n: u32) {
        lock(&self.state).fail_5xx = n;
    }

    /// Answer every request with 429 for `d` from now, `Retry-After` counting down, as
    /// Cloudflare blocks a token for five minutes after 1,200 requests in five minutes.
    /// `retry_after`: send `Retry-After` (the seconds left), or nothing.
    pub fn block_for(&self, d: Duration, retry_after: bool) {
        let mut st = lock(&self.state);
        st.blocked_until = Some(std::time::Instant::now() + d);
        st.block_retry_after = retry_after;
    }

    /// Answer the next `n` requests with `status` and an HTML page (an edge firewall / WAF
    /// block, before the API), not the JSON envelope.
    pub fn fail_next_with_html(&self, status: u16, n: u32) {
        lock(&self.state).fail_html = Some((status, n));
    }

    /// Force (or lift, with `None`) a maximum `per_page` on lists.
    pub fn set_max_per_page(&self, max: Option<u32>) {
        lock(&self.state).max_per_page = max;
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        lock(&self.state).requests.clone()
    }

    /// Requests with this method and exactly this path (without `/client/v4` and query).
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
            .count()
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn count_prefix(&self, method: &str, prefix: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(prefix))
            .count()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: &Value) -> Self {
        Response {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
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
        let resp = if chunked {
            Response::json(
                411,
                &envelope_error(411, "chunked bodies are not supported by the fake"),
            )
        } else {
            handle(&req, &state).await
        };
        let close = close || chunked;
        let written = write_response(
            &mut wr,
            resp.status,
            resp.content_type,
            &resp.headers,
            &resp.body,
            close,
        )
        .await;
        if written.is_err() || close {
            return;
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The API

fn envelope_error(code: i64, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

fn error(status: u16, code: i64, message: &str) -> Response {
    Response::json(status, &envelope_error(code, message))
}

fn ok(result: Value) -> Response {
    Response::json(
        200,
        &json!({ "success": true, "errors": [], "messages": [], "result": result }),
    )
}

fn ok_list(result: Vec<Value>, page: u32, per_page: u32, total: usize) -> Response {
    let total_pages = (total as u32).div_ceil(per_page.max(1)).max(1);
    Response::json(
        200,
        &json!({
            "success": true, "errors": [], "messages": [],
            "result": result,
            "result_info": {
                "page": page, "per_page": per_page, "count": result.len(),
                "total_count": total, "total_pages": total_pages,
            }
        }),
    )
}

/// What the caller may do.
struct Principal {
    zones: Option<Vec<String>>,
    zone_read: bool,
    dns_edit: bool,
}

impl Principal {
    fn may(&self, zone: &str) -> bool {
        self.zones
            .as_ref()
            .is_none_or(|z| z.iter().any(|n| n.eq_ignore_ascii_case(zone)))
    }
}

fn authenticate(req: &Request, st: &State) -> std::result::Result<Principal, Response> {
    if let Some(h) = req.header("authorization") {
        let Some(token) = h.strip_prefix("Bearer ").map(str::trim) else {
            return Err(invalid_headers());
        };
        // Tokens are 40 characters of [A-Za-z0-9_-]; the newer formats carry a prefix
        // (`cfut_` user tokens, `cfat_` account tokens) and may be longer.
        let (body, prefixed) = match token
            .strip_prefix("cfut_")
            .or_else(|| token.strip_prefix("cfat_"))
        {
            Some(rest) => (rest, true),
            None => (token, false),
        };
        let well_formed = (if prefixed {
            (40..=200).contains(&body.len())
        } else {
            body.len() == 40
        }) && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_formed {
            return Err(invalid_headers());
        }
        return match st.tokens.iter().find(|t| t.token == token) {
            Some(t) => Ok(Principal {
                zones: t.zones.clone(),
                zone_read: t.zone_read,
                dns_edit: t.dns_edit,
            }),
            None => Err(error(401, 10000, "Authentication error")),
        };
    }
    match (req.header("x-auth-email"), req.header("x-auth-key")) {
        (Some(email), Some(key)) => match &st.global_key {
            Some((e, k)) if e.eq_ignore_ascii_case(email) && k == key => Ok(Principal {
                zones: None,
                zone_read: true,
                dns_edit: true,
            }),
            _ => Err(error(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")),
        },
        _ => Err(error(401, 10000, "Authentication error")),
    }
}

fn invalid_headers() -> Response {
    Response::json(
        400,
        &json!({
            "success": false,
            "errors": [{ "code": 6003, "message": "Invalid request headers",
                         "error_chain": [{ "code": 6111, "message": "Invalid format for Authorization header" }] }],
            "messages": [], "result": null
        }),
    )
}

fn page_params(
    query: &[(String, String)],
    default: u32,
    min: u32,
    max: u32,
    forced: Option<u32>,
) -> (u32, u32) {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<u32>().ok())
    };
    let page = get("page").unwrap_or(1).max(1);
    let mut per_page = get("per_page").unwrap_or(default).clamp(min, max);
    if let Some(f) = forced {
        per_page = per_page.min(f.max(1));
    }
    (page, per_page)
}

fn paginate<T: Clone>(items: &[T], page: u32, per_page: u32) -> Vec<T> {
    let start = ((page - 1) as usize).saturating_mul(per_page as usize);
    items
        .iter()
        .skip(start)
        .take(per_page as usize)
        .cloned()
        .collect()
}

fn zone_json(z: &ZoneEntry, st: &State) -> Value {
    json!({
        "id": z.id, "name": z.name, "status": "active", "paused": false, "type": "full",
        "development_mode": 0,
        "name_servers": [format!("ns1.{}", z.name), format!("ns2.{}", z.name)],
        "original_name_servers": null, "original_registrar": null, "original_dnshost": null,
        "account": { "id": st.account_id, "name": "wildcert test account" },
        "owner": { "id": null, "type": "user", "email": null },
        "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
        "plan": { "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0, "currency": "USD",
                  "frequency": "", "is_subscribed": false, "can_subscribe": false, "legacy_id": "free",
                  "legacy_discount": false, "externally_managed": false },
        "created_on": "2024-01-01T00:00:00.000000Z", "modified_on": "2024-01-01T00:00:00.000000Z",
        "activated_on": "2024-01-01T00:00:00.000000Z",
    })
}

fn record_json(r: &FakeRecord) -> Value {
    json!({
        "id": r.id, "zone_id": r.zone_id, "zone_name": r.zone_name, "name": r.name, "type": r.rtype,
        "content": r.content, "proxiable": false, "proxied": false, "ttl": r.ttl, "locked": false,
        "comment": r.comment, "tags": [], "settings": {},
        "meta": { "auto_added": false, "managed_by_apps": false, "managed_by_argo_tunnel": false },
        "created_on": r.created, "modified_on": r.created,
    })
}

async fn handle(req: &Request, state: &Arc<Mutex<State>>) -> Response {
    let (raw_path, raw_query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let path = raw_path
        .strip_prefix(API_PREFIX)
        .unwrap_or(raw_path)
        .to_owned();
    let query = parse_query(raw_query);
    let resp = route(req, &path, &query, state).await;
    lock(state).requests.push(FakeRequest {
        method: req.method.clone(),
        path,
        query,
        status: resp.status,
    });
    resp
}

async fn route(
    req: &Request,
    path: &str,
    query: &[(String, String)],
    state: &Arc<Mutex<State>>,
) -> Response {
    {
        let mut st = lock(state);
        if st.fail_429 > 0 {
            st.fail_429 -= 1;
            let mut r = error(
                429,
                971,
                "Please wait and consider throttling your request speed",
            );
            r.headers.push(("Retry-After", "1".into()));
            return r;
        }
        if let Some(until) = st.blocked_until {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                st.blocked_until = None;
            } else {
                let mut r = error(
                    429,
                    10000,
                    "Rate limited. Please wait and consider throttling your request speed",
                );
                if st.block_retry_after {
                    r.headers.push((
                        "Retry-After",
                        left.as_secs_f64().ceil().max(1.0).to_string(),
                    ));
                }
                return r;
            }
        }
        if let Some((status, n)) = st.fail_html.filter(|(_, n)| *n > 0) {
            st.fail_html = Some((status, n - 1));
            return Response {
                status,
                headers: Vec::new(),
                content_type: "text/html; charset=UTF-8",
                body: b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1><p>This website is using a security service to protect itself from online attacks.</p><p>Cloudflare Ray ID: 0000000000000000</p></body></html>".to_vec(),
            };
        }
        if st.fail_5xx > 0 {
            st.fail_5xx -= 1;
            return Response {
                status: 502,
                headers: Vec::new(),
                content_type: "text/html",
                body: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>".to_vec(),
            };
        }
    }
    if !req.target.starts_with(API_PREFIX) {
        return error(404, 7000, "No route for that URI");
    }
    let principal = {
        let st = lock(state);
        match authenticate(req, &st) {
            Ok(p) => p,
            Err(r) => return r,
        }
    };
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method.as_str();
    match (method, segs.as_slice()) {
        ("GET", ["zones"]) => list_zones(&principal, query, state),
        ("GET", ["zones", zid]) => {
            let st = lock(state);
            match st.zones.iter().find(|z| z.id == *zid) {
                Some(z) if principal.zone_read && principal.may(&z.name) => ok(zone_json(z, &st)),
                Some(_) => error(403, 9109, "Unauthorized to access requested resource"),
                None => no_route(path),
            }
        }
        ("GET", ["zones", zid, "dns_records"]) => list_records(&principal, zid, path, query, state),
        ("POST", ["zones", zid, "dns_records"]) => {
            create_record(&principal, zid, path, &req.body, state).await
        }
        ("GET", ["zones", zid, "dns_records", rid]) => {
            let st = lock(state);
            let Some(zone) = st.zones.iter().find(|z| z.id == *zid) else {
                return no_route(path);
            };
            if !principal.may(&zone.name) {
                return error(403, 10000, "Authentication error");
            }
            match st
                .records
                .iter()
                .find(|r| r.zone_id == *zid && r.id == *rid)
            {
                Some(r) => ok(record_json(r)),
                None => error(404, 81044, "Record does not exist."),
            }
        }
        ("POST", ["zones", zid, "dns_records", "batch"]) => {
            batch_records(&principal, zid, path, &req.body, state).await
        }
        ("DELETE", ["zones", zid, "dns_records", rid]) => {
            delete_record(&principal, zid, rid, path, state).await
        }
        ("PUT", ["zones", zid, "dns_records", rid]) => {
            update_record(&principal, zid, rid, path, &req.body, false, state).await
        }
        ("PATCH", ["zones", zid, "dns_records", rid]) => {
            update_record(&principal, zid, rid, path, &req.body, true, state).await
        }
        (
            _,
            ["zones"] | ["zones", _] | ["zones", _, "dns_records"] | ["zones", _, "dns_records", _],
        ) => error(
            405,
            7001,
            &format!("Method {method} not available for that URI."),
        ),
        _ => error(404, 7000, "No route for that URI"),
    }
}

fn no_route(path: &str) -> Response {
    error(
        404,
        7003,
        &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
    )
}

fn list_zones(p: &Principal, query: &[(String, String)], state: &Arc<Mutex<State>>) -> Response {
    if !p.zone_read {
        return error(403, 9109, "Unauthorized to access requested resource");
    }
    let st = lock(state);
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let name = get("name").map(|n| n.trim_end_matches('.').to_ascii_lowercase());
    let status = get("status");
    let mut zones: Vec<&ZoneEntry> = st
        .zones
        .iter()
        .filter(|z| p.may(&z.name))
        .filter(|z| name.as_ref().is_none_or(|n| &z.name == n))
        .filter(|_| status.is_none_or(|s| s == "active"))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    // Cloudflare: per_page 5..=50, default 20.
    let (page, per_page) = page_params(query, 20, 5, 50, st.max_per_page);
    let items: Vec<Value> = paginate(&zones, page, per_page)
        .iter()
        .map(|z| zone_json(z, &st))
        .collect();
    ok_list(items, page, per_page, zones.len())
}

/// One list filter of `name` or `content`: `X` / `X.exact`, `X.contains`, `X.startswith`,
/// `X.endswith` (case-insensitive, as Cloudflare documents them).
fn field_matches(query: &[(String, String)], field: &str, value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let norm = |q: &str| {
        let q = q.to_ascii_lowercase();
        if field == "name" {
            q.trim_end_matches('.').to_owned()
        } else {
            q
        }
    };
    query.iter().all(|(k, q)| {
        let q = norm(q);
        match k.strip_prefix(field) {
            Some("") | Some(".exact") => v == q,
            Some(".contains") => v.contains(&q),
            Some(".startswith") => v.starts_with(&q),
            Some(".endswith") => v.ends_with(&q),
            _ => true,
        }
    })
}

fn list_records(
    p: &Principal,
    zid: &str,
    path: &str,
    query: &[(String, String)],
    state: &Arc<Mutex<State>>,
) -> Response {
    let st = lock(state);
    let Some(zone) = st.zones.iter().find(|z| z.id == zid) else {
        return no_route(path);
    };
    if !p.may(&zone.name) {
        return error(403, 10000, "Authentication error");
    }
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let rtype = get("type").map(str::to_ascii_uppercase);
    let search = get("search").map(str::to_ascii_lowercase);
    let mut records: Vec<FakeRecord> = st
        .records
        .iter()
        .filter(|r| r.zone_id == zid)
        .filter(|r| rtype.as_ref().is_none_or(|t| &r.rtype == t))
        .filter(|r| field_matches(query, "name", &r.name))
        .filter(|r| field_matches(query, "content", &r.content))
        .filter(|r| {
            search.as_ref().is_none_or(|q| {
                r.name.contains(q.as_str()) || r.content.to_ascii_lowercase().contains(q.as_str())
            })
        })
        .cloned()
        .collect();
    match get("order") {
        Some("name") => records.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("content") => records.sort_by(|a, b| a.content.cmp(&b.content)),
        Some("ttl") => records.sort_by_key(|r| r.ttl),
        _ => {}
    }
    if get("direction") == Some("desc") {
        records.reverse();
    }
    // Cloudflare: per_page 5..=5000000, default 100.
    let (page, per_page) = page_params(query, 100, 5, 5_000_000, st.max_per_page);
    let items: Vec<Value> = paginate(&records, page, per_page)
        .iter()
        .map(record_json)
        .collect();
    ok_list(items, page, per_page, records.len())
}

const TYPES: &[&str] = &[
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
];

/// The record a create (`base` = None), PUT (`base` given, `partial` false) or PATCH
/// (`partial` true) asks for, checked as Cloudflare checks it.
fn build_record(
    st: &State,
    zone: &ZoneEntry,
    v: &Value,
    base: Option<&FakeRecord>,
    partial: bool,
) -> std::result::Result<FakeRecord, Response> {
    let from_base = |k: &str| -> Value {
        match (partial, base) {
            (true, Some(b)) => match k {
                "type" => json!(b.rtype),
                "name" => json!(b.name),
                "content" => json!(b.content),
                "ttl" => json!(b.ttl),
                "comment" => json!(b.comment),
                _ => Value::Null,
            },
            _ => Value::Null,
        }
    };
    let field = |k: &str| -> Value {
        match v.get(k) {
            Some(x) => x.clone(),
            None => from_base(k),
        }
    };
    let rtype = field("type")
        .as_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !TYPES.contains(&rtype.as_str()) {
        return Err(error(400, 9000, "DNS record type is invalid."));
    }
    let name_v = field("name");
    let Some(raw_name) = name_v.as_str().filter(|n| !n.trim().is_empty()) else {
        return Err(error(400, 9005, "DNS name is invalid."));
    };
    let raw = raw_name.trim().trim_end_matches('.').to_ascii_lowercase();
    // Cloudflare completes relative names and `@` with the zone name.
    let name = if raw == "@" || raw == zone.name {
        zone.name.clone()
    } else if raw.ends_with(&format!(".{}", zone.name)) {
        raw
    } else {
        format!("{raw}.{}", zone.name)
    };
    if name.len() > 255 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(error(400, 9005, "DNS name is invalid."));
    }
    let content_v = field("content");
    let Some(content) = content_v.as_str() else {
        return Err(error(400, 9009, "Content for TXT record is invalid."));
    };
    if rtype == "TXT" && (content.is_empty() || content.len() > 4096) {
        return Err(error(400, 9009, "Content for TXT record is invalid."));
    }
    let ttl = match field("ttl") {
        Value::Null => 1,
        t => match t.as_u64() {
            Some(t) if t == 1 || (u64::from(st.min_ttl)..=86400).contains(&t) => t as u32,
            _ => {
                return Err(error(
                    400,
                    9021,
                    &format!(
                        "Invalid TTL. Must be between {} and 86,400 seconds, or 1 for Automatic.",
                        st.min_ttl
                    ),
                ));
            }
        },
    };
    // Identical: same type, name and (TXT: unquoted) content, other than the record itself.
    let norm = |c: &str| {
        if rtype == "TXT" {
            unquote(c)
        } else {
            c.to_ascii_lowercase()
        }
    };
    if st.records.iter().any(|r| {
        r.zone_id == zone.id
            && base.is_none_or(|b| b.id != r.id)
            && r.rtype == rtype
            && r.name == name
            && norm(&r.content) == norm(content)
    }) {
        return Err(error(400, 81058, "An identical record already exists."));
    }
    let id = match base {
        Some(b) => b.id.clone(),
        None => hex_id().map_err(|_| error(500, 1000, "internal error: no randomness"))?,
    };
    Ok(FakeRecord {
        id,
        zone_id: zone.id.clone(),
        zone_name: zone.name.clone(),
        rtype,
        name,
        content: content.to_owned(),
        ttl,
        comment: field("comment").as_str().map(str::to_owned),
        created: base.map_or_else(now_rfc3339, |b| b.created.clone()),
    })
}

/// Mirror a change of one record (removed `old`, added `new`) into DNS, when backed.
async fn mirror(
    st_backend: Option<FakeDnsBackend>,
    old: Option<&FakeRecord>,
    new: Option<&FakeRecord>,
) -> std::result::Result<(), Response> {
    let Some(b) = st_backend else { return Ok(()) };
    for (op, r) in [("delete", old), ("add", new)] {
        let Some(r) = r.filter(|r| r.rtype == "TXT") else {
            continue;
        };
        if !b.zones.iter().any(|z| z.eq_ignore_ascii_case(&r.zone_name)) {
            continue;
        }
        let script = nsupdate_script(&b, &r.zone_name, op, &r.name, mirror_ttl(r.ttl), &r.content);
        if let Err(e) = nsupdate(&b.key_file, &script).await {
            return Err(error(
                500,
                1000,
                &format!("internal error (fake's DNS backend): {e}"),
            ));
        }
    }
    Ok(())
}

async fn create_record(
    p: &Principal,
    zid: &str,
    path: &str,
    body: &[u8],
    state: &Arc<Mutex<State>>,
) -> Response {
    let (rec, backend) = {
        let st = lock(state);
        let Some(zone) = st.zones.iter().find(|z| z.id == zid) else {
            return no_route(path);
        };
        if !p.may(&zone.name) || !p.dns_edit {
            return error(403, 10000, "Authentication error");
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return error(400, 9207, "Request body is invalid.");
        };
        let rec = match build_record(&st, zone, &v, None, false) {
            Ok(r) => r,
            Err(r) => return r,
        };
        (rec, st.dns.clone())
    };
    if let Err(r) = mirror(backend, None, Some(&rec)).await {
        return r;
    }
    let out = record_json(&rec);
    lock(state).records.push(rec);
    ok(out)
}

/// PUT (overwrite) or PATCH (partial) of one record.
async fn update_record(
    p: &Principal,
    zid: &str,
    rid: &str,
    path: &str,
    body: &[u8],
    partial: bool,
    state: &Arc<Mutex<State>>,
) -> Response {
    let (old, rec, backend) = {
        let st = lock(state);
        let Some(zone) = st.zones.iter().find(|z| z.id == zid) else {
            return no_route(path);
        };
        if !p.may(&zone.name) || !p.dns_edit {
            return error(403, 10000, "Authentication error");
        }
        let Some(old) = st
            .records
            .iter()
            .find(|r| r.zone_id == zid && r.id == rid)
            .cloned()
        else {
            return error(404, 81044, "Record does not exist.");
        };
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return error(400, 9207, "Request body is invalid.");
        };
        let rec = match build_record(&st, zone, &v, Some(&old), partial) {
            Ok(r) => r,
            Err(r) => return r,
        };
        (old, rec, st.dns.clone())
    };
    if let Err(r) = mirror(backend, Some(&old), Some(&rec)).await {
        return r;
    }
    let out = record_json(&rec);
    let mut st = lock(state);
    if let Some(slot) = st.records.iter_mut().find(|r| r.id == rec.id) {
        *slot = rec;
    }
    ok(out)
}

/// `POST /zones/{id}/dns_records/batch`: deletes, patches, puts, posts, in that order, all
/// or nothing.
async fn batch_records(
    p: &Principal,
    zid: &str,
    path: &str,
    body: &[u8],
    state: &Arc<Mutex<State>>,
) -> Response {
    let (changes, result, records, backend) = {
        let st = lock(state);
        let Some(zone) = st.zones.iter().find(|z| z.id == zid) else {
            return no_route(path);
        };
        if !p.may(&zone.name) || !p.dns_edit {
            return error(403, 10000, "Authentication error");
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return error(400, 9207, "Request body is invalid.");
        };
        let list = |k: &str| {
            v.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        // Work on a copy of the zone's records: all or nothing.
        let mut work = State {
            zones: Vec::new(),
            records: st.records.clone(),
            tokens: Vec::new(),
            global_key: None,
            max_per_page: None,
            fail_429: 0,
            fail_5xx: 0,
            fail_html: None,
            blocked_until: None,
            block_retry_after: false,
            min_ttl: st.min_ttl,
            requests: Vec::new(),
            dns: None,
            account_id: String::new(),
        };
        let mut changes: Vec<(Option<FakeRecord>, Option<FakeRecord>)> = Vec::new();
        let mut result = json!({ "deletes": [], "patches": [], "puts": [], "posts": [] });
        let find = |work: &State, item: &Value| {
            let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
            work.records
                .iter()
                .find(|r| r.zone_id == zid && r.id == id)
                .cloned()
        };
        for item in list("deletes") {
            let Some(old) = find(&work, &item) else {
                return error(404, 81044, "Record does not exist.");
            };
            work.records.retain(|r| r.id != old.id);
            if let Some(a) = result["deletes"].as_array_mut() {
                a.push(record_json(&old));
            }
            changes.push((Some(old), None));
        }
        for (key, partial) in [("patches", true), ("puts", false)] {
            for item in list(key) {
                let Some(old) = find(&work, &item) else {
                    return error(404, 81044, "Record does not exist.");
                };
                let rec = match build_record(&work, zone, &item, Some(&old), partial) {
                    Ok(r) => r,
                    Err(r) => return r,
                };
                if let Some(slot) = work.records.iter_mut().find(|r| r.id == rec.id) {
                    *slot = rec.clone();
                }
                if let Some(a) = result[key].as_array_mut() {
                    a.push(record_json(&rec));
                }
                changes.push((Some(old), Some(rec)));
            }
        }
        for item in list("posts") {
            let rec = match build_record(&work, zone, &item, None, false) {
                Ok(r) => r,
                Err(r) => return r,
            };
            work.records.push(rec.clone());
            if let Some(a) = result["posts"].as_array_mut() {
                a.push(record_json(&rec));
            }
            changes.push((None, Some(rec)));
        }
        (changes, result, work.records, st.dns.clone())
    };
    for (old, new) in &changes {
        if let Err(r) = mirror(backend.clone(), old.as_ref(), new.as_ref()).await {
            return r;
        }
    }
    lock(state).records = records;
    ok(result)
}

async fn delete_record(
    p: &Principal,
    zid: &str,
    rid: &str,
    path: &str,
    state: &Arc<Mutex<State>>,
) -> Response {
    let (rec, backend) = {
        let mut st = lock(state);
        let Some(zone) = st.zones.iter().find(|z| z.id == zid) else {
            return no_route(path);
        };
        if !p.may(&zone.name) || !p.dns_edit {
            return error(403, 10000, "Authentication error");
        }
        let Some(pos) = st
            .records
            .iter()
            .position(|r| r.zone_id == zid && r.id == rid)
        else {
            return error(404, 81044, "Record does not exist.");
        };
        let rec = st.records.remove(pos);
        (rec, st.dns.clone())
    };
    if let Err(r) = mirror(backend, Some(&rec), None).await {
        lock(state).records.push(rec);
        return r;
    }
    ok(json!({ "id": rec.id }))
}

// ---------------------------------------------------------------------------------------------
// The DNS backend

fn mirror_target(st: &State, zone: &str, rtype: &str) -> Option<FakeDnsBackend> {
    st.dns
        .as_ref()
        .filter(|b| {
            rtype.eq_ignore_ascii_case("TXT")
                && b.zones.iter().any(|z| z.eq_ignore_ascii_case(zone))
        })
        .cloned()
}

/// Cloudflare's "automatic" TTL is 300 s.
fn mirror_ttl(ttl: u32) -> u32 {
    if ttl == 1 { 300 } else { ttl }
}

/// Content as zone-file TXT data: quoted strings as given, otherwise quoted here.
fn txt_rdata(content: &str) -> String {
    let t = content.trim();
    if t.starts_with('"') {
        t.to_owned()
    } else {
        let mut s = String::from('"');
        for c in t.chars() {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
        s
    }
}

fn nsupdate_script(
    b: &FakeDnsBackend,
    zone: &str,
    op: &str,
    name: &str,
    ttl: u32,
    content: &str,
) -> String {
    let ttl = if op == "add" {
        format!("{ttl} ")
    } else {
        String::new()
    };
    format!(
        "server {} {}\nzone {zone}.\nupdate {op} {name}. {ttl}IN TXT {}\nsend\n",
        b.server.ip(),
        b.server.port(),
        txt_rdata(content)
    )
}

/// TXT content without its quotes (`"a" "b"` → `ab`).
fn unquote(content: &str) -> String {
    let t = content.trim();
    if !t.starts_with('"') {
        return t.to_owned();
    }
    let mut out = String::new();
    let mut in_q = false;
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_q = !in_q,
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if in_q => out.push(c),
            _ => {}
        }
    }
    out
}

/// Now as `2026-01-02T03:04:05.000000Z`.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("name=_acme-challenge.example.test&type=TXT&x=a%2Bb+c"),
            vec![
                ("name".into(), "_acme-challenge.example.test".into()),
                ("type".into(), "TXT".into()),
                ("x".into(), "a+b c".into())
            ]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(unquote("\"a\" \"b\""), "ab");
        assert_eq!(txt_rdata("v"), "\"v\"");
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn pagination_math() {
        let items: Vec<u32> = (1..=7).collect();
        assert_eq!(paginate(&items, 2, 3), vec![4, 5, 6]);
        assert_eq!(paginate(&items, 4, 3), Vec::<u32>::new());
        let q = vec![("per_page".to_owned(), "1".to_owned())];
        assert_eq!(page_params(&q, 20, 5, 50, None), (1, 5));
        assert_eq!(page_params(&q, 20, 5, 50, Some(1)), (1, 1));
    }
}
