//! Evaluation without panics: every arithmetic fault (division by zero, a root of a negative number, a
//! result too large for a float) stops the evaluation with what happened and where.

use super::lex::{Fault, fault};
use super::parse::{Bin, Expr, Func, Node, symbol};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    Num(f64),
    Bool(bool),
}

impl Val {
    fn num(self) -> f64 {
        match self {
            Val::Num(n) => n,
            Val::Bool(b) => f64::from(u8::from(b)),
        }
    }

    fn truth(self) -> bool {
        match self {
            Val::Bool(b) => b,
            Val::Num(n) => n != 0.0,
        }
    }
}

/// Evaluates `e` with `tags[i]` the value of the expression's i-th tag.
pub fn eval(e: &Expr, tags: &[f64]) -> Result<Val, Fault> {
    let finite = |v: f64, what: &str| {
        if v.is_finite() { Ok(Val::Num(v)) } else { Err(fault(e.at.clone(), format!("{what} is {v}"))) }
    };
    match &e.node {
        Node::Num(n) => Ok(Val::Num(*n)),
        Node::Bool(b) => Ok(Val::Bool(*b)),
        Node::Tag(i) => match tags.get(*i) {
            Some(v) if v.is_finite() => Ok(Val::Num(*v)),
            Some(v) => Err(fault(e.at.clone(), format!("the tag's value is {v}"))),
            None => Err(fault(e.at.clone(), "the tag has no value yet")),
        },
        Node::Neg(x) => Ok(Val::Num(-eval(x, tags)?.num())),
        Node::Not(x) => Ok(Val::Bool(!eval(x, tags)?.truth())),
        Node::If(c, yes, no) => {
            if eval(c, tags)?.truth() {
                eval(yes, tags)
            } else {
                eval(no, tags)
            }
        }
        Node::Bin(Bin::And, l, r) => Ok(Val::Bool(eval(l, tags)?.truth() && eval(r, tags)?.truth())),
        Node::Bin(Bin::Or, l, r) => Ok(Val::Bool(eval(l, tags)?.truth() || eval(r, tags)?.truth())),
        Node::Bin(op, l, r) => {
            let (a, b) = (eval(l, tags)?.num(), eval(r, tags)?.num());
            match op {
                Bin::Add => finite(a + b, "the sum"),
                Bin::Sub => finite(a - b, "the difference"),
                Bin::Mul => finite(a * b, "the product"),
                Bin::Div | Bin::Rem if b == 0.0 => {
                    Err(fault(e.at.clone(), format!("division by zero (`{}` by 0)", symbol(*op))))
                }
                Bin::Div => finite(a / b, "the quotient"),
                Bin::Rem => finite(a % b, "the remainder"),
                Bin::Pow => power(a, b, e),
                Bin::Lt => Ok(Val::Bool(a < b)),
                Bin::Le => Ok(Val::Bool(a <= b)),
                Bin::Gt => Ok(Val::Bool(a > b)),
                Bin::Ge => Ok(Val::Bool(a >= b)),
                Bin::Eq => Ok(Val::Bool(a == b)),
                Bin::Ne => Ok(Val::Bool(a != b)),
                Bin::And | Bin::Or => unreachable!("handled above"),
            }
        }
        Node::Call(func, args) => {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                values.push(eval(a, tags)?.num());
            }
            let x = values.first().copied().unwrap_or(f64::NAN);
            let y = values.get(1).copied().unwrap_or(f64::NAN);
            match func {
                Func::Min => Ok(Val::Num(values.iter().copied().fold(f64::INFINITY, f64::min))),
                Func::Max => Ok(Val::Num(values.iter().copied().fold(f64::NEG_INFINITY, f64::max))),
                Func::Abs => Ok(Val::Num(x.abs())),
                Func::Sqrt if x < 0.0 => {
                    Err(fault(e.at.clone(), format!("square root of a negative number ({x})")))
                }
                Func::Sqrt => Ok(Val::Num(x.sqrt())),
                Func::Pow => power(x, y, e),
            }
        }
    }
}

fn power(a: f64, b: f64, e: &Expr) -> Result<Val, Fault> {
    if a == 0.0 && b < 0.0 {
        return Err(fault(e.at.clone(), "division by zero (0 to a negative power)"));
    }
    let v = a.powf(b);
    if v.is_nan() {
        return Err(fault(e.at.clone(), format!("{a} to the power {b} is not a real number")));
    }
    if v.is_infinite() {
        return Err(fault(e.at.clone(), format!("{a} to the power {b} is too large")));
    }
    Ok(Val::Num(v))
}
