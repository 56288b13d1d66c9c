//! The identifier an order or authorization names (RFC 8555 §7.1.3, §9.7.7).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An identifier in an order or authorization (RFC 8555 §7.1.3, §9.7.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// Identifier type, `dns` for everything this crate orders.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name (for an order: `*.example.com` for a wildcard).
    pub value: String,
}

impl Identifier {
    /// A `dns` identifier.
    pub fn dns(name: impl Into<String>) -> Self {
        Identifier {
            kind: "dns".to_owned(),
            value: name.into(),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}
