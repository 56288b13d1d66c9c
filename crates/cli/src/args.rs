//! The command line (the CLI contract: extend it, don't rename it).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wildcert_manager::settings::Secret;
use wildcert_manager::{IssueError, Loaded, Overrides};

/// `wildcert --version`: the version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WILDCERT_GIT_COMMIT"),
    ")"
);

/// `wildcert --version` in full: also the DNS providers this build has (from the registry).
pub fn long_version() -> &'static str {
    static LONG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LONG.get_or_init(|| {
        let kinds: Vec<&str> = wildcert_manager::providers::registry()
            .iter()
            .map(|k| k.spec.kind)
            .collect();
        format!("{VERSION}\nproviders: {}", kinds.join(", "))
    })
}

/// Get TLS certificates from any ACME CA with the DNS-01 challenge.
#[derive(Debug, Parser)]
#[command(name = "wildcert", version = VERSION, long_version = long_version(), about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// ACME directory URL or a shortcut: letsencrypt, letsencrypt-staging, zerossl, google, google-staging [default: letsencrypt]
    #[arg(long, global = true, value_name = "URL", env = "WILDCERT_SERVER")]
    pub server: Option<String>,
    /// Extra trusted root certificates (PEM) for the CA's HTTPS endpoint (Pebble, private CAs).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Where accounts, certificates and the journal are kept [default: /var/lib/wildcert].
    #[arg(long, global = true, value_name = "DIR", env = "WILDCERT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Settings file (TOML).
    #[arg(long, global = true, value_name = "FILE", env = "WILDCERT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Contact e-mail for the ACME account.
    #[arg(long, global = true, value_name = "ADDR")]
    pub email: Option<String>,
    /// Agree to the CA's terms of service.
    #[arg(long, global = true)]
    pub agree_tos: bool,
    /// External account binding key id (ZeroSSL, Google, step-ca with EAB).
    #[arg(long, global = true, value_name = "ID")]
    pub eab_kid: Option<String>,
    /// External account binding HMAC key (base64url). Prefer WILDCERT_ACME__EAB_HMAC_KEY or eab_hmac_key_file.
    #[arg(long, global = true, value_name = "KEY", hide_env_values = true)]
    pub eab_hmac_key: Option<String>,
    /// Resolver for every DNS discovery lookup (repeatable) [default: the system's].
    #[arg(long = "resolver", global = true, value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,
    /// Check exactly these servers for propagation instead of the zone's NS set (repeatable).
    #[arg(long = "authoritative", global = true, value_name = "IP[:PORT]")]
    pub authoritative: Vec<String>,
    /// How long to wait until every nameserver serves every value (e.g. 90s, 2m) [default: 120s].
    #[arg(long, global = true, value_name = "DURATION")]
    pub propagation_timeout: Option<String>,
    /// Print one machine-readable JSON result on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Issue one certificate now.
    Issue(IssueArgs),
    /// Issue what is missing and renew what is due, for every [[certificate]] in the config.
    Renew(RenewArgs),
    /// List the certificates in the store.
    List(ListArgs),
    /// Show one certificate: names, validity, files, renewal state.
    Show(ShowArgs),
    /// Revoke a certificate (it is then re-issued by the next `renew`).
    Revoke(RevokeArgs),
    /// Manage the ACME account.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Preflight: can issuance work? Credentials, zone, nameservers, propagation, CAA — without ordering.
    Check(CheckArgs),
    /// List the DNS providers and the settings each needs.
    Providers(ProvidersArgs),
    /// Publish (once), print or remove the standing dns-persist-01 record of names for this account.
    Persist(PersistArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// Write the manual pages (one per command) into DIR, or print wildcert(1) on stdout.
    Man(ManArgs),
    /// Print systemd units (renew service and timer) for this binary, its state and install dirs.
    Systemd(SystemdArgs),
    /// Remove a certificate from the store (and so from renewal); asks on a TTY unless --yes.
    Delete(DeleteArgs),
    /// On a server that uses the certificates: pull the live versions from the shared store
    /// ([store] url, a role that may only read) into DIR when they changed; safe from cron.
    Sync(SyncArgs),
    /// Set up the acme-dns provider: one registration per name and its _acme-challenge CNAME.
    #[command(subcommand, name = "acme-dns")]
    AcmeDns(AcmeDnsCommand),
    /// Check the config file: every section, provider, certificate, hook and install target.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Bring certbot's or lego's certificates, keys, accounts and hooks into the store.
    #[command(subcommand)]
    Import(ImportCommand),
    /// The store itself: move it between the state directory and PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `wildcert store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the state directory into PostgreSQL (--to postgresql://…), or the configured
    /// PostgreSQL store into a directory (--to DIR), verified.
    ///
    /// Every certificate (every archive version under its number, which one is live, its
    /// meta.json) and every account are copied, each certificate under its lock on both sides
    /// (on PostgreSQL its lease), then read back from the target and compared byte for byte,
    /// file by file (the private key as the database opens it). Private keys are sealed in the
    /// database with the data key of [store] key_file (created when missing: give every host a
    /// copy). The source is never changed; the output says which config lines switch over.
    /// Refused, with nothing copied, when the journal holds entries (DNS records may still be
    /// published: run `renew` first) or when the target holds a certificate or account of
    /// the same name (unless --replace). A certificate that fails to copy or verify is not
    /// left in the target; exit 5 then.
    Migrate(StoreMigrateArgs),
    /// Re-seal every private key in the PostgreSQL store with a new data key, in one
    /// transaction.
    ///
    /// The current key is [store] key_file; the new one is --new-key-file (32 random bytes,
    /// base64, mode 0600; created when missing). Afterwards only the new key opens the stored
    /// keys: stop the bastions' timers first, rotate, copy the new file to every bastion and
    /// consumer as their [store] key_file, start again. A host left with the old key is
    /// refused when it connects ("sealed with data key …"), before it orders anything.
    /// Database dumps taken before the rotation still need the old key: keep it with them.
    RotateKey(StoreRotateKeyArgs),
}

