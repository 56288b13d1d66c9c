//! The operator's day (issue 16): hooks that fail loudly, pre/post hooks around the due
//! certificates, quiet output, errors with a way forward, a zone whose servers all refuse.

use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

/// Stderr lines that are not empty.
fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn config(lab: &Lab, extra: &str, certs: &[(&str, &str)]) -> PathBuf {
    let mut text = format!("[providers.lab]\nkind = \"rfc2136\"\n\n{extra}\n");
    for (name, domain) in certs {
        text.push_str(&format!(
            "[[certificate]]\nname = \"{name}\"\ndomains = [\"{domain}\"]\nprovider = \"lab\"\n\n"
        ));
    }
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn log_hook(what: &str, log: &Path) -> String {
    format!(
        "echo \"{what} $WILDCERT_CERT_NAME|$RENEWED_LINEAGE|$RENEWED_DOMAINS|$WILDCERT_DUE_CERTS|$WILDCERT_RENEWED_CERTS\" >> {}",
        log.display()
    )
}

fn read_log(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn failing_deploy_hook_exits_6_with_one_stderr_line_even_quiet() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    // issue -q: the certificate is stored, the hook's failure is one line, exit 6.
    let run = lab.wildcert(
        &[
            "-q",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--deploy-hook",
            "echo oops >&2; exit 7",
        ],
        &[],
    );
    assert_eq!(run.code, Some(6), "{}", run.all());
    assert!(lab.live("www.example.test").join("fullchain.pem").exists());
    let err = lines(&run.stderr);
    assert_eq!(err.len(), 1, "{}", run.all());
    assert!(
        err[0].contains("deploy hook") && err[0].contains("exited with status 7"),
        "{}",
        run.all()
    );
    assert!(run.stdout.trim().is_empty(), "{}", run.all());
    // A mistyped certificate name gets a "did you mean".
    for cmd in ["show", "revoke"] {
        let run = lab.wildcert(&[cmd, "ww.example.test"], &[]);
        assert_eq!(run.code, Some(2), "{}", run.all());
        assert!(
            run.stderr
                .contains("no certificate named `ww.example.test` in the store (did you mean `www.example.test`?)"),
            "{}",
            run.all()
        );
    }

    // renew -q --force --deploy-hook 'exit 7': the same (only `www`: `renew` would renew the
    // certificate `issue` made above too).
    let cfg = config(&lab, "", &[("www", "www.example.test")]);
    let cfg = cfg.to_str().expect("utf-8");
    let run = lab.wildcert(&["--config", cfg, "-q", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "-q",
            "renew",
            "--force",
            "--cert-name",
            "www",
            "--deploy-hook",
            "exit 7",
        ],
        &[],
    );
    assert_eq!(run.code, Some(6), "{}", run.all());
    let err = lines(&run.stderr);
    assert_eq!(err.len(), 1, "{}", run.all());
    assert!(
        err[0].contains("`www`") && err[0].contains("exited with status 7"),
        "{}",
        run.all()
    );
    // --json: the document says so too, and the exit code is the same.
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "--json",
            "renew",
            "--force",
            "--cert-name",
            "www",
            "--deploy-hook",
            "exit 7",
        ],
        &[],
    );
    assert_eq!(run.code, Some(6), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], false, "{}", run.all());
    assert_eq!(
        v["certificates"][0]["hook"]["exit_code"],
        7,
        "{}",
        run.all()
    );
}

