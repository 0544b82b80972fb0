//! JSON paths (RFC 9535) over raw JSON, fast where they are plain.
//!
//! Most paths a source declares are a chain of member names — `$.uuid`, `$.actor.id`,
//! `$['@timestamp']`, `$.response.authlogs[*]` — and those are read straight off the page's bytes, with
//! no document built: a page of a thousand events is split into its events in one pass, and an event's
//! few mapped members are found in one pass over its top-level members. Any other path (a filter, a
//! recursive descent, an index) is handed to `serde_json_path` over a parsed document: correct for every
//! RFC 9535 query, at the cost of a DOM.

use std::borrow::Cow;

use logcrawl_core::{RawEvent, raw_member};
use serde_json::Value;
use serde_json::value::RawValue;

/// A compiled JSON path.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    kind: Kind,
    /// The same path for `serde_json_path`, for what the fast reading does not cover.
    general: serde_json_path::JsonPath,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `$` then member names, and `[*]` at the end when `all` (every element of the array there).
    Members { names: Vec<String>, all: bool },
    /// Anything else RFC 9535 allows: read by [`Path::general`].
    General,
}

impl Path {
    /// Compiles `text`, or says why it is not an RFC 9535 path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let general =
            serde_json_path::JsonPath::parse(text).map_err(|err| format!("{text:?} is not a JSON path: {err}"))?;
        let kind = match members(text) {
            Some((names, all)) => Kind::Members { names, all },
            None => Kind::General,
        };
        Ok(Self { text: text.to_owned(), kind, general })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path may select more than one node (ends in `[*]`, or is not a plain member chain).
    pub fn selects_many(&self) -> bool {
        match &self.kind {
            Kind::Members { all, .. } => *all,
            Kind::General => true,
        }
    }

    /// The member names of a plain chain that selects one node (`$.a.b` → `a`, `b`), `None` for any other
    /// path.
    pub fn member_chain(&self) -> Option<&[String]> {
        match &self.kind {
            Kind::Members { names, all: false } if !names.is_empty() => Some(names),
            _ => None,
        }
    }

    /// The first top-level member name the path reads, when it is a plain member chain: what one pass
    /// over an event's members looks for.
    pub(crate) fn head(&self) -> Option<&str> {
        match &self.kind {
            Kind::Members { names, all: false } => names.first().map(String::as_str),
            _ => None,
        }
    }

    /// The nodes selected in the JSON document `json`, each as raw JSON. A member chain that meets an
    /// absent member selects nothing.
    pub fn select<'a>(&self, json: &'a RawValue) -> Result<Vec<Cow<'a, RawValue>>, String> {
        match &self.kind {
            Kind::Members { names, all } => {
                let Some(at) = walk(json, names) else { return Ok(Vec::new()) };
                if !*all {
                    return Ok(vec![Cow::Borrowed(at)]);
                }
                match at.get().as_bytes().first() {
                    Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(at.get())
                        .map(|items| items.into_iter().map(Cow::Borrowed).collect())
                        .map_err(|err| format!("{}: {err}", self.text)),
                    Some(b'n') => Ok(Vec::new()),
                    _ => Err(format!("{} is not an array", self.text.trim_end_matches("[*]"))),
                }
            }
            Kind::General => {
                let document: Value = serde_json::from_str(json.get()).map_err(|err| err.to_string())?;
                self.general
                    .query(&document)
                    .all()
                    .into_iter()
                    .map(|node| serde_json::value::to_raw_value(node).map(Cow::Owned).map_err(|err| err.to_string()))
                    .collect()
            }
        }
    }

    /// The first node the path selects in `json`, if any.
    pub fn first<'a>(&self, json: &'a RawValue) -> Result<Option<Cow<'a, RawValue>>, String> {
        match &self.kind {
            Kind::Members { names, all: false } => Ok(walk(json, names).map(Cow::Borrowed)),
            _ => Ok(self.select(json)?.into_iter().next()),
        }
    }

    /// The node the path selects in an event whose top-level member [`head`](Self::head) was found
    /// (`top`) in the one pass over it; any other path reads the event's parsed `document` (built once,
    /// on first need, and shared by the event's other such paths).
    pub(crate) fn in_event<'a>(
        &self,
        top: Option<&'a RawValue>,
        event: &'a RawEvent,
        document: &mut Option<Value>,
    ) -> Option<Cow<'a, RawValue>> {
        if let Kind::Members { names, all: false } = &self.kind {
            return walk(top?, &names[1..]).map(Cow::Borrowed);
        }
        if document.is_none() {
            *document = serde_json::from_slice(event.as_bytes()).ok();
        }
        let node = self.general.query(document.as_ref()?).all().into_iter().next()?;
        serde_json::value::to_raw_value(node).ok().map(Cow::Owned)
    }
}