/// `wildcert store rotate-key --new-key-file FILE`.
#[derive(Debug, Args)]
pub struct StoreRotateKeyArgs {
    /// The new data key file (created, 0600, when missing; refused when others may read it).
    #[arg(long, value_name = "FILE")]
    pub new_key_file: PathBuf,
}

/// `wildcert store migrate --to postgresql://…|DIR [--replace]`.
#[derive(Debug, Args)]
pub struct StoreMigrateArgs {
    /// The target: a PostgreSQL URL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…],
    /// the data key from [store] key_file, created when missing) or a directory.
    #[arg(long, value_name = "URL|DIR", hide_env_values = true)]
    pub to: String,
    /// Replace what the target holds under the same certificate or account names (the
    /// target's copy is removed first; without this the migration is refused).
    #[arg(long)]
    pub replace: bool,
}

/// `wildcert import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// certbot's lineages (renewal/*.conf with a DNS plugin): every archive version, keys,
    /// the account, the deploy hook; the source is never changed.
    Certbot {
        /// certbot's configuration directory.
        #[arg(long, value_name = "DIR", default_value = "/etc/letsencrypt")]
        config_dir: PathBuf,
        /// Also write a config file with one [[certificate]] per lineage (never overwritten).
        #[arg(long, value_name = "FILE")]
        write_config: Option<PathBuf>,
    },
    /// lego's certificates and account (give --server and --dns as lego had them, and its
    /// variables in the environment); the source is never changed.
    Lego {
        /// lego's --path.
        #[arg(long, value_name = "DIR", default_value = ".lego")]
        path: PathBuf,
        /// The DNS provider lego ran with (a kind, or an id from [providers.<id>]).
        #[arg(long, value_name = "PROVIDER")]
        dns: Option<String>,
        /// Also write a config file with one [[certificate]] per certificate (never overwritten).
        #[arg(long, value_name = "FILE")]
        write_config: Option<PathBuf>,
    },
}

/// `wildcert config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the whole config as every command does before it runs (nothing is sent or
    /// written); lists every error and warning; exit 2 when there is an error.
    Check,
}

/// `wildcert acme-dns …`.
#[derive(Debug, Subcommand)]
pub enum AcmeDnsCommand {
    /// Register one account per name on the acme-dns server (kept in the state dir), print the
    /// _acme-challenge CNAME each name needs, and wait until every authoritative server serves it.
    Register(AcmeDnsRegisterArgs),
}

