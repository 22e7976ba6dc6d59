//! Bytes off a serial port to lines, sans-IO: a line ends at the terminator; a partial line waits for
//! the rest; a line longer than any instrument sends (noise, a wrong baud rate) is dropped whole.

/// Longer than any ASCII instrument's line; a run of bytes this long without a terminator is noise.
pub const MAX_LINE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line without its terminator, as text (bytes that are not UTF-8 become U+FFFD) with control
    /// characters at either end trimmed.
    Text(String),
    /// More than [`MAX_LINE`] bytes before a terminator, dropped.
    TooLong(usize),
}

#[derive(Debug, Clone)]
pub struct LineReader {
    terminator: Vec<u8>,
    buf: Vec<u8>,
    /// Bytes of an overlong line dropped so far; its end is awaited before lines are cut again.
    dropping: Option<usize>,
}

impl LineReader {
    pub fn new(terminator: &[u8]) -> Self {
        let terminator = if terminator.is_empty() { b"\n".to_vec() } else { terminator.to_vec() };
        LineReader { terminator, buf: Vec::new(), dropping: None }
    }

    /// Forgets a partial line: before a request, so a late answer's tail is not taken for the next one.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.dropping = None;
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line received, if one is.
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            let end = self.buf.windows(self.terminator.len()).position(|w| w == self.terminator);
            let Some(end) = end else {
                if self.buf.len() > MAX_LINE {
                    // Keep the bytes that may be the start of a terminator.
                    let keep = self.terminator.len() - 1;
                    let drop = self.buf.len() - keep;
                    self.buf.drain(..drop);
                    *self.dropping.get_or_insert(0) += drop;
                }
                return None;
            };
            let line: Vec<u8> = self.buf.drain(..end + self.terminator.len()).take(end).collect();
            if let Some(dropped) = self.dropping.take() {
                return Some(Line::TooLong(dropped + line.len()));
            }
            if line.len() > MAX_LINE {
                return Some(Line::TooLong(line.len()));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_matches(|c: char| c.is_control());
            if text.is_empty() {
                continue;
            }
            return Some(Line::Text(text.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_in_pieces_comes_out_whole_and_only_when_complete() {
        let mut r = LineReader::new(b"\r\n");
        r.push(b"O2=20.");
        assert_eq!(r.next_line(), None);
        r.push(b"9\r");
        assert_eq!(r.next_line(), None, "half a terminator");
        r.push(b"\nCO=1");
        assert_eq!(r.next_line(), Some(Line::Text("O2=20.9".into())));
        assert_eq!(r.next_line(), None);
        r.push("2\r\n\r\n锅炉 3.5\r\n".as_bytes());
        assert_eq!(r.next_line(), Some(Line::Text("CO=12".into())));
        assert_eq!(r.next_line(), Some(Line::Text("锅炉 3.5".into())), "empty lines are skipped");
    }

    #[test]
    fn noise_without_a_terminator_is_dropped_as_one_overlong_line() {
        let mut r = LineReader::new(b"\n");
        r.push(&[0xAA; 3000]);
        assert_eq!(r.next_line(), None);
        r.push(b"tail\n12.5\n");
        assert_eq!(r.next_line(), Some(Line::TooLong(3004)));
        assert_eq!(r.next_line(), Some(Line::Text("12.5".into())));
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_break_the_line() {
        let mut r = LineReader::new(b"\r");
        r.push(b"\x00\xff 7.25\r");
        assert_eq!(r.next_line(), Some(Line::Text("\u{fffd} 7.25".into())));
    }
}
