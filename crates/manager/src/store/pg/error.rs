//! The one error type of the PostgreSQL store.

use std::path::PathBuf;

use time::OffsetDateTime;

/// An error of the PostgreSQL store. No variant carries a password or a data key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgStoreError {
    /// The store URL or a `PG*` variable cannot be used.
    #[error("the store URL is not usable: {0}")]
    BadUrl(String),
    /// The CA file for `sslrootcert` cannot be read or holds no certificate.
    #[error("the CA file {} cannot be used: {problem}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The server cannot be reached, went away mid-operation, or did not answer in time.
    #[error("PostgreSQL at {target} is unavailable: {detail}")]
    Unavailable {
        /// `host:port` (never the URL, which may hold a password).
        target: String,
        /// What the client saw.
        detail: String,
    },
    /// The TLS handshake failed: the certificate did not verify, or TLS was refused.
    #[error("TLS with PostgreSQL at {target} failed: {detail}")]
    Tls {
        /// `host:port`.
        target: String,
        /// What failed.
        detail: String,
    },
    /// The server refused the login.
    #[error("PostgreSQL refused the login of role `{role}`: {detail}")]
    Auth {
        /// The role.
        role: String,
        /// The server's message.
        detail: String,
    },
    /// The role lacks a privilege (SQLSTATE 42501), e.g. a read-only role asked to write.
    #[error("role `{role}` may not do this: {detail}")]
    PermissionDenied {
        /// The role connected as.
        role: String,
        /// The server's message (which table, which privilege).
        detail: String,
    },
    /// A writing command was run with a role that may only read the store (a consumer's
    /// role): refused when the store is opened, before anything is done.
    #[error("role `{role}` may only read the store (it lacks {missing}): this command writes")]
    ReadOnly {
        /// The role connected as.
        role: String,
        /// The privileges it lacks (`wildcert_objects INSERT`, …).
        missing: String,
    },
    /// A reader found the schema older than this wildcert's (or absent): only a role that
    /// may write it migrates it.
    #[error(
        "the store's schema is at version {found}, this wildcert expects {known}, and role `{role}` only reads"
    )]
    SchemaNotCurrent {
        /// The role connected as.
        role: String,
        /// Version found in the database (0: no schema yet).
        found: i32,
        /// The version this build expects.
        known: i32,
    },
    /// Any other error reported by the database.
    #[error("PostgreSQL error: {detail}")]
    Database {
        /// The server's message.
        detail: String,
    },
    /// The schema was migrated by a newer wildcert.
    #[error("the store's schema is at version {found}; this wildcert knows versions up to {known}")]
    SchemaTooNew {
        /// Version found in the database.
        found: i32,
        /// Newest version this build knows.
        known: i32,
    },
    /// The lock is held by another holder (and did not come free within the wait).
    #[error("lock `{name}` is held by `{holder}` until {expires_at}")]
    Locked {
        /// The lock.
        name: String,
        /// Who holds it.
        holder: String,
        /// When its lease ends (database clock).
        expires_at: OffsetDateTime,
        /// How long its lease had left when last looked at (the database's own reckoning, so
        /// no clock difference between hosts enters it).
        left: std::time::Duration,
    },
    /// A lease could not be renewed: it expired or another holder took it.
    #[error("lease `{name}` (token {token}) was lost{}", now_held(holder))]
    LeaseLost {
        /// The lock.
        name: String,
        /// The token of the lost lease.
        token: i64,
        /// Who holds the lock now, if anyone.
        holder: Option<String>,
    },
    /// A write carried a lease that is no longer current; nothing was written.
    #[error(
        "write refused: lease `{name}` token {token} is stale{}",
        now_held(holder)
    )]
    StaleFence {
        /// The lock.
        name: String,
        /// The stale token.
        token: i64,
        /// Who holds the lock now, if anyone.
        holder: Option<String>,
    },
    /// The data key file is missing, open to others, or malformed (its content is never shown).
    #[error("data key file {}: {problem}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// What fixes it.
        fix: String,
    },
    /// A sealed value was sealed with another data key.
    #[error("`{key}` was sealed with data key {sealed_by}, but the key file holds data key {have}")]
    WrongDataKey {
        /// The object key.
        key: String,
        /// Id of the data key that sealed it.
        sealed_by: String,
        /// Id of the data key we have.
        have: String,
    },
    /// A sealed value does not open: altered, truncated, or moved from another object key.
    #[error("`{key}` cannot be opened: {why}")]
    Unseal {
        /// The object key.
        key: String,
        /// What failed.
        why: &'static str,
    },
    /// A value must be sealed or opened, but no data key is configured.
    #[error("`{key}` is sealed at rest, but no data key ([store] key_file) is configured")]
    NoDataKey {
        /// The object key.
        key: String,
    },
    /// A synchronous store call made outside tokio's multi-thread runtime, where it cannot
    /// wait for the database without stalling the runtime.
    #[error("the PostgreSQL store was called outside a multi-thread tokio runtime")]
    NeedsMultiThreadRuntime,
    /// The system random number generator or the cipher failed.
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
    /// Objects already exist where a whole tree was to be stored without replacing.
    #[error("the database already holds `{prefix}…`")]
    Exists {
        /// The key prefix (`certs/<name>/`, `accounts/<ca>/<account>/`).
        prefix: String,
    },
}

