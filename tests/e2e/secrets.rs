//! Secrets (issue 7): a full issuance at trace level with a TSIG key and an EAB key, then every
//! secret — TSIG secret, EAB key, account key, certificate key — is searched for in stdout and
//! stderr. Written key files are 0600; secret files others may read produce a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use wildcert_testkit::{BindOptions, PebbleOptions};

use crate::faults::{assert_live_whole, lab_command, lab_with};
use crate::lab::{Lab, Run};

const EAB_KID: &str = "wildcert-e2e-kid";
// 32 random-looking bytes, base64url without padding (as CAs hand them out).
const EAB_KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

/// `lab.wildcert`, with output to files (trace output would fill a pipe).
fn wildcert(lab: &Lab, args: &[&str], env: &[(&str, &str)]) -> Run {
    lab_command(
        lab,
        std::process::Command::new(env!("CARGO_BIN_EXE_wildcert")),
        args,
        env,
    )
}

fn eab_lab() -> Option<Lab> {
    lab_with(
        BindOptions::default(),
        PebbleOptions {
            eab_required: true,
            eab_keys: vec![(EAB_KID.to_string(), EAB_KEY.to_string())],
            ..Default::default()
        },
    )
}

/// Every file under `dir` whose name is `name`.
fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut budget = 10_000;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            budget -= 1;
            if budget == 0 {
                return out;
            }
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && e.file_name() == name {
                out.push(p);
            }
        }
    }
    out
}

/// The base64 body lines of a PEM file (each long enough to be meaningful on its own).
fn pem_body_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("pem");
    text.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// No secret (nor a 16-character piece of one) in either stream.
fn assert_no_secret(run: &Run, what: &str, secret: &str) {
    assert_not_in_output(run, what, secret, true);
}

/// No secret in either stream; with `pieces`, no 16-character piece of it either (not for PEM
/// lines of private keys: they also carry the public key, which may legitimately appear).
fn assert_not_in_output(run: &Run, what: &str, secret: &str, pieces: bool) {
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        !all.contains(secret),
        "{what} appears in the output:\n{}",
        run.all()
    );
    let chars: Vec<char> = secret.chars().collect();
    if pieces && chars.len() > 24 {
        for w in chars.windows(16).step_by(8) {
            let piece: String = w.iter().collect();
            assert!(
                !all.contains(&piece),
                "part of {what} ({piece}) appears:\n{}",
                run.all()
            );
        }
    }
}

fn check_run(lab: &Lab, run: &Run, label: &str) {
    assert_eq!(run.code, Some(0), "{label}: {}", run.all());
    // Trace level really was on (so the search below means something).
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "{label}: no trace/debug output: {}",
        run.all()
    );
    assert_no_secret(run, "the TSIG secret", lab.bind.tsig_secret_b64());
    assert_no_secret(run, "the EAB key", EAB_KEY);
    // The EAB key in standard base64 too.
    let std_b64 = EAB_KEY.replace('-', "+").replace('_', "/");
    assert_no_secret(run, "the EAB key (base64)", &std_b64);
    let accounts = find_files(&lab.state_dir().join("accounts"), "key.pem");
    assert!(!accounts.is_empty(), "{label}: no account key written");
    for key in &accounts {
        assert_eq!(mode(key), 0o600, "{}", key.display());
        for line in pem_body_lines(key) {
            assert_not_in_output(run, "the account key", &line, false);
        }
    }
    let privkeys = find_files(&lab.state_dir().join("certs"), "privkey.pem");
    assert!(!privkeys.is_empty(), "{label}: no privkey.pem written");
    for key in &privkeys {
        assert_eq!(mode(key), 0o600, "{}", key.display());
        for line in pem_body_lines(key) {
            assert_not_in_output(run, "the certificate key", &line, false);
        }
    }
}

