//! Stage-A search: candidates → parallel verification → ranking → hits.

pub mod candidates;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::bundle::BundleReader;
use crate::error::Result;
use crate::limits::{Deadline, MAX_SNIPPET_BYTES, VERIFY_BATCH_DOCS};
use crate::plan::Plan;
use crate::rank;
pub use candidates::Strategy;
use verify::{DocMatch, line_end};

/// One result: a match (or, for filter-only queries, a file with `line` 0).
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    /// The matched line (lossy UTF-8), windowed around the match when long.
    pub snippet: String,
    pub score: f32,
    /// The innermost definition around the match (Stage-B).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<EnclosingSymbol>,
    /// The match is the name of a definition.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub definition: bool,
    /// Ranking signals of a natural-language (semantic) result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signals: Option<crate::semantic::Signals>,
    #[serde(skip)]
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

/// Counters and timings of one search.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SearchStats {
    pub files_total: usize,
    /// Candidates produced (lazily: a ranked search that stopped early saw only these).
    pub candidates: usize,
    /// Upper bound on candidates from posting-list sizes.
    pub candidates_estimate: usize,
    pub files_considered: usize,
    pub files_matched: usize,
    pub matches: usize,
    pub results: usize,
    pub strategy: Option<Strategy>,
    pub ngram_plan: String,
    pub postings_decoded: usize,
    pub early_terminated: bool,
    pub truncated: bool,
    pub truncation: Option<Truncation>,
    pub timed_out: bool,
    pub elapsed_ms: f64,
    /// Time spent on symbol lookups (definition-first candidates, definition
    /// boost, enclosing symbols); part of `elapsed_ms`.
    pub stage_b_ms: f64,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub stats: SearchStats,
}

