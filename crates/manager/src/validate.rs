//! The whole config checked before a command does anything (`wildcert config check` shows
//! the report): every provider section builds from its settings (an unknown key, a missing
//! credential or an unreadable key file fails now, not when a certificate comes due), every
//! `[[certificate]]` becomes a request (names, key type, method, key permissions) naming a
//! provider that exists, every hook and `reload` names a command that can start, every install
//! target's owner, group and mode resolve, and the metrics file's directory exists. Nothing is
//! sent anywhere and nothing is written.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{Loaded, request_for};
use crate::error::IssueError;
use crate::providers::{self, ConfigSource, ProviderContext};
use crate::settings::{certificate_lines, store_name};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Every command refuses to run (exit 2).
    Error,
    /// Worth fixing; commands still run.
    Warning,
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Where: `FILE:LINE`, `FILE [providers.ID]`, or the setting's name.
    pub at: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// What `wildcert config check` found.
#[derive(Debug, Clone)]
pub struct ConfigReport {
    /// The config file, when one was given.
    pub file: Option<PathBuf>,
    /// How many `[[certificate]]` entries it has.
    pub certificates: usize,
    /// The `[providers.<id>]` ids.
    pub providers: Vec<String>,
    /// Every finding, errors first.
    pub problems: Vec<Problem>,
}

impl ConfigReport {
    /// True when there is no error (warnings allowed).
    pub fn ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The errors as one [`IssueError`] (exit 2): the first, and how many more there are.
    pub fn into_error(self) -> Option<IssueError> {
        let errors: Vec<Problem> = self
            .problems
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        let first = errors.first()?;
        let more = match errors.len() - 1 {
            0 => String::new(),
            1 => "; 1 more problem: `wildcert config check` lists every one".into(),
            n => format!("; {n} more problems: `wildcert config check` lists every one"),
        };
        Some(IssueError::Command {
            message: with_place(&first.at, &first.message),
            hint: format!("{}{more}", first.hint),
            code: crate::error::ExitCode::Settings,
        })
    }
}

/// A finding as one line: `at: message`, without repeating a place the message names itself.
pub fn with_place(at: &str, message: &str) -> String {
    let file = at.split([':', ' ']).next().unwrap_or(at);
    if at.is_empty() || message.contains(file) {
        message.to_string()
    } else {
        format!("{at}: {message}")
    }
}

/// Check the whole config (see the module's documentation).
pub fn check(loaded: &Loaded) -> ConfigReport {
    let s = &loaded.settings;
    let file = loaded.file.as_ref().map(|(p, _)| p.clone());
    let source = loaded
        .file
        .as_ref()
        .map(|(path, text)| ConfigSource { path, text });
    let env: HashMap<String, String> = loaded
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let state_dir = loaded.state_dir();
    let mut problems = Vec::new();
    let mut seen_messages = BTreeSet::new();
    let mut push = |p: Problem| {
        if seen_messages.insert(p.message.clone()) {
            problems.push(p);
        }
    };
    let file_name = file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "environment".into());
    let entry_lines = certificate_lines(loaded.file.as_ref().map(|(_, t)| t.as_str()));
    let entry_at = |i: usize| match entry_lines.get(i) {
        Some(l) => format!("{file_name}:{l}"),
        None => format!("{file_name} [[certificate]] #{}", i + 1),
    };
    let error = |at: String, e: &IssueError| Problem {
        severity: Severity::Error,
        at,
        message: e.to_string(),
        hint: e.hint(),
    };
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let path_var = loaded.env.get("PATH").map(String::as_str);

    // [acme] and [dns]: the CA's URL, the EAB key (file), resolvers, durations.
    if let Err(e) = crate::config::RunConfig::from_settings(s) {
        push(error(String::new(), &e));
    }
    if let Some(bundle) = &s.acme.ca_bundle
        && let Err(e) = std::fs::read(bundle)
    {
        push(Problem {
            severity: Severity::Error,
            at: String::new(),
            message: format!("ca_bundle {}: cannot read it: {e}", bundle.display()),
            hint: "give a readable PEM file with the CA's root certificate (--ca-bundle or [acme] ca_bundle)".into(),
        });
    }
    // Each (provider, credentials) pair is built once, not once per entry: 10,000 entries
    // share one provider (wildcert-bench, docs/benchmarks.md).
    let mut built: HashMap<(&str, Option<&std::path::Path>), Option<IssueError>> = HashMap::new();
    for (i, c) in s.certificates.iter().enumerate() {
        let at = entry_at(i);
        if let Err(e) = request_for(s, c) {
            push(error(at.clone(), &e));
        }
        if !c.provider.trim().is_empty() {
            used.insert(c.provider.as_str());
            let credentials = c.dns_credentials.as_deref();
            let failure = built
                .entry((c.provider.as_str(), credentials))
                .or_insert_with(|| {
                    let ctx = ProviderContext {
                        state_dir: Some(&state_dir),
                        credentials,
                    };
                    providers::build(&c.provider, s, source, &env, ctx).err()
                });
            if let Some(e) = failure {
                push(error(at.clone(), e));
            }
        }
        let name = store_name(c).unwrap_or_default();
        if let Some(h) = &c.deploy_hook
            && let Some(m) = command_problem(h, path_var)
        {
            push(hook_problem(&at, &format!("{name}: deploy_hook"), m));
        }
        for t in &c.install {
            if let Err(e) = crate::install::check_target(t) {
                push(Problem {
                    severity: Severity::Error,
                    at: at.clone(),
                    message: format!("{name}: {e}"),
                    hint: "owner and group are names from /etc/passwd and /etc/group (or numbers); key_mode is octal without world bits, e.g. \"0640\"".into(),
                });
            }
            if let Some(r) = &t.reload
                && let Some(m) = command_problem(r, path_var)
            {
                push(hook_problem(
                    &at,
                    &format!("{name}: reload of {}", t.dir.display()),
                    m,
                ));
            }
        }
    }
    for (id, section) in &s.providers {
        let at =
            match source.and_then(|src| crate::settings::provider_key_line(src.text, id, "kind")) {
                Some(l) => format!("{file_name}:{l}"),
                None => format!("{file_name} [providers.{id}]"),
            };
        if !used.contains(id.as_str()) {
            let ctx = ProviderContext {
                state_dir: Some(&state_dir),
                credentials: None,
            };
            if let Err(e) = providers::build(id, s, source, &env, ctx) {
                push(error(at.clone(), &e));
            }
            push(Problem {
                severity: Severity::Warning,
                at,
                message: format!(
                    "[providers.{id}] (kind = \"{}\") is used by no [[certificate]]",
                    section.kind
                ),
                hint: "it still works for `issue --dns ID`; remove it if nothing uses it, or check the `provider = …` of your certificates for a typo".into(),
            });
        }
    }
    for (key, hook) in [
        ("[renew] pre_hook", &s.renew.pre_hook),
        ("[renew] post_hook", &s.renew.post_hook),
    ] {
        if let Some(h) = hook
            && let Some(m) = command_problem(h, path_var)
        {
            push(hook_problem(&file_name, key, m));
        }
    }
    if let Some(tf) = &s.metrics.textfile {
        let dir = tf
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            push(Problem {
                severity: Severity::Error,
                at: file_name.clone(),
                message: format!(
                    "[metrics] textfile {}: its directory {} does not exist",
                    tf.display(),
                    dir.display()
                ),
                hint: "create the directory (node_exporter's --collector.textfile.directory) or fix the path".into(),
            });
        }
    }
    problems.sort_by_key(|p| p.severity == Severity::Warning);
    ConfigReport {
        file,
        certificates: s.certificates.len(),
        providers: s.providers.keys().cloned().collect(),
        problems,
    }
}

