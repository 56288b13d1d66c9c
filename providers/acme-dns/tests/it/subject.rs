//! The acme-dns provider as a subject of the conformance suite, for the cases that apply to
//! acme-dns (the error mappings); main.rs says why the others cannot and tests what acme-dns
//! offers in their place. Names the suite uses (`_acme-challenge.<label>.<zone>`) are given
//! registrations on the fake whose `fulldomain` is that name, as a CNAME target would be.

use std::sync::Arc;

use wildcert_acme_dns::{Account, AcmeDnsProvider, AcmeDnsSettings};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};

use crate::fake::{AcmeDnsFake, AcmeDnsFakeOptions, DOMAIN};

/// The fake, and a registration made on it.
pub struct AcmeDns {
    fake: AcmeDnsFake,
    reg: serde_json::Value,
}

impl AcmeDns {
    /// A provider whose registrations carry `password` and have the suite's names as
    /// fulldomains.
    fn build(&self, password: &str) -> Provider {
        let mut accounts = std::collections::BTreeMap::new();
        for label in ["badcreds", "limited"] {
            let acct = Account {
                fulldomain: format!("_acme-challenge.{label}.{DOMAIN}"),
                subdomain: self.reg["subdomain"].as_str().unwrap_or_default().into(),
                username: self.reg["username"].as_str().unwrap_or_default().into(),
                password: Secret::new(password),
                server_url: self.fake.base_url(),
                allowfrom: vec![],
            };
            accounts.insert(
                format!("{label}.example.test"),
                (acct, "subject".to_string()),
            );
        }
        let config = AcmeDnsSettings::default().validate().expect("settings");
        Arc::new(AcmeDnsProvider::with_accounts(&config, accounts).expect("provider"))
    }
}

#[async_trait]
impl Subject for AcmeDns {
    async fn start() -> Option<Self> {
        let fake = crate::fake(AcmeDnsFakeOptions::default());
        let reg = fake.add_registration(&[]).expect("registration");
        Some(AcmeDns { fake, reg })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse(DOMAIN).expect("name")
    }

    fn provider(&self) -> Provider {
        self.build(self.reg["password"].as_str().unwrap_or_default())
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::Independent(self.provider())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        let sub = self.reg["fulldomain"].as_str().unwrap_or_default();
        // Every value of the registration counts as served at the suite's names.
        match name.as_str().starts_with("_acme-challenge.") {
            true => self.fake.values(sub),
            false => self.fake.values(name.as_str()),
        }
    }

    async fn plant(&self, _name: &DnsName, _value: &str) {
        panic!(
            "acme-dns has no foreign value beside a registration's own two (main.rs: not applicable)"
        );
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let wrong = "0123456789012345678901234567890123456789";
        Support::Yes(ErrorProbe::contract(
            self.build(wrong),
            Case::BadCredentials,
        ))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        // No registration for the name: the provider cannot place its values anywhere.
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        Support::NotApplicable(
            "acme-dns has no rate limit (its API never answers 429); a 429 from a proxy in front of it \
             goes through the SDK's retry policy like every HTTP provider's"
                .into(),
        )
    }
}
