//! The fake proven by NS1's own client: `tests/sdk/prove.py` drives it with the official
//! `ns1-python` SDK (429, zones and a zone's records over `Link` pages, the TXT record created,
//! the second create refused, its answers updated, deleted, 401, a View-only key, a missing
//! zone).

use crate::fake::{DEFAULT_KEY, FakeToken, Ns1Fake, Ns1FakeOptions, rate_limited};

const VIEW_ONLY: &str = "WcFakeNs1ViewOnly002";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let mut zones: Vec<String> = (0..7).map(|i| format!("z{i}.test")).collect();
    zones.push("example.test".into());
    let fake = Ns1Fake::start(Ns1FakeOptions {
        zones,
        keys: vec![
            FakeToken::full(DEFAULT_KEY),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(VIEW_ONLY)
            },
        ],
        page_size: 3,
        ..Default::default()
    })
    .expect("ns1 fake");
    // More records than one page of the zone.
    for i in 0..7 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("s{i}"), 300)
            .expect("seed");
    }
    fake.fail_next(1, rate_limited());
    let env = [
        ("NS1_FAKE_URL", fake.base_url()),
        ("NS1_KEY", DEFAULT_KEY.into()),
        ("NS1_KEY_VIEW_ONLY", VIEW_ONLY.into()),
        ("NS1_ZONE", "example.test".into()),
        ("NS1_ZONE_COUNT", "8".into()),
        ("NS1_RECORD_COUNT", "7".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["ns1"], &env);
}
