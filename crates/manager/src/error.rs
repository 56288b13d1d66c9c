//! The manager's error: one variant per layer, each with a hint for the CLI, and the exit
//! codes every command uses (defined here once; documented in docs/operations.md).

use wildcert_dns::{Dns01Error, NameError, ProviderError};

use crate::settings::SettingsError;
use crate::store::StoreError;
use crate::verify::VerifyError;

/// The exit code of the `wildcert` command (docs/operations.md): every failure maps to one,
/// and [`crate::report`] hands it to the CLI. Defined here, beside the error it classifies, so
/// the engine's modules can name it without importing the report's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// Everything worked (0).
    Ok,
    /// An unexpected internal failure (1).
    Internal,
    /// Bad settings, names or arguments: nothing was sent anywhere (2).
    Settings,
    /// DNS: provider, discovery or propagation (3).
    Dns,
    /// The CA refused or failed, or CAA forbids it (4).
    Ca,
    /// The store (state directory) could not be read or written (5).
    Store,
    /// The certificate was stored, but a hook (deploy, pre or post) or an install failed (6).
    Hook,
    /// Interrupted by SIGINT/SIGTERM; the records were removed, or kept in the journal (130).
    Interrupted,
}

impl ExitCode {
    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Internal => 1,
            ExitCode::Settings => 2,
            ExitCode::Dns => 3,
            ExitCode::Ca => 4,
            ExitCode::Store => 5,
            ExitCode::Hook => 6,
            ExitCode::Interrupted => 130,
        }
    }

    /// True for [`ExitCode::Ok`].
    pub const fn is_ok(self) -> bool {
        matches!(self, ExitCode::Ok)
    }

    /// A failure's code, never [`ExitCode::Ok`] (a failure classified as "nothing to do" is
    /// still a failure of the run that reports it: [`ExitCode::Internal`]).
    pub const fn failure(self) -> ExitCode {
        match self {
            ExitCode::Ok => ExitCode::Internal,
            other => other,
        }
    }
}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// In JSON documents an exit code is its number.
impl serde::Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

