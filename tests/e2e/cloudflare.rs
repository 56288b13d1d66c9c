//! `wildcert issue --dns cloudflare` end to end: the binary talks to the provider's Cloudflare
//! API fake (providers/cloudflare/tests/fake), which applies every record change to the BIND topology's primary (RFC 2136);
//! Pebble validates against the lagging secondary.

use wildcert_cloudflare::fake::{CloudflareFake, CloudflareFakeOptions, FakeToken};
use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

const TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";
const NAME: &str = "_acme-challenge.example.test";

fn start() -> Option<(Lab, CloudflareFake)> {
    let lab = Lab::start(BindOptions::default(), false)?;
    let fake =
        CloudflareFake::start(CloudflareFakeOptions::backed_by(&lab.bind)).expect("fake starts");
    Some((lab, fake))
}

#[test]
fn wildcard_and_apex_through_the_api() {
    let Some((lab, fake)) = start() else { return };
    // A value that is not ours, at the same name, in the API and in DNS.
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 60)
        .expect("seed foreign TXT");
    let base = fake.base_url();
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "cloudflare",
        ],
        &[
            ("CLOUDFLARE_DNS_API_TOKEN", TOKEN),
            ("CLOUDFLARE_BASE_URL", &base),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], true, "{}", run.all());
    let mut names: Vec<String> = v["certificate"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    assert_eq!(names, ["*.example.test", "example.test"]);
    let cert = std::fs::read_to_string(lab.live("example.test").join("fullchain.pem"))
        .expect("certificate");
    assert!(cert.contains("-----BEGIN CERTIFICATE-----"));
    // One record per value, created then deleted by id.
    let zone_id = fake.zone_id("example.test").expect("zone id");
    let records = format!("/zones/{zone_id}/dns_records");
    assert_eq!(fake.count("POST", &records), 2, "{:?}", fake.requests());
    assert_eq!(
        fake.count_prefix("DELETE", &format!("{records}/")),
        2,
        "{:?}",
        fake.requests()
    );
    // The zone is as it was: only the foreign value, in the API and in DNS.
    assert_eq!(fake.txt_values(NAME), ["keep-me"]);
    assert_eq!(lab.primary_txt(NAME), ["keep-me"]);
    let ids = lab
        .state_dir()
        .join("providers")
        .join("cloudflare")
        .join(format!("{zone_id}.json"));
    assert!(!ids.exists(), "record-id file left behind");
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "token leaked"
    );
}

#[test]
fn wrong_token_fails_clearly_and_leaves_nothing() {
    let Some((lab, fake)) = start() else { return };
    let base = fake.base_url();
    let wrong = "wildcert_fake_cloudflare_token_999999999";
    let run = lab.wildcert(
        &["issue", "-d", "example.test", "--dns", "cloudflare"],
        &[
            ("CLOUDFLARE_DNS_API_TOKEN", wrong),
            ("CLOUDFLARE_BASE_URL", &base),
        ],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("hint:"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("Authentication error") && run.stderr.contains("DNS:Edit"),
        "{}",
        run.all()
    );
    assert!(
        !run.stderr.contains(wrong) && !run.stdout.contains(wrong),
        "token leaked: {}",
        run.all()
    );
    assert!(fake.records("example.test").is_empty());
    assert!(lab.primary_txt(NAME).is_empty());
    assert!(!lab.live("example.test").exists());
}

#[test]
fn zone_id_with_a_dns_only_token() {
    let Some((lab, fake)) = start() else { return };
    let dns_only = "wildcert_fake_cloudflare_token_dnsedit01";
    fake.add_token(FakeToken {
        zone_read: false,
        ..FakeToken::full(dns_only)
    });
    let zone_id = fake.zone_id("example.test").expect("zone id");
    let base = fake.base_url();
    let run = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "cloudflare"],
        &[
            ("CF_DNS_API_TOKEN", dns_only),
            ("CLOUDFLARE_ZONE_ID", &zone_id),
            ("CLOUDFLARE_BASE_URL", &base),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        fake.count("GET", "/zones"),
        0,
        "no zone lookup with zone_id"
    );
    assert!(fake.records("example.test").is_empty());
    assert!(
        lab.primary_txt("_acme-challenge.www.example.test")
            .is_empty()
    );
}
