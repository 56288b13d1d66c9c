//! More than one bastion on one PostgreSQL store (`[store] url`, docs/multi-host.md): each
//! bastion is a `wildcert` process with its own state directory; certificates, accounts, the
//! journal and locks live in a throwaway PostgreSQL 15 cluster started by the kit.

use std::path::{Path, PathBuf};

use wildcert_testkit::{BindOptions, Postgres};

use crate::lab::{Lab, Run, json};

/// A database shared by the bastions of one test.
pub struct Shared {
    pub pg: Postgres,
    /// The owner role's URL (password inside).
    pub url: String,
    /// The data key file every bastion is given (created by the first run).
    pub key_file: PathBuf,
    /// Holds the key file's directory for the test's lifetime.
    pub _keys: tempfile::TempDir,
}

impl Shared {
    /// `None` when PostgreSQL is missing outside CI.
    pub fn start() -> Option<Shared> {
        if !wildcert_testkit::require_postgres() {
            return None;
        }
        let pg = Postgres::start().expect("PostgreSQL starts");
        let url = pg.create_owner("bastion", "wildcert").expect("owner role");
        let keys = tempfile::tempdir().expect("key dir");
        Some(Shared {
            pg,
            url,
            key_file: keys.path().join("store.key"),
            _keys: keys,
        })
    }
}

/// A config naming `certs` (`name` → domains) through the lab's RFC 2136 provider, on the
/// shared store with a `lease`.
pub fn config(dir: &Path, shared: &Shared, lease: &str, certs: &[(&str, Vec<String>)]) -> PathBuf {
    let mut text = format!(
        "[store]\nurl = \"{}\"\nkey_file = \"{}\"\nlease = \"{lease}\"\n\n[providers.lab]\nkind = \"rfc2136\"\n\n",
        shared.url,
        shared.key_file.display()
    );
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

/// Runs `wildcert` as a bastion with its own state directory `state`.
pub fn bastion(lab: &Lab, state: &Path, args: &[&str]) -> Run {
    let mut cmd = lab.command_at(&lab.pebble.directory_url(), args, &[]);
    // The lab's --state-dir comes first; the last one given wins.
    cmd.arg("--state-dir").arg(state);
    crate::lab::run_bounded(cmd, crate::lab::RUN_LIMIT)
}

/// Certificates issued by Pebble so far.
pub fn issued_at_ca(lab: &Lab) -> usize {
    lab.pebble
        .log()
        .matches("Issued certificate serial")
        .count()
}

#[test]
fn a_second_bastion_finds_what_the_first_stored_and_no_dump_holds_a_private_key() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![
        ("apex", vec!["*.example.test".into(), "example.test".into()]),
        ("www", vec!["www.example.test".into()]),
    ];
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    let cfg_a = config(a.path(), &shared, "60s", &certs);
    let cfg_b = config(b.path(), &shared, "60s", &certs);

    let run = bastion(
        &lab,
        a.path(),
        &[
            "--config",
            cfg_a.to_str().expect("utf-8"),
            "--json",
            "renew",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["issued"], 2, "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 2);
    // The bastion keeps a copy for its hooks and install targets.
    assert!(a.path().join("certs/apex/live/fullchain.pem").exists());

    // Another bastion (its own empty state directory) sees both as stored and orders nothing.
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "--json",
            "renew",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["skipped"], 2, "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 2, "{}", run.all());
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "--json",
            "show",
            "apex",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());

    // Nothing in the database is a usable key, nor is the URL's password in any output.
    let dump = shared.pg.pg_dump("wildcert").expect("pg_dump");
    assert!(
        dump.contains("certs/apex/archive/1/privkey.pem"),
        "the key is in the dump, sealed"
    );
    assert!(!dump.contains("PRIVATE KEY"), "a private key in the dump");
    let pw = shared
        .url
        .split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .expect("password");
    assert!(!run.all().contains(pw));
    // The journal is empty and no record is left.
    assert!(!dump.contains("journal/"), "{dump}");
    assert!(lab.primary_txt("_acme-challenge.example.test").is_empty());
}

#[test]
fn a_bastion_given_another_data_key_is_refused_before_it_orders_anything() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("www", vec!["www.example.test".to_string()])];
    let a = tempfile::tempdir().expect("a");
    let cfg_a = config(a.path(), &shared, "60s", &certs);
    let run = bastion(
        &lab,
        a.path(),
        &["--config", cfg_a.to_str().expect("utf-8"), "renew"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());

    // Bastion B was not given the key file: its first run must not make a key of its own
    // (the versions it sealed could be opened by no other host).
    let b = tempfile::tempdir().expect("b");
    let mut text = std::fs::read_to_string(&cfg_a).expect("config");
    let own_key = b.path().join("store.key");
    text = text.replace(
        &shared.key_file.display().to_string(),
        &own_key.display().to_string(),
    );
    let cfg_b = b.path().join("wildcert.toml");
    std::fs::write(&cfg_b, text).expect("config b");
    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "renew",
            "--force",
        ],
    );
    assert_ne!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("data key"), "{}", run.all());
    assert!(
        run.stderr.contains("copy the data key file"),
        "the hint says what to do: {}",
        run.all()
    );
    assert_eq!(issued_at_ca(&lab), 1, "nothing ordered: {}", run.all());
    assert!(
        !own_key.exists(),
        "the key made for it is not left behind: {}",
        run.all()
    );
}