fn hook_problem(at: &str, what: &str, message: String) -> Problem {
    Problem {
        severity: Severity::Error,
        at: at.to_string(),
        message: format!("{what}: {message}"),
        hint: "hooks run through `sh -c` with this PATH: give the full path of an executable, or fix the name".into(),
    }
}

/// Words `sh` runs itself (POSIX special and regular built-ins, and keywords).
const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "[", "alias", "bg", "break", "case", "cd", "command", "continue", "echo",
    "eval", "exec", "exit", "export", "false", "fc", "fg", "for", "getopts", "hash", "if", "jobs",
    "kill", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap",
    "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while", "{", "(",
];

/// Why the command `cmd` (run as `sh -c cmd`) cannot start, judged from its first word: a
/// path must be an executable file; a bare name a shell built-in or an executable on
/// `path_var`. Commands whose first word the shell would expand (`$X`, quotes, `VAR=…`) are
/// not judged.
pub fn command_problem(cmd: &str, path_var: Option<&str>) -> Option<String> {
    let trimmed = cmd.trim();
    let Some(first) = trimmed.split_whitespace().next() else {
        return Some("the command is empty".into());
    };
    if first.contains(['$', '`', '"', '\'', '=', '\\', '*', '?', '~'])
        || SHELL_WORDS.contains(&first)
        || first.starts_with('(')
    {
        return None;
    }
    let first = first.trim_end_matches([';', '&', '|']);
    if first.is_empty() {
        return None;
    }
    if first.contains('/') {
        let p = Path::new(first);
        return match std::fs::metadata(p) {
            Err(_) => Some(format!("`{first}` does not exist")),
            Ok(m) if !m.is_file() => Some(format!("`{first}` is not a file")),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Some(format!("`{first}` is not executable (chmod +x)"))
            }
            Ok(_) => None,
        };
    }
    let found = path_var.unwrap_or("/usr/bin:/bin").split(':').any(|d| {
        let d = if d.is_empty() { "." } else { d };
        std::fs::metadata(Path::new(d).join(first))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    (!found).then(|| {
        format!(
            "`{first}` is not found on PATH ({})",
            path_var.unwrap_or("unset")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_judged_by_their_first_word() {
        let tmp = tempfile::tempdir().expect("tmp");
        let exe = tmp.path().join("reload.sh");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        let plain = tmp.path().join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = Some(tmp.path().to_str().expect("utf-8"));
        assert_eq!(
            command_problem(&format!("{} --now", exe.display()), None),
            None
        );
        assert_eq!(command_problem("reload.sh arg", path), None);
        assert_eq!(command_problem("echo hi > /tmp/x", path), None);
        assert_eq!(command_problem("FOO=1 whatever", path), None);
        assert_eq!(command_problem("\"$HOOK\" x", path), None);
        assert!(
            command_problem("/nonexistent/x.sh", path)
                .is_some_and(|m| m.contains("does not exist"))
        );
        assert!(
            command_problem(plain.to_str().expect("utf-8"), path)
                .is_some_and(|m| m.contains("not executable"))
        );
        assert!(
            command_problem("systemctll reload nginx", path)
                .is_some_and(|m| m.contains("`systemctll` is not found on PATH"))
        );
        assert!(command_problem("  ", path).is_some());
    }
}
