//! BERT-uncased WordPiece tokenizer (the vocabulary of all-MiniLM-L6-v2).
//!
//! Gives exactly the ids of HuggingFace `tokenizers` configured as the model's `tokenizer.json`:
//! `BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase)`, then
//! `BertPreTokenizer`, then `WordPiece(max_input_chars_per_word = 100, "##", [UNK])`, then
//! `[CLS] … [SEP]`, truncated to `max_len` ids. The differential test against the Python package
//! lives at the bottom of this file (fixture `testdata/model/tokenize_ref.jsonl`).
//!
//! The pipeline, in `tokenizers`' order:
//!
//! 1. **Special tokens** (`[PAD] [UNK] [CLS] [SEP] [MASK]`, those present in the vocabulary) are
//!    cut out of the *raw* text first, case-sensitively, leftmost-longest, anywhere (they are
//!    `tokenizers` "added tokens" with `normalized: false`). `"a[CLS]b"` is `a`, `[CLS]`, `b`;
//!    `"[cls]"` is ordinary text (`[`, `cl`, `##s`, `]`). The pieces between them are
//!    tokenized independently.
//! 2. **Clean**: drop `\0`, U+FFFD and "other" characters (Cc, Cf, Co — *not* unassigned code
//!    points) except `\t \n \r`, then map every remaining `char::is_whitespace` character to a
//!    space. VT, FF and NEL are controls first, so they vanish instead of splitting words.
//! 3. **CJK**: put spaces around CJK ideographs (note `tokenizers`' range starts Extension E at
//!    U+2B920, not U+2B820; mirrored).
//! 4. **Strip accents**: NFD, then drop nonspacing marks (Mn). This is done before lowercasing.
//! 5. **Lowercase** char by char (`char::to_lowercase`, no final-sigma rule; `İ` becomes `i̇`).
//! 6. **Pre-tokenize**: split on whitespace; every punctuation character (ASCII punctuation or
//!    Unicode P*) is a word by itself.
//! 7. **WordPiece**: greedy longest-match-first; continuation pieces carry `##`; a word with an
//!    unmatchable rest, or longer than 100 chars, is a single `[UNK]`.
//!
//! Unicode category tests use the tables of the `unicode_categories` 0.1.1 crate (Unicode 9.0),
//! which is what `tokenizers` links, not the newest Unicode: a character assigned after 9.0 is
//! neither punctuation nor a mark here, exactly as in `tokenizers`. Besides the committed fixture,
//! this was checked against `tokenizers` on every code point (`a{c}b {c} {c}{c}x`) and on 100k
//! random strings, with no difference (see `matches_reference_file_from_env`).

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::error::{Error, Result};

/// Default sequence length of all-MiniLM-L6-v2 (254 word pieces plus `[CLS]` and `[SEP]`).
pub const DEFAULT_MAX_LEN: usize = 256;

/// `max_input_chars_per_word`: longer words become a single `[UNK]`.
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// Prefix of continuation pieces in the vocabulary.
const CONTINUATION_PREFIX: &str = "##";

/// The special tokens `tokenizers` registers (and matches literally in raw text) when present.
const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

type Map = HashMap<Box<str>, u32, Xxh3DefaultBuilder>;

/// Ids of one text: `[CLS] pieces… [SEP]`, unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// All ones (no padding); kept so callers can feed it to the model as is.
    pub attention_mask: Vec<u32>,
}

