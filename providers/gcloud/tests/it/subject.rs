//! The gcloud provider as a subject of the conformance suite: its Cloud DNS fake (token
//! endpoint included), read back through the fake's own view.

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{GcloudFake, GcloudFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_gcloud::{GcloudProvider, GcloudSettings};

/// The fake serving `example.test`.
pub struct Gcloud {
    fake: GcloudFake,
}

impl Gcloud {
    fn build(s: &GcloudSettings) -> Provider {
        Arc::new(GcloudProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Gcloud {
    async fn start() -> Option<Self> {
        Some(Gcloud {
            fake: crate::fake(GcloudFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        Self::build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // Each change deletes the RRset as read: a writer in between makes it 412 (or 409),
        // and the provider reads again.
        Concurrency::Independent(self.provider())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let content = format!("\"{value}\"");
        self.fake
            .seed_record("example.test", "TXT", name.as_str(), &content, 300)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        // A well-formed key of an account the token endpoint does not know (deleted).
        let key = self
            .fake
            .key_json("deleted@wildcert-test.iam.gserviceaccount.com");
        let s = GcloudSettings {
            service_account: Some(Secret::new(key)),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        self.fake.rate_limit_for(Duration::from_secs(120));
        let s = GcloudSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
