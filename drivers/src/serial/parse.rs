//! One line to tag values: the instrument's line filter and checksum, then each tag's field by delimiter,
//! by column or by regex group. A field that is not a number makes its tag Bad, not the line.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checksum {
    #[default]
    None,
    /// NMEA 0183: `$...*HH`, XOR of the characters between `$` (or `!`) and `*`.
    Nmea,
    /// The last two characters: hex XOR of every character before them.
    Xor8,
    /// The last two characters: hex sum, modulo 256, of every character before them.
    Sum8,
}

/// Where a tag's value is in its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Index(usize),
    /// Characters `first..first + count`, from 0.
    Columns {
        first: usize,
        count: usize,
    },
    Group(usize),
    Named(String),
}

/// Why a line is not the instrument's (noise, another sentence, a corrupted line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line {0:?} does not start with {1:?}")]
    Foreign(String, String),
    #[error("line {line:?}: checksum {got} received, {want} computed; check wiring and baud rate")]
    Checksum { line: String, got: String, want: String },
    #[error("line {0:?} has no checksum where one is configured")]
    NoChecksum(String),
    #[error("line {0:?} does not match the instrument's regex")]
    NoMatch(String),
}

/// Why one tag has no value in a line that is the instrument's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the line has no such field")]
    Missing,
    #[error("{0:?} is not a number")]
    NotANumber(String),
}

#[derive(Debug, Clone)]
pub struct LineParser {
    pub starts_with: Option<String>,
    pub checksum: Checksum,
    pub delimiter: Option<String>,
    pub regex: Option<regex::Regex>,
    pub fields: Vec<Field>,
}

impl LineParser {
    /// Whether a line is this instrument's, going by `starts_with` alone.
    pub fn claims(&self, line: &str) -> bool {
        self.starts_with.as_ref().is_none_or(|p| line.starts_with(p.as_str()))
    }

    /// Each tag's reading in `line`, in tag order.
    pub fn parse(&self, line: &str) -> Result<Vec<Result<f64, FieldError>>, LineError> {
        if let Some(p) = self.starts_with.as_ref().filter(|p| !line.starts_with(p.as_str())) {
            return Err(LineError::Foreign(line.to_owned(), p.clone()));
        }
        let body = verify(self.checksum, line)?;
        let captures = match &self.regex {
            Some(re) => Some(re.captures(body).ok_or_else(|| LineError::NoMatch(line.to_owned()))?),
            None => None,
        };
        let split: Vec<&str> = match &self.delimiter {
            Some(d) => body.split(d.as_str()).collect(),
            None => Vec::new(),
        };
        let text_of = |f: &Field| -> Option<String> {
            match f {
                Field::Index(n) => split.get(*n).map(|s| (*s).to_owned()),
                Field::Columns { first, count } => {
                    let s: String = body.chars().skip(*first).take(*count).collect();
                    (s.chars().count() == *count).then_some(s)
                }
                Field::Group(n) => captures.as_ref()?.get(*n).map(|m| m.as_str().to_owned()),
                Field::Named(g) => captures.as_ref()?.name(g).map(|m| m.as_str().to_owned()),
            }
        };
        Ok(self
            .fields
            .iter()
            .map(|f| {
                let text = text_of(f).ok_or(FieldError::Missing)?;
                let t = text.trim();
                // Instruments pad with '+' and spaces ("+ 12.50"); Rust's parser takes neither inside.
                let t = t.strip_prefix('+').map_or(t, str::trim_start);
                t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(FieldError::NotANumber(text))
            })
            .collect())
    }
}

