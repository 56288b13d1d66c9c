//! The AWS credential chain, each source proven by the access key id that signed the Route53
//! requests moto recorded: web identity and AssumeRole against moto's STS; credential_process;
//! SSO, container credentials and IMDSv2 against the kit's local endpoints; refresh before
//! expiry.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use wildcert_dns::{DnsProvider, LayeredSettings, TxtSet};
use wildcert_route53::{Route53Provider, Route53Settings};
use wildcert_testkit::Moto;

use crate::route53_fake::{AwsCredentialOptions, AwsCredentialServer};

use crate::common::{init_tracing, name};

fn start() -> Option<Moto> {
    if !wildcert_testkit::require_moto() {
        return None;
    }
    Some(Moto::start().expect("moto starts"))
}

/// An environment: `HOME` in `home`, instance metadata off unless given, plus `pairs`.
fn env(home: &Path, pairs: &[(&str, String)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = HashMap::new();
    m.insert("HOME".into(), home.to_string_lossy().into_owned());
    m.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    m
}

fn provider(env: &HashMap<String, String>) -> Route53Provider {
    wildcert_testkit::install_crypto_provider();
    let s = Route53Settings::from_env_map(env).expect("env");
    Route53Provider::new(&s).expect("provider builds")
}

/// Publish and unpublish one value in a fresh zone; the keys that signed the Route53 calls.
async fn round_trip(moto: &Moto, p: &Route53Provider, zone: &str) -> Vec<String> {
    moto.create_hosted_zone(zone, false).await.expect("zone");
    let before = moto.route53_signers().expect("recording").len();
    let z = p
        .zone_for(&name(&format!("_acme-challenge.{zone}")))
        .await
        .expect("zone_for")
        .expect("a zone");
    let mut set = TxtSet::new();
    set.insert(name(&format!("_acme-challenge.{zone}")), "token-1");
    p.publish(&z, &set).await.expect("publish");
    p.unpublish(&z, &set).await.expect("unpublish");
    let signers = moto.route53_signers().expect("recording");
    assert!(
        signers.len() > before,
        "moto recorded no Route53 request: {signers:?}"
    );
    signers[before..].to_vec()
}

fn one_key(signers: &[String]) -> String {
    let first = signers.first().cloned().unwrap_or_default();
    assert!(
        signers.iter().all(|s| *s == first),
        "one key signs every request: {signers:?}"
    );
    first
}

#[tokio::test]
async fn environment_keys_with_session_token() {
    init_tracing();
    let Some(moto) = start() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_ACCESS_KEY_ID", "ASIAENVKEY".into()),
            ("AWS_SECRET_ACCESS_KEY", "env-secret".into()),
            ("AWS_SESSION_TOKEN", "env-session-token".into()),
        ],
    );
    let signers = round_trip(&moto, &provider(&e), "env.test").await;
    assert_eq!(one_key(&signers), "ASIAENVKEY");
    let tokens: Vec<_> = moto
        .recorded()
        .expect("recording")
        .into_iter()
        .filter(|r| r.url.contains("/2013-04-01/hostedzone/"))
        .filter(|r| r.access_key_id.as_deref() == Some("ASIAENVKEY"))
        .map(|r| r.security_token)
        .collect();
    assert!(
        !tokens.is_empty()
            && tokens
                .iter()
                .all(|t| t.as_deref() == Some("env-session-token")),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn web_identity_via_sts() {
    init_tracing();
    let Some(moto) = start() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let token = home.path().join("token");
    std::fs::write(&token, "eyJhbGciOi.kit-oidc-token.sig\n").expect("token");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token.to_string_lossy().into(),
            ),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/irsa-dns".into(),
            ),
            ("AWS_ROLE_SESSION_NAME", "kit-session".into()),
        ],
    );
    let p = provider(&e);
    assert_eq!(
        p.config().credentials_source,
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    );
    assert_eq!(
        DnsProvider::credential_source(&p).as_deref(),
        Some("web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)")
    );
    let signers = round_trip(&moto, &p, "irsa.test").await;
    let key = one_key(&signers);
    assert!(key.starts_with("ASIA"), "STS credentials: {key}");
    let sts = moto.sts_calls().expect("recording");
    assert_eq!(sts, [("AssumeRoleWithWebIdentity".to_string(), None)]);
}

