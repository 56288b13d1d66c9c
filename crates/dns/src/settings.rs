//! Shared pieces of provider settings: a secret that never prints, and the documentation
//! table every provider publishes (`wildcert providers NAME`, docs/providers/NAME.md).

use std::fmt;

/// A secret string (API token, TSIG secret). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself: only for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// One provider setting, for `wildcert providers NAME` and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SettingDoc {
    /// Key in the `[providers.<id>]` section of wildcert.toml.
    pub key: &'static str,
    /// Environment variable carrying the same setting (lego's name where one exists).
    pub env: &'static str,
    /// Whether it must be given (`"yes"`, `"no"`, or a condition such as `"unless tsig_file"`).
    pub required: &'static str,
    /// Default when not given, if any.
    pub default: &'static str,
    /// What it means.
    pub description: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("c2VjcmV0");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "c2VjcmV0");
    }
}
