//! `wildcert issue --dns route53` end to end: the binary talks (SigV4-signed) to the
//! provider's Route53 fake through `AWS_ENDPOINT_URL`; the fake checks every signature, keeps each
//! change PENDING for a few `GetChange` polls, and applies it to the BIND topology's primary,
//! so Pebble validates against the lagging secondary.

use wildcert_route53::fake::{Route53Fake, Route53FakeOptions};
use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

const NAME: &str = "_acme-challenge.example.test";

fn start() -> Option<(Lab, Route53Fake, String)> {
    let lab = Lab::start(BindOptions::default(), false)?;
    let fake = Route53Fake::start(Route53FakeOptions {
        pending_polls: 2,
        ..Route53FakeOptions::backed_by(&lab.bind)
    })
    .expect("fake starts");
    let zone_id = fake.add_zone("example.test", false).expect("zone");
    Some((lab, fake, zone_id))
}

fn aws_env(fake: &Route53Fake, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", fake.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
        ("AWS_ENDPOINT_URL", fake.endpoint_url()),
    ]
}

fn run(lab: &Lab, args: &[&str], env: &[(&'static str, String)]) -> crate::lab::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    lab.wildcert(args, &env)
}

#[test]
fn wildcard_and_apex_in_one_change_batch() {
    let Some((lab, fake, zone_id)) = start() else {
        return;
    };
    // A value that is not ours, at the same name, in the API and in DNS.
    fake.seed_txt(&zone_id, NAME, 300, &["keep-me"])
        .expect("seed foreign TXT");
    let secret = fake.secret_access_key();
    let out = run(
        &lab,
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "route53",
        ],
        &aws_env(&fake, &secret),
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = json(&out);
    assert_eq!(v["ok"], true, "{}", out.all());
    let mut names: Vec<String> = v["certificate"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    assert_eq!(names, ["*.example.test", "example.test"]);
    assert_eq!(v["certificate"]["zones"][0][0], "example.test");
    assert_eq!(v["certificate"]["zones"][0][1], 2);
    let cert = std::fs::read_to_string(lab.live("example.test").join("fullchain.pem"))
        .expect("certificate");
    assert!(cert.contains("-----BEGIN CERTIFICATE-----"));

    // One batch to publish, one to clean up; the PENDING change was waited for.
    assert_eq!(
        fake.count_ok("ChangeResourceRecordSets"),
        2,
        "{:#?}",
        fake.requests()
    );
    assert!(fake.count_ok("GetChange") >= 3, "{:#?}", fake.requests());
    let batches: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.action == "ChangeResourceRecordSets")
        .map(|r| r.body)
        .collect();
    assert_eq!(
        batches[0].matches("<Change>").count(),
        1,
        "apex and wildcard share one UPSERT: {}",
        batches[0]
    );
    assert_eq!(batches[0].matches("<Value>").count(), 3, "{}", batches[0]);

    // Cleanup left exactly the foreign value, with its TTL, in the API and in DNS.
    assert_eq!(fake.txt(NAME), Some((300, vec!["keep-me".to_string()])));
    assert_eq!(lab.primary_txt(NAME), ["keep-me"]);
    assert!(
        !out.stdout.contains(&secret) && !out.stderr.contains(&secret),
        "secret leaked"
    );
}

#[test]
fn apex_only_is_deleted_again() {
    let Some((lab, fake, _zone_id)) = start() else {
        return;
    };
    let secret = fake.secret_access_key();
    let out = run(
        &lab,
        &["issue", "-d", "www.example.test", "--dns", "route53"],
        &aws_env(&fake, &secret),
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    let name = "_acme-challenge.www.example.test";
    assert_eq!(fake.txt(name), None);
    assert!(lab.primary_txt(name).is_empty());
    let cleanup = fake
        .requests()
        .into_iter()
        .rfind(|r| r.action == "ChangeResourceRecordSets")
        .expect("cleanup batch");
    assert!(
        cleanup.body.contains("<Action>DELETE</Action>"),
        "{}",
        cleanup.body
    );
}

#[test]
fn wrong_secret_fails_clearly_and_leaves_nothing() {
    let Some((lab, fake, _zone_id)) = start() else {
        return;
    };
    let wrong = "Wrong/Secret+Access0Key0000000000000000";
    let out = run(
        &lab,
        &["issue", "-d", "example.test", "--dns", "route53"],
        &aws_env(&fake, wrong),
    );
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert_eq!(out.code, Some(3), "{}", out.all());
    assert!(
        out.stderr.contains("error:") && out.stderr.contains("hint:"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("AWS_SECRET_ACCESS_KEY"),
        "{}",
        out.all()
    );
    assert!(
        !out.stderr.contains(wrong) && !out.stdout.contains(wrong),
        "secret leaked: {}",
        out.all()
    );
    assert_eq!(fake.count_ok("ChangeResourceRecordSets"), 0);
    assert!(lab.primary_txt(NAME).is_empty());
    assert!(!lab.live("example.test").exists());
}
