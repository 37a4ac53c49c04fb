//! Ranked retrieval for natural-language queries, in three stages:
//!
//! - **Stage-A** (lexical): BM25 top 200 from the text index over code-aware tokens.
//! - **Stage-B** (symbols): each candidate learns how many of the query's content words
//!   name its definitions; BM25 plus that signal is the Stage-B order.
//! - **Stage-C** (meaning): the query is embedded (LRU-cached), the nearest stored chunks
//!   join the candidates, every candidate gets the cosine of its best chunk, and a linear
//!   fusion of the three signals ranks them. A calibrated confidence (logistic in the fused
//!   score) then drops candidates too unlikely to be relevant.
//!
//! Stage-C runs only within the deadline: when the budget is spent, or there is no model,
//! or the bundle has no embeddings (or embeddings of another model), the Stage-B order is
//! returned and `stats.stage_c` says why.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::Embedder;
use crate::bundle::BundleReader;
use crate::error::Result;
use crate::limits::{Deadline, Limits};
use crate::search::lines::snippet;
use crate::search::{EnclosingSymbol, Hit, Truncation};
use crate::tokenize::for_each_token;

/// Candidates BM25 contributes (at least; more when more results are asked for). BM25 is
/// cheap, and its signal lifts files the embedding ranks just outside the top: on CoSQA, 200
/// gave +0.005 nDCG@10 over 100.
pub const LEXICAL_CANDIDATES: usize = 200;
/// Nearest chunks Stage-C contributes (at least).
pub const DENSE_CANDIDATES: usize = 100;
/// Query embeddings kept in the LRU.
pub const QUERY_CACHE_ENTRIES: usize = 4096;
/// Stage-C is skipped when less than this remains of the deadline: one query embedding
/// takes ~10 ms on these machines, and a search must not overrun its deadline for it.
pub const MIN_STAGE_C_BUDGET: Duration = Duration::from_millis(25);

/// How the three signals combine. The weights and the cutoff were tuned on half of the CoSQA
/// development split (`validation/python/tune_fusion.py`), the calibration fitted on CoSQA's
/// human-judged pairs (`validation/python/calibrate_confidence.py`); `validation/README.md`
/// has the figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fusion {
    pub cosine: f32,
    /// BM25 divided by the best BM25 among the candidates.
    pub bm25: f32,
    /// Share of the query's content words found in the candidate's definition names.
    pub symbol: f32,
    /// Weight of the symbol signal in the Stage-B fallback order (BM25 + this × symbol).
    pub fallback_symbol: f32,
    /// Confidence = logistic(`calib_scale` × fused + `calib_bias`).
    pub calib_scale: f32,
    pub calib_bias: f32,
    /// Candidates below this confidence are dropped.
    pub min_confidence: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        // Symbol overlap earned no weight on CoSQA (every file there is one function named
        // much like its query); it still orders the Stage-B fallback.
        Fusion {
            cosine: 1.0,
            bm25: 0.1,
            symbol: 0.0,
            fallback_symbol: 0.1,
            calib_scale: 9.61,
            calib_bias: -6.01,
            min_confidence: 0.05,
        }
    }
}

/// Which stages a semantic query runs (all by default; fewer for ablations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    pub symbols: bool,
    pub semantic: bool,
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            symbols: true,
            semantic: true,
        }
    }
}

/// A natural-language query, planned.
#[derive(Debug, Clone)]
pub struct SemanticPlan {
    pub text: String,
    pub limits: Limits,
    pub stages: Stages,
    pub fusion: Fusion,
    /// Gate score that sent the query here.
    pub gate_score: f32,
}

/// Why Stage-C did or did not rank the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageCState {
    Ran,
    /// The deadline left too little time; the Stage-B order was returned.
    SkippedDeadline,
    /// No model is loaded.
    NoModel,
    /// The bundle has no embeddings.
    NoEmbeddings,
    /// The bundle's embeddings come from another model than the one loaded.
    ModelMismatch,
    /// Turned off for this query.
    Disabled,
    /// The model failed on this query.
    Failed,
}

