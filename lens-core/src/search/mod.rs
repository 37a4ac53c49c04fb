//! Stage-A search: candidates → parallel verification → ranking → hits.
//!
//! Ranked searches return the best files' hits and may stop early; exhaustive
//! searches return every hit in doc-id (static-rank) order, so that a page can
//! resume at a [`Resume`] point instead of running the search again.

pub mod candidates;
pub mod lines;
pub mod verify;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::bundle::BundleReader;
use crate::bundle::SYMBOL_CACHE_FILES;
use crate::error::Result;
use crate::limits::{Deadline, VERIFY_BATCH_DOCS};
use crate::plan::Plan;
use crate::rank;
pub use candidates::{GramKind, ListRole, ListUse, Strategy};
pub use lines::Context;
use verify::DocMatch;

/// One result: a match, a definition (symbol queries), a file of a
/// natural-language answer, or, for filter-only queries, a file with `line` 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Shared by all hits of one file (no allocation per match).
    pub repo: Arc<str>,
    pub path: Arc<str>,
    pub language: Arc<str>,
    /// 1-based line of the match.
    pub line: u64,
    /// Byte offsets within the line (end exclusive).
    pub start: usize,
    pub end: usize,
    /// Byte offsets within the file (end exclusive).
    pub abs_start: u64,
    pub abs_end: u64,
    /// The matched line (lossy UTF-8), windowed around the match when long;
    /// shared by the hits of one line.
    pub snippet: Arc<str>,
    pub score: f32,
    /// The innermost definition around the match (Stage-B).
    pub symbol: Option<EnclosingSymbol>,
    /// The match is the name of a definition.
    pub definition: bool,
    /// Ranking signals of a natural-language (semantic) result.
    pub signals: Option<crate::semantic::Signals>,
    /// The definition a symbol-query result is.
    pub definition_site: Option<Box<DefinitionSite>>,
    /// Lines around the match, when the request asked for them.
    pub context: Option<Box<Context>>,
    pub doc: u32,
}

/// A definition enclosing a hit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnclosingSymbol {
    pub name: Arc<str>,
    pub kind: crate::symbols::SymbolKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Arc<str>>,
    /// 1-based line of its name.
    pub line: u32,
}

/// What a symbol-query result adds to a hit: the definition's name, kind,
/// scope and whole span (the hit's own span is the name).
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionSite {
    pub name: String,
    pub kind: crate::symbols::SymbolKind,
    pub scope: Option<String>,
    pub def_start: u64,
    pub def_end: u64,
}

/// Why results stopped short of "every match".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Ranked mode stopped once enough files matched (early termination).
    EarlyTermination,
    /// The result limit cut the ranked list.
    ResultLimit,
    /// Exhaustive mode hit the match cap.
    MatchCap,
    /// The deadline passed.
    Deadline,
}

/// In a page of an exhaustive search, steps below these sizes run on the
/// calling thread: handing a few dozen files to the second core and waiting
/// for it costs more than the work (paging `case:yes "return"` on Linux:
/// 761 → 621 ms over 1,074 pages). Other searches keep their parallelism.
const PARALLEL_MIN_DOCS: usize = 128;
const PARALLEL_MIN_HITS: usize = 8192;

/// Whether a step over `n` items runs on both cores.
fn parallel_step(plan: &Plan, n: usize, min: usize) -> bool {
    let paged = plan.limits.exhaustive && plan.limits.page.is_some();
    plan.parallel && (!paged || n >= min)
}

/// Where a paged exhaustive search resumes: the `skip`th hit (in hit order)
/// of `doc`, the first file not wholly returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resume {
    pub doc: u32,
    pub skip: usize,
    /// The page starts among the files defining the identifier, which an
    /// exhaustive search returns first.
    pub definitions: bool,
    /// Documents verified per hit so far, so that the next page's first
    /// batch is sized for the page instead of starting small.
    pub docs_per_hit: Option<f32>,
}

