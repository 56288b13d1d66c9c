//! Against moto in server mode: real XML, real request routing; the happy path and request
//! shapes; the contract is the conformance suite. (moto does not check signatures, always answers INSYNC and accepts lax DELETEs;
//! the fake covers those.)

use wildcert_dns::{DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_testkit::Moto;

use crate::common::{init_tracing, name, provider, settings};

fn start() -> Option<Moto> {
    if !wildcert_testkit::require_moto() {
        return None;
    }
    Some(Moto::start().expect("moto starts"))
}

#[tokio::test]
async fn zone_lookup_walks_up_and_skips_private_zones() {
    init_tracing();
    let Some(moto) = start() else { return };
    let public = moto
        .create_hosted_zone("corp.test", false)
        .await
        .expect("public zone");
    let private = moto
        .create_hosted_zone("corp.test", true)
        .await
        .expect("private zone");
    let only_private = moto
        .create_hosted_zone("internal.test", true)
        .await
        .expect("private zone");
    let sub = moto
        .create_hosted_zone("sub.corp.test", false)
        .await
        .expect("sub zone");
    let s = settings(&moto.endpoint_url(), "AKIAMOTO", "moto-secret");
    let p = provider(&s);

    let z = p
        .zone_for(&name("_acme-challenge.a.b.corp.test"))
        .await
        .expect("lookup")
        .expect("zone");
    assert_eq!(
        (z.name.as_str(), z.provider_id.as_deref()),
        ("corp.test", Some(public.as_str()))
    );
    let z = p
        .zone_for(&name("_acme-challenge.sub.corp.test"))
        .await
        .expect("lookup")
        .expect("zone");
    assert_eq!(
        z.provider_id.as_deref(),
        Some(sub.as_str()),
        "the closest zone wins"
    );
    let e = p
        .zone_for(&name("_acme-challenge.internal.test"))
        .await
        .expect_err("private only");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");
    assert!(e.to_string().contains("private_zone = true"), "{e}");

    let mut s = s;
    s.private_zone = Some(true);
    let p = provider(&s);
    let z = p
        .zone_for(&name("_acme-challenge.corp.test"))
        .await
        .expect("lookup")
        .expect("zone");
    assert_eq!(z.provider_id.as_deref(), Some(private.as_str()));
    let z = p
        .zone_for(&name("_acme-challenge.internal.test"))
        .await
        .expect("lookup")
        .expect("zone");
    assert_eq!(z.provider_id.as_deref(), Some(only_private.as_str()));
}

#[tokio::test]
async fn configured_zone_id_and_unknown_zone() {
    init_tracing();
    let Some(moto) = start() else { return };
    let zone_id = moto
        .create_hosted_zone("conf.test", false)
        .await
        .expect("zone");
    let mut s = settings(&moto.endpoint_url(), "AKIAMOTO", "moto-secret");
    s.hosted_zone_id = Some(format!("/hostedzone/{zone_id}"));
    let p = provider(&s);
    // With a configured id the apex comes from DNS discovery, not the API.
    assert_eq!(
        p.zone_for(&name("_acme-challenge.conf.test"))
            .await
            .expect("ok"),
        None
    );
    let zone = Zone::new(name("conf.test"));
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.conf.test"), "only-ours");
    p.publish(&zone, &set).await.expect("publish");
    assert_eq!(
        moto.txt(&zone_id, "_acme-challenge.conf.test")
            .await
            .expect("read")
            .map(|(_, v)| v),
        Some(vec!["only-ours".to_string()])
    );
    p.unpublish(&zone, &set).await.expect("unpublish");
    assert_eq!(
        moto.txt(&zone_id, "_acme-challenge.conf.test")
            .await
            .expect("read"),
        None
    );

    s.hosted_zone_id = Some("ZNOSUCHZONE".into());
    let e = provider(&s)
        .publish(&zone, &set)
        .await
        .expect_err("unknown zone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");
    assert!(e.to_string().contains("NoSuchHostedZone"), "{e}");
}

#[tokio::test]
async fn set_identifier_names_are_refused_before_any_change() {
    init_tracing();
    let Some(moto) = start() else { return };
    let zone_id = moto
        .create_hosted_zone("routed.test", false)
        .await
        .expect("zone");
    moto.upsert_weighted_txt(&zone_id, "_acme-challenge.routed.test", "blue", 10, "blue")
        .await
        .expect("weighted");
    moto.upsert_weighted_txt(
        &zone_id,
        "_acme-challenge.routed.test",
        "green",
        90,
        "green",
    )
    .await
    .expect("weighted");
    let p = provider(&settings(&moto.endpoint_url(), "AKIAROUTED", "s"));
    let zone = p
        .zone_for(&name("_acme-challenge.routed.test"))
        .await
        .expect("zone_for")
        .expect("zone");
    let mut set = TxtSet::new();
    set.insert(name("_acme-challenge.routed.test"), "ours");
    let e = p.publish(&zone, &set).await.expect_err("routed name");
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Rejected { .. }), "{text}");
    assert!(
        text.contains("SetIdentifier") && text.contains("CNAME"),
        "{text}"
    );
    let changes: Vec<_> = moto
        .recorded()
        .expect("recording")
        .into_iter()
        .filter(|r| r.method == "POST" && r.access_key_id.as_deref() == Some("AKIAROUTED"))
        .collect();
    assert!(changes.is_empty(), "no change was sent: {changes:?}");
    // Cleanup leaves the routed sets alone.
    p.unpublish(&zone, &set).await.expect("unpublish");
}
