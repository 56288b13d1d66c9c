//! Integration tests of the route53 provider: against moto (a real XML server; request
//! shapes, the happy path) and against the in-repo fake (PENDING→INSYNC, throttling, SigV4
//! verification, strict DELETE). The provider contract is the conformance suite, run
//! against both (`cargo test -p wildcert-route53 --test it conformance`).

mod chain;
mod common;
mod fake;
mod moto;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::OnMoto);
