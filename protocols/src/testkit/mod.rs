//! Property-test support for every decoder of outside input, shared by the crates' tests: one way to
//! pick the case count, and inputs one mutation away from valid ones, so the deep paths of a decoder
//! run and not only its first length check.
//!
//! The count is `PROPTEST_CASES`, 10 000 when unset: `PROPTEST_CASES=100000 benches/fuzz-long.sh` is
//! the long run (README, "Property tests").

pub mod sparkplug;

use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;
use proptest::sample::Index;

/// Cases for a decoder property: `PROPTEST_CASES`, or 10 000.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(10_000)
}

/// The config of a decoder property: [`cases`] cases; the rest as proptest's default.
pub fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), ..ProptestConfig::default() }
}

/// Strings matching `regex`, the regex compiled once. A `&str` used as a strategy compiles it for every
/// value, which in a collection of a hundred names is most of a debug build's test time.
pub fn text(regex: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(regex).expect("a valid regex")
}

/// One change to a valid input, the kinds a noisy line or a buggy peer makes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// One bit flipped.
    Flip(Index, u8),
    /// One byte replaced.
    Set(Index, u8),
    /// Cut short at the index (a partial frame).
    Truncate(Index),
    /// Bytes appended (the next frame, or garbage).
    Extend(Vec<u8>),
    /// One byte inserted.
    Insert(Index, u8),
    /// One byte deleted.
    Delete(Index),
    /// A span repeated in place.
    Repeat(Index, Index),
}

/// Any one [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Repeat(a, b)),
    ]
}

impl Mutation {
    /// Applies the change to `bytes`; an empty input only grows.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let n = bytes.len();
        match self {
            Mutation::Extend(more) => bytes.extend_from_slice(more),
            Mutation::Insert(i, b) => bytes.insert(i.index(n + 1), *b),
            _ if n == 0 => {}
            Mutation::Flip(i, bit) => bytes[i.index(n)] ^= 1 << bit,
            Mutation::Set(i, b) => bytes[i.index(n)] = *b,
            Mutation::Truncate(i) => bytes.truncate(i.index(n)),
            Mutation::Delete(i) => {
                bytes.remove(i.index(n));
            }
            Mutation::Repeat(a, b) => {
                let (from, to) = (a.index(n).min(b.index(n)), a.index(n).max(b.index(n)));
                let span = bytes[from..=to].to_vec();
                bytes.splice(from..from, span);
            }
        }
    }
}

/// Zero to three mutations: none in a quarter of the cases, so a property sees good inputs too.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 0..4)
}

/// `valid` with `changes` applied in order.
pub fn mutated(valid: &[u8], changes: &[Mutation]) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    for m in changes {
        m.apply(&mut bytes);
    }
    bytes
}

/// `valid` inputs with [`mutations`] applied.
pub fn near(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (valid, mutations()).prop_map(|(bytes, changes)| mutated(&bytes, &changes))
}

/// Random bytes (a quarter of the cases: noise, another protocol on the port) or `None` for the
/// property's near-valid input.
pub fn noise(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.25, prop::collection::vec(any::<u8>(), 0..max))
}

/// One change to a valid text at character boundaries: a character or a token inserted, replaced
/// or deleted, a cut, a span repeated. Text decoders (TOML, JSON, HJ 212, instrument lines) see
/// their own syntax moved around rather than bytes that fail the first check.
#[derive(Debug, Clone)]
pub enum TextMutation {
    Insert(Index, String),
    Replace(Index, String),
    Delete(Index, Index),
    Truncate(Index),
    Repeat(Index, Index),
}

