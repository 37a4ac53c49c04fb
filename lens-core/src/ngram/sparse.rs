//! Sparse n-grams: longer, rarer grams for literals made of common trigrams.
//!
//! As GitHub's code search describes them: every bigram of the (case-folded)
//! text gets a weight, and the bytes from bigram `a` to bigram `b` form a gram
//! when every bigram strictly between them weighs less than both ends. A text
//! of `n` bytes has fewer than `2n` such grams (the pairs a monotonic stack
//! sees), its trigrams among them. Whether a substring is a gram depends only
//! on its own bigrams, so every gram of a literal is a gram of every document
//! that contains the literal: the index can require all of them.
//!
//! Weights are bigram ranks by frequency in a mix of C, Rust, Python and
//! TypeScript sources (`bigram_ranks.bin`, rebuilt by `lens-bigram-weights`):
//! a common bigram weighs little, so grams grow across common pieces and end
//! at rare ones, which makes them rare. Grams of 4 to [`MAX_LEN`] bytes are
//! indexed under a 32-bit hash of their folded bytes (a collision only merges
//! two lists, which verification corrects); trigrams stay in `ngram.dict`.

use super::fold;

/// Longest indexed gram. 6 keeps the index within budget on the Linux tree
/// while 8 and 12 narrowed the random identifiers little further
/// (benches/README.md, "Sparse n-grams").
pub const MAX_LEN: usize = 6;
/// Shortest gram kept in the sparse index (shorter ones are trigrams).
pub const MIN_LEN: usize = 4;

/// Rank of every folded bigram `(a << 8) | b`, little-endian u16: 0 for the
/// most frequent. Only the order matters.
static RANKS: &[u8; 131072] = include_bytes!("bigram_ranks.bin");

/// How gram keys are made from bytes (bumped when [`gram_key`] changes).
const KEY_SCHEME: u32 = 2;

/// Identifies the weight table and key scheme, so that a bundle built with
/// other weights is searched by trigrams alone rather than wrongly.
pub fn weights_id() -> String {
    format!("{:016x}-k{KEY_SCHEME}", xxhash_rust::xxh3::xxh3_64(RANKS))
}

/// Bigram weights: rank above, the bigram's value below, so that rarer is
/// heavier and only equal bigrams weigh the same.
fn weights() -> &'static [u32; 65536] {
    static WEIGHTS: std::sync::OnceLock<Box<[u32; 65536]>> = std::sync::OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let mut w = Box::new([0u32; 65536]);
        for (i, x) in w.iter_mut().enumerate() {
            let rank = u16::from_le_bytes([RANKS[2 * i], RANKS[2 * i + 1]]);
            *x = (u32::from(rank) << 16) | i as u32;
        }
        w
    })
}

#[cfg(test)]
fn weight(a: u8, b: u8) -> u32 {
    weights()[((fold(a) as usize) << 8) | fold(b) as usize]
}

/// The key of `n` folded bytes packed big-endian in the low bytes of `packed`.
#[inline]
fn key_of_packed(packed: u64, n: usize) -> u32 {
    let x = (packed | (n as u64) << 56).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32) as u32
}

/// The index key of a gram of [`MIN_LEN`]..=[`MAX_LEN`] bytes (folded first).
#[inline]
pub fn gram_key(gram: &[u8]) -> u32 {
    let n = gram.len().min(MAX_LEN);
    let packed = gram[..n]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(fold(b)));
    key_of_packed(packed, n)
}

/// Calls `f(start, len)` for every sparse gram of `bytes` of
/// [`MIN_LEN`]..=[`MAX_LEN`] bytes, in order of its end. `stack` is scratch.
#[inline]
pub fn for_each_gram(bytes: &[u8], stack: &mut Vec<(u32, u32)>, mut f: impl FnMut(usize, usize)) {
    grams_with_window(bytes, stack, |s, n, _| f(s, n));
}

/// [`for_each_gram`], also passing the folded bytes up to the gram's end
/// (the last in the low byte).
#[inline]
fn grams_with_window(
    bytes: &[u8],
    stack: &mut Vec<(u32, u32)>,
    mut f: impl FnMut(usize, usize, u64),
) {
    stack.clear();
    if bytes.len() < MIN_LEN {
        return;
    }
    let w = weights();
    let mut window = u64::from(fold(bytes[0]));
    for b in 0..bytes.len() - 1 {
        let next = fold(bytes[b + 1]);
        window = (window << 8) | u64::from(next);
        let wb = w[(usize::from(fold(bytes[b])) << 8) | usize::from(next)];
        // Every bigram still on the stack weighs more than all between it and `b`.
        while let Some(&(s, ws)) = stack.last() {
            let len = b - s as usize + 2;
            if len > MAX_LEN {
                // Older entries are further away: no gram from them fits.
                if ws <= wb {
                    stack.pop();
                    continue;
                }
                break;
            }
            if len >= MIN_LEN {
                f(s as usize, len, window);
            }
            if ws > wb {
                break;
            }
            stack.pop();
            if ws == wb {
                // An equal weight between hides everything before it.
                break;
            }
        }
        stack.push((b as u32, wb));
    }
}

/// Slots of the sparse set that drops repeats within a document: small
/// enough to stay in cache (4 MiB made the build 2 s slower than sorting).
const SEEN_SLOTS: usize = 1 << 16;

