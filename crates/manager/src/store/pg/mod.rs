//! The PostgreSQL store: key/value objects, leased locks with fencing tokens, private keys
//! sealed at rest. Several bastions share one database.
//!
//! # The contract
//! - **Objects** are `key → bytes`. [`PgStore::put`], [`PgStore::put_many`] and
//!   [`PgStore::delete`] are each one statement: a `put_many` stores all its objects or none.
//!   Reads see only committed writes.
//! - **Locks are leases.** [`PgStore::lock`] grants a lock by name to one holder until
//!   `expires_at`, by the *database's* clock (`now()`), never a host's. Each grant carries a
//!   token from one sequence, so a later grant always has a larger token.
//! - **The holder renews** ([`PgStore::renew`]) before half the lease has passed; a renewal
//!   succeeds only while the lease is unexpired and still carries its token.
//! - **Fencing.** Every write names the lease it is done under. In the write's own statement
//!   (one statement for the check and the write: `FENCED_INSERT`; the lease is checked first
//!   in the rarer writes that take a transaction) the lease row is read and share-locked: if
//!   its token is not the lease's, or it has expired,
//!   the write is refused with [`PgStoreError::StaleFence`] and nothing is written. A holder that
//!   paused past its lease (SIGSTOP, VM pause, partition) can thus never overwrite what the next
//!   holder stored; each object records the token it was written under (`fence`).
//!   Writes outside any lock ([`PgStore::put_unfenced`]) record fence 0: only for keys no two
//!   holders write at once (a run's own journal records).
//! - **A lost lease** shows as [`PgStoreError::LeaseLost`] on renewal or `StaleFence` on a
//!   write: stop working on that lock's objects, re-read them, and take the lock again.
//! - **Sealing.** Values flagged sealed, and every key ending in `key.pem`, are stored
//!   AES-256-GCM sealed ([`seal`]) with a data key kept in a file, never in the database.
//! - **Schema.** [`PgStore::connect`] creates and migrates the schema (versioned) in one
//!   transaction under an advisory lock, so bastions starting together do not race.

mod backend;
mod connect;
mod error;
pub mod seal;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, Statement, Transaction};

pub use backend::{DEFAULT_LEASE, LeaseSettings, PgBackend};
pub(crate) use backend::{LeaseGuard, block_in_place_on};
pub use connect::{PgConfig, SslMode};
pub use error::PgStoreError;
pub use seal::DataKey;

/// Result of the PostgreSQL store.
pub type Result<T> = std::result::Result<T, PgStoreError>;

/// The schema, one migration per version (version = index + 1). Never edit one; add another.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE wildcert_objects (
        key text PRIMARY KEY,
        value bytea NOT NULL,
        sealed boolean NOT NULL DEFAULT false,
        written_at timestamptz NOT NULL DEFAULT now(),
        fence bigint NOT NULL
    );
    CREATE TABLE wildcert_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        expires_at timestamptz NOT NULL,
        token bigint NOT NULL
    );
    CREATE SEQUENCE wildcert_fence;
",
    "
    CREATE INDEX wildcert_objects_key_bytes ON wildcert_objects (key COLLATE \"C\");
",
];

/// SQL for the keys beginning with a prefix: `$1` the prefix, `$2` [`prefix_end`] of it. A
/// byte-wise range that the index of migration 2 serves (`starts_with` or `LIKE` under the
/// primary key's collation read every row of the table, for every certificate stored:
/// quadratic in the store's size).
macro_rules! under {
    () => {
        r#"(key COLLATE "C" >= $1 AND key COLLATE "C" < $2)"#
    };
}

/// The least string above every string that begins with `prefix`, in byte (code point) order:
/// its last character raised by one (a last `char::MAX` dropped first). Empty when there is
/// none (`prefix` empty or all `char::MAX`): then `U+10FFFF`, above every key (keys are ASCII).
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    char::MAX.to_string()
}

/// [`under!`] for the keys of every certificate (`certs/`).
macro_rules! under_certs {
    () => {
        r#"(key COLLATE "C" >= 'certs/' AND key COLLATE "C" < 'certs0')"#
    };
}

/// Stores rows `($1 key, $2 value, $3 sealed)[]` with fence `$4` in one statement.
const INSERT_ROWS: &str = "INSERT INTO wildcert_objects (key, value, sealed, written_at, fence)
    SELECT o.key, o.value, o.sealed, now(), $4::bigint
    FROM unnest($1::text[], $2::bytea[], $3::boolean[]) AS o(key, value, sealed)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, sealed = excluded.sealed,
        written_at = excluded.written_at, fence = excluded.fence";

/// The lease check of a fenced statement: lease `$1` with token `$2`, unexpired, share-locked
/// for the statement (a grant to another holder waits for it, and a grant that committed
/// meanwhile is seen: the row is re-checked once locked).
macro_rules! lease_cte {
    () => {
        "WITH lease AS (
            SELECT token FROM wildcert_leases
            WHERE name = $1 AND token = $2 AND expires_at > now() FOR SHARE
        )"
    };
}

/// What a fenced statement answers: whether the lease held, the rows written, and who holds
/// the lock now (holder, token) for the refusal's message.
macro_rules! fenced_answer {
    ($written:literal) => {
        concat!(
            "SELECT EXISTS (SELECT 1 FROM lease), (SELECT count(*) FROM ",
            $written,
            "),
                (SELECT holder FROM wildcert_leases WHERE name = $1),
                (SELECT token FROM wildcert_leases WHERE name = $1)"
        )
    };
}

