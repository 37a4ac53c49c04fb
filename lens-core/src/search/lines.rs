//! The text a hit shows: its line (windowed when long) and the lines around it.

use std::sync::Arc;

use memchr::{memchr, memrchr};

use crate::limits::MAX_SNIPPET_BYTES;

/// Whole lines before and after a hit's line, as many as the request asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// End of the line starting at `line_start` (the `\n` or the end of the file).
pub fn line_end(content: &[u8], line_start: usize) -> usize {
    memchr(b'\n', &content[line_start..]).map_or(content.len(), |i| line_start + i)
}

/// Start of the line holding byte `at`.
pub fn line_start(content: &[u8], at: usize) -> usize {
    memrchr(b'\n', &content[..at.min(content.len())]).map_or(0, |i| i + 1)
}

/// The line around a span, windowed to [`MAX_SNIPPET_BYTES`] around it (on
/// char boundaries) when long.
pub fn snippet(content: &[u8], line_start: usize, start: usize, end: usize) -> Arc<str> {
    let (from, to) = snippet_window(content, line_start, start, end);
    Arc::from(String::from_utf8_lossy(&content[from..to]).as_ref())
}

/// The byte range [`snippet`] shows.
pub fn snippet_window(
    content: &[u8],
    line_start: usize,
    start: usize,
    end: usize,
) -> (usize, usize) {
    let line_end = line_end(content, line_start);
    let (mut from, mut to) = (line_start, line_end);
    if to - from > MAX_SNIPPET_BYTES {
        let room = MAX_SNIPPET_BYTES.saturating_sub(end.min(to) - start) / 2;
        from = start.saturating_sub(room).max(line_start);
        to = (end + room).min(line_end).max(from);
        while from > line_start && (content[from] & 0xC0) == 0x80 {
            from -= 1;
        }
        while to < line_end && (content[to] & 0xC0) == 0x80 {
            to += 1;
        }
    }
    (from, to)
}

/// Up to `n` whole lines before and after the line starting at `line_start`;
/// `None` when `n` is 0.
pub fn context(content: &[u8], line_start: usize, n: usize) -> Option<Box<Context>> {
    if n == 0 {
        return None;
    }
    let mut before = Vec::new();
    let mut end = line_start;
    while before.len() < n && end > 0 {
        let prev_end = end - 1; // the '\n' ending the previous line
        let start = memrchr(b'\n', &content[..prev_end]).map_or(0, |i| i + 1);
        before.push(String::from_utf8_lossy(&content[start..prev_end]).into_owned());
        end = start;
    }
    before.reverse();
    let mut after = Vec::new();
    let mut next = memchr(b'\n', &content[line_start..]).map(|i| line_start + i + 1);
    while after.len() < n {
        let Some(s) = next.filter(|&s| s < content.len()) else {
            break;
        };
        let e = line_end(content, s);
        after.push(String::from_utf8_lossy(&content[s..e]).into_owned());
        next = Some(e + 1);
    }
    Some(Box::new(Context { before, after }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_stops_at_the_file_edges() {
        let text = b"a\nb\nc\nd";
        let c = context(text, 2, 2).unwrap();
        assert_eq!(c.before, vec!["a"]);
        assert_eq!(c.after, vec!["c", "d"]);
        let c = context(text, 6, 1).unwrap();
        assert_eq!(c.before, vec!["c"]);
        assert!(c.after.is_empty());
        assert!(context(text, 0, 0).is_none());
        // A file ending in a newline has no empty last line to show.
        let c = context(b"a\nb\n", 0, 3).unwrap();
        assert_eq!(c.after, vec!["b"]);
    }

    #[test]
    fn long_lines_are_windowed_on_char_boundaries() {
        let mut line = "é".repeat(2000);
        line.push_str("needle");
        line.push_str(&"é".repeat(2000));
        let at = line.find("needle").unwrap();
        let s = snippet(line.as_bytes(), 0, at, at + 6);
        assert!(s.contains("needle"));
        assert!(s.len() <= MAX_SNIPPET_BYTES + 4);
        assert_eq!(line_start(b"ab\ncd", 4), 3);
    }
}
