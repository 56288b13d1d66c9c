//! What the CLI prints: people get short lines on stderr (progress) and a summary on stdout;
//! `--json` gets exactly one JSON document on stdout, one of `wildcert_manager::report`'s.
//! Display code is kept apart from the documents (and from the exit codes, which the engine
//! decides).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use wildcert_dns::{PropagationProgress, ServerVerdict};
use wildcert_manager::IssueError;
use wildcert_manager::Issued;
use wildcert_manager::hooks::HookReport;
use wildcert_manager::renew::{Outcome, RenewOutcome, RenewRound};
use wildcert_manager::report::{
    self, ErrorDoc, ExitCode as Code, IssueDoc, NotDueDoc, Provider, ProviderDoc, ProvidersDoc,
    RenewDoc,
};
use wildcert_manager::session::{IssueReport, NotDue};

/// Where and how to print.
pub struct Output {
    json: bool,
    quiet: bool,
    /// `--dry-run`: the directory the run talks to (said in every result).
    dry_run: std::cell::RefCell<Option<String>>,
}

impl Output {
    /// Output for the given global flags.
    pub fn new(json: bool, quiet: bool) -> Self {
        Output {
            json,
            quiet,
            dry_run: std::cell::RefCell::new(None),
        }
    }

    /// `--json`: print `doc` (with `"dry_run"` in a dry run).
    pub fn print_json<T: serde::Serialize>(&self, doc: &T) {
        println!(
            "{}",
            report::json_line(doc, self.dry_run.borrow().as_deref())
        );
    }

    /// This run is a dry run against `directory`: say so on stderr now (unless `-q`), and in
    /// the JSON result (`"dry_run": "<directory>"`).
    pub fn dry_run(&self, directory: &str, staging: bool) {
        if !self.quiet && !self.json {
            eprintln!(
                "dry run against {directory}{}: a throwaway store, no deploy hook, nothing in the state directory or live/ changes",
                if staging {
                    " (the CA's staging directory)"
                } else {
                    ""
                }
            );
        }
        *self.dry_run.borrow_mut() = Some(directory.to_string());
    }

