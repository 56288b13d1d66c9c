//! The ids of records we created, remembered on disk so a later run (after a crash) deletes
//! exactly those records: `<state_dir>/providers/cloudflare/<zone_id>.json`, one file per zone,
//! written atomically (temp file, fsync, rename, fsync dir; mode 0600) under a lock file so
//! two runs sharing a zone do not lose each other's entries.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One record we created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Cloudflare record id.
    pub id: String,
    /// Owner name (no trailing dot).
    pub name: String,
    /// The TXT value, unquoted.
    pub value: String,
}

/// The file of one zone.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ZoneFile {
    zone_id: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    records: Vec<StoredRecord>,
}

/// Remembered record ids: always in memory, and on disk when a directory is given.
#[derive(Debug, Default)]
pub struct RecordStore {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Vec<StoredRecord>>>,
}

impl RecordStore {
    /// A store under `dir` (`<state_dir>/providers/cloudflare`), or memory only.
    pub fn new(dir: Option<PathBuf>) -> Self {
        RecordStore {
            dir,
            memory: Mutex::default(),
        }
    }

    /// The file of a zone.
    pub fn path(&self, zone_id: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{zone_id}.json")))
    }

    /// Remember a created record.
    pub fn add(&self, zone_id: &str, zone: &str, rec: StoredRecord) -> Result<(), String> {
        self.change(zone_id, zone, |list| {
            if !list.iter().any(|r| r.id == rec.id) {
                list.push(rec.clone());
            }
        })
    }

    /// Forget records by id (deleted, or found gone).
    pub fn remove(&self, zone_id: &str, ids: &[String]) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        self.change(zone_id, "", |list| list.retain(|r| !ids.contains(&r.id)))
    }

    /// Every remembered record of a zone (memory and disk).
    pub fn records(&self, zone_id: &str) -> Vec<StoredRecord> {
        let mut out = self.memory().get(zone_id).cloned().unwrap_or_default();
        let file = self.path(zone_id).map(|p| read_zone_file(&p)).transpose();
        match file {
            Ok(f) => {
                for r in f.flatten().map(|f| f.records).unwrap_or_default() {
                    if !out.iter().any(|o| o.id == r.id) {
                        out.push(r);
                    }
                }
            }
            Err(e) => tracing::warn!(
                "cloudflare: {e}; falling back to matching records by name and value"
            ),
        }
        out
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<StoredRecord>>> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply `change` to the zone's list in memory and, under the zone's lock file, on disk.
    fn change(
        &self,
        zone_id: &str,
        zone: &str,
        change: impl Fn(&mut Vec<StoredRecord>),
    ) -> Result<(), String> {
        change(self.memory().entry(zone_id.to_string()).or_default());
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.path(zone_id)) else {
            return Ok(());
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create", dir))?;
        let lock_path = dir.join(format!("{zone_id}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        // Blocks until another run sharing this zone has written its change (a short write).
        fs4::FileExt::lock(&lock).map_err(io("lock", &lock_path))?;
        let mut file = read_zone_file(&path).unwrap_or_else(|e| {
            tracing::warn!("cloudflare: {e}; starting that file afresh");
            None
        });
        let file = file.get_or_insert_default();
        file.zone_id = zone_id.to_string();
        if !zone.is_empty() {
            file.zone = zone.to_string();
        }
        change(&mut file.records);
        let result = if file.records.is_empty() {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(io("remove", &path)(e)),
                _ => fsync_dir(dir),
            }
        } else {
            serde_json::to_vec_pretty(&file)
                .map_err(|e| format!("cannot encode {}: {e}", path.display()))
                .and_then(|data| write_atomic(&path, &data))
        };
        let _ = fs4::FileExt::unlock(&lock);
        result
    }
}

/// An I/O error as a message naming what failed on which path.
fn io<'a>(what: &'a str, p: &'a Path) -> impl Fn(std::io::Error) -> String + 'a {
    move |e| format!("cannot {what} {}: {e}", p.display())
}

fn read_zone_file(path: &Path) -> Result<Option<ZoneFile>, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not a record-id file: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Temp file in the same directory, fsync, rename, fsync the directory; mode 0600.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("ids");
    let (pid, random) = (std::process::id(), rand::random::<u32>());
    let tmp = dir.join(format!(".{name}.{pid}.{random}.tmp"));
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .map_err(io("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io("rename into", path)))
        .and_then(|()| fsync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fsync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, v: &str) -> StoredRecord {
        StoredRecord {
            id: id.into(),
            name: "_acme-challenge.example.com".into(),
            value: v.into(),
        }
    }

    #[test]
    fn survives_a_new_instance_and_empties() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("providers").join("cloudflare");
        let a = RecordStore::new(Some(dir.clone()));
        a.add("z1", "example.com", rec("r1", "v1")).expect("add");
        a.add("z1", "example.com", rec("r2", "v2")).expect("add");
        let path = a.path("z1").expect("path");
        let mode = fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = RecordStore::new(Some(dir.clone()));
        assert_eq!(b.records("z1"), vec![rec("r1", "v1"), rec("r2", "v2")]);
        b.remove("z1", &["r1".into()]).expect("remove");
        assert_eq!(
            a.records("z1").len(),
            2,
            "memory of a still has r1; disk has r2"
        );
        assert_eq!(
            RecordStore::new(Some(dir.clone())).records("z1"),
            vec![rec("r2", "v2")]
        );
        b.remove("z1", &["r2".into()]).expect("remove");
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