/// Why an issuance (or another lifecycle step) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A requested name is not acceptable.
    #[error("{0}")]
    Name(#[from] NameError),
    /// No names were given.
    #[error("no names to certify")]
    NoNames,
    /// The settings are wrong.
    #[error("{0}")]
    Settings(#[from] SettingsError),
    /// The DNS provider is unknown or misconfigured, or failed.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// A `--dns` value that names neither a configured provider nor a known kind.
    #[error("unknown DNS provider `{name}`{}", did_you_mean_text(.suggestion))]
    UnknownProvider {
        /// What was given.
        name: String,
        /// The closest configured id or kind, if one is close.
        suggestion: Option<String>,
    },
    /// The DNS-01 pipeline failed (discovery, publish, propagation).
    #[error("{0}")]
    Dns(#[from] Dns01Error),
    /// The CA refused or failed.
    #[error("{0}")]
    Acme(#[from] wildcert_acme::Error),
    /// The CA requires agreeing to its terms of service.
    #[error("the CA requires agreeing to its terms of service ({0})")]
    TermsNotAgreed(String),
    /// The CA requires external account binding.
    #[error("the CA requires external account binding (EAB) to create an account")]
    EabRequired,
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The issued certificate failed our checks; it was not stored.
    #[error("{0}; it was not stored")]
    Verify(#[from] VerifyError),
    /// An order ended in an unexpected state.
    #[error("{0}")]
    Order(String),
    /// Another run stored a new version while this one waited for the lock: nothing to do.
    #[error("`{0}` was just stored by another run")]
    Superseded(String),
    /// No certificate of this name in the store.
    #[error("no certificate named `{name}` in the store{}", did_you_mean_text(.suggestion))]
    UnknownCertificate {
        /// What was given.
        name: String,
        /// The closest stored name, if one is close.
        suggestion: Option<String>,
    },
    /// No ACME account is stored for this CA (directory URL).
    #[error("no ACME account is stored for {0}")]
    NoAccount(String),
    /// A lifecycle command (revoke, account …) refused or failed, with its own hint.
    #[error("{message}")]
    Command {
        /// What went wrong.
        message: String,
        /// What to do.
        hint: String,
        /// The exit code.
        code: ExitCode,
    },
    /// A CAA record (RFC 8659) forbids the CA to issue for a name: no order was placed.
    #[error("CAA forbids issuance for {name}: {reason}")]
    Caa {
        /// The identifier (`*.example.com`).
        name: String,
        /// Which domain holds the CAA set and which record forbids.
        reason: String,
    },
    /// The CA stopped answering during this run; nothing more was sent to it.
    #[error("not issued: the CA is not answering ({0})")]
    CaNotAnswering(String),
    /// Another run is working on this certificate right now (`renew` skips it).
    #[error("another wildcert run{} is working on `{name}`", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Busy {
        /// The certificate.
        name: String,
        /// Who holds the lock, as far as known (`pid 4242, since 2026-…Z`).
        holder: Option<String>,
        /// When the holder's database lease runs out unless renewed (`None` for a `flock`).
        free_in: Option<std::time::Duration>,
    },
    /// dns-persist-01: some authoritative server does not serve a record that authorizes this
    /// account of this CA for a name; nothing was ordered.
    #[error(
        "no dns-persist-01 record for {name} authorizes this account on every authoritative server: {detail}"
    )]
    PersistNotServed {
        /// The identifier (`*.example.com`).
        name: String,
        /// What each failing server serves.
        detail: String,
        /// The record to publish: the `wildcert persist` command and the zone-file line.
        publish: String,
    },
    /// An error shared by several certificates of one run (one failed publish fails every
    /// certificate of that provider).
    #[error("{message}")]
    Shared {
        /// The original error's message.
        message: String,
        /// The original error's hint.
        hint: String,
        /// The original error's exit code.
        code: ExitCode,
    },
}

impl IssueError {
    /// A one-line hint on what to do.
    pub fn hint(&self) -> String {
        match self {
            IssueError::Name(_) | IssueError::NoNames => {
                "give DNS names such as `example.com` or `*.example.com` with -d".into()
            }
            IssueError::Settings(_) => "fix the setting named above; see docs/configuration.md".into(),
            IssueError::Provider(e) => e.hint().into(),
            IssueError::UnknownProvider { .. } => {
                "use a provider id from [providers.<id>] in the config file, or a kind listed by `wildcert providers`".into()
            }
            IssueError::Dns(e) => e.hint().into(),
            IssueError::Acme(e) => acme_hint(e),
            IssueError::TermsNotAgreed(_) => "read the terms, then pass --agree-tos (or agree_tos = true under [acme])".into(),
            IssueError::EabRequired => "pass --eab-kid and --eab-hmac-key from your CA account's dashboard".into(),
            IssueError::Store(e) => e.hint(),
            IssueError::Verify(_) => "the previous certificate (if any) is untouched; report this to the CA operator".into(),
            IssueError::Order(_) => "run again with -v for the protocol steps".into(),
            IssueError::Shared { hint, .. } => hint.clone(),
            IssueError::UnknownCertificate { .. } => {
                "`wildcert list` shows the certificates in the store (check --state-dir)".into()
            }
            IssueError::NoAccount(_) => {
                "create it with `wildcert account register --agree-tos` (check --server and --state-dir)".into()
            }
            IssueError::Command { hint, .. } => hint.clone(),
            IssueError::CaNotAnswering(_) => CA_NOT_ANSWERING_HINT.into(),
            IssueError::Superseded(_) => "nothing to do".into(),
            IssueError::Busy { .. } => "nothing to do: the other run stores it".into(),
            IssueError::PersistNotServed { publish, .. } => publish.clone(),
            IssueError::Caa { .. } => {
                "add `0 issue \"<CA>\"` (`issuewild` for wildcards) to that CAA set, or use another CA; `wildcert check` shows the details ([dns] caa_check = false skips this check)".into()
            }
        }
    }

    /// A copy for every certificate an error concerns.
    pub fn share(&self) -> IssueError {
        match self {
            IssueError::Shared {
                message,
                hint,
                code,
            } => IssueError::Shared {
                message: message.clone(),
                hint: hint.clone(),
                code: *code,
            },
            other => IssueError::Shared {
                message: other.to_string(),
                hint: other.hint(),
                code: other.exit_code(),
            },
        }
    }

    /// The exit code for this error (documented in docs/operations.md).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            IssueError::Name(_)
            | IssueError::NoNames
            | IssueError::Settings(_)
            | IssueError::UnknownProvider { .. } => ExitCode::Settings,
            IssueError::Provider(ProviderError::Config { .. }) => ExitCode::Settings,
            IssueError::TermsNotAgreed(_) | IssueError::EabRequired => ExitCode::Settings,
            // A malformed EAB key is refused before anything is sent.
            IssueError::Acme(wildcert_acme::Error::Eab(_)) => ExitCode::Settings,
            IssueError::Provider(_) | IssueError::Dns(_) => ExitCode::Dns,
            IssueError::Acme(_) | IssueError::Order(_) | IssueError::Verify(_) => ExitCode::Ca,
            IssueError::CaNotAnswering(_) => ExitCode::Ca,
            IssueError::Store(_) => ExitCode::Store,
            IssueError::Shared { code, .. } => *code,
            IssueError::UnknownCertificate { .. } | IssueError::NoAccount(_) => ExitCode::Settings,
            IssueError::Command { code, .. } => *code,
            IssueError::Superseded(_) | IssueError::Busy { .. } => ExitCode::Ok,
            IssueError::Caa { .. } => ExitCode::Ca,
            IssueError::PersistNotServed { .. } => ExitCode::Dns,
        }
    }
}

