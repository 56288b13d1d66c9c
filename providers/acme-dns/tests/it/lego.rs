//! A registrations file in lego's form, used as it is: lego keeps its acme-dns registrations
//! with goacmedns's `storage.File` (`json.Marshal` of a map from the domain lego was given to
//! `{"fulldomain", "subdomain", "username", "password", "server_url"}`, compact, mode 0600).
//! Debian's lego 4.9.1 is built without its acme-dns provider ("disabled until their
//! dependencies are packaged", debian/changelog: `unrecognized DNS provider: acme-dns`) and no
//! Go toolchain is here to build goacmedns's own `cmd/goacmedns`, so the file is written here
//! byte for byte as goacmedns writes it, from a registration the fake made; lego's two
//! variables alone then issue a wildcard + apex certificate end to end, and the file is
//! neither rewritten nor added to.

use wildcert_testkit::find_tool;

use crate::fake::AcmeDnsFakeOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrations_file_in_legos_form_is_used_as_it_is() {
    let Some(topo) = crate::topology() else {
        return;
    };
    if let Some(lego) = find_tool("lego") {
        // Record why lego itself cannot write it here (its Debian build lacks acme-dns).
        let out = std::process::Command::new(lego)
            .args([
                "--dns",
                "acme-dns",
                "--domains",
                "x.test",
                "--email",
                "a@x.test",
                "--accept-tos",
                "run",
            ])
            .env("ACME_DNS_API_BASE", "http://127.0.0.1:9")
            .env("ACME_DNS_STORAGE_PATH", "/nonexistent/x.json")
            .env("LEGO_PATH", "/nonexistent")
            .output();
        let said = out
            .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
            .unwrap_or_default();
        eprintln!("lego: {}", said.lines().last().unwrap_or_default());
    }
    let f = crate::fake(AcmeDnsFakeOptions::backed_by(&topo));
    let reg = f.add_registration(&[]).expect("registration");
    let s = |k: &str| reg[k].as_str().unwrap_or_default().to_string();
    // goacmedns: `acct.ServerURL = c.baseURL.String()`; Go's encoder, struct field order.
    let written = format!(
        r#"{{"example.test":{{"fulldomain":"{}","subdomain":"{}","username":"{}","password":"{}","server_url":"{}"}}}}"#,
        s("fulldomain"),
        s("subdomain"),
        s("username"),
        s("password"),
        f.base_url()
    );
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().join("lego-acme-dns.json");
    std::fs::write(&storage, &written).expect("write");
    let target = s("fulldomain");
    topo.add_records(
        "example.test",
        &[&format!("_acme-challenge 60 CNAME {target}.")],
    )
    .expect("cname");
    let env = [
        ("ACME_DNS_API_BASE", f.base_url()),
        ("ACME_DNS_STORAGE_PATH", storage.display().to_string()),
    ];
    let state = tempfile::tempdir().expect("state");
    crate::issue(&topo, state.path(), &env).await;
    assert_eq!(
        std::fs::read_to_string(&storage).expect("file"),
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
