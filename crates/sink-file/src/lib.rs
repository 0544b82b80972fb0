//! logcrawl-sink-file (in progress).
