//! The validation methods end to end (`--challenge`, `wildcert persist`) against the newest
//! upstream Pebble, which validates against BIND's *lagging* secondary: dns-account-01 at the
//! account's own label, dns-persist-01 from a standing record with no provider credentials,
//! `auto` choosing each way, and the profile and method recorded in the certificate's meta.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use wildcert_testkit::{
    BindOptions, BindTopology, Pebble, PebbleFlavor, PebbleOptions, PebbleProfile,
};

use crate::lab::{Lab, RUN_LIMIT, Run, json, run_bounded};

/// The CA's CAA identity: its dns-persist-01 issuer domain name.
const ISSUER: &str = "ca.wildcert.test";

/// BIND (primary, prompt and lagging secondary) and the upstream Pebble asking the lagging
/// secondary. `None` when a server is missing outside CI.
fn upstream_lab(opts: PebbleOptions) -> Option<Lab> {
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble_upstream() {
        return None;
    }
    let bind = BindTopology::start(BindOptions::default()).expect("BIND topology starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.lagging_secondary_addr()),
        flavor: PebbleFlavor::Upstream,
        caa_identities: vec![ISSUER.into()],
        ..opts
    })
    .expect("upstream pebble starts");
    assert_eq!(pebble.flavor(), PebbleFlavor::Upstream);
    Some(Lab {
        bind,
        pebble,
        _resolver: None,
        state: tempfile::tempdir().expect("state dir"),
    })
}

/// Run the binary with no DNS provider credentials in its environment at all.
fn without_credentials(lab: &Lab, args: &[&str]) -> Run {
    let mut cmd: Command = lab.command_at(&lab.pebble.directory_url(), args, &[]);
    cmd.env_remove("RFC2136_NAMESERVER")
        .env_remove("RFC2136_TSIG_FILE");
    run_bounded(cmd, RUN_LIMIT)
}