/// `wildcert acme-dns register -d NAME… [--api-base URL]`.
#[derive(Debug, Args)]
pub struct AcmeDnsRegisterArgs {
    /// A name (repeatable); `*.example.com` shares example.com's registration.
    #[arg(short = 'd', long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// The acme-dns server's API root [default: ACME_DNS_API_BASE].
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// A network (CIDR) new registrations accept updates from (repeatable) [default: ACME_DNS_ALLOWLIST, else any].
    #[arg(long, value_name = "CIDR")]
    pub allowfrom: Vec<String>,
    /// How long to wait until every authoritative server serves the CNAMEs (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = wildcert_manager::settings::parse_duration)]
    pub wait: std::time::Duration,
}

/// `wildcert man [--dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write wildcert.1, wildcert-issue.1, … into this directory (e.g. /usr/local/share/man/man1),
    /// and wildcert.toml.5 into its sibling man5/ (or into DIR when it is not named man1).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `wildcert systemd [--user] [--dir DIR]`.
#[derive(Debug, Args)]
pub struct SystemdArgs {
    /// Units for the user's own service manager (`systemctl --user`) instead of the system's.
    #[arg(long)]
    pub user: bool,
    /// Write wildcert-renew.service and wildcert-renew.timer into this directory instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Another directory wildcert or a hook writes to, e.g. /etc/nginx/ssl (repeatable):
    /// a `ReadWritePaths=` line in the service.
    #[arg(long = "read-write-path", value_name = "DIR")]
    pub read_write_paths: Vec<PathBuf>,
}

/// `wildcert completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The validation methods `--challenge` accepts.
pub const CHALLENGES: [&str; 4] = ["dns-01", "dns-account-01", "dns-persist-01", "auto"];

/// `wildcert persist`.
#[derive(Debug, Args)]
pub struct PersistArgs {
    /// A name to authorize (repeatable); `*.example.com` adds policy=wildcard to example.com's record.
    #[arg(short = 'd', long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// DNS provider that publishes the record (not needed with --print).
    #[arg(long, value_name = "PROVIDER", required_unless_present = "print")]
    pub dns: Option<String>,
    /// Also authorize wildcards (`policy=wildcard`) for every name.
    #[arg(long)]
    pub wildcard: bool,
    /// The record stops counting at this time: a date (2027-06-30), RFC 3339, or a duration from now (90d).
    #[arg(long, value_name = "DATE|DURATION")]
    pub until: Option<String>,
    /// Write the records as zone-file lines on stdout instead of publishing them (no provider needed).
    #[arg(long, conflicts_with = "remove")]
    pub print: bool,
    /// Delete exactly the records this command would publish.
    #[arg(long)]
    pub remove: bool,
    /// Issuer domain name to name in the record [default: the CA's first caaIdentities entry].
    #[arg(long, value_name = "DOMAIN")]
    pub issuer: Option<String>,
}

/// `wildcert check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A name to check, e.g. '*.example.com' (repeatable).
    #[arg(short = 'd', long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// DNS provider: an id from [providers.<id>] in the config, or a kind (rfc2136, ...); not needed with --challenge dns-persist-01.
    #[arg(long, value_name = "PROVIDER")]
    pub dns: Option<String>,
    /// A certbot credentials file the provider reads its credentials from (as `issue --dns-credentials`).
    #[arg(long, value_name = "FILE", requires = "dns")]
    pub dns_credentials: Option<PathBuf>,
    /// Skip the probe record (no write to the zone): only read-only checks.
    #[arg(long)]
    pub no_probe: bool,
    /// Do not follow `_acme-challenge` CNAMEs (delegation).
    #[arg(long)]
    pub no_cname: bool,
    /// Validation method to check: dns-01, dns-account-01, dns-persist-01 (the standing record on every server, no provider needed) or auto.
    #[arg(long, value_name = "METHOD", value_parser = CHALLENGES)]
    pub challenge: Option<String>,
}