/// The line without its checksum, when the checksum is right.
fn verify(kind: Checksum, line: &str) -> Result<&str, LineError> {
    let hex_tail = |line: &str| -> Option<(usize, u8)> {
        let start = line.char_indices().rev().nth(1).map(|(i, _)| i)?;
        let tail = &line[start..];
        (tail.len() == 2).then(|| u8::from_str_radix(tail, 16).ok().map(|v| (start, v))).flatten()
    };
    let mismatch = |got: u8, want: u8| LineError::Checksum {
        line: line.to_owned(),
        got: format!("{got:02X}"),
        want: format!("{want:02X}"),
    };
    match kind {
        Checksum::None => Ok(line),
        Checksum::Nmea => {
            let star = line.rfind('*').ok_or_else(|| LineError::NoChecksum(line.to_owned()))?;
            let body = line[..star].trim_start_matches(['$', '!']);
            let (_, got) = hex_tail(line)
                .filter(|(at, _)| *at == star + 1)
                .ok_or_else(|| LineError::NoChecksum(line.to_owned()))?;
            let want = body.bytes().fold(0u8, |a, b| a ^ b);
            if got != want {
                return Err(mismatch(got, want));
            }
            Ok(&line[..star])
        }
        Checksum::Xor8 | Checksum::Sum8 => {
            let (at, got) = hex_tail(line).ok_or_else(|| LineError::NoChecksum(line.to_owned()))?;
            let body = &line[..at];
            let want = match kind {
                Checksum::Xor8 => body.bytes().fold(0u8, |a, b| a ^ b),
                _ => body.bytes().fold(0u8, |a, b| a.wrapping_add(b)),
            };
            if got != want {
                return Err(mismatch(got, want));
            }
            Ok(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(
        delimiter: Option<&str>,
        regex: Option<&str>,
        checksum: Checksum,
        fields: Vec<Field>,
    ) -> LineParser {
        LineParser {
            starts_with: None,
            checksum,
            delimiter: delimiter.map(str::to_owned),
            regex: regex.map(|r| regex::Regex::new(r).unwrap()),
            fields,
        }
    }

    #[test]
    fn fields_by_delimiter_by_column_and_by_regex() {
        let p =
            parser(Some(","), None, Checksum::None, vec![Field::Index(1), Field::Index(2), Field::Index(9)]);
        assert_eq!(p.parse("烟气,20.9, +12.5").unwrap(), [Ok(20.9), Ok(12.5), Err(FieldError::Missing)]);
        // A scale: "ST,GS,+  12.345kg", the weight in columns 7-15.
        let p = parser(None, None, Checksum::None, vec![Field::Columns { first: 6, count: 9 }]);
        assert_eq!(p.parse("ST,GS,+  12.345kg").unwrap(), [Ok(12.345)]);
        assert_eq!(p.parse("ST,GS").unwrap(), [Err(FieldError::Missing)]);
        let p = parser(
            None,
            Some(r"O2=(?P<o2>[-0-9.]+)%\s+CO=([0-9.]+)"),
            Checksum::None,
            vec![Field::Named("o2".into()), Field::Group(2)],
        );
        assert_eq!(p.parse("O2=3.2% CO=41").unwrap(), [Ok(3.2), Ok(41.0)]);
        assert_eq!(p.parse("ERR 7"), Err(LineError::NoMatch("ERR 7".into())));
    }

    #[test]
    fn a_field_that_is_not_a_number_is_bad_alone() {
        let p = parser(Some(";"), None, Checksum::None, vec![Field::Index(0), Field::Index(1)]);
        assert_eq!(p.parse("----;7").unwrap(), [Err(FieldError::NotANumber("----".into())), Ok(7.0)]);
        assert_eq!(p.parse("NaN;inf").unwrap()[0], Err(FieldError::NotANumber("NaN".into())));
    }

    #[test]
    fn checksums_are_verified_and_stripped() {
        // NMEA 0183 example sentence with its published checksum 47.
        let gga = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
        let p = parser(Some(","), None, Checksum::Nmea, vec![Field::Index(9)]);
        assert_eq!(p.parse(gga).unwrap(), [Ok(545.4)]);
        let bad = gga.replace("545.4", "545.5");
        assert!(matches!(p.parse(&bad), Err(LineError::Checksum { .. })));
        assert!(matches!(p.parse("$GPGGA,1,2"), Err(LineError::NoChecksum(_))));

        let body = "12.5,3.1";
        let x = body.bytes().fold(0u8, |a, b| a ^ b);
        let s = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        let p = parser(Some(","), None, Checksum::Xor8, vec![Field::Index(1)]);
        assert_eq!(p.parse(&format!("{body}{x:02X}")).unwrap(), [Ok(3.1)]);
        let p = parser(Some(","), None, Checksum::Sum8, vec![Field::Index(1)]);
        assert_eq!(p.parse(&format!("{body}{s:02x}")).unwrap(), [Ok(3.1)]);
        assert!(p.parse(&format!("{body}{:02X}", s ^ 1)).is_err());
        // A multi-byte character where the checksum should be: refused, no slicing inside it.
        assert!(p.parse("12.5,3.锅").is_err());
    }

    use proptest::prelude::*;

    fn any_parser() -> impl Strategy<Value = LineParser> {
        let checksum = prop_oneof![
            Just(Checksum::None),
            Just(Checksum::Nmea),
            Just(Checksum::Xor8),
            Just(Checksum::Sum8)
        ];
        let field = prop_oneof![
            (0usize..12).prop_map(Field::Index),
            (0usize..40, 0usize..12).prop_map(|(first, count)| Field::Columns { first, count }),
        ];
        (
            checksum,
            prop::sample::select(vec![None, Some(","), Some(";"), Some(" "), Some("，")]),
            prop::collection::vec(field, 1..4),
        )
            .prop_map(|(checksum, delimiter, fields)| parser(delimiter, None, checksum, fields))
    }

    /// A line the instrument could have sent (fields, then the checksum its kind asks for), so the
    /// checks pass and the field paths run; the properties below also mutate it.
    fn framed(kind: Checksum, body: &str) -> String {
        let x = body.bytes().fold(0u8, |a, b| a ^ b);
        match kind {
            Checksum::None => body.to_owned(),
            Checksum::Nmea => format!("${body}*{x:02X}"),
            Checksum::Xor8 => format!("{body}{x:02X}"),
            Checksum::Sum8 => format!("{body}{:02X}", body.bytes().fold(0u8, |a, b| a.wrapping_add(b))),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(protocols::testkit::cases()))]
        /// Any line, of any characters: values or reasons, never a panic, and each reason says what.
        #[test]
        fn any_line_gives_values_or_reasons_without_a_panic(p in any_parser(), line in "\\PC{0,60}") {
            match p.parse(&line) {
                Ok(fields) => {
                    prop_assert_eq!(fields.len(), p.fields.len());
                    for f in fields.iter().filter_map(|f| f.as_ref().err()) {
                        prop_assert!(!f.to_string().is_empty());
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("line")),
            }
        }

        /// A well-framed line parses; one ASCII character of it changed to another is refused (a one-byte
        /// change always moves an XOR and a sum mod 256; a multi-byte character can collide with a sum:
        /// '，' sums to '7', so such changes are not claimed).
        #[test]
        fn a_framed_line_parses_and_a_changed_one_is_caught(
            p in any_parser(),
            values in prop::collection::vec(-1e6f64..1e6, 1..6),
            at in any::<prop::sample::Index>(),
            with in "[0-9.,;A-Z]",
        ) {
            let sep = p.delimiter.clone().unwrap_or_else(|| ",".into());
            let body = values.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(&sep);
            let line = framed(p.checksum, &body);
            prop_assert!(p.parse(&line).is_ok(), "{:?} refused {}", p, line);
            let chars: Vec<char> = line.chars().collect();
            let i = at.index(chars.len());
            let changed: String = chars.iter().enumerate().map(|(j, c)| if j == i { with.clone() } else { c.to_string() }).collect();
            if changed != line && chars[i].is_ascii() && p.checksum != Checksum::None {
                prop_assert!(p.parse(&changed).is_err(), "{:?} took {} for {}", p, changed, line);
            }
        }
    }
}
