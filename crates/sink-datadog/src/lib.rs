//! logcrawl-sink-datadog (in progress).
