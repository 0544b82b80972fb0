//! Holder crate for logcrawl's end-to-end test binary (`tests/e2e`); it has no code of its own.
