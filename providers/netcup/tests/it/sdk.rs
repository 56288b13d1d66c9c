//! The fake proven by a netcup client (netcup publishes no official SDK): `tests/sdk/prove.py`
//! drives it with dns-lexicon's `netcup` provider (the client certbot-dns-netcup is built on:
//! login, infoDnsZone, infoDnsRecords, updateDnsRecords with and without `id` and with
//! `deleterecord`, netcup's errors), plus raw requests in the shapes lego's netcup client sends
//! (logout, a dead session, a zone without records, the rate-limit answer).

use crate::fake::{API_KEY, API_PASSWORD, CUSTOMER, NetcupFake, NetcupFakeOptions};

#[test]
fn lexicon_accepts_the_fake() {
    let fake = NetcupFake::start(NetcupFakeOptions {
        zones: vec!["example.test".into(), "empty.test".into()],
        requests_per_minute: 100,
        ..Default::default()
    })
    .expect("netcup fake");
    // netcup lists every record of a zone in one answer (no pages): many of them.
    for i in 0..120 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let env = [
        ("NETCUP_ENDPOINT", fake.base_url()),
        ("NETCUP_CUSTOMER", CUSTOMER.into()),
        ("NETCUP_KEY", API_KEY.into()),
        ("NETCUP_PASSWORD", API_PASSWORD.into()),
        ("NETCUP_ZONE", "example.test".into()),
        ("NETCUP_EMPTY_ZONE", "empty.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["lexicon"], &env);
}
