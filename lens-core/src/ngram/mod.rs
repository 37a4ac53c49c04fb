//! The n-gram index: trigram keys over ASCII-case-folded bytes, a sorted
//! memory-mapped dictionary and varint-delta compressed posting lists.
//!
//! Keys fold ASCII letters to lower case so that one index serves both
//! case-sensitive and case-insensitive queries; verification restores exactness.

pub mod postings;
pub mod skips;
pub mod sparse;

pub use postings::{BatchPostings, GramBatch, GramPostingsWriter, PostingsWriter, decode_postings};

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

/// The bit of a next-byte mask that stands for the (folded) byte `b`.
#[inline]
pub fn next_bit(b: u8) -> u8 {
    1 << (fold(b) & 7)
}

/// A distinct trigram of a document with its next-byte mask, packed as
/// `key << 8 | mask`: bit `b & 7` of the mask is set when the trigram is
/// followed somewhere in the document by a byte that folds to `b` (a one-byte
/// Bloom filter of its successors). Sorting packed values sorts by key.
pub type TrigramWithNext = u32;

#[inline]
pub fn pack(key: Trigram, mask: u8) -> TrigramWithNext {
    (key << 8) | u32::from(mask)
}

#[inline]
pub fn unpack(t: TrigramWithNext) -> (Trigram, u8) {
    (t >> 8, t as u8)
}

/// Every distinct trigram key of `bytes` with its next-byte mask, in order of
/// first occurrence (postings batches sort them). `slots` is scratch space of `1 << 24` entries reused across calls
/// without clearing: it is the sparse half of a sparse set whose dense half
/// is `out`, so a stale slot is recognised by `out` not pointing back.
pub fn distinct_trigrams(bytes: &[u8], slots: &mut [u32], out: &mut Vec<TrigramWithNext>) {
    debug_assert_eq!(slots.len(), 1 << 24);
    out.clear();
    if bytes.len() < 3 {
        return;
    }
    let mut k = ((fold(bytes[0]) as u32) << 8) | fold(bytes[1]) as u32;
    for j in 2..bytes.len() {
        k = ((k << 8) | fold(bytes[j]) as u32) & 0x00ff_ffff;
        let next = bytes.get(j + 1).map_or(0, |&b| next_bit(b));
        let slot = slots[k as usize] as usize;
        match out.get_mut(slot) {
            Some(e) if *e >> 8 == k => *e |= u32::from(next),
            _ => {
                slots[k as usize] = out.len() as u32;
                out.push(pack(k, next));
            }
        }
    }
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
        let mut slots = vec![0u32; 1 << 24];
        let mut out = Vec::new();
        distinct_trigrams(b"AbcabC", &mut slots, &mut out);
        let mut keys: Vec<Trigram> = out.iter().map(|&t| unpack(t).0).collect();
        keys.sort_unstable();
        assert_eq!(keys, literal_trigrams(b"abcabc"));
        assert_eq!(out.len(), 3); // abc, bca, cab
        distinct_trigrams(b"ab", &mut slots, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn next_masks_record_every_following_byte_and_survive_stale_slots() {
        let mut slots = vec![0u32; 1 << 24];
        let mut out = Vec::new();
        // "abc" is followed by 'd' and by 'X' (folded to 'x'); the last "abc" by nothing.
        distinct_trigrams(b"abcd abcX abc", &mut slots, &mut out);
        let abc = out
            .iter()
            .map(|&t| unpack(t))
            .find(|&(k, _)| k == key(b'a', b'b', b'c'));
        assert_eq!(
            abc,
            Some((key(b'a', b'b', b'c'), next_bit(b'd') | next_bit(b'x')))
        );
        // Slots left over from the first call must not leak into the second.
        distinct_trigrams(b"xyzabc!", &mut slots, &mut out);
        let got: Vec<(Trigram, u8)> = out.iter().map(|&t| unpack(t)).collect();
        // In order of first occurrence.
        let expect = vec![
            (key(b'x', b'y', b'z'), next_bit(b'a')),
            (key(b'y', b'z', b'a'), next_bit(b'b')),
            (key(b'z', b'a', b'b'), next_bit(b'c')),
            (key(b'a', b'b', b'c'), next_bit(b'!')),
            // The last trigram is followed by nothing.
            (key(b'b', b'c', b'!'), 0),
        ];
        assert_eq!(got, expect);
    }
}
