//! Integration tests of the test kit itself: the servers start, answer and are torn down.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use wildcert_testkit::{
    BindOptions, BindTopology, ChallTestSrv, FakeRecord, KitError, Pebble, PebbleOptions,
    RecordStore, ResolverOptions, ZoneMirror, install_crypto_provider,
};

fn dig_txt(server: SocketAddr, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+short", "+tries=1", "+time=2", "TXT", name])
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_matches('"').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn pebble_and_challtestsrv_start() {
    if !wildcert_testkit::require_pebble() || !wildcert_testkit::require("dig") {
        return;
    }
    let t = Instant::now();
    let cts = ChallTestSrv::start().expect("start challtestsrv");
    eprintln!("challtestsrv started in {:?}", t.elapsed());
    let t = Instant::now();
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(cts.dns_addr()),
        ..PebbleOptions::default()
    })
    .expect("start pebble");
    eprintln!("pebble started in {:?}", t.elapsed());

    let log = pebble.log();
    assert!(log.contains("reject 0% of good nonces"), "{log}");
    assert!(log.contains("authz reuse for each identifier 0%"), "{log}");

    // The directory answers over TLS with the listener CA.
    install_crypto_provider();
    let client = pebble.http_client().expect("client");
    let dir: serde_json::Value = client
        .get(pebble.directory_url())
        .send()
        .await
        .expect("GET dir")
        .json()
        .await
        .expect("dir json");
    assert!(dir["newOrder"].is_string(), "{dir}");
    assert!(pebble.ca_cert_path().is_file());

    let root = pebble.root_pem(0).await.expect("root");
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    let inter = pebble.intermediate_pem(0).await.expect("intermediate");
    assert!(inter.contains("BEGIN CERTIFICATE"), "{inter}");

    // challtestsrv serves TXT values set through its API.
    let name = "_acme-challenge.example.com";
    cts.set_txt(name, "token-value-1").await.expect("set txt");
    assert_eq!(dig_txt(cts.dns_addr(), name), vec!["token-value-1"]);
    cts.clear_txt(name).await.expect("clear txt");
    assert!(dig_txt(cts.dns_addr(), name).is_empty());

    let dir_path = pebble.log_path().parent().expect("dir").to_owned();
    drop(pebble);
    assert!(!dir_path.exists(), "temp dir removed on drop");
}

#[tokio::test]
async fn pebble_with_eab() {
    if !wildcert_testkit::require_pebble() {
        return;
    }
    let pebble = Pebble::start(PebbleOptions {
        eab_keys: vec![(
            "kid-1".to_owned(),
            "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W".to_owned(),
        )],
        eab_required: true,
        alternate_roots: 1,
        chain_length: Some(3),
        ..PebbleOptions::default()
    })
    .expect("start pebble");
    let client = pebble.http_client().expect("client");
    let dir: serde_json::Value = client
        .get(pebble.directory_url())
        .send()
        .await
        .expect("GET dir")
        .json()
        .await
        .expect("dir json");
    assert_eq!(dir["meta"]["externalAccountRequired"], true, "{dir}");
    let root0 = pebble.root_pem(0).await.expect("root 0");
    let root1 = pebble.root_pem(1).await.expect("alternate root 1");
    assert_ne!(root0, root1);
    assert!(pebble.root_pem(2).await.is_err(), "only one alternate root");
}

