//! The n-gram index: trigram keys over ASCII-case-folded bytes, a sorted
//! memory-mapped dictionary and varint-delta compressed posting lists.
//!
//! Keys fold ASCII letters to lower case so that one index serves both
//! case-sensitive and case-insensitive queries; verification restores exactness.

pub mod postings;
pub mod skips;

pub use postings::{PostingsWriter, decode_postings};

/// A trigram key: three case-folded bytes packed into the low 24 bits.
pub type Trigram = u32;

/// Folds one byte the way keys are built (ASCII lower case only, so UTF-8
/// multi-byte sequences are untouched).
#[inline]
pub fn fold(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

/// Packs three bytes into a key after folding.
#[inline]
pub fn key(a: u8, b: u8, c: u8) -> Trigram {
    ((fold(a) as u32) << 16) | ((fold(b) as u32) << 8) | fold(c) as u32
}

/// Every distinct trigram key of `bytes`, sorted. `seen` is scratch space of
/// `1 << 24` stamps reused across calls; `stamp` must differ between calls.
pub fn distinct_trigrams(bytes: &[u8], seen: &mut [u32], stamp: u32, out: &mut Vec<Trigram>) {
    debug_assert_eq!(seen.len(), 1 << 24);
    out.clear();
    if bytes.len() < 3 {
        return;
    }
    let mut k = ((fold(bytes[0]) as u32) << 8) | fold(bytes[1]) as u32;
    for &b in &bytes[2..] {
        k = ((k << 8) | fold(b) as u32) & 0x00ff_ffff;
        let slot = &mut seen[k as usize];
        if *slot != stamp {
            *slot = stamp;
            out.push(k);
        }
    }
    out.sort_unstable();
}

/// Trigram keys of a literal (already in the byte form the matcher sees).
pub fn literal_trigrams(lit: &[u8]) -> Vec<Trigram> {
    let mut v: Vec<Trigram> = lit.windows(3).map(|w| key(w[0], w[1], w[2])).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_trigrams_fold_case_and_dedup() {
        let mut seen = vec![0u32; 1 << 24];
        let mut out = Vec::new();
        distinct_trigrams(b"AbcabC", &mut seen, 1, &mut out);
        let mut expect = literal_trigrams(b"abcabc");
        expect.sort_unstable();
        assert_eq!(out, expect);
        assert_eq!(out.len(), 3); // abc, bca, cab
        distinct_trigrams(b"ab", &mut seen, 2, &mut out);
        assert!(out.is_empty());
    }
}
