//! Turns an n-gram query into candidate documents, lazily and in doc-id order.
//!
//! Posting lists are read through cursors and joined leapfrog-style, so a
//! ranked search that stops after a few hundred documents decodes only the
//! prefix of each list it needed. When the estimate says more than
//! `SCAN_CANDIDATE_SHARE` of all documents are candidates, every document is
//! verified instead (a scan).

use crate::bundle::BundleReader;
use crate::error::{Error, Result};
use crate::limits::SCAN_CANDIDATE_SHARE;
use std::sync::Arc;

use crate::ngram::postings::DictEntry;
use crate::ngram::skips::{SKIP_MIN_LEN, SkipTable};
use crate::plan::CandidatePolicy;
use crate::query::NgramQuery;

/// How candidates were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Posting lists narrowed the candidates.
    Index,
    /// Every document is verified (the plan was not selective).
    Scan,
    /// The plan proved that nothing can match.
    Empty,
}

/// Lists more than this multiple of a conjunction's smallest list are left to
/// verification: a literal's trigrams are strongly correlated, so large lists
/// remove few candidates. 20 was best among 1000, 20, 5 and 2 on the Linux
/// query set (benches/README.md).
const SKIP_LIST_RATIO: usize = 20;

/// Candidate documents, produced in increasing id order (= static-rank order).
pub struct Candidates<'a> {
    pub strategy: Strategy,
    /// Upper bound on candidates estimated from document counts alone.
    pub estimate: usize,
    iter: DocIter<'a>,
    next: u32,
}

impl Candidates<'_> {
    /// The next candidate, or `None` when exhausted.
    pub fn next_doc(&mut self) -> Result<Option<u32>> {
        let d = self.iter.seek(self.next)?;
        if let Some(d) = d {
            self.next = d + 1;
        }
        Ok(d)
    }

    /// Produces only candidates `>= doc` from now on (a page resuming where
    /// the previous one stopped; long lists jump there through their skips).
    pub fn start_at(&mut self, doc: u32) {
        self.next = self.next.max(doc);
    }

    /// Posting entries decoded so far.
    pub fn postings_decoded(&self) -> usize {
        self.iter.decoded()
    }
}

pub fn find<'a>(
    bundle: &'a BundleReader,
    q: &NgramQuery,
    policy: CandidatePolicy,
) -> Result<Candidates<'a>> {
    let total = bundle.doc_count();
    let estimate = estimate(bundle, q, total);
    let (strategy, iter) = if matches!(q, NgramQuery::None) || estimate == 0 {
        (Strategy::Empty, DocIter::Empty)
    } else if matches!(q, NgramQuery::All)
        || (policy == CandidatePolicy::CostBased
            && estimate as f64 > SCAN_CANDIDATE_SHARE * total as f64)
    {
        (Strategy::Scan, DocIter::All { end: total as u32 })
    } else {
        (Strategy::Index, build(bundle, q, total))
    };
    Ok(Candidates {
        strategy,
        estimate,
        iter,
        next: 0,
    })
}

fn estimate(bundle: &BundleReader, q: &NgramQuery, total: usize) -> usize {
    match q {
        NgramQuery::All => total,
        NgramQuery::None => 0,
        NgramQuery::Trigram(t) | NgramQuery::Followed(t, _) => {
            bundle.ngram_entry(*t).map_or(0, |e| e.count as usize)
        }
        NgramQuery::And(v) => v
            .iter()
            .map(|x| estimate(bundle, x, total))
            .min()
            .unwrap_or(total),
        NgramQuery::Or(v) => v
            .iter()
            .map(|x| estimate(bundle, x, total))
            .sum::<usize>()
            .min(total),
    }
}

fn build<'a>(bundle: &'a BundleReader, q: &NgramQuery, total: usize) -> DocIter<'a> {
    match q {
        NgramQuery::All => DocIter::All { end: total as u32 },
        NgramQuery::None => DocIter::Empty,
        NgramQuery::Trigram(t) => match bundle.ngram_entry(*t) {
            Some(e) => DocIter::List(Cursor::new(bundle, e, None)),
            None => DocIter::Empty,
        },
        NgramQuery::Followed(t, bit) => match bundle.ngram_entry_with_masks(*t) {
            Some((e, masks)) => DocIter::List(Cursor::new(bundle, e, masks.map(|m| (m, *bit)))),
            None => DocIter::Empty,
        },
        NgramQuery::Or(v) => DocIter::Or(v.iter().map(|x| build(bundle, x, total)).collect()),
        NgramQuery::And(v) => {
            let mut parts: Vec<(usize, &NgramQuery)> =
                v.iter().map(|x| (estimate(bundle, x, total), x)).collect();
            parts.sort_by_key(|&(n, _)| n);
            let smallest = parts.first().map_or(0, |&(n, _)| n);
            let kept: Vec<DocIter<'a>> = parts
                .iter()
                .enumerate()
                .filter(|&(i, &(n, q))| {
                    i == 0
                        || (n <= smallest.saturating_mul(SKIP_LIST_RATIO)
                            && !matches!(q, NgramQuery::All))
                })
                .map(|(_, &(_, q))| build(bundle, q, total))
                .collect();
            if kept.len() == 1 {
                kept.into_iter().next().unwrap()
            } else {
                DocIter::And(kept)
            }
        }
    }
}

