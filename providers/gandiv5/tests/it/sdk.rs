//! The fake proven by Gandi clients (Gandi publishes no official SDK): `tests/sdk/prove.py`
//! drives it with dns-lexicon's `gandi` provider (`api_protocol=rest`: RRset GET, POST, PUT,
//! DELETE, Bearer and Apikey) and octodns-gandi's `GandiClient` (the paged domain and record
//! lists with `Total-Count`, and its 401 / 403 / 404 errors).

use crate::fake::{FakeToken, GandiFake, GandiFakeOptions};

const TOKEN: &str = crate::fake::DEFAULT_TOKEN;
const READ_ONLY: &str = "pat_wildcert-fake-gandi-token-without-records-permission";
/// lexicon sends tokens of at most 24 characters as `Apikey`.
const API_KEY: &str = "StillValidKey0000000001";

#[test]
fn gandi_clients_accept_the_fake() {
    let mut zones: Vec<String> = (0..120).map(|i| format!("z{i:03}.test")).collect();
    zones.push("example.test".into());
    let fake = GandiFake::start(GandiFakeOptions {
        zones,
        tokens: vec![
            FakeToken::full(TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(READ_ONLY)
            },
        ],
        api_keys: vec![API_KEY.into()],
        ..Default::default()
    })
    .expect("gandi fake");
    // More RRsets than one page.
    for i in 0..130 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let env = [
        ("GANDI_BASE_URL", fake.base_url()),
        ("GANDI_TOKEN", TOKEN.into()),
        ("GANDI_TOKEN_READ_ONLY", READ_ONLY.into()),
        ("GANDI_API_KEY", API_KEY.into()),
        ("GANDI_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(
        env!("CARGO_MANIFEST_DIR"),
        &["lexicon", "octodns_gandi"],
        &env,
    );
}
