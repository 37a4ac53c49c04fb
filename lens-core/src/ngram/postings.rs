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

/// The postings of consecutive documents sorted by trigram, then document, so
/// that a writer appends each trigram's run at once instead of jumping between
/// lists for every posting.
pub struct BatchPostings {
    /// Trigram (bits 40..64), document index in the batch (8..24), mask (0..8).
    entries: Vec<u64>,
}

impl BatchPostings {
    /// Most documents in one batch.
    pub const MAX_DOCS: usize = 1 << 16;

    /// `docs` in id order, each with its distinct trigrams (any order).
    ///
    /// # Panics
    /// With more than [`Self::MAX_DOCS`] documents.
    pub fn new<'a>(docs: impl IntoIterator<Item = &'a [TrigramWithNext]>) -> Self {
        let mut entries = Vec::new();
        for (i, trigrams) in docs.into_iter().enumerate() {
            assert!(
                i < Self::MAX_DOCS,
                "a postings batch holds at most 65,536 documents"
            );
            entries.extend(trigrams.iter().map(|&p| {
                let (t, mask) = unpack(p);
                (u64::from(t) << 40) | ((i as u64) << 8) | u64::from(mask)
            }));
        }
        sort_by_trigram(&mut entries);
        BatchPostings { entries }
    }
}

/// Stable LSD radix sort on the 24 trigram bits: documents stay in order
/// within a trigram.
fn sort_by_trigram(v: &mut Vec<u64>) {
    radix_sort(v, &[40, 52], 12);
}

/// Stable LSD radix sort of `v` on `digit_bits`-wide digits starting at each
/// of `shifts`, least significant first.
fn radix_sort(v: &mut Vec<u64>, shifts: &[u32], digit_bits: u32) {
    let mask = (1u64 << digit_bits) - 1;
    let mut sorted = vec![0u64; v.len()];
    for &shift in shifts {
        let mut starts = vec![0usize; 1 << digit_bits];
        for &e in v.iter() {
            starts[((e >> shift) & mask) as usize] += 1;
        }
        let mut sum = 0;
        for s in starts.iter_mut() {
            let n = *s;
            *s = sum;
            sum += n;
        }
        for &e in v.iter() {
            let b = ((e >> shift) & mask) as usize;
            sorted[starts[b]] = e;
            starts[b] += 1;
        }
        std::mem::swap(v, &mut sorted);
    }
}

/// Accumulates postings in doc order and writes dictionary + postings.
///
/// Docs must be added in increasing id order. Lists live in a slab indexed by
/// a direct 2^24 table, each already in its final encoding (varint deltas and
/// masks), so that appending one posting touches one slab entry and two tails.
pub struct PostingsWriter {
    slot_of_key: Vec<u32>,
    keys: Vec<Trigram>,
    lists: Vec<List>,
}

/// One trigram's postings so far.
#[derive(Default)]
struct List {
    /// Varint doc-id deltas, as `encode_postings` writes them.
    encoded: Vec<u8>,
    /// Next-byte masks, one per posting.
    masks: Vec<u8>,
    last_doc: u32,
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
                self.lists.push(List::default());
            }
            let list = &mut self.lists[*slot as usize];
            let delta = if list.masks.is_empty() {
                doc
            } else {
                doc - list.last_doc
            };
            put_varint(&mut list.encoded, delta);
            list.masks.push(mask);
            list.last_doc = doc;
        }
    }

    /// Records a batch of documents whose first id is `first_doc`; ids
    /// must follow those added before.
    pub fn add_batch(&mut self, first_doc: u32, batch: &BatchPostings) {
        let entries = &batch.entries;
        let mut i = 0;
        while i < entries.len() {
            let t = (entries[i] >> 40) as Trigram;
            let slot = &mut self.slot_of_key[t as usize];
            if *slot == u32::MAX {
                *slot = self.lists.len() as u32;
                self.keys.push(t);
                self.lists.push(List::default());
            }
            let list = &mut self.lists[*slot as usize];
            while let Some(&e) = entries.get(i).filter(|&&e| (e >> 40) as Trigram == t) {
                let doc = first_doc + ((e >> 8) & 0xffff) as u32;
                let delta = if list.masks.is_empty() {
                    doc
                } else {
                    doc - list.last_doc
                };
                put_varint(&mut list.encoded, delta);
                list.masks.push(e as u8);
                list.last_doc = doc;
                i += 1;
            }
        }
    }

    /// Number of (doc, trigram) pairs added.
    pub fn total_postings(&self) -> usize {
        self.lists.iter().map(|l| l.masks.len()).sum()
    }

    /// Encodes everything: returns (dictionary bytes, postings bytes, next-byte masks).
    pub fn finish(self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let PostingsWriter { keys, lists, .. } = self;
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i]);
        let mut postings = Vec::with_capacity(lists.iter().map(|l| l.encoded.len()).sum());
        let mut dict = Vec::with_capacity(order.len() * DICT_ENTRY_BYTES);
        let mut next = Vec::with_capacity(lists.iter().map(|l| l.masks.len()).sum());
        for &i in &order {
            let list = &lists[i];
            next.extend_from_slice(&list.masks);
            DictEntry {
                key: keys[i],
                count: list.masks.len() as u32,
                offset: postings.len() as u64,
            }
            .write(&mut dict);
            postings.extend_from_slice(&list.encoded);
        }
        (dict, postings, next)
    }
}