fn walk<'a>(json: &'a RawValue, names: &[String]) -> Option<&'a RawValue> {
    let mut at = json;
    for name in names {
        at = raw_member(at, name)?;
    }
    Some(at)
}

/// The member names of a plain chain (`$.a.b`, `$['a']["b"]`, optionally ending in `[*]`), `None` for
/// any other path. `$` alone is not a chain (it selects the whole document).
fn members(text: &str) -> Option<(Vec<String>, bool)> {
    let mut rest = text.trim().strip_prefix('$')?;
    let mut names = Vec::new();
    let mut all = false;
    while !rest.is_empty() {
        if all {
            return None;
        }
        if let Some(after) = rest.strip_prefix("[*]") {
            all = true;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name == "*" {
                return None;
            }
            names.push(name.to_owned());
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let inner = &after[1..];
            let close = inner.find(quote)?;
            let name = &inner[..close];
            if name.contains('\\') {
                return None;
            }
            names.push(name.to_owned());
            rest = inner[close + 1..].strip_prefix(']')?;
        } else {
            return None;
        }
    }
    (!names.is_empty() || all).then_some((names, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn texts(path: &str, json: &str) -> Vec<String> {
        let json = raw(json);
        Path::parse(path).unwrap().select(&json).unwrap().iter().map(|n| n.get().to_owned()).collect()
    }

    #[test]
    fn member_chains_are_read_off_the_bytes() {
        assert_eq!(members("$.a.b"), Some((vec!["a".into(), "b".into()], false)));
        assert_eq!(members("$['@timestamp']"), Some((vec!["@timestamp".into()], false)));
        assert_eq!(members("$[*]"), Some((vec![], true)));
        assert_eq!(members("$.response.authlogs[*]"), Some((vec!["response".into(), "authlogs".into()], true)));
        for general in ["$", "$..id", "$.a[0]", "$.a[*].b", "$[?@.x]", "$.*", "$['a\\'b']"] {
            assert_eq!(members(general), None, "{general}");
        }
    }

    #[test]
    fn records_are_selected_with_either_kind_of_path() {
        let page = r#"{"data": {"items": [{"id": 1}, {"id": 2}]}, "next": null}"#;
        assert_eq!(texts("$.data.items[*]", page), [r#"{"id": 1}"#, r#"{"id": 2}"#]);
        assert_eq!(texts("$.data.items[?@.id > 1]", page), [r#"{"id":2}"#]);
        assert!(texts("$.missing[*]", page).is_empty(), "an absent array is an empty page");
        let token = r#"{"entries": [], "meta": {"next": "o3"}}"#;
        assert_eq!(texts("$.meta.next", token), [r#""o3""#]);
        assert!(texts("$.next[*]", page).is_empty(), "a null array is an empty page");
        let err = Path::parse("$.data[*]").unwrap().select(&raw(page)).unwrap_err();
        assert!(err.contains("$.data is not an array"), "{err}");
        assert!(Path::parse("$.a[").unwrap_err().contains("not a JSON path"));
    }

    #[test]
    fn an_event_field_is_found_from_its_top_level_member() {
        let event = RawEvent::from(raw(r#"{"actor": {"id": "u1", "tags": ["x", "y"]}, "n": 5}"#));
        let path = Path::parse("$.actor.id").unwrap();
        assert_eq!(path.head(), Some("actor"));
        let top = raw(r#"{"id": "u1", "tags": ["x", "y"]}"#);
        let mut doc = None;
        assert_eq!(path.in_event(Some(&top), &event, &mut doc).unwrap().get(), r#""u1""#);
        assert!(doc.is_none(), "no document is built for a member chain");
        let general = Path::parse("$.actor.tags[1]").unwrap();
        assert_eq!(general.in_event(None, &event, &mut doc).unwrap().get(), r#""y""#);
        assert!(doc.is_some());
    }

    proptest! {
        /// A plain chain and serde_json_path agree on every document: the fast path is only faster.
        #[test]
        fn the_fast_path_agrees_with_the_rfc(a in "[a-z]{1,3}", b in "[a-z]{1,3}", value in 0u32..1000, other in "[a-z]{1,3}") {
            let json = format!(r#"{{"{a}": {{"{b}": {value}, "{other}": [1]}}, "z": true}}"#);
            let json = raw(&json);
            let path = format!("$.{a}.{b}");
            let fast = Path::parse(&path).unwrap();
            let parsed = serde_json_path::JsonPath::parse(&path).unwrap();
            let general = Path { text: path.clone(), kind: Kind::General, general: parsed };
            let f: Vec<Value> = fast.select(&json).unwrap().iter().map(|n| serde_json::from_str(n.get()).unwrap()).collect();
            let g: Vec<Value> = general.select(&json).unwrap().iter().map(|n| serde_json::from_str(n.get()).unwrap()).collect();
            prop_assert_eq!(f, g);
        }
    }
}
