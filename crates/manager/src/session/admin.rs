//! The commands over what runs left behind: `list`, `show`, `revoke`, `delete`, the
//! `account` commands, and `persist` (the standing dns-persist-01 record). The work is done
//! by [`crate::commands`] and [`crate::persist`]; the session gives them its store.

use time::OffsetDateTime;

use super::Session;
use crate::account;
use crate::commands::{
    self, AccountInfo, CertDetails, CertSummary, Deactivated, Deleted, Revoked, RolledOver,
};
use crate::error::IssueError;
use crate::metrics;
use crate::persist::{self, PersistAction, PersistOptions, PersistOutcome, parse_until};

/// What `wildcert persist` was asked.
#[derive(Debug, Clone)]
pub struct PersistCommand {
    /// The names (`*.` for a wildcard).
    pub names: Vec<String>,
    /// `--dns`: the provider that publishes or removes the records.
    pub provider: Option<String>,
    /// `--wildcard`: `policy=wildcard` for every name.
    pub wildcard: bool,
    /// `--until`: a date, RFC 3339 time or a duration from now.
    pub until: Option<String>,
    /// `--issuer`: the issuer domain name (default: the CA's first `caaIdentities`).
    pub issuer: Option<String>,
    /// Publish, print or remove.
    pub action: PersistAction,
}

impl Session<'_> {
    /// `wildcert list`: every certificate in the store, sorted by name.
    pub fn list(&self) -> Result<Vec<CertSummary>, IssueError> {
        commands::list(&self.store, OffsetDateTime::now_utc())
    }

    /// `wildcert list --prometheus`: the metrics text.
    pub fn prometheus(&self) -> Result<String, IssueError> {
        metrics::render(
            &self.store,
            &self.loaded.settings.certificates,
            OffsetDateTime::now_utc(),
        )
    }

    /// `wildcert show NAME`.
    pub fn show(&self, name: &str) -> Result<CertDetails, IssueError> {
        commands::show(
            &self.store,
            name,
            &self.loaded.settings.certificates,
            OffsetDateTime::now_utc(),
        )
    }

    /// `wildcert revoke NAME [--reason R] [--with-cert-key]`.
    pub async fn revoke(
        &self,
        name: &str,
        reason: Option<&str>,
        with_cert_key: bool,
    ) -> Result<Revoked, IssueError> {
        let reason = reason.map(commands::parse_reason).transpose()?;
        commands::revoke(&self.cfg, &self.store, name, reason, with_cert_key).await
    }

    /// `wildcert delete NAME [--revoke]` (the confirmation is the caller's).
    pub async fn delete(&self, name: &str, revoke_first: bool) -> Result<Deleted, IssueError> {
        commands::delete(
            &self.cfg,
            &self.store,
            name,
            &self.loaded.settings.certificates,
            revoke_first,
        )
        .await
    }

    /// `wildcert account register`.
    pub async fn account_register(&self) -> Result<AccountInfo, IssueError> {
        commands::account_register(&self.cfg, &self.store).await
    }

    /// `wildcert account show`.
    pub async fn account_show(&self) -> Result<AccountInfo, IssueError> {
        commands::account_show(&self.cfg, &self.store).await
    }

    /// `wildcert account rollover [--key-type T]`.
    pub async fn account_rollover(&self, key_type: Option<&str>) -> Result<RolledOver, IssueError> {
        let key_type = key_type
            .map(str::parse)
            .transpose()
            .map_err(IssueError::Acme)?;
        commands::account_rollover(&self.cfg, &self.store, key_type).await
    }

    /// `wildcert account deactivate` (the confirmation is the caller's).
    pub async fn account_deactivate(&self) -> Result<Deactivated, IssueError> {
        commands::account_deactivate(&self.cfg, &self.store).await
    }

    /// `wildcert persist`: publish (once), print or remove the standing dns-persist-01 record
    /// of the names for the account stored for this CA (registered if needed).
    pub async fn persist(&self, cmd: &PersistCommand) -> Result<PersistOutcome, IssueError> {
        let opts = PersistOptions {
            names: cmd.names.clone(),
            wildcard: cmd.wildcard,
            persist_until: cmd.until.as_deref().map(parse_until).transpose()?,
            issuer: cmd.issuer.clone(),
            action: cmd.action,
        };
        // The provider is built (and its credentials read) only to publish or remove.
        let provider = match (&cmd.provider, cmd.action) {
            (Some(id), PersistAction::Publish | PersistAction::Remove) => {
                Some(self.providers.get(id)?)
            }
            _ => None,
        };
        let client = self.cfg.acme_client().await?;
        let account = account::load_or_create(&self.store, &client, &self.cfg.account).await?;
        persist::persist(&self.cfg.dns, &account, provider, &opts).await
    }
}