/// Stores rows `($3 key, $4 value, $5 sealed)[]` under the lease `($1, $2)`, checked in the
/// same statement: nothing is written unless the lease is current. One round trip where a
/// transaction took four (`BEGIN`, the check, the write, `COMMIT`).
const FENCED_INSERT: &str = concat!(
    lease_cte!(),
    ", written AS (
        INSERT INTO wildcert_objects (key, value, sealed, written_at, fence)
        SELECT o.key, o.value, o.sealed, now(), $2
        FROM unnest($3::text[], $4::bytea[], $5::boolean[]) AS o(key, value, sealed)
        WHERE EXISTS (SELECT 1 FROM lease)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, sealed = excluded.sealed,
            written_at = excluded.written_at, fence = excluded.fence
        RETURNING 1
    ) ",
    fenced_answer!("written")
);

/// Deletes key `$3` under the lease `($1, $2)`, checked in the same statement.
const FENCED_DELETE: &str = concat!(
    lease_cte!(),
    ", gone AS (
        DELETE FROM wildcert_objects WHERE key = $3 AND EXISTS (SELECT 1 FROM lease)
        RETURNING 1
    ) ",
    fenced_answer!("gone")
);

/// `rows` as the three arrays [`INSERT_ROWS`] and [`FENCED_INSERT`] take.
#[allow(clippy::type_complexity)]
fn columns<'a>(rows: &'a [(&'a str, Vec<u8>, bool)]) -> (Vec<&'a str>, Vec<&'a [u8]>, Vec<bool>) {
    let keys = rows.iter().map(|r| r.0).collect();
    let values = rows.iter().map(|r| &r.1[..]).collect();
    let sealed = rows.iter().map(|r| r.2).collect();
    (keys, values, sealed)
}

/// Advisory lock key serialising migrations ("wildcert" in ASCII).
const MIGRATION_LOCK: i64 = 0x7769_6c64_6365_7274;

/// Longest wait for one statement before the database counts as unavailable.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest pause between two attempts of a waiting [`PgStore::lock`].
const LOCK_POLL: Duration = Duration::from_millis(250);

/// A granted lock: exclusive to `holder` until `expires_at` (database clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lock's name.
    pub name: String,
    /// Who holds it (e.g. `host pid 123`).
    pub holder: String,
    /// The fencing token: larger than every earlier grant's.
    pub token: i64,
    /// When the lease ends unless renewed.
    pub expires_at: OffsetDateTime,
    /// The lease length, applied again by each renewal.
    pub ttl: Duration,
}

/// A certificate's `meta.json` and `live` objects as stored ([`PgStore::cert_heads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertHead {
    /// The certificate's name.
    pub name: String,
    /// `certs/<name>/meta.json`, if any.
    pub meta: Option<Vec<u8>>,
    /// `certs/<name>/live` (the live version's number as text), if any.
    pub live: Option<Vec<u8>>,
}

/// Connections a bastion's store keeps (a consumer's: one). Any connection serves any call:
/// leases are rows, not session state; only the schema migration's advisory lock is held
/// by one connection, inside its one transaction.
pub const CONNECTIONS: usize = 4;

/// One connection and the statements prepared on it.
struct Conn {
    client: Client,
    /// Statements prepared on `client`, by their text: each later use is one round trip
    /// (bind + execute) instead of two (parse + describe first), and the server plans it
    /// once. Prepared statements belong to their connection.
    prepared: Prepared,
}

type Prepared = std::sync::Mutex<HashMap<&'static str, Statement>>;

/// Connections to the PostgreSQL store.
pub struct PgStore {
    /// A small fixed set: `renew --parallel N` stores N certificates at once, which one
    /// connection behind one lock made queue.
    conns: Vec<tokio::sync::Mutex<Conn>>,
    /// Where the next call starts looking for a free connection.
    next: std::sync::atomic::AtomicUsize,
    role: String,
    target: String,
    key: Option<DataKey>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("role", &self.role)
            .field("key", &self.key)
            .finish()
    }
}

/// What a connection is for: a bastion writes (and creates or migrates the schema), a
/// consumer (`wildcert sync`, `list`, `show`) only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Writes: the role must be allowed to write the store's tables; the schema is created
    /// or migrated when it is not current.
    Write,
    /// Reads only: the schema is never touched and must be current.
    Read,
}

/// A certificate's live version as the database holds it: its number and the fencing token
/// its writer held. Numbers restart at 1 when a certificate is deleted and issued again;
/// tokens only grow, so the pair names one version for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveStamp {
    /// The version number (`certs/<name>/archive/<n>`).
    pub version: u32,
    /// The fencing token under which `live` was written.
    pub token: i64,
}

impl PgStore {
    /// Connects for writing (see [`PgStore::connect_as`]).
    pub async fn connect(config: &PgConfig, key: Option<DataKey>) -> Result<PgStore> {
        PgStore::connect_as(config, key, Access::Write).await
    }

