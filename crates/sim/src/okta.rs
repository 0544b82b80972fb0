//! Simulated Okta System Log API (being written).
