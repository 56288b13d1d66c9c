//! Consumers pull (`wildcert sync --to DIR`, docs/multi-host.md): a web server with a database
//! role that may only read the shared store gets the live versions a bastion stored, writes
//! them atomically when they changed and reloads once; the same role cannot write.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wildcert_testkit::BindOptions;

use crate::lab::{Lab, RUN_LIMIT, Run, bin, json, run_bounded};
use crate::multihost::{Shared, bastion, config, issued_at_ca};

/// The consumer's config: the store through `url`, the data key at `key_file`, and `certs`
/// (for a consumer that tries to renew).
fn consumer_config(dir: &Path, url: &str, key_file: &Path, certs: &[(&str, &str)]) -> PathBuf {
    let mut text = format!(
        "[store]\nurl = \"{url}\"\nkey_file = \"{}\"\n\n",
        key_file.display()
    );
    if !certs.is_empty() {
        text.push_str("[providers.lab]\nkind = \"rfc2136\"\n\n");
    }
    for (name, domain) in certs {
        text.push_str(&format!(
            "[[certificate]]\nname = \"{name}\"\ndomains = [\"{domain}\"]\nprovider = \"lab\"\n\n"
        ));
    }
    let path = dir.join("consumer.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A copy of the bastions' data key, as an admin would give a consumer (mode 0600).
fn copy_key(shared: &Shared, to: &Path) -> PathBuf {
    let key = to.join("store.key");
    std::fs::copy(&shared.key_file, &key).expect("copy the data key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    key
}

/// `wildcert sync` (or any command) on the consumer: its own state directory, no CA.
fn consumer_cmd(cfg: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn consumer(cfg: &Path, state: &Path, args: &[&str]) -> Run {
    run_bounded(consumer_cmd(cfg, state, args), RUN_LIMIT)
}

fn reloads(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The status of each certificate in a `sync --json` document, by name.
fn statuses(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn no_secret(run: &Run, password: &str) {
    let all = run.all();
    assert!(
        !all.contains("PRIVATE KEY"),
        "a private key in the output: {all}"
    );
    assert!(!all.contains(password), "the password in the output: {all}");
}

fn password(url: &str) -> String {
    url.split(':')
        .nth(2)
        .and_then(|s| s.split('@').next())
        .expect("password in the URL")
        .to_owned()
}

#[test]
fn a_read_only_consumer_syncs_what_the_bastion_renews_and_reloads_once_per_change() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let reader = shared
        .pg
        .create_reader("consumer", "wildcert", "bastion")
        .expect("reader role");
    let certs = vec![
        ("apex", vec!["*.example.test".into(), "example.test".into()]),
        ("www", vec!["www.example.test".into()]),
    ];
    let b = tempfile::tempdir().expect("bastion");
    let cfg_b = config(b.path(), &shared, "60s", &certs);
    // The bastion's own install target (of `www`, the last entry): on a shared store its
    // files are read from the database.
    let target = b.path().join("target");
    let mut text = read(&cfg_b);
    text.push_str(&format!(
        "install = [{{ dir = \"{}\", layout = \"lego\" }}]\n",
        target.display()
    ));
    std::fs::write(&cfg_b, text).expect("config");
    let cfg_b = cfg_b.to_str().expect("utf-8");
    let run = bastion(&lab, b.path(), &["--config", cfg_b, "--json", "renew"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 2);
    assert_eq!(
        read(&target.join("www.example.test.key")),
        read(&b.path().join("certs/www/live/privkey.pem"))
    );

    // The web server: its own (empty) state directory, a copy of the data key, the reader.
    let web = tempfile::tempdir().expect("web");
    let key = copy_key(&shared, web.path());
    let cfg = consumer_config(web.path(), &reader, &key, &[]);
    let state = web.path().join("state");
    let to = web.path().join("tls");
    let marker = web.path().join("reloads");
    let reload = format!("echo \"$WILDCERT_SYNCED_CERTS\" >> {}", marker.display());
    let to_s = to.to_str().expect("utf-8");
    let sync_args = [
        "--json",
        "sync",
        "--to",
        to_s,
        "--group",
        "65534",
        "--key-mode",
        "0640",
        "--reload",
        &reload,
    ];
    let pw = password(&reader);

    let run = consumer(&cfg, &state, &sync_args);
    assert_eq!(run.code, Some(0), "{}", run.all());
    no_secret(&run, &pw);
    let doc = json(&run);
    assert_eq!(doc["changed"], true, "{}", run.all());
    assert_eq!(
        statuses(&doc),
        [
            ("apex".to_string(), "written".to_string()),
            ("www".to_string(), "written".to_string())
        ]
    );
    assert_eq!(doc["reload"]["ok"], true, "{}", run.all());
    assert_eq!(reloads(&marker), 1, "one reload for the run");
    assert_eq!(read(&marker).trim(), "apex www");
    for name in ["apex", "www"] {
        let live = b.path().join("certs").join(name).join("live");
        for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
            assert_eq!(
                read(&to.join(name).join(f)),
                read(&live.join(f)),
                "{name}/{f} is the bastion's live file"
            );
        }
        let k = std::fs::metadata(to.join(name).join("privkey.pem")).expect("key");
        assert_eq!(k.mode() & 0o7777, 0o640);
        assert_eq!(k.gid(), 65534);
        let c = std::fs::metadata(to.join(name).join("fullchain.pem")).expect("cert");
        assert_eq!(c.mode() & 0o7777, 0o644);
    }
    // Nothing of the consumer's was created but what it was asked for.
    assert!(
        !state.join("store.key").exists(),
        "a consumer never creates a key"
    );

    // Run again: nothing changed, nothing written, no reload, exit 0.
    let before = std::fs::metadata(to.join("www/privkey.pem"))
        .expect("key")
        .ino();
    let run = consumer(&cfg, &state, &sync_args);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["changed"], false, "{}", run.all());
    assert!(doc.get("reload").is_none(), "{}", run.all());
    assert!(
        statuses(&doc).iter().all(|(_, s)| s == "unchanged"),
        "{}",
        run.all()
    );
    assert_eq!(reloads(&marker), 1, "no reload when nothing changed");
    assert_eq!(
        std::fs::metadata(to.join("www/privkey.pem"))
            .expect("key")
            .ino(),
        before,
        "the file was not rewritten"
    );

    // lego's layout into another directory, one certificate.
    let lego = web.path().join("lego");
    let run = consumer(
        &cfg,
        &state,
        &[
            "--json",
            "sync",
            "--to",
            lego.to_str().expect("utf-8"),
            "--layout",
            "lego",
            "--cert-name",
            "apex",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(
        statuses(&json(&run)),
        [("apex".to_string(), "written".to_string())]
    );
    let apex_live = b.path().join("certs/apex/live");
    assert_eq!(
        read(&lego.join("_.example.test.crt")),
        read(&apex_live.join("fullchain.pem"))
    );
    assert_eq!(
        read(&lego.join("_.example.test.key")),
        read(&apex_live.join("privkey.pem"))
    );
    assert_eq!(
        read(&lego.join("_.example.test.issuer.crt")),
        read(&apex_live.join("chain.pem"))
    );
    assert!(read(&lego.join("_.example.test.json")).contains("\"*.example.test\""));
    let k = std::fs::metadata(lego.join("_.example.test.key")).expect("key");
    assert_eq!(k.mode() & 0o7777, 0o600, "the default key mode");
    assert!(
        !lego.join("www.example.test.crt").exists(),
        "only --cert-name"
    );
    // An unknown name is an error, and nothing is written.
    let run = consumer(
        &cfg,
        &state,
        &[
            "sync",
            "--to",
            lego.to_str().expect("utf-8"),
            "--cert-name",
            "nope",
        ],
    );
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("nope"), "{}", run.all());

    // A forced renewal on the bastion: the next sync writes the new version, reloads once.
    let run = bastion(
        &lab,
        b.path(),
        &["--config", cfg_b, "renew", "--force", "--cert-name", "www"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 3);
    let run = consumer(&cfg, &state, &sync_args);
    assert_eq!(run.code, Some(0), "{}", run.all());
    no_secret(&run, &pw);
    let doc = json(&run);
    assert_eq!(
        statuses(&doc),
        [
            ("apex".to_string(), "unchanged".to_string()),
            ("www".to_string(), "written".to_string())
        ]
    );
    assert_eq!(doc["certificates"][1]["version"], 2);
    assert_eq!(reloads(&marker), 2, "one more reload");
    assert_eq!(read(&marker).lines().last(), Some("www"));
    assert_eq!(
        read(&to.join("www/fullchain.pem")),
        read(&b.path().join("certs/www/live/fullchain.pem"))
    );

    // Two syncs at once into a fresh directory: both succeed, the files are whole, and the
    // reload runs once (the second waits for the first and finds nothing left to do).
    let fresh = web.path().join("fresh");
    let fresh_marker = web.path().join("fresh-reloads");
    let fresh_reload = format!("echo x >> {}", fresh_marker.display());
    let args = [
        "sync",
        "--to",
        fresh.to_str().expect("utf-8"),
        "--reload",
        &fresh_reload,
    ];
    let (c1, c2) = (
        consumer_cmd(&cfg, &state, &args),
        consumer_cmd(&cfg, &state, &args),
    );
    let t1 = std::thread::spawn(move || run_bounded(c1, RUN_LIMIT));
    let t2 = std::thread::spawn(move || run_bounded(c2, RUN_LIMIT));
    let (r1, r2) = (t1.join().expect("first"), t2.join().expect("second"));
    assert_eq!(r1.code, Some(0), "{}", r1.all());
    assert_eq!(r2.code, Some(0), "{}", r2.all());
    assert_eq!(reloads(&fresh_marker), 1, "{}\n{}", r1.all(), r2.all());
    for name in ["apex", "www"] {
        assert_eq!(
            read(&fresh.join(name).join("privkey.pem")),
            read(&b.path().join("certs").join(name).join("live/privkey.pem"))
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(fresh.join("www"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_read_only_role_cannot_write_and_a_consumer_needs_the_data_key() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    let Some(shared) = Shared::start() else {
        return;
    };
    let reader = shared
        .pg
        .create_reader("consumer", "wildcert", "bastion")
        .expect("reader role");
    let certs = vec![("www", vec!["www.example.test".into()])];
    let b = tempfile::tempdir().expect("bastion");
    let cfg_b = config(b.path(), &shared, "60s", &certs);
    let run = bastion(
        &lab,
        b.path(),
        &["--config", cfg_b.to_str().expect("utf-8"), "renew"],
    );
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(issued_at_ca(&lab), 1);
    let pw = password(&reader);

    // The reader's role with the bastion's certificates: renew and delete are refused when the
    // store opens, before anything is ordered or removed.
    let web = tempfile::tempdir().expect("web");
    let key = copy_key(&shared, web.path());
    let cfg = consumer_config(web.path(), &reader, &key, &[("www", "www.example.test")]);
    let state = web.path().join("state");
    let cfg_s = cfg.to_str().expect("utf-8");
    for args in [
        &["--config", cfg_s, "renew", "--force"][..],
        &[
            "--config",
            cfg_s,
            "issue",
            "-d",
            "new.example.test",
            "--dns",
            "rfc2136",
        ][..],
        &["--config", cfg_s, "delete", "www", "--yes"][..],
    ] {
        let run = bastion(&lab, &state, args);
        assert_eq!(run.code, Some(5), "{args:?}: {}", run.all());
        assert!(
            run.stderr
                .contains("role `consumer` may only read the store")
                && run.stderr.contains("INSERT on wildcert_objects"),
            "{args:?}: {}",
            run.all()
        );
        assert!(run.stderr.contains("hint:"), "{}", run.all());
        no_secret(&run, &pw);
    }
    assert_eq!(issued_at_ca(&lab), 1, "nothing more was ordered");
    // It may read: list and show work, and the certificate is still there.
    let run = bastion(&lab, &state, &["--config", cfg_s, "--json", "show", "www"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let run = bastion(&lab, &state, &["--config", cfg_s, "--json", "list"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("\"www\""), "{}", run.all());

    // A consumer without the data key file: a clear error naming [store] key_file; no key is
    // created and nothing is written.
    let missing = web.path().join("keys/store.key");
    std::fs::create_dir(web.path().join("keys")).expect("keys");
    let cfg = consumer_config(web.path(), &reader, &missing, &[]);
    let to = web.path().join("tls");
    let run = consumer(&cfg, &state, &["sync", "--to", to.to_str().expect("utf-8")]);
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(
        run.stderr.contains("[store] key_file")
            && run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.all()
    );
    assert!(!missing.exists(), "a consumer never creates a data key");
    assert!(!to.exists(), "nothing written");
    no_secret(&run, &pw);

    // A reader on a database whose schema no bastion created yet: it says so, changes nothing.
    let owner2 = shared.pg.create_owner("owner2", "empty").expect("owner");
    let reader2 = shared
        .pg
        .create_reader("reader2", "empty", "owner2")
        .expect("reader");
    drop(owner2);
    let cfg = consumer_config(web.path(), &reader2, &key, &[]);
    let run = consumer(&cfg, &state, &["sync", "--to", to.to_str().expect("utf-8")]);
    assert_eq!(run.code, Some(5), "{}", run.all());
    assert!(
        run.stderr.contains("schema is at version 0") && run.stderr.contains("bastion"),
        "{}",
        run.all()
    );
}
