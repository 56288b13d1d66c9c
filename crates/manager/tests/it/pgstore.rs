//! The PostgreSQL store against a real throwaway cluster (Debian's PostgreSQL, started by the kit).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use wildcert_manager::store::pg::{
    Access, DataKey, LeaseSettings, LiveStamp, PgBackend, PgConfig, PgStore, PgStoreError,
};
use wildcert_manager::store::{
    CertFiles, CertMeta, KeyPerms, Locker, Storage, StoreError, check_contract,
};
use wildcert_testkit::{Postgres, require_postgres};

const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
const LONG: Duration = Duration::from_secs(60);

/// A cluster with database `wc` owned by role `owner`; the owner's URL.
fn cluster() -> (Postgres, String) {
    let pg = Postgres::start().unwrap();
    let url = pg.create_owner("owner", "wc").unwrap();
    (pg, url)
}

async fn store(url: &str, key: Option<DataKey>) -> PgStore {
    PgStore::connect(&PgConfig::from_url(Some(url)).unwrap(), key)
        .await
        .unwrap()
}

fn data_key() -> DataKey {
    DataKey::generate().unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_migrated_once_by_racing_bastions_and_put_many_is_atomic() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let cfg = PgConfig::from_url(Some(&url)).unwrap();
    // Two bastions start at once on an empty database. To make them really overlap, a third
    // session holds an uncommitted table of the schema's name; both starters queue behind it.
    let (raw, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    raw.batch_execute("BEGIN; CREATE TABLE wildcert_objects (x int)")
        .await
        .unwrap();
    let (ca, cb) = (cfg.clone(), cfg.clone());
    let a = tokio::spawn(async move { PgStore::connect(&ca, None).await });
    let b = tokio::spawn(async move { PgStore::connect(&cb, None).await });
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'wc' AND wait_event_type = 'Lock'";
    let mut queued = 0;
    for _ in 0..500 {
        // pg_stat_activity is a snapshot per transaction: refresh it on each look.
        raw.execute("SELECT pg_stat_clear_snapshot()", &[])
            .await
            .unwrap();
        queued = raw.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0);
        if queued >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(queued, 2, "both starters should be waiting");
    raw.batch_execute("ROLLBACK").await.unwrap();
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(a.schema_version().await.unwrap(), 2);
    let versions = || {
        pg.psql(
            "wc",
            "SELECT string_agg(version::text, ' ' ORDER BY version) FROM wildcert_schema",
        )
        .unwrap()
    };
    assert_eq!(versions().trim(), "1 2");
    drop(b);
    // A third start finds the schema current and changes nothing.
    store(&url, None).await;
    assert_eq!(versions().trim(), "1 2");
    // A database an earlier wildcert left at version 1 is brought to 2 (the prefix index).
    pg.psql(
        "wc",
        "DROP INDEX wildcert_objects_key_bytes; DELETE FROM wildcert_schema WHERE version = 2",
    )
    .unwrap();
    store(&url, None).await;
    assert_eq!(versions().trim(), "1 2");
    assert_eq!(
        pg.psql(
            "wc",
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'wildcert_objects_key_bytes'"
        )
        .unwrap()
        .trim(),
        "1"
    );

    let lease = a
        .lock("cert/example", "bastion-a", LONG, Duration::ZERO)
        .await
        .unwrap();
    a.put_many(
        &[
            ("certs/example/meta.json", b"{}", false),
            ("certs/example/cert.pem", b"PEM", false),
        ],
        &lease,
    )
    .await
    .unwrap();
    assert_eq!(
        a.get("certs/example/cert.pem").await.unwrap().as_deref(),
        Some(&b"PEM"[..])
    );
    assert_eq!(
        a.list("certs/example/").await.unwrap(),
        ["certs/example/cert.pem", "certs/example/meta.json"]
    );
    // The second object is refused by the database (NUL in text): the first is not stored either.
    let e = a
        .put_many(
            &[
                ("certs/example/new.json", b"1", false),
                ("bad\0key", b"2", false),
            ],
            &lease,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, PgStoreError::Database { .. }), "{e:?}");
    assert_eq!(a.get("certs/example/new.json").await.unwrap(), None);
    assert!(a.delete("certs/example/meta.json", &lease).await.unwrap());
    assert_eq!(a.get("certs/example/meta.json").await.unwrap(), None);
    let fence = pg
        .psql(
            "wc",
            "SELECT fence FROM wildcert_objects WHERE key = 'certs/example/cert.pem'",
        )
        .unwrap();
    assert_eq!(
        fence.trim(),
        lease.token.to_string(),
        "each object records the token it was written under"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_grow_their_token_expire_by_the_database_clock_and_fence_stale_writers() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let (a, b) = (store(&url, None).await, store(&url, None).await);

    // Two lockers at once: exactly one wins.
    let (ra, rb) = tokio::join!(
        a.lock("c1", "bastion-a", LONG, Duration::ZERO),
        b.lock("c1", "bastion-b", LONG, Duration::ZERO)
    );
    assert_eq!(ra.is_ok() as u8 + rb.is_ok() as u8, 1, "{ra:?} {rb:?}");
    let (winner, loser) = if ra.is_ok() { (&a, &b) } else { (&b, &a) };
    let lease = ra.or(rb).unwrap();
    let e = loser
        .lock("c1", "late", LONG, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::Locked { holder, .. } if *holder == lease.holder),
        "{e:?}"
    );
    winner.unlock(&lease).await.unwrap();

    // A holds a short lease and stalls; B waits for it to expire, then takes it.
    let old = a
        .lock(
            "c1",
            "bastion-a",
            Duration::from_millis(300),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(old.token > lease.token);
    a.put("certs/c1/cert.pem", b"from A", false, &old)
        .await
        .unwrap();
    let new = b
        .lock("c1", "bastion-b", LONG, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        new.token > old.token,
        "tokens only grow: {} then {}",
        old.token,
        new.token
    );
    b.put("certs/c1/cert.pem", b"from B", false, &new)
        .await
        .unwrap();

    // A wakes up: its write is refused, naming the holder, and nothing is written.
    let e = a
        .put_many(
            &[
                ("certs/c1/cert.pem", b"stale A", false),
                ("certs/c1/x", b"x", false),
            ],
            &old,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::StaleFence { holder: Some(h), .. } if h == "bastion-b"),
        "{e:?}"
    );
    assert!(e.to_string().contains("bastion-b"), "{e}");
    assert_eq!(
        b.get("certs/c1/cert.pem").await.unwrap().as_deref(),
        Some(&b"from B"[..])
    );
    assert_eq!(b.get("certs/c1/x").await.unwrap(), None);
    assert!(matches!(
        a.delete("certs/c1/cert.pem", &old).await,
        Err(PgStoreError::StaleFence { .. })
    ));
    assert_eq!(
        b.get("certs/c1/cert.pem").await.unwrap().as_deref(),
        Some(&b"from B"[..]),
        "a refused delete removed nothing"
    );
    let e = a.renew(&old).await.unwrap_err();
    assert!(
        matches!(&e, PgStoreError::LeaseLost { holder: Some(h), .. } if h == "bastion-b"),
        "{e:?}"
    );
    // A's unlock of its lost lease leaves B's lease alone.
    a.unlock(&old).await.unwrap();
    let renewed = b.renew(&new).await.unwrap();
    assert!(renewed.expires_at >= new.expires_at && renewed.token == new.token);

    // A lease that expired (by the database's clock) with nobody taking it over still fences
    // its holder and cannot be renewed; the lock is then free for anyone.
    let short = a
        .lock("c2", "bastion-a", LONG, Duration::ZERO)
        .await
        .unwrap();
    pg.psql(
        "wc",
        "UPDATE wildcert_leases SET expires_at = now() - interval '1 second' WHERE name = 'c2'",
    )
    .unwrap();
    let e = a
        .put("certs/c2/cert.pem", b"late", false, &short)
        .await
        .unwrap_err();
    assert!(
        matches!(e, PgStoreError::StaleFence { holder: None, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("expired"), "{e}");
    let e = a.renew(&short).await.unwrap_err();
    assert!(
        matches!(e, PgStoreError::LeaseLost { holder: None, .. }),
        "{e:?}"
    );
    let again = b
        .lock("c2", "bastion-b", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert!(again.token > short.token);
    assert_eq!(b.get("certs/c2/cert.pem").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_keys_are_sealed_at_rest() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    let s = store(&url, Some(DataKey::load_or_create(&key_file).unwrap())).await;
    let lease = s.lock("c", "a", LONG, Duration::ZERO).await.unwrap();
    // Not flagged sealed by the caller: the name alone makes the store seal it.
    s.put(
        "certs/c/archive/1/privkey.pem",
        KEY_PEM.as_bytes(),
        false,
        &lease,
    )
    .await
    .unwrap();
    s.put(
        "accounts/ca/acct/account.json",
        b"{\"secret\":1}",
        true,
        &lease,
    )
    .await
    .unwrap();
    assert_eq!(
        s.get("certs/c/archive/1/privkey.pem")
            .await
            .unwrap()
            .unwrap(),
        KEY_PEM.as_bytes()
    );

    let dump = pg.pg_dump("wc").unwrap();
    assert!(
        dump.contains("wildcert_objects"),
        "the dump holds the table"
    );
    assert!(
        !dump.contains("PRIVATE KEY") && !dump.contains("secret"),
        "plaintext in the dump"
    );

    // Another data key: a clear error naming both key ids.
    let other = store(&url, Some(data_key())).await;
    let e = other
        .get("certs/c/archive/1/privkey.pem")
        .await
        .unwrap_err();
    assert!(
        matches!(e, PgStoreError::WrongDataKey { .. })
            && e.to_string().contains("sealed with data key"),
        "{e}"
    );
    // No data key at all (a consumer without the file).
    let e = store(&url, None)
        .await
        .get("certs/c/archive/1/privkey.pem")
        .await
        .unwrap_err();
    assert!(matches!(e, PgStoreError::NoDataKey { .. }), "{e:?}");

    // A value moved to another key, and a flipped byte, do not open.
    pg.psql("wc", "INSERT INTO wildcert_objects SELECT 'certs/d/privkey.pem', value, sealed, written_at, fence FROM wildcert_objects WHERE key = 'certs/c/archive/1/privkey.pem'").unwrap();
    assert!(matches!(
        s.get("certs/d/privkey.pem").await,
        Err(PgStoreError::Unseal { .. })
    ));
    pg.psql("wc", "UPDATE wildcert_objects SET value = set_byte(value, 40, get_byte(value, 40) # 1) WHERE key = 'accounts/ca/acct/account.json'").unwrap();
    let e = s.get("accounts/ca/acct/account.json").await.unwrap_err();
    assert!(
        matches!(e, PgStoreError::Unseal { .. }) && e.to_string().contains("altered"),
        "{e}"
    );
    pg.psql("wc", "DELETE FROM wildcert_objects WHERE key IN ('certs/d/privkey.pem', 'accounts/ca/acct/account.json')").unwrap();

    // Rotation re-seals every sealed row; afterwards only the new key opens them.
    let old = DataKey::load(&key_file).unwrap();
    let (new, text) = DataKey::generate().unwrap();
    let new_file = dir.path().join("new.key");
    std::fs::write(&new_file, text).unwrap();
    std::fs::set_permissions(&new_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(s.rotate(&old, &new).await.unwrap(), 1);
    assert_eq!(
        s.rotate(&old, &new).await.unwrap(),
        0,
        "a second rotation finds nothing left"
    );
    let rotated = store(&url, Some(DataKey::load(&new_file).unwrap())).await;
    assert_eq!(
        rotated
            .get("certs/c/archive/1/privkey.pem")
            .await
            .unwrap()
            .unwrap(),
        KEY_PEM.as_bytes()
    );
    assert!(matches!(
        s.get("certs/c/archive/1/privkey.pem").await,
        Err(PgStoreError::WrongDataKey { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_role_reads_and_every_write_is_a_typed_permission_error() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let reader_url = pg.create_reader("reader", "wc", "owner").unwrap();
    let owner = store(&url, Some(DataKey::from_bytes(&[7; 32]).unwrap())).await;
    let lease = owner.lock("c", "a", LONG, Duration::ZERO).await.unwrap();
    owner
        .put("certs/c/privkey.pem", KEY_PEM.as_bytes(), false, &lease)
        .await
        .unwrap();

    // Opened for writing (what every command but sync, list and show does), the role is
    // refused at once, naming it and what it lacks.
    let reader_cfg = PgConfig::from_url(Some(&reader_url)).unwrap();
    let e = PgStore::connect(&reader_cfg, None).await.unwrap_err();
    assert!(
        matches!(&e, PgStoreError::ReadOnly { role, missing } if role == "reader" && missing.contains("INSERT on wildcert_objects")),
        "{e:?}"
    );
    assert!(e.hint().contains("sync"), "{}", e.hint());
    let reader = PgStore::connect_as(
        &reader_cfg,
        Some(DataKey::from_bytes(&[7; 32]).unwrap()),
        Access::Read,
    )
    .await
    .unwrap();
    assert_eq!(reader.role(), "reader");
    // One query gives every live version and the token it was written under.
    owner
        .put_version("certs/c", &lease, |_| {
            Ok(vec![("cert.pem".into(), b"C".to_vec(), false)])
        })
        .await
        .unwrap();
    let stamps = reader.live_stamps().await.unwrap();
    assert_eq!(
        stamps,
        [(
            "c".to_string(),
            LiveStamp {
                version: 1,
                token: lease.token
            }
        )]
    );
    assert_eq!(
        reader.get("certs/c/privkey.pem").await.unwrap().unwrap(),
        KEY_PEM.as_bytes()
    );
    let e = reader
        .lock("c2", "consumer", LONG, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::PermissionDenied { role, .. } if role == "reader"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("reader") && e.hint().contains("read-only"),
        "{e} / {}",
        e.hint()
    );
    let e = reader
        .put("certs/c/cert.pem", b"x", false, &lease)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::PermissionDenied { role, .. } if role == "reader"),
        "{e:?}"
    );
    assert_eq!(owner.get("certs/c/cert.pem").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_migrates_the_schema() {
    if !require_postgres() {
        return;
    }
    let (pg, _url) = cluster();
    let reader_url = pg.create_reader("reader", "wc", "owner").unwrap();
    let cfg = PgConfig::from_url(Some(&reader_url)).unwrap();
    let e = PgStore::connect_as(&cfg, None, Access::Read)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::SchemaNotCurrent { role, found: 0, .. } if role == "reader"),
        "{e:?}"
    );
    assert!(e.hint().contains("bastion"), "{}", e.hint());
    let dump = pg.pg_dump("wc").unwrap();
    assert!(
        !dump.contains("wildcert_schema"),
        "a reader created nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_is_a_clear_typed_error() {
    if !require_postgres() {
        return;
    }
    let (mut pg, url) = cluster();
    let s = store(&url, None).await;
    let lease = s.lock("c", "a", LONG, Duration::ZERO).await.unwrap();
    pg.stop().unwrap();
    let e = s
        .put("certs/c/cert.pem", b"x", false, &lease)
        .await
        .unwrap_err();
    assert!(matches!(e, PgStoreError::Unavailable { .. }), "{e:?}");
    let e = s.get("certs/c/cert.pem").await.unwrap_err();
    assert!(matches!(e, PgStoreError::Unavailable { .. }), "{e:?}");
    let e = PgStore::connect(&PgConfig::from_url(Some(&url)).unwrap(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgStoreError::Unavailable { target, .. } if target.starts_with("127.0.0.1:")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("postgresql://"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_password_file_and_no_password_in_errors() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pg.ca_cert_pem()).unwrap();
    let base = url.trim_end_matches("?sslmode=disable");
    let (password, port) = {
        let creds = base.strip_prefix("postgresql://owner:").unwrap();
        let (pw, rest) = creds.split_once('@').unwrap();
        (
            pw.to_owned(),
            rest.trim_start_matches("127.0.0.1:")
                .trim_end_matches("/wc")
                .to_owned(),
        )
    };
    let connect =
        |u: String| async move { PgStore::connect(&PgConfig::from_url(Some(&u))?, None).await };
    let ca_s = ca.display().to_string();

    connect(format!("{base}?sslmode=verify-full&sslrootcert={ca_s}"))
        .await
        .unwrap();
    connect(format!("{base}?sslmode=require")).await.unwrap();
    connect(format!("{base}?sslmode=prefer")).await.unwrap();
    // A name the certificate does not hold: verify-ca passes, verify-full refuses.
    let wrong = format!("postgresql://owner:{password}@wrong.example:{port}/wc?hostaddr=127.0.0.1");
    connect(format!("{wrong}&sslmode=verify-ca&sslrootcert={ca_s}"))
        .await
        .unwrap();
    let e = connect(format!("{wrong}&sslmode=verify-full&sslrootcert={ca_s}"))
        .await
        .unwrap_err();
    assert!(matches!(e, PgStoreError::Tls { .. }), "{e:?}");
    // The system roots do not know the throwaway CA.
    let e = connect(format!("{base}?sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(matches!(e, PgStoreError::Tls { .. }), "{e:?}");

    // A password file (libpq format, 0600) instead of a password in the URL.
    let passfile = dir.path().join("pgpass");
    std::fs::write(&passfile, format!("127.0.0.1:{port}:wc:owner:{password}\n")).unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let no_pw = format!(
        "postgresql://owner@127.0.0.1:{port}/wc?sslmode=disable&passfile={}",
        passfile.display()
    );
    let s = connect(no_pw).await.unwrap();
    assert!(!format!("{s:?}").contains(&password));

    // A wrong password: a typed login error that shows neither password.
    let bad = url.replace(&password, "Wr0ngSecretValue");
    let cfg = PgConfig::from_url(Some(&bad)).unwrap();
    assert!(!format!("{cfg:?}").contains("Wr0ngSecretValue"));
    let e = PgStore::connect(&cfg, None).await.unwrap_err();
    assert!(
        matches!(&e, PgStoreError::Auth { role, .. } if role == "owner"),
        "{e:?}"
    );
    for text in [e.to_string(), format!("{e:?}"), e.hint()] {
        assert!(
            !text.contains("Wr0ngSecretValue") && !text.contains(&password),
            "{text}"
        );
    }
}

fn cert_files(tag: &str, privkey: &str) -> CertFiles {
    CertFiles {
        cert: format!("CERT {tag}\n"),
        chain: format!("CHAIN {tag}\n"),
        privkey: privkey.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_keeps_the_storage_contract_and_no_private_key_reaches_a_dump() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let a = PgBackend::new(
        store(&url, Some(data_key())).await,
        LeaseSettings::default(),
    );
    let account = a.lock("account-ca", Duration::ZERO).await.unwrap();
    let cert = a.lock("c.example", Duration::ZERO).await.unwrap();
    assert_eq!(cert.path(), None, "a lease is no file");
    check_contract(&a);

    let meta = CertMeta {
        names: vec!["c.example".into()],
        ..CertMeta::default()
    };
    let v = a
        .install(
            "c.example",
            &cert_files("3", KEY_PEM),
            &meta,
            &KeyPerms::default(),
        )
        .unwrap();
    assert_eq!(a.read_live("c.example").unwrap().unwrap().privkey, KEY_PEM);
    assert_eq!(a.list("certs/c.example").unwrap(), ["archive", "live"]);
    assert_eq!(
        a.list(&format!("certs/c.example/archive/{v}")).unwrap(),
        [
            "cert.pem",
            "chain.pem",
            "fullchain.pem",
            "meta.json",
            "privkey.pem"
        ]
    );
    let dump = pg.pg_dump("wc").unwrap();
    assert!(dump.contains(&format!("certs/c.example/archive/{v}/privkey.pem")));
    assert!(!dump.contains("PRIVATE KEY"), "a private key in the dump");

    // A write of a locked name without its lock held here is refused, never written unfenced.
    let e = a.save("certs/other/meta.json", b"{}", false).unwrap_err();
    assert!(
        matches!(&e, StoreError::NotLocked { lock, .. } if lock == "other"),
        "{e:?}"
    );
    assert!(matches!(
        a.install(
            "other",
            &cert_files("x", KEY_PEM),
            &meta,
            &KeyPerms::default()
        ),
        Err(StoreError::NotLocked { .. })
    ));
    assert!(matches!(
        a.save("accounts/other-ca/default/key.pem", b"k", true),
        Err(StoreError::NotLocked { lock, .. }) if lock == "account-other-ca"
    ));
    assert_eq!(a.load("certs/other/meta.json").unwrap(), None);
    drop((cert, account));
    assert!(matches!(
        a.save("certs/c.example/meta.json", b"{}", false),
        Err(StoreError::NotLocked { .. })
    ));
    // Journal records need no lock.
    a.save("journal/run-1.json", b"{}", false).unwrap();
    // From the blocking pool, as the manager calls its store.
    let a = std::sync::Arc::new(a);
    let pooled = a.clone();
    let got = tokio::task::spawn_blocking(move || pooled.load("journal/run-1.json"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"{}"[..]));

    // Outside a multi-thread runtime: a clear error, not a panic.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let e = a.load("journal/run-1.json").unwrap_err();
                assert!(
                    matches!(
                        e,
                        StoreError::Database(PgStoreError::NeedsMultiThreadRuntime)
                    ),
                    "{e:?}"
                );
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let e = rt
                    .block_on(async { a.load("journal/run-1.json") })
                    .unwrap_err();
                assert!(e.to_string().contains("multi-thread"), "{e}");
            })
            .join()
            .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backends_exclude_each_other_and_a_holder_past_its_lease_writes_nothing() {
    if !require_postgres() {
        return;
    }
    let (_pg, url) = cluster();
    let key = dir_key();
    // `b` renews every ttl/3; `a` never renews: a bastion frozen past its lease.
    let b = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings::with_ttl(Duration::from_secs(2)),
    );
    let a = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings {
            ttl: Duration::from_millis(400),
            renew_every: Duration::from_secs(3600),
        },
    );

    // Exclusive, and kept past its ttl by renewal.
    let held = b.lock("x", Duration::ZERO).await.unwrap();
    let e = a.lock("x", Duration::from_secs(3)).await.unwrap_err();
    assert!(matches!(&e, StoreError::Locked { .. }), "{e:?}");
    assert!(e.to_string().contains("pid"), "names the holder: {e}");
    // Dropping the guard releases the lease at once, not at its expiry.
    let start = std::time::Instant::now();
    drop(held);
    let x = a.lock("x", Duration::from_secs(10)).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    drop(x);

    // `a` takes the certificate, then freezes; `b` takes over once the lease has expired.
    let stale = a.lock("c.example", Duration::ZERO).await.unwrap();
    let fresh = b.lock("c.example", Duration::from_secs(10)).await.unwrap();
    let meta = CertMeta::default();
    let v = b
        .install(
            "c.example",
            &cert_files("b", KEY_PEM),
            &meta,
            &KeyPerms::default(),
        )
        .unwrap();
    // The frozen holder wakes up: its install and its writes are refused, nothing written.
    let e = a
        .install(
            "c.example",
            &cert_files("a", KEY_PEM),
            &meta,
            &KeyPerms::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            &e,
            StoreError::Database(PgStoreError::StaleFence {
                holder: Some(_),
                ..
            })
        ),
        "{e:?}"
    );
    assert!(matches!(
        a.save("certs/c.example/meta.json", b"{}", false),
        Err(StoreError::Database(PgStoreError::StaleFence { .. }))
    ));
    assert_eq!(b.live_version("c.example").unwrap(), Some(v));
    assert_eq!(a.read_live("c.example").unwrap().unwrap().cert, "CERT b\n");
    assert_eq!(b.list("certs/c.example/archive").unwrap(), [v.to_string()]);
    assert_eq!(b.load("certs/c.example/meta.json").unwrap(), None);
    drop((stale, fresh));

    // A holder whose renewal finds the lease taken says so on its next write.
    let c = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings {
            ttl: Duration::from_millis(300),
            renew_every: Duration::from_millis(600),
        },
    );
    let lost = c.lock("z", Duration::ZERO).await.unwrap();
    let taker = b.lock("z", Duration::from_secs(10)).await.unwrap();
    let mut reported = false;
    for _ in 0..200 {
        match c.save("certs/z/meta.json", b"{}", false) {
            Err(StoreError::Database(PgStoreError::LeaseLost { .. })) => {
                reported = true;
                break;
            }
            Err(StoreError::Database(PgStoreError::StaleFence { .. })) => {}
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reported, "the renewal never reported the lease lost");
    assert_eq!(b.load("certs/z/meta.json").unwrap(), None);
    drop((lost, taker));
}

/// One data key file both bastions load (every host gets a copy).
struct SharedKey(tempfile::TempDir);

fn dir_key() -> SharedKey {
    let dir = tempfile::tempdir().unwrap();
    DataKey::load_or_create(&dir.path().join("store.key")).unwrap();
    SharedKey(dir)
}

impl SharedKey {
    fn load(&self) -> DataKey {
        DataKey::load_or_create(&self.0.path().join("store.key")).unwrap()
    }
}

/// `store migrate`'s write: a certificate whole, under its own version numbers, in one fenced
/// transaction; refused (nothing written) where the name is taken unless replacing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_is_stored_whole_under_its_lease_and_never_over_one_that_exists() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    let a = PgBackend::new(
        store(&url, Some(data_key())).await,
        LeaseSettings::default(),
    );
    let tree = |tag: &str| -> Vec<(String, Vec<u8>, bool)> {
        vec![
            ("certs/c/archive/4/cert.pem".into(), tag.into(), false),
            (
                "certs/c/archive/4/privkey.pem".into(),
                KEY_PEM.into(),
                false,
            ),
            ("certs/c/archive/7/cert.pem".into(), tag.into(), false),
            ("certs/c/live".into(), b"7".to_vec(), false),
        ]
    };
    // Without the lease: refused.
    let e = a.put_tree("certs/c", &tree("one"), false).unwrap_err();
    assert!(matches!(e, StoreError::NotLocked { .. }), "{e}");
    let lock = a.lock("c", Duration::ZERO).await.unwrap();
    a.put_tree("certs/c", &tree("one"), false).unwrap();
    assert_eq!(a.live_version("c").unwrap(), Some(7), "numbers kept");
    assert_eq!(a.archive_versions("c").unwrap(), [4, 7]);
    assert_eq!(
        a.load("certs/c/archive/4/privkey.pem").unwrap().unwrap(),
        KEY_PEM.as_bytes(),
        "opened as stored"
    );
    assert!(!pg.pg_dump("wc").unwrap().contains("PRIVATE KEY"), "sealed");
    // A key outside the tree is refused.
    let outside = vec![("certs/d/live".to_owned(), b"1".to_vec(), false)];
    assert!(a.put_tree("certs/c", &outside, true).is_err());
    // Taken: refused and nothing written; replacing removes what was there.
    let e = a.put_tree("certs/c", &tree("two")[..1], false).unwrap_err();
    assert!(e.to_string().contains("already holds `certs/c/"), "{e}");
    assert_eq!(
        a.load("certs/c/archive/7/cert.pem").unwrap().unwrap(),
        b"one"
    );
    a.put_tree("certs/c", &tree("two")[..1], true).unwrap();
    assert_eq!(a.archive_versions("c").unwrap(), [4]);
    assert_eq!(a.live_version("c").unwrap(), None);
    drop(lock);
}

/// A sync store call made from the runtime's own `block_on` future (where the CLI's `renew`
/// stages run) must not swallow a wake-up meant for that future: before the fix, the store
/// call's `Handle::block_on` parked on the same per-thread parker, and the other branch slept
/// until an unrelated timer (here the 5 s guard; in `renew` the 30 s heartbeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_call_on_the_main_future_keeps_its_other_wake_ups() {
    if !require_postgres() {
        return;
    }
    let (_pg, url) = cluster();
    let a = PgBackend::new(
        store(&url, Some(data_key())).await,
        LeaseSettings::default(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = tx.send(());
    });
    let start = std::time::Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::join!(rx, async {
            // Store calls for at least 200 ms: the other branch's wake-up arrives meanwhile.
            for _ in 0..10_000 {
                a.load("journal/none.json").unwrap();
                if start.elapsed() > Duration::from_millis(200) {
                    break;
                }
            }
        })
    })
    .await;
    assert!(answered.is_ok(), "the main future was never woken again");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "woken only after {:?}",
        start.elapsed()
    );
}

/// From its next connection on, role `owner`'s every statement has its plan logged
/// (`auto_explain`: `Query Text: …` and the plan, in the server's log).
fn explain_owners_statements(pg: &Postgres) {
    pg.psql(
        "postgres",
        "ALTER ROLE owner SET session_preload_libraries = 'auto_explain';
         ALTER ROLE owner SET auto_explain.log_min_duration = 0;",
    )
    .unwrap();
}

/// The server log's length now (where [`log_since`] starts).
fn log_len(pg: &Postgres) -> usize {
    std::fs::read_to_string(pg.log_path()).unwrap().len()
}

/// What the server logged after `from` bytes.
fn log_since(pg: &Postgres, from: usize) -> String {
    std::fs::read_to_string(pg.log_path()).unwrap()[from..].to_string()
}

/// A store of many certificates: what one certificate's calls read must not grow with the
/// store. In a database with the collation Debian's `pg_createcluster` gives on most systems
/// (`C.UTF-8`, not `C`), with 20,000 other objects, the planner's choice for every prefix read
/// (a version's install, listings, a tree's replacement; each more than five times, past
/// PostgreSQL's switch to generic plans for prepared statements) is logged by `auto_explain`:
/// an index range, never a scan of the whole table (which made issuing N certificates cost N²
/// row reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_certificates_prefix_reads_do_not_scan_the_whole_store() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    pg.psql(
        "postgres",
        "CREATE DATABASE wcu OWNER owner TEMPLATE template0 ENCODING 'UTF8'
           LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'",
    )
    .unwrap();
    let url = url.replacen("/wc?", "/wcu?", 1);
    assert!(url.contains("/wcu?"), "{url}");
    drop(store(&url, Some(data_key())).await); // the schema
    pg.psql(
        "wcu",
        "INSERT INTO wildcert_objects (key, value, fence)
           SELECT 'certs/other' || g || '/' || f, '\\x00'::bytea, 0
           FROM generate_series(1, 5000) g, unnest(ARRAY['live', 'meta.json',
                'archive/1/cert.pem', 'archive/1/meta.json']) f;
         ANALYZE wildcert_objects;",
    )
    .unwrap();
    explain_owners_statements(&pg);
    let key = dir_key();
    let a = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings::default(),
    );
    let lock = a.lock("c.example", Duration::ZERO).await.unwrap();
    let before = log_len(&pg);

    let meta = CertMeta::default();
    for v in 1..=7 {
        let tag = v.to_string();
        a.install(
            "c.example",
            &cert_files(&tag, KEY_PEM),
            &meta,
            &KeyPerms::default(),
        )
        .unwrap();
        assert_eq!(a.archive_versions("c.example").unwrap().len(), v);
        assert_eq!(a.list("certs/c.example").unwrap(), ["archive", "live"]);
        let raw = a.store();
        let live = raw.get_prefix("certs/c.example/live").await.unwrap();
        assert_eq!(live.len(), 1);
    }
    let tree = vec![("certs/c.example/live".to_owned(), b"2".to_vec(), false)];
    a.put_tree("certs/c.example", &tree, true).unwrap();
    let raw = a.store();
    assert_eq!(
        raw.list("certs/c.example/").await.unwrap(),
        ["certs/c.example/live"]
    );
    assert_eq!(raw.get_prefix("certs/c.example/").await.unwrap().len(), 1);
    drop(lock);

    let explained = log_since(&pg, before);
    assert!(
        explained.contains("Query Text:") && explained.contains("wildcert_objects"),
        "auto_explain logged no plan:\n{explained}"
    );
    let scans: Vec<&str> = explained
        .split("Query Text:")
        .filter(|entry| entry.contains("Seq Scan on wildcert_objects"))
        .collect();
    assert!(
        scans.is_empty(),
        "whole-table scans:\n{}",
        scans.join("\n---\n")
    );
}

