//! The fake proven by Cloudflare's own client: `tests/sdk/prove.py` drives
//! it with the official `cloudflare` Python SDK (zones, records, filters, PATCH/PUT, batch,
//! paging, 81058/81044, bad and prefixed tokens).

use crate::fake::{CloudflareFake, CloudflareFakeOptions, FakeToken};

const CF_TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";
const CFUT: &str = "cfut_0123456789abcdefghijABCDEFGHIJ0123456789abcd";
const CFAT: &str = "cfat_zyxwvutsrqponmlkjihgfedcba9876543210ZYXW_-12";

#[test]
fn the_official_sdk_accepts_the_fake() {
    let cf = CloudflareFake::start(CloudflareFakeOptions {
        tokens: [CF_TOKEN, CFUT, CFAT].map(FakeToken::full).to_vec(),
        ..Default::default()
    })
    .expect("cloudflare fake");
    let env = [
        ("CF_BASE_URL", cf.base_url()),
        ("CF_TOKEN", CF_TOKEN.into()),
        ("CF_TOKEN_CFUT", CFUT.into()),
        ("CF_TOKEN_CFAT", CFAT.into()),
        ("CF_ZONE", "example.test".into()),
        ("CF_ZONE_ID", cf.zone_id("example.test").expect("zone")),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["cloudflare"], &env);
}