/// Any one [`TextMutation`], inserting `tokens` (the grammar's own) or any character.
pub fn text_mutation(tokens: &'static [&'static str]) -> impl Strategy<Value = TextMutation> {
    let piece = prop_oneof![
        prop::sample::select(tokens).prop_map(String::from),
        any::<char>().prop_map(String::from),
        text("[锅炉一号温度]{1,3}"),
    ];
    prop_oneof![
        (any::<Index>(), piece.clone()).prop_map(|(i, t)| TextMutation::Insert(i, t)),
        (any::<Index>(), piece).prop_map(|(i, t)| TextMutation::Replace(i, t)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextMutation::Delete(a, b)),
        any::<Index>().prop_map(TextMutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextMutation::Repeat(a, b)),
    ]
}

impl TextMutation {
    /// Applies the change to `text`; every cut falls on a character boundary.
    pub fn apply(&self, text: &mut String) {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let chars = bounds.len() - 1;
        // A few characters from `a`: deletions and repeats keep the document mostly intact.
        let span = |a: &Index, b: &Index| {
            let from = a.index(chars);
            bounds[from]..bounds[(from + 1 + b.index(8)).min(chars)]
        };
        match self {
            TextMutation::Insert(i, t) => text.insert_str(bounds[i.index(bounds.len())], t),
            TextMutation::Truncate(i) => text.truncate(bounds[i.index(bounds.len())]),
            _ if chars == 0 => {}
            TextMutation::Replace(i, t) => {
                let k = i.index(chars);
                text.replace_range(bounds[k]..bounds[k + 1], t);
            }
            TextMutation::Delete(a, b) => text.replace_range(span(a, b), ""),
            TextMutation::Repeat(a, b) => {
                let range = span(a, b);
                let piece = String::from(&text[range.clone()]);
                text.insert_str(range.start, &piece);
            }
        }
    }
}

/// `valid` texts with one to three [`TextMutation`]s, or none (a quarter of the cases).
pub fn near_text(
    valid: impl Strategy<Value = String>,
    tokens: &'static [&'static str],
) -> impl Strategy<Value = String> {
    (valid, prop::collection::vec(text_mutation(tokens), 0..4)).prop_map(|(mut text, changes)| {
        for m in &changes {
            m.apply(&mut text);
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #![proptest_config(config())]
        #[test]
        fn each_byte_mutation_changes_what_it_says(bytes in prop::collection::vec(any::<u8>(), 0..40), m in mutation()) {
            let mut after = bytes.clone();
            m.apply(&mut after);
            let n = bytes.len();
            match &m {
                Mutation::Flip(..) if n > 0 => {
                    let bits: u32 = bytes.iter().zip(&after).map(|(a, b)| (a ^ b).count_ones()).sum();
                    prop_assert_eq!((after.len(), bits), (n, 1));
                }
                Mutation::Truncate(_) => prop_assert!(bytes.starts_with(&after) && after.len() < n.max(1)),
                Mutation::Extend(more) => prop_assert_eq!(after, [&bytes[..], more].concat()),
                Mutation::Insert(..) => prop_assert_eq!(after.len(), n + 1),
                Mutation::Delete(_) => prop_assert_eq!(after.len(), n.saturating_sub(1)),
                Mutation::Repeat(..) if n > 0 => prop_assert!(after.len() > n),
                _ => prop_assert!(after.len() == n),
            }
        }

        #[test]
        fn text_mutations_cut_at_char_boundaries(text in "[a-z=\"锅炉一号]{0,20}", m in text_mutation(&["=", "[["])) {
            let mut after = text.clone();
            m.apply(&mut after);
            let chars = text.chars().count();
            match &m {
                TextMutation::Insert(_, t) => prop_assert!(after.contains(t.as_str()) && after.len() == text.len() + t.len()),
                TextMutation::Truncate(_) => prop_assert!(text.starts_with(&after)),
                TextMutation::Delete(..) if chars > 0 => prop_assert!(after.chars().count() < chars),
                TextMutation::Repeat(..) if chars > 0 => prop_assert!(after.chars().count() > chars),
                TextMutation::Replace(_, t) if chars > 0 => prop_assert!(after.contains(t.as_str())),
                _ => prop_assert_eq!(after, text),
            }
        }
    }
}
