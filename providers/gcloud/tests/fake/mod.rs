//! A stateful fake of Google Cloud DNS v1 (cloud.google.com/dns/docs/reference/v1: managedZones
//! list/get, resourceRecordSets list, changes create/get) and of the Google endpoints a client
//! gets its token from: the OAuth 2.0 token endpoint of a service-account key (`POST /token`, a
//! JWT bearer grant checked against the test key `test-service-account-key.pem`), the GCE
//! metadata server (`/computeMetadata/v1/…`, `Metadata-Flavor: Google`) and iamcredentials
//! `generateAccessToken` (`/v1/projects/-/serviceAccounts/{email}:generateAccessToken`), all on
//! one loopback port of the kit's router. Errors are Google's `{"error": {"code", "message",
//! "errors": [{"reason", "domain", "message"}], "status"}}`; the token endpoint answers
//! OAuth's `{"error", "error_description"}`. Lists are paged (`maxResults`, `pageToken`,
//! `nextPageToken`). The traps: an addition to a name+type that has an RRset is 409
//! `alreadyExists`, a deletion that does not match the stored TTL and rrdatas exactly is 412
//! `conditionNotMet`, private zones may share a public zone's name (their records never reach
//! DNS), listing zones needs its own permission (`FakeToken::zone_read`), and a change is
//! `pending` for `change_delay` before it is `done`. Proven by google-cloud-dns + google-auth
//! (tests/sdk/prove.py). With [`GcloudFakeOptions::backed_by`] every change of a public zone
//! lands in the BIND topology's primary (the kit's `ZoneMirror`).

use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords};
use wildcert_testkit::{KitError, RecordStore, Reply, Router, ZoneMirror, now_rfc3339};
use wildcert_testkit::{dns_name, paginate, parse_query, random_id, txt_rdata};

/// The test key (RSA-2048, PKCS#8, generated once; it guards nothing).
pub const TEST_KEY_PEM: &str = include_str!("test-service-account-key.pem");
/// The fake's project.
pub const PROJECT: &str = "wildcert-test";
/// The service account every fake knows (roles/dns.admin on the project).
pub const ACCOUNT: &str = "dns-writer@wildcert-test.iam.gserviceaccount.com";
const DNS_SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
const PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Options for [`GcloudFake::start`].
#[derive(Debug, Clone)]
pub struct GcloudFakeOptions {
    /// Public zones.
    pub zones: Vec<String>,
    /// Private zones (they may share a public zone's name).
    pub private: Vec<String>,
    /// Service accounts (`token` = e-mail) and their rights: `zone_read` = dns.managedZones.list.
    pub accounts: Vec<FakeToken>,
    /// The metadata server's default service account.
    pub metadata_account: Option<String>,
    /// (caller, target): the caller may impersonate the target.
    pub token_creators: Vec<(String, String)>,
    /// Mirror TXT changes of public zones into real DNS.
    pub dns: Option<ZoneMirror>,
    /// How long a change stays `pending`.
    pub change_delay: Duration,
}

impl Default for GcloudFakeOptions {
    fn default() -> Self {
        GcloudFakeOptions {
            zones: vec!["example.test".into()],
            private: Vec::new(),
            accounts: vec![FakeToken::full(ACCOUNT)],
            metadata_account: Some(ACCOUNT.into()),
            token_creators: Vec::new(),
            dns: None,
            change_delay: Duration::from_millis(150),
        }
    }
}

impl GcloudFakeOptions {
    /// Options serving the topology's zones and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let dns = Some(ZoneMirror::of(topo));
        GcloudFakeOptions {
            zones: topo.zones().to_vec(),
            dns,
            ..Default::default()
        }
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    private: RecordStore,
    opts: GcloudFakeOptions,
    /// Issued access tokens: token, account index, scopes.
    tokens: Vec<(String, usize, String)>,
    /// Changes: zone id, when made, the document.
    changes: Vec<(String, Instant, Value)>,
    base: String,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake; stopped on drop.
#[derive(Debug)]
pub struct GcloudFake(FakeServer<State>);

impl Deref for GcloudFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// A Google API error.
pub fn gerr(code: u16, reason: &str, message: &str) -> Reply {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        _ => "UNKNOWN",
    };
    let e = json!({ "message": message, "domain": "global", "reason": reason });
    let body =
        json!({ "error": { "code": code, "message": message, "errors": [e], "status": status } });
    Reply::json(code, &body).tag(reason)
}

