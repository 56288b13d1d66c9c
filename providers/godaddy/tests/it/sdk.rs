//! The fake proven by an independent GoDaddy client: GoDaddy publishes no Python SDK, so
//! `tests/sdk/prove.py` drives it with dns-lexicon's `godaddy` provider (the client under
//! certbot-dns-godaddy), its API endpoint pointed at the fake.

use std::time::Duration;

use crate::fake::{DEFAULT_KEY, DEFAULT_SECRET, FakeToken, GoDaddyFake, GoDaddyFakeOptions};

const DENIED: &str = "deniedAccountKey:deniedAccountSecret";

#[test]
fn an_independent_client_accepts_the_fake() {
    let mut zones: Vec<String> = (0..6).map(|i| format!("a{i:02}.com")).collect();
    zones.extend(["example.com".to_string(), "solo.com".to_string()]);
    let mut opts = GoDaddyFakeOptions {
        zones,
        ..Default::default()
    };
    opts.tokens.push(FakeToken {
        dns_edit: false,
        ..FakeToken::full(DENIED)
    });
    let fake = GoDaddyFake::start(opts).expect("godaddy fake");
    for i in 0..130 {
        let name = format!("seed{i}.example.com");
        fake.seed_record("example.com", "TXT", &name, &format!("s{i}"), 3600)
            .expect("seed");
    }
    fake.seed_record("solo.com", "A", "solo.com", "192.0.2.1", 600)
        .expect("seed");
    let blocked = GoDaddyFake::start(GoDaddyFakeOptions::default()).expect("godaddy fake");
    blocked.rate_limit_for(Duration::from_secs(120));
    let env = [
        ("GODADDY_BASE_URL", fake.base_url()),
        ("GODADDY_BLOCKED_URL", blocked.base_url()),
        ("GODADDY_ZONE", "example.com".into()),
        ("GODADDY_SOLO_ZONE", "solo.com".into()),
        ("GODADDY_KEY", DEFAULT_KEY.into()),
        ("GODADDY_SECRET", DEFAULT_SECRET.into()),
        ("GODADDY_DENIED", DENIED.into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