#[test]
fn pre_and_post_hooks_run_once_around_the_due_certificates_only() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hooks.log");
    let extra = format!(
        "[renew]\npre_hook = '{}'\npost_hook = '{}'\n",
        log_hook("pre", &log),
        log_hook("post", &log)
    );
    let cfg = config(
        &lab,
        &extra,
        &[("www", "www.example.test"), ("api", "api.example.test")],
    );
    let cfg = cfg.to_str().expect("utf-8");
    let deploy = log_hook("deploy", &log);
    let run = lab.wildcert(&["--config", cfg, "renew", "--deploy-hook", &deploy], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let got = read_log(&log);
    assert_eq!(got.len(), 4, "{got:?}\n{}", run.all());
    assert!(got[0].starts_with("pre |"), "{got:?}");
    assert!(got[0].contains("www api"), "{got:?}");
    assert!(got[3].starts_with("post |"), "{got:?}");
    assert!(
        got[3].contains("|www api|www api") || got[3].contains("|www api|api www"),
        "{got:?}"
    );
    // Each deploy hook sees certbot's RENEWED_LINEAGE (the live dir) and RENEWED_DOMAINS.
    for (name, domain) in [("www", "www.example.test"), ("api", "api.example.test")] {
        let want = format!("deploy {name}|{}|{domain}|", lab.live(name).display());
        assert!(
            got[1..3].iter().any(|l| l.starts_with(&want)),
            "{want}\n{got:?}"
        );
    }
    // Nothing due: neither pre nor post runs (certbot's semantics).
    let run = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(read_log(&log).len(), 4, "{:?}", read_log(&log));
    // --pre-hook / --post-hook override the config; a failing post hook exits 6.
    let flag_log = lab.state_dir().join("flags.log");
    let run = lab.wildcert(
        &[
            "--config",
            cfg,
            "-q",
            "renew",
            "--force",
            "--cert-name",
            "www",
            "--pre-hook",
            &log_hook("flag-pre", &flag_log),
            "--post-hook",
            "exit 3",
        ],
        &[],
    );
    assert_eq!(run.code, Some(6), "{}", run.all());
    assert_eq!(
        read_log(&log).len(),
        4,
        "the config's hooks were overridden"
    );
    let flagged = read_log(&flag_log);
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("flag-pre |||www|"), "{flagged:?}");
    let err = lines(&run.stderr);
    assert_eq!(err.len(), 1, "{}", run.all());
    assert!(err[0].contains("post hook"), "{}", run.all());
}

/// The binary alone (no servers): for errors found before anything is sent.
fn offline(args: &[&str], dir: &Path) -> crate::lab::Run {
    let mut cmd = std::process::Command::new(crate::lab::bin());
    cmd.args(["--state-dir"])
        .arg(dir)
        .args(["--server", "https://127.0.0.1:9/dir"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    crate::lab::run_bounded(cmd, std::time::Duration::from_secs(30))
}

#[test]
fn typos_get_a_did_you_mean() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = offline(
        &["issue", "-d", "www.example.test", "--dns", "rfc2163"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr
            .contains("unknown DNS provider `rfc2163` (did you mean `rfc2136`?)"),
        "{}",
        run.all()
    );
    let run = offline(&["providers", "cloudfare"], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("did you mean `cloudflare`"),
        "{}",
        run.all()
    );
    // Subcommands: clap's suggestion.
    let run = offline(&["isue"], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("similar subcommand exists: 'issue'"),
        "{}",
        run.all()
    );
}

#[test]
fn config_with_duplicate_names_or_bad_durations_is_refused_at_load() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("dup.toml");
    std::fs::write(
        &cfg,
        "[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\nname = \"site\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n\n[[certificate]]\nname = \"site\"\ndomains = [\"api.example.test\"]\nprovider = \"lab\"\n",
    )
    .expect("write");
    let run = offline(
        &["--config", cfg.to_str().expect("utf-8"), "renew"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains(&format!("{}:9:", cfg.display()))
            && run.stderr.contains("store name `site`"),
        "{}",
        run.all()
    );
    std::fs::write(
        &cfg,
        "[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\nrenew_before = \"forever\"\n",
    )
    .expect("write");
    // Refused on the first run already (not only once a certificate exists).
    let run_empty = {
        let empty = tmp.path().join("empty.toml");
        std::fs::write(&empty, "[acme]\n").expect("write");
        offline(
            &["--config", empty.to_str().expect("utf-8"), "renew"],
            tmp.path(),
        )
    };
    assert_eq!(run_empty.code, Some(2), "{}", run_empty.all());
    assert!(
        run_empty
            .stderr
            .contains("docs/troubleshooting.md, \"no [[certificate]] entries\""),
        "{}",
        run_empty.all()
    );
    let run = offline(
        &["--config", cfg.to_str().expect("utf-8"), "renew"],
        tmp.path(),
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains(&format!("{}:7:", cfg.display()))
            && run.stderr.contains("`forever` is not a duration"),
        "{}",
        run.all()
    );
}

/// A zone whose only server to check cannot be reached fails before anything is ordered
/// (issue 23 item 10: it used to order, then wait 15 s of "unreachable"), naming the address
/// given with --authoritative.
#[test]
fn zone_whose_servers_all_refuse_fails_before_the_order() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    // A closed loopback port as the only server to check: every query is refused.
    let closed = {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.local_addr().expect("addr")
    };
    let closed_s = closed.to_string();
    let run = lab.wildcert(
        &[
            "--authoritative",
            &closed_s,
            "--propagation-timeout",
            "90s",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.elapsed < std::time::Duration::from_secs(40),
        "waited {:?} for servers that refuse\n{}",
        run.elapsed,
        run.all()
    );
    assert!(
        run.stderr.contains(&closed_s)
            && run.stderr.contains("none of its nameservers answered")
            && run.stderr.contains("nothing was ordered")
            && run.stderr.contains("--authoritative")
            && run.stderr.contains("firewall"),
        "{}",
        run.all()
    );
    // Nothing was published.
    assert!(
        lab.primary_txt("_acme-challenge.www.example.test")
            .is_empty()
    );
}

/// A UDP server on loopback that answers every query with `rcode` (QR set, no AA) for `bound`.
fn rcode_server(rcode: u8, bound: std::time::Duration) -> std::net::SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < bound {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if n < 12 {
                continue;
            }
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            reply[3] = (reply[3] & 0xf0) | rcode;
            let _ = sock.send_to(&reply, from);
        }
    });
    addr
}