/// Counters and timings of one semantic query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SemanticStats {
    pub files_total: usize,
    pub gate_score: f32,
    pub lexical_candidates: usize,
    pub dense_candidates: usize,
    /// Candidates Stage-C scored, and those its confidence cutoff dropped.
    pub scored: usize,
    pub cut_off: usize,
    pub results: usize,
    pub stage_a_ms: f64,
    pub stage_b_ms: Option<f64>,
    pub stage_c_ms: Option<f64>,
    pub stage_c: Option<StageCState>,
    pub query_embedding_cached: bool,
    /// `Deadline` when Stage-C gave up for time; ranked retrieval is never cut otherwise.
    pub truncation: Option<Truncation>,
    pub elapsed_ms: f64,
}

impl SemanticStats {
    pub fn timed_out(&self) -> bool {
        self.truncation == Some(Truncation::Deadline)
    }
}

#[derive(Debug, Clone)]
pub struct SemanticResult {
    pub hits: Vec<Hit>,
    pub stats: SemanticStats,
}

/// The loaded model plus its query-embedding cache; one per server or CLI process.
pub struct StageC {
    embedder: Embedder,
    cache: Mutex<lru::LruCache<String, Arc<Vec<f32>>>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl std::fmt::Debug for StageC {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageC")
            .field("embedder", &self.embedder)
            .finish()
    }
}

impl StageC {
    pub fn new(embedder: Embedder) -> StageC {
        StageC {
            embedder,
            cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(QUERY_CACHE_ENTRIES).expect("non-zero"),
            )),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// (hits, misses) of the query-embedding cache since start.
    pub fn cache_counts(&self) -> (u64, u64) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
        )
    }

    /// The query's embedding, cached by its exact text; `bool` = from the cache.
    fn query_embedding(&self, text: &str) -> Result<(Arc<Vec<f32>>, bool)> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
            .cloned();
        if let Some(v) = cached {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((v, true));
        }
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
        let v = Arc::new(self.embedder.embed(&[text])?);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(text.to_string(), v.clone());
        Ok((v, false))
    }
}

/// One candidate file and its signals.
#[derive(Debug, Clone, Copy, Default)]
struct Candidate {
    doc: u32,
    bm25: f32,
    symbol: f32,
    cosine: Option<f32>,
    /// Best-matching chunk (Stage-C), if any.
    chunk: Option<u32>,
    score: f32,
    confidence: Option<f32>,
}

/// Per-hit signals, returned so that clients (and the evaluation) see why a file ranked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Signals {
    pub bm25: f32,
    pub symbol: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosine: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Content words of the query: code tokens that are not stopwords, deduplicated.
fn content_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for_each_token(text, |t, _, _| {
        if t.len() > 1 && !super::gate::STOPWORDS.contains(&t) && !words.iter().any(|w| w == t) {
            words.push(t.to_string());
        }
    });
    words
}

