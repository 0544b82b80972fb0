//! # logcrawl-sim
//!
//! Simulated vendor APIs and log intakes served on loopback, for `logcrawl demo`, end-to-end tests and
//! benchmarks. Every simulator is deterministic (same seed, same events) and fast enough never to be the
//! bottleneck of what it measures.

#[cfg(feature = "acme")]
pub mod acme;
#[cfg(feature = "auth0")]
pub mod auth0;
#[cfg(feature = "datadog")]
pub mod datadog;
#[cfg(feature = "duo")]
pub mod duo;
#[cfg(feature = "entra")]
pub mod entra;
#[cfg(feature = "github")]
pub mod github;
#[cfg(feature = "google_workspace")]
pub mod google_workspace;
#[cfg(feature = "office365")]
pub mod office365;
#[cfg(feature = "okta")]
pub mod okta;
#[cfg(feature = "onepassword")]
pub mod onepassword;
#[cfg(feature = "slack")]
pub mod slack;
pub mod util;
