//! Where each top-level member of an event lies in its text, found while the page is split.
//!
//! Splitting a page into events reads every byte of it (the `grammar` module, which also checks it is
//! JSON). If that same pass also notes where each event's members start and end, nothing has to read the
//! event again: the mapping finds the few members it lifts by comparing keys ([`RawEvent::member_values`]),
//! and a sink writes the event by copying the text of the members it keeps. Without this index an event
//! is scanned three times (split, mapping, write), which is most of the CPU a raw event costs.
//!
//! The index of a page is one shared allocation released with the page's last event: 6 bytes a member
//! when every event of the page is under 64 KiB (16-bit offsets), 12 otherwise. An event cut some other
//! way (from inside an envelope, say) is indexed by its first complete walk instead
//! (`RawEvent::member_values`): the mapping's walk reads it anyway, and the sink then copies its members
//! without a second one. Offsets are relative to the event's own text. A split page's spans come from
//! the scanner; a walked event's value spans come from `serde_json` (a value borrowed as a
//! [`RawValue`](serde_json::value::RawValue) is a slice of the input) and its key spans are found between
//! them by skipping JSON whitespace and the punctuation `serde_json` has already validated, so keys with
//! escapes need no special case. Anything unexpected, an event too large for 32-bit offsets or one with
//! more than 65 535 top-level members leaves the events unindexed: they are then read by walking, as
//! before.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::RawEvent;
use super::grammar::{self, is_ws, skip_ws};

/// One member of an event: its key's text (between the quotes, escapes as written) ends where the value
/// starts, minus the `":` and any whitespace around the colon, so only three offsets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MemberSpan {
    /// The key's first byte after its opening quote.
    pub(super) key: u32,
    /// The value's first byte.
    pub(super) value: u32,
    /// One past the value's last byte.
    pub(super) end: u32,
}

/// The spans of a page's members, as narrow as its events allow.
#[derive(Clone)]
pub(super) enum Table {
    /// Every offset fits 16 bits: `[key, value, end]`.
    Narrow(Arc<[[u16; 3]]>),
    /// Some event is 64 KiB or more.
    Wide(Arc<[MemberSpan]>),
}

impl Table {
    fn of(spans: Vec<MemberSpan>) -> Self {
        // The narrow table is built in its shared allocation directly (an exact-size iterator, one copy).
        let fits =
            |span: &MemberSpan| [span.key, span.value, span.end].iter().all(|&offset| offset <= u32::from(u16::MAX));
        if spans.iter().all(fits) {
            let narrow = |span: &MemberSpan| [span.key, span.value, span.end].map(|offset| offset as u16);
            Self::Narrow(spans.iter().map(narrow).collect())
        } else {
            Self::Wide(spans.into())
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Narrow(spans) => spans.len(),
            Self::Wide(spans) => spans.len(),
        }
    }
}

/// An event's share of its page's index.
#[derive(Clone)]
pub(super) struct Index {
    pub(super) table: Table,
    first: u32,
    /// 16 bits, with the two flags beside it, keep the index at 32 bytes and a `LogRecord` at 128: a
    /// record is moved several times on its way to a sink, and up to 128 bytes a move is inlined rather
    /// than a call to `memcpy`.
    len: u16,
    /// Known to have no key with an escape (the scanner saw every key); when false, a key may have one.
    pub(super) plain_keys: bool,
    /// Known to be compact: `{"key":value,"key":value}` with no whitespace between tokens, so that the
    /// members' text between the braces is what a writer would make of them one by one.
    pub(super) compact: bool,
}

impl Index {
    /// An event's own index.
    pub(super) fn own(spans: Vec<MemberSpan>) -> Option<Self> {
        let len = u16::try_from(spans.len()).ok()?;
        Some(Self { table: Table::of(spans), first: 0, len, plain_keys: false, compact: false })
    }

    /// The event's members, in the order they appear.
    pub(super) fn spans(&self) -> impl Iterator<Item = MemberSpan> + '_ {
        let first = (self.first as usize).min(self.table.len());
        let range = first..(first + self.len as usize).min(self.table.len());
        let (narrow, wide) = match &self.table {
            Table::Narrow(spans) => (&spans[range], &[][..]),
            Table::Wide(spans) => (&[][..], &spans[range]),
        };
        let widen = |[key, value, end]: &[u16; 3]| MemberSpan {
            key: (*key).into(),
            value: (*value).into(),
            end: (*end).into(),
        };
        narrow.iter().map(widen).chain(wide.iter().copied())
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index").field("members", &self.len).finish()
    }
}

