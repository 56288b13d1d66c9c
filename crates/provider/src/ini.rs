//! The certbot credentials file format, as certbot's `configobj` reads it: `key = value` lines,
//! `#`/`;` comments, quoted values, and `[section]`s of which only `[default]` counts (AWS-style
//! files). Keys may carry certbot's old `certbot_dns_<plugin>:` prefix, which is dropped.
//! What the keys mean is the provider spec's business ([`crate::spec::Spec::read_credentials`]).

/// One `key = value` line of a credentials file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Line number, from 1.
    pub line: usize,
    /// The key, without certbot's old `certbot_dns_<plugin>:` prefix.
    pub key: String,
    /// The value, unquoted; never printed by this module (it may be a secret).
    pub value: String,
}

/// A line that is neither a comment, a section nor `key = value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadLine(pub usize);

/// Every entry of `text`, in order, outside sections other than `[default]`.
pub fn parse(text: &str) -> Result<Vec<Entry>, BadLine> {
    let mut out = Vec::new();
    let mut section: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim());
            continue;
        }
        if section.is_some_and(|s| s != "default") {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(BadLine(n + 1));
        };
        let k = k.trim();
        let k = k.rsplit_once(':').map_or(k, |(_, k)| k);
        out.push(Entry {
            line: n + 1,
            key: k.to_string(),
            value: unquote(v.trim()).to_string(),
        });
    }
    Ok(out)
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_certbot_reads() {
        let text = "# c\n; c\ncertbot_dns_x:dns_x_token = \"quoted\"\n dns_x_a='b'\n\
                    [default]\ndns_x_c = d = e\n[profile other]\ndns_x_c = no\n";
        let got = parse(text).expect("parses");
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("dns_x_token", "quoted"),
                ("dns_x_a", "b"),
                ("dns_x_c", "d = e")
            ]
        );
        assert_eq!(got[0].line, 3);
        assert_eq!(parse("a = 1\nnot a pair\n"), Err(BadLine(2)));
    }
}
