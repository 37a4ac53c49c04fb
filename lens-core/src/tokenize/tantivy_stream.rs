//! The tokenizer tantivy runs at index time: the code tokens of a text,
//! grouped by value.

use super::{WordScratch, for_each_word};

/// The tokenizer registered with tantivy under [`CODE_TOKENIZER`].
pub const CODE_TOKENIZER: &str = "lens_code";

/// Hands tantivy the tokens of a text grouped by value: every occurrence of a
/// token follows the previous one, in order of first occurrence.
///
/// The text fields record document frequencies and term frequencies but no
/// positions, so the order of tokens within a document does not change the
/// index. It changes its cost: tantivy's postings writer looks each token up in
/// a hash table of millions of terms, and a repeat of the token just looked up
/// finds its bucket and recorder in cache (on Linux, 5.9 occurrences per
/// distinct token of a file).
#[derive(Clone, Default)]
pub struct CodeTokenizer {
    groups: TokenGroups,
    token: tantivy::tokenizer::Token,
}

/// The distinct tokens of one text with their counts, in flat buffers
/// reused across texts. Words are counted first, so that a word's split and
/// lower-casing are done once however often it occurs.
#[derive(Clone, Default)]
struct TokenGroups {
    /// Distinct token texts, back to back.
    texts: String,
    groups: Vec<TokenGroup>,
    group_slots: Slots,
    words: Vec<WordCount>,
    word_slots: Slots,
    scratch: WordScratch,
}

#[derive(Clone, Copy)]
struct TokenGroup {
    text_start: u32,
    text_end: u32,
    count: u32,
    hash: u32,
    /// Offsets of the first occurrence in the text.
    offset_from: usize,
    offset_to: usize,
}

/// A distinct word of the text: its first occurrence and how often it occurs.
#[derive(Clone, Copy)]
struct WordCount {
    start: usize,
    end: usize,
    ascii: bool,
    count: u32,
    hash: u32,
}

/// Open addressing over an entry vector: index + 1 per slot, 0 when empty;
/// grown past half full.
#[derive(Clone, Default)]
struct Slots(Vec<u32>);

impl Slots {
    const INITIAL: usize = 256;

    fn reset(&mut self) {
        self.0.clear();
        self.0.resize(Self::INITIAL, 0);
    }

    /// The entry with this hash that `is_it` accepts, or the free slot where it belongs.
    #[inline]
    fn find(&self, hash: u32, mut is_it: impl FnMut(usize) -> bool) -> Result<usize, usize> {
        let mask = self.0.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            match self.0[slot] {
                0 => return Err(slot),
                e if is_it(e as usize - 1) => return Ok(e as usize - 1),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Records entry `len - 1` at `slot`, growing the table when needed.
    fn insert(&mut self, slot: usize, len: usize, hash_of: impl Fn(usize) -> u32) {
        self.0[slot] = len as u32;
        if len * 2 > self.0.len() {
            let size = self.0.len() * 2;
            self.0.clear();
            self.0.resize(size, 0);
            for e in 0..len {
                let mut slot = hash_of(e) as usize & (size - 1);
                while self.0[slot] != 0 {
                    slot = (slot + 1) & (size - 1);
                }
                self.0[slot] = e as u32 + 1;
            }
        }
    }
}

impl TokenGroups {
    fn fill(&mut self, text: &str) {
        self.texts.clear();
        self.groups.clear();
        self.group_slots.reset();
        self.words.clear();
        self.word_slots.reset();
        for_each_word(text, |start, end, ascii| {
            self.count_word(text, start, end, ascii)
        });
        let words = std::mem::take(&mut self.words);
        let mut scratch = std::mem::take(&mut self.scratch);
        for w in &words {
            scratch.tokens(&text[w.start..w.end], w.ascii, |t, s, e| {
                self.count_token(t, w.start + s, w.start + e, w.count)
            });
        }
        self.words = words;
        self.scratch = scratch;
    }

    #[inline]
    fn count_word(&mut self, text: &str, start: usize, end: usize, ascii: bool) {
        let word = &text.as_bytes()[start..end];
        let hash = hash_token(word);
        let words = &self.words;
        let found = self.word_slots.find(hash, |e| {
            let w = &words[e];
            w.hash == hash && &text.as_bytes()[w.start..w.end] == word
        });
        match found {
            Ok(e) => self.words[e].count += 1,
            Err(slot) => {
                self.words.push(WordCount {
                    start,
                    end,
                    ascii,
                    count: 1,
                    hash,
                });
                let words = &self.words;
                self.word_slots.insert(slot, words.len(), |e| words[e].hash);
            }
        }
    }

    fn count_token(&mut self, t: &str, from: usize, to: usize, count: u32) {
        let hash = hash_token(t.as_bytes());
        let (groups, texts) = (&self.groups, &self.texts);
        let found = self.group_slots.find(hash, |e| {
            let g = &groups[e];
            g.hash == hash && &texts[g.text_start as usize..g.text_end as usize] == t
        });
        match found {
            Ok(e) => self.groups[e].count += count,
            Err(slot) => {
                let text_start = self.texts.len() as u32;
                self.texts.push_str(t);
                self.groups.push(TokenGroup {
                    text_start,
                    text_end: self.texts.len() as u32,
                    count,
                    hash,
                    offset_from: from,
                    offset_to: to,
                });
                let groups = &self.groups;
                self.group_slots
                    .insert(slot, groups.len(), |e| groups[e].hash);
            }
        }
    }

    fn text(&self, g: &TokenGroup) -> &str {
        &self.texts[g.text_start as usize..g.text_end as usize]
    }
}

/// FxHash-style multiply-rotate over 8-byte words; tokens are at most
/// [`super::MAX_TOKEN_BYTES`] long.
#[inline]
fn hash_token(bytes: &[u8]) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    (h >> 32) as u32
}

pub struct CodeTokenStream<'a> {
    groups: &'a TokenGroups,
    token: &'a mut tantivy::tokenizer::Token,
    /// Group being emitted and how many of its occurrences are left.
    group: usize,
    left: u32,
    position: usize,
}

