//! `wildcert issue --dns exec` end to end: a shell script runs `nsupdate -k KEYFILE` against the
//! BIND topology's hidden primary; Pebble validates against the lagging secondary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

const NAME: &str = "_acme-challenge.example.test";

/// A script in lego's style: `$1` is the action, `$2` the FQDN (trailing dot), `$3` the value.
/// Every call is appended to `calls.log` next to it.
fn nsupdate_script(lab: &Lab, dir: &Path, key_file: &Path) -> PathBuf {
    let path = dir.join("dns-hook.sh");
    let log = dir.join("calls.log");
    let body = format!(
        r#"#!/bin/sh
set -eu
echo "$1 $2 $3" >> '{log}'
case "$1" in
  publish|present) op=add ;;
  unpublish|cleanup) op=delete ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
printf 'server {server} 53\nupdate %s %s 1 IN TXT "%s"\nsend\n' "$op" "$2" "$3" \
  | nsupdate -t 5 -k '{key}'
echo "$op done for $2"
"#,
        log = log.display(),
        server = lab.bind.primary_addr().ip(),
        key = key_file.display(),
    );
    std::fs::write(&path, body).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn wildcard_and_apex_through_a_script() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    if !wildcert_testkit::require("nsupdate") {
        return;
    }
    lab.bind
        .add_records("example.test", &[&format!("{NAME}. 60 IN TXT \"keep-me\"")])
        .expect("seed foreign TXT");
    let dir = tempfile::tempdir().expect("tmp");
    let script = nsupdate_script(&lab, dir.path(), lab.bind.tsig_key_file_path());
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "exec",
        ],
        &[
            ("EXEC_PATH", &script.display().to_string()),
            ("EXEC_TIMEOUT", "30"),
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
    assert!(lab.live("example.test").join("fullchain.pem").exists());
    // Two values at one name: two publish runs, two unpublish runs, FQDN with trailing dot.
    let c = calls(dir.path());
    assert_eq!(c.len(), 4, "{c:?}");
    assert_eq!(
        c.iter()
            .filter(|l| l.starts_with(&format!("publish {NAME}. ")))
            .count(),
        2,
        "{c:?}"
    );
    assert_eq!(
        c.iter()
            .filter(|l| l.starts_with(&format!("unpublish {NAME}. ")))
            .count(),
        2,
        "{c:?}"
    );
    // The zone is as it was.
    assert_eq!(lab.primary_txt(NAME), ["keep-me"]);
}

#[test]
fn lego_mode_script_works_unchanged() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let script = nsupdate_script(&lab, dir.path(), lab.bind.tsig_key_file_path());
    let config = dir.path().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.legohook]\nkind = \"exec\"\nprogram = \"{}\"\nmode = \"lego\"\ntimeout = \"30s\"\n",
            script.display()
        ),
    )
    .expect("config");
    let run = lab.wildcert(
        &[
            "--config",
            &config.display().to_string(),
            "issue",
            "-d",
            "example.test",
            "--dns",
            "legohook",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let c = calls(dir.path());
    assert!(
        c.len() == 2 && c[0].starts_with("present ") && c[1].starts_with("cleanup "),
        "{c:?}"
    );
    assert!(lab.primary_txt(NAME).is_empty());
}

#[test]
fn wrong_key_in_the_script_fails_clearly() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let bad_key = dir.path().join("bad.key");
    std::fs::write(
        &bad_key,
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=\";\n}};\n",
            lab.bind.tsig_key_name(),
            lab.bind.tsig_algorithm()
        ),
    )
    .expect("bad key");
    let script = nsupdate_script(&lab, dir.path(), &bad_key);
    let run = lab.wildcert(
        &["issue", "-d", "example.test", "--dns", "exec"],
        &[("EXEC_PATH", &script.display().to_string())],
    );
    eprintln!("{}", run.all());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("hint:"),
        "{}",
        run.all()
    );
    let error_line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    // The error names the program, the action and the exit code, plus nsupdate's last words.
    assert!(
        error_line.contains("dns-hook.sh")
            && error_line.contains("publish")
            && error_line.contains("exited with code"),
        "{}",
        run.all()
    );
    assert!(lab.primary_txt(NAME).is_empty());
    assert!(!lab.live("example.test").exists());
}

#[test]
fn missing_program_is_a_settings_error() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(
        &["issue", "-d", "example.test", "--dns", "exec"],
        &[("EXEC_PATH", "/nonexistent/dns-hook.sh")],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("/nonexistent/dns-hook.sh"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("hint:"), "{}", run.all());
}

/// The program starts from a clean environment (issue 24 item 3): another provider's
/// credentials in wildcert's environment never reach it; `EXEC_PASS_ENV` passes named ones.
#[test]
fn the_program_gets_a_clean_environment() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    if !wildcert_testkit::require("nsupdate") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let script = nsupdate_script(&lab, dir.path(), lab.bind.tsig_key_file_path());
    let dumped = dir.path().join("env.txt");
    let text = std::fs::read_to_string(&script).expect("script");
    std::fs::write(
        &script,
        text.replacen(
            "set -eu\n",
            &format!("set -eu\nenv >> '{}'\n", dumped.display()),
            1,
        ),
    )
    .expect("script");
    let run = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "exec"],
        &[
            ("EXEC_PATH", &script.display().to_string()),
            ("EXEC_PASS_ENV", "MY_DNS_TOKEN"),
            ("MY_DNS_TOKEN", "passed-on-purpose"),
            ("CLOUDFLARE_DNS_API_TOKEN", "cf-token-in-env"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-in-env"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let env = std::fs::read_to_string(&dumped).expect("the script ran");
    assert!(
        !env.contains("cf-token-in-env") && !env.contains("aws-secret-in-env"),
        "{env}"
    );
    assert!(env.contains("MY_DNS_TOKEN=passed-on-purpose"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
}
