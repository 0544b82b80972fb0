//! Request bodies: built entry by entry straight into the compressor, opened again only to split one.
//!
//! A batch of 1000 Okta events is ~2 MB of JSON and ~200 kB of gzip. The JSON is never held whole: each
//! entry is serialized into a small scratch buffer (where it can still be cut to the size limit) and then
//! fed to the gzip stream of its request ([`Builder`]). A [`Packed`] request keeps the wire body and
//! where each entry lies in the uncompressed JSON; in the rare case that the intake answers 413 or 400,
//! [`Packed::open`] decompresses it into a [`Payload`] whose halves are sent instead.

use std::io::{Read as _, Write as _};
use std::ops::Range;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// One request's JSON array, uncompressed, and where each entry lies in it.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    json: Bytes,
    entries: Vec<Range<usize>>,
}

impl Payload {
    /// Entries in the payload.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The uncompressed body: `[e0,e1,…]`.
    pub(crate) fn json(&self) -> &Bytes {
        &self.json
    }

    /// Where each entry lies in [`json`](Self::json).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[Range<usize>] {
        &self.entries
    }

    /// The entries `range` as a payload of their own (copied; entries are not serialized again).
    pub(crate) fn slice(&self, range: Range<usize>) -> Payload {
        let parts = &self.entries[range];
        let size: usize = parts.iter().map(|r| r.len() + 1).sum::<usize>() + 1;
        let mut builder = Builder::new(None, size);
        for part in parts {
            builder.push(&self.json[part.clone()]).expect("writing to memory cannot fail");
        }
        let packed = builder.finish().expect("writing to memory cannot fail");
        Payload { json: packed.body, entries: packed.entries }
    }

    /// The two halves (the first one shorter by at most one).
    pub(crate) fn halves(&self) -> (Payload, Payload) {
        let mid = self.len() / 2;
        (self.slice(0..mid), self.slice(mid..self.len()))
    }

    /// Entry `index` whole, as it was sent (for the dead-letter file); empty when there is no such entry.
    pub(crate) fn entry(&self, index: usize) -> &[u8] {
        self.entries.get(index).map_or(&[], |range| &self.json[range.clone()])
    }

    /// The start of entry `index`, for log lines about a refused entry.
    pub(crate) fn excerpt(&self, index: usize) -> String {
        const MAX: usize = 300;
        let entry = &self.json[self.entries[index].clone()];
        let mut text = String::from_utf8_lossy(&entry[..entry.len().min(MAX)]).into_owned();
        if entry.len() > MAX {
            text.push('…');
        }
        text
    }

    /// The payload as a request body (gzip at `level`, or as it is).
    pub(crate) fn pack(&self, level: Option<Compression>) -> std::io::Result<Packed> {
        if level.is_none() {
            let entries = self.entries.clone();
            return Ok(Packed { body: self.json.clone(), gzip: false, json_len: self.json.len(), entries });
        }
        // The same builder as a fresh request: the entries are fed to the compressor as they were written.
        let mut builder = Builder::new(level, self.json.len());
        for entry in &self.entries {
            builder.push(&self.json[entry.clone()])?;
        }
        let packed = builder.finish()?;
        debug_assert_eq!((packed.json_len, &packed.entries), (self.json.len(), &self.entries));
        Ok(packed)
    }
}

/// A request body as it goes on the wire, and what is needed to open it again.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    body: Bytes,
    gzip: bool,
    json_len: usize,
    entries: Vec<Range<usize>>,
}

impl Packed {
    /// Entries in the request.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the uncompressed JSON (what the intake's size limits count).
    pub(crate) fn json_len(&self) -> usize {
        self.json_len
    }

    /// The body to send (gzip or JSON, as configured).
    pub(crate) fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether [`body`](Self::body) is gzip.
    pub(crate) fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The payload again, uncompressed, to split it.
    pub(crate) fn open(&self) -> std::io::Result<Payload> {
        if !self.gzip {
            return Ok(Payload { json: self.body.clone(), entries: self.entries.clone() });
        }
        let mut json = Vec::with_capacity(self.json_len);
        flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut json)?;
        if json.len() != self.json_len {
            return Err(std::io::Error::other(format!(
                "a request body decompressed to {} bytes, not the {} it was made of",
                json.len(),
                self.json_len
            )));
        }
        Ok(Payload { json: Bytes::from(json), entries: self.entries.clone() })
    }
}

/// Where a request's bytes go while it is built.
enum Sink {
    Plain(Vec<u8>),
    Gzip(Box<GzEncoder<Vec<u8>>>),
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(json) => {
                json.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Gzip(encoder) => encoder.write_all(bytes),
        }
    }
}

