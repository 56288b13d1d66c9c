//! Unit tests of the filesystem store.

use super::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

fn files(tag: &str) -> CertFiles {
    CertFiles {
        cert: format!("CERT {tag}\n"),
        chain: format!("CHAIN {tag}\n"),
        privkey: format!("KEY {tag}\n"),
    }
}

fn meta(tag: &str) -> CertMeta {
    CertMeta {
        names: vec!["example.com".into()],
        key_type: "ec256".into(),
        not_after: Some(format!("2030-01-0{tag}T00:00:00Z")),
        ..Default::default()
    }
}

fn install(store: &Store, tag: &str) -> Result<u32, StoreError> {
    store.install("example.com", &files(tag), &meta(tag), &KeyPerms::default())
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn install_switches_live_atomically_and_keeps_archive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("state")).expect("open");
    assert_eq!(install(&store, "1").expect("install"), 1);
    assert_eq!(install(&store, "2").expect("install"), 2);
    let live = store
        .read_live("example.com")
        .expect("read")
        .expect("present");
    assert_eq!(live.cert, "CERT 2\n");
    let full = fs::read_to_string(
        store
            .live_dir("example.com")
            .expect("dir")
            .join("fullchain.pem"),
    )
    .expect("read");
    assert_eq!(full, "CERT 2\nCHAIN 2\n");
    let dir = store.cert_dir("example.com").expect("dir");
    assert_eq!(
        fs::read_to_string(dir.join("archive/1/cert.pem")).expect("read"),
        "CERT 1\n"
    );
    assert_eq!(mode(&dir.join("live/privkey.pem")), 0o600);
    assert_eq!(mode(&dir.join("live/cert.pem")), 0o644);
    assert_eq!(mode(&dir), 0o700);
    // The version's metadata lives in the version, written before the switch.
    let vm: CertMeta = store
        .read_json(&dir.join("archive/2/meta.json"))
        .expect("read")
        .expect("present");
    assert_eq!(vm.version, Some(2));
    assert_eq!(vm.not_after.as_deref(), Some("2030-01-02T00:00:00Z"));
}

#[test]
fn delete_cert_removes_every_version_and_never_follows_a_planted_link() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("state")).expect("open");
    install(&store, "1").expect("install");
    install(&store, "2").expect("install");
    let mut m = meta("2");
    m.request = Some(RecordedRequest {
        server: "https://ca.example/dir".into(),
        domains: vec!["example.com".into()],
        ..Default::default()
    });
    store.write_meta("example.com", &m).expect("write");
    // A link planted inside points outside; the outside file must survive.
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("keep"), "keep").expect("write");
    let dir = store.cert_dir("example.com").expect("dir");
    std::os::unix::fs::symlink(&outside, dir.join("archive/1/planted")).expect("symlink");
    assert!(store.delete_cert("example.com").expect("delete"));
    assert!(!dir.exists());
    assert_eq!(
        fs::read_to_string(outside.join("keep")).expect("kept"),
        "keep"
    );
    assert!(store.list().expect("list").is_empty());
    assert!(!store.delete_cert("example.com").expect("delete again"));
}

#[test]
fn meta_json_without_a_recorded_request_still_parses() {
    let old = r#"{"names":["a.example"],"key_type":"ec256","provider":"rfc2136","version":1}"#;
    let m: CertMeta = serde_json::from_str(old).expect("old meta.json");
    assert_eq!(m.request, None);
    let with = CertMeta {
        request: Some(RecordedRequest {
            server: "https://ca.example/dir".into(),
            domains: vec!["a.example".into()],
            provider: "lab".into(),
            key_type: Some("ec384".into()),
            deploy_hook: Some("true".into()),
            ..Default::default()
        }),
        ..m
    };
    let text = serde_json::to_string(&with).expect("json");
    assert_eq!(serde_json::from_str::<CertMeta>(&text).expect("back"), with);
}

#[test]
fn meta_round_trip_and_list() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    assert!(store.read_meta("a.example").expect("read").is_none());
    let meta = CertMeta {
        names: vec!["a.example".into()],
        key_type: "ec256".into(),
        ..Default::default()
    };
    store.write_meta("a.example", &meta).expect("write");
    assert_eq!(store.read_meta("a.example").expect("read"), Some(meta));
    assert_eq!(store.list().expect("list"), ["a.example"]);
}