#[tokio::test]
async fn profile_role_arn_with_source_profile_external_id_and_duration() {
    init_tracing();
    let Some(moto) = start() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir");
    std::fs::write(
        aws.join("credentials"),
        "[base]\naws_access_key_id = AKIABASEPROFILE\naws_secret_access_key = base-secret\n",
    )
    .expect("write");
    std::fs::write(
        aws.join("config"),
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/dns\nsource_profile = base\n\
         external_id = kit-external\nduration_seconds = 900\n",
    )
    .expect("write");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_PROFILE", "deploy".into()),
        ],
    );
    let signers = round_trip(&moto, &provider(&e), "role.test").await;
    let key = one_key(&signers);
    assert!(key.starts_with("ASIA") && key != "AKIABASEPROFILE", "{key}");
    let rec = moto.recorded().expect("recording");
    let assume: Vec<_> = rec
        .iter()
        .filter(|r| r.body.contains("Action=AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1, "one AssumeRole for the whole run");
    assert_eq!(
        assume[0].access_key_id.as_deref(),
        Some("AKIABASEPROFILE"),
        "signed with the source profile's key"
    );
    assert!(
        assume[0].body.contains("ExternalId=kit-external")
            && assume[0].body.contains("DurationSeconds=900"),
        "{}",
        assume[0].body
    );
}

#[tokio::test]
async fn lego_assume_role_arn_and_external_id() {
    init_tracing();
    let Some(moto) = start() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_ACCESS_KEY_ID", "AKIALEGOBASE".into()),
            ("AWS_SECRET_ACCESS_KEY", "lego-secret".into()),
            (
                "AWS_ASSUME_ROLE_ARN",
                "arn:aws:iam::123456789012:role/lego".into(),
            ),
            ("AWS_EXTERNAL_ID", "lego-external".into()),
        ],
    );
    let signers = round_trip(&moto, &provider(&e), "lego.test").await;
    let key = one_key(&signers);
    assert!(key.starts_with("ASIA") && key != "AKIALEGOBASE", "{key}");
    let rec = moto.recorded().expect("recording");
    let assume: Vec<_> = rec
        .iter()
        .filter(|r| r.body.contains("Action=AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1);
    assert_eq!(assume[0].access_key_id.as_deref(), Some("AKIALEGOBASE"));
    assert!(assume[0].body.contains("ExternalId=lego-external"));
}

#[tokio::test]
async fn credential_process_profile() {
    init_tracing();
    let Some(moto) = start() else { return };
    let home = tempfile::tempdir().expect("tmp");
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir");
    let script = home.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESSKEY\", \"SecretAccessKey\": \"p-secret\"}'\n",
    )
    .expect("script");
    std::fs::write(
        aws.join("config"),
        format!("[default]\ncredential_process = sh {}\n", script.display()),
    )
    .expect("write");
    let e = env(home.path(), &[("AWS_ENDPOINT_URL", moto.endpoint_url())]);
    let signers = round_trip(&moto, &provider(&e), "process.test").await;
    assert_eq!(one_key(&signers), "AKIAPROCESSKEY");
}

