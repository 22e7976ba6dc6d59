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

/// One table read into its config struct; its errors come back located. When it cannot be read, every
/// `name = ".."` in it is noted, so references to those names are not reported a second time.
pub fn section<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Option<T> {
    let span = value.span();
    let copy = value.clone();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(t) => Some(t),
        Err(e) => {
            push_de(errors, e, span);
            note_names(&copy, errors);
            None
        }
    }
}

fn note_names(value: &Spanned<DeValue<'_>>, errors: &mut ConfigErrors) {
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, v) in table.iter() {
                match (key.get_ref().as_ref(), v.get_ref()) {
                    ("name", DeValue::String(name)) => errors.note_unreadable(name),
                    _ => note_names(v, errors),
                }
            }
        }
        DeValue::Array(items) => items.iter().for_each(|v| note_names(v, errors)),
        _ => {}
    }
}

/// Takes the list under `key` out of an item's table, so the item is read without it and each entry of
/// the list on its own: one bad entry then costs only itself, and every bad entry is reported.
pub fn take_list<'a>(item: &mut Spanned<DeValue<'a>>, key: &str) -> Option<Spanned<DeValue<'a>>> {
    let DeValue::Table(table) = item.get_mut() else { return None };
    let mut taken = None;
    let rest = std::mem::take(table)
        .into_iter()
        .filter_map(|(k, v)| {
            if k.get_ref().as_ref() == key && taken.is_none() {
                taken = Some(v);
                None
            } else {
                Some((k, v))
            }
        })
        .collect();
    *table = rest;
    taken
}

/// A list the plant keeps for as long as it runs: collected from a filter, its capacity grew by doubling
/// (about a third unused for 50 tags a device), so it gives the slack back.
fn kept<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
}

/// Each entry of a list read on its own into `T`; the bad ones are reported and left out.
pub fn each<T: DeserializeOwned>(list: Spanned<DeValue<'_>>, key: &str, errors: &mut ConfigErrors) -> Vec<T> {
    let span = list.span();
    match list.into_inner() {
        DeValue::Array(entries) => {
            kept(entries.into_iter().filter_map(|e| section::<T>(e, errors)).collect())
        }
        _ => {
            errors.push(Some(span), format!("`{key}` is a list: write `{key} = [ {{ .. }}, {{ .. }} ]`"));
            Vec::new()
        }
    }
}

/// The entries of a list, each still unread.
pub fn each_raw<'a>(
    list: Spanned<DeValue<'a>>,
    key: &str,
    errors: &mut ConfigErrors,
) -> Vec<Spanned<DeValue<'a>>> {
    let span = list.span();
    match list.into_inner() {
        DeValue::Array(entries) => entries.into_iter().collect(),
        _ => {
            errors.push(Some(span), format!("`{key}` is a list: write each entry as `[[..{key}]]`"));
            Vec::new()
        }
    }
}

/// An item with a list of entries (a device and its tags): the item and each entry read on their own,
/// `attach` putting the good entries in the item. A missing list is an error at the item.
pub fn with_list<T: DeserializeOwned, E: DeserializeOwned>(
    mut item: Spanned<DeValue<'_>>,
    key: &str,
    errors: &mut ConfigErrors,
    attach: impl FnOnce(&mut T, Vec<E>),
) -> Option<T> {
    let span = item.span();
    let list = take_list(&mut item, key);
    let read = section::<T>(item, errors);
    let Some(list) = list else {
        if read.is_some() {
            errors.push(Some(span), format!("missing field `{key}`"));
        }
        return None;
    };
    if read.is_none() {
        // The entries are read for their own errors, but they belong to nothing: their names are not
        // declared, and references to them must not be reported as well.
        note_names(&list, errors);
    }
    let entries = each::<E>(list, key, errors);
    let mut read = read?;
    attach(&mut read, entries);
    Some(read)
}

/// A `[[name]]` array read item by item, so every bad item is reported.
pub fn items<T: DeserializeOwned>(
    name: &str,
    value: Spanned<DeValue<'_>>,
    errors: &mut ConfigErrors,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(list) => {
            kept(list.into_iter().filter_map(|item| section::<T>(item, errors)).collect())
        }
        _ => {
            errors.push(Some(span), format!("`{name}` is a list: write each entry as `[[{name}]]`"));
            Vec::new()
        }
    }
}

/// The `[[section.item]]` entries of a section that holds only that list, each still unread.
pub fn sub_item_values<'a>(
    value: Spanned<DeValue<'a>>,
    section: &str,
    item: &str,
    errors: &mut ConfigErrors,
) -> Vec<Spanned<DeValue<'a>>> {
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
        if key.get_ref().as_ref() != item {
            errors.push(
                Some(key.span()),
                format!("unknown key `{section}.{}`; expected `[[{section}.{item}]]`", key.get_ref()),
            );
            continue;
        }
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(list) => out = list.into_iter().collect(),
            _ => errors.push(
                Some(span),
                format!("`{section}.{item}` is a list: write each entry as `[[{section}.{item}]]`"),
            ),
        }
    }
    out
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

/// `[[<section>.<item>]]` entries that each carry a list of `[[<section>.<item>.<child>]]` (devices on a link,
/// instruments on a port), each child with its `tags` list. Every error of every entry, child and tag is
/// reported; an entry is kept only when it parses itself, with the children that parsed.
pub fn links_with_children<L, C, T>(
    value: Spanned<DeValue<'_>>,
    (section_name, item, child): (&str, &str, &str),
    errors: &mut ConfigErrors,
    attach_tags: fn(&mut C, Vec<T>),
    attach_children: fn(&mut L, Vec<C>),
) -> Vec<L>
where
    L: DeserializeOwned,
    C: DeserializeOwned,
    T: DeserializeOwned,
{
    let mut links = Vec::new();
    for mut entry in sub_item_values(value, section_name, item, errors) {
        let children = take_list(&mut entry, child);
        let link = section::<L>(entry, errors);
        let children: Vec<C> = match children {
            Some(list) => each_raw(list, child, errors)
                .into_iter()
                .filter_map(|c| with_list(c, "tags", errors, attach_tags))
                .collect(),
            None => Vec::new(),
        };
        if let Some(mut link) = link {
            attach_children(&mut link, children);
            links.push(link);
        }
    }
    links
}
