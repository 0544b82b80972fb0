//! Request bodies: built entry by entry straight into the compressor, opened again only to split one.
//!
//! A batch of 1000 Okta events is ~2 MB of JSON, ~200 kB of gzip and ~60 kB of zstd. The JSON is never
//! held whole: each entry is serialized into a small scratch buffer (where it can still be cut to the size
//! limit) and then fed to the compressor of its request ([`Builder`]). A [`Packed`] request keeps the wire
//! body and where each entry lies in the uncompressed JSON; in the rare case that the intake answers 413
//! or 400, [`Packed::open`] decompresses it into a [`Payload`] whose halves are sent instead.

use std::io::{Read as _, Write as _};
use std::ops::Range;

use bytes::Bytes;
use flate2::write::GzEncoder;

/// How a request body is encoded on the wire, with its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Plain JSON, no `Content-Encoding`.
    Identity,
    /// gzip at a level 0–9 (`Content-Encoding: gzip`).
    Gzip(u32),
    /// zstd at a level 1–22 (`Content-Encoding: zstd`).
    Zstd(i32),
}

impl Codec {
    /// The `Content-Encoding` header value, `None` for plain JSON.
    pub(crate) fn content_encoding(self) -> Option<&'static str> {
        match self {
            Codec::Identity => None,
            Codec::Gzip(_) => Some("gzip"),
            Codec::Zstd(_) => Some("zstd"),
        }
    }
}

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
        let mut builder = Builder::new(Codec::Identity, size).expect("a plain builder cannot fail");
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

    /// The payload as a request body encoded with `codec`.
    pub(crate) fn pack(&self, codec: Codec) -> std::io::Result<Packed> {
        if codec == Codec::Identity {
            let entries = self.entries.clone();
            return Ok(Packed { body: self.json.clone(), codec, json_len: self.json.len(), entries });
        }
        // The same builder as a fresh request: the entries are fed to the compressor as they were written.
        let mut builder = Builder::new(codec, self.json.len())?;
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
    codec: Codec,
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

    /// The body to send (compressed or JSON, as configured).
    pub(crate) fn body(&self) -> &Bytes {
        &self.body
    }

    /// How [`body`](Self::body) is encoded.
    pub(crate) fn codec(&self) -> Codec {
        self.codec
    }

    /// The payload again, uncompressed, to split it.
    pub(crate) fn open(&self) -> std::io::Result<Payload> {
        let mut json = Vec::with_capacity(self.json_len);
        // One byte more than expected at most: a body that does not match its size is refused below.
        let limit = self.json_len as u64 + 1;
        match self.codec {
            Codec::Identity => return Ok(Payload { json: self.body.clone(), entries: self.entries.clone() }),
            Codec::Gzip(_) => flate2::read::GzDecoder::new(&self.body[..]).take(limit).read_to_end(&mut json)?,
            Codec::Zstd(_) => zstd::stream::read::Decoder::new(&self.body[..])?.take(limit).read_to_end(&mut json)?,
        };
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
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(json) => {
                json.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Gzip(encoder) => encoder.write_all(bytes),
            Sink::Zstd(encoder) => encoder.write_all(bytes),
        }
    }
}

/// Builds one request's JSON array entry by entry, compressing as it goes.
pub(crate) struct Builder {
    sink: Sink,
    codec: Codec,
    json_len: usize,
    entries: Vec<Range<usize>>,
}