    /// `--json`: print exactly one JSON document on stdout.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// `-q`: print errors only.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A progress reporter for long waits, when a person is watching a terminal.
    pub fn progress(&self) -> Option<Arc<dyn PropagationProgress>> {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            // Plain log lines (tracing) say the same thing.
            None
        } else {
            Some(Arc::new(TerminalProgress))
        }
    }

    /// Print the result of an issuance and its `--install-dir` targets; returns the exit code
    /// ([`IssueReport::exit_code`]). A failing deploy hook, reload or install target is one
    /// line on stderr in every mode (`-q` included).
    pub fn issued(&self, r: &IssueReport) -> ExitCode {
        let name = &r.issued.cert_name;
        if self.json {
            self.print_json(&IssueDoc::of(r));
        } else if !self.quiet {
            print!("{}", render_issued(&r.issued, r.hook.as_ref()));
        }
        for i in &r.installs {
            match i {
                Ok(i) => match i.reload.as_ref().filter(|h| !h.ok) {
                    Some(h) => eprintln!("{}", hook_failure_line("reload", Some(name), h)),
                    None if !self.quiet && !self.json => {
                        eprintln!(
                            "installed into {} ({} files)",
                            i.dir.display(),
                            i.files.len()
                        );
                    }
                    None => {}
                },
                Err(e) => eprintln!(
                    "error: {e} (the certificate stays stored; exit code {})",
                    Code::Store
                ),
            }
        }
        if let Some(h) = r.hook.as_ref().filter(|h| !h.ok) {
            eprintln!("{}", hook_failure_line("deploy hook", Some(name), h));
        }
        r.exit_code().into()
    }

    /// `issue` for names a valid certificate already holds, not due: nothing ordered, exit 0.
    pub fn not_due(&self, n: &NotDue) -> ExitCode {
        if self.json {
            self.print_json(&NotDueDoc::of(n));
        } else if !self.quiet {
            let until = n
                .not_after
                .as_deref()
                .map(|t| format!(" is valid until {t} and"))
                .unwrap_or_default();
            println!(
                "{}: the certificate for {}{until} is not due until {} ({}): nothing ordered (--force orders a new one)",
                n.cert_name,
                n.names.join(", "),
                n.due,
                n.rule
            );
        }
        Code::Ok.into()
    }

    /// Print the summary of a `renew` round; returns its exit code ([`RenewRound::exit_code`]).
    /// Each failed hook is one line on stderr in every mode, `-q` included.
    pub fn renewed(&self, round: &RenewRound) -> Code {
        if self.json {
            self.print_json(&RenewDoc::of(round));
        } else {
            let (stdout, stderr) = render_renewed(&round.outcomes, self.quiet);
            print!("{stdout}");
            eprint!("{stderr}");
        }
        for (what, cert, h) in round.failed_hooks() {
            eprintln!("{}", hook_failure_line(what, cert, h));
        }
        round.exit_code()
    }

    /// Print an error: one line plus a hint (or one JSON document), and return the exit code.
    pub fn error(&self, message: &str, hint: &str, code: Code) -> ExitCode {
        if self.json {
            println!(
                "{}",
                report::json_line(&ErrorDoc::new(message, hint, code), None)
            );
        } else {
            eprintln!("error: {message}");
            eprintln!("hint: {hint}");
        }
        code.into()
    }

    /// A failure: its message, hint and exit code.
    pub fn failed(&self, e: &IssueError) -> ExitCode {
        self.error(&e.to_string(), &e.hint(), e.exit_code())
    }

    /// After SIGINT/SIGTERM: `removed` says what was removed; when some removal was not
    /// confirmed (`records_kept`), `kept` says what the journal keeps for the next run.
    pub fn interrupted(&self, records_kept: bool, removed: &str, kept: &str) -> ExitCode {
        if records_kept {
            return self.error(
                &format!(
                    "interrupted; {kept}: their removal was not confirmed (the DNS server did not answer or refused), \
                     so the journal keeps them"
                ),
                "the next wildcert run removes them before anything else: run the command again once the DNS server \
                 answers (the warning above names the server)",
                Code::Interrupted,
            );
        }
        self.error(
            &format!("interrupted; {removed}"),
            "run the command again",
            Code::Interrupted,
        )
    }

    /// `wildcert providers [NAME]`.
    pub fn providers(&self, name: Option<&str>) -> ExitCode {
        let Some(name) = name else {
            let all = ProvidersDoc::registry();
            if self.json {
                self.print_json(&all);
            } else {
                for p in &all.providers {
                    println!("{:<12} {}", p.kind, p.summary);
                }
                println!("\n`wildcert providers NAME` lists the settings of one provider.");
            }
            return ExitCode::SUCCESS;
        };
        let doc = match ProviderDoc::named(name) {
            Ok(d) => d,
            Err(e) => {
                let kinds: Vec<String> = ProvidersDoc::registry()
                    .providers
                    .into_iter()
                    .map(|p| p.kind)
                    .collect();
                let hint = format!("known providers: {}", kinds.join(", "));
                return self.error(&e.to_string(), &hint, e.exit_code());
            }
        };
        if self.json {
            self.print_json(&doc);
        } else {
            print!("{}", render_provider(&doc.provider));
        }
        ExitCode::SUCCESS
    }
}

/// `wildcert providers NAME` for people.
fn render_provider(p: &Provider) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}\n", p.kind, p.summary);
    let _ = writeln!(
        out,
        "Settings ([providers.<id>] with kind = \"{}\", or the environment; the first variable set wins):",
        p.kind
    );
    for s in &p.settings {
        let _ = writeln!(out, "  {:<22} {:<32} {}", s.key, s.env, s.description);
        let mut extra = vec![s.ty.clone()];
        if s.required != "no" {
            extra.push(format!("required: {}", s.required));
        }
        if !s.default.is_empty() {
            extra.push(format!("default: {}", s.default));
        }
        if let Some(c) = &s.certbot {
            extra.push(format!("certbot: {c}"));
        }
        let _ = writeln!(out, "  {:<22} {:<32} ({})", "", "", extra.join("; "));
    }
    if !p.ignored_env.is_empty() {
        let _ = writeln!(
            out,
            "\nRead but not honoured (a warning names them): {}",
            p.ignored_env.join(", ")
        );
    }
    if p.certbot {
        let _ = writeln!(
            out,
            "\nA certbot credentials file is read with `credentials = \"FILE\"` in the section, or `issue --dns-credentials FILE`."
        );
    }
    let _ = writeln!(out, "\nMore: {}", p.doc);
    out
}

/// Progress on a terminal: one line per server as it becomes ready, and a periodic summary.
struct TerminalProgress;

impl PropagationProgress for TerminalProgress {
    fn server_ready(&self, v: &ServerVerdict) {
        eprintln!("  ✓ {v}");
    }