/// A run holds a lease per certificate it works on (thousands in a large store): they are
/// renewed together, one statement per round, not one per lease (which made the renewals a
/// third of a 10,000-certificate run's statements, more the longer it ran). Every lease stays
/// held across the rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_a_run_holds_are_renewed_together_in_one_statement() {
    if !require_postgres() {
        return;
    }
    let (pg, url) = cluster();
    drop(store(&url, Some(data_key())).await); // the schema
    explain_owners_statements(&pg);
    let key = dir_key();
    let ttl = Duration::from_millis(900);
    let a = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings::with_ttl(ttl),
    );
    let other = PgBackend::new(
        store(&url, Some(key.load())).await,
        LeaseSettings::with_ttl(Duration::from_secs(30)),
    );
    let before = log_len(&pg);
    let mut guards = Vec::new();
    for i in 0..40 {
        guards.push(a.lock(&format!("c{i}"), Duration::ZERO).await.unwrap());
    }
    // Four lease lengths: without renewal every lease would have run out three times over.
    let start = std::time::Instant::now();
    tokio::time::sleep(ttl * 4).await;
    let rounds = (start.elapsed().as_millis() / (ttl / 3).as_millis()) as usize;
    for i in 0..40 {
        let e = other
            .lock(&format!("c{i}"), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Locked { .. }), "c{i}: {e}");
    }
    let updates = log_since(&pg, before)
        .split("Query Text:")
        .filter(|e| e.trim_start().starts_with("UPDATE wildcert_leases"))
        .count();
    assert!(
        (1..=rounds + 2).contains(&updates),
        "{updates} renewal statements in {rounds} rounds for 40 leases"
    );
    drop(guards);
}

