//! Skip tables for long posting lists, built on first use and kept per bundle.
//!
//! Posting lists are varint deltas, so a cursor reaches doc `d` only by decoding every
//! entry before it. A skip table samples every [`SKIP_EVERY`]-th entry (its doc, the byte
//! offset after it, how many entries that consumed), so that a seek jumps to the last
//! sample at or before its target and decodes at most [`SKIP_EVERY`] entries. The bundle
//! format is unchanged: a table costs one full decode of its list, once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::postings::decode_postings;

/// Entries between samples.
pub const SKIP_EVERY: usize = 64;
/// Lists shorter than this are decoded linearly (a table would not pay for itself).
pub const SKIP_MIN_LEN: u32 = 2048;

/// Samples of one list: entry `k * SKIP_EVERY` has doc `docs[k]` and ends at byte `ends[k]`.
#[derive(Debug, Default)]
pub struct SkipTable {
    pub docs: Vec<u32>,
    pub ends: Vec<u32>,
}

impl SkipTable {
    /// Samples a list of `count` entries; `None` when it does not decode.
    pub fn build(bytes: &[u8], count: u32) -> Option<SkipTable> {
        let mut docs = Vec::with_capacity(count as usize);
        decode_postings(bytes, count as usize, &mut docs)?;
        // Byte ends of the sampled entries: walk the varints again (continuation bits only).
        let mut t = SkipTable::default();
        let mut pos = 0usize;
        for (i, &doc) in docs.iter().enumerate() {
            while bytes.get(pos)? & 0x80 != 0 {
                pos += 1;
            }
            pos += 1;
            if i.is_multiple_of(SKIP_EVERY) {
                t.docs.push(doc);
                t.ends.push(pos as u32);
            }
        }
        Some(t)
    }

    /// The last sample whose doc is `<= target`: (sample index, entries consumed, doc, byte end).
    pub fn floor(&self, target: u32) -> Option<(usize, u32, u32, usize)> {
        let k = self.docs.partition_point(|&d| d <= target).checked_sub(1)?;
        Some((
            k,
            (k * SKIP_EVERY + 1) as u32,
            self.docs[k],
            self.ends[k] as usize,
        ))
    }
}

/// Skip tables of one bundle, keyed by the list's offset in the postings file.
#[derive(Debug, Default)]
pub struct SkipCache {
    tables: Mutex<HashMap<u64, Option<Arc<SkipTable>>>>,
}

impl SkipCache {
    /// The table of the list at `offset` (`None` if it does not decode), built on first use.
    pub fn get(&self, offset: u64, bytes: &[u8], count: u32) -> Option<Arc<SkipTable>> {
        if let Some(t) = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&offset)
        {
            return t.clone();
        }
        // Built outside the lock: two searches may both build it; the second insert wins.
        let t = SkipTable::build(bytes, count).map(Arc::new);
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(offset, t.clone());
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::postings::encode_postings;

    #[test]
    fn floor_finds_the_last_sample_at_or_before_the_target() {
        let docs: Vec<u32> = (0..1000u32)
            .map(|i| i * 3 + (i % 7) * 200)
            .collect::<Vec<_>>();
        let mut docs = docs;
        docs.sort_unstable();
        docs.dedup();
        let mut bytes = Vec::new();
        encode_postings(&docs, &mut bytes);
        let t = SkipTable::build(&bytes, docs.len() as u32).unwrap();
        assert_eq!(t.docs.len(), docs.len().div_ceil(SKIP_EVERY));
        for target in [0, 1, docs[64], docs[64] + 1, docs[500], u32::MAX] {
            let (k, consumed, doc, end) = t.floor(target).unwrap();
            assert_eq!(doc, docs[k * SKIP_EVERY]);
            assert!(doc <= target);
            assert_eq!(consumed as usize, k * SKIP_EVERY + 1);
            // Decoding from `end` continues with the next entry.
            let mut rest = Vec::new();
            decode_postings(&bytes[end..], docs.len() - consumed as usize, &mut rest).unwrap();
            if let Some(&next_delta) = rest.first() {
                assert_eq!(doc + next_delta, docs[consumed as usize]);
            }
            if k + 1 < t.docs.len() {
                assert!(t.docs[k + 1] > target);
            }
        }
        assert!(SkipTable::build(&bytes[..bytes.len() - 1], docs.len() as u32).is_none());
    }
}