#[test]
fn refuses_path_tricks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    for bad in ["..", "../x", "a/b", "", ".hidden"] {
        assert!(
            matches!(store.cert_dir(bad), Err(StoreError::BadName(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        store.write_atomic(Path::new("/tmp/elsewhere"), b"x", 0o600),
        Err(StoreError::Outside { .. })
    ));
    assert!(matches!(
        store.write_atomic(&store.root().join("certs/../../x"), b"x", 0o600),
        Err(StoreError::Outside { .. })
    ));
}

#[tokio::test]
async fn second_lock_waits_then_names_holder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let first = store
        .lock("example.com", Duration::ZERO)
        .await
        .expect("first lock");
    let err = store
        .lock("example.com", Duration::from_millis(100))
        .await
        .expect_err("second lock");
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    match &err {
        StoreError::Locked { pid, since, .. } => {
            assert_eq!(*pid, Some(std::process::id()));
            assert!(
                since.as_deref().is_some_and(|s| s.starts_with("20")),
                "{since:?}"
            );
        }
        other => panic!("not Locked: {other}"),
    }
    assert!(err.hint().contains(&format!("pid {}", std::process::id())));
    drop(first);
    store
        .lock("example.com", Duration::ZERO)
        .await
        .expect("free again");
}

/// A directory outside the store with one file in it, to plant links at.
struct Victim {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    file: PathBuf,
}

const VICTIM_BYTES: &[u8] = b"precious bytes that must never change\n";

fn victim() -> Victim {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("target-dir");
    fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("target-file");
    fs::write(&file, VICTIM_BYTES).expect("write");
    Victim {
        _tmp: tmp,
        dir,
        file,
    }
}

impl Victim {
    fn assert_untouched(&self) {
        assert_eq!(fs::read(&self.file).expect("read victim"), VICTIM_BYTES);
        let names: Vec<_> = fs::read_dir(&self.dir)
            .expect("list victim")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            ["target-file"],
            "something was written through the link"
        );
    }
}

fn assert_symlink_error<T: std::fmt::Debug>(r: Result<T, StoreError>, link: &Path) {
    match r {
        Err(StoreError::Symlink { path }) => assert_eq!(path, link),
        other => panic!(
            "expected a Symlink error naming {}, got {other:?}",
            link.display()
        ),
    }
}

#[tokio::test]
async fn planted_links_are_never_followed() {
    use std::os::unix::fs::symlink;
    // Directory levels: install must refuse and write nothing into the target.
    for level in [
        "certs",
        "certs/example.com",
        "certs/example.com/archive",
        "certs/example.com/archive/2",
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("open");
        if level != "certs" {
            install(&store, "1").expect("first version");
        }
        let v = victim();
        let link = store.root().join(level);
        let _ = fs::remove_dir_all(&link);
        symlink(&v.dir, &link).expect("plant");
        let r = if level == "certs" {
            Store::open(tmp.path()).map(|_| ())
        } else {
            install(&store, "2").map(|_| ())
        };
        assert_symlink_error(r, &link);
        v.assert_untouched();
    }
    // File levels: meta.json, a version's key, the lock, a journal entry.
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    install(&store, "1").expect("first version");
    let v = victim();
    let cert_dir = store.cert_dir("example.com").expect("dir");
    let meta_link = cert_dir.join("meta.json");
    symlink(&v.file, &meta_link).expect("plant");
    assert_symlink_error(store.write_meta("example.com", &meta("3")), &meta_link);
    assert_symlink_error(store.read_meta("example.com"), &meta_link);
    fs::remove_file(&meta_link).expect("unplant");
    let key_link = cert_dir.join("archive/1/privkey.pem");
    fs::remove_file(&key_link).expect("rm");
    symlink(&v.file, &key_link).expect("plant");
    assert_symlink_error(store.read_live("example.com"), &key_link);
    v.assert_untouched();

    let lock_link = store.root().join("locks/example.com.lock");
    fs::create_dir_all(store.root().join("locks")).expect("mkdir");
    symlink(&v.file, &lock_link).expect("plant");
    assert_symlink_error(store.lock("example.com", Duration::ZERO).await, &lock_link);
    v.assert_untouched();
    // A hard link to a file elsewhere is refused too (not truncated, not written).
    fs::remove_file(&lock_link).expect("unplant");
    let hard_victim = store.root().join("victim-hard");
    fs::write(&hard_victim, VICTIM_BYTES).expect("write");
    fs::hard_link(&hard_victim, &lock_link).expect("hard link");
    assert!(matches!(
        store.lock("example.com", Duration::ZERO).await,
        Err(StoreError::NotPlain { .. })
    ));
    assert_eq!(fs::read(&hard_victim).expect("read"), VICTIM_BYTES);

    let journal = store.journal_dir();
    symlink(&v.dir, &journal).expect("plant");
    assert_symlink_error(
        store.write_json(&journal.join("x.json"), &1, 0o600),
        &journal,
    );
    assert_symlink_error(store.list_dir(&journal), &journal);
    v.assert_untouched();
    fs::remove_file(&journal).expect("unplant");
    fs::create_dir(&journal).expect("mkdir");
    let entry = journal.join("1-1-1.json");
    symlink(&v.file, &entry).expect("plant");
    assert_symlink_error(store.read_json::<serde_json::Value>(&entry), &entry);
    assert_symlink_error(store.write_json(&entry, &1, 0o600), &entry);
    v.assert_untouched();

    let account = store.account_dir("ca.example", "default").expect("dir");
    fs::create_dir_all(account.parent().expect("parent")).expect("mkdir");
    symlink(&v.dir, &account).expect("plant");
    assert_symlink_error(
        store.write_atomic(&account.join("key.pem"), b"KEY", 0o600),
        &account,
    );
    assert_symlink_error(store.read_string(&account.join("key.pem")), &account);
    v.assert_untouched();
}