fn now_held(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!("; `{h}` holds it now"),
        None => "; the lease expired".into(),
    }
}

impl PgStoreError {
    /// A hint for the CLI's second line.
    pub fn hint(&self) -> String {
        match self {
            PgStoreError::BadUrl(_) => {
                "use postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=verify-full], or the PG* variables".into()
            }
            PgStoreError::CaFile { .. } => "give sslrootcert a readable PEM file of the CA that signed the server's certificate".into(),
            PgStoreError::Unavailable { .. } => {
                "check that the server runs and is reachable; nothing was written by the failed step, run again".into()
            }
            PgStoreError::Tls { .. } => {
                "check sslmode and sslrootcert: the CA must have signed the server's certificate (for verify-full, for this host name)".into()
            }
            PgStoreError::Auth { .. } => "check the role and its password (URL, PGPASSWORD or the password file)".into(),
            PgStoreError::PermissionDenied { role, .. } => format!(
                "role `{role}` is read-only here: run writing commands with the role that owns the schema"
            ),
            PgStoreError::ReadOnly { role, .. } => format!(
                "role `{role}` is a consumer's: it may run `wildcert sync`, `list` and `show`; run issue, renew, delete, revoke and account commands on a bastion, with the role that owns the schema"
            ),
            PgStoreError::SchemaNotCurrent { .. } => {
                "run wildcert once on a bastion (with the role that owns the schema) to create or migrate it, then sync again".into()
            }
            PgStoreError::Database { .. } => "see the server's log for details".into(),
            PgStoreError::SchemaTooNew { .. } => "upgrade wildcert on this host to the version the others run".into(),
            PgStoreError::Locked { .. } => {
                "another bastion works on it; this one skips it and picks it up if the lease expires".into()
            }
            PgStoreError::LeaseLost { .. } | PgStoreError::StaleFence { .. } => {
                "this run paused past its lease (or lost the database); the new holder's work stands, run again".into()
            }
            PgStoreError::KeyFile { fix, .. } => fix.clone(),
            PgStoreError::WrongDataKey { .. } => {
                "copy the data key file from the bastion that wrote it (every host needs the same key)".into()
            }
            PgStoreError::Unseal { .. } => {
                "the stored value was altered: restore it from a backup or issue the certificate again".into()
            }
            PgStoreError::NoDataKey { .. } => "set [store] key_file (the same file on every host)".into(),
            PgStoreError::NeedsMultiThreadRuntime => {
                "this is a wildcert bug (the CLI runs on the multi-thread runtime): please report it".into()
            }
            PgStoreError::Crypto(_) => "check the system's random number source".into(),
            PgStoreError::Exists { .. } => {
                "nothing was written; `wildcert store migrate --replace` replaces what is there".into()
            }
        }
    }
}
