//! `[[serial.port]]`: one serial port and the ASCII instruments on it.

use std::ops::Range;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::parse::{Checksum, Field, LineParser};
use crate::sections::Problem;
use crate::units::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialPortConfig {
    pub name: Spanned<String>,
    /// e.g. `/dev/ttyUSB0`.
    pub port: Spanned<String>,
    #[serde(default = "default_baud")]
    pub baud: Spanned<u32>,
    #[serde(default = "no_parity")]
    pub parity: Parity,
    #[serde(default = "one_stop")]
    pub stop_bits: Spanned<u8>,
    #[serde(default = "eight_bits")]
    pub data_bits: Spanned<u8>,
    /// Read instrument by instrument and tag by tag, so every bad one is reported (see `kind.rs`).
    #[serde(rename = "instrument", default)]
    pub instruments: Vec<InstrumentConfig>,
}

fn default_baud() -> Spanned<u32> {
    Spanned::new(0..0, 9600)
}
fn no_parity() -> Parity {
    Parity::None
}
fn one_stop() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}
fn eight_bits() -> Spanned<u8> {
    Spanned::new(0..0, 8)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    pub name: Spanned<String>,
    /// What to send to be answered with one line, e.g. `"#01\r"`; without it the instrument streams.
    pub request: Option<Spanned<String>>,
    /// What ends a line.
    #[serde(default = "crlf")]
    pub terminator: Spanned<String>,
    /// Polled: how often it is asked. Streamed: unused.
    #[serde(default = "default_scan")]
    pub scan: Span,
    /// Polled: from the request to the whole answer. Streamed: the longest silence before its tags go Bad.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Only lines starting with this are the instrument's (streams of several sentence types, or
    /// several instruments on one line).
    pub starts_with: Option<Spanned<String>>,
    #[serde(default)]
    pub checksum: Checksum,
    /// Fields split by this (`field = n` on a tag, counted from 0).
    pub delimiter: Option<Spanned<String>>,
    /// Fields as the regex's capture groups (`capture = "o2"` or `capture = "1"` on a tag).
    pub regex: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<SerialTagConfig>,
}

