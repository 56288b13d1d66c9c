//! The exec provider running small shell scripts written to a temp dir. The provider contract
//! is the conformance suite, with a script running `nsupdate` against BIND
//! (`cargo test -p wildcert-exec --test it conformance`).

mod subject;

wildcert_conformance::conformance_suite!(crate::subject::ExecOnBind);

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wildcert_dns::{DnsName, DnsProvider, ProviderError, TxtSet, Zone};
use wildcert_exec::{ExecProvider, ExecSettings, TimeoutSetting};

pub use wildcert_conformance::init_logs;

/// Writes an executable `/bin/sh` script into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn provider(program: &Path, mode: Option<&str>, timeout: Option<&str>) -> ExecProvider {
    init_logs();
    ExecProvider::new(&ExecSettings {
        program: Some(program.display().to_string()),
        mode: mode.map(String::from),
        timeout: timeout.map(|t| TimeoutSetting::Text(t.into())),
        pass_env: None,
    })
    .expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("name")
}

fn zone() -> Zone {
    Zone::new(name("example.test"))
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

fn recorder(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let p = script(
        dir,
        "record.sh",
        &format!(
            "echo \"$# $1 $2 $3\" >> '{}'\necho \"did $1\"\necho 'a warning' >&2",
            log.display()
        ),
    );
    (p, log)
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn one_run_per_value_with_trailing_dot() {
    let dir = tempfile::tempdir().expect("tmp");
    let (prog, log) = recorder(dir.path());
    let p = provider(&prog, None, None);
    let records = set(&[
        ("_acme-challenge.example.test", "tokA"),
        ("_acme-challenge.example.test", "tokB"),
        ("_acme-challenge.www.example.test", "tokC"),
    ]);
    p.publish(&zone(), &records).await.expect("publish");
    assert_eq!(
        calls(&log),
        [
            "3 publish _acme-challenge.example.test. tokA",
            "3 publish _acme-challenge.example.test. tokB",
            "3 publish _acme-challenge.www.example.test. tokC",
        ]
    );
    std::fs::remove_file(&log).expect("reset");
    p.unpublish(&zone(), &records).await.expect("unpublish");
    assert_eq!(calls(&log).len(), 3);
    assert!(calls(&log).iter().all(|l| l.starts_with("3 unpublish ")));
}

#[tokio::test]
async fn lego_mode_passes_present_and_cleanup() {
    let dir = tempfile::tempdir().expect("tmp");
    let (prog, log) = recorder(dir.path());
    let p = provider(&prog, Some("lego"), None);
    let records = set(&[("_acme-challenge.example.test", "tok")]);
    p.publish(&zone(), &records).await.expect("publish");
    p.unpublish(&zone(), &records).await.expect("unpublish");
    assert_eq!(
        calls(&log),
        [
            "3 present _acme-challenge.example.test. tok",
            "3 cleanup _acme-challenge.example.test. tok",
        ]
    );
}

#[tokio::test]
async fn failure_names_program_action_code_and_last_stderr_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let prog = script(
        dir.path(),
        "fail.sh",
        "echo 'trying'\necho 'first problem' >&2\necho 'API said: bad credentials' >&2\nexit 3",
    );
    let p = provider(&prog, None, None);
    let records = set(&[("_acme-challenge.example.test", "tok")]);
    let e = p.publish(&zone(), &records).await.expect_err("fails");
    assert!(matches!(e, ProviderError::Rejected { .. }), "{e:?}");
    let msg = e.to_string();
    for part in [
        "fail.sh",
        "publish",
        "_acme-challenge.example.test.",
        "code 3",
        "API said: bad credentials",
    ] {
        assert!(msg.contains(part), "{part} missing in: {msg}");
    }
    assert!(!msg.contains("first problem"), "{msg}");
    // Cleanup tries every value even when one fails.
    let two = set(&[
        ("_acme-challenge.example.test", "a"),
        ("_acme-challenge.example.test", "b"),
    ]);
    let e = p.unpublish(&zone(), &two).await.expect_err("fails");
    assert!(e.to_string().contains("unpublish"), "{e}");
}

#[tokio::test]
async fn hanging_program_is_killed_with_its_children() {
    let dir = tempfile::tempdir().expect("tmp");
    let pidfile = dir.path().join("sleep.pid");
    let prog = script(
        dir.path(),
        "hang.sh",
        &format!(
            "echo 'working' >&2\nsleep 30 &\necho $! > '{}'\nwait",
            pidfile.display()
        ),
    );
    let p = provider(&prog, None, Some("1s"));
    let start = Instant::now();
    let e = p
        .publish(&zone(), &set(&[("_acme-challenge.example.test", "tok")]))
        .await
        .expect_err("timeout");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("did not finish within 1s") && msg.contains("EXEC_TIMEOUT"),
        "{msg}"
    );
    assert!(msg.contains("working"), "{msg}");
    let pid = std::fs::read_to_string(&pidfile).expect("pid written");
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    // The background sleep was in the killed process group: gone (or a zombie being reaped).
    let mut gone = false;
    for _ in 0..50 {
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "child sleep {} still running", pid.trim());
}

