//! Integration tests of the azuredns provider against its Azure fake (providers/azuredns/tests/
//! fake): the conformance suite, a wildcard + apex certificate issued by Pebble through the fake
//! and a real BIND zone, and Azure's own traps (ETag conflicts, public vs private zones, zone and
//! resource group discovery, 401 vs 403, every kind of credential).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Azure);

use std::sync::Arc;

use wildcert_azuredns::{AzureDnsProvider, AzureDnsSettings};
use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_testkit::{FakeToken, Reply};

use crate::fake::{AzureFake, AzureFakeOptions, CLIENT, IDENTITY_HEADER, RG, SUB, TENANT};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: AzureFakeOptions) -> AzureFake {
    init_logs();
    AzureFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default service principal (client secret).
pub fn settings(fake: &AzureFake) -> AzureDnsSettings {
    AzureDnsSettings {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT.0.into()),
        client_secret: Some(Secret::new(CLIENT.1)),
        subscription_id: Some(SUB.into()),
        base_url: Some(fake.base_url()),
        authority_host: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &AzureDnsSettings) -> AzureDnsProvider {
    AzureDnsProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

async fn zone_of(p: &AzureDnsProvider, fqdn: &str) -> Result<Zone, ProviderError> {
    Ok(p.zone_for(&name(fqdn)).await?.expect("a zone"))
}

/// A self-signed client certificate and its RSA key in one PEM, its `x5t` (SHA-1) and
/// `x5t#S256` thumbprints.
pub fn client_certificate() -> (String, String, String) {
    use base64::Engine as _;
    let key =
        wildcert_acme::AccountKey::generate(wildcert_acme::AccountKeyType::Rsa2048).expect("rsa");
    let kp = rcgen::KeyPair::from_pem(&key.to_pem()).expect("rcgen key");
    let params = rcgen::CertificateParams::new(vec!["wildcert".into()]).expect("params");
    let cert = params.self_signed(&kp).expect("cert");
    let thumb = |alg| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ring::digest::digest(alg, cert.der()))
    };
    let pem = format!("{}{}", cert.pem(), key.to_pem());
    (
        pem,
        thumb(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        thumb(&ring::digest::SHA256),
    )
}

/// Publish and remove one value through `p`, leaving the foreign one.
async fn round_trip(fake: &AzureFake, p: &AzureDnsProvider) {
    let zone = zone_of(p, NAME).await.expect("zone");
    p.publish(&zone, &set(&[(NAME, "ours")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["foreign", "ours"]);
    p.unpublish(&zone, &set(&[(NAME, "ours")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(AzureFakeOptions::backed_by(&topo));
    fake.seed(NAME, "keep-me");
    let env = [
        ("AZURE_TENANT_ID", TENANT.to_string()),
        ("AZURE_CLIENT_ID", CLIENT.0.to_string()),
        ("AZURE_CLIENT_SECRET", CLIENT.1.to_string()),
        ("AZURE_SUBSCRIPTION_ID", SUB.to_string()),
        ("AZURE_AUTHORITY_HOST", fake.base_url()),
        ("AZURE_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "azuredns", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn every_write_is_guarded_by_the_etag_and_a_412_is_merged_again() {
    let fake = fake(AzureFakeOptions::default());
    fake.seed(NAME, "foreign");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await.expect("zone");
    fake.clear_requests();
    // Another writer wins the race once: the first PUT is refused as the real API would.
    let body = serde_json::json!({"code": "PreconditionFailed", "message": "The Record set _acme-challenge has been modified (etag mismatch)."});
    fake.fail_after(1, 1, Reply::json(412, &body));
    p.publish(&zone, &set(&[(NAME, "wild"), (NAME, "apex")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["apex", "foreign", "wild"]);
    let path = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{zt}/{zone}/{type}/{name}";
    let (gets, puts) = (
        fake.count_where(|r| r.method == "GET"),
        fake.count_where(|r| r.method == "PUT"),
    );
    assert_eq!((gets, puts), (2, 2), "read again after the 412");
    let guarded = |r: &wildcert_testkit::Audited| {
        r.headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("if-match") || k.eq_ignore_ascii_case("if-none-match")
        })
    };
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .all(guarded),
        "no blind PUT"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.method != "PUT" || r.route.as_deref() == Some(path))
    );
    // A stale ETag is refused by the fake as by Azure; a new set is created with If-None-Match.
    let before = fake.etag(NAME);
    fake.seed(NAME, "late");
    assert_ne!(before, fake.etag(NAME), "any change makes a new ETag");
    p.unpublish(&zone, &set(&[(NAME, "wild"), (NAME, "apex")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign", "late"]);
    // The last value gone: the set is deleted, with If-Match.
    let only = set(&[("_acme-challenge.x.example.test", "v")]);
    p.publish(&zone, &only).await.expect("publish");
    p.unpublish(&zone, &only).await.expect("unpublish");
    let deleted = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect::<Vec<_>>();
    assert_eq!(deleted.len(), 1);
    assert!(
        guarded(&deleted[0]) && deleted[0].status == 200,
        "{:?}",
        deleted[0]
    );
}

#[tokio::test]
async fn endless_conflicts_are_bounded() {
    let fake = fake(AzureFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await.expect("zone");
    let body = serde_json::json!({"code": "PreconditionFailed", "message": "etag mismatch"});
    fake.fail_after(0, 1000, Reply::json(412, &body));
    let e = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("gives up");
    assert!(
        matches!(e, ProviderError::Rejected { .. }) && e.to_string().contains("412"),
        "{e}"
    );
}

#[tokio::test]
async fn zones_and_resource_groups_are_discovered_over_every_page() {
    let mut zones: Vec<String> = (0..7).map(|i| format!("z{i}.test")).collect();
    zones.extend(["example.test".into(), "sub.example.test".into()]);
    let fake = fake(AzureFakeOptions {
        zones,
        max_top: 2,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, "_acme-challenge.a.sub.example.test")
        .await
        .expect("zone");
    assert_eq!(
        (zone.name.as_str(), zone.provider_id.as_deref()),
        ("sub.example.test", Some(RG))
    );
    assert_eq!(
        fake.count_where(
            |r| r.method == "GET" && r.path.to_ascii_lowercase().ends_with("/dnszones")
        ),
        5,
        "five pages"
    );
    let e = zone_of(&p, "_acme-challenge.nowhere.test")
        .await
        .expect_err("missing");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");
    assert!(
        e.to_string().contains("sub.example.test, z0.test"),
        "lists the zones it sees: {e}"
    );
    // Given resource group and zone: no listing at all.
    let given = AzureDnsSettings {
        resource_group: Some(RG.into()),
        zone: Some("example.test".into()),
        ..settings(&fake)
    };
    fake.clear_requests();
    let p = provider(&given);
    let zone = zone_of(&p, NAME).await.expect("zone");
    assert_eq!(zone.provider_id.as_deref(), Some(RG));
    assert_eq!(fake.requests().len(), 0);
    let wrong = AzureDnsSettings {
        resource_group: Some("rg-other".into()),
        zone: Some("example.test".into()),
        ..settings(&fake)
    };
    let p = provider(&wrong);
    let zone = zone_of(&p, NAME).await.expect("zone");
    let e = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("no such group");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. })
            && e.to_string().contains("ResourceGroupNotFound"),
        "{e}"
    );
}

#[tokio::test]
async fn private_zones_are_apart_from_public_ones() {
    let fake = fake(AzureFakeOptions {
        private: vec!["corp.test".into()],
        ..Default::default()
    });
    let public = provider(&settings(&fake));
    let e = zone_of(&public, "_acme-challenge.corp.test")
        .await
        .expect_err("not public");
    assert!(
        e.to_string().contains("public zone") && e.to_string().contains("example.test"),
        "{e}"
    );
    let private = provider(&AzureDnsSettings {
        private_zone: Some(true),
        ..settings(&fake)
    });
    let name = "_acme-challenge.corp.test";
    let zone = zone_of(&private, name).await.expect("private zone");
    fake.seed(name, "foreign");
    private
        .publish(&zone, &set(&[(name, "ours")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(name), ["foreign", "ours"]);
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert!(
        put.path
            .contains("/privateDnsZones/corp.test/TXT/_acme-challenge"),
        "{}",
        put.path
    );
    assert!(
        put.body.contains("\"txtRecords\"") && put.body.contains("\"ttl\""),
        "{}",
        put.body
    );
    private
        .unpublish(&zone, &set(&[(name, "ours")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.txt_values(name), ["foreign"]);
}

#[tokio::test]
async fn refused_sign_in_and_missing_role_are_told_apart() {
    let reader = FakeToken {
        dns_edit: false,
        ..FakeToken::full("reader-secret")
    };
    let fake = fake(AzureFakeOptions {
        clients: vec![
            (CLIENT.0.into(), FakeToken::full(CLIENT.1)),
            ("reader".into(), reader),
        ],
        ..Default::default()
    });
    let e = |s: AzureDnsSettings| async move {
        let p = provider(&s);
        let r = async {
            p.publish(&zone_of(&p, NAME).await?, &set(&[(NAME, "v")]))
                .await
        }
        .await;
        r.expect_err("refused")
    };
    let wrong = e(AzureDnsSettings {
        client_secret: Some(Secret::new("bad-secret-value")),
        ..settings(&fake)
    })
    .await;
    assert!(matches!(wrong, ProviderError::Auth { .. }), "{wrong}");
    let text = wrong.to_string();
    assert!(
        text.contains("AZURE_CLIENT_SECRET")
            && text.contains("AADSTS7000215")
            && !text.contains("bad-secret-value"),
        "{text}"
    );
    let tenant = e(AzureDnsSettings {
        tenant_id: Some("t-unknown".into()),
        ..settings(&fake)
    })
    .await;
    assert!(
        tenant.to_string().contains("AZURE_TENANT_ID")
            && tenant.to_string().contains("AADSTS90002"),
        "{tenant}"
    );
    let ro = AzureDnsSettings {
        client_id: Some("reader".into()),
        client_secret: Some(Secret::new("reader-secret")),
        ..settings(&fake)
    };
    let denied = e(ro).await;
    assert!(matches!(denied, ProviderError::Auth { .. }), "{denied}");
    assert!(
        denied.to_string().contains("403 AuthorizationFailed")
            && denied.to_string().contains("DNS Zone Contributor"),
        "{denied}"
    );
    let sub = e(AzureDnsSettings {
        subscription_id: Some("sub-x".into()),
        ..settings(&fake)
    })
    .await;
    assert!(
        sub.to_string().contains("SubscriptionNotFound")
            && sub.to_string().contains("AZURE_SUBSCRIPTION_ID"),
        "{sub}"
    );
}

#[tokio::test]
async fn managed_workload_and_certificate_identities_sign_in() {
    let (pem, x5t, _) = client_certificate();
    let fake = fake(AzureFakeOptions {
        clients: vec![
            (CLIENT.0.into(), FakeToken::full(CLIENT.1)),
            (
                "workload".into(),
                FakeToken::full("eyJhbGciOiJSUzI1NiJ9.federated.sig"),
            ),
            ("certified".into(), FakeToken::full(&x5t)),
        ],
        ..Default::default()
    });
    fake.seed(NAME, "foreign");
    let dir = tempfile::tempdir().expect("tmp");
    let (token_file, pem_file) = (dir.path().join("token"), dir.path().join("client.pem"));
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.federated.sig\n").expect("write");
    std::fs::write(&pem_file, pem).expect("write");
    let none = AzureDnsSettings {
        client_id: None,
        tenant_id: None,
        client_secret: None,
        ..settings(&fake)
    };
    let cases = [
        (
            "imds",
            AzureDnsSettings {
                imds_endpoint: Some(fake.base_url()),
                ..none.clone()
            },
            "/metadata/identity/oauth2/token",
        ),
        (
            "app service",
            AzureDnsSettings {
                identity_endpoint: Some(format!("{}/msi/token", fake.base_url())),
                identity_header: Some(Secret::new(IDENTITY_HEADER)),
                ..none.clone()
            },
            "/msi/token",
        ),
        (
            "workload",
            AzureDnsSettings {
                client_id: Some("workload".into()),
                tenant_id: Some(TENANT.into()),
                federated_token_file: Some(token_file.clone()),
                ..none.clone()
            },
            "/oauth2/v2.0/token",
        ),
        (
            "certificate",
            AzureDnsSettings {
                client_id: Some("certified".into()),
                tenant_id: Some(TENANT.into()),
                client_certificate_path: Some(pem_file.clone()),
                ..none.clone()
            },
            "/oauth2/v2.0/token",
        ),
    ];
    for (what, s, endpoint) in cases {
        fake.clear_requests();
        let p = provider(&s);
        round_trip(&fake, &p).await;
        assert_eq!(
            fake.count_where(|r| r.path.ends_with(endpoint)),
            1,
            "{what}: one token, cached"
        );
    }
    // No managed identity answers (nothing listens): a credentials error that says what to set.
    let port = wildcert_testkit::free_tcp_port().expect("port");
    let s = AzureDnsSettings {
        imds_endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..none
    };
    let p = Arc::new(provider(&s));
    let e = zone_of(&p, NAME).await.expect_err("no identity");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("AZURE_CLIENT_SECRET"),
        "{e}"
    );
}