/// Counters and timings of one search. `truncation` is the one record of why
/// results stopped short; `truncated`, `timed_out` and `early_terminated` are
/// read from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchStats {
    pub files_total: usize,
    /// Documents the candidate stage produced (lazily: a ranked search that
    /// stopped early saw only these).
    pub candidates: usize,
    /// Upper bound on candidates from posting-list sizes.
    pub candidates_estimate: usize,
    /// Documents verified: the candidates plus the files taken ahead of them
    /// (definitions of the identifier, the best BM25 files).
    pub files_considered: usize,
    pub files_matched: usize,
    pub matches: usize,
    pub results: usize,
    pub strategy: Option<Strategy>,
    pub ngram_plan: String,
    pub postings_decoded: usize,
    /// The cost model: every posting list the plan looked up (at most 64),
    /// how long it is, whether it was read, and what reading it cost.
    pub ngram_lists: Vec<candidates::ListUse>,
    pub truncation: Option<Truncation>,
    pub elapsed_ms: f64,
    /// Time spent on symbol lookups (definition-first candidates, definition
    /// boost, enclosing symbols); part of `elapsed_ms`.
    pub stage_b_ms: f64,
}

impl SearchStats {
    pub fn truncated(&self) -> bool {
        self.truncation.is_some()
    }

    pub fn timed_out(&self) -> bool {
        self.truncation == Some(Truncation::Deadline)
    }

    pub fn early_terminated(&self) -> bool {
        self.truncation == Some(Truncation::EarlyTermination)
    }
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub stats: SearchStats,
    /// Where the next page starts (paged exhaustive searches with more hits).
    pub next: Option<Resume>,
}

/// Files matched by the verification loop, in the order they were verified.
struct Verified {
    matched: Vec<DocMatch>,
    /// Hits of `matched` (a file without spans counts one).
    hits: usize,
    considered: usize,
    produced: usize,
    postings_decoded: usize,
    truncation: Option<Truncation>,
}

/// Runs Stage-A for `plan` over `bundle` within `deadline`.
pub fn search(bundle: &BundleReader, plan: &Plan, deadline: &Deadline) -> Result<SearchResult> {
    let started = Instant::now();
    let mut cands = candidates::find(
        bundle,
        &plan.ngrams,
        plan.candidate_policy,
        plan.sparse_grams,
    )?;
    let mut stats = SearchStats {
        files_total: bundle.doc_count(),
        candidates_estimate: cands.estimate,
        strategy: Some(cands.strategy),
        ngram_plan: plan.ngrams.describe(),
        ..SearchStats::default()
    };
    let bm25 = match &plan.bm25_text {
        Some(text) => bm25_scores(bundle, text, 1000)?,
        None => HashMap::new(),
    };
    let t_b = Instant::now();
    let first = if plan.limits.exhaustive {
        definition_docs(bundle, plan)
    } else {
        files_first(bundle, plan, &bm25)
    };
    let taken_first: HashSet<u32> = first.iter().copied().collect();
    let first = match plan.resume {
        Some(r) if r.definitions => first.into_iter().filter(|&d| d >= r.doc).collect(),
        Some(r) => {
            cands.start_at(r.doc);
            Vec::new()
        }
        None => first,
    };
    let mut stage_b = t_b.elapsed();
    let v = verify_candidates(bundle, plan, &mut cands, first, &taken_first, deadline)?;
    stats.candidates = v.produced;
    stats.postings_decoded = v.postings_decoded;
    stats.ngram_lists = cands.lists();
    stats.files_considered = v.considered;
    stats.files_matched = v.matched.len();
    stats.matches = v.hits;
    stats.truncation = v.truncation;

    let (scored, b_time) = score_files(bundle, plan, v.matched, &bm25, &taken_first);
    stage_b += b_time;
    let (hits, next) = make_hits(bundle, plan, &scored, &taken_first, &mut stats);
    stats.results = hits.len();
    stats.stage_b_ms = stage_b.as_secs_f64() * 1000.0;
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(SearchResult { hits, stats, next })
}

