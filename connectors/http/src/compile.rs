//! From the keys as written to a [`Source`] that cannot fail on its own configuration: every template
//! and path compiled, every combination of keys checked, each error keyed where it was written.

use std::sync::Arc;
use std::time::Duration;

use logcrawl_connector::{PageLimits, WindowPlan, lookback, origin};
use logcrawl_core::ConfigError;
use logcrawl_http::header::HeaderName;

use crate::api::{Body, Carrier, Pager, Paging, RequestTemplate, Source};
use crate::config::{FieldConfig, HttpSourceConfig, Method, Order, PaginationConfig, Stop, Style, WindowConfig};
use crate::event::{ATTRIBUTES, Field, Mapping, TimeFormat};
use crate::path::Path;
use crate::template::TemplateSet;

/// `page_size` unless given.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// `retention` unless given: how far back `initial_lookback` may reach.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
/// `window.step` unless given.
pub const DEFAULT_WINDOW_STEP: Duration = Duration::from_secs(3600);
/// `window.settle_lag` unless given.
pub const DEFAULT_SETTLE_LAG: Duration = Duration::from_secs(60);

/// How the compiled source is read.
#[derive(Debug)]
pub enum Shape {
    /// By the API's own continuation.
    Continuation(PageLimits),
    /// By time windows, the events coming in this order.
    Windowed(WindowPlan, Order),
}

/// The compiled source and its shape.
#[derive(Debug)]
pub struct Compiled {
    /// The source.
    pub source: Arc<Source>,
    /// Its shape.
    pub shape: Shape,
}

fn error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::new(key.into(), message)
}

fn path(key: &str, text: &str) -> Result<Path, ConfigError> {
    Path::parse(text).map_err(|m| error(key, m))
}

