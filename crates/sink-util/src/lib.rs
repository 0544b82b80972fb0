//! # logcrawl-sink-util
//!
//! The machinery the sinks that post batches over HTTP share, kept out of `logcrawl-http` so the client
//! stays transport only (it knows requests, responses, rate budgets and retry timing, not batches or
//! sinks) and out of each sink so that the hard part is written once.
//!
//! Today that is the delivery driver ([`Driver::deliver`]): a sink classifies each answer into a
//! [`Verdict`] and knows how to cut a request in two ([`Courier`]); the driver retries (counting through
//! the same [`logcrawl_http::RetryState`] as the client's own request loop), splits on 413, bisects on
//! 400, sets refused records aside in the sink's dead-letter file only while the backend accepts others
//! ([`Acceptance`]), and accounts for every entry exactly once ([`Delivered`]).
//!
//! With it, [`DeliveryBounds`]: the shared delivery settings (`batch_max_records`, `batch_max_bytes`,
//! `linger`, `max_in_flight`: [`logcrawl_core::DeliverySettings`]) checked against what the backend
//! accepts, so every sink names an out-of-range key the same way.

mod delivery;
mod settings;

pub use delivery::{Acceptance, Courier, Delivered, Driver, Refusals, Verdict};
pub use logcrawl_http::LongServerWait;
pub use settings::DeliveryBounds;
