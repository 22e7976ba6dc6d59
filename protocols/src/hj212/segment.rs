//! The data segment: `QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&..&&`.
//!
//! CP holds groups separated by `;`, each of fields separated by `,`, each `key=value`
//! (HJ 212-2017 §6.3.3, kept in 2025): `DataTime=20240101120000;a21026-Rtd=12.3,a21026-Flag=N`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::Hj212Error;

/// The protocol edition, written in `Flag`'s version bits (bits 2..=7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Edition {
    /// HJ 212-2017: version 1.
    V2017,
    /// HJ 212-2025 (in force from 2026-01-01): version 2.
    V2025,
}

impl Edition {
    pub const fn version(self) -> u8 {
        match self {
            Edition::V2017 => 1,
            Edition::V2025 => 2,
        }
    }
    pub fn from_version(v: u8) -> Option<Edition> {
        match v {
            1 => Some(Edition::V2017),
            2 => Some(Edition::V2025),
            _ => None,
        }
    }
}

/// `Flag`: bits V5..V0 (edition), D (bit 1: PNUM/PNO present), A (bit 0: answer wanted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flag(pub u8);

impl Flag {
    pub const fn new(edition: Edition, answer: bool, packet: bool) -> Flag {
        Flag(edition.version() << 2 | (packet as u8) << 1 | answer as u8)
    }
    pub const fn version(self) -> u8 {
        self.0 >> 2
    }
    pub fn edition(self) -> Option<Edition> {
        Edition::from_version(self.version())
    }
    pub const fn answer(self) -> bool {
        self.0 & 1 == 1
    }
    pub const fn packet(self) -> bool {
        self.0 & 2 == 2
    }
    pub const fn with_packet(self, on: bool) -> Flag {
        Flag(self.0 & !2 | (on as u8) << 1)
    }
}

/// One `key=value` of CP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub value: String,
}

impl Field {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Field {
        Field { key: key.into(), value: value.into() }
    }
}

/// CP: groups of fields.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cp {
    pub groups: Vec<Vec<Field>>,
}

impl Cp {
    /// The first value of `key` in any group.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.groups.iter().flatten().find(|f| f.key == key).map(|f| f.value.as_str())
    }
}

/// A decoded or to-be-encoded data segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Request number, `YYYYMMDDhhmmsszzz`; replies carry the request's.
    pub qn: Option<String>,
    /// System code: 31 flue gas, 32 waste water, 91 system interaction.
    pub st: String,
    /// Command code: 2011 real-time, 2051 minute, 2061 hour, 2031 day, 9011/9012/9014 replies.
    pub cn: u16,
    pub pw: String,
    /// Device (data logger) id.
    pub mn: String,
    pub flag: Option<Flag>,
    /// `(PNUM, PNO)`: total packets and this one's number from 1.
    pub packet: Option<(u16, u16)>,
    pub cp: Cp,
}

const SEPARATORS: &[char] = &[';', ',', '=', '&', '\r', '\n'];

fn plain(field: &str, value: &str) -> Result<(), Hj212Error> {
    if value.contains(SEPARATORS) {
        return Err(Hj212Error::Separator { field: field.into() });
    }
    Ok(())
}

impl Segment {
    /// Writes the segment, refusing a value that holds a separator (it would change the meaning).
    pub fn encode(&self, out: &mut String) -> Result<(), Hj212Error> {
        if let Some(qn) = &self.qn {
            plain("QN", qn)?;
            let _ = write!(out, "QN={qn};");
        }
        plain("ST", &self.st)?;
        plain("PW", &self.pw)?;
        plain("MN", &self.mn)?;
        let _ = write!(out, "ST={};CN={:04};PW={};MN={};", self.st, self.cn, self.pw, self.mn);
        if let Some(flag) = self.flag {
            let _ = write!(out, "Flag={};", flag.0);
        }
        if let Some((pnum, pno)) = self.packet {
            let _ = write!(out, "PNUM={pnum};PNO={pno};");
        }
        out.push_str("CP=&&");
        encode_cp(&self.cp, out)?;
        out.push_str("&&");
        Ok(())
    }

