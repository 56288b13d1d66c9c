//! Against the newest upstream Pebble (ARI, profiles, dns-account-01, dns-persist-01), with
//! pebble-challtestsrv as its DNS. Skipped when the upstream build is missing (fails under
//! `CI=true`).

use wildcert_acme::{
    Account, AcmeClient, AuthorizationStatus, CertId, CertKey, CertKeyType, ClientConfig, Error,
    NewOrderOptions, Order, OrderStatus, ProblemType, TransportKind, ValidationMethod,
};
use wildcert_dns::persist::{self, PersistMatch, PersistRecord, PersistRequirement};
use wildcert_testkit::{
    ChallTestSrv, Pebble, PebbleFlavor, PebbleOptions, PebbleProfile, require_pebble_upstream,
};

use crate::common::{Env, client_for, deadline, new_account};

/// The CA's CAA identity (its dns-persist-01 issuer domain name).
const ISSUER: &str = "ca.wildcert.test";

async fn up_env(opts: PebbleOptions) -> Option<Env> {
    if !require_pebble_upstream() {
        return None;
    }
    let dns = ChallTestSrv::start().expect("challtestsrv starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(dns.dns_addr()),
        flavor: PebbleFlavor::Upstream,
        caa_identities: vec![ISSUER.into()],
        ..opts
    })
    .expect("upstream pebble starts");
    assert_eq!(pebble.flavor(), PebbleFlavor::Upstream);
    let client = client_for(&pebble).await;
    Some(Env {
        pebble,
        dns,
        client,
    })
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Order `list` and answer every authorization with dns-account-01 (records published at
/// the account's own label), then wait until the order is ready.
async fn authorize_account01(env: &Env, account: &Account, list: &[&str]) -> Order {
    let order = account
        .new_order(&names(list), &NewOrderOptions::default())
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let label = account.dns_account_label();
    for a in &authzs {
        let ch = a
            .require_challenge(ValidationMethod::DnsAccount01)
            .expect("dns-account-01 offered");
        let record = account.record_name(a, ValidationMethod::DnsAccount01);
        assert_eq!(
            record,
            format!("_{label}._acme-challenge.{}", a.identifier()),
            "wildcards are validated at their base name"
        );
        let value = account.challenge_txt_value(ch).expect("value");
        env.dns.set_txt(&record, &value).await.expect("TXT set");
    }
    for a in &authzs {
        let ch = a
            .require_challenge(ValidationMethod::DnsAccount01)
            .expect("ch");
        account.respond(ch).await.expect("respond");
    }
    for a in &authzs {
        account
            .wait_authorization(&a.url, deadline())
            .await
            .unwrap_or_else(|e| panic!("{} not valid: {e}\n{}", a.name(), env.pebble.log()));
    }
    account
        .wait_order_ready(&order.url, deadline())
        .await
        .expect("order ready")
}

async fn finalize(account: &Account, order: &Order) -> wildcert_acme::CertificateChain {
    let key = CertKey::generate(CertKeyType::Ec256).expect("key");
    let order = account
        .finalize_and_wait(order, &key, deadline())
        .await
        .expect("valid");
    account
        .download_certificate(&order, None)
        .await
        .expect("download")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_account01_wildcard_and_apex() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let label = account.dns_account_label();
    assert_eq!(label.len(), 16);
    assert!(
        label
            .chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)),
        "{label}"
    );
    // Nothing at `_acme-challenge.<name>`: only the account-label name is published.
    let order =
        authorize_account01(&env, &account, &["*.acct.example.com", "acct.example.com"]).await;
    let chain = finalize(&account, &order).await;
    let mut sans = chain.leaf_dns_names().expect("sans");
    sans.sort();
    assert_eq!(sans, ["*.acct.example.com", "acct.example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_account01_at_the_dns01_name_fails_and_pending_authorizations_are_deactivated() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = account
        .new_order(
            &names(&["bad.example.com", "other.example.com"]),
            &NewOrderOptions::default(),
        )
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let bad = authzs
        .iter()
        .find(|a| a.identifier() == "bad.example.com")
        .expect("bad authz");
    let other = authzs
        .iter()
        .find(|a| a.identifier() == "other.example.com")
        .expect("other authz");
    // The right value at the dns-01 name is not what dns-account-01 reads.
    let ch = bad
        .require_challenge(ValidationMethod::DnsAccount01)
        .expect("offered");
    env.dns
        .set_txt(
            &bad.record_name(ValidationMethod::Dns01, account.url()),
            &account.challenge_txt_value(ch).expect("value"),
        )
        .await
        .expect("TXT");
    account.respond(ch).await.expect("respond");
    let err = account
        .wait_authorization(&bad.url, deadline())
        .await
        .expect_err("wrong name");
    assert!(err.is_problem(&ProblemType::Unauthorized), "{err}");
    let order_now = account.order(&order.url).await.expect("order");
    assert_eq!(order_now.status(), OrderStatus::Invalid);

    // The failed order's other authorization was pending: it is deactivated, the invalid
    // one is left alone.
    let report = account.deactivate_pending_authorizations(&order_now).await;
    assert_eq!(report.len(), 2);
    for r in &report {
        let after = r.after.as_ref().expect("no error");
        if r.url == other.url {
            assert_eq!(r.before, Some(AuthorizationStatus::Pending));
            assert_eq!(*after, AuthorizationStatus::Deactivated);
            assert!(r.deactivated());
        } else {
            assert_eq!(r.before, Some(AuthorizationStatus::Invalid));
            assert_eq!(*after, AuthorizationStatus::Invalid);
            assert!(!r.deactivated());
        }
    }
    let fetched = account.authorization(&other.url).await.expect("fetch");
    assert_eq!(fetched.status(), AuthorizationStatus::Deactivated);
    // Deactivating again finds nothing pending.
    let again = account.deactivate_pending_authorizations(&order_now).await;
    assert!(again.iter().all(|r| !r.deactivated()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_validate_the_same_names_at_once_with_dns_account01() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let a1 = new_account(&env.client).await;
    let a2 = new_account(&env.client).await;
    assert_ne!(a1.dns_account_label(), a2.dns_account_label());
    let list = ["*.shared.example.com", "shared.example.com"];
    let (o1, o2) = tokio::join!(
        authorize_account01(&env, &a1, &list),
        authorize_account01(&env, &a2, &list)
    );
    let (c1, c2) = tokio::join!(finalize(&a1, &o1), finalize(&a2, &o2));
    for chain in [c1, c2] {
        let mut sans = chain.leaf_dns_names().expect("sans");
        sans.sort();
        assert_eq!(sans, ["*.shared.example.com", "shared.example.com"]);
    }
}

/// Order `list`, answer each authorization with dns-persist-01 (nothing published now),
/// and return each authorization's outcome.
async fn persist_order(account: &Account, list: &[&str]) -> (Order, Vec<Result<(), Error>>) {
    let order = account
        .new_order(&names(list), &NewOrderOptions::default())
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let mut out = Vec::new();
    for a in &authzs {
        let pc = account
            .persist_challenge(a)
            .expect("dns-persist-01 offered");
        assert_eq!(pc.issuer_domain_names, [ISSUER]);
        assert_eq!(pc.account_uri, account.url());
        assert_eq!(pc.challenge.token, None, "dns-persist-01 has no token");
        assert_eq!(pc.wildcard, a.wildcard());
        assert_eq!(
            pc.record_name,
            format!("_validation-persist.{}", a.identifier())
        );
        assert!(account.challenge_txt_value(&pc.challenge).is_err());
        account.respond(&pc.challenge).await.expect("respond");
    }
    for a in &authzs {
        out.push(
            account
                .wait_authorization(&a.url, deadline())
                .await
                .map(|_| ()),
        );
    }
    (order, out)
}

fn requirement(account: &Account, wildcard: bool) -> PersistRequirement {
    PersistRequirement {
        issuer_domain_names: vec![ISSUER.into()],
        account_uri: account.url().to_owned(),
        wildcard,
        now: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_persist01_with_a_record_published_beforehand() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    // The directory's CAA identities are the issuer names before any order exists.
    assert_eq!(env.client.directory().meta.caa_identities, [ISSUER]);
    let base = wildcert_dns::DnsName::parse("persist.example.com").expect("name");
    let record =
        PersistRecord::new(ISSUER, account.url(), true, Some(now() + 86_400)).expect("record");
    let name = persist::record_name(&base).expect("name");
    env.dns
        .set_txt(name.as_str(), &record.value())
        .await
        .expect("published once, beforehand");
    // Our own judgement agrees before the CA is asked.
    assert!(persist::evaluate(&[record.value()], &requirement(&account, true)).matches());
    let (order, results) =
        persist_order(&account, &["*.persist.example.com", "persist.example.com"]).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}\n{}", env.pebble.log());
    }
    let order = account
        .wait_order_ready(&order.url, deadline())
        .await
        .expect("ready");
    let chain = finalize(&account, &order).await;
    let mut sans = chain.leaf_dns_names().expect("sans");
    sans.sort();
    assert_eq!(sans, ["*.persist.example.com", "persist.example.com"]);

    // The same record serves the next order too: nothing is published per order.
    let (_, again) = persist_order(&account, &["persist.example.com"]).await;
    assert!(again[0].is_ok(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_persist01_refusals_match_our_verdicts() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let stranger = new_account(&env.client).await;
    let t = now();
    struct Case {
        name: &'static str,
        ordered: &'static str,
        value: Option<String>,
        pebble_says: &'static str,
        ours: fn(&PersistMatch) -> bool,
    }
    let cases = [
        Case {
            name: "missing.example.com",
            ordered: "missing.example.com",
            value: None,
            pebble_says: "No TXT records",
            ours: |_| false,
        },
        Case {
            name: "stranger.example.com",
            ordered: "stranger.example.com",
            value: Some(format!("{ISSUER}; accounturi={}", stranger.url())),
            pebble_says: "accounturi mismatch",
            ours: |m| matches!(m, PersistMatch::OtherAccount { .. }),
        },
        Case {
            name: "nowild.example.com",
            ordered: "*.nowild.example.com",
            value: Some(format!("{ISSUER}; accounturi={}", account.url())),
            pebble_says: "policy mismatch",
            ours: |m| matches!(m, PersistMatch::NoWildcardPolicy),
        },
        Case {
            name: "expired.example.com",
            ordered: "expired.example.com",
            value: Some(format!(
                "{ISSUER}; accounturi={}; persistUntil={}",
                account.url(),
                t - 60
            )),
            pebble_says: "persistUntil",
            ours: |m| matches!(m, PersistMatch::Expired { .. }),
        },
    ];
    for case in &cases {
        let base = wildcert_dns::DnsName::parse(case.name).expect("name");
        let values: Vec<String> = case.value.iter().cloned().collect();
        for v in &values {
            env.dns
                .set_txt(persist::record_name(&base).expect("name").as_str(), v)
                .await
                .expect("TXT");
        }
        let verdict = persist::evaluate(
            &values,
            &requirement(&account, case.ordered.starts_with("*.")),
        );
        assert!(!verdict.matches(), "{}: {verdict:?}", case.name);
        if let Some((_, m)) = verdict.values.first() {
            assert!((case.ours)(m), "{}: {m:?}", case.name);
        }
        let (order, results) = persist_order(&account, &[case.ordered]).await;
        let err = results[0].as_ref().expect_err(case.name);
        assert!(
            err.is_problem(&ProblemType::Unauthorized),
            "{}: {err}",
            case.name
        );
        assert!(
            err.to_string().contains(case.pebble_says),
            "{}: {err}",
            case.name
        );
        let order = account.order(&order.url).await.expect("order");
        assert_eq!(order.status(), OrderStatus::Invalid, "{}", case.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dns_method_is_offered_for_a_wildcard() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = account
        .new_order(
            &names(&["*.offers.example.com"]),
            &NewOrderOptions::default(),
        )
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let mut offered = authzs[0].offered_methods();
    offered.sort();
    assert_eq!(offered, ["dns-01", "dns-account-01", "dns-persist-01"]);
    for m in ValidationMethod::ALL {
        assert!(authzs[0].offers(m), "{m}");
    }
    // Abandoned: every pending authorization is deactivated.
    let deactivated = account.deactivate_pending_authorizations(&order).await;
    assert!(
        deactivated.iter().all(|d| d.deactivated()),
        "{deactivated:?}"
    );
}

/// Debian's Pebble (2.4) offers neither new method: the error lists what it does offer
/// (it used to say only "the CA offers no dns-01 challenge", and nothing of the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_pebble_names_the_methods_it_offers() {
    let Some(env) = crate::common::env(PebbleOptions::default()).await else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = account
        .new_order(&names(&["old.example.com"]), &NewOrderOptions::default())
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let err = authzs[0]
        .require_challenge(ValidationMethod::DnsPersist01)
        .expect_err("not offered by 2.4");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the CA offers no dns-persist-01 challenge for old.example.com (it offers: "
        ),
        "{text}"
    );
    assert!(
        text.contains("dns-01") && text.contains("http-01"),
        "{text}"
    );
    assert!(
        err.hint().is_some_and(|h| h.contains("--challenge")),
        "{err}"
    );
    let (m, _) = authzs[0]
        .choose(&[ValidationMethod::DnsAccount01, ValidationMethod::Dns01])
        .expect("dns-01 is there");
    assert_eq!(m, ValidationMethod::Dns01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_offered_applied_and_recorded() {
    let Some(env) = up_env(PebbleOptions {
        profiles: vec![
            PebbleProfile {
                name: "classic".into(),
                description: "ninety days".into(),
                validity_secs: 90 * 86_400,
            },
            PebbleProfile {
                name: "shortlived".into(),
                description: "six days".into(),
                validity_secs: 6 * 86_400,
            },
        ],
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let profiles: Vec<&String> = env.client.directory().meta.profiles.keys().collect();
    assert_eq!(profiles, ["classic", "shortlived"]);
    let account = new_account(&env.client).await;
    for (profile, days) in [("shortlived", 6), ("classic", 90)] {
        let order = account
            .new_order(
                &names(&["profile.example.com"]),
                &NewOrderOptions {
                    profile: Some(profile.into()),
                    ..Default::default()
                },
            )
            .await
            .expect("order");
        assert_eq!(order.profile(), Some(profile));
        let authzs = account.authorizations(&order).await.expect("authzs");
        let ch = authzs[0].require_dns01().expect("dns-01");
        env.dns
            .set_txt(
                &authzs[0].dns01_record_name(),
                &account.dns01_txt_value(ch).expect("v"),
            )
            .await
            .expect("TXT");
        account.respond(ch).await.expect("respond");
        let order = account
            .wait_order_ready(&order.url, deadline())
            .await
            .expect("ready");
        assert_eq!(order.profile(), Some(profile), "the ready order keeps it");
        let chain = finalize(&account, &order).await;
        let not_after = chain.leaf_not_after().expect("notAfter");
        let lifetime = not_after - now();
        assert!(
            (lifetime - days * 86_400).abs() < 3_600,
            "{profile}: {lifetime} s"
        );
        env.dns
            .clear_txt(&authzs[0].dns01_record_name())
            .await
            .expect("clear");
    }
    // Without a profile, Pebble picks one: the order says which.
    let order = account
        .new_order(&names(&["any.example.com"]), &NewOrderOptions::default())
        .await
        .expect("order");
    let chosen = order
        .profile()
        .expect("the CA reports the profile it chose");
    assert!(["classic", "shortlived"].contains(&chosen), "{chosen}");
    // A profile the CA does not offer is refused before any request, listing the offered.
    let err = account
        .new_order(
            &names(&["x.example.com"]),
            &NewOrderOptions {
                profile: Some("tlsserver".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("not offered");
    assert!(
        err.to_string().contains("offered: classic, shortlived"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_renewal_info_window_moves_and_replaces_is_honoured() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    assert!(
        env.client.directory().renewal_info.is_some(),
        "upstream Pebble advertises renewalInfo"
    );
    let account = new_account(&env.client).await;
    let (_, _, chain) = crate::common::issue(&env, &account, &["ari.example.com"]).await;
    let leaf = chain.leaf_pem();
    let id = CertId::from_pem(&leaf).expect("cert id");
    let info = env.client.renewal_info(&id).await.expect("renewalInfo");
    // Pebble's window: around 2/3 of the lifetime, inside the validity.
    let not_after = chain.leaf_not_after().expect("notAfter");
    let start = info.suggested_window.start.unix_timestamp();
    let end = info.suggested_window.end.unix_timestamp();
    assert!(start > now() && start < end && end <= not_after, "{info:?}");
    assert!(
        info.retry_after.is_some(),
        "Pebble sends Retry-After on renewalInfo"
    );

    // The CA moves the window into the past (as after an incident): renew now.
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("fmt")
    };
    let moved = serde_json::json!({
        "suggestedWindow": {"start": fmt(past), "end": fmt(past + time::Duration::hours(1))},
        "explanationURL": "https://ca.wildcert.test/incident"
    });
    env.pebble
        .set_renewal_info(&leaf, &moved.to_string())
        .await
        .expect("set renewal info");
    let info = env.client.renewal_info(&id).await.expect("renewalInfo");
    assert!(
        info.suggested_window.end.unix_timestamp() < now(),
        "{info:?}"
    );
    assert_eq!(
        info.explanation_url.as_deref(),
        Some("https://ca.wildcert.test/incident")
    );
    assert!(info.renew_at() <= std::time::SystemTime::now());

    // The replacement order names the old certificate; the CA echoes it.
    let order = account
        .new_order(
            &names(&["ari.example.com"]),
            &NewOrderOptions {
                replaces: Some(id.to_string()),
                ..Default::default()
            },
        )
        .await
        .expect("replacement order");
    assert_eq!(order.state.replaces.as_deref(), Some(id.as_str()));
    let authzs = account.authorizations(&order).await.expect("authzs");
    for a in &authzs {
        if a.status() == AuthorizationStatus::Valid {
            continue;
        }
        let ch = a.require_dns01().expect("dns-01");
        env.dns
            .set_txt(
                &a.dns01_record_name(),
                &account.dns01_txt_value(ch).expect("v"),
            )
            .await
            .expect("TXT");
        account.respond(ch).await.expect("respond");
    }
    let order = account
        .wait_order_ready(&order.url, deadline())
        .await
        .expect("ready");
    finalize(&account, &order).await;
    // Replaced once: a second replacement of the same certificate is refused.
    let err = account
        .new_order(
            &names(&["ari.example.com"]),
            &NewOrderOptions {
                replaces: Some(id.to_string()),
                ..Default::default()
            },
        )
        .await
        .expect_err("already replaced");
    assert!(err.is_problem(&ProblemType::AlreadyReplaced), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_ca_errors_say_which_part_failed() {
    let Some(env) = up_env(PebbleOptions::default()).await else {
        return;
    };
    let kind_of = |e: &Error| match e {
        Error::Http { kind, .. } => Some(*kind),
        _ => None,
    };
    // TLS: the real Pebble, without trusting its listener CA.
    let err = AcmeClient::new(ClientConfig {
        directory_url: env.pebble.directory_url(),
        ..Default::default()
    })
    .await
    .expect_err("untrusted");
    assert_eq!(kind_of(&err), Some(TransportKind::Tls), "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("--ca-bundle")),
        "{err}"
    );
    // Connection refused: a loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = AcmeClient::new(ClientConfig::new(format!("https://127.0.0.1:{port}/dir")))
        .await
        .expect_err("refused");
    assert_eq!(kind_of(&err), Some(TransportKind::Connect), "{err}");
    assert!(err.hint().is_some_and(|h| h.contains("connect")), "{err}");
    // The CA's host name does not resolve (.invalid never does, RFC 6761).
    let err = AcmeClient::new(ClientConfig::new("https://acme.wildcert.invalid/dir"))
        .await
        .expect_err("no such host");
    assert_eq!(kind_of(&err), Some(TransportKind::Dns), "{err}");
    assert!(err.hint().is_some_and(|h| h.contains("resolve")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_from_the_real_ca_is_read() {
    let Some(env) = up_env(PebbleOptions {
        retry_after: Some((1, 2)),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = crate::common::authorize(&env, &account, &["retry.example.com"]).await;
    let key = CertKey::generate(CertKeyType::Ec256).expect("key");
    // Pebble answers finalize with `processing` and a Retry-After of 2 s, as seconds or as an
    // HTTP date at random; either way it is read.
    let finalized = account.finalize(&order, &key).await.expect("finalize");
    assert_eq!(finalized.status(), OrderStatus::Processing);
    let after = finalized.retry_after.expect("Retry-After on finalize");
    assert!(after <= std::time::Duration::from_secs(2), "{after:?}");
    let valid = account
        .wait_order_valid(&order.url, deadline())
        .await
        .expect("valid");
    assert_eq!(valid.status(), OrderStatus::Valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_chain_the_ca_lacks_is_reported_with_the_offered_ones() {
    let Some(env) = up_env(PebbleOptions {
        alternate_roots: 1,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let account = new_account(&env.client).await;
    let order = crate::common::authorize(&env, &account, &["chain.example.com"]).await;
    let key = CertKey::generate(CertKeyType::Ec256).expect("key");
    let order = account
        .finalize_and_wait(&order, &key, deadline())
        .await
        .expect("valid");
    let (default_chain, warning) = account
        .download_certificate_checked(&order, Some("No Such Root X9"))
        .await
        .expect("download");
    let warning = warning.expect("a warning, not a silent fallback");
    assert_eq!(warning.preferred, "No Such Root X9");
    assert_eq!(warning.offered.len(), 2, "{warning}");
    assert_eq!(
        default_chain.top_issuer_cn().as_deref(),
        Some(warning.offered[0].as_str())
    );
    let text = warning.to_string();
    assert!(text.contains(&warning.offered[1]), "{text}");
    // Asking for the alternate by name: chosen, no warning.
    let (alt, none) = account
        .download_certificate_checked(&order, Some(&warning.offered[1]))
        .await
        .expect("download");
    assert!(none.is_none());
    assert_eq!(
        alt.top_issuer_cn().as_deref(),
        Some(warning.offered[1].as_str())
    );
    let (_, none) = account
        .download_certificate_checked(&order, None)
        .await
        .expect("download");
    assert!(none.is_none());
}

/// Both new methods through real DNS: records published into BIND with nsupdate, the
/// persist record checked on every authoritative server first, Pebble asking a secondary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_bind_account01_and_persist01() {
    if !require_pebble_upstream() || !wildcert_testkit::require_bind() {
        return;
    }
    let topo = wildcert_testkit::BindTopology::start(wildcert_testkit::BindOptions::default())
        .expect("bind");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(topo.prompt_secondary_addr()),
        flavor: PebbleFlavor::Upstream,
        caa_identities: vec![ISSUER.into()],
        ..Default::default()
    })
    .expect("pebble");
    let client = client_for(&pebble).await;
    let account = new_account(&client).await;

    // dns-account-01 for a wildcard and its apex: two values at the account-label name.
    let order = account
        .new_order(
            &names(&["*.bind.example.test", "bind.example.test"]),
            &NewOrderOptions::default(),
        )
        .await
        .expect("order");
    let authzs = account.authorizations(&order).await.expect("authzs");
    let label = account.dns_account_label();
    let mut lines = Vec::new();
    for a in &authzs {
        let ch = a
            .require_challenge(ValidationMethod::DnsAccount01)
            .expect("offered");
        let rec = account.record_name(a, ValidationMethod::DnsAccount01);
        assert_eq!(rec, format!("_{label}._acme-challenge.bind.example.test"));
        lines.push(format!(
            "{rec}. TXT {}",
            account.challenge_txt_value(ch).expect("v")
        ));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    topo.add_records("example.test", &refs).expect("nsupdate");
    let served = topo
        .txt_values(
            topo.prompt_secondary_addr(),
            &format!("_{label}._acme-challenge.bind.example.test"),
        )
        .expect("dig");
    assert_eq!(served.len(), 2, "{served:?}");
    for a in &authzs {
        let ch = a
            .require_challenge(ValidationMethod::DnsAccount01)
            .expect("offered");
        account.respond(ch).await.expect("respond");
    }
    for a in &authzs {
        account
            .wait_authorization(&a.url, deadline())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", pebble.log()));
    }

    // dns-persist-01: publish once, check every authoritative server, then order.
    let base = wildcert_dns::DnsName::parse("vault.example.test").expect("name");
    let record = PersistRecord::new(ISSUER, account.url(), true, None).expect("record");
    let line = record.zone_file_line(&base, 60);
    let rdata = line.split_once(" IN ").expect("IN").1;
    topo.add_records(
        "example.test",
        &[&format!("_validation-persist.vault {rdata}")],
    )
    .expect("nsupdate");
    let disc =
        wildcert_dns::Discovery::new(topo.secondary_addrs(), std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    loop {
        let report = persist::check_name(
            &disc,
            &base,
            &requirement(&account, true),
            std::time::Duration::from_secs(2),
        )
        .await
        .expect("check");
        if report.all_match() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{report:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let serial_before = topo
        .soa_serial(topo.primary_addr(), "example.test")
        .expect("soa");
    let (order, results) =
        persist_order(&account, &["*.vault.example.test", "vault.example.test"]).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}\n{}", pebble.log());
    }
    let order = account
        .wait_order_ready(&order.url, deadline())
        .await
        .expect("ready");
    finalize(&account, &order).await;
    // Nothing was written to the zone during the persist issuance.
    assert_eq!(
        topo.soa_serial(topo.primary_addr(), "example.test")
            .expect("soa"),
        serial_before
    );
}
