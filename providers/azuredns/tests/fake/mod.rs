//! A stateful fake of the Azure endpoints a DNS-01 client uses, on the kit's router (no Azure
//! server can run here), after learn.microsoft.com's REST reference. Resource Manager:
//! `GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.Network/{dnszones|
//! privateDnsZones}` (zones, `$top` + `nextLink`), `GET …/{zone}/TXT` (record sets, paged the
//! same way) and `GET|PUT|DELETE …/{zone}/TXT/{relative}` with ETags (`If-Match`,
//! `If-None-Match: *` → 412 `PreconditionFailed`), public (`TTL`, `TXTRecords`) and private
//! (`ttl`, `txtRecords`) field names, ARM errors (401 `InvalidAuthenticationToken`, 403
//! `AuthorizationFailed`, 404 `SubscriptionNotFound` / `ResourceGroupNotFound` /
//! `ParentResourceNotFound`, the DNS RP's bare `{"code": "NotFound"}` for a missing set, 400
//! `BadRequest`), 429 + `Retry-After`. Entra ID: `POST /{tenant}/oauth2/v2.0/token` (client
//! secret, or a `jwt-bearer` client assertion: a federated token, or a certificate JWT whose
//! header's `x5t` / `x5t#S256` and claims are checked — not its signature), its OpenID discovery document,
//! AADSTS errors; managed identity: IMDS (`Metadata: true`) and App Service (`X-IDENTITY-HEADER`).
//! With [`AzureFakeOptions::backed_by`] every TXT change lands in BIND before the API answers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
pub use wildcert_testkit::FakeToken;
use wildcert_testkit::{
    BindTopology, Call, FakeRecord, FakeServer, FakeZone, HoldsRecords, KitError, RecordStore,
    Reply, Router, ZoneMirror, dns_name, parse_query, txt_rdata,
};

/// Subscription, resource group, tenant and client of the fake's defaults.
pub const SUB: &str = "00000000-0000-0000-0000-00000000a2de";
/// The resource group holding every zone.
pub const RG: &str = "rg-dns";
/// The tenant.
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
/// The default service principal's client id and secret.
pub const CLIENT: (&str, &str) = ("22222222-2222-2222-2222-222222222222", "fake~client.secret");
/// The header value of the App Service identity endpoint.
pub const IDENTITY_HEADER: &str = "fake-identity-header";

/// Options for [`AzureFake::start`].
#[derive(Debug, Clone)]
pub struct AzureFakeOptions {
    /// Public zone names.
    pub zones: Vec<String>,
    /// Private zone names.
    pub private: Vec<String>,
    /// Service principals: client id and `token` = its secret, federated token or certificate
    /// thumbprint (`x5t`); `dns_edit` false = Reader, `zones` = role assignments.
    pub clients: Vec<(String, FakeToken)>,
    /// The client the managed identity endpoints sign in as (an index into `clients`).
    pub managed: Option<usize>,
    /// Largest `$top` served (100, as Azure).
    pub max_top: usize,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for AzureFakeOptions {
    fn default() -> Self {
        AzureFakeOptions {
            zones: vec!["example.test".into()],
            private: vec![],
            clients: vec![(CLIENT.0.into(), FakeToken::full(CLIENT.1))],
            managed: Some(0),
            max_top: 100,
            dns: None,
        }
    }
}

impl AzureFakeOptions {
    /// Options serving the topology's zones (public) and mirroring TXT changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        AzureFakeOptions {
            zones,
            dns,
            ..Default::default()
        }
    }
}

/// What the fake holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: AzureFakeOptions,
    /// Access tokens issued, with the index of their client.
    issued: Vec<(String, usize)>,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running fake (Resource Manager, login and managed identity on one port); stopped on drop.
#[derive(Debug)]
pub struct AzureFake(FakeServer<State>);

impl Deref for AzureFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

type Answer = Result<Reply, Reply>;

