//! `wildcert renew` over a config file: several certificates, forced renewal, hooks,
//! concurrent runs.

use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

fn write_config(lab: &Lab, certs: &[(&str, &[&str])], hook_out: &Path) -> PathBuf {
    let mut text = String::from("[providers.lab]\nkind = \"rfc2136\"\n\n");
    for (name, domains) in certs {
        let list: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
        text.push_str(&format!(
            "[[certificate]]\nname = \"{name}\"\ndomains = [{}]\nprovider = \"lab\"\ndeploy_hook = \"echo \\\"$WILDCERT_CERT_NAME $WILDCERT_CERT_VERSION $WILDCERT_FULLCHAIN_PATH $WILDCERT_CERT_NAMES\\\" >> {}\"\n\n",
            list.join(", "),
            hook_out.display()
        ));
    }
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn certs() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("apex", &["*.example.test", "example.test"][..]),
        ("www", &["www.example.test"][..]),
        ("api", &["api.example.test", "*.api.example.test"][..]),
    ]
}

#[test]
fn fresh_config_issues_all_then_skips_then_forced_renewal_keeps_archive() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook_out = lab.state_dir().join("hook.log");
    let config = write_config(&lab, &certs(), &hook_out);
    let cfg = config.to_str().expect("utf-8");

    // 1. Fresh: every certificate issued in one run, one publish for the zone.
    let run = lab.wildcert(&["--config", cfg, "--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["summary"]["issued"], 3, "{}", run.all());
    for (name, _) in certs() {
        assert!(lab.live(name).join("fullchain.pem").exists(), "{name}");
    }
    // The hook ran once per certificate with its variables.
    let log = std::fs::read_to_string(&hook_out).expect("hook log");
    assert_eq!(log.lines().count(), 3, "{log}");
    let apex_line = log
        .lines()
        .find(|l| l.starts_with("apex "))
        .expect("apex hook line");
    assert!(
        apex_line.contains(&format!(
            "apex 1 {}",
            lab.live("apex").join("fullchain.pem").display()
        )),
        "{apex_line}"
    );
    assert!(
        apex_line.contains("*.example.test example.test"),
        "{apex_line}"
    );
    // The zone is back to how it was.
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    assert!(
        lab.primary_txt("_acme-challenge.api.example.test")
            .is_empty()
    );

    // 2. Nothing due: a quick skip of all three, no hook.
    let run = lab.wildcert(&["--config", cfg, "--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["skipped"], 3, "{}", run.all());
    assert_eq!(
        std::fs::read_to_string(&hook_out)
            .expect("hook log")
            .lines()
            .count(),
        3
    );

    // 3. Forced renewal of one: archive keeps version 1, live moves to version 2.
    let before = std::fs::read_to_string(lab.live("www").join("cert.pem")).expect("cert");
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "--json",
            "renew",
            "--force",
            "--cert-name",
            "www",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["renewed"], 1, "{}", run.all());
    let after = std::fs::read_to_string(lab.live("www").join("cert.pem")).expect("cert");
    assert_ne!(before, after);
    let archived = lab.state_dir().join("certs/www/archive/1/cert.pem");
    assert_eq!(
        std::fs::read_to_string(archived).expect("archive v1"),
        before
    );
    assert!(
        lab.state_dir()
            .join("certs/www/archive/2/cert.pem")
            .exists()
    );
    let log = std::fs::read_to_string(&hook_out).expect("hook log");
    assert!(log.lines().any(|l| l.starts_with("www 2 ")), "{log}");
}

#[test]
fn concurrent_renews_do_not_issue_twice_or_corrupt() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook_out = lab.state_dir().join("hook.log");
    let config = write_config(&lab, &certs()[..2], &hook_out);
    let cfg = config.to_str().expect("utf-8").to_string();
    // Two runs at once: a certificate the other run is working on is skipped at once (its
    // lock is held), one it already stored is skipped after the lock — never issued twice.
    let (a, b) = std::thread::scope(|s| {
        let h1 = s.spawn(|| lab.wildcert(&["--config", &cfg, "--json", "renew"], &[]));
        let h2 = s.spawn(|| lab.wildcert(&["--config", &cfg, "--json", "renew"], &[]));
        (h1.join().expect("run 1"), h2.join().expect("run 2"))
    });
    for run in [&a, &b] {
        assert_eq!(run.code, Some(0), "{}", run.all());
    }
    let issued = |r: &crate::lab::Run| json(r)["summary"]["issued"].as_u64().unwrap_or(0);
    assert_eq!(issued(&a) + issued(&b), 2, "{}\n{}", a.all(), b.all());
    for name in ["apex", "www"] {
        let archive = lab.state_dir().join("certs").join(name).join("archive");
        let versions = std::fs::read_dir(&archive).expect("archive").count();
        assert_eq!(
            versions,
            1,
            "{name}: issued twice\n{}\n{}",
            a.all(),
            b.all()
        );
        assert!(lab.live(name).join("privkey.pem").exists());
    }
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

#[test]
fn renew_without_certificates_is_a_clear_error() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let path = lab.state_dir().join("empty.toml");
    std::fs::write(&path, "[acme]\n").expect("write");
    let run = lab.wildcert(&["--config", path.to_str().expect("utf-8"), "renew"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("[[certificate]]"), "{}", run.all());
}

#[test]
fn until_next_issues_then_sleeps_and_stops_on_sigterm() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook_out = lab.state_dir().join("hook.log");
    let config = write_config(&lab, &certs()[1..2], &hook_out);
    let cfg = config.to_str().expect("utf-8");
    let mut cmd = lab.command_at(
        &lab.pebble.directory_url(),
        &["--config", cfg, "renew", "--until-next"],
        &[],
    );
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("starts");
    // Bounded: the first round issues within the run limit, then the service sleeps.
    let start = std::time::Instant::now();
    while !lab.live("www").join("fullchain.pem").exists() && start.elapsed() < crate::lab::RUN_LIMIT
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("--until-next exited after its first round: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        lab.live("www").join("fullchain.pem").exists(),
        "first round did not issue"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the service should be sleeping until the next round"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "a sleeping service stops cleanly on SIGTERM"
    );
}

/// `renew --cert-name` with a name that is neither configured nor stored is a typo: exit 2 with
/// a did-you-mean, also under `-q` — never a silent "nothing due".
#[test]
fn renew_cert_name_that_names_nothing_is_exit_2() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook_out = lab.state_dir().join("hooks.log");
    let config = write_config(&lab, &certs()[1..2], &hook_out);
    let cfg = config.to_str().expect("utf-8");
    let run = lab.wildcert(&["-q", "--config", cfg, "renew", "--cert-name", "ww"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("`ww`") && run.stderr.contains("www"),
        "{}",
        run.all()
    );
    // The configured name is fine (nothing stored yet: it is issued).
    let run = lab.wildcert(&["-q", "--config", cfg, "renew", "--cert-name", "www"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
}

/// Typos in the config fail the very next run, even when nothing is due (they used to pass with
/// exit 0 until the certificate came due weeks later): an unknown key type, an unknown provider
/// id and an unknown key in a provider section are each exit 2 naming the culprit.
#[test]
fn config_typos_fail_the_next_run_even_when_nothing_is_due() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook_out = lab.state_dir().join("hooks.log");
    let config = write_config(&lab, &certs()[1..2], &hook_out);
    let cfg = config.to_str().expect("utf-8");
    let run = lab.wildcert(&["-q", "--config", cfg, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let good = std::fs::read_to_string(&config).expect("config");
    for (typo, from, to, named) in [
        (
            "key type",
            "provider = \"lab\"\n",
            "provider = \"lab\"\nkey_type = \"rsa\"\n",
            "key_type",
        ),
        (
            "provider id",
            "provider = \"lab\"\n",
            "provider = \"lbb\"\n",
            "`lbb`",
        ),
        (
            "provider key",
            "kind = \"rfc2136\"\n",
            "kind = \"rfc2136\"\ntsig_secretfile = \"/nope\"\n",
            "tsig_secret_file",
        ),
    ] {
        std::fs::write(&config, good.replacen(from, to, 1)).expect("typo");
        let run = lab.wildcert(&["-q", "--config", cfg, "renew"], &[]);
        assert_eq!(run.code, Some(2), "{typo}: {}", run.all());
        assert!(run.stderr.contains(named), "{typo}: {}", run.all());
    }
    std::fs::write(&config, &good).expect("fixed");
    let run = lab.wildcert(&["-q", "--config", cfg, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
}
