//! The TOML configuration: parsing, `${ENV}` interpolation, and errors that name the key and its line.
//!
//! ```toml
//! state_dir = "./logcrawl-state"
//!
//! [sinks.out]
//! type = "file"
//! path = "out.ndjson"
//!
//! [[sources]]
//! name = "acme-demo"        # checkpoints are keyed by (name, stream)
//! connector = "acme"
//! sink = "out"
//! interval = "15s"
//! base_url = "http://127.0.0.1:8088"
//! ```
//!
//! Keys every source takes are read here; every other key of a `[[sources]]` entry belongs to its
//! connector, and every key of a `[sinks.NAME]` table but `type` to that sink. Both are checked by the
//! component itself with unknown keys refused, so a typo is an error, never a silently ignored setting.
//! String values may contain `${NAME}`, replaced by the environment variable `NAME` (an unset variable is
//! an error naming the key); `$${` writes a literal `${`. Secrets therefore never need to be in the file.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logcrawl_core::config::parse_duration;
use toml::{Table, Value};

mod api;
mod interpolate;
mod state;

pub use api::{ApiConfig, DEFAULT_FAILURE_BUDGET};
pub use state::{PostgresState, StateConfig};

pub use interpolate::interpolate;
use interpolate::interpolate_table;

/// A configuration problem, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending key, e.g. `sources[0].interval` or `sinks.dd.site`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line in the file, where it could be found.
    pub line: Option<usize>,
    /// The file.
    pub file: Option<PathBuf>,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), line: None, file: None }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if self.key.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.key, self.message) }
    }
}

impl std::error::Error for ConfigError {}

/// Keys of `[[sources]]` entries that the runtime, not the connector, reads.
pub const COMMON_SOURCE_KEYS: &[&str] = &[
    "name",
    "connector",
    "sink",
    "interval",
    "tags",
    "ddsource",
    "service",
    "hostname",
    "emit_errors",
    "batch_max_records",
    "linger",
];

/// A `[[sources]]` entry with its runtime keys read and its connector keys set aside.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Index in the `sources` array, for error paths.
    pub index: usize,
    /// Unique name; checkpoints are keyed by it.
    pub name: String,
    /// Connector kind.
    pub connector: String,
    /// Name of a `[sinks.NAME]` table.
    pub sink: String,
    /// Time between run starts.
    pub interval: Duration,
    /// `key:value` tags.
    pub tags: Vec<String>,
    /// Log source, lowercase; defaults to the connector kind.
    pub ddsource: String,
    /// Log service, lowercase; defaults to `ddsource`.
    pub service: String,
    /// Optional hostname attribute.
    pub hostname: Option<String>,
    /// Send a `status:error` record when a run fails.
    pub emit_errors: bool,
    /// Batch size override.
    pub batch_max_records: Option<usize>,
    /// Batch linger override.
    pub linger: Option<Duration>,
    /// Everything else: the connector's own keys.
    pub settings: Table,
}

impl SourceConfig {
    /// The error path prefix of this source, e.g. `sources[0] (acme-demo)`.
    pub fn path(&self, key: &str) -> String {
        format!("sources[{}].{key}", self.index)
    }
}

/// A `[sinks.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Its name.
    pub name: String,
    /// Its `type`.
    pub kind: String,
    /// Its other keys.
    pub settings: Table,
}

