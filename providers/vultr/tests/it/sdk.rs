//! The fake proven by an independent Vultr client: Vultr publishes no Python SDK, so
//! `tests/sdk/prove.py` drives it with dns-lexicon's `vultr` provider (its API endpoint
//! pointed at the fake): domains across cursor pages, records across pages, create (quoted
//! TXT), list, update, delete, 401 for an unknown key and for a blocked address, 403.

use crate::fake::{DEFAULT_KEY, FakeToken, VultrFake, VultrFakeOptions};

const NO_DNS: &str = "VULTRKEYNODNS000000000000000000000002";

#[test]
fn an_independent_client_accepts_the_fake() {
    let no_dns = FakeToken {
        dns_edit: false,
        ..FakeToken::full(NO_DNS)
    };
    let mut zones: Vec<String> = (0..7).map(|i| format!("a{i}.test")).collect();
    zones.push("example.test".into());
    let fake = VultrFake::start(VultrFakeOptions {
        zones,
        tokens: vec![FakeToken::full(DEFAULT_KEY), no_dns],
        max_per_page: 5,
        ..Default::default()
    })
    .expect("vultr fake");
    for i in 0..12 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("\"seed-{i}\""),
            60,
        );
    }
    let blocked = VultrFake::start(VultrFakeOptions {
        blocked_ip: Some("203.0.113.7".into()),
        ..Default::default()
    })
    .expect("vultr fake");
    let env = [
        ("VULTR_BASE_URL", fake.base_url()),
        ("VULTR_BLOCKED_URL", blocked.base_url()),
        ("VULTR_KEY", DEFAULT_KEY.into()),
        ("VULTR_KEY_NO_DNS", NO_DNS.into()),
        ("VULTR_DOMAIN", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