    /// Reads a segment; the error names the first field that is wrong.
    pub fn decode(text: &str) -> Result<Segment, Hj212Error> {
        let at = text.find("CP=&&").ok_or(Hj212Error::Missing("CP"))?;
        let (head, rest) = text.split_at(at);
        let body = &rest[5..];
        let body = body.strip_suffix("&&").ok_or(Hj212Error::Field {
            field: "CP".into(),
            problem: "CP does not end in `&&` at the end of the data segment",
        })?;
        let mut seg = Segment {
            qn: None,
            st: String::new(),
            cn: 0,
            pw: String::new(),
            mn: String::new(),
            flag: None,
            packet: None,
            cp: decode_cp(body)?,
        };
        let (mut st, mut cn, mut pw, mut mn) = (false, false, false, false);
        let (mut pnum, mut pno) = (None, None);
        for part in head.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| Hj212Error::Field {
                field: part.into(),
                problem: "no `=` between name and value",
            })?;
            let dup = || Hj212Error::Duplicate(key.into());
            match key {
                "QN" => {
                    if seg.qn.is_some() {
                        return Err(dup());
                    }
                    if value.len() != 17 || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(field_err("QN", "QN is 17 digits YYYYMMDDhhmmsszzz"));
                    }
                    seg.qn = Some(value.into());
                }
                "ST" => {
                    if core::mem::replace(&mut st, true) {
                        return Err(dup());
                    }
                    seg.st = value.into();
                }
                "CN" => {
                    if core::mem::replace(&mut cn, true) {
                        return Err(dup());
                    }
                    seg.cn = digits(value, 4).ok_or_else(|| field_err("CN", "CN is 4 digits"))?;
                }
                "PW" => {
                    if core::mem::replace(&mut pw, true) {
                        return Err(dup());
                    }
                    seg.pw = value.into();
                }
                "MN" => {
                    if core::mem::replace(&mut mn, true) {
                        return Err(dup());
                    }
                    seg.mn = value.into();
                }
                "Flag" => {
                    if seg.flag.is_some() {
                        return Err(dup());
                    }
                    let v = digits(value, 3).filter(|v| *v <= 255);
                    seg.flag =
                        Some(Flag(v.ok_or_else(|| field_err("Flag", "Flag is a number 0..=255"))? as u8));
                }
                "PNUM" => {
                    if pnum.is_some() {
                        return Err(dup());
                    }
                    pnum = Some(digits(value, 4).ok_or_else(|| field_err("PNUM", "PNUM is 1 to 4 digits"))?);
                }
                "PNO" => {
                    if pno.is_some() {
                        return Err(dup());
                    }
                    pno = Some(digits(value, 4).ok_or_else(|| field_err("PNO", "PNO is 1 to 4 digits"))?);
                }
                _ => return Err(field_err(key, "not a field of the HJ 212 data segment")),
            }
        }
        if !cn {
            return Err(Hj212Error::Missing("CN"));
        }
        if !st {
            return Err(Hj212Error::Missing("ST"));
        }
        if !mn {
            return Err(Hj212Error::Missing("MN"));
        }
        seg.packet = match (pnum, pno) {
            (None, None) => None,
            (Some(n), Some(o)) if o >= 1 && o <= n => Some((n, o)),
            (Some(_), Some(_)) => return Err(field_err("PNO", "PNO is between 1 and PNUM")),
            (None, Some(_)) => return Err(Hj212Error::Missing("PNUM")),
            (Some(_), None) => return Err(Hj212Error::Missing("PNO")),
        };
        Ok(seg)
    }
}

fn field_err(field: &str, problem: &'static str) -> Hj212Error {
    Hj212Error::Field { field: field.into(), problem }
}

/// 1 to `max` ASCII digits.
fn digits(value: &str, max: usize) -> Option<u16> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

pub(crate) fn encode_group(group: &[Field], out: &mut String) -> Result<(), Hj212Error> {
    for (i, f) in group.iter().enumerate() {
        if f.key.is_empty() {
            return Err(field_err("CP", "a CP field has an empty name"));
        }
        plain(&f.key, &f.key)?;
        plain(&f.key, &f.value)?;
        if i > 0 {
            out.push(',');
        }
        out.push_str(&f.key);
        out.push('=');
        out.push_str(&f.value);
    }
    Ok(())
}

fn encode_cp(cp: &Cp, out: &mut String) -> Result<(), Hj212Error> {
    for (i, group) in cp.groups.iter().filter(|g| !g.is_empty()).enumerate() {
        if i > 0 {
            out.push(';');
        }
        encode_group(group, out)?;
    }
    Ok(())
}

fn decode_cp(body: &str) -> Result<Cp, Hj212Error> {
    let mut cp = Cp::default();
    if body.contains('&') {
        return Err(field_err("CP", "`&` inside CP; CP is `&&` fields `&&`"));
    }
    for group in body.split(';').filter(|g| !g.is_empty()) {
        let mut fields = Vec::new();
        for part in group.split(',') {
            let (key, value) = part.split_once('=').ok_or_else(|| Hj212Error::Field {
                field: part.into(),
                problem: "CP field has no `=` between name and value",
            })?;
            if key.is_empty() {
                return Err(field_err("CP", "a CP field has an empty name"));
            }
            fields.push(Field::new(key, value));
        }
        cp.groups.push(fields);
    }
    Ok(cp)
}
