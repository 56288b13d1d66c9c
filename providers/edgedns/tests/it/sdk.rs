//! The fake proven by Akamai's own client: `tests/sdk/prove.py` drives it with
//! edgegrid-python's `EdgeGridAuth` (on `requests`), as Akamai's docs and tools do: signed
//! zone lists paged by 25, record sets created, replaced, read and deleted, its `.edgerc`
//! reader, and the gateway's refusals (bad signature, unknown token, stale timestamp, replayed
//! nonce, READ-ONLY grant).

use crate::fake::{ApiClient, CLIENT, EdgeFake, EdgeFakeOptions};

const READ_ONLY: (&str, &str, &str) = (
    "akab-readonly-client-token",
    "cmVhZC1vbmx5LXNlY3JldA==",
    "akab-readonly-access",
);

#[test]
fn edgegrid_python_accepts_the_fake() {
    let mut zones: Vec<String> = (0..30).map(|i| format!("z{i:03}.test")).collect();
    zones.push("example.test".into());
    let fake = EdgeFake::start(EdgeFakeOptions {
        zones,
        clients: vec![
            ApiClient::full(CLIENT),
            ApiClient {
                read_write: false,
                ..ApiClient::full(READ_ONLY)
            },
        ],
        ..Default::default()
    })
    .expect("edgedns fake");
    for i in 0..30 {
        let name = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &name, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let env = [
        ("AKAMAI_BASE_URL", fake.base_url()),
        ("AKAMAI_CLIENT_TOKEN", CLIENT.0.into()),
        ("AKAMAI_CLIENT_SECRET", CLIENT.1.into()),
        ("AKAMAI_ACCESS_TOKEN", CLIENT.2.into()),
        (
            "AKAMAI_RO",
            format!("{}|{}|{}", READ_ONLY.0, READ_ONLY.1, READ_ONLY.2),
        ),
        ("AKAMAI_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(
        env!("CARGO_MANIFEST_DIR"),
        &["akamai.edgegrid", "requests"],
        &env,
    );
}
