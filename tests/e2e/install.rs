//! Installed like a tool (issue 16, point 5): `wildcert man` pages that `man` reads, one per
//! command, and `wildcert systemd` units that `systemd-analyze verify` accepts and that run
//! this very binary.

use std::path::{Path, PathBuf};

use crate::lab::{Run, bin, run_bounded};

/// The binary alone, no servers, a clean environment.
fn wildcert(args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    run_bounded(cmd, std::time::Duration::from_secs(30))
}

/// A tool the test needs; missing is a failure under CI=true and a skip (with a note) elsewhere.
fn tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || !wildcert_testkit::is_ci(),
        "{name} is not installed (CI=true)"
    );
    if !found {
        eprintln!("note: {name} is not installed: that check is skipped");
    }
    found
}

/// The subcommands `wildcert --help` lists (so a new one needs its page too).
fn subcommands() -> Vec<String> {
    let run = wildcert(&["--help"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    run.stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

fn assert_page(path: &Path, title: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let th = text
        .lines()
        .find(|l| l.starts_with(".TH "))
        .unwrap_or_else(|| panic!("no .TH header in {}", path.display()));
    assert!(th.starts_with(&format!(".TH {title} 1 ")), "{th}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS"] {
        assert!(
            text.lines().any(|l| l == section),
            "{section} missing in {}",
            path.display()
        );
    }
    if tool("man") {
        let o = std::process::Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(path)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .expect("man runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "man -l {}: {stderr}", path.display());
        assert!(
            stderr.trim().is_empty(),
            "groff warns on {}: {stderr}",
            path.display()
        );
        assert!(
            stdout.contains("SYNOPSIS") && stdout.contains(&format!("{title}(1)")),
            "{}: {stdout}",
            path.display()
        );
    }
}

#[test]
fn man_pages_one_per_command_and_man_reads_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("share/man/man1");
    let run = wildcert(&["man", "--dir", &dir.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let listed: Vec<PathBuf> = run.stdout.lines().map(PathBuf::from).collect();
    assert_eq!(
        listed.first(),
        Some(&dir.join("wildcert.1")),
        "{}",
        run.all()
    );

    let commands = subcommands();
    assert!(
        commands.len() >= 12 && commands.iter().any(|c| c == "systemd"),
        "{commands:?}"
    );
    assert_page(&dir.join("wildcert.1"), "wildcert");
    for c in &commands {
        let title = format!("wildcert-{c}");
        let page = dir.join(format!("{title}.1"));
        assert!(listed.contains(&page), "{} not listed: {}", c, run.stdout);
        assert_page(&page, &title);
    }
    for nested in ["register", "show", "rollover", "deactivate"] {
        assert_page(
            &dir.join(format!("wildcert-account-{nested}.1")),
            &format!("wildcert-account-{nested}"),
        );
    }
    // What clap cannot know (issue 23 item 13): exit codes, the environment, the files,
    // examples; every page has its exit status, the main commands their examples.
    let top = std::fs::read_to_string(dir.join("wildcert.1")).expect("top page");
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"FILES\"",
        ".SH \"EXAMPLES\"",
        ".SH \"SEE ALSO\"",
    ] {
        assert!(top.contains(section), "{section} missing in wildcert.1");
    }
    for word in [
        "RFC2136_NAMESERVER",
        "WILDCERT_STATE_DIR",
        "LEGO_CA_CERTIFICATES",
        "/var/lib/wildcert/certs/NAME/live/",
    ] {
        assert!(
            top.contains(&word.replace('-', "\\-")),
            "{word} missing in wildcert.1"
        );
    }
    assert!(
        !top.contains("wildcert\\-help"),
        "no page references wildcert-help(1)"
    );
    for c in &commands {
        let page = std::fs::read_to_string(dir.join(format!("wildcert-{c}.1"))).expect("page");
        assert!(
            page.contains(".SH \"EXIT STATUS\""),
            "wildcert-{c}.1 has no EXIT STATUS"
        );
    }
    for c in [
        "issue",
        "renew",
        "check",
        "import-certbot",
        "import-lego",
        "config-check",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("wildcert-{c}.1"))).expect("page");
        assert!(
            page.contains(".SH \"EXAMPLES\""),
            "wildcert-{c}.1 has no EXAMPLES"
        );
    }
    // The config format: wildcert.toml(5) in the sibling man5/.
    let man5 = dir.parent().expect("share/man").join("man5");
    let five = man5.join("wildcert.toml.5");
    assert!(listed.contains(&five), "{}", run.stdout);
    let text = std::fs::read_to_string(&five).expect("wildcert.toml.5");
    assert!(text.starts_with(".TH wildcert.toml 5 "), "{text}");
    for key in [
        "[[certificate]]",
        "reuse_key",
        "propagation_timeout",
        "[providers.ID]",
    ] {
        assert!(text.contains(key), "{key} missing in wildcert.toml(5)");
    }
    if tool("man") {
        let o = std::process::Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&five)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .expect("man runs");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("wildcert.toml(5)"));
    }
    // Every file written is listed, and no temporary file is left behind.
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read dir")
        .chain(std::fs::read_dir(&man5).expect("man5"))
        .map(|e| e.expect("entry").path())
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted);

    // Without --dir: the top page on stdout.
    let run = wildcert(&["man"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let top = tmp.path().join("top.1");
    std::fs::write(&top, &run.stdout).expect("write");
    assert_page(&top, "wildcert");
    assert!(run.stdout.contains(".SH SUBCOMMANDS"), "{}", run.stdout);
    assert!(
        run.stdout.contains(".SH \"EXIT STATUS\"") && !run.stdout.contains("wildcert\\-help"),
        "{}",
        run.stdout
    );
}

/// `systemd-analyze verify` on unit files (for `--user`, against a throwaway runtime dir).
fn verify(units: &[PathBuf], user: bool, runtime: &Path) {
    let mut cmd = std::process::Command::new("systemd-analyze");
    if user {
        cmd.arg("--user").env("XDG_RUNTIME_DIR", runtime);
    }
    let o = cmd
        .arg("verify")
        .args(units)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "systemd-analyze verify {units:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn key<'a>(unit: &'a str, k: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        .collect()
}

#[test]
fn systemd_units_run_this_binary_open_the_store_and_pass_verify() {
    let tmp = tempfile::tempdir().expect("tmp");
    let exe = std::fs::canonicalize(bin()).expect("binary path");
    let config = tmp.path().join("wildcert.toml");
    std::fs::write(&config, "").expect("config");
    let state = tmp.path().join("state");
    let nginx = tmp.path().join("nginx ssl");
    let runtime = tmp.path().join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");

    // System units, into a directory.
    let dir = tmp.path().join("system");
    let run = wildcert(&[
        "--config",
        &config.to_string_lossy(),
        "--state-dir",
        &state.to_string_lossy(),
        "systemd",
        "--dir",
        &dir.to_string_lossy(),
        "--read-write-path",
        &nginx.to_string_lossy(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let service_path = dir.join("wildcert-renew.service");
    let timer_path = dir.join("wildcert-renew.timer");
    let service = std::fs::read_to_string(&service_path).expect("service");
    let timer = std::fs::read_to_string(&timer_path).expect("timer");
    assert_eq!(
        key(&service, "ExecStart"),
        [format!(
            "{} --config {} --state-dir {} -q renew",
            exe.display(),
            config.display(),
            state.display()
        )],
        "{service}"
    );
    assert_eq!(
        key(&service, "ReadWritePaths"),
        [
            state.display().to_string(),
            format!("-\"{}\"", nginx.display())
        ],
        "{service}"
    );
    assert_eq!(key(&service, "ProtectSystem"), ["strict"]);
    assert_eq!(key(&service, "ProtectHome"), ["true"]);
    assert_eq!(key(&service, "Type"), ["oneshot"]);
    assert!(
        service.contains("~/.aws") && service.contains("Read-only file system"),
        "the sandbox's effect on hooks and ~/.aws is said: {service}"
    );
    assert_eq!(key(&timer, "WantedBy"), ["timers.target"]);
    assert!(!key(&timer, "OnCalendar").is_empty(), "{timer}");

    // Default store: systemd makes it (StateDirectory=).
    let run = wildcert(&["systemd"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("### wildcert-renew.service\n")
            && run.stdout.contains("### wildcert-renew.timer\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("\nExecStart={} -q renew\n", exe.display())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\nStateDirectory=wildcert\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\nReadWritePaths=/var/lib/wildcert\n"),
        "{}",
        run.stdout
    );

    // User units.
    let user_dir = tmp.path().join("user");
    let run = wildcert(&["systemd", "--user", "--dir", &user_dir.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let user_service =
        std::fs::read_to_string(user_dir.join("wildcert-renew.service")).expect("user service");
    assert_eq!(
        key(&user_service, "ExecStart"),
        [format!(
            "{} --state-dir %S/wildcert -q renew",
            exe.display()
        )],
        "{user_service}"
    );

    if tool("systemd-analyze") {
        verify(&[service_path, timer_path], false, &runtime);
        verify(
            &[
                user_dir.join("wildcert-renew.service"),
                user_dir.join("wildcert-renew.timer"),
            ],
            true,
            &runtime,
        );
    }
}

#[test]
fn shipped_units_match_what_wildcert_systemd_generates() {
    // docs/systemd holds the units for a binary in /usr/local/bin; they must not drift from
    // the generator's hardening (the binary path is the only difference).
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/systemd");
    let shipped = std::fs::read_to_string(docs.join("wildcert-renew.service")).expect("shipped");
    let run = wildcert(&["systemd"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    for k in [
        "Type",
        "UMask",
        "StateDirectory",
        "ProtectSystem",
        "ReadWritePaths",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
    ] {
        assert_eq!(key(&shipped, k), key(&run.stdout, k), "{k}");
    }
    assert!(
        shipped.contains("~/.cargo/bin") && shipped.contains("~/.aws"),
        "the shipped unit says where `cargo install` puts the binary and what ProtectHome hides"
    );
}

/// `issue --install-dir`: the files land in the directory with the asked group and key mode,
/// atomically (no temporary left), before the deploy hook runs (it sees them); the lego
/// layout names them after the certificate.
#[test]
fn issue_installs_files_with_group_and_mode_before_the_deploy_hook() {
    use std::os::unix::fs::MetadataExt as _;
    let Some(lab) = crate::lab::Lab::start(wildcert_testkit::BindOptions::default(), false) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let site = tmp.path().join("nginx/ssl/site");
    let seen = tmp.path().join("hook-saw");
    // A group other than the creator's when running as root (nogroup), else the user's own.
    let root = std::fs::metadata(tmp.path()).expect("tmp").uid() == 0;
    let gid: u32 = if root {
        65534
    } else {
        std::fs::metadata(tmp.path()).expect("tmp").gid()
    };
    let hook = format!("ls {} > {}", site.display(), seen.display());
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--key-group",
            &gid.to_string(),
            "--key-mode",
            "0640",
            "--install-dir",
            &site.to_string_lossy(),
            "--install-layout",
            "pem",
            "--deploy-hook",
            &hook,
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("installed into {} (4 files)", site.display())),
        "{}",
        run.all()
    );
    let live = lab.live("www.example.test");
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        let installed = std::fs::read(site.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let stored = std::fs::read(live.join(f)).expect("live file");
        assert_eq!(installed, stored, "{f}");
    }
    let key = std::fs::metadata(site.join("privkey.pem")).expect("key");
    assert_eq!(key.mode() & 0o7777, 0o640);
    assert_eq!(key.gid(), gid);
    assert_eq!(
        std::fs::metadata(site.join("fullchain.pem"))
            .expect("chain")
            .mode()
            & 0o7777,
        0o644
    );
    let names: Vec<String> = std::fs::read_dir(&site)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "no temporary file left: {names:?}");
    // The deploy hook ran after the install: it listed the installed files.
    let listed = std::fs::read_to_string(&seen).expect("the deploy hook ran");
    assert!(
        listed.contains("privkey.pem") && listed.contains("fullchain.pem"),
        "{listed}"
    );

    // Lego layout: DOMAIN.crt (full chain), DOMAIN.key, DOMAIN.issuer.crt, DOMAIN.json.
    let lego2 = tmp.path().join("lego2");
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "api.example.test",
            "--dns",
            "rfc2136",
            "--install-dir",
            &lego2.to_string_lossy(),
            "--install-layout",
            "lego",
            "--json",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = crate::lab::json(&run);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(
        doc["install"][0]["dir"],
        lego2.display().to_string(),
        "{doc}"
    );
    assert_eq!(doc["install"][0]["ok"], true, "{doc}");
    assert_eq!(
        doc["install"][0]["files"].as_array().map(Vec::len),
        Some(4),
        "crt, issuer.crt, key and lego's json: {doc}"
    );
    let live = lab.live("api.example.test");
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(
        read(lego2.join("api.example.test.crt")),
        read(live.join("fullchain.pem"))
    );
    assert_eq!(
        read(lego2.join("api.example.test.key")),
        read(live.join("privkey.pem"))
    );
    assert_eq!(
        read(lego2.join("api.example.test.issuer.crt")),
        read(live.join("chain.pem"))
    );
    assert_eq!(
        std::fs::metadata(lego2.join("api.example.test.key"))
            .expect("key")
            .mode()
            & 0o7777,
        0o600
    );

    // An install directory that cannot be made: the certificate stays stored, exit 5, one line.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "").expect("file");
    let run = lab.wildcert(
        &[
            "-q",
            "issue",
            "-d",
            "mail.example.test",
            "--dns",
            "rfc2136",
            "--install-dir",
            &blocker.join("sub").to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(lab.live("mail.example.test").join("fullchain.pem").exists());
    let err: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(err.len(), 1, "{}", run.all());
    assert!(
        err[0].contains("install into") && err[0].contains("exit code 5"),
        "{}",
        run.all()
    );
}

/// `[[certificate]] install = [...]`: `renew` copies the files after each new version and runs
/// the target's reload; `wildcert systemd` opens the directory for the service.
#[test]
fn renew_installs_the_configured_targets_and_systemd_opens_them() {
    use std::os::unix::fs::PermissionsExt;
    let Some(lab) = crate::lab::Lab::start(wildcert_testkit::BindOptions::default(), false) else {
        return;
    };
    let target = lab.state_dir().join("srv ssl");
    let reloaded = lab.state_dir().join("reloaded");
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[[certificate]]\ndomains = [\"*.example.test\", \"example.test\"]\nprovider = \"rfc2136\"\ninstall = [{{ dir = \"{}\", key_mode = \"0640\", reload = \"touch '{}'\" }}]\n",
            target.display(),
            reloaded.display()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let r = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        let installed = std::fs::read(target.join(f)).expect("installed file");
        let live = std::fs::read(lab.live("example.test").join(f)).expect("live file");
        assert_eq!(installed, live, "{f} differs from live/");
    }
    let mode = std::fs::metadata(target.join("privkey.pem"))
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    assert!(reloaded.exists(), "the target's reload did not run");
    // The generated service may write there.
    let r = lab.wildcert(&["--config", cfg, "systemd"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("ReadWritePaths=") && l.contains("srv")),
        "{}",
        r.stdout
    );
}

/// Issue 24 item 5: what an install killed between writing and renaming leaves in the target
/// (`.<file>.<pid>.wildcert-tmp`, possibly a private key) is removed by the next run, even one
/// with nothing due; a temporary file of a live writer is left alone. A dry run touches none.
#[test]
fn a_killed_installs_temporary_files_go_with_the_next_run() {
    let Some(lab) = crate::lab::Lab::start(wildcert_testkit::BindOptions::default(), false) else {
        return;
    };
    let target = lab.state_dir().join("srv");
    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        format!(
            "[[certificate]]\ndomains = [\"www.example.test\"]\nprovider = \"rfc2136\"\ninstall = [{{ dir = \"{}\" }}]\n",
            target.display()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let r = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    // A dead writer's (no process has a pid above the kernel's maximum), one of an older
    // wildcert (no pid in the name), and a live writer's (this test's own pid).
    let dead = target.join(".privkey.pem.4194305.wildcert-tmp");
    let legacy = target.join(".fullchain.pem.wildcert-tmp");
    let live = target.join(format!(".cert.pem.{}.wildcert-tmp", std::process::id()));
    for f in [&dead, &legacy, &live] {
        std::fs::write(f, "-----BEGIN PRIVATE KEY-----\n").expect("plant");
    }
    let r = lab.wildcert(&["--config", cfg, "renew", "--dry-run"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(dead.exists() && legacy.exists(), "a dry run removed a file");
    let r = lab.wildcert(&["--config", cfg, "renew"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stdout.contains("not due") || r.stderr.contains("not due"),
        "{}",
        r.all()
    );
    assert!(
        !dead.exists(),
        "a dead writer's temporary file stayed: {}",
        r.all()
    );
    assert!(
        !legacy.exists(),
        "an older wildcert's temporary file stayed"
    );
    assert!(live.exists(), "a live writer's temporary file was removed");
    assert!(r.stderr.contains("interrupted install"), "{}", r.all());
}

/// Issue 23 item 8: the metrics textfile's directory is writable in the unit, and what the
/// sandbox hides (credentials under /root or /home with ProtectHome, a store or textfile under
/// /tmp with PrivateTmp) is said when the units are made, not at 3 am.
#[test]
fn systemd_units_let_the_metrics_file_be_written_and_warn_about_what_the_sandbox_hides() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("wildcert.toml");
    std::fs::write(
        &config,
        "[metrics]\ntextfile = \"/var/lib/node-exporter/textfile/wildcert.prom\"\n\n\
         [providers.lab]\nkind = \"rfc2136\"\nnameserver = \"192.0.2.1\"\ntsig_file = \"/root/tsig.key\"\n",
    )
    .expect("config");
    let run = wildcert(&[
        "--config",
        &config.to_string_lossy(),
        "--state-dir",
        "/tmp/wildcert-store",
        "systemd",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout
            .contains("\nReadWritePaths=-/var/lib/node-exporter/textfile\n"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("/root/tsig.key") && run.stderr.contains("ProtectHome"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("/tmp/wildcert-store") && run.stderr.contains("PrivateTmp"),
        "{}",
        run.all()
    );
}
