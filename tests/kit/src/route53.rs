//! `Route53Fake`: an in-repo Route53 API (2013-04-01) on 127.0.0.1 for what moto does not do:
//! changes that stay `PENDING` for a while, injected `Throttling` / `PriorRequestNotComplete` /
//! 429 / 503 answers, strict DELETE (values and TTL must match, else `InvalidChangeBatch`, as
//! AWS does), and real SigV4 verification (a wrong secret gives `SignatureDoesNotMatch`).
//!
//! Backed by a real DNS zone: with [`Route53FakeOptions::backed_by`], every accepted change is
//! applied to the BIND topology's primary with `nsupdate -k <key file>`, so Pebble validates
//! end to end. The SigV4 check is written independently of the provider's signer.
//!
//! Endpoints: `ListHostedZonesByName`, `ListResourceRecordSets`, `ChangeResourceRecordSets`
//! (TXT only), `GetChange` — as boto3 speaks them too (`…/rrset/`, no `Content-Type`, errors in
//! `<ErrorResponse>`, `NextRecordName` paging); `tests/kit/sdk/check_fakes.py` proves it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ring::{digest, hmac};
use tokio::io::{AsyncWriteExt, BufReader};

use crate::BindTopology;
use crate::http::{HttpServer, Request, read_request, write_response};
use crate::moto::{tag_raw, tag_texts, xml_escape};
use crate::nsupdate::{nsupdate, nsupdate_blocking};
use crate::util::{KitError, Result, random_bytes};

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// Where accepted changes go: a BIND primary taking TSIG-signed updates.
#[derive(Debug, Clone)]
pub struct Route53DnsBackend {
    /// The primary's address.
    pub primary: SocketAddr,
    /// A BIND key file (`tsig-keygen` output) allowed to change TXT records.
    pub key_file: PathBuf,
}

/// Options of [`Route53Fake::start`].
#[derive(Debug, Clone)]
pub struct Route53FakeOptions {
    /// The one access key id the fake knows.
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: String,
    /// When set, requests must carry this session token (signed `x-amz-security-token`).
    pub session_token: Option<String>,
    /// `GetChange` answers `PENDING` this many times per change before `INSYNC`.
    pub pending_polls: u32,
    /// …and for at least this long after the change.
    pub pending_for: Duration,
    /// Apply changes to this DNS server.
    pub backend: Option<Route53DnsBackend>,
    /// More (access key id, secret) pairs accepted, e.g. temporary credentials handed out by
    /// the kit's `AwsCredentialServer` (`<prefix><n>` / `kit-secret-<n>`).
    pub extra_keys: Vec<(String, String)>,
    /// Access key ids answered with `ExpiredToken` (see [`Route53Fake::expire_key`]).
    pub expired_keys: Vec<String>,
}

impl Default for Route53FakeOptions {
    fn default() -> Self {
        Route53FakeOptions {
            access_key_id: "AKIAFAKEROUTE53TEST".to_owned(),
            secret_access_key: "fake/Route53+Secret/Key0123456789abcdefgh".to_owned(),
            session_token: None,
            pending_polls: 0,
            pending_for: Duration::ZERO,
            backend: None,
            extra_keys: Vec::new(),
            expired_keys: Vec::new(),
        }
    }
}

impl Route53FakeOptions {
    /// Defaults, with changes applied to `topo`'s primary through its TSIG key.
    pub fn backed_by(topo: &BindTopology) -> Self {
        Route53FakeOptions {
            backend: Some(Route53DnsBackend {
                primary: topo.primary_addr(),
                key_file: topo.tsig_key_file_path().to_path_buf(),
            }),
            ..Default::default()
        }
    }
}

/// An error the fake answers instead of doing the work (see [`Route53Fake::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route53Fault {
    /// HTTP 400 `Throttling` ("Rate exceeded").
    Throttling,
    /// HTTP 400 `PriorRequestNotComplete`.
    PriorRequestNotComplete,
    /// HTTP 429 without a body.
    TooManyRequests,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
}

