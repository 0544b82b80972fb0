//! A declared source, compiled: its requests rendered from templates, its pages read by JSON paths, and
//! the next page found by its pagination style. Both stream kinds ([`crate::stream`]) read pages here.

use std::time::Duration;

use jiff::Timestamp;
use logcrawl_connector::{Next, Page, Window, malformed};
use logcrawl_core::{RawEvent, StreamError};
use logcrawl_http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use logcrawl_http::{HttpError, RequestSpec, Response, Url, redact_url};

use crate::config::Method;
use crate::event::{HttpEvent, Mapping};
use crate::path::Path;
use crate::template::{Context, TemplateId, Templates, WindowContext, rfc3339};

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
pub enum Body {
    /// A string: a template.
    Template(TemplateId),
    /// An object.
    Object(Vec<(String, Body)>),
    /// An array.
    Array(Vec<Body>),
    /// A number, boolean or null, as written.
    Literal(serde_json::Value),
}

impl Body {
    fn render(&self, templates: &Templates, context: &Context) -> Result<serde_json::Value, String> {
        Ok(match self {
            Self::Template(id) => templates.json(*id, context)?,
            Self::Object(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(templates, context)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Self::Array(items) => {
                serde_json::Value::Array(items.iter().map(|v| v.render(templates, context)).collect::<Result<_, _>>()?)
            }
            Self::Literal(value) => value.clone(),
        })
    }
}

/// The first request of a run or a window.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// `GET` or `POST`.
    pub method: Method,
    /// The path below `base_url`.
    pub path: TemplateId,
    /// Query parameters.
    pub query: Vec<(String, TemplateId)>,
    /// Headers.
    pub headers: Vec<(HeaderName, TemplateId)>,
    /// The body.
    pub body: Option<Body>,
}

/// Where a token goes back.
#[derive(Debug, Clone)]
pub enum Carrier {
    /// A query parameter.
    Query(String),
    /// A body member (of the first body, or the whole `next_body`).
    Body(Option<String>, Option<Body>),
}

/// A pagination style, compiled.
#[derive(Debug, Clone)]
pub enum Pager {
    /// One request.
    None,
    /// `Link` header relation.
    Link(String),
    /// A body token passed back.
    Token {
        /// Where the token is in the body.
        path: Path,
        /// Where it goes.
        carrier: Carrier,
    },
    /// An offset in a query parameter, from `start`.
    Offset(String, u64),
    /// A page number in a query parameter, from `start`.
    Page(String, u64),
}

/// How pages chain, and when a chain ends.
#[derive(Debug, Clone)]
pub struct Paging {
    /// The style.
    pub pager: Pager,
    /// The path of a boolean saying whether more follows.
    pub has_more: Option<Path>,
    /// An empty page ends the chain (for now).
    pub stop_empty: bool,
    /// A short page ends the chain (for now).
    pub stop_short: bool,
}

/// A declared source, ready to render requests and read pages.
#[derive(Debug)]
pub struct Source {
    /// The source's name (for errors).
    pub name: String,
    /// The stream's name.
    pub stream: String,
    /// `base_url`, ending in `/`.
    pub base: Url,
    /// `page_size`.
    pub page_size: u32,
    /// `initial_lookback`, within the sink's max age.
    pub lookback: Duration,
    /// `vars`.
    pub vars: serde_json::Value,
    /// Every template.
    pub templates: Templates,
    /// The first request.
    pub request: RequestTemplate,
    /// The pagination.
    pub paging: Paging,
    /// `records.path`.
    pub records: Path,
    /// `records.error`.
    pub error: Option<Path>,
    /// The query parameter a `type = "query"` credential travels in: dropped from links the API hands
    /// out (the client adds it as it sends), so no stored cursor holds the key.
    pub secret_param: Option<String>,
    /// `records.split`: the member chain of an array each element of which is a record.
    pub split: Option<Vec<String>>,
    /// What each event gives.
    pub mapping: Mapping,
    /// The instant resolution windows align on.
    pub resolution: Duration,
}

impl Source {
    /// The template context now, for `window` and `token`.
    pub fn context(&self, window: Option<Window>, token: Option<String>) -> Context {
        let now = Timestamp::now();
        let lookback = jiff::SignedDuration::try_from(self.lookback).unwrap_or(jiff::SignedDuration::ZERO);
        let resolution = jiff::SignedDuration::try_from(self.resolution).unwrap_or(jiff::SignedDuration::ZERO);
        Context {
            page_size: self.page_size,
            start: rfc3339(now.checked_sub(lookback).unwrap_or(now)),
            now: rfc3339(now),
            window: window.map(|w| WindowContext {
                start: rfc3339(w.start),
                end: rfc3339(w.end),
                last: rfc3339(w.end.checked_sub(resolution).unwrap_or(w.end)),
            }),
            token,
            vars: self.vars.clone(),
        }
    }