/// Forward-only reader of one varint-delta posting list.
struct Cursor<'a> {
    bundle: &'a BundleReader,
    bytes: &'a [u8],
    pos: usize,
    count: u32,
    remaining: u32,
    current: Option<u32>,
    decoded: usize,
    /// Samples of a long list, so that a seek far ahead jumps instead of decoding.
    skips: Option<Arc<SkipTable>>,
    /// The list's next-byte masks and the bit a document's mask must have:
    /// documents without it contain the trigram, but never followed by the
    /// byte the query needs, and are passed over.
    required_next: Option<(&'a [u8], u8)>,
}

impl<'a> Cursor<'a> {
    fn new(
        bundle: &'a BundleReader,
        e: DictEntry,
        required_next: Option<(&'a [u8], u8)>,
    ) -> Cursor<'a> {
        let bytes = bundle.postings_from(e.offset);
        let skips = (e.count >= SKIP_MIN_LEN)
            .then(|| bundle.skip_cache().get(e.offset, bytes, e.count))
            .flatten();
        Cursor {
            bundle,
            bytes,
            pos: 0,
            count: e.count,
            remaining: e.count,
            current: None,
            decoded: 0,
            skips,
            required_next,
        }
    }

    /// Whether the current entry's next-byte mask has the required bit.
    #[inline]
    fn current_passes(&self) -> bool {
        match self.required_next {
            None => true,
            Some((masks, bit)) => {
                let index = (self.count - self.remaining) as usize - 1;
                masks.get(index).is_some_and(|m| m & bit != 0)
            }
        }
    }

    fn corrupt(&self) -> Error {
        self.bundle.corrupt_postings()
    }

    /// Decodes the next entry; `None` at the end. The bundle's checksums were
    /// verified at open, so only memory safety and termination are checked per
    /// entry; one-byte deltas (most of them) take the fast path.
    #[inline]
    fn step(&mut self) -> Result<Option<u32>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let first = *self.bytes.get(self.pos).ok_or_else(|| self.corrupt())?;
        self.pos += 1;
        let v = if first < 0x80 {
            u32::from(first)
        } else {
            self.step_slow(first)?
        };
        let doc = match self.current {
            None => v,
            Some(prev) => prev.wrapping_add(v),
        };
        self.remaining -= 1;
        self.decoded += 1;
        self.current = Some(doc);
        Ok(Some(doc))
    }

    #[cold]
    fn step_slow(&mut self, first: u8) -> Result<u32> {
        let mut v = u32::from(first & 0x7f);
        let mut shift = 7u32;
        loop {
            let b = *self.bytes.get(self.pos).ok_or_else(|| self.corrupt())?;
            self.pos += 1;
            v |= u32::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or_else(|| self.corrupt())?;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 28 {
                return Err(self.corrupt());
            }
        }
    }

    /// The first entry `>= target` whose mask passes; ids past the doc table
    /// are corruption.
    fn seek(&mut self, mut target: u32) -> Result<Option<u32>> {
        loop {
            match self.seek_any(target)? {
                Some(d) if !self.current_passes() => target = d + 1,
                found => return Ok(found),
            }
        }
    }

    /// The first entry `>= target`, mask or not.
    fn seek_any(&mut self, target: u32) -> Result<Option<u32>> {
        if let Some(c) = self.current.filter(|&c| c >= target) {
            return Ok(Some(c));
        }
        if let Some((_, consumed, doc, end)) = self.skips.as_ref().and_then(|t| t.floor(target))
            && consumed > self.count - self.remaining
        {
            // The sample at or before the target is ahead of the cursor: jump to it.
            self.pos = end;
            self.remaining = self.count - consumed;
            self.current = Some(doc);
            if doc == target {
                if doc as usize >= self.bundle.doc_count() {
                    return Err(self.corrupt());
                }
                return Ok(Some(doc));
            }
        }
        while let Some(d) = self.step()? {
            if d >= target {
                if d as usize >= self.bundle.doc_count() {
                    return Err(self.corrupt());
                }
                return Ok(Some(d));
            }
        }
        Ok(None)
    }
}

enum DocIter<'a> {
    Empty,
    All {
        end: u32,
    },
    List(Cursor<'a>),
    /// Conjunction; children ordered cheapest first.
    And(Vec<DocIter<'a>>),
    Or(Vec<DocIter<'a>>),
}

impl DocIter<'_> {
    /// The smallest candidate `>= target`. Repeating a seek with the same or a
    /// smaller target returns the same answer.
    fn seek(&mut self, target: u32) -> Result<Option<u32>> {
        match self {
            DocIter::Empty => Ok(None),
            DocIter::All { end } => Ok((target < *end).then_some(target)),
            DocIter::List(c) => c.seek(target),
            DocIter::Or(children) => {
                let mut best: Option<u32> = None;
                for c in children.iter_mut() {
                    if let Some(d) = c.seek(target)? {
                        best = Some(best.map_or(d, |b| b.min(d)));
                    }
                }
                Ok(best)
            }
            DocIter::And(children) => {
                let mut t = target;
                'again: loop {
                    for c in children.iter_mut() {
                        match c.seek(t)? {
                            None => return Ok(None),
                            Some(d) if d > t => {
                                t = d;
                                continue 'again;
                            }
                            Some(_) => {}
                        }
                    }
                    return Ok(Some(t));
                }
            }
        }
    }

    fn decoded(&self) -> usize {
        match self {
            DocIter::Empty | DocIter::All { .. } => 0,
            DocIter::List(c) => c.decoded,
            DocIter::And(v) | DocIter::Or(v) => v.iter().map(DocIter::decoded).sum(),
        }
    }
}
