//! Prometheus metrics in node_exporter's textfile collector format: per certificate its
//! expiry, when it is next due, and its last success and failure; per `renew` run its
//! duration. `[metrics] textfile` is rewritten atomically after every `renew`;
//! `wildcert list --prometheus` prints the same text.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::commands::certs::rule_for;
use crate::error::IssueError;
use crate::renew::{Decision, decide};
use crate::settings::CertificateSettings;
use crate::store::{StorageExt, Store};

/// The last `renew` run, kept in the store (`last-run.json`) so that `list --prometheus`
/// reports it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// RFC 3339 time the run ended.
    pub ended_at: String,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
}

/// A metrics file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file {}: {source}", path.display())]
pub struct MetricsError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

const LAST_RUN: &str = "last-run.json";

fn unix(t: &Option<String>) -> Option<i64> {
    t.as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map(OffsetDateTime::unix_timestamp)
}

/// A label value escaped as the text format asks (`\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Record a `renew` run's duration in the store (read back by [`render`]).
pub fn record_run(
    store: &Store,
    duration: Duration,
    now: OffsetDateTime,
) -> Result<(), IssueError> {
    let run = LastRun {
        ended_at: crate::verify::rfc3339(now),
        duration_seconds: duration.as_secs_f64(),
    };
    store.save_json(LAST_RUN, &run, true)?;
    Ok(())
}

/// The metrics text for every certificate in the store (sorted by name) and the last run.
/// `certificates` are the `[[certificate]]` entries (they set the renewal rule, as in `show`).
pub fn render(
    store: &Store,
    certificates: &[CertificateSettings],
    now: OffsetDateTime,
) -> Result<String, IssueError> {
    let mut not_after = Vec::new();
    let mut due = Vec::new();
    let mut success = Vec::new();
    let mut failure = Vec::new();
    for name in store.list()? {
        let Ok(Some(meta)) = store.read_meta(&name) else {
            continue;
        };
        let l = label(&name);
        if let Some(t) = unix(&meta.not_after) {
            not_after.push(format!("{{name=\"{l}\"}} {t}"));
        }
        let (rule, _) = rule_for(&name, &meta, certificates);
        let due_at = match decide(Some(&meta), &rule, now, false) {
            Ok(Decision::Skip { due, .. }) => unix(&Some(due)),
            Ok(_) => Some(now.unix_timestamp()),
            Err(_) => None,
        };
        if let Some(t) = due_at {
            due.push(format!("{{name=\"{l}\"}} {t}"));
        }
        success.push(format!(
            "{{name=\"{l}\"}} {}",
            unix(&meta.issued_at).unwrap_or(0)
        ));
        failure.push(format!(
            "{{name=\"{l}\"}} {}",
            unix(&meta.last_failure_at).unwrap_or(0)
        ));
    }
    let mut out = String::new();
    let mut family = |metric: &str, help: &str, samples: &[String]| {
        out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
        for s in samples {
            out.push_str(&format!("{metric}{s}\n"));
        }
    };
    family(
        "wildcert_certificate_not_after_seconds",
        "Expiry (notAfter) of the live certificate, Unix time.",
        &not_after,
    );
    family(
        "wildcert_certificate_renewal_due_seconds",
        "When renew next renews the certificate (now if due), Unix time.",
        &due,
    );
    family(
        "wildcert_renewal_last_success_seconds",
        "When the live certificate was issued, Unix time (0: never).",
        &success,
    );
    family(
        "wildcert_renewal_last_failure_seconds",
        "When issuing or renewing the certificate last failed, Unix time (0: never).",
        &failure,
    );
    let last: Option<LastRun> = store.load_json(LAST_RUN)?;
    let run: Vec<String> = last
        .map(|r| vec![format!(" {}", r.duration_seconds)])
        .unwrap_or_default();
    family(
        "wildcert_renew_run_duration_seconds",
        "How long the last renew run took, in seconds.",
        &run,
    );
    Ok(out)
}

/// Write `text` to `path` atomically (a temporary file in the same directory, fsynced,
/// mode 0644, renamed into place, the directory fsynced), as node_exporter's textfile
/// collector needs: it never reads a half-written file (it ignores names not ending `.prom`).
pub fn write_textfile(path: &Path, text: &str) -> Result<(), MetricsError> {
    let err = |source| MetricsError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| err(std::io::Error::other("the path names no file")))?;
    // A run killed while writing left `.<file>.<pid>.tmp`: removed once that process is gone.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let pid = n
                .strip_prefix(&format!(".{file_name}."))
                .and_then(|r| r.strip_suffix(".tmp"))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && pid != std::process::id()
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CertMeta;

    #[test]
    fn renders_every_family_with_escaped_labels_and_writes_atomically() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path().join("state")).expect("open");
        let meta = CertMeta {
            names: vec!["a.example".into()],
            key_type: "ec256".into(),
            issued_at: Some("2026-01-01T00:00:00Z".into()),
            not_before: Some("2026-01-01T00:00:00Z".into()),
            not_after: Some("2026-04-01T00:00:00Z".into()),
            ..Default::default()
        };
        store.write_meta("a.example", &meta).expect("write");
        let now = OffsetDateTime::parse("2026-01-02T00:00:00Z", &Rfc3339).expect("time");
        record_run(&store, Duration::from_millis(1500), now).expect("run");
        let text = render(&store, &[], now).expect("render");
        assert!(
            text.contains("wildcert_certificate_not_after_seconds{name=\"a.example\"} 1775001600"),
            "{text}"
        );
        assert!(
            text.contains("wildcert_renewal_last_success_seconds{name=\"a.example\"} 1767225600"),
            "{text}"
        );
        assert!(
            text.contains("wildcert_renewal_last_failure_seconds{name=\"a.example\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("wildcert_renew_run_duration_seconds 1.5"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE ").count(), 5, "{text}");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let path = tmp.path().join("wildcert.prom");
        // A killed run's leftover (pid 4194304 is above Linux's pid_max: never alive) goes.
        let stale = tmp.path().join(".wildcert.prom.4194304.tmp");
        std::fs::write(&stale, "half").expect("plant");
        let other = tmp.path().join(".other.prom.4194304.tmp");
        std::fs::write(&other, "not ours").expect("plant");
        write_textfile(&path, &text).expect("write");
        assert!(!stale.exists(), "the stale temporary file was removed");
        assert!(
            other.exists(),
            "another file's temporary file is left alone"
        );
        std::fs::remove_file(&other).expect("remove");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // Rewritten in place: no temporary file left behind.
        write_textfile(&path, "x\n").expect("rewrite");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
