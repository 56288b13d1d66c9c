//! `wildcert store migrate`: a filesystem store moved into PostgreSQL and back, every
//! version, `live` and `meta.json` kept and verified; refused while the journal holds entries
//! or when the target holds the name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, Run, json, run_bounded};
use crate::multihost::{Shared, bastion, issued_at_ca};

/// The certificates of these tests: a wildcard with its apex, and one name.
fn certs() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("apex", vec!["*.example.test".into(), "example.test".into()]),
        ("www", vec!["www.example.test".into()]),
    ]
}

/// A filesystem-store config (no `[store] url`) naming `certs` through the lab's provider,
/// its data key file (for the database it is migrated into) being the shared one.
fn fs_config(dir: &Path, shared: &Shared, certs: &[(&str, Vec<String>)]) -> PathBuf {
    let mut text = format!("[store]\nkey_file = \"{}\"\n\n", shared.key_file.display());
    if !certs.is_empty() {
        text.push_str("[providers.lab]\nkind = \"rfc2136\"\n\n");
    }
    for (name, domains) in certs {
        let list: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
        text.push_str(&format!(
            "[[certificate]]\nname = \"{name}\"\ndomains = [{}]\nprovider = \"lab\"\n\n",
            list.join(", ")
        ));
    }
    let path = dir.join("wildcert.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every file below `certs/` and `accounts/` of a state directory (relative path → bytes),
/// and each `live` link as `-> <target>`.
fn tree(state: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>, depth: u32) {
        assert!(depth < 8, "too deep: {}", dir.display());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.expect("entry");
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            let kind = e.file_type().expect("type");
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).expect("link");
                out.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else if kind.is_dir() {
                walk(root, &path, out, depth + 1);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    for top in ["certs", "accounts"] {
        walk(state, &state.join(top), &mut out, 0);
    }
    out
}

/// The serial of the live certificate `name` as `show --json` reads it.
fn serial(run: &Run) -> String {
    json(run)["certificate"]["live"]["serial"]
        .as_str()
        .unwrap_or_else(|| panic!("no serial: {}", run.all()))
        .to_owned()
}

#[test]
fn a_filesystem_store_moves_into_postgresql_and_back_every_version_verified() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = certs();
    let conf = tempfile::tempdir().expect("config dir");
    let cfg_fs = fs_config(conf.path(), &shared, &certs);
    let cfg_fs = cfg_fs.to_str().expect("utf-8");
    let pg_conf = tempfile::tempdir().expect("config dir");
    let cfg_pg = crate::multihost::config(pg_conf.path(), &shared, "3s", &certs);
    let cfg_pg = cfg_pg.to_str().expect("utf-8");

    // Two certificates on the filesystem store; `www` renewed once, so it has two versions.
    let run = lab.wildcert(&["--config", cfg_fs, "--json", "renew"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let run = lab.wildcert(
        &[
            "--config",
            cfg_fs,
            "--json",
            "renew",
            "--force",
            "--cert-name",
            "www",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 3);
    let before = tree(lab.state_dir());
    assert!(before.contains_key("certs/www/archive/2/privkey.pem"));
    assert_eq!(before["certs/www/live"], b"-> archive/2");
    let serials: Vec<String> = ["apex", "www"]
        .iter()
        .map(|n| serial(&lab.wildcert(&["--config", cfg_fs, "--json", "show", n], &[])))
        .collect();

    // Into the database: every certificate reported verified with its versions and live one.
    let run = lab.wildcert(
        &[
            "--config",
            cfg_fs,
            "--json",
            "store",
            "migrate",
            "--to",
            &shared.url,
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["ok"], true, "{}", run.all());
    let by_name = |name: &str| {
        doc["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not reported: {}", run.all()))
            .clone()
    };
    let apex = by_name("apex");
    let www = by_name("www");
    assert_eq!(
        (&apex["status"], &apex["verified"], &apex["live"]),
        (&"copied".into(), &true.into(), &1.into()),
        "{apex}"
    );
    assert_eq!(apex["versions"], serde_json::json!([1]));
    assert_eq!(
        (&www["status"], &www["verified"], &www["live"]),
        (&"copied".into(), &true.into(), &2.into()),
        "{www}"
    );
    assert_eq!(www["versions"], serde_json::json!([1, 2]));
    // Two versions of four PEM files and their meta.json, plus the certificate's meta.json.
    assert_eq!(www["files"], 11, "{www}");
    let accounts = doc["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 1, "{}", run.all());
    assert_eq!(accounts[0]["verified"], true);
    let switch = doc["switch"].to_string();
    assert!(switch.contains("url = "), "{switch}");
    let password = shared
        .url
        .split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .expect("password");
    assert!(!run.all().contains(password), "{}", run.all());
    // The source is untouched.
    assert_eq!(tree(lab.state_dir()), before, "the source changed");

    // A bastion on the database: nothing is due, nothing is ordered, the same serials.
    let b = tempfile::tempdir().expect("bastion dir");
    let run = bastion(&lab, b.path(), &["--config", cfg_pg, "--json", "renew"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["skipped"], 2, "{}", run.all());
    assert!(
        !run.stdout.contains("locked") && !run.stdout.contains("another wildcert run"),
        "skipped as not due, not as held by the migration: {}",
        run.all()
    );
    assert_eq!(issued_at_ca(&lab), 3, "{}", run.all());
    for (name, want) in ["apex", "www"].iter().zip(&serials) {
        let run = bastion(
            &lab,
            b.path(),
            &["--config", cfg_pg, "--json", "show", name],
        );
        assert_eq!(run.code, Some(0), "{}", run.all());
        assert_eq!(&serial(&run), want, "{name}");
        assert_eq!(
            json(&run)["certificate"]["archive_versions"],
            if *name == "www" {
                serde_json::json!([1, 2])
            } else {
                serde_json::json!([1])
            }
        );
    }
    let dump = shared.pg.pg_dump("wildcert").expect("pg_dump");
    assert!(
        dump.contains("certs/www/archive/1/privkey.pem"),
        "old versions too"
    );
    assert!(!dump.contains("PRIVATE KEY"), "a private key in the dump");

    // Migrating into a database that holds these certificates is refused; nothing changes.
    let run = lab.wildcert(
        &["--config", cfg_fs, "store", "migrate", "--to", &shared.url],
        &[],
    );
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(
        run.stderr.contains("already holds certificate `apex`") && run.stderr.contains("--replace"),
        "{}",
        run.all()
    );
    let after = shared.pg.pg_dump("wildcert").expect("pg_dump");
    assert!(after == dump, "a refused migration wrote");

    // Back out into an empty directory: the same tree, every version, live and meta.json.
    let back = tempfile::tempdir().expect("back");
    let back_dir = back.path().join("state");
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_pg,
            "--json",
            "store",
            "migrate",
            "--to",
            back_dir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["ok"], true, "{}", run.all());
    assert!(
        doc["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .all(|c| c["verified"] == true),
        "{}",
        run.all()
    );
    let returned = tree(&back_dir);
    assert_eq!(
        returned.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &before {
        assert!(
            returned[path] == *bytes,
            "{path} differs after the round trip"
        );
    }
    // The directory is a working store: the key is private there again.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(back_dir.join("certs/www/archive/2/privkey.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "key mode {mode:o}");

    // Into a directory that holds them: refused, the directory unchanged; --replace replaces.
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_pg,
            "store",
            "migrate",
            "--to",
            back_dir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(run.stderr.contains("already holds"), "{}", run.all());
    assert_eq!(tree(&back_dir), returned);
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_pg,
            "--json",
            "store",
            "migrate",
            "--to",
            back_dir.to_str().expect("utf-8"),
            "--replace",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["certificates"][0]["status"], "replaced");
    assert_eq!(tree(&back_dir), returned);
}

#[test]
fn a_journal_entry_refuses_the_migration_and_nothing_is_copied() {
    let Some(shared) = Shared::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state");
    // An account to copy, and a journal entry of a run that published records.
    let account = state.join("accounts/ca.example/default");
    std::fs::create_dir_all(&account).expect("account dir");
    std::fs::create_dir_all(state.join("journal")).expect("journal dir");
    use std::os::unix::fs::PermissionsExt;
    for d in [
        state.clone(),
        state.join("accounts"),
        state.join("accounts/ca.example"),
        account.clone(),
        state.join("journal"),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    std::fs::write(account.join("account.json"), "{}\n").expect("account");
    let entry = state.join("journal/1-999999999-00000000.json");
    std::fs::write(&entry, "{}\n").expect("journal entry");
    let cfg = fs_config(dir.path(), &shared, &[]);

    let mut cmd = Command::new(crate::lab::bin());
    cmd.arg("--config")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state)
        .args(["store", "migrate", "--to", &shared.url])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_bounded(cmd, crate::lab::RUN_LIMIT);
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(
        run.stderr.contains("journal holds 1 entry") && run.stderr.contains("wildcert renew"),
        "{}",
        run.all()
    );
    let dump = shared.pg.pg_dump("wildcert").expect("pg_dump");
    assert!(!dump.contains("accounts/"), "copied despite the journal");
    assert!(entry.exists(), "the journal entry is the source's, kept");
}
