//! Config errors as a compiler prints them: `error: agent.toml:23:44: what is wrong; what to do`.
//! Shared by every component that reads its own section of the file (drivers, engines, uplinks).

use std::fmt;
use std::ops::Range;

/// One problem, at a byte span of the file when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub span: Option<Range<usize>>,
    pub message: String,
}

/// Every problem found in one file. Displayed in file order, then the count.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    origin: String,
    /// Byte offsets where each line starts, to turn spans into line:col.
    line_starts: Vec<usize>,
    text: String,
    diagnostics: Vec<Diagnostic>,
    /// Names written in items that could not be read: a reference to one is not reported again as
    /// unknown, since the item's own error already says what is wrong.
    unreadable: Vec<String>,
}

impl ConfigErrors {
    pub fn new(origin: &str, text: &str) -> Self {
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect::<Vec<_>>();
        ConfigErrors {
            origin: origin.to_owned(),
            line_starts,
            text: text.to_owned(),
            diagnostics: Vec::new(),
            unreadable: Default::default(),
        }
    }

    /// An error about the file as a whole (it cannot be read, say).
    pub fn whole_file(origin: &str, message: String) -> Self {
        let mut e = ConfigErrors::new(origin, "");
        e.push(None, message);
        e
    }

    pub fn push(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic { span, message: message.into() });
    }

    /// Notes a name from an item that could not be read.
    pub fn note_unreadable(&mut self, name: &str) {
        if !self.is_unreadable(name) {
            self.unreadable.push(name.to_owned());
        }
    }

    /// Whether `name` was written in an item that could not be read.
    pub fn is_unreadable(&self, name: &str) -> bool {
        self.unreadable.iter().any(|n| n == name)
    }

    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let end = offset.min(self.text.len());
        let col = self.text.get(start..end).map_or(end - start, |s| s.chars().count()) + 1;
        (line, col)
    }

    /// `file:line:col: message` lines, in file order.
    pub fn lines(&self) -> Vec<String> {
        let mut sorted: Vec<&Diagnostic> = self.diagnostics.iter().collect();
        sorted.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        sorted
            .into_iter()
            .map(|d| match &d.span {
                Some(span) => {
                    let (line, col) = self.line_col(span.start);
                    format!("{}:{line}:{col}: {}", self.origin, d.message)
                }
                None => format!("{}: {}", self.origin, d.message),
            })
            .collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "error: {line}")?;
        }
        let n = self.len();
        writeln!(f, "{n} error{}; nothing was changed", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let e = ConfigErrors::new("a.toml", "ab\nc°d = 1\n");
        assert_eq!(e.line_col(0), (1, 1));
        assert_eq!(e.line_col(3), (2, 1));
        // '°' is two bytes: the column counts it once.
        assert_eq!(e.line_col(6), (2, 3));
    }

    #[test]
    fn display_sorts_by_position_and_counts() {
        let mut e = ConfigErrors::new("a.toml", "x = 1\ny = 2\n");
        e.push(Some(6..7), "second");
        e.push(Some(0..1), "first");
        assert_eq!(
            e.to_string(),
            "error: a.toml:1:1: first\nerror: a.toml:2:1: second\n2 errors; nothing was changed\n"
        );
    }
}