#[test]
fn state_dirs_open_to_others_are_refused_with_the_fix() {
    for (m, who) in [
        (0o777, "every user"),
        (0o770, "group"),
        (0o702, "every user"),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("state");
        fs::create_dir(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(m)).expect("chmod");
        let e = Store::open(&root).expect_err("refused");
        assert!(matches!(e, StoreError::Unsafe { .. }), "{e}");
        assert!(e.to_string().contains(who), "{e}");
        assert_eq!(e.hint(), format!("run: chmod go-w {}", root.display()));
        // A subdirectory opened to others is refused as well.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod");
        Store::open(&root).expect("fixed");
        fs::create_dir(root.join("certs")).expect("mkdir");
        fs::set_permissions(root.join("certs"), fs::Permissions::from_mode(m)).expect("chmod");
        assert!(matches!(Store::open(&root), Err(StoreError::Unsafe { .. })));
    }
    // Owned by another user.
    let me = rustix::process::geteuid().as_raw();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = if me == 0 {
        let root = tmp.path().join("state");
        fs::create_dir(&root).expect("mkdir");
        std::os::unix::fs::chown(&root, Some(65534), None).expect("chown");
        root
    } else {
        // Not root: a directory root owns and nobody else may write.
        PathBuf::from("/usr")
    };
    let e = Store::open(&root).expect_err("foreign owner refused");
    assert!(e.to_string().contains("is owned by uid"), "{e}");
    assert_eq!(
        e.hint(),
        format!("run: chown -R {} {}", user_name(me), root.display())
    );
}

#[tokio::test]
async fn a_killed_install_is_settled_by_the_next_lock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    install(&store, "1").expect("v1");
    let mut top = meta("1");
    top.version = Some(1);
    store.write_meta("example.com", &top).expect("meta");
    let dir = store.cert_dir("example.com").expect("dir");
    // Killed after archive/2 was complete, before live flipped.
    install(&store, "2").expect("v2");
    std::os::unix::fs::symlink("archive/1", dir.join(".live.1.0.tmp")).expect("link");
    fs::rename(dir.join(".live.1.0.tmp"), dir.join("live")).expect("unflip");
    // Killed while writing archive/3, with temporary files about.
    fs::create_dir(dir.join("archive/3")).expect("mkdir");
    fs::write(dir.join("archive/3/privkey.pem"), "KEY 3").expect("write");
    fs::write(dir.join("archive/3/.cert.pem.999999.0.tmp"), "half").expect("write");
    fs::write(dir.join("archive/1/.chain.pem.999999.1.tmp"), "half").expect("write");
    fs::write(dir.join(".meta.json.999999.2.tmp"), "{").expect("write");
    let lock = store
        .lock("example.com", Duration::ZERO)
        .await
        .expect("lock");
    assert_eq!(store.live_version("example.com").expect("live"), Some(2));
    assert!(!dir.join("archive/3").exists(), "half-written version left");
    assert!(!dir.join("archive/1/.chain.pem.999999.1.tmp").exists());
    assert!(!dir.join(".meta.json.999999.2.tmp").exists());
    let on_disk: CertMeta =
        serde_json::from_slice(&fs::read(dir.join("meta.json")).expect("read")).expect("json");
    assert_eq!(on_disk.version, Some(2), "meta.json disagrees with live");
    assert_eq!(on_disk.not_after.as_deref(), Some("2030-01-02T00:00:00Z"));
    drop(lock);
    assert_eq!(
        store.archive_versions("example.com").expect("versions"),
        [1, 2]
    );
}

