//! `Route53Fake`: the Route53 API (2013-04-01) on the kit's router, for what moto does not do:
//! changes that stay `PENDING` for a while, injected `Throttling` / `PriorRequestNotComplete` /
//! 429 / 503 answers (after the signature check, as AWS), strict DELETE (values and TTL must
//! match, else `InvalidChangeBatch`), and real SigV4 verification (a wrong secret gives
//! `SignatureDoesNotMatch`), written independently of the provider's signer.
//!
//! Endpoints: `ListHostedZonesByName`, `ListResourceRecordSets`, `ChangeResourceRecordSets`
//! (TXT only), `GetChange` — as boto3 speaks them too (`…/rrset/`, no `Content-Type`, errors in
//! `<ErrorResponse>`, `NextRecordName` paging); `tests/sdk/prove.py` proves
//! it with boto3. Each TXT value is a record of the kit's `RecordStore`; with
//! [`Route53FakeOptions::backed_by`] every accepted change lands in the BIND topology's primary
//! before the API answers, so Pebble validates end to end. Used by this provider's tests and,
//! through the crate's `fake` feature, by the CLI's e2e tests. Beside it, [`aws_creds`]: the
//! credential endpoints (IMDSv2, container, SSO portal) the credential chain's tests use.

pub mod aws_creds;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Deref;
use std::time::{Duration, Instant};

use ring::{digest, hmac};
use wildcert_testkit::xml::{tag_raw, tag_texts, xml_escape};
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, percent_decode, random_id,
};

pub use aws_creds::{AwsCredentialOptions, AwsCredentialServer};

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

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
    pub dns: Option<ZoneMirror>,
    /// More (access key id, secret) pairs accepted, e.g. temporary credentials handed out by
    /// [`AwsCredentialServer`] (`<prefix><n>` / `kit-secret-<n>`).
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
            dns: None,
            extra_keys: Vec::new(),
            expired_keys: Vec::new(),
        }
    }
}

