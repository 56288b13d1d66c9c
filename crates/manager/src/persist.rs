//! dns-persist-01 in the lifecycle: the standing record that authorizes this account of this
//! CA ([`wildcert_dns::persist`] builds and judges it), checked on every authoritative server
//! before an order, and the `wildcert persist` command that publishes (or prints, or removes)
//! it once.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::info;
use wildcert_acme::{Account, AcmeClient};
use wildcert_dns::persist::{
    self as dnspersist, DEFAULT_TTL, PersistRecord, PersistReport, PersistRequirement,
};
use wildcert_dns::{
    AuthServer, ChallengeRecord, Discovery, Dns01, DnsName, DnsSettings, Identifier,
};

use crate::error::IssueError;
use crate::model::NamedProvider;
use crate::settings::{SettingsError, parse_duration};

/// A `persistUntil` closer than this gets a warning in `renew` and `check`.
pub const PERSIST_UNTIL_WARN_SECS: i64 = 30 * 86_400;

/// Now, as Unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The CA's issuer domain names known before an order: the directory's `caaIdentities`.
pub fn directory_issuers(client: &AcmeClient) -> Vec<String> {
    client.directory().meta.caa_identities.clone()
}

/// What a record at `_validation-persist.<base>` must say for `id` (`*.` needs
/// `policy=wildcard`).
pub fn requirement(issuers: &[String], account_url: &str, wildcard: bool) -> PersistRequirement {
    PersistRequirement {
        issuer_domain_names: issuers.to_vec(),
        account_uri: account_url.to_string(),
        wildcard,
        now: now_unix(),
    }
}

/// Discovery through the run's resolvers (else the system's).
async fn discovery(dns: &DnsSettings) -> Result<Discovery, IssueError> {
    if dns.resolvers.is_empty() {
        Discovery::system(dns.query_timeout)
            .await
            .map_err(|e| IssueError::Dns(e.into()))
    } else {
        Ok(Discovery::new(dns.resolvers.clone(), dns.query_timeout))
    }
}

/// Ask every authoritative server (the zone's NS set, or `[dns] authoritative` when given)
/// what it serves at `_validation-persist.<base>` (CNAMEs followed unless `--no-cname`).
pub async fn report(
    dns: &DnsSettings,
    base: &DnsName,
    req: &PersistRequirement,
) -> Result<PersistReport, IssueError> {
    let d = discovery(dns).await?;
    if dns.authoritative.is_empty() && dns.follow_cname {
        return dnspersist::check_name(&d, base, req, dns.query_timeout)
            .await
            .map_err(|e| IssueError::Dns(e.into()));
    }
    let from = dnspersist::record_name(base)?;
    let target = if dns.follow_cname {
        d.follow_cnames(&from)
            .await
            .map_err(|e| IssueError::Dns(e.into()))?
            .target()
            .clone()
    } else {
        from
    };
    let servers: Vec<AuthServer> = if dns.authoritative.is_empty() {
        let zone = d
            .find_zone(&target)
            .await
            .map_err(|e| IssueError::Dns(e.into()))?;
        d.nameservers(&zone)
            .await
            .map_err(|e| IssueError::Dns(e.into()))?
    } else {
        dns.authoritative
            .iter()
            .map(|a| AuthServer {
                name: None,
                addr: *a,
            })
            .collect()
    };
    Ok(dnspersist::check_servers(&servers, &target, req, dns.query_timeout).await)
}

/// What to publish for `id`: the `wildcert persist` command line and the zone-file line.
pub fn publish_instructions(id: &Identifier, record: &PersistRecord) -> String {
    let base = id.base();
    let wildcard = if record.wildcard { " --wildcard" } else { "" };
    let until = record
        .persist_until
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|t| format!(" --until {t}"))
        .unwrap_or_default();
    let line = record.zone_file_line(base, DEFAULT_TTL);
    format!(
        "publish it with `wildcert persist -d {base}{wildcard}{until} --dns PROVIDER` (or `--print` for the zone file), or add this line to the zone: {line}"
    )
}