/// Files verified ahead of the candidate order in ranked mode, so that early
/// termination in static-rank order cannot drop them: files defining the
/// searched identifier (Stage-B), then the best BM25 files of a multi-term query.
fn files_first(bundle: &BundleReader, plan: &Plan, bm25: &HashMap<u32, f32>) -> Vec<u32> {
    let mut first = definition_docs(bundle, plan);
    let mut best: Vec<(u32, f32)> = bm25.iter().map(|(&d, &s)| (d, s)).collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (d, _) in best.into_iter().take(MAX_BM25_FIRST_DOCS) {
        if !first.contains(&d) {
            first.push(d);
        }
    }
    first
}

/// Docs verified per batch: ranked mode verifies about what it needs; a page
/// verifies about the docs its hits need at the density seen so far, so that
/// paging through every hit costs about one search.
fn batch_size(plan: &Plan, v: &Verified, page: Option<usize>) -> usize {
    let limits = plan.limits;
    let max = VERIFY_BATCH_DOCS * 4;
    match page {
        _ if !limits.exhaustive => (limits.max_results * 2).clamp(64, max),
        None => max,
        Some(page) => {
            let skip = plan.resume.map_or(0, |r| r.skip);
            let needed = (page + 1 + skip).saturating_sub(v.hits);
            let carried = plan.resume.and_then(|r| r.docs_per_hit);
            if v.hits == 0 && v.considered == 0 && carried.is_some() {
                let per_hit = f64::from(carried.unwrap_or(1.0));
                ((needed as f64 * per_hit).ceil() as usize + 1).clamp(8, max)
            } else if v.hits == 0 {
                // No density seen yet: start small, double while nothing matches.
                v.considered.max(16).min(max)
            } else {
                let docs_per_hit = v.considered as f64 / v.hits as f64;
                ((needed as f64 * docs_per_hit).ceil() as usize + 1).clamp(8, max)
            }
        }
    }
}