#[tokio::test]
async fn large_output_is_bounded_and_background_pipes_do_not_block() {
    let dir = tempfile::tempdir().expect("tmp");
    let prog = script(
        dir.path(),
        "noisy.sh",
        "i=0; while [ $i -lt 2000 ]; do echo \"line $i of some long output to fill the pipe buffer\"; i=$((i+1)); done\n\
         (sleep 5) &\nexit 0",
    );
    let p = provider(&prog, None, Some("20"));
    let start = Instant::now();
    p.publish(&zone(), &set(&[("_acme-challenge.example.test", "tok")]))
        .await
        .expect("publish");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn missing_or_non_executable_program_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let plain = dir.path().join("plain.sh");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    for program in [
        plain.display().to_string(),
        dir.path().join("absent.sh").display().to_string(),
        "wildcert-surely-not-in-path".to_string(),
        dir.path().display().to_string(),
    ] {
        let e = ExecProvider::new(&ExecSettings {
            program: Some(program.clone()),
            ..Default::default()
        })
        .expect_err("refused");
        assert!(
            matches!(e, ProviderError::Config { .. }),
            "{program}: {e:?}"
        );
        assert!(e.to_string().contains("program"), "{e}");
    }
    let e = ExecProvider::new(&ExecSettings {
        program: Some(plain.display().to_string()),
        ..Default::default()
    })
    .expect_err("not executable");
    assert!(e.to_string().contains("chmod +x"), "{e}");
    // A bare name is looked up in PATH and stored as an absolute path.
    let p = ExecProvider::new(&ExecSettings {
        program: Some("sh".into()),
        ..Default::default()
    })
    .expect("sh is in PATH");
    assert!(p.config().program.is_absolute());
}

#[tokio::test]
async fn failed_publish_undoes_the_values_already_published() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("calls.log");
    // Fails for the value `bad` only.
    let prog = script(
        dir.path(),
        "partial.sh",
        &format!(
            "echo \"$1 $3\" >> '{}'\n[ \"$3\" = bad ] && {{ echo 'no such value' >&2; exit 1; }}\nexit 0",
            log.display()
        ),
    );
    let p = provider(&prog, None, None);
    let records = set(&[
        ("_acme-challenge.example.test", "a-good"),
        ("_acme-challenge.example.test", "bad"),
        ("_acme-challenge.example.test", "c-never"),
    ]);
    let e = p.publish(&zone(), &records).await.expect_err("fails");
    assert!(e.to_string().contains("no such value"), "{e}");
    assert_eq!(
        calls(&log),
        ["publish a-good", "publish bad", "unpublish a-good"]
    );
}