/// A whole, interpolated and structurally checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where checkpoints live (with the file store) and the dead-letter files.
    pub state_dir: PathBuf,
    /// The checkpoint store: `[state]`.
    pub state: StateConfig,
    /// The `/metrics`, `/health` and `/ready` listener.
    pub api: ApiConfig,
    /// Sinks by name.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Sources in file order.
    pub sources: Vec<SourceConfig>,
    /// The file's text, to locate keys in later errors.
    text: String,
    /// The file.
    file: Option<PathBuf>,
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            file: Some(path.to_owned()),
            ..ConfigError::new("", format!("cannot read the configuration: {err}"))
        })?;
        let mut config = Self::parse(&text, &|name| std::env::var(name).ok()).map_err(|mut err| {
            err.file = Some(path.to_owned());
            err
        })?;
        config.file = Some(path.to_owned());
        if config.state_dir.is_relative() {
            // Relative to the working directory, like every other tool; said here so it is a decision.
            config.state_dir =
                std::env::current_dir().map(|cwd| cwd.join(&config.state_dir)).unwrap_or(config.state_dir);
        }
        Ok(config)
    }

    /// Parses configuration text, interpolating with `env`.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let locate = |err: ConfigError| locate(text, err);
        let mut root: Table = text.parse().map_err(|err: toml::de::Error| {
            let line = err.span().map(|span| text[..span.start].lines().count().max(1));
            ConfigError { line, ..ConfigError::new("", format!("invalid TOML: {}", err.message())) }
        })?;
        let mut unresolved = Vec::new();
        interpolate_table(&mut root, "", env, &mut unresolved);
        if unresolved.len() == 1 {
            return Err(locate(unresolved.remove(0)));
        } else if !unresolved.is_empty() {
            let mut message = format!("{} values cannot be interpolated:", unresolved.len());
            for err in unresolved.into_iter().map(locate) {
                let at = err.line.map(|line| format!(" (line {line})")).unwrap_or_default();
                message.push_str(&format!("\n  {}{at}: {}", err.key, err.message));
            }
            return Err(ConfigError::new("", message));
        }

        let state_dir = match root.remove("state_dir") {
            None => PathBuf::from("./logcrawl-state"),
            Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
            Some(other) => return Err(locate(expected("state_dir", "a directory path", &other))),
        };
        let state = root.remove("state").map(state::state_config).transpose().map_err(locate)?.unwrap_or_default();
        let api = root.remove("api").map(api::api_config).transpose().map_err(locate)?.unwrap_or_default();
        let sinks_value = root.remove("sinks").unwrap_or_else(|| Value::Table(Table::new()));
        let sources_value = root.remove("sources").unwrap_or_else(|| Value::Array(Vec::new()));
        if let Some(key) = root.keys().next() {
            return Err(locate(ConfigError::new(
                key.clone(),
                "unknown key (top-level keys are state_dir, [state], [api], [sinks.NAME] and [[sources]])",
            )));
        }

        let Value::Table(sink_tables) = sinks_value else {
            return Err(locate(expected("sinks", "tables [sinks.NAME]", &sinks_value)));
        };
        let mut sinks = BTreeMap::new();
        for (name, value) in sink_tables {
            let Value::Table(mut settings) = value else {
                return Err(locate(expected(&format!("sinks.{name}"), "a table", &value)));
            };
            let kind = match settings.remove("type") {
                Some(Value::String(kind)) => kind,
                Some(other) => return Err(locate(expected(&format!("sinks.{name}.type"), "a string", &other))),
                None => {
                    return Err(locate(ConfigError::new(
                        format!("sinks.{name}.type"),
                        format!("missing key (one of {})", crate::registry::SINK_NAMES.join(", ")),
                    )));
                }
            };
            sinks.insert(name.clone(), SinkConfig { name, kind, settings });
        }

        let Value::Array(entries) = sources_value else {
            return Err(locate(expected("sources", "an array of tables [[sources]]", &sources_value)));
        };
        let mut sources = Vec::new();
        // ASCII-lowercased name → (index, name) of the first source with it.
        let mut names: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let Value::Table(table) = entry else {
                return Err(locate(expected(&format!("sources[{index}]"), "a table", &entry)));
            };
            let source = source_config(index, table).map_err(locate)?;
            if !sinks.contains_key(&source.sink) {
                let known: Vec<&str> = sinks.keys().map(String::as_str).collect();
                return Err(locate(ConfigError::new(
                    source.path("sink"),
                    format!("no sink named {:?} (configured: {})", source.sink, list_or_none(&known)),
                )));
            }
            // Checkpoint directories are named after sources with ASCII letters kept as they are (the rest
            // is percent-encoded), so on a case-insensitive file system (macOS, Windows) names equal but for
            // ASCII case would share one: they are refused like equal names.
            match names.entry(source.name.to_ascii_lowercase()) {
                Entry::Vacant(slot) => {
                    slot.insert((index, source.name.clone()));
                }
                Entry::Occupied(taken) if taken.get().1 == source.name => {
                    return Err(locate(ConfigError::new(
                        source.path("name"),
                        format!(
                            "{:?} is used by another source; names key the checkpoints and must be unique",
                            source.name
                        ),
                    )));
                }
                Entry::Occupied(taken) => {
                    let (other, other_name) = taken.get();
                    let other_key = format!("sources[{other}].name");
                    let other_line = locate(ConfigError::new(other_key.clone(), "")).line;
                    let at = other_line.map(|line| format!(" (line {line})")).unwrap_or_default();
                    return Err(locate(ConfigError::new(
                        source.path("name"),
                        format!(
                            "{:?} differs from {other_name:?} of {other_key}{at} only in letter case; names key \
                             the checkpoints, and on a case-insensitive file system (macOS, Windows) the two \
                             would share them: rename one",
                            source.name
                        ),
                    )));
                }
            }
            sources.push(source);
        }
        Ok(Self { state_dir, state, api, sinks, sources, text: text.to_owned(), file: None })
    }

    /// Adds the file and line to an error about one of this configuration's keys.
    pub fn locate(&self, err: ConfigError) -> ConfigError {
        let mut err = locate(&self.text, err);
        err.file = err.file.or_else(|| self.file.clone());
        err
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Result<&SourceConfig, ConfigError> {
        self.sources.iter().find(|s| s.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            ConfigError::new("", format!("no source named {name:?} (configured: {})", list_or_none(&known)))
        })
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

fn expected(key: &str, what: &str, got: &Value) -> ConfigError {
    ConfigError::new(key, format!("expected {what}, found {}", got.type_str()))
}

fn source_config(index: usize, mut table: Table) -> Result<SourceConfig, ConfigError> {
    let path = |key: &str| format!("sources[{index}].{key}");
    let mut string = |key: &str, required: bool| -> Result<Option<String>, ConfigError> {
        match table.remove(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(Value::String(_)) => Err(ConfigError::new(path(key), "must not be empty")),
            Some(other) => Err(expected(&path(key), "a string", &other)),
            None if required => Err(ConfigError::new(path(key), "missing key")),
            None => Ok(None),
        }
    };
    let name = string("name", true)?.expect("required");
    let connector = string("connector", true)?.expect("required");
    let sink = string("sink", true)?.expect("required");
    let interval = string("interval", false)?
        .map(|s| parse_duration(&s).map_err(|m| ConfigError::new(path("interval"), m)))
        .transpose()?
        .unwrap_or(logcrawl_core::DEFAULT_INTERVAL);
    if interval.is_zero() {
        return Err(ConfigError::new(path("interval"), "must be longer than zero"));
    }
    let ddsource = string("ddsource", false)?.unwrap_or_else(|| connector.clone()).to_lowercase();
    let service = string("service", false)?.map_or_else(|| ddsource.clone(), |s| s.to_lowercase());
    let hostname = string("hostname", false)?;
    let linger = string("linger", false)?
        .map(|s| parse_duration(&s).map_err(|m| ConfigError::new(path("linger"), m)))
        .transpose()?;
    let tags = match table.remove("tags") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(tag) if tag.contains(':') => Ok(tag),
                Value::String(tag) => {
                    Err(ConfigError::new(format!("{}[{i}]", path("tags")), format!("{tag:?} is not key:value")))
                }
                other => Err(expected(&format!("{}[{i}]", path("tags")), "a string", &other)),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(expected(&path("tags"), "an array of \"key:value\" strings", &other)),
    };
    let emit_errors = match table.remove("emit_errors") {
        None => false,
        Some(Value::Boolean(b)) => b,
        Some(other) => return Err(expected(&path("emit_errors"), "true or false", &other)),
    };
    let batch_max_records = match table.remove("batch_max_records") {
        None => None,
        Some(Value::Integer(n)) if n >= 1 => Some(n as usize),
        Some(other) => return Err(expected(&path("batch_max_records"), "a positive integer", &other)),
    };
    Ok(SourceConfig {
        index,
        name,
        connector,
        sink,
        interval,
        tags,
        ddsource,
        service,
        hostname,
        emit_errors,
        batch_max_records,
        linger,
        settings: table,
    })
}

