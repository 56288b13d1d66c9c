//! The fake proven by DNSimple's own client: `tests/sdk/prove.py` drives it with the official
//! `dnsimple` Python package (whoami for account and user tokens, accounts, zones, records with
//! filters and pages, create/get/update/delete, 400, 404, 401 and 403).

use crate::fake::{ACCOUNT_ID, DEFAULT_TOKEN, DnsimpleFake, DnsimpleFakeOptions, FakeToken};

const READ_ONLY: &str = "dnsimple_a_readonly0000000000000000000000000";
const USER: &str = "dnsimple_u_user00000000000000000000000000000";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let read_only = FakeToken {
        dns_edit: false,
        ..FakeToken::full(READ_ONLY)
    };
    let fake = DnsimpleFake::start(DnsimpleFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        tokens: vec![FakeToken::full(DEFAULT_TOKEN), read_only],
        user_tokens: vec![USER.into()],
        other_accounts: vec![2020],
        ..Default::default()
    })
    .expect("dnsimple fake");
    for i in 0..75 {
        fake.seed(
            "example.test",
            "TXT",
            "many.example.test",
            &format!("seed-{i}"),
            60,
        );
    }
    let env = [
        ("DNSIMPLE_BASE_URL", fake.base_url()),
        ("DNSIMPLE_TOKEN", DEFAULT_TOKEN.into()),
        ("DNSIMPLE_TOKEN_READ_ONLY", READ_ONLY.into()),
        ("DNSIMPLE_USER_TOKEN", USER.into()),
        ("DNSIMPLE_ACCOUNT", ACCOUNT_ID.to_string()),
        ("DNSIMPLE_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["dnsimple"], &env);
}
