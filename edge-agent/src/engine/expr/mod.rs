//! Derived tags computed from other tags by an expression, checked (syntax and types) by `check`:
//!
//! ```toml
//! [[derived]]
//! tag = "锅炉一号.热功率"
//! expr = "锅炉一号.流量 * (锅炉一号.出水温度 - 锅炉一号.回水温度) * 4.186 / 3600"
//! ```
//!
//! The language (numbers and conditions): `+ - * / % ^`, `< <= > >= == !=`, `and or not`,
//! `if c then a else b`, `min(a, b, ..)`, `max(..)`, `abs(x)`, `sqrt(x)`, `pow(x, y)`. A tag name is
//! written as it is (letters of any script, digits, `_`, `.`), or in braces when it has other
//! characters: `{meter-3.kw}`. The same language writes the rules of equipment states.

mod engine;
mod eval;
mod kind;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

pub use engine::DerivedEngine;
pub use eval::{Val, eval};
pub use kind::DerivedKind;
pub use lex::Fault;
pub use parse::{Parsed, Ty, parse};

use std::ops::Range;

use drivers::sections::Problem;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DerivedConfig {
    /// The tag this makes; it must not exist yet.
    pub tag: Spanned<String>,
    pub expr: Spanned<String>,
}

/// Where byte range `at` of an expression written at `span` in the file is: past the opening quote.
/// Exact for strings without escapes (write expressions with Chinese tag names as they are).
pub fn file_span(span: &Range<usize>, at: &Range<usize>) -> Range<usize> {
    let start = (span.start + 1 + at.start).min(span.end);
    let end = (span.start + 1 + at.end).clamp(start, span.end.max(start));
    start..end
}

/// A parsed expression of a config, or the problem with it at its place in the file. `want` is the
/// type the context needs; `who` starts the message (`derived 锅炉一号.热功率`).
pub fn checked(expr: &Spanned<String>, want: Ty, who: &str) -> Result<Parsed, Problem> {
    let span = expr.span();
    let parsed =
        parse(expr.get_ref()).map_err(|f| (file_span(&span, &f.at), format!("{who}: {}", f.what)))?;
    if parsed.ty != want {
        let hint = match want {
            Ty::Num => "a number: use `if .. then 1 else 0` to make one of a condition",
            Ty::Bool => "a condition: compare, e.g. `press.speed > 5`",
        };
        return Err((span, format!("{who}: the expression must give {hint}")));
    }
    Ok(parsed)
}
