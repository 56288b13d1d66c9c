//! The fake proven by Azure's own clients: `tests/sdk/prove.py` drives it with azure-identity
//! (client secret, certificate, workload identity, IMDS and App Service managed identity; the
//! authority at the fake) and azure-mgmt-dns' `DnsManagementClient` (zones over pages, record
//! sets get / create_or_update / delete with ETags, 412, 404, 401 and 403), through a TLS front
//! the script starts (azure-core and MSAL insist on https).

use crate::fake::{
    AzureFake, AzureFakeOptions, CLIENT, FakeToken, IDENTITY_HEADER, RG, SUB, TENANT,
};

#[test]
fn the_official_sdk_accepts_the_fake() {
    let (pem, sha1, _) = crate::client_certificate();
    let fake = AzureFake::start(AzureFakeOptions {
        zones: (0..5)
            .map(|i| format!("z{i}.test"))
            .chain(["example.test".into()])
            .collect(),
        clients: vec![
            (CLIENT.0.into(), FakeToken::full(CLIENT.1)),
            (
                "reader".into(),
                FakeToken {
                    dns_edit: false,
                    ..FakeToken::full("reader-secret")
                },
            ),
            (
                "workload".into(),
                FakeToken::full("eyJhbGciOiJSUzI1NiJ9.federated.sig"),
            ),
            ("certified".into(), FakeToken::full(&sha1)),
        ],
        ..Default::default()
    })
    .expect("azure fake");
    for i in 0..7 {
        fake.seed(&format!("many{i}.example.test"), "seeded");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (cert_file, token_file) = (dir.path().join("client.pem"), dir.path().join("token"));
    std::fs::write(&cert_file, &pem).expect("write");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.federated.sig").expect("write");
    let path = |p: &std::path::Path| p.display().to_string();
    let env = [
        ("AZ_FAKE_URL", fake.base_url()),
        ("AZ_TENANT", TENANT.into()),
        ("AZ_CLIENT", CLIENT.0.into()),
        ("AZ_SECRET", CLIENT.1.into()),
        ("AZ_SUB", SUB.into()),
        ("AZ_RG", RG.into()),
        ("AZ_ZONE", "example.test".into()),
        ("AZ_CERT_PEM", path(&cert_file)),
        ("AZ_FEDERATED_FILE", path(&token_file)),
        ("AZ_IDENTITY_HEADER", IDENTITY_HEADER.into()),
    ];
    wildcert_testkit::prove_with_sdk(
        env!("CARGO_MANIFEST_DIR"),
        &["azure.mgmt.dns", "azure.identity"],
        &env,
    );
}