    /// Connects; `key` seals and opens private keys. For [`Access::Write`] a role that may not
    /// write the store's tables is refused at once ([`PgStoreError::ReadOnly`]), before any
    /// work starts, then the schema is created or migrated; for [`Access::Read`] the schema
    /// must already be current ([`PgStoreError::SchemaNotCurrent`]) and is never changed.
    pub async fn connect_as(
        config: &PgConfig,
        key: Option<DataKey>,
        access: Access,
    ) -> Result<PgStore> {
        let role = config.user().unwrap_or("(default)").to_owned();
        let target = config.target();
        let map = |e| map_err(&role, &target, e);
        let client = tokio::time::timeout(STATEMENT_TIMEOUT, config.connect(map))
            .await
            .map_err(|_| PgStoreError::Unavailable {
                target: target.clone(),
                detail: "no answer in time".into(),
            })??;
        let mut store = PgStore {
            conns: vec![tokio::sync::Mutex::new(Conn {
                client,
                prepared: Prepared::default(),
            })],
            next: Default::default(),
            role,
            target,
            key,
        };
        let client = &store.conns[0].get_mut().client;
        store.role = within(
            &store.role,
            &store.target,
            client.query_one("SELECT current_user::text", &[]),
        )
        .await?
        .get(0);
        match access {
            Access::Write => {
                store.check_writable().await?;
                store.migrate().await?;
            }
            Access::Read => {
                let (found, known) = (store.schema_version().await?, MIGRATIONS.len() as i32);
                if found > known {
                    return Err(PgStoreError::SchemaTooNew { found, known });
                }
                if found < known {
                    return Err(PgStoreError::SchemaNotCurrent {
                        role: store.role.clone(),
                        found,
                        known,
                    });
                }
            }
        }
        if access == Access::Write {
            // The rest of a bastion's connections, once the schema is current.
            let (role, target) = (store.role.clone(), store.target.clone());
            for _ in 1..CONNECTIONS {
                let client = tokio::time::timeout(
                    STATEMENT_TIMEOUT,
                    config.connect(|e| map_err(&role, &target, e)),
                )
                .await
                .map_err(|_| PgStoreError::Unavailable {
                    target: target.clone(),
                    detail: "no answer in time".into(),
                })??;
                store.conns.push(tokio::sync::Mutex::new(Conn {
                    client,
                    prepared: Prepared::default(),
                }));
            }
        }
        Ok(store)
    }

