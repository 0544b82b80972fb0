//! # logcrawl-connector
//!
//! The connector SDK: what a new vendor API needs beyond its own wire format, written once so that every
//! connector inherits the reliability rules instead of copying them.
//!
//! * [`cursor`]: typed, versioned cursors ([`TypedCursor`]). The runtime stores them as JSON and hands
//!   them back typed; an unreadable stored cursor is a checkpoint error, never a silent restart.
//! * [`paged`]: [`PagedStream`] over a [`PagedApi`]. The connector says how to make the first request,
//!   how to read a page and where the next one is, and what each event's record and cursor are; the
//!   helper owns the page loop: prefetch, the same-origin guard on every continuation, the empty-page
//!   guard, the page cap, exact mid-page cursors, boundary dedupe, recovery from a refused cursor,
//!   cursor encoding. For APIs that answer newest first, [`WindowedStream`] over a [`WindowedApi`] walks
//!   time windows oldest to newest and commits at each window's end, re-reading an overlap before each
//!   window for the events indexed late, dropped by id when already delivered.
//! * [`single`]: [`SingleStream`], the whole [`logcrawl_core::Connector`] of an account with one stream.
//! * [`attributes`]: Datadog's standard attributes (`message`, `timestamp`, `status`, `usr.*`, `network.client.ip`, `http.useragent`,
//!   `evt.*`) lifted from a vendor's event into a record, merged with the event's own objects.
//! * [`members`]: [`pick`](members::pick), the one pass over a raw event's members that finds what a
//!   mapping reads.
//! * [`origin`]: the `base_url` every connector takes and a tenant's `domain`, checked alike.
//! * [`lookback`]: where a first run starts (`initial_lookback`, within the vendor's retention and the
//!   sink's max age).
//! * [`streams`]: [`chosen`](streams::chosen), the streams a `streams = [...]` key picks of a connector
//!   with several.
//!
//! A connector built on it is its configuration (its own keys plus the shared
//! [`HttpSettings`](logcrawl_core::HttpSettings)), its [`PagedApi`], and a `KIND` whose factory returns
//! `SingleStream::new(kind, PagedStream::new(api, client))`: see the ACME connector, the tutorial's model.

pub mod attributes;
pub mod cursor;
pub mod lookback;
pub mod members;
pub mod origin;
pub mod paged;
pub mod single;
pub mod streams;

pub use attributes::{OwnGroups, Standard};
pub use cursor::TypedCursor;
pub use paged::{
    DEFAULT_MAX_OVERLAP_IDS, Key, Keyed, Next, Overlap, Page, PageLimits, PagedApi, PagedStream, Partial, Position,
    Prefetch, Resume, Window, WindowCursor, WindowPlan, WindowedApi, WindowedStream, advised, array_page, malformed,
    next_link,
};
pub use single::SingleStream;