#[test]
fn a_run_that_ended_leaves_no_lease_behind_for_the_next_bastion() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("www", vec!["www.example.test".to_string()])];
    let a = tempfile::tempdir().expect("a");
    let b = tempfile::tempdir().expect("b");
    // A long lease: a lease left held would make the next run skip the certificate.
    let cfg_a = config(a.path(), &shared, "300s", &certs);
    let cfg_b = config(b.path(), &shared, "300s", &certs);
    let run = bastion(
        &lab,
        a.path(),
        &["--config", cfg_a.to_str().expect("utf-8"), "renew"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let held = || {
        shared
            .pg
            .psql(
                "wildcert",
                "SELECT count(*) FROM wildcert_leases WHERE expires_at > now()",
            )
            .expect("psql")
            .trim()
            .to_owned()
    };
    assert_eq!(held(), "0", "leases still held after the run");
    // A command whose last step is under a lock (the guard drops just before the process
    // exits): `show` takes none, `delete` does.
    let bare = tempfile::tempdir().expect("bare");
    let cfg_bare = config(bare.path(), &shared, "300s", &[]);
    let run = bastion(
        &lab,
        a.path(),
        &[
            "--config",
            cfg_bare.to_str().expect("utf-8"),
            "delete",
            "www",
            "--yes",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        held(),
        "0",
        "the lease of `delete` is still held after it exited"
    );
    let run = bastion(
        &lab,
        a.path(),
        &["--config", cfg_a.to_str().expect("utf-8"), "renew"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());

    let run = bastion(
        &lab,
        b.path(),
        &[
            "--config",
            cfg_b.to_str().expect("utf-8"),
            "--json",
            "renew",
            "--force",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["renewed"], 1, "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 3);
}

#[test]
fn rotating_the_data_key_reseals_every_key_and_a_host_left_with_the_old_one_is_refused() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let certs = vec![("www", vec!["www.example.test".to_string()])];
    let a = tempfile::tempdir().expect("a");
    let cfg_a = config(a.path(), &shared, "60s", &certs);
    let cfg = cfg_a.to_str().expect("utf-8");
    let run = bastion(&lab, a.path(), &["--config", cfg, "renew"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let sealed_before = shared.pg.pg_dump("wildcert").expect("dump");

    // The key in use is not a new key.
    let same = shared.key_file.to_str().expect("utf-8");
    let run = bastion(
        &lab,
        a.path(),
        &[
            "--config",
            cfg,
            "store",
            "rotate-key",
            "--new-key-file",
            same,
        ],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());

    let new_key = a.path().join("new.key");
    let run = bastion(
        &lab,
        a.path(),
        &[
            "--config",
            cfg,
            "--json",
            "store",
            "rotate-key",
            "--new-key-file",
            new_key.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    // Every sealed object: the certificate's key, the account's key and its registration.
    let sealed = shared
        .pg
        .psql(
            "wildcert",
            "SELECT count(*) FROM wildcert_objects WHERE sealed",
        )
        .expect("psql");
    assert_eq!(v["resealed"].to_string(), sealed.trim(), "{}", run.all());
    assert!(
        v["resealed"].as_u64().is_some_and(|n| n >= 2),
        "{}",
        run.all()
    );
    assert_ne!(v["old_key_id"], v["new_key_id"]);
    let dump = shared.pg.pg_dump("wildcert").expect("dump");
    assert_ne!(dump, sealed_before, "the sealed values changed");
    assert!(!dump.contains("PRIVATE KEY"));

    // A host still given the old key: refused before it orders anything.
    let run = bastion(&lab, a.path(), &["--config", cfg, "renew", "--force"]);
    assert_ne!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("sealed with data key"), "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 1);

    // With the new key, everything opens: a forced renewal reuses the account.
    let text = std::fs::read_to_string(&cfg_a).expect("config").replace(
        &shared.key_file.display().to_string(),
        &new_key.display().to_string(),
    );
    std::fs::write(&cfg_a, text).expect("config");
    let run = bastion(
        &lab,
        a.path(),
        &["--config", cfg, "--json", "renew", "--force"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["renewed"], 1, "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 2);
}
