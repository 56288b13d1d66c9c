//! The fake proven by Linode's own client: `tests/sdk/prove.py` drives it with the official
//! `linode_api4` SDK (domains with `X-Filter` and pages, records with pages, create with TTL
//! rounding, get, delete, 404, 400, 401 for an unknown token and for a token
//! without the scope, 403 for a restricted user).

use crate::fake::{DEFAULT_TOKEN, FakeToken, LinodeFake, LinodeFakeOptions};

const READ_ONLY: &str = "lin-read-only-scope";
const RESTRICTED: &str = "lin-restricted-read-only-user";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let mut zones: Vec<String> = (0..120).map(|i| format!("z{i:03}.test")).collect();
    zones.push("example.test".into());
    let fake = LinodeFake::start(LinodeFakeOptions {
        zones,
        tokens: vec![
            FakeToken::full(DEFAULT_TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(READ_ONLY)
            },
            FakeToken::full(RESTRICTED),
        ],
        read_only_users: vec![RESTRICTED.into()],
        ..Default::default()
    })
    .expect("linode fake");
    for i in 0..130 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("seed-{i}"),
            300,
        );
    }
    let env = [
        ("LINODE_BASE_URL", fake.base_url()),
        ("LINODE_TOKEN", DEFAULT_TOKEN.into()),
        ("LINODE_TOKEN_READ_ONLY", READ_ONLY.into()),
        ("LINODE_TOKEN_RESTRICTED", RESTRICTED.into()),
        ("LINODE_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["linode_api4"], &env);
}
