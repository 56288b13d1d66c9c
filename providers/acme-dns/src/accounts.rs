//! acme-dns registrations ("accounts"): read from lego's `ACME_DNS_STORAGE_PATH` file or a
//! certbot-dns-acmedns registration file as they are (JSON keyed by domain: `fulldomain`,
//! `subdomain`, `username`, `password`, lego's `server_url`, certbot's `allowfrom`), and kept by
//! `wildcert acme-dns register` in `<state_dir>/providers/acme-dns/registrations.json` (the same
//! format; mode 0600 in a 0700 directory, written atomically: temp file, fsync, rename, fsync
//! the directory, under a lock file; no symlink followed below the state dir).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_provider::settings::{config_error, warn_if_readable_by_others};
use wildcert_provider::{DnsName, ProviderError, Secret};

use crate::settings::KIND;

/// One registration on an acme-dns server.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Account {
    /// The name the server answers TXT queries for (`<subdomain>.<acme-dns domain>`): the
    /// `_acme-challenge` CNAME's target.
    pub fulldomain: String,
    /// The registration's one label, sent with every update.
    pub subdomain: String,
    /// `X-Api-User`.
    pub username: String,
    /// `X-Api-Key`.
    pub password: Secret,
    /// The server it was made on (lego writes it; empty in older files and certbot's).
    #[serde(default)]
    pub server_url: String,
    /// Networks the server accepts its updates from (certbot's and the server's field).
    #[serde(default)]
    pub allowfrom: Vec<String>,
}

impl Account {
    /// The CNAME target as a name.
    pub fn target(&self) -> Result<DnsName, ProviderError> {
        DnsName::parse(&self.fulldomain).map_err(|e| {
            let m = format!("registration fulldomain `{}`: {e}", self.fulldomain);
            config_error(KIND, m)
        })
    }

    /// The document stored for it (lego's fields and certbot's `allowfrom`).
    pub fn to_json(&self) -> Value {
        json!({
            "fulldomain": self.fulldomain,
            "subdomain": self.subdomain,
            "username": self.username,
            "password": self.password.expose(),
            "server_url": self.server_url,
            "allowfrom": self.allowfrom,
        })
    }
}

/// The registration key of a certificate name: lower case, no trailing dot, no `*.` (a
/// wildcard and its apex share `_acme-challenge.<apex>`, so one registration).
pub fn domain_key(name: &str) -> String {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    n.strip_prefix("*.").map(str::to_string).unwrap_or(n)
}

/// The registrations of a file, by [`domain_key`]; `None` when the file does not exist.
pub fn read_file(
    path: &Path,
    setting: &str,
) -> Result<Option<BTreeMap<String, Account>>, ProviderError> {
    let bad = |why: String| config_error(KIND, format!("{setting} {}: {why}", path.display()));
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    warn_if_readable_by_others(path, "the acme-dns registrations file");
    if text.trim().is_empty() {
        return Ok(Some(BTreeMap::new()));
    }
    let all: BTreeMap<String, Value> = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a JSON object of registrations ({e})")))?;
    let mut out = BTreeMap::new();
    for (domain, v) in all {
        let acct: Account = serde_json::from_value(v)
            .map_err(|e| bad(format!("registration `{domain}`: {}", field_error(&e))))?;
        for (field, value) in [
            ("fulldomain", &acct.fulldomain),
            ("subdomain", &acct.subdomain),
            ("username", &acct.username),
            ("password", &acct.password.expose().to_string()),
        ] {
            if value.trim().is_empty() {
                return Err(bad(format!(
                    "registration `{domain}` has an empty `{field}`"
                )));
            }
        }
        acct.target()?;
        out.insert(domain_key(&domain), acct);
    }
    Ok(Some(out))
}

/// A serde error without the value it was reading (it may be the password).
fn field_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find("missing field") {
        Some(i) => s[i..]
            .split(" at line")
            .next()
            .unwrap_or(&s[i..])
            .to_string(),
        None => "a field has the wrong type (every field is a string; allowfrom a list)".into(),
    }
}

/// Where wildcert keeps the registrations it made.
pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir
        .join("providers")
        .join(KIND.name)
        .join("registrations.json")
}

