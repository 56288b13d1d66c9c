//! `wildcert man [--dir DIR]` and `wildcert systemd [--user] [--dir DIR]`: installed like a tool.
//!
//! The man pages come from the clap definition (clap_mangen), one per command; the units name
//! the running binary (`std::env::current_exe`), the store and every directory given with
//! `--read-write-path`, so the sandbox (`ProtectSystem=strict`) lets through what wildcert writes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use wildcert_manager::report::{ExitCode as Code, ManDoc};
use wildcert_manager::settings::DEFAULT_STATE_DIR;

use crate::args::{Cli, Global, ManArgs, SystemdArgs};
use crate::output::Output;

/// `wildcert man`: wildcert(1) on stdout, or every page into `--dir`.
pub fn man(a: &ManArgs, out: &Output) -> ExitCode {
    let Some(dir) = &a.dir else {
        let mut cmd = Cli::command().disable_help_subcommand(true);
        cmd.build();
        let page = match crate::manpages::render(&cmd, "wildcert") {
            Ok(p) => p,
            Err(e) => {
                return out.error(
                    &format!("cannot render the man page: {e}"),
                    "",
                    Code::Internal,
                );
            }
        };
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(&page).and_then(|()| stdout.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => out.error(
                &format!("cannot write the man page: {e}"),
                "",
                Code::Internal,
            ),
        };
    };
    match write_pages(dir) {
        Ok(paths) => {
            if !out.is_quiet() && !out.is_json() {
                for p in &paths {
                    println!("{}", p.display());
                }
            } else if out.is_json() {
                out.print_json(&ManDoc::new(&paths));
            }
            ExitCode::SUCCESS
        }
        Err(e) => out.error(
            &format!("cannot write the man pages into {}: {e}", dir.display()),
            "give a directory you can write to, e.g. --dir ~/.local/share/man/man1",
            Code::Store,
        ),
    }
}

/// Every page (`wildcert.1`, `wildcert-issue.1`, `wildcert-account-register.1`, …) into `dir`,
/// created when missing; returns the files written.
fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn write(
        dir: &Path,
        file: &str,
        page: &[u8],
        written: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        let path = dir.join(file);
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, page)?;
        std::fs::rename(&tmp, &path)?;
        written.push(path);
        Ok(())
    }
    fn walk(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let file = clap_mangen::Man::new(cmd.clone()).get_filename();
        let name = file.trim_end_matches(".1").to_string();
        write(dir, &file, &crate::manpages::render(cmd, &name)?, written)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, dir, written)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    walk(&cmd, dir, &mut written)?;
    // wildcert.toml(5) goes into the sibling man5/ of a man1/ directory, else beside the rest.
    let man5 = match (dir.file_name(), dir.parent()) {
        (Some(n), Some(parent)) if n == "man1" => parent.join("man5"),
        _ => dir.to_path_buf(),
    };
    std::fs::create_dir_all(&man5)?;
    let page = crate::manpages::config_page(env!("CARGO_PKG_VERSION"));
    write(&man5, "wildcert.toml.5", page.as_bytes(), &mut written)?;
    Ok(written)
}

/// What the units are made of.
#[derive(Debug, Clone)]
pub struct UnitOptions {
    /// The binary `ExecStart=` runs.
    pub exe: PathBuf,
    /// `--config` for `renew`, when one is in use.
    pub config: Option<PathBuf>,
    /// The store; `None` is the default (`/var/lib/wildcert`, or `%S/wildcert` for `--user`).
    pub state_dir: Option<PathBuf>,
    /// Other directories wildcert or its hooks write to (`--read-write-path`; the config's
    /// install directories once those exist).
    pub write_dirs: Vec<PathBuf>,
    /// Units for `systemctl --user`.
    pub user: bool,
}

