//! Every provider's spec, as the registry crate's `wildcert-provider-specs` binary prints it:
//! the registry is compiled with the list step one wrote, so the docs come from the very
//! `PROVIDER` each crate exports, however it declares its settings.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::GenError;
use crate::folders::ProviderFolder;

/// The registry crate's package and the binary that prints the specs.
const SPEC_COMMAND: [&str; 5] = [
    "run",
    "--quiet",
    "--package",
    "wildcert-providers",
    "--bin=wildcert-provider-specs",
];

/// What the docs need of one provider's spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecDoc {
    /// Kind.
    pub kind: String,
    /// One line on what it is.
    pub summary: String,
    /// Prefix of lego's common variables.
    pub env_prefix: String,
    /// Prefixes of its certbot credentials keys.
    pub certbot_prefixes: Vec<String>,
    /// The settings table of its page, Markdown.
    pub settings_table: String,
    /// The page its spec points users to (`wildcert providers KIND`), when it names one.
    pub doc: Option<String>,
}

/// Build and run the spec printer in the workspace at `root` (with `--locked` when asked).
pub fn load(root: &Path, locked: bool) -> Result<Vec<SpecDoc>, GenError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(SPEC_COMMAND);
    if locked {
        cmd.arg("--locked");
    }
    let shown = format!(
        "cargo {}{}",
        SPEC_COMMAND.join(" "),
        if locked { " --locked" } else { "" }
    );
    // Compiler errors go straight to the terminal.
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| GenError::Specs {
            command: shown.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(GenError::Specs {
            command: shown,
            message: format!("it exited with {}", out.status),
        });
    }
    parse(&String::from_utf8_lossy(&out.stdout)).map_err(|message| GenError::Specs {
        command: shown,
        message,
    })
}

/// Read the printer's JSON: an array of objects, one per registered provider.
pub fn parse(json: &str) -> Result<Vec<SpecDoc>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let list = v.as_array().ok_or("not a JSON array")?;
    list.iter()
        .map(|p| {
            let text = |key: &str| {
                p.get(key)
                    .and_then(Value::as_str)
                    .map(String::from)
                    .ok_or_else(|| format!("a provider without `{key}`: {p}"))
            };
            Ok(SpecDoc {
                kind: text("kind")?,
                summary: text("summary")?,
                env_prefix: text("env_prefix")?,
                certbot_prefixes: p
                    .get("certbot_prefixes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                settings_table: text("settings_table")?,
                doc: p.get("doc").and_then(Value::as_str).map(String::from),
            })
        })
        .collect()
}

/// Each folder's spec, in folder order: the registry lists the folders in that order, and
/// each crate's `PROVIDER` must carry the kind its folder declares.
pub fn match_folders(
    folders: &[ProviderFolder],
    specs: Vec<SpecDoc>,
) -> Result<Vec<SpecDoc>, GenError> {
    if specs.len() != folders.len() {
        return Err(GenError::SpecCount {
            folders: folders.len(),
            specs: specs.len(),
        });
    }
    for (f, s) in folders.iter().zip(&specs) {
        if f.kind != s.kind {
            return Err(GenError::SpecKind {
                folder: f.dir(),
                declared: f.kind.clone(),
                found: s.kind.clone(),
            });
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printers_json_is_read_and_checked_against_the_folders() {
        let json = r#"[{"kind":"pdnsz","summary":"s","env_prefix":"PDNSZ",
            "certbot_prefixes":["dns_powerdns_"],"settings_table":"| key |\n"}]"#;
        let specs = parse(json).expect("parses");
        assert_eq!(specs[0].env_prefix, "PDNSZ");
        let folder = |kind: &str| ProviderFolder {
            kind: kind.into(),
            crate_name: format!("wildcert-{kind}"),
        };
        assert!(match_folders(&[folder("pdnsz")], specs.clone()).is_ok());
        // A copied folder whose PROVIDER still says the old kind.
        let e = match_folders(&[folder("pdnsy")], specs.clone())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("providers/pdnsy") && e.contains("`pdnsz`"),
            "{e}"
        );
        assert!(match_folders(&[], specs).is_err());
        assert!(parse(r#"[{"kind":"x"}]"#).is_err());
        assert!(parse("{}").is_err());
    }
}
