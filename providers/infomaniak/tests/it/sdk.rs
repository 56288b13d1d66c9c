//! The fake proven by an independent Infomaniak client: Infomaniak publishes no Python SDK, so
//! `tests/sdk/prove.py` drives it with dns-lexicon's `infomaniak` provider (the client under
//! certbot-dns-infomaniak), its API endpoint pointed at the fake.

use std::time::Duration;

use crate::fake::{DEFAULT_TOKEN, FakeToken, InfomaniakFake, InfomaniakFakeOptions};

const NO_SCOPE: &str = "infomaniakTokenWithoutDomainScope";

#[test]
fn an_independent_client_accepts_the_fake() {
    let mut opts = InfomaniakFakeOptions {
        zones: vec!["a.test".into(), "example.test".into(), "b.test".into()],
        ..Default::default()
    };
    opts.tokens.push(FakeToken {
        dns_edit: false,
        ..FakeToken::full(NO_SCOPE)
    });
    let fake = InfomaniakFake::start(opts).expect("infomaniak fake");
    for i in 0..30 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("s{i}"), 3600)
            .expect("seed");
    }
    let blocked = InfomaniakFake::start(InfomaniakFakeOptions::default()).expect("fake");
    blocked.rate_limit_for(Duration::from_secs(120));
    let env = [
        ("INFOMANIAK_BASE_URL", fake.base_url()),
        ("INFOMANIAK_BLOCKED_URL", blocked.base_url()),
        ("INFOMANIAK_ZONE", "example.test".into()),
        ("INFOMANIAK_TOKEN", DEFAULT_TOKEN.into()),
        ("INFOMANIAK_NO_SCOPE", NO_SCOPE.into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