#[test]
fn trace_level_issuance_leaks_no_secret() {
    let Some(lab) = eab_lab() else { return };
    let trace = [("WILDCERT_LOG", "trace")];

    // 1. EAB from flags, TSIG from the key file, everything at trace level, human output.
    let run = wildcert(
        &lab,
        &[
            "-vv",
            "--eab-kid",
            EAB_KID,
            "--eab-hmac-key",
            EAB_KEY,
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
        ],
        &trace,
    );
    check_run(&lab, &run, "flags");
    assert_live_whole(&lab.live("example.test"), "trace run");

    // 2. A new account (the old one removed), EAB from the environment, TSIG secret from the
    //    environment, JSON output.
    std::fs::remove_dir_all(lab.state_dir().join("accounts")).expect("remove accounts");
    let run = wildcert(
        &lab,
        &[
            "-vv",
            "--json",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[
            ("WILDCERT_LOG", "trace"),
            ("WILDCERT_ACME__EAB_KID", EAB_KID),
            ("WILDCERT_ACME__EAB_HMAC_KEY", EAB_KEY),
            ("RFC2136_TSIG_FILE", ""),
            ("RFC2136_TSIG_KEY", lab.bind.tsig_key_name()),
            ("RFC2136_TSIG_ALGORITHM", lab.bind.tsig_algorithm()),
            ("RFC2136_TSIG_SECRET", lab.bind.tsig_secret_b64()),
        ],
    );
    check_run(&lab, &run, "environment");
}

#[test]
fn wrong_eab_key_fails_without_echoing_it() {
    let Some(lab) = eab_lab() else { return };
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let run = wildcert(
        &lab,
        &[
            "-vv",
            "--eab-kid",
            EAB_KID,
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[
            ("WILDCERT_LOG", "trace"),
            ("WILDCERT_ACME__EAB_HMAC_KEY", wrong),
        ],
    );
    assert!(matches!(run.code, Some(c) if c != 0), "{}", run.all());
    assert!(!run.stderr.contains("panicked"), "{}", run.all());
    assert_no_secret(&run, "the wrong EAB key", wrong);
    assert!(!lab.live("www.example.test").exists());
}

#[test]
fn secret_files_readable_by_others_are_warned_about() {
    let Some(lab) = eab_lab() else { return };
    let dir = lab.state_dir().join("secrets");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tsig = dir.join("tsig.key");
    std::fs::write(&tsig, lab.bind.tsig_key_file_text()).expect("write");
    std::fs::set_permissions(&tsig, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let eab = dir.join("eab.key");
    std::fs::write(&eab, EAB_KEY).expect("write");
    std::fs::set_permissions(&eab, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let config = dir.join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[acme]\neab_kid = \"{EAB_KID}\"\neab_hmac_key_file = \"{}\"\n",
            eab.display()
        ),
    )
    .expect("write");
    let cfg = config.to_str().expect("utf-8");
    let tsig_s = tsig.to_str().expect("utf-8");
    let args = [
        "--config",
        cfg,
        "issue",
        "-d",
        "www.example.test",
        "--dns",
        "rfc2136",
    ];
    let run = wildcert(&lab, &args, &[("RFC2136_TSIG_FILE", tsig_s)]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    for (path, mode) in [(&tsig, "0644"), (&eab, "0640")] {
        let line = run
            .stderr
            .lines()
            .find(|l| {
                l.contains(&path.display().to_string()) && l.contains("readable by other users")
            })
            .unwrap_or_else(|| panic!("no warning about {}: {}", path.display(), run.all()));
        assert!(line.contains(mode) && line.contains("chmod 600"), "{line}");
    }
    assert_no_secret(&run, "the EAB key", EAB_KEY);

    // 0600: no warning.
    for p in [&tsig, &eab] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let run = wildcert(&lab, &args, &[("RFC2136_TSIG_FILE", tsig_s)]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        !run.stderr.contains("readable by other users"),
        "{}",
        run.all()
    );
    // Written key files: 0600 in live/, archive/ and the account.
    for key in find_files(lab.state_dir(), "privkey.pem")
        .into_iter()
        .chain(find_files(lab.state_dir(), "key.pem"))
    {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
}

/// Hooks start from a clean environment (issue 24 item 3: a deploy hook's environment carried
/// `RFC2136_TSIG_SECRET`): the EAB key, the TSIG secret and any other provider credential in
/// wildcert's environment stay out of the deploy hook, the reload and the pre/post hooks,
/// which get `PATH`, `HOME`, the documented variables and what `[hooks] pass_env` names.
#[test]
fn hooks_get_a_clean_environment() {
    let Some(lab) = eab_lab() else {
        return;
    };
    let out = lab.state_dir().join("hook-env");
    std::fs::create_dir_all(&out).expect("dir");
    let dump = |name: &str| format!("env > {}", out.join(name).display());
    let config = lab.state_dir().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[hooks]\npass_env = [\"MY_PASSED\"]\n\n[renew]\npre_hook = \"{}\"\npost_hook = \"{}\"\n\n[[certificate]]\ndomains = [\"www.example.test\"]\nprovider = \"rfc2136\"\ndeploy_hook = \"{}\"\ninstall = [{{ dir = \"{}\", reload = \"{}\" }}]\n",
            dump("pre"),
            dump("post"),
            dump("deploy"),
            lab.state_dir().join("site").display(),
            dump("reload"),
        ),
    )
    .expect("config");
    let tsig_secret = lab.bind.tsig_secret_b64().to_string();
    let run = wildcert(
        &lab,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--eab-kid",
            EAB_KID,
            "renew",
        ],
        &[
            ("WILDCERT_ACME__EAB_HMAC_KEY", EAB_KEY),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-in-env"),
            ("CLOUDFLARE_DNS_API_TOKEN", "cf-token-in-env"),
            ("UNRELATED_TSIG", &tsig_secret),
            ("MY_PASSED", "passed-on-purpose"),
            ("MY_NOT_PASSED", "kept-back"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    for hook in ["pre", "deploy", "reload", "post"] {
        let env = std::fs::read_to_string(out.join(hook))
            .unwrap_or_else(|e| panic!("{hook} hook did not run: {e}\n{}", run.all()));
        for secret in [
            EAB_KEY,
            "aws-secret-in-env",
            "cf-token-in-env",
            &tsig_secret,
            "kept-back",
        ] {
            assert!(!env.contains(secret), "{hook} hook saw a secret:\n{env}");
        }
        assert!(
            env.contains("MY_PASSED=passed-on-purpose")
                && env.lines().any(|l| l.starts_with("PATH=")),
            "{hook}: {env}"
        );
        if hook == "deploy" || hook == "reload" {
            assert!(
                env.contains("WILDCERT_CERT_NAME=www.example.test"),
                "{hook}: {env}"
            );
            assert!(env.contains("RENEWED_LINEAGE="), "{hook}: {env}");
        }
    }
}
