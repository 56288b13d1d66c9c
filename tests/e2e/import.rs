//! Issue 23 item 12: `wildcert import certbot` and `wildcert import lego` on state made by the
//! real certbot (Debian's, with python3-certbot-dns-rfc2136) and the real lego (Debian's),
//! both against the lab's Pebble and BIND; a `renew` right after needs no edit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, run_bounded};

const TOOL_LIMIT: Duration = Duration::from_secs(120);

fn tool(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing (tests/setup.sh installs it)"
        );
    }
    found
}

fn lab() -> Option<Lab> {
    Lab::start(
        BindOptions {
            lagging_secondary: false,
            ..BindOptions::default()
        },
        false,
    )
}

/// certbot certonly with the rfc2136 plugin into `root` (config, work and logs dirs under it).
fn certbot(lab: &Lab, root: &Path, domains: &[&str], extra: &[&str]) -> Run {
    let ini = root.join("rfc2136.ini");
    std::fs::write(
        &ini,
        format!(
            "dns_rfc2136_server = {}\ndns_rfc2136_port = {}\ndns_rfc2136_name = {}\ndns_rfc2136_secret = {}\ndns_rfc2136_algorithm = {}\n",
            lab.bind.primary_addr().ip(),
            lab.bind.primary_addr().port(),
            lab.bind.tsig_key_name(),
            lab.bind.tsig_secret_b64(),
            lab.bind.tsig_algorithm().to_uppercase(),
        ),
    )
    .expect("ini");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&ini).expect("ini").permissions(),
        0o600,
    );
    let _ = std::fs::set_permissions(&ini, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut cmd = Command::new("certbot");
    cmd.args([
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "-m",
        "admin@example.test",
    ])
    .arg("--server")
    .arg(lab.pebble.directory_url())
    .arg("--config-dir")
    .arg(root.join("etc"))
    .arg("--work-dir")
    .arg(root.join("work"))
    .arg("--logs-dir")
    .arg(root.join("logs"))
    .args(["--dns-rfc2136", "--dns-rfc2136-propagation-seconds", "1"])
    .arg("--dns-rfc2136-credentials")
    .arg(&ini)
    .args(extra);
    for d in domains {
        cmd.args(["-d", d]);
    }
    cmd.env("REQUESTS_CA_BUNDLE", lab.pebble.ca_cert_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(cmd, TOOL_LIMIT)
}

/// lego run with its rfc2136 provider into `path`.
fn lego(lab: &Lab, path: &Path, domains: &[&str], action: &str) -> Run {
    let mut cmd = Command::new("lego");
    cmd.args([
        "--accept-tos",
        "--email",
        "admin@example.test",
        "--dns",
        "rfc2136",
    ])
    .arg("--server")
    .arg(lab.pebble.directory_url())
    .arg("--path")
    .arg(path)
    .args(["--dns.disable-cp"]);
    for d in domains {
        cmd.args(["--domains", d]);
    }
    cmd.arg(action);
    if action == "renew" {
        cmd.args(["--days", "365"]);
    }
    cmd.env("LEGO_CA_CERTIFICATES", lab.pebble.ca_cert_path())
        .env("RFC2136_NAMESERVER", lab.bind.primary_addr().to_string())
        .env("RFC2136_TSIG_KEY", lab.bind.tsig_key_name())
        .env("RFC2136_TSIG_SECRET", lab.bind.tsig_secret_b64())
        .env(
            "RFC2136_TSIG_ALGORITHM",
            format!("{}.", lab.bind.tsig_algorithm()),
        )
        .env("RFC2136_PROPAGATION_TIMEOUT", "10")
        .env("RFC2136_POLLING_INTERVAL", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(cmd, TOOL_LIMIT)
}

/// Every file under `root` with its bytes and mode: the source must not change.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut out: Vec<(PathBuf, Vec<u8>, u32)> = walk(root)
        .into_iter()
        .map(|p| {
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            let bytes = if meta.file_type().is_symlink() {
                std::fs::read_link(&p)
                    .expect("link")
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else {
                std::fs::read(&p).expect("read")
            };
            (
                p,
                bytes,
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()),
            )
        })
        .collect();
    out.sort();
    out
}

/// `wildcert` with the lab's CA but no provider variables in the environment: what it renews
/// with must come from what the import recorded (certbot's credentials file).
fn bare(lab: &Lab, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(crate::lab::bin());
    cmd.arg("--state-dir")
        .arg(lab.state_dir())
        .arg("--ca-bundle")
        .arg(lab.pebble.ca_cert_path())
        .arg("--resolver")
        .arg(lab.bind.prompt_secondary_addr().to_string())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(cmd, crate::lab::RUN_LIMIT)
}

fn account_url(lab: &Lab) -> String {
    let accounts = lab.state_dir().join("accounts");
    let rec = walk(&accounts)
        .into_iter()
        .find(|p| p.ends_with("account.json"))
        .expect("an account in the store");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rec).expect("read")).expect("json");
    v["url"].as_str().expect("url").to_string()
}