#[test]
fn read_meta_follows_live_when_meta_json_lags() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    // A fresh store killed between the switch and meta.json: the reader still knows.
    install(&store, "1").expect("v1");
    let m = store
        .read_meta("example.com")
        .expect("read")
        .expect("known");
    assert_eq!(m.version, Some(1));
    assert_eq!(store.list().expect("list"), ["example.com"]);
    // ... and repaired meta.json on the way (no other run held the lock).
    let dir = store.cert_dir("example.com").expect("dir");
    let on_disk: CertMeta =
        serde_json::from_slice(&fs::read(dir.join("meta.json")).expect("read")).expect("json");
    assert_eq!(on_disk.version, Some(1));
}

#[test]
fn new_versions_keep_group_and_mode_and_key_settings_win() {
    let me = rustix::process::geteuid().as_raw();
    // Root may pick any group; others their own.
    let gid = if me == 0 {
        4242
    } else {
        rustix::process::getegid().as_raw()
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    install(&store, "1").expect("v1");
    let dir = store.cert_dir("example.com").expect("dir");
    let v1 = dir.join("archive/1");
    for (p, m) in [
        (v1.clone(), 0o750),
        (v1.join("privkey.pem"), 0o640),
        (v1.join("cert.pem"), 0o640),
    ] {
        std::os::unix::fs::chown(&p, None, Some(gid)).expect("chgrp");
        fs::set_permissions(&p, fs::Permissions::from_mode(m)).expect("chmod");
    }
    install(&store, "2").expect("v2");
    let v2 = dir.join("archive/2");
    let st = |p: &Path| fs::metadata(p).expect("stat");
    assert_eq!((mode(&v2), st(&v2).gid()), (0o750, gid));
    assert_eq!(
        (
            mode(&v2.join("privkey.pem")),
            st(&v2.join("privkey.pem")).gid()
        ),
        (0o640, gid)
    );
    assert_eq!(
        (mode(&v2.join("cert.pem")), st(&v2.join("cert.pem")).gid()),
        (0o640, gid)
    );
    // A world-readable key is never carried over.
    fs::set_permissions(v2.join("privkey.pem"), fs::Permissions::from_mode(0o644)).expect("chmod");
    install(&store, "3").expect("v3");
    assert_eq!(mode(&dir.join("archive/3/privkey.pem")), 0o640);
    // key_group / key_mode win, and the directories let the group through.
    let perms = KeyPerms::parse(Some(&gid.to_string()), Some("0640")).expect("perms");
    fs::set_permissions(dir.join("archive/3"), fs::Permissions::from_mode(0o700)).expect("chmod");
    fs::set_permissions(
        dir.join("archive/3/privkey.pem"),
        fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    store
        .install("example.com", &files("4"), &meta("4"), &perms)
        .expect("v4");
    let v4 = dir.join("archive/4");
    assert_eq!(
        (
            mode(&v4.join("privkey.pem")),
            st(&v4.join("privkey.pem")).gid()
        ),
        (0o640, gid)
    );
    assert_eq!(mode(&v4) & 0o050, 0o050);
    assert_eq!(st(&dir).gid(), gid);
    assert_eq!(mode(&dir) & 0o050, 0o050);
}

#[test]
fn key_perms_parse() {
    assert_eq!(
        KeyPerms::parse(Some("0"), Some("0640")).expect("ok"),
        KeyPerms {
            group: Some(0),
            mode: Some(0o640)
        }
    );
    assert_eq!(
        KeyPerms::parse(Some("root"), None).expect("root").group,
        Some(0)
    );
    for bad in ["0644", "0604", "0700", "0440", "rw-r-----", "01640"] {
        assert!(KeyPerms::parse(None, Some(bad)).is_err(), "{bad}");
    }
    assert!(KeyPerms::parse(Some("no-such-group-here"), None).is_err());
}

#[test]
fn the_journaled_key_is_linked_into_the_new_version_and_survives_a_crash_before_live() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("state")).expect("open");
    let pending = cert_key("example.com", PENDING_KEY).expect("key");
    let dir = store.cert_dir("example.com").expect("dir");
    let journaled = dir.join(PENDING_KEY);
    let ino = |p: &Path| fs::symlink_metadata(p).expect("stat").ino();

    // Journaled as `finish` does, then stored: the version's key is that file, not a copy.
    store.save(&pending, b"KEY 1\n", true).expect("journal");
    install(&store, "1").expect("v1");
    let key1 = dir.join("archive/1/privkey.pem");
    assert_eq!(ino(&key1), ino(&journaled), "linked, not written again");
    assert_eq!(mode(&key1), 0o600);
    // The journal entry removed as `finish` does: the version keeps its key, with one link.
    store.delete(&pending).expect("remove");
    assert_eq!(fs::read_to_string(&key1).expect("read"), "KEY 1\n");
    assert_eq!(fs::symlink_metadata(&key1).expect("stat").nlink(), 1);

    // A journaled key that is not this version's is left alone; the version's key is written.
    store.save(&pending, b"KEY other\n", true).expect("journal");
    install(&store, "2").expect("v2");
    let key2 = dir.join("archive/2/privkey.pem");
    assert_eq!(fs::read_to_string(&key2).expect("read"), "KEY 2\n");
    assert_ne!(ino(&key2), ino(&journaled));
    assert_eq!(fs::read_to_string(&journaled).expect("read"), "KEY other\n");

    // `key_mode = "0640"`: the journal entry keeps 0600 (no link that would widen it).
    store.save(&pending, b"KEY 3\n", true).expect("journal");
    let perms = KeyPerms {
        group: None,
        mode: Some(0o640),
    };
    store
        .install("example.com", &files("3"), &meta("3"), &perms)
        .expect("v3");
    let key3 = dir.join("archive/3/privkey.pem");
    assert_eq!(mode(&key3), 0o640);
    assert_eq!(mode(&journaled), 0o600);
    assert_ne!(ino(&key3), ino(&journaled));

    // Killed after the link, before the version was complete: the next run removes the
    // half-written version, and the journaled key is still there for it (the CA may have
    // issued for it).
    store.save(&pending, b"KEY 4\n", true).expect("journal");
    let half = dir.join("archive/4");
    fs::create_dir(&half).expect("mkdir");
    fs::set_permissions(&half, fs::Permissions::from_mode(0o700)).expect("chmod");
    fs::hard_link(&journaled, half.join("privkey.pem")).expect("link");
    fs::write(half.join("cert.pem"), "CERT 4\n").expect("write");
    let done = store.recover("example.com").expect("recover");
    assert!(done.iter().any(|d| d.contains("half-written")), "{done:?}");
    assert!(!half.exists());
    assert_eq!(fs::read_to_string(&journaled).expect("read"), "KEY 4\n");
    assert_eq!(fs::symlink_metadata(&journaled).expect("stat").nlink(), 1);
    assert_eq!(store.live_version("example.com").expect("live"), Some(3));
}