/// One request the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route53Request {
    /// The API action (`ListHostedZonesByName`, `ListResourceRecordSets`,
    /// `ChangeResourceRecordSets`, `GetChange`, or `Unknown`).
    pub action: String,
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// HTTP status answered.
    pub status: u16,
    /// Error code answered, if any.
    pub error: Option<String>,
    /// The request body.
    pub body: String,
    /// The access key id of the `Authorization` header, if any.
    pub access_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RrSet {
    ttl: u32,
    /// Presentation form (quoted), as given.
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct FakeZone {
    name: String,
    private: bool,
    /// Owner name (lower case, no trailing dot) → TXT RRset.
    txt: BTreeMap<String, RrSet>,
}

#[derive(Debug)]
struct ChangeState {
    polls: u32,
    at: Instant,
}

struct State {
    opts: Route53FakeOptions,
    zones: BTreeMap<String, FakeZone>,
    changes: HashMap<String, ChangeState>,
    faults: VecDeque<Route53Fault>,
    log: Vec<Route53Request>,
}

/// A running fake; its thread and runtime stop on drop.
pub struct Route53Fake {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_id(prefix: &str) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let bytes = random_bytes::<14>()?;
    Ok(format!(
        "{prefix}{}",
        bytes
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect::<String>()
    ))
}

fn norm(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Route53's listing order: labels reversed (`com.example.www`).
fn order_key(name: &str) -> String {
    norm(name).split('.').rev().collect::<Vec<_>>().join(".")
}

impl Route53Fake {
    /// Starts the fake on a free 127.0.0.1 port (its own thread and tokio runtime).
    pub fn start(opts: Route53FakeOptions) -> Result<Route53Fake> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let state = Arc::new(Mutex::new(State {
            opts,
            zones: BTreeMap::new(),
            changes: HashMap::new(),
            faults: VecDeque::new(),
            log: Vec::new(),
        }));
        let st = state.clone();
        // Changes are applied one at a time (as one Route53 zone would).
        let change_lock = Arc::new(tokio::sync::Mutex::new(()));
        let server = HttpServer::start("route53", listener, move |stream| {
            serve(stream, st.clone(), change_lock.clone())
        })?;
        Ok(Route53Fake { state, server })
    }

    /// The endpoint URL, `http://127.0.0.1:PORT` (for `AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The access key id the fake accepts.
    pub fn access_key_id(&self) -> String {
        lock(&self.state).opts.access_key_id.clone()
    }

    /// The secret access key the fake checks signatures with.
    pub fn secret_access_key(&self) -> String {
        lock(&self.state).opts.secret_access_key.clone()
    }

    /// Adds a hosted zone; returns its id (without `/hostedzone/`).
    pub fn add_zone(&self, name: &str, private: bool) -> Result<String> {
        let id = random_id("Z")?;
        lock(&self.state).zones.insert(
            id.clone(),
            FakeZone {
                name: norm(name),
                private,
                txt: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Sets a TXT RRset directly (values unquoted; quoted here), in the fake and, when backed,
    /// in DNS. For foreign records that must survive.
    pub fn seed_txt(&self, zone_id: &str, name: &str, ttl: u32, values: &[&str]) -> Result<()> {
        let rr = RrSet {
            ttl,
            values: values.iter().map(|v| format!("\"{v}\"")).collect(),
        };
        let (zone, backend) = {
            let st = lock(&self.state);
            let z = st
                .zones
                .get(zone_id)
                .ok_or_else(|| KitError(format!("no zone {zone_id}")))?;
            (z.name.clone(), st.opts.backend.clone())
        };
        if let Some(b) = backend {
            let script = nsupdate_script(&b, &zone, &[(norm(name), Some(rr.clone()))]);
            nsupdate_blocking(&b.key_file, &script)?;
        }
        if let Some(z) = lock(&self.state).zones.get_mut(zone_id) {
            z.txt.insert(norm(name), rr);
        }
        Ok(())
    }

    /// The TXT RRset at `name` in any zone: TTL and values (quotes removed).
    pub fn txt(&self, name: &str) -> Option<(u32, Vec<String>)> {
        let st = lock(&self.state);
        let n = norm(name);
        st.zones.values().find_map(|z| z.txt.get(&n)).map(|rr| {
            (
                rr.ttl,
                rr.values
                    .iter()
                    .map(|v| v.trim_matches('"').to_string())
                    .collect(),
            )
        })
    }

    /// From now on, answer requests signed by `access_key_id` with `ExpiredToken`.
    pub fn expire_key(&self, access_key_id: &str) {
        lock(&self.state)
            .opts
            .expired_keys
            .push(access_key_id.to_owned());
    }

    /// The access key ids that signed requests, in order (`None` for unsigned ones).
    pub fn signers(&self) -> Vec<Option<String>> {
        lock(&self.state)
            .log
            .iter()
            .map(|r| r.access_key_id.clone())
            .collect()
    }

    /// Answer the next `n` requests with `fault` instead of serving them.
    pub fn fail_next(&self, fault: Route53Fault, n: u32) {
        let mut st = lock(&self.state);
        for _ in 0..n {
            st.faults.push_back(fault);
        }
    }

    /// Make later changes stay `PENDING` for `polls` `GetChange` calls and at least `for_at_least`.
    pub fn set_pending(&self, polls: u32, for_at_least: Duration) {
        let mut st = lock(&self.state);
        st.opts.pending_polls = polls;
        st.opts.pending_for = for_at_least;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Route53Request> {
        lock(&self.state).log.clone()
    }

    /// How many requests of `action` were answered with success.
    pub fn count_ok(&self, action: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.action == action && r.status == 200)
            .count()
    }

    /// How many requests of `action` were made (any answer).
    pub fn count(&self, action: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.action == action)
            .count()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }
}

/// The decoded query parameters of a request.
fn query(req: &Request) -> HashMap<String, String> {
    req.raw_query()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

struct Response {
    status: u16,
    body: String,
    error: Option<String>,
}

fn ok(body: String) -> Response {
    Response {
        status: 200,
        body,
        error: None,
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>"#,
        xml_escape(message)
    );
    Response {
        status,
        body,
        error: Some(code.to_owned()),
    }
}

/// `InvalidChangeBatch` as AWS answers it on the wire (and boto3 reads it): an
/// `<ErrorResponse>` whose message lists the problems in brackets.
fn invalid_change_batch(messages: &[String]) -> Response {
    error(
        400,
        "InvalidChangeBatch",
        &format!("[{}]", messages.join(", ")),
    )
}

async fn serve(
    stream: tokio::net::TcpStream,
    state: Arc<Mutex<State>>,
    change_lock: Arc<tokio::sync::Mutex<()>>,
) {
    let mut stream = BufReader::new(stream);
    let req = match tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await {
        Ok(Ok(Some(r))) => r,
        _ => return,
    };
    let action = action_of(&req);
    let resp = handle(&req, action, &state, &change_lock).await;
    lock(&state).log.push(Route53Request {
        action: action.to_owned(),
        method: req.method.clone(),
        target: req.target.clone(),
        status: resp.status,
        error: resp.error.clone(),
        body: String::from_utf8_lossy(&req.body).into_owned(),
        access_key_id: req
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .map(str::to_owned),
    });
    let stream = stream.get_mut();
    let _ = write_response(
        stream,
        resp.status,
        "text/xml",
        &[("x-amzn-RequestId", "fake-request".to_owned())],
        resp.body.as_bytes(),
        true,
    )
    .await;
    let _ = stream.shutdown().await;
}

fn action_of(req: &Request) -> &'static str {
    let p = req.path();
    match req.method.as_str() {
        "GET" if p == "/2013-04-01/hostedzonesbyname" => "ListHostedZonesByName",
        // The SDKs (boto3) send `…/rrset/`, wildcert `…/rrset`.
        "GET"
            if p.starts_with("/2013-04-01/hostedzone/")
                && p.trim_end_matches('/').ends_with("/rrset") =>
        {
            "ListResourceRecordSets"
        }
        "POST"
            if p.starts_with("/2013-04-01/hostedzone/")
                && p.trim_end_matches('/').ends_with("/rrset") =>
        {
            "ChangeResourceRecordSets"
        }
        "GET" if p.starts_with("/2013-04-01/change/") => "GetChange",
        _ => "Unknown",
    }
}

async fn handle(
    req: &Request,
    action: &str,
    state: &Arc<Mutex<State>>,
    change_lock: &tokio::sync::Mutex<()>,
) -> Response {
    {
        let mut st = lock(state);
        if let Err(resp) = verify_sigv4(req, &st.opts) {
            return resp;
        }
        if let Some(f) = st.faults.pop_front() {
            return match f {
                Route53Fault::Throttling => error(400, "Throttling", "Rate exceeded"),
                Route53Fault::PriorRequestNotComplete => error(
                    400,
                    "PriorRequestNotComplete",
                    "The request was rejected because Route 53 was still processing a prior request.",
                ),
                Route53Fault::TooManyRequests => Response {
                    status: 429,
                    body: String::new(),
                    error: Some("429".into()),
                },
                Route53Fault::ServiceUnavailable => {
                    error(503, "ServiceUnavailable", "Service unavailable")
                }
            };
        }
    }
    let path = req.path().to_owned();
    let zone_id = path
        .strip_prefix("/2013-04-01/hostedzone/")
        .and_then(|r| r.trim_end_matches('/').strip_suffix("/rrset"))
        .unwrap_or("")
        .to_owned();
    match action {
        "ListHostedZonesByName" => list_zones(req, &lock(state)),
        "ListResourceRecordSets" => list_rrsets(req, &zone_id, &lock(state)),
        "GetChange" => get_change(
            path.trim_start_matches("/2013-04-01/change/"),
            &mut lock(state),
        ),
        "ChangeResourceRecordSets" => {
            let _serial = change_lock.lock().await;
            change_rrsets(req, &zone_id, state).await
        }
        _ => error(
            404,
            "UnknownOperationException",
            &format!("{} {} is not served by the fake", req.method, path),
        ),
    }
}

fn list_zones(req: &Request, st: &State) -> Response {
    let q = query(req);
    let from = q.get("dnsname").map(|d| order_key(d)).unwrap_or_default();
    let max: usize = q
        .get("maxitems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let mut zones: Vec<(&String, &FakeZone)> = st.zones.iter().collect();
    zones.sort_by_key(|(id, z)| (order_key(&z.name), (*id).clone()));
    let from_id = q.get("hostedzoneid").cloned().unwrap_or_default();
    let selected: Vec<_> = zones
        .into_iter()
        .filter(|(id, z)| (order_key(&z.name), (*id).clone()) >= (from.clone(), from_id.clone()))
        .collect();
    let truncated = selected.len() > max;
    let next = if truncated {
        selected
            .get(max)
            .map(|(id, z)| {
                format!(
                    "<NextDNSName>{}.</NextDNSName><NextHostedZoneId>{id}</NextHostedZoneId>",
                    z.name
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mut xml = String::new();
    for (id, z) in selected.iter().take(max) {
        let _ = write!(
            xml,
            "<HostedZone><Id>/hostedzone/{id}</Id><Name>{}.</Name><CallerReference>fake</CallerReference><Config><Comment>fake</Comment><PrivateZone>{}</PrivateZone></Config><ResourceRecordSetCount>{}</ResourceRecordSetCount></HostedZone>",
            z.name,
            z.private,
            z.txt.len() + 2
        );
    }
    ok(format!(
        r#"<?xml version="1.0"?>
<ListHostedZonesByNameResponse xmlns="{NS}"><HostedZones>{xml}</HostedZones><DNSName>{}</DNSName><IsTruncated>{truncated}</IsTruncated>{next}<MaxItems>{max}</MaxItems></ListHostedZonesByNameResponse>"#,
        xml_escape(q.get("dnsname").map(String::as_str).unwrap_or(""))
    ))
}

fn rrset_xml(name: &str, rr: &RrSet) -> String {
    let values: String = rr
        .values
        .iter()
        .map(|v| {
            format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                xml_escape(v)
            )
        })
        .collect();
    format!(
        "<ResourceRecordSet><Name>{name}.</Name><Type>TXT</Type><TTL>{}</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>",
        rr.ttl
    )
}

fn list_rrsets(req: &Request, zone_id: &str, st: &State) -> Response {
    let Some(zone) = st.zones.get(zone_id) else {
        return error(
            404,
            "NoSuchHostedZone",
            &format!("No hosted zone found with ID: {zone_id}"),
        );
    };
    let q = query(req);
    let max: usize = q
        .get("maxitems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 300);
    let from = q.get("name").map(|n| order_key(n)).unwrap_or_default();
    let from_type = q.get("type").cloned().unwrap_or_default();
    // Only TXT RRsets live in the fake; a start type after TXT skips the start name.
    let mut sets: Vec<(&String, &RrSet)> = zone.txt.iter().collect();
    sets.sort_by_key(|(n, _)| order_key(n));
    let selected: Vec<_> = sets
        .into_iter()
        .filter(|(n, _)| {
            let k = order_key(n);
            k > from || (k == from && from_type.as_str() <= "TXT")
        })
        .collect();
    let truncated = selected.len() > max;
    // Where the next page starts, as AWS says it (the SDKs' paginators follow it).
    let next = match selected.get(max).filter(|_| truncated) {
        Some((n, _)) => format!(
            "<NextRecordName>{}.</NextRecordName><NextRecordType>TXT</NextRecordType>",
            xml_escape(n)
        ),
        None => String::new(),
    };
    let xml: String = selected
        .iter()
        .take(max)
        .map(|(n, rr)| rrset_xml(n, rr))
        .collect();
    ok(format!(
        r#"<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="{NS}"><ResourceRecordSets>{xml}</ResourceRecordSets><IsTruncated>{truncated}</IsTruncated>{next}<MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"#
    ))
}

fn change_info(id: &str, insync: bool) -> String {
    format!(
        "<ChangeInfo><Id>/change/{id}</Id><Status>{}</Status><SubmittedAt>2026-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo>",
        if insync { "INSYNC" } else { "PENDING" }
    )
}

fn get_change(id: &str, st: &mut State) -> Response {
    let (polls_needed, wait) = (st.opts.pending_polls, st.opts.pending_for);
    let Some(c) = st.changes.get_mut(id) else {
        return error(
            404,
            "NoSuchChange",
            &format!("A change with the specified change ID does not exist: {id}"),
        );
    };
    c.polls += 1;
    let insync = c.polls > polls_needed && c.at.elapsed() >= wait;
    ok(format!(
        r#"<?xml version="1.0"?>
<GetChangeResponse xmlns="{NS}">{}</GetChangeResponse>"#,
        change_info(id, insync)
    ))
}

/// One parsed `<Change>`.
struct ParsedChange {
    action: String,
    name: String,
    rtype: String,
    ttl: Option<u32>,
    values: Vec<String>,
}

fn parse_changes(body: &str) -> std::result::Result<Vec<ParsedChange>, Response> {
    if !body.contains("<ChangeResourceRecordSetsRequest") {
        return Err(error(
            400,
            "InvalidInput",
            "Expected a ChangeResourceRecordSetsRequest document",
        ));
    }
    let first = |x: &str, t: &str| tag_texts(x, t).into_iter().next();
    let mut out = Vec::new();
    for c in tag_raw(body, "Change") {
        let Some(set) = tag_raw(c, "ResourceRecordSet").into_iter().next() else {
            return Err(error(
                400,
                "InvalidInput",
                "Change without ResourceRecordSet",
            ));
        };
        out.push(ParsedChange {
            action: first(c, "Action").unwrap_or_default(),
            name: first(set, "Name").unwrap_or_default(),
            rtype: first(set, "Type").unwrap_or_default(),
            ttl: first(set, "TTL").and_then(|t| t.trim().parse().ok()),
            values: tag_texts(set, "Value"),
        });
    }
    if out.is_empty() {
        return Err(error(
            400,
            "InvalidInput",
            "1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null",
        ));
    }
    Ok(out)
}

/// True when every character-string of a TXT value is quoted (Route53 refuses bare words with spaces;
/// the fake is stricter: every value must be quoted, as wildcert always sends).
fn quoted(v: &str) -> bool {
    let v = v.trim();
    v.len() >= 2 && v.starts_with('"') && v.ends_with('"')
}

async fn change_rrsets(req: &Request, zone_id: &str, state: &Arc<Mutex<State>>) -> Response {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    // AWS reads the body as XML whatever the header says; boto3 sends none. Only a type that
    // says it is something else is refused.
    if req
        .header("content-type")
        .is_some_and(|c| c.contains("json") || c.contains("form-urlencoded"))
    {
        return error(400, "InvalidInput", "Content-Type must be application/xml");
    }
    let changes = match parse_changes(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (zone_name, mut txt, backend) = {
        let st = lock(state);
        let Some(z) = st.zones.get(zone_id) else {
            return error(
                404,
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {zone_id}"),
            );
        };
        (z.name.clone(), z.txt.clone(), st.opts.backend.clone())
    };
    // Validate and apply to a copy: a batch is all or nothing.
    let mut problems = Vec::new();
    let mut touched: Vec<(String, Option<RrSet>)> = Vec::new();
    for c in &changes {
        let name = norm(&c.name);
        let shown = format!("[name='{name}.', type='{}']", c.rtype);
        if c.rtype != "TXT" {
            return error(
                400,
                "InvalidInput",
                &format!("The fake serves TXT records only, not {}", c.rtype),
            );
        }
        if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
            problems.push(format!(
                "RRSet with DNS name {name}. is not permitted in zone {zone_name}."
            ));
            continue;
        }
        if touched.iter().any(|(n, _)| *n == name) {
            problems.push(format!(
                "Duplicate Resource Record: {shown} appears more than once in the batch"
            ));
            continue;
        }
        let Some(ttl) = c.ttl else {
            return error(
                400,
                "InvalidInput",
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=..., Name=...]",
            );
        };
        if c.values.is_empty() || c.values.iter().any(|v| !quoted(v)) {
            problems.push(format!("Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with '{}''", c.values.join(" ")));
            continue;
        }
        let new = RrSet {
            ttl,
            values: c.values.clone(),
        };
        match c.action.as_str() {
            "CREATE" => {
                if txt.contains_key(&name) {
                    problems.push(format!(
                        "Tried to create resource record set {shown} but it already exists"
                    ));
                    continue;
                }
                txt.insert(name.clone(), new.clone());
                touched.push((name, Some(new)));
            }
            "UPSERT" => {
                txt.insert(name.clone(), new.clone());
                touched.push((name, Some(new)));
            }
            "DELETE" => {
                match txt.get(&name) {
                    None => {
                        problems.push(format!(
                            "Tried to delete resource record set {shown} but it was not found"
                        ));
                        continue;
                    }
                    Some(cur) => {
                        let mut a = cur.values.clone();
                        let mut b = new.values.clone();
                        a.sort();
                        b.sort();
                        if cur.ttl != new.ttl || a != b {
                            problems.push(format!(
                                "Tried to delete resource record set {shown} but the values provided do not match the current values"
                            ));
                            continue;
                        }
                    }
                }
                txt.remove(&name);
                touched.push((name, None));
            }
            other => return error(400, "InvalidInput", &format!("Invalid action {other}")),
        }
    }
    if !problems.is_empty() {
        return invalid_change_batch(&problems);
    }
    if let Some(b) = backend {
        let script = nsupdate_script(&b, &zone_name, &touched);
        if let Err(e) = nsupdate(&b.key_file, &script).await {
            return error(
                500,
                "InternalFailure",
                &format!("the fake could not update DNS: {e}"),
            );
        }
    }
    let id = match random_id("C") {
        Ok(id) => id,
        Err(e) => return error(500, "InternalFailure", &e.0),
    };
    let mut st = lock(state);
    if let Some(z) = st.zones.get_mut(zone_id) {
        z.txt = txt;
    }
    let insync = st.opts.pending_polls == 0 && st.opts.pending_for.is_zero();
    st.changes.insert(
        id.clone(),
        ChangeState {
            polls: 0,
            at: Instant::now(),
        },
    );
    ok(format!(
        r#"<?xml version="1.0"?>
<ChangeResourceRecordSetsResponse xmlns="{NS}">{}</ChangeResourceRecordSetsResponse>"#,
        change_info(&id, insync)
    ))
}

/// One UPDATE replacing each touched TXT RRset (deleted, then the new values added).
fn nsupdate_script(
    b: &Route53DnsBackend,
    zone: &str,
    touched: &[(String, Option<RrSet>)],
) -> String {
    let mut s = format!(
        "server {} {}\nzone {zone}.\n",
        b.primary.ip(),
        b.primary.port()
    );
    for (name, rr) in touched {
        let _ = writeln!(s, "update delete {name}. TXT");
        if let Some(rr) = rr {
            for v in &rr.values {
                let _ = writeln!(s, "update add {name}. {} TXT {v}", rr.ttl);
            }
        }
    }
    s.push_str("send\n");
    s
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pct_encode(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mac(key: &[u8], msg: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes())
        .as_ref()
        .to_vec()
}

/// Check the request's SigV4 `Authorization` header against the fake's credentials.
fn verify_sigv4(req: &Request, opts: &Route53FakeOptions) -> std::result::Result<(), Response> {
    let Some(auth) = req.header("authorization") else {
        return Err(error(
            403,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
        ));
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(error(
            400,
            "IncompleteSignature",
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm",
        ));
    };
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            fields.insert(k, v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(error(
            400,
            "IncompleteSignature",
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" {
        return Err(error(
            400,
            "IncompleteSignature",
            "Credential must have the form AKID/DATE/REGION/SERVICE/aws4_request",
        ));
    }
    let (akid, date, region, service) = (parts[0], parts[1], parts[2], parts[3]);
    let secret = if akid == opts.access_key_id {
        opts.secret_access_key.clone()
    } else if let Some((_, s)) = opts.extra_keys.iter().find(|(k, _)| k == akid) {
        s.clone()
    } else {
        return Err(error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    };
    if opts.expired_keys.iter().any(|k| k == akid) {
        return Err(error(
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        ));
    }
    if service != "route53" || region != "us-east-1" {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            &format!(
                "Credential should be scoped to a valid region and to the service 'route53', not '{region}/{service}'."
            ),
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    if !signed.contains(&"host") || !signed.contains(&"x-amz-date") {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "host and x-amz-date must be signed",
        ));
    }
    if let Some(token) = &opts.session_token
        && (req.header("x-amz-security-token") != Some(token.as_str())
            || !signed.contains(&"x-amz-security-token"))
    {
        return Err(error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = req.header("x-amz-date").unwrap_or("");
    if !amz_date.starts_with(date) {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match x-amz-date",
        ));
    }
    // Canonical request, from what was received.
    let path = pct_encode(&pct_decode(req.path()), true);
    let mut query: Vec<(String, String)> = req
        .raw_query()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                pct_encode(&pct_decode(k), false),
                pct_encode(&pct_decode(v), false),
            )
        })
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for h in &signed {
        let v = req.header(h).unwrap_or("");
        let _ = writeln!(
            canonical_headers,
            "{h}:{}",
            v.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let payload = hex(digest::digest(&digest::SHA256, &req.body).as_ref());
    let canonical = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload}",
        req.method
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let k = mac(format!("AWS4{secret}").as_bytes(), date);
    let k = mac(&k, region);
    let k = mac(&k, service);
    let k = mac(&k, "aws4_request");
    let expected = hex(&mac(&k, &sts));
    if expected != *signature {
        // AWS quotes the canonical request (session token included) in this message.
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            &format!(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake's verifier accepts the research §2 golden vector (same bytes as aws-sigv4).
    #[test]
    fn verifies_golden_vector() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
        let mut req = Request {
            method: "POST".into(),
            target: "/2013-04-01/hostedzone/Z123/rrset".into(),
            headers: vec![
                ("content-type".into(), "application/xml".into()),
                ("host".into(), "route53.amazonaws.com".into()),
                ("x-amz-date".into(), "20231114T221320Z".into()),
                (
                    "authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/route53/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=bc3b26c4d64ea905b3d7c88ba2b399c1a5e61368f466775509dd676d5ec87db6".into(),
                ),
            ],
            body: body.as_bytes().to_vec(),
        };
        let opts = Route53FakeOptions {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            ..Default::default()
        };
        assert!(verify_sigv4(&req, &opts).is_ok());
        req.body.push(b' ');
        let e = verify_sigv4(&req, &opts)
            .err()
            .map(|r| r.error)
            .unwrap_or_default();
        assert_eq!(e.as_deref(), Some("SignatureDoesNotMatch"));
    }

    #[test]
    fn listing_order() {
        assert!(order_key("example.test") < order_key("_acme-challenge.example.test"));
        assert!(order_key("a.example.test") > order_key("example.test"));
        assert_eq!(
            pct_decode("_acme-challenge.example.test."),
            "_acme-challenge.example.test."
        );
        assert_eq!(pct_encode("a b*", false), "a%20b%2A");
    }
}