/// The verification loop: batches of candidates (after the files taken
/// first) verified in parallel until the limits, the page or the deadline say stop.
fn verify_candidates(
    bundle: &BundleReader,
    plan: &Plan,
    cands: &mut candidates::Candidates<'_>,
    mut first: Vec<u32>,
    taken_first: &HashSet<u32>,
    deadline: &Deadline,
) -> Result<Verified> {
    let limits = plan.limits;
    let page = limits.page.filter(|_| limits.exhaustive);
    let skip = plan.resume.map_or(0, |r| r.skip);
    let mut v = Verified {
        matched: Vec::new(),
        hits: 0,
        considered: 0,
        produced: 0,
        postings_decoded: 0,
        truncation: None,
    };
    let mut chunk: Vec<u32> = Vec::new();
    loop {
        chunk.clear();
        // Files taken ahead come on top of a full batch in static-rank order.
        let target = batch_size(plan, &v, page) + first.len();
        chunk.append(&mut first);
        while chunk.len() < target {
            match cands.next_doc()? {
                Some(d) => {
                    v.produced += 1;
                    if !taken_first.contains(&d) {
                        chunk.push(d);
                    }
                }
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        if deadline.expired() {
            v.truncation = Some(Truncation::Deadline);
            break;
        }
        let found: Vec<DocMatch> = if parallel_step(plan, chunk.len(), PARALLEL_MIN_DOCS) {
            chunk
                .par_iter()
                .filter_map(|&d| verify::verify(bundle, plan, d))
                .collect()
        } else {
            chunk
                .iter()
                .filter_map(|&d| verify::verify(bundle, plan, d))
                .collect()
        };
        v.considered += chunk.len();
        for m in found {
            v.hits += m.spans.len().max(1);
            v.matched.push(m);
        }
        if let Some(page) = page {
            // One hit past the page tells whether another page follows.
            if v.hits > page + skip {
                break;
            }
        } else if limits.exhaustive {
            if v.hits >= limits.max_matches {
                v.truncation = Some(Truncation::MatchCap);
                break;
            }
        } else if v.matched.len() >= limits.max_results {
            if cands.next_doc()?.is_some() {
                v.produced += 1;
                v.truncation = Some(Truncation::EarlyTermination);
            }
            break;
        }
    }
    v.postings_decoded = cands.postings_decoded();
    Ok(v)
}

/// A matched file with its score and the Stage-B facts of its spans.
type ScoredFile = (f32, DocMatch, Vec<SpanSymbol>);

/// Scores every matched file and attributes its spans to definitions; ranked
/// results by score, exhaustive ones in the order a page can resume: the files
/// defining the identifier, then the rest, each in doc-id (static-rank) order.
/// Returns the Stage-B time.
fn score_files(
    bundle: &BundleReader,
    plan: &Plan,
    matched: Vec<DocMatch>,
    bm25: &HashMap<u32, f32>,
    taken_first: &HashSet<u32>,
) -> (Vec<ScoredFile>, Duration) {
    let docs_table = bundle.docs();
    let t_b = Instant::now();
    // A result set this large would evict every hot file from the symbol
    // cache and decode each file whole for a few spans: read the table instead.
    // So does every page of an exhaustive search, which visits each file once.
    let through_cache = !plan.limits.exhaustive && matched.len() <= SYMBOL_CACHE_FILES / 4;
    let score = |m: DocMatch| {
        let rec = docs_table.get(m.doc);
        let syms = span_symbols(bundle, &m, through_cache);
        let defines = syms.iter().any(|s| s.definition);
        let s = rank::file_score(
            &plan.weights,
            rec.static_rank,
            m.best_word,
            m.file_name_match,
            m.spans.len(),
            bm25.get(&m.doc).copied().unwrap_or(0.0),
        ) + if defines {
            plan.weights.definition
        } else {
            0.0
        };
        (s, m, syms)
    };
    // Large result sets (scans, exhaustive counts) attribute symbols on both cores.
    let mut scored: Vec<ScoredFile> = if parallel_step(plan, matched.len(), PARALLEL_MIN_DOCS) {
        matched.into_par_iter().map(score).collect()
    } else {
        matched.into_iter().map(score).collect()
    };
    let stage_b = t_b.elapsed();
    if plan.limits.exhaustive {
        scored.sort_by_key(|f| (!taken_first.contains(&f.1.doc), f.1.doc));
    } else {
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.doc.cmp(&b.1.doc)));
    }
    (scored, stage_b)
}

