//! `issue --dry-run` and `renew --dry-run`: the whole flow runs (publish, propagation,
//! validation, finalize), nothing is stored, no hook runs, `live/` does not change, and the
//! output says it was a dry run.

use std::path::Path;

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

/// Every file below `dir`, with its contents, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.is_dir() {
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).expect("link");
                out.push((
                    p.display().to_string(),
                    t.display().to_string().into_bytes(),
                ));
            } else if !p.to_string_lossy().contains("/locks/") {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn issue_dry_run_validates_for_real_and_stores_nothing() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook = lab.state_dir().join("hook-ran");
    let hook_cmd = format!("touch {}", hook.display());
    let r = lab.wildcert(
        &[
            "--json",
            "issue",
            "--dry-run",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--deploy-hook",
            &hook_cmd,
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    // The whole flow ran: the CA issued a certificate for both names.
    assert_eq!(
        v["certificate"]["names"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    assert!(
        v["dry_run"]
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.1")),
        "the result says it was a dry run: {v}"
    );
    assert!(!hook.exists(), "the deploy hook ran in a dry run");
    assert!(
        !lab.state_dir().join("certs").exists(),
        "a dry run stored something in the state directory"
    );
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    // Human output says so too.
    let r = lab.wildcert(
        &[
            "issue",
            "--dry-run",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stderr.contains("dry run against"), "{}", r.all());
    assert!(!lab.state_dir().join("certs").exists());
}

#[test]
fn renew_dry_run_leaves_live_and_hooks_untouched() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let hook = lab.state_dir().join("hook.log");
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[renew]\npre_hook = \"echo pre >> {h}\"\n\n[[certificate]]\ndomains = [\"*.example.test\", \"example.test\"]\nprovider = \"rfc2136\"\ndeploy_hook = \"echo deploy >> {h}\"\n",
            h = hook.display()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let r = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let hooks_before = std::fs::read_to_string(&hook).unwrap_or_default();
    let store_before = snapshot(&lab.state_dir().join("certs"));
    assert!(!store_before.is_empty());

    let r = lab.wildcert(&["--json", "--config", cfg, "renew", "--dry-run"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    assert!(v["dry_run"].is_string(), "{v}");
    assert_eq!(v["summary"]["failed"], 0, "{v}");
    assert!(
        v["certificates"][0]["certificate"]["not_after"].is_string(),
        "the rehearsal went through finalize: {v}"
    );
    assert_eq!(
        snapshot(&lab.state_dir().join("certs")),
        store_before,
        "a dry run changed the store"
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap_or_default(),
        hooks_before,
        "a hook ran in a dry run"
    );
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

/// `renew --dry-run` with `install` targets: the live install directory keeps the real
/// certificate and its `reload` does not run (a staging certificate in nginx's folder plus a
/// reload is what a certbot admin hit).
#[test]
fn renew_dry_run_writes_no_install_target_and_runs_no_reload() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let site = lab.state_dir().join("site");
    let reloaded = lab.state_dir().join("reloaded");
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[[certificate]]\ndomains = [\"*.example.test\", \"example.test\"]\nprovider = \"rfc2136\"\ninstall = [{{ dir = \"{}\", reload = \"touch '{}'\" }}]\n",
            site.display(),
            reloaded.display()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let r = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(reloaded.exists(), "the real run reloaded: {}", r.all());
    std::fs::remove_file(&reloaded).expect("reset the reload marker");
    let installed = snapshot(&site);
    assert!(!installed.is_empty(), "the real run installed");

    let r = lab.wildcert(&["--config", cfg, "renew", "--dry-run", "--force"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert_eq!(
        snapshot(&site),
        installed,
        "a dry run wrote into the install directory"
    );
    assert!(
        !reloaded.exists(),
        "a dry run ran the install target's reload"
    );
}

/// A dry run whose cleanup fails: its journal goes with the throwaway store, so nothing would
/// ever remove the records. The run fails (exit non-zero, also under `-q`) and names them.
#[test]
fn dry_run_cleanup_failure_fails_the_run_and_names_the_records() {
    use std::os::unix::fs::PermissionsExt;
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    if !wildcert_testkit::require("nsupdate") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("dns-hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -eu\ncase \"$1\" in\n  publish) printf 'server {} 53\\nupdate add %s 1 IN TXT \"%s\"\\nsend\\n' \"$2\" \"$3\" | nsupdate -t 5 -k '{}' ;;\n  *) echo 'the DNS API is down' >&2; exit 1 ;;\nesac\n",
            lab.bind.primary_addr().ip(),
            lab.bind.tsig_key_file_path().display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = lab.wildcert(
        &[
            "-q",
            "issue",
            "--dry-run",
            "-d",
            "example.test",
            "--dns",
            "exec",
        ],
        &[("EXEC_PATH", &script.display().to_string())],
    );
    assert_ne!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stderr.contains("dry run") && r.stderr.contains("_acme-challenge.example.test"),
        "{}",
        r.all()
    );
    assert!(!lab.primary_txt("_acme-challenge.example.test").is_empty());
}

/// A certificate `issue` made (no config file: only its recorded request) is rehearsed by
/// `renew --dry-run` too (it used to rehearse nothing and say so with exit 0), and the real
/// store stays as it was.
#[test]
fn renew_dry_run_rehearses_what_issue_recorded() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let r = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let store_before = snapshot(&lab.state_dir().join("certs"));
    let r = lab.wildcert(&["--json", "renew", "--dry-run"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    let v = json(&r);
    assert!(v["dry_run"].is_string(), "{v}");
    assert_eq!(
        v["certificates"][0]["name"], "www.example.test",
        "the recorded certificate was rehearsed: {v}"
    );
    assert!(
        v["certificates"][0]["certificate"]["not_after"].is_string(),
        "through finalize: {v}"
    );
    assert_eq!(snapshot(&lab.state_dir().join("certs")), store_before);
}