/// `renew`'s batched read of every certificate's metadata gives what `read_meta` gives one by
/// one: `meta.json` lagging `live` reconciled from the live version, a certificate with only
/// `meta.json`, one whose `meta.json` is broken (its own error, the others still read), names
/// in the same order as `list_certs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batched_metadata_read_is_read_meta_for_every_certificate() {
    if !require_postgres() {
        return;
    }
    let (_pg, url) = cluster();
    let a = PgBackend::new(
        store(&url, Some(data_key())).await,
        LeaseSettings::default(),
    );
    let meta = |n: &str, tag: &str| CertMeta {
        names: vec![n.into()],
        provider: tag.into(),
        ..CertMeta::default()
    };
    let names = ["b.example", "a-b.example", "a.example", "a.b.example"];
    for n in names {
        let _l = a.lock(n, Duration::ZERO).await.unwrap();
        let v = a
            .install(
                n,
                &cert_files(n, KEY_PEM),
                &meta(n, "v1"),
                &KeyPerms::default(),
            )
            .unwrap();
        let mut m = meta(n, "top");
        m.version = Some(v);
        a.write_meta(n, &m).unwrap();
    }
    // a.example: a second version whose top-level meta.json was never rewritten.
    {
        let _l = a.lock("a.example", Duration::ZERO).await.unwrap();
        a.install(
            "a.example",
            &cert_files("2", KEY_PEM),
            &meta("a.example", "v2"),
            &KeyPerms::default(),
        )
        .unwrap();
    }
    // Only meta.json (an order recorded, nothing issued yet), and a broken one.
    {
        let _l = a.lock("pending.example", Duration::ZERO).await.unwrap();
        a.write_meta("pending.example", &meta("pending.example", "pending"))
            .unwrap();
        let _b = a.lock("broken.example", Duration::ZERO).await.unwrap();
        a.save("certs/broken.example/meta.json", b"{not json", false)
            .unwrap();
    }
    let batched = a.list_with_meta().unwrap();
    let listed: Vec<String> = batched.iter().map(|(n, _)| n.clone()).collect();
    let mut sorted = a.list_certs().unwrap();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(listed.len(), 6, "{listed:?}");
    for (name, got) in &batched {
        match (got, a.read_meta(name)) {
            (Ok(got), Ok(one)) => assert_eq!(got, &one, "{name}"),
            (Err(got), Err(one)) => {
                assert_eq!(name, "broken.example");
                assert_eq!(got.to_string(), one.to_string());
            }
            (got, one) => panic!("{name}: batched {got:?}, one by one {one:?}"),
        }
    }
    let a2 = batched
        .iter()
        .find(|(n, _)| n == "a.example")
        .and_then(|(_, m)| m.as_ref().ok().cloned().flatten())
        .unwrap();
    assert_eq!((a2.provider.as_str(), a2.version), ("v2", Some(2)));
}

