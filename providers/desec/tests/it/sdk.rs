//! The fake proven by an independent deSEC client (deSEC publishes no SDK of its own):
//! `tests/sdk/prove.py` drives it with dns-lexicon's `desec` provider (domain check, RRsets
//! listed, created, extended, reduced and deleted, 401, a policy without write, a 429 waited out
//! through the client's own Retry-After handling) and walks the cursor pages with `requests`.

use std::time::Duration;

use crate::fake::{DesecFakeOptions, FakeToken};

const TOKEN: &str = crate::fake::DEFAULT_TOKEN;
const READ_ONLY: &str = "wildcertFakeDesecReadOnly002";

#[test]
fn an_independent_client_accepts_the_fake() {
    let fake = crate::fake::start(DesecFakeOptions {
        zones: vec!["example.test".into(), "big.test".into()],
        tokens: vec![
            FakeToken::full(TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(READ_ONLY)
            },
        ],
        // deSEC's 2 RRset writes a second per domain: lexicon's quick writes meet a 429.
        write_limit: Some((2, Duration::from_secs(1))),
        ..Default::default()
    })
    .expect("desec fake");
    // More RRsets than one page (500).
    for i in 0..510 {
        let name = format!("seed{i}.big.test");
        fake.seed_record("big.test", "TXT", &name, &format!("\"s{i}\""), 3600)
            .expect("seed");
    }
    let env = [
        ("DS_BASE_URL", fake.url()),
        ("DS_TOKEN", TOKEN.into()),
        ("DS_TOKEN_READ_ONLY", READ_ONLY.into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
    assert!(
        fake.count_where(|r| r.status == 429) >= 1,
        "a write was throttled and retried"
    );
}
