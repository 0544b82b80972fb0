//! logcrawl-okta (in progress).
