//! The benchmark runs end to end with a few certificates and prints the documented JSON.
//! (Not timed: the figures depend on the machine.)

use std::process::Command;

#[test]
fn json_run_with_a_few_certificates_has_the_documented_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert-bench"))
        .args(["--stub-ca", "--certs", "3", "--json", "--keep"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let fs = &doc["filesystem"];
    assert_eq!(fs["certs"], 3);
    for key in ["wall_s", "cpu_ms_per_cert", "peak_rss_mb"] {
        assert!(
            fs[key].as_f64().is_some_and(|v| v >= 0.0),
            "filesystem.{key}: {doc}"
        );
    }
    assert!(fs["peak_rss_mb"].as_f64().is_some_and(|v| v > 1.0), "{doc}");
    assert!(doc["none_due"]["wall_s"].as_f64().is_some(), "{doc}");
    assert_eq!(doc["none_due"]["certs"], 3);
    // The PostgreSQL store: figures when a throwaway cluster could start (always under
    // CI=true), else why not.
    let pg = doc["postgresql"].as_object().expect("postgresql member");
    if pg.contains_key("skipped") && std::env::var("CI").as_deref() != Ok("true") {
        eprintln!("SKIPPED postgresql: {doc}");
    } else {
        assert_eq!(pg.get("certs"), Some(&serde_json::json!(3)), "{doc}");
        for key in [
            "wall_s",
            "cpu_ms_per_cert",
            "peak_rss_mb",
            "server_cpu_ms_per_cert",
            "statements_per_cert",
        ] {
            assert!(
                pg.get(key)
                    .and_then(|v| v.as_f64())
                    .is_some_and(|v| v >= 0.0),
                "postgresql.{key}: {doc}"
            );
        }
        assert_eq!(doc["postgresql"]["none_due"]["certs"], 3, "{doc}");
        // The product wrote through the database: the PostgreSQL phase's state directory holds
        // the data key it made, and the statements were counted.
        assert!(dir.path().join("postgresql/store.key").is_file());
        assert!(
            pg["statements_per_cert"].as_f64().is_some_and(|v| v > 1.0),
            "{doc}"
        );
    }
    // The store really holds the three certificates, each with its key.
    for i in 0..3 {
        let live = dir
            .path()
            .join("state/certs")
            .join(wildcert_bench::cert_domain(i))
            .join("live");
        assert!(live.join("fullchain.pem").is_file(), "{}", live.display());
        assert!(live.join("privkey.pem").is_file(), "{}", live.display());
    }
}

#[test]
fn without_stub_ca_it_refuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert-bench"))
        .args(["--certs", "1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stub-ca"));
}