/// Finds the line of the key an error names: `sources[N].key`, a key of a source's own tables
/// (`sources[N].request.query.since`, written under `[sources.request]`, as a dotted key or inside an
/// inline table), `sinks.NAME.key` or a top-level key. Each `key = value` line and table header is read
/// as the full path it defines, and the line whose path is the longest prefix of the error's key wins:
/// the key itself when it is written, else the table or inline table that holds it.
fn locate(text: &str, mut err: ConfigError) -> ConfigError {
    if err.line.is_some() || err.key.is_empty() {
        return err;
    }
    let target = err.key.clone();
    let covers = |path: &str| {
        !path.is_empty()
            && (target == path
                || target.strip_prefix(path).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
    };
    let mut best: Option<(usize, usize)> = None;
    let mut offer = |path: &str, number: usize| {
        if covers(path) && best.is_none_or(|(len, _)| path.len() > len) {
            best = Some((path.len(), number + 1));
        }
    };
    let mut current = String::new();
    let mut source_index: i64 = -1;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("[[sources]]") {
            source_index += 1;
            current = format!("sources[{source_index}]");
            offer(&current, number);
        } else if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.split(']').next()) {
            let name = dotted(header);
            current = match name.strip_prefix("sources.") {
                Some(rest) if source_index >= 0 => format!("sources[{source_index}].{rest}"),
                _ => name,
            };
            offer(&current, number);
        } else if let Some((key, _)) = trimmed.split_once('=') {
            let key = dotted(key);
            let path = if current.is_empty() { key } else { format!("{current}.{key}") };
            offer(&path, number);
        }
    }
    err.line = best.map(|(_, line)| line);
    err
}

