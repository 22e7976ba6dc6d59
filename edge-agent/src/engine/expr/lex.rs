//! Tokens of an expression, each with its byte range in the text. Positions come from `char_indices`,
//! so every range starts and ends on a character boundary, whatever script the tag names are in.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Num(f64),
    /// A bare name (`锅炉一号.温度`, `min`) or a braced one (`{meter-3.kw}`), braces dropped.
    Name {
        text: String,
        braced: bool,
    },
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

pub type Spanned = (Tok, Range<usize>);

/// A mistake at a byte range of the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub at: Range<usize>,
    pub what: String,
}

pub fn fault(at: Range<usize>, what: impl Into<String>) -> Fault {
    Fault { at, what: what.into() }
}

const OPS: [&str; 13] = ["<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "%", "^", "="];

fn name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

pub fn lex(text: &str) -> Result<Vec<Spanned>, Fault> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let end_of = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            chars.peek().map_or(text.len(), |&(i, _)| i)
        };
        if c.is_ascii_digit() || (c == '.' && text[start + 1..].starts_with(|d: char| d.is_ascii_digit())) {
            let mut prev = ' ';
            while let Some(&(_, d)) = chars.peek() {
                let exponent_sign = (d == '+' || d == '-') && (prev == 'e' || prev == 'E');
                if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || exponent_sign {
                    prev = d;
                    chars.next();
                } else {
                    break;
                }
            }
            let end = end_of(&mut chars);
            if chars.peek().is_some_and(|&(_, d)| name_start(d)) {
                while chars.peek().is_some_and(|&(_, d)| name_char(d)) {
                    chars.next();
                }
                let to = end_of(&mut chars);
                return Err(fault(
                    start..to,
                    format!(
                        "`{}` is neither a number nor a name; a tag name with `-` or a leading digit goes in braces: {{meter-3.kw}}",
                        &text[start..to]
                    ),
                ));
            }
            let literal = &text[start..end];
            let n: f64 =
                literal.parse().map_err(|_| fault(start..end, format!("`{literal}` is not a number")))?;
            out.push((Tok::Num(n), start..end));
        } else if name_start(c) {
            while chars.peek().is_some_and(|&(_, d)| name_char(d)) {
                chars.next();
            }
            let end = end_of(&mut chars);
            out.push((Tok::Name { text: text[start..end].to_owned(), braced: false }, start..end));
        } else if c == '{' {
            chars.next();
            let inner = start + 1;
            let mut close = None;
            for (i, d) in chars.by_ref() {
                if d == '}' {
                    close = Some(i);
                    break;
                }
            }
            let Some(close) = close else {
                return Err(fault(start..text.len(), "`{` opens a tag name that no `}` closes"));
            };
            let name = text[inner..close].trim();
            if name.is_empty() {
                return Err(fault(start..close + 1, "`{}` names no tag; write the tag's name inside"));
            }
            out.push((Tok::Name { text: name.to_owned(), braced: true }, start..close + 1));
        } else if c == '(' || c == ')' || c == ',' {
            chars.next();
            let tok = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                _ => Tok::Comma,
            };
            out.push((tok, start..start + 1));
        } else if let Some(op) = OPS.iter().find(|op| text[start..].starts_with(**op)) {
            for _ in 0..op.len() {
                chars.next();
            }
            if *op == "=" {
                return Err(fault(start..start + 1, "`=` is not a comparison; write `==`"));
            }
            out.push((Tok::Op(op), start..start + op.len()));
        } else {
            let end = start + c.len_utf8();
            let hint = if c == '-' || c == '"' || c == '\'' {
                "; a tag name with such characters goes in braces: {meter-3.kw}"
            } else {
                ""
            };
            return Err(fault(start..end, format!("unexpected `{c}`{hint}")));
        }
    }
    Ok(out)
}
