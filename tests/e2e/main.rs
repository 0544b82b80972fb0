//! logcrawl end-to-end tests: real connectors, real sinks, simulators and wiremock intakes, wired from
//! TOML configuration exactly as the `logcrawl` binary wires them. One binary, one module per flow.

mod acme_to_datadog;
mod acme_to_lts;
mod auth0_to_file;
mod duo_to_file;
mod entra_to_file;
mod examples;
mod github_to_file;
mod google_workspace_to_file;
mod http_examples;
mod office365_to_file;
mod okta_to_file;
mod onepassword_to_file;
mod slack_to_file;
mod support;