/// The hits to return, and where the next page starts. Ranked and unpaged
/// searches take whole files until the cap (recording why the rest were
/// cut); a page takes its range of the hit sequence.
fn make_hits(
    bundle: &BundleReader,
    plan: &Plan,
    scored: &[ScoredFile],
    taken_first: &HashSet<u32>,
    stats: &mut SearchStats,
) -> (Vec<Hit>, Option<Resume>) {
    let limits = plan.limits;
    let page = limits.page.filter(|_| limits.exhaustive);
    let used = match page {
        Some(_) => scored.len(),
        None => files_under_cap(scored, limits, stats),
    };
    let files: Vec<FileHits> = if parallel_step(plan, used, PARALLEL_MIN_DOCS) {
        scored[..used]
            .par_iter()
            .map(|(score, m, syms)| FileHits::new(bundle, plan, *score, m, syms))
            .collect()
    } else {
        scored[..used]
            .iter()
            .map(|(score, m, syms)| FileHits::new(bundle, plan, *score, m, syms))
            .collect()
    };
    let mut firsts = Vec::with_capacity(files.len());
    let mut total = 0usize;
    for f in &files {
        firsts.push(total);
        total += f.len();
    }
    let file_of = |i: usize| firsts.partition_point(|&first| first <= i) - 1;
    let (from, to) = match page {
        // The resumed file's first `skip` hits were on the previous page.
        Some(page) => {
            let skip = match (plan.resume, files.first()) {
                (Some(r), Some(f)) if f.m.doc == r.doc => r.skip.min(total),
                _ => 0,
            };
            (skip, (skip + page).min(total))
        }
        None => {
            let cap = if limits.exhaustive {
                limits.max_matches
            } else {
                limits.max_results
            };
            (0, total.min(cap))
        }
    };
    let next = match page {
        Some(_) if to < total => {
            let f = file_of(to);
            let doc = files[f].m.doc;
            Some(Resume {
                doc,
                skip: to - firsts[f],
                definitions: taken_first.contains(&doc),
                docs_per_hit: (stats.matches > 0)
                    .then(|| stats.files_considered as f32 / stats.matches as f32),
            })
        }
        // Out of time: the next page starts after the last file verified.
        Some(_) if stats.timed_out() => scored.last().map(|f| Resume {
            doc: f.1.doc + 1,
            skip: 0,
            definitions: taken_first.contains(&f.1.doc),
            docs_per_hit: None,
        }),
        _ => None,
    };
    // Hits are made straight into the result in parallel: a scan can return
    // millions, and gathering per-file lists would copy them all on one core.
    let make = |last: &mut SharedSnippet, i: usize| {
        let f = file_of(i);
        files[f].hit(i - firsts[f], last)
    };
    let mut hits: Vec<Hit> = Vec::with_capacity(to - from);
    if parallel_step(plan, to - from, PARALLEL_MIN_HITS) {
        hits.par_extend(
            (from..to)
                .into_par_iter()
                .with_min_len(4096)
                .map_init(SharedSnippet::default, make),
        );
    } else {
        let mut last = SharedSnippet::default();
        hits.extend((from..to).map(|i| make(&mut last, i)));
    }
    (hits, next)
}

/// How many of the ordered files fit under the cap (ranked: results,
/// exhaustive: the match cap); records why the rest were cut.
fn files_under_cap(
    scored: &[ScoredFile],
    limits: crate::limits::Limits,
    stats: &mut SearchStats,
) -> usize {
    let (cap, cap_truncation) = if limits.exhaustive {
        (limits.max_matches, Truncation::MatchCap)
    } else {
        (limits.max_results, Truncation::ResultLimit)
    };
    let mut filled = 0usize;
    for (i, (_, m, _)) in scored.iter().enumerate() {
        if filled >= cap {
            stats.truncation.get_or_insert(if m.spans.is_empty() {
                Truncation::ResultLimit
            } else {
                cap_truncation
            });
            return i;
        }
        filled += m.spans.len().max(1);
        if filled > cap {
            stats.truncation.get_or_insert(cap_truncation);
            return i + 1;
        }
    }
    scored.len()
}

/// One file's hits: a file-only hit when the plan matched the file without
/// spans, else one per span, definition names first, then by position.
struct FileHits<'a> {
    score: f32,
    m: &'a DocMatch,
    syms: &'a [SpanSymbol],
    content: &'a [u8],
    repo: Arc<str>,
    path: Arc<str>,
    language: Arc<str>,
    context_lines: usize,
    /// Span indices in hit order, when a definition must move ahead.
    order: Option<Vec<usize>>,
}

/// The last snippet made, shared by the following hits of the same line window.
#[derive(Default)]
struct SharedSnippet(Option<(u32, (usize, usize), Arc<str>)>);

impl<'a> FileHits<'a> {
    fn new(
        bundle: &'a BundleReader,
        plan: &Plan,
        score: f32,
        m: &'a DocMatch,
        syms: &'a [SpanSymbol],
    ) -> Self {
        let rec = bundle.docs().get(m.doc);
        let order = syms.iter().any(|s| s.definition).then(|| {
            let mut order: Vec<usize> = (0..m.spans.len()).collect();
            order.sort_by_key(|&i| !syms.get(i).is_some_and(|s| s.definition));
            order
        });
        FileHits {
            score,
            m,
            syms,
            content: bundle.content(&rec),
            repo: Arc::from(bundle.repo_name(&rec)),
            path: Arc::from(bundle.path(&rec).as_ref()),
            language: Arc::from(bundle.language(&rec)),
            context_lines: plan.context_lines,
            order,
        }
    }