    /// A rendering failure: fatal (the configuration will not render better next time), naming the
    /// source, the key and where the request was going.
    fn failed(&self, message: String, url: Option<&Url>) -> StreamError {
        let at = url.map(|u| format!(" (page {})", redact_url(u))).unwrap_or_default();
        StreamError::fatal(format!("source {}: {message}{at}", self.name))
    }

    /// The first request, rendered with `context`.
    pub fn render(&self, context: &Context) -> Result<RequestSpec, StreamError> {
        let t = &self.templates;
        let path = t.text(self.request.path, context).map_err(|m| self.failed(m, None))?;
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|err| self.failed(format!("template `request.path` gave {path:?}, not a path: {err}"), None))?;
        let mut pairs = Vec::with_capacity(self.request.query.len());
        for (name, id) in &self.request.query {
            let value = t.text(*id, context).map_err(|m| self.failed(m, None))?;
            if !value.is_empty() {
                pairs.push((name.as_str(), value));
            }
        }
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        let body = match &self.request.body {
            Some(body) => Some(body.render(t, context).map_err(|m| self.failed(m, Some(&url)))?),
            None => None,
        };
        self.finish(url, body, context)
    }

    /// `url` with the configured method, headers and `body`.
    fn finish(&self, url: Url, body: Option<serde_json::Value>, context: &Context) -> Result<RequestSpec, StreamError> {
        let mut request = match (self.request.method, body) {
            (Method::Get, _) => RequestSpec::get(url),
            (Method::Post, body) => {
                let text = body.map_or_else(String::new, |b| b.to_string());
                RequestSpec::post(url, text).header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            }
        };
        for (name, id) in &self.request.headers {
            let value = self.templates.text(*id, context).map_err(|m| self.failed(m, Some(&request.url)))?;
            let value = HeaderValue::from_str(&value).map_err(|_| {
                self.failed(format!("template `{}` gave a value a header cannot carry", self.templates.key(*id)), None)
            })?;
            request.headers.insert(name.clone(), value);
        }
        Ok(request)
    }

    /// `request` rebuilt from its stored parts: the configured headers rendered again.
    pub fn restore(&self, url: Url, body: Option<String>) -> Result<RequestSpec, StreamError> {
        let body = match body {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|err| StreamError::checkpoint(format!("the stored request body is not JSON: {err}")))?,
            ),
            None => None,
        };
        self.finish(url, body, &self.context(None, None))
    }

    /// `url` without the credential's query parameter, should the API echo it in a link.
    fn without_secret(&self, url: Url) -> Url {
        let Some(param) = &self.secret_param else { return url };
        if !url.query_pairs().any(|(k, _)| k == param.as_str()) {
            return url;
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != param.as_str())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut url = url;
        url.query_pairs_mut().clear().extend_pairs(kept);
        url
    }

    /// A page: its events, in the API's order, and where the next page is.
    pub fn page(&self, response: &Response) -> Result<Page<HttpEvent>, StreamError> {
        let body: &serde_json::value::RawValue = response.json()?;
        if let Some(error) = &self.error {
            let found = error.first(body).map_err(|m| malformed(response, format!("records.error: {m}")))?;
            if let Some(node) = found.filter(|n| !matches!(n.get(), "null" | "false")) {
                // A refusal in a 200 must not read as an empty page, which would commit its window.
                return Err(StreamError::fatal(format!(
                    "source {}: the API reported an error at records.error ({}): {} (page {})",
                    self.name,
                    error.as_str(),
                    node.get(),
                    redact_url(&response.url)
                )));
            }
        }
        let nodes = self.records.select(body).map_err(|m| malformed(response, format!("records.path: {m}")))?;
        let mut events = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.into_iter().enumerate() {
            let raw = match node {
                std::borrow::Cow::Borrowed(node) => RawEvent::in_page(&response.body, node),
                std::borrow::Cow::Owned(node) => RawEvent::from(node),
            };
            let Some(chain) = &self.split else {
                events.push(self.mapping.event(raw).map_err(|m| malformed(response, format!("record {i}: {m}")))?);
                continue;
            };
            let parts =
                split(&raw, chain).map_err(|m| malformed(response, format!("record {i}: records.split: {m}")))?;
            for (part, raw) in parts.into_iter().enumerate() {
                let mut event =
                    self.mapping.event(raw).map_err(|m| malformed(response, format!("record {i}.{part}: {m}")))?;
                // The parent's id names every part: each is told apart by its place in the array.
                event.id = event.id.map(|id| format!("{id}#{part}").into_boxed_str());
                events.push(event);
            }
        }
        let next = self.next(response, body, events.len())?;
        Ok(Page { events, next })
    }

    fn next(&self, response: &Response, body: &serde_json::value::RawValue, len: usize) -> Result<Next, StreamError> {
        let more = match &self.paging.has_more {
            Some(path) => match path.first(body).map_err(|m| malformed(response, m))? {
                Some(node) => match node.get() {
                    "true" => Some(true),
                    "false" => Some(false),
                    other => return Err(malformed(response, format!("pagination.has_more: {other} is not a boolean"))),
                },
                None => Some(false),
            },
            None => None,
        };
        let short = self.paging.stop_short && len < self.page_size as usize && len > 0;
        let empty = self.paging.stop_empty && len == 0;
        let ended = more == Some(false) || short || empty;
        let request = match &self.paging.pager {
            Pager::None => return Ok(Next::Done),
            Pager::Link(rel) => match response.link(rel) {
                None => return Ok(Next::Done),
                Some(url) => self.restore(self.without_secret(url), None)?,
            },
            Pager::Token { path, carrier } => {
                let token = match path.first(body).map_err(|m| malformed(response, m))? {
                    None => None,
                    Some(node) => match logcrawl_core::raw_scalar(Some(&node)) {
                        Some(text) if !text.is_empty() => Some(text.into_owned()),
                        Some(_) => None,
                        None if node.get() == "null" => None,
                        None => {
                            return Err(malformed(
                                response,
                                format!("pagination.token: {} is not a token", node.get()),
                            ));
                        }
                    },
                };
                let Some(token) = token else { return Ok(Next::Done) };
                match carrier {
                    // A token equal to the one just sent makes the same request: the SDK's page loop
                    // reads that as caught up.
                    Carrier::Query(param) => self.restore(response.url.clone(), None)?.with_query_set(param, &token),
                    Carrier::Body(field, next_body) => {
                        self.token_body(response, field.as_deref(), next_body.as_ref(), token)?
                    }
                }
            }
            Pager::Offset(param, start) | Pager::Page(param, start) => {
                if ended || len == 0 {
                    return Ok(Next::Done);
                }
                let current = response
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == param)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(*start);
                let step = if matches!(self.paging.pager, Pager::Offset(..)) { len as u64 } else { 1 };
                self.restore(response.url.clone(), None)?.with_query_set(param, &(current + step).to_string())
            }
        };
        Ok(if ended { Next::Later(request) } else { Next::Request(request) })
    }

    /// The continuation of a `POST` API that takes its token in the body.
    fn token_body(
        &self,
        response: &Response,
        field: Option<&str>,
        next_body: Option<&Body>,
        token: String,
    ) -> Result<RequestSpec, StreamError> {
        let context = self.context(None, Some(token.clone()));
        let fail = |m: String| self.failed(m, Some(&response.url));
        let mut body = match (next_body, &self.request.body) {
            (Some(next), _) => next.render(&self.templates, &context).map_err(fail)?,
            (None, Some(first)) => first.render(&self.templates, &context).map_err(fail)?,
            (None, None) => serde_json::Value::Object(serde_json::Map::new()),
        };
        if let (Some(field), serde_json::Value::Object(map)) = (field, &mut body) {
            map.insert(field.to_owned(), serde_json::Value::String(token));
        }
        // Sent to the URL the page was asked at.
        self.finish(response.url.clone(), Some(body), &context)
    }
}