/// `wildcert renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Renew now, whether due or not.
    #[arg(long)]
    pub force: bool,
    /// Only these certificates (by name; repeatable).
    #[arg(long = "cert-name", value_name = "NAME")]
    pub cert_names: Vec<String>,
    /// How many orders run at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub parallel: usize,
    /// Run after each certificate is stored (overrides deploy_hook in the config).
    #[arg(long, value_name = "CMD")]
    pub deploy_hook: Option<String>,
    /// Keep running: after each round, sleep until the next certificate is due.
    ///
    /// With a shared store (`[store] url`), run it on two or more bastions as standbys: at most
    /// one works on a certificate at a time (the others skip it), and a certificate another
    /// bastion holds is looked at again when its lease would run out, so when that bastion dies
    /// (or is frozen) another takes its certificates over within one lease. `[store] lease`
    /// (60s by default) is how long a lock outlives a bastion that stopped renewing it; a
    /// bastion that wakes up after its lease was taken stops that certificate and writes
    /// nothing (the new holder's version stands).
    #[arg(long)]
    pub until_next: bool,
    /// Validation method for every certificate (overrides `challenge` in the config).
    #[arg(long, value_name = "METHOD", value_parser = CHALLENGES)]
    pub challenge: Option<String>,
    /// Run once before the due certificates are issued; not run when nothing is due
    /// (overrides pre_hook under [renew]).
    #[arg(long, value_name = "CMD")]
    pub pre_hook: Option<String>,
    /// Run once after every due certificate was tried; not run when nothing is due
    /// (overrides post_hook under [renew]).
    #[arg(long, value_name = "CMD")]
    pub post_hook: Option<String>,
    /// Rehearse renewing every certificate: the whole flow against the CA's staging directory
    /// (letsencrypt, google) or the given CA, with a throwaway store: nothing is stored, no
    /// hook runs, live/ stays.
    #[arg(long, conflicts_with = "until_next")]
    pub dry_run: bool,
}

/// `wildcert show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Certificate name.
    pub name: String,
}

/// `wildcert revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Certificate name.
    pub name: String,
    /// RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, …
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// Sign the request with the certificate's key instead of the account key.
    #[arg(long)]
    pub with_cert_key: bool,
}

/// `wildcert account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create the account (or find the existing one for the stored key).
    Register,
    /// Show the account: URL, status, contact.
    Show,
    /// Replace the account key (RFC 8555 §7.3.5).
    Rollover {
        /// Type of the new key [default: the type of the current key].
        #[arg(long, value_name = "TYPE", value_parser = ["ec256", "ec384", "ed25519"])]
        key_type: Option<String>,
    },
    /// Deactivate the account at the CA (irreversible).
    Deactivate {
        /// Confirm: deactivation cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// `wildcert issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// A name to certify, e.g. '*.example.com' (repeatable).
    #[arg(short = 'd', long = "domain", value_name = "NAME", required = true)]
    pub domains: Vec<String>,
    /// DNS provider: an id from [providers.<id>] in the config, or a kind (rfc2136, ...); not needed with --challenge dns-persist-01.
    #[arg(long, value_name = "PROVIDER")]
    pub dns: Option<String>,
    /// A certbot credentials file (`dns_cloudflare_api_token = …`, `dns_rfc2136_server = …`) the provider reads its credentials from; recorded for renew.
    #[arg(long, value_name = "FILE", requires = "dns")]
    pub dns_credentials: Option<PathBuf>,
    /// Name of the certificate in the store [default: the first name without `*.`].
    #[arg(long, value_name = "NAME")]
    pub cert_name: Option<String>,
    /// Certificate key type.
    #[arg(long, value_name = "TYPE", default_value = "ec256",
          value_parser = ["ec256", "ec384", "ed25519", "rsa2048", "rsa3072", "rsa4096"])]
    pub key_type: String,
    /// ACME profile to request (when the CA offers profiles).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Prefer the chain whose top certificate was issued by this common name.
    #[arg(long, value_name = "ISSUER_CN")]
    pub preferred_chain: Option<String>,
    /// Group of the private key and the certificate's directories (e.g. www-data).
    #[arg(long, value_name = "GROUP")]
    pub key_group: Option<String>,
    /// Mode of the private key, octal without world bits (e.g. 0640) [default: 0600].
    #[arg(long, value_name = "MODE")]
    pub key_mode: Option<String>,
    /// Do not follow `_acme-challenge` CNAMEs (delegation).
    #[arg(long)]
    pub no_cname: bool,
    /// Run after the certificate is stored (environment: WILDCERT_CERT_NAME, WILDCERT_CERT_DIR, …).
    #[arg(long, value_name = "CMD")]
    pub deploy_hook: Option<String>,
    /// Validation method: dns-01 (default), dns-account-01, dns-persist-01 (no --dns needed) or auto.
    #[arg(long, value_name = "METHOD", value_parser = CHALLENGES)]
    pub challenge: Option<String>,
    /// Run the whole flow against the CA's staging directory (letsencrypt, google) or the
    /// given CA, with a throwaway store: nothing is stored, no deploy hook runs, live/ stays.
    #[arg(long)]
    pub dry_run: bool,
    /// Also copy the files into DIR, atomically, before the deploy hook runs (repeatable);
    /// the key gets --key-group and --key-mode.
    #[arg(long = "install-dir", value_name = "DIR")]
    pub install_dirs: Vec<PathBuf>,
    /// File names in each --install-dir: pem (cert.pem, chain.pem, fullchain.pem, privkey.pem)
    /// or lego (DOMAIN.crt, DOMAIN.key, DOMAIN.issuer.crt, DOMAIN.json; `_.` for a wildcard).
    #[arg(long, value_name = "LAYOUT", value_parser = ["pem", "lego"], default_value = "pem", requires = "install_dirs")]
    pub install_layout: String,
    /// Let this request drop names that the certificate of the same name holds (without it,
    /// such an `issue` is refused and lists them).
    #[arg(long)]
    pub replace_names: bool,
    /// Order even when a valid certificate with exactly these names exists and is not due.
    #[arg(long)]
    pub force: bool,
    /// Keep the private key of the live version (same key type) for this and every later
    /// renewal: DANE/TLSA pins stay valid. Recorded for renew.
    #[arg(long)]
    pub reuse_key: bool,
}

