//! Settings of the exec provider, declared once: `wildcert providers exec`,
//! docs/providers/exec.md and the layering of section and environment (lego's names) all come
//! from [`ExecSettings`]; [`ExecSettings::validate`] makes an [`ExecConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::config_error;
use wildcert_provider::spec::{LayeredSettings, Registration};
use wildcert_provider::{Kind, ProviderError};

/// Provider kind.
pub const KIND: Kind = ExecSettings::KIND;

/// Default bound on one run of the program.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The exec provider as the registry lists it.
pub const PROVIDER: Registration = Registration {
    spec: ExecSettings::SPEC,
    build: |layered, _| {
        let settings = ExecSettings::from_layered(layered)?;
        Ok(std::sync::Arc::new(crate::ExecProvider::new(&settings)?))
    },
};

/// The action words passed as the program's first argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// `publish` / `unpublish`.
    #[default]
    Wildcert,
    /// `present` / `cleanup`, as lego's exec provider (default mode) passes them.
    Lego,
}

impl Mode {
    /// Parse a mode name (any case).
    pub fn parse(s: &str) -> Result<Mode, ProviderError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "wildcert" | "default" => Ok(Mode::Wildcert),
            "lego" => Ok(Mode::Lego),
            "raw" => Err(bad(
                "mode `RAW` (lego's raw mode, which passes the domain, token and key authorization) is not \
                 supported: wildcert hands the program the TXT record to publish; use mode `lego` with a script \
                 written for lego's default mode, or `wildcert`",
            )),
            other => Err(bad(format!(
                "mode `{other}`: expected `wildcert` (publish/unpublish) or `lego` (present/cleanup)"
            ))),
        }
    }

    /// The first argument for adding (`true`) or removing (`false`) a record.
    pub fn verb(self, add: bool) -> &'static str {
        match (self, add) {
            (Mode::Wildcert, true) => "publish",
            (Mode::Wildcert, false) => "unpublish",
            (Mode::Lego, true) => "present",
            (Mode::Lego, false) => "cleanup",
        }
    }
}

/// A timeout as written: a number of seconds, or a duration string (`90s`, `2m`, `1m 30s`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TimeoutSetting {
    /// Seconds.
    Seconds(u64),
    /// `"60"`, `"90s"`, `"2m"`.
    Text(String),
}

impl TimeoutSetting {
    /// The duration this stands for.
    pub fn duration(&self) -> Result<Duration, ProviderError> {
        let d = match self {
            TimeoutSetting::Seconds(s) => Duration::from_secs(*s),
            TimeoutSetting::Text(t) => {
                let t = t.trim();
                match t.parse::<u64>() {
                    Ok(s) => Duration::from_secs(s),
                    Err(_) => humantime::parse_duration(t).map_err(|e| {
                        bad(format!(
                            "timeout `{t}`: {e}; give seconds (60) or a duration (90s, 2m)"
                        ))
                    })?,
                }
            }
        };
        if d.is_zero() {
            return Err(bad("timeout must be more than 0"));
        }
        Ok(d)
    }
}

/// Settings as written in `[providers.<id>]` (with `kind = "exec"`) or in the environment.
/// Every field is optional so layers can be merged; [`ExecSettings::validate`] checks the result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "exec",
    summary = "Any DNS host: runs your program as `PROGRAM publish|unpublish FQDN VALUE`",
    env_prefix = "EXEC"
)]
pub struct ExecSettings {
    /// Program run as `PROGRAM publish|unpublish FQDN VALUE` (FQDN with its trailing dot): an
    /// absolute path, a path relative to the working directory, or a name found in PATH
    #[setting(required, env = ["EXEC_PATH"], ty = "path")]
    pub program: Option<String>,
    /// Bound on one run: seconds, or a duration such as `90s` or `2m`; the program (and its
    /// process group) is killed after it
    #[setting(default = "60", env = ["EXEC_TIMEOUT"], ty = "duration")]
    pub timeout: Option<TimeoutSetting>,
    /// `wildcert`: actions `publish`/`unpublish`; `lego`: actions `present`/`cleanup`, so
    /// scripts written for lego's exec provider work unchanged (lego's RAW mode is not
    /// supported)
    #[setting(default = "wildcert", env = ["EXEC_MODE"])]
    pub mode: Option<String>,
    /// Variables of wildcert's environment the program gets on purpose, separated by commas
    /// (e.g. `VAULT_ADDR,MY_DNS_TOKEN`); otherwise it gets only `PATH`, `HOME`, `LANG`, `LC_*`
    /// and the like, never another provider's credentials
    #[setting(env = ["EXEC_PASS_ENV"])]
    pub pass_env: Option<String>,
}

fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}