/// A server that answers REFUSED is fatal at once, before the order, with a hint about the
/// address (issue 23 item 10: it used to be polled for the whole propagation timeout and end
/// with "raise --propagation-timeout"). The real primary beside it does not excuse it.
#[test]
fn a_nameserver_that_answers_refused_fails_before_the_order() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let refusing = rcode_server(5, std::time::Duration::from_secs(60)).to_string();
    let primary = lab.bind.primary_addr().to_string();
    let run = lab.wildcert(
        &[
            "--authoritative",
            &primary,
            "--authoritative",
            &refusing,
            "--propagation-timeout",
            "600s",
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    let err: Vec<&str> = lines(&run.stderr)
        .into_iter()
        .filter(|l| l.starts_with("error:") || l.starts_with("hint:"))
        .collect();
    assert!(
        err.first().is_some_and(|l| l.contains(&refusing)
            && l.contains("answered REFUSED")
            && l.contains("nothing was ordered")),
        "{}",
        run.all()
    );
    assert!(
        err.get(1)
            .is_some_and(|l| l.contains("--authoritative") && !l.contains("--propagation-timeout")),
        "{}",
        run.all()
    );
    assert!(
        lab.primary_txt("_acme-challenge.www.example.test")
            .is_empty()
    );
}

/// A UDP "resolver" on loopback that answers every query with the wrong message id (what an
/// off-path spoofer or a broken middlebox does), for `bound`.
fn wrong_id_resolver(
    bound: std::time::Duration,
) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < bound {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if n < 12 {
                continue;
            }
            let mut reply = buf[..n].to_vec();
            reply[0] ^= 0xff;
            reply[1] ^= 0xff;
            reply[2] |= 0x80;
            let _ = sock.send_to(&reply, from);
        }
    });
    (addr, handle)
}

#[test]
fn quiet_means_errors_only_dependency_warnings_included() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (addr, server) = wrong_id_resolver(std::time::Duration::from_secs(40));
    let addr = addr.to_string();
    let mut cmd = std::process::Command::new(crate::lab::bin());
    cmd.arg("--state-dir")
        .arg(tmp.path())
        .args([
            "-q",
            "--resolver",
            &addr,
            "check",
            "--no-probe",
            "-d",
            "www.example.test",
            "--dns",
            "exec",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("EXEC_PATH", "/bin/true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = crate::lab::run_bounded(cmd, std::time::Duration::from_secs(60));
    let _ = server.join();
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        !run.stderr.contains("WARN") && !run.stderr.contains("wrong message id"),
        "-q let warnings through:\n{}",
        run.all()
    );
}

/// Run `cmd` on a pseudo-terminal (util-linux `script`): stdout and stderr together, as a
/// person at a terminal sees them.
fn on_tty(cmd: &std::process::Command, extra_env: &[(&str, &str)]) -> crate::lab::Run {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let mut line = quote(cmd.get_program());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut tty = std::process::Command::new("script");
    tty.args(["-qefc", &line, "/dev/null"]).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            tty.env(k, v);
        }
    }
    for (k, v) in extra_env {
        tty.env(k, v);
    }
    tty.env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    crate::lab::run_bounded(tty, crate::lab::RUN_LIMIT)
}

