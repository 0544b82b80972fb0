//! # logcrawl (the binary)
//!
//! Runs connectors from a TOML configuration and ships their records to sinks with at-least-once
//! delivery. The library half exists so the end-to-end tests can drive the same code in-process.
//!
//! | command | what it does |
//! |---|---|
//! | `logcrawl demo [--events N] [--out FILE] [--state-dir DIR]` | ACME simulator → NDJSON, no account needed |
//! | `logcrawl run -c FILE [--once]` | the daemon; `--once` runs each source until caught up, then exits |
//! | `logcrawl check -c FILE SOURCE` | one run, records as NDJSON on stdout, commits nothing |
//! | `logcrawl validate -c FILE` | checks the configuration and builds every component, sends nothing |
//! | `logcrawl state -c FILE` | lists the stored checkpoints and the dead letters each sink set aside |
//! | `logcrawl state -c FILE reset SOURCE [STREAM] [--yes]` | deletes checkpoints: those streams start over from their initial lookback |
//! | `logcrawl state -c FILE set SOURCE STREAM JSON [--yes]` | stores a cursor by hand |
//! | `logcrawl state -c FILE --leases` | PostgreSQL state: every stream's holder, epoch and lease expiry, and the workers |
//! | `logcrawl state -c FILE export [--out F]` / `import F [--yes]` | checkpoints as JSON lines, to move them between stores |
//! | `logcrawl connectors` | lists the connectors and sinks compiled in |
//!
//! ## Cargo features
//!
//! | feature | adds |
//! |---|---|
//! | `acme` | the ACME demo connector |
//! | `okta` | the Okta System Log connector |
//! | `entra` | the Microsoft Entra ID connector (Graph audit logs) |
//! | `file` | the NDJSON file/stdout sink |
//! | `datadog` | the Datadog Logs intake sink |
//! | `lts` | the Huawei Cloud LTS sink |
//! | `postgres` | `[state] type = "postgres"`: checkpoints and stream leases in PostgreSQL, shared by several workers (on by default) |
//! | `all-connectors`, `all-sinks` | every connector, every sink (both on by default) |

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod progress;
pub mod registry;
pub mod store;
