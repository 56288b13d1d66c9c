//! Integration tests of the route53 provider: against moto (a real XML server; request
//! shapes, the happy path) and against the in-repo fake (PENDING→INSYNC, throttling, SigV4
//! verification, strict DELETE).

mod chain;
mod common;
mod fake;
mod moto;
