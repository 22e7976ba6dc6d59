//! Expressions over tags: a recursive-descent parser that also checks types, so a mistake is reported
//! once, at its place, before the agent starts.
//!
//! ```text
//! expr := "if" expr "then" expr "else" expr | or
//! or   := and ("or" and)*          and := not ("and" not)*        not := "not" not | cmp
//! cmp  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
//! sum  := prod (("+" | "-") prod)*   prod := unary (("*" | "/" | "%") unary)*
//! unary:= "-" unary | pow            pow  := atom ("^" unary)?
//! atom := number | "true" | "false" | tag | "{" any tag name "}" | func "(" expr, ... ")" | "(" expr ")"
//! ```

use std::ops::Range;

use super::lex::{Fault, Spanned, Tok, fault, lex};

/// The two types an expression has: a number, or a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Num,
    Bool,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Bool => "a condition",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Min,
    Max,
    Abs,
    Sqrt,
    Pow,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Num(f64),
    Bool(bool),
    /// Index into [`Parsed::tags`].
    Tag(usize),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Bin, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub node: Node,
    pub at: Range<usize>,
}

/// A checked expression: its tree, its type, and the tags it reads (each once, in order of first use).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub root: Expr,
    pub ty: Ty,
    pub tags: Vec<(String, Range<usize>)>,
}

/// Deeper than this is a generated mistake, not a plant's formula; it also bounds the parser's stack.
const MAX_DEPTH: usize = 64;

pub fn parse(text: &str) -> Result<Parsed, Fault> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(fault(0..text.len(), "the expression is empty; write e.g. `a.kw + b.kw`"));
    }
    let mut p = Parser { tokens, pos: 0, tags: Vec::new(), depth: 0, len: text.len() };
    let (root, ty) = p.expr()?;
    if let Some((tok, at)) = p.tokens.get(p.pos) {
        return Err(fault(at.clone(), format!("unexpected {} after a whole expression", describe(tok))));
    }
    Ok(Parsed { root, ty, tags: p.tags })
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Num(n) => format!("number {n}"),
        Tok::Name { text, .. } => format!("`{text}`"),
        Tok::Op(op) => format!("`{op}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    tags: Vec<(String, Range<usize>)>,
    depth: usize,
    len: usize,
}