/// `wildcert providers`.
#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Show the settings of one provider.
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn long_version_lists_every_provider_of_this_build() {
        let kinds: Vec<&str> = wildcert_manager::providers::PROVIDERS
            .iter()
            .map(|k| k.spec.kind)
            .collect();
        let long = long_version();
        assert!(
            long.ends_with(&format!("providers: {}", kinds.join(", ")))
                && long.starts_with(VERSION),
            "{long}"
        );
    }

    #[test]
    fn contract_parses_with_global_flags_anywhere() {
        let cli = Cli::try_parse_from([
            "wildcert",
            "--server",
            "https://127.0.0.1:14000/dir",
            "issue",
            "-d",
            "*.example.test",
            "-d",
            "example.test",
            "--dns",
            "rfc2136",
            "--resolver",
            "127.0.0.1:53",
            "--resolver",
            "127.0.0.2",
            "--propagation-timeout",
            "30s",
            "--json",
            "--key-type",
            "ec384",
        ])
        .expect("parses");
        let Command::Issue(args) = cli.command else {
            panic!("issue")
        };
        assert_eq!(args.domains, ["*.example.test", "example.test"]);
        assert_eq!(cli.global.resolvers.len(), 2);
        assert!(cli.global.json);
        assert_eq!(args.key_type, "ec384");
    }

    #[test]
    fn challenge_and_persist_flags() {
        let cli = Cli::try_parse_from([
            "wildcert",
            "issue",
            "-d",
            "example.test",
            "--challenge",
            "dns-persist-01",
        ])
        .expect("--dns is optional");
        let Command::Issue(a) = cli.command else {
            panic!("issue")
        };
        assert_eq!(a.challenge.as_deref(), Some("dns-persist-01"));
        assert!(a.dns.is_none());
        assert!(
            Cli::try_parse_from(["wildcert", "renew", "--challenge", "http-01"]).is_err(),
            "only the DNS methods and auto"
        );
        let cli = Cli::try_parse_from(["wildcert", "persist", "-d", "*.example.test", "--print"])
            .expect("--print needs no provider");
        let Command::Persist(p) = cli.command else {
            panic!("persist")
        };
        assert!(p.print && p.dns.is_none());
        assert!(Cli::try_parse_from(["wildcert", "persist", "-d", "example.test"]).is_err());
        assert!(
            Cli::try_parse_from(["wildcert", "persist", "-d", "x.test", "--print", "--remove"])
                .is_err()
        );
        let cli = Cli::try_parse_from([
            "wildcert",
            "check",
            "-d",
            "x.test",
            "--challenge",
            "auto",
            "--dns",
            "rfc2136",
        ])
        .expect("check");
        let Command::Check(c) = cli.command else {
            panic!("check")
        };
        assert_eq!(c.challenge.as_deref(), Some("auto"));
    }
}

