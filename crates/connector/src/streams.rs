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
    Choice { key: "streams", noun: "stream", all, default: all, ignore_case: false }.of(names, name)
}

/// The list a key like `streams` chooses from, for connectors whose key has another name
/// (`content_types`, `applications`) or whose default is not everything.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a, T> {
    /// The key, as errors name it.
    pub key: &'static str,
    /// What one item is called (`content type`; plural with an `s`).
    pub noun: &'static str,
    /// Every item there is.
    pub all: &'a [T],
    /// What an absent key chooses.
    pub default: &'a [T],
    /// Whether names match whatever their letter case (Microsoft's content types).
    pub ignore_case: bool,
}

impl<T: Copy + PartialEq> Choice<'_, T> {
    /// The items `names` chooses (each called `name(item)`), in the order given: the default when the
    /// key is absent. An empty list, a name that is not one of them or a name given twice is a
    /// [`ConfigError`] on the key saying which, and naming what there is.
    pub fn of(&self, names: Option<&[String]>, name: impl Fn(T) -> &'static str) -> Result<Vec<T>, ConfigError> {
        let Some(names) = names else { return Ok(self.default.to_vec()) };
        let (key, noun) = (self.key, self.noun);
        if names.is_empty() {
            return Err(ConfigError::new(
                key,
                format!("must name at least one {noun} (or be left out for the default)"),
            ));
        }
        let mut chosen = Vec::with_capacity(names.len());
        for wanted in names {
            let same =
                |known: &str| if self.ignore_case { known.eq_ignore_ascii_case(wanted) } else { known == wanted };
            let item = self.all.iter().copied().find(|item| same(name(*item))).ok_or_else(|| {
                let known: Vec<&str> = self.all.iter().map(|item| name(*item)).collect();
                let known = match known.split_last() {
                    Some((last, [])) => (*last).to_owned(),
                    Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                    None => "none".to_owned(),
                };
                ConfigError::new(key, format!("{wanted:?} is not a {noun}; the {noun}s are {known}"))
            })?;
            if chosen.contains(&item) {
                return Err(ConfigError::new(key, format!("{wanted:?} is listed twice")));
            }
            chosen.push(item);
        }
        Ok(chosen)
    }
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

    #[test]
    fn a_choice_under_another_key_with_its_own_default_and_case() {
        let choice =
            Choice { key: "content_types", noun: "content type", all: &[0u8, 1, 2], default: &[1], ignore_case: true };
        assert_eq!(choice.of(None, name).unwrap(), [1], "the default, not everything");
        assert_eq!(choice.of(Some(&["GAMMA".to_owned()]), name).unwrap(), [2]);
        let err = choice.of(Some(&["delta".to_owned()]), name).unwrap_err();
        assert_eq!(err.key(), "content_types");
        assert!(err.message().contains("is not a content type; the content types are alpha"), "{err}");
        let strict = Choice { ignore_case: false, ..choice };
        assert!(strict.of(Some(&["GAMMA".to_owned()]), name).is_err());
    }
}
