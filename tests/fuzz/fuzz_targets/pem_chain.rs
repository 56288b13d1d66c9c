//! PEM certificate chains as the CA sends them (split, parsed, inspected before storing).
#![cfg_attr(fuzzing, no_main)]

fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(info) = wildcert_manager::verify::inspect(&s) {
        assert!(info.leaf_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
    let _ = wildcert_acme::CertificateChain::from_pem("https://ca/cert", s.into_owned());
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    for path in std::env::args().skip(1) {
        if let Ok(data) = std::fs::read(&path) {
            check(&data);
        }
    }
}
