//! logcrawl-sink-lts (in progress).