/// Cloud DNS's 429 (`rateLimitExceeded`), with `Retry-After`.
pub fn rate_limited(left: Duration) -> Reply {
    let reply = gerr(
        429,
        "rateLimitExceeded",
        "Quota exceeded for quota metric 'Write requests'",
    );
    reply.header("Retry-After", left.as_secs().clamp(1, 60).to_string())
}

/// An OAuth 2.0 token endpoint error.
fn oauth(error: &str, description: &str) -> Reply {
    Reply::json(
        400,
        &json!({ "error": error, "error_description": description }),
    )
    .tag(error)
}

impl GcloudFake {
    /// Start on a free loopback port.
    pub fn start(opts: GcloudFakeOptions) -> Result<GcloudFake, KitError> {
        let mut store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let mut private = RecordStore::new(&opts.private, None)?;
        for (i, z) in store.zones.iter_mut().enumerate() {
            z.id = (4_100_000 + i).to_string();
        }
        for (i, z) in private.zones.iter_mut().enumerate() {
            z.id = (4_200_000 + i).to_string();
        }
        let zones = "/dns/v1/projects/{project}/managedZones";
        let sa = "/computeMetadata/v1/instance/service-accounts/{sa}";
        let server = Router::new("gcloud")
            .auth(authenticate)
            .route("POST /token", grant)
            .route(&format!("GET {sa}"), |st, c| metadata(st, c, false))
            .route(&format!("GET {sa}/token"), |st, c| metadata(st, c, true))
            .route("GET /computeMetadata/v1/project/project-id", |_, c| {
                flavored(c, Reply::text(200, "application/text", PROJECT))
            })
            .route("POST /v1/projects/-/serviceAccounts/{name}", impersonate)
            .route(&format!("GET {zones}"), list_zones)
            .route(&format!("GET {zones}/{{zone}}"), |st, c| {
                let (z, private) = st.zone(c)?;
                Ok(Reply::json(200, &zone_json(&z, private)))
            })
            .route(&format!("GET {zones}/{{zone}}/rrsets"), list_rrsets)
            .route(&format!("POST {zones}/{{zone}}/changes"), create_change)
            .route(&format!("GET {zones}/{{zone}}/changes/{{id}}"), get_change)
            .fallback(|c, _| {
                gerr(
                    404,
                    "notFound",
                    &format!("The requested URL {} was not found", c.path),
                )
            });
        let (tokens, changes, base) = (Vec::new(), Vec::new(), String::new());
        let state = State {
            store,
            private,
            opts,
            tokens,
            changes,
            base,
        };
        let fake = GcloudFake(server.start(state)?);
        let base = fake.url();
        fake.with(|st| st.base = base);
        Ok(fake)
    }

    /// `http://127.0.0.1:PORT`: `base_url` / `GCE_API_URL`, and the metadata host's address.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// `127.0.0.1:PORT`, for `GCE_METADATA_HOST`.
    pub fn metadata_host(&self) -> String {
        self.addr().to_string()
    }

    /// A service-account key for `email` signed by the test key, its `token_uri` this fake.
    pub fn key_json(&self, email: &str) -> String {
        let pem = TEST_KEY_PEM
            .split_once("-----BEGIN")
            .map(|(_, k)| format!("-----BEGIN{k}"));
        json!({ "type": "service_account", "project_id": PROJECT, "private_key_id": "0123abcd",
            "private_key": pem.unwrap_or_default(), "client_email": email, "client_id": "1",
            "token_uri": format!("{}/token", self.url()) })
        .to_string()
    }

    /// The change documents so far.
    pub fn changes(&self) -> Vec<Value> {
        self.with(|st| st.changes.iter().map(|c| c.2.clone()).collect())
    }