const CA_NOT_ANSWERING_HINT: &str = "the CA stopped answering during this run, so wildcert stopped sending it requests; \
     the records were removed — check --server, the network and the CA's status page, then run again \
     (docs/troubleshooting.md, \"The CA cannot be reached\")";

const STALE_ACCOUNT_HINT: &str = "the CA does not know the account key stored for it (the account was \
     deleted or deactivated there, or this store's key belongs to another CA or instance): move \
     accounts/<ca-host>/default in the state directory aside, then run again or run `wildcert account \
     register --agree-tos` to register a new account; or put back the key.pem and account.json the \
     CA knows";

fn acme_hint(e: &wildcert_acme::Error) -> String {
    use wildcert_acme::ProblemType as P;
    if matches!(e, wildcert_acme::Error::CaNotAnswering { .. }) {
        return CA_NOT_ANSWERING_HINT.into();
    }
    if let wildcert_acme::Error::Unsupported(what) = e
        && what.starts_with("profile ")
    {
        return "drop the `profile` setting for this CA, or pick one it offers (docs/troubleshooting.md, \"offers no profiles\")".into();
    }
    // Causes the ACME layer can name itself (EAB rejected, method not offered, TLS, DNS of
    // the CA host, connection refused, timeout).
    if let Some(h) = e.hint() {
        return h.into();
    }
    match e.problem_type() {
        Some(P::RateLimited) => match e.retry_after() {
            Some(d) => format!("the CA rate-limits you; try again in {} s", d.as_secs()),
            None => "the CA rate-limits you; try again later".into(),
        },
        Some(P::Caa) => "a CAA record forbids this CA for the name; add an `issue`/`issuewild` entry for it".into(),
        Some(P::Dns) => "the CA could not read the TXT record: check that the zone's nameservers answer from the internet".into(),
        Some(P::ExternalAccountRequired) => "pass --eab-kid and --eab-hmac-key".into(),
        Some(P::AccountDoesNotExist) => STALE_ACCOUNT_HINT.into(),
        Some(P::Unauthorized)
            if e.problem().is_some_and(|p| {
                let d = p.detail.as_deref().unwrap_or_default().to_ascii_lowercase();
                d.contains("account") && !d.contains("challenge")
            }) =>
        {
            STALE_ACCOUNT_HINT.into()
        }
        Some(P::Unauthorized) => "the CA did not find the value: run `wildcert check` to see what each nameserver serves, and make sure no other client answers for the same name".into(),
        Some(P::RejectedIdentifier) => "the CA will not issue for this name".into(),
        _ => "check --server and --ca-bundle, then run again with -v".into(),
    }
}