impl Route53FakeOptions {
    /// Defaults, with changes applied to `topo`'s primary through its TSIG key.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let dns = Some(ZoneMirror::of(topo));
        Route53FakeOptions {
            dns,
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

/// What the fake holds: hosted zones and their TXT values, changes, options.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: Route53FakeOptions,
    /// Ids of the private zones.
    private: Vec<String>,
    /// Change id → (`GetChange` polls so far, when made).
    changes: HashMap<String, (u32, Instant)>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// A running fake; stopped on drop. The kit's [`FakeServer`] (deref) gives `addr` and
/// `clear_requests`.
#[derive(Debug)]
pub struct Route53Fake(FakeServer<State>);

impl Deref for Route53Fake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// An XML answer as Route53 gives it.
fn xml(status: u16, body: String) -> Reply {
    let reply = Reply::text(status, "text/xml", body);
    reply.header("x-amzn-RequestId", "fake-request")
}

/// `<doc xmlns=…>inner</doc>`, 200.
fn ok(doc: &str, inner: &str) -> Answer {
    let body = format!("<?xml version=\"1.0\"?>\n<{doc} xmlns=\"{NS}\">{inner}</{doc}>");
    Ok(xml(200, body))
}

/// An `<ErrorResponse>` (the code also in the audit).
fn error(status: u16, code: &str, message: &str) -> Reply {
    let message = xml_escape(message);
    let inner = format!(
        "<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake-request</RequestId>"
    );
    let body =
        format!("<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{NS}\">{inner}</ErrorResponse>");
    xml(status, body).tag(code)
}

impl Route53Fault {
    fn reply(self) -> Reply {
        match self {
            Route53Fault::Throttling => error(400, "Throttling", "Rate exceeded"),
            Route53Fault::PriorRequestNotComplete => error(
                400,
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            ),
            Route53Fault::TooManyRequests => xml(429, String::new()).tag("429"),
            Route53Fault::ServiceUnavailable => {
                error(503, "ServiceUnavailable", "Service unavailable")
            }
        }
    }
}

impl Route53Fake {
    /// Starts the fake on a free 127.0.0.1 port (its own thread and tokio runtime).
    pub fn start(opts: Route53FakeOptions) -> Result<Route53Fake, KitError> {
        let store = RecordStore::new(&[], opts.dns.clone())?;
        let (private, changes) = (Vec::new(), HashMap::new());
        let zone = "/2013-04-01/hostedzone/{zone}/rrset";
        let server = Router::new("route53")
            .auth(verify_sigv4)
            .faults_after_auth()
            .route("GET /2013-04-01/hostedzonesbyname", list_zones)
            .named("ListHostedZonesByName")
            .route(&format!("GET {zone}"), list_rrsets)
            .named("ListResourceRecordSets")
            .route(&format!("POST {zone}"), change_rrsets)
            .named("ChangeResourceRecordSets")
            .route("GET /2013-04-01/change/{id}", get_change)
            .named("GetChange")
            .fallback(|c, _| {
                let msg = format!("{} {} is not served by the fake", c.method, c.path);
                error(404, "UnknownOperationException", &msg)
            })
            .start(State {
                store,
                opts,
                private,
                changes,
            })?;
        Ok(Route53Fake(server))
    }

    /// The endpoint URL, `http://127.0.0.1:PORT` (for `AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> String {
        self.url()
    }

    /// The access key id the fake accepts.
    pub fn access_key_id(&self) -> String {
        self.with(|st| st.opts.access_key_id.clone())
    }

    /// The secret access key the fake checks signatures with.
    pub fn secret_access_key(&self) -> String {
        self.with(|st| st.opts.secret_access_key.clone())
    }

    /// Adds a hosted zone; returns its id (without `/hostedzone/`).
    pub fn add_zone(&self, name: &str, private: bool) -> Result<String, KitError> {
        let id = format!("Z{}", random_id(14, ALNUM)?);
        self.with(|st| {
            let zone = FakeZone {
                id: id.clone(),
                name: dns_name(name),
            };
            st.store.zones.push(zone);
            if private {
                st.private.push(id.clone());
            }
        });
        Ok(id)
    }

    /// Sets a TXT RRset directly (values unquoted; quoted here), in the fake and, when backed,
    /// in DNS. For foreign records that must survive.
    pub fn seed_txt(
        &self,
        zone_id: &str,
        name: &str,
        ttl: u32,
        values: &[&str],
    ) -> Result<(), KitError> {
        let values: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        self.with(|st| {
            let zone = st.store.zone(zone_id).cloned();
            let zone = zone.ok_or_else(|| KitError(format!("no zone {zone_id}")))?;
            let set = Some((ttl, values));
            st.store
                .edit(|s| put_rrset(s, &zone, &dns_name(name), set.as_ref()))
        })
    }

    /// The TXT RRset at `name` in any zone: TTL and values (quotes removed).
    pub fn txt(&self, name: &str) -> Option<(u32, Vec<String>)> {
        let n = dns_name(name);
        let sets = self.with(|st| {
            st.store
                .zones
                .iter()
                .find_map(|z| rrsets(&st.store, z).remove(&n))
        });
        sets.map(|(ttl, v)| {
            (
                ttl,
                v.iter().map(|v| v.trim_matches('"').to_owned()).collect(),
            )
        })
    }

    /// From now on, answer requests signed by `access_key_id` with `ExpiredToken`.
    pub fn expire_key(&self, access_key_id: &str) {
        self.with(|st| st.opts.expired_keys.push(access_key_id.to_owned()));
    }

    /// The access key ids that signed requests, in order (`None` for unsigned ones).
    pub fn signers(&self) -> Vec<Option<String>> {
        self.requests()
            .into_iter()
            .map(|r| r.access_key_id)
            .collect()
    }

    /// Answer the next `n` (authenticated) requests with `fault` instead of serving them.
    pub fn fail_next(&self, fault: Route53Fault, n: u32) {
        self.0.fail_next(n, fault.reply());
    }

    /// Make later changes stay `PENDING` for `polls` `GetChange` calls and at least `for_at_least`.
    pub fn set_pending(&self, polls: u32, for_at_least: Duration) {
        self.with(|st| (st.opts.pending_polls, st.opts.pending_for) = (polls, for_at_least));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Route53Request> {
        let audit = self.0.requests().into_iter();
        audit
            .map(|a| Route53Request {
                action: a.route.unwrap_or_else(|| "Unknown".into()),
                method: a.method,
                target: a.target,
                status: a.status,
                error: a.tag,
                body: a.body,
                access_key_id: a.principal,
            })
            .collect()
    }

    /// How many requests of `action` were answered with success.
    pub fn count_ok(&self, action: &str) -> usize {
        let hit = |r: &&Route53Request| r.action == action && r.status == 200;
        self.requests().iter().filter(hit).count()
    }

    /// How many requests of `action` were made (any answer).
    pub fn count(&self, action: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.action == action)
            .count()
    }
}

/// Route53's listing order: labels reversed (`test.example._acme-challenge`).
fn order_key(name: &str) -> String {
    dns_name(name)
        .split('.')
        .rev()
        .collect::<Vec<_>>()
        .join(".")
}

/// The TXT RRsets of `zone`: name → (TTL, values as stored, quoted).
fn rrsets(store: &RecordStore, zone: &FakeZone) -> BTreeMap<String, (u32, Vec<String>)> {
    let mut sets: BTreeMap<String, (u32, Vec<String>)> = BTreeMap::new();
    for r in store
        .in_zone(&zone.name)
        .into_iter()
        .filter(|r| r.rtype == "TXT")
    {
        let set = sets.entry(r.name).or_insert((r.ttl, Vec::new()));
        set.1.push(r.content);
    }
    sets
}

/// Replace the TXT RRset at `name` by `set` (none: delete it).
fn put_rrset(
    s: &mut RecordStore,
    zone: &FakeZone,
    name: &str,
    set: Option<&(u32, Vec<String>)>,
) -> Result<(), KitError> {
    let here = |r: &FakeRecord| r.zone_id == zone.id && r.rtype == "TXT" && r.name == name;
    s.records.retain(|r| !here(r));
    for v in set.map(|(_, v)| v.as_slice()).unwrap_or_default() {
        let ttl = set.map_or(300, |(t, _)| *t);
        s.records.push(FakeRecord::new(zone, "TXT", name, v, ttl)?);
    }
    Ok(())
}

fn zone_of(st: &State, c: &Call) -> Result<FakeZone, Reply> {
    let id = c.param("zone");
    let missing = || {
        error(
            404,
            "NoSuchHostedZone",
            &format!("No hosted zone found with ID: {id}"),
        )
    };
    st.store.zone(id).cloned().ok_or_else(missing)
}

fn max_items(c: &Call, limit: usize) -> usize {
    let asked = c.query("maxitems").and_then(|m| m.parse().ok());
    asked.unwrap_or(100).clamp(1, limit)
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let from = (
        order_key(c.query("dnsname").unwrap_or("")),
        c.query("hostedzoneid").unwrap_or("").to_owned(),
    );
    let max = max_items(c, 100);
    let key = |z: &FakeZone| (order_key(&z.name), z.id.clone());
    let mut zones: Vec<&FakeZone> = st.store.zones.iter().filter(|z| key(z) >= from).collect();
    zones.sort_by_key(|z| key(z));
    let truncated = zones.len() > max;
    let next = match zones.get(max).filter(|_| truncated) {
        Some(z) => format!(
            "<NextDNSName>{}.</NextDNSName><NextHostedZoneId>{}</NextHostedZoneId>",
            z.name, z.id
        ),
        None => String::new(),
    };
    let mut xml = String::new();
    for z in zones.iter().take(max) {
        let (private, count) = (st.private.contains(&z.id), rrsets(&st.store, z).len() + 2);
        let _ = write!(
            xml,
            "<HostedZone><Id>/hostedzone/{}</Id><Name>{}.</Name><CallerReference>fake</CallerReference><Config><Comment>fake</Comment><PrivateZone>{private}</PrivateZone></Config><ResourceRecordSetCount>{count}</ResourceRecordSetCount></HostedZone>",
            z.id, z.name
        );
    }
    let name = xml_escape(c.query("dnsname").unwrap_or(""));
    let inner = format!(
        "<HostedZones>{xml}</HostedZones><DNSName>{name}</DNSName><IsTruncated>{truncated}</IsTruncated>{next}<MaxItems>{max}</MaxItems>"
    );
    ok("ListHostedZonesByNameResponse", &inner)
}

fn list_rrsets(st: &mut State, c: &Call) -> Answer {
    let zone = zone_of(st, c)?;
    let max = max_items(c, 300);
    let from = order_key(c.query("name").unwrap_or(""));
    let from_type = c.query("type").unwrap_or("");
    // Only TXT RRsets live in the fake; a start type after TXT skips the start name.
    let mut sets: Vec<(String, (u32, Vec<String>))> =
        rrsets(&st.store, &zone).into_iter().collect();
    sets.sort_by_key(|(n, _)| order_key(n));
    sets.retain(|(n, _)| order_key(n) > from || (order_key(n) == from && from_type <= "TXT"));
    let truncated = sets.len() > max;
    // Where the next page starts, as AWS says it (the SDKs' paginators follow it).
    let next = match sets.get(max).filter(|_| truncated) {
        Some((n, _)) => format!(
            "<NextRecordName>{}.</NextRecordName><NextRecordType>TXT</NextRecordType>",
            xml_escape(n)
        ),
        None => String::new(),
    };
    let mut xml = String::new();
    for (name, (ttl, values)) in sets.iter().take(max) {
        let values: String = values
            .iter()
            .map(|v| {
                format!(
                    "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                    xml_escape(v)
                )
            })
            .collect();
        let _ = write!(
            xml,
            "<ResourceRecordSet><Name>{name}.</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>"
        );
    }
    let inner = format!(
        "<ResourceRecordSets>{xml}</ResourceRecordSets><IsTruncated>{truncated}</IsTruncated>{next}<MaxItems>{max}</MaxItems>"
    );
    ok("ListResourceRecordSetsResponse", &inner)
}

fn change_info(id: &str, insync: bool) -> String {
    let status = if insync { "INSYNC" } else { "PENDING" };
    format!(
        "<ChangeInfo><Id>/change/{id}</Id><Status>{status}</Status><SubmittedAt>2026-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo>"
    )
}

fn get_change(st: &mut State, c: &Call) -> Answer {
    let (id, polls_needed, wait) = (c.param("id"), st.opts.pending_polls, st.opts.pending_for);
    let Some((polls, at)) = st.changes.get_mut(id) else {
        let msg = format!("A change with the specified change ID does not exist: {id}");
        return Err(error(404, "NoSuchChange", &msg));
    };
    *polls += 1;
    let insync = *polls > polls_needed && at.elapsed() >= wait;
    ok("GetChangeResponse", &change_info(id, insync))
}

/// One parsed `<Change>`: action, name, type, TTL, values.
type ParsedChange = (String, String, String, Option<u32>, Vec<String>);

fn parse_changes(body: &str) -> Result<Vec<ParsedChange>, Reply> {
    if !body.contains("<ChangeResourceRecordSetsRequest") {
        return Err(error(
            400,
            "InvalidInput",
            "Expected a ChangeResourceRecordSetsRequest document",
        ));
    }
    let first = |x: &str, t: &str| tag_texts(x, t).into_iter().next().unwrap_or_default();
    let mut out = Vec::new();
    for c in tag_raw(body, "Change") {
        let Some(set) = tag_raw(c, "ResourceRecordSet").into_iter().next() else {
            return Err(error(
                400,
                "InvalidInput",
                "Change without ResourceRecordSet",
            ));
        };
        let ttl = first(set, "TTL").trim().parse().ok();
        out.push((
            first(c, "Action"),
            first(set, "Name"),
            first(set, "Type"),
            ttl,
            tag_texts(set, "Value"),
        ));
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

/// True when a TXT value is quoted (Route53 refuses bare words with spaces; the fake is
/// stricter: every value must be quoted, as wildcert always sends).
fn quoted(v: &str) -> bool {
    let v = v.trim();
    v.len() >= 2 && v.starts_with('"') && v.ends_with('"')
}

fn change_rrsets(st: &mut State, c: &Call) -> Answer {
    // AWS reads the body as XML whatever the header says; boto3 sends none. Only a type that
    // says it is something else is refused.
    if c.header("content-type")
        .is_some_and(|t| t.contains("json") || t.contains("form-urlencoded"))
    {
        return Err(error(
            400,
            "InvalidInput",
            "Content-Type must be application/xml",
        ));
    }
    let changes = parse_changes(&c.text())?;
    let zone = zone_of(st, c)?;
    let zone_name = zone.name.clone();
    // Validate against a copy: a batch is all or nothing.
    let mut sets = rrsets(&st.store, &zone);
    let (mut problems, mut touched) = (Vec::new(), Vec::<String>::new());
    for (action, name, rtype, ttl, values) in changes {
        let name = dns_name(&name);
        let shown = format!("[name='{name}.', type='{rtype}']");
        if rtype != "TXT" {
            return Err(error(
                400,
                "InvalidInput",
                &format!("The fake serves TXT records only, not {rtype}"),
            ));
        }
        if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
            problems.push(format!(
                "RRSet with DNS name {name}. is not permitted in zone {zone_name}."
            ));
            continue;
        }
        if touched.contains(&name) {
            problems.push(format!(
                "Duplicate Resource Record: {shown} appears more than once in the batch"
            ));
            continue;
        }
        let Some(ttl) = ttl else {
            return Err(error(
                400,
                "InvalidInput",
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=..., Name=...]",
            ));
        };
        if values.is_empty() || values.iter().any(|v| !quoted(v)) {
            problems.push(format!("Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with '{}''", values.join(" ")));
            continue;
        }
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let tried = |verb: &str, why: &str| {
            Some(format!(
                "Tried to {verb} resource record set {shown} but {why}"
            ))
        };
        let problem = match (action.as_str(), sets.get(&name)) {
            ("CREATE", Some(_)) => tried("create", "it already exists"),
            ("CREATE" | "UPSERT", _) => None,
            ("DELETE", None) => tried("delete", "it was not found"),
            ("DELETE", Some((t, v))) if *t != ttl || sorted(v) != sorted(&values) => tried(
                "delete",
                "the values provided do not match the current values",
            ),
            ("DELETE", Some(_)) => None,
            (other, _) => {
                return Err(error(
                    400,
                    "InvalidInput",
                    &format!("Invalid action {other}"),
                ));
            }
        };
        if let Some(p) = problem {
            problems.push(p);
            continue;
        }
        match action.as_str() {
            "DELETE" => sets.remove(&name),
            _ => sets.insert(name.clone(), (ttl, values)),
        };
        touched.push(name);
    }
    if !problems.is_empty() {
        // As AWS answers it on the wire (and boto3 reads it): the problems in brackets.
        return Err(error(
            400,
            "InvalidChangeBatch",
            &format!("[{}]", problems.join(", ")),
        ));
    }
    let fail = |e: KitError| {
        error(
            500,
            "InternalFailure",
            &format!("the fake could not update DNS: {e}"),
        )
    };
    let id = format!("C{}", random_id(14, ALNUM).map_err(fail)?);
    let edit = |s: &mut RecordStore| {
        touched
            .iter()
            .try_for_each(|n| put_rrset(s, &zone, n, sets.get(n)))
    };
    st.store.edit(edit).map_err(fail)?;
    let insync = st.opts.pending_polls == 0 && st.opts.pending_for.is_zero();
    st.changes.insert(id.clone(), (0, Instant::now()));
    ok(
        "ChangeResourceRecordSetsResponse",
        &change_info(&id, insync),
    )
}

fn pct_encode(s: &str, keep_slash: bool) -> String {
    let keep =
        |b: u8| b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/');
    s.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A path or query part as SigV4 canonicalises it (a literal `+` stays a `+`).
fn canonical(s: &str, keep_slash: bool) -> String {
    pct_encode(&percent_decode(&s.replace('+', "%2B")), keep_slash)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mac(key: &[u8], msg: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes())
        .as_ref()
        .to_vec()
}

/// The auth hook: check the request's SigV4 `Authorization` header against the fake's
/// credentials; the access key id becomes the caller (also when refused).
fn verify_sigv4(st: &State, c: &mut Call) -> Result<(), Reply> {
    let opts = &st.opts;
    let Some(auth) = c.header("authorization").map(str::to_owned) else {
        return Err(error(
            403,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
        ));
    };
    c.principal = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .map(str::to_owned);
    let incomplete = |m: &str| error(400, "IncompleteSignature", m);
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm",
        ));
    };
    let fields: HashMap<&str, &str> = rest
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(incomplete(
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, "aws4_request"] = parts[..] else {
        return Err(incomplete(
            "Credential must have the form AKID/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let invalid = || {
        error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    };
    let mismatch = |m: &str| error(403, "SignatureDoesNotMatch", m);
    let keys = std::iter::once((&opts.access_key_id, &opts.secret_access_key));
    let mut keys = keys.chain(opts.extra_keys.iter().map(|(k, s)| (k, s)));
    let secret = keys
        .find(|(k, _)| *k == akid)
        .map(|(_, s)| s.clone())
        .ok_or_else(invalid)?;
    if opts.expired_keys.iter().any(|k| k == akid) {
        return Err(error(
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        ));
    }
    if service != "route53" || region != "us-east-1" {
        return Err(mismatch(&format!(
            "Credential should be scoped to a valid region and to the service 'route53', not '{region}/{service}'."
        )));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    if !signed.contains(&"host") || !signed.contains(&"x-amz-date") {
        return Err(mismatch("host and x-amz-date must be signed"));
    }
    if let Some(token) = &opts.session_token
        && (c.header("x-amz-security-token") != Some(token.as_str())
            || !signed.contains(&"x-amz-security-token"))
    {
        return Err(invalid());
    }
    let amz_date = c.header("x-amz-date").unwrap_or("");
    if !amz_date.starts_with(date) {
        return Err(mismatch(
            "Date in Credential scope does not match x-amz-date",
        ));
    }
    // The canonical request, from what was received.
    let path = canonical(c.raw_path(), true);
    let mut query: Vec<String> = c
        .raw_query()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            format!("{}={}", canonical(k, false), canonical(v, false))
        })
        .collect();
    query.sort();
    let mut headers = String::new();
    for h in &signed {
        let v = c
            .header(h)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(headers, "{h}:{v}");
    }
    let payload = hex(digest::digest(&digest::SHA256, &c.body).as_ref());
    let query = query.join("&");
    let canonical = format!(
        "{}\n{path}\n{query}\n{headers}\n{signed_headers}\n{payload}",
        c.method
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let hashed = hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
    let sts = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashed}");
    let key = [region, service, "aws4_request"]
        .iter()
        .fold(mac(format!("AWS4{secret}").as_bytes(), date), |k, part| {
            mac(&k, part)
        });
    if hex(&mac(&key, &sts)) != *signature {
        // AWS quotes the canonical request (session token included) in this message.
        return Err(mismatch(&format!(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
        )));
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
        let mut call = Call {
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
            ..Call::default()
        };
        let opts = Route53FakeOptions {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            ..Default::default()
        };
        let store = RecordStore::default();
        let (private, changes) = (Vec::new(), HashMap::new());
        let st = State {
            store,
            opts,
            private,
            changes,
        };
        assert!(verify_sigv4(&st, &mut call).is_ok());
        assert_eq!(call.principal.as_deref(), Some("AKIDEXAMPLE"));
        call.body.push(b' ');
        let e = verify_sigv4(&st, &mut call).err().and_then(|r| r.tag);
        assert_eq!(e.as_deref(), Some("SignatureDoesNotMatch"));
    }

    #[test]
    fn listing_order() {
        assert!(order_key("example.test") < order_key("_acme-challenge.example.test"));
        assert!(order_key("a.example.test") > order_key("example.test"));
        assert_eq!(canonical("a b*+", false), "a%20b%2A%2B");
        assert_eq!(canonical("/x y/z", true), "/x%20y/z");
    }
}