    fn waiting(&self, elapsed: Duration, pending: &[ServerVerdict]) {
        let names: Vec<String> = pending.iter().map(|v| v.to_string()).collect();
        eprintln!(
            "  … {:.0} s: waiting for {}",
            elapsed.as_secs_f64(),
            names.join("; ")
        );
    }
}

/// The human summary of an issuance.
pub fn render_issued(r: &Issued, hook: Option<&HookReport>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Certificate `{}` stored (version {}) in {}",
        r.cert_name,
        r.version,
        r.live_dir.display()
    );
    let _ = writeln!(out, "  names:     {}", r.names.join(", "));
    let _ = writeln!(out, "  issuer:    {}", r.issuer.as_deref().unwrap_or("?"));
    let _ = writeln!(out, "  valid:     {} to {}", r.not_before, r.not_after);
    let _ = writeln!(out, "  key:       {}   serial: {}", r.key_type, r.serial);
    let _ = writeln!(
        out,
        "  files:     cert.pem chain.pem fullchain.pem privkey.pem"
    );
    let zones: Vec<String> = r
        .zones
        .iter()
        .map(|(z, n)| format!("{z} ({n} values)"))
        .collect();
    if !zones.is_empty() {
        let _ = writeln!(out, "  dns:       {}", zones.join(", "));
    }
    let _ = writeln!(
        out,
        "  took:      {:.2} s (propagation {:.2} s, CA validation {:.2} s)",
        r.timings_ms.total as f64 / 1000.0,
        r.timings_ms.propagation as f64 / 1000.0,
        r.timings_ms.validation as f64 / 1000.0
    );
    if let Some(h) = hook {
        let _ = match &h.error {
            None => writeln!(out, "  hook:      `{}` ok", h.command),
            Some(e) => writeln!(
                out,
                "  hook:      `{}` {e} (the certificate stays stored)",
                h.command
            ),
        };
    }
    out
}

/// The human summary of a `renew` round: (stdout, stderr); failures go to stderr.
pub fn render_renewed(outcomes: &[RenewOutcome], quiet: bool) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    // The store failing (a shared database gone away) fails every certificate the same way:
    // one line names them all, with one hint, at the first one's place.
    let store_failure = |o: &RenewOutcome| o.outcome == Outcome::Failed && o.code == Code::Store;
    let mut said: Vec<(&str, Option<&str>)> = Vec::new();
    for o in outcomes {
        if quiet && o.outcome != Outcome::Failed {
            continue;
        }
        if store_failure(o) {
            let key = (o.detail.as_str(), o.hint.as_deref());
            if said.contains(&key) {
                continue;
            }
            said.push(key);
            let names: Vec<&str> = outcomes
                .iter()
                .filter(|x| store_failure(x) && (x.detail.as_str(), x.hint.as_deref()) == key)
                .map(|x| x.name.as_str())
                .collect();
            if names.len() > 1 {
                let _ = writeln!(err, "{:<8} {:<32} {}", "failed", names.join(", "), o.detail);
                if let Some(h) = &o.hint {
                    let _ = writeln!(err, "{:<8} {:<32} hint: {h}", "", "");
                }
                continue;
            }
        }
        let word = o.outcome.as_str();
        let line = match o.outcome {
            Outcome::Skipped => match &o.next_due {
                Some(due) => format!("{word:<8} {:<32} {} until {due}", o.name, o.detail),
                None => format!("{word:<8} {:<32} {}", o.name, o.detail),
            },
            Outcome::Failed => format!("{word:<8} {:<32} {}", o.name, o.detail),
            Outcome::Issued | Outcome::Renewed => {
                let until = o
                    .certificate
                    .as_ref()
                    .map(|c| c.not_after.as_str())
                    .unwrap_or("?");
                format!(
                    "{word:<8} {:<32} {} (valid until {until})",
                    o.name, o.detail
                )
            }
        };
        if o.outcome == Outcome::Failed {
            let _ = writeln!(err, "{line}");
            if let Some(h) = &o.hint {
                let _ = writeln!(err, "{:<8} {:<32} hint: {h}", "", "");
            }
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    (out, err)
}

/// The one stderr line for a failed hook (printed even with `-q`).
pub fn hook_failure_line(what: &str, cert: Option<&str>, h: &HookReport) -> String {
    let why = h.error.as_deref().unwrap_or("failed");
    match cert {
        Some(c) => format!(
            "error: {what} `{}` for `{c}` {why} (the certificate stays stored; exit code {})",
            h.command,
            Code::Hook
        ),
        None => format!(
            "error: {what} `{}` {why} (exit code {})",
            h.command,
            Code::Hook
        ),
    }
}
