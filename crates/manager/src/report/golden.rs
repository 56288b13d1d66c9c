//! The documents, byte for byte: each fixture's line is the one the first release printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::check::{Area, CheckReport, Finding, Status};
use crate::commands::{
    AccountAtCa as CaState, AccountInfo, CertDetails, CertSummary, Deactivated, Deleted, KeyInfo,
    LiveCert, RenewalSource, RenewalState, Revoked, RolledOver,
};
use crate::persist::{PersistAction, PersistLine, PersistOutcome};
use crate::renew::Decision;
use crate::store::{CertMeta, RecordedRequest as StoredRequest};

fn summaries() -> Vec<CertSummary> {
    vec![
        CertSummary {
            name: "example.test".into(),
            names: vec!["*.example.test".into(), "example.test".into()],
            not_after: Some("2027-03-01T10:00:00Z".into()),
            days_left: Some(89),
            version: Some(2),
            provider: "rfc2136".into(),
            key_type: "ec256".into(),
            revoked_at: Some("2027-01-01T00:00:00Z".into()),
            last_error: Some("CAA forbids".into()),
            error: None,
        },
        CertSummary {
            name: "broken".into(),
            names: Vec::new(),
            not_after: None,
            days_left: None,
            version: None,
            provider: String::new(),
            key_type: String::new(),
            revoked_at: None,
            last_error: None,
            error: Some("meta.json: bad".into()),
        },
    ]
}

fn full_meta() -> CertMeta {
    CertMeta {
        names: vec!["*.example.test".into(), "example.test".into()],
        key_type: "ec256".into(),
        provider: "rfc2136".into(),
        version: Some(3),
        order_url: Some("https://ca.test/order/9".into()),
        ari_cert_id: Some("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".into()),
        issued_at: Some("2026-12-01T10:00:00Z".into()),
        not_before: Some("2026-12-01T10:00:00Z".into()),
        not_after: Some("2027-03-01T10:00:00Z".into()),
        server: Some("https://ca.test/dir".into()),
        last_error: Some("timeout".into()),
        pending_order: Some("https://ca.test/order/10".into()),
        ari_renew_at: Some("2027-01-30T00:00:00Z".into()),
        ari_next_check: Some("2027-01-02T00:00:00Z".into()),
        revoked_at: Some("2027-01-03T00:00:00Z".into()),
        challenge: Some("dns-01".into()),
        profile: Some("shortlived".into()),
        last_failure_at: Some("2027-01-04T00:00:00Z".into()),
        request: Some(StoredRequest {
            server: "https://ca.test/dir".into(),
            domains: vec!["*.example.test".into()],
            provider: "rfc2136".into(),
            key_type: Some("ec384".into()),
            profile: Some("shortlived".into()),
            preferred_chain: Some("Root X2".into()),
            challenge: Some("auto".into()),
            deploy_hook: Some("systemctl reload nginx".into()),
            key_group: Some("www-data".into()),
            key_mode: Some("0640".into()),
            dns_credentials: Some("/etc/wildcert/rfc2136.ini".into()),
            ca_bundle: Some("/etc/wildcert/ca.pem".into()),
            resolvers: vec!["192.0.2.53:53".into()],
            authoritative: vec!["192.0.2.1:53".into()],
            propagation_timeout: Some("5m".into()),
            install: vec![crate::settings::InstallTarget::dir("/etc/nginx/tls")],
            reuse_key: false,
        }),
        config: None,
    }
}