/// The account URL (registered now if needed).
fn account_url(lab: &Lab) -> String {
    let run = lab.wildcert(&["--json", "account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    json(&run)["account"]["url"]
        .as_str()
        .expect("url")
        .to_string()
}

/// Wait (bounded) until every nameserver of the zone serves `value` at `name`.
fn wait_served(lab: &Lab, name: &str, value: &str) {
    let start = Instant::now();
    for server in lab.bind.secondary_addrs() {
        loop {
            let values = lab.bind.txt_values(server, name).unwrap_or_default();
            if values.iter().any(|v| v == value) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{server} never served {value:?} at {name}: {values:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The primary's SOA serial of example.test.
fn serial(lab: &Lab) -> u32 {
    lab.bind
        .soa_serial(lab.bind.primary_addr(), "example.test")
        .expect("SOA answers")
        .expect("SOA serial")
}

/// meta.json of a certificate.
fn meta(lab: &Lab, name: &str) -> serde_json::Value {
    let p = lab.state_dir().join("certs").join(name).join("meta.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("meta.json parses")
}

/// Every change the primary ever applied (its zone journals, through `named-journalprint`):
/// records added and removed during a run are in there even after cleanup.
fn primary_journal(lab: &Lab) -> String {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".jnl") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(lab.bind.dir(), &mut files);
    assert!(
        !files.is_empty(),
        "no zone journal under {}",
        lab.bind.dir().display()
    );
    let mut text = String::new();
    for f in files {
        let out = Command::new("named-journalprint")
            .arg(&f)
            .output()
            .expect("named-journalprint runs");
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

#[test]
fn dns_account_01_wildcard_and_apex_publish_at_the_account_label_and_clean_up_exactly() {
    let Some(lab) = upstream_lab(PebbleOptions::default()) else {
        return;
    };
    let url = account_url(&lab);
    let label = wildcert_acme::dns_account_label(&url);
    let record = format!("_{label}._acme-challenge.example.test");
    // A value that is not ours, at our very name, must survive.
    lab.bind
        .add_records(
            "example.test",
            &[&format!("{record}. 60 IN TXT \"keep-me\"")],
        )
        .expect("seed foreign TXT");
    // `check` looks at the account's own record name.
    let check = lab.wildcert(
        &[
            "check",
            "-d",
            "*.example.test",
            "--dns",
            "rfc2136",
            "--challenge",
            "dns-account-01",
        ],
        &[],
    );
    assert_eq!(check.code, Some(0), "{}", check.all());
    assert!(
        check.stdout.contains(&format!("no CNAME at {record}")),
        "{}",
        check.all()
    );
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--challenge",
            "dns-account-01",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    // Wildcard and apex share one record name: one zone, two values.
    assert_eq!(v["certificate"]["zones"][0][0], "example.test");
    assert_eq!(v["certificate"]["zones"][0][1], 2);
    eprintln!(
        "dns-account-01 issuance (wildcard + apex), ms: {}",
        v["certificate"]["timings_ms"]
    );
    // The values went to the account's label (the journal of the primary keeps every change),
    // never to the dns-01 name.
    let journal = primary_journal(&lab);
    let adds: Vec<&str> = journal
        .lines()
        .filter(|l| l.starts_with("add ") && l.contains("TXT") && l.contains("_acme-challenge"))
        .collect();
    assert!(
        adds.iter()
            .filter(|l| l.contains(&format!("{record}.")))
            .count()
            >= 2,
        "no value at {record}:\n{journal}"
    );
    assert!(
        !adds
            .iter()
            .any(|l| l.starts_with("add _acme-challenge.example.test.")),
        "a dns-01 record was published:\n{journal}"
    );
    // Exact cleanup: only the foreign value is left.
    assert_eq!(lab.primary_txt(&record), ["keep-me"]);
    assert_eq!(meta(&lab, "example.test")["challenge"], "dns-account-01");
}

#[test]
fn persist_then_issue_with_no_credentials_and_no_zone_change() {
    let Some(lab) = upstream_lab(PebbleOptions::default()) else {
        return;
    };
    // --print needs no provider and writes zone-file lines only.
    let printed = without_credentials(
        &lab,
        &[
            "persist",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--print",
        ],
    );
    assert_eq!(printed.code, Some(0), "{}", printed.all());
    let url = account_url(&lab);
    let expected = format!("{ISSUER}; accounturi={url}; policy=wildcard");
    assert_eq!(
        printed.stdout.trim(),
        format!("_validation-persist.example.test. 3600 IN TXT \"{expected}\""),
        "{}",
        printed.all()
    );
    // Publish it once (keeping another CA's value at the same name).
    lab.bind
        .add_records(
            "example.test",
            &["_validation-persist.example.test. 60 IN TXT \"other-ca.example; accounturi=https://other.example/acct/1\""],
        )
        .expect("seed");
    let run = lab.wildcert(
        &[
            "persist",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let mut served = lab.primary_txt("_validation-persist.example.test");
    served.sort();
    assert_eq!(
        served,
        [
            expected.clone(),
            "other-ca.example; accounturi=https://other.example/acct/1".to_string()
        ]
    );
    // Every authoritative server serves it already: `persist` waited.
    for s in lab.bind.secondary_addrs() {
        let v = lab
            .bind
            .txt_values(s, "_validation-persist.example.test")
            .expect("dig");
        assert!(v.contains(&expected), "{s}: {v:?}");
    }
    // `check` reports it per server, without a provider.
    let check = without_credentials(
        &lab,
        &[
            "check",
            "-d",
            "*.example.test",
            "--challenge",
            "dns-persist-01",
        ],
    );
    assert_eq!(check.code, Some(0), "{}", check.all());
    assert!(
        check.stdout.matches("PASS  persist").count() >= 2,
        "{}",
        check.all()
    );

    let before = serial(&lab);
    let run = without_credentials(
        &lab,
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--challenge",
            "dns-persist-01",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(serial(&lab), before, "the zone changed during issuance");
    let v = json(&run);
    // The figure in the report: no publish, no propagation wait.
    eprintln!(
        "dns-persist-01 issuance (wildcard + apex), ms: {}",
        v["certificate"]["timings_ms"]
    );
    assert_eq!(v["certificate"]["zones"], serde_json::json!([]));
    assert_eq!(meta(&lab, "example.test")["challenge"], "dns-persist-01");
    let show = without_credentials(&lab, &["show", "example.test"]);
    assert!(
        show.stdout.contains("validated:   dns-persist-01"),
        "{}",
        show.all()
    );

    // `--remove` deletes exactly our record.
    let run = lab.wildcert(
        &[
            "persist",
            "-d",
            "*.example.test",
            "--dns",
            "rfc2136",
            "--remove",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        lab.primary_txt("_validation-persist.example.test"),
        ["other-ca.example; accounturi=https://other.example/acct/1"]
    );
}

/// Issue `names` with dns-persist-01 and no credentials; the run must fail before ordering.
fn refused(lab: &Lab, names: &[&str]) -> Run {
    let mut args = vec!["issue"];
    for n in names {
        args.extend(["-d", n]);
    }
    args.extend(["--challenge", "dns-persist-01"]);
    let run = without_credentials(lab, &args);
    assert_eq!(run.code, Some(3), "{}", run.all());
    // Nothing was ordered for it.
    let m = lab
        .state_dir()
        .join("certs")
        .join("example.test")
        .join("meta.json");
    assert!(!m.exists(), "an order was placed: {}", run.all());
    run
}

#[test]
fn dns_persist_01_refuses_missing_foreign_non_wildcard_and_expired_records() {
    let Some(lab) = upstream_lab(PebbleOptions::default()) else {
        return;
    };
    let url = account_url(&lab);
    let name = "_validation-persist.example.test";

    // Missing: the error says exactly what to publish (command and zone-file line).
    let run = refused(&lab, &["example.test"]);
    assert!(run.stderr.contains("no TXT record"), "{}", run.all());
    assert!(
        run.stderr
            .contains("wildcert persist -d example.test --dns PROVIDER"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains(&format!(
            "_validation-persist.example.test. 3600 IN TXT \"{ISSUER}; accounturi={url}\""
        )),
        "{}",
        run.all()
    );

    // A record for another account of the same CA.
    let other = format!("{ISSUER}; accounturi={url}0");
    lab.bind
        .add_records("example.test", &[&format!("{name}. 60 IN TXT \"{other}\"")])
        .expect("add");
    wait_served(&lab, name, &other);
    let run = refused(&lab, &["example.test"]);
    assert!(
        run.stderr.contains("authorizes another account"),
        "{}",
        run.all()
    );
    lab.bind
        .delete_records("example.test", &[&format!("{name}. 60 IN TXT \"{other}\"")])
        .expect("delete");

    // Ours, but without policy=wildcard, for a wildcard.
    let plain = format!("{ISSUER}; accounturi={url}");
    lab.bind
        .add_records("example.test", &[&format!("{name}. 60 IN TXT \"{plain}\"")])
        .expect("add");
    wait_served(&lab, name, &plain);
    let run = refused(&lab, &["*.example.test"]);
    assert!(
        run.stderr.contains("lacks policy=wildcard"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("wildcert persist -d example.test --wildcard --dns PROVIDER"),
        "{}",
        run.all()
    );
    lab.bind
        .delete_records("example.test", &[&format!("{name}. 60 IN TXT \"{plain}\"")])
        .expect("delete");

    // Ours, expired.
    let expired = format!("{ISSUER}; accounturi={url}; persistUntil=1000000000");
    lab.bind
        .add_records(
            "example.test",
            &[&format!("{name}. 60 IN TXT \"{expired}\"")],
        )
        .expect("add");
    wait_served(&lab, name, &expired);
    let run = refused(&lab, &["example.test"]);
    assert!(run.stderr.contains("expired"), "{}", run.all());
}

#[test]
fn auto_uses_dns_persist_01_where_a_record_is_served_and_dns_01_elsewhere() {
    let Some(lab) = upstream_lab(PebbleOptions::default()) else {
        return;
    };
    let url = account_url(&lab);
    // A standing record for example.test only.
    let value = format!("{ISSUER}; accounturi={url}");
    lab.bind
        .add_records(
            "example.test",
            &[&format!(
                "_validation-persist.example.test. 60 IN TXT \"{value}\""
            )],
        )
        .expect("add");
    wait_served(&lab, "_validation-persist.example.test", &value);

    let before = serial(&lab);
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--challenge",
            "auto",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        serial(&lab),
        before,
        "auto published a record it did not need"
    );
    assert_eq!(meta(&lab, "example.test")["challenge"], "dns-persist-01");

    // No record for www.example.test: dns-01 through the provider.
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--challenge",
            "auto",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_ne!(serial(&lab), before, "dns-01 must have published");
    assert_eq!(meta(&lab, "www.example.test")["challenge"], "dns-01");
    assert!(
        lab.primary_txt("_acme-challenge.www.example.test")
            .is_empty()
    );
}

#[test]
fn the_profile_used_is_recorded_and_shown() {
    let Some(lab) = upstream_lab(PebbleOptions {
        profiles: vec![
            PebbleProfile {
                name: "classic".into(),
                description: "ninety days".into(),
                validity_secs: 90 * 86_400,
            },
            PebbleProfile {
                name: "shortlived".into(),
                description: "six days".into(),
                validity_secs: 6 * 86_400,
            },
        ],
        ..Default::default()
    }) else {
        return;
    };
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--profile",
            "shortlived",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let m = meta(&lab, "example.test");
    assert_eq!(m["profile"], "shortlived");
    assert_eq!(m["challenge"], "dns-01");
    let show = lab.wildcert(&["show", "example.test"], &[]);
    assert!(
        show.stdout.contains("profile: shortlived"),
        "{}",
        show.all()
    );
    let show = lab.wildcert(&["--json", "show", "example.test"], &[]);
    let v = json(&show);
    assert_eq!(
        v["certificate"]["meta"]["profile"],
        "shortlived",
        "{}",
        show.all()
    );
}

#[test]
fn a_method_the_ca_does_not_offer_names_the_offered_ones() {
    // Debian's Pebble offers dns-01 only.
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--challenge",
            "dns-account-01",
        ],
        &[],
    );
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert!(run.stderr.contains("dns-account-01"), "{}", run.all());
    assert!(run.stderr.contains("dns-01"), "{}", run.all());
    assert!(
        !run.stderr.contains("check --server and --ca-bundle"),
        "the hint must fit the cause: {}",
        run.all()
    );
}

#[test]
fn renew_with_a_persist_certificate_needs_no_provider_and_warns_before_persist_until() {
    let Some(lab) = upstream_lab(PebbleOptions::default()) else {
        return;
    };
    // A record that stops counting in ten days.
    let run = lab.wildcert(
        &[
            "persist",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--until",
            "10d",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let check = without_credentials(
        &lab,
        &[
            "check",
            "-d",
            "example.test",
            "--challenge",
            "dns-persist-01",
        ],
    );
    assert_eq!(check.code, Some(0), "{}", check.all());
    assert!(
        check.stdout.contains("WARN  persist-until"),
        "{}",
        check.all()
    );
    // A [[certificate]] without a provider, validated by the standing record.
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        "[[certificate]]\ndomains = [\"example.test\"]\nchallenge = \"dns-persist-01\"\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let run = without_credentials(&lab, &["--config", &config, "--json", "renew"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["certificates"][0]["outcome"], "issued", "{}", run.all());
    assert!(run.stderr.contains("stops counting at"), "{}", run.all());
    assert_eq!(meta(&lab, "example.test")["challenge"], "dns-persist-01");
    assert_eq!(meta(&lab, "example.test")["provider"], "none");
    // Not due the next day: the standing record is still checked, and its end is told.
    let run = without_credentials(&lab, &["--config", &config, "--json", "renew"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["certificates"][0]["outcome"], "skipped", "{}", run.all());
    let detail = v["certificates"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("warning") && detail.contains("stops counting at"),
        "{}",
        run.all()
    );
    // Without a provider, any other method is refused before anything is sent.
    std::fs::write(&config, "[[certificate]]\ndomains = [\"example.test\"]\n").expect("config");
    let run = without_credentials(&lab, &["--config", &config, "renew", "--force"]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("no DNS provider"), "{}", run.all());
}

#[test]
fn a_preferred_chain_the_ca_does_not_offer_warns_once_naming_the_offered_ones() {
    let Some(lab) = upstream_lab(PebbleOptions {
        alternate_roots: 1,
        ..Default::default()
    }) else {
        return;
    };
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--preferred-chain",
            "No Such Root",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("preferred chain \"No Such Root\" is not offered"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.all());
    // It names the chains offered (Pebble's roots are "Pebble Root CA <n>").
    assert!(
        warnings[0].matches("Pebble Root CA").count() >= 2,
        "{}",
        run.all()
    );
}
