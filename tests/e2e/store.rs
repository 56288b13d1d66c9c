//! The store as a hostile user and an ordinary admin meet it (issue 12): planted links at
//! every level fail with exit 5 and touch nothing, a state directory open to others is
//! refused with the fix, the admin's group and mode survive `renew --force`, `key_group` /
//! `key_mode` are applied, and a closed stdout is not a crash.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run};

const VICTIM: &[u8] = b"bytes that belong to somebody else\n";

/// A directory outside the store, with one file, to plant links at.
struct Victim {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    file: PathBuf,
}

fn victim() -> Victim {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("elsewhere");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("file");
    std::fs::write(&file, VICTIM).expect("write");
    Victim {
        _tmp: tmp,
        dir,
        file,
    }
}

impl Victim {
    fn assert_untouched(&self, context: &str) {
        assert_eq!(
            std::fs::read(&self.file).expect("victim readable"),
            VICTIM,
            "the link's target was written or truncated; {context}"
        );
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("victim dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["file"],
            "something was written through the link; {context}"
        );
    }
}

fn issue(lab: &Lab, name: &str) -> Run {
    lab.wildcert(&["issue", "-d", name, "--dns", "rfc2136", "--force"], &[])
}

fn assert_refused(run: &Run, link: &Path, context: &str) {
    assert_eq!(run.code, Some(5), "{context}: {}", run.all());
    assert!(!run.stderr.contains("panicked"), "{context}: {}", run.all());
    assert!(
        run.stderr.contains(&link.display().to_string()),
        "the error does not name {}; {context}: {}",
        link.display(),
        run.all()
    );
}

#[test]
fn planted_links_fail_with_exit_5_and_touch_nothing() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let name = "www.example.test";
    let first = issue(&lab, name);
    assert_eq!(first.code, Some(0), "{}", first.all());
    let state = lab.state_dir().to_path_buf();
    let cert_dir = state.join("certs").join(name);
    let account = std::fs::read_dir(state.join("accounts"))
        .expect("accounts")
        .flatten()
        .next()
        .expect("one CA")
        .path()
        .join("default");
    let v = victim();

    // A directory replaced by a link to the victim directory.
    let dirs = [
        cert_dir.clone(),
        cert_dir.join("archive"),
        account.clone(),
        state.join("journal"),
    ];
    for link in &dirs {
        let aside = link.with_extension("aside");
        if link.exists() {
            std::fs::rename(link, &aside).expect("move aside");
        }
        symlink(&v.dir, link).expect("plant");
        let run = issue(&lab, name);
        assert_refused(&run, link, &format!("link at {}", link.display()));
        v.assert_untouched(&link.display().to_string());
        std::fs::remove_file(link).expect("unplant");
        if aside.exists() {
            std::fs::rename(&aside, link).expect("restore");
        }
    }
    // A link at the next archive version, at the lock file, at meta.json.
    let files = [
        cert_dir.join("archive").join("2"),
        state.join("locks").join(format!("{name}.lock")),
        cert_dir.join("meta.json"),
    ];
    for link in &files {
        let aside = link.with_extension("aside");
        if link.exists() {
            std::fs::rename(link, &aside).expect("move aside");
        }
        let target = if link.ends_with("2") { &v.dir } else { &v.file };
        symlink(target, link).expect("plant");
        let run = issue(&lab, name);
        assert_refused(&run, link, &format!("link at {}", link.display()));
        v.assert_untouched(&link.display().to_string());
        std::fs::remove_file(link).expect("unplant");
        if aside.exists() {
            std::fs::rename(&aside, link).expect("restore");
        }
    }
    // With the links gone, the store works as before.
    let last = issue(&lab, name);
    assert_eq!(last.code, Some(0), "{}", last.all());
}