/// Runs Stage-A for `plan` over `bundle` within `deadline`.
pub fn search(bundle: &BundleReader, plan: &Plan, deadline: &Deadline) -> Result<SearchResult> {
    let started = Instant::now();
    let total = bundle.doc_count();
    let mut cands = candidates::find(bundle, &plan.ngrams, plan.candidate_policy)?;
    let mut stats = SearchStats {
        files_total: total,
        candidates_estimate: cands.estimate,
        strategy: Some(cands.strategy),
        ngram_plan: plan.ngrams.describe(),
        ..SearchStats::default()
    };

    let limits = plan.limits;
    let batch = if limits.exhaustive {
        VERIFY_BATCH_DOCS * 4
    } else {
        (limits.max_results * 2).clamp(64, VERIFY_BATCH_DOCS * 4)
    };
    let mut matched: Vec<DocMatch> = Vec::new();
    let mut match_count = 0usize;
    let mut considered = 0usize;
    let mut chunk: Vec<u32> = Vec::with_capacity(batch);
    // Stage-B: files defining the searched identifier are verified first, so
    // early termination cannot drop the definition.
    let t_b = Instant::now();
    let mut first = definition_docs(bundle, plan);
    let mut stage_b = t_b.elapsed();
    let seen: std::collections::HashSet<u32> = first.iter().copied().collect();
    loop {
        chunk.clear();
        chunk.append(&mut first);
        while chunk.len() < batch {
            match cands.next_doc()? {
                Some(d) if seen.contains(&d) => continue,
                Some(d) => chunk.push(d),
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        if deadline.expired() {
            stats.timed_out = true;
            stats.truncation = Some(Truncation::Deadline);
            break;
        }
        let found: Vec<DocMatch> = if plan.parallel {
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
        considered += chunk.len();
        for m in found {
            match_count += m.spans.len().max(1);
            matched.push(m);
        }
        if limits.exhaustive && match_count >= limits.max_matches {
            stats.truncation = Some(Truncation::MatchCap);
            break;
        }
        if !limits.exhaustive && matched.len() >= limits.max_results {
            if cands.next_doc()?.is_some() {
                stats.early_terminated = true;
                stats.truncation = Some(Truncation::EarlyTermination);
            }
            break;
        }
    }
    stats.candidates = considered;
    stats.postings_decoded = cands.postings_decoded();
    stats.files_considered = considered;
    stats.files_matched = matched.len();
    stats.matches = match_count;

    let bm25 = match &plan.bm25_text {
        Some(text) if !matched.is_empty() => bm25_scores(bundle, text, 1000)?,
        _ => HashMap::new(),
    };
    let docs_table = bundle.docs();
    let t_b = Instant::now();
    let mut scored: Vec<(f32, DocMatch, Vec<SpanSymbol>)> = matched
        .into_iter()
        .map(|m| {
            let rec = docs_table.get(m.doc);
            let syms = span_symbols(bundle, &m);
            let defines = syms.iter().any(|s| s.definition);
            let s = rank::file_score(
                rec.static_rank,
                m.best_word,
                m.file_name_match,
                m.spans.len(),
                bm25.get(&m.doc).copied().unwrap_or(0.0),
            ) + if defines {
                rank::weights::DEFINITION
            } else {
                0.0
            };
            (s, m, syms)
        })
        .collect();
    stage_b += t_b.elapsed();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.doc.cmp(&b.1.doc)));

    let cap = if limits.exhaustive {
        limits.max_matches
    } else {
        limits.max_results
    };
    let mut hits = Vec::new();
    'outer: for (score, m, syms) in &scored {
        let rec = docs_table.get(m.doc);
        let content = bundle.content(&rec);
        let path: Arc<str> = Arc::from(bundle.path(&rec).as_ref());
        let repo: Arc<str> = Arc::from(bundle.repo_name(&rec));
        let language: Arc<str> = Arc::from(bundle.language(&rec));
        if m.spans.is_empty() {
            if hits.len() >= cap {
                stats.truncation.get_or_insert(Truncation::ResultLimit);
                break;
            }
            hits.push(Hit {
                repo,
                path,
                language,
                line: 0,
                start: 0,
                end: 0,
                abs_start: 0,
                abs_end: 0,
                snippet: String::new(),
                score: *score,
                symbol: None,
                definition: false,
                signals: None,
                doc: m.doc,
            });
            continue;
        }
        // Definition names first within a file, then by position.
        let mut order: Vec<usize> = (0..m.spans.len()).collect();
        order.sort_by_key(|&i| !syms.get(i).is_some_and(|s| s.definition));
        for i in order {
            let s = &m.spans[i];
            let sym = syms.get(i);
            if hits.len() >= cap {
                stats.truncation.get_or_insert(if limits.exhaustive {
                    Truncation::MatchCap
                } else {
                    Truncation::ResultLimit
                });
                break 'outer;
            }
            hits.push(Hit {
                repo: repo.clone(),
                path: path.clone(),
                language: language.clone(),
                line: s.line,
                start: s.start - s.line_start,
                end: s.end - s.line_start,
                abs_start: s.start as u64,
                abs_end: s.end as u64,
                snippet: snippet(content, s.line_start, s.start, s.end),
                score: *score,
                symbol: sym.and_then(|x| x.enclosing.clone()),
                definition: sym.is_some_and(|x| x.definition),
                signals: None,
                doc: m.doc,
            });
        }
    }
    stats.results = hits.len();
    stats.stage_b_ms = stage_b.as_secs_f64() * 1000.0;
    stats.truncated = stats.truncation.is_some();
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(SearchResult { hits, stats })
}

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

fn span_symbols(bundle: &BundleReader, m: &DocMatch) -> Vec<SpanSymbol> {
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

/// The line around a match, cut to a window on char boundaries when long.
/// The line around a span, windowed to [`MAX_SNIPPET_BYTES`] around it when long.
pub(crate) fn snippet(content: &[u8], line_start: usize, start: usize, end: usize) -> String {
    let line_end = line_end(content, line_start);
    let (mut from, mut to) = (line_start, line_end);
    if to - from > MAX_SNIPPET_BYTES {
        let room = MAX_SNIPPET_BYTES.saturating_sub(end.min(to) - start) / 2;
        from = start.saturating_sub(room).max(line_start);
        to = (end + room).min(line_end).max(from);
        while from > line_start && (content[from] & 0xC0) == 0x80 {
            from -= 1;
        }
        while to < line_end && (content[to] & 0xC0) == 0x80 {
            to += 1;
        }
    }
    String::from_utf8_lossy(&content[from..to]).into_owned()
}
