//! Reading one section of the agent's TOML file into a component's config structs, from toml's spanned
//! tree, so every error keeps its place in the file. Each `[[...]]` item is read on its own: one bad item
//! does not hide the next.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use crate::diag::ConfigErrors;

/// A problem found in one item, at a byte span of the file.
pub type Problem = (Range<usize>, String);

/// One table read into its config struct; its errors come back located.
pub fn section<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Option<T> {
    let span = value.span();
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| push_de(errors, e, span)).ok()
}

/// A `[[name]]` array read item by item, so every bad item is reported.
pub fn items<T: DeserializeOwned>(
    name: &str,
    value: Spanned<DeValue<'_>>,
    errors: &mut ConfigErrors,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(list) => list.into_iter().filter_map(|item| section::<T>(item, errors)).collect(),
        _ => {
            errors.push(Some(span), format!("`{name}` is a list: write each entry as `[[{name}]]`"));
            Vec::new()
        }
    }
}

/// The `[[section.item]]` entries of a section that holds only that list.
pub fn sub_items<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    section: &str,
    item: &str,
    errors: &mut ConfigErrors,
) -> Vec<T> {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        errors.push(
            Some(span),
            format!("`{section}` holds a list: write each entry as `[[{section}.{item}]]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in table {
        if key.get_ref().as_ref() == item {
            out = items(&format!("{section}.{item}"), value, errors);
        } else {
            errors.push(
                Some(key.span()),
                format!("unknown key `{section}.{}`; expected `[[{section}.{item}]]`", key.get_ref()),
            );
        }
    }
    out
}

fn push_de(errors: &mut ConfigErrors, e: toml::de::Error, fallback: Range<usize>) {
    errors.push(Some(e.span().unwrap_or(fallback)), e.message().trim().to_owned());
}

/// Reads a secret from a `*_file` key: the whole file, trimmed. Errors point at the key's value.
pub fn read_secret_file(key: &str, path: &Spanned<String>, errors: &mut ConfigErrors) -> Option<String> {
    let at = Some(path.span());
    match std::fs::read_to_string(path.get_ref()) {
        Ok(text) if text.trim().is_empty() => {
            errors.push(at, format!("{key} {:?} is empty; put the secret in it", path.get_ref()));
            None
        }
        Ok(text) => Some(text.trim().to_owned()),
        Err(e) => {
            errors.push(
                at,
                format!(
                    "{key} {:?} cannot be read: {e}; check the path and that the agent's user may read it",
                    path.get_ref()
                ),
            );
            None
        }
    }
}

/// Splits a table in two: the keys in `keys`, and the rest, each a table of its own at the table's span,
/// so two config structs (a connection's and its owner's) can each deny the keys they do not know.
/// `None` (with an error) when `value` is not a table.
pub fn split_keys<'i>(
    value: Spanned<DeValue<'i>>,
    keys: &[&str],
    errors: &mut ConfigErrors,
) -> Option<(Spanned<DeValue<'i>>, Spanned<DeValue<'i>>)> {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        errors.push(Some(span), "expected a table of keys");
        return None;
    };
    let (mut these, mut rest) = (toml::de::DeTable::new(), toml::de::DeTable::new());
    for (key, value) in table {
        let side = if keys.contains(&key.get_ref().as_ref()) { &mut these } else { &mut rest };
        side.insert(key, value);
    }
    let wrap = |t| Spanned::new(span.clone(), DeValue::Table(t));
    Some((wrap(these), wrap(rest)))
}
