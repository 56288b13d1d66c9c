//! `wildcert list | show | revoke | account …` end to end, against Pebble.

use std::path::{Path, PathBuf};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, json};

fn issue(lab: &Lab, names: &[&str]) -> Run {
    let mut args = vec!["--json", "issue", "--dns", "rfc2136"];
    for n in names {
        args.push("-d");
        args.push(n);
    }
    lab.wildcert(&args, &[])
}

fn issue_ok(lab: &Lab, names: &[&str]) -> serde_json::Value {
    let run = issue(lab, names);
    assert_eq!(run.code, Some(0), "{}", run.all());
    json(&run)
}

fn meta(lab: &Lab, name: &str) -> serde_json::Value {
    let p = lab.state_dir().join("certs").join(name).join("meta.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("meta.json parses")
}

/// `accounts/<ca-host>/`: the one directory under `accounts/`.
fn ca_accounts(lab: &Lab) -> PathBuf {
    let dir = lab.state_dir().join("accounts");
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("accounts dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    hosts.remove(0)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn list_show_and_revoke_with_account_key() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let issued = issue_ok(&lab, &["*.example.test", "example.test"]);
    let serial = issued["certificate"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();

    // list: one entry, from meta.json.
    let run = lab.wildcert(&["--json", "list"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], true);
    let certs = v["certificates"].as_array().expect("array");
    assert_eq!(certs.len(), 1, "{}", run.all());
    assert_eq!(certs[0]["name"], "example.test");
    assert_eq!(certs[0]["version"], 1);
    assert_eq!(certs[0]["provider"], "rfc2136");
    assert_eq!(certs[0]["last_error"], serde_json::Value::Null);
    assert!(
        certs[0]["days_left"].as_i64().is_some_and(|d| d > 0),
        "{}",
        run.all()
    );
    assert_eq!(certs[0]["not_after"], issued["certificate"]["not_after"]);
    // Human form.
    let run = lab.wildcert(&["list"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("example.test") && run.stdout.contains("NAME"),
        "{}",
        run.all()
    );

    // show: parsed live certificate, files, renewal state, archive.
    let run = lab.wildcert(&["--json", "show", "example.test"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    let c = &v["certificate"];
    assert_eq!(c["live"]["serial"], serial.as_str(), "{}", run.all());
    let mut names: Vec<&str> = c["live"]["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["*.example.test", "example.test"]);
    assert!(c["live"]["issuer"].is_string(), "{}", run.all());
    assert_eq!(c["archive_versions"], serde_json::json!([1]));
    assert_eq!(c["renewal"]["action"], "skip", "{}", run.all());
    assert_eq!(c["renewal"]["configured"], false);
    assert_eq!(
        c["files"]["fullchain"].as_str().map(PathBuf::from),
        Some(lab.live("example.test").join("fullchain.pem"))
    );
    assert_eq!(c["meta"]["provider"], "rfc2136");

    // Unknown name: exit 2, and the hint points at `wildcert list`.
    let run = lab.wildcert(&["show", "nope.test"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("nope.test") && run.stderr.contains("wildcert list"),
        "{}",
        run.all()
    );
    let run = lab.wildcert(&["--json", "show", "nope.test"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 2);

    // A reason that does not exist is refused before anything is sent.
    let run = lab.wildcert(&["revoke", "example.test", "--reason", "stolen"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(meta(&lab, "example.test").get("revoked_at").is_none());

    // revoke with the account key; meta marks it for re-issue.
    let run = lab.wildcert(
        &[
            "--json",
            "revoke",
            "example.test",
            "--reason",
            "keyCompromise",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["revoked"]["already_revoked"], false, "{}", run.all());
    assert_eq!(v["revoked"]["reason"], "keyCompromise");
    assert_eq!(v["revoked"]["signed_with"], "account_key");
    assert_eq!(v["revoked"]["serial"], serial.as_str());
    let revoked_at = meta(&lab, "example.test")["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{}", run.all());
    assert_eq!(v["revoked"]["revoked_at"], revoked_at);

    // A second revoke: the CA says alreadyRevoked; still ok, and said clearly.
    let run = lab.wildcert(&["--json", "revoke", "example.test", "--reason", "1"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["revoked"]["already_revoked"], true, "{}", run.all());
    assert_eq!(meta(&lab, "example.test")["revoked_at"], revoked_at);
    let run = lab.wildcert(&["revoke", "example.test"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("already revoked"), "{}", run.all());

    // show and list now say it is revoked and due for re-issue.
    let v = json(&lab.wildcert(&["--json", "show", "example.test"], &[]));
    assert_eq!(v["certificate"]["renewal"]["action"], "issue");
    assert_eq!(v["certificate"]["renewal"]["reason"], "revoked");
    let v = json(&lab.wildcert(&["--json", "list"], &[]));
    assert_eq!(v["certificates"][0]["revoked_at"], revoked_at);
}

#[test]
fn revoke_with_the_certificate_key() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    issue_ok(&lab, &["www.example.test"]);
    let run = lab.wildcert(
        &[
            "--json",
            "revoke",
            "www.example.test",
            "--with-cert-key",
            "--reason",
            "SUPERSEDED",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["revoked"]["signed_with"],
        "certificate_key",
        "{}",
        run.all()
    );
    assert_eq!(v["revoked"]["reason"], "superseded");
    assert_eq!(v["revoked"]["already_revoked"], false);
    assert!(meta(&lab, "www.example.test")["revoked_at"].is_string());
    // The private key never shows up in the output.
    let key =
        std::fs::read_to_string(lab.live("www.example.test").join("privkey.pem")).expect("key");
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!run.stdout.contains(&body) && !run.stderr.contains(&body));
    let run = lab.wildcert(
        &["--json", "revoke", "www.example.test", "--with-cert-key"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        json(&run)["revoked"]["already_revoked"],
        true,
        "{}",
        run.all()
    );
    // Without a stored account, the account key cannot sign: the hint names --with-cert-key.
    let accounts = lab.state_dir().join("accounts");
    std::fs::rename(&accounts, lab.state_dir().join("accounts.away")).expect("move accounts");
    let run = lab.wildcert(&["revoke", "www.example.test"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("--with-cert-key"), "{}", run.all());
    // Unknown certificate.
    let run = lab.wildcert(&["revoke", "nope.test"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("wildcert list"), "{}", run.all());
}

#[test]
fn account_register_show_and_rollover() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    // Nothing stored yet: `show` says how to create it.
    let run = lab.wildcert(&["account", "show"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("account register"), "{}", run.all());

    // Pebble has terms of service: without --agree-tos, exit 2 naming them.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wildcert"));
    cmd.arg("--server")
        .arg(lab.pebble.directory_url())
        .arg("--ca-bundle")
        .arg(lab.pebble.ca_cert_path())
        .arg("--state-dir")
        .arg(lab.state_dir())
        .args(["account", "register"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = crate::lab::run_bounded(cmd, crate::lab::RUN_LIMIT);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr.contains("terms of service") && run.stderr.contains("--agree-tos"),
        "{}",
        run.all()
    );

    let run = lab.wildcert(&["--json", "account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    let url = v["account"]["url"].as_str().expect("url").to_string();
    assert!(
        v["account"]["terms_of_service"].is_string(),
        "{}",
        run.all()
    );
    assert_eq!(v["account"]["registered_now"], true);
    assert_eq!(v["account"]["ca"]["status"], "valid");
    assert_eq!(v["account"]["key"]["key_type"], "ec256");
    let run = lab.wildcert(&["--json", "account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["account"]["registered_now"], false);
    assert_eq!(json(&run)["account"]["url"], url.as_str());

    let run = lab.wildcert(&["--json", "account", "show"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["account"]["url"], url.as_str());
    assert_eq!(v["account"]["ca"]["status"], "valid");
    assert_eq!(
        v["account"]["ca"]["contact"],
        serde_json::json!(["mailto:e2e@example.test"])
    );
    assert_eq!(
        v["account"]["contact"],
        serde_json::json!(["e2e@example.test"])
    );
    assert!(v["account"]["created"].is_string());
    let thumb = v["account"]["key"]["thumbprint"]
        .as_str()
        .expect("thumb")
        .to_string();

    // rollover: new key at the CA and on disk, nothing left over, the account still works.
    let account_dir = ca_accounts(&lab).join("default");
    let key_before = std::fs::read_to_string(account_dir.join("key.pem")).expect("key");
    let run = lab.wildcert(
        &["--json", "account", "rollover", "--key-type", "ec384"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["rollover"]["old_key"]["thumbprint"], thumb.as_str());
    assert_eq!(v["rollover"]["new_key"]["key_type"], "ec384");
    let key_after = std::fs::read_to_string(account_dir.join("key.pem")).expect("key");
    assert_ne!(key_before, key_after);
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(account_dir.join("key.pem"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let v = json(&lab.wildcert(&["--json", "account", "show"], &[]));
    assert_eq!(v["account"]["url"], url.as_str());
    assert_eq!(v["account"]["key"]["algorithm"], "ES384");
    assert_ne!(v["account"]["key"]["thumbprint"], thumb.as_str());
    // The default keeps the type.
    let run = lab.wildcert(&["--json", "account", "rollover"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["rollover"]["new_key"]["key_type"], "ec384");

    // Issuing with the rolled-over account works.
    issue_ok(&lab, &["www.example.test"]);
    let v = json(&lab.wildcert(&["--json", "account", "show"], &[]));
    assert_eq!(v["account"]["url"], url.as_str());
}

/// Roll the key over at the CA directly (as a run that dies before its rename would).
fn rollover_at_ca_only(lab: &Lab, account_dir: &Path, new_key: &wildcert_acme::AccountKey) {
    wildcert_testkit::install_crypto_provider();
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(account_dir.join("account.json")).expect("account.json"),
    )
    .expect("json");
    let url = record["url"].as_str().expect("url").to_string();
    let old = wildcert_acme::AccountKey::from_pem(
        &std::fs::read_to_string(account_dir.join("key.pem")).expect("key"),
    )
    .expect("key parses");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = wildcert_acme::ClientConfig {
            directory_url: lab.pebble.directory_url(),
            extra_roots_pem: Some(lab.pebble.ca_cert_pem().as_bytes().to_vec()),
            ..Default::default()
        };
        let client = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            wildcert_acme::AcmeClient::new(config),
        )
        .await
        .expect("directory in time")
        .expect("client");
        let account = client.account(old, url);
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            account.rollover(new_key.clone()),
        )
        .await
        .expect("rollover in time")
        .expect("rollover accepted");
    });
}

#[test]
fn interrupted_rollover_is_finished_or_undone_by_the_next_account_command() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(&["--json", "account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let url = json(&run)["account"]["url"].clone();
    let account_dir = ca_accounts(&lab).join("default");
    let key_path = account_dir.join("key.pem");
    let original = std::fs::read_to_string(&key_path).expect("key");

    // Died before the CA answered (or the CA refused): the CA does not know `key.pem.new`,
    // so it is dropped and the old key stays.
    let unknown =
        wildcert_acme::AccountKey::generate(wildcert_acme::AccountKeyType::EcdsaP256).expect("key");
    std::fs::write(account_dir.join("key.pem.new"), unknown.to_pem()).expect("write");
    std::fs::write(account_dir.join("key.pem.old-20260101T000000Z"), &original).expect("write");
    let run = lab.wildcert(&["--json", "account", "show"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        json(&run)["account"]["recovered_rollover"],
        "undone",
        "{}",
        run.all()
    );
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
    assert_eq!(std::fs::read_to_string(&key_path).expect("key"), original);

    // Died after the CA accepted the new key, before the rename: the next command switches.
    let new =
        wildcert_acme::AccountKey::generate(wildcert_acme::AccountKeyType::EcdsaP256).expect("key");
    std::fs::write(account_dir.join("key.pem.new"), new.to_pem()).expect("write");
    rollover_at_ca_only(&lab, &account_dir, &new);
    let run = lab.wildcert(&["--json", "account", "show"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(
        v["account"]["recovered_rollover"],
        "completed",
        "{}",
        run.all()
    );
    assert_eq!(v["account"]["url"], url);
    assert_eq!(v["account"]["key"]["thumbprint"], new.thumbprint());
    assert_eq!(v["account"]["ca"]["status"], "valid");
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);

    // The same crash, then `issue` straight away: it settles the rollover before using the key.
    let newer =
        wildcert_acme::AccountKey::generate(wildcert_acme::AccountKeyType::EcdsaP256).expect("key");
    std::fs::write(account_dir.join("key.pem.new"), newer.to_pem()).expect("write");
    rollover_at_ca_only(&lab, &account_dir, &newer);
    let run = lab.wildcert(
        &[
            "issue",
            "-d",
            "after-rollover.example.test",
            "--dns",
            "rfc2136",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
    assert_eq!(
        std::fs::read_to_string(&key_path).expect("key"),
        newer.to_pem()
    );
}

/// A rollover killed after its rename leaves `key.pem.old-<time>` (a private key) and no
/// `key.pem.new` (issue 24 item 4: present in 16 of 40 checks, and kept by later successful
/// rollovers): the next account command or issuance removes it, and so does a rollover.
#[test]
fn copies_of_replaced_account_keys_do_not_stay_behind() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(&["account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let account_dir = ca_accounts(&lab).join("default");
    let original = std::fs::read_to_string(account_dir.join("key.pem")).expect("key");
    let plant = |stamp: &str| {
        std::fs::write(account_dir.join(format!("key.pem.old-{stamp}")), &original).expect("write")
    };
    plant("20260101T000000Z");
    let run = lab.wildcert(&["account", "show"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
    plant("20260102T000000Z");
    let run = lab.wildcert(
        &["issue", "-d", "www.example.test", "--dns", "rfc2136"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
    plant("20260103T000000Z");
    let run = lab.wildcert(&["account", "rollover"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(entries(&account_dir), ["account.json", "key.pem"]);
}

#[test]
fn account_deactivate_needs_yes_then_next_issue_registers_anew() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let run = lab.wildcert(&["--json", "account", "register"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let url = json(&run)["account"]["url"]
        .as_str()
        .expect("url")
        .to_string();

    let run = lab.wildcert(&["account", "deactivate"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("--yes"), "{}", run.all());
    let run = lab.wildcert(&["--json", "account", "deactivate"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert_eq!(json(&run)["ok"], false);
    assert_eq!(
        json(&lab.wildcert(&["--json", "account", "show"], &[]))["account"]["ca"]["status"],
        "valid"
    );

    let run = lab.wildcert(&["--json", "account", "deactivate", "--yes"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["deactivated"]["url"], url.as_str());
    assert_eq!(v["deactivated"]["status"], "deactivated");
    let moved = PathBuf::from(v["deactivated"]["moved_to"].as_str().expect("moved_to"));
    assert!(moved.join("account.json").exists(), "{}", run.all());
    let hosts = ca_accounts(&lab);
    assert!(!hosts.join("default").exists());

    // Nothing stored now; the next issuance registers a fresh account.
    let run = lab.wildcert(&["account", "show"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    issue_ok(&lab, &["www.example.test"]);
    let v = json(&lab.wildcert(&["--json", "account", "show"], &[]));
    assert_eq!(v["account"]["ca"]["status"], "valid");
    assert_ne!(v["account"]["url"], url.as_str());
}