/// `wildcert ARGS` with only a state dir; bounded.
fn offline(state: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .expect("wildcert runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_state_dir_open_to_others_or_owned_by_another_user_is_refused() {
    for mode in [0o777, 0o775, 0o757] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let (code, err) = offline(&state, &["list"]);
        assert_eq!(code, Some(5), "mode {mode:o}: {err}");
        assert!(
            err.contains(&format!("hint: run: chmod go-w {}", state.display())),
            "mode {mode:o}: {err}"
        );
    }
    let me = std::fs::metadata("/proc/self").expect("stat").uid();
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = if me == 0 {
        let state = tmp.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).expect("chown");
        state
    } else {
        PathBuf::from("/usr")
    };
    let (code, err) = offline(&state, &["list"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("is owned by uid"), "{err}");
    assert!(err.contains("hint: run: chown -R "), "{err}");
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let cert = state.join("certs").join("a.example");
    std::fs::create_dir_all(&cert).expect("mkdir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(
        cert.join("meta.json"),
        r#"{"names":["a.example"],"key_type":"ec256","provider":"rfc2136"}"#,
    )
    .expect("meta");
    for args in [
        vec!["providers"],
        vec!["providers", "rfc2136"],
        vec!["list"],
        vec!["show", "a.example"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wildcert"))
            .arg("--state-dir")
            .arg(&state)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wildcert starts");
        // The reader goes away before the first line (`wildcert list | head -0`).
        drop(child.stdout.take());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{args:?} hangs");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

fn write_config(lab: &Lab, extra: &str) -> String {
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &path,
        format!(
            "[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n{extra}"
        ),
    )
    .expect("config");
    path.display().to_string()
}

fn perms(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).expect("stat");
    (m.mode() & 0o7777, m.gid())
}

#[test]
fn group_and_mode_survive_renew_force_and_key_settings_apply() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let root = std::fs::metadata("/proc/self").expect("stat").uid() == 0;
    let own_gid = std::fs::metadata(lab.state_dir()).expect("stat").gid();
    let (web, other) = if root {
        (4242, 4243)
    } else {
        (own_gid, own_gid)
    };
    let cfg = write_config(&lab, "");
    let run = lab.wildcert(&["--config", &cfg, "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let dir = lab.state_dir().join("certs").join("www");
    let v1 = dir.join("archive").join("1");
    // The admin's everyday setup: the web server's group may read the key.
    for (p, m) in [
        (dir.clone(), 0o750),
        (dir.join("archive"), 0o750),
        (v1.clone(), 0o750),
        (v1.join("privkey.pem"), 0o640),
    ] {
        std::os::unix::fs::chown(&p, None, Some(web)).expect("chgrp");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let run = lab.wildcert(&["--config", &cfg, "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v2 = dir.join("archive").join("2");
    assert_eq!(
        perms(&v2),
        (0o750, web),
        "archive/2 lost the admin's group/mode"
    );
    assert_eq!(
        perms(&v2.join("privkey.pem")),
        (0o640, web),
        "the new key lost the admin's group/mode"
    );
    assert_eq!(perms(&dir.join("live/privkey.pem")), (0o640, web));

    // key_group / key_mode in [[certificate]]: applied on the next write, never world-readable.
    let cfg = write_config(
        &lab,
        &format!("key_group = \"{other}\"\nkey_mode = \"0640\"\n"),
    );
    std::fs::set_permissions(
        v2.join("privkey.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let run = lab.wildcert(&["--config", &cfg, "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v3 = dir.join("archive").join("3");
    assert_eq!(perms(&v3.join("privkey.pem")), (0o640, other));
    assert_eq!(perms(&v3).1, other);
    assert_eq!(perms(&v3).0 & 0o057, 0o050, "{:o}", perms(&v3).0);
    // A world-readable key_mode is refused before anything is issued.
    let cfg = write_config(&lab, "key_mode = \"0644\"\n");
    let run = lab.wildcert(&["--config", &cfg, "renew", "--force"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("key_mode"), "{}", run.all());
    assert!(!dir.join("archive").join("4").exists());

    // `issue --key-group --key-mode` does the same.
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "api.example.test",
            "--dns",
            "rfc2136",
            "--key-group",
            &web.to_string(),
            "--key-mode",
            "0640",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        perms(&lab.live("api.example.test").join("privkey.pem")),
        (0o640, web)
    );
}

/// A run killed while writing leaves `.<name>.<pid>.<rand>.tmp` (issue 24 item 5: one was left
/// in 20 forced kill pairs): the next command removes those of dead processes wherever the
/// store writes — the root, the journal, accounts and providers' state — and leaves a live
/// process's alone.
#[test]
fn the_next_command_removes_what_a_killed_run_left() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::lab::bin());
        cmd.arg("--state-dir")
            .arg(&state)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        crate::lab::run_bounded(cmd, std::time::Duration::from_secs(30))
    };
    let first = run(&["list"]);
    assert_eq!(first.code, Some(0), "{}", first.all());
    let dirs = [
        state.clone(),
        state.join("journal"),
        state.join("accounts/ca.example/default"),
        state.join("providers/cloudflare"),
    ];
    // 4194304 is above Linux's pid_max: that process is never alive.
    let mut dead = Vec::new();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("dir");
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(d).expect("meta").permissions(),
            0o700,
        );
        let _ = std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let p = d.join(".key.pem.4194304.0badcafe.tmp");
        std::fs::write(&p, "half-written").expect("plant");
        dead.push(p);
    }
    let alive = state.join(format!(
        "journal/.x.json.{}.00000001.tmp",
        std::process::id()
    ));
    std::fs::write(&alive, "in progress").expect("plant");
    let second = run(&["list"]);
    assert_eq!(second.code, Some(0), "{}", second.all());
    for p in &dead {
        assert!(!p.exists(), "{} was left", p.display());
    }
    assert!(alive.exists(), "a live process's file is left alone");
}

/// Reads need no lock (issue 24 item 7): `account show`, `list` and `show` work on a store
/// mounted read-only (a backup, a snapshot), where taking a lock fails.
#[test]
fn reads_work_on_a_read_only_store() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let ro = tempfile::tempdir().expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["--bind", "-o", "ro"])
        .arg(lab.state_dir())
        .arg(ro.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            !wildcert_testkit::is_ci(),
            "a read-only bind mount is needed under CI"
        );
        return;
    }
    // A bind mount ignores `ro` on some kernels until remounted.
    let _ = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(ro.path())
        .status();
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(ro.path().to_path_buf());
    assert!(
        std::fs::write(ro.path().join("probe"), "x").is_err(),
        "the mount is read-only"
    );
    for args in [
        &["account", "show"][..],
        &["list"][..],
        &["show", "www.example.test"][..],
    ] {
        let mut cmd = Command::new(crate::lab::bin());
        cmd.arg("--server")
            .arg(lab.pebble.directory_url())
            .arg("--ca-bundle")
            .arg(lab.pebble.ca_cert_path())
            .arg("--state-dir")
            .arg(ro.path())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let run = crate::lab::run_bounded(cmd, Duration::from_secs(60));
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.all());
    }
}