fn wait_for_txt(server: SocketAddr, name: &str, value: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    // Bounded: at most limit / 50 ms polls.
    for _ in 0..(limit.as_millis() / 50 + 1) {
        let values = wildcert_testkit::txt_values(server, name).expect("dig");
        if values.iter().any(|v| v == value) {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn bind_topology_propagates_updates() {
    if !wildcert_testkit::require_bind() {
        return;
    }
    let t = Instant::now();
    let topo = BindTopology::start(BindOptions {
        zones: vec!["example.test".to_owned(), "other.test".to_owned()],
        extra_records: vec!["alias IN CNAME _acme-challenge.other.test.".to_owned()],
        ..BindOptions::default()
    })
    .expect("start BIND topology");
    eprintln!("BIND topology started in {:?}", t.elapsed());

    assert_ne!(topo.prompt_secondary_addr(), topo.lagging_secondary_addr());
    assert!(!topo.secondary_addrs().contains(&topo.primary_addr()));
    assert!(topo.tsig_key_file_text().contains(topo.tsig_secret_b64()));
    assert!(topo.tsig_key_file_path().is_file());
    assert_eq!(topo.tsig_algorithm(), "hmac-sha256");

    // The NS set names the secondaries, never the hidden primary.
    let ns = Command::new("dig")
        .arg(format!("@{}", topo.prompt_secondary_addr().ip()))
        .args([
            "+short",
            "+norecurse",
            "A",
            "ns1.example.test",
            "ns2.example.test",
        ])
        .output()
        .expect("dig");
    let ns = String::from_utf8_lossy(&ns.stdout).into_owned();
    assert!(
        ns.contains(&topo.prompt_secondary_addr().ip().to_string()),
        "{ns}"
    );
    assert!(
        ns.contains(&topo.lagging_secondary_addr().ip().to_string()),
        "{ns}"
    );

    let name = "_acme-challenge.example.test";
    topo.add_records("example.test", &["_acme-challenge 1 TXT \"foreign value\""])
        .expect("nsupdate");
    assert_eq!(
        topo.txt_values(topo.primary_addr(), name).expect("dig"),
        vec!["foreign value"]
    );
    let prompt = wait_for_txt(
        topo.prompt_secondary_addr(),
        name,
        "foreign value",
        Duration::from_secs(2),
    );
    let lagging = wait_for_txt(
        topo.lagging_secondary_addr(),
        name,
        "foreign value",
        Duration::from_secs(7),
    );
    eprintln!("prompt secondary after {prompt:?}, lagging after {lagging:?}");
    assert!(
        prompt.is_some(),
        "prompt secondary did not see the update within 2 s"
    );
    assert!(
        lagging.is_some(),
        "lagging secondary did not see the update within 7 s"
    );

    let dir = topo.dir().to_owned();
    let addrs = topo.secondary_addrs();
    drop(topo);
    assert!(!dir.exists(), "temp dir removed");
    let lo = Command::new("ip")
        .args(["-4", "addr", "show", "dev", "lo"])
        .output()
        .expect("ip");
    let lo = String::from_utf8_lossy(&lo.stdout).into_owned();
    for a in addrs {
        assert!(
            !lo.contains(&format!("inet {}/", a.ip())),
            "{a} still on lo"
        );
    }
}

#[test]
fn bind_resolver_follows_cnames() {
    if !wildcert_testkit::require_bind() {
        return;
    }
    let topo = BindTopology::start(BindOptions {
        zones: vec!["example.test".to_owned(), "delegate.test".to_owned()],
        // Added to both zones: example.test's CNAME points into delegate.test.
        extra_records: vec![
            "_acme-challenge.www IN CNAME www.delegate.test.".to_owned(),
            "www IN TXT \"via-cname\"".to_owned(),
        ],
        tsig_algorithm: "hmac-sha512".to_owned(),
        ..BindOptions::default()
    })
    .expect("start BIND topology");
    assert_eq!(topo.tsig_algorithm(), "hmac-sha512");
    assert!(topo.tsig_key_file_text().contains("hmac-sha512"));
    let t = Instant::now();
    let resolver = topo.start_resolver().expect("start resolver");
    eprintln!("resolver started in {:?}", t.elapsed());
    let lagging_view = topo
        .start_resolver_with(ResolverOptions { lagging_only: true })
        .expect("start lagging-only resolver");
    // The authoritative servers answer the CNAME alone; the resolver follows it.
    let direct = topo
        .txt_values(
            topo.prompt_secondary_addr(),
            "_acme-challenge.www.example.test",
        )
        .expect("dig");
    assert!(direct.is_empty(), "{direct:?}");
    for r in [&resolver, &lagging_view] {
        let seen = r
            .txt_values("_acme-challenge.www.example.test")
            .expect("dig");
        assert_eq!(seen, vec!["via-cname"]);
        assert!(
            r.txt_values("nothing.invalid").expect("dig").is_empty(),
            "no answer outside the test zones"
        );
    }
}

fn nsupdate_with_test_key(topo: &BindTopology, record: &str) -> bool {
    let script = format!(
        "server {} 53\nzone example.test.\nupdate add {record}\nsend\n",
        topo.primary_addr().ip()
    );
    let path = topo.dir().join("test-update.txt");
    std::fs::write(&path, script).expect("write script");
    Command::new("nsupdate")
        .arg("-k")
        .arg(topo.tsig_key_file_path())
        .arg(&path)
        .output()
        .expect("run nsupdate")
        .status
        .success()
}

#[test]
fn bind_update_policy_rndc_and_stop() {
    if !wildcert_testkit::require_bind() {
        return;
    }
    let mut topo = BindTopology::start(BindOptions {
        tsig_algorithm: "hmac-sha384".to_owned(),
        lagging_secondary: false,
        ..BindOptions::default()
    })
    .expect("start BIND topology");
    // The test key may change TXT records only.
    assert!(nsupdate_with_test_key(
        &topo,
        "_acme-challenge.example.test. 1 TXT \"k\""
    ));
    assert!(!nsupdate_with_test_key(
        &topo,
        "host.example.test. 1 A 127.0.0.9"
    ));
    assert_eq!(
        topo.txt_values(topo.primary_addr(), "_acme-challenge.example.test")
            .expect("dig"),
        vec!["k"]
    );
    topo.delete_records("example.test", &["_acme-challenge TXT"])
        .expect("delete");
    assert!(
        topo.txt_values(topo.primary_addr(), "_acme-challenge.example.test")
            .expect("dig")
            .is_empty()
    );
    assert_eq!(
        topo.soa_serial(topo.primary_addr(), "example.test")
            .expect("dig"),
        Some(3)
    );

    let status = topo
        .rndc(topo.primary_addr(), &["status"])
        .expect("rndc status");
    assert!(status.contains("server is up and running"), "{status}");

    let dead = topo.lagging_secondary_addr();
    topo.stop_secondary(dead).expect("stop");
    assert!(
        topo.txt_values(dead, "example.test").is_err(),
        "stopped server still answers"
    );
    assert!(topo.stop_secondary(topo.primary_addr()).is_err());
}

#[tokio::test]
async fn upstream_pebble_starts_with_its_options() {
    if !wildcert_testkit::require_pebble_upstream() {
        return;
    }
    let path = wildcert_testkit::upstream_pebble_path().expect("found");
    assert!(
        path.ends_with("pebble-upstream/bin/pebble")
            || std::env::var_os(wildcert_testkit::UPSTREAM_PEBBLE_ENV).is_some()
    );
    let pebble = Pebble::start(PebbleOptions {
        profiles: vec![wildcert_testkit::PebbleProfile {
            name: "sixdays".into(),
            description: "short".into(),
            validity_secs: 6 * 86_400,
        }],
        retry_after: Some((1, 1)),
        caa_identities: vec!["ca.kit.test".into()],
        ..PebbleOptions::upstream()
    })
    .expect("start upstream pebble");
    assert_eq!(pebble.flavor(), wildcert_testkit::PebbleFlavor::Upstream);
    let dir: serde_json::Value = pebble
        .http_client()
        .expect("client")
        .get(pebble.directory_url())
        .send()
        .await
        .expect("GET dir")
        .json()
        .await
        .expect("json");
    assert!(dir["renewalInfo"].is_string(), "{dir}");
    assert_eq!(dir["meta"]["profiles"]["sixdays"], "short", "{dir}");
    assert_eq!(dir["meta"]["caaIdentities"][0], "ca.kit.test", "{dir}");
    // Debian's Pebble has none of these.
    if wildcert_testkit::find_tool("pebble").is_some() {
        let old = Pebble::start(PebbleOptions::default()).expect("start debian pebble");
        let dir: serde_json::Value = old
            .http_client()
            .expect("client")
            .get(old.directory_url())
            .send()
            .await
            .expect("GET dir")
            .json()
            .await
            .expect("json");
        assert!(dir.get("renewalInfo").is_none(), "{dir}");
    }
}

/// A fake's TXT records land in the real zone: each edit puts exactly the changed TXT sets
/// into the primary before it counts, and a refused edit changes neither the store nor DNS.
#[test]
fn record_store_edits_are_mirrored_into_bind() {
    if !wildcert_testkit::require_bind() {
        return;
    }
    let topo = BindTopology::start(BindOptions::default()).expect("BIND topology");
    let mirror = ZoneMirror::of(&topo);
    let name = "_acme-challenge.example.test";
    let mut store = RecordStore::new(
        &["example.test".into(), "elsewhere.test".into()],
        Some(mirror),
    )
    .expect("store");
    let zone = store.zone_named("example.test").cloned().expect("zone");
    let other = store.zone_named("elsewhere.test").cloned().expect("zone");
    let a = FakeRecord::new(&zone, "TXT", name, "\"a\"", 60).expect("record");
    let b = FakeRecord::new(&zone, "TXT", name, "b with \"quotes\"", 1).expect("record");
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    store.change(None, Some(a)).expect("add a");
    store.change(None, Some(b)).expect("add b");
    // A zone BIND does not serve stays in the fake only.
    let outside = FakeRecord::new(&other, "TXT", "x.elsewhere.test", "o", 60).expect("record");
    store.change(None, Some(outside)).expect("kept in the fake");
    let mut served = topo.txt_values(topo.primary_addr(), name).expect("dig");
    served.sort();
    assert_eq!(served, ["a", "b with \"quotes\""]);
    assert_eq!(store.txt_values(name), ["a", "b with \"quotes\""]);

    let refused = store.edit(|s| {
        s.put(Some(&a_id), None);
        Err::<(), KitError>(KitError::new("refused by the host"))
    });
    assert!(refused.is_err());
    assert_eq!(
        topo.txt_values(topo.primary_addr(), name)
            .expect("dig")
            .len(),
        2
    );
    assert_eq!(store.records.len(), 3);

    store.change(Some(&a_id), None).expect("remove a");
    store.change(Some(&b_id), None).expect("remove b");
    assert!(
        topo.txt_values(topo.primary_addr(), name)
            .expect("dig")
            .is_empty()
    );
    assert!(store.txt_values(name).is_empty());
}
