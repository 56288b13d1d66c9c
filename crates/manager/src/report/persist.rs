//! The document of `persist`.

use serde::Serialize;

use crate::persist::{PersistAction, PersistLine, PersistOutcome};

/// `persist --json`: `{"ok": true, "persist": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct PersistDoc {
    /// Always true.
    pub ok: bool,
    /// What was done.
    pub persist: Persisted,
}

/// What `wildcert persist` did.
#[derive(Debug, Clone, Serialize)]
pub struct Persisted {
    /// `publish`, `print` or `remove`.
    pub action: &'static str,
    /// The account URL the records authorize.
    pub account_url: String,
    /// The issuer domain name they name.
    pub issuer: String,
    /// One entry per base name.
    pub records: Vec<PersistedRecord>,
    /// Authoritative servers that served every record (publish).
    pub servers: usize,
}

/// One record `wildcert persist` handled.
#[derive(Debug, Clone, Serialize)]
pub struct PersistedRecord {
    /// The base name (`example.com`).
    pub name: String,
    /// `_validation-persist.<name>`.
    pub record_name: String,
    /// The TXT value.
    pub value: String,
    /// The zone-file line.
    pub zone_file_line: String,
}

impl From<&PersistLine> for PersistedRecord {
    fn from(l: &PersistLine) -> Self {
        PersistedRecord {
            name: l.name.clone(),
            record_name: l.record_name.clone(),
            value: l.value.clone(),
            zone_file_line: l.zone_file_line.clone(),
        }
    }
}

impl From<&PersistOutcome> for PersistDoc {
    fn from(o: &PersistOutcome) -> Self {
        PersistDoc {
            ok: true,
            persist: Persisted {
                action: match o.action {
                    PersistAction::Publish => "publish",
                    PersistAction::Print => "print",
                    PersistAction::Remove => "remove",
                },
                account_url: o.account_url.clone(),
                issuer: o.issuer.clone(),
                records: o.records.iter().map(Into::into).collect(),
                servers: o.servers,
            },
        }
    }
}