/// Every directory of the store is checked like the top ones (issue 24 item 7: a certificate
/// directory owned by another user was accepted): one owned by another user, or writable by
/// its group, is refused with the fix.
#[test]
fn a_certificate_directory_of_another_user_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let cert = state.join("certs/www.example.test");
    std::fs::create_dir_all(&cert).expect("dirs");
    for d in [&state, &state.join("certs"), &cert] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
    }
    std::fs::write(
        cert.join("meta.json"),
        r#"{"names":["www.example.test"],"key_type":"ec256","provider":"rfc2136"}"#,
    )
    .expect("meta");
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::lab::bin());
        cmd.arg("--state-dir")
            .arg(&state)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        crate::lab::run_bounded(cmd, std::time::Duration::from_secs(30))
    };
    let ok = run(&["show", "www.example.test"]);
    assert_eq!(ok.code, Some(0), "{}", ok.all());
    // Group-writable.
    std::fs::set_permissions(&cert, std::os::unix::fs::PermissionsExt::from_mode(0o770))
        .expect("chmod");
    let bad = run(&["show", "www.example.test"]);
    assert_eq!(bad.code, Some(5), "{}", bad.all());
    assert!(bad.stderr.contains("chmod go-w"), "{}", bad.all());
    std::fs::set_permissions(&cert, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    // Another user's (we run as root in CI; skip the chown elsewhere).
    if std::os::unix::fs::chown(&cert, Some(65534), None).is_ok() {
        let bad = run(&["show", "www.example.test"]);
        assert_eq!(bad.code, Some(5), "{}", bad.all());
        assert!(bad.stderr.contains("owned by uid 65534"), "{}", bad.all());
    }
}