    /// TXT values of a private zone's name.
    pub fn private_txt_values(&self, name: &str) -> Vec<String> {
        self.with(|st| st.private.txt_values(name))
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, rate_limited);
    }
}

/// A bearer token issued by this fake (for the paths that need one).
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let needs = if c.path.starts_with("/dns/") {
        DNS_SCOPE
    } else if c.path.starts_with("/v1/") {
        PLATFORM
    } else {
        ""
    };
    if needs.is_empty() {
        return Ok(());
    }
    let unauth = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.";
    let t = st.tokens.iter().find(|t| Some(t.0.as_str()) == c.bearer());
    let t = t.ok_or_else(|| gerr(401, "authError", unauth))?;
    c.principal = Some(t.1.to_string());
    match t.2.split(' ').any(|s| s == needs || s == PLATFORM) {
        true => Ok(()),
        false => Err(gerr(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )),
    }
}

impl State {
    fn account(&self, c: &Call) -> &FakeToken {
        let i = c.principal.as_deref().and_then(|p| p.parse::<usize>().ok());
        &self.opts.accounts[i.unwrap_or(0)]
    }

    fn issue(&mut self, account: usize, scope: &str) -> Result<String, Reply> {
        let t = random_id(40, b"abcdefghijklmnopqrstuvwxyz0123456789");
        let t = format!("ya29.{}", t.map_err(|e| gerr(500, "backendError", &e.0))?);
        self.tokens.push((t.clone(), account, scope.to_string()));
        Ok(t)
    }

    /// The route's project and zone (by name or id) the caller may touch.
    fn zone(&self, c: &Call) -> Result<(FakeZone, bool), Reply> {
        if c.param("project") != PROJECT {
            let m = format!("The requested project {} was not found", c.param("project"));
            return Err(gerr(404, "notFound", &m));
        }
        let p = c.param("zone");
        let all = self.store.zones.iter().map(|z| (z, false));
        let all = all.chain(self.private.zones.iter().map(|z| (z, true)));
        let mut found = all.filter(|(z, pr)| z.id == p || managed_name(&z.name, *pr) == p);
        let Some((z, private)) = found.next() else {
            let m = format!("The 'parameters.managedZone' resource named '{p}' does not exist.");
            return Err(gerr(404, "notFound", &m));
        };
        match self.account(c).may(&z.name) {
            true => Ok((z.clone(), private)),
            false => Err(gerr(
                403,
                "forbidden",
                &format!("Forbidden: dns.managedZones.get on {p}"),
            )),
        }
    }
}

/// A managed zone's name (its API handle): `example-test`, `example-test-private`.
fn managed_name(dns: &str, private: bool) -> String {
    format!(
        "{}{}",
        dns.replace('.', "-"),
        if private { "-private" } else { "" }
    )
}

fn zone_json(z: &FakeZone, private: bool) -> Value {
    let visibility = if private { "private" } else { "public" };
    json!({ "kind": "dns#managedZone", "name": managed_name(&z.name, private), "id": z.id,
        "dnsName": format!("{}.", z.name), "description": "", "visibility": visibility,
        "nameServers": ["ns-cloud-a1.googledomains.com."], "creationTime": now_rfc3339() })
}

