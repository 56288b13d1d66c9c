//! `wildcert import certbot` and `wildcert import lego`: another tool's state brought into the
//! store, read-only on the source.
//!
//! - certbot (`/etc/letsencrypt`): every lineage of `renewal/*.conf` whose authenticator is a
//!   DNS plugin (`dns-<plugin>`, mapped to the provider whose certbot prefix is
//!   `dns_<plugin>_`, its credentials file kept), every version of `archive/<name>/`
//!   (`live/` as it was: the version it points at is the live one), the keys with their group
//!   and mode, the account (`accounts/…/<id>/private_key.json` + `regr.json`), the deploy hook
//!   (`renew_hook`, then `renewal-hooks/deploy/*`), and `reuse_key`; pre and post hooks go to
//!   `[renew]` when a config file is written.
//! - lego (`.lego`): every `certificates/<domain>.crt` with its key (one version: lego keeps
//!   no history), the account of the CA (`accounts/<host>/<email>/`), the provider given with
//!   `--dns` (its variables come from the environment, as with lego).
//!
//! Each certificate gets the request it will be renewed with (as `issue` records one), so a
//! `renew` right after needs no edit; `--write-config` also writes a config file with one
//! `[[certificate]]` per lineage. What cannot be carried over is said per lineage.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use wildcert_acme::{AccountKey, CertKey};

use crate::account::{AccountRecord, ca_dir_name};
use crate::config::RunConfig;
use crate::error::{ExitCode, IssueError};
use crate::store::{
    CertFiles, CertMeta, KeyPerms, RecordedRequest, Storage, StorageExt, Store, shell_quote,
};
use crate::verify;

/// Where to import from.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// certbot's `--config-dir`.
    Certbot {
        /// E.g. `/etc/letsencrypt`.
        config_dir: PathBuf,
    },
    /// lego's `--path`.
    Lego {
        /// E.g. `./.lego`.
        path: PathBuf,
        /// The provider lego used (`--dns`): a kind or a `[providers.<id>]`.
        dns: Option<String>,
    },
}

/// What one lineage became.
#[derive(Debug, Clone, Default)]
pub struct ImportedLineage {
    /// The certificate's name (certbot's lineage, lego's domain without `*.`).
    pub name: String,
    /// Its names.
    pub names: Vec<String>,
    /// Versions imported (0 when skipped).
    pub versions: u32,
    /// The provider it renews with.
    pub provider: Option<String>,
    /// The CA it renews against.
    pub server: String,
    /// Why it was not imported, when it was not.
    pub skipped: Option<String>,
    /// What could not be carried over.
    pub not_carried: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Every lineage found.
    pub lineages: Vec<ImportedLineage>,
    /// One line per account: imported, or why not.
    pub accounts: Vec<String>,
    /// The config file written (`--write-config`).
    pub config: Option<PathBuf>,
}

/// One lineage as read from the source.
struct Lineage {
    out: ImportedLineage,
    /// (cert, chain, key PEM, key file's gid and mode), oldest first, the live one last.
    versions: Vec<(String, String, String, u32, u32)>,
    credentials: Option<PathBuf>,
    deploy_hook: Option<String>,
    pre_hooks: Vec<String>,
    post_hooks: Vec<String>,
    reuse_key: bool,
    preferred_chain: Option<String>,
    account: Option<(String, AccountKey)>,
}

fn source_error(path: &Path, message: impl std::fmt::Display) -> IssueError {
    IssueError::Command {
        message: format!("{}: {message}", path.display()),
        hint: "nothing was imported; check the path (certbot: --config-dir, lego: --path) and that this user can read it".into(),
        code: ExitCode::Settings,
    }
}

fn read(path: &Path) -> Result<String, IssueError> {
    std::fs::read_to_string(path).map_err(|e| source_error(path, format!("cannot read it: {e}")))
}

