//! Turns an n-gram query into candidate documents, lazily and in doc-id order.
//!
//! Posting lists are read through cursors and joined leapfrog-style, so a
//! ranked search that stops after a few hundred documents decodes only the
//! prefix of each list it needed. When the estimate says more than
//! `SCAN_CANDIDATE_SHARE` of all documents are candidates, every document is
//! verified instead (a scan).

use crate::bundle::{BundleReader, GramLookup};
use crate::error::{Error, Result};
use crate::limits::SCAN_CANDIDATE_SHARE;
use std::sync::Arc;

use crate::ngram::Trigram;
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
    /// The posting lists the plan looked up, in the order it weighed them.
    lists: Vec<ListUse>,
}

/// Which index a posting list is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GramKind {
    Trigram,
    /// A sparse n-gram of 4 or more bytes.
    Sparse,
}

/// What the plan did with a posting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListRole {
    /// Read and intersected (or united).
    Read,
    /// Over 20 times the shortest list of its conjunction: left to verification.
    TooLong,
    /// The bundle counted the gram but did not write its list (too common).
    Unindexed,
    /// No document has the gram: the conjunction is empty.
    Absent,
}

/// One posting list of the plan, for the cost model in stats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListUse {
    /// The gram's (case-folded) text.
    pub gram: String,
    pub kind: GramKind,
    /// Documents in the list.
    pub docs: u32,
    pub role: ListRole,
    /// Entries decoded from it by this search.
    pub decoded: usize,
}

/// Most lists a plan reports (a large alternation has hundreds).
const MAX_LISTS_REPORTED: usize = 64;

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

    /// The lists the plan looked up, with what each cost so far.
    pub fn lists(&self) -> Vec<ListUse> {
        let mut lists = self.lists.clone();
        self.iter.report_decoded(&mut lists);
        lists
    }
}

/// Which grams a search may use.
#[derive(Clone, Copy)]
struct Grams {
    sparse: bool,
}

/// Candidates of `q`; `sparse` false reads trigrams alone (the plan before
/// sparse n-grams, kept for comparison).
pub fn find<'a>(
    bundle: &'a BundleReader,
    q: &NgramQuery,
    policy: CandidatePolicy,
    sparse: bool,
) -> Result<Candidates<'a>> {
    let total = bundle.doc_count();
    let grams = Grams {
        sparse: sparse && bundle.has_sparse_grams(),
    };
    let estimate = estimate(bundle, q, total, grams);
    let mut lists = Vec::new();
    let (strategy, iter) = if matches!(q, NgramQuery::None) {
        (Strategy::Empty, DocIter::Empty)
    } else if estimate == 0 {
        // Built only so that the cost model names the list that refuted the query.
        let _ = build(bundle, q, total, grams, &mut lists);
        (Strategy::Empty, DocIter::Empty)
    } else if matches!(q, NgramQuery::All)
        || (policy == CandidatePolicy::CostBased
            && estimate as f64 > SCAN_CANDIDATE_SHARE * total as f64)
    {
        (Strategy::Scan, DocIter::All { end: total as u32 })
    } else {
        (Strategy::Index, build(bundle, q, total, grams, &mut lists))
    };
    Ok(Candidates {
        strategy,
        estimate,
        iter,
        next: 0,
        lists,
    })
}

/// What a sparse gram's lookup gives the plan.
enum Leaf {
    /// No document has the gram.
    Absent,
    /// No constraint (too common to be written, or no sparse index).
    Unconstrained(Option<u32>),
    List(DictEntry),
}

fn sparse_leaf(bundle: &BundleReader, key: u32, grams: Grams) -> Leaf {
    if !grams.sparse {
        return Leaf::Unconstrained(None);
    }
    match bundle.sparse_entry(key) {
        None => Leaf::Unconstrained(None),
        Some(GramLookup::Absent) => Leaf::Absent,
        Some(GramLookup::Unindexed(n)) => Leaf::Unconstrained(Some(n)),
        Some(GramLookup::List(e)) => Leaf::List(e),
    }
}

