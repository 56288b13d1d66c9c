//! Repository tasks (`cargo xtask …`, an alias in `.cargo/config.toml`).
//!
//! `cargo xtask gen` writes every file generated from the provider folders under `providers/`:
//! the registry crate's list and dependencies (`crates/providers`), the workspace dependency
//! lines, every `docs/providers/<kind>.md`, and the provider lists of `README.md` and
//! `docs/configuration.md`. `cargo xtask gen --check` writes nothing and fails when a file is
//! stale.
//!
//! It works in two steps: the registry list is pure text from the folders' `Cargo.toml`; the
//! docs need each provider's spec, so the registry crate is then built with that list and its
//! `wildcert-provider-specs` binary prints every spec as JSON.

mod folders;
mod render;
mod specs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use folders::ProviderFolder;
use render::{MD_BEGIN, MD_END, PAGE_HEADER, TOML_BEGIN, TOML_END};
use specs::SpecDoc;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written or removed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A folder under `providers/` without a `Cargo.toml`.
    #[error(
        "{folder} has no Cargo.toml: every folder under providers/ is a provider crate (docs/providers/writing-a-provider.md)"
    )]
    NotAProvider {
        /// The folder.
        folder: String,
    },
    /// A `Cargo.toml` that is not valid TOML or has no package name.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A provider crate that does not declare its kind.
    #[error(
        "{path}: no `[package.metadata.wildcert] kind = \"…\"`; every provider declares its kind (the `kind = \"…\"` and `--dns` users write) there"
    )]
    NoKind {
        /// The file.
        path: String,
    },
    /// A kind that cannot name a folder, a crate and a page.
    #[error(
        "{path}: kind `{kind}` must be lower-case ASCII letters and digits (a `-` inside allowed)"
    )]
    BadKind {
        /// The file.
        path: String,
        /// The kind given.
        kind: String,
    },
    /// A folder named otherwise than its kind.
    #[error("{folder} declares kind `{kind}`: rename the folder to providers/{kind}")]
    FolderName {
        /// The folder.
        folder: String,
        /// The kind it declares.
        kind: String,
    },
    /// A crate named otherwise than `wildcert-<kind>`.
    #[error("{path}: the crate is named `{found}`; a provider crate must be named `{expected}`")]
    CrateName {
        /// The file.
        path: String,
        /// Its package name.
        found: String,
        /// `wildcert-<kind>`.
        expected: String,
    },
    /// A file that lacks the markers around its generated lines.
    #[error("{path}: no line `{marker}` around its generated lines; put the two marker lines back")]
    Marker {
        /// The file.
        path: String,
        /// The marker line.
        marker: String,
    },
    /// A provider folder without the prose of its page.
    #[error(
        "{folder}/README.md is missing: it holds the prose of docs/providers/{kind}.md (a `{placeholder}` line marks where the settings table goes)"
    )]
    NoReadme {
        /// The folder.
        folder: String,
        /// Its kind.
        kind: String,
        /// [`render::TABLE_PLACEHOLDER`].
        placeholder: &'static str,
    },
    /// The spec printer could not be built or run, or printed something unexpected.
    #[error("`{command}`: {message}")]
    Specs {
        /// The command.
        command: String,
        /// What went wrong.
        message: String,
    },
    /// The registry lists another number of providers than there are folders.
    #[error(
        "the registry lists {specs} providers but providers/ holds {folders}: run `cargo xtask gen`"
    )]
    SpecCount {
        /// Folders.
        folders: usize,
        /// Registrations.
        specs: usize,
    },
    /// A crate whose `PROVIDER` carries another kind than its folder declares.
    #[error(
        "{folder} declares kind `{declared}` in its Cargo.toml, but its `PROVIDER`'s spec says `{found}`; make them the same"
    )]
    SpecKind {
        /// The folder.
        folder: String,
        /// The kind in its `Cargo.toml`.
        declared: String,
        /// The kind of its spec.
        found: String,
    },
}

/// One generated file: its path under the workspace root and what it must hold (`None`: it
/// must not exist, a page left by a removed provider).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Path relative to the workspace root.
    pub path: String,
    /// Wanted content.
    pub content: Option<String>,
}

fn read(root: &Path, path: &str) -> Result<String, GenError> {
    let full = root.join(path);
    std::fs::read_to_string(&full).map_err(|source| GenError::Read { path: full, source })
}

/// Step one, text from the folders alone: the registry's list and dependencies and the
/// workspace dependency lines.
pub fn registry_outputs(root: &Path, folders: &[ProviderFolder]) -> Result<Vec<Output>, GenError> {
    let mut out = vec![Output {
        path: "crates/providers/src/generated.rs".into(),
        content: Some(render::registry_list(folders)),
    }];
    for (path, body) in [
        (
            "crates/providers/Cargo.toml",
            render::registry_deps(folders),
        ),
        ("Cargo.toml", render::workspace_deps(folders)),
    ] {
        let text = read(root, path)?;
        out.push(Output {
            path: path.into(),
            content: Some(render::replace_between(
                path, &text, TOML_BEGIN, TOML_END, &body,
            )?),
        });
    }
    Ok(out)
}