/// `wildcert systemd`.
pub fn systemd(g: &Global, a: &SystemdArgs, out: &Output) -> ExitCode {
    // Units may be written before the config is complete (or on another host than the one
    // that has the credentials): problems are warnings here; the service's runs refuse them.
    let loaded = match g.load_unchecked(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    if let Some(e) = wildcert_manager::validate::check(&loaded).into_error() {
        tracing::warn!(
            "the config does not check out, so the service will refuse to run until it does: {e} (`wildcert config check` lists every problem)"
        );
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return out.error(
                &format!("cannot find the path of this binary: {e}"),
                "edit ExecStart= by hand",
                Code::Internal,
            );
        }
    };
    let config = g.config.as_deref().map(absolute);
    let state_dir = loaded
        .settings
        .state_dir
        .as_deref()
        .filter(|d| *d != Path::new(DEFAULT_STATE_DIR))
        .map(absolute);
    // What `issue --install-dir` recorded in the store is installed by `renew` too.
    let state = loaded.state_dir();
    let recorded: Vec<PathBuf> = Some(state.as_path())
        .filter(|d| d.exists())
        .and_then(|d| wildcert_manager::store::Store::open(d).ok())
        .and_then(|st| wildcert_manager::renew::recorded_requests(&st).ok())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, r)| r.install.into_iter().map(|t| t.dir))
        .collect();
    // The metrics textfile is replaced by a rename in its directory.
    let metrics_dir = loaded
        .settings
        .metrics
        .textfile
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let mut write_dirs: Vec<PathBuf> = Vec::new();
    // --read-write-path, every configured install dir (`install = [{ dir = … }]`), the
    // recorded ones, the metrics directory.
    for d in a
        .read_write_paths
        .iter()
        .chain(
            loaded
                .settings
                .certificates
                .iter()
                .flat_map(|c| c.install.iter().map(|t| &t.dir)),
        )
        .chain(&recorded)
        .chain(&metrics_dir)
    {
        let d = absolute(d);
        if !write_dirs.contains(&d) {
            write_dirs.push(d);
        }
    }
    if !a.user && !out.is_quiet() {
        for w in sandbox_warnings(&loaded) {
            eprintln!("warning: {w}");
        }
    }
    let opts = UnitOptions {
        exe,
        config,
        state_dir,
        write_dirs,
        user: a.user,
    };
    let units = units(&opts);
    match &a.dir {
        None => {
            for (i, (name, text)) in units.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("### {name}");
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        Some(dir) => {
            let written = std::fs::create_dir_all(dir).and_then(|()| {
                units
                    .iter()
                    .map(|(name, text)| {
                        let path = dir.join(name);
                        std::fs::write(&path, text).map(|()| path)
                    })
                    .collect::<std::io::Result<Vec<_>>>()
            });
            match written {
                Ok(paths) => {
                    if !out.is_quiet() {
                        for p in paths {
                            println!("{}", p.display());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => out.error(
                    &format!("cannot write the units into {}: {e}", dir.display()),
                    "give a directory you can write to, or print them without --dir",
                    Code::Store,
                ),
            }
        }
    }
}

/// What the system unit's sandbox would hide from a run with these settings: files under
/// `/root` or `/home` (`ProtectHome=true`), a store or metrics file under `/tmp` or `/var/tmp`
/// (`PrivateTmp=true`: a fresh, empty directory every run).
fn sandbox_warnings(loaded: &wildcert_manager::Loaded) -> Vec<String> {
    let s = &loaded.settings;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (id, section) in &s.providers {
        for (key, value) in &section.settings {
            if let Some(v) = value.as_str().filter(|v| v.starts_with('/')) {
                files.push((format!("[providers.{id}] {key}"), PathBuf::from(v)));
            }
        }
    }
    for c in &s.certificates {
        if let Some(p) = &c.dns_credentials {
            files.push(("a certificate's dns_credentials".into(), absolute(p)));
        }
    }
    for (what, p) in [
        ("[acme] ca_bundle", &s.acme.ca_bundle),
        ("[acme] eab_hmac_key_file", &s.acme.eab_hmac_key_file),
    ] {
        if let Some(p) = p {
            files.push((what.into(), absolute(p)));
        }
    }
    let mut out = Vec::new();
    for (what, p) in &files {
        if p.starts_with("/root") || p.starts_with("/home") {
            out.push(format!(
                "{what} is {}: the unit's ProtectHome=true hides it, so the service cannot read it; move it under /etc/wildcert (or set ProtectHome=read-only)",
                p.display()
            ));
        }
    }
    let tmp = |p: &Path| p.starts_with("/tmp") || p.starts_with("/var/tmp");
    let state = absolute(&loaded.state_dir());
    if tmp(&state) {
        out.push(format!(
            "the store is {}: the unit's PrivateTmp=true gives the service an empty /tmp on every run, so it never sees this store (and its certificates are lost after each run); use a directory such as /var/lib/wildcert",
            state.display()
        ));
    }
    if let Some(m) = s
        .metrics
        .textfile
        .as_deref()
        .map(absolute)
        .filter(|m| tmp(m))
    {
        out.push(format!(
            "[metrics] textfile is {}: the unit's PrivateTmp=true keeps it from the exporter; use a directory outside /tmp",
            m.display()
        ));
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// One word of a systemd command line or path list: `%` and `$` escaped, quoted when it has
/// blanks, quotes or backslashes.
fn word(p: &Path) -> String {
    let s = p.to_string_lossy().replace('%', "%%").replace('$', "$$");
    if s.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s
    }
}

/// `wildcert-renew.service` and `wildcert-renew.timer`, as (file name, text).
pub fn units(o: &UnitOptions) -> Vec<(String, String)> {
    let mut exec = word(&o.exe);
    if let Some(c) = &o.config {
        exec.push_str(&format!(" --config {}", word(c)));
    }
    let state = match (&o.state_dir, o.user) {
        (Some(d), _) => Some(word(d)),
        (None, true) => Some("%S/wildcert".to_string()),
        (None, false) => None,
    };
    if let Some(d) = &state {
        exec.push_str(&format!(" --state-dir {d}"));
    }
    exec.push_str(" -q renew");

    let target = if o.user {
        "~/.config/systemd/user/"
    } else {
        "/etc/systemd/system/"
    };
    let enable = if o.user {
        "systemctl --user daemon-reload && systemctl --user enable --now wildcert-renew.timer"
    } else {
        "systemctl daemon-reload && systemctl enable --now wildcert-renew.timer"
    };
    let mut s = String::new();
    s.push_str(&format!(
        "# Generated by `wildcert systemd{}`: install as {target}wildcert-renew.service,\n\
         # with wildcert-renew.timer next to it, then: {enable}\n",
        if o.user { " --user" } else { "" }
    ));
    s.push_str(
        "[Unit]\n\
         Description=Renew TLS certificates that are due (wildcert)\n\
         # Documentation: `man wildcert-renew` once the pages are installed (`wildcert man --dir`).\n",
    );
    if !o.user {
        s.push_str("Wants=network-online.target\nAfter=network-online.target\n");
    }
    s.push_str("\n[Service]\nType=oneshot\n");
    if o.config.is_none() {
        s.push_str(
            "# No --config: `wildcert --config FILE systemd` puts the settings file here.\n",
        );
    }
    s.push_str(&format!("ExecStart={exec}\n"));
    s.push_str(
        "# Secrets as files, never in the unit: tsig_file, api_token_file, ... in the config.\n\
         UMask=0077\n",
    );
    if state.is_none() || (o.user && o.state_dir.is_none()) {
        s.push_str("StateDirectory=wildcert\nStateDirectoryMode=0700\n");
    }
    let mut rw: Vec<String> = Vec::new();
    match (&o.state_dir, o.user) {
        (Some(d), _) => rw.push(word(d)),
        (None, false) => rw.push(DEFAULT_STATE_DIR.to_string()),
        (None, true) => rw.push("%S/wildcert".to_string()),
    }
    // A directory that does not exist yet is skipped (`-`) rather than failing the whole unit;
    // a write into it then fails and says so.
    rw.extend(o.write_dirs.iter().map(|d| format!("-{}", word(d))));
    let hardening = |s: &mut String, prefix: &str| {
        s.push_str(
            "# ProtectSystem=strict: the whole file system is read-only for wildcert and for its hooks,\n\
             # except the ReadWritePaths= below (the store and each --read-write-path).\n\
             # A deploy or post hook that writes elsewhere (copies to /etc/nginx/ssl, say) fails with\n\
             # \"Read-only file system\": add a ReadWritePaths= line for each directory it writes\n\
             # (`wildcert systemd --read-write-path DIR` does).\n",
        );
        s.push_str(&format!("{prefix}ProtectSystem=strict\n"));
        for p in &rw {
            s.push_str(&format!("{prefix}ReadWritePaths={p}\n"));
        }
    };
    if o.user {
        s.push_str(
            "# Sandboxing in a user unit needs unprivileged user namespaces\n\
             # (kernel.unprivileged_userns_clone=1); where they are enabled, uncomment:\n",
        );
        hardening(&mut s, "#");
        s.push_str(
            "# (No ProtectHome=: the store, the config and ~/.aws of a user unit live in the home.)\n",
        );
    } else {
        hardening(&mut s, "");
        s.push_str(
            "# ProtectHome=true: /home, /root and /run/user are empty and unreadable, so credentials\n\
             # kept there are not found: ~/.aws (Route53 keys, profiles, SSO cache), a TSIG key or a\n\
             # token file under a home. Keep them under /etc/wildcert instead (for Route53, e.g.\n\
             # Environment=AWS_SHARED_CREDENTIALS_FILE=/etc/wildcert/aws-credentials), or use\n\
             # ProtectHome=read-only.\n\
             ProtectHome=true\n\
             PrivateTmp=true\n",
        );
    }
    s.push_str("NoNewPrivileges=true\n");

    let mut t = String::new();
    t.push_str(&format!(
        "# Generated by `wildcert systemd{}`: install as {target}wildcert-renew.timer\n",
        if o.user { " --user" } else { "" }
    ));
    t.push_str(
        "[Unit]\n\
         Description=Run wildcert renew twice a day\n\
         \n\
         [Timer]\n\
         OnCalendar=*-*-* 00,12:00:00\n\
         RandomizedDelaySec=1h\n\
         Persistent=true\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
    );
    vec![
        ("wildcert-renew.service".to_string(), s),
        ("wildcert-renew.timer".to_string(), t),
    ]
}

/// `wildcert config check`: every problem of the config, errors first (exit 2 when there is
/// one); nothing is sent or written.
pub fn config_check(g: &Global, out: &Output) -> ExitCode {
    let loaded = match g.load_unchecked(|_| {}) {
        Ok(l) => l,
        Err(e) => return out.failed(&e),
    };
    let report = wildcert_manager::validate::check(&loaded);
    let doc = wildcert_manager::report::ConfigCheckDoc::new(&report);
    if out.is_json() {
        out.print_json(&doc);
        return doc.exit_code.into();
    }
    for (label, list) in [("error", &doc.errors), ("warning", &doc.warnings)] {
        if label == "warning" && out.is_quiet() {
            continue;
        }
        for f in list {
            eprintln!(
                "{label}: {}",
                wildcert_manager::validate::with_place(&f.at, &f.message)
            );
            eprintln!("  hint: {}", f.hint);
        }
    }
    if !out.is_quiet() {
        let file = doc.config.as_deref().unwrap_or("no config file");
        let verdict = match (doc.errors.len(), doc.warnings.len()) {
            (0, 0) => "OK".to_string(),
            (0, w) => format!("OK, {w} warning{}", if w == 1 { "" } else { "s" }),
            (e, _) => format!(
                "{e} error{}: every command refuses to run until they are fixed",
                if e == 1 { "" } else { "s" }
            ),
        };
        println!(
            "{file}: {} certificate{}, {} provider section{}: {verdict}",
            doc.certificates,
            if doc.certificates == 1 { "" } else { "s" },
            doc.providers.len(),
            if doc.providers.len() == 1 { "" } else { "s" },
        );
    }
    doc.exit_code.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(o: &UnitOptions) -> String {
        units(o).remove(0).1
    }

    fn opts() -> UnitOptions {
        UnitOptions {
            exe: PathBuf::from("/home/ops/.cargo/bin/wildcert"),
            config: Some(PathBuf::from("/etc/wildcert/wildcert.toml")),
            state_dir: None,
            write_dirs: vec![PathBuf::from("/etc/nginx/ssl/site")],
            user: false,
        }
    }

    #[test]
    fn system_unit_runs_this_binary_and_opens_the_store_and_write_dirs() {
        let s = service(&opts());
        assert!(
            s.contains(
                "\nExecStart=/home/ops/.cargo/bin/wildcert --config /etc/wildcert/wildcert.toml -q renew\n"
            ),
            "{s}"
        );
        assert!(s.contains("\nReadWritePaths=/var/lib/wildcert\n"), "{s}");
        assert!(s.contains("\nReadWritePaths=-/etc/nginx/ssl/site\n"), "{s}");
        assert!(s.contains("\nProtectSystem=strict\n") && s.contains("\nProtectHome=true\n"));
        assert!(
            s.contains("~/.aws") && s.contains("Read-only file system"),
            "{s}"
        );
        assert!(s.contains("\nStateDirectory=wildcert\n"), "{s}");
    }

    #[test]
    fn odd_paths_are_quoted_and_escaped() {
        let mut o = opts();
        o.exe = PathBuf::from("/opt/my tools/wildcert");
        o.state_dir = Some(PathBuf::from("/srv/100%/state"));
        let s = service(&o);
        assert!(
            s.contains("ExecStart=\"/opt/my tools/wildcert\" --config "),
            "{s}"
        );
        assert!(s.contains("--state-dir /srv/100%%/state -q renew"), "{s}");
        assert!(s.contains("\nReadWritePaths=/srv/100%%/state\n"), "{s}");
        assert!(!s.contains("StateDirectory="), "{s}");
    }

    #[test]
    fn user_unit_keeps_its_store_under_the_state_home() {
        let mut o = opts();
        o.user = true;
        let s = service(&o);
        assert!(s.contains("--state-dir %S/wildcert -q renew"), "{s}");
        assert!(s.contains("\nStateDirectory=wildcert\n"), "{s}");
        assert!(!s.contains("\nProtectHome="), "{s}");
        assert!(!s.contains("\nProtectSystem="), "only commented: {s}");
        assert!(!s.contains("network-online"), "{s}");
    }
}