    fn len(&self) -> usize {
        self.m.spans.len().max(1)
    }

    /// The `k`th hit of the file.
    fn hit(&self, k: usize, last: &mut SharedSnippet) -> Hit {
        let hit = |line, span: (usize, usize, usize), snippet, sym: Option<&SpanSymbol>| Hit {
            repo: self.repo.clone(),
            path: self.path.clone(),
            language: self.language.clone(),
            line,
            start: span.1 - span.0,
            end: span.2 - span.0,
            abs_start: span.1 as u64,
            abs_end: span.2 as u64,
            snippet,
            score: self.score,
            symbol: sym.and_then(|x| x.enclosing.clone()),
            definition: sym.is_some_and(|x| x.definition),
            signals: None,
            definition_site: None,
            context: None,
            doc: self.m.doc,
        };
        if self.m.spans.is_empty() {
            return hit(0, (0, 0, 0), Arc::from(""), None);
        }
        let i = self.order.as_ref().map_or(k, |o| o[k]);
        let s = &self.m.spans[i];
        let window = lines::snippet_window(self.content, s.line_start, s.start, s.end);
        let snippet = match &last.0 {
            Some((doc, w, text)) if *doc == self.m.doc && *w == window => text.clone(),
            _ => {
                let text: Arc<str> =
                    Arc::from(String::from_utf8_lossy(&self.content[window.0..window.1]).as_ref());
                last.0 = Some((self.m.doc, window, text.clone()));
                text
            }
        };
        let mut h = hit(
            s.line,
            (s.line_start, s.start, s.end),
            snippet,
            self.syms.get(i),
        );
        h.context = lines::context(self.content, s.line_start, self.context_lines);
        h
    }
}

/// Most top-BM25 files verified ahead of the candidate order.
const MAX_BM25_FIRST_DOCS: usize = 64;

/// Most files whose definitions are verified ahead of the candidate order.
const MAX_DEFINITION_DOCS: usize = 64;

/// Docs that define the plan's identifier (when it searches for exactly one).
fn definition_docs(bundle: &BundleReader, plan: &Plan) -> Vec<u32> {
    let (Some(table), Some((name, ci))) = (bundle.symbols(), plan.identifier.as_ref()) else {
        return Vec::new();
    };
    let mut docs: Vec<u32> = table
        .lookup(name.as_bytes(), *ci)
        .iter()
        .flat_map(|e| {
            table
                .ids(e)
                .map(|id| table.record(id).doc)
                .collect::<Vec<_>>()
        })
        .collect();
    docs.sort_unstable();
    docs.dedup();
    docs.truncate(MAX_DEFINITION_DOCS);
    docs
}

/// Stage-B facts of one span.
struct SpanSymbol {
    enclosing: Option<EnclosingSymbol>,
    definition: bool,
}

fn span_symbols(bundle: &BundleReader, m: &DocMatch, through_cache: bool) -> Vec<SpanSymbol> {
    if !through_cache {
        return span_symbols_from_table(bundle, m);
    }
    let Some(file) = (if m.spans.is_empty() {
        None
    } else {
        bundle.file_symbols(m.doc)
    }) else {
        return Vec::new();
    };
    if file.defs.is_empty() {
        return Vec::new();
    }
    m.spans
        .iter()
        .map(|s| {
            let (a, b) = (s.start as u32, s.end as u32);
            SpanSymbol {
                enclosing: file.enclosing(a, b).map(|d| EnclosingSymbol {
                    name: d.name.clone(),
                    kind: d.kind,
                    scope: d.scope.clone(),
                    line: d.line,
                }),
                definition: file.definition_named_at(a, b).is_some(),
            }
        })
        .collect()
}