#[test]
fn terminal_output_honours_no_color_and_prints_each_event_once() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "util-linux `script` is needed"
        );
        return;
    }
    let issue = |n: &str| {
        lab.command_at(
            &lab.pebble.directory_url(),
            &["issue", "-d", n, "--dns", "rfc2136", "--force"],
            &[],
        )
    };
    // A terminal: colours, and each nameserver's progress once (the human line).
    let run = on_tty(&issue("a.example.test"), &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("\u{1b}["),
        "no colours on a TTY:\n{}",
        run.all()
    );
    assert!(run.stdout.contains("✓"), "{}", run.all());
    // The log's own line for the same events (a ready server, a server still waited for).
    let twice = run.stdout.lines().any(|l| {
        l.contains("still waiting")
            || (l.contains("nameserver serves every record") && l.contains("ns1.example.test"))
    });
    assert!(!twice, "progress printed twice:\n{}", run.all());
    // NO_COLOR (no-color.org) and CLICOLOR=0: no escape sequences at all.
    for env in [("NO_COLOR", "1"), ("CLICOLOR", "0")] {
        let run = on_tty(&issue("b.example.test"), &[env]);
        assert_eq!(run.code, Some(0), "{env:?}: {}", run.all());
        assert!(
            !run.stdout.contains('\u{1b}'),
            "{env:?} ignored:\n{}",
            run.all()
        );
        assert!(run.stdout.contains("✓"), "{}", run.all());
    }
}

#[test]
fn busy_skip_line_names_the_lock_holder_and_since_when() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let cfg = config(&lab, "", &[("www", "www.example.test")]);
    let cfg = cfg.to_str().expect("utf-8");
    let run = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // Another holder of the certificate's lock (what a running wildcert writes into it).
    let lock = lab.state_dir().join("locks").join("www.lock");
    std::fs::write(&lock, "pid 4242").expect("write lock");
    let mut holder = std::process::Command::new("flock")
        .arg("-n")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .expect("flock starts");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let run = lab.wildcert(&["--config", cfg, "renew", "--force"], &[]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(run.code, Some(0), "{}", run.all());
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("skipped") && l.contains("www"))
        .unwrap_or_else(|| panic!("no skip line\n{}", run.all()));
    assert!(
        line.contains("another run (pid 4242, since 20") && line.ends_with("is working on it"),
        "{line}"
    );
}

