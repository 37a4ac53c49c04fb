//! Varint-delta posting lists and the fixed-width dictionary that points at them.
//!
//! Dictionary entry (16 bytes, little endian): key u32, doc count u32, byte offset u64
//! into the postings file. Entries are sorted by key; lookup is a binary search over
//! the memory-mapped array. The next-byte masks (`ngram.next`) hold one byte per
//! posting, list after list in dictionary order, so a list's masks start at the
//! sum of the counts before it.

use super::{Trigram, TrigramWithNext, unpack};

/// Size of one dictionary entry in bytes.
pub const DICT_ENTRY_BYTES: usize = 16;

/// Appends LEB128 `v` to `out`.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes a strictly increasing doc id list as varint deltas.
pub fn encode_postings(docs: &[u32], out: &mut Vec<u8>) {
    let mut prev = 0u32;
    for (i, &d) in docs.iter().enumerate() {
        let delta = if i == 0 { d } else { d - prev };
        put_varint(out, delta);
        prev = d;
    }
}

/// Decodes a whole list: the reference decoder the tests check the format
/// with. Searches read lists lazily through cursors (`search::candidates`).
/// `None` when the bytes run out or overflow.
pub fn decode_postings(bytes: &[u8], count: usize, out: &mut Vec<u32>) -> Option<()> {
    out.clear();
    out.reserve(count);
    let mut pos = 0usize;
    let mut prev = 0u32;
    for i in 0..count {
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            v |= ((b & 0x7f) as u32).checked_shl(shift)?;
            if b < 0x80 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
        let d = if i == 0 { v } else { prev.checked_add(v)? };
        out.push(d);
        prev = d;
    }
    Some(())
}

/// One dictionary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DictEntry {
    pub key: Trigram,
    pub count: u32,
    pub offset: u64,
}

impl DictEntry {
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
    }

    pub fn read(bytes: &[u8]) -> DictEntry {
        DictEntry {
            key: u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
            count: u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            offset: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
        }
    }
}

/// Binary search of a memory-mapped dictionary.
pub fn dict_lookup(dict: &[u8], key: Trigram) -> Option<DictEntry> {
    dict_search(dict, key).map(|(_, e)| e)
}

/// Like [`dict_lookup`], with the entry's index in the dictionary.
pub fn dict_search(dict: &[u8], key: Trigram) -> Option<(usize, DictEntry)> {
    let n = dict.len() / DICT_ENTRY_BYTES;
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let at = mid * DICT_ENTRY_BYTES;
        let k = u32::from_le_bytes(dict[at..at + 4].try_into().unwrap());
        match k.cmp(&key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                return Some((mid, DictEntry::read(&dict[at..at + DICT_ENTRY_BYTES])));
            }
        }
    }
    None
}

/// Accumulates postings in doc order and writes dictionary + postings.
///
/// Docs must be added in increasing id order. Lists live in a slab indexed by
/// a direct 2^24 table so that appending is one array lookup per (doc, trigram).
pub struct PostingsWriter {
    slot_of_key: Vec<u32>,
    keys: Vec<Trigram>,
    lists: Vec<Vec<u32>>,
    /// Next-byte masks, parallel to `lists`.
    masks: Vec<Vec<u8>>,
}

impl Default for PostingsWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PostingsWriter {
    pub fn new() -> Self {
        PostingsWriter {
            slot_of_key: vec![u32::MAX; 1 << 24],
            keys: Vec::new(),
            lists: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// Records that `doc` contains every trigram in `trigrams`, with its next-byte mask.
    pub fn add_doc(&mut self, doc: u32, trigrams: &[TrigramWithNext]) {
        for &packed in trigrams {
            let (t, mask) = unpack(packed);
            let slot = &mut self.slot_of_key[t as usize];
            if *slot == u32::MAX {
                *slot = self.lists.len() as u32;
                self.keys.push(t);
                self.lists.push(Vec::new());
                self.masks.push(Vec::new());
            }
            self.lists[*slot as usize].push(doc);
            self.masks[*slot as usize].push(mask);
        }
    }

    /// Number of (doc, trigram) pairs added.
    pub fn total_postings(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// Encodes everything: returns (dictionary bytes, postings bytes, next-byte masks).
    pub fn finish(self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        use rayon::prelude::*;
        let PostingsWriter {
            keys, lists, masks, ..
        } = self;
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i]);
        let encoded: Vec<Vec<u8>> = order
            .par_iter()
            .map(|&i| {
                let mut buf = Vec::with_capacity(lists[i].len() + 4);
                encode_postings(&lists[i], &mut buf);
                buf
            })
            .collect();
        let total: usize = encoded.iter().map(Vec::len).sum();
        let mut postings = Vec::with_capacity(total);
        let mut dict = Vec::with_capacity(order.len() * DICT_ENTRY_BYTES);
        let mut next = Vec::with_capacity(masks.iter().map(Vec::len).sum());
        for (&i, enc) in order.iter().zip(&encoded) {
            next.extend_from_slice(&masks[i]);
            DictEntry {
                key: keys[i],
                count: lists[i].len() as u32,
                offset: postings.len() as u64,
            }
            .write(&mut dict);
            postings.extend_from_slice(enc);
        }
        (dict, postings, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_postings_and_dict() {
        use crate::ngram::pack;
        let mut w = PostingsWriter::new();
        w.add_doc(0, &[pack(5, 1), pack(9, 2)]);
        w.add_doc(3, &[pack(9, 4)]);
        w.add_doc(300_000, &[pack(5, 8), pack(9, 16), pack(0x00ff_ffff, 32)]);
        let (dict, post, next) = w.finish();
        // Masks follow the dictionary's order: key 5's two, key 9's three, then the last key's.
        assert_eq!(next, vec![1, 8, 2, 4, 16, 32]);
        assert_eq!(dict_search(&dict, 9).map(|(i, _)| i), Some(1));
        let e = dict_lookup(&dict, 9).unwrap();
        let mut out = Vec::new();
        decode_postings(&post[e.offset as usize..], e.count as usize, &mut out).unwrap();
        assert_eq!(out, vec![0, 3, 300_000]);
        assert!(dict_lookup(&dict, 6).is_none());
        let e = dict_lookup(&dict, 0x00ff_ffff).unwrap();
        decode_postings(&post[e.offset as usize..], e.count as usize, &mut out).unwrap();
        assert_eq!(out, vec![300_000]);
    }

    #[test]
    fn truncated_postings_are_rejected() {
        let mut buf = Vec::new();
        encode_postings(&[1, 200_000], &mut buf);
        let mut out = Vec::new();
        assert!(decode_postings(&buf[..buf.len() - 1], 2, &mut out).is_none());
    }
}