/// [`span_symbols`] read straight from the symbol table, without decoding the
/// file's definitions or touching the cache.
fn span_symbols_from_table(bundle: &BundleReader, m: &DocMatch) -> Vec<SpanSymbol> {
    let Some(table) = bundle.symbols() else {
        return Vec::new();
    };
    if m.spans.is_empty() || table.doc_range(m.doc).is_empty() {
        return Vec::new();
    }
    let content = bundle.content(&bundle.docs().get(m.doc));
    // Neighbouring spans mostly share their enclosing definition.
    let mut last: Option<(u32, EnclosingSymbol)> = None;
    m.spans
        .iter()
        .map(|s| {
            let (a, b) = (s.start as u32, s.end as u32);
            let enclosing_id = table.enclosing(m.doc, a, b);
            let definition = table.definition_name_within(enclosing_id, a, b).is_some();
            let enclosing = enclosing_id.map(|id| match &last {
                Some((last_id, e)) if *last_id == id => e.clone(),
                _ => {
                    let r = table.record(id);
                    let name = content
                        .get(r.name_start as usize..r.name_end as usize)
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    let e = EnclosingSymbol {
                        name: Arc::from(name.as_ref()),
                        kind: r.kind,
                        scope: table.scope(&r).map(Arc::from),
                        line: r.line,
                    };
                    last = Some((id, e.clone()));
                    e
                }
            });
            SpanSymbol {
                enclosing,
                definition,
            }
        })
        .collect()
}

