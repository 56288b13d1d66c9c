//! Integration tests of the route53 provider: against moto (a real XML server; request
//! shapes, the happy path) and against its fake (tests/fake, on the kit's router:
//! PENDING→INSYNC, throttling, SigV4 verification, strict DELETE). The provider contract is the conformance suite, run
//! against both (`cargo test -p wildcert-route53 --test it conformance`).

mod chain;
mod common;
mod fake;
mod moto;
// The fake itself (also compiled into the crate under its `fake` feature for the CLI's e2e
// tests, which use parts these tests do not).
#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod route53_fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::OnMoto);