/// ARM's error body (`bare`: the DNS resource provider's unwrapped form).
fn err(status: u16, code: &str, message: &str, bare: bool) -> Reply {
    let e = json!({ "code": code, "message": message });
    Reply::json(status, &if bare { e } else { json!({ "error": e }) }).tag(code)
}

/// Entra ID's error body.
fn aad(status: u16, error: &str, desc: &str) -> Reply {
    let desc =
        format!("{desc}\r\nTrace ID: 0\r\nCorrelation ID: 0\r\nTimestamp: 2026-12-07 00:00:00Z");
    let body = json!({ "error": error, "error_description": desc });
    Reply::json(status, &body).tag(error)
}

impl AzureFake {
    /// Start on a free loopback port.
    pub fn start(opts: AzureFakeOptions) -> Result<AzureFake, KitError> {
        let zones: Vec<String> = opts.zones.iter().chain(&opts.private).cloned().collect();
        let store = RecordStore::new(&zones, opts.dns.clone())?;
        let rg = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{zt}";
        let server = Router::new("azure")
            .auth(authenticate)
            .route("POST /{tenant}/oauth2/v2.0/token", token)
            .route(
                "GET /{tenant}/v2.0/.well-known/openid-configuration",
                discovery,
            )
            .route("GET /metadata/identity/oauth2/token", |st, c| {
                managed(st, c, "metadata", "true")
            })
            .route("GET /msi/token", |st, c| {
                managed(st, c, "x-identity-header", IDENTITY_HEADER)
            })
            .route(
                "GET /subscriptions/{sub}/providers/Microsoft.Network/{zt}",
                list_zones,
            )
            .route(&format!("GET {rg}"), list_zones)
            .route(&(format!("GET {rg}") + "/{zone}/{type}"), list_sets)
            .route(&(format!("GET {rg}") + "/{zone}/{type}/{name}"), get_set)
            .route(&(format!("PUT {rg}") + "/{zone}/{type}/{name}"), put_set)
            .route(
                &(format!("DELETE {rg}") + "/{zone}/{type}/{name}"),
                delete_set,
            )
            .fallback(|c, _| {
                err(
                    404,
                    "InvalidResourceType",
                    &format!("no route for {}", c.path),
                    false,
                )
            })
            .start(State {
                store,
                opts,
                issued: vec![],
            })?;
        Ok(AzureFake(server))
    }

    /// `http://127.0.0.1:PORT`: Resource Manager, authority host and IMDS root at once.
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Answer every request with ARM's 429 for `d` from now, `Retry-After` counting down.
    pub fn block_for(&self, d: Duration) {
        self.0.block_for(d, |left| too_many(left.as_secs().max(1)));
    }

    /// Put a value at `name` as the portal would (one more record in the set; a new ETag).
    pub fn seed(&self, name: &str, value: &str) {
        let zone = self
            .with(|st| zone_of(&st.store, name))
            .expect("a zone of the fake holds the name");
        let id = self.seed_record(&zone, "TXT", name, &txt_rdata(value), 3600);
        id.unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }

    /// The ETag the set at `name` has now.
    pub fn etag(&self, name: &str) -> String {
        self.with(|st| etag(&set_of(&st.store, &dns_name(name))))
    }
}

/// ARM's throttling answer.
pub fn too_many(secs: u64) -> Reply {
    let m = "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:05:00.";
    err(429, "TooManyRequests", m, false).header("Retry-After", secs.to_string())
}

fn zone_of(store: &RecordStore, name: &str) -> Option<String> {
    let n = dns_name(name);
    let mut zones: Vec<&FakeZone> = store
        .zones
        .iter()
        .filter(|z| n == z.name || n.ends_with(&format!(".{}", z.name)))
        .collect();
    zones.sort_by_key(|z| std::cmp::Reverse(z.name.len()));
    zones.first().map(|z| z.name.clone())
}