/// `wildcert delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Certificate name.
    pub name: String,
    /// Revoke the certificate at its CA first (as `wildcert revoke NAME`).
    #[arg(long)]
    pub revoke: bool,
    /// Do not ask (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

/// `wildcert sync --to DIR`.
#[derive(Debug, Args)]
#[command(
    long_about = "On a server that uses the certificates (a consumer): pull the live version of each certificate from the shared store ([store] url or WILDCERT_STORE_URL; a database role that may only read is enough) into DIR, atomically, when it differs from what DIR holds, then run --reload once. Nothing changed: nothing is written, no reload, exit 0 — safe to run from cron every minute; two runs into one DIR take turns.\n\nThe data key ([store] key_file, default STATE_DIR/store.key) must be a copy of the bastions' (mode 0600): sync never creates one. DIR/.wildcert-sync.json records the version DIR holds of each certificate."
)]
pub struct SyncArgs {
    /// Where the files go: DIR/NAME/{cert,chain,fullchain,privkey}.pem (pem), or lego's
    /// DIR/DOMAIN.{crt,issuer.crt,key,json} (lego).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only these certificates (by name; repeatable) [default: every certificate in the store].
    #[arg(long = "cert-name", value_name = "NAME")]
    pub cert_names: Vec<String>,
    /// File names in DIR: pem (a directory per certificate) or lego (`_.` for a wildcard).
    #[arg(long, value_name = "LAYOUT", value_parser = ["pem", "lego"], default_value = "pem")]
    pub layout: String,
    /// Owner of the files written (a user name or number).
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
    /// Group of the files written (e.g. www-data).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Mode of the private key, octal without world bits (e.g. 0640) [default: 0600].
    #[arg(long, value_name = "MODE")]
    pub key_mode: Option<String>,
    /// Run once after a run that wrote something, never when nothing changed (environment:
    /// WILDCERT_SYNC_DIR, WILDCERT_SYNCED_CERTS); run again by the next sync if it failed.
    #[arg(long, value_name = "CMD")]
    pub reload: Option<String>,
}

/// `wildcert list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print Prometheus metrics (node_exporter's textfile format) instead of the table.
    #[arg(long)]
    pub prometheus: bool,
}

impl Global {
    /// The global flags as overrides of the settings.
    fn overrides(&self) -> Overrides {
        Overrides {
            server: self.server.clone(),
            ca_bundle: self.ca_bundle.clone(),
            state_dir: self.state_dir.clone(),
            email: self.email.clone(),
            agree_tos: self.agree_tos,
            eab_kid: self.eab_kid.clone(),
            eab_hmac_key: self.eab_hmac_key.clone().map(Secret::new),
            resolvers: self.resolvers.clone(),
            authoritative: self.authoritative.clone(),
            propagation_timeout: self.propagation_timeout.clone(),
            follow_cname: None,
            challenge: None,
        }
    }

    /// The settings: defaults < config file < environment < flags (`extra` adds a command's
    /// own flags), refused when the whole config does not check out
    /// ([`wildcert_manager::validate::check`]): a typo fails the very next run of any command.
    pub fn load(&self, extra: impl FnOnce(&mut Overrides)) -> Result<Loaded, IssueError> {
        let loaded = self.load_unchecked(extra)?;
        match wildcert_manager::validate::check(&loaded).into_error() {
            Some(e) => Err(e),
            None => Ok(loaded),
        }
    }

    /// The settings, not yet checked (`wildcert config check` reports every problem itself).
    pub fn load_unchecked(&self, extra: impl FnOnce(&mut Overrides)) -> Result<Loaded, IssueError> {
        let mut o = self.overrides();
        extra(&mut o);
        Loaded::load(self.config.as_deref(), std::env::vars().collect(), &o)
    }
}
