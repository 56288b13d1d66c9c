//! `wildcert acme-dns register` then `wildcert issue --dns acme-dns`, the binary end to end on
//! the provider's acme-dns fake (providers/acme-dns/tests/fake), whose values land in BIND's
//! `auth.acme-dns.test` zone; Pebble asks a resolver, which follows the `_acme-challenge` CNAME.

#[allow(dead_code)]
#[path = "../../providers/acme-dns/tests/fake/mod.rs"]
mod fake;

use wildcert_testkit::BindOptions;

use crate::lab::Lab;
use fake::{AcmeDnsFake, AcmeDnsFakeOptions, DOMAIN};

#[test]
fn register_prints_the_cname_waits_for_it_then_issue_works() {
    let opts = BindOptions {
        zones: vec!["example.test".into(), DOMAIN.into()],
        ..Default::default()
    };
    let Some(lab) = Lab::start(opts, true) else {
        return;
    };
    let fake = AcmeDnsFake::start(AcmeDnsFakeOptions::backed_by(&lab.bind)).expect("fake");
    let base = fake.base_url();
    let register = |wait: &str| {
        let args = [
            "acme-dns",
            "register",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--api-base",
            &base,
            "--wait",
            wait,
        ];
        lab.wildcert(&args, &[])
    };
    let run = register("3s");
    assert_eq!(
        run.code,
        Some(3),
        "not ready without the CNAME: {}",
        run.all()
    );
    assert!(
        run.stderr.contains("not in place") && run.stderr.contains("NXDOMAIN"),
        "{}",
        run.all()
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(" CNAME "))
        .unwrap_or_else(|| panic!("{}", run.all()));
    let (owner, target) = line.split_once(" CNAME ").expect("record");
    assert_eq!(owner, "_acme-challenge.example.test.", "{}", run.all());
    assert_eq!(
        fake.with(|s| s.regs.len()),
        1,
        "one registration for the wildcard and its apex"
    );
    let file = lab
        .state_dir()
        .join("providers/acme-dns/registrations.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("kept").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    lab.bind
        .add_records(
            "example.test",
            &[&format!("_acme-challenge 60 CNAME {target}")],
        )
        .expect("cname");
    let run = register("30s");
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("already registered") && run.stdout.contains("ready"),
        "{}",
        run.all()
    );
    assert_eq!(fake.with(|s| s.regs.len()), 1, "the registration is reused");
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "acme-dns",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        lab.live("example.test").join("fullchain.pem").exists(),
        "{}",
        run.all()
    );
    assert_eq!(fake.values(target.trim_end_matches('.')).len(), 2);
}