/// A WordPiece vocabulary plus the BERT-uncased normalisation rules. Immutable; share it.
#[derive(Debug, Clone)]
pub struct WordPiece {
    /// Every vocabulary entry, for word-initial pieces and special tokens.
    initial: Map,
    /// `##`-prefixed entries keyed without the prefix, so lookups need no allocation.
    continuation: Map,
    /// Length in bytes of the longest key in either map: longer candidates cannot match.
    max_piece_bytes: usize,
    /// Special tokens matched literally in raw text, with their ids.
    specials: Vec<(&'static str, u32)>,
    vocab_size: usize,
    pad: u32,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl WordPiece {
    /// Reads a `vocab.txt`: one token per line, id = line number (from 0). Like `tokenizers`,
    /// trailing whitespace of a line is ignored and a repeated token keeps its last id.
    /// `[PAD]`, `[UNK]`, `[CLS]` and `[SEP]` must be present.
    pub fn from_vocab_file(path: &Path) -> Result<WordPiece> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_vocab_text(&text).map_err(|reason| Error::corrupt(path, reason))
    }

    fn from_vocab_text(text: &str) -> std::result::Result<WordPiece, String> {
        let mut initial = Map::default();
        let mut continuation = Map::default();
        let mut max_piece_bytes = 0;
        let mut vocab_size = 0;
        for (id, line) in text.lines().enumerate() {
            let token = line.trim_end();
            let id = u32::try_from(id).map_err(|_| "vocabulary too large".to_string())?;
            if let Some(rest) = token.strip_prefix(CONTINUATION_PREFIX) {
                continuation.insert(rest.into(), id);
                max_piece_bytes = max_piece_bytes.max(rest.len());
            }
            initial.insert(token.into(), id);
            max_piece_bytes = max_piece_bytes.max(token.len());
            vocab_size += 1;
        }
        let id_of = |token: &str| {
            initial
                .get(token)
                .copied()
                .ok_or_else(|| format!("vocabulary has no {token} token"))
        };
        let (pad, unk, cls, sep) = (
            id_of("[PAD]")?,
            id_of("[UNK]")?,
            id_of("[CLS]")?,
            id_of("[SEP]")?,
        );
        let specials = SPECIAL_TOKENS
            .iter()
            .filter_map(|&t| initial.get(t).map(|&id| (t, id)))
            .collect();
        Ok(WordPiece {
            initial,
            continuation,
            max_piece_bytes,
            specials,
            vocab_size,
            pad,
            unk,
            cls,
            sep,
        })
    }

    /// Number of lines (ids) in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id used to pad batches.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// `[CLS] pieces… [SEP]` with at most `max_len` ids in all (so at most `max_len - 2` pieces;
    /// a `max_len` below 2 still yields `[CLS] [SEP]`).
    pub fn encode(&self, text: &str, max_len: usize) -> Encoding {
        let mut ids = Vec::with_capacity((text.len() / 3 + 2).min(max_len.max(2)));
        self.encode_into(text, max_len, &mut ids);
        let attention_mask = vec![1; ids.len()];
        Encoding {
            ids,
            attention_mask,
        }
    }

    /// Encodes `texts` as one row-major `[texts.len(), seq_len]` batch padded with `[PAD]` to the
    /// longest row: `(input_ids, attention_mask, token_type_ids, seq_len)`, ready for an ONNX
    /// BERT. `token_type_ids` are all zero (single sequences).
    pub fn encode_batch_padded(
        &self,
        texts: &[&str],
        max_len: usize,
    ) -> (Vec<i64>, Vec<i64>, Vec<i64>, usize) {
        let mut flat = Vec::new();
        let mut ends = Vec::with_capacity(texts.len());
        for text in texts {
            self.encode_into(text, max_len, &mut flat);
            ends.push(flat.len());
        }
        let mut seq_len = 0;
        let mut start = 0;
        for &end in &ends {
            seq_len = seq_len.max(end - start);
            start = end;
        }
        let cells = texts.len() * seq_len;
        let mut ids = Vec::with_capacity(cells);
        let mut mask = Vec::with_capacity(cells);
        let mut start = 0;
        for &end in &ends {
            let row = &flat[start..end];
            ids.extend(row.iter().map(|&id| i64::from(id)));
            ids.resize(ids.len() + seq_len - row.len(), i64::from(self.pad));
            mask.resize(mask.len() + row.len(), 1);
            mask.resize(mask.len() + seq_len - row.len(), 0);
            start = end;
        }
        (ids, mask, vec![0; cells], seq_len)
    }

    /// Appends `[CLS] pieces… [SEP]` for `text` to `out`.
    fn encode_into(&self, text: &str, max_len: usize, out: &mut Vec<u32>) {
        let budget = max_len.saturating_sub(2);
        let base = out.len() + 1;
        out.push(self.cls);
        let mut word = String::new();
        let mut rest = text;
        // Special tokens first, on the raw text; the stretches between them are tokenized alone.
        while out.len() - base < budget {
            let (before, special) = self.next_special(rest);
            self.tokenize_segment(&rest[..before], base + budget, &mut word, out);
            let Some((len, id)) = special else { break };
            if out.len() - base < budget {
                out.push(id);
            }
            rest = &rest[before + len..];
        }
        out.truncate(base + budget);
        out.push(self.sep);
    }

    /// The first special token in `text`: its byte offset and `(length, id)`, or `text.len()`
    /// and `None`. Leftmost, then longest (like `tokenizers`' Aho-Corasick matcher).
    fn next_special(&self, text: &str) -> (usize, Option<(usize, u32)>) {
        let bytes = text.as_bytes();
        for at in memchr::memchr_iter(b'[', bytes) {
            let best = self
                .specials
                .iter()
                .filter(|(t, _)| bytes[at..].starts_with(t.as_bytes()))
                .max_by_key(|(t, _)| t.len());
            if let Some(&(t, id)) = best {
                return (at, Some((t.len(), id)));
            }
        }
        (text.len(), None)
    }

    /// Normalises, pre-tokenizes and word-pieces `segment` (text without special tokens),
    /// appending to `out` until it holds `limit` ids.
    fn tokenize_segment(&self, segment: &str, limit: usize, word: &mut String, out: &mut Vec<u32>) {
        if segment.is_empty() || out.len() >= limit {
            return;
        }
        if segment.is_ascii() {
            // ASCII fast path: no ideographs, NFD is the identity and there are no marks.
            let chars = segment.bytes().filter_map(|b| match b {
                b'\t' | b'\n' | b'\r' | b' ' => Some(' '),
                // The other ASCII controls, including VT and FF, are dropped.
                0..=0x1f | 0x7f => None,
                _ => Some(char::from(b.to_ascii_lowercase())),
            });
            self.pre_tokenize(chars, limit, word, out);
        } else {
            // Dropping comes first: VT, FF and NEL are whitespace but also controls, so they
            // vanish rather than separate words.
            let cleaned = segment.chars().filter_map(|c| {
                if is_control(c) {
                    None
                } else if c.is_whitespace() {
                    Some(' ')
                } else {
                    Some(c)
                }
            });
            let spaced = cleaned.flat_map(|c| {
                if is_chinese_char(c) {
                    [Some(' '), Some(c), Some(' ')]
                } else {
                    [Some(c), None, None]
                }
            });
            let chars = spaced
                .flatten()
                .nfd()
                .filter(|&c| !in_table(c, tables::MARK_NONSPACING))
                .flat_map(char::to_lowercase);
            self.pre_tokenize(chars, limit, word, out);
        }
    }

    /// BertPreTokenizer over normalised characters, then WordPiece on each word.
    fn pre_tokenize(
        &self,
        chars: impl Iterator<Item = char>,
        limit: usize,
        word: &mut String,
        out: &mut Vec<u32>,
    ) {
        word.clear();
        let mut word_chars = 0;
        for c in chars {
            let punct = is_punctuation(c);
            if punct || c.is_whitespace() {
                if !word.is_empty() {
                    self.word_piece(word, word_chars, out);
                    word.clear();
                    word_chars = 0;
                    if out.len() >= limit {
                        return;
                    }
                }
                if punct {
                    let mut buf = [0; 4];
                    self.word_piece(c.encode_utf8(&mut buf), 1, out);
                    if out.len() >= limit {
                        return;
                    }
                }
            } else {
                word.push(c);
                word_chars += 1;
            }
        }
        if !word.is_empty() {
            self.word_piece(word, word_chars, out);
            word.clear();
        }
    }

    /// Greedy longest-match-first WordPiece of one word (`chars` = its length in chars).
    fn word_piece(&self, word: &str, chars: usize, out: &mut Vec<u32>) {
        if chars > MAX_INPUT_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let map = if start == 0 {
                &self.initial
            } else {
                &self.continuation
            };
            let mut end = floor_char_boundary(word, (start + self.max_piece_bytes).min(word.len()));
            let id = loop {
                if end <= start {
                    out.truncate(first);
                    out.push(self.unk);
                    return;
                }
                if let Some(&id) = map.get(&word[start..end]) {
                    break id;
                }
                end = floor_char_boundary(word, end - 1);
            };
            out.push(id);
            start = end;
        }
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Removed by `clean_text`: `\0`, U+FFFD and the "other" characters of Unicode 9.0 (Cc, Cf,
/// Co), except `\t \n \r`, which become spaces.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && (c == '\u{fffd}' || in_table(c, tables::OTHER))
}

/// Split off as one-char words: ASCII punctuation (which includes symbols like `$+<=>^`|~`)
/// or a Unicode P* character.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && in_table(c, tables::PUNCTUATION))
}

/// The CJK ideograph ranges of `tokenizers`' BertNormalizer, verbatim (including its
/// U+2B920 start of Extension E).
fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

fn in_table(c: char, table: &[(u32, u32)]) -> bool {
    let c = u32::from(c);
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Inclusive code-point ranges generated from `unicode_categories` 0.1.1 `src/tables.rs` (the
/// crate `tokenizers` uses; UnicodeData 9.0) by merging its per-category character lists.
mod tables {
    /// `is_other()`: Cc, Cf and Co (no Cn, no Cs).
    #[rustfmt::skip]
    pub(super) const OTHER: &[(u32, u32)] = &[
        (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C),
        (0x06DD, 0x06DD), (0x070F, 0x070F), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x2064), (0x2066, 0x206F), (0xE000, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
        (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
    ];

    /// `is_mark_nonspacing()`: Mn.
    #[rustfmt::skip]
    pub(super) const MARK_NONSPACING: &[(u32, u32)] = &[
        (0x0300, 0x036F), (0x0483, 0x0487), (0x0591, 0x05BD), (0x05BF, 0x05BF), (0x05C1, 0x05C2),
        (0x05C4, 0x05C5), (0x05C7, 0x05C7), (0x0610, 0x061A), (0x064B, 0x065F), (0x0670, 0x0670),
        (0x06D6, 0x06DC), (0x06DF, 0x06E4), (0x06E7, 0x06E8), (0x06EA, 0x06ED), (0x0711, 0x0711),
        (0x0730, 0x074A), (0x07A6, 0x07B0), (0x07EB, 0x07F3), (0x0816, 0x0819), (0x081B, 0x0823),
        (0x0825, 0x0827), (0x0829, 0x082D), (0x0859, 0x085B), (0x08E3, 0x0902), (0x093A, 0x093A),
        (0x093C, 0x093C), (0x0941, 0x0948), (0x094D, 0x094D), (0x0951, 0x0957), (0x0962, 0x0963),
        (0x0981, 0x0981), (0x09BC, 0x09BC), (0x09C1, 0x09C4), (0x09CD, 0x09CD), (0x09E2, 0x09E3),
        (0x0A01, 0x0A02), (0x0A3C, 0x0A3C), (0x0A41, 0x0A42), (0x0A47, 0x0A48), (0x0A4B, 0x0A4D),
        (0x0A51, 0x0A51), (0x0A70, 0x0A71), (0x0A75, 0x0A75), (0x0A81, 0x0A82), (0x0ABC, 0x0ABC),
        (0x0AC1, 0x0AC5), (0x0AC7, 0x0AC8), (0x0ACD, 0x0ACD), (0x0AE2, 0x0AE3), (0x0B01, 0x0B01),
        (0x0B3C, 0x0B3C), (0x0B3F, 0x0B3F), (0x0B41, 0x0B44), (0x0B4D, 0x0B4D), (0x0B56, 0x0B56),
        (0x0B62, 0x0B63), (0x0B82, 0x0B82), (0x0BC0, 0x0BC0), (0x0BCD, 0x0BCD), (0x0C00, 0x0C00),
        (0x0C3E, 0x0C40), (0x0C46, 0x0C48), (0x0C4A, 0x0C4D), (0x0C55, 0x0C56), (0x0C62, 0x0C63),
        (0x0C81, 0x0C81), (0x0CBC, 0x0CBC), (0x0CBF, 0x0CBF), (0x0CC6, 0x0CC6), (0x0CCC, 0x0CCD),
        (0x0CE2, 0x0CE3), (0x0D01, 0x0D01), (0x0D41, 0x0D44), (0x0D4D, 0x0D4D), (0x0D62, 0x0D63),
        (0x0DCA, 0x0DCA), (0x0DD2, 0x0DD4), (0x0DD6, 0x0DD6), (0x0E31, 0x0E31), (0x0E34, 0x0E3A),
        (0x0E47, 0x0E4E), (0x0EB1, 0x0EB1), (0x0EB4, 0x0EB9), (0x0EBB, 0x0EBC), (0x0EC8, 0x0ECD),
        (0x0F18, 0x0F19), (0x0F35, 0x0F35), (0x0F37, 0x0F37), (0x0F39, 0x0F39), (0x0F71, 0x0F7E),
        (0x0F80, 0x0F84), (0x0F86, 0x0F87), (0x0F8D, 0x0F97), (0x0F99, 0x0FBC), (0x0FC6, 0x0FC6),
        (0x102D, 0x1030), (0x1032, 0x1037), (0x1039, 0x103A), (0x103D, 0x103E), (0x1058, 0x1059),
        (0x105E, 0x1060), (0x1071, 0x1074), (0x1082, 0x1082), (0x1085, 0x1086), (0x108D, 0x108D),
        (0x109D, 0x109D), (0x135D, 0x135F), (0x1712, 0x1714), (0x1732, 0x1734), (0x1752, 0x1753),
        (0x1772, 0x1773), (0x17B4, 0x17B5), (0x17B7, 0x17BD), (0x17C6, 0x17C6), (0x17C9, 0x17D3),
        (0x17DD, 0x17DD), (0x180B, 0x180D), (0x18A9, 0x18A9), (0x1920, 0x1922), (0x1927, 0x1928),
        (0x1932, 0x1932), (0x1939, 0x193B), (0x1A17, 0x1A18), (0x1A1B, 0x1A1B), (0x1A56, 0x1A56),
        (0x1A58, 0x1A5E), (0x1A60, 0x1A60), (0x1A62, 0x1A62), (0x1A65, 0x1A6C), (0x1A73, 0x1A7C),
        (0x1A7F, 0x1A7F), (0x1AB0, 0x1ABD), (0x1B00, 0x1B03), (0x1B34, 0x1B34), (0x1B36, 0x1B3A),
        (0x1B3C, 0x1B3C), (0x1B42, 0x1B42), (0x1B6B, 0x1B73), (0x1B80, 0x1B81), (0x1BA2, 0x1BA5),
        (0x1BA8, 0x1BA9), (0x1BAB, 0x1BAD), (0x1BE6, 0x1BE6), (0x1BE8, 0x1BE9), (0x1BED, 0x1BED),
        (0x1BEF, 0x1BF1), (0x1C2C, 0x1C33), (0x1C36, 0x1C37), (0x1CD0, 0x1CD2), (0x1CD4, 0x1CE0),
        (0x1CE2, 0x1CE8), (0x1CED, 0x1CED), (0x1CF4, 0x1CF4), (0x1CF8, 0x1CF9), (0x1DC0, 0x1DF5),
        (0x1DFC, 0x1DFF), (0x20D0, 0x20DC), (0x20E1, 0x20E1), (0x20E5, 0x20F0), (0x2CEF, 0x2CF1),
        (0x2D7F, 0x2D7F), (0x2DE0, 0x2DFF), (0x302A, 0x302D), (0x3099, 0x309A), (0xA66F, 0xA66F),
        (0xA674, 0xA67D), (0xA69E, 0xA69F), (0xA6F0, 0xA6F1), (0xA802, 0xA802), (0xA806, 0xA806),
        (0xA80B, 0xA80B), (0xA825, 0xA826), (0xA8C4, 0xA8C4), (0xA8E0, 0xA8F1), (0xA926, 0xA92D),
        (0xA947, 0xA951), (0xA980, 0xA982), (0xA9B3, 0xA9B3), (0xA9B6, 0xA9B9), (0xA9BC, 0xA9BC),
        (0xA9E5, 0xA9E5), (0xAA29, 0xAA2E), (0xAA31, 0xAA32), (0xAA35, 0xAA36), (0xAA43, 0xAA43),
        (0xAA4C, 0xAA4C), (0xAA7C, 0xAA7C), (0xAAB0, 0xAAB0), (0xAAB2, 0xAAB4), (0xAAB7, 0xAAB8),
        (0xAABE, 0xAABF), (0xAAC1, 0xAAC1), (0xAAEC, 0xAAED), (0xAAF6, 0xAAF6), (0xABE5, 0xABE5),
        (0xABE8, 0xABE8), (0xABED, 0xABED), (0xFB1E, 0xFB1E), (0xFE00, 0xFE0F), (0xFE20, 0xFE2F),
        (0x101FD, 0x101FD), (0x102E0, 0x102E0), (0x10376, 0x1037A), (0x10A01, 0x10A03), (0x10A05, 0x10A06),
        (0x10A0C, 0x10A0F), (0x10A38, 0x10A3A), (0x10A3F, 0x10A3F), (0x10AE5, 0x10AE6), (0x11001, 0x11001),
        (0x11038, 0x11046), (0x1107F, 0x11081), (0x110B3, 0x110B6), (0x110B9, 0x110BA), (0x11100, 0x11102),
        (0x11127, 0x1112B), (0x1112D, 0x11134), (0x11173, 0x11173), (0x11180, 0x11181), (0x111B6, 0x111BE),
        (0x111CA, 0x111CC), (0x1122F, 0x11231), (0x11234, 0x11234), (0x11236, 0x11237), (0x112DF, 0x112DF),
        (0x112E3, 0x112EA), (0x11300, 0x11301), (0x1133C, 0x1133C), (0x11340, 0x11340), (0x11366, 0x1136C),
        (0x11370, 0x11374), (0x114B3, 0x114B8), (0x114BA, 0x114BA), (0x114BF, 0x114C0), (0x114C2, 0x114C3),
        (0x115B2, 0x115B5), (0x115BC, 0x115BD), (0x115BF, 0x115C0), (0x115DC, 0x115DD), (0x11633, 0x1163A),
        (0x1163D, 0x1163D), (0x1163F, 0x11640), (0x116AB, 0x116AB), (0x116AD, 0x116AD), (0x116B0, 0x116B5),
        (0x116B7, 0x116B7), (0x1171D, 0x1171F), (0x11722, 0x11725), (0x11727, 0x1172B), (0x16AF0, 0x16AF4),
        (0x16B30, 0x16B36), (0x16F8F, 0x16F92), (0x1BC9D, 0x1BC9E), (0x1D167, 0x1D169), (0x1D17B, 0x1D182),
        (0x1D185, 0x1D18B), (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244), (0x1DA00, 0x1DA36), (0x1DA3B, 0x1DA6C),
        (0x1DA75, 0x1DA75), (0x1DA84, 0x1DA84), (0x1DA9B, 0x1DA9F), (0x1DAA1, 0x1DAAF), (0x1E8D0, 0x1E8D6),
        (0xE0100, 0xE01EF),
    ];

    /// `is_punctuation()`: Pc, Pd, Pe, Pf, Pi, Po, Ps.
    #[rustfmt::skip]
    pub(super) const PUNCTUATION: &[(u32, u32)] = &[
        (0x0021, 0x0023), (0x0025, 0x002A), (0x002C, 0x002F), (0x003A, 0x003B), (0x003F, 0x0040),
        (0x005B, 0x005D), (0x005F, 0x005F), (0x007B, 0x007B), (0x007D, 0x007D), (0x00A1, 0x00A1),
        (0x00A7, 0x00A7), (0x00AB, 0x00AB), (0x00B6, 0x00B7), (0x00BB, 0x00BB), (0x00BF, 0x00BF),
        (0x037E, 0x037E), (0x0387, 0x0387), (0x055A, 0x055F), (0x0589, 0x058A), (0x05BE, 0x05BE),
        (0x05C0, 0x05C0), (0x05C3, 0x05C3), (0x05C6, 0x05C6), (0x05F3, 0x05F4), (0x0609, 0x060A),
        (0x060C, 0x060D), (0x061B, 0x061B), (0x061E, 0x061F), (0x066A, 0x066D), (0x06D4, 0x06D4),
        (0x0700, 0x070D), (0x07F7, 0x07F9), (0x0830, 0x083E), (0x085E, 0x085E), (0x0964, 0x0965),
        (0x0970, 0x0970), (0x0AF0, 0x0AF0), (0x0DF4, 0x0DF4), (0x0E4F, 0x0E4F), (0x0E5A, 0x0E5B),
        (0x0F04, 0x0F12), (0x0F14, 0x0F14), (0x0F3A, 0x0F3D), (0x0F85, 0x0F85), (0x0FD0, 0x0FD4),
        (0x0FD9, 0x0FDA), (0x104A, 0x104F), (0x10FB, 0x10FB), (0x1360, 0x1368), (0x1400, 0x1400),
        (0x166D, 0x166E), (0x169B, 0x169C), (0x16EB, 0x16ED), (0x1735, 0x1736), (0x17D4, 0x17D6),
        (0x17D8, 0x17DA), (0x1800, 0x180A), (0x1944, 0x1945), (0x1A1E, 0x1A1F), (0x1AA0, 0x1AA6),
        (0x1AA8, 0x1AAD), (0x1B5A, 0x1B60), (0x1BFC, 0x1BFF), (0x1C3B, 0x1C3F), (0x1C7E, 0x1C7F),
        (0x1CC0, 0x1CC7), (0x1CD3, 0x1CD3), (0x2010, 0x2027), (0x2030, 0x2043), (0x2045, 0x2051),
        (0x2053, 0x205E), (0x207D, 0x207E), (0x208D, 0x208E), (0x2308, 0x230B), (0x2329, 0x232A),
        (0x2768, 0x2775), (0x27C5, 0x27C6), (0x27E6, 0x27EF), (0x2983, 0x2998), (0x29D8, 0x29DB),
        (0x29FC, 0x29FD), (0x2CF9, 0x2CFC), (0x2CFE, 0x2CFF), (0x2D70, 0x2D70), (0x2E00, 0x2E2E),
        (0x2E30, 0x2E42), (0x3001, 0x3003), (0x3008, 0x3011), (0x3014, 0x301F), (0x3030, 0x3030),
        (0x303D, 0x303D), (0x30A0, 0x30A0), (0x30FB, 0x30FB), (0xA4FE, 0xA4FF), (0xA60D, 0xA60F),
        (0xA673, 0xA673), (0xA67E, 0xA67E), (0xA6F2, 0xA6F7), (0xA874, 0xA877), (0xA8CE, 0xA8CF),
        (0xA8F8, 0xA8FA), (0xA8FC, 0xA8FC), (0xA92E, 0xA92F), (0xA95F, 0xA95F), (0xA9C1, 0xA9CD),
        (0xA9DE, 0xA9DF), (0xAA5C, 0xAA5F), (0xAADE, 0xAADF), (0xAAF0, 0xAAF1), (0xABEB, 0xABEB),
        (0xFD3E, 0xFD3F), (0xFE10, 0xFE19), (0xFE30, 0xFE52), (0xFE54, 0xFE61), (0xFE63, 0xFE63),
        (0xFE68, 0xFE68), (0xFE6A, 0xFE6B), (0xFF01, 0xFF03), (0xFF05, 0xFF0A), (0xFF0C, 0xFF0F),
        (0xFF1A, 0xFF1B), (0xFF1F, 0xFF20), (0xFF3B, 0xFF3D), (0xFF3F, 0xFF3F), (0xFF5B, 0xFF5B),
        (0xFF5D, 0xFF5D), (0xFF5F, 0xFF65), (0x10100, 0x10102), (0x1039F, 0x1039F), (0x103D0, 0x103D0),
        (0x1056F, 0x1056F), (0x10857, 0x10857), (0x1091F, 0x1091F), (0x1093F, 0x1093F), (0x10A50, 0x10A58),
        (0x10A7F, 0x10A7F), (0x10AF0, 0x10AF6), (0x10B39, 0x10B3F), (0x10B99, 0x10B9C), (0x11047, 0x1104D),
        (0x110BB, 0x110BC), (0x110BE, 0x110C1), (0x11140, 0x11143), (0x11174, 0x11175), (0x111C5, 0x111C9),
        (0x111CD, 0x111CD), (0x111DB, 0x111DB), (0x111DD, 0x111DF), (0x11238, 0x1123D), (0x112A9, 0x112A9),
        (0x114C6, 0x114C6), (0x115C1, 0x115D7), (0x11641, 0x11643), (0x1173C, 0x1173E), (0x12470, 0x12474),
        (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B3B), (0x16B44, 0x16B44), (0x1BC9F, 0x1BC9F),
        (0x1DA87, 0x1DA8B),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn model_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/model")
    }

    fn tokenizer() -> WordPiece {
        WordPiece::from_vocab_file(&model_dir().join("vocab.txt")).unwrap()
    }

    #[derive(serde::Deserialize)]
    struct Reference {
        text: String,
        ids: Vec<u32>,
    }

    /// Encodes every `{"text", "ids"}` line of `jsonl`; returns the line count and mismatches.
    fn check_reference(tok: &WordPiece, jsonl: &str) -> (usize, Vec<String>) {
        let mut lines = 0;
        let mut mismatches = Vec::new();
        for line in jsonl.lines() {
            let reference: Reference = serde_json::from_str(line).unwrap();
            let got = tok.encode(&reference.text, DEFAULT_MAX_LEN);
            assert_eq!(got.attention_mask, vec![1; got.ids.len()]);
            if got.ids != reference.ids {
                mismatches.push(format!(
                    "{:?}\n  want {:?}\n  got  {:?}",
                    reference.text, reference.ids, got.ids
                ));
            }
            lines += 1;
        }
        (lines, mismatches)
    }

    /// `testdata/model/tokenize_ref.jsonl` holds the ids HuggingFace `tokenizers` 0.23.3
    /// (`scripts/model/tokenize_ref.py --impl hf --max-len 256`, identical with the model's own
    /// `tokenizer.json`) gives for 200 CoSQA dev queries, 150 CoSQA code snippets (31 longer
    /// than 256 tokens) and 74 Unicode and special-token edge cases.
    #[test]
    fn matches_huggingface_tokenizers() {
        let fixture = std::fs::read_to_string(model_dir().join("tokenize_ref.jsonl")).unwrap();
        let (lines, mismatches) = check_reference(&tokenizer(), &fixture);
        println!(
            "tokenizer fixture: {lines} lines, {} mismatches",
            mismatches.len()
        );
        assert!(lines >= 400, "fixture has only {lines} lines");
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    /// The same check against a larger reference file in the same format, e.g. a dump of
    /// `tokenizers` over every code point or random strings (too big to commit). Run with
    /// `LENS_TOKENIZER_REFERENCE=<jsonl> cargo test -p lens-core reference_file -- --ignored`.
    #[test]
    #[ignore]
    fn matches_reference_file_from_env() {
        let path = std::env::var("LENS_TOKENIZER_REFERENCE").expect("LENS_TOKENIZER_REFERENCE");
        let (lines, mismatches) =
            check_reference(&tokenizer(), &std::fs::read_to_string(path).unwrap());
        println!("{lines} lines, {} mismatches", mismatches.len());
        for m in mismatches.iter().take(100) {
            println!("{m}");
        }
        assert!(mismatches.is_empty());
    }

    #[test]
    fn special_ids_come_from_the_vocabulary() {
        let tok = WordPiece::from_vocab_text("[UNK]\n[SEP]\n[PAD]\n[CLS]\nhello\n##s\n").unwrap();
        assert_eq!(tok.encode("Hellos", 16).ids, [3, 4, 5, 1]);
        assert_eq!(tok.encode("hello world", 16).ids, [3, 4, 0, 1]);
        assert_eq!(tok.encode("[PAD]", 16).ids, [3, 2, 1]);
        // No [MASK] in this vocabulary, so it is plain text.
        assert_eq!(tok.encode("[MASK]", 16).ids, [3, 0, 0, 0, 1]);
        assert_eq!(tok.pad_id(), 2);
        assert_eq!(tok.vocab_size(), 6);
    }

    #[test]
    fn missing_vocab_or_special_is_an_error() {
        let err = WordPiece::from_vocab_file(Path::new("/nonexistent/vocab.txt")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, "[PAD]\n[UNK]\n[CLS]\nhello\n").unwrap();
        let err = WordPiece::from_vocab_file(&path).unwrap_err();
        assert!(err.to_string().contains("no [SEP] token"), "{err}");
    }

    #[test]
    fn truncates_to_max_len() {
        let tok = tokenizer();
        let text = "word ".repeat(50);
        let (cls, sep) = (tok.cls, tok.sep);
        for max_len in [0, 1, 2, 3, 10, 52, 53, 256] {
            let ids = tok.encode(&text, max_len).ids;
            assert_eq!(ids.len(), max_len.clamp(2, 52), "max_len {max_len}");
            assert_eq!((ids[0], ids[ids.len() - 1]), (cls, sep));
        }
        // A cut through a multi-piece word and through special tokens.
        let ids = tok.encode("unbelievably [SEP] [SEP]", 4).ids;
        assert_eq!(ids.len(), 4);
        let ids = tok.encode("[SEP] [SEP] [SEP]", 4).ids;
        assert_eq!(ids, [cls, sep, sep, sep]);
    }

    #[test]
    fn batch_is_padded_to_the_longest() {
        let tok = tokenizer();
        let texts = [
            "how to sort a list",
            "",
            "reverse a string in python please",
        ];
        let (ids, mask, types, seq_len) = tok.encode_batch_padded(&texts, 256);
        let rows: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t, 256).ids).collect();
        assert_eq!(seq_len, rows.iter().map(Vec::len).max().unwrap());
        assert_eq!(
            (ids.len(), mask.len(), types.len()),
            (3 * seq_len, 3 * seq_len, 3 * seq_len)
        );
        for (r, row) in rows.iter().enumerate() {
            let cells = r * seq_len..(r + 1) * seq_len;
            for (i, (&id, &m)) in ids[cells.clone()].iter().zip(&mask[cells]).enumerate() {
                if i < row.len() {
                    assert_eq!((id, m), (i64::from(row[i]), 1));
                } else {
                    assert_eq!((id, m), (i64::from(tok.pad_id()), 0));
                }
            }
        }
        assert!(types.iter().all(|&t| t == 0));
        assert_eq!(
            tok.encode_batch_padded(&[], 256),
            (vec![], vec![], vec![], 0)
        );
    }
}
