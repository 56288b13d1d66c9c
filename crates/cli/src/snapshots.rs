//! Snapshot tests of the human output (`insta`): the text people read and scripts grep is
//! reviewed as text. Update a snapshot on purpose with `INSTA_UPDATE=always cargo test -p
//! wildcert --bin wildcert snapshots` and review the diff; under `CI=true` a difference fails.

use std::path::PathBuf;

use wildcert_manager::check::{Area, CheckReport, Finding, Status};
use wildcert_manager::commands::CertSummary;
use wildcert_manager::hooks::HookReport;
use wildcert_manager::model::{Issued, Timings};
use wildcert_manager::renew::{Outcome, RenewOutcome};

fn issued(name: &str) -> Issued {
    Issued {
        cert_name: name.into(),
        version: 2,
        live_dir: PathBuf::from(format!("/var/lib/wildcert/certs/{name}/live")),
        names: vec![format!("*.{name}"), name.into()],
        key_type: "ec256".into(),
        not_before: "2026-12-01T10:00:00Z".into(),
        not_after: "2027-03-01T10:00:00Z".into(),
        issuer: Some("Pebble Intermediate CA 1de960".into()),
        serial: "3b4de1c759333d36".into(),
        order_url: "https://ca.test/order/1".into(),
        timings_ms: Timings {
            total: 1234,
            order: 40,
            publish: 12,
            propagation: 880,
            validation: 210,
            finalize: 92,
        },
        zones: vec![("example.test".into(), 2)],
        acme_requests: 14,
        dns_queries: 11,
    }
}

#[test]
fn issue_summary() {
    let hook = HookReport {
        command: "systemctl reload nginx".into(),
        exit_code: Some(1),
        ok: false,
        error: Some("exited with 1".into()),
    };
    insta::assert_snapshot!(crate::output::render_issued(
        &issued("example.test"),
        Some(&hook)
    ));
}

fn outcome(name: &str, outcome: Outcome, detail: &str) -> RenewOutcome {
    RenewOutcome {
        name: name.into(),
        outcome,
        detail: detail.into(),
        next_due: None,
        retry_after: None,
        certificate: None,
        hook: None,
        hint: None,
        code: wildcert_manager::ExitCode::Ok,
    }
}

#[test]
fn renew_summary() {
    let mut renewed = outcome(
        "a.example.test",
        Outcome::Renewed,
        "due (1/3 of the lifetime left)",
    );
    renewed.certificate = Some(issued("a.example.test"));
    let mut skipped = outcome("b.example.test", Outcome::Skipped, "not due (ARI window)");
    skipped.next_due = Some("2027-02-01T00:00:00Z".into());
    let busy = outcome(
        "c.example.test",
        Outcome::Skipped,
        "another run is working on it",
    );
    let mut failed = outcome(
        "www.nosuch.test",
        Outcome::Failed,
        "zone lookup for _acme-challenge.www.nosuch.test failed: NXDOMAIN",
    );
    failed.hint = Some("check the name's spelling and that its zone is delegated".into());
    failed.code = wildcert_manager::ExitCode::Dns;
    let outcomes = [renewed, skipped, busy, failed];
    let (stdout, stderr) = crate::output::render_renewed(&outcomes, false);
    insta::assert_snapshot!(format!("--- stdout\n{stdout}--- stderr\n{stderr}"));
    let (stdout, stderr) = crate::output::render_renewed(&outcomes, true);
    assert!(stdout.is_empty(), "-q prints only failures: {stdout}");
    assert!(stderr.contains("www.nosuch.test"));
}

#[test]
fn check_report() {
    let f = |group: &str, check: &str, status: Status, message: &str, hint: Option<&str>| Finding {
        group: group.into(),
        check: check.into(),
        status,
        message: message.into(),
        hint: hint.map(String::from),
        area: Area::Dns,
    };
    let r = CheckReport {
        ok: false,
        exit_code: wildcert_manager::ExitCode::Dns,
        names: vec!["*.example.test".into(), "example.test".into()],
        findings: vec![
            f(
                "general",
                "provider",
                Status::Pass,
                "rfc2136 provider `rfc2136` built from the settings",
                None,
            ),
            f(
                "zone example.test",
                "nameserver",
                Status::Pass,
                "ns1.example.test (127.53.0.2:53) answers authoritatively, SOA serial 7",
                None,
            ),
            f(
                "zone example.test",
                "serial",
                Status::Warn,
                "the nameservers disagree on the SOA serial",
                Some("a secondary lags behind the primary"),
            ),
            f(
                "*.example.test, example.test",
                "propagation",
                Status::Fail,
                "ns3.example.test did not serve the probe within 120 s",
                Some("raise --propagation-timeout"),
            ),
        ],
    };
    insta::assert_snapshot!(crate::check::render(&r, false));
}