/// Scratch space of [`distinct_grams`], reused across documents.
pub struct GramScratch {
    stack: Vec<(u32, u32)>,
    /// Sparse half of a sparse set whose dense half is the output.
    seen: Vec<u32>,
}

impl Default for GramScratch {
    fn default() -> Self {
        GramScratch {
            stack: Vec::new(),
            seen: vec![0; SEEN_SLOTS],
        }
    }
}

/// Keys of the sparse grams of `bytes`, nearly all repeats dropped (two
/// keys sharing a slot may both be kept twice; the postings writer drops
/// what is left).
pub fn distinct_grams(bytes: &[u8], scratch: &mut GramScratch, out: &mut Vec<u32>) {
    out.clear();
    let GramScratch { stack, seen } = scratch;
    grams_with_window(bytes, stack, |_, n, window| {
        let key = key_of_packed(window & (u64::MAX >> (64 - 8 * n)), n);
        let slot = &mut seen[key as usize & (SEEN_SLOTS - 1)];
        if out.get(*slot as usize) != Some(&key) {
            *slot = out.len() as u32;
            out.push(key);
        }
    });
}

/// [`distinct_grams`] with a scratch space of this thread's, sorted and
/// without repeats.
pub fn grams_of(bytes: &[u8]) -> Vec<u32> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Option<GramScratch>> = const { std::cell::RefCell::new(None) };
    }
    let mut out = Vec::new();
    SCRATCH.with_borrow_mut(|s| {
        distinct_grams(bytes, s.get_or_insert_with(GramScratch::default), &mut out)
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// One sparse gram of a query, with its text for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SparseGram {
    pub key: u32,
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl SparseGram {
    pub fn new(gram: &[u8]) -> SparseGram {
        let mut bytes = [0u8; MAX_LEN];
        let n = gram.len().min(MAX_LEN);
        for (d, &s) in bytes.iter_mut().zip(gram) {
            *d = fold(s);
        }
        SparseGram {
            key: gram_key(gram),
            len: n as u8,
            bytes,
        }
    }

    /// The folded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The sparse grams a literal's every occurrence contains, deduplicated.
pub fn literal_grams(lit: &[u8]) -> Vec<SparseGram> {
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for_each_gram(lit, &mut stack, |s, n| {
        out.push(SparseGram::new(&lit[s..s + n]))
    });
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition itself, for the stack version to be checked against.
    fn grams_by_definition(bytes: &[u8]) -> Vec<(usize, usize)> {
        let w: Vec<u32> = bytes.windows(2).map(|p| weight(p[0], p[1])).collect();
        let mut out = Vec::new();
        for a in 0..w.len() {
            for b in a + 1..w.len() {
                let len = b - a + 2;
                if len > MAX_LEN {
                    break;
                }
                let inner_max = w[a + 1..b].iter().copied().max().unwrap_or(0);
                if len >= MIN_LEN && inner_max < w[a] && inner_max < w[b] {
                    out.push((a, len));
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn grams_by_stack(bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for_each_gram(bytes, &mut Vec::new(), |s, n| out.push((s, n)));
        out.sort_unstable();
        out
    }

    #[test]
    fn the_table_ranks_every_bigram_once() {
        let mut seen = vec![false; 65536];
        for i in 0..65536 {
            let r = u16::from_le_bytes([RANKS[2 * i], RANKS[2 * i + 1]]) as usize;
            assert!(!seen[r], "rank {r} given twice");
            seen[r] = true;
        }
        // Code's most common bigrams weigh least.
        assert!(weight(b'e', b'r') < weight(b'q', b'x'));
        assert!(weight(b'_', b'_') < weight(b'z', b'q'));
    }

    #[test]
    fn grams_of_common_pieces_are_longer_than_trigrams() {
        let g: Vec<String> = literal_grams(b"table_version")
            .iter()
            .map(|g| String::from_utf8_lossy(g.bytes()).into_owned())
            .collect();
        assert!(!g.is_empty(), "{g:?}");
        assert!(g.iter().all(|s| (MIN_LEN..=MAX_LEN).contains(&s.len())));
        assert!(g.iter().all(|s| "table_version".contains(s.as_str())));
        // Case folds: the same grams either way.
        assert_eq!(
            literal_grams(b"TABLE_Version"),
            literal_grams(b"table_version")
        );
        assert!(literal_grams(b"abc").is_empty());
    }

    proptest! {
        #[test]
        fn the_stack_finds_exactly_the_defined_grams(bytes in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'e'), Just(b'_'), Just(b'r'), Just(b'X'), any::<u8>()], 0..80)) {
            prop_assert_eq!(grams_by_stack(&bytes), grams_by_definition(&bytes));
        }

        /// What makes the index sound: a literal's grams are grams of any
        /// text that contains it, whatever surrounds it and in either case.
        #[test]
        fn a_literal_s_grams_are_grams_of_every_text_containing_it(
            before in proptest::collection::vec(any::<u8>(), 0..40),
            lit in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'_'), Just(b't'), any::<u8>()], 0..24),
            after in proptest::collection::vec(any::<u8>(), 0..40),
            upper in any::<bool>(),
        ) {
            let mut text = before.clone();
            text.extend(lit.iter().map(|&b| if upper { b.to_ascii_uppercase() } else { b }));
            text.extend_from_slice(&after);
            let keys = grams_of(&text);
            for g in literal_grams(&lit) {
                prop_assert!(keys.binary_search(&g.key).is_ok(), "{:?} missing", g.bytes());
            }
        }
    }
}