impl ExecSettings {
    /// Check the settings, find the program, and build the provider's configuration.
    pub fn validate(&self) -> Result<ExecConfig, ProviderError> {
        let program = match self.program.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(bad(
                    "no program: set `program` (EXEC_PATH) to the script that publishes TXT records",
                ));
            }
            Some(p) => resolve_program(p)?,
        };
        let timeout = match &self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => t.duration()?,
        };
        let mode = Mode::parse(self.mode.as_deref().unwrap_or(""))?;
        let pass_env = self
            .pass_env
            .as_deref()
            .unwrap_or("")
            .split([',', ' '])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        Ok(ExecConfig {
            program,
            timeout,
            mode,
            pass_env,
        })
    }
}

/// An absolute path to an executable file: paths with a `/` are taken relative to the working
/// directory, bare names are looked up in `PATH`.
pub fn resolve_program(p: &str) -> Result<PathBuf, ProviderError> {
    if p.contains('/') {
        let path = Path::new(p);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| {
                    bad(format!(
                        "program `{p}`: cannot read the working directory: {e}"
                    ))
                })?
                .join(path)
        };
        check_executable(&abs, p)?;
        return Ok(abs);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(p);
        if candidate.is_file() && is_executable(&candidate) {
            return Ok(if candidate.is_absolute() {
                candidate
            } else {
                std::env::current_dir()
                    .map(|d| d.join(&candidate))
                    .unwrap_or(candidate)
            });
        }
    }
    Err(bad(format!(
        "program `{p}` is not in PATH; give its absolute path"
    )))
}

fn check_executable(abs: &Path, given: &str) -> Result<(), ProviderError> {
    let meta = std::fs::metadata(abs)
        .map_err(|e| bad(format!("program `{given}` ({}): {e}", abs.display())))?;
    if !meta.is_file() {
        return Err(bad(format!(
            "program `{given}` ({}) is not a file",
            abs.display()
        )));
    }
    if !is_executable(abs) {
        return Err(bad(format!(
            "program `{given}` ({}) is not executable (chmod +x)",
            abs.display()
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Validated configuration of the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecConfig {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Bound on one run.
    pub timeout: Duration,
    /// Action words.
    pub mode: Mode,
    /// Variables passed to the program besides the allowed basics.
    pub pass_env: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use wildcert_provider::spec::env_map as env;

    #[test]
    fn layers_and_timeouts() {
        let file: ExecSettings = serde_json::from_value(serde_json::json!({
            "program": "sh", "timeout": 5
        }))
        .expect("deserialise");
        let cfg = file.clone().validate().expect("valid");
        assert_eq!(cfg.timeout, Duration::from_secs(5));
        assert!(cfg.program.is_absolute() && cfg.program.ends_with("sh"));
        assert_eq!(cfg.mode, Mode::Wildcert);
        let section = wildcert_provider::spec::object(serde_json::json!({
            "kind": "exec", "program": "sh", "timeout": 5
        }));
        let env = env(&[("EXEC_TIMEOUT", "2m"), ("EXEC_MODE", "LEGO")]);
        let cfg = ExecSettings::SPEC
            .layer(Some(&section), None, &env)
            .and_then(|l| l.settings::<ExecSettings>(KIND))
            .and_then(|s| s.validate())
            .expect("valid");
        assert_eq!(cfg.timeout, Duration::from_secs(120));
        assert_eq!(cfg.mode, Mode::Lego);
        assert_eq!(cfg.mode.verb(true), "present");
        let text: ExecSettings =
            serde_json::from_value(serde_json::json!({ "program": "sh", "timeout": "90s" }))
                .expect("deserialise");
        assert_eq!(
            text.validate().expect("valid").timeout,
            Duration::from_secs(90)
        );
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let e = ExecSettings::default().validate().expect_err("no program");
        assert!(e.to_string().contains("EXEC_PATH"), "{e}");
        let s = |p: &str, m: Option<&str>, t: Option<&str>| ExecSettings {
            program: Some(p.into()),
            mode: m.map(String::from),
            timeout: t.map(|t| TimeoutSetting::Text(t.into())),
            pass_env: None,
        };
        let e = s("wildcert-no-such-program", None, None)
            .validate()
            .expect_err("missing");
        assert!(e.to_string().contains("not in PATH"), "{e}");
        let e = s("/nonexistent/prog", None, None)
            .validate()
            .expect_err("missing");
        assert!(matches!(e, ProviderError::Config { .. }), "{e:?}");
        let e = s("sh", Some("RAW"), None).validate().expect_err("raw");
        assert!(e.to_string().contains("RAW"), "{e}");
        let e = s("sh", None, Some("soon")).validate().expect_err("timeout");
        assert!(e.to_string().contains("soon"), "{e}");
        let e = s("sh", None, Some("0")).validate().expect_err("zero");
        assert!(e.to_string().contains("more than 0"), "{e}");
        let r: Result<ExecSettings, _> = serde_json::from_value(serde_json::json!({ "path": "x" }));
        assert!(r.is_err());
    }
}