/// A certbot lineage with two versions, a deploy hook given on the command line and one in
/// `renewal-hooks/deploy/`, and a pre hook: imported with every version, `live/` as it was,
/// the key 0600, the account (certbot's RSA JWK) and the hooks; certbot's directory
/// unchanged; a `renew --force` right after works with no edit and no provider variable (the
/// credentials file is carried), runs both deploy hooks and keeps the account.
#[test]
fn certbot_lineages_import_and_renew_without_an_edit() {
    if tool("certbot").is_none() {
        return;
    }
    let Some(lab) = lab() else { return };
    let root = tempfile::tempdir().expect("tmp");
    let log = root.path().join("hooks.log");
    let names = ["*.example.test", "example.test"];
    let run = certbot(&lab, root.path(), &names, &["--key-type", "ecdsa"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let deploy = format!("echo deployed-by-flag >> {}", log.display());
    let run = certbot(
        &lab,
        root.path(),
        &names,
        &["--force-renewal", "--deploy-hook", &deploy],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let etc = root.path().join("etc");
    for (dir, line) in [("deploy", "deployed-by-dir"), ("pre", "pre")] {
        let hook = etc.join("renewal-hooks").join(dir).join("10-log.sh");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\necho {line} >> {}\n", log.display()),
        )
        .expect("hook");
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let before = snapshot(&etc);
    let certbot_live =
        std::fs::read_to_string(etc.join("live/example.test/cert.pem")).expect("live");
    let certbot_account = {
        let regr = walk(&etc.join("accounts"))
            .into_iter()
            .find(|p| p.ends_with("regr.json"))
            .expect("regr");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(regr).expect("read")).expect("json");
        v["uri"].as_str().expect("uri").to_string()
    };
    let written = root.path().join("wildcert.toml");
    let run = bare(
        &lab,
        &[
            "import",
            "certbot",
            "--config-dir",
            etc.to_str().expect("utf-8"),
            "--write-config",
            written.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("imported example.test") && run.stdout.contains("(2 versions)"),
        "{}",
        run.all()
    );
    assert_eq!(snapshot(&etc), before, "certbot's directory is unchanged");
    let live = lab.live("example.test");
    assert_eq!(
        std::fs::read_to_string(live.join("cert.pem")).expect("ours"),
        certbot_live
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(live.join("privkey.pem"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        account_url(&lab),
        certbot_account,
        "certbot's account is ours now"
    );
    let text = std::fs::read_to_string(&written).expect("config written");
    assert!(
        text.contains("[providers.rfc2136]")
            && text.contains("credentials = ")
            && text.contains("pre_hook = "),
        "{text}"
    );
    let check = bare(
        &lab,
        &[
            "--config",
            written.to_str().expect("utf-8"),
            "config",
            "check",
        ],
        &[],
    );
    assert_eq!(check.code, Some(0), "{}\n{text}", check.all());

    // Renew right after, with no edit, no config and no provider variable.
    let run = bare(&lab, &["renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_ne!(
        std::fs::read_to_string(live.join("cert.pem")).expect("ours"),
        certbot_live,
        "renewed"
    );
    let hooks = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        hooks.contains("deployed-by-flag") && hooks.contains("deployed-by-dir"),
        "{hooks}\n{}",
        run.all()
    );
    assert_eq!(account_url(&lab), certbot_account, "the account was kept");
    assert_eq!(
        snapshot(&etc),
        before,
        "certbot's directory is still unchanged"
    );
}

/// A lego certificate (`_.example.test.crt`, SEC1 key) and account: imported with `--server`
/// and `--dns` as lego had them; without `--dns` it is refused with the reason; a `renew
/// --force` right after keeps lego's account.
#[test]
fn lego_certificates_import_and_renew() {
    if tool("lego").is_none() {
        return;
    }
    let Some(lab) = lab() else { return };
    let root = tempfile::tempdir().expect("tmp");
    let path = root.path().join(".lego");
    let run = lego(&lab, &path, &["*.example.test", "example.test"], "run");
    assert_eq!(run.code, Some(0), "{}", run.all());
    let before = snapshot(&path);
    let server = lab.pebble.directory_url();
    let p = path.to_str().expect("utf-8");
    let run = bare(
        &lab,
        &["--server", &server, "import", "lego", "--path", p],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("give `--dns KIND`"), "{}", run.all());
    let run = bare(
        &lab,
        &[
            "--server", &server, "import", "lego", "--path", p, "--dns", "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(snapshot(&path), before, "lego's directory is unchanged");
    let lego_leaf = {
        let full =
            std::fs::read_to_string(path.join("certificates/_.example.test.crt")).expect("crt");
        let end = full.find("-----END CERTIFICATE-----").expect("pem")
            + "-----END CERTIFICATE-----\n".len();
        full[..end].to_string()
    };
    let live = lab.live("example.test");
    assert_eq!(
        std::fs::read_to_string(live.join("cert.pem")).expect("ours"),
        lego_leaf
    );
    let lego_account = {
        let rec = walk(&path.join("accounts"))
            .into_iter()
            .find(|p| p.ends_with("account.json"))
            .expect("account");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(rec).expect("read")).expect("json");
        v["registration"]["uri"].as_str().expect("uri").to_string()
    };
    assert_eq!(account_url(&lab), lego_account);
    let env = [
        ("RFC2136_NAMESERVER", lab.bind.primary_addr().to_string()),
        (
            "RFC2136_TSIG_FILE",
            lab.bind.tsig_key_file_path().display().to_string(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = bare(&lab, &["renew", "--force"], &env);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_ne!(
        std::fs::read_to_string(live.join("cert.pem")).expect("ours"),
        lego_leaf
    );
    assert_eq!(account_url(&lab), lego_account, "lego's account was kept");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