/// Compiles `config` for source `name`; `max_age` is the sink's (a first run starts inside it).
/// `secret_param` is the query parameter a `type = "query"` credential is sent in: a `request.query` of
/// that name is refused, and the parameter is dropped from every link the API hands out.
pub fn compile(
    name: &str,
    config: HttpSourceConfig,
    max_age: Option<Duration>,
    secret_param: Option<String>,
) -> Result<Compiled, ConfigError> {
    let base = origin::base_url(&config.base_url, "https://api.example.com")?;
    let stream = config.stream.unwrap_or_else(|| "events".to_owned());
    if stream.trim().is_empty() || stream.contains(['/', '\\']) {
        return Err(error("stream", "must be a name without slashes"));
    }
    let page_size = config.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        return Err(error("page_size", "must be at least 1"));
    }
    let retention = config.retention.unwrap_or(DEFAULT_RETENTION);
    let lookback = lookback::initial_lookback(config.initial_lookback, retention, "the API (retention)", max_age)?;
    let vars = serde_json::to_value(&config.vars).map_err(|err| error("vars", err.to_string()))?;

    let mut templates = TemplateSet::new();
    let request = &config.request;
    let path_id = templates.add("request.path", &request.path).map_err(|m| error("request.path", m))?;
    let mut query = Vec::new();
    for (param, text) in &request.query {
        let key = format!("request.query.{param}");
        if secret_param.as_deref() == Some(param.as_str()) {
            return Err(error(&key, "is the parameter [sources.auth] sends the key in"));
        }
        query.push((param.clone(), templates.add(&key, text).map_err(|m| error(&key, m))?));
    }
    let mut headers = Vec::new();
    for (header, text) in &request.headers {
        let key = format!("request.headers.{header}");
        let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| error(&key, "not a header name"))?;
        if name == logcrawl_http::header::AUTHORIZATION {
            return Err(error(&key, "credentials go in [sources.auth], which keeps them out of logs and cursors"));
        }
        headers.push((name, templates.add(&key, text).map_err(|m| error(&key, m))?));
    }
    let body = request.body.as_ref().map(|b| body(&mut templates, "request.body", b)).transpose()?;
    if body.is_some() && request.method == Method::Get {
        return Err(error("request.body", "a GET request has no body: set request.method = \"POST\""));
    }

    let windowed = config.window.is_some();
    let paging = paging(&mut templates, &config.pagination, request.method, windowed)?;

    let records = &config.records;
    let records_path = path("records.path", &records.path)?;
    if !records_path.selects_many() {
        return Err(error("records.path", "selects one node; select the events, e.g. `$.items[*]` or `$[*]`"));
    }
    let split = match records.split.as_deref() {
        None => None,
        Some(text) => {
            let split = path("records.split", text)?;
            let Some(chain) = split.member_chain() else {
                return Err(error("records.split", "must be a chain of member names naming an array, e.g. `$.events`"));
            };
            Some(chain.to_vec())
        }
    };
    let error_path = records.error.as_deref().map(|p| path("records.error", p)).transpose()?;
    let id = records.id.as_deref().map(|p| path("records.id", p)).transpose()?;
    let time = records.time.as_deref().map(|p| path("records.time", p)).transpose()?;
    let time_format = TimeFormat::parse(records.time_format.as_deref());
    if let TimeFormat::Pattern(pattern) = &time_format
        && !pattern.contains('%')
    {
        return Err(error(
            "records.time_format",
            format!("{pattern:?} is neither rfc3339, unix, unix_ms, unix_us, unix_ns nor a strftime pattern"),
        ));
    }
    let mut fields = Vec::new();
    for (name, spec) in &records.fields {
        let key = format!("records.fields.{name}");
        let Some((_, attribute)) = ATTRIBUTES.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = ATTRIBUTES.iter().map(|(n, _)| *n).collect();
            return Err(error(
                &key,
                format!(
                    "not a standard attribute (one of {}); the event's own members are kept anyway",
                    known.join(", ")
                ),
            ));
        };
        let (text, lowercase, map) = match spec {
            FieldConfig::Path(text) => (text.as_str(), false, Default::default()),
            FieldConfig::Mapped(m) => (m.path.as_str(), m.lowercase, m.map.clone()),
        };
        fields.push(Field { attribute: *attribute, path: path(&key, text)?, lowercase, map });
    }
    let resolution = time_format.resolution();
    let mapping = Mapping::new(id, time, time_format, fields, format!("{stream} event"));

    let shape = match &config.window {
        Some(window) => {
            Shape::Windowed(plan(window, &mapping, resolution, lookback, config.max_pages_per_run)?, records.order)
        }
        None => {
            if !matches!(paging.pager, Pager::Link(_) | Pager::Token { .. }) {
                return Err(error(
                    "pagination.type",
                    "without a continuation (a link or a token) a source resumes only by time: add [sources.window] \
                     and filter the request by window.start and window.end",
                ));
            }
            if records.order == Order::NewestFirst {
                return Err(error(
                    "records.order",
                    "a newest-first API cannot resume by its continuation (new events come first): add [sources.window]",
                ));
            }
            if config.max_pages_per_run == Some(0) {
                return Err(error("max_pages_per_run", "must be at least 1"));
            }
            Shape::Continuation(PageLimits {
                max_pages_per_run: config.max_pages_per_run,
                max_empty_pages: config.max_empty_pages.unwrap_or(PageLimits::default().max_empty_pages),
            })
        }
    };
    let window_resolution = match &shape {
        Shape::Windowed(plan, _) => plan.resolution,
        Shape::Continuation(_) => resolution,
    };
    let source = Source {
        name: name.to_owned(),
        stream,
        base,
        page_size,
        lookback,
        vars,
        templates: templates.build(),
        request: RequestTemplate { method: request.method, path: path_id, query, headers, body },
        paging,
        records: records_path,
        error: error_path,
        secret_param,
        split,
        mapping,
        resolution: window_resolution,
    };
    Ok(Compiled { source: Arc::new(source), shape })
}

fn body(templates: &mut TemplateSet, key: &str, value: &toml::Value) -> Result<Body, ConfigError> {
    Ok(match value {
        toml::Value::String(text) => Body::Template(templates.add(key, text).map_err(|m| error(key, m))?),
        toml::Value::Table(table) => Body::Object(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), body(templates, &format!("{key}.{k}"), v)?)))
                .collect::<Result<_, ConfigError>>()?,
        ),
        toml::Value::Array(items) => Body::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| body(templates, &format!("{key}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Datetime(_) => return Err(error(key, "a TOML date is not JSON: quote it")),
        other => Body::Literal(serde_json::to_value(other).map_err(|err| error(key, err.to_string()))?),
    })
}

