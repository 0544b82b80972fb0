//! `[api]`: the opt-in HTTP listener for `/metrics`, `/health` and `/ready`.
//!
//! ```toml
//! [api]
//! listen = "127.0.0.1:9598"   # no [api], or no listen: nothing listens
//! failure_budget = 3          # failed runs in a row a stream may have before /ready says 503
//! ```
//!
//! Off by default: a crawler holding vendor credentials opens no port unless asked. The address is
//! taken as written (bind `0.0.0.0` deliberately, e.g. in a container); the endpoints reveal counts,
//! source names and redacted error messages, never a secret.

use std::net::SocketAddr;

use toml::{Table, Value};

use super::{ConfigError, expected};

/// The listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where `/metrics`, `/health` and `/ready` are served; `None`: not at all.
    pub listen: Option<SocketAddr>,
    /// Failed runs in a row a stream may have and still count as ready (it is retried every interval):
    /// the next failure makes `/ready` answer 503. A fatal failure (credentials refused) counts at once.
    pub failure_budget: u32,
}

/// The default [`ApiConfig::failure_budget`]: a vendor's short outage (a minute at the default interval)
/// is not an alert; three failed runs in a row are.
pub const DEFAULT_FAILURE_BUDGET: u32 = 3;

impl Default for ApiConfig {
    fn default() -> Self {
        Self { listen: None, failure_budget: DEFAULT_FAILURE_BUDGET }
    }
}

/// Reads the `[api]` table.
pub(super) fn api_config(value: Value) -> Result<ApiConfig, ConfigError> {
    let Value::Table(mut table): Value = value else {
        return Err(expected("api", "a table [api]", &value));
    };
    let listen = match table.remove("listen") {
        None => None,
        Some(Value::String(text)) => Some(text.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError::new("api.listen", format!("{text:?} is not an address with a port, e.g. \"127.0.0.1:9598\""))
        })?),
        Some(other) => return Err(expected("api.listen", "an address such as \"127.0.0.1:9598\"", &other)),
    };
    let failure_budget = match table.remove("failure_budget") {
        None => DEFAULT_FAILURE_BUDGET,
        Some(Value::Integer(n)) if (0..=i64::from(u32::MAX)).contains(&n) => n as u32,
        Some(other) => return Err(expected("api.failure_budget", "a number of runs, 0 or more", &other)),
    };
    refuse_unknown(&table)?;
    Ok(ApiConfig { listen, failure_budget })
}

fn refuse_unknown(table: &Table) -> Result<(), ConfigError> {
    match table.keys().next() {
        Some(key) => Err(ConfigError::new(format!("api.{key}"), "unknown key (known: listen, failure_budget)")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ApiConfig, ConfigError> {
        let table: Table = text.parse().unwrap();
        api_config(Value::Table(table))
    }

    #[test]
    fn listen_and_budget_are_read_and_checked() {
        let api = parse("listen = \"127.0.0.1:9598\"\nfailure_budget = 0").unwrap();
        assert_eq!(api.listen, Some("127.0.0.1:9598".parse().unwrap()));
        assert_eq!(api.failure_budget, 0);
        assert_eq!(parse("").unwrap(), ApiConfig::default());
        assert_eq!(parse("listen = \"localhost\"").unwrap_err().key, "api.listen");
        assert_eq!(parse("listen = 9598").unwrap_err().key, "api.listen");
        assert_eq!(parse("failure_budget = -1").unwrap_err().key, "api.failure_budget");
        assert_eq!(parse("port = 1").unwrap_err().key, "api.port");
    }
}
