//! Issue 23: `renew` renews a certificate exactly as `issue` made it (its CA, CA bundle,
//! resolvers and install directories, with no flag repeated), a run-level failure counts as
//! the failure of every certificate it was due to handle (metrics, `WILDCERT_FAILED_CERTS`),
//! and a certificate that `renew` no longer handles is reported on every run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, RUN_LIMIT, Run, bin, run_bounded};

/// `wildcert --state-dir STATE ARGS` with only the RFC 2136 credentials in the environment:
/// no --server, --ca-bundle or --resolver (a cron line written after `issue`).
fn bare(lab: &Lab, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.arg("--state-dir")
        .arg(lab.state_dir())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RFC2136_NAMESERVER", lab.bind.primary_addr().to_string())
        .env("RFC2136_TSIG_FILE", lab.bind.tsig_key_file_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(cmd, RUN_LIMIT)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn renew_without_flags_renews_as_issued_with_its_ca_resolvers_and_install_dir() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let install = lab.state_dir().join("nginx");
    let issued = lab.wildcert(
        &[
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--install-dir",
            install.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(issued.code, Some(0), "{}", issued.all());
    let first = read(&install.join("fullchain.pem"));
    // The cron line: no --server, --ca-bundle, --resolver. The recorded request supplies them.
    let renewed = bare(&lab, &["renew", "--force"]);
    assert_eq!(renewed.code, Some(0), "{}", renewed.all());
    let live = read(&lab.live("example.test").join("fullchain.pem"));
    assert_ne!(live, first, "a new certificate is live: {}", renewed.all());
    assert_eq!(
        read(&install.join("fullchain.pem")),
        live,
        "the install directory given to `issue` got the renewed certificate"
    );
    // `show` tells what renew uses.
    let show = bare(&lab, &["--json", "show", "example.test"]);
    let doc = crate::lab::json(&show);
    let req = &doc["certificate"]["meta"]["request"];
    assert_eq!(req["server"], lab.pebble.directory_url().as_str(), "{doc}");
    assert!(
        req["resolvers"].as_array().is_some_and(|r| !r.is_empty()),
        "{doc}"
    );
    assert!(req["ca_bundle"].is_string(), "{doc}");
    assert_eq!(
        req["install"][0]["dir"],
        install.to_str().expect("utf-8"),
        "{doc}"
    );
}

fn config(lab: &Lab, extra: &str, names: &[&str]) -> PathBuf {
    let mut text = format!("[providers.lab]\nkind = \"rfc2136\"\n\n{extra}\n");
    for n in names {
        text.push_str(&format!(
            "[[certificate]]\nname = \"{n}\"\ndomains = [\"{n}.example.test\"]\nprovider = \"lab\"\n\n"
        ));
    }
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The sample of `metric` for certificate `name` in a textfile.
fn sample(text: &str, metric: &str, name: &str) -> Option<i64> {
    let prefix = format!("{metric}{{name=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_ca_that_cannot_be_reached_counts_every_due_certificate_as_failed() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let metrics = lab.state_dir().join("wildcert.prom");
    let log = lab.state_dir().join("post.log");
    let extra = format!(
        "[metrics]\ntextfile = \"{}\"\n\n[renew]\npost_hook = \"echo \\\"failed=$WILDCERT_FAILED_CERTS\\\" >> {}\"\n",
        metrics.display(),
        log.display()
    );
    let cfg = config(&lab, &extra, &["a", "b"]);
    let cfg = cfg.to_str().expect("utf-8");
    let first = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    let text = read(&metrics);
    assert_eq!(
        sample(&text, "wildcert_renewal_last_failure_seconds", "a"),
        Some(0)
    );
    // The CA is unreachable (nothing listens there): every due certificate failed.
    let down = lab.wildcert_at(
        "https://127.0.0.1:9/dir",
        &["--config", cfg, "renew", "--force"],
        &[],
    );
    assert_ne!(down.code, Some(0), "{}", down.all());
    let text = read(&metrics);
    for n in ["a", "b"] {
        let t = sample(&text, "wildcert_renewal_last_failure_seconds", n);
        assert!(t.is_some_and(|t| t > 0), "{n}: {text}\n{}", down.all());
    }
    let logged = read(&log);
    let last = logged.lines().last().unwrap_or_default();
    assert_eq!(last, "failed=a b", "{logged}\n{}", down.all());
}

#[test]
fn a_certificate_whose_entry_was_removed_is_reported_on_every_run() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let cfg = config(&lab, "", &["a", "b"]);
    let cfg_s = cfg.to_str().expect("utf-8");
    let first = lab.wildcert(&["--config", cfg_s, "renew"], &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    // `b` leaves the config: renew no longer handles it, and says so every time.
    config(&lab, "", &["a"]);
    for _ in 0..2 {
        let run = lab.wildcert(&["--config", cfg_s, "renew"], &[]);
        assert_eq!(run.code, Some(2), "{}", run.all());
        assert!(run.stderr.contains("b"), "{}", run.all());
        assert!(run.stderr.contains("wildcert delete"), "{}", run.all());
    }
    // Deleting it is the way to stop renewing it on purpose.
    let del = lab.wildcert(&["delete", "b", "--yes"], &[]);
    assert_eq!(del.code, Some(0), "{}", del.all());
    let run = lab.wildcert(&["--config", cfg_s, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
}

#[test]
fn issue_never_drops_names_silently_and_never_reorders_a_valid_certificate() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let issue = |domains: &[&str], extra: &[&str]| {
        let mut args = vec!["issue", "--dns", "rfc2136"];
        for d in domains {
            args.extend(["-d", d]);
        }
        args.extend_from_slice(extra);
        lab.wildcert(&args, &[])
    };
    let live = || read(&lab.live("example.test").join("fullchain.pem"));
    let first = issue(&["*.example.test", "example.test"], &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    let v1 = live();
    // Apex only, under the same name: refused, the dropped name listed, nothing changed.
    let dropped = issue(&["example.test"], &[]);
    assert_eq!(dropped.code, Some(2), "{}", dropped.all());
    assert!(
        dropped.stderr.contains("*.example.test"),
        "{}",
        dropped.all()
    );
    assert!(
        dropped.stderr.contains("--replace-names"),
        "{}",
        dropped.all()
    );
    assert_eq!(live(), v1);
    // The same names (in another order), valid and not due: nothing ordered, exit 0.
    let again = issue(&["example.test", "*.example.test"], &[]);
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("nothing ordered"), "{}", again.all());
    assert_eq!(live(), v1, "no new certificate");
    let doc = crate::lab::json(&lab.wildcert(
        &[
            "--json",
            "issue",
            "--dns",
            "rfc2136",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
        ],
        &[],
    ));
    assert_eq!(doc["ordered"], false, "{doc}");
    assert!(doc["due"].is_string(), "{doc}");
    // --force orders.
    let forced = issue(&["*.example.test", "example.test"], &["--force"]);
    assert_eq!(forced.code, Some(0), "{}", forced.all());
    let v2 = live();
    assert_ne!(v2, v1);
    // A superset expands the certificate.
    let more = issue(&["*.example.test", "example.test", "www.example.test"], &[]);
    assert_eq!(more.code, Some(0), "{}", more.all());
    assert_ne!(live(), v2);
    // --replace-names drops on purpose.
    let replaced = issue(&["example.test"], &["--replace-names"]);
    assert_eq!(replaced.code, Some(0), "{}", replaced.all());
    let show = crate::lab::json(&lab.wildcert(&["--json", "show", "example.test"], &[]));
    assert_eq!(
        show["certificate"]["meta"]["names"],
        serde_json::json!(["example.test"]),
        "{show}"
    );
}

/// Issue 23 item 11: lego's `LEGO_CA_CERTIFICATES` names the private CA's roots (no
/// `--ca-bundle`), so a lego user's environment works unchanged.
#[test]
fn lego_ca_certificates_is_honoured() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let mut cmd = Command::new(bin());
    cmd.args(["--server", &lab.pebble.directory_url()])
        .arg("--state-dir")
        .arg(lab.state_dir())
        .args(["--agree-tos", "--resolver"])
        .arg(lab.bind.prompt_secondary_addr().to_string())
        .args(["issue", "-d", "www.example.test", "--dns", "rfc2136"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RFC2136_NAMESERVER", lab.bind.primary_addr().to_string())
        .env("RFC2136_TSIG_FILE", lab.bind.tsig_key_file_path())
        .env("LEGO_CA_CERTIFICATES", lab.pebble.ca_cert_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_bounded(cmd, RUN_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(lab.live("www.example.test").join("fullchain.pem").exists());
}

/// `reuse_key` (issue 23 item 12): `issue --reuse-key` is recorded, and `renew` keeps the key
/// (a TLSA `3 1 1` pin stays valid) while the certificate changes; a `[[certificate]]` with
/// `reuse_key = true` keeps its key too, and without it every renewal makes a new key.
#[test]
fn reuse_key_keeps_the_key_across_renewals() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let issued = lab.wildcert(
        &[
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--reuse-key",
        ],
        &[],
    );
    assert_eq!(issued.code, Some(0), "{}", issued.all());
    let live = lab.live("www.example.test");
    let key1 = read(&live.join("privkey.pem"));
    let cert1 = read(&live.join("cert.pem"));
    let renewed = lab.wildcert(&["renew", "--force"], &[]);
    assert_eq!(renewed.code, Some(0), "{}", renewed.all());
    assert_ne!(
        read(&live.join("cert.pem")),
        cert1,
        "renewed: {}",
        renewed.all()
    );
    assert_eq!(read(&live.join("privkey.pem")), key1, "the key is kept");

    // From the config: kept with reuse_key = true, new without.
    let cfg = lab.state_dir().join("w.toml");
    let entry = |reuse: bool| {
        format!(
            "[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\ndomains = [\"api.example.test\"]\nprovider = \"lab\"\n{}",
            if reuse { "reuse_key = true\n" } else { "" }
        )
    };
    let c = cfg.to_str().expect("utf-8");
    let api = lab.live("api.example.test");
    std::fs::write(&cfg, entry(true)).expect("config");
    let run = lab.wildcert(&["--config", c, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let k1 = read(&api.join("privkey.pem"));
    let run = lab.wildcert(
        &[
            "--config",
            c,
            "renew",
            "--force",
            "--cert-name",
            "api.example.test",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        read(&api.join("privkey.pem")),
        k1,
        "reuse_key = true keeps it"
    );
    std::fs::write(&cfg, entry(false)).expect("config");
    let run = lab.wildcert(
        &[
            "--config",
            c,
            "renew",
            "--force",
            "--cert-name",
            "api.example.test",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_ne!(read(&api.join("privkey.pem")), k1, "without it, a new key");
}