type Typed = (Expr, Ty);

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn here(&self) -> Range<usize> {
        self.tokens.get(self.pos).map_or(self.len..self.len, |(_, at)| at.clone())
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name { text, braced: false }) if text == word)
    }

    fn op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn expect_keyword(&mut self, word: &str, after: &str) -> Result<(), Fault> {
        if self.keyword(word) {
            self.pos += 1;
            Ok(())
        } else {
            Err(fault(self.here(), format!("expected `{word}` after {after}")))
        }
    }

    fn want(&self, (e, ty): &Typed, want: Ty, role: &str) -> Result<(), Fault> {
        if *ty == want {
            return Ok(());
        }
        let hint = match want {
            Ty::Bool => "; compare it, e.g. `pump.run != 0`",
            Ty::Num => "; use `if .. then 1 else 0` for a number",
        };
        Err(fault(e.at.clone(), format!("{role} must be {}, this is {}{hint}", want.name(), ty.name())))
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Fault>) -> Result<T, Fault> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(fault(
                self.here(),
                format!("nested more than {MAX_DEPTH} deep; split it into derived tags"),
            ));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn expr(&mut self) -> Result<Typed, Fault> {
        self.nested(|p| {
            if !p.keyword("if") {
                return p.or();
            }
            let start = p.here().start;
            p.pos += 1;
            let cond = p.expr()?;
            p.want(&cond, Ty::Bool, "the condition of `if`")?;
            p.expect_keyword("then", "the condition of `if`")?;
            let yes = p.expr()?;
            p.expect_keyword("else", "the `then` branch; an `if` needs both branches")?;
            let no = p.expr()?;
            if yes.1 != no.1 {
                return Err(fault(
                    no.0.at.clone(),
                    format!(
                        "`else` gives {} but `then` gives {}; both branches must agree",
                        no.1.name(),
                        yes.1.name()
                    ),
                ));
            }
            let at = start..no.0.at.end;
            let ty = yes.1;
            Ok((Expr { node: Node::If(Box::new(cond.0), Box::new(yes.0), Box::new(no.0)), at }, ty))
        })
    }

    fn binary(&mut self, l: Typed, op: Bin, r: Typed) -> Result<Typed, Fault> {
        let (operand, result) = match op {
            Bin::And | Bin::Or => (Ty::Bool, Ty::Bool),
            Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge | Bin::Eq | Bin::Ne => (Ty::Num, Ty::Bool),
            _ => (Ty::Num, Ty::Num),
        };
        let role = format!("each side of `{}`", symbol(op));
        self.want(&l, operand, &role)?;
        self.want(&r, operand, &role)?;
        let at = l.0.at.start..r.0.at.end;
        Ok((Expr { node: Node::Bin(op, Box::new(l.0), Box::new(r.0)), at }, result))
    }

    fn or(&mut self) -> Result<Typed, Fault> {
        let mut l = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let r = self.and()?;
            l = self.binary(l, Bin::Or, r)?;
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Typed, Fault> {
        let mut l = self.not()?;
        while self.keyword("and") {
            self.pos += 1;
            let r = self.not()?;
            l = self.binary(l, Bin::And, r)?;
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Typed, Fault> {
        if !self.keyword("not") {
            return self.cmp();
        }
        let start = self.here().start;
        self.pos += 1;
        let inner = self.nested(|p| p.not())?;
        self.want(&inner, Ty::Bool, "what `not` negates")?;
        let at = start..inner.0.at.end;
        Ok((Expr { node: Node::Not(Box::new(inner.0)), at }, Ty::Bool))
    }

    fn cmp(&mut self) -> Result<Typed, Fault> {
        let l = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op("<")) => Bin::Lt,
            Some(Tok::Op("<=")) => Bin::Le,
            Some(Tok::Op(">")) => Bin::Gt,
            Some(Tok::Op(">=")) => Bin::Ge,
            Some(Tok::Op("==")) => Bin::Eq,
            Some(Tok::Op("!=")) => Bin::Ne,
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.sum()?;
        if matches!(self.peek(), Some(Tok::Op("<" | "<=" | ">" | ">=" | "==" | "!="))) {
            return Err(fault(self.here(), "comparisons do not chain; write `a < b and b < c`"));
        }
        self.binary(l, op, r)
    }

    /// Left-associative operators of one precedence level over operands read by `next`.
    fn chain(
        &mut self,
        ops: &[(&str, Bin)],
        next: fn(&mut Self) -> Result<Typed, Fault>,
    ) -> Result<Typed, Fault> {
        let mut l = next(self)?;
        while let Some(&(_, op)) = ops.iter().find(|(sym, _)| self.op(sym)) {
            self.pos += 1;
            let r = next(self)?;
            l = self.binary(l, op, r)?;
        }
        Ok(l)
    }

    fn sum(&mut self) -> Result<Typed, Fault> {
        self.chain(&[("+", Bin::Add), ("-", Bin::Sub)], Self::prod)
    }

    fn prod(&mut self) -> Result<Typed, Fault> {
        self.chain(&[("*", Bin::Mul), ("/", Bin::Div), ("%", Bin::Rem)], Self::unary)
    }

    fn unary(&mut self) -> Result<Typed, Fault> {
        if !self.op("-") {
            return self.pow();
        }
        let start = self.here().start;
        self.pos += 1;
        let inner = self.nested(|p| p.unary())?;
        self.want(&inner, Ty::Num, "what `-` negates")?;
        let at = start..inner.0.at.end;
        Ok((Expr { node: Node::Neg(Box::new(inner.0)), at }, Ty::Num))
    }

    fn pow(&mut self) -> Result<Typed, Fault> {
        let base = self.atom()?;
        if !self.op("^") {
            return Ok(base);
        }
        self.pos += 1;
        let exponent = self.nested(|p| p.unary())?;
        self.binary(base, Bin::Pow, exponent)
    }

    fn atom(&mut self) -> Result<Typed, Fault> {
        let at = self.here();
        let Some(tok) = self.peek().cloned() else {
            return Err(fault(at, "the expression ends where a value is expected"));
        };
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok((Expr { node: Node::Num(n), at }, Ty::Num)),
            Tok::LParen => {
                let inner = self.expr()?;
                if !matches!(self.peek(), Some(Tok::RParen)) {
                    return Err(fault(self.here(), "expected `)` to close the `(`"));
                }
                let end = self.here().end;
                self.pos += 1;
                Ok((Expr { node: inner.0.node, at: at.start..end }, inner.1))
            }
            Tok::Name { text, braced: false } if text == "true" || text == "false" => {
                Ok((Expr { node: Node::Bool(text == "true"), at }, Ty::Bool))
            }
            Tok::Name { text, braced: false } if matches!(self.peek(), Some(Tok::LParen)) => {
                self.call(&text, at)
            }
            Tok::Name { text, braced: false } if text == "if" => {
                self.pos -= 1;
                self.expr()
            }
            Tok::Name { text, braced } => {
                if !braced && ["if", "then", "else", "and", "or", "not"].contains(&text.as_str()) {
                    return Err(fault(at, format!("`{text}` where a value is expected")));
                }
                let index = match self.tags.iter().position(|(t, _)| *t == text) {
                    Some(i) => i,
                    None => {
                        self.tags.push((text, at.clone()));
                        self.tags.len() - 1
                    }
                };
                Ok((Expr { node: Node::Tag(index), at }, Ty::Num))
            }
            other => Err(fault(at, format!("unexpected {} where a value is expected", describe(&other)))),
        }
    }

    fn call(&mut self, name: &str, at: Range<usize>) -> Result<Typed, Fault> {
        let (func, arity) = match name {
            "min" => (Func::Min, 2..usize::MAX),
            "max" => (Func::Max, 2..usize::MAX),
            "abs" => (Func::Abs, 1..2),
            "sqrt" => (Func::Sqrt, 1..2),
            "pow" => (Func::Pow, 2..3),
            _ => {
                return Err(fault(
                    at,
                    format!(
                        "no function `{name}`; there are min, max, abs, sqrt, pow (a tag named so goes in braces: {{{name}}})"
                    ),
                ));
            }
        };
        self.pos += 1; // (
        let mut args = Vec::new();
        loop {
            let arg = self.expr()?;
            self.want(&arg, Ty::Num, &format!("each argument of `{name}`"))?;
            args.push(arg.0);
            match self.peek() {
                Some(Tok::Comma) => self.pos += 1,
                Some(Tok::RParen) => break,
                _ => {
                    return Err(fault(
                        self.here(),
                        format!("expected `,` or `)` in the arguments of `{name}`"),
                    ));
                }
            }
        }
        let end = self.here().end;
        self.pos += 1;
        if !arity.contains(&args.len()) {
            let wanted = match func {
                Func::Min | Func::Max => "at least 2 arguments".to_owned(),
                _ => format!("{} argument{}", arity.start, if arity.start == 1 { "" } else { "s" }),
            };
            return Err(fault(at.start..end, format!("`{name}` takes {wanted}, here it has {}", args.len())));
        }
        Ok((Expr { node: Node::Call(func, args), at: at.start..end }, Ty::Num))
    }
}

pub fn symbol(op: Bin) -> &'static str {
    match op {
        Bin::Add => "+",
        Bin::Sub => "-",
        Bin::Mul => "*",
        Bin::Div => "/",
        Bin::Rem => "%",
        Bin::Pow => "^",
        Bin::Lt => "<",
        Bin::Le => "<=",
        Bin::Gt => ">",
        Bin::Ge => ">=",
        Bin::Eq => "==",
        Bin::Ne => "!=",
        Bin::And => "and",
        Bin::Or => "or",
    }
}
