//! Registrations files written by lego's own acme-dns code, used as they are. lego keeps its
//! acme-dns registrations (`ACME_DNS_STORAGE_PATH`) with goacmedns's file storage; the files in
//! tests/fixtures were written by goacmedns itself (three versions: every lego since 4.0),
//! making the calls lego makes on a domain's first use against this fake alone on a port gone
//! since (tests/fixtures/README.md says how). Debian's lego 4.9.1 cannot write one: it is built
//! without its acme-dns provider ("unrecognized DNS provider: acme-dns").
//!
//! The fake is given the files' registrations back, as acme-dns's database keeps them across
//! restarts; lego's two variables then issue, and the file is neither rewritten nor added to.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;
use wildcert_acme_dns::{AcmeDnsProvider, AcmeDnsSettings};
use wildcert_conformance::token;
use wildcert_dns::{DnsName, DnsProvider, TxtSet, Zone};

use crate::fake::{AcmeDnsFake, AcmeDnsFakeOptions, DOMAIN};

/// nrdcg/goacmedns v0.2.0, `storage.NewFile`: lego v4.22.0 to v5.3.1.
const GOACMEDNS_0_2_0: &[u8] = include_bytes!("../fixtures/goacmedns-0.2.0.json");
/// cpu/goacmedns v0.1.1, `NewFileStorage`: lego v4.2.0 to v4.21.0.
const GOACMEDNS_0_1_1: &[u8] = include_bytes!("../fixtures/goacmedns-0.1.1.json");
/// cpu/goacmedns v0.0.3, `NewFileStorage` (no `server_url`): lego v4.0.0 to v4.1.3.
const GOACMEDNS_0_0_3: &[u8] = include_bytes!("../fixtures/goacmedns-0.0.3.json");

/// The fake holds the file's registrations again (acme-dns's database outlives the server's
/// port); the file's document.
fn restore(f: &AcmeDnsFake, file: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(file).expect("the fixture is JSON");
    let regs = doc.as_object().expect("keyed by domain");
    assert_eq!(regs.len(), 2, "{:?}", regs.keys());
    for (domain, a) in regs {
        let s = |k: &str| a[k].as_str().unwrap_or_else(|| panic!("{domain}: no {k}"));
        assert_eq!(s("fulldomain"), format!("{}.{DOMAIN}", s("subdomain")));
        f.restore_registration(s("username"), s("password"), s("subdomain"));
    }
    doc
}

/// The file where lego keeps it, mode 0600 as goacmedns creates it; and its modification time.
fn lego_file(dir: &Path, bytes: &[u8]) -> (PathBuf, SystemTime) {
    let p = dir.join("acme-dns.json");
    std::fs::write(&p, bytes).expect("write");
    std::fs::set_permissions(&p, Permissions::from_mode(0o600)).expect("mode");
    let mtime = std::fs::metadata(&p).and_then(|m| m.modified());
    (p, mtime.expect("mtime"))
}

/// The file is byte for byte what goacmedns wrote, its mode and modification time untouched.
fn unchanged(path: &Path, bytes: &[u8], mtime: SystemTime) {
    assert_eq!(std::fs::read(path).expect("file"), bytes, "rewritten");
    let meta = std::fs::metadata(path).expect("metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.modified().expect("mtime"), mtime, "written again");
}

fn fulldomain<'a>(doc: &'a Value, domain: &str) -> &'a str {
    doc[domain]["fulldomain"].as_str().expect("fulldomain")
}

/// lego v4.22+ (today's lego): `*.example.test` + `example.test` issued end to end from
/// goacmedns 0.2.0's file and `ACME_DNS_API_BASE`. lego updates on `ACME_DNS_API_BASE` only;
/// the file's `server_url` names the port the server had at registration, gone since, and
/// wildcert too takes the API base first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrations_file_lego_wrote_is_used_as_it_is() {
    let Some(topo) = crate::topology() else {
        return;
    };
    let f = crate::fake(AcmeDnsFakeOptions::backed_by(&topo));
    let doc = restore(&f, GOACMEDNS_0_2_0);
    let server_url = doc["example.test"]["server_url"]
        .as_str()
        .expect("server_url");
    assert!(server_url.starts_with("http://127.0.0.1:") && server_url != f.base_url());
    let target = fulldomain(&doc, "example.test");
    // The CNAME lego's ErrCNAMERequired asked for, added by the user.
    let cname = format!("_acme-challenge 60 CNAME {target}.");
    topo.add_records("example.test", &[&cname]).expect("cname");
    // As a user would (`wildcert acme-dns register --wait` does it for its own CNAMEs): the
    // CA's resolver sits in front of the lagging secondary, which must have the CNAME first.
    let primary = topo
        .soa_serial(topo.primary_addr(), "example.test")
        .expect("soa");
    let start = std::time::Instant::now();
    while topo
        .soa_serial(topo.lagging_secondary_addr(), "example.test")
        .expect("soa")
        < primary
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the lagging secondary never took the CNAME"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().expect("dir");
    let (storage, mtime) = lego_file(dir.path(), GOACMEDNS_0_2_0);
    let env = [
        ("ACME_DNS_API_BASE", f.base_url()),
        ("ACME_DNS_STORAGE_PATH", storage.display().to_string()),
    ];
    let state = tempfile::tempdir().expect("state");
    crate::issue(&topo, state.path(), &env).await;
    unchanged(&storage, GOACMEDNS_0_2_0, mtime);
    assert_eq!(f.count("POST", "/register"), 0, "no new registration");
    assert_eq!(f.with(|s| s.regs.len()), 2);
    let own = state.path().join("providers/acme-dns/registrations.json");
    assert!(
        !own.exists(),
        "nothing registered or copied into the state directory"
    );
    let served = f.values(target);
    assert_eq!(served.len(), 2, "{served:?}");
    let mut bind = topo.txt_values(topo.primary_addr(), target).expect("dig");
    bind.sort();
    assert_eq!(bind, served);
    let other = fulldomain(&doc, "mail.example.test");
    assert!(
        f.values(other).is_empty(),
        "the other name's registration is left alone"
    );
}

