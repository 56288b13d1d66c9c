//! The host-SDK proof of the API fakes: a provider's `tests/sdk/prove.py` drives its fake with
//! the host's own Python client (listed in the folder's `tests/sdk/requirements.txt`, which
//! `tests/setup.sh` installs into `target/venv-moto`) and fails on any difference from what that
//! client expects. Each provider's tests start their fake and call [`prove_with_sdk`]; the
//! scripts share `tests/kit/sdk/proof.py`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::is_ci;

/// Bound on one run of the script.
const LIMIT: Duration = Duration::from_secs(180);

/// The folder of the proofs' shared helpers (`proof.py`), put on their `PYTHONPATH`.
pub fn proof_helpers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// The venv's python (`WILDCERT_SDK_PYTHON` overrides) when every module of `modules` imports.
pub fn sdk_python(modules: &[&str]) -> Option<PathBuf> {
    let p = std::env::var_os("WILDCERT_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv-moto/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", &format!("import {}", modules.join(", "))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(p)
}

/// Run the provider's `tests/sdk/prove.py` (`provider_dir` is its crate folder, e.g.
/// `env!("CARGO_MANIFEST_DIR")`) with `env` (the fake's address and keys), no real AWS
/// configuration or proxy leaking in, bounded by 180 s. Panics with the script's output when a
/// check fails (or, under `CI=true`, when the SDK is missing); false when skipped.
pub fn prove_with_sdk(provider_dir: &str, modules: &[&str], env: &[(&str, String)]) -> bool {
    let Some(py) = sdk_python(modules) else {
        let what = format!(
            "{} not in target/venv-moto (run tests/setup.sh)",
            modules.join(", ")
        );
        assert!(
            !is_ci(),
            "{what}, and CI=true: this test may not be skipped"
        );
        eprintln!("SKIPPED: {what}");
        return false;
    };
    let mut cmd = Command::new(&py);
    cmd.arg(Path::new(provider_dir).join("tests/sdk/prove.py"))
        .env("PYTHONPATH", proof_helpers());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "*")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(LIMIT) else {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("{provider_dir}/tests/sdk/prove.py did not finish in {LIMIT:?}");
    };
    let out = out.expect("prove.py output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success() && text.contains("all checks passed"),
        "the official client disagrees with the fake:\n{text}"
    );
    true
}