#[test]
fn completions_parse_and_version_names_commit_and_providers() {
    let tmp = tempfile::tempdir().expect("tmp");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = offline(&["completions", shell], tmp.path());
        assert_eq!(run.code, Some(0), "{shell}: {}", run.all());
        assert!(
            run.stdout.contains("wildcert") && run.stdout.contains("renew"),
            "{shell}: {}",
            run.all()
        );
        // Each shell's own syntax check, where that shell is installed (bash always is).
        let check: Option<(&str, &[&str])> = match shell {
            "bash" => Some(("bash", &["-n"])),
            "zsh" => Some(("zsh", &["-n"])),
            "fish" => Some(("fish", &["--no-execute"])),
            _ => None,
        };
        let Some((prog, args)) = check else { continue };
        let script = tmp.path().join(format!("wildcert.{shell}"));
        std::fs::write(&script, &run.stdout).expect("write");
        match std::process::Command::new(prog)
            .args(args)
            .arg(&script)
            .output()
        {
            Ok(o) => assert!(
                o.status.success(),
                "{prog} rejects the completion script: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(_) if shell != "bash" => {}
            Err(e) => panic!("bash: {e}"),
        }
    }
    let run = offline(&["--version"], tmp.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    let first = run.stdout.lines().next().unwrap_or_default();
    let commit = first
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {first:?}"));
    assert!(
        commit == "unknown"
            || commit
                .trim_end_matches("-dirty")
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
        "{first}"
    );
    // Every provider of the registry, in its order.
    let kinds: Vec<&str> = wildcert_manager::providers::PROVIDERS
        .iter()
        .map(|r| r.spec.kind)
        .collect();
    assert!(
        run.stdout
            .contains(&format!("providers: {}", kinds.join(", "))),
        "{}",
        run.all()
    );
}

/// Issue 23 item 11: with `--json`, a usage error is one JSON document on stdout too (exit 2),
/// so a script reading stdout never gets an empty string; `--help` stays help.
#[test]
fn json_usage_errors_print_one_json_document() {
    let tmp = tempfile::tempdir().expect("tmp");
    for args in [
        &["--json", "issue", "--dns", "rfc2136"][..],
        &["renew", "--json", "--no-such-flag"][..],
        &["--json", "frobnicate"][..],
    ] {
        let run = offline(args, tmp.path());
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.all());
        let doc = crate::lab::json(&run);
        assert_eq!(doc["ok"], false, "{args:?}: {doc}");
        assert_eq!(doc["exit_code"], 2, "{args:?}: {doc}");
        assert!(
            doc["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty() && !e.contains('\n')),
            "{args:?}: {doc}"
        );
        assert!(
            doc["hint"].as_str().is_some_and(|h| h.contains("--help")),
            "{doc}"
        );
    }
    let help = offline(&["--json", "issue", "--help"], tmp.path());
    assert_eq!(help.code, Some(0), "{}", help.all());
    assert!(help.stdout.contains("Usage:"), "{}", help.all());
}

/// The whole config is checked before any command does anything (issue 23 item 6): a typo in
/// a provider section no certificate uses, a hook that cannot start, an install owner that does
/// not exist, a metrics directory that is missing — each used to pass `list` (exit 0) and let
/// `renew` go to the CA; now each is exit 2 at once, naming the culprit, and `wildcert config
/// check` lists every problem (`--json` too), warning about unused sections.
#[test]
fn the_whole_config_is_checked_before_any_command() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("c.toml");
    let c = cfg.to_str().expect("utf-8");
    let base = "[providers.lab]\nkind = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\ntsig_key = \"k\"\ntsig_secret = \"c2VjcmV0c2VjcmV0c2VjcmV0\"\n\n[[certificate]]\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n";
    let missing_dir = tmp.path().join("no-such-dir");
    for (what, extra, named) in [
        (
            "unused section typo",
            "\n[providers.spare]\nkind = \"pdns\"\napi_urll = \"http://127.0.0.1:1\"\n".to_string(),
            "`api_urll`",
        ),
        (
            "deploy hook",
            "deploy_hook = \"/nonexistent/reload.sh\"\n".to_string(),
            "`/nonexistent/reload.sh` does not exist",
        ),
        (
            "install owner",
            "install = [{ dir = \"/tmp/x\", owner = \"no-such-user-here\" }]\n".to_string(),
            "no user `no-such-user-here`",
        ),
        (
            "reload command",
            "install = [{ dir = \"/tmp/x\", reload = \"systemctll reload nginx\" }]\n".to_string(),
            "`systemctll` is not found on PATH",
        ),
        (
            "pre hook",
            "\n[renew]\npre_hook = \"/nonexistent/stop.sh\"\n".to_string(),
            "[renew] pre_hook",
        ),
        (
            "metrics dir",
            format!(
                "\n[metrics]\ntextfile = \"{}/wildcert.prom\"\n",
                missing_dir.display()
            ),
            "does not exist",
        ),
    ] {
        std::fs::write(&cfg, format!("{base}{extra}")).expect("write");
        for cmd in [&["list"][..], &["renew"][..]] {
            let mut args = vec!["--config", c];
            args.extend_from_slice(cmd);
            let run = offline(&args, tmp.path());
            assert_eq!(run.code, Some(2), "{what} {cmd:?}: {}", run.all());
            assert!(run.stderr.contains(named), "{what} {cmd:?}: {}", run.all());
            assert!(
                !run.stderr.contains("127.0.0.1:9"),
                "{what}: nothing may be sent before the config checks out: {}",
                run.all()
            );
        }
        let run = offline(&["--config", c, "config", "check"], tmp.path());
        assert_eq!(run.code, Some(2), "{what}: {}", run.all());
        assert!(
            run.stderr.contains(named) && run.stdout.contains("1 error"),
            "{what}: {}",
            run.all()
        );
    }
    // Two errors at once: both listed, the first refused with a count of the rest.
    std::fs::write(
        &cfg,
        format!("{base}key_type = \"rsa\"\ndeploy_hook = \"/nonexistent/x\"\n"),
    )
    .expect("write");
    let run = offline(&["--config", c, "list"], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr
            .contains("1 more problem: `wildcert config check`"),
        "{}",
        run.all()
    );
    let run = offline(&["--json", "--config", c, "config", "check"], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON doc");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(2), "{doc}");
    // A clean config: OK; a section no certificate uses is a warning, not an error.
    std::fs::write(
        &cfg,
        format!("{base}\n[providers.spare]\nkind = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\ntsig_key = \"k\"\ntsig_secret = \"c2VjcmV0c2VjcmV0c2VjcmV0\"\n"),
    )
    .expect("write");
    let run = offline(&["--config", c, "config", "check"], tmp.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("OK, 1 warning")
            && run
                .stderr
                .contains("[providers.spare] (kind = \"rfc2136\") is used by no [[certificate]]"),
        "{}",
        run.all()
    );
    let run = offline(&["--json", "--config", c, "config", "check"], tmp.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON doc");
    assert_eq!(
        (
            doc["ok"].as_bool(),
            doc["warnings"].as_array().map(Vec::len)
        ),
        (Some(true), Some(1)),
        "{doc}"
    );
    let run = offline(&["--config", c, "list"], tmp.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
}