#[test]
fn list_table() {
    let certs = vec![
        CertSummary {
            name: "example.test".into(),
            names: vec!["*.example.test".into(), "example.test".into()],
            not_after: Some("2027-03-01T10:00:00Z".into()),
            days_left: Some(89),
            version: Some(2),
            provider: "rfc2136".into(),
            key_type: "ec256".into(),
            revoked_at: None,
            last_error: None,
            error: None,
        },
        CertSummary {
            name: "shop.example.test".into(),
            names: vec!["shop.example.test".into()],
            not_after: None,
            days_left: None,
            version: None,
            provider: "cloudflare".into(),
            key_type: "ec256".into(),
            revoked_at: None,
            last_error: Some("CAA forbids issuance for shop.example.test".into()),
            error: None,
        },
    ];
    insta::assert_snapshot!(crate::admin::render_list(
        &certs,
        std::path::Path::new("/var/lib/wildcert")
    ));
    insta::assert_snapshot!(
        "list_empty",
        crate::admin::render_list(&[], std::path::Path::new("/var/lib/wildcert"))
    );
}

#[test]
fn json_documents_keep_their_fields() {
    let hook = HookReport {
        command: "true".into(),
        exit_code: Some(0),
        ok: true,
        error: None,
    };
    let doc = wildcert_manager::report::IssueDoc {
        ok: true,
        certificate: (&issued("example.test")).into(),
        hook: Some((&hook).into()),
        install: Vec::new(),
    };
    insta::assert_snapshot!(
        "issue_json",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
    let mut renewed = outcome("a.example.test", Outcome::Renewed, "due");
    renewed.certificate = Some(issued("a.example.test"));
    let mut failed = outcome("b.example.test", Outcome::Failed, "zone not found");
    failed.hint = Some("check the name".into());
    let doc = wildcert_manager::report::RenewDoc::new(&[renewed, failed], false);
    insta::assert_snapshot!(
        "renew_json",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
}

#[test]
fn store_migrate_report() {
    use wildcert_manager::report::{ExitCode, MigrateDoc, MigratedDoc};
    let cert = |name: &str, versions: Vec<u32>, error: Option<&str>| MigratedDoc {
        name: name.into(),
        status: if error.is_some() { "failed" } else { "copied" },
        verified: error.is_none(),
        live: versions.last().copied(),
        files: 1 + versions.len() * 5,
        versions,
        error: error.map(Into::into),
    };
    let mut doc = MigrateDoc {
        ok: true,
        from: "/var/lib/wildcert".into(),
        to: "postgresql://bastion:…@db.example:5432/wildcert?sslmode=verify-full".into(),
        certificates: vec![
            cert("example.com", vec![1], None),
            cert("www", vec![1, 2], None),
        ],
        accounts: vec![MigratedDoc {
            files: 2,
            ..cert("acme-v02.api.letsencrypt.org/default", vec![], None)
        }],
        switch: vec![
            "[store]".into(),
            "url = \"postgresql://bastion:…@db.example:5432/wildcert?sslmode=verify-full\"".into(),
            "key_file = \"/var/lib/wildcert/store.key\"".into(),
        ],
        key_file: Some("/var/lib/wildcert/store.key".into()),
        exit_code: ExitCode::Ok,
    };
    let (out, err) = crate::store::render_migrate(&doc);
    insta::assert_snapshot!("store_migrate", format!("{out}--- stderr\n{err}"));
    doc.ok = false;
    doc.exit_code = ExitCode::Store;
    doc.certificates[1] = cert(
        "www",
        vec![1, 2],
        Some("the copy does not verify: archive/2/cert.pem differs"),
    );
    let (out, err) = crate::store::render_migrate(&doc);
    insta::assert_snapshot!("store_migrate_failed", format!("{out}--- stderr\n{err}"));
}
