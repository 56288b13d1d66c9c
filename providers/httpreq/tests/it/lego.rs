//! The fake service proven by lego itself: Debian's `lego` runs its own httpreq provider
//! (`--dns httpreq`, `HTTPREQ_*` from the environment, basic authentication) against Pebble,
//! which validates the records the service put into BIND, and lego gets its certificate.

use std::process::{Command, Stdio};
use std::time::Duration;

use wildcert_conformance::issuance;
use wildcert_testkit::{Pebble, PebbleOptions, find_tool, is_ci};

use crate::fake::{HttpreqFake, HttpreqFakeOptions};
use crate::{NAME, PASSWORD, USER};

/// Bound on lego's run.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn lego_issues_through_the_fake_service() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let Some(lego) = find_tool("lego") else {
        assert!(
            !is_ci(),
            "lego is not installed, and CI=true: this test may not be skipped"
        );
        return;
    };
    let fake = HttpreqFake::start(HttpreqFakeOptions {
        basic: Some((USER.into(), PASSWORD.into())),
        ..HttpreqFakeOptions::backed_by(&topo)
    })
    .expect("service");
    fake.seed_record("example.test", "TXT", NAME, "keep-me", 300)
        .expect("seed");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(topo.primary_addr()),
        ..Default::default()
    })
    .expect("pebble");
    let dir = tempfile::tempdir().expect("tmp");
    let child = Command::new(lego)
        .args([
            "--server",
            &pebble.directory_url(),
            "--accept-tos",
            "--email",
            "lego@example.test",
        ])
        .args(["--dns", "httpreq", "--dns.disable-cp"])
        .args(["--dns.resolvers", &topo.primary_addr().to_string()])
        .args(["-d", "*.example.test", "-d", "example.test", "--path"])
        .arg(dir.path())
        .arg("run")
        .env("LEGO_CA_CERTIFICATES", pebble.ca_cert_path())
        .env("HTTPREQ_ENDPOINT", fake.endpoint())
        .env("HTTPREQ_USERNAME", USER)
        .env("HTTPREQ_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lego runs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(LIMIT) else {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("lego did not finish in {LIMIT:?}\n{}", pebble.log());
    };
    let out = out.expect("lego's output");
    let log = format!(
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        pebble.log()
    );
    assert!(out.status.success(), "lego failed:\n{log}");
    let cert = dir.path().join("certificates/_.example.test.crt");
    assert!(
        cert.exists(),
        "no certificate at {}:\n{log}",
        cert.display()
    );
    // lego's own requests: two values presented and cleaned up, with its body and credentials.
    let posts = fake.requests();
    let bodies: Vec<serde_json::Value> = posts
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("JSON"))
        .collect();
    assert_eq!(
        posts.iter().filter(|r| r.path == "/present").count(),
        2,
        "{bodies:?}"
    );
    assert_eq!(
        posts.iter().filter(|r| r.path == "/cleanup").count(),
        2,
        "{bodies:?}"
    );
    assert!(
        posts
            .iter()
            .all(|r| r.status == 200 && r.principal.as_deref() == Some(USER))
    );
    assert!(
        bodies
            .iter()
            .all(|b| b["fqdn"] == "_acme-challenge.example.test." && b["value"].is_string())
    );
    assert_eq!(fake.txt_values(NAME), ["keep-me"]);
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
}
