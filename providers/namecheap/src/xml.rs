//! Namecheap's XML answers read strictly into a flat list of elements: a document that is cut
//! off, badly nested or not XML at all is an error, never a shorter list (a whole-zone write
//! built from a partial read would delete what the read missed).

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// One element: its local name, attributes (unescaped), text, and depth (the root is 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (no namespace prefix).
    pub name: String,
    /// Attributes by local name, in document order.
    pub attrs: Vec<(String, String)>,
    /// The element's own text, entities resolved, trimmed.
    pub text: String,
    /// Nesting depth.
    pub depth: usize,
}

impl Element {
    /// The attribute `name` (any case: Namecheap is not consistent).
    pub fn attr(&self, name: &str) -> Option<&str> {
        let mut all = self.attrs.iter();
        all.find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the element is called `name` (any case).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

fn element(e: &BytesStart, depth: usize) -> Result<Element, String> {
    let name = e.local_name().into_inner().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("<{name}>: {err}"))?;
        let key = a.key.local_name().into_inner().to_string();
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| format!("<{name} {key}>: {err}"))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        depth,
        text: String::new(),
    })
}

/// Every element of `body`, in document order; an error unless it is one complete document.
pub fn parse(body: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let (mut out, mut open): (Vec<Element>, Vec<usize>) = (Vec::new(), Vec::new());
    loop {
        let event = reader.read_event().map_err(|e| {
            let at = reader.buffer_position();
            format!("not well-formed XML at byte {at}: {e}")
        })?;
        let text = match event {
            Event::Start(e) => {
                out.push(element(&e, open.len())?);
                open.push(out.len() - 1);
                continue;
            }
            Event::Empty(e) => {
                out.push(element(&e, open.len())?);
                continue;
            }
            Event::End(_) => {
                open.pop();
                if open.is_empty() {
                    return Ok(out);
                }
                continue;
            }
            Event::Text(t) => t.xml10_content().into_owned(),
            Event::CData(t) => t.into_inner().into_owned(),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => c.to_string(),
                _ => resolve_predefined_entity(&r)
                    .unwrap_or_default()
                    .to_string(),
            },
            Event::Eof => {
                return Err(match out.first() {
                    None => "an empty answer, not XML".into(),
                    Some(root) => format!("the answer ends inside <{}>: cut off", root.name),
                });
            }
            _ => continue,
        };
        if let Some(&i) = open.last() {
            let t = &mut out[i].text;
            t.push_str(&text);
            *t = t.trim_start().to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_documents_only() {
        let doc = r#"<?xml version="1.0"?><ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response">
            <Errors><Error Number="1">a &amp; b&#33;</Error></Errors><host Name="@" Address="x&quot;y"/></ApiResponse>"#;
        let els = parse(doc).expect("parses");
        assert_eq!(els.len(), 4);
        assert!(els[0].is("apiresponse") && els[0].attr("status") == Some("OK"));
        assert_eq!((els[2].text.trim(), els[2].depth), ("a & b!", 2));
        assert_eq!(els[3].attr("Address"), Some("x\"y"));
        let cut = &doc[..doc.len() - "</ApiResponse>".len()];
        assert!(parse(cut).expect_err("cut").contains("cut off"));
        assert!(parse(&doc[..doc.len() - 20]).is_err());
        assert!(parse("").is_err());
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("Too many requests").is_err());
    }
}