/// Step two, from the specs: every provider page (and the removal of pages whose provider is
/// gone) and the provider lists of `README.md` and `docs/configuration.md`.
pub fn docs_outputs(
    root: &Path,
    folders: &[ProviderFolder],
    specs: &[SpecDoc],
) -> Result<Vec<Output>, GenError> {
    let mut out = Vec::new();
    for (f, spec) in folders.iter().zip(specs) {
        let readme_path = root.join(f.dir()).join("README.md");
        let readme = match std::fs::read_to_string(&readme_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GenError::NoReadme {
                    folder: f.dir(),
                    kind: f.kind.clone(),
                    placeholder: render::TABLE_PLACEHOLDER,
                });
            }
            Err(source) => {
                return Err(GenError::Read {
                    path: readme_path,
                    source,
                });
            }
        };
        out.push(Output {
            path: page_path(&f.kind),
            content: Some(render::provider_page(&f.kind, &readme, spec)),
        });
    }
    // Pages generated for providers that are gone.
    let docs = root.join("docs/providers");
    let entries = std::fs::read_dir(&docs).map_err(|source| GenError::Read {
        path: docs.clone(),
        source,
    })?;
    let mut orphans = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(kind) = name.strip_suffix(".md") else {
            continue;
        };
        if folders.iter().any(|f| f.kind == kind) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.starts_with(PAGE_HEADER) {
            orphans.push(page_path(kind));
        }
    }
    orphans.sort();
    out.extend(orphans.into_iter().map(|path| Output {
        path,
        content: None,
    }));
    for (path, body) in [
        ("README.md", render::readme_list(specs)),
        ("docs/configuration.md", render::configuration_list(specs)),
    ] {
        let text = read(root, path)?;
        out.push(Output {
            path: path.into(),
            content: Some(render::replace_between(
                path, &text, MD_BEGIN, MD_END, &body,
            )?),
        });
    }
    Ok(out)
}

fn page_path(kind: &str) -> String {
    format!("docs/providers/{kind}.md")
}

/// The outputs whose file differs from what it must hold.
pub fn stale(root: &Path, outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter(|o| std::fs::read_to_string(root.join(&o.path)).ok() != o.content)
        .map(|o| o.path.clone())
        .collect()
}

/// Write the stale outputs; the paths written (or removed).
pub fn write(root: &Path, outputs: &[Output]) -> Result<Vec<String>, GenError> {
    let changed = stale(root, outputs);
    for o in outputs.iter().filter(|o| changed.contains(&o.path)) {
        let full = root.join(&o.path);
        let result = match &o.content {
            Some(text) => full
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&full, text)),
            None => std::fs::remove_file(&full),
        };
        result.map_err(|source| GenError::Write { path: full, source })?;
    }
    Ok(changed)
}

/// What `gen` found: the files it wrote, or (with `--check`) the stale ones.
enum Outcome {
    Written(Vec<String>),
    Stale(Vec<String>),
}

fn gen_files(root: &Path, check: bool) -> Result<Outcome, GenError> {
    let folders = folders::scan(root)?;
    let registry = registry_outputs(root, &folders)?;
    let mut done = if check {
        let stale = stale(root, &registry);
        if !stale.is_empty() {
            // The docs need a registry built from the right list: report what is known.
            return Ok(Outcome::Stale(stale));
        }
        Vec::new()
    } else {
        write(root, &registry)?
    };
    let specs = specs::match_folders(&folders, specs::load(root, check)?)?;
    for (f, s) in folders.iter().zip(&specs) {
        let page = page_path(&f.kind);
        if let Some(doc) = s.doc.as_deref().filter(|d| *d != page) {
            eprintln!(
                "warning: {}: its spec points users to {doc}; its page is {page}",
                f.dir()
            );
        }
    }
    let docs = docs_outputs(root, &folders, &specs)?;
    if check {
        let stale = stale(root, &docs);
        return Ok(if stale.is_empty() {
            Outcome::Written(Vec::new())
        } else {
            Outcome::Stale(stale)
        });
    }
    done.extend(write(root, &docs)?);
    Ok(Outcome::Written(done))
}

