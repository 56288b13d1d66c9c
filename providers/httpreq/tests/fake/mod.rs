//! A fake in-house DNS service of the kind lego's httpreq provider talks to (lego's httpreq
//! documentation: the server provides `POST /present` and `POST /cleanup`; default mode body
//! `{"fqdn": "_acme-challenge.domain.", "value": "…"}`, optional HTTP basic authentication; any
//! 2xx is success), on the kit's router under a path prefix (an endpoint with a path, as
//! `HTTPREQ_ENDPOINT=https://host/acme` gives). `present` adds the value to the TXT set of the
//! name in the zone that holds it (a value already there is kept once), `cleanup` removes that
//! one value (a value already gone is no error); either answers `200 {"ok": true}`. Refusals are
//! `{"error": …}`: 401 with `WWW-Authenticate` for missing or wrong credentials, 400 for a body
//! without `fqdn` and `value` (e.g. lego's RAW mode body), 404 for a name in no zone of the
//! service, 429 with `Retry-After` when throttled. With [`HttpreqFakeOptions::backed_by`] every
//! change lands in the BIND topology's primary before the service answers. Proven by lego's own
//! httpreq provider (tests/it/lego.rs).

use std::ops::Deref;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use wildcert_testkit::{BindTopology, Call, FakeRecord, FakeServer, HoldsRecords, KitError};
use wildcert_testkit::{RecordStore, Reply, Router, ZoneMirror, dns_name, unquote_txt};

/// The path the service answers under (the endpoint is `http://127.0.0.1:PORT/acme`).
pub const PREFIX: &str = "/acme";

/// Options for [`HttpreqFake::start`].
#[derive(Debug, Clone)]
pub struct HttpreqFakeOptions {
    /// The zones the service manages.
    pub zones: Vec<String>,
    /// Basic authentication required (user, password), or none.
    pub basic: Option<(String, String)>,
    /// Mirror TXT changes into real DNS.
    pub dns: Option<ZoneMirror>,
}

impl Default for HttpreqFakeOptions {
    fn default() -> Self {
        HttpreqFakeOptions {
            zones: vec!["example.test".into()],
            basic: None,
            dns: None,
        }
    }
}

impl HttpreqFakeOptions {
    /// Options serving the topology's zones and mirroring changes into them.
    pub fn backed_by(topo: &BindTopology) -> Self {
        let (zones, dns) = (topo.zones().to_vec(), Some(ZoneMirror::of(topo)));
        HttpreqFakeOptions {
            zones,
            dns,
            ..Default::default()
        }
    }
}

/// What the service holds.
#[derive(Debug)]
pub struct State {
    store: RecordStore,
    opts: HttpreqFakeOptions,
}

impl HoldsRecords for State {
    fn store(&mut self) -> &mut RecordStore {
        &mut self.store
    }
}

/// The running service; stopped on drop.
#[derive(Debug)]
pub struct HttpreqFake(FakeServer<State>);

impl Deref for HttpreqFake {
    type Target = FakeServer<State>;
    fn deref(&self) -> &FakeServer<State> {
        &self.0
    }
}

/// The service's refusal.
pub fn err(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message })).tag(message)
}

impl HttpreqFake {
    /// Start on a free loopback port.
    pub fn start(opts: HttpreqFakeOptions) -> Result<HttpreqFake, KitError> {
        let store = RecordStore::new(&opts.zones, opts.dns.clone())?;
        let server = Router::new("httpreq")
            .prefix(PREFIX)
            .auth(authenticate)
            .route("POST /present", |st: &mut State, c| change(st, c, true))
            .route("POST /cleanup", |st: &mut State, c| change(st, c, false))
            .fallback(|c, known| {
                err(
                    [404, 405][usize::from(known)],
                    &format!("no route {}", c.path),
                )
            });
        Ok(HttpreqFake(server.start(State { store, opts })?))
    }

    /// `http://127.0.0.1:PORT/acme`: what goes into `endpoint` / `HTTPREQ_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.url()
    }

    /// Answer every request with 429 for `d` from now.
    pub fn rate_limit_for(&self, d: Duration) {
        self.block_for(d, |left| {
            let secs = left.as_secs().max(1).to_string();
            err(429, "too many requests").header("Retry-After", secs)
        });
    }
}

fn authenticate(st: &State, c: &mut Call) -> Result<(), Reply> {
    let Some((user, password)) = &st.opts.basic else {
        return Ok(());
    };
    let given = c
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "));
    let given = given.and_then(|b| {
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
    });
    let want = format!("{user}:{password}");
    if given.as_deref() == Some(want.as_bytes()) {
        c.principal = Some(user.clone());
        return Ok(());
    }
    let refused = err(401, "unauthorized");
    Err(refused.header("WWW-Authenticate", "Basic realm=\"acme\""))
}

/// `present` (add) or `cleanup` (remove) one value.
fn change(st: &mut State, c: &Call, add: bool) -> Result<Reply, Reply> {
    let body = c.json().unwrap_or(Value::Null);
    let (Some(fqdn), Some(value)) = (body["fqdn"].as_str(), body["value"].as_str()) else {
        return Err(err(400, "the body must be {\"fqdn\": …, \"value\": …}"));
    };
    let name = dns_name(fqdn);
    let zone = st
        .store
        .zones
        .iter()
        .filter(|z| name == z.name || name.ends_with(&format!(".{}", z.name)));
    let zone = zone.max_by_key(|z| z.name.len()).cloned();
    let zone = zone.ok_or_else(|| err(404, &format!("no zone of this service holds {name}")))?;
    let mine =
        |r: &FakeRecord| r.rtype == "TXT" && r.name == name && unquote_txt(&r.content) == value;
    let there = st.store.records.iter().any(mine);
    if add && !there {
        let rec = FakeRecord::new(&zone, "TXT", &name, value, 60)?;
        st.store.change(None, Some(rec))?;
    } else if !add && there {
        st.store.edit(|s| {
            s.records.retain(|r| !mine(r));
            Ok::<(), KitError>(())
        })?;
    }
    Ok(Reply::json(200, &json!({ "ok": true })))
}