impl Builder {
    /// An empty array; `json_capacity` is the expected size of the JSON (gzip reserves an eighth of it,
    /// zstd a sixteenth). Fails only when the zstd library cannot set up its context.
    pub(crate) fn new(codec: Codec, json_capacity: usize) -> std::io::Result<Self> {
        let sink = match codec {
            Codec::Identity => Sink::Plain(Vec::with_capacity(json_capacity)),
            Codec::Gzip(level) => Sink::Gzip(Box::new(GzEncoder::new(
                Vec::with_capacity(json_capacity / 8 + 64),
                flate2::Compression::new(level),
            ))),
            Codec::Zstd(level) => {
                let mut encoder =
                    zstd::stream::write::Encoder::new(Vec::with_capacity(json_capacity / 16 + 64), level)?;
                // The whole body is one frame, without a checksum (TCP and TLS check the bytes already).
                encoder.include_checksum(false)?;
                Sink::Zstd(Box::new(encoder))
            }
        };
        // The `[` counts from the start; it is written with the first entry or by `finish`.
        Ok(Self { sink, codec, json_len: 1, entries: Vec::new() })
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
        let body = match self.sink {
            Sink::Plain(json) => json,
            Sink::Gzip(encoder) => encoder.finish()?,
            Sink::Zstd(encoder) => encoder.finish()?,
        };
        Ok(Packed { body: Bytes::from(body), codec: self.codec, json_len: self.json_len, entries: self.entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(codec: Codec, entries: &[&str]) -> Packed {
        let mut builder = Builder::new(codec, 64).unwrap();
        for entry in entries {
            builder.push(entry.as_bytes()).unwrap();
        }
        builder.finish().unwrap()
    }

    #[test]
    fn compressed_and_plain_bodies_open_to_the_same_payload() {
        let entries = [r#"{"message":"a"}"#, r#"{"message":"b","n":1}"#, r#"{"m":"é"}"#];
        let plain = build(Codec::Identity, &entries);
        assert_eq!(plain.body().as_ref(), format!("[{}]", entries.join(",")).as_bytes());
        assert_eq!((plain.len(), plain.json_len(), plain.codec()), (3, plain.body().len(), Codec::Identity));
        let a = plain.open().unwrap();
        for (range, entry) in a.entries().iter().zip(entries) {
            assert_eq!(&a.json()[range.clone()], entry.as_bytes());
        }
        for (codec, magic) in [(Codec::Gzip(6), &[0x1f, 0x8b][..]), (Codec::Zstd(1), &[0x28, 0xb5, 0x2f, 0xfd][..])] {
            let packed = build(codec, &entries);
            assert_eq!(packed.codec(), codec);
            assert!(packed.body().starts_with(magic), "{codec:?}");
            assert_eq!((packed.len(), packed.json_len()), (3, plain.body().len()));
            let b = packed.open().unwrap();
            assert_eq!(a.json(), b.json());
            assert_eq!(a.entries(), b.entries());
            assert_eq!(build(codec, &[]).open().unwrap().json().as_ref(), b"[]");
        }
        assert_eq!(build(Codec::Identity, &[]).body().as_ref(), b"[]");
        assert_eq!(Codec::Zstd(3).content_encoding(), Some("zstd"));
        assert_eq!(Codec::Gzip(1).content_encoding(), Some("gzip"));
        assert_eq!(Codec::Identity.content_encoding(), None);
    }

    #[test]
    fn halves_and_packing_keep_entries() {
        let payload =
            build(Codec::Identity, &["{\"m\":0}", "{\"m\":1}", "{\"m\":2}", "{\"m\":3}", "{\"m\":4}"]).open().unwrap();
        let (left, right) = payload.halves();
        assert_eq!((left.len(), right.len()), (2, 3));
        assert_eq!(right.json().as_ref(), b"[{\"m\":2},{\"m\":3},{\"m\":4}]");
        assert_eq!(&right.json()[right.entries()[0].clone()], b"{\"m\":2}");
        for codec in [Codec::Gzip(6), Codec::Zstd(1)] {
            let packed = right.pack(codec).unwrap();
            assert_eq!(packed.codec(), codec);
            assert_eq!(packed.open().unwrap().json(), right.json());
        }
        assert_eq!(right.pack(Codec::Identity).unwrap().body(), right.json());
        assert!(payload.excerpt(0).contains("\"m\":0"));
        assert_eq!(build(Codec::Identity, &[&"x".repeat(400)]).open().unwrap().excerpt(0).chars().count(), 301);
    }

    #[test]
    fn a_body_that_does_not_open_to_its_size_is_an_error() {
        for codec in [Codec::Gzip(6), Codec::Zstd(1)] {
            let mut packed = build(codec, &["{}"]);
            packed.json_len += 1;
            assert!(packed.open().unwrap_err().to_string().contains("to 4 bytes, not the 5"), "{codec:?}");
            packed.json_len -= 2;
            assert!(packed.open().unwrap_err().to_string().contains("not the 3"), "{codec:?}: a longer body");
            packed.body = Bytes::from_static(b"not compressed");
            assert!(packed.open().is_err(), "{codec:?}");
        }
    }
}