#[tokio::test]
async fn sso_profile_with_cached_token() {
    init_tracing();
    let Some(moto) = start() else { return };
    let portal = AwsCredentialServer::start(AwsCredentialOptions {
        access_key_prefix: "ASIASSO".into(),
        sso_token: Some("kit-sso-access-token".into()),
        ..Default::default()
    })
    .expect("portal");
    let home = tempfile::tempdir().expect("tmp");
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).expect("mkdir");
    std::fs::write(
        aws.join("config"),
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = DnsAdmin\n\
         [sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://corp.awsapps.com/start\n",
    )
    .expect("write");
    // `aws sso login` caches the token under sha1("corp").
    std::fs::write(
        aws.join("sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        r#"{"accessToken":"kit-sso-access-token","expiresAt":"2099-01-01T00:00:00Z","region":"eu-west-1","startUrl":"https://corp.awsapps.com/start"}"#,
    )
    .expect("cache");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL_ROUTE_53", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_SSO", portal.endpoint_url()),
            ("AWS_PROFILE", "dev".into()),
        ],
    );
    let signers = round_trip(&moto, &provider(&e), "sso.test").await;
    assert_eq!(one_key(&signers), "ASIASSO0001");
    assert_eq!(portal.issued(), ["ASIASSO0001"]);
}

#[tokio::test]
async fn container_credentials_full_uri_with_token_file() {
    init_tracing();
    let Some(moto) = start() else { return };
    let agent = AwsCredentialServer::start(AwsCredentialOptions {
        access_key_prefix: "ASIATASK".into(),
        container_token: Some("kit-pod-identity-token".into()),
        ..Default::default()
    })
    .expect("agent");
    let home = tempfile::tempdir().expect("tmp");
    let token = home.path().join("eks-pod-identity-token");
    std::fs::write(&token, "kit-pod-identity-token\n").expect("token");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.container_url()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-one".into()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token.to_string_lossy().into(),
            ),
        ],
    );
    let signers = round_trip(&moto, &provider(&e), "task.test").await;
    assert_eq!(one_key(&signers), "ASIATASK0001");
}

#[tokio::test]
async fn instance_metadata_v2() {
    init_tracing();
    let Some(moto) = start() else { return };
    let imds = AwsCredentialServer::start(AwsCredentialOptions {
        access_key_prefix: "ASIAIMDS".into(),
        ..Default::default()
    })
    .expect("imds");
    let home = tempfile::tempdir().expect("tmp");
    let mut e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint_url()),
        ],
    );
    e.remove("AWS_EC2_METADATA_DISABLED");
    let p = provider(&e);
    assert!(
        p.config().credentials_source.contains("IMDSv2"),
        "{}",
        p.config().credentials_source
    );
    let signers = round_trip(&moto, &p, "ec2.test").await;
    assert_eq!(one_key(&signers), "ASIAIMDS0001");
    let reqs = imds.requests();
    assert_eq!(
        reqs.first().map(|r| (r.method.as_str(), r.target.as_str())),
        Some(("PUT", "/latest/api/token")),
        "IMDSv2: a token first: {reqs:?}"
    );
    assert!(reqs.iter().all(|r| r.status == 200), "{reqs:?}");
}

#[tokio::test]
async fn temporary_credentials_are_refreshed_before_they_expire() {
    init_tracing();
    let Some(moto) = start() else { return };
    // Credentials valid for 5 min 3 s: fresh at first, inside the 5-minute refresh window
    // three seconds later.
    let agent = AwsCredentialServer::start(AwsCredentialOptions {
        access_key_prefix: "ASIAROT".into(),
        valid_for: Duration::from_secs(303),
        ..Default::default()
    })
    .expect("agent");
    let home = tempfile::tempdir().expect("tmp");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint_url()),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.container_url()),
        ],
    );
    let p = provider(&e);
    moto.create_hosted_zone("rot.test", false)
        .await
        .expect("zone");
    let z = p
        .zone_for(&name("_acme-challenge.rot.test"))
        .await
        .expect("zone_for")
        .expect("zone");
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.rot.test"), "v");
    p.publish(&z, &set).await.expect("publish");
    let first = moto.route53_signers().expect("recording");
    assert_eq!(one_key(&first), "ASIAROT0001");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    p.unpublish(&z, &set).await.expect("unpublish");
    let all = moto.route53_signers().expect("recording");
    let later = &all[first.len()..];
    assert_eq!(one_key(later), "ASIAROT0002", "refreshed: {all:?}");
    assert_eq!(agent.issued(), ["ASIAROT0001", "ASIAROT0002"]);
}

