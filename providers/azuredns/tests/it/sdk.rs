//! The fake proven by Azure's own clients: `tests/sdk/prove.py` drives it with azure-identity's
//! `ClientSecretCredential` (authority = the fake) and azure-mgmt-dns' `DnsManagementClient`
//! (zones listed over pages, record sets get / create_or_update / delete with ETags, 412, 404,
//! 401 and 403), through a TLS front the script starts (azure-core and MSAL insist on https).

use crate::fake::{AzureFake, AzureFakeOptions, CLIENT, FakeToken, SUB, TENANT};

#[test]
fn the_official_sdk_accepts_the_fake() {
    let fake = AzureFake::start(AzureFakeOptions {
        zones: (0..5).map(|i| format!("z{i}.test")).chain(["example.test".into()]).collect(),
        clients: vec![
            (CLIENT.0.into(), FakeToken::full(CLIENT.1)),
            ("reader".into(), FakeToken { dns_edit: false, ..FakeToken::full("reader-secret") }),
        ],
        ..Default::default()
    })
    .expect("azure fake");
    for i in 0..7 {
        fake.seed(&format!("many{i}.example.test"), "seeded");
    }
    let env = [
        ("AZ_FAKE_URL", fake.base_url()),
        ("AZ_TENANT", TENANT.into()),
        ("AZ_CLIENT", CLIENT.0.into()),
        ("AZ_SECRET", CLIENT.1.into()),
        ("AZ_SUB", SUB.into()),
        ("AZ_ZONE", "example.test".into()),
    ];
    wildcert_testkit::prove_with_sdk(env!("CARGO_MANIFEST_DIR"), &["azure.mgmt.dns", "azure.identity"], &env);
}