/// Runs a semantic query. `stage_c` is the loaded model, if any.
pub fn search_semantic(
    bundle: &BundleReader,
    plan: &SemanticPlan,
    stage_c: Option<&StageC>,
    deadline: &Deadline,
) -> Result<SemanticResult> {
    let started = Instant::now();
    let mut stats = SemanticStats {
        files_total: bundle.doc_count(),
        gate_score: plan.gate_score,
        ..SemanticStats::default()
    };
    let wanted = plan.limits.max_results.min(1000);

    // Stage-A: BM25.
    let lexical = match bundle.text() {
        Some(t) => t.bm25(&plan.text, LEXICAL_CANDIDATES.max(wanted))?,
        None => Vec::new(),
    };
    stats.lexical_candidates = lexical.len();
    let best_bm25 = lexical.iter().map(|c| c.1).fold(0f32, f32::max);
    let mut cands: Vec<Candidate> = lexical
        .iter()
        .map(|&(doc, s)| Candidate {
            doc,
            bm25: if best_bm25 > 0.0 { s / best_bm25 } else { 0.0 },
            ..Candidate::default()
        })
        .collect();
    stats.stage_a_ms = ms(started.elapsed());

    // Stage-C retrieval first when it can run, so that Stage-B sees its candidates too.
    let c_started = Instant::now();
    let state = stage_c_state(bundle, plan, stage_c, deadline);
    let mut query_vec = None;
    if state == StageCState::Ran {
        let sc = stage_c.expect("state Ran implies a model");
        match sc.query_embedding(&plan.text) {
            Ok((v, cached)) => {
                stats.query_embedding_cached = cached;
                query_vec = Some(v);
            }
            Err(_) => stats.stage_c = Some(StageCState::Failed),
        }
    }
    let mut stage_c_ran = false;
    if let (Some(q), Some(store)) = (&query_vec, bundle.embeddings()) {
        let q = &super::store::QueryVector::new(q);
        if deadline.expired() {
            stats.stage_c = Some(StageCState::SkippedDeadline);
            stats.truncation = Some(Truncation::Deadline);
        } else {
            let nearest = store.nearest(q, DENSE_CANDIDATES.max(wanted));
            stats.dense_candidates = nearest.len();
            let mut index: HashMap<u32, usize> =
                cands.iter().enumerate().map(|(i, c)| (c.doc, i)).collect();
            for (chunk, cos) in nearest {
                let doc = store.chunk(chunk).doc;
                let i = *index.entry(doc).or_insert_with(|| {
                    cands.push(Candidate {
                        doc,
                        ..Candidate::default()
                    });
                    cands.len() - 1
                });
                let c = &mut cands[i];
                if c.cosine.is_none_or(|best| cos > best) {
                    c.cosine = Some(cos);
                    c.chunk = Some(chunk);
                }
            }
            // Lexical candidates outside the nearest set: score their chunks directly.
            for c in cands.iter_mut().filter(|c| c.cosine.is_none()) {
                for chunk in store.doc_chunks(c.doc) {
                    let cos = store.cosine(chunk, q);
                    if c.cosine.is_none_or(|best| cos > best) {
                        c.cosine = Some(cos);
                        c.chunk = Some(chunk);
                    }
                }
            }
            stage_c_ran = true;
        }
    } else if stats.stage_c.is_none() {
        stats.stage_c = Some(state);
    }
    let c_retrieval = c_started.elapsed();

    // Stage-B: definition names.
    let b_started = Instant::now();
    let words = content_words(&plan.text);
    if plan.stages.symbols && bundle.symbols().is_some() && !words.is_empty() {
        for c in cands.iter_mut() {
            c.symbol = symbol_overlap(bundle, c.doc, &words);
        }
        stats.stage_b_ms = Some(ms(b_started.elapsed()));
    }

    // Order: Stage-C fusion when it ran, else the Stage-B order.
    let f = plan.fusion;
    let fuse_started = Instant::now();
    if stage_c_ran {
        for c in cands.iter_mut() {
            let cos = c.cosine.unwrap_or(0.0);
            c.score = f.cosine * cos + f.bm25 * c.bm25 + f.symbol * c.symbol;
            c.confidence = Some(logistic(f.calib_scale * c.score + f.calib_bias));
        }
        stats.scored = cands.len();
        let before = cands.len();
        cands.retain(|c| c.confidence.is_some_and(|p| p >= f.min_confidence));
        stats.cut_off = before - cands.len();
        stats.stage_c = Some(StageCState::Ran);
        stats.stage_c_ms = Some(ms(c_retrieval + fuse_started.elapsed()));
    } else {
        for c in cands.iter_mut() {
            c.score = c.bm25 + f.fallback_symbol * c.symbol;
        }
    }
    cands.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
    cands.truncate(plan.limits.max_results);

    let hits = cands
        .iter()
        .map(|c| hit_for(bundle, c, &words))
        .collect::<Vec<_>>();
    stats.results = hits.len();
    stats.elapsed_ms = ms(started.elapsed());
    Ok(SemanticResult { hits, stats })
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Whether Stage-C can run for this query, before any work.
fn stage_c_state(
    bundle: &BundleReader,
    plan: &SemanticPlan,
    stage_c: Option<&StageC>,
    deadline: &Deadline,
) -> StageCState {
    if !plan.stages.semantic {
        return StageCState::Disabled;
    }
    let Some(sc) = stage_c else {
        return StageCState::NoModel;
    };
    let Some(info) = bundle.manifest().build.embeddings.as_ref() else {
        return StageCState::NoEmbeddings;
    };
    if bundle.embeddings().is_none() {
        return StageCState::NoEmbeddings;
    }
    if info.model.sha256 != sc.embedder().id().sha256 || info.model.dims != sc.embedder().dims() {
        return StageCState::ModelMismatch;
    }
    if deadline
        .remaining()
        .is_some_and(|left| left < MIN_STAGE_C_BUDGET)
    {
        return StageCState::SkippedDeadline;
    }
    StageCState::Ran
}

/// Share of `words` found among the tokens of the doc's definition names.
fn symbol_overlap(bundle: &BundleReader, doc: u32, words: &[String]) -> f32 {
    let Some(file) = bundle.file_symbols(doc) else {
        return 0.0;
    };
    let mut found = vec![false; words.len()];
    for d in &file.defs {
        for_each_token(&d.name, |t, _, _| {
            if let Some(i) = words.iter().position(|w| w == t) {
                found[i] = true;
            }
        });
    }
    found.iter().filter(|&&f| f).count() as f32 / words.len() as f32
}

/// The hit for a candidate file: its best chunk's name when Stage-C ran, else the definition
/// whose name shares most query words, else the first line.
fn hit_for(bundle: &BundleReader, c: &Candidate, words: &[String]) -> Hit {
    let rec = bundle.docs().get(c.doc);
    let content = bundle.content(&rec);
    let mut symbol = None;
    let mut definition = false;
    let (name_start, name_end) = match (c.chunk, bundle.embeddings()) {
        (Some(id), Some(store)) => {
            let ch = store.chunk(id);
            (ch.name_start as usize, ch.name_end as usize)
        }
        _ => best_definition(bundle, c.doc, words)
            .unwrap_or((0, memchr::memchr(b'\n', content).unwrap_or(content.len()))),
    };
    let name_start = name_start.min(content.len());
    let line_start = memchr::memrchr(b'\n', &content[..name_start]).map_or(0, |i| i + 1);
    let line_end =
        memchr::memchr(b'\n', &content[line_start..]).map_or(content.len(), |i| line_start + i);
    let name_end = name_end.clamp(name_start, line_end);
    let line = memchr::memchr_iter(b'\n', &content[..line_start]).count() as u64 + 1;
    if let Some(file) = bundle.file_symbols(c.doc)
        && let Some(d) = file
            .defs
            .iter()
            .rev()
            .find(|d| (d.def_start as usize) <= name_start && name_start < d.def_end as usize)
    {
        definition = d.name_start as usize == name_start;
        symbol = Some(EnclosingSymbol {
            name: d.name.clone(),
            kind: d.kind,
            scope: d.scope.clone(),
            line: d.line,
        });
    }
    Hit {
        repo: Arc::from(bundle.repo_name(&rec)),
        path: Arc::from(bundle.path(&rec).as_ref()),
        language: Arc::from(bundle.language(&rec)),
        line,
        start: name_start - line_start,
        end: name_end - line_start,
        abs_start: name_start as u64,
        abs_end: name_end as u64,
        snippet: snippet(content, line_start, name_start, name_end),
        score: c.score,
        definition,
        symbol,
        signals: Some(Signals {
            bm25: c.bm25,
            symbol: c.symbol,
            cosine: c.cosine,
            confidence: c.confidence,
        }),
        definition_site: None,
        context: None,
        doc: c.doc,
    }
}

/// Name span of the doc's definition whose name shares most of `words` (first on ties).
fn best_definition(bundle: &BundleReader, doc: u32, words: &[String]) -> Option<(usize, usize)> {
    let file = bundle.file_symbols(doc)?;
    let mut best: Option<(usize, (usize, usize))> = None;
    for d in &file.defs {
        let mut n = 0;
        for_each_token(&d.name, |t, _, _| {
            n += usize::from(words.iter().any(|w| w == t))
        });
        if best.is_none_or(|(b, _)| n > b) {
            best = Some((n, (d.name_start as usize, d.name_end as usize)));
        }
    }
    best.map(|(_, span)| span)
}
