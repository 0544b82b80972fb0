//! Typed cursors: a connector declares its cursor as a serde type with a version; the runtime stores
//! it as JSON and hands it back typed.
//!
//! The stored document is the type's JSON object with one more member, `"v"`: the version. A document
//! without `"v"` is read as version 1, so cursors written before a connector adopted typed cursors (ACME's
//! `{"after": "…"}`) keep working. A document that does not decode — not an object, a newer version, a
//! missing or mistyped field — is a [`StreamError::checkpoint`]: the stream stops and the operator is
//! pointed at `logcrawl state reset/set`, never a silent restart from the beginning.

use logcrawl_core::{Cursor, StreamError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The version key of a stored cursor document.
pub const VERSION_KEY: &str = "v";

/// A connector's cursor: where its stream resumes.
///
/// Implement it on a `Serialize + Deserialize` struct (serialised as a JSON object) and bump
/// [`VERSION`](Self::VERSION) only together with a reader for the older one (see [`upgrade`](Self::upgrade)).
pub trait TypedCursor: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The version written into stored documents (1 unless the cursor's shape changed since).
    const VERSION: u64 = 1;

    /// What a stored cursor looks like, for the error about one that does not decode (e.g.
    /// `{"after": "<event id>", "v": 1}`); empty to say nothing.
    const SHAPE: &'static str = "";

    /// Turns a document of an older `version` into the current shape. By default only the current
    /// version (and unversioned documents, read as version 1) are understood.
    fn upgrade(version: u64, document: Value) -> Result<Value, String> {
        let _ = document;
        Err(format!("cursor version {version} is not one this logcrawl reads (it writes version {})", Self::VERSION))
    }
}

/// The stored form of `cursor`: its JSON object plus `"v"`.
pub fn store<C: TypedCursor>(cursor: &C) -> Cursor {
    let mut value = serde_json::to_value(cursor).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(VERSION_KEY.to_owned(), Value::from(C::VERSION));
    }
    value
}

/// Reads a stored cursor back, or says what is wrong with it (a checkpoint error, for the crawler to name
/// the checkpoint and the commands that repair it).
pub fn load<C: TypedCursor>(stored: &Cursor) -> Result<C, StreamError> {
    read(stored).map_err(|why| StreamError::checkpoint(CursorError(why)))
}

fn read<C: TypedCursor>(stored: &Cursor) -> Result<C, String> {
    let Value::Object(map) = stored else {
        return Err(format!("the stored cursor is {}, not a JSON object", json_kind(stored)));
    };
    let mut map = map.clone();
    let version = match map.remove(VERSION_KEY) {
        None => 1,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("its version {n} is not a whole number"))?,
        Some(other) => return Err(format!("its version is {}, not a number", json_kind(&other))),
    };
    let document = Value::Object(map);
    let document = match version {
        v if v == C::VERSION => document,
        v if v > C::VERSION => {
            return Err(format!("cursor version {v} is newer than this logcrawl understands ({})", C::VERSION));
        }
        v => C::upgrade(v, document)?,
    };
    serde_json::from_value(document).map_err(|err| {
        let shape = if C::SHAPE.is_empty() { String::new() } else { format!(", which is {}", C::SHAPE) };
        format!("it does not have this connector's cursor shape{shape}: {err}")
    })
}

/// What kind of JSON value `value` is, as an error message says it (`a string`, `null`, …).
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stored cursor that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CursorError(String);

#[cfg(test)]
mod tests {
    use super::*;
    use logcrawl_core::StreamErrorKind;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct After {
        after: String,
    }

    impl TypedCursor for After {
        const VERSION: u64 = 1;
    }

    #[test]
    fn round_trips_with_its_version_and_reads_unversioned_documents() {
        let stored = store(&After { after: "42".into() });
        assert_eq!(stored, json!({"after": "42", "v": 1}));
        assert_eq!(load::<After>(&stored).unwrap(), After { after: "42".into() });
        assert_eq!(load::<After>(&json!({"after": "7"})).unwrap(), After { after: "7".into() });
    }

    #[test]
    fn an_unreadable_cursor_is_a_checkpoint_error_saying_why() {
        for (stored, why) in [
            (json!("x"), "a string, not a JSON object"),
            (json!({"after": 5}), "cursor shape"),
            (json!({}), "missing field `after`"),
            (json!({"after": "1", "v": 2}), "newer"),
            (json!({"after": "1", "v": "1"}), "not a number"),
        ] {
            let err = load::<After>(&stored).unwrap_err();
            assert_eq!(err.kind(), StreamErrorKind::Checkpoint);
            assert!(err.to_string().contains(why), "{stored}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn loading_never_panics(text in ".{0,64}") {
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                let _unreadable_is_fine = load::<After>(&value).is_err();
            }
        }
    }
}