/// A TOML key as written (`a.b`, `"network.client.ip"`, `a . 'b'`) as a dotted path: quotes dropped,
/// the dots inside a quoted segment kept.
fn dotted(key: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in key.trim().chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {}
            (_, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "/var/lib/logcrawl"

[sinks.out]
type = "file"
path = "out.ndjson"

[[sources]]
name = "acme-demo"
connector = "acme"
sink = "out"
interval = "30s"
tags = ["env:prod", "team:sec"]
base_url = "http://127.0.0.1:8088"
api_key = "${ACME_KEY}"
"#;

    fn env(name: &str) -> Option<String> {
        (name == "ACME_KEY").then(|| "k-123".to_owned())
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, &env)
    }

    #[test]
    fn reads_common_keys_and_leaves_the_rest_to_the_connector() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/logcrawl"));
        let source = &config.sources[0];
        assert_eq!(source.name, "acme-demo");
        assert_eq!(source.interval, Duration::from_secs(30));
        assert_eq!(source.ddsource, "acme");
        assert_eq!(source.service, "acme");
        assert_eq!(source.tags, vec!["env:prod", "team:sec"]);
        assert_eq!(source.settings.get("api_key").and_then(Value::as_str), Some("k-123"));
        assert_eq!(source.settings.keys().collect::<Vec<_>>(), vec!["api_key", "base_url"]);
        assert_eq!(config.sinks["out"].kind, "file");
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let bad_interval = GOOD.replace("\"30s\"", "\"thirty\"");
        let err = parse(&bad_interval).unwrap_err();
        assert_eq!(err.key, "sources[0].interval");
        assert_eq!(err.line, Some(12));
        assert!(err.to_string().contains("thirty"), "{err}");

        let missing_sink = GOOD.replace("sink = \"out\"", "sink = \"nowhere\"");
        let err = parse(&missing_sink).unwrap_err();
        assert_eq!(err.key, "sources[0].sink");
        assert!(err.message.contains("out"), "{err}");

        let no_name = GOOD.replace("name = \"acme-demo\"\n", "");
        assert_eq!(parse(&no_name).unwrap_err().key, "sources[0].name");

        let unknown_top = format!("stat_dir = \"x\"\n{GOOD}");
        let err = parse(&unknown_top).unwrap_err();
        assert_eq!((err.key.as_str(), err.line), ("stat_dir", Some(1)));

        let no_type = GOOD.replace("type = \"file\"\n", "");
        assert_eq!(parse(&no_type).unwrap_err().key, "sinks.out.type");

        let bad_tag = GOOD.replace("\"team:sec\"", "\"team\"");
        assert_eq!(parse(&bad_tag).unwrap_err().key, "sources[0].tags[1]");
    }

    #[test]
    fn keys_of_a_sources_own_tables_are_located_on_their_line() {
        let text = "[sinks.out]\ntype = \"file\"\npath = \"o\"\n\n[[sources]]\nname = \"a\"\n\n[[sources]]\nname = \"b\"\n\
                    [sources.request]\npath = \"/x\"\nquery = { since = \"s\" }\n[sources.records]\npath = \"$[*]\"\n\
                    fields.\"network.client.ip\" = \"$.ip\"\n[sources.records.fields]\nmessage = \"$.m\"\n";
        let at = |key: &str| locate(text, ConfigError::new(key.to_owned(), "x")).line;
        assert_eq!(at("sources[1].request.path"), Some(11));
        assert_eq!(at("sources[1].request.query.since"), Some(12), "inside an inline table: its line");
        assert_eq!(at("sources[1].records.fields.network.client.ip"), Some(15), "a quoted dotted key");
        assert_eq!(at("sources[1].records.fields.message"), Some(17));
        assert_eq!(at("sources[1].records.id"), Some(13), "a key not written: its table's header");
        assert_eq!(at("sources[1].auth.type"), Some(8), "a table not written: the source");
        assert_eq!(at("sources[0].name"), Some(6));
        assert_eq!(at("sinks.out.path"), Some(3));
    }

    #[test]
    fn unset_environment_variables_are_errors_naming_the_key() {
        let err = Config::parse(GOOD, &|_| None).unwrap_err();
        assert_eq!(err.key, "sources[0].api_key");
        assert!(err.message.contains("ACME_KEY"), "{err}");
    }

    #[test]
    fn every_missing_secret_is_listed_at_once_without_a_value() {
        let text = GOOD.replace("interval = \"30s\"", "interval = \"30s\"\npassword = \"${file:/nonexistent/pw}\"")
            + "\n[sinks.dd]\ntype = \"datadog\"\napi_key = \"${DD_API_KEY}\"\n";
        let err = Config::parse(&text, &|name| (name == "UNRELATED").then(|| "s3cr3t".to_owned())).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("3 values cannot be interpolated:"), "{message}");
        assert!(
            message.contains("sources[0].api_key (line 16): environment variable ACME_KEY is not set"),
            "{message}"
        );
        assert!(
            message.contains("sources[0].password (line 13): cannot read the secret file /nonexistent/pw"),
            "{message}"
        );
        assert!(
            message.contains("sinks.dd.api_key (line 20): environment variable DD_API_KEY is not set"),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"));
    }

    #[test]
    fn duplicate_source_names_are_refused() {
        let twice = format!("{GOOD}\n[[sources]]\nname = \"acme-demo\"\nconnector = \"acme\"\nsink = \"out\"\n");
        let err = parse(&twice).unwrap_err();
        assert_eq!(err.key, "sources[1].name");
        assert_eq!(err.line, Some(18));
    }

    #[test]
    fn source_names_differing_only_in_case_are_refused() {
        let twice = format!("{GOOD}\n[[sources]]\nname = \"ACME-Demo\"\nconnector = \"acme\"\nsink = \"out\"\n");
        let err = parse(&twice).unwrap_err();
        assert_eq!((err.key.as_str(), err.line), ("sources[1].name", Some(18)));
        let text = err.to_string();
        assert!(text.contains("\"ACME-Demo\"") && text.contains("\"acme-demo\""), "{text}");
        assert!(text.contains("sources[0].name (line 9)") && text.contains("case-insensitive"), "{text}");
        // Case is not the only difference: accepted.
        parse(&twice.replace("ACME-Demo", "ACME-Demo-2")).unwrap();
    }

    #[test]
    fn invalid_toml_reports_the_line() {
        let err = parse("state_dir = \n[sinks.out]\n").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.starts_with("invalid TOML"), "{err}");
    }
}