fn details() -> Vec<CertDetails> {
    let files: BTreeMap<String, PathBuf> = [
        ("cert", "/s/certs/x/live/cert.pem"),
        ("privkey", "/s/certs/x/live/privkey.pem"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
    .collect();
    let full = CertDetails {
        name: "example.test".into(),
        dir: "/s/certs/example.test".into(),
        live_dir: "/s/certs/example.test/live".into(),
        files: files.clone(),
        meta: full_meta(),
        live: Some(LiveCert {
            issuer: Some("Pebble Intermediate CA".into()),
            serial: "3b4d".into(),
            names: vec!["example.test".into()],
            not_before: "2026-12-01T10:00:00Z".into(),
            not_after: "2027-03-01T10:00:00Z".into(),
            days_left: -2,
            chain_length: 2,
        }),
        live_error: None,
        renewal: RenewalState {
            decision: Decision::Skip {
                due: "2027-01-30T00:00:00Z".into(),
                rule: "ARI window".into(),
            },
            configured: true,
            source: RenewalSource::Config,
        },
        archive_versions: vec![1, 2, 3],
    };
    let bare = CertDetails {
        meta: CertMeta {
            names: vec!["a.test".into()],
            ..CertMeta::default()
        },
        live: None,
        live_error: Some("no live certificate yet".into()),
        renewal: RenewalState {
            decision: Decision::Issue {
                reason: "not issued yet".into(),
            },
            configured: false,
            source: RenewalSource::None,
        },
        archive_versions: Vec::new(),
        ..full.clone()
    };
    let recorded = CertDetails {
        renewal: RenewalState {
            decision: Decision::Renew {
                reason: "due".into(),
            },
            configured: false,
            source: RenewalSource::Recorded,
        },
        ..bare.clone()
    };
    vec![full, bare, recorded]
}

fn revoked() -> Revoked {
    Revoked {
        name: "example.test".into(),
        serial: "3b4d".into(),
        reason: Some("keyCompromise".into()),
        signed_with: "account_key",
        already_revoked: false,
        revoked_at: "2027-01-03T00:00:00Z".into(),
        server: "https://ca.test/dir".into(),
    }
}

fn key(t: &str) -> KeyInfo {
    KeyInfo {
        algorithm: "ES256".into(),
        key_type: t.into(),
        thumbprint: format!("thumb-{t}"),
    }
}

fn accounts() -> Vec<AccountInfo> {
    let full = AccountInfo {
        url: "https://ca.test/acct/1".into(),
        directory: "https://ca.test/dir".into(),
        contact: vec!["mailto:ops@example.test".into()],
        created: Some("2026-01-01T00:00:00Z".into()),
        dir: "/s/accounts/ca.test/default".into(),
        key: key("ec256"),
        terms_of_service: Some("https://ca.test/tos".into()),
        registered_now: Some(true),
        ca: CaState {
            status: "valid".into(),
            contact: vec!["mailto:ops@example.test".into()],
            terms_of_service_agreed: Some(true),
        },
        recovered_rollover: Some("completed"),
    };
    let bare = AccountInfo {
        contact: Vec::new(),
        created: None,
        terms_of_service: None,
        registered_now: None,
        ca: CaState {
            status: "valid".into(),
            contact: Vec::new(),
            terms_of_service_agreed: None,
        },
        recovered_rollover: None,
        ..full.clone()
    };
    vec![full, bare]
}

fn check_report() -> CheckReport {
    let f = |status, area, hint: Option<&str>| Finding {
        group: "general".into(),
        check: "provider".into(),
        status,
        message: "m".into(),
        hint: hint.map(String::from),
        area,
    };
    CheckReport {
        ok: false,
        exit_code: ExitCode::Ca,
        names: vec!["*.example.test".into()],
        findings: vec![
            f(Status::Pass, Area::Dns, None),
            f(Status::Warn, Area::Settings, Some("h")),
            f(Status::Fail, Area::Caa, Some("fix")),
        ],
    }
}

fn persisted() -> Vec<PersistOutcome> {
    [
        PersistAction::Publish,
        PersistAction::Print,
        PersistAction::Remove,
    ]
    .into_iter()
    .map(|action| PersistOutcome {
        action,
        account_url: "https://ca.test/acct/1".into(),
        issuer: "ca.test".into(),
        records: vec![PersistLine {
            name: "example.test".into(),
            record_name: "_validation-persist.example.test".into(),
            value: "ca.test; accounturi=https://ca.test/acct/1".into(),
            zone_file_line: "_validation-persist.example.test. 300 IN TXT \"…\"".into(),
        }],
        servers: 2,
    })
    .collect()
}

/// `line` is `expected`, as text (a failure shows both).
fn is(line: String, expected: &str) {
    assert_eq!(line, expected);
}

#[test]
fn list_and_show() {
    is(
        json_line(&ListDoc::new(&summaries()), None),
        r#"{"certificates":[{"days_left":89,"key_type":"ec256","last_error":"CAA forbids","name":"example.test","names":["*.example.test","example.test"],"not_after":"2027-03-01T10:00:00Z","provider":"rfc2136","revoked_at":"2027-01-01T00:00:00Z","version":2},{"days_left":null,"error":"meta.json: bad","key_type":"","last_error":null,"name":"broken","names":[],"not_after":null,"provider":"","version":null}],"ok":true}"#,
    );
    let [full, bare, recorded] = <[CertDetails; 3]>::try_from(details()).expect("three");
    is(
        json_line(&ShowDoc::from(&full), None),
        r#"{"certificate":{"archive_versions":[1,2,3],"dir":"/s/certs/example.test","files":{"cert":"/s/certs/x/live/cert.pem","privkey":"/s/certs/x/live/privkey.pem"},"live":{"chain_length":2,"days_left":-2,"issuer":"Pebble Intermediate CA","names":["example.test"],"not_after":"2027-03-01T10:00:00Z","not_before":"2026-12-01T10:00:00Z","serial":"3b4d"},"live_dir":"/s/certs/example.test/live","meta":{"ari_cert_id":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE","ari_next_check":"2027-01-02T00:00:00Z","ari_renew_at":"2027-01-30T00:00:00Z","challenge":"dns-01","issued_at":"2026-12-01T10:00:00Z","key_type":"ec256","last_error":"timeout","last_failure_at":"2027-01-04T00:00:00Z","names":["*.example.test","example.test"],"not_after":"2027-03-01T10:00:00Z","not_before":"2026-12-01T10:00:00Z","order_url":"https://ca.test/order/9","pending_order":"https://ca.test/order/10","profile":"shortlived","provider":"rfc2136","request":{"authoritative":["192.0.2.1:53"],"ca_bundle":"/etc/wildcert/ca.pem","challenge":"auto","deploy_hook":"systemctl reload nginx","dns_credentials":"/etc/wildcert/rfc2136.ini","domains":["*.example.test"],"install":[{"dir":"/etc/nginx/tls","layout":"pem"}],"key_group":"www-data","key_mode":"0640","key_type":"ec384","preferred_chain":"Root X2","profile":"shortlived","propagation_timeout":"5m","provider":"rfc2136","resolvers":["192.0.2.53:53"],"server":"https://ca.test/dir"},"revoked_at":"2027-01-03T00:00:00Z","server":"https://ca.test/dir","version":3},"name":"example.test","renewal":{"action":"skip","configured":true,"due":"2027-01-30T00:00:00Z","rule":"ARI window","source":"config"}},"ok":true}"#,
    );
    is(
        json_line(&ShowDoc::from(&bare), None),
        r#"{"certificate":{"archive_versions":[],"dir":"/s/certs/example.test","files":{"cert":"/s/certs/x/live/cert.pem","privkey":"/s/certs/x/live/privkey.pem"},"live":null,"live_dir":"/s/certs/example.test/live","live_error":"no live certificate yet","meta":{"key_type":"","names":["a.test"],"provider":""},"name":"example.test","renewal":{"action":"issue","configured":false,"reason":"not issued yet","source":"none"}},"ok":true}"#,
    );
    is(
        json_line(&ShowDoc::from(&recorded), None),
        r#"{"certificate":{"archive_versions":[],"dir":"/s/certs/example.test","files":{"cert":"/s/certs/x/live/cert.pem","privkey":"/s/certs/x/live/privkey.pem"},"live":null,"live_dir":"/s/certs/example.test/live","live_error":"no live certificate yet","meta":{"key_type":"","names":["a.test"],"provider":""},"name":"example.test","renewal":{"action":"renew","configured":false,"reason":"due","source":"recorded"}},"ok":true}"#,
    );
}

#[test]
fn revoke_and_delete() {
    is(
        json_line(&RevokeDoc::from(&revoked()), None),
        r#"{"ok":true,"revoked":{"already_revoked":false,"name":"example.test","reason":"keyCompromise","revoked_at":"2027-01-03T00:00:00Z","serial":"3b4d","server":"https://ca.test/dir","signed_with":"account_key"}}"#,
    );
    let d = |revoked| Deleted {
        name: "x".into(),
        dir: "/s/certs/x".into(),
        revoked,
    };
    is(
        json_line(&DeleteDoc::from(&d(None)), None),
        r#"{"deleted":{"dir":"/s/certs/x","name":"x"},"ok":true}"#,
    );
    is(
        json_line(&DeleteDoc::from(&d(Some(revoked()))), None),
        r#"{"deleted":{"dir":"/s/certs/x","name":"x","revoked":{"already_revoked":false,"name":"example.test","reason":"keyCompromise","revoked_at":"2027-01-03T00:00:00Z","serial":"3b4d","server":"https://ca.test/dir","signed_with":"account_key"}},"ok":true}"#,
    );
}

#[test]
fn account_commands() {
    let [full, bare] = <[AccountInfo; 2]>::try_from(accounts()).expect("two");
    is(
        json_line(&AccountDoc::from(&full), None),
        r#"{"account":{"ca":{"contact":["mailto:ops@example.test"],"status":"valid","terms_of_service_agreed":true},"contact":["mailto:ops@example.test"],"created":"2026-01-01T00:00:00Z","dir":"/s/accounts/ca.test/default","directory":"https://ca.test/dir","key":{"algorithm":"ES256","key_type":"ec256","thumbprint":"thumb-ec256"},"recovered_rollover":"completed","registered_now":true,"terms_of_service":"https://ca.test/tos","url":"https://ca.test/acct/1"},"ok":true}"#,
    );
    is(
        json_line(&AccountDoc::from(&bare), None),
        r#"{"account":{"ca":{"contact":[],"status":"valid"},"contact":[],"created":null,"dir":"/s/accounts/ca.test/default","directory":"https://ca.test/dir","key":{"algorithm":"ES256","key_type":"ec256","thumbprint":"thumb-ec256"},"url":"https://ca.test/acct/1"},"ok":true}"#,
    );
    let r = RolledOver {
        url: "https://ca.test/acct/1".into(),
        old_key: key("ec256"),
        new_key: key("ed25519"),
        key_path: "/s/accounts/ca.test/default/key.pem".into(),
    };
    is(
        json_line(&RolloverDoc::from(&r), None),
        r#"{"ok":true,"rollover":{"key_path":"/s/accounts/ca.test/default/key.pem","new_key":{"algorithm":"ES256","key_type":"ed25519","thumbprint":"thumb-ed25519"},"old_key":{"algorithm":"ES256","key_type":"ec256","thumbprint":"thumb-ec256"},"url":"https://ca.test/acct/1"}}"#,
    );
    let d = Deactivated {
        url: "https://ca.test/acct/1".into(),
        status: "deactivated".into(),
        moved_to: "/s/accounts/ca.test/default.deactivated-x".into(),
    };
    is(
        json_line(&DeactivateDoc::from(&d), None),
        r#"{"deactivated":{"moved_to":"/s/accounts/ca.test/default.deactivated-x","status":"deactivated","url":"https://ca.test/acct/1"},"ok":true}"#,
    );
}

#[test]
fn persist() {
    let [publish, print, remove] = <[PersistOutcome; 3]>::try_from(persisted()).expect("three");
    is(
        json_line(&PersistDoc::from(&publish), None),
        r#"{"ok":true,"persist":{"account_url":"https://ca.test/acct/1","action":"publish","issuer":"ca.test","records":[{"name":"example.test","record_name":"_validation-persist.example.test","value":"ca.test; accounturi=https://ca.test/acct/1","zone_file_line":"_validation-persist.example.test. 300 IN TXT \"…\""}],"servers":2}}"#,
    );
    is(
        json_line(&PersistDoc::from(&print), None),
        r#"{"ok":true,"persist":{"account_url":"https://ca.test/acct/1","action":"print","issuer":"ca.test","records":[{"name":"example.test","record_name":"_validation-persist.example.test","value":"ca.test; accounturi=https://ca.test/acct/1","zone_file_line":"_validation-persist.example.test. 300 IN TXT \"…\""}],"servers":2}}"#,
    );
    is(
        json_line(&PersistDoc::from(&remove), None),
        r#"{"ok":true,"persist":{"account_url":"https://ca.test/acct/1","action":"remove","issuer":"ca.test","records":[{"name":"example.test","record_name":"_validation-persist.example.test","value":"ca.test; accounturi=https://ca.test/acct/1","zone_file_line":"_validation-persist.example.test. 300 IN TXT \"…\""}],"servers":2}}"#,
    );
}

#[test]
fn check_keeps_its_declared_key_order() {
    is(
        CheckDoc::from(&check_report()).to_line(),
        r#"{"ok":false,"exit_code":4,"names":["*.example.test"],"findings":[{"group":"general","check":"provider","status":"pass","message":"m","area":"dns"},{"group":"general","check":"provider","status":"warn","message":"m","hint":"h","area":"settings"},{"group":"general","check":"provider","status":"fail","message":"m","hint":"fix","area":"caa"}]}"#,
    );
}

/// The providers' documents follow the registry (whose content other changes move), so their
/// shape is what is pinned: the keys of each provider and each setting, and the type names.
#[test]
fn providers_keep_their_keys() {
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let reg = crate::providers::registry();
    let line = json_line(&ProvidersDoc::new(reg.iter().map(|r| r.spec)), None);
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(keys(&v), ["ok", "providers"]);
    let list = v["providers"].as_array().expect("providers");
    assert_eq!(list.len(), reg.len());
    for (p, r) in list.iter().zip(reg) {
        assert_eq!(
            keys(p),
            [
                "certbot",
                "doc",
                "ignored_env",
                "kind",
                "settings",
                "summary"
            ]
        );
        assert_eq!(p["kind"], r.spec.kind);
        let one = json_line(&ProviderDoc::new(r.spec), None);
        let one: serde_json::Value = serde_json::from_str(&one).expect("json");
        assert_eq!(one["provider"], *p);
        assert_eq!(keys(&one), ["ok", "provider"]);
        for s in p["settings"].as_array().expect("settings") {
            assert_eq!(
                keys(s),
                [
                    "certbot",
                    "default",
                    "description",
                    "env",
                    "env_names",
                    "key",
                    "required",
                    "secret",
                    "type"
                ]
            );
            let ty = s["type"].as_str().unwrap_or_default();
            assert!(
                [
                    "text", "secret", "path", "bool", "seconds", "number", "duration"
                ]
                .contains(&ty),
                "{s}"
            );
            assert!(s["secret"].is_boolean(), "{s}");
        }
    }
}

#[test]
fn man_and_error() {
    is(
        json_line(&ManDoc::new(&[PathBuf::from("/m/wildcert.1")]), None),
        r#"{"ok":true,"pages":["/m/wildcert.1"]}"#,
    );
    is(
        json_line(&ErrorDoc::new("e", "h", ExitCode::Interrupted), None),
        r#"{"error":"e","exit_code":130,"hint":"h","ok":false}"#,
    );
}
