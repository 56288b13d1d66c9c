//! Faults wildcert must survive or report clearly (issue 7): a badNonce storm, dropped, cut
//! and slow connections to the CA (through [`FaultProxy`]), a dead nameserver, an UPDATE the
//! server refuses, and a state directory that cannot be written.
//!
//! Every case checks the same promises: no panic, the documented exit code, the TXT records
//! gone from the primary, no journal entry left, and `live/` either absent or complete.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use wildcert_testkit::{BindOptions, BindTopology, FaultProxy, Pebble, PebbleOptions, ProxyMode};

use crate::lab::{Lab, Run};

/// A lab whose Pebble gets `pebble` options (its DNS server is set to the lagging secondary).
pub(crate) fn lab_with(bind: BindOptions, pebble: PebbleOptions) -> Option<Lab> {
    if !wildcert_testkit::require_bind() || !wildcert_testkit::require_pebble() {
        return None;
    }
    let bind = BindTopology::start(bind).expect("BIND topology starts");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.lagging_secondary_addr()),
        ..pebble
    })
    .expect("pebble starts");
    Some(Lab {
        bind,
        pebble,
        _resolver: None,
        state: tempfile::tempdir().expect("state dir"),
    })
}

/// Journal entries left in the state dir.
pub(crate) fn journal_entries(lab: &Lab) -> Vec<String> {
    match std::fs::read_dir(lab.state_dir().join("journal")) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `live/` is absent, or all four files are PEM and fullchain = cert + chain.
pub(crate) fn assert_live_whole(live: &Path, context: &str) {
    if !live.exists() {
        return;
    }
    let read = |f: &str| {
        std::fs::read_to_string(live.join(f))
            .unwrap_or_else(|e| panic!("{}/{f} unreadable ({e}); {context}", live.display()))
    };
    let (cert, chain, full, key) = (
        read("cert.pem"),
        read("chain.pem"),
        read("fullchain.pem"),
        read("privkey.pem"),
    );
    for (name, text, tag) in [
        ("cert.pem", &cert, "CERTIFICATE"),
        ("chain.pem", &chain, "CERTIFICATE"),
        ("fullchain.pem", &full, "CERTIFICATE"),
        ("privkey.pem", &key, "PRIVATE KEY"),
    ] {
        let begins = text.matches("-----BEGIN ").count();
        let ends = text.matches("-----END ").count();
        assert!(
            begins >= 1
                && begins == ends
                && text.contains(tag)
                && text.trim_end().ends_with("-----"),
            "{name} is not whole PEM; {context}:\n{text}"
        );
    }
    let joined = if cert.ends_with('\n') {
        format!("{cert}{chain}")
    } else {
        format!("{cert}\n{chain}")
    };
    assert_eq!(
        full, joined,
        "fullchain.pem != cert.pem + chain.pem; {context}"
    );
}

/// After any failed or faulted run: nothing left on the primary, no journal entry.
pub(crate) fn assert_nothing_left(lab: &Lab, names: &[&str], run: &Run) {
    for n in names {
        assert!(
            lab.primary_txt(&format!("_acme-challenge.{n}")).is_empty(),
            "records left at {n}: {}",
            run.all()
        );
    }
    assert!(
        journal_entries(lab).is_empty(),
        "journal left: {}",
        run.all()
    );
}

/// The one-line error format: an `error:` line and a `hint:` line, no panic.
pub(crate) fn assert_clear_error(run: &Run) {
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.all());
    assert!(run.stderr.contains("error:"), "{}", run.all());
    assert!(run.stderr.contains("hint:"), "{}", run.all());
}

const APEX: [&str; 5] = ["issue", "-d", "*.example.test", "-d", "example.test"];

fn issue_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = APEX.to_vec();
    v.extend_from_slice(&["--dns", "rfc2136"]);
    v.extend_from_slice(extra);
    v
}

