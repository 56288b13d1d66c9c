//! ACME JSON from the CA: problem documents, directory, order, authorization, account.
#![cfg_attr(fuzzing, no_main)]

fn check(data: &[u8]) {
    if let Some(p) = wildcert_acme::Problem::from_json(data) {
        // Shown to the user on one line, whatever the CA sent.
        let shown = p.to_string();
        assert!(!shown.contains('\n'), "{shown:?}");
    }
    let _ = serde_json::from_slice::<wildcert_acme::Directory>(data);
    let _ = serde_json::from_slice::<wildcert_acme::OrderState>(data);
    let _ = serde_json::from_slice::<wildcert_acme::AuthorizationState>(data);
    let _ = serde_json::from_slice::<wildcert_acme::AccountState>(data);
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
