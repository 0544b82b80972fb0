//! Request templates: `minijinja` (Jinja2's syntax), compiled when the source is built.
//!
//! Every string of `[sources.request]` (path, query values, header values, body strings) and of
//! `pagination.next_body` is a template over one context:
//!
//! | name | value |
//! |---|---|
//! | `page_size` | the source's `page_size` |
//! | `start` | where a first run starts: now − `initial_lookback`, RFC 3339 |
//! | `now` | the time of rendering, RFC 3339 |
//! | `window.start`, `window.end`, `window.last` | a windowed source's window (`last` = `end` − resolution, for inclusive APIs) |
//! | `token` | a `token` continuation's token (absent on a first request) |
//! | `vars.*` | the source's `[sources.vars]` |
//!
//! and four filters for times: `unix`, `unix_ms` (epoch seconds and milliseconds of an RFC 3339
//! instant), `strftime(format)` (UTC), `rfc3339` (normalised, whole seconds with `Z`, as most APIs
//! accept). Printing an undefined name is an error (`{% if token %}` may test one), so a typo fails at the first request and names its key
//! instead of sending an empty parameter.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;

/// Where a string template came from, and whether it is one `{{ expression }}` (its value kept typed).
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    expression: bool,
}

/// The compiled templates of one source.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    entries: Arc<Vec<Entry>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("count", &self.entries.len()).finish()
    }
}

/// A handle on one compiled template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateId(usize);

/// The builder: templates are added one by one (each error names its key), then frozen.
pub struct TemplateSet {
    env: Environment<'static>,
    entries: Vec<Entry>,
}

impl fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSet").field("count", &self.entries.len()).finish()
    }
}

impl Default for TemplateSet {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateSet {
    /// An empty set with the filters above and strict undefined names.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.add_filter("unix", |at: &str| instant(at).map(|t| t.as_second()));
        env.add_filter("unix_ms", |at: &str| instant(at).map(|t| t.as_millisecond()));
        env.add_filter("rfc3339", |at: &str| instant(at).map(|t| rfc3339(t.round(jiff::Unit::Second).unwrap_or(t))));
        env.add_filter("strftime", |at: &str, format: &str| instant(at).map(|t| t.strftime(format).to_string()));
        Self { env, entries: Vec::new() }
    }

    /// Compiles `source` as the template of configuration key `key`; the error says what is wrong.
    pub fn add(&mut self, key: &str, source: &str) -> Result<TemplateId, String> {
        let id = self.entries.len();
        let trimmed = source.trim();
        let expression = trimmed.starts_with("{{")
            && trimmed.ends_with("}}")
            && trimmed[2..trimmed.len() - 2].find("}}").is_none()
            && !trimmed[2..].contains("{{");
        let name = format!("t{id}");
        if expression {
            let inner = trimmed[2..trimmed.len() - 2].trim().trim_start_matches('-').trim_end_matches('-').to_owned();
            self.env.compile_expression_owned(inner.clone()).map_err(|err| describe(&err))?;
            self.env.add_template_owned(name, format!("{{{{ {inner} }}}}")).map_err(|err| describe(&err))?;
        } else {
            self.env.add_template_owned(name, source.to_owned()).map_err(|err| describe(&err))?;
        }
        self.entries.push(Entry { key: key.to_owned(), expression });
        Ok(TemplateId(id))
    }

    /// The frozen set.
    pub fn build(self) -> Templates {
        Templates { env: Arc::new(self.env), entries: Arc::new(self.entries) }
    }
}

impl Templates {
    /// The key template `id` was configured at.
    pub fn key(&self, id: TemplateId) -> &str {
        &self.entries[id.0].key
    }

    /// Renders template `id` as text. The error names the key.
    pub fn text(&self, id: TemplateId, context: &Context) -> Result<String, String> {
        let template = self.env.get_template(&format!("t{}", id.0)).map_err(|err| self.failed(id, &err))?;
        template.render(Value::from(minijinja::value::Serde(context))).map_err(|err| self.failed(id, &err))
    }