/// Older lego's files (goacmedns 0.1.1; 0.0.3 without `server_url`) through the provider: the
/// wildcard + apex pair lands on `example.test`'s registration, the file is left as it is.
#[tokio::test]
async fn older_lego_files_are_used_as_they_are() {
    for (file, what) in [
        (GOACMEDNS_0_1_1, "goacmedns 0.1.1 (lego 4.2 to 4.21)"),
        (GOACMEDNS_0_0_3, "goacmedns 0.0.3 (lego 4.0 to 4.1)"),
    ] {
        let f = crate::fake(AcmeDnsFakeOptions::default());
        let doc = restore(&f, file);
        let dir = tempfile::tempdir().expect("dir");
        let (storage, mtime) = lego_file(dir.path(), file);
        let s = AcmeDnsSettings {
            api_base: Some(f.base_url()),
            storage_path: Some(storage.clone()),
            ..Default::default()
        };
        let p = AcmeDnsProvider::new(&s, None).expect(what);
        let target = fulldomain(&doc, "example.test");
        let name = DnsName::parse(target).expect("name");
        let mut set = TxtSet::new();
        set.insert(name.clone(), token("lego-wildcard", 1));
        set.insert(name, token("lego-apex", 1));
        let zone = Zone::new(DnsName::parse(DOMAIN).expect("zone"));
        p.publish(&zone, &set).await.expect(what);
        let mut want = vec![token("lego-wildcard", 1), token("lego-apex", 1)];
        want.sort();
        assert_eq!(f.values(target), want, "{what}");
        unchanged(&storage, file, mtime);
        assert_eq!(
            f.count("POST", "/register"),
            0,
            "{what}: no new registration"
        );
        let other = fulldomain(&doc, "mail.example.test");
        assert!(f.values(other).is_empty(), "{what}");
    }
}

/// The fake answers goacmedns's own requests as acme-dns does (its Go decoder): 0.2.0's
/// register body without an allow list is JSON `null`; 0.1.1 and 0.0.3 send `{"AllowFrom"}`
/// and `{"SubDomain", "Txt"}`.
#[tokio::test]
async fn the_fake_reads_goacmedns_bodies_as_acme_dns_does() {
    let f = crate::fake(AcmeDnsFakeOptions::default());
    wildcert_testkit::install_crypto_provider();
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str, user: Option<(&str, &str)>| {
        let mut r = http
            .post(format!("{}/{path}", f.base_url()))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some((u, k)) = user {
            r = r.header("X-Api-User", u).header("X-Api-Key", k);
        }
        r.send()
    };
    let r = post("register", "null\n", None).await.expect("register");
    assert_eq!(r.status(), 201, "goacmedns 0.2.0's body");
    let reg: Value = r.json().await.expect("json");
    let body = r#"{"AllowFrom":["127.0.0.0/8"]}"#;
    let r = post("register", body, None).await.expect("register");
    assert_eq!(r.status(), 201, "goacmedns 0.1.1's body");
    let reg2: Value = r.json().await.expect("json");
    assert_eq!(reg2["allowfrom"], serde_json::json!(["127.0.0.0/8"]));
    let s = |k: &str| reg[k].as_str().expect("field").to_string();
    let update = format!(
        r#"{{"SubDomain":"{}","Txt":"{}"}}"#,
        s("subdomain"),
        token("old", 1)
    );
    let user = Some((s("username"), s("password")));
    let user = user.as_ref().map(|(u, k)| (u.as_str(), k.as_str()));
    let r = post("update", &update, user).await.expect("update");
    assert_eq!(r.status(), 200, "goacmedns 0.1.1's update");
    assert_eq!(f.values(&s("fulldomain")), [token("old", 1)]);
}