/// Builds one request's JSON array entry by entry, compressing as it goes.
pub(crate) struct Builder {
    sink: Sink,
    json_len: usize,
    entries: Vec<Range<usize>>,
}

impl Builder {
    /// An empty array; `json_capacity` is the expected size of the JSON (gzip reserves an eighth of it).
    pub(crate) fn new(level: Option<Compression>, json_capacity: usize) -> Self {
        let sink = match level {
            None => Sink::Plain(Vec::with_capacity(json_capacity)),
            Some(level) => Sink::Gzip(Box::new(GzEncoder::new(Vec::with_capacity(json_capacity / 8 + 64), level))),
        };
        // The `[` counts from the start; it is written with the first entry or by `finish`.
        Self { sink, json_len: 1, entries: Vec::new() }
    }

    /// Entries so far.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of JSON the array would have with `entry_len` more bytes of entry (and the closing `]`).
    pub(crate) fn json_len_with(&self, entry_len: usize) -> usize {
        self.json_len + usize::from(!self.entries.is_empty()) + entry_len + 1
    }

    /// Appends one serialized entry.
    pub(crate) fn push(&mut self, entry: &[u8]) -> std::io::Result<()> {
        if self.entries.is_empty() {
            self.sink.write(b"[")?;
        } else {
            self.sink.write(b",")?;
            self.json_len += 1;
        }
        self.sink.write(entry)?;
        let start = self.json_len;
        self.json_len += entry.len();
        self.entries.push(start..self.json_len);
        Ok(())
    }

    /// Closes the array.
    pub(crate) fn finish(mut self) -> std::io::Result<Packed> {
        self.sink.write(if self.entries.is_empty() { b"[]" } else { b"]" })?;
        self.json_len += 1;
        let (body, gzip) = match self.sink {
            Sink::Plain(json) => (Bytes::from(json), false),
            Sink::Gzip(encoder) => (Bytes::from(encoder.finish()?), true),
        };
        Ok(Packed { body, gzip, json_len: self.json_len, entries: self.entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(level: Option<Compression>, entries: &[&str]) -> Packed {
        let mut builder = Builder::new(level, 64);
        for entry in entries {
            builder.push(entry.as_bytes()).unwrap();
        }
        builder.finish().unwrap()
    }

    #[test]
    fn gzip_and_plain_bodies_open_to_the_same_payload() {
        let entries = [r#"{"message":"a"}"#, r#"{"message":"b","n":1}"#, r#"{"m":"é"}"#];
        let plain = build(None, &entries);
        let gzip = build(Some(Compression::new(6)), &entries);
        assert!(!plain.is_gzip() && gzip.is_gzip());
        assert_eq!(plain.body().as_ref(), format!("[{}]", entries.join(",")).as_bytes());
        assert_eq!((plain.len(), plain.json_len()), (3, plain.body().len()));
        assert_eq!((gzip.len(), gzip.json_len()), (3, plain.body().len()));
        let (a, b) = (plain.open().unwrap(), gzip.open().unwrap());
        assert_eq!(a.json(), b.json());
        assert_eq!(a.entries(), b.entries());
        for (range, entry) in a.entries().iter().zip(entries) {
            assert_eq!(&a.json()[range.clone()], entry.as_bytes());
        }
        assert_eq!(build(None, &[]).body().as_ref(), b"[]");
        assert_eq!(build(Some(Compression::new(1)), &[]).open().unwrap().json().as_ref(), b"[]");
    }

    #[test]
    fn halves_and_packing_keep_entries() {
        let payload = build(None, &["{\"m\":0}", "{\"m\":1}", "{\"m\":2}", "{\"m\":3}", "{\"m\":4}"]).open().unwrap();
        let (left, right) = payload.halves();
        assert_eq!((left.len(), right.len()), (2, 3));
        assert_eq!(right.json().as_ref(), b"[{\"m\":2},{\"m\":3},{\"m\":4}]");
        assert_eq!(&right.json()[right.entries()[0].clone()], b"{\"m\":2}");
        let packed = right.pack(Some(Compression::new(6))).unwrap();
        assert_eq!(packed.open().unwrap().json(), right.json());
        assert_eq!(right.pack(None).unwrap().body(), right.json());
        assert!(payload.excerpt(0).contains("\"m\":0"));
        assert_eq!(build(None, &[&"x".repeat(400)]).open().unwrap().excerpt(0).chars().count(), 301);
    }

    #[test]
    fn a_body_that_does_not_open_to_its_size_is_an_error() {
        let mut packed = build(Some(Compression::new(6)), &["{}"]);
        packed.json_len += 1;
        assert!(packed.open().unwrap_err().to_string().contains("to 4 bytes, not the 5"));
        packed.body = Bytes::from_static(b"not gzip");
        assert!(packed.open().is_err());
    }
}
