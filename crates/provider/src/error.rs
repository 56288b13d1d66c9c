//! [`ProviderError`]: a provider failure phrased for the person who has to fix it, carrying
//! the provider's [`Kind`] and with it the provider's own [`Hints`] (no registry to consult).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A provider's own hints, by error kind; `None` keeps the generic hint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hints {
    /// Credentials refused.
    pub auth: Option<&'static str>,
    /// Zone not found or not writable.
    pub zone_not_found: Option<&'static str>,
    /// The change itself refused.
    pub rejected: Option<&'static str>,
    /// Rate limited.
    pub rate_limited: Option<&'static str>,
    /// Server unreachable.
    pub unreachable: Option<&'static str>,
}

impl Hints {
    /// No provider-specific hint.
    pub const NONE: Hints = Hints {
        auth: None,
        zone_not_found: None,
        rejected: None,
        rate_limited: None,
        unreachable: None,
    };
}

/// A provider kind as its errors carry it: the name users write (`kind = "pdns"`, `--dns
/// pdns`) and the provider's own hints. Prints as its name.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The kind's name.
    pub name: &'static str,
    /// The provider's own hints.
    pub hints: &'static Hints,
}

impl Kind {
    /// A kind with no hints of its own (engine-side errors, test doubles).
    pub const fn plain(name: &'static str) -> Kind {
        Kind {
            name,
            hints: &Hints::NONE,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name, f)
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.name == other.name
    }
}

impl Eq for Kind {}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl PartialEq<str> for Kind {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

impl From<Kind> for &'static str {
    fn from(k: Kind) -> &'static str {
        k.name
    }
}

/// A provider failure, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Credentials were refused (bad token, TSIG key, signature).
    #[error("{provider}: credentials refused: {message}")]
    Auth {
        /// Provider kind.
        provider: Kind,
        /// What the server said, secrets removed.
        message: String,
    },
    /// The server does not know the zone, or our credentials may not touch it.
    #[error("{provider}: zone `{zone}` not found or not writable: {message}")]
    ZoneNotFound {
        /// Provider kind.
        provider: Kind,
        /// The zone asked for.
        zone: String,
        /// What the server said.
        message: String,
    },
    /// The server refused the change itself.
    #[error("{provider}: change refused: {message}")]
    Rejected {
        /// Provider kind.
        provider: Kind,
        /// What the server said.
        message: String,
    },
    /// Rate limited; retry after the given delay if known.
    #[error("{provider}: rate limited{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider kind.
        provider: Kind,
        /// The server's Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or did not answer in time.
    #[error("{provider}: cannot reach {target}: {message}")]
    Unreachable {
        /// Provider kind.
        provider: Kind,
        /// Host, address or URL we tried.
        target: String,
        /// The transport error.
        message: String,
    },
    /// The provider's settings are incomplete or wrong.
    #[error("{provider}: bad settings: {message}")]
    Config {
        /// Provider kind.
        provider: Kind,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A failure whose cause the provider names itself, with the hint that fits it (a server
    /// that failed, a limit it enforces, a refusal whose cause cannot be told apart).
    #[error("{provider}: {message}")]
    Named {
        /// Provider kind.
        provider: Kind,
        /// What happened.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// Anything else the provider reported.
    #[error("{provider}: {message}")]
    Other {
        /// Provider kind.
        provider: Kind,
        /// The message.
        message: String,
    },
}

impl ProviderError {
    /// A short hint on what to do about this error, for the CLI's second line: the provider's
    /// own hint for this kind of error when it declared one, else the generic one.
    pub fn hint(&self) -> Cow<'static, str> {
        if let ProviderError::Named { hint, .. } = self {
            return hint.clone().into();
        }
        let own = self.kind().hints;
        let own = match self {
            ProviderError::Auth { .. } => own.auth,
            ProviderError::ZoneNotFound { .. } => own.zone_not_found,
            ProviderError::Rejected { .. } => own.rejected,
            ProviderError::RateLimited { .. } => own.rate_limited,
            ProviderError::Unreachable { .. } => own.unreachable,
            _ => None,
        };
        if let Some(h) = own {
            return h.into();
        }
        if let ProviderError::Config { provider, .. } = self {
            return format!(
                "see `wildcert providers {provider}` for the settings this provider needs"
            )
            .into();
        }
        let generic = match self {
            ProviderError::Auth { .. } => {
                "check the credentials and that they may edit DNS records of this zone"
            }
            ProviderError::ZoneNotFound { .. } => {
                "check that the zone exists on this server/account and that the credentials may edit it"
            }
            ProviderError::Rejected { .. } => {
                "the message above is the provider's own; fix what it names and run again"
            }
            ProviderError::RateLimited { .. } => "wait and try again, or lower --parallel",
            ProviderError::Unreachable { .. } => {
                "check the server address and port, and that it answers from this host"
            }
            ProviderError::Config { .. }
            | ProviderError::Named { .. }
            | ProviderError::Other { .. } => "run again with -v for details",
        };
        generic.into()
    }

    /// The provider kind that reported the error.
    pub fn kind(&self) -> Kind {
        match self {
            ProviderError::Auth { provider, .. }
            | ProviderError::ZoneNotFound { provider, .. }
            | ProviderError::Rejected { provider, .. }
            | ProviderError::RateLimited { provider, .. }
            | ProviderError::Unreachable { provider, .. }
            | ProviderError::Config { provider, .. }
            | ProviderError::Named { provider, .. }
            | ProviderError::Other { provider, .. } => *provider,
        }
    }

    /// The name of the provider kind that reported the error.
    pub fn provider(&self) -> &'static str {
        self.kind().name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static OWN: Hints = Hints {
        auth: Some("own auth hint"),
        ..Hints::NONE
    };

    #[test]
    fn an_error_carries_its_providers_hints() {
        let kind = Kind {
            name: "own",
            hints: &OWN,
        };
        let auth = ProviderError::Auth {
            provider: kind,
            message: "no".into(),
        };
        assert_eq!(auth.hint(), "own auth hint");
        assert_eq!(auth.to_string(), "own: credentials refused: no");
        // Kinds without their own hint keep the generic one.
        let zone = ProviderError::ZoneNotFound {
            provider: kind,
            zone: "z.".into(),
            message: "no".into(),
        };
        assert!(zone.hint().starts_with("check that the zone exists"));
        let plain = ProviderError::Auth {
            provider: Kind::plain("plain"),
            message: "no".into(),
        };
        assert!(plain.hint().starts_with("check the credentials"));
        assert_eq!(format!("{:?}", Kind::plain("plain")), "\"plain\"");
        // A settings error names the provider to look up, not a placeholder.
        let config = ProviderError::Config {
            provider: kind,
            message: "no".into(),
        };
        assert_eq!(
            config.hint(),
            "see `wildcert providers own` for the settings this provider needs"
        );
    }
}