/// The end of the key whose value starts at `value`: back over whitespace, the colon, whitespace, to the
/// closing quote.
pub(super) fn key_end(text: &[u8], value: usize) -> Option<usize> {
    let before = |at: usize| at.checked_sub(1).and_then(|at| text.get(at).map(|byte| (at, *byte)));
    let back_over_ws = |mut at: usize| {
        while let Some((previous, _)) = before(at).filter(|(_, byte)| is_ws(*byte)) {
            at = previous;
        }
        at
    };
    let (colon, _) = before(back_over_ws(value)).filter(|(_, byte)| *byte == b':')?;
    before(back_over_ws(colon)).filter(|(_, byte)| *byte == b'"').map(|(quote, _)| quote)
}

/// Appends to `spans` the members of the object `object` (starting with its `{`) whose values lie at
/// `values` (offsets into `object`, in order, as `serde_json` found them), and returns one past its
/// closing brace. `None`, with `spans` as it was, when the text between the values is not what a
/// well-formed object has there.
pub(super) fn key_spans(object: &[u8], values: &[(usize, usize)], spans: &mut Vec<MemberSpan>) -> Option<usize> {
    let first_span = spans.len();
    let found = (|| {
        if object.first() != Some(&b'{') {
            return None;
        }
        let mut after = 1;
        for &(value, end) in values {
            let mut at = skip_ws(object, after);
            if object.get(at) == Some(&b',') {
                at = skip_ws(object, at + 1);
            }
            if object.get(at) != Some(&b'"') || end > object.len() || value > end || key_end(object, value)? <= at {
                return None;
            }
            let offset = |n: usize| u32::try_from(n).ok();
            spans.push(MemberSpan { key: offset(at + 1)?, value: offset(value)?, end: offset(end)? });
            after = end;
        }
        let close = skip_ws(object, after);
        (object.get(close) == Some(&b'}')).then_some(close + 1)
    })();
    if found.is_none() {
        spans.truncate(first_span);
    }
    found
}

/// Splits `page`, a JSON array of objects, into indexed events in one pass. `None` when the page is not
/// that (not an array, an element that is not an object, malformed JSON, trailing text): the caller then
/// splits it the plain way, whose errors say what is wrong and where.
pub(super) fn split_array(page: &Bytes) -> Option<Vec<RawEvent>> {
    let page = ByteString::try_from(page.clone()).ok()?;
    let text: &str = &page;
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut events = Vec::new();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_ws(bytes, at + 1);
    if bytes.get(at) == Some(&b']') {
        return (skip_ws(bytes, at + 1) == bytes.len()).then(Vec::new);
    }
    loop {
        let first = spans.len();
        let start = at;
        let offset = |n: usize| u32::try_from(n - start).ok();
        let (mut plain_keys, mut compact) = (true, true);
        // Where the next key starts in compact text: after `{"`, then after each `,"`.
        let mut next_key = start + 2;
        let end = grammar::object_end(bytes, start, grammar::MAX_DEPTH - 1, |member| {
            plain_keys &= !member.escaped_key;
            compact &= member.key == next_key && member.value == member.key_end + 1;
            next_key = member.end + 2;
            spans.push(MemberSpan { key: offset(member.key)?, value: offset(member.value)?, end: offset(member.end)? });
            Some(())
        })?;
        // The closing brace right after the last value (`next_key` is two past it), or `{}`.
        compact &= end == next_key - 1 || (end == start + 2 && spans.len() == first);
        events.push(Cut { start, end, first, members: spans.len() - first, plain_keys, compact });
        at = skip_ws(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_ws(bytes, at + 1),
            Some(b']') if skip_ws(bytes, at + 1) == bytes.len() => break,
            _ => return None,
        }
    }
    let table = Table::of(spans);
    let mut indexed = Vec::with_capacity(events.len());
    for cut in &events {
        let event = RawEvent::plain(page.slice_ref(text.get(cut.start..cut.end)?));
        // An event with line breaks was put on one line, which moved its members: it goes unindexed.
        let moved = event.as_str().len() != cut.end - cut.start;
        indexed.push(if moved { event } else { with_index(event, &table, cut) });
    }
    Some(indexed)
}

/// Where an event was cut from its page, and where its members lie in the page's table.
struct Cut {
    start: usize,
    end: usize,
    first: usize,
    members: usize,
    plain_keys: bool,
    compact: bool,
}

fn with_index(mut event: RawEvent, table: &Table, cut: &Cut) -> RawEvent {
    if let (Ok(first), Ok(len)) = (u32::try_from(cut.first), u16::try_from(cut.members)) {
        event.index = std::sync::OnceLock::from(Index {
            table: table.clone(),
            first,
            len,
            plain_keys: cut.plain_keys,
            compact: cut.compact,
        });
    }
    event
}