fn estimate(bundle: &BundleReader, q: &NgramQuery, total: usize, grams: Grams) -> usize {
    match q {
        NgramQuery::All => total,
        NgramQuery::None => 0,
        NgramQuery::Trigram(t) | NgramQuery::Followed(t, _) => {
            bundle.ngram_entry(*t).map_or(0, |e| e.count as usize)
        }
        NgramQuery::Gram(g) => match sparse_leaf(bundle, g.key, grams) {
            Leaf::Absent => 0,
            Leaf::Unconstrained(n) => n.map_or(total, |n| n as usize),
            Leaf::List(e) => e.count as usize,
        },
        NgramQuery::And(v) => v
            .iter()
            .map(|x| estimate(bundle, x, total, grams))
            .min()
            .unwrap_or(total),
        NgramQuery::Or(v) => v
            .iter()
            .map(|x| estimate(bundle, x, total, grams))
            .sum::<usize>()
            .min(total),
    }
}

fn trigram_text(t: Trigram) -> String {
    String::from_utf8_lossy(&[(t >> 16) as u8, (t >> 8) as u8, t as u8]).into_owned()
}

/// Records a list in the cost model; the index a cursor reports its decodes to.
fn report(
    lists: &mut Vec<ListUse>,
    gram: String,
    kind: GramKind,
    docs: u32,
    role: ListRole,
) -> Option<usize> {
    if lists.len() >= MAX_LISTS_REPORTED {
        return None;
    }
    lists.push(ListUse {
        gram,
        kind,
        docs,
        role,
        decoded: 0,
    });
    Some(lists.len() - 1)
}

/// The documents of `q` (`DocIter::All` when it does not constrain them),
/// recording each list looked up in `lists`.
fn build<'a>(
    bundle: &'a BundleReader,
    q: &NgramQuery,
    total: usize,
    grams: Grams,
    lists: &mut Vec<ListUse>,
) -> DocIter<'a> {
    match q {
        NgramQuery::All => DocIter::All { end: total as u32 },
        NgramQuery::None => DocIter::Empty,
        NgramQuery::Trigram(t) | NgramQuery::Followed(t, _) => {
            let required_bit = match q {
                NgramQuery::Followed(_, bit) => Some(*bit),
                _ => None,
            };
            match bundle.ngram_entry_with_masks(*t) {
                Some((e, masks)) => {
                    let slot = report(
                        lists,
                        trigram_text(*t),
                        GramKind::Trigram,
                        e.count,
                        ListRole::Read,
                    );
                    let required_next = masks.zip(required_bit);
                    DocIter::List(Cursor::new(
                        bundle,
                        e,
                        required_next,
                        ListFile::Trigrams,
                        slot,
                    ))
                }
                None => {
                    report(
                        lists,
                        trigram_text(*t),
                        GramKind::Trigram,
                        0,
                        ListRole::Absent,
                    );
                    DocIter::Empty
                }
            }
        }
        NgramQuery::Gram(g) => {
            let text = String::from_utf8_lossy(g.bytes()).into_owned();
            match sparse_leaf(bundle, g.key, grams) {
                Leaf::Absent => {
                    report(lists, text, GramKind::Sparse, 0, ListRole::Absent);
                    DocIter::Empty
                }
                Leaf::Unconstrained(n) => {
                    if let Some(n) = n {
                        report(lists, text, GramKind::Sparse, n, ListRole::Unindexed);
                    }
                    DocIter::All { end: total as u32 }
                }
                Leaf::List(e) => {
                    let slot = report(lists, text, GramKind::Sparse, e.count, ListRole::Read);
                    DocIter::List(Cursor::new(bundle, e, None, ListFile::Sparse, slot))
                }
            }
        }
        NgramQuery::Or(v) => DocIter::Or(
            v.iter()
                .map(|x| build(bundle, x, total, grams, lists))
                .collect(),
        ),
        NgramQuery::And(v) => {
            let mut parts: Vec<(usize, &NgramQuery)> = v
                .iter()
                .map(|x| (estimate(bundle, x, total, grams), x))
                .collect();
            parts.sort_by_key(|&(n, _)| n);
            // The ratio applies among lists of a kind: the trigram lists kept
            // are those trigrams alone would keep (so candidates are never
            // more), and a short sparse list drives the leapfrog through them.
            let smallest_of = |sparse: bool| {
                parts
                    .iter()
                    .find(|(_, q)| matches!(q, NgramQuery::Gram(_)) == sparse)
                    .map_or(0, |&(n, _)| n)
            };
            let (smallest_trigram, smallest_sparse) = (smallest_of(false), smallest_of(true));
            let mut kept: Vec<DocIter<'a>> = Vec::new();
            for (i, &(n, q)) in parts.iter().enumerate() {
                let smallest = if matches!(q, NgramQuery::Gram(_)) {
                    smallest_sparse
                } else {
                    smallest_trigram
                };
                if i > 0 && n > smallest.saturating_mul(SKIP_LIST_RATIO) {
                    report_too_long(bundle, q, grams, lists);
                    continue;
                }
                match build(bundle, q, total, grams, lists) {
                    DocIter::All { .. } => {}
                    DocIter::Empty => return DocIter::Empty,
                    it => kept.push(it),
                }
            }
            match kept.len() {
                0 => DocIter::All { end: total as u32 },
                1 => kept.pop().unwrap(),
                _ => DocIter::And(kept),
            }
        }
    }
}