#[tokio::test]
async fn expired_token_answer_fetches_fresh_credentials_once() {
    init_tracing();
    // Credentials valid for an hour, but AWS says the first ones expired (revoked session,
    // clock skew at the issuer): fetch again and retry, instead of failing the run.
    let agent = AwsCredentialServer::start(AwsCredentialOptions {
        access_key_prefix: "ASIAEXP".into(),
        ..Default::default()
    })
    .expect("agent");
    let fake = crate::route53_fake::Route53Fake::start(crate::route53_fake::Route53FakeOptions {
        extra_keys: (1..=3)
            .map(|n| (format!("ASIAEXP{n:04}"), format!("kit-secret-{n}")))
            .collect(),
        ..Default::default()
    })
    .expect("fake");
    let zone_id = fake.add_zone("exp.test", false).expect("zone");
    let home = tempfile::tempdir().expect("tmp");
    let e = env(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", fake.endpoint_url()),
            ("AWS_HOSTED_ZONE_ID", zone_id.clone()),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.container_url()),
        ],
    );
    let p = provider(&e);
    let zone = wildcert_dns::Zone {
        name: name("exp.test"),
        provider_id: Some(zone_id),
    };
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.exp.test"), "v");
    p.publish(&zone, &set).await.expect("publish");
    fake.expire_key("ASIAEXP0001");
    p.unpublish(&zone, &set)
        .await
        .expect("unpublish with fresh credentials");
    assert_eq!(agent.issued(), ["ASIAEXP0001", "ASIAEXP0002"]);
    let signers: Vec<String> = fake.signers().into_iter().flatten().collect();
    assert_eq!(
        signers.last().map(String::as_str),
        Some("ASIAEXP0002"),
        "{signers:?}"
    );
    assert!(fake.txt("_acme-challenge.exp.test").is_none());
    // Fresh ones expired too: one refresh per request, then the error.
    fake.expire_key("ASIAEXP0002");
    fake.expire_key("ASIAEXP0003");
    let err = p.publish(&zone, &set).await.expect_err("still expired");
    assert!(
        err.to_string().contains("ExpiredToken") && err.to_string().contains("clock"),
        "{err}"
    );
    assert_eq!(
        agent.issued(),
        ["ASIAEXP0001", "ASIAEXP0002", "ASIAEXP0003"]
    );
}

#[tokio::test]
async fn credential_endpoint_failures_are_retried() {
    // The container agent answers 503, then drops the connection, then gives credentials:
    // the shared retry policy rides it out (the old fetch gave up at the first 503).
    init_tracing();
    let agent = wildcert_testkit::ScriptedHttp::start(wildcert_testkit::ScriptedReply::status(
        200,
        r#"{"AccessKeyId":"ASIARETRY1","SecretAccessKey":"s3cret","Token":"tok","Expiration":"2099-01-01T00:00:00Z"}"#,
    ))
    .expect("agent");
    agent.push([
        wildcert_testkit::ScriptedReply::status(503, "busy"),
        wildcert_testkit::ScriptedReply::HangUp,
    ]);
    let home = tempfile::tempdir().expect("tmp");
    let e = env(
        home.path(),
        &[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", agent.url()),
        )],
    );
    let p = provider(&e);
    let said = p
        .check_credentials()
        .await
        .expect("credentials after retries");
    assert!(said.contains("ASIARETRY1"), "{said}");
    assert_eq!(agent.count(), 3);

    // Bounded: an agent that always fails is asked three times, then reported.
    let agent =
        wildcert_testkit::ScriptedHttp::start(wildcert_testkit::ScriptedReply::status(500, "down"))
            .expect("agent");
    let e = env(
        home.path(),
        &[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", agent.url()),
        )],
    );
    let err = provider(&e).check_credentials().await.expect_err("down");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(agent.count(), 3);
}