/// Resource Manager wants a bearer token this fake issued; login and IMDS want none.
fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    if !c.path.starts_with("/subscriptions") {
        return Ok(());
    }
    let t = c.bearer().unwrap_or_default();
    let i = st.issued.iter().find(|(tok, _)| tok == t).map(|(_, i)| *i);
    let i = i.ok_or_else(|| {
        err(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            false,
        )
    })?;
    c.principal = Some(i.to_string());
    Ok(())
}

fn issue(st: &mut State, client: usize) -> String {
    let t = format!("eyJ0eXAiOiJKV1QifQ.fake.{}-{client}", st.issued.len());
    st.issued.push((t.clone(), client));
    t
}

fn token(st: &mut State, c: &Call) -> Answer {
    let q = parse_query(&c.text());
    let f = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    if c.param("tenant") != TENANT {
        return Err(aad(
            400,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{}' not found.", c.param("tenant")),
        ));
    }
    if f("grant_type") != "client_credentials" || !f("scope").ends_with("/.default") {
        return Err(aad(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        ));
    }
    let Some(i) = st
        .opts
        .clients
        .iter()
        .position(|(id, _)| id == f("client_id"))
    else {
        let m = format!(
            "AADSTS700016: Application with identifier '{}' was not found in the directory.",
            f("client_id")
        );
        return Err(aad(400, "unauthorized_client", &m));
    };
    let known = &st.opts.clients[i].1.token;
    let ok = match f("client_assertion_type") {
        "" => f("client_secret") == known,
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" => {
            assertion_ok(f("client_assertion"), known, &st.opts.clients[i].0)
        }
        _ => false,
    };
    if !ok {
        return Err(aad(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret or client assertion provided.",
        ));
    }
    let at = issue(st, i);
    Ok(Reply::json(
        200,
        &json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": at }),
    ))
}

/// A federated token equal to `known`, or a certificate JWT for the client, not expired, whose
/// thumbprint is `known`: RS256 with `x5t` (SHA-1), or PS256 with `x5t#S256` (MSAL's with a SHA-256 thumbprint).
fn assertion_ok(jwt: &str, known: &str, client: &str) -> bool {
    use base64::Engine as _;
    let part = |i: usize| {
        jwt.split('.').nth(i).and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
    };
    let json = |i: usize| {
        part(i)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or_default()
    };
    let (h, cl) = (json(0), json(1));
    // MSAL pads the base64url thumbprint; Entra ID takes it either way.
    let thumb = |k: &str| {
        h[k].as_str()
            .is_some_and(|t| t.trim_end_matches('=') == known)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    jwt == known
        || ((h["alg"] == "RS256" && thumb("x5t") || h["alg"] == "PS256" && thumb("x5t#S256"))
            && cl["iss"] == client
            && cl["sub"] == client
            && cl["aud"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!("/{TENANT}/oauth2/v2.0/token")))
            && cl["exp"].as_f64().is_some_and(|e| e > now as f64)
            && part(2).is_some_and(|s| s.len() >= 256))
}

