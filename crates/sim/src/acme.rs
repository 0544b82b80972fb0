//! Simulated ACME logs API (being written).