    /// A connection for one call: the first free one, else the next one's turn.
    async fn conn(&self) -> tokio::sync::MutexGuard<'_, Conn> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(conn) = self.conns[(start + i) % n].try_lock() {
                return conn;
            }
        }
        self.conns[start].lock().await
    }

    /// Refuses a role that may read but not write the store's tables (a consumer's role),
    /// naming it, before anything is done. A database without the tables yet is left to the
    /// migration (which fails with [`PgStoreError::PermissionDenied`] for such a role).
    async fn check_writable(&self) -> Result<()> {
        let conn = self.conn().await;
        let client = &conn.client;
        let row = self
            .db(client.query_one(
                "SELECT to_regclass('wildcert_objects') IS NOT NULL,
                        to_regclass('wildcert_leases') IS NOT NULL",
                &[],
            ))
            .await?;
        let (objects, leases): (bool, bool) = (row.get(0), row.get(1));
        if !objects || !leases {
            return Ok(());
        }
        let missing: Vec<String> = self
            .db(client.query_one(
                "SELECT array_remove(ARRAY[
                    CASE WHEN has_table_privilege(current_user, 'wildcert_objects', 'INSERT') THEN NULL ELSE 'INSERT on wildcert_objects' END,
                    CASE WHEN has_table_privilege(current_user, 'wildcert_objects', 'UPDATE') THEN NULL ELSE 'UPDATE on wildcert_objects' END,
                    CASE WHEN has_table_privilege(current_user, 'wildcert_objects', 'DELETE') THEN NULL ELSE 'DELETE on wildcert_objects' END,
                    CASE WHEN has_table_privilege(current_user, 'wildcert_leases', 'INSERT') THEN NULL ELSE 'INSERT on wildcert_leases' END,
                    CASE WHEN has_table_privilege(current_user, 'wildcert_leases', 'UPDATE') THEN NULL ELSE 'UPDATE on wildcert_leases' END,
                    CASE WHEN has_sequence_privilege(current_user, 'wildcert_fence', 'USAGE') THEN NULL ELSE 'USAGE on wildcert_fence' END
                 ], NULL)",
                &[],
            ))
            .await?
            .get(0);
        if missing.is_empty() {
            return Ok(());
        }
        Err(PgStoreError::ReadOnly {
            role: self.role.clone(),
            missing: missing.join(", "),
        })
    }

    /// The live version of every certificate, by name, in one query (what a consumer's
    /// `sync` compares with what it wrote last).
    pub async fn live_stamps(&self) -> Result<Vec<(String, LiveStamp)>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                concat!(
                    "SELECT key, value, fence FROM wildcert_objects WHERE ",
                    under_certs!(),
                    " AND key LIKE 'certs/%/live' ORDER BY key"
                ),
                &[],
            ))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: &str = row.get(0);
            let Some(name) = key
                .strip_prefix("certs/")
                .and_then(|k| k.strip_suffix("/live"))
                .filter(|n| !n.contains('/'))
            else {
                continue;
            };
            let Some(version) = std::str::from_utf8(row.get::<_, &[u8]>(1))
                .ok()
                .and_then(|v| v.trim().parse().ok())
            else {
                continue;
            };
            out.push((
                name.to_owned(),
                LiveStamp {
                    version,
                    token: row.get(2),
                },
            ));
        }
        Ok(out)
    }

    /// Every object whose key begins with `prefix`, opened when sealed, in one query.
    pub async fn get_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                concat!(
                    "SELECT key, value, sealed FROM wildcert_objects WHERE ",
                    under!(),
                    " ORDER BY key"
                ),
                &[&prefix, &prefix_end(prefix)],
            ))
            .await?;
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.get(0);
            let value: Vec<u8> = row.get(1);
            let value = if row.get::<_, bool>(2) {
                self.data_key(&key)?.open(&key, &value)?
            } else {
                value
            };
            out.push((key, value));
        }
        Ok(out)
    }

    /// The role connected as.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The schema version in the database (0 when none).
    pub async fn schema_version(&self) -> Result<i32> {
        let conn = self.conn().await;
        let client = &conn.client;
        match client
            .query_one("SELECT coalesce(max(version), 0) FROM wildcert_schema", &[])
            .await
        {
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(0),
            other => Ok(other.map_err(|e| self.err(e))?.get(0)),
        }
    }

    async fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.len() as i32;
        if self.schema_version().await? == known {
            return Ok(()); // also lets a read-only role in
        }
        let mut conn = self.conn().await;
        let Conn { client, .. } = &mut *conn;
        let tx = self.db(client.transaction()).await?;
        self.db(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]))
            .await?;
        self.db(tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS wildcert_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        ))
        .await?;
        let found: i32 = self
            .db(tx.query_one("SELECT coalesce(max(version), 0) FROM wildcert_schema", &[]))
            .await?
            .get(0);
        if found > known {
            return Err(PgStoreError::SchemaTooNew { found, known });
        }
        for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
            self.db(tx.batch_execute(sql)).await?;
            self.db(tx.execute(
                "INSERT INTO wildcert_schema (version) VALUES ($1)",
                &[&version],
            ))
            .await?;
            tracing::info!("store schema migrated to version {version}");
        }
        self.db(tx.commit()).await
    }

    /// The value at `key` (opened when sealed), or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_many(&[key]).await?.into_iter().next().flatten())
    }

    /// The values at `keys` (opened when sealed), in the order asked, in one statement.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                &self
                    .st(
                        &conn.prepared,
                        client,
                        "SELECT key, value, sealed FROM wildcert_objects WHERE key = ANY($1::text[])",
                    )
                    .await?,
                &[&keys],
            ))
            .await?;
        drop(conn);
        let mut found: HashMap<String, (Vec<u8>, bool)> = rows
            .into_iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        keys.iter()
            .map(|key| match found.remove(*key) {
                None => Ok(None),
                Some((value, true)) => Ok(Some(self.data_key(key)?.open(key, &value)?)),
                Some((value, false)) => Ok(Some(value)),
            })
            .collect()
    }

    /// The names `<name>` of every `certs/<name>/meta.json` and `certs/<name>/live`, sorted,
    /// without duplicates: the keys are picked by the server, not every key of every
    /// certificate sent over.
    pub async fn cert_names(&self) -> Result<Vec<String>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                &self
                    .st(
                        &conn.prepared,
                        client,
                        concat!(
                            "SELECT DISTINCT split_part(key, '/', 2) AS name FROM wildcert_objects WHERE ",
                            under_certs!(),
                            " AND key ~ '^certs/[^/]+/(meta\\.json|live)$' ORDER BY name"
                        ),
                    )
                    .await?,
                &[],
            ))
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `certs/<name>/meta.json` and `certs/<name>/live` (opened when sealed) of every
    /// certificate that has either, by name, sorted, in one statement: what a `renew` round
    /// decides from (one read per certificate before).
    pub async fn cert_heads(&self) -> Result<Vec<CertHead>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                &self
                    .st(
                        &conn.prepared,
                        client,
                        concat!(
                            "SELECT key, value, sealed FROM wildcert_objects WHERE ",
                            under_certs!(),
                            " AND key ~ '^certs/[^/]+/(meta\\.json|live)$'"
                        ),
                    )
                    .await?,
                &[],
            ))
            .await?;
        drop(conn);
        // Grouped here, sorted as Rust sorts (the database's collation may order `a.b/…`
        // between `a/live` and `a/meta.json`).
        let mut heads: std::collections::BTreeMap<String, CertHead> = Default::default();
        for row in rows {
            let key: String = row.get(0);
            let Some((name, file)) = key
                .strip_prefix("certs/")
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            let value: Vec<u8> = row.get(1);
            let value = if row.get::<_, bool>(2) {
                self.data_key(&key)?.open(&key, &value)?
            } else {
                value
            };
            let head = heads.entry(name.to_owned()).or_insert_with(|| CertHead {
                name: name.to_owned(),
                meta: None,
                live: None,
            });
            match file {
                "live" => head.live = Some(value),
                _ => head.meta = Some(value),
            }
        }
        Ok(heads.into_values().collect())
    }

    /// The keys beginning with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                &self
                    .st(
                        &conn.prepared,
                        client,
                        concat!(
                            "SELECT key FROM wildcert_objects WHERE ",
                            under!(),
                            " ORDER BY key"
                        ),
                    )
                    .await?,
                &[&prefix, &prefix_end(prefix)],
            ))
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Refuses a data key other than the one the stored private keys are sealed with: a
    /// bastion given a new key would seal versions that no other host can open.
    pub async fn check_data_key(&self) -> Result<()> {
        let Some(data_key) = &self.key else {
            return Ok(());
        };
        let row = {
            let conn = self.conn().await;
            let client = &conn.client;
            self.db(client.query_opt(
                "SELECT key, value FROM wildcert_objects WHERE sealed ORDER BY written_at DESC LIMIT 1",
                &[],
            ))
            .await?
        };
        if let Some(row) = row {
            let key: String = row.get(0);
            let value: Vec<u8> = row.get(1);
            data_key.open(&key, &value)?;
        }
        Ok(())
    }

    /// Whether `holder` holds a lease that has not expired (database clock).
    pub async fn holder_alive(&self, holder: &str) -> Result<bool> {
        let conn = self.conn().await;
        let client = &conn.client;
        let row = self
            .db(client.query_one(
                &self.st(&conn.prepared, client, "SELECT EXISTS (SELECT 1 FROM wildcert_leases WHERE holder = $1 AND expires_at > now())").await?,
                &[&holder],
            ))
            .await?;
        Ok(row.get(0))
    }

    /// Stores one object under `lease` (see [`PgStore::put_many`]).
    pub async fn put(&self, key: &str, value: &[u8], sealed: bool, lease: &Lease) -> Result<()> {
        self.put_many(&[(key, value, sealed)], lease).await
    }

    /// Stores `(key, value, sealed)` objects in one statement, only while `lease` is current
    /// (the lease check is part of the statement: `FENCED_INSERT`). Keys naming a private
    /// key (`…key.pem`) are sealed whatever `sealed` says; of a key given twice the last value
    /// is stored.
    pub async fn put_many(&self, objects: &[(&str, &[u8], bool)], lease: &Lease) -> Result<()> {
        let rows = self.sealed_rows(objects.iter().copied())?;
        self.insert_fenced(&rows, lease).await
    }

    /// Stores one object outside any lock (fence 0), in one statement. Safe only for keys no
    /// two holders write at once: a run's own records under unique names
    /// (`journal/<id>.json`) and summaries where the last writer wins by design
    /// (`last-run.json`). Never for certificates or accounts, whose writes must be fenced.
    pub async fn put_unfenced(&self, key: &str, value: &[u8], sealed: bool) -> Result<()> {
        let rows = self.sealed_rows([(key, value, sealed)].into_iter())?;
        let (keys, values, sealed) = columns(&rows);
        let conn = self.conn().await;
        let client = &conn.client;
        self.db(client.execute(
            &self.st(&conn.prepared, client, INSERT_ROWS).await?,
            &[&keys, &values, &sealed, &0i64],
        ))
        .await?;
        Ok(())
    }

    /// Stores version `n` of the objects under `dir` and points `<dir>/live` at it, under
    /// `lease`: `n` is one more than the highest `<dir>/archive/<n>/…` or `<dir>/live`, so
    /// versions only grow. `build(n)` gives the version's `(file, value, sealed)` objects,
    /// stored as `<dir>/archive/<n>/<file>`, all of them and `live` in one statement.
    ///
    /// Two statements, no transaction around them: the highest number is read, then the
    /// version written with the lease checked in the same statement. Between the two only a
    /// holder of the lease writes `<dir>`: had another taken it (ours expired), our token
    /// would never be current again and the write is refused, so the number read still holds
    /// when the write goes through.
    pub async fn put_version(
        &self,
        dir: &str,
        lease: &Lease,
        build: impl FnOnce(u32) -> Result<Vec<(String, Vec<u8>, bool)>>,
    ) -> Result<u32> {
        let archive = format!("{dir}/archive/");
        let live = format!("{dir}/live");
        let rows = {
            let conn = self.conn().await;
            let client = &conn.client;
            // Keys only, and the value of `live`: not every stored version's files.
            self.db(client.query(
                &self
                    .st(
                        &conn.prepared,
                        client,
                        concat!(
                            "SELECT key, CASE WHEN key = $3 THEN value END FROM wildcert_objects WHERE ",
                            under!(),
                            " OR key = $3"
                        ),
                    )
                    .await?,
                &[&archive, &prefix_end(&archive), &live],
            ))
            .await?
        };
        let mut highest = 0u32;
        for row in &rows {
            let key: &str = row.get(0);
            let n = match key.strip_prefix(&archive) {
                Some(rest) => rest.split('/').next().and_then(|n| n.parse().ok()),
                None => row
                    .get::<_, Option<&[u8]>>(1)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.trim().parse().ok()),
            };
            highest = highest.max(n.unwrap_or(0));
        }
        let version = highest
            .checked_add(1)
            .ok_or_else(|| PgStoreError::Database {
                detail: format!("`{dir}` has no version number left"),
            })?;
        let files = build(version)?;
        let mut objects: Vec<(String, Vec<u8>, bool)> = files
            .into_iter()
            .map(|(f, v, s)| (format!("{archive}{version}/{f}"), v, s))
            .collect();
        objects.push((live, version.to_string().into_bytes(), false));
        let rows = self.sealed_rows(objects.iter().map(|(k, v, s)| (k.as_str(), &v[..], *s)))?;
        self.insert_fenced(&rows, lease).await?;
        Ok(version)
    }

    /// Stores `rows` (sealed already) under `lease` in one statement ([`FENCED_INSERT`]).
    async fn insert_fenced(&self, rows: &[(&str, Vec<u8>, bool)], lease: &Lease) -> Result<()> {
        let (keys, values, sealed) = columns(rows);
        let row = {
            let conn = self.conn().await;
            let client = &conn.client;
            self.db(client.query_one(
                &self.st(&conn.prepared, client, FENCED_INSERT).await?,
                &[&lease.name, &lease.token, &keys, &values, &sealed],
            ))
            .await?
        };
        self.fenced(&row, lease).map(drop)
    }

    /// What a fenced statement's row (`lease held`, `rows written`, current holder, current
    /// token) says: how many rows it wrote, or [`PgStoreError::StaleFence`] (nothing written).
    fn fenced(&self, row: &tokio_postgres::Row, lease: &Lease) -> Result<u64> {
        if row.get::<_, bool>(0) {
            return Ok(row.get::<_, i64>(1).max(0) as u64);
        }
        let (holder, token): (Option<String>, Option<i64>) = (row.get(2), row.get(3));
        Err(self.stale(lease, holder.filter(|_| token != Some(lease.token))))
    }

    /// A write under `lease` refused; `holder` holds the lock now (when another does).
    fn stale(&self, lease: &Lease, holder: Option<String>) -> PgStoreError {
        tracing::warn!(
            "write under stale lease `{}` (token {}) refused",
            lease.name,
            lease.token
        );
        PgStoreError::StaleFence {
            name: lease.name.clone(),
            token: lease.token,
            holder,
        }
    }

    /// Stores `objects` as the whole of `prefix` (a certificate's or an account's objects), in
    /// one transaction under `lease`: with `replace`, what `prefix` held before is removed;
    /// without, a `prefix` that holds anything is refused ([`PgStoreError::Exists`]) and
    /// nothing is written. For `store migrate`, which keeps version numbers as they were.
    pub async fn put_tree(
        &self,
        prefix: &str,
        objects: &[(&str, &[u8], bool)],
        replace: bool,
        lease: &Lease,
    ) -> Result<()> {
        let rows = self.sealed_rows(objects.iter().copied())?;
        let mut conn = self.conn().await;
        let Conn { client, prepared } = &mut *conn;
        let tx = self.db(client.transaction()).await?;
        self.check_fence(prepared, &tx, lease).await?;
        if replace {
            self.db(tx.execute(
                concat!("DELETE FROM wildcert_objects WHERE ", under!()),
                &[&prefix, &prefix_end(prefix)],
            ))
            .await?;
        } else {
            let held: bool = self
                .db(tx.query_one(
                    concat!(
                        "SELECT EXISTS (SELECT 1 FROM wildcert_objects WHERE ",
                        under!(),
                        ")"
                    ),
                    &[&prefix, &prefix_end(prefix)],
                ))
                .await?
                .get(0);
            if held {
                return Err(PgStoreError::Exists {
                    prefix: prefix.into(),
                });
            }
        }
        self.insert(prepared, &tx, &rows, lease.token).await?;
        self.db(tx.commit()).await
    }

    /// Seals what must be sealed: flagged values and every `…key.pem`. A key given twice is
    /// kept once, with its last value (one statement may not write a row twice).
    fn sealed_rows<'a>(
        &self,
        objects: impl Iterator<Item = (&'a str, &'a [u8], bool)>,
    ) -> Result<Vec<(&'a str, Vec<u8>, bool)>> {
        let mut rows: Vec<(&'a str, Vec<u8>, bool)> = Vec::new();
        let mut at: HashMap<&'a str, usize> = HashMap::new();
        for (key, value, sealed) in objects {
            let sealed = sealed || seal::is_private_key(key);
            let value = if sealed {
                self.data_key(key)?.seal(key, value)?
            } else {
                value.to_vec()
            };
            match at.get(key) {
                Some(&i) => rows[i] = (key, value, sealed),
                None => {
                    at.insert(key, rows.len());
                    rows.push((key, value, sealed));
                }
            }
        }
        Ok(rows)
    }

    /// Stores `rows` in a transaction (its lease checked already) in one statement.
    async fn insert(
        &self,
        prepared: &Prepared,
        tx: &Transaction<'_>,
        rows: &[(&str, Vec<u8>, bool)],
        fence: i64,
    ) -> Result<()> {
        let (keys, values, sealed) = columns(rows);
        self.db(tx.execute(
            &self.st(prepared, tx, INSERT_ROWS).await?,
            &[&keys, &values, &sealed, &fence],
        ))
        .await?;
        Ok(())
    }

    /// Deletes `key` under `lease`; true when it existed.
    pub async fn delete(&self, key: &str, lease: &Lease) -> Result<bool> {
        self.delete_under(key, Some(lease)).await
    }

    /// Deletes `key` outside any lock (for the keys [`PgStore::put_unfenced`] writes; removing
    /// a record twice is harmless); true when it existed.
    pub async fn delete_unfenced(&self, key: &str) -> Result<bool> {
        self.delete_under(key, None).await
    }

    /// One statement either way: unfenced, a `DELETE`; under a lease, [`FENCED_DELETE`].
    async fn delete_under(&self, key: &str, lease: Option<&Lease>) -> Result<bool> {
        let conn = self.conn().await;
        let client = &conn.client;
        let Some(lease) = lease else {
            let n = self
                .db(client.execute(
                    &self
                        .st(
                            &conn.prepared,
                            client,
                            "DELETE FROM wildcert_objects WHERE key = $1",
                        )
                        .await?,
                    &[&key],
                ))
                .await?;
            return Ok(n > 0);
        };
        let row = self
            .db(client.query_one(
                &self.st(&conn.prepared, client, FENCED_DELETE).await?,
                &[&lease.name, &lease.token, &key],
            ))
            .await?;
        drop(conn);
        Ok(self.fenced(&row, lease)? > 0)
    }

    /// Moves the object at `from` to `to` (replacing it) in one transaction, re-sealed for its
    /// new key, under `lease` or, when `None`, unfenced as [`PgStore::put_unfenced`]; false
    /// when there is nothing at `from`.
    pub async fn rename(&self, from: &str, to: &str, lease: Option<&Lease>) -> Result<bool> {
        let mut conn = self.conn().await;
        let Conn { client, prepared } = &mut *conn;
        let tx = self.db(client.transaction()).await?;
        if let Some(lease) = lease {
            self.check_fence(prepared, &tx, lease).await?;
        }
        let Some(row) = self
            .db(tx.query_opt(
                &self
                    .st(
                        prepared,
                        &tx,
                        "DELETE FROM wildcert_objects WHERE key = $1 RETURNING value, sealed",
                    )
                    .await?,
                &[&from],
            ))
            .await?
        else {
            return Ok(false);
        };
        let (value, sealed): (Vec<u8>, bool) = (row.get(0), row.get(1));
        let value = if sealed {
            self.data_key(from)?.open(from, &value)?
        } else {
            value
        };
        let rows = self.sealed_rows([(to, &value[..], sealed)].into_iter())?;
        self.insert(prepared, &tx, &rows, lease.map_or(0, |l| l.token))
            .await?;
        self.db(tx.commit()).await?;
        Ok(true)
    }

    /// Refuses the transaction's writes unless `lease` is the current, unexpired grant.
    async fn check_fence(
        &self,
        prepared: &Prepared,
        tx: &Transaction<'_>,
        lease: &Lease,
    ) -> Result<()> {
        let row = self
            .db(tx.query_opt(
                &self.st(prepared, tx, "SELECT holder, token, expires_at > now() FROM wildcert_leases WHERE name = $1 FOR SHARE").await?,
                &[&lease.name],
            ))
            .await?;
        let (holder, token, live) = match row {
            Some(r) => (
                Some(r.get::<_, String>(0)),
                r.get::<_, i64>(1),
                r.get::<_, bool>(2),
            ),
            None => (None, 0, false),
        };
        if token == lease.token && live {
            return Ok(());
        }
        Err(self.stale(lease, holder.filter(|_| token != lease.token)))
    }

    /// Takes lock `name` for `holder` for `ttl`, waiting at most `wait` while another holds it
    /// ([`PgStoreError::Locked`] after that). Free or expired locks are taken in one statement.
    pub async fn lock(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease> {
        let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
        let start = Instant::now();
        let max_polls = wait.as_millis() / 20 + 3;
        let mut last = None;
        for _ in 0..max_polls {
            let conn = self.conn().await;
            let client = &conn.client;
            let granted = self
                .db(client.query_opt(
                    &self.st(&conn.prepared, client, "INSERT INTO wildcert_leases AS l (name, holder, expires_at, token)
                     VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond', nextval('wildcert_fence'))
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires_at = excluded.expires_at, token = excluded.token
                     WHERE l.expires_at <= now()
                     RETURNING token, expires_at").await?,
                    &[&name, &holder, &ms],
                ))
                .await?;
            if let Some(row) = granted {
                let (token, expires_at) = (row.get(0), row.get(1));
                return Ok(Lease {
                    name: name.into(),
                    holder: holder.into(),
                    token,
                    expires_at,
                    ttl,
                });
            }
            let held = self
                .db(client.query_opt(
                    &self.st(&conn.prepared, client, "SELECT holder, expires_at, greatest(0, extract(epoch FROM expires_at - now()) * 1000)::bigint
                     FROM wildcert_leases WHERE name = $1").await?,
                    &[&name],
                ))
                .await?;
            drop(conn);
            let Some(row) = held else { continue }; // released meanwhile: try again now
            let left = Duration::from_millis(row.get::<_, i64>(2) as u64 + 5);
            last = Some((
                row.get::<_, String>(0),
                row.get::<_, OffsetDateTime>(1),
                left,
            ));
            let Some(remaining) = wait.checked_sub(start.elapsed()).filter(|r| !r.is_zero()) else {
                break;
            };
            tokio::time::sleep(
                left.min(LOCK_POLL)
                    .min(remaining)
                    .max(Duration::from_millis(20)),
            )
            .await;
        }
        let (holder, expires_at, left) = last.unwrap_or_else(|| {
            (
                "(unknown)".into(),
                OffsetDateTime::UNIX_EPOCH,
                Duration::ZERO,
            )
        });
        Err(PgStoreError::Locked {
            name: name.into(),
            holder,
            expires_at,
            left,
        })
    }

    /// Extends the lease by its `ttl` from now, only while it is unexpired and still ours.
    pub async fn renew(&self, lease: &Lease) -> Result<Lease> {
        let ms = lease.ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
        let conn = self.conn().await;
        let client = &conn.client;
        let row = self
            .db(client.query_opt(
                &self.st(&conn.prepared, client, "UPDATE wildcert_leases SET expires_at = now() + $3::bigint * interval '1 millisecond'
                 WHERE name = $1 AND token = $2 AND expires_at > now() RETURNING expires_at").await?,
                &[&lease.name, &lease.token, &ms],
            ))
            .await?;
        if let Some(row) = row {
            return Ok(Lease {
                expires_at: row.get(0),
                ..lease.clone()
            });
        }
        let now = self
            .db(client.query_opt(&self.st(&conn.prepared, client, "SELECT holder FROM wildcert_leases WHERE name = $1 AND token <> $2 AND expires_at > now()").await?, &[&lease.name, &lease.token]))
            .await?;
        Err(PgStoreError::LeaseLost {
            name: lease.name.clone(),
            token: lease.token,
            holder: now.map(|r| r.get(0)),
        })
    }

    /// Extends every lease in `leases` by `ttl` from now, in one statement, each only while it
    /// is unexpired and still ours. Returns the new end of each lease renewed, by name (a name
    /// is one lease row); a lease missing from the answer was lost (expired, or taken).
    pub async fn renew_many(
        &self,
        leases: &[Lease],
        ttl: Duration,
    ) -> Result<HashMap<String, OffsetDateTime>> {
        if leases.is_empty() {
            return Ok(HashMap::new());
        }
        let ms = ttl.as_millis().clamp(1, i64::MAX as u128) as i64;
        let names: Vec<&str> = leases.iter().map(|l| l.name.as_str()).collect();
        let tokens: Vec<i64> = leases.iter().map(|l| l.token).collect();
        let conn = self.conn().await;
        let client = &conn.client;
        let rows = self
            .db(client.query(
                &self.st(&conn.prepared, client, "UPDATE wildcert_leases AS l SET expires_at = now() + $3::bigint * interval '1 millisecond'
                 FROM unnest($1::text[], $2::bigint[]) AS held (name, token)
                 WHERE l.name = held.name AND l.token = held.token AND l.expires_at > now()
                 RETURNING l.name, l.expires_at").await?,
                &[&names, &tokens, &ms],
            ))
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Releases the lock if this lease still holds it (a lost lease is left to its new holder).
    pub async fn unlock(&self, lease: &Lease) -> Result<()> {
        let conn = self.conn().await;
        let client = &conn.client;
        self.db(client.execute(
            &self
                .st(
                    &conn.prepared,
                    client,
                    "DELETE FROM wildcert_leases WHERE name = $1 AND token = $2",
                )
                .await?,
            &[&lease.name, &lease.token],
        ))
        .await?;
        Ok(())
    }

    /// Re-seals every sealed object from `old` to `new` in one transaction (writes are blocked
    /// meanwhile); objects already sealed by `new` are left. Returns how many were re-sealed.
    pub async fn rotate(&self, old: &DataKey, new: &DataKey) -> Result<u64> {
        let mut conn = self.conn().await;
        let Conn { client, .. } = &mut *conn;
        let tx = self.db(client.transaction()).await?;
        self.db(tx.batch_execute("LOCK TABLE wildcert_objects IN EXCLUSIVE MODE"))
            .await?;
        let rows = self
            .db(tx.query("SELECT key, value FROM wildcert_objects WHERE sealed", &[]))
            .await?;
        let mut count = 0;
        for row in rows {
            let (key, value): (String, Vec<u8>) = (row.get(0), row.get(1));
            let plain = match old.open(&key, &value) {
                Err(PgStoreError::WrongDataKey { .. }) if new.open(&key, &value).is_ok() => {
                    continue;
                }
                other => other?,
            };
            let value = new.seal(&key, &plain)?;
            self.db(tx.execute(
                "UPDATE wildcert_objects SET value = $2 WHERE key = $1",
                &[&key, &value],
            ))
            .await?;
            count += 1;
        }
        self.db(tx.commit()).await?;
        Ok(count)
    }

    /// `sql` prepared on this store's connection (once; then from the cache). Prepared
    /// statements belong to the session, not to a transaction: one prepared inside a
    /// transaction that rolls back stays valid.
    async fn st(
        &self,
        prepared: &Prepared,
        c: &impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement> {
        let cached = prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned();
        if let Some(st) = cached {
            return Ok(st);
        }
        let st = self.db(c.prepare(sql)).await?;
        prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, st.clone());
        Ok(st)
    }

    fn data_key(&self, key: &str) -> Result<&DataKey> {
        self.key
            .as_ref()
            .ok_or_else(|| PgStoreError::NoDataKey { key: key.into() })
    }

    fn err(&self, e: tokio_postgres::Error) -> PgStoreError {
        map_err(&self.role, &self.target, e)
    }

    /// One database step, bounded in time, its error typed.
    async fn db<T>(
        &self,
        step: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        within(&self.role, &self.target, step).await
    }
}

async fn within<T>(
    role: &str,
    target: &str,
    step: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> Result<T> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, step).await {
        Ok(r) => r.map_err(|e| map_err(role, target, e)),
        Err(_) => Err(PgStoreError::Unavailable {
            target: target.into(),
            detail: format!("no answer within {STATEMENT_TIMEOUT:?}"),
        }),
    }
}

/// Types a client error: privileges, logins, a server gone, or anything else.
fn map_err(role: &str, target: &str, e: tokio_postgres::Error) -> PgStoreError {
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            for _ in 0..8 {
                let Some(inner) = source else { break };
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    };
    let code = e.code().map(|c| c.code()).unwrap_or("");
    let mut source = std::error::Error::source(&e);
    for _ in 0..8 {
        let Some(inner) = source else { break };
        // io::Error's source() skips the error it wraps: look inside too.
        let wrapped = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if inner.is::<rustls::Error>() || wrapped.is_some_and(|w| w.is::<rustls::Error>()) {
            return PgStoreError::Tls {
                target: target.into(),
                detail,
            };
        }
        source = inner.source();
    }
    if code == SqlState::INSUFFICIENT_PRIVILEGE.code() {
        PgStoreError::PermissionDenied {
            role: role.into(),
            detail,
        }
    } else if code.starts_with("28") {
        PgStoreError::Auth {
            role: role.into(),
            detail,
        }
    } else if e.is_closed()
        || e.as_db_error().is_none()
        || code.starts_with("08")
        || code.starts_with("57P")
    {
        PgStoreError::Unavailable {
            target: target.into(),
            detail,
        }
    } else {
        PgStoreError::Database { detail }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_end_is_above_every_key_under_the_prefix_and_below_the_rest() {
        assert_eq!(prefix_end("certs/a/archive/"), "certs/a/archive0");
        assert_eq!(prefix_end("certs/"), "certs0");
        assert_eq!(prefix_end("x\u{10FFFF}"), "y");
        assert_eq!(prefix_end("\u{D7FF}"), "\u{E000}");
        assert_eq!(prefix_end(""), "\u{10FFFF}");
        for (key, under) in [
            ("certs/a/archive/1/cert.pem", true),
            ("certs/a/archive/", true),
            ("certs/a/archive", false),
            ("certs/a/archive0", false),
            ("certs/a/archivez", false),
            ("certs/a/live", false),
        ] {
            let p = "certs/a/archive/";
            let in_range = key >= p && key < prefix_end(p).as_str();
            assert_eq!(in_range, under, "{key}");
            assert_eq!(key.starts_with(p), under, "{key}");
        }
    }
}
