//! The fake proven by AWS's own client: `tests/sdk/prove.py` drives it with
//! boto3 (zones, UPSERT, ListResourceRecordSets, GetChange, duplicate CREATE, strict DELETE,
//! NextRecordName paging, bad key or secret, unknown zone).

use crate::route53_fake::{Route53Fake, Route53FakeOptions};

#[test]
fn boto3_accepts_the_fake() {
    let r53 = Route53Fake::start(Route53FakeOptions::default()).expect("route53 fake");
    let zone_id = r53.add_zone("example.test", false).expect("zone");
    let env = [
        ("R53_ENDPOINT", r53.endpoint_url()),
        ("R53_AKID", r53.access_key_id()),
        ("R53_SECRET", r53.secret_access_key()),
        ("R53_ZONE", "example.test".into()),
        ("R53_ZONE_ID", zone_id),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["boto3"], &env);
}