/// One page (`maxResults`, an offset as `pageToken`) of `items` under `key`.
fn page(items: Vec<Value>, c: &Call, key: &str, kind: &str) -> Answer {
    let size = c
        .query("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100u32)
        .clamp(1, 1000);
    let from = c.query("pageToken").map(|t| {
        t.parse::<usize>()
            .map_err(|_| gerr(400, "invalid", "Invalid value for pageToken"))
    });
    let from = from.transpose()?.unwrap_or(0);
    let mut body = json!({ "kind": kind, key: paginate(&items[from.min(items.len())..], 1, size) });
    if from + (size as usize) < items.len() {
        body["nextPageToken"] = json!((from + size as usize).to_string());
    }
    Ok(Reply::json(200, &body))
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let acct = st.account(c);
    if !acct.zone_read {
        return Err(gerr(
            403,
            "forbidden",
            &format!("Forbidden: dns.managedZones.list on project {PROJECT}"),
        ));
    }
    let want = c.query("dnsName").map(dns_name);
    let all = st.store.zones.iter().map(|z| (z, false));
    let all = all.chain(st.private.zones.iter().map(|z| (z, true)));
    let all = all.filter(|(z, _)| acct.may(&z.name) && want.as_ref().is_none_or(|w| w == &z.name));
    let zones = all.map(|(z, p)| zone_json(z, p)).collect();
    page(zones, c, "managedZones", "dns#managedZonesListResponse")
}

/// The RRsets of a zone's records, in first-seen order: (name with dot, type, ttl, rrdatas).
fn rrsets(store: &RecordStore, zone: &str) -> Vec<Value> {
    let mut sets: Vec<Value> = Vec::new();
    for r in store.in_zone(zone) {
        let name = format!("{}.", r.name);
        let same = |s: &&mut Value| s["name"] == name.as_str() && s["type"] == r.rtype.as_str();
        match sets.iter_mut().find(same) {
            Some(s) => s["rrdatas"]
                .as_array_mut()
                .into_iter()
                .for_each(|a| a.push(json!(r.content))),
            None => sets.push(json!({ "kind": "dns#resourceRecordSet", "name": name,
                "type": r.rtype, "ttl": r.ttl, "rrdatas": [r.content] })),
        }
    }
    sets
}

fn list_rrsets(st: &mut State, c: &Call) -> Answer {
    let (z, private) = st.zone(c)?;
    let (name, rtype) = (
        c.query("name").map(|n| n.to_ascii_lowercase()),
        c.query("type"),
    );
    if rtype.is_some() && name.is_none() {
        return Err(gerr(
            400,
            "invalid",
            "The 'parameters.type' field requires 'parameters.name'.",
        ));
    }
    let store = if private { &st.private } else { &st.store };
    let sets = rrsets(store, &z.name).into_iter();
    let sets = sets.filter(|s| {
        name.as_ref().is_none_or(|n| s["name"] == n.as_str())
            && rtype.is_none_or(|t| s["type"] == t)
    });
    page(
        sets.collect(),
        c,
        "rrsets",
        "dns#resourceRecordSetsListResponse",
    )
}

/// `(name, type, ttl, rrdatas)` of an RRset in a change; TXT data normalised as stored.
fn parse_rrset(
    v: &Value,
    zone: &str,
    at: &str,
) -> Result<(String, String, u64, Vec<String>), Reply> {
    let bad = |f: &str| gerr(400, "invalid", &format!("Invalid value for '{at}.{f}'"));
    let name = v["name"]
        .as_str()
        .filter(|n| n.ends_with('.'))
        .ok_or_else(|| bad("name"))?;
    let name = dns_name(name);
    if !(name == zone || name.ends_with(&format!(".{zone}"))) {
        return Err(bad("name"));
    }
    let rtype = v["type"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("type"))?;
    let ttl = v["ttl"]
        .as_u64()
        .or_else(|| v["ttl"].as_str()?.parse().ok())
        .ok_or_else(|| bad("ttl"))?;
    let data = v["rrdatas"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("rrdatas"))?;
    let norm = |d: &str| {
        if rtype == "TXT" {
            txt_rdata(d)
        } else {
            d.to_string()
        }
    };
    let data: Option<Vec<String>> = data.iter().map(|d| Some(norm(d.as_str()?))).collect();
    Ok((
        name,
        rtype.to_string(),
        ttl,
        data.ok_or_else(|| bad("rrdatas"))?,
    ))
}

fn create_change(st: &mut State, c: &Call) -> Answer {
    let (z, private) = st.zone(c)?;
    if !st.account(c).dns_edit {
        return Err(gerr(
            403,
            "forbidden",
            &format!("Forbidden: dns.changes.create on {}", z.name),
        ));
    }
    let body = c
        .json()
        .ok_or_else(|| gerr(400, "parseError", "Parse Error"))?;
    let list = |k: &str| body[k].as_array().cloned().unwrap_or_default();
    let (dels, adds) = (list("deletions"), list("additions"));
    if dels.is_empty() && adds.is_empty() {
        return Err(gerr(
            400,
            "required",
            "The 'entity.change' parameter is required but was missing.",
        ));
    }
    let parse = |l: &[Value], k: &str| -> Result<Vec<_>, Reply> {
        l.iter()
            .enumerate()
            .map(|(i, v)| parse_rrset(v, &z.name, &format!("entity.change.{k}[{i}]")))
            .collect()
    };
    let (d, a) = (parse(&dels, "deletions")?, parse(&adds, "additions")?);
    let store = if private {
        &mut st.private
    } else {
        &mut st.store
    };
    store.edit(|s: &mut RecordStore| -> Result<(), Refused> {
        for (i, (name, rtype, ttl, data)) in d.iter().enumerate() {
            let current = rrsets(s, &z.name).into_iter().find(|r| r["name"] == format!("{name}.") && r["type"] == rtype.as_str());
            let Some(current) = current else {
                let m = format!("The 'entity.change.deletions[{i}]' resource named '{name}. ({rtype})' does not exist.");
                return Err(Refused(gerr(404, "notFound", &m)));
            };
            let mut have: Vec<String> = serde_json::from_value(current["rrdatas"].clone()).unwrap_or_default();
            let mut want = data.clone();
            have.sort();
            want.sort();
            if current["ttl"] != json!(ttl) || have != want {
                let m = format!("Precondition not met for 'entity.change.deletions[{i}]'");
                return Err(Refused(gerr(412, "conditionNotMet", &m)));
            }
            s.records.retain(|r| !(&r.name == name && &r.rtype == rtype));
        }
        for (i, (name, rtype, ttl, data)) in a.iter().enumerate() {
            if s.records.iter().any(|r| &r.name == name && &r.rtype == rtype) {
                let m = format!("The resource 'entity.change.additions[{i}]' named '{name}. ({rtype})' already exists");
                return Err(Refused(gerr(409, "alreadyExists", &m)));
            }
            for v in data {
                s.records.push(FakeRecord::new(&z, rtype, name, v, *ttl as u32)?);
            }
        }
        Ok(())
    })
    .map_err(|r| r.0)?;
    let id = (st.changes.len() + 1).to_string();
    let doc = json!({ "kind": "dns#change", "id": id, "startTime": now_rfc3339(), "status": "pending",
        "additions": adds, "deletions": dels });
    st.changes.push((z.id.clone(), Instant::now(), doc.clone()));
    Ok(Reply::json(200, &doc))
}

/// A refusal inside a store edit (which rolls back on any error).
struct Refused(Reply);

impl From<KitError> for Refused {
    fn from(e: KitError) -> Refused {
        Refused(gerr(
            500,
            "backendError",
            &format!("Internal error: {}", e.0),
        ))
    }
}

fn get_change(st: &mut State, c: &Call) -> Answer {
    let (z, _) = st.zone(c)?;
    let delay = st.opts.change_delay;
    let found = st
        .changes
        .iter_mut()
        .find(|ch| ch.0 == z.id && ch.2["id"] == c.param("id"));
    let m = format!(
        "The 'parameters.changeId' resource named '{}' does not exist.",
        c.param("id")
    );
    let (_, at, doc) = found.ok_or_else(|| gerr(404, "notFound", &m))?;
    if at.elapsed() >= delay {
        doc["status"] = json!("done");
    }
    Ok(Reply::json(200, doc))
}

/// The metadata server needs `Metadata-Flavor: Google` and says it too.
fn flavored(c: &Call, reply: Reply) -> Answer {
    match c.header("metadata-flavor") == Some("Google") {
        true => Ok(reply.header("Metadata-Flavor", "Google")),
        false => Err(Reply::text(
            403,
            "text/html",
            "Missing required header: Metadata-Flavor",
        )),
    }
}

fn metadata(st: &mut State, c: &Call, token: bool) -> Answer {
    let email = st.opts.metadata_account.clone();
    let sa = c.param("sa");
    let email = email.filter(|e| sa == "default" || sa == e.as_str());
    let not_found = || Reply::text(404, "text/html", "Not Found");
    let email = email.ok_or_else(not_found)?;
    let i = st
        .opts
        .accounts
        .iter()
        .position(|a| a.token == email)
        .ok_or_else(not_found)?;
    let body = match token {
        true => {
            json!({ "access_token": st.issue(i, PLATFORM)?, "expires_in": 3599, "token_type": "Bearer" })
        }
        false => json!({ "aliases": ["default"], "email": email, "scopes": [PLATFORM] }),
    };
    flavored(c, Reply::json(200, &body))
}

/// RFC 7523 JWT bearer grant, signed with the test key.
fn grant(st: &mut State, c: &Call) -> Answer {
    let form = parse_query(&c.text());
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err(oauth(
            "unsupported_grant_type",
            &format!("Invalid grant_type: {}", get("grant_type").unwrap_or("")),
        ));
    }
    let jwt = get("assertion").unwrap_or_default();
    let parts: Vec<&str> = jwt.split('.').collect();
    let part = |i: usize| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.get(i)?).ok()?).ok()
    };
    let (Some(header), Some(claims), Some(sig)) = (
        part(0),
        part(1),
        parts.get(2).and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()),
    ) else {
        return Err(oauth("invalid_request", "Invalid JWT: malformed assertion"));
    };
    let der = TEST_KEY_PEM
        .split("-----")
        .nth(2)
        .map(|b| b.split_whitespace().collect::<String>());
    let key = der
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|d| RsaKeyPair::from_pkcs8(&d).ok());
    let key = key.ok_or_else(|| gerr(500, "backendError", "the fake's test key does not parse"))?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
    if header["alg"] != "RS256" || public.verify(signed.as_bytes(), &sig).is_err() {
        return Err(oauth("invalid_grant", "Invalid JWT Signature."));
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    let i = st.opts.accounts.iter().position(|a| a.token == iss);
    let i = i.ok_or_else(|| oauth("invalid_grant", "Invalid grant: account not found"))?;
    // google-auth always names Google's endpoint; others (lego, wildcert) the key's token_uri.
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud != format!("{}/token", st.base) && aud != "https://oauth2.googleapis.com/token" {
        return Err(oauth(
            "invalid_grant",
            "Invalid JWT: Failed audience check.",
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if (iat - now).abs() > 300 || exp <= iat || exp - iat > 3600 {
        return Err(oauth(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    let scope = claims["scope"].as_str().filter(|s| !s.is_empty());
    let scope =
        scope.ok_or_else(|| oauth("invalid_scope", "Empty or missing scope not allowed."))?;
    let token = st.issue(i, scope)?;
    Ok(Reply::json(
        200,
        &json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }),
    ))
}

/// iamcredentials `generateAccessToken`.
fn impersonate(st: &mut State, c: &Call) -> Answer {
    let name = c.param("name");
    let target = name
        .strip_suffix(":generateAccessToken")
        .ok_or_else(|| gerr(404, "notFound", "Not Found"))?;
    let caller = st.account(c).token.clone();
    let allowed = st
        .opts
        .token_creators
        .iter()
        .any(|(from, to)| from == &caller && to == target);
    let i = st
        .opts
        .accounts
        .iter()
        .position(|a| a.token == target)
        .filter(|_| allowed);
    let denied =
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).";
    let i = i.ok_or_else(|| gerr(403, "forbidden", denied))?;
    let body = c.json().unwrap_or_default();
    let scopes: Vec<&str> = body["scope"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if scopes.is_empty() {
        return Err(gerr(400, "badRequest", "Scope required."));
    }
    let token = st.issue(i, &scopes.join(" "))?;
    let expire = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let expire = expire.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ));
    let expire = expire.map_err(|e| gerr(500, "backendError", &e.to_string()))?;
    Ok(Reply::json(
        200,
        &json!({ "accessToken": token, "expireTime": expire }),
    ))
}