/// `offset` of a dictionary entry whose list was not written (see
/// [`GramPostingsWriter::finish`]): its count says how many documents have the gram.
pub const UNINDEXED: u64 = u64::MAX;

/// A batch's sparse-gram postings sorted by key, then document.
pub struct GramBatch {
    /// Key (bits 32..64), document index in the batch (0..32).
    entries: Vec<u64>,
}

impl GramBatch {
    /// `docs` in id order, each with its gram keys (repeats are dropped).
    pub fn new<'a>(docs: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let mut entries = Vec::new();
        for (i, keys) in docs.into_iter().enumerate() {
            entries.extend(keys.iter().map(|&k| (u64::from(k) << 32) | i as u64));
        }
        // Stable radix sort on the 32 key bits: documents stay in order within a key.
        radix_sort(&mut entries, &[32, 43, 54], 11);
        GramBatch { entries }
    }
}

/// Hashes a key that is a hash already: one multiply spreads it over the
/// 64 bits the table's buckets and tags are taken from.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, k: u32) {
        self.0 = u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Accumulates sparse-gram postings (32-bit hashed keys, no masks).
#[derive(Default)]
pub struct GramPostingsWriter {
    slot_of_key: std::collections::HashMap<u32, u32, std::hash::BuildHasherDefault<KeyHasher>>,
    keys: Vec<u32>,
    lists: Vec<GramList>,
}

#[derive(Default)]
struct GramList {
    encoded: Vec<u8>,
    count: u32,
    last_doc: u32,
}

impl GramPostingsWriter {
    /// Records a batch whose first document is `first_doc`.
    pub fn add_batch(&mut self, first_doc: u32, batch: &GramBatch) {
        let mut i = 0;
        let entries = &batch.entries;
        while i < entries.len() {
            let key = (entries[i] >> 32) as u32;
            let next_slot = self.lists.len() as u32;
            let slot = *self.slot_of_key.entry(key).or_insert(next_slot);
            if slot == next_slot {
                self.keys.push(key);
                self.lists.push(GramList::default());
            }
            let list = &mut self.lists[slot as usize];
            while let Some(&e) = entries.get(i).filter(|&&e| (e >> 32) as u32 == key) {
                let doc = first_doc + e as u32;
                if list.count > 0 && doc == list.last_doc {
                    // A repeat the document's sparse set let through.
                    i += 1;
                    continue;
                }
                let delta = if list.count == 0 {
                    doc
                } else {
                    doc - list.last_doc
                };
                put_varint(&mut list.encoded, delta);
                list.count += 1;
                list.last_doc = doc;
                i += 1;
            }
        }
    }

    /// Records one document's distinct keys.
    pub fn add_doc(&mut self, doc: u32, keys: &[u32]) {
        self.add_batch(doc, &GramBatch::new([keys]));
    }

    /// Number of (doc, gram) pairs added.
    pub fn total_postings(&self) -> usize {
        self.lists.iter().map(|l| l.count as usize).sum()
    }

