//! A certificate's life from `issue` on: `renew` renews what `issue` made (with the request
//! it recorded), a `[[certificate]]` entry wins for its name, and `delete` takes it out of
//! the store and of renewal.

use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, json};

/// `wildcert issue` of `name` for `domain` with a deploy hook that appends `tag` to `log`.
fn issue(lab: &Lab, name: &str, domain: &str, log: &Path, tag: &str) -> Run {
    let hook = format!(
        "echo \"{tag} $WILDCERT_CERT_NAME $WILDCERT_CERT_VERSION\" >> {}",
        log.display()
    );
    let run = lab.wildcert(
        &[
            "--json",
            "issue",
            "-d",
            domain,
            "--cert-name",
            name,
            "--dns",
            "rfc2136",
            "--key-type",
            "ec384",
            "--deploy-hook",
            &hook,
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    run
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The names in a `renew --json` document, each with its outcome.
fn outcomes(run: &Run) -> Vec<(String, String)> {
    json(run)["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no certificates array: {}", run.all()))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn config(lab: &Lab, body: &str) -> PathBuf {
    let path = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &path,
        format!("[providers.lab]\nkind = \"rfc2136\"\n\n{body}"),
    )
    .expect("write config");
    path
}

#[test]
fn renew_without_config_renews_what_issue_made_with_its_recorded_request() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "issued");
    assert_eq!(lines(&log), ["issued www 1"]);

    // The request is recorded with the certificate, and `show` says renew takes it from there.
    let run = lab.wildcert(&["--json", "show", "www"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["certificate"]["renewal"]["source"],
        "recorded",
        "{}",
        run.all()
    );
    let req = &v["certificate"]["meta"]["request"];
    assert_eq!(req["domains"], serde_json::json!(["www.example.test"]));
    assert_eq!(req["provider"], "rfc2136");
    assert_eq!(req["key_type"], "ec384");
    assert_eq!(req["server"], lab.pebble.directory_url().as_str());

    // No config at all: renew --force renews it (version 2), with the recorded hook and key type.
    let run = lab.wildcert(&["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert_eq!(json(&run)["certificates"][0]["certificate"]["version"], 2);
    assert!(
        lab.state_dir()
            .join("certs/www/archive/2/cert.pem")
            .exists()
    );
    assert_eq!(lines(&log), ["issued www 1", "issued www 2"]);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.state_dir().join("certs/www/meta.json")).expect("meta"),
    )
    .expect("meta.json");
    assert_eq!(meta["key_type"], "ec384", "{meta}");
    // Still recorded after the renewal: the next renew finds it again (and it is not due).
    assert_eq!(meta["request"]["provider"], "rfc2136", "{meta}");
    let run = lab.wildcert(&["--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "skipped".to_string())],
        "{}",
        run.all()
    );

    // A run against another CA does not renew it there; it says why.
    let other = "https://127.0.0.1:9/dir";
    let run = lab.wildcert_at(other, &["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["certificates"][0]["outcome"], "skipped", "{}", run.all());
    let detail = v["certificates"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("recorded by `issue` with the CA") && detail.contains(other),
        "{}",
        run.all()
    );
    assert_eq!(lines(&log).len(), 2);
}

#[test]
fn a_config_entry_wins_over_the_recorded_request_for_its_name() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "recorded");
    let cfg = config(
        &lab,
        &format!(
            "[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\nkey_type = \"ec256\"\ndeploy_hook = \"echo \\\"config $WILDCERT_CERT_NAME $WILDCERT_CERT_VERSION\\\" >> {}\"\n",
            log.display()
        ),
    );
    let cfg = cfg.to_str().expect("utf-8");
    let run = lab.wildcert(&["--config", cfg, "--json", "show", "www"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["certificate"]["renewal"]["source"], "config");
    let run = lab.wildcert(&["--config", cfg, "show", "www"], &[]);
    assert!(
        run.stdout.contains("[[certificate]] in the config"),
        "{}",
        run.all()
    );

    let run = lab.wildcert(&["--config", cfg, "--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    // Once, by the config's entry: its hook and key type, not the recorded ones.
    assert_eq!(
        outcomes(&run),
        [("www".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert_eq!(lines(&log), ["recorded www 1", "config www 2"]);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.state_dir().join("certs/www/meta.json")).expect("meta"),
    )
    .expect("meta.json");
    assert_eq!(meta["key_type"], "ec256", "{meta}");
}

#[test]
fn delete_asks_refuses_without_a_terminal_and_takes_the_certificate_out_of_renewal() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let log = lab.state_dir().join("hook.log");
    issue(&lab, "www", "www.example.test", &log, "issued");
    issue(&lab, "api", "api.example.test", &log, "issued");
    let www = lab.state_dir().join("certs/www");

    // stdin is not a terminal and no --yes: refused, nothing removed.
    let run = lab.wildcert(&["delete", "www"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("needs confirmation") && run.stderr.contains("--yes"),
        "{}",
        run.all()
    );
    assert!(www.join("meta.json").exists());

    // A name the config still has is refused with the way forward.
    let cfg = config(
        &lab,
        "[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nprovider = \"lab\"\n",
    );
    let run = lab.wildcert(
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "delete",
            "www",
            "--yes",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("still a [[certificate]] in the config")
            && run.stderr.contains("remove its [[certificate]] entry"),
        "{}",
        run.all()
    );
    assert!(www.join("meta.json").exists());

    // --yes: gone from the store and from list.
    let run = lab.wildcert(&["--json", "delete", "www", "--yes"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["deleted"]["name"], "www", "{}", run.all());
    assert!(!www.exists(), "{} still exists", www.display());
    let run = lab.wildcert(&["--json", "list"], &[]);
    let v = json(&run);
    let names: Vec<&str> = v["certificates"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["api"], "{}", run.all());

    // The following renew renews only what is left, and does not bring www back.
    let run = lab.wildcert(&["--json", "renew", "--force"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        outcomes(&run),
        [("api".to_string(), "renewed".to_string())],
        "{}",
        run.all()
    );
    assert!(!www.exists());

    // --revoke: revoked at the CA first, then removed; then nothing is left to renew.
    let run = lab.wildcert(&["--json", "delete", "api", "--revoke", "--yes"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        json(&run)["deleted"]["revoked"]["serial"].is_string(),
        "{}",
        run.all()
    );
    assert!(!lab.state_dir().join("certs/api").exists());
    let run = lab.wildcert(&["renew", "--force"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("nothing to renew"), "{}", run.all());
}