/// Import from `source` into `store`; `cfg` gives the CA (lego) and the run's CA bundle and
/// resolvers (recorded for renewal). Nothing in the source is changed.
pub async fn import(
    store: &Store,
    cfg: &RunConfig,
    source: &ImportSource,
    write_config: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<ImportReport, IssueError> {
    if let Some(p) = write_config
        && p.exists()
    {
        return Err(IssueError::Command {
            message: format!("{} exists: it is not overwritten", p.display()),
            hint: "give --write-config a new file name, then merge it into your config".into(),
            code: ExitCode::Settings,
        });
    }
    let lineages = match source {
        ImportSource::Certbot { config_dir } => certbot_lineages(config_dir)?,
        ImportSource::Lego { path, dns } => lego_lineages(path, dns.as_deref(), cfg, env)?,
    };
    let mut report = ImportReport::default();
    let mut accounts_done: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for mut l in lineages {
        if l.out.skipped.is_none() {
            match install_lineage(store, cfg, &mut l).await {
                Ok(()) => {}
                Err(e) => l.out.skipped = Some(e.to_string()),
            }
        }
        if l.out.skipped.is_none()
            && let Some((url, key)) = &l.account
        {
            let ca = ca_dir_name(&l.out.server);
            if !accounts_done.contains(&ca) {
                accounts_done.push(ca.clone());
                report
                    .accounts
                    .push(import_account(store, &l.out.server, url, key)?);
            }
        }
        report.lineages.push(l.out.clone());
        kept.push(l);
    }
    if let Some(p) = write_config {
        let text = config_text(source, &kept);
        std::fs::write(p, text).map_err(|e| IssueError::Command {
            message: format!("cannot write {}: {e}", p.display()),
            hint: "the certificates were imported; give --write-config a writable path".into(),
            code: ExitCode::Store,
        })?;
        report.config = Some(p.to_path_buf());
    }
    Ok(report)
}

async fn install_lineage(
    store: &Store,
    cfg: &RunConfig,
    l: &mut Lineage,
) -> Result<(), IssueError> {
    let name = l.out.name.clone();
    let _lock = store
        .lock(&name, std::time::Duration::from_secs(10))
        .await?;
    if store.read_meta(&name)?.is_some() {
        l.out.skipped =
            Some("a certificate of that name is already in the store (left as it is)".into());
        return Ok(());
    }
    let live_index = l.versions.len().saturating_sub(1);
    for (i, (cert, chain, key_pem, gid, mode)) in l.versions.iter().enumerate() {
        let key = CertKey::from_pem(key_pem)?;
        let fullchain = format!("{cert}{chain}");
        let info = if i == live_index {
            match verify::verify(&fullchain, key.public_key_raw(), &l.out.names) {
                Ok(info) => info,
                Err(verify::VerifyError::NotValidNow { .. }) => verify::inspect(&fullchain)?,
                Err(e) => return Err(e.into()),
            }
        } else {
            verify::inspect(&fullchain)?
        };
        let key_type = key.key_type().as_str().to_string();
        let perms = KeyPerms {
            group: (mode & 0o070 != 0).then_some(*gid),
            mode: Some(mode & 0o770),
        };
        let request = RecordedRequest {
            server: l.out.server.clone(),
            domains: l.out.names.clone(),
            provider: l.out.provider.clone().unwrap_or_default(),
            key_type: Some(key_type.clone()),
            preferred_chain: l.preferred_chain.clone(),
            challenge: Some("dns-01".into()),
            deploy_hook: l.deploy_hook.clone(),
            key_group: perms.group.map(|g| g.to_string()),
            key_mode: (mode & 0o770 != 0o600).then(|| format!("{:04o}", mode & 0o770)),
            dns_credentials: l.credentials.clone(),
            ca_bundle: cfg
                .ca_bundle
                .clone()
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
            resolvers: cfg.dns.resolvers.iter().map(|a| a.to_string()).collect(),
            authoritative: cfg
                .dns
                .authoritative
                .iter()
                .map(|a| a.to_string())
                .collect(),
            reuse_key: l.reuse_key,
            ..RecordedRequest::default()
        };
        let meta = CertMeta {
            names: l.out.names.clone(),
            key_type: key_type.clone(),
            provider: l.out.provider.clone().unwrap_or_default(),
            issued_at: Some(verify::rfc3339(info.not_before)),
            not_before: Some(verify::rfc3339(info.not_before)),
            not_after: Some(verify::rfc3339(info.not_after)),
            server: Some(l.out.server.clone()),
            ari_cert_id: wildcert_acme::CertId::from_pem(&info.leaf_pem)
                .ok()
                .map(|c| c.as_str().to_string()),
            challenge: Some("dns-01".into()),
            request: Some(request),
            ..CertMeta::default()
        };
        let files = CertFiles {
            cert: info.leaf_pem.clone(),
            chain: info.chain_pem.clone(),
            privkey: key.to_pem(),
        };
        store.install(&name, &files, &meta, &perms)?;
        l.out.versions += 1;
    }
    Ok(())
}

fn import_account(
    store: &Store,
    server: &str,
    url: &str,
    key: &AccountKey,
) -> Result<String, IssueError> {
    let key_file = crate::account::account_file(server, "key.pem")?;
    if store.load(&key_file)?.is_some() {
        return Ok(format!(
            "{server}: kept the account wildcert already has for this CA (not {url})"
        ));
    }
    store.save(&key_file, key.to_pem().as_bytes(), true)?;
    let rec = AccountRecord {
        url: url.to_string(),
        directory: server.to_string(),
        contact: Vec::new(),
        created: None,
    };
    store.save_json(
        &crate::account::account_file(server, "account.json")?,
        &rec,
        true,
    )?;
    Ok(format!("{server}: imported account {url}"))
}

// ----- certbot -----

/// certbot's renewal file: top-level `key = value` and `[renewalparams]` (configobj).
fn parse_renewal_conf(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut top, mut params) = (BTreeMap::new(), BTreeMap::new());
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match section.as_str() {
            "" => {
                top.insert(k.trim().to_string(), v);
            }
            "renewalparams" => {
                params.insert(k.trim().to_string(), v);
            }
            _ => {}
        }
    }
    (top, params)
}

