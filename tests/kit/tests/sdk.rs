//! The kit's API fakes, proven by the official clients: tests/kit/sdk/check_fakes.py drives the
//! Cloudflare fake with the `cloudflare` Python SDK and the Route53 fake with boto3 (both
//! installed into target/venv-moto by tests/setup.sh). Skipped when they are missing, a
//! failure under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wildcert_testkit::{
    CloudflareFake, CloudflareFakeOptions, FakeToken, Route53Fake, Route53FakeOptions, is_ci,
};

const CF_TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";
const CFUT: &str = "cfut_0123456789abcdefghijABCDEFGHIJ0123456789abcd";
const CFAT: &str = "cfat_zyxwvutsrqponmlkjihgfedcba9876543210ZYXW_-12";

/// The venv's python (`WILDCERT_SDK_PYTHON` overrides), when boto3 and cloudflare import.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("WILDCERT_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv-moto/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", "import boto3, cloudflare"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(p)
}

#[test]
fn official_clients_accept_the_fakes() {
    let Some(py) = python() else {
        let what =
            "boto3 and the cloudflare package are not in target/venv-moto (run tests/setup.sh)";
        assert!(
            !is_ci(),
            "{what}, and CI=true: this test may not be skipped"
        );
        eprintln!("SKIPPED: {what}");
        return;
    };
    wildcert_testkit::install_crypto_provider();
    let cf = CloudflareFake::start(CloudflareFakeOptions {
        tokens: vec![
            FakeToken::full(CF_TOKEN),
            FakeToken::full(CFUT),
            FakeToken::full(CFAT),
        ],
        ..Default::default()
    })
    .expect("cloudflare fake");
    let r53 = Route53Fake::start(Route53FakeOptions::default()).expect("route53 fake");
    let zone_id = r53.add_zone("example.test", false).expect("zone");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/check_fakes.py");
    let mut child = Command::new(&py)
        .arg(&script)
        .env("CF_BASE_URL", cf.base_url())
        .env("CF_TOKEN", CF_TOKEN)
        .env("CF_TOKEN_CFUT", CFUT)
        .env("CF_TOKEN_CFAT", CFAT)
        .env("CF_ZONE", "example.test")
        .env("CF_ZONE_ID", cf.zone_id("example.test").expect("cf zone"))
        .env("R53_ENDPOINT", r53.endpoint_url())
        .env("R53_AKID", r53.access_key_id())
        .env("R53_SECRET", r53.secret_access_key())
        .env("R53_ZONE", "example.test")
        .env("R53_ZONE_ID", &zone_id)
        // No real AWS configuration or proxy may leak in.
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
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("check_fakes.py did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        status.success(),
        "the official clients disagree with the fakes:\n{text}"
    );
    assert!(text.contains("all checks passed"), "{text}");
}
