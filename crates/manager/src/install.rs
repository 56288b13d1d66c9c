//! Install targets (`[[certificate]] install = [{ dir, owner, group, key_mode, reload, layout }]`):
//! after each new version, copy the live files where a server wants them, then run `reload`.
//!
//! Every file is written atomically: a temporary file in the target directory, created 0600,
//! then `fchown`/`fchmod` to the asked owner, group and mode *before* any byte of the key is
//! written, fsynced, renamed over the old file, and the directory fsynced. A half-written or
//! too-open key is never visible under its name.

use std::io::Write as _;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hooks::{HookReport, hook_env, run_hook};
use crate::model::Issued;
use crate::store::KeyPerms;

/// How long a `reload` command may take.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(300);

pub use crate::settings::{InstallTarget, Layout};

impl InstallTarget {
    /// A target for `issue --install-dir DIR`: the default layout and modes, no reload.
    pub fn dir(dir: impl Into<PathBuf>) -> InstallTarget {
        InstallTarget {
            dir: dir.into(),
            owner: None,
            group: None,
            key_mode: None,
            reload: None,
            layout: Layout::Pem,
        }
    }
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Owner, group or mode not understood.
    #[error("install into {dir}: {message}")]
    Settings {
        /// The target directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The version's files could not be read from the store.
    #[error("install into {dir}: {message}")]
    Source {
        /// The target directory.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("install into {dir}: cannot {action} {path}: {source}")]
    Io {
        /// The target directory.
        dir: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl InstallError {
    /// The target directory.
    pub fn dir(&self) -> &Path {
        match self {
            InstallError::Settings { dir, .. }
            | InstallError::Source { dir, .. }
            | InstallError::Io { dir, .. } => dir,
        }
    }
}

/// What one target got.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The target directory.
    pub dir: PathBuf,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// The reload command's outcome, when there is one.
    pub reload: Option<HookReport>,
}

/// Resolved ids and modes of a target.
struct Perms {
    uid: Option<u32>,
    gid: Option<u32>,
    key_mode: u32,
}

fn perms(t: &InstallTarget) -> Result<Perms, InstallError> {
    let bad = |message: String| InstallError::Settings {
        dir: t.dir.clone(),
        message,
    };
    let kp = KeyPerms::parse(t.group.as_deref(), t.key_mode.as_deref())
        .map_err(|e| bad(e.to_string()))?;
    let uid = t
        .owner
        .as_deref()
        .map(|o| lookup_user(o).ok_or_else(|| bad(format!("no user `{o}` in /etc/passwd"))))
        .transpose()?;
    Ok(Perms {
        uid,
        gid: kp.group,
        key_mode: kp.mode.unwrap_or(0o600),
    })
}

/// Check a target's owner, group and key mode without writing anything (`wildcert config
/// check`).
pub fn check_target(t: &InstallTarget) -> Result<(), InstallError> {
    perms(t).map(|_| ())
}

fn lookup_user(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let uid = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(uid)
        })
}

/// The base name lego gives a certificate's files: its first name, a wildcard's `*` as `_`
/// (`_.example.org.crt`), as lego's `--path` layout has it.
pub fn lego_name(cert_name: &str, names: &[String]) -> String {
    names
        .first()
        .map(|n| n.replace('*', "_"))
        .unwrap_or_else(|| cert_name.to_owned())
}

/// The files of a version under their names in `layout` (`name`: lego's base name,
/// [`lego_name`]): (file of the version, target name, is the key).
pub fn plan(layout: Layout, name: &str) -> Vec<(&'static str, String, bool)> {
    match layout {
        Layout::Pem => vec![
            ("cert.pem", "cert.pem".into(), false),
            ("chain.pem", "chain.pem".into(), false),
            ("fullchain.pem", "fullchain.pem".into(), false),
            ("privkey.pem", "privkey.pem".into(), true),
        ],
        Layout::Lego => vec![
            ("fullchain.pem", format!("{name}.crt"), false),
            ("chain.pem", format!("{name}.issuer.crt"), false),
            ("privkey.pem", format!("{name}.key"), true),
        ],
    }
}

/// The files of one certificate version, as install targets and `wildcert sync` write them:
/// read from the state directory's `live/` or from the shared store. `Debug` never shows
/// the key.
#[derive(Clone)]
pub struct VersionFiles {
    cert: Vec<u8>,
    chain: Vec<u8>,
    fullchain: Vec<u8>,
    privkey: Vec<u8>,
}

impl std::fmt::Debug for VersionFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionFiles")
            .field("cert", &self.cert.len())
            .field("chain", &self.chain.len())
            .field("fullchain", &self.fullchain.len())
            .field("privkey", &"(hidden)")
            .finish()
    }
}

