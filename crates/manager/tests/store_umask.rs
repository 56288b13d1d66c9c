//! Modes under `umask 000` (own test binary: the umask is process-wide, so nothing else may
//! run beside it).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use wildcert_manager::store::{CertFiles, CertMeta, KeyPerms, Store, StoreError};

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[tokio::test]
async fn modes_are_exact_under_umask_000_and_locks_never_truncate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = CertFiles {
        cert: "CERT\n".into(),
        chain: "CHAIN\n".into(),
        privkey: "KEY\n".into(),
    };
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let result = async {
        let store = Store::open(tmp.path().join("state"))?;
        store.install(
            "example.com",
            &files,
            &CertMeta::default(),
            &KeyPerms::default(),
        )?;
        let lock = store.lock("example.com", Duration::ZERO).await?;
        Ok::<_, StoreError>((store, lock))
    }
    .await;
    rustix::process::umask(old);
    let (store, lock) = result.expect("store under umask 000");
    assert_eq!(mode(store.root()), 0o700);
    assert_eq!(mode(lock.path().expect("a lock file")), 0o600);
    assert_eq!(mode(&store.root().join("locks")), 0o700);
    let dir = store.cert_dir("example.com").expect("dir");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("archive/1")), 0o700);
    assert_eq!(mode(&dir.join("archive/1/privkey.pem")), 0o600);
    assert_eq!(mode(&dir.join("archive/1/meta.json")), 0o600);
    assert_eq!(mode(&dir.join("archive/1/cert.pem")), 0o644);
    let path = lock.path().expect("a lock file").to_path_buf();
    drop(lock);
    // A longer, older record is overwritten in place, never truncated away.
    let long = "x".repeat(200);
    fs::write(&path, &long).expect("write");
    let again = store
        .lock("example.com", Duration::ZERO)
        .await
        .expect("lock");
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(text.len(), 200, "the lock file was truncated");
    assert!(text.starts_with(&format!("pid {} since ", std::process::id())));
    drop(again);
}
