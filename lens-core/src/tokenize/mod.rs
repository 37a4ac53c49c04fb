//! Code-aware tokens: identifiers are emitted whole and split at `_`,
//! camelCase and digit→upper-case boundaries, all lower-cased.
//!
//! `parseHTTPResponse_v2` yields `parsehttpresponse_v2`, `parse`, `http`,
//! `response`, `v2`. The scanner works on bytes and allocates nothing per
//! token (ASCII fast path; other scripts via `char`). [`CodeTokenizer`] is
//! the tokenizer tantivy runs at index time.

mod tantivy_stream;

pub use tantivy_stream::{CODE_TOKENIZER, CodeTokenizer};

/// Longest token kept, in bytes; longer runs are usually data, not names.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Calls `emit(token, start, end)` for every token of `text` (byte offsets).
pub fn for_each_token(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    let mut scratch = WordScratch::default();
    for_each_word(text, |start, end, ascii| {
        scratch.tokens(&text[start..end], ascii, |t, s, e| {
            emit(t, start + s, start + e)
        });
    });
}

/// Bytes that may appear in an identifier, for the ASCII range.
static IDENT_BYTE: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
};

/// Calls `word(start, end, ascii)` for every maximal run of identifier
/// characters of at most [`MAX_TOKEN_BYTES`] bytes.
pub(crate) fn for_each_word(text: &str, mut word: impl FnMut(usize, usize, bool)) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        if b < 0x80 {
            if !IDENT_BYTE[b as usize] {
                i += 1;
                continue;
            }
        } else {
            let c = text[i..].chars().next().expect("on a char boundary");
            if !is_ident(c) {
                i += c.len_utf8();
                continue;
            }
        }
        let start = i;
        let mut ascii = true;
        while i < n {
            let b = bytes[i];
            if b < 0x80 {
                if !IDENT_BYTE[b as usize] {
                    break;
                }
                i += 1;
            } else {
                let c = text[i..].chars().next().expect("on a char boundary");
                if !is_ident(c) {
                    break;
                }
                ascii = false;
                i += c.len_utf8();
            }
        }
        if i - start <= MAX_TOKEN_BYTES {
            word(start, i, ascii);
        }
    }
}

/// Buffers for turning one word into its tokens.
#[derive(Clone, Default)]
pub(crate) struct WordScratch {
    lower: String,
    parts: Vec<(usize, usize)>,
}

impl WordScratch {
    /// Calls `emit(token, start, end)` for the tokens of one word (offsets in the word).
    pub(crate) fn tokens(
        &mut self,
        word: &str,
        ascii: bool,
        mut emit: impl FnMut(&str, usize, usize),
    ) {
        self.parts.clear();
        if ascii {
            split_ascii(word.as_bytes(), &mut self.parts);
        } else {
            self.parts.extend(split_identifier(word));
        }
        let whole_is_part = self.parts.len() == 1 && self.parts[0] == (0, word.len());
        if !whole_is_part {
            lower_into(&mut self.lower, word, ascii);
            emit(&self.lower, 0, word.len());
        }
        for &(s, e) in &self.parts {
            lower_into(&mut self.lower, &word[s..e], ascii);
            emit(&self.lower, s, e);
        }
    }
}

fn lower_into(buf: &mut String, s: &str, ascii: bool) {
    buf.clear();
    if ascii {
        buf.push_str(s);
        buf.make_ascii_lowercase();
    } else {
        buf.extend(s.chars().flat_map(char::to_lowercase));
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Part boundaries of an ASCII identifier, same rules as [`split_identifier`].
fn split_ascii(w: &[u8], parts: &mut Vec<(usize, usize)>) {
    let mut start: Option<usize> = None;
    for i in 0..w.len() {
        let c = w[i];
        if c == b'_' {
            if let Some(s) = start.take() {
                parts.push((s, i));
            }
            continue;
        }
        match start {
            None => start = Some(i),
            Some(s) => {
                let prev = w[i - 1];
                let next = w.get(i + 1).copied();
                let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                    || (prev.is_ascii_uppercase()
                        && c.is_ascii_uppercase()
                        && next.is_some_and(|n| n.is_ascii_lowercase()))
                    || (prev.is_ascii_digit() && c.is_ascii_uppercase());
                if boundary {
                    parts.push((s, i));
                    start = Some(i);
                }
            }
        }
    }
    if let Some(s) = start {
        parts.push((s, w.len()));
    }
}

/// Byte ranges of the parts of one identifier (any script).
pub fn split_identifier(word: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if c == '_' {
            if let Some(s) = start.take() {
                parts.push((s, i));
            }
            continue;
        }
        if let Some(s) = start {
            let prev = chars[k - 1].1;
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase))
                || (prev.is_numeric() && c.is_uppercase());
            if boundary {
                parts.push((s, i));
                start = Some(i);
            }
        } else {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        parts.push((s, word.len()));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_token(s, |t, _, _| v.push(t.to_string()));
        v
    }

    #[test]
    fn splits_camel_and_snake() {
        assert_eq!(
            tokens("parseHTTPResponse_v2"),
            ["parsehttpresponse_v2", "parse", "http", "response", "v2"]
        );
        assert_eq!(tokens("spin_lock(x)"), ["spin_lock", "spin", "lock", "x"]);
        assert_eq!(tokens("plain"), ["plain"]);
        assert_eq!(tokens("Émile_été"), ["émile_été", "émile", "été"]);
        assert_eq!(tokens("x86Reg"), ["x86reg", "x86", "reg"]);
    }

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_char_path(w in "[A-Za-z0-9_]{1,20}") {
            let mut fast = Vec::new();
            split_ascii(w.as_bytes(), &mut fast);
            prop_assert_eq!(fast, split_identifier(&w));
        }
    }
}
