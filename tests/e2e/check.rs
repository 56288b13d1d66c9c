//! `wildcert check` (preflight) and the CAA check before every order, against BIND zones with
//! CAA records. Debian's Pebble 2.4 lists no `caaIdentities`, so a small HTTP server in the
//! test serves Pebble's directory with `meta.caaIdentities = ["pebble.example"]` added.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, json};

/// The CA identity the directory server announces.
const CA: &str = "pebble.example";

struct DirServer {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

/// Serve Pebble's directory (with `caaIdentities` added) at `http://127.0.0.1:PORT/dir`.
fn start_directory(lab: &Lab) -> DirServer {
    wildcert_testkit::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let client = lab.pebble.http_client().expect("client");
    let url = lab.pebble.directory_url();
    let mut directory: serde_json::Value = runtime
        .block_on(async { client.get(url).send().await?.json().await })
        .expect("pebble directory");
    directory["meta"]["caaIdentities"] = serde_json::json!([CA]);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move {
        // Ends when the test drops the runtime.
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = directory.to_string();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    DirServer {
        url: format!("http://{addr}/dir"),
        _runtime: runtime,
    }
}

fn opts(zones: &[&str], extra: &[&str]) -> BindOptions {
    BindOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        extra_records: extra.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

/// A config allowing the http:// directory of the test server.
fn config(lab: &Lab) -> String {
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(&path, "[acme]\nallow_insecure_http = true\n").expect("config");
    path.to_str().expect("utf-8").to_string()
}

fn run(lab: &Lab, dir: &DirServer, args: &[&str]) -> Run {
    run_env(lab, dir, args, &[])
}

fn run_env(lab: &Lab, dir: &DirServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    let cfg = config(lab);
    let mut all = vec!["--config", cfg.as_str()];
    all.extend_from_slice(args);
    lab.wildcert_at(&dir.url, &all, env)
}

/// Findings of one check, as (status, message, hint).
fn findings(v: &serde_json::Value, check: &str) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check)
        .map(|f| {
            (
                f["status"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap_or("").to_string(),
                f["hint"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn primary_log(lab: &Lab) -> String {
    let path = lab
        .bind
        .log_path(lab.bind.primary_addr())
        .expect("primary log");
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn allowing_caa_passes_with_propagation_per_server() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test"],
            &[&format!("@ 60 IN CAA 0 issue \"{CA}\"")],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    lab.bind
        .add_records(
            "example.test",
            &["_acme-challenge.example.test. 60 IN TXT \"not-ours\""],
        )
        .expect("seed foreign TXT");
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    assert_eq!(v["ok"], true, "{}", r.all());
    assert_eq!(
        v["names"],
        serde_json::json!(["*.example.test", "example.test"])
    );
    // CAA: one pass per name, naming the record and where it sits.
    let caa = findings(&v, "caa");
    assert_eq!(caa.len(), 2, "{caa:?}");
    for (status, msg, _) in &caa {
        assert_eq!(status, "pass", "{caa:?}");
        assert!(
            msg.contains("at example.test") && msg.contains(&format!("0 issue \"{CA}\"")),
            "{msg}"
        );
    }
    // Every nameserver answered, and both showed the probe, each with its own time.
    let ns = findings(&v, "nameserver");
    assert_eq!(ns.len(), 2, "{ns:?}");
    assert!(
        ns.iter()
            .all(|(s, m, _)| s == "pass" && m.contains("serial")),
        "{ns:?}"
    );
    let prop = findings(&v, "propagation");
    assert_eq!(prop.len(), 2, "{prop:?}");
    for host in ["ns1.example.test", "ns2.example.test"] {
        assert!(
            prop.iter().any(|(s, m, _)| s == "pass"
                && m.contains(host)
                && m.contains("served the probe after")),
            "{host}: {prop:?}"
        );
    }
    assert!(
        findings(&v, "cleanup").iter().all(|(s, _, _)| s == "pass"),
        "{}",
        r.all()
    );
    // The foreign value is reported as not ours, and survives.
    let orphans = findings(&v, "orphans");
    assert!(
        orphans.iter().any(|(s, m, _)| s == "warn"
            && m.contains("not-ours")
            && m.contains("not published by this wildcert")),
        "{orphans:?}"
    );
    assert_eq!(
        lab.primary_txt("_acme-challenge.example.test"),
        ["not-ours"]
    );
    let secret = lab.bind.tsig_secret_b64();
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));

    // The human form: grouped lines with the status first.
    let r = run(
        &lab,
        &dir,
        &[
            "check",
            "-d",
            "www.example.test",
            "-d",
            "*.example.test",
            "--dns",
            "rfc2136",
        ],
    );
    eprintln!("{}", r.stdout);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("[www.example.test]"), "{}", r.all());
    assert!(
        r.stdout.lines().any(|l| l.starts_with("PASS  caa")),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.lines().any(|l| l.starts_with("PASS  propagation")),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("hint: "), "{}", r.all());
}

#[test]
fn forbidding_caa_fails_check_and_issue_places_no_order() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test"],
            &["@ 60 IN CAA 0 issue \"other-ca.example\""],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    // issue first: it must stop before the order, so nothing is ever published.
    let r = run(
        &lab,
        &dir,
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        first.starts_with("error: CAA forbids issuance for www.example.test:")
            && first.contains("0 issue \"other-ca.example\"")
            && first.contains("at example.test"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("hint: "), "{}", r.all());
    assert!(
        !primary_log(&lab).contains("updating zone"),
        "a record was published"
    );
    assert!(
        !lab.state_dir()
            .join("certs/www.example.test/meta.json")
            .exists(),
        "an order was placed"
    );

    // `check` says the same, naming the record and the fix.
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    let v = json(&r);
    assert_eq!(v["ok"], false);
    let caa = findings(&v, "caa");
    assert!(
        caa.iter().any(|(s, m, h)| s == "fail"
            && m.contains("0 issue \"other-ca.example\"")
            && h.contains(&format!("0 issue \"{CA}\""))),
        "{caa:?}"
    );

    // `[dns] caa_check = false` turns the gate off (Pebble itself does not check CAA).
    let off = lab.state_dir().join("caa-off.toml");
    std::fs::write(
        &off,
        "[acme]\nallow_insecure_http = true\n[dns]\ncaa_check = false\n",
    )
    .expect("config");
    let r = lab.wildcert_at(
        &dir.url,
        &[
            "--config",
            off.to_str().expect("utf-8"),
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
}

#[test]
fn wrong_tsig_secret_fails_the_probe() {
    let Some(lab) = Lab::start(opts(&["example.test"], &[]), false) else {
        return;
    };
    let dir = start_directory(&lab);
    let r = run_env(
        &lab,
        &dir,
        &["--json", "check", "-d", "example.test", "--dns", "rfc2136"],
        &[
            ("RFC2136_TSIG_FILE", ""),
            ("RFC2136_TSIG_KEY", lab.bind.tsig_key_name()),
            ("RFC2136_TSIG_ALGORITHM", lab.bind.tsig_algorithm()),
            (
                "RFC2136_TSIG_SECRET",
                "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=",
            ),
        ],
    );
    assert_eq!(r.code, Some(3), "{}", r.all());
    let v = json(&r);
    let probe = findings(&v, "probe");
    assert!(
        probe.iter().any(|(s, m, h)| s == "fail"
            && m.contains("credentials refused")
            && m.contains("TSIG")
            && !h.is_empty()),
        "{probe:?}"
    );
    assert!(!r.stdout.contains("d3Jvbmctc2VjcmV0") && !r.stderr.contains("d3Jvbmctc2VjcmV0"));
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

#[test]
fn accounturi_must_match_our_account() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test"],
            &[&format!(
                "@ 60 IN CAA 0 issue \"{CA}; accounturi=https://ca.example/acct/999\""
            )],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    let args = [
        "--json",
        "check",
        "-d",
        "example.test",
        "--dns",
        "rfc2136",
        "--no-probe",
    ];
    // No account yet: cannot be compared, a warning.
    let r = run(&lab, &dir, &args);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter()
            .any(|(s, m, _)| s == "warn" && m.contains("accounturi")),
        "{caa:?}"
    );

    let r = run(&lab, &dir, &["--json", "account", "register"]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    // Now ours is known and differs: forbidden.
    let r = run(&lab, &dir, &args);
    assert_eq!(r.code, Some(4), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter()
            .any(|(s, m, _)| s == "fail" && m.contains("accounturi") && m.contains("acct/999")),
        "{caa:?}"
    );

    // A set naming our account allows it, and issue passes the gate.
    let account: serde_json::Value = {
        let accounts = lab.state_dir().join("accounts");
        let host = std::fs::read_dir(&accounts)
            .expect("accounts")
            .flatten()
            .next()
            .expect("one CA")
            .path();
        serde_json::from_slice(
            &std::fs::read(host.join("default/account.json")).expect("account.json"),
        )
        .expect("json")
    };
    let url = account["url"].as_str().expect("url");
    lab.bind
        .add_records(
            "example.test",
            &[&format!(
                "good 60 IN CAA 0 issue \"{CA}; accounturi={url}; validationmethods=dns-01\""
            )],
        )
        .expect("CAA for good");
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "good.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter()
            .any(|(s, m, _)| s == "pass" && m.contains("at good.example.test")),
        "{caa:?}"
    );
    let r = run(
        &lab,
        &dir,
        &["issue", "-d", "good.example.test", "--dns", "rfc2136"],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());

    // validationmethods without dns-01 forbids.
    lab.bind
        .add_records(
            "example.test",
            &[&format!(
                "http 60 IN CAA 0 issue \"{CA}; validationmethods=http-01\""
            )],
        )
        .expect("CAA for http");
    let r = run(
        &lab,
        &dir,
        &["issue", "-d", "http.example.test", "--dns", "rfc2136"],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    assert!(r.stderr.contains("validationmethods"), "{}", r.all());
}

#[test]
fn critical_unknown_tag_forbids() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test"],
            &[
                &format!("@ 60 IN CAA 0 issue \"{CA}\""),
                "@ 60 IN CAA 128 tbs \"x\"",
            ],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "*.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter()
            .any(|(s, m, _)| s == "fail" && m.contains("128 tbs \"x\"") && m.contains("critical")),
        "{caa:?}"
    );
}

#[test]
fn dead_nameserver_is_named() {
    let Some(mut lab) = Lab::start(opts(&["example.test"], &[]), false) else {
        return;
    };
    let dead = lab.bind.lagging_secondary_addr();
    lab.bind.stop_server(dead).expect("stop");
    let dir = start_directory(&lab);
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "--propagation-timeout",
            "5s",
            "check",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
        ],
    );
    assert_eq!(r.code, Some(3), "{}", r.all());
    let v = json(&r);
    let ns = findings(&v, "nameserver");
    let needle = format!("ns2.example.test ({dead})");
    assert!(
        ns.iter().any(|(s, m, h)| s == "fail"
            && m.contains(&needle)
            && m.contains("does not answer")
            && !h.is_empty()),
        "{ns:?}"
    );
    assert!(
        ns.iter()
            .any(|(s, m, _)| s == "pass" && m.contains("ns1.example.test")),
        "{ns:?}"
    );
    let prop = findings(&v, "propagation");
    assert!(
        prop.iter()
            .any(|(s, m, _)| s == "fail" && m.contains(&needle)),
        "{prop:?}"
    );
    assert!(
        prop.iter()
            .any(|(s, m, _)| s == "pass" && m.contains("ns1.example.test")),
        "{prop:?}"
    );
    // The probe is removed even so.
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

#[test]
fn lagging_secondary_shows_its_own_time() {
    let Some(lab) = Lab::start(opts(&["example.test"], &[]), false) else {
        return;
    };
    let dir = start_directory(&lab);
    // A new serial: the NOTIFYed secondary has it at once, the lagging one within 5 s, so the
    // check may catch them disagreeing.
    lab.bind
        .add_records("example.test", &["bump 60 IN A 192.0.2.1"])
        .expect("bump serial");
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "a.example.test",
            "--dns",
            "rfc2136",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    let serial = findings(&v, "serial");
    assert_eq!(serial.len(), 1, "{serial:?}");
    let (status, msg, hint) = &serial[0];
    if status == "warn" {
        assert!(
            msg.contains("ns1.example.test") && msg.contains("ns2.example.test"),
            "{msg}"
        );
        assert!(hint.contains("secondary"), "{hint}");
    } else {
        assert_eq!(status, "pass", "{serial:?}");
    }
    let prop = findings(&v, "propagation");
    let time = |host: &str| -> f64 {
        prop.iter()
            .find(|(s, m, _)| s == "pass" && m.contains(host))
            .and_then(|(_, m, _)| m.split("after ").nth(1)?.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{host}: {prop:?}"))
    };
    // The prompt server is NOTIFYed; the lagging one polls every 5 s.
    let (prompt, lagging) = (time("ns1.example.test"), time("ns2.example.test"));
    assert!(prompt < 5.5 && lagging < 10.0, "{prop:?}");
}

#[test]
fn cname_delegation_chain_is_shown() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test", "delegated.test"],
            &["_acme-challenge.www 60 IN CNAME www.delegated.test."],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    let cname = findings(&v, "cname");
    assert!(
        cname.iter().any(|(s, m, _)| s == "pass"
            && m.contains("_acme-challenge.www.example.test → www.delegated.test")),
        "{cname:?}"
    );
    let zone = findings(&v, "zone");
    assert!(
        zone.iter()
            .any(|(_, m, _)| m.contains("zone delegated.test")),
        "{zone:?}"
    );
    let probe = findings(&v, "probe");
    assert!(
        probe
            .iter()
            .any(|(s, m, _)| s == "pass" && m.contains("www.delegated.test")),
        "{probe:?}"
    );
    assert!(lab.primary_txt("www.delegated.test").is_empty());
}

#[test]
fn split_horizon_is_hinted() {
    // The lab's resolver (an "internal" view of example.test) against other servers given as
    // the authoritative ones (the "public" view, one change ahead).
    let Some(lab) = Lab::start(opts(&["example.test"], &[]), false) else {
        return;
    };
    let public = wildcert_testkit::BindTopology::start(opts(&["example.test"], &[])).expect("bind");
    public
        .add_records("example.test", &["www 60 IN A 192.0.2.80"])
        .expect("public change");
    let server = public.prompt_secondary_addr();
    let start = std::time::Instant::now();
    // Bounded: the NOTIFYed secondary has the change within milliseconds.
    while public.soa_serial(server, "example.test").ok().flatten() == Some(1) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "public secondary never updated"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = start_directory(&lab);
    let auth = server.to_string();
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "--authoritative",
            &auth,
            "check",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let sh = findings(&json(&r), "split-horizon");
    assert!(
        sh.iter().any(|(s, m, h)| s == "warn"
            && m.contains("the resolvers see serial 1")
            && h.contains("public view")),
        "{sh:?}"
    );
}

#[test]
fn orphans_from_the_journal_are_ours_and_the_hint_removes_them() {
    let Some(lab) = Lab::start(opts(&["example.test"], &[]), false) else {
        return;
    };
    let dir = start_directory(&lab);
    let name = "_acme-challenge.orphan.example.test";
    lab.bind
        .add_records(
            "example.test",
            &[
                &format!("{name}. 60 IN TXT \"left-by-crash\""),
                &format!("{name}. 60 IN TXT \"someone-else\""),
            ],
        )
        .expect("seed");
    // A journal entry of a run that died (no such pid) that had published "left-by-crash".
    let journal = lab.state_dir().join("journal");
    std::fs::create_dir_all(&journal).expect("journal dir");
    let plan = serde_json::json!({
        "provider": "rfc2136",
        "zones": [{
            "zone": {"name": "example.test"},
            "records": {"records": {name: ["left-by-crash"]}, "ttl": 60},
            "servers": []
        }],
        "delegations": []
    });
    let entry = serde_json::json!({"provider": "rfc2136", "plan": plan, "pid": 999_999_999u32, "created": "2026-01-01T00:00:00Z"});
    std::fs::write(journal.join("1-999999999-00000000.json"), entry.to_string()).expect("journal");

    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "orphan.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let orphans = findings(&json(&r), "orphans");
    assert!(
        orphans.iter().any(|(s, m, h)| s == "warn"
            && m.contains("left-by-crash")
            && m.contains("interrupted wildcert run")
            && h.contains("wildcert renew")),
        "{orphans:?}"
    );
    assert!(
        orphans.iter().any(|(s, m, _)| s == "warn"
            && m.contains("someone-else")
            && m.contains("not published by this wildcert")),
        "{orphans:?}"
    );
    // What the hint says: the next run removes ours, and only ours.
    let r = run(
        &lab,
        &dir,
        &["issue", "-d", "orphan.example.test", "--dns", "rfc2136"],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert_eq!(lab.primary_txt(name), ["someone-else"]);
}

#[test]
fn cname_at_the_name_and_issuewild_are_honoured() {
    let Some(lab) = Lab::start(
        opts(
            &["example.test"],
            &[
                &format!("@ 60 IN CAA 0 issue \"{CA}\""),
                "alias 60 IN CNAME target.example.test.",
                "target 60 IN CAA 0 issue \"other-ca.example\"",
                &format!("wild 60 IN CAA 0 issue \"{CA}\""),
                "wild 60 IN CAA 0 issuewild \";\"",
            ],
        ),
        false,
    ) else {
        return;
    };
    let dir = start_directory(&lab);
    // The CNAME's target holds the relevant set (RFC 8659 §3), not the apex.
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "alias.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter().any(|(s, m, _)| s == "fail"
            && m.contains("at alias.example.test (via CNAME to target.example.test)")
            && m.contains("other-ca.example")),
        "{caa:?}"
    );
    // issuewild ";" forbids the wildcard only.
    let r = run(
        &lab,
        &dir,
        &[
            "--json",
            "check",
            "-d",
            "*.wild.example.test",
            "-d",
            "wild.example.test",
            "--dns",
            "rfc2136",
            "--no-probe",
        ],
    );
    assert_eq!(r.code, Some(4), "{}", r.all());
    let caa = findings(&json(&r), "caa");
    assert!(
        caa.iter().any(|(s, m, _)| s == "fail"
            && m.starts_with("*.wild.example.test: ")
            && m.contains("`issuewild`")
            && m.contains("0 issuewild \";\"")),
        "{caa:?}"
    );
    assert!(
        caa.iter()
            .any(|(s, m, _)| s == "pass" && m.starts_with("wild.example.test: ")),
        "{caa:?}"
    );
}