/// Check the dns-persist-01 record of `id` on every authoritative server: the report, or
/// [`IssueError::PersistNotServed`] saying what each failing server serves and what to
/// publish. `issuers` empty: the CA lists no `caaIdentities`, so the check cannot be made
/// before the order (`Ok(None)`).
pub async fn check_identifier(
    dns: &DnsSettings,
    issuers: &[String],
    account_url: &str,
    id: &Identifier,
) -> Result<Option<PersistReport>, IssueError> {
    if issuers.is_empty() {
        return Ok(None);
    }
    let req = requirement(issuers, account_url, id.is_wildcard());
    let report = report(dns, id.base(), &req).await?;
    if report.all_match() {
        return Ok(Some(report));
    }
    let detail = if report.servers.is_empty() {
        "no authoritative server found".to_string()
    } else {
        report
            .failing()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let publish = match req.record(None) {
        Ok(r) => publish_instructions(id, &r),
        Err(e) => e.to_string(),
    };
    Err(IssueError::PersistNotServed {
        name: id.as_acme(),
        detail,
        publish,
    })
}

/// Log a warning when the matching record's `persistUntil` is within 30 days.
pub fn warn_if_expiring(name: &str, report: &PersistReport) -> Option<String> {
    let t = report.persist_until_within(now_unix(), PERSIST_UNTIL_WARN_SECS)?;
    let when = OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string());
    let msg = format!(
        "the dns-persist-01 record for {name} stops counting at {when} (persistUntil): publish a new one with `wildcert persist -d {} --until …` before then",
        name.strip_prefix("*.").unwrap_or(name)
    );
    tracing::warn!("{msg}");
    Some(msg)
}

/// `--until DATE|DURATION`: an RFC 3339 time, a date (`2027-06-30`, midnight UTC), Unix
/// seconds, or a duration from now (`90d`, `1y`).
pub fn parse_until(s: &str) -> Result<i64, IssueError> {
    let t = s.trim();
    let bad = |message: String| {
        IssueError::Settings(SettingsError::Value {
            key: "--until".into(),
            message,
        })
    };
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(dt.unix_timestamp());
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(t, &date_fmt) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    if t.len() >= 9
        && let Ok(n) = t.parse::<i64>()
    {
        return Ok(n);
    }
    let d = parse_duration(t).map_err(|_| {
        bad(format!(
            "`{s}` is neither a date (2027-06-30, RFC 3339) nor a duration (90d, 1y)"
        ))
    })?;
    let secs = i64::try_from(d.as_secs()).map_err(|_| bad(format!("`{s}` is too far away")))?;
    Ok(now_unix().saturating_add(secs))
}

/// What `wildcert persist` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistAction {
    /// Publish through the provider and wait for every authoritative server.
    Publish,
    /// Print the zone-file lines only.
    Print,
    /// Remove exactly these records through the provider.
    Remove,
}

/// The options of `wildcert persist`.
#[derive(Debug, Clone)]
pub struct PersistOptions {
    /// The names (`*.` for a wildcard: the record then carries `policy=wildcard`).
    pub names: Vec<String>,
    /// `--wildcard`: `policy=wildcard` for every name.
    pub wildcard: bool,
    /// `--until`: Unix seconds.
    pub persist_until: Option<i64>,
    /// `--issuer`: the issuer domain name (default: the CA's first `caaIdentities`).
    pub issuer: Option<String>,
    /// What to do.
    pub action: PersistAction,
}

/// One record `wildcert persist` handled.
#[derive(Debug, Clone)]
pub struct PersistLine {
    /// The base name (`example.com`).
    pub name: String,
    /// `_validation-persist.<name>`.
    pub record_name: String,
    /// The TXT value.
    pub value: String,
    /// The zone-file line.
    pub zone_file_line: String,
}

/// What `wildcert persist` did (`--json` prints it as `report::PersistDoc`).
#[derive(Debug, Clone)]
pub struct PersistOutcome {
    /// What was done.
    pub action: PersistAction,
    /// The account URL the records authorize.
    pub account_url: String,
    /// The issuer domain name they name.
    pub issuer: String,
    /// One entry per base name.
    pub records: Vec<PersistLine>,
    /// Authoritative servers that served every record (publish).
    pub servers: usize,
}

