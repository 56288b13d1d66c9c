//! The fake proven by an independent Namecheap client: Namecheap publishes no Python SDK, so
//! `tests/sdk/prove.py` drives it with dns-lexicon's `namecheap` provider (its endpoint
//! pointed at the fake): getInfo (authenticate), getHosts, setHosts with every host sent back,
//! create / list / delete of TXT records, a multi-label TLD (`co.uk`), a bad key, a
//! non-whitelisted address and a domain of another account.

use crate::fake::{KEY, NamecheapFake, NamecheapFakeOptions, USER};

#[test]
fn an_independent_client_accepts_the_fake() {
    let fake = NamecheapFake::start(NamecheapFakeOptions {
        zones: vec!["wildcert-proof.com".into(), "wildcert-proof.co.uk".into()],
        foreign: vec!["someone-else.com".into()],
        ..Default::default()
    })
    .expect("namecheap fake");
    for (n, t, a, pref, ttl) in [
        ("@", "A", "192.0.2.10", "10", 1800),
        ("www", "CNAME", "parkingpage.namecheap.com.", "10", 1800),
        ("@", "MX", "mx1.privateemail.com.", "10", 3600),
        (
            "@",
            "TXT",
            "v=spf1 include:spf.privateemail.com ~all",
            "10",
            1799,
        ),
        (
            "old",
            "URL301",
            "https://www.wildcert-proof.com/new",
            "10",
            1800,
        ),
    ] {
        fake.seed_host("wildcert-proof.com", (n, t, a, pref), ttl, false);
    }
    fake.set_email_type("wildcert-proof.com", "MX");
    let blocked = NamecheapFake::start(NamecheapFakeOptions {
        zones: vec!["wildcert-proof.com".into()],
        whitelist: vec!["192.0.2.10".into()],
        request_ip: "203.0.113.7".into(),
        ..Default::default()
    })
    .expect("namecheap fake");
    let env = [
        ("NC_BASE_URL", fake.base_url()),
        ("NC_BLOCKED_URL", blocked.base_url()),
        ("NC_USER", USER.into()),
        ("NC_KEY", KEY.into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
