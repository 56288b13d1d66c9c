//! Prints every registered provider's spec as JSON, for `cargo xtask gen` (which renders
//! `docs/providers/<kind>.md` and the provider lists from it).

use serde_json::json;

fn main() {
    let specs: Vec<serde_json::Value> = wildcert_providers::PROVIDERS
        .iter()
        .map(|r| {
            json!({
                "kind": r.spec.kind,
                "summary": r.spec.summary,
                "doc": r.spec.doc,
                "env_prefix": r.spec.env_prefix,
                "certbot_prefixes": r.spec.certbot_prefixes,
                "settings_table": r.spec.markdown_table(),
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(specs));
}
