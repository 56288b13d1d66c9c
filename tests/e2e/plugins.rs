//! Providers as a lego or certbot user configures them: a certbot credentials file (on the
//! command line and in a provider section), `wildcert providers --json` from the specs, and a
//! section typo answered with a "did you mean".

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

fn lab() -> Option<Lab> {
    Lab::start(
        BindOptions {
            zones: vec!["example.test".into()],
            ..Default::default()
        },
        false,
    )
}

/// A certbot-dns-rfc2136 credentials file for the lab's primary, with `mode`.
fn certbot_ini(lab: &Lab, path: &Path, mode: u32) {
    let primary = lab.bind.primary_addr();
    let text = format!(
        "# Target DNS server\n\
         dns_rfc2136_server = {}\n\
         # Target DNS port\n\
         dns_rfc2136_port = {}\n\
         dns_rfc2136_name = {}\n\
         dns_rfc2136_secret = {}\n\
         dns_rfc2136_algorithm = {}\n\
         dns_rfc2136_sign_query = false\n",
        primary.ip(),
        primary.port(),
        lab.bind.tsig_key_name(),
        lab.bind.tsig_secret_b64(),
        lab.bind.tsig_algorithm().to_ascii_uppercase(),
    );
    std::fs::write(path, text).expect("write ini");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// No RFC2136_* variable: the credentials can only come from the ini file.
const NO_ENV: &[(&str, &str)] = &[("RFC2136_NAMESERVER", ""), ("RFC2136_TSIG_FILE", "")];

#[test]
fn certbot_credentials_file_on_the_command_line_issues_and_renew_reads_it_again() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let ini = dir.path().join("rfc2136.ini");
    certbot_ini(&lab, &ini, 0o644);
    let ini_arg = ini.to_str().expect("utf-8 path");
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--dns-credentials",
            ini_arg,
        ],
        NO_ENV,
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["ok"], true);
    // certbot's warning for a file others may read, once.
    assert_eq!(
        run.stderr
            .matches("Unsafe permissions on credentials configuration file")
            .count(),
        1,
        "{}",
        run.all()
    );
    // The ini's other key is named, the secret never.
    assert!(
        run.stderr.contains("dns_rfc2136_sign_query"),
        "{}",
        run.all()
    );
    let secret = lab.bind.tsig_secret_b64();
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    assert!(
        lab.primary_txt("_acme-challenge.example.test").is_empty(),
        "records left behind"
    );
    // check takes the same file (its probe record is published and removed through it).
    let check = lab.wildcert(
        &[
            "check",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--dns-credentials",
            ini_arg,
        ],
        NO_ENV,
    );
    assert_eq!(check.code, Some(0), "{}", check.all());
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    // renew, without the flag and without the variables, reads the recorded file again.
    std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let renew = lab.wildcert(&["renew", "--force"], NO_ENV);
    assert_eq!(renew.code, Some(0), "{}", renew.all());
    assert!(renew.all().contains("example.test"), "{}", renew.all());
    assert!(
        !renew.stderr.contains("Unsafe permissions"),
        "{}",
        renew.all()
    );
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

#[test]
fn credentials_in_a_provider_section_and_a_typo_answered() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let ini = dir.path().join("rfc2136.ini");
    certbot_ini(&lab, &ini, 0o600);
    let config = dir.path().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.home]\nkind = \"rfc2136\"\ncredentials = \"{}\"\n",
            ini.display()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8 path");
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "issue",
            "-d",
            "example.test",
            "--dns",
            "home",
        ],
        NO_ENV,
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.stderr.contains("Unsafe permissions"), "{}", run.all());

    // A misspelt key: named, with its line and the key meant.
    std::fs::write(
        &config,
        format!(
            "[providers.home]\nkind = \"rfc2136\"\ncredentials = \"{}\"\ntsig_algoritm = \"hmac-sha256\"\n",
            ini.display()
        ),
    )
    .expect("config");
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "issue",
            "-d",
            "example.test",
            "--dns",
            "home",
        ],
        NO_ENV,
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("did you mean `tsig_algorithm`")
            && run.stderr.contains("wildcert.toml:4"),
        "{}",
        run.all()
    );
}

#[test]
fn providers_json_comes_from_the_specs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cmd = std::process::Command::new(crate::lab::bin());
    cmd.args(["--state-dir"])
        .arg(tmp.path())
        .args(["--json", "providers"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = crate::lab::run_bounded(cmd, std::time::Duration::from_secs(30));
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    let providers = v["providers"].as_array().expect("providers");
    let env_of = |kind: &str, key: &str| -> Vec<String> {
        providers
            .iter()
            .find(|p| p["kind"] == kind)
            .and_then(|p| p["settings"].as_array())
            .and_then(|s| s.iter().find(|s| s["key"] == key))
            .and_then(|s| s["env_names"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The drift the issue found: route53 reads AWS_DEFAULT_REGION.
    assert_eq!(
        env_of("route53", "region"),
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
    );
    // Every provider of the registry is listed, each with lego's common variables.
    let listed: Vec<&str> = providers
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    let registered: Vec<&str> = wildcert_manager::providers::PROVIDERS
        .iter()
        .map(|r| r.spec.kind)
        .collect();
    assert_eq!(listed, registered);
    for r in wildcert_manager::providers::PROVIDERS {
        let (kind, prefix) = (r.spec.kind, r.spec.env_prefix);
        assert_eq!(
            env_of(kind, "propagation_timeout"),
            [format!("{prefix}_PROPAGATION_TIMEOUT")]
        );
        assert_eq!(
            env_of(kind, "polling_interval"),
            [format!("{prefix}_POLLING_INTERVAL")]
        );
        assert_eq!(env_of(kind, "ttl"), [format!("{prefix}_TTL")]);
    }
    // lego's prefix for Route 53 is AWS, not ROUTE53.
    assert_eq!(env_of("route53", "ttl"), ["AWS_TTL"]);
    assert_eq!(env_of("cloudflare", "timeout"), ["CLOUDFLARE_HTTP_TIMEOUT"]);
    assert_eq!(env_of("pdns", "api_version"), ["PDNS_API_VERSION"]);
    // Secrets are marked as such; certbot keys are named.
    let token = providers
        .iter()
        .find(|p| p["kind"] == "cloudflare")
        .and_then(|p| p["settings"].as_array())
        .and_then(|s| s.iter().find(|s| s["key"] == "api_token"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(token["secret"], true);
    assert_eq!(token["certbot"], "dns_cloudflare_api_token");
}