/// Records the lists of a conjunct left to verification.
fn report_too_long(bundle: &BundleReader, q: &NgramQuery, grams: Grams, lists: &mut Vec<ListUse>) {
    match q {
        NgramQuery::Trigram(t) | NgramQuery::Followed(t, _) => {
            let docs = bundle.ngram_entry(*t).map_or(0, |e| e.count);
            report(
                lists,
                trigram_text(*t),
                GramKind::Trigram,
                docs,
                ListRole::TooLong,
            );
        }
        NgramQuery::Gram(g) => {
            let text = String::from_utf8_lossy(g.bytes()).into_owned();
            match sparse_leaf(bundle, g.key, grams) {
                Leaf::List(e) => {
                    report(lists, text, GramKind::Sparse, e.count, ListRole::TooLong);
                }
                Leaf::Unconstrained(Some(n)) => {
                    report(lists, text, GramKind::Sparse, n, ListRole::Unindexed);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Which postings file a cursor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListFile {
    Trigrams,
    Sparse,
}

/// Forward-only reader of one varint-delta posting list.
struct Cursor<'a> {
    bundle: &'a BundleReader,
    file: ListFile,
    /// Where this list is in the cost model's lists.
    slot: Option<usize>,
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
        file: ListFile,
        slot: Option<usize>,
    ) -> Cursor<'a> {
        let (bytes, cache_key) = match file {
            ListFile::Trigrams => (bundle.postings_from(e.offset), e.offset),
            // Sparse offsets share the skip cache in a key space of their own.
            ListFile::Sparse => (bundle.sparse_postings_from(e.offset), e.offset | 1 << 63),
        };
        let skips = (e.count >= SKIP_MIN_LEN)
            .then(|| bundle.skip_cache().get(cache_key, bytes, e.count))
            .flatten();
        Cursor {
            bundle,
            file,
            slot,
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
        match self.file {
            ListFile::Trigrams => self.bundle.corrupt_postings(),
            ListFile::Sparse => self.bundle.corrupt_sparse_postings(),
        }
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

    fn report_decoded(&self, lists: &mut [ListUse]) {
        match self {
            DocIter::Empty | DocIter::All { .. } => {}
            DocIter::List(c) => {
                if let Some(l) = c.slot.and_then(|i| lists.get_mut(i)) {
                    l.decoded = c.decoded;
                }
            }
            DocIter::And(v) | DocIter::Or(v) => v.iter().for_each(|c| c.report_decoded(lists)),
        }
    }
}