fn paging(
    templates: &mut TemplateSet,
    config: &PaginationConfig,
    method: Method,
    windowed: bool,
) -> Result<Paging, ConfigError> {
    let key = |k: &str| format!("pagination.{k}");
    let given = |k: &str| match k {
        "rel" => config.rel.is_some(),
        "token" => config.token.is_some(),
        "param" => config.param.is_some(),
        "body_field" => config.body_field.is_some(),
        "next_body" => config.next_body.is_some(),
        "start" => config.start.is_some(),
        _ => false,
    };
    let takes: &[&str] = match config.style {
        Style::None => &[],
        Style::Link => &["rel"],
        Style::Token => &["token", "param", "body_field", "next_body"],
        Style::Offset | Style::Page => &["param", "start"],
    };
    for k in ["rel", "token", "param", "body_field", "next_body", "start"] {
        if given(k) && !takes.contains(&k) {
            return Err(error(key(k), format!("does not apply to pagination.type = {:?}", style_name(config.style))));
        }
    }
    let param = || -> Result<String, ConfigError> {
        config
            .param
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| error(key("param"), "missing: the query parameter that carries it"))
    };
    let pager = match config.style {
        Style::None => Pager::None,
        Style::Link => Pager::Link(config.rel.clone().unwrap_or_else(|| "next".to_owned())),
        Style::Token => {
            let token = config
                .token
                .as_deref()
                .ok_or_else(|| error(key("token"), "missing: the JSON path of the next page's token"))?;
            let token = path(&key("token"), token)?;
            let carrier = match (&config.param, &config.body_field, &config.next_body) {
                (Some(p), None, None) => Carrier::Query(p.clone()),
                (None, field, next) if field.is_some() || next.is_some() => {
                    if method != Method::Post {
                        return Err(error(key("body_field"), "a token in the body needs request.method = \"POST\""));
                    }
                    if windowed && next.is_none() {
                        return Err(error(
                            key("next_body"),
                            "missing: a windowed source's continuation body is written whole",
                        ));
                    }
                    let next = next.as_ref().map(|b| body(templates, &key("next_body"), b)).transpose()?;
                    Carrier::Body(field.clone(), next)
                }
                (None, None, None) => {
                    return Err(error(
                        key("param"),
                        "missing: the query parameter (or body_field) that carries the token",
                    ));
                }
                _ => return Err(error(key("param"), "give either param or body_field/next_body, not both")),
            };
            Pager::Token { path: token, carrier }
        }
        Style::Offset => Pager::Offset(param()?, config.start.unwrap_or(0)),
        Style::Page => Pager::Page(param()?, config.start.unwrap_or(1)),
    };
    let has_more = config.has_more.as_deref().map(|p| path(&key("has_more"), p)).transpose()?;
    let stop = config.stop.clone().unwrap_or_else(|| vec![Stop::EmptyPage, Stop::ShortPage]);
    Ok(Paging {
        pager,
        has_more,
        stop_empty: stop.contains(&Stop::EmptyPage),
        stop_short: stop.contains(&Stop::ShortPage),
    })
}

fn style_name(style: Style) -> &'static str {
    match style {
        Style::None => "none",
        Style::Link => "link",
        Style::Token => "token",
        Style::Offset => "offset",
        Style::Page => "page",
    }
}

fn plan(
    window: &WindowConfig,
    mapping: &Mapping,
    resolution: Duration,
    lookback: Duration,
    max_windows: Option<usize>,
) -> Result<WindowPlan, ConfigError> {
    let step = window.step.unwrap_or(DEFAULT_WINDOW_STEP);
    if step.is_zero() {
        return Err(error("window.step", "must be longer than zero"));
    }
    let settle_lag = window.settle_lag.unwrap_or(DEFAULT_SETTLE_LAG);
    let overlap = window.overlap.unwrap_or(Duration::ZERO);
    if !overlap.is_zero() && (mapping.id.is_none() || mapping.time.is_none()) {
        return Err(error("window.overlap", "needs records.id and records.time: re-read events are dropped by id"));
    }
    let resolution = window.resolution.unwrap_or(resolution);
    if resolution.is_zero() || resolution > step {
        return Err(error("window.resolution", "must be longer than zero and at most window.step"));
    }
    if max_windows == Some(0) {
        return Err(error("max_pages_per_run", "must be at least 1"));
    }
    let mut plan = WindowPlan::new(step, settle_lag, lookback).with_resolution(resolution).with_overlap(overlap);
    plan.max_windows_per_run = max_windows;
    Ok(plan)
}