    /// Renders template `id` as a JSON value: a lone `{{ expression }}` keeps its type (a number stays
    /// a number), any other template is a string.
    pub fn json(&self, id: TemplateId, context: &Context) -> Result<serde_json::Value, String> {
        if !self.entries[id.0].expression {
            return self.text(id, context).map(serde_json::Value::String);
        }
        let source = self.env.get_template(&format!("t{}", id.0)).map_err(|err| self.failed(id, &err))?;
        let inner = source.source().trim().trim_start_matches("{{").trim_end_matches("}}").trim().to_owned();
        let expression = self.env.compile_expression_owned(inner).map_err(|err| self.failed(id, &err))?;
        let value =
            expression.eval(Value::from(minijinja::value::Serde(context))).map_err(|err| self.failed(id, &err))?;
        serde_json::to_value(&value).map_err(|err| format!("template `{}`: {err}", self.key(id)))
    }

    fn failed(&self, id: TemplateId, err: &Error) -> String {
        format!("template `{}` failed: {}", self.key(id), describe(err))
    }
}

/// A minijinja error in one line: its kind and detail, and the line inside the template for long ones.
fn describe(err: &Error) -> String {
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let what = match err.kind() {
        ErrorKind::UndefinedError => "an undefined name".to_owned(),
        kind => kind.to_string(),
    };
    match err.line() {
        Some(line) if line > 1 => format!("{what}{detail} (line {line} of the template)"),
        _ => format!("{what}{detail}"),
    }
}

fn instant(text: &str) -> Result<Timestamp, Error> {
    text.parse::<Timestamp>()
        .map_err(|err| Error::new(ErrorKind::InvalidOperation, format!("{text:?} is not an RFC 3339 instant: {err}")))
}

/// An instant as templates see it: RFC 3339 in UTC, with the fraction only when it has one.
pub fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}

/// What a template is rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// `page_size`.
    pub page_size: u32,
    /// `start`.
    pub start: String,
    /// `now`.
    pub now: String,
    /// `window`, for windowed sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowContext>,
    /// `token`, on a token continuation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `vars`.
    pub vars: serde_json::Value,
}

/// `window` in templates.
#[derive(Debug, Clone, Serialize)]
pub struct WindowContext {
    /// The window's first instant.
    pub start: String,
    /// Its end (excluded).
    pub end: String,
    /// Its last instant at the API's resolution (`end` − resolution).
    pub last: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        Context {
            page_size: 100,
            start: "2026-11-30T10:00:00.250Z".into(),
            now: "2026-12-01T10:00:00Z".into(),
            window: None,
            token: None,
            vars: json!({"org": "acme"}),
        }
    }

    #[test]
    fn templates_render_text_and_typed_values() {
        let mut set = TemplateSet::new();
        let path = set.add("request.path", "/orgs/{{ vars.org }}/audit-log").unwrap();
        let limit = set.add("request.body.limit", "{{ page_size }}").unwrap();
        let since = set.add("request.query.since", "{{ start | rfc3339 }}").unwrap();
        let epoch = set.add("request.query.oldest", "{{ start | unix }}").unwrap();
        let id = set.add("request.query.from", "900{{ start | strftime('%Y%m%d%H%M%S') }}").unwrap();
        let cond = set.add("request.query.cursor", "{% if token %}{{ token }}{% endif %}").unwrap();
        let t = set.build();
        let c = context();
        assert_eq!(t.text(path, &c).unwrap(), "/orgs/acme/audit-log");
        assert_eq!(t.json(limit, &c).unwrap(), json!(100));
        assert_eq!(t.text(since, &c).unwrap(), "2026-11-30T10:00:00Z");
        assert_eq!(t.json(epoch, &c).unwrap(), json!(1_796_032_800));
        assert_eq!(t.text(id, &c).unwrap(), "90020261130100000");
        assert_eq!(t.text(cond, &c).unwrap(), "", "no token on a first request");
        let with_token = Context { token: Some("abc".into()), ..context() };
        assert_eq!(t.text(cond, &with_token).unwrap(), "abc");
    }

    #[test]
    fn errors_name_the_key() {
        let mut set = TemplateSet::new();
        assert!(set.add("request.path", "/{{ vars.org").unwrap_err().contains("syntax error"));
        let typo = set.add("request.query.q", "{{ vars.ogr }}").unwrap();
        let bad_time = set.add("request.query.t", "{{ vars.org | unix }}").unwrap();
        let t = set.build();
        let err = t.text(typo, &context()).unwrap_err();
        assert!(err.contains("`request.query.q`") && err.contains("undefined"), "{err}");
        let err = t.json(bad_time, &context()).unwrap_err();
        assert!(err.contains("not an RFC 3339 instant"), "{err}");
    }
}
