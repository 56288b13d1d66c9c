//! The exec provider as a subject of the conformance suite: a shell script that runs
//! `nsupdate` against the hidden primary of a real BIND topology (what exec users do).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wildcert_conformance::{
    Concurrency, ErrorProbe, Kind, Provider, Subject, Support, async_trait,
};
use wildcert_dns::DnsName;
use wildcert_exec::{ExecProvider, ExecSettings};
use wildcert_testkit::BindTopology;

/// BIND serving `example.test`, and the scripts that change it.
pub struct ExecOnBind {
    topo: BindTopology,
    dir: tempfile::TempDir,
    good: PathBuf,
    bad: PathBuf,
}

/// A `publish|unpublish FQDN VALUE` script doing one signed UPDATE with `key_file`.
fn nsupdate_script(dir: &Path, name: &str, topo: &BindTopology, key_file: &Path) -> PathBuf {
    let server = topo.primary_addr();
    crate::script(
        dir,
        name,
        &format!(
            "case \"$1\" in\n  publish) op=\"add $2 60 TXT \\\"$3\\\"\" ;;\n  unpublish) op=\"delete $2 TXT \\\"$3\\\"\" ;;\n  *) echo \"unknown action $1\" >&2; exit 2 ;;\nesac\n\
             printf 'server {} {}\\nupdate %s\\nsend\\n' \"$op\" | nsupdate -t 5 -k '{}'",
            server.ip(),
            server.port(),
            key_file.display()
        ),
    )
}

fn build(program: &Path) -> Provider {
    Arc::new(
        ExecProvider::new(&ExecSettings {
            program: Some(program.display().to_string()),
            ..Default::default()
        })
        .expect("valid settings"),
    )
}

const NOT_TYPED: &str = "exec only learns that the program failed (its exit code has no agreed meaning); every \
                         failure is Rejected, carrying the program's last stderr line";

#[async_trait]
impl Subject for ExecOnBind {
    async fn start() -> Option<Self> {
        crate::init_logs();
        if !wildcert_testkit::require_bind() {
            return None;
        }
        let topo = BindTopology::start(Default::default()).expect("BIND topology");
        let dir = tempfile::tempdir().expect("tmp");
        let good = nsupdate_script(dir.path(), "good.sh", &topo, topo.tsig_key_file_path());
        let wrong_key = dir.path().join("wrong.key");
        std::fs::write(
            &wrong_key,
            format!(
                "key \"{}\" {{\n\talgorithm {};\n\tsecret \"d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=\";\n}};\n",
                topo.tsig_key_name(),
                topo.tsig_algorithm()
            ),
        )
        .expect("write key");
        let bad = nsupdate_script(dir.path(), "bad.sh", &topo, &wrong_key);
        Some(ExecOnBind {
            topo,
            dir,
            good,
            bad,
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        build(&self.good)
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::Independent(build(&self.good))
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.topo
            .txt_values(self.topo.primary_addr(), name.as_str())
            .expect("dig")
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let _ = self.dir.path();
        self.topo
            .add_records(
                "example.test",
                &[&format!("{}. 300 TXT \"{value}\"", name.as_str())],
            )
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        Support::Yes(ErrorProbe {
            provider: build(&self.bad),
            expect: Kind::Rejected,
            why: Some(NOT_TYPED.into()),
        })
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe {
                provider: self.provider(),
                expect: Kind::Rejected,
                why: Some(NOT_TYPED.into()),
            },
            DnsName::parse("nowhere.invalid").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        Support::NotApplicable(
            "exec has no protocol of its own, so no rate-limit answer; a program that is rate limited exits \
             non-zero (Rejected)"
                .into(),
        )
    }
}