/// The executables of a `renewal-hooks/<kind>/` directory, sorted (certbot runs them so).
fn hook_dir(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
        .map(|p| shell_quote(&p))
        .collect();
    out.sort();
    out
}

/// Several commands as one hook that runs each (as certbot does) and fails if any failed.
fn chain_hooks(cmds: &[String]) -> Option<String> {
    match cmds {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!(
            "rc=0; {}; exit $rc",
            many.iter()
                .map(|c| format!("{{ {c}; }} || rc=$?"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// The provider kind of a certbot DNS authenticator (`dns-rfc2136`,
/// `certbot-dns-cloudflare:dns-cloudflare`): the one whose certbot prefix matches.
fn provider_of_authenticator(auth: &str) -> Option<(&'static str, String)> {
    let plugin = auth.rsplit(':').next()?.strip_prefix("dns-")?;
    let prefix = format!("dns_{}_", plugin.replace('-', "_"));
    crate::providers::registry()
        .iter()
        .find(|r| r.spec.certbot_prefixes.contains(&prefix.as_str()))
        .map(|r| (r.spec.kind, prefix))
}

fn certbot_lineages(config_dir: &Path) -> Result<Vec<Lineage>, IssueError> {
    let renewal = config_dir.join("renewal");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&renewal)
        .map_err(|e| source_error(&renewal, format!("not a certbot config directory: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    let hooks = config_dir.join("renewal-hooks");
    let (dir_pre, dir_deploy, dir_post) = (
        hook_dir(&hooks.join("pre")),
        hook_dir(&hooks.join("deploy")),
        hook_dir(&hooks.join("post")),
    );
    let mut out = Vec::new();
    for conf in confs {
        let name = conf
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (top, p) = parse_renewal_conf(&read(&conf)?);
        let server = p
            .get("server")
            .cloned()
            .unwrap_or_else(|| "https://acme-v02.api.letsencrypt.org/directory".into());
        let mut l = Lineage {
            out: ImportedLineage {
                name: name.clone(),
                server: server.clone(),
                ..ImportedLineage::default()
            },
            versions: Vec::new(),
            credentials: None,
            deploy_hook: None,
            pre_hooks: Vec::new(),
            post_hooks: Vec::new(),
            reuse_key: p
                .get("reuse_key")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            preferred_chain: p.get("preferred_chain").cloned(),
            account: None,
        };
        let auth = p.get("authenticator").cloned().unwrap_or_default();
        match provider_of_authenticator(&auth) {
            Some((kind, prefix)) => {
                l.out.provider = Some(kind.to_string());
                l.credentials = p.get(&format!("{prefix}credentials")).map(PathBuf::from);
                if p.contains_key(&format!("{prefix}propagation_seconds")) {
                    l.out.not_carried.push(format!(
                        "{prefix}propagation_seconds: not needed (wildcert waits until every nameserver serves the record)"
                    ));
                }
            }
            None => {
                l.out.skipped = Some(format!(
                    "authenticator `{auth}` is not a DNS plugin wildcert has a provider for; issue it with `wildcert issue --dns …`"
                ));
                out.push(l);
                continue;
            }
        }
        for (key, what) in [
            (
                "installer",
                "an installer edits the web server's config: add an install target or a deploy hook",
            ),
            ("must_staple", "OCSP must-staple is not requested"),
        ] {
            if let Some(v) = p.get(key).filter(|v| *v != "None" && *v != "False") {
                l.out.not_carried.push(format!("{key} = {v}: {what}"));
            }
        }
        let mut deploy: Vec<String> = p.get("renew_hook").cloned().into_iter().collect();
        deploy.extend(dir_deploy.iter().cloned());
        l.deploy_hook = chain_hooks(&deploy);
        l.pre_hooks = p
            .get("pre_hook")
            .cloned()
            .into_iter()
            .chain(dir_pre.iter().cloned())
            .collect();
        l.post_hooks = p
            .get("post_hook")
            .cloned()
            .into_iter()
            .chain(dir_post.iter().cloned())
            .collect();
        // Every archive version; the one `live/` points at goes last (it becomes live).
        let archive = top
            .get("archive_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir.join("archive").join(&name));
        let mut numbers: Vec<u32> = std::fs::read_dir(&archive)
            .map_err(|e| source_error(&archive, format!("cannot list the archive: {e}")))?
            .flatten()
            .filter_map(|e| {
                let f = e.file_name().to_string_lossy().into_owned();
                f.strip_prefix("cert")?.strip_suffix(".pem")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        let live_cert = top
            .get("cert")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir.join("live").join(&name).join("cert.pem"));
        let live_n: Option<u32> = std::fs::read_link(&live_cert).ok().and_then(|t| {
            t.file_name()?
                .to_string_lossy()
                .strip_prefix("cert")?
                .strip_suffix(".pem")?
                .parse()
                .ok()
        });
        if let Some(n) = live_n
            && let Some(pos) = numbers.iter().position(|&x| x == n)
        {
            let n = numbers.remove(pos);
            numbers.push(n);
        }
        for n in numbers {
            let f = |kind: &str| archive.join(format!("{kind}{n}.pem"));
            let key_path = f("privkey");
            let meta = std::fs::metadata(&key_path).map_err(|e| source_error(&key_path, e))?;
            l.versions.push((
                read(&f("cert"))?,
                read(&f("chain"))?,
                read(&key_path)?,
                meta.gid(),
                meta.mode() & 0o777,
            ));
        }
        let Some((cert, chain, ..)) = l.versions.last() else {
            l.out.skipped = Some(format!("no certificate in {}", archive.display()));
            out.push(l);
            continue;
        };
        l.out.names = verify::inspect(&format!("{cert}{chain}"))?.names;
        // The account this lineage renews with.
        if let Some(id) = p.get("account") {
            match certbot_account(&config_dir.join("accounts"), id) {
                Ok(a) => l.account = Some(a),
                Err(why) => l.out.not_carried.push(format!(
                    "account {id}: {why}; a new account is registered on the first renewal"
                )),
            }
        }
        out.push(l);
    }
    Ok(out)
}

/// certbot's account `<id>` under `accounts/<server>/…/<id>/`: its URL and key.
fn certbot_account(accounts: &Path, id: &str) -> Result<(String, AccountKey), String> {
    let dir = find_dir(accounts, id, 6).ok_or("not found under accounts/")?;
    let regr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("regr.json")).map_err(|e| format!("regr.json: {e}"))?,
    )
    .map_err(|e| format!("regr.json: {e}"))?;
    let url = regr
        .get("uri")
        .and_then(serde_json::Value::as_str)
        .ok_or("regr.json has no uri")?
        .to_string();
    let jwk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("private_key.json"))
            .map_err(|e| format!("private_key.json: {e}"))?,
    )
    .map_err(|_| "private_key.json is not JSON".to_string())?;
    let key = AccountKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok((url, key))
}

fn find_dir(root: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    if depth == 0 {
        return None;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    entries.sort();
    entries
        .iter()
        .find(|p| p.file_name().is_some_and(|f| f == name))
        .cloned()
        .or_else(|| entries.iter().find_map(|p| find_dir(p, name, depth - 1)))
}

// ----- lego -----

fn lego_lineages(
    path: &Path,
    dns: Option<&str>,
    cfg: &RunConfig,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Lineage>, IssueError> {
    let certs = path.join("certificates");
    let mut crts: Vec<PathBuf> = std::fs::read_dir(&certs)
        .map_err(|e| source_error(&certs, format!("not a lego directory: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "crt")
                && !p.to_string_lossy().ends_with(".issuer.crt")
        })
        .collect();
    crts.sort();
    let server = cfg.directory_url.clone();
    let account = lego_account(&path.join("accounts"), &server);
    let mut out = Vec::new();
    for crt in crts {
        // `_.example.test.crt`: the base keeps its dots (`with_extension` would eat `.test`).
        let stem = crt
            .file_name()
            .map(|s| s.to_string_lossy().trim_end_matches(".crt").to_string())
            .unwrap_or_default();
        let sibling = |ext: &str| certs.join(format!("{stem}.{ext}"));
        let json: serde_json::Value = std::fs::read_to_string(sibling("json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let domain = json
            .get("domain")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| stem.replacen("_.", "*.", 1));
        let key_path = sibling("key");
        let key_meta = std::fs::metadata(&key_path).map_err(|e| source_error(&key_path, e))?;
        let fullchain = read(&crt)?;
        let info = verify::inspect(&fullchain)?;
        let first = domain.to_ascii_lowercase();
        let mut names = vec![first.clone()];
        names.extend(info.names.iter().filter(|n| **n != first).cloned());
        let mut l = Lineage {
            out: ImportedLineage {
                name: domain.trim_start_matches("*.").to_ascii_lowercase(),
                names,
                server: server.clone(),
                provider: dns.map(str::to_string),
                ..ImportedLineage::default()
            },
            versions: vec![(
                info.leaf_pem.clone(),
                info.chain_pem.clone(),
                read(&key_path)?,
                key_meta.gid(),
                key_meta.mode() & 0o777,
            )],
            credentials: None,
            deploy_hook: None,
            pre_hooks: Vec::new(),
            post_hooks: Vec::new(),
            reuse_key: false,
            preferred_chain: None,
            account: None,
        };
        if dns.is_none() {
            l.out.skipped = Some(
                "lego records no provider: give `--dns KIND` (the one lego ran with), with its variables in the environment".into(),
            );
        }
        match &account {
            Ok(a) => l.account = Some(a.clone()),
            Err(why) => l.out.not_carried.push(format!(
                "account: {why}; a new account is registered on the first renewal"
            )),
        }
        l.out
            .not_carried
            .push("earlier versions: lego keeps only the current certificate".into());
        if env.contains_key("LEGO_CA_CERTIFICATES") && cfg.ca_bundle.is_none() {
            l.out.not_carried.push(
                "LEGO_CA_CERTIFICATES is read from the environment at every run (not recorded)"
                    .into(),
            );
        }
        out.push(l);
    }
    Ok(out)
}

/// lego's account for `server`: `accounts/<host>[_<port>]/<email>/{account.json, keys/<email>.key}`.
fn lego_account(accounts: &Path, server: &str) -> Result<(String, AccountKey), String> {
    let authority = server
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(server);
    let host_dir = accounts.join(authority.replace(':', "_"));
    let mut emails: Vec<PathBuf> = std::fs::read_dir(&host_dir)
        .map_err(|_| format!("no account for {authority} under {}", accounts.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    emails.sort();
    let dir = emails.first().ok_or("no account directory")?;
    let email = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("account.json"))
            .map_err(|e| format!("account.json: {e}"))?,
    )
    .map_err(|e| format!("account.json: {e}"))?;
    let url = rec
        .pointer("/registration/uri")
        .and_then(serde_json::Value::as_str)
        .ok_or("account.json has no registration uri")?
        .to_string();
    let pem = std::fs::read_to_string(dir.join("keys").join(format!("{email}.key")))
        .map_err(|e| format!("keys/{email}.key: {e}"))?;
    let key = AccountKey::from_pem(&pem).map_err(|e| e.to_string())?;
    Ok((url, key))
}

// ----- the config file -----

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn config_text(source: &ImportSource, lineages: &[Lineage]) -> String {
    let from = match source {
        ImportSource::Certbot { config_dir } => format!("certbot ({})", config_dir.display()),
        ImportSource::Lego { path, .. } => format!("lego ({})", path.display()),
    };
    let mut text = format!("# Written by `wildcert import` from {from}.\n");
    let active: Vec<&Lineage> = lineages
        .iter()
        .filter(|l| l.out.skipped.is_none())
        .collect();
    let mut pre: Vec<String> = Vec::new();
    let mut post: Vec<String> = Vec::new();
    for l in &active {
        for h in &l.pre_hooks {
            if !pre.contains(h) {
                pre.push(h.clone());
            }
        }
        for h in &l.post_hooks {
            if !post.contains(h) {
                post.push(h.clone());
            }
        }
    }
    if !pre.is_empty() || !post.is_empty() {
        text.push_str("\n[renew]\n");
        if let Some(h) = chain_hooks(&pre) {
            text.push_str(&format!("pre_hook = {}\n", toml_str(&h)));
        }
        if let Some(h) = chain_hooks(&post) {
            text.push_str(&format!("post_hook = {}\n", toml_str(&h)));
        }
    }
    // One provider section per (kind, credentials file).
    let mut sections: Vec<(String, String, Option<PathBuf>)> = Vec::new();
    let mut section_of = |kind: &str, cred: &Option<PathBuf>| -> String {
        if let Some((id, ..)) = sections.iter().find(|(_, k, c)| k == kind && c == cred) {
            return id.clone();
        }
        let n = sections.iter().filter(|(_, k, _)| k == kind).count();
        let id = if n == 0 {
            kind.to_string()
        } else {
            format!("{kind}-{}", n + 1)
        };
        sections.push((id.clone(), kind.to_string(), cred.clone()));
        id
    };
    let mut entries = String::new();
    for l in &active {
        let Some(kind) = &l.out.provider else {
            continue;
        };
        let id = match crate::providers::kind(kind) {
            Some(_) => section_of(kind, &l.credentials),
            None => kind.clone(),
        };
        entries.push_str(&format!(
            "\n[[certificate]]\nname = {}\ndomains = [{}]\nprovider = {}\n",
            toml_str(&l.out.name),
            l.out
                .names
                .iter()
                .map(|n| toml_str(n))
                .collect::<Vec<_>>()
                .join(", "),
            toml_str(&id)
        ));
        if let Some(h) = &l.deploy_hook {
            entries.push_str(&format!("deploy_hook = {}\n", toml_str(h)));
        }
        if l.reuse_key {
            entries.push_str("reuse_key = true\n");
        }
        if let Some(c) = &l.preferred_chain {
            entries.push_str(&format!("preferred_chain = {}\n", toml_str(c)));
        }
        if let Some((_, _, _, gid, mode)) = l.versions.last()
            && mode & 0o070 != 0
        {
            entries.push_str(&format!(
                "key_group = \"{gid}\"\nkey_mode = \"{:04o}\"\n",
                mode & 0o770
            ));
        }
        for n in &l.out.not_carried {
            entries.push_str(&format!("# not carried over: {n}\n"));
        }
    }
    for (id, kind, cred) in &sections {
        text.push_str(&format!("\n[providers.{id}]\nkind = {}\n", toml_str(kind)));
        match cred {
            Some(c) => text.push_str(&format!(
                "credentials = {}\n",
                toml_str(&c.display().to_string())
            )),
            None => {
                let vars: Vec<&str> = crate::providers::kind(kind)
                    .map(|r| {
                        r.spec
                            .settings
                            .iter()
                            .filter_map(|s| s.env.first().copied())
                            .collect()
                    })
                    .unwrap_or_default();
                text.push_str(&format!(
                    "# its settings come from the environment, as lego read them: {}\n",
                    vars.join(", ")
                ));
            }
        }
    }
    let servers: Vec<&str> = active.iter().map(|l| l.out.server.as_str()).collect();
    if let Some(first) = servers.first()
        && servers.iter().all(|s| s == first)
    {
        text.push_str(&format!("\n[acme]\nserver = {}\n", toml_str(first)));
    }
    text.push_str(&entries);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certbot_renewal_files_and_hooks_parse() {
        let (top, p) = parse_renewal_conf(
            "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = /etc/letsencrypt/archive/a\n\n[renewalparams]\naccount = 89ab\nauthenticator = dns-rfc2136\ndns_rfc2136_credentials = /etc/letsencrypt/rfc2136.ini\nrenew_hook = systemctl reload nginx\n[[webroot_map]]\nx = y\n",
        );
        assert_eq!(
            top.get("archive_dir").map(String::as_str),
            Some("/etc/letsencrypt/archive/a")
        );
        assert_eq!(p.get("account").map(String::as_str), Some("89ab"));
        assert!(!p.contains_key("x"));
        assert_eq!(
            provider_of_authenticator("dns-rfc2136"),
            Some(("rfc2136", "dns_rfc2136_".to_string()))
        );
        assert_eq!(provider_of_authenticator("webroot"), None);
        assert_eq!(chain_hooks(&[]), None);
        assert_eq!(chain_hooks(&["a".into()]).as_deref(), Some("a"));
        assert_eq!(
            chain_hooks(&["a".into(), "b c".into()]).as_deref(),
            Some("rc=0; { a; } || rc=$?; { b c; } || rc=$?; exit $rc")
        );
        assert_eq!(shell_quote(Path::new("/etc/x y.sh")), "'/etc/x y.sh'");
    }
}
