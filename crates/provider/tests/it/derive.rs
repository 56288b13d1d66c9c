//! `#[derive(LayeredSettings)]`: fields that are no settings (`#[setting(skip)]`) and what a
//! provider reads from the environment besides its settings (`env_only`).

use std::collections::HashMap;

use wildcert_provider::settings::env_value;
use wildcert_provider::{LayeredSettings, ProviderError};

/// Settings of a provider that also reads `HOME`.
#[derive(Debug, Default, serde::Deserialize, LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "homely",
    summary = "A test provider",
    env_prefix = "HOMELY",
    env_only = "read_home"
)]
struct HomelySettings {
    /// The zone to change
    #[setting(env = ["HOMELY_ZONE"])]
    zone: Option<String>,
    /// `HOME`, read apart from the settings.
    #[setting(skip)]
    #[serde(skip)]
    home: Option<String>,
}

fn read_home(s: &mut HomelySettings, env: &HashMap<String, String>) -> Result<(), ProviderError> {
    s.home = env_value(env, "HOME");
    Ok(())
}

#[test]
fn skipped_fields_are_no_settings_and_env_only_fills_them() {
    let keys: Vec<&str> = HomelySettings::SPEC
        .settings
        .iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, ["zone"]);
    let env: HashMap<String, String> = [("HOME", "/home/a"), ("HOMELY_ZONE", "example.com")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = HomelySettings::from_env_map(&env).expect("settings");
    assert_eq!(s.zone.as_deref(), Some("example.com"));
    assert_eq!(s.home.as_deref(), Some("/home/a"));
    let layered = HomelySettings::SPEC
        .layer(None, None, &env)
        .expect("layered");
    let only_settings = HomelySettings::from_layered(&layered).expect("settings");
    assert_eq!(only_settings.home, None, "from_layered reads settings only");
    let r: Result<HomelySettings, _> = serde_json::from_value(serde_json::json!({ "home": "/x" }));
    assert!(r.is_err(), "a skipped field is no key of the section");
}
