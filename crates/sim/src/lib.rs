//! logcrawl-sim (in progress).
