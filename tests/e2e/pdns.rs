//! `wildcert issue --dns pdns` end to end: PowerDNS (gsqlite3) on its own 127.53.x.y:53 serves
//! the zone (its NS/A records name that address, so wildcert's NS discovery finds it), the
//! binary writes through the HTTP API, and Pebble validates against the same PowerDNS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wildcert_testkit::{Pebble, PebbleOptions, PowerDns, PowerDnsOptions};

use crate::lab::{RUN_LIMIT, Run, json, run_bounded};

const NAME: &str = "_acme-challenge.example.test";

struct PdnsLab {
    pdns: PowerDns,
    pebble: Pebble,
    state: tempfile::TempDir,
}

impl PdnsLab {
    fn start(kind: &str) -> Option<PdnsLab> {
        // Port 53 on a claimed loopback address needs root, like the BIND topology.
        if !wildcert_testkit::require_pdns()
            || !wildcert_testkit::require_pebble()
            || !wildcert_testkit::require("ip")
        {
            return None;
        }
        if !wildcert_testkit::is_root() {
            assert!(
                !wildcert_testkit::is_ci(),
                "PowerDNS on port 53 needs root, and CI=true"
            );
            eprintln!("SKIPPED: PowerDNS on port 53 needs root");
            return None;
        }
        let pdns = PowerDns::start(PowerDnsOptions {
            zones: vec!["example.test".into()],
            kind: kind.into(),
            port53: true,
            ..Default::default()
        })
        .expect("pdns_server starts");
        let pebble = Pebble::start(PebbleOptions {
            dns_server: Some(pdns.dns_addr()),
            ..Default::default()
        })
        .expect("pebble starts");
        let state = tempfile::tempdir().expect("state dir");
        Some(PdnsLab {
            pdns,
            pebble,
            state,
        })
    }

    fn live(&self, name: &str) -> PathBuf {
        self.state.path().join("certs").join(name).join("live")
    }

    fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Runs `wildcert` with the CA, PowerDNS as resolver, and the PDNS_* environment.
    fn wildcert(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildcert"));
        cmd.arg("--server")
            .arg(self.pebble.directory_url())
            .arg("--ca-bundle")
            .arg(self.pebble.ca_cert_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--agree-tos")
            .arg("--email")
            .arg("e2e@example.test")
            .arg("--resolver")
            .arg(self.pdns.dns_addr().to_string())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PDNS_API_URL", self.pdns.api_url())
            .env("PDNS_API_KEY", self.pdns.api_key())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_bounded(cmd, RUN_LIMIT)
    }
}

fn issue_wildcard_and_apex(kind: &str) {
    let Some(lab) = PdnsLab::start(kind) else {
        return;
    };
    lab.pdns
        .set_txt(NAME, &["keep-me"], 120)
        .expect("seed foreign TXT");
    let before = lab.pdns.zone_snapshot("example.test").expect("zone");
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "pdns",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], true, "{}", run.all());
    let mut names: Vec<String> = v["certificate"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    assert_eq!(names, ["*.example.test", "example.test"]);
    // One zone, two values at one name, one publish.
    assert_eq!(
        v["certificate"]["zones"][0][0],
        "example.test",
        "{}",
        run.all()
    );
    assert_eq!(v["certificate"]["zones"][0][1], 2, "{}", run.all());
    let cert = std::fs::read_to_string(lab.live("example.test").join("fullchain.pem"))
        .expect("certificate");
    assert!(cert.contains("-----BEGIN CERTIFICATE-----"));
    // The zone is as it was: the foreign value, with its TTL, and nothing else changed.
    assert_eq!(
        lab.pdns.zone_snapshot("example.test").expect("zone"),
        before
    );
    assert_eq!(lab.pdns.txt_values(NAME).expect("dig"), ["keep-me"]);
    assert_eq!(lab.pdns.txt_ttl(NAME).expect("api"), Some(120));
    let key = lab.pdns.api_key();
    assert!(
        !run.stdout.contains(key) && !run.stderr.contains(key),
        "API key leaked"
    );
    // The API log shows the pattern: zone lookups, then per publish and per cleanup
    // one read and one PATCH.
    let log = std::fs::read_to_string(lab.pdns.log_path()).unwrap_or_default();
    let patches = log
        .lines()
        .filter(|l| l.contains("\"PATCH /api/v1/servers/localhost/zones/example.test."))
        .count();
    // One seeding PATCH by the test, one publish, one cleanup.
    assert_eq!(patches, 3, "{log}");
    // A primary zone is NOTIFYed after each write; a native zone is not.
    let notifies = log
        .lines()
        .filter(|l| l.contains("\"PUT /api/v1/servers/localhost/zones/example.test./notify"))
        .count();
    assert_eq!(notifies, if kind == "Master" { 2 } else { 0 }, "{log}");
}

#[test]
fn wildcard_and_apex_native_zone() {
    issue_wildcard_and_apex("Native");
}

#[test]
fn wildcard_and_apex_master_zone_with_notify() {
    issue_wildcard_and_apex("Master");
}

#[test]
fn wrong_api_key_fails_clearly_and_leaves_nothing() {
    let Some(lab) = PdnsLab::start("Native") else {
        return;
    };
    let wrong = "wrong-api-key-0123456789";
    let run = lab.wildcert(
        &["issue", "-d", "example.test", "--dns", "pdns"],
        &[("PDNS_API_KEY", wrong)],
    );
    eprintln!("{}", run.all());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("hint:"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("401") && run.stderr.contains("API key"),
        "{}",
        run.all()
    );
    let error_lines = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(error_lines, 1, "{}", run.all());
    assert!(!run.stderr.contains(wrong), "key leaked: {}", run.all());
    assert!(lab.pdns.txt_values(NAME).expect("dig").is_empty());
    assert!(!lab.live("example.test").exists());
}

#[test]
fn unknown_zone_is_refused_before_publishing() {
    let Some(lab) = PdnsLab::start("Native") else {
        return;
    };
    let run = lab.wildcert(
        &["issue", "-d", "www.nowhere.invalid", "--dns", "pdns"],
        &[],
    );
    assert_ne!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("nowhere.invalid"), "{}", run.all());
    assert!(run.stderr.contains("hint:"), "{}", run.all());
}
