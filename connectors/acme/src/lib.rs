//! logcrawl-acme (in progress).