fn bm25_scores(bundle: &BundleReader, text: &str, k: usize) -> Result<HashMap<u32, f32>> {
    let Some(index) = bundle.text() else {
        return Ok(HashMap::new());
    };
    let top = index.bm25(text, k)?;
    let max = top.iter().map(|&(_, s)| s).fold(0.0f32, f32::max);
    Ok(top
        .into_iter()
        .map(|(d, s)| (d, if max > 0.0 { s / max } else { 0.0 }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundleBuilder, BundleMeta, PreparedDoc, Source};
    use crate::limits::Limits;
    use crate::query::parse;
    use crate::symbols::{SymbolDef, SymbolKind};

    /// A file with a struct holding a method, a free function after it, and
    /// `tick` used inside both, as a definition name, and outside everything.
    fn file(i: usize) -> (Vec<u8>, Vec<SymbolDef>) {
        let src = format!(
            "tick\nstruct S{i} {{\n  fn tick() {{ tick }}\n}}\nfn free{i}() {{ tick; tick }}\ntick\n"
        );
        let at = |needle: &str, from: usize| src[from..].find(needle).unwrap() + from;
        let s_start = at("struct", 0);
        let s_end = at("}\nfn", 0) + 1;
        let m_name = at("tick()", 0);
        let m_end = at("}\n}", 0) + 1;
        let f_name = at("free", 0);
        let f_end = at("}\ntick", f_name) + 1;
        let def = |kind,
                   name_start: usize,
                   len: usize,
                   start: usize,
                   end: usize,
                   line,
                   parent,
                   scope: Option<&str>| SymbolDef {
            kind,
            name_start: name_start as u32,
            name_end: (name_start + len) as u32,
            def_start: start as u32,
            def_end: end as u32,
            line,
            parent,
            scope: scope.map(String::from),
        };
        let defs = vec![
            def(
                SymbolKind::Struct,
                at("S", s_start),
                1 + i.to_string().len(),
                s_start,
                s_end,
                2,
                None,
                None,
            ),
            def(
                SymbolKind::Method,
                m_name,
                4,
                at("fn", s_start),
                m_end,
                3,
                Some(0),
                Some(&format!("S{i}")),
            ),
            def(
                SymbolKind::Function,
                f_name,
                4 + i.to_string().len(),
                at("fn", s_end),
                f_end,
                5,
                None,
                None,
            ),
        ];
        (src.into_bytes(), defs)
    }

    /// A bundle of `files` files made by [`file`], each followed by
    /// `extra_lines` lines of `tick tick`.
    fn bundle(dir: &std::path::Path, files: usize, extra_lines: usize) -> BundleReader {
        let mut b = BundleBuilder::create(dir, None, true).unwrap();
        b.add_source(Source {
            name: "r".into(),
            path: "/r".into(),
            commit: None,
        });
        let mut slots = vec![0u32; 1 << 24];
        for i in 0..files {
            let (mut content, symbols) = file(i);
            content.extend("tick tick\n".repeat(extra_lines).bytes());
            let mut trigrams = Vec::new();
            crate::ngram::distinct_trigrams(&content, &mut slots, &mut trigrams);
            let sparse_grams = crate::ngram::sparse::grams_of(&content);
            b.add(PreparedDoc {
                repo: 0,
                path: format!("f{i}.rs"),
                lang: Some("rust"),
                static_rank: 0.0,
                content,
                trigrams,
                sparse_grams,
                symbols,
            })
            .unwrap();
        }
        b.finish(BundleMeta::text_only("0.0.0-test")).unwrap();
        BundleReader::open(dir).unwrap()
    }

    #[test]
    fn hits_made_in_parallel_equal_hits_made_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // 30 files of 1,206 hits: the parallel fill splits inside files.
        let bundle = bundle(dir.path(), 30, 600);
        let run = |parallel: bool, limits: Limits| {
            let mut plan = Plan::from_query(&parse("tick").unwrap(), limits).unwrap();
            plan.parallel = parallel;
            search(&bundle, &plan, &Deadline::none()).unwrap()
        };
        for limits in [Limits::exhaustive(), Limits::top(50)] {
            let (par, seq) = (run(true, limits), run(false, limits));
            assert_eq!(par.hits, seq.hits);
            assert_eq!(par.stats.results, seq.stats.results);
            if limits.exhaustive {
                assert_eq!(par.hits.len(), 30 * 1206);
            }
            for h in &par.hits {
                let line = h.snippet.lines().next().unwrap_or("");
                assert_eq!(&line[h.start..h.end], "tick", "{h:?}");
            }
            // Each file's definition name comes first among its hits.
            assert!(par.hits[0].definition);
        }
    }

    #[test]
    fn the_table_path_attributes_spans_as_the_cache_does() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle(dir.path(), 3, 0);
        let plan = Plan::from_query(&parse("tick").unwrap(), Limits::exhaustive()).unwrap();
        // (enclosing name, scope, line) and whether the span is a definition name.
        type Attributed = (Option<(String, String, u32)>, bool);
        let key = |v: Vec<SpanSymbol>| -> Vec<Attributed> {
            v.into_iter()
                .map(|s| {
                    let e = s.enclosing.map(|e| {
                        (
                            e.name.to_string(),
                            e.scope.map(|x| x.to_string()).unwrap_or_default(),
                            e.line,
                        )
                    });
                    (e, s.definition)
                })
                .collect()
        };
        for doc in 0..3 {
            let m = verify::verify(&bundle, &plan, doc).expect("every file matches");
            assert_eq!(m.spans.len(), 6);
            let cached = key(span_symbols(&bundle, &m, true));
            let direct = key(span_symbols(&bundle, &m, false));
            assert_eq!(cached, direct);
            // Outside everything, inside the method (as its name and in its body), inside the function.
            assert_eq!(cached[0], (None, false));
            assert!(cached[1].1, "the method's name is a definition");
            assert_eq!(cached[2].0.as_ref().map(|e| e.0.as_str()), Some("tick"));
            assert!(
                cached[3]
                    .0
                    .as_ref()
                    .is_some_and(|e| e.0.starts_with("free"))
            );
            assert_eq!(cached[5], (None, false));
        }
    }
}
