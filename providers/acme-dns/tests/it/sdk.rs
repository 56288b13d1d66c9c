//! The fake proven by an independent client: `tests/sdk/prove.py` drives it with `pyacmedns`
//! (certbot-dns-acmedns's client library): registrations, updates, the 401 and 400 refusals.
//! The registration file its `Storage` writes (certbot-dns-acmedns's format) is then read by
//! the provider as it is, and a publish through it lands on the registration.

use wildcert_acme_dns::{AcmeDnsProvider, AcmeDnsSettings};
use wildcert_conformance::token;
use wildcert_dns::{DnsName, DnsProvider, TxtSet, Zone};

use crate::fake::{AcmeDnsFakeOptions, DOMAIN};

#[tokio::test]
async fn pyacmedns_accepts_the_fake_and_its_file_is_used_as_it_is() {
    let f = crate::fake(AcmeDnsFakeOptions::default());
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("acmedns.json");
    let env = [
        ("AD_BASE_URL", f.base_url()),
        ("AD_DOMAIN", DOMAIN.to_string()),
        ("AD_STORAGE", file.display().to_string()),
    ];
    if !wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["pyacmedns"], &env) {
        return;
    }
    // The client's three updates: the server kept the two latest.
    let main = f.with(|s| s.regs[0].clone());
    let full = format!("{}.{DOMAIN}", main.subdomain);
    assert_eq!(
        f.values(&full),
        ["A".repeat(42) + "1", "A".repeat(42) + "2"]
    );
    // certbot-dns-acmedns's file (with allowfrom, no server_url) read as it is.
    let s = AcmeDnsSettings {
        api_base: Some(f.base_url()),
        storage_path: Some(file),
        ..Default::default()
    };
    let p = AcmeDnsProvider::new(&s, None).expect("provider from the certbot file");
    let target = DnsName::parse(&full).expect("name");
    let mut set = TxtSet::new();
    set.insert(target.clone(), token("certbot", 1));
    p.publish(&Zone::new(DnsName::parse(DOMAIN).expect("zone")), &set)
        .await
        .expect("publish");
    assert!(f.values(&full).contains(&token("certbot", 1)));
}