    /// Encodes (dictionary, postings). A list of more than `max_docs`
    /// documents is not written: its entry keeps the count, with
    /// [`UNINDEXED`] for offset, so that a search knows the gram exists but
    /// leaves it to verification. Returns also the postings written.
    pub fn finish(self, max_docs: u32) -> (Vec<u8>, Vec<u8>, u64) {
        let GramPostingsWriter { keys, lists, .. } = self;
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i]);
        let mut dict = Vec::with_capacity(order.len() * DICT_ENTRY_BYTES);
        let mut postings = Vec::new();
        let mut written = 0u64;
        for &i in &order {
            let list = &lists[i];
            let offset = if list.count > max_docs {
                UNINDEXED
            } else {
                written += u64::from(list.count);
                let at = postings.len() as u64;
                postings.extend_from_slice(&list.encoded);
                at
            };
            DictEntry {
                key: keys[i],
                count: list.count,
                offset,
            }
            .write(&mut dict);
        }
        (dict, postings, written)
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
    fn batches_write_what_single_documents_write() {
        use crate::ngram::pack;
        // 300 documents of up to 40 distinct trigrams, shared unevenly.
        let docs: Vec<Vec<TrigramWithNext>> = (0..300u32)
            .map(|d| {
                let mut t: Vec<TrigramWithNext> = (0..40u32)
                    .filter(|k| (d * 7 + k * 13) % 5 != 0)
                    .map(|k| pack((k * 104_729 + d % 3) & 0x00ff_ffff, (d + k) as u8))
                    .collect();
                t.sort_unstable();
                t.dedup_by_key(|p| *p >> 8);
                t
            })
            .collect();
        let mut single = PostingsWriter::new();
        for (d, t) in docs.iter().enumerate() {
            single.add_doc(d as u32, t);
        }
        let mut batched = PostingsWriter::new();
        let mut first = 0u32;
        for chunk in docs.chunks(128) {
            batched.add_batch(first, &BatchPostings::new(chunk.iter().map(Vec::as_slice)));
            first += chunk.len() as u32;
        }
        assert_eq!(batched.total_postings(), single.total_postings());
        assert_eq!(batched.finish(), single.finish());
    }

    #[test]
    fn truncated_postings_are_rejected() {
        let mut buf = Vec::new();
        encode_postings(&[1, 200_000], &mut buf);
        let mut out = Vec::new();
        assert!(decode_postings(&buf[..buf.len() - 1], 2, &mut out).is_none());
    }

    #[test]
    fn gram_lists_round_trip_and_long_ones_are_only_counted() {
        let docs: Vec<Vec<u32>> = (0..500u32)
            .map(|d| {
                let mut k = vec![7, 0x8000_0000 + d % 3, u32::MAX - (d % 2)];
                if d % 100 == 0 {
                    k.push(0x0100_0000 + d);
                }
                k.sort_unstable();
                k
            })
            .collect();
        let mut w = GramPostingsWriter::default();
        let mut first = 0u32;
        for chunk in docs.chunks(64) {
            w.add_batch(first, &GramBatch::new(chunk.iter().map(Vec::as_slice)));
            first += chunk.len() as u32;
        }
        assert_eq!(w.total_postings(), 500 * 3 + 5);
        let (dict, post, written) = w.finish(200);
        // Key 7 (500 docs) and u32::MAX - 1 / u32::MAX (250 each) are over 200: counted, not written.
        let e = dict_lookup(&dict, 7).unwrap();
        assert_eq!((e.count, e.offset), (500, UNINDEXED));
        assert_eq!(dict_lookup(&dict, u32::MAX).unwrap().offset, UNINDEXED);
        let e = dict_lookup(&dict, 0x8000_0001).unwrap();
        let mut out = Vec::new();
        decode_postings(&post[e.offset as usize..], e.count as usize, &mut out).unwrap();
        assert_eq!(out, (0..500).filter(|d| d % 3 == 1).collect::<Vec<u32>>());
        let e = dict_lookup(&dict, 0x0100_0000 + 300).unwrap();
        decode_postings(&post[e.offset as usize..], e.count as usize, &mut out).unwrap();
        assert_eq!(out, vec![300]);
        assert_eq!(written, 167 + 167 + 166 + 5);
    }
}