fn crlf() -> Spanned<String> {
    Spanned::new(0..0, "\r\n".into())
}
fn default_scan() -> Span {
    Span::secs(1)
}
fn default_timeout() -> Span {
    Span::secs(1)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialTagConfig {
    pub name: Spanned<String>,
    /// The n-th field (from 0) between delimiters.
    pub field: Option<Spanned<usize>>,
    /// Columns of the line, counted in characters from 1, both ends included: `"5-10"`.
    pub columns: Option<Spanned<String>>,
    /// A capture group of the instrument's regex, by name or number.
    pub capture: Option<Spanned<String>>,
    /// Engineering value = reading × scale + offset.
    #[serde(default = "unit_scale")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
}

fn unit_scale() -> f64 {
    1.0
}

impl SerialPortConfig {
    pub fn is_streaming(&self) -> bool {
        self.instruments.iter().any(|i| i.request.is_none())
    }

    /// Everything wrong that can be seen from the port alone, each at its place.
    pub fn problems(&self) -> Vec<Problem> {
        let port = self.name.get_ref();
        let mut out: Vec<Problem> = Vec::new();
        if self.port.get_ref().trim().is_empty() {
            out.push((
                self.port.span(),
                format!("serial port {port}: `port` names the device, e.g. \"/dev/ttyUSB0\""),
            ));
        }
        if *self.baud.get_ref() == 0 {
            out.push((self.baud.span(), format!("serial port {port}: baud must be above 0, e.g. 9600")));
        }
        if !matches!(self.stop_bits.get_ref(), 1 | 2) {
            out.push((self.stop_bits.span(), format!("serial port {port}: stop_bits is 1 or 2")));
        }
        if !matches!(self.data_bits.get_ref(), 7 | 8) {
            out.push((self.data_bits.span(), format!("serial port {port}: data_bits is 7 or 8")));
        }
        if self.instruments.is_empty() {
            out.push((
                self.name.span(),
                format!("serial port {port}: declare its instruments as [[serial.port.instrument]]"),
            ));
        }
        let streamed = self.instruments.iter().filter(|i| i.request.is_none()).count();
        if streamed > 0 && streamed < self.instruments.len() {
            out.push((
                self.name.span(),
                format!(
                    "serial port {port}: polled and streaming instruments cannot share a port (a streamed \
                     line could be taken for an answer); give every instrument a `request`, or none"
                ),
            ));
        }
        if streamed > 1 && self.instruments.iter().any(|i| i.starts_with.is_none()) {
            out.push((
                self.name.span(),
                format!(
                    "serial port {port}: several instruments stream on it; give each `starts_with`, so \
                     each line goes to its instrument"
                ),
            ));
        }
        if streamed > 1
            && self.instruments.windows(2).any(|w| w[0].terminator.get_ref() != w[1].terminator.get_ref())
        {
            out.push((
                self.name.span(),
                format!("serial port {port}: instruments streaming on one port end their lines alike; give them one `terminator`"),
            ));
        }
        for i in &self.instruments {
            out.extend(i.problems(port));
        }
        out
    }
}

impl InstrumentConfig {
    fn problems(&self, port: &str) -> Vec<Problem> {
        let name = self.name.get_ref();
        let at = |s: &Range<usize>| if s.is_empty() { self.name.span() } else { s.clone() };
        let mut out: Vec<Problem> = Vec::new();
        if self.terminator.get_ref().is_empty() {
            out.push((
                at(&self.terminator.span()),
                format!("instrument {name}: terminator is empty; most send \"\\r\\n\""),
            ));
        }
        if self.timeout.get().is_zero() {
            out.push((self.name.span(), format!("instrument {name}: timeout must be above 0")));
        }
        if self.request.is_some() && self.scan.get().is_zero() {
            out.push((self.name.span(), format!("instrument {name}: scan must be above 0")));
        }
        match (&self.delimiter, &self.regex) {
            (Some(d), Some(_)) => out.push((
                d.span(),
                format!("instrument {name}: fields come from `delimiter` or from `regex`, not both"),
            )),
            (Some(d), None) if d.get_ref().is_empty() => {
                out.push((d.span(), format!("instrument {name}: delimiter is empty, e.g. \",\"")))
            }
            (None, Some(r)) => {
                if let Err(e) = regex::Regex::new(r.get_ref()) {
                    let why = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .trim_start_matches("error: ")
                        .to_owned();
                    out.push((r.span(), format!("instrument {name}: regex does not compile: {why}")));
                }
            }
            _ => {}
        }
        if self.tags.is_empty() {
            out.push((self.name.span(), format!("instrument {name} on {port}: declare its `tags`")));
        }
        for t in &self.tags {
            if let Err(why) = self.field_of(t) {
                out.push((t.name.span(), format!("tag {}: {why}", t.name.get_ref())));
            }
        }
        out
    }

    /// Where a tag's value is in the line.
    pub fn field_of(&self, t: &SerialTagConfig) -> Result<Field, String> {
        match (&t.field, &t.columns, &t.capture) {
            (Some(n), None, None) if self.delimiter.is_some() => Ok(Field::Index(*n.get_ref())),
            (Some(_), None, None) => {
                Err("`field` counts between delimiters: set `delimiter` on the instrument".into())
            }
            (None, Some(c), None) => parse_columns(c.get_ref()),
            (None, None, Some(c)) => {
                let Some(regex) = self.regex.as_ref().and_then(|r| regex::Regex::new(r.get_ref()).ok())
                else {
                    return Err("`capture` names a group of the instrument's `regex`: set one".into());
                };
                match c.get_ref().parse::<usize>() {
                    Ok(n) if n >= 1 && n < regex.captures_len() => Ok(Field::Group(n)),
                    Ok(n) => Err(format!("the regex has no group {n} (it has {})", regex.captures_len() - 1)),
                    Err(_) if regex.capture_names().flatten().any(|g| g == c.get_ref()) => {
                        Ok(Field::Named(c.get_ref().clone()))
                    }
                    Err(_) => Err(format!("the regex has no group named {:?}", c.get_ref())),
                }
            }
            _ => Err("give exactly one of `field`, `columns` or `capture`".into()),
        }
    }

    /// The parser of this instrument's lines; `Err` as [`InstrumentConfig::problems`] reports it.
    pub fn parser(&self) -> Result<LineParser, String> {
        let fields = self.tags.iter().map(|t| self.field_of(t)).collect::<Result<Vec<_>, _>>()?;
        let regex = match &self.regex {
            Some(r) => Some(regex::Regex::new(r.get_ref()).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(LineParser {
            starts_with: self.starts_with.as_ref().map(|s| s.get_ref().clone()),
            checksum: self.checksum,
            delimiter: self.delimiter.as_ref().map(|d| d.get_ref().clone()),
            regex,
            fields,
        })
    }
}

/// `"5-10"` (characters, from 1, both included) or `"7"`.
fn parse_columns(text: &str) -> Result<Field, String> {
    let bad = || format!("columns {text:?}: write \"first-last\" counted from 1, e.g. \"5-10\"");
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b): (usize, usize) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Field::Columns { first: a - 1, count: b - a + 1 })
}