/// The records `event` splits into along `chain`: one per element of the array there, each the event
/// with the array replaced by the element; the event itself when the chain meets nothing, `null` or an
/// empty array (a record is never dropped).
fn split(event: &RawEvent, chain: &[String]) -> Result<Vec<RawEvent>, String> {
    let parent: serde_json::Value = serde_json::from_slice(event.as_bytes()).map_err(|err| err.to_string())?;
    let mut at = &parent;
    for name in chain {
        match at.get(name) {
            Some(next) => at = next,
            None => return Ok(vec![event.clone()]),
        }
    }
    let items = match at {
        serde_json::Value::Array(items) if !items.is_empty() => items,
        serde_json::Value::Array(_) => return Ok(vec![event.clone()]),
        serde_json::Value::Null => return Ok(vec![event.clone()]),
        other => {
            return Err(format!(
                "{} is {}, not an array",
                chain.join("."),
                logcrawl_connector::cursor::json_kind(other)
            ));
        }
    };
    items
        .iter()
        .map(|item| {
            let mut part = parent.clone();
            let mut slot = &mut part;
            for name in chain {
                slot = slot.get_mut(name).ok_or("the chain moved")?;
            }
            *slot = item.clone();
            serde_json::value::to_raw_value(&part).map(RawEvent::from).map_err(|err| err.to_string())
        })
        .collect()
}

/// The HTTP error of a failed request, for the streams' `error` hooks: names the source.
pub fn advised(source: &str, err: HttpError) -> StreamError {
    let hint = match err.status().map(|s| s.as_u16()) {
        Some(401) => format!(" — source {source}: the API refused the credential; check [auth]"),
        Some(403) => format!(" — source {source}: the API refused access; check the credential's scopes"),
        _ => String::new(),
    };
    if hint.is_empty() { err.into() } else { logcrawl_connector::advised(err, hint) }
}