/// `read_metas` over a long list (read by several threads) says what `read_meta` says of each
/// name, in order, and settles what a killed run left on the way, as `read_meta` does.
#[test]
fn read_metas_of_many_is_read_meta_of_each_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let names: Vec<String> = (0..300).map(|i| format!("c{i:03}.example")).collect();
    for (i, n) in names.iter().enumerate() {
        let mut m = meta("1");
        m.names = vec![n.clone()];
        m.not_after = Some(format!("2030-01-01T00:00:{:02}Z", i % 60));
        store
            .install(n, &files("1"), &m, &KeyPerms::default())
            .expect("install");
        if i % 7 != 3 {
            m.version = Some(1);
            store.write_meta(n, &m).expect("meta");
        }
    }
    // Leftovers of a killed run in one certificate of the last part.
    let dir = store.cert_dir("c299.example").expect("dir");
    fs::create_dir(dir.join("archive/2")).expect("mkdir");
    fs::write(dir.join("archive/1/.cert.pem.999999.0.tmp"), "half").expect("write");
    // One more name with nothing stored.
    let mut asked = names.clone();
    asked.push("absent.example".into());
    let many = store.read_metas(&asked);
    assert_eq!(many.len(), asked.len());
    assert!(!dir.join("archive/2").exists(), "half-written version left");
    assert!(!dir.join("archive/1/.cert.pem.999999.0.tmp").exists());
    for (n, got) in asked.iter().zip(many) {
        let got = got.expect("read");
        let one = store.read_meta(n).expect("read");
        assert_eq!(
            got.as_ref().map(|m| (&m.names, &m.not_after, m.version)),
            one.as_ref().map(|m| (&m.names, &m.not_after, m.version)),
            "{n}"
        );
        assert_eq!(got.is_none(), n == "absent.example", "{n}");
    }
    assert_eq!(store.list().expect("list"), names);
}
