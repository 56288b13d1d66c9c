//! The AWS shared credentials file (`~/.aws/credentials`, sections `[NAME]`) and config file
//! (`~/.aws/config`, sections `[profile NAME]`, `[default]`): a tiny INI reader.

use std::collections::HashMap;

/// Sections of an INI file: section name → (key → value). Keys are lower-cased.
pub type Sections = HashMap<String, HashMap<String, String>>;

/// Parse INI text: `[section]` headers, `key = value` lines, `#`/`;` comments.
/// Indented lines (the AWS CLI's nested `s3 =` blocks) are ignored.
pub fn parse(text: &str) -> Sections {
    let mut out: Sections = HashMap::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (Some(section), Some((k, v))) = (&current, line.split_once('=')) else {
            continue;
        };
        let v = v.trim();
        // Inline comments need whitespace before the marker (secrets may contain `#`).
        let v = [" #", "\t#", " ;", "\t;"]
            .iter()
            .filter_map(|m| v.find(m))
            .min()
            .map_or(v, |i| v[..i].trim_end());
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.to_string());
    }
    out
}

/// The section of `profile` in the credentials file (`[NAME]`).
pub fn credentials_section<'a>(
    sections: &'a Sections,
    profile: &str,
) -> Option<&'a HashMap<String, String>> {
    sections.get(profile)
}

/// The section of `profile` in the config file: `[profile NAME]`, or `[default]` for the default profile.
pub fn config_section<'a>(
    sections: &'a Sections,
    profile: &str,
) -> Option<&'a HashMap<String, String>> {
    sections.get(&format!("profile {profile}")).or_else(|| {
        (profile == "default")
            .then(|| sections.get("default"))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_credentials_and_config_sections() {
        let creds = parse(
            "# comment\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key=se#cret ; note\n\n\
             [work]\nAWS_ACCESS_KEY_ID = AKIAWORK\n aws_secret_access_key = indented-ignored\n",
        );
        let d = credentials_section(&creds, "default").expect("default");
        assert_eq!(d["aws_access_key_id"], "AKIADEFAULT");
        assert_eq!(d["aws_secret_access_key"], "se#cret");
        let w = credentials_section(&creds, "work").expect("work");
        assert_eq!(w["aws_access_key_id"], "AKIAWORK");
        assert!(!w.contains_key("aws_secret_access_key"));

        let config = parse(
            "[default]\nregion = eu-west-1\n[profile  work]\nregion=us-west-2\ns3 =\n  max_concurrent_requests = 2\n",
        );
        assert_eq!(
            config_section(&config, "default").expect("default")["region"],
            "eu-west-1"
        );
        assert_eq!(
            config_section(&config, "work").expect("work")["region"],
            "us-west-2"
        );
        assert!(config_section(&config, "other").is_none());
    }
}