/// Who holds a certificate's lock, for the `renew` skip line: what the holder wrote into the
/// lock file (`pid 4242`) and, unless it says so itself, since when (the lock file's
/// modification time: the holder writes it when it takes the lock).
pub fn lock_holder(path: &std::path::Path, holder: Option<&str>) -> Option<String> {
    let since = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| crate::verify::rfc3339(time::OffsetDateTime::from(t)));
    match (holder, since) {
        (Some(h), Some(s)) if !h.contains("since") => Some(format!("{h}, since {s}")),
        (Some(h), _) => Some(h.to_string()),
        (None, Some(s)) => Some(format!("since {s}")),
        (None, None) => None,
    }
}

fn did_you_mean_text(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

pub use wildcert_dns::spec::did_you_mean;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_link_troubleshooting_sections_that_exist() {
        let doc = include_str!("../../../docs/troubleshooting.md");
        let headings: Vec<&str> = doc.lines().filter(|l| l.starts_with("### ")).collect();
        let hints = [
            IssueError::CaNotAnswering(String::new()).hint(),
            IssueError::Acme(wildcert_acme::Error::Unsupported(
                "profile \"x\" requested, but this CA offers no profiles".into(),
            ))
            .hint(),
            IssueError::Dns(wildcert_dns::Dns01Error::Discovery(
                wildcert_dns::DiscoveryError::NoNameservers {
                    zone: wildcert_dns::DnsName::parse("example.test").expect("name"),
                    reason: "the resolvers returned no NS records (NXDOMAIN)".into(),
                },
            ))
            .hint(),
        ];
        for hint in hints {
            let (_, rest) = hint
                .split_once("docs/troubleshooting.md, \"")
                .unwrap_or_else(|| panic!("no link in {hint}"));
            let section = rest.split('"').next().unwrap_or_default();
            assert!(
                headings.iter().any(|h| h.contains(section)),
                "no section `{section}` in docs/troubleshooting.md"
            );
        }
        for message in [
            "give either tsig_file or tsig_secret/tsig_secret_file, not both",
            "offers no profiles",
            "no [[certificate]] entries: nothing to renew",
            "the resolvers returned no NS records (NXDOMAIN)",
            "the CA is not answering (3 requests in a row",
        ] {
            assert!(
                doc.contains(message),
                "docs/troubleshooting.md lacks `{message}`"
            );
        }
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let kinds = ["rfc2136", "pdns", "exec", "cloudflare", "route53"];
        assert_eq!(did_you_mean("rfc2163", kinds).as_deref(), Some("rfc2136"));
        assert_eq!(
            did_you_mean("cloudfare", kinds).as_deref(),
            Some("cloudflare")
        );
        assert_eq!(did_you_mean("Route53", kinds), None);
        assert_eq!(did_you_mean("bind", kinds), None);
        assert_eq!(
            did_you_mean("ww.example.com", ["www.example.com", "api.example.org"]).as_deref(),
            Some("www.example.com")
        );
        let e = IssueError::UnknownProvider {
            name: "rfc2163".into(),
            suggestion: did_you_mean("rfc2163", kinds),
        };
        assert_eq!(
            e.to_string(),
            "unknown DNS provider `rfc2163` (did you mean `rfc2136`?)"
        );
    }
}
