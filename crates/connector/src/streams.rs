//! The `streams = [...]` key of a connector with several streams (1Password's features, Duo's logs):
//! which of them a source crawls, checked the same way everywhere.

use logcrawl_core::ConfigError;

/// The streams `names` chooses out of `all` (each called `name(stream)`), in the order given: all of
/// them when the key is absent. An empty list, a name that is not a stream or a name given twice is a
/// [`ConfigError`] on `streams` saying which, and naming the streams there are.
pub fn chosen<T: Copy + PartialEq>(
    names: Option<&[String]>,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, ConfigError> {
    let Some(names) = names else { return Ok(all.to_vec()) };
    if names.is_empty() {
        return Err(ConfigError::new("streams", "must name at least one stream (or be left out for all of them)"));
    }
    let mut chosen = Vec::with_capacity(names.len());
    for wanted in names {
        let stream = all.iter().copied().find(|stream| name(*stream) == wanted).ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|stream| name(*stream)).collect();
            let known = match known.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => "none".to_owned(),
            };
            ConfigError::new("streams", format!("{wanted:?} is not a stream; the streams are {known}"))
        })?;
        if chosen.contains(&stream) {
            return Err(ConfigError::new("streams", format!("{wanted:?} is listed twice")));
        }
        chosen.push(stream);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u8) -> &'static str {
        ["alpha", "beta", "gamma"][usize::from(n)]
    }

    fn choose(names: Option<&[&str]>) -> Result<Vec<u8>, ConfigError> {
        let names: Option<Vec<String>> = names.map(|names| names.iter().map(|n| (*n).to_owned()).collect());
        chosen(names.as_deref(), &[0, 1, 2], name)
    }

    #[test]
    fn every_stream_by_default_else_those_named_in_their_order() {
        assert_eq!(choose(None).unwrap(), [0, 1, 2]);
        assert_eq!(choose(Some(&["gamma", "alpha"])).unwrap(), [2, 0]);
    }

    #[test]
    fn what_is_not_a_choice_is_an_error_on_streams() {
        for (names, says) in [
            (&[][..], "at least one stream"),
            (&["delta"][..], "\"delta\" is not a stream; the streams are alpha, beta and gamma"),
            (&["beta", "beta"][..], "\"beta\" is listed twice"),
        ] {
            let err = choose(Some(names)).unwrap_err();
            assert_eq!(err.key(), "streams");
            assert!(err.message().contains(says), "{names:?}: {err}");
        }
        let one: Result<Vec<u8>, _> = chosen(Some(&["x".to_owned()]), &[0u8], name);
        assert!(one.unwrap_err().message().ends_with("the streams are alpha"));
    }
}
