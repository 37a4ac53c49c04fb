//! Code-aware tokens: identifiers are emitted whole and split at `_`,
//! camelCase and digit→upper-case boundaries, all lower-cased.
//!
//! `parseHTTPResponse_v2` yields `parsehttpresponse_v2`, `parse`, `http`,
//! `response`, `v2`. The scanner works on bytes and allocates nothing per
//! token (ASCII fast path; other scripts via `char`).

/// Longest token kept, in bytes; longer runs are usually data, not names.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Calls `emit(token, start, end)` for every token of `text` (byte offsets).
pub fn for_each_token(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    let bytes = text.as_bytes();
    let mut buf = String::new();
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if !is_ident_byte(b) {
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
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if !is_ident_byte(b) {
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
        let word = &text[start..i];
        if word.len() > MAX_TOKEN_BYTES {
            continue;
        }
        parts.clear();
        if ascii {
            split_ascii(word.as_bytes(), &mut parts);
        } else {
            parts.extend(split_identifier(word));
        }
        let whole_is_part = parts.len() == 1 && parts[0] == (0, word.len());
        if !whole_is_part {
            lower_into(&mut buf, word, ascii);
            emit(&buf, start, i);
        }
        for &(s, e) in &parts {
            lower_into(&mut buf, &word[s..e], ascii);
            emit(&buf, start + s, start + e);
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

#[inline]
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
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

/// The tokenizer registered with tantivy under [`CODE_TOKENIZER`].
pub const CODE_TOKENIZER: &str = "lens_code";

/// Tokens of one text are collected into flat buffers reused across texts, and
/// handed to tantivy through one reused `Token`.
#[derive(Clone, Default)]
pub struct CodeTokenizer {
    texts: String,
    /// (offset_from, offset_to, text start, text end)
    spans: Vec<(usize, usize, usize, usize)>,
    token: tantivy::tokenizer::Token,
}

pub struct CodeTokenStream<'a> {
    texts: &'a str,
    spans: &'a [(usize, usize, usize, usize)],
    token: &'a mut tantivy::tokenizer::Token,
    next: usize,
}

impl tantivy::tokenizer::Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.texts.clear();
        self.spans.clear();
        let (texts, spans) = (&mut self.texts, &mut self.spans);
        for_each_token(text, |t, s, e| {
            let ts = texts.len();
            texts.push_str(t);
            spans.push((s, e, ts, texts.len()));
        });
        self.token.reset();
        CodeTokenStream {
            texts: &self.texts,
            spans: &self.spans,
            token: &mut self.token,
            next: 0,
        }
    }
}

impl tantivy::tokenizer::TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(&(from, to, ts, te)) = self.spans.get(self.next) else {
            return false;
        };
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.next;
        self.token.text.clear();
        self.token.text.push_str(&self.texts[ts..te]);
        self.next += 1;
        true
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        self.token
    }
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
