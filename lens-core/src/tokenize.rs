//! Code-aware tokens: identifiers are emitted whole and split at `_`,
//! camelCase and letter/digit boundaries, all lower-cased.
//!
//! `parseHTTPResponse_v2` yields `parsehttpresponse_v2`, `parse`, `http`,
//! `response`, `v2`.

/// Longest token kept, in bytes; longer runs are usually data, not names.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Calls `emit(token, start, end)` for every token of `text` (byte offsets).
pub fn for_each_token(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    let mut lower = String::new();
    let mut iter = text.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        if !is_ident(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, c2)) = iter.peek() {
            if !is_ident(c2) {
                break;
            }
            end = i + c2.len_utf8();
            iter.next();
        }
        let word = &text[start..end];
        if word.len() > MAX_TOKEN_BYTES {
            continue;
        }
        let parts = split_identifier(word);
        let whole_is_part = parts.len() == 1 && parts[0] == (0, word.len());
        if !whole_is_part {
            lower.clear();
            lower.extend(word.chars().flat_map(char::to_lowercase));
            emit(&lower, start, end);
        }
        for (s, e) in parts {
            lower.clear();
            lower.extend(word[s..e].chars().flat_map(char::to_lowercase));
            emit(&lower, start + s, start + e);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges of the parts of one identifier.
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
                || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase))
                || (prev.is_numeric() && c.is_alphabetic() && c.is_uppercase());
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

#[derive(Clone, Default)]
pub struct CodeTokenizer {
    tokens: Vec<tantivy::tokenizer::Token>,
}

pub struct CodeTokenStream<'a> {
    tokens: &'a mut Vec<tantivy::tokenizer::Token>,
    next: usize,
}

impl tantivy::tokenizer::Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.tokens.clear();
        let mut position = 0usize;
        let tokens = &mut self.tokens;
        for_each_token(text, |t, s, e| {
            tokens.push(tantivy::tokenizer::Token {
                offset_from: s,
                offset_to: e,
                position,
                text: t.to_string(),
                position_length: 1,
            });
            position += 1;
        });
        CodeTokenStream { tokens: &mut self.tokens, next: 0 }
    }
}

impl tantivy::tokenizer::TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_token(s, |t, _, _| v.push(t.to_string()));
        v
    }

    #[test]
    fn splits_camel_and_snake() {
        assert_eq!(tokens("parseHTTPResponse_v2"), ["parsehttpresponse_v2", "parse", "http", "response", "v2"]);
        assert_eq!(tokens("spin_lock(x)"), ["spin_lock", "spin", "lock", "x"]);
        assert_eq!(tokens("plain"), ["plain"]);
        assert_eq!(tokens("Émile_été"), ["émile_été", "émile", "été"]);
    }
}