/// A bastion's store has more than one connection: a call does not queue behind another
/// that waits in the database (here a fenced write waiting for the lease row another session
/// locked). With one connection the read waited for the writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_does_not_queue_behind_a_waiting_write() {
    if !require_postgres() {
        return;
    }
    let (_pg, url) = cluster();
    let s = std::sync::Arc::new(store(&url, Some(data_key())).await);
    let lease = s
        .lock("c.example", "h", LONG, Duration::ZERO)
        .await
        .unwrap();
    let (mut other, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM wildcert_leases WHERE name = 'c.example' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let writer = {
        let s = s.clone();
        let lease = lease.clone();
        tokio::spawn(async move {
            s.put("certs/c.example/meta.json", b"{}", false, &lease)
                .await
        })
    };
    // Until the write waits for the row lock (each look a round trip; bounded: 10 s).
    let mut waiting = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let row = tx
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'wc'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            waiting = true;
            break;
        }
    }
    assert!(waiting, "the write never waited for the lease row");
    let read = tokio::time::timeout(Duration::from_secs(10), s.get("journal/none.json")).await;
    tx.rollback().await.unwrap();
    assert!(matches!(read, Ok(Ok(None))), "{read:?}");
    writer.await.unwrap().unwrap();
    assert_eq!(
        s.get("certs/c.example/meta.json").await.unwrap().as_deref(),
        Some(&b"{}"[..])
    );
}