impl VersionFiles {
    /// The four files of a version directory (`live/`, `archive/<n>/`).
    pub fn read_dir(dir: &Path) -> Result<VersionFiles, (PathBuf, std::io::Error)> {
        let read = |f: &str| {
            let p = dir.join(f);
            std::fs::read(&p).map_err(|e| (p, e))
        };
        Ok(VersionFiles {
            cert: read("cert.pem")?,
            chain: read("chain.pem")?,
            fullchain: read("fullchain.pem")?,
            privkey: read("privkey.pem")?,
        })
    }

    /// From a version's objects by file name (what the shared store holds); `None` when one
    /// of the four is missing.
    pub fn from_objects(objects: Vec<(String, Vec<u8>)>) -> Option<VersionFiles> {
        let mut map: std::collections::HashMap<String, Vec<u8>> = objects.into_iter().collect();
        Some(VersionFiles {
            cert: map.remove("cert.pem")?,
            chain: map.remove("chain.pem")?,
            fullchain: map.remove("fullchain.pem")?,
            privkey: map.remove("privkey.pem")?,
        })
    }

    /// The version `issued` installed: from the shared store when there is one (so a
    /// bastion's targets never depend on its local copy), else from its `live/` directory.
    pub fn of(store: &crate::store::Store, issued: &Issued) -> Result<VersionFiles, String> {
        match store.shared() {
            Some(pg) => pg
                .read_version(&issued.cert_name, issued.version)
                .map_err(|e| e.to_string())
                .and_then(|o| {
                    VersionFiles::from_objects(o).ok_or_else(|| {
                        format!(
                            "version {} of `{}` is not in the store",
                            issued.version, issued.cert_name
                        )
                    })
                }),
            None => VersionFiles::read_dir(&issued.live_dir)
                .map_err(|(p, e)| format!("cannot read {}: {e}", p.display())),
        }
    }

    fn get(&self, file: &str) -> &[u8] {
        match file {
            "cert.pem" => &self.cert,
            "chain.pem" => &self.chain,
            "fullchain.pem" => &self.fullchain,
            _ => &self.privkey,
        }
    }
}

/// Write `files` into `t.dir` under `t.layout`'s names (atomically, owner/group/modes set
/// before the bytes; the directory created when missing and fsynced at the end); no reload.
/// `cert_name` and `names` name lego's files. The paths written, in order.
pub fn write_files(
    t: &InstallTarget,
    files: &VersionFiles,
    cert_name: &str,
    names: &[String],
) -> Result<Vec<PathBuf>, InstallError> {
    let p = perms(t)?;
    let io = |action: &'static str, path: &Path| {
        let dir = t.dir.clone();
        let path = path.to_path_buf();
        move |source| InstallError::Io {
            dir,
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(&t.dir).map_err(io("create", &t.dir))?;
    let base = lego_name(cert_name, names);
    let mut written = Vec::new();
    for (src, dst, is_key) in plan(t.layout, &base) {
        let to = t.dir.join(&dst);
        let mode = if is_key { p.key_mode } else { 0o644 };
        write_atomic(&t.dir, &dst, files.get(src), p.uid, p.gid, mode).map_err(io("write", &to))?;
        written.push(to);
    }
    if t.layout == Layout::Lego {
        // lego's `<domain>.json` beside the files (what lego's own tooling reads first).
        let dst = format!("{base}.json");
        let domain = names.first().map(String::as_str).unwrap_or(cert_name);
        let doc = serde_json::json!({ "domain": domain });
        let data = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        let to = t.dir.join(&dst);
        write_atomic(&t.dir, &dst, &data, p.uid, p.gid, 0o644).map_err(io("write", &to))?;
        written.push(to);
    }
    let dir_fd = std::fs::File::open(&t.dir).map_err(io("open", &t.dir))?;
    dir_fd.sync_all().map_err(io("sync", &t.dir))?;
    Ok(written)
}

/// Write `files` (the version `issued`) into `t.dir` ([`write_files`]), then run `t.reload`.
/// The files are written even when the reload then fails; the report says so.
pub async fn install(
    t: &InstallTarget,
    issued: &Issued,
    files: &VersionFiles,
) -> Result<InstallReport, InstallError> {
    let written = write_files(t, files, &issued.cert_name, &issued.names)?;
    let reload = match &t.reload {
        Some(cmd) => {
            let mut env = hook_env(issued);
            env.push(("WILDCERT_INSTALL_DIR".into(), t.dir.display().to_string()));
            Some(run_hook(cmd, &env, &issued.cert_name, RELOAD_TIMEOUT).await)
        }
        None => None,
    };
    Ok(InstallReport {
        dir: t.dir.clone(),
        files: written,
        reload,
    })
}

/// Every target of a certificate, in order; a failing target does not stop the next one.
/// The files are read once, from `store` ([`VersionFiles::of`]), and only when there is a
/// target.
pub async fn install_all(
    targets: &[InstallTarget],
    issued: &Issued,
    store: &crate::store::Store,
) -> Vec<Result<InstallReport, InstallError>> {
    if targets.is_empty() {
        return Vec::new();
    }
    let files = match VersionFiles::of(store, issued) {
        Ok(f) => f,
        Err(message) => {
            return targets
                .iter()
                .map(|t| {
                    Err(InstallError::Source {
                        dir: t.dir.clone(),
                        message: message.clone(),
                    })
                })
                .collect();
        }
    };
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        out.push(install(t, issued, &files).await);
    }
    out
}

