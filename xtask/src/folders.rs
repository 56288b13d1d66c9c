//! The provider folders: every directory under `providers/` is one provider crate that declares
//! its kind in its `Cargo.toml` (`[package.metadata.wildcert] kind = "<kind>"`) and is named
//! `wildcert-<kind>`.

use std::path::Path;

use crate::GenError;

/// One provider folder, as its `Cargo.toml` declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderFolder {
    /// The kind users write in `kind = "…"` and `--dns`; also the folder's name.
    pub kind: String,
    /// The crate's package name, `wildcert-<kind>`.
    pub crate_name: String,
}

impl ProviderFolder {
    /// The folder, relative to the workspace root.
    pub fn dir(&self) -> String {
        format!("providers/{}", self.kind)
    }

    /// The crate's name as Rust code spells it (`wildcert_pdns`).
    pub fn ident(&self) -> String {
        self.crate_name.replace('-', "_")
    }
}

/// Every provider folder under `root/providers`, sorted by kind; each one checked.
pub fn scan(root: &Path) -> Result<Vec<ProviderFolder>, GenError> {
    let dir = root.join("providers");
    let entries = std::fs::read_dir(&dir).map_err(|source| GenError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| GenError::Read {
            path: dir.clone(),
            source,
        })?;
        let is_dir = entry
            .file_type()
            .map_err(|source| GenError::Read {
                path: entry.path(),
                source,
            })?
            .is_dir();
        if is_dir {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut out: Vec<ProviderFolder> = Vec::new();
    for name in names {
        let manifest = dir.join(&name).join("Cargo.toml");
        let text = match std::fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GenError::NotAProvider {
                    folder: format!("providers/{name}"),
                });
            }
            Err(source) => {
                return Err(GenError::Read {
                    path: manifest,
                    source,
                });
            }
        };
        let folder = parse_manifest(&name, &text)?;
        out.push(folder);
    }
    Ok(out)
}

/// Check one provider's `Cargo.toml` (in `providers/<folder>/`).
pub fn parse_manifest(folder: &str, text: &str) -> Result<ProviderFolder, GenError> {
    let path = format!("providers/{folder}/Cargo.toml");
    let table: toml::Table = toml::from_str(text).map_err(|e| GenError::Toml {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let package = table.get("package").and_then(toml::Value::as_table);
    let crate_name = package
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| GenError::Toml {
            path: path.clone(),
            message: "no `[package] name`".into(),
        })?;
    let kind = package
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("wildcert"))
        .and_then(|w| w.get("kind"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| GenError::NoKind { path: path.clone() })?;
    if !valid_kind(kind) {
        return Err(GenError::BadKind {
            path,
            kind: kind.into(),
        });
    }
    if kind != folder {
        return Err(GenError::FolderName {
            folder: format!("providers/{folder}"),
            kind: kind.into(),
        });
    }
    let expected = format!("wildcert-{kind}");
    if crate_name != expected {
        return Err(GenError::CrateName {
            path,
            found: crate_name.into(),
            expected,
        });
    }
    Ok(ProviderFolder {
        kind: kind.into(),
        crate_name: crate_name.into(),
    })
}

/// A kind is lower-case ASCII letters and digits (a `-` inside): it names a folder, a crate, a
/// docs page and a `--dns` value.
fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !kind.starts_with('-')
        && !kind.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, kind: Option<&str>) -> String {
        let mut t = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
        if let Some(k) = kind {
            t.push_str(&format!("\n[package.metadata.wildcert]\nkind = \"{k}\"\n"));
        }
        t
    }

    #[test]
    fn a_well_named_folder_is_read() {
        let f = parse_manifest("pdnsz", &manifest("wildcert-pdnsz", Some("pdnsz")));
        assert_eq!(
            f.ok(),
            Some(ProviderFolder {
                kind: "pdnsz".into(),
                crate_name: "wildcert-pdnsz".into()
            })
        );
    }

    #[test]
    fn bad_folders_are_named_with_the_fix() {
        let msg = |folder: &str, text: &str| {
            parse_manifest(folder, text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = msg("pdnsz", &manifest("wildcert-pdns", Some("pdnsz")));
        assert!(
            e.contains("providers/pdnsz/Cargo.toml")
                && e.contains("`wildcert-pdns`")
                && e.contains("must be named `wildcert-pdnsz`"),
            "{e}"
        );
        let e = msg("pdns-copy", &manifest("wildcert-pdnsz", Some("pdnsz")));
        assert!(
            e.contains("providers/pdns-copy") && e.contains("providers/pdnsz"),
            "{e}"
        );
        let e = msg("pdnsz", &manifest("wildcert-pdnsz", None));
        assert!(e.contains("[package.metadata.wildcert]"), "{e}");
        let e = msg("Pdns", &manifest("wildcert-Pdns", Some("Pdns")));
        assert!(e.contains("kind `Pdns`") && e.contains("lower-case"), "{e}");
        let e = msg("x", "[package\n");
        assert!(e.contains("providers/x/Cargo.toml"), "{e}");
    }

    #[test]
    fn scan_sorts_and_refuses_a_folder_without_a_manifest() {
        let root = tempfile::tempdir().expect("tmp");
        for kind in ["route53", "cloudflare"] {
            let dir = root.path().join("providers").join(kind);
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(
                dir.join("Cargo.toml"),
                manifest(&format!("wildcert-{kind}"), Some(kind)),
            )
            .expect("write");
        }
        let kinds: Vec<String> = scan(root.path())
            .expect("scans")
            .into_iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, ["cloudflare", "route53"]);
        std::fs::create_dir_all(root.path().join("providers/stray")).expect("dir");
        let e = scan(root.path()).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("providers/stray") && e.contains("Cargo.toml")),
            "{e:?}"
        );
    }
}
