//! The cloudflare provider as a subject of the conformance suite: the provider's Cloudflare
//! API fake, read back through the fake's own view (every record, duplicates included).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::fake::{CloudflareFake, CloudflareFakeOptions};
use wildcert_cloudflare::{CloudflareProvider, CloudflareSettings};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};

/// The fake serving `example.test`, and one state directory per instance.
pub struct Cloudflare {
    fake: CloudflareFake,
    state: tempfile::TempDir,
}

impl Cloudflare {
    fn build(&self, s: &CloudflareSettings, instance: &str) -> Provider {
        let dir: PathBuf = self.state.path().join(instance);
        Arc::new(CloudflareProvider::new(s, Some(&dir)).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Cloudflare {
    async fn start() -> Option<Self> {
        let fake = crate::fake(CloudflareFakeOptions::default());
        let state = tempfile::tempdir().expect("state dir");
        Some(Cloudflare { fake, state })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        self.build(&crate::settings(&self.fake), "first")
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::Independent(self.build(&crate::settings(&self.fake), "second"))
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake
            .seed_record(
                "example.test",
                "TXT",
                name.as_str(),
                &format!("\"{value}\""),
                120,
            )
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = CloudflareSettings {
            api_token: Some(Secret::new("wildcert_fake_cloudflare_token_999999999")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(
            self.build(&s, "bad"),
            Case::BadCredentials,
        ))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe::contract(self.provider(), Case::MissingZone),
            DnsName::parse("nowhere.test").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // Cloudflare's block: 429 to everything, Retry-After counting down from 120 s; the
        // provider may wait 2 s in all.
        self.fake.block_for(Duration::from_secs(120), true);
        let s = CloudflareSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(
            self.build(&s, "limited"),
            Case::RateLimit,
        ))
    }
}