/// The workspace `cargo xtask` was run in: cargo's own answer for the current directory (one
/// xtask binary built into a shared target dir serves several checkouts), else the checkout
/// this binary was built from (xtask/ sits in its root).
fn workspace_root() -> std::path::PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let located = std::process::Command::new(cargo)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|p| std::path::PathBuf::from(p.trim()))
        .and_then(|manifest| manifest.parent().map(Path::to_path_buf));
    located.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf()
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen"] => false,
        ["gen", "--check"] => true,
        _ => {
            eprintln!(
                "usage: cargo xtask gen [--check]\n\n  gen          write every file generated from providers/\n  gen --check  write nothing; fail when a generated file is stale"
            );
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    match gen_files(&root, check) {
        Ok(Outcome::Written(files)) if check || files.is_empty() => {
            println!("generated files are up to date");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Written(files)) => {
            for f in files {
                println!("wrote {f}");
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Stale(files)) => {
            for f in &files {
                eprintln!("stale: {f}");
            }
            eprintln!("error: generated files are stale: run `cargo xtask gen`");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with one provider folder and the marker lines, in a temporary folder.
    fn workspace(kind: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tmp");
        let p = root.path();
        let write = |path: &str, text: String| {
            let full = p.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("dir");
            std::fs::write(full, text).expect("write");
        };
        write(
            &format!("providers/{kind}/Cargo.toml"),
            format!(
                "[package]\nname = \"wildcert-{kind}\"\n\n[package.metadata.wildcert]\nkind = \"{kind}\"\n"
            ),
        );
        write(
            &format!("providers/{kind}/README.md"),
            format!("# {kind}\n\n{}\n", render::TABLE_PLACEHOLDER),
        );
        let toml = format!("[workspace.dependencies]\n{TOML_BEGIN}\n{TOML_END}\n");
        write("Cargo.toml", toml.clone());
        write("crates/providers/Cargo.toml", toml);
        let md = format!("# x\n{MD_BEGIN}\n{MD_END}\n");
        write("README.md", md.clone());
        write("docs/configuration.md", md);
        write("docs/providers/writing-a-provider.md", "# hand\n".into());
        root
    }

    fn spec(kind: &str) -> SpecDoc {
        SpecDoc {
            kind: kind.into(),
            summary: "s".into(),
            env_prefix: kind.to_ascii_uppercase(),
            certbot_prefixes: Vec::new(),
            settings_table: "| key |\n".into(),
            doc: None,
        }
    }

    #[test]
    fn stale_files_are_found_then_written_once() {
        let root = workspace("pdnsz");
        let folders = folders::scan(root.path()).expect("scans");
        let reg = registry_outputs(root.path(), &folders).expect("registry");
        assert_eq!(
            stale(root.path(), &reg),
            [
                "crates/providers/src/generated.rs",
                "crates/providers/Cargo.toml",
                "Cargo.toml"
            ]
        );
        assert_eq!(write(root.path(), &reg).expect("writes").len(), 3);
        assert!(stale(root.path(), &reg).is_empty());
        let top = std::fs::read_to_string(root.path().join("Cargo.toml")).expect("read");
        assert!(
            top.contains("wildcert-pdnsz = { path = \"providers/pdnsz\" }"),
            "{top}"
        );

        let docs = docs_outputs(root.path(), &folders, &[spec("pdnsz")]).expect("docs");
        assert_eq!(
            stale(root.path(), &docs),
            [
                "docs/providers/pdnsz.md",
                "README.md",
                "docs/configuration.md"
            ]
        );
        write(root.path(), &docs).expect("writes");
        assert!(stale(root.path(), &docs).is_empty());
        // A hand edit inside the generated lines makes the file stale again.
        let readme = root.path().join("README.md");
        let text = std::fs::read_to_string(&readme).expect("read");
        std::fs::write(&readme, text.replace("PDNSZ_*", "PDNS_*")).expect("write");
        assert_eq!(stale(root.path(), &docs), ["README.md"]);
    }

    #[test]
    fn a_removed_providers_page_goes_and_hand_written_pages_stay() {
        let root = workspace("pdnsz");
        let folders = folders::scan(root.path()).expect("scans");
        let docs = docs_outputs(root.path(), &folders, &[spec("pdnsz")]).expect("docs");
        write(root.path(), &docs).expect("writes");
        std::fs::remove_dir_all(root.path().join("providers/pdnsz")).expect("rm");
        let docs = docs_outputs(root.path(), &[], &[]).expect("docs");
        assert!(docs.contains(&Output {
            path: "docs/providers/pdnsz.md".into(),
            content: None
        }));
        assert!(stale(root.path(), &docs).contains(&"docs/providers/pdnsz.md".to_string()));
        write(root.path(), &docs).expect("writes");
        assert!(!root.path().join("docs/providers/pdnsz.md").exists());
        assert!(
            root.path()
                .join("docs/providers/writing-a-provider.md")
                .exists()
        );
    }

    #[test]
    fn a_folder_without_readme_or_a_file_without_markers_is_an_error() {
        let root = workspace("pdnsz");
        std::fs::remove_file(root.path().join("providers/pdnsz/README.md")).expect("rm");
        let folders = folders::scan(root.path()).expect("scans");
        let e = docs_outputs(root.path(), &folders, &[spec("pdnsz")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("providers/pdnsz/README.md is missing"), "{e}");
        std::fs::write(root.path().join("Cargo.toml"), "[workspace]\n").expect("write");
        let e = registry_outputs(root.path(), &folders)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("Cargo.toml: no line") && e.contains(TOML_BEGIN),
            "{e}"
        );
    }
}