/// The records `opts` describes for `account` (one per base name; `policy=wildcard` when a
/// wildcard of it was asked or `--wildcard`).
pub fn records_for(
    account: &Account,
    opts: &PersistOptions,
) -> Result<(String, Vec<(DnsName, PersistRecord)>), IssueError> {
    let issuer = match &opts.issuer {
        Some(i) => i.clone(),
        None => directory_issuers(account.client())
            .into_iter()
            .next()
            .ok_or_else(|| IssueError::Command {
                message: "the CA's directory lists no caaIdentities, so its issuer domain name is unknown".into(),
                hint: "give it with --issuer (the CA's documentation names it, e.g. letsencrypt.org)".into(),
                code: crate::error::ExitCode::Settings,
            })?,
    };
    let mut bases: BTreeMap<String, bool> = BTreeMap::new();
    for n in &opts.names {
        let id = Identifier::parse(n)?;
        let w = bases.entry(id.base().to_string()).or_insert(false);
        *w |= id.is_wildcard() || opts.wildcard;
    }
    if bases.is_empty() {
        return Err(IssueError::NoNames);
    }
    let mut out = Vec::new();
    for (base, wildcard) in bases {
        let record = PersistRecord::new(
            issuer.clone(),
            account.url().to_string(),
            wildcard,
            opts.persist_until,
        )
        .map_err(|e| IssueError::Command {
            message: e.to_string(),
            hint: "check --issuer".into(),
            code: crate::error::ExitCode::Settings,
        })?;
        out.push((DnsName::parse(&base)?, record));
    }
    Ok((issuer, out))
}

/// `wildcert persist`: publish (and wait for every authoritative server), print, or remove
/// the dns-persist-01 records of `opts.names` for `account`. `provider` is needed for
/// publish and remove.
pub async fn persist(
    dns: &DnsSettings,
    account: &Account,
    provider: Option<NamedProvider>,
    opts: &PersistOptions,
) -> Result<PersistOutcome, IssueError> {
    let (issuer, records) = records_for(account, opts)?;
    let lines: Vec<PersistLine> = records
        .iter()
        .map(|(base, r)| PersistLine {
            name: base.to_string(),
            record_name: format!("{}.{}", dnspersist::PERSIST_LABEL, base),
            value: r.value(),
            zone_file_line: r.zone_file_line(base, DEFAULT_TTL),
        })
        .collect();
    let mut outcome = PersistOutcome {
        action: opts.action,
        account_url: account.url().to_string(),
        issuer,
        records: lines,
        servers: 0,
    };
    if opts.action == PersistAction::Print {
        return Ok(outcome);
    }
    let Some(provider) = provider else {
        return Err(IssueError::Command {
            message: "publishing or removing a dns-persist-01 record needs a DNS provider".into(),
            hint:
                "give --dns PROVIDER, or --print to get the zone-file lines for your DNS operator"
                    .into(),
            code: crate::error::ExitCode::Settings,
        });
    };
    let challenge_records: Vec<ChallengeRecord> = records
        .iter()
        .map(|(base, r)| r.challenge_record(base))
        .collect::<Result<_, _>>()?;
    let solver = Dns01::new(provider.dns.clone(), dns.clone());
    let plan = solver.plan(&challenge_records).await?;
    match opts.action {
        PersistAction::Remove => {
            solver
                .cleanup(&plan)
                .await
                .map_err(|e| IssueError::Command {
                    message: e.to_string(),
                    hint: "run again; only these exact values are removed".into(),
                    code: crate::error::ExitCode::Dns,
                })?;
            info!(records = plan.len(), "dns-persist-01 records removed");
        }
        _ => {
            let published = solver.publish(&plan).await?;
            let report = solver.wait_propagated(&published).await?;
            outcome.servers = report.servers.len();
            info!(
                records = plan.len(),
                servers = outcome.servers,
                "dns-persist-01 records published and served by every authoritative server; they stay in place"
            );
        }
    }
    Ok(outcome)
}