/// The end of an install's temporary file name: `.<file>.<pid>.wildcert-tmp`.
const TMP_SUFFIX: &str = ".wildcert-tmp";

/// Remove what installs killed between writing and renaming left in `t` (temporary files of
/// writers that are gone, and those of older versions, which carried no pid); what was removed.
/// Best effort: a directory that cannot be read is the next install's error to report.
pub fn sweep(t: &InstallTarget) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(&t.dir) else {
        return removed;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(stem) = name
            .to_str()
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(TMP_SUFFIX))
        else {
            continue;
        };
        let writer = stem
            .rsplit_once('.')
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        let gone = match writer {
            Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
            // `.<file>.wildcert-tmp`: written by a version that put no pid in the name.
            None => true,
        };
        // Only plain files are ours; anything else is left for the admin.
        if gone
            && e.file_type().is_ok_and(|ft| ft.is_file())
            && std::fs::remove_file(e.path()).is_ok()
        {
            tracing::warn!(
                "removed {}, left by an interrupted install",
                e.path().display()
            );
            removed.push(e.path());
        }
    }
    removed
}

/// Write `data` as `dir/name` atomically: a temporary file created 0600, owner, group and
/// `mode` set before the bytes, fsynced, renamed over the old one.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    data: &[u8],
    uid: Option<u32>,
    gid: Option<u32>,
    mode: u32,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = dir.join(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let result = (|| {
        if uid.is_some() || gid.is_some() {
            rustix::fs::fchown(
                f.as_fd(),
                uid.map(rustix::process::Uid::from_raw),
                gid.map(rustix::process::Gid::from_raw),
            )?;
        }
        rustix::fs::fchmod(f.as_fd(), rustix::fs::Mode::from_raw_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    fn issued(live: &Path) -> Issued {
        for (f, body) in [
            ("cert.pem", "LEAF"),
            ("chain.pem", "ISSUER"),
            ("fullchain.pem", "LEAF\nISSUER"),
            ("privkey.pem", "KEY"),
        ] {
            std::fs::write(live.join(f), body).expect("write live");
        }
        Issued {
            cert_name: "site".into(),
            version: 1,
            live_dir: live.to_path_buf(),
            names: vec!["site.test".into()],
            key_type: "ec256".into(),
            not_before: String::new(),
            not_after: String::new(),
            issuer: None,
            serial: "01".into(),
            order_url: String::new(),
            timings_ms: Default::default(),
            zones: Vec::new(),
            acme_requests: 0,
            dns_queries: 0,
        }
    }

    fn files(i: &Issued) -> VersionFiles {
        VersionFiles::read_dir(&i.live_dir).expect("live files")
    }

    #[tokio::test]
    async fn pem_layout_with_group_mode_and_reload() {
        let tmp = tempfile::tempdir().expect("tmp");
        let live = tmp.path().join("live");
        std::fs::create_dir(&live).expect("live");
        let i = issued(&live);
        // As root, another group and owner than the creator's, so the chown is seen.
        let root = rustix::process::getuid().is_root();
        let gid = if root {
            65534
        } else {
            rustix::process::getgid().as_raw()
        };
        let marker = tmp.path().join("reloaded");
        let t = InstallTarget {
            dir: tmp.path().join("nginx/ssl/site"),
            owner: root.then(|| "65534".to_string()),
            group: Some(gid.to_string()),
            key_mode: Some("0640".into()),
            reload: Some(format!(
                "echo \"$WILDCERT_INSTALL_DIR $WILDCERT_CERT_NAME\" > {}",
                marker.display()
            )),
            layout: Layout::Pem,
        };
        let r = install(&t, &i, &files(&i)).await.expect("install");
        assert_eq!(r.files.len(), 4);
        let key = std::fs::metadata(t.dir.join("privkey.pem")).expect("key");
        assert_eq!(key.mode() & 0o7777, 0o640);
        assert_eq!(key.gid(), gid);
        if root {
            assert_eq!(key.uid(), 65534);
        }
        let cert = std::fs::metadata(t.dir.join("fullchain.pem")).expect("cert");
        assert_eq!(cert.mode() & 0o7777, 0o644);
        assert_eq!(
            std::fs::read_to_string(t.dir.join("fullchain.pem")).expect("read"),
            "LEAF\nISSUER"
        );
        assert!(r.reload.as_ref().is_some_and(|h| h.ok), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(&marker).expect("reload ran").trim(),
            format!("{} site", t.dir.display())
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&t.dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }

    #[tokio::test]
    async fn lego_layout_and_refusals() {
        let tmp = tempfile::tempdir().expect("tmp");
        let live = tmp.path().join("live");
        std::fs::create_dir(&live).expect("live");
        let i = issued(&live);
        let mut t = InstallTarget::dir(tmp.path().join("lego"));
        t.layout = Layout::Lego;
        install(&t, &i, &files(&i)).await.expect("install");
        let read = |n: &str| std::fs::read_to_string(t.dir.join(n)).expect(n);
        // lego names the files after the first domain (issue 23: they were named after the
        // store name, `site.crt`, where lego writes `site.test.crt`).
        assert_eq!(read("site.test.crt"), "LEAF\nISSUER");
        assert_eq!(read("site.test.issuer.crt"), "ISSUER");
        assert_eq!(read("site.test.key"), "KEY");
        let doc: serde_json::Value =
            serde_json::from_str(&read("site.test.json")).expect("lego's json");
        assert_eq!(doc["domain"], "site.test");
        let key = std::fs::metadata(t.dir.join("site.test.key")).expect("key");
        assert_eq!(key.mode() & 0o7777, 0o600);

        t.key_mode = Some("0644".into());
        assert!(matches!(
            install(&t, &i, &files(&i)).await,
            Err(InstallError::Settings { .. })
        ));
        t.key_mode = None;
        t.owner = Some("no-such-user-wildcert".into());
        let e = install(&t, &i, &files(&i))
            .await
            .expect_err("unknown owner");
        assert!(e.to_string().contains("no-such-user-wildcert"), "{e}");
    }

    #[tokio::test]
    async fn lego_layout_names_a_wildcard_as_lego_does() {
        let tmp = tempfile::tempdir().expect("tmp");
        let live = tmp.path().join("live");
        std::fs::create_dir(&live).expect("live");
        let mut i = issued(&live);
        i.cert_name = "lg.example.org".into();
        i.names = vec!["*.lg.example.org".into(), "lg.example.org".into()];
        let mut t = InstallTarget::dir(tmp.path().join("lego"));
        t.layout = Layout::Lego;
        let r = install(&t, &i, &files(&i)).await.expect("install");
        let mut names: Vec<String> = r
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "_.lg.example.org.crt",
                "_.lg.example.org.issuer.crt",
                "_.lg.example.org.json",
                "_.lg.example.org.key"
            ]
        );
        let doc = std::fs::read_to_string(t.dir.join("_.lg.example.org.json")).expect("json");
        assert!(doc.contains("\"*.lg.example.org\""), "{doc}");
    }

    #[test]
    fn settings_parse_from_toml() {
        let t: InstallTarget = toml::from_str(
            "dir = \"/etc/nginx/ssl/site\"\nowner = \"root\"\ngroup = \"www-data\"\nkey_mode = \"0640\"\nreload = \"systemctl reload nginx\"\nlayout = \"lego\"\n",
        )
        .expect("parses");
        assert_eq!(t.layout, Layout::Lego);
        assert!(toml::from_str::<InstallTarget>("dir = \"/x\"\nlayout = \"certbot\"\n").is_err());
        assert!(toml::from_str::<InstallTarget>("dir = \"/x\"\nmode = \"0640\"\n").is_err());
    }
}