/// Add `account` for `domain` to the state dir's registrations file (created 0600 in 0700
/// directories), keeping every other entry.
pub fn save(state_dir: &Path, domain: &str, account: &Account) -> Result<PathBuf, ProviderError> {
    let path = state_file(state_dir);
    let fail = |what: &str, p: &Path, e: std::io::Error| ProviderError::Other {
        provider: KIND,
        message: format!("cannot {what} {}: {e}", p.display()),
    };
    let mut dir = state_dir.to_path_buf();
    for part in ["providers", KIND.name] {
        dir.push(part);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail("create", &dir, e)),
        }
        let meta = fs::symlink_metadata(&dir).map_err(|e| fail("inspect", &dir, e))?;
        if !meta.is_dir() {
            let m = format!(
                "{} is not a directory (a symlink?): refusing to write registrations through it",
                dir.display()
            );
            return Err(ProviderError::Other {
                provider: KIND,
                message: m,
            });
        }
    }
    let lock_path = dir.join("registrations.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix_nofollow())
        .open(&lock_path)
        .map_err(|e| fail("open", &lock_path, e))?;
    fs4::FileExt::lock(&lock).map_err(|e| fail("lock", &lock_path, e))?;
    let result = (|| {
        let mut all: BTreeMap<String, Value> = match fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => serde_json::from_str(&t).map_err(|e| {
                let m = format!(
                    "{} is not a JSON object ({e}); move it aside",
                    path.display()
                );
                ProviderError::Other {
                    provider: KIND,
                    message: m,
                }
            })?,
            Ok(_) => BTreeMap::new(),
            Err(e) if e.kind() == ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(fail("read", &path, e)),
        };
        all.insert(domain_key(domain), account.to_json());
        let data = serde_json::to_vec_pretty(&all).unwrap_or_default();
        write_atomic(&path, &data).map_err(|e| fail("write", &path, e))
    })();
    let _ = fs4::FileExt::unlock(&lock);
    result.map(|()| path)
}

/// O_NOFOLLOW: a symlink planted at the file's place is not followed.
fn rustix_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Temp file in the same directory (0600, never an existing file), fsync, rename, fsync dir.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("registrations.json");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(data).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(f);
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

/// The mode bits of a file, for tests and messages.
pub fn mode(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGO: &str = r#"{
      "example.org": {"fulldomain": "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.example.org",
        "subdomain": "d420c923-bbd7-4056-ab64-c3ca54c9b3cf", "username": "c36f50e8-4632-44f0-83fe-e070fef28a10",
        "password": "htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW3F7Z", "server_url": "https://auth.example.org"}
    }"#;

    #[test]
    fn lego_and_certbot_files_are_read_as_they_are() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("lego.json");
        fs::write(&p, LEGO).expect("write");
        let all = read_file(&p, "storage_path")
            .expect("read")
            .expect("exists");
        let a = &all["example.org"];
        assert_eq!(a.server_url, "https://auth.example.org");
        assert!(a.allowfrom.is_empty());
        assert!(!format!("{a:?}").contains("htB9mR9"));
        let certbot = r#"{"*.Example.NET.": {"username": "u", "password": "p", "fulldomain": "s.auth.example.org",
            "subdomain": "s", "allowfrom": ["192.0.2.0/24"]}}"#;
        fs::write(&p, certbot).expect("write");
        let all = read_file(&p, "storage_path")
            .expect("read")
            .expect("exists");
        assert_eq!(all["example.net"].allowfrom, ["192.0.2.0/24"]);
        assert!(
            read_file(&dir.path().join("none.json"), "x")
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn bad_files_name_the_file_and_hide_the_password() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("bad.json");
        for (text, want) in [
            ("[1, 2]", "not a JSON object"),
            (
                r#"{"a.org": {"fulldomain": "x.auth.org", "subdomain": "x", "password": "secretpw"}}"#,
                "missing field `username`",
            ),
            (
                r#"{"a.org": {"fulldomain": "x.auth.org", "subdomain": "x", "username": "u", "password": 5}}"#,
                "wrong type",
            ),
            (
                r#"{"a.org": {"fulldomain": "", "subdomain": "x", "username": "u", "password": "secretpw"}}"#,
                "empty `fulldomain`",
            ),
        ] {
            fs::write(&p, text).expect("write");
            let e = read_file(&p, "storage_path (ACME_DNS_STORAGE_PATH)")
                .expect_err(text)
                .to_string();
            assert!(
                e.contains(want) && e.contains("bad.json") && e.contains("ACME_DNS_STORAGE_PATH"),
                "{e}"
            );
            assert!(!e.contains("secretpw"), "{e}");
        }
    }

    #[test]
    fn saved_registrations_are_private_and_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let acct = |s: &str| Account {
            fulldomain: format!("{s}.auth.example.org"),
            subdomain: s.into(),
            username: "u".into(),
            password: Secret::new("p"),
            server_url: "https://auth.example.org".into(),
            allowfrom: vec![],
        };
        let p = save(dir.path(), "*.a.example", &acct("one")).expect("save");
        save(dir.path(), "b.example.", &acct("two")).expect("save");
        assert_eq!(mode(&p), Some(0o600));
        assert_eq!(mode(p.parent().expect("dir")), Some(0o700));
        let all = read_file(&p, "x").expect("read").expect("exists");
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a.example", "b.example"]);
        assert_eq!(all["a.example"], acct("one"));
        // A symlink where the provider's directory should be is refused.
        let other = tempfile::tempdir().expect("dir");
        fs::create_dir(other.path().join("providers")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path(), other.path().join("providers/acme-dns"))
            .expect("symlink");
        let e = save(other.path(), "c.example", &acct("three")).expect_err("symlink");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
