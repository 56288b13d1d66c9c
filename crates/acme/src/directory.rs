//! The directory resource (RFC 8555 §7.1.1) with its `meta` object.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The CA's directory: where every other resource lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Directory {
    /// `newNonce` URL (§7.2).
    pub new_nonce: String,
    /// `newAccount` URL (§7.3).
    pub new_account: String,
    /// `newOrder` URL (§7.4).
    pub new_order: String,
    /// `newAuthz` URL (pre-authorization, §7.4.1), rarely offered.
    #[serde(default)]
    pub new_authz: Option<String>,
    /// `revokeCert` URL (§7.6).
    pub revoke_cert: String,
    /// `keyChange` URL (§7.3.5).
    pub key_change: String,
    /// `renewalInfo` URL (RFC 9773 §4), when the CA supports ARI.
    #[serde(default)]
    pub renewal_info: Option<String>,
    /// The `meta` object.
    #[serde(default)]
    pub meta: DirectoryMeta,
}

/// Directory metadata (RFC 8555 §7.1.1, draft-ietf-acme-profiles).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DirectoryMeta {
    /// URL of the current terms of service.
    #[serde(default)]
    pub terms_of_service: Option<String>,
    /// The CA's website.
    #[serde(default)]
    pub website: Option<String>,
    /// Domain names the CA recognises in CAA records (RFC 8659).
    #[serde(default)]
    pub caa_identities: Vec<String>,
    /// True when new accounts need external account binding (§7.3.4).
    #[serde(default)]
    pub external_account_required: bool,
    /// Certificate profiles offered: name → description.
    #[serde(default)]
    pub profiles: BTreeMap<String, String>,
}

impl Directory {
    /// Every URL in the directory a request may be sent to.
    pub fn request_urls(&self) -> impl Iterator<Item = &str> {
        [
            Some(&self.new_nonce),
            Some(&self.new_account),
            Some(&self.new_order),
            self.new_authz.as_ref(),
            Some(&self.revoke_cert),
            Some(&self.key_change),
            self.renewal_info.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
    }

    /// True when the CA advertises this profile.
    pub fn offers_profile(&self, name: &str) -> bool {
        self.meta.profiles.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directory_with_meta() {
        let d: Directory = serde_json::from_str(
            r#"{
              "keyChange": "https://ca/rollover-account-key",
              "meta": {
                "externalAccountRequired": true,
                "termsOfService": "data:text/plain,Do%20what%20thou%20wilt",
                "caaIdentities": ["ca.example"],
                "profiles": {"classic": "90 days", "shortlived": "6 days"}
              },
              "newAccount": "https://ca/sign-me-up",
              "newNonce": "https://ca/nonce-plz",
              "newOrder": "https://ca/order-plz",
              "renewalInfo": "https://ca/draft-ietf-acme-ari-03/renewalInfo",
              "revokeCert": "https://ca/revoke-cert",
              "randomKey": "https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417"
            }"#,
        )
        .expect("parses");
        assert!(d.meta.external_account_required);
        assert_eq!(d.meta.caa_identities, vec!["ca.example"]);
        assert!(d.offers_profile("shortlived"));
        assert!(!d.offers_profile("tlsserver"));
        assert!(d.renewal_info.is_some());
        assert!(d.new_authz.is_none());
    }

    #[test]
    fn meta_is_optional() {
        let d: Directory = serde_json::from_str(
            r#"{"newNonce":"a","newAccount":"b","newOrder":"c","revokeCert":"d","keyChange":"e"}"#,
        )
        .expect("parses");
        assert!(!d.meta.external_account_required);
        assert!(d.meta.profiles.is_empty());
    }
}
