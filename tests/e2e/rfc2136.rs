//! `wildcert issue --dns rfc2136` end to end.

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

fn zone_opts(zones: &[&str], extra: &[&str]) -> BindOptions {
    BindOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        extra_records: extra.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn wildcard_and_apex_through_lagging_secondary() {
    let Some(lab) = Lab::start(zone_opts(&["example.test"], &[]), false) else {
        return;
    };
    // A value that is not ours must survive issuance and cleanup.
    lab.bind
        .add_records(
            "example.test",
            &["_acme-challenge.example.test. 60 IN TXT \"keep-me\""],
        )
        .expect("seed foreign TXT");
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
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], true);
    let mut names: Vec<String> = v["certificate"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    assert_eq!(names, ["*.example.test", "example.test"]);
    // One zone, two values, one publish.
    assert_eq!(v["certificate"]["zones"][0][0], "example.test");
    assert_eq!(v["certificate"]["zones"][0][1], 2);
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        let p = lab.live("example.test").join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(text.contains("-----BEGIN"), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(lab.live("example.test").join("privkey.pem"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Our two values are gone, the foreign one stays.
    assert_eq!(lab.primary_txt("_acme-challenge.example.test"), ["keep-me"]);
    // No secret in the output.
    let secret = lab.bind.tsig_secret_b64();
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
}

#[test]
fn wrong_tsig_secret_fails_clearly_and_leaves_nothing() {
    let Some(lab) = Lab::start(zone_opts(&["example.test"], &[]), false) else {
        return;
    };
    let run = lab.wildcert(
        &["issue", "-d", "example.test", "--dns", "rfc2136"],
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
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("hint:"),
        "{}",
        run.all()
    );
    assert!(run.stderr.to_lowercase().contains("tsig"), "{}", run.all());
    assert!(
        !run.stderr.contains("d3Jvbmctc2VjcmV0"),
        "secret leaked: {}",
        run.all()
    );
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    assert!(!lab.live("example.test").exists());
}

#[test]
fn name_without_zone_is_refused_before_publishing() {
    let Some(lab) = Lab::start(zone_opts(&["example.test"], &[]), false) else {
        return;
    };
    let run = lab.wildcert(
        &["issue", "-d", "www.nowhere.invalid", "--dns", "rfc2136"],
        &[],
    );
    assert_ne!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("nowhere.invalid"), "{}", run.all());
    assert!(run.stderr.contains("hint:"), "{}", run.all());
}

#[test]
fn cname_delegated_name() {
    let Some(lab) = Lab::start(
        zone_opts(
            &["example.test", "delegated.test"],
            &["_acme-challenge.www 60 IN CNAME www.delegated.test."],
        ),
        true,
    ) else {
        return;
    };
    let run = lab.wildcert(
        &[
            "--json",
            "--resolver",
            &lab.bind.prompt_secondary_addr().to_string(),
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["certificate"]["zones"][0][0],
        "delegated.test",
        "{}",
        run.all()
    );
    assert!(lab.primary_txt("www.delegated.test").is_empty());
}

#[test]
fn failed_validation_names_identifier_and_removes_records() {
    // Pebble asks a DNS server that never has the records (a dead port): validation fails
    // after our checker saw every real nameserver serve the value.
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble() {
        return;
    }
    let bind =
        wildcert_testkit::BindTopology::start(zone_opts(&["example.test"], &[])).expect("bind");
    let dead =
        std::net::SocketAddr::from(([127, 0, 0, 1], wildcert_testkit::free_port().expect("port")));
    let pebble = wildcert_testkit::Pebble::start(wildcert_testkit::PebbleOptions {
        dns_server: Some(dead),
        ..Default::default()
    })
    .expect("pebble");
    let lab = Lab {
        bind,
        pebble,
        _resolver: None,
        state: tempfile::tempdir().expect("tmp"),
    };
    let run = lab.wildcert(
        &["issue", "-d", "fail.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert!(run.stderr.contains("fail.example.test"), "{}", run.all());
    assert!(
        lab.primary_txt("_acme-challenge.fail.example.test")
            .is_empty()
    );
    assert!(!lab.live("fail.example.test").exists());
}
