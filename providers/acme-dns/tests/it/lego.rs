//! The independent-client proof of the registrations file: Debian's lego (4.9.1, its acme-dns
//! provider through goacmedns) registers against the fake on its first run and writes
//! `ACME_DNS_STORAGE_PATH`, then stops asking for the CNAME, as it does for its users. That
//! file, untouched, then issues a wildcard + apex certificate through wildcert end to end
//! (the shared issuance case, lego's variable names only).

use std::process::{Command, Stdio};
use std::time::Duration;

use wildcert_conformance::issuance;
use wildcert_testkit::{Pebble, PebbleOptions, find_tool, is_ci};

use crate::fake::AcmeDnsFakeOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrations_file_written_by_lego_is_used_as_it_is() {
    let Some(lego) = find_tool("lego") else {
        assert!(
            !is_ci(),
            "lego is not installed (tests/setup.sh installs Debian's), and CI=true"
        );
        eprintln!("SKIPPED: lego is not installed");
        return;
    };
    let Some(topo) = crate::topology() else {
        return;
    };
    let f = crate::fake(AcmeDnsFakeOptions::backed_by(&topo));
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(topo.lagging_secondary_addr()),
        ..Default::default()
    })
    .expect("pebble");
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().join("lego-acme-dns.json");
    let mut cmd = Command::new(&lego);
    cmd.args([
        "--accept-tos",
        "--email",
        "lego@example.test",
        "--dns",
        "acme-dns",
    ])
    .args(["--domains", "*.example.test", "--domains", "example.test"])
    .arg("--server")
    .arg(pebble.directory_url())
    .arg("--path")
    .arg(dir.path().join("lego"))
    .arg("run")
    .env("ACME_DNS_API_BASE", f.base_url())
    .env("ACME_DNS_STORAGE_PATH", &storage)
    .env("LEGO_CA_CERTIFICATES", pebble.ca_cert_path())
    .env("NO_PROXY", "*")
    .stdin(Stdio::null());
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::from(cmd).output(),
    )
    .await
    .expect("lego finishes within 120 s")
    .expect("lego runs");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && said.contains("CNAME"),
        "lego asks for the CNAME on its first run:\n{said}"
    );
    let written = std::fs::read(&storage)
        .unwrap_or_else(|e| panic!("lego wrote no {}: {e}\n{said}", storage.display()));
    let file: serde_json::Value = serde_json::from_slice(&written).expect("lego's file is JSON");
    let target = file["example.test"]["fulldomain"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}"))
        .to_string();
    assert_eq!(
        f.with(|s| s.regs.len()),
        1,
        "one registration for the wildcard and its apex"
    );
    topo.add_records(
        "example.test",
        &[&format!("_acme-challenge 60 CNAME {target}.")],
    )
    .expect("cname");
    let env = [
        ("ACME_DNS_API_BASE", f.base_url()),
        ("ACME_DNS_STORAGE_PATH", storage.display().to_string()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "acme-dns", &env).await;
    assert_eq!(
        std::fs::read(&storage).expect("file"),
        written,
        "lego's file is read, never written"
    );
    assert_eq!(f.with(|s| s.regs.len()), 1, "no new registration");
    let served = f.values(&target);
    assert_eq!(served.len(), 2, "{served:?}");
    let mut bind = topo.txt_values(topo.primary_addr(), &target).expect("dig");
    bind.sort();
    assert_eq!(bind, served);
}
