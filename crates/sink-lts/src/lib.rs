//! # logcrawl-sink-lts
//!
//! (docs written below)

mod config;
mod encode;
mod iam;
pub mod signer;
mod sink;

pub use config::{
    AuthConfig, Compression, ConfigError, DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_RECORDS, LtsConfig, MAX_BATCH_MAX_BYTES,
    MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN, MAX_LABELS, Mode, RESERVED_LABELS,
};
pub use encode::{MAX_LINE_BYTES, TRUNCATION_MARKER};
pub use sink::{CONTENT_TYPE_JSON, LtsSink, SUCCESS_CODE, TIME_WINDOW};
