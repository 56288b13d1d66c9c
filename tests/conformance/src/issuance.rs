//! The end-to-end case every provider with a fake runs: a wildcard + apex certificate issued by
//! Pebble through the whole tool (config, the registry, lego's environment names, the session),
//! with the fake's records landing in a real BIND zone that Pebble validates.

use std::collections::BTreeMap;
use std::time::Duration;

use wildcert_manager::renew::{Outcome, RenewOptions};
use wildcert_manager::session::Session;
use wildcert_manager::{Loaded, Overrides};
use wildcert_testkit::{BindOptions, BindTopology, Pebble, PebbleOptions};

/// The zone [`issue_wildcard_and_apex`] certifies.
pub const ZONE: &str = "example.test";

/// The challenge name both values of the certificate go to.
pub const CHALLENGE: &str = "_acme-challenge.example.test";

/// BIND serving [`ZONE`] (a primary, a prompt and a lagging secondary), or `None` when the test
/// may be skipped here (outside CI without BIND, Pebble or root).
pub fn topology() -> Option<BindTopology> {
    crate::init_logs();
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble() {
        return None;
    }
    let opts = BindOptions {
        zones: vec![ZONE.into()],
        ..Default::default()
    };
    match BindTopology::start(opts) {
        Ok(t) => Some(t),
        Err(e) => panic!("BIND topology: {e:#}"),
    }
}

/// Issues `*.example.test` + `example.test` with provider `kind`, configured only by `env`
/// (lego's variable names), from a Pebble that asks the lagging secondary, while the tool checks
/// propagation at the prompt secondary. Panics (with Pebble's log) unless the certificate was
/// issued within four minutes. The caller's fake must write into `topo`'s primary.
pub async fn issue_wildcard_and_apex(topo: &BindTopology, kind: &str, env: &[(&str, String)]) {
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(topo.lagging_secondary_addr()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("pebble: {e:#}"));
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("state dir: {e}"));
    let config = state.path().join("wildcert.toml");
    let toml =
        format!("[[certificate]]\ndomains = [\"*.{ZONE}\", \"{ZONE}\"]\nprovider = \"{kind}\"\n");
    std::fs::write(&config, toml).unwrap_or_else(|e| panic!("config: {e}"));
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    let o = Overrides {
        server: Some(pebble.directory_url()),
        ca_bundle: Some(pebble.ca_cert_path().to_path_buf()),
        state_dir: Some(state.path().join("store")),
        agree_tos: true,
        resolvers: vec![topo.prompt_secondary_addr().to_string()],
        ..Default::default()
    };
    let loaded = Loaded::load(Some(&config), env, &o).unwrap_or_else(|e| panic!("settings: {e}"));
    let session = Session::open(&loaded).unwrap_or_else(|e| panic!("session: {e}"));
    let opts = RenewOptions::default();
    let run = tokio::time::timeout(Duration::from_secs(240), session.renew(&opts));
    let outcomes = match run.await {
        Ok(Ok(r)) => r.outcomes,
        Ok(Err(e)) => panic!("renew: {e:?}\n{}", pebble.log()),
        Err(_) => panic!("no certificate within 240 s\n{}", pebble.log()),
    };
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes[0].outcome,
        Outcome::Issued,
        "{:?}\n{}",
        outcomes[0],
        pebble.log()
    );
}