#[test]
fn bad_nonce_storm_still_issues() {
    let Some(lab) = lab_with(
        BindOptions::default(),
        PebbleOptions {
            nonce_reject_percent: 50,
            ..Default::default()
        },
    ) else {
        return;
    };
    let run = lab.wildcert(&issue_args(&[]), &[("WILDCERT_LOG", "wildcert_acme=debug")]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // The storm really happened and was absorbed by retries.
    assert!(
        run.stderr.contains("badNonce"),
        "no badNonce retry seen: {}",
        run.all()
    );
    assert_live_whole(&lab.live("example.test"), "after a badNonce storm");
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn dropped_connections_to_the_ca_are_retried() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(lab.pebble.listen_addr()).expect("proxy");
    proxy.set_mode(ProxyMode::DropNext(2));
    let run = lab.wildcert_at(
        &proxy.rewrite_url(&lab.pebble.directory_url()),
        &issue_args(&[]),
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(proxy.faulted(), 2, "{}", run.all());
    assert_live_whole(&lab.live("example.test"), "after dropped connections");
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn unreachable_ca_fails_with_exit_4_and_publishes_nothing() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(lab.pebble.listen_addr()).expect("proxy");
    proxy.set_mode(ProxyMode::DropAll);
    let url = proxy.rewrite_url(&lab.pebble.directory_url());
    let run = lab.wildcert_at(&url, &issue_args(&[]), &[]);
    assert_eq!(run.code, Some(4), "{}", run.all());
    assert_clear_error(&run);
    assert!(
        run.stderr.contains(&proxy.addr().to_string()),
        "error should name the URL: {}",
        run.all()
    );
    // Bounded retries: a few attempts, not minutes.
    assert!(run.elapsed < Duration::from_secs(30), "{}", run.all());
    assert!(proxy.accepted() >= 2, "no retry at all: {}", run.all());
    assert!(!lab.live("example.test").exists());
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn connections_cut_mid_response_retry_or_fail_cleanly() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(lab.pebble.listen_addr()).expect("proxy");
    let url = proxy.rewrite_url(&lab.pebble.directory_url());
    // Cut the first connections a few KB in (past the TLS handshake, inside HTTP/2 traffic).
    proxy.set_mode(ProxyMode::CutNext {
        n: 2,
        after_bytes: 4000,
    });
    let first = lab.wildcert_at(&url, &issue_args(&[]), &[]);
    assert!(matches!(first.code, Some(0) | Some(4)), "{}", first.all());
    if first.code == Some(4) {
        assert_clear_error(&first);
    }
    assert!(
        proxy.faulted() >= 1,
        "the fault never fired: {}",
        first.all()
    );
    assert_live_whole(&lab.live("example.test"), "after cut connections");
    assert_nothing_left(&lab, &["example.test"], &first);

    // Then sever every open connection several times during a run (bounded: 6 cuts).
    let run = std::thread::scope(|s| {
        let cutter = s.spawn(|| {
            for _ in 0..6 {
                std::thread::sleep(Duration::from_millis(700));
                proxy.cut_open();
            }
        });
        let run = lab.wildcert_at(&url, &issue_args(&["--cert-name", "cut"]), &[]);
        let _ = cutter.join();
        run
    });
    assert!(matches!(run.code, Some(0) | Some(4)), "{}", run.all());
    if run.code == Some(4) {
        assert_clear_error(&run);
    }
    assert_live_whole(&lab.live("cut"), "after severed connections");
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn slow_ca_within_the_timeout_still_issues() {
    // The client's request timeout (30 s) is not configurable: check that a CA answering
    // every chunk 150 ms late still works, well inside it.
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(lab.pebble.listen_addr()).expect("proxy");
    proxy.set_mode(ProxyMode::Delay(Duration::from_millis(150)));
    let run = lab.wildcert_at(
        &proxy.rewrite_url(&lab.pebble.directory_url()),
        &issue_args(&[]),
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_live_whole(&lab.live("example.test"), "after a slow CA");
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn dead_nameserver_bounded_wait_names_it_and_cleans_up() {
    let Some(mut lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let dead = lab.bind.lagging_secondary_addr();
    lab.bind
        .stop_secondary(dead)
        .expect("stop the lagging secondary");
    let run = lab.wildcert(&issue_args(&["--propagation-timeout", "3s"]), &[]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    assert!(
        run.stderr.contains(&dead.ip().to_string()),
        "the verdict should name {dead}: {}",
        run.all()
    );
    assert!(
        run.elapsed < Duration::from_secs(60),
        "not bounded: {}",
        run.all()
    );
    assert!(!lab.live("example.test").exists());
    assert_nothing_left(&lab, &["example.test"], &run);
}

#[test]
fn update_with_a_key_the_server_does_not_know_is_refused_clearly() {
    // rfc2136.rs covers a wrong secret (BADSIG); here the key name itself is unknown (BADKEY).
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let run = lab.wildcert(
        &issue_args(&[]),
        &[
            ("RFC2136_TSIG_FILE", ""),
            ("RFC2136_TSIG_KEY", "no-such-key"),
            ("RFC2136_TSIG_ALGORITHM", lab.bind.tsig_algorithm()),
            ("RFC2136_TSIG_SECRET", lab.bind.tsig_secret_b64()),
        ],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_clear_error(&run);
    let lower = run.stderr.to_lowercase();
    assert!(
        lower.contains("tsig") || lower.contains("key"),
        "{}",
        run.all()
    );
    assert!(
        !run.stderr.contains(lab.bind.tsig_secret_b64()),
        "secret leaked: {}",
        run.all()
    );
    assert!(!lab.live("example.test").exists());
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
    // The server refused the update as a whole (an UPDATE is all or nothing): nothing was
    // written, so no journal entry is left to warn on every later run (issue 24).
    assert!(journal_entries(&lab).is_empty(), "{}", run.all());
    let next = lab.wildcert(&issue_args(&[]), &[]);
    assert_eq!(next.code, Some(0), "{}", next.all());
    assert_nothing_left(&lab, &["example.test"], &next);
}

/// Removes the immutable flag again on drop, so the temp dir can be deleted.
pub(crate) struct Immutable(std::path::PathBuf);

impl Immutable {
    pub(crate) fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

fn snapshot(live: &Path) -> Vec<String> {
    ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(live.join(f)).expect("live file"))
        .collect()
}

#[test]
fn unwritable_archive_fails_with_exit_5_and_keeps_the_old_certificate() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let first = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(first.code, Some(0), "{}", first.all());
    let live = lab.live("www.example.test");
    let before = snapshot(&live);
    let archive = lab.state_dir().join("certs/www.example.test/archive");
    // We run as root, which ignores permission bits: make the directory immutable instead.
    let Some(guard) = Immutable::set(&archive) else {
        assert!(!wildcert_testkit::is_ci(), "chattr +i is needed under CI");
        eprintln!("skipped: chattr +i does not work here");
        return;
    };
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--force",
        ],
        &[],
    );
    drop(guard);
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert_clear_error(&run);
    let error_line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("error line");
    assert!(
        error_line.contains(&archive.display().to_string()),
        "path not named: {}",
        run.all()
    );
    assert_eq!(snapshot(&live), before, "the old certificate changed");
    assert_nothing_left(&lab, &["www.example.test"], &run);
}

#[test]
fn certs_being_a_file_fails_with_exit_5_naming_it() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    let certs = lab.state_dir().join("certs");
    std::fs::write(&certs, "in the way\n").expect("write");
    let run = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert_clear_error(&run);
    assert!(
        run.stderr.contains(&certs.display().to_string()),
        "{}",
        run.all()
    );
    assert_eq!(
        std::fs::read_to_string(&certs).expect("read"),
        "in the way\n"
    );
    assert_nothing_left(&lab, &["www.example.test"], &run);
}

#[test]
fn full_disk_fails_with_exit_5_and_keeps_the_old_certificate() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    if !wildcert_testkit::require("unshare") {
        return;
    }
    let first = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(first.code, Some(0), "{}", first.all());
    let live = lab.live("www.example.test");
    let before = snapshot(&live);
    let archive = lab.state_dir().join("certs/www.example.test/archive");
    // In a private mount namespace, a full 16 KiB tmpfs over archive/: the new version cannot
    // be written. The mount vanishes with the namespace; the real archive is untouched.
    let script = format!(
        "mount -t tmpfs -o size=16k,mode=0700 tmpfs '{a}' || exit 97; head -c 1048576 /dev/zero > '{a}/fill' 2>/dev/null; exec \"$@\"",
        a = archive.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(env!("CARGO_BIN_EXE_wildcert"));
    let run = lab_command(
        &lab,
        cmd,
        &[
            "issue",
            "-d",
            "www.example.test",
            "--dns",
            "rfc2136",
            "--force",
        ],
        &[],
    );
    if run.code == Some(97) {
        assert!(
            !wildcert_testkit::is_ci(),
            "tmpfs mount is needed under CI: {}",
            run.all()
        );
        return;
    }
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert_clear_error(&run);
    assert!(
        run.stderr.to_lowercase().contains("no space left"),
        "{}",
        run.all()
    );
    assert_eq!(snapshot(&live), before, "the old certificate changed");
    assert_nothing_left(&lab, &["www.example.test"], &run);
}

/// Copy a directory tree (`cp -a`), replacing `to`'s contents.
fn replace_tree(from: &Path, to: &Path) {
    std::fs::remove_dir_all(to).expect("clear");
    std::fs::create_dir(to).expect("mkdir");
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// Issue 24 item 2: disk full at every free-space level from 0 to 64 KiB in 4 KiB steps. The
/// whole state directory sits on a small tmpfs (a bind mount of a directory on it, in a private
/// mount namespace) with exactly that much free while `issue --force` renews a certificate with
/// a deploy hook; then, with space again, a plain `renew`. Each level must end in one of the
/// promised outcomes: the old version stays live and the run failed clearly (no hook for a new
/// version), or the new version is live, recorded, and its deploy hook ran exactly once (in
/// that run, or as pending in the next). Never a panic, a record left on the primary, a
/// journal entry, a `*.tmp`, or meta.json disagreeing with live.
#[test]
fn disk_full_at_every_level_from_0_to_64_kib_keeps_one_promised_outcome() {
    let Some(lab) = lab_with(BindOptions::default(), PebbleOptions::default()) else {
        return;
    };
    if !wildcert_testkit::require("unshare") {
        return;
    }
    let name = "www.example.test";
    let work = tempfile::tempdir().expect("work dir");
    let log = work.path().join("deployed.log");
    let hook = format!("echo $WILDCERT_CERT_VERSION >> {}", log.display());
    let issue = [
        "issue",
        "-d",
        name,
        "--dns",
        "rfc2136",
        "--deploy-hook",
        &hook,
    ];
    let first = lab.wildcert(&issue, &[]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    let pristine = work.path().join("pristine");
    std::fs::create_dir(&pristine).expect("mkdir");
    replace_tree(lab.state_dir(), &pristine);
    let live = lab.live(name);
    // $1 state dir, $2 staging copy, $3 copy of the result, $4 KiB to leave free, $5 tmpfs.
    let script = r#"S=$1 STAGE=$2 OUT=$3 L=$4 T=$5; shift 5
cp -a "$S/." "$STAGE/" || exit 96
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$T" || exit 97
mkdir -m 0700 "$T/state" && cp -a "$STAGE/." "$T/state/" && mount --bind "$T/state" "$S" || exit 96
avail=$(( $(stat -f -c %a "$T") * $(stat -f -c %S "$T") )); want=$(( L * 1024 ))
[ "$avail" -gt "$want" ] && head -c $(( avail - want )) /dev/zero > "$T/fill" 2>/dev/null
"$@"; rc=$?
rm -f "$T/fill"; cp -a "$S/." "$OUT/" || exit 96
exit $rc"#;
    let mut matrix = Vec::new();
    for kib in (0..=64).step_by(4) {
        replace_tree(&pristine, lab.state_dir());
        let _ = std::fs::remove_file(&log);
        let before = snapshot(&live);
        let level = tempfile::tempdir().expect("level dir");
        let (stage, out, mnt) = (
            level.path().join("stage"),
            level.path().join("out"),
            level.path().join("mnt"),
        );
        for d in [&stage, &out, &mnt] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(lab.state_dir())
            .args([&stage, &out])
            .arg(kib.to_string())
            .arg(&mnt)
            .arg(env!("CARGO_BIN_EXE_wildcert"));
        let mut forced = issue.to_vec();
        forced.push("--force");
        let run = lab_command(&lab, cmd, &forced, &[]);
        if run.code == Some(97) {
            assert!(
                !wildcert_testkit::is_ci(),
                "tmpfs mount is needed under CI: {}",
                run.all()
            );
            return;
        }
        assert_ne!(run.code, Some(96), "the harness failed: {}", run.all());
        let context = format!("{kib} KiB free: {}", run.all());
        assert!(!run.stderr.contains("panicked"), "{context}");
        replace_tree(&out, lab.state_dir());
        let switched = snapshot(&live) != before;
        let hooked_then = std::fs::read_to_string(&log).unwrap_or_default();
        if run.code == Some(0) {
            assert!(switched, "exit 0 but the old version is live; {context}");
            assert_eq!(hooked_then.trim(), "2", "{context}");
        } else {
            assert_clear_error(&run);
            if !switched {
                assert_eq!(hooked_then, "", "a hook ran for no new version; {context}");
            }
        }
        let next = lab.wildcert(&["renew"], &[]);
        let context = format!("{context}\nnext run:\n{}", next.all());
        assert_eq!(next.code, Some(0), "{context}");
        crate::interrupt::assert_store_settled(&lab, name, &context);
        assert_live_whole(&live, &context);
        let hooked = std::fs::read_to_string(&log).unwrap_or_default();
        let expect = if snapshot(&live) != before { "2\n" } else { "" };
        assert_eq!(hooked, expect, "deploy hook runs: {context}");
        assert_nothing_left(&lab, &[name], &next);
        let outcome = match (run.code, switched, hooked_then.is_empty()) {
            (Some(0), _, _) => "renewed".to_string(),
            (c, false, _) => format!("old kept, exit {}", c.unwrap_or(-1)),
            (c, true, false) => format!("new live + hook, exit {}", c.unwrap_or(-1)),
            (c, true, true) => format!("new live, hook next run, exit {}", c.unwrap_or(-1)),
        };
        matrix.push(format!("{kib:>2} KiB: {outcome}"));
    }
    eprintln!("disk-full matrix:\n{}", matrix.join("\n"));
}

/// Run a prepared command (`cmd` = program + its own args, the wildcert binary last) with the
/// lab's usual flags and environment plus `env`, bounded like [`Lab::wildcert`]. Output goes to
/// files, so a chatty run (trace level) cannot fill a pipe and stall.
pub(crate) fn lab_command(lab: &Lab, mut cmd: Command, args: &[&str], env: &[(&str, &str)]) -> Run {
    cmd.arg("--server")
        .arg(lab.pebble.directory_url())
        .arg("--ca-bundle")
        .arg(lab.pebble.ca_cert_path())
        .arg("--state-dir")
        .arg(lab.state_dir())
        .arg("--agree-tos")
        .arg("--email")
        .arg("e2e@example.test")
        .arg("--resolver")
        .arg(lab.bind.prompt_secondary_addr().to_string())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RFC2136_NAMESERVER", lab.bind.primary_addr().to_string())
        .env("RFC2136_TSIG_FILE", lab.bind.tsig_key_file_path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_to_files(cmd, crate::lab::RUN_LIMIT)
}

/// Run `cmd` with stdout and stderr going to temp files, killing it after `limit`.
pub(crate) fn run_to_files(mut cmd: Command, limit: Duration) -> Run {
    let dir = tempfile::tempdir().expect("output dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let start = std::time::Instant::now();
    let mut child = cmd.spawn().expect("wildcert starts");
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("wait failed: {e}"),
        }
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Run {
        code: status.code(),
        stdout: read(&out_path),
        stderr: read(&err_path),
        elapsed: start.elapsed(),
    }
}