fn discovery(_: &mut State, c: &Call) -> Reply {
    let scheme = c.header("x-forwarded-proto").unwrap_or("http");
    let base = format!(
        "{scheme}://{}/{}",
        c.header("host").unwrap_or("127.0.0.1"),
        c.param("tenant")
    );
    Reply::json(
        200,
        &json!({ "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"), "issuer": format!("{base}/v2.0"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"] }),
    )
}

/// IMDS (`Metadata: true`) or App Service (`X-IDENTITY-HEADER`): a token for `resource`.
fn managed(st: &mut State, c: &Call, header: &str, value: &str) -> Answer {
    if c.header(header) != Some(value) {
        return Err(aad(
            400,
            "invalid_request",
            "AADSTS0: Required metadata header not specified",
        ));
    }
    let res = c.query("resource").unwrap_or_default().to_string();
    let i = st
        .opts
        .managed
        .filter(|_| c.query("api-version").is_some() && !res.is_empty());
    let i = i.filter(|i| {
        c.query("client_id")
            .is_none_or(|id| Some(id) == st.opts.clients.get(*i).map(|c| c.0.as_str()))
    });
    let i = i.ok_or_else(|| aad(400, "invalid_request", "AADSTS0: Identity not found"))?;
    let at = issue(st, i);
    let on = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let mut body = json!({ "access_token": at, "expires_on": on.to_string(), "resource": res, "token_type": "Bearer" });
    if header == "metadata" {
        body["expires_in"] = json!("3599");
    }
    Ok(Reply::json(200, &body))
}

/// The route's subscription and resource group exist; true for `privateDnsZones`.
fn scope(c: &Call) -> Result<bool, Reply> {
    let (sub, rg) = (c.param("sub"), c.param("rg"));
    if sub != SUB {
        return Err(err(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
            false,
        ));
    }
    if !rg.is_empty() && !rg.eq_ignore_ascii_case(RG) {
        return Err(err(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
            false,
        ));
    }
    let private = match c.param("zt").to_ascii_lowercase().as_str() {
        "dnszones" => false,
        "privatednszones" => true,
        t => {
            return Err(err(
                404,
                "InvalidResourceType",
                &format!("The resource type '{t}' could not be found."),
                false,
            ));
        }
    };
    Ok(private)
}

/// The client the bearer token was issued to.
fn client(st: &State, c: &Call) -> (String, FakeToken) {
    st.opts.clients[c
        .principal
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)]
    .clone()
}

/// The zone named by the route, if the caller's role reaches it and it is of the route's type.
fn zone(st: &State, c: &Call, write: bool) -> Result<(FakeZone, bool), Reply> {
    let private = scope(c)?;
    let name = dns_name(c.param("zone"));
    let found = st
        .store
        .zone_named(&name)
        .filter(|z| st.opts.private.contains(&z.name) == private);
    let (client, tok) = client(st, c);
    if !tok.may(&name) || (write && !tok.dns_edit) {
        let m = format!(
            "The client '{client}' with object id '{client}' does not have authorization to perform action \
            'Microsoft.Network/{}/TXT/{}' over scope '{}' or the scope is invalid.",
            c.param("zt"),
            if write { "write" } else { "read" },
            c.path
        );
        return Err(err(403, "AuthorizationFailed", &m, false));
    }
    let m = format!(
        "Can not perform requested operation on nested resource. Parent resource '{name}' not found."
    );
    let z = found
        .cloned()
        .ok_or_else(|| err(404, "ParentResourceNotFound", &m, false))?;
    if c.param("type").is_empty() || c.param("type").eq_ignore_ascii_case("TXT") {
        return Ok((z, private));
    }
    Err(err(
        400,
        "BadRequest",
        "Only TXT record sets are served by this fake.",
        true,
    ))
}

/// `$top` items from `$skipToken`, with a `nextLink` when more remain.
fn page(c: &Call, max: usize, items: Vec<Value>) -> Reply {
    let top = c
        .query("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(100)
        .clamp(1, max);
    let skip: usize = c
        .query("$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = json!({ "value": items.iter().skip(skip).take(top).collect::<Vec<_>>() });
    if skip + top < items.len() {
        let (scheme, host) = (
            c.header("x-forwarded-proto").unwrap_or("http"),
            c.header("host").unwrap_or("127.0.0.1"),
        );
        let v = c.query("api-version").unwrap_or_default();
        body["nextLink"] = json!(format!(
            "{scheme}://{host}{}?api-version={v}&$top={top}&$skipToken={}",
            c.raw_path(),
            skip + top
        ));
    }
    Reply::json(200, &body)
}

fn list_zones(st: &mut State, c: &Call) -> Answer {
    let (private, (_, tok)) = (scope(c)?, client(st, c));
    let t = if private {
        "privateDnsZones"
    } else {
        "dnszones"
    };
    let mut zones: Vec<&FakeZone> = st
        .store
        .zones
        .iter()
        .filter(|z| st.opts.private.contains(&z.name) == private && tok.may(&z.name))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let items = zones.iter().map(|z| json!({ "id": format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/{t}/{}", z.name),
        "name": z.name, "type": format!("Microsoft.Network/{t}"), "location": "global", "etag": format!("\"{}\"", &z.id[..8]), "tags": {},
        "properties": { "maxNumberOfRecordSets": 10000, "numberOfRecordSets": st.store.in_zone(&z.name).len(), "zoneType": if private { "Private" } else { "Public" },
            "nameServers": ["ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."] } }));
    Ok(page(c, st.opts.max_top, items.collect()))
}

/// The TXT records at `fqdn`.
fn set_of(store: &RecordStore, fqdn: &str) -> Vec<FakeRecord> {
    let zone = zone_of(store, fqdn).unwrap_or_default();
    store
        .in_zone(&zone)
        .into_iter()
        .filter(|r| r.rtype == "TXT" && r.name == fqdn)
        .collect()
}

/// A set's ETag: changes with every write (record ids are new on each).
fn etag(set: &[FakeRecord]) -> String {
    let mut h = DefaultHasher::new();
    set.iter()
        .for_each(|r| (&r.id, &r.content, r.ttl).hash(&mut h));
    let x = h.finish();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xffff,
        x >> 48,
        x & 0xffff_ffff_ffff
    )
}

/// The strings of a presentation-form TXT content (`"a" "b"`).
fn strings(content: &str) -> Vec<String> {
    let (mut out, mut cur, mut esc) = (vec![], None::<String>, false);
    for ch in content.chars() {
        match (cur.as_mut(), ch) {
            (None, '"') => cur = Some(String::new()),
            (Some(s), _) if esc => (s.push(ch), esc = false).1,
            (Some(_), '\\') => esc = true,
            (Some(_), '"') => out.extend(cur.take()),
            (Some(s), _) => s.push(ch),
            (None, _) => {}
        }
    }
    out
}

fn set_json(z: &FakeZone, private: bool, rel: &str, set: &[FakeRecord]) -> Value {
    let t = if private {
        "privateDnsZones"
    } else {
        "dnszones"
    };
    let (ttl, txt) = if private {
        ("ttl", "txtRecords")
    } else {
        ("TTL", "TXTRecords")
    };
    let fqdn = if rel == "@" {
        format!("{}.", z.name)
    } else {
        format!("{rel}.{}.", z.name)
    };
    let meta = set
        .first()
        .and_then(|r| serde_json::from_str(r.comment.as_deref()?).ok())
        .unwrap_or(json!({}));
    let records: Vec<Value> = set
        .iter()
        .map(|r| json!({ "value": strings(&r.content) }))
        .collect();
    json!({ "id": format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/{t}/{}/TXT/{rel}", z.name),
        "name": rel, "type": format!("Microsoft.Network/{t}/TXT"), "etag": etag(set),
        "properties": { "metadata": meta, ttl: set.first().map_or(3600, |r| r.ttl), "fqdn": fqdn, "provisioningState": "Succeeded", txt: records } })
}

fn fqdn(z: &FakeZone, rel: &str) -> String {
    if rel == "@" {
        z.name.clone()
    } else {
        format!("{}.{}", dns_name(rel), z.name)
    }
}

fn list_sets(st: &mut State, c: &Call) -> Answer {
    let (z, private) = zone(st, c, false)?;
    let mut names: Vec<String> = st
        .store
        .in_zone(&z.name)
        .into_iter()
        .filter(|r| r.rtype == "TXT")
        .map(|r| r.name)
        .collect();
    names.dedup();
    let rel = |n: &str| {
        n.strip_suffix(&z.name)
            .map(|r| r.trim_end_matches('.'))
            .filter(|r| !r.is_empty())
            .unwrap_or("@")
            .to_string()
    };
    let items = names
        .iter()
        .map(|n| set_json(&z, private, &rel(n), &set_of(&st.store, n)))
        .collect();
    Ok(page(c, st.opts.max_top, items))
}

fn missing(c: &Call) -> Reply {
    let m = format!(
        "The resource record '{}' does not exist in resource group '{}' of subscription '{SUB}'.",
        c.param("name"),
        c.param("rg")
    );
    err(404, "NotFound", &m, true)
}

fn get_set(st: &mut State, c: &Call) -> Answer {
    let (z, private) = zone(st, c, false)?;
    let set = set_of(&st.store, &fqdn(&z, c.param("name")));
    if set.is_empty() {
        return Err(missing(c));
    }
    Ok(Reply::json(200, &set_json(&z, private, c.param("name"), &set)).header("ETag", etag(&set)))
}

/// `If-Match` / `If-None-Match: *` against the set's ETag.
fn precondition(c: &Call, set: &[FakeRecord]) -> Result<(), Reply> {
    let m = c
        .header("if-match")
        .is_some_and(|e| set.is_empty() || (e != "*" && e.trim_matches('"') != etag(set)));
    if m || (c.header("if-none-match") == Some("*") && !set.is_empty()) {
        let m = format!(
            "The Record set {} has been modified (etag mismatch).",
            c.param("name")
        );
        return Err(err(412, "PreconditionFailed", &m, true));
    }
    Ok(())
}

fn put_set(st: &mut State, c: &Call) -> Answer {
    let (z, private) = zone(st, c, true)?;
    let name = fqdn(&z, c.param("name"));
    let old = set_of(&st.store, &name);
    precondition(c, &old)?;
    let bad = |m: &str| err(400, "BadRequest", m, true);
    let body = c
        .json()
        .ok_or_else(|| bad("The request body is not valid JSON."))?;
    let (ttl_key, txt_key) = if private {
        ("ttl", "txtRecords")
    } else {
        ("TTL", "TXTRecords")
    };
    let p = &body["properties"];
    let ttl = p[ttl_key]
        .as_u64()
        .filter(|t| *t <= 2_147_483_647)
        .ok_or_else(|| bad("The TTL of the record set is missing or invalid."))?;
    let records = p[txt_key].as_array().cloned().unwrap_or_default();
    if records.len() > 20 {
        return Err(bad(
            "The number of records in the record set exceeds the limit of 20.",
        ));
    }
    let mut new = Vec::new();
    for r in &records {
        let s: Vec<&str> = r["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if s.is_empty() || s.iter().any(|s| s.len() > 255) {
            return Err(bad(
                "A TXT record's value must be a list of 1 to 255 character strings.",
            ));
        }
        let content: Vec<String> = s.iter().map(|s| txt_rdata(s)).collect();
        let mut rec = FakeRecord::new(&z, "TXT", &name, &content.join(" "), ttl as u32)?;
        rec.comment = p.get("metadata").map(Value::to_string);
        new.push(rec);
    }
    st.store.edit(|s: &mut RecordStore| {
        old.iter().for_each(|r| s.put(Some(&r.id), None));
        new.iter().for_each(|r| s.put(None, Some(r.clone())));
        Ok::<_, KitError>(())
    })?;
    let status = if old.is_empty() { 201 } else { 200 };
    Ok(
        Reply::json(status, &set_json(&z, private, c.param("name"), &new))
            .header("ETag", etag(&new)),
    )
}

fn delete_set(st: &mut State, c: &Call) -> Answer {
    let (z, _) = zone(st, c, true)?;
    let old = set_of(&st.store, &fqdn(&z, c.param("name")));
    if old.is_empty() {
        return Ok(Reply::text(204, "application/json", ""));
    }
    precondition(c, &old)?;
    st.store.edit(|s: &mut RecordStore| {
        old.iter().for_each(|r| s.put(Some(&r.id), None));
        Ok::<_, KitError>(())
    })?;
    Ok(Reply::text(200, "application/json", ""))
}
