//! `${NAME}` interpolation of configuration strings.
//!
//! A value is often a secret written inline (`api_key = "…"`), and a `$` inside it can look like a
//! malformed `${`. So errors say which key (the caller adds it) and where in the value, as a character
//! position, but never quote the value's text; only a well-formed `${NAME}` whose variable is unset is
//! named, since then the name is what needs fixing.

use toml::{Table, Value};

use super::ConfigError;

/// Interpolates every string in `table`, pushing one error per value that cannot be (an unset variable,
/// an unreadable secret file, a malformed `${`) to `errors` and going on, so that one look at the
/// configuration lists every missing secret rather than the first.
pub(super) fn interpolate_table(
    table: &mut Table,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    for (key, value) in table.iter_mut() {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        interpolate_value(value, &path, env, errors);
    }
}

fn interpolate_value(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) => match interpolate(s, env) {
            Ok(done) => *s = done,
            Err(message) => errors.push(ConfigError::new(path, message)),
        },
        Value::Table(t) => interpolate_table(t, path, env, errors),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env, errors);
            }
        }
        _ => {}
    }
}

/// Replaces `${NAME}` with the environment variable's value and `${file:PATH}` with the contents of the
/// file at `PATH` (one trailing newline trimmed: what `echo` and secret mounts such as
/// `/run/secrets/NAME` leave); `$${` is a literal `${`.
///
/// An error names the offending `${` by its character position in the value (1-based), never by the text
/// around it (see the module docs).
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // Counted only for an error: the value's characters before this `$`, plus one.
        let position = || text[..text.len() - tail.len()].chars().count() + 1;
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Err(format!("the ${{ at character {} of the value is never closed by }}", position()));
            };
            let name = &body[..end];
            if let Some(path) = name.strip_prefix("file:") {
                out.push_str(
                    &secret_file(path.trim())
                        .map_err(|why| format!("{why} (the ${{file:…}} at character {} of the value)", position()))?,
                );
                rest = &body[end + 1..];
                continue;
            }
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "the ${{…}} at character {} of the value does not hold an environment variable name \
                     (letters, digits and _; write $${{ for a literal ${{)",
                    position()
                ));
            }
            let value = env(name).ok_or_else(|| {
                format!(
                    "environment variable {name} is not set (the ${{{name}}} at character {} of the value)",
                    position()
                )
            })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The secret in the file at `path`, one trailing newline (`\n` or `\r\n`) trimmed. The error names the
/// file (a path is not a secret) and why it cannot be read, never any of its contents.
fn secret_file(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("${file:} names no file".to_owned());
    }
    let text = std::fs::read_to_string(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::InvalidData => format!("the secret file {path} is not UTF-8 text"),
        _ => format!("cannot read the secret file {path}: {err}"),
    })?;
    let text = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "A").then(|| "1".to_owned())
    }

    #[test]
    fn interpolation_rules() {
        assert_eq!(interpolate("x${A}y", &env).unwrap(), "x1y");
        assert_eq!(interpolate("$${A} $5", &env).unwrap(), "${A} $5");
        assert!(interpolate("${B}", &env).unwrap_err().contains("B is not set"));
        assert!(interpolate("${A", &env).is_err());
    }

    #[test]
    fn secrets_are_read_from_files_with_one_trailing_newline_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let plain = write("token", "s3cr3t-from-a-file\n");
        assert_eq!(interpolate(&format!("SSWS ${{file:{plain}}}"), &env).unwrap(), "SSWS s3cr3t-from-a-file");
        let crlf = write("crlf", "abc\r\n");
        assert_eq!(interpolate(&format!("${{file:{crlf}}}"), &env).unwrap(), "abc");
        let two = write("two", "abc\n\n");
        assert_eq!(interpolate(&format!("${{file:{two}}}"), &env).unwrap(), "abc\n", "one newline only");
        let missing = dir.path().join("absent").display().to_string();
        let err = interpolate(&format!("x${{file:{missing}}}"), &env).unwrap_err();
        assert!(
            err.contains("cannot read the secret file") && err.contains("absent") && err.contains("character 2"),
            "{err}"
        );
        assert!(interpolate("${file:}", &env).unwrap_err().contains("names no file"));
        assert_eq!(interpolate(&format!("$${{file:{plain}}}"), &env).unwrap(), format!("${{file:{plain}}}"), "escaped");
    }

    #[test]
    fn malformed_references_are_located_but_never_quoted() {
        for (value, at) in [
            ("abc${s3cr3t-not-a-name", 4),
            ("${s3cr3t", 1),
            ("abc${s3cr3t-not-a-name}", 4),
            ("pä$s${s3cr3t x}tail}", 5),
            ("${}s3cr3t", 1),
        ] {
            let err = interpolate(value, &env).unwrap_err();
            assert!(!err.contains("s3cr3t") && !err.contains("not-a-name"), "{value}: {err}");
            assert!(err.contains(&format!("character {at} ")), "{value}: {err}");
        }
    }

    #[test]
    fn config_errors_name_the_key_and_line_but_not_the_value() {
        let text = "[sinks.out]\ntype = \"file\"\npath = \"x\"\n\n[[sources]]\nname = \"a\"\nconnector = \"acme\"\nsink = \"out\"\napi_key = \"abc${s3cr3t-not-a-name}\"\n";
        let err = crate::config::Config::parse(text, &env).unwrap_err();
        assert_eq!((err.key.as_str(), err.line), ("sources[0].api_key", Some(9)));
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    proptest! {
        #[test]
        fn never_panics(text in any::<String>(), biased in "[a-zA-Z0-9_ é${}]{0,40}") {
            let env = |name: &str| name.len().is_multiple_of(2).then(|| format!("${{{name}}}"));
            let _any_outcome = interpolate(&text, &env);
            let _any_outcome = interpolate(&biased, &env);
        }

        #[test]
        fn text_without_a_dollar_comes_back_unchanged(text in "[^$]*") {
            prop_assert_eq!(interpolate(&text, &|_| None), Ok(text.clone()));
        }

        #[test]
        fn a_malformed_reference_never_shows_what_follows_it(
            before in "[^$]{0,12}",
            secret in "[a-zA-Z0-9_]{12}",
            breaker in "[- .:/+=]",
            after in "[^$]{0,12}",
        ) {
            let value = format!("{before}${{{secret}{breaker}{after}");
            let err = interpolate(&value, &|_| Some("v".to_owned())).unwrap_err();
            prop_assert!(!err.contains(&secret), "{}", err);
        }
    }
}