impl tantivy::tokenizer::Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.groups.fill(text);
        self.token.reset();
        CodeTokenStream {
            groups: &self.groups,
            token: &mut self.token,
            group: 0,
            left: 0,
            position: 0,
        }
    }
}

impl tantivy::tokenizer::TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.left == 0 {
            if self.position > 0 {
                self.group += 1;
            }
            let Some(g) = self.groups.groups.get(self.group) else {
                return false;
            };
            self.left = g.count;
            self.token.offset_from = g.offset_from;
            self.token.offset_to = g.offset_to;
            self.token.text.clear();
            self.token.text.push_str(self.groups.text(g));
        }
        self.left -= 1;
        self.token.position = self.position;
        self.position += 1;
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
    use crate::tokenize::for_each_token;
    use proptest::prelude::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_token(s, |t, _, _| v.push(t.to_string()));
        v
    }

    /// Every token of the text reaches tantivy as often as it occurs, each
    /// value's occurrences back to back.
    fn tantivy_stream(text: &str) -> Vec<String> {
        use tantivy::tokenizer::{TokenStream, Tokenizer};
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn tantivy_stream_groups_repeats_in_first_occurrence_order() {
        assert_eq!(
            tantivy_stream("lock(a); unlock(a); spin_lock(b)"),
            ["lock", "lock", "a", "a", "unlock", "spin_lock", "spin", "b"]
        );
        assert!(tantivy_stream("").is_empty());
    }

    proptest! {
        #[test]
        fn tantivy_stream_is_a_grouping_of_the_tokens(
            words in proptest::collection::vec("[a-cA-C_]{1,3}|[xé]{1,2}|[0-9]", 0..600),
            seps in proptest::collection::vec("[ (.,\n]", 600),
        ) {
            let text: String = words.iter().zip(&seps).map(|(w, s)| format!("{w}{s}")).collect();
            let stream = tantivy_stream(&text);
            // Same multiset of tokens.
            let mut expected = tokens(&text);
            let mut got = stream.clone();
            expected.sort();
            got.sort();
            prop_assert_eq!(&got, &expected);
            // Each value forms one run, and runs follow first occurrences.
            let mut runs: Vec<&String> = Vec::new();
            for t in &stream {
                if runs.last() != Some(&t) {
                    prop_assert!(!runs.contains(&t), "{} comes back after another token", t);
                    runs.push(t);
                }
            }
            let mut first_seen: Vec<String> = Vec::new();
            for t in tokens(&text) {
                if !first_seen.contains(&t) {
                    first_seen.push(t);
                }
            }
            prop_assert_eq!(runs.into_iter().cloned().collect::<Vec<_>>(), first_seen);
        }

    }
}
