//! Quality gates for a release candidate (RELEASES.md, "Gates"): each gate is
//! measured with lens's own search path ([`Searcher`]) against a brute-force
//! scan of the bundle's content or against the stable, never asserted.
//!
//! A [`Target`] is what a gate measures: the searcher requests go through
//! (possibly a wrapper, a router or shards) and the bundle whose content is
//! the reference for it.

pub mod golden;
pub mod labelled;
pub mod release;
pub mod report;
pub mod stages;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use lens_core::release::store::Release;

use lens_core::{Deadline, Engine, Hit, Options, QueryInput, Request, RequestLimits, Searcher};
use serde_json::json;

pub use golden::{Corpus, DefinitionQuery, GoldenSet, LexicalQuery, QueryKind, Scan, Span, sample};
pub use labelled::{LabelledError, LabelledQuery, LabelledSet};
pub use release::{compatibility, dependencies, release_notes, release_notes_path, semver};
pub use report::{GateReport, GateResult, GateStatus, recommendations_for};
pub use stages::{NdcgVerdict, ndcg_at_10, ndcg_verdict, prose_queries, stage_b_p95, stage_c_p95};

use crate::sbom::Dependency;

pub const SPAN_COVERAGE: &str = "span_coverage";
pub const RECALL_AT_50: &str = "recall_at_50";
pub const DEFINITION_FIRST: &str = "definition_first";
pub const CONSISTENCY_VIOLATIONS: &str = "consistency_violations";
pub const INDEX_COMPLETENESS: &str = "index_completeness";
pub const STAGE_A_P95: &str = "stage_a_p95";
pub const TAIL_LATENCY: &str = "tail_latency";
pub const STAGE_B_P95: &str = "stage_b_p95";
pub const STAGE_C_P95: &str = "stage_c_p95";
pub const NDCG_AT_10: &str = "ndcg_at_10";
pub const COMPATIBILITY: &str = "compatibility";
pub const SEMVER: &str = "semver";
pub const RELEASE_NOTES: &str = "release_notes";
pub const DEPENDENCIES: &str = "dependencies";
/// Every gate `run_all` reports, in its order.
pub const ALL_GATES: [&str; 14] = [
    SPAN_COVERAGE,
    RECALL_AT_50,
    DEFINITION_FIRST,
    CONSISTENCY_VIOLATIONS,
    INDEX_COMPLETENESS,
    STAGE_A_P95,
    TAIL_LATENCY,
    STAGE_B_P95,
    STAGE_C_P95,
    NDCG_AT_10,
    COMPATIBILITY,
    SEMVER,
    RELEASE_NOTES,
    DEPENDENCIES,
];

/// A searcher and the bundle whose content is its reference.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub searcher: &'a dyn Searcher,
    pub bundle: &'a Engine,
}

impl<'a> Target<'a> {
    /// An engine searched directly.
    pub fn engine(engine: &'a Engine) -> Target<'a> {
        Target {
            searcher: engine,
            bundle: engine,
        }
    }
}

/// Thresholds; the defaults are the runbook's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub span_coverage: f64,
    /// recall@50 must reach max(stable's, this).
    pub recall_at_50_floor: f64,
    pub stage_a_p95_ms: f64,
    /// p99 must stay within this multiple of p95...
    pub tail_ratio: f64,
    /// ...or within this many milliseconds of it: at sub-millisecond p95 on
    /// a shared host one descheduling breaks any ratio (0 = the ratio alone).
    pub tail_floor_ms: f64,
    /// How many times the golden queries are replayed for latency.
    pub latency_replays: usize,
    /// ...and at least enough rounds for this many timed searches, so that
    /// p99 is not one descheduled search (at 1,000 it is the tenth slowest).
    pub min_latency_samples: usize,
    /// Stage-B (symbol search) p95 budget (runbook, "Performance SLAs": ≤ 300 ms).
    pub stage_b_p95_ms: f64,
    /// Stage-C (natural-language search) p95 budget (runbook, "Performance SLAs": ≤ 300 ms).
    pub stage_c_p95_ms: f64,
    /// nDCG@10 must improve on stable's by this share...
    pub ndcg_min_gain: f64,
    /// ...or stay within this share of it with a lower p95 (runbook, "Quality
    /// SLAs": "nDCG@10_improvement: ≥+2% or unchanged with perf win").
    pub ndcg_tie_band: f64,
    /// Whether the candidate's ranking config or model differ from the
    /// stable's; when not (a content refresh), `ndcg_at_10` asks only for no
    /// regression, since the runbook's gain rule judges ranking changes.
    pub ndcg_ranking_changed: bool,
}

/// The runbook's "Quality SLAs" line `nDCG@10_improvement: ≥+2% or unchanged
/// with perf win` (not in `dashboards/thresholds.toml`, which holds alerts).
pub const NDCG_MIN_GAIN: f64 = 0.02;
/// "Unchanged" in that line: within ±0.5% of stable.
pub const NDCG_TIE_BAND: f64 = 0.005;

/// The numbers of `dashboards/thresholds.toml`, the one source the alerts
/// and the dashboard read too.
impl Default for Thresholds {
    fn default() -> Self {
        let t = lens_core::thresholds::thresholds();
        Thresholds {
            span_coverage: t.span_coverage,
            recall_at_50_floor: t.recall_at_50_floor,
            stage_a_p95_ms: t.stage_a_p95_ms,
            tail_ratio: t.tail_p99_over_p95,
            tail_floor_ms: 0.0,
            latency_replays: 5,
            min_latency_samples: 1000,
            stage_b_p95_ms: t.stage_b_p95_ms,
            stage_c_p95_ms: t.stage_c_p95_ms,
            ndcg_min_gain: NDCG_MIN_GAIN,
            ndcg_tie_band: NDCG_TIE_BAND,
            ndcg_ranking_changed: true,
        }
    }
}

/// Slack for comparing shares computed the same way on both sides.
const EPS: f64 = 1e-9;
/// Examples kept in evidence per list.
const EXAMPLES: usize = 20;

/// Every gate, candidate against stable, as one report.
pub fn run(
    candidate: Target<'_>,
    stable: Target<'_>,
    golden: &GoldenSet,
    t: &Thresholds,
) -> GateReport {
    let started = Instant::now();
    let (p95, tail) = latency(candidate.searcher, golden, t);
    let gates = vec![
        span_coverage(candidate, golden, t),
        recall_at_50(candidate.searcher, stable.searcher, golden, t),
        definition_first(candidate.searcher, stable.searcher, golden),
        consistency(candidate.searcher, stable.searcher, golden),
        index_completeness(candidate.bundle, stable.bundle),
        p95,
        tail,
    ];
    GateReport::new(gates, started.elapsed().as_millis() as u64)
}

/// What the gates beyond the search ones need; a missing input skips its
/// gate with the reason (never a pass).
#[derive(Clone, Copy, Default)]
pub struct ReleaseInputs<'a> {
    /// The release records (`compatibility`, `semver`; the candidate's
    /// version names its `release_notes` section).
    pub candidate_release: Option<&'a Release>,
    pub stable_release: Option<&'a Release>,
    /// Labelled sets (`[validation] labelled`): `ndcg_at_10`, and the
    /// queries `stage_c_p95` replays.
    pub labelled: &'a [LabelledSet],
    /// The (candidate, stable) searchers the labelled sets run on, when
    /// their trees are bundles of their own; `None`: the candidate's and
    /// the stable's targets (their trees indexed there as repositories).
    pub labelled_searchers: Option<(&'a dyn Searcher, &'a dyn Searcher)>,
    /// The UPGRADE.md to check (see [`release_notes_path`]).
    pub release_notes: Option<&'a Path>,
    /// The crate list (normally [`crate::sbom::dependencies`]).
    pub dependencies: Option<&'a [Dependency]>,
    /// An offline RustSec database; `None`: `$CARGO_HOME/advisory-db`.
    pub advisory_db: Option<&'a Path>,
}

/// The natural-language queries `stage_c_p95` replays: the labelled sets'
/// (each capped at its `max_queries`), else prose made from the golden set.
pub fn natural_language_queries(golden: &GoldenSet, labelled: &[LabelledSet]) -> Vec<String> {
    let from_sets: Vec<String> = labelled
        .iter()
        .flat_map(|s| s.judged().into_iter().map(|(q, _)| q.text.clone()))
        .collect();
    if from_sets.is_empty() {
        stages::prose_queries(golden, stages::PROSE_QUERIES)
    } else {
        from_sets
    }
}

/// [`run`]'s gates, then `stage_b_p95`, `stage_c_p95`, `ndcg_at_10`,
/// `compatibility`, `semver`, `release_notes` and `dependencies`.
pub fn run_all(
    candidate: Target<'_>,
    stable: Target<'_>,
    golden: &GoldenSet,
    t: &Thresholds,
    inputs: &ReleaseInputs<'_>,
) -> GateReport {
    let started = Instant::now();
    let mut gates = run(candidate, stable, golden, t).gates;
    gates.push(stage_b_p95(candidate, golden, t));
    let nl = natural_language_queries(golden, inputs.labelled);
    let embeddings = |e: &Engine| e.describe().manifest.build.embeddings.is_some();
    let c_p95 = stage_c_p95(candidate, &nl, t);
    // Neither release has embeddings: Stage-C has nothing to serve or measure.
    gates.push(
        if embeddings(candidate.bundle) || embeddings(stable.bundle) {
            c_p95
        } else {
            c_p95.not_applicable()
        },
    );
    let (lc, ls) = inputs
        .labelled_searchers
        .unwrap_or((candidate.searcher, stable.searcher));
    let model = |e: &Engine| {
        e.describe()
            .manifest
            .build
            .embeddings
            .as_ref()
            .map(|m| m.model.model_id.clone())
    };
    let t_ndcg = Thresholds {
        ndcg_ranking_changed: candidate.bundle.ranking() != stable.bundle.ranking()
            || model(candidate.bundle) != model(stable.bundle),
        ..*t
    };
    let ndcg = ndcg_at_10(lc, ls, inputs.labelled, &t_ndcg);
    gates.push(if inputs.labelled.is_empty() {
        ndcg.not_applicable()
    } else {
        ndcg
    });
    let records = match (inputs.candidate_release, inputs.stable_release) {
        (Some(c), Some(s)) => Ok((c, s)),
        (None, _) => Err("no candidate release record"),
        (_, None) => Err("no stable release record"),
    };
    match records {
        Ok((c, s)) => {
            gates.push(compatibility(c, s));
            gates.push(semver(&c.version, &s.version));
        }
        Err(why) => {
            gates.push(GateResult::skipped(COMPATIBILITY, why));
            gates.push(GateResult::skipped(SEMVER, why));
        }
    }
    gates.push(match (inputs.release_notes, inputs.candidate_release) {
        (Some(p), Some(c)) => release_notes(p, &c.version),
        (None, _) => GateResult::skipped(RELEASE_NOTES, "no release notes path is configured"),
        (_, None) => GateResult::skipped(
            RELEASE_NOTES,
            "no candidate release record: no version to look for",
        ),
    });
    gates.push(match inputs.dependencies {
        Some(d) => dependencies(d, inputs.advisory_db),
        None => GateResult::skipped(DEPENDENCIES, "no dependency list was given"),
    });
    GateReport::new(gates, started.elapsed().as_millis() as u64)
}

fn request(text: &str, options: Options) -> lens_core::Result<Request> {
    Request::new(
        QueryInput::Text {
            text: text.to_string(),
            stages: None,
        },
        options,
        &RequestLimits::default(),
    )
}

fn span(h: &Hit) -> Span {
    Span {
        repo: h.repo.to_string(),
        path: h.path.to_string(),
        line: h.line,
        start: h.start,
        end: h.end,
    }
}

fn deadline(r: &Request) -> Deadline {
    Deadline::after(r.timeout)
}

/// The best `limit` hits of a ranked search.
pub fn ranked(s: &dyn Searcher, query: &str, limit: usize) -> lens_core::Result<Vec<Hit>> {
    let r = request(
        query,
        Options {
            limit: Some(limit),
            ..Options::default()
        },
    )?;
    Ok(s.search(&r, &deadline(&r))?.hits)
}

/// Every hit of an exhaustive search, paging through the cursors `page` at a time.
pub fn exhaustive_paged(
    s: &dyn Searcher,
    query: &str,
    page: usize,
) -> lens_core::Result<Vec<Span>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let r = request(
            query,
            Options {
                limit: Some(page),
                exhaustive: true,
                paged: true,
                cursor: cursor.take(),
                ..Options::default()
            },
        )?;
        let resp = s.search(&r, &deadline(&r))?;
        out.extend(resp.hits.iter().map(span));
        match resp.next_cursor {
            Some(c) if !resp.hits.is_empty() => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

/// Every hit of an exhaustive search, in one response.
pub fn exhaustive(s: &dyn Searcher, query: &str) -> lens_core::Result<Vec<Span>> {
    let r = request(
        query,
        Options {
            exhaustive: true,
            ..Options::default()
        },
    )?;
    Ok(s.search(&r, &deadline(&r))?.hits.iter().map(span).collect())
}

fn judged(
    gate: &str,
    pass: bool,
    reason: impl FnOnce() -> String,
) -> (String, GateStatus, Option<String>) {
    if pass {
        (gate.to_string(), GateStatus::Pass, None)
    } else {
        (gate.to_string(), GateStatus::Fail, Some(reason()))
    }
}

/// Exhaustive search of every golden lexical query against a brute-force scan
/// of the candidate's own content: spans missed and spans invented both count
/// against it. Checks the engine, not the index.
pub fn span_coverage(candidate: Target<'_>, golden: &GoldenSet, t: &Thresholds) -> GateResult {
    if golden.lexical.is_empty() {
        return GateResult::skipped(SPAN_COVERAGE, "the golden set has no lexical queries");
    }
    let corpus = Corpus::of(candidate.bundle);
    let (mut truth_total, mut matched, mut extra_total) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for q in &golden.lexical {
        let Some(truth) = corpus.scan(&q.scan) else {
            failures.push(json!({"query": q.query, "error": "reference regex does not compile"}));
            continue;
        };
        let truth: BTreeSet<Span> = truth.into_iter().collect();
        truth_total += truth.len();
        let got: BTreeSet<Span> = match exhaustive_paged(candidate.searcher, &q.query, 1000) {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                failures.push(
                    json!({"query": q.query, "error": e.to_string(), "missing": truth.len()}),
                );
                continue;
            }
        };
        let hit = truth.intersection(&got).count();
        let missing: Vec<&Span> = truth.difference(&got).take(5).collect();
        let extra: Vec<&Span> = got.difference(&truth).take(5).collect();
        let extra_n = got.difference(&truth).count();
        matched += hit;
        extra_total += extra_n;
        if hit < truth.len() || extra_n > 0 {
            failures.push(json!({
                "query": q.query,
                "truth": truth.len(),
                "matched": hit,
                "extra": extra_n,
                "missing_examples": missing,
                "extra_examples": extra,
            }));
        }
    }
    let denom = truth_total + extra_total;
    let value = if denom == 0 {
        1.0
    } else {
        matched as f64 / denom as f64
    };
    let (gate, status, reason) = judged(SPAN_COVERAGE, value + EPS >= t.span_coverage, || {
        format!(
            "{matched} of {truth_total} truth spans returned, {extra_total} spans returned that the scan lacks"
        )
    });
    failures.truncate(EXAMPLES);
    GateResult {
        gate,
        status,
        value: Some(value),
        threshold: Some(t.span_coverage),
        baseline: None,
        evidence: json!({
            "queries": golden.lexical.len(),
            "truth_spans": truth_total,
            "matched_spans": matched,
            "extra_spans": extra_total,
            "failing_queries": failures,
        }),
        reason,
        not_applicable: false,
    }
}

/// Files of a ranked top-50 search, in order, distinct.
fn top_files(s: &dyn Searcher, query: &str, k: usize) -> lens_core::Result<Vec<(String, String)>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in ranked(s, query, k)? {
        let f = (h.repo.to_string(), h.path.to_string());
        if out.len() < k && seen.insert(f.clone()) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Mean recall of the truth's files among the first 50 files of a ranked
/// search (the denominator capped at 50), and the queries that fell short.
fn mean_recall(s: &dyn Searcher, golden: &GoldenSet) -> (f64, usize, Vec<serde_json::Value>) {
    const K: usize = 50;
    let (mut sum, mut n) = (0.0, 0usize);
    let mut short = Vec::new();
    for q in golden.lexical.iter().filter(|q| !q.truth.is_empty()) {
        let truth: BTreeSet<(String, String)> = q
            .truth
            .iter()
            .map(|s| (s.repo.clone(), s.path.clone()))
            .collect();
        let files = top_files(s, &q.query, K).unwrap_or_default();
        let found = files.iter().filter(|f| truth.contains(*f)).count();
        let r = found as f64 / truth.len().min(K) as f64;
        if r < 1.0 {
            short.push(
                json!({"query": q.query, "recall": r, "truth_files": truth.len(), "found": found}),
            );
        }
        sum += r;
        n += 1;
    }
    (if n == 0 { 0.0 } else { sum / n as f64 }, n, short)
}

/// recall@50 of the golden queries' files, candidate against
/// max(stable's on the same queries, the floor): checks the index.
pub fn recall_at_50(
    candidate: &dyn Searcher,
    stable: &dyn Searcher,
    golden: &GoldenSet,
    t: &Thresholds,
) -> GateResult {
    let (value, n, mut short) = mean_recall(candidate, golden);
    if n == 0 {
        return GateResult::skipped(RECALL_AT_50, "no golden lexical query has a truth");
    }
    let (baseline, _, _) = mean_recall(stable, golden);
    let threshold = baseline.max(t.recall_at_50_floor);
    let (gate, status, reason) = judged(RECALL_AT_50, value + EPS >= threshold, || {
        format!("recall@50 {value:.4} below {threshold:.4} (stable {baseline:.4})")
    });
    short.truncate(EXAMPLES);
    GateResult {
        gate,
        status,
        value: Some(value),
        threshold: Some(threshold),
        baseline: Some(baseline),
        evidence: json!({"queries": n, "short_queries": short}),
        reason,
        not_applicable: false,
    }
}

fn definition_share(s: &dyn Searcher, golden: &GoldenSet) -> (f64, Vec<serde_json::Value>) {
    let mut first = 0usize;
    let mut misses = Vec::new();
    for d in &golden.definitions {
        let top = ranked(s, &d.name, 10)
            .ok()
            .and_then(|h| h.into_iter().next());
        let ok = top
            .as_ref()
            .is_some_and(|h| *h.repo == *d.repo && *h.path == *d.path && h.line == d.line);
        if ok {
            first += 1;
        } else {
            misses.push(json!({
                "name": d.name,
                "expected": format!("{}:{}:{}", d.repo, d.path, d.line),
                "first": top.map(|h| format!("{}:{}:{}", h.repo, h.path, h.line)),
            }));
        }
    }
    (
        first as f64 / golden.definitions.len().max(1) as f64,
        misses,
    )
}

/// Share of definition queries whose definition ranks first for its bare
/// name; fails below the stable's share on the same queries.
pub fn definition_first(
    candidate: &dyn Searcher,
    stable: &dyn Searcher,
    golden: &GoldenSet,
) -> GateResult {
    if golden.definitions.is_empty() {
        return GateResult::skipped(DEFINITION_FIRST, "the golden set has no definition queries");
    }
    let (value, mut misses) = definition_share(candidate, golden);
    let (baseline, _) = definition_share(stable, golden);
    let (gate, status, reason) = judged(DEFINITION_FIRST, value + EPS >= baseline, || {
        format!("definition first for {value:.4} of queries, stable {baseline:.4}")
    });
    misses.truncate(EXAMPLES);
    GateResult {
        gate,
        status,
        value: Some(value),
        threshold: Some(baseline),
        baseline: Some(baseline),
        evidence: json!({"queries": golden.definitions.len(), "misses": misses}),
        reason,
        not_applicable: false,
    }
}

fn ranked_spans(s: &dyn Searcher, q: &str) -> Result<Vec<Span>, String> {
    ranked(s, q, 50)
        .map(|h| h.iter().map(span).collect())
        .map_err(|e| e.to_string())
}

/// The bundle files (name, checksum) of a searcher's manifest.
fn content_files(s: &dyn Searcher) -> BTreeSet<(String, String)> {
    s.describe()
        .manifest
        .files
        .iter()
        .map(|f| (f.path.clone(), f.xxh3.clone()))
        .collect()
}

/// The same query twice, paged (7 at a time) against unpaged, and candidate
/// against stable when their bundle files have the same checksums: every
/// difference is a violation.
pub fn consistency(
    candidate: &dyn Searcher,
    stable: &dyn Searcher,
    golden: &GoldenSet,
) -> GateResult {
    if golden.lexical.is_empty() {
        return GateResult::skipped(
            CONSISTENCY_VIOLATIONS,
            "the golden set has no lexical queries",
        );
    }
    let same_content = content_files(candidate) == content_files(stable);
    let (mut repeat, mut paging, mut cross) = (0usize, 0usize, 0usize);
    let mut examples = Vec::new();
    for q in &golden.lexical {
        let first = ranked_spans(candidate, &q.query);
        if first != ranked_spans(candidate, &q.query) {
            repeat += 1;
            examples.push(json!({"query": q.query, "check": "repeat"}));
        }
        let paged = exhaustive_paged(candidate, &q.query, 7).map_err(|e| e.to_string());
        let whole = exhaustive(candidate, &q.query).map_err(|e| e.to_string());
        if paged != whole || paged.is_err() {
            paging += 1;
            examples.push(json!({
                "query": q.query,
                "check": "paged_vs_unpaged",
                "paged": paged.as_ref().map(Vec::len).ok(),
                "unpaged": whole.as_ref().map(Vec::len).ok(),
            }));
        }
        if same_content && first != ranked_spans(stable, &q.query) {
            cross += 1;
            examples.push(json!({"query": q.query, "check": "stable_vs_candidate"}));
        }
    }
    let violations = repeat + paging + cross;
    let cross_skipped = (!same_content)
        .then_some("the candidate's bundle files differ from the stable's: results may differ");
    let (gate, status, reason) = judged(CONSISTENCY_VIOLATIONS, violations == 0, || {
        format!(
            "{violations} violations: {repeat} repeat, {paging} paged vs unpaged, {cross} stable vs candidate"
        )
    });
    examples.truncate(EXAMPLES);
    GateResult {
        gate,
        status,
        value: Some(violations as f64),
        threshold: Some(0.0),
        baseline: None,
        evidence: json!({
            "queries": golden.lexical.len(),
            "repeat": repeat,
            "paged_vs_unpaged": paging,
            "stable_vs_candidate": cross,
            "stable_vs_candidate_skipped": cross_skipped,
            "examples": examples,
        }),
        reason: reason.or(cross_skipped.map(String::from)),
        not_applicable: false,
    }
}

/// The candidate's files against the stable's: a file the stable serves and
/// the candidate lacks fails, unless both were built from the same tree and
/// the file is gone from it (deleted upstream); counts, bytes, the deletions
/// and the candidate's skips as evidence.
pub fn index_completeness(candidate: &Engine, stable: &Engine) -> GateResult {
    let files = |e: &Engine| -> BTreeMap<(String, String), u64> {
        Corpus::of(e)
            .docs
            .iter()
            .map(|d| ((d.repo.to_string(), d.path.clone()), d.content.len() as u64))
            .collect()
    };
    let (c, s) = (files(candidate), files(stable));
    // A file stable has and the candidate lacks is explained when the
    // candidate was built from the same tree as stable (same source name and
    // path) and the file is gone from that tree now: deleted upstream. Any
    // other loss (another tree, or a file still on disk) counts against it.
    let source_path = |e: &Engine, repo: &str| -> Option<String> {
        e.describe()
            .manifest
            .sources
            .iter()
            .find(|x| x.name == repo)
            .map(|x| x.path.clone())
    };
    let explained = |repo: &str, path: &str| -> bool {
        match (source_path(candidate, repo), source_path(stable, repo)) {
            (Some(a), Some(b)) if a == b => !std::path::Path::new(&a).join(path).exists(),
            _ => false,
        }
    };
    let (mut gone, mut missing) = (Vec::new(), Vec::new());
    for (r, p) in s.keys().filter(|k| !c.contains_key(*k)) {
        if explained(r, p) {
            gone.push(format!("{r}/{p}"));
        } else {
            missing.push(format!("{r}/{p}"));
        }
    }
    let added = c.keys().filter(|k| !s.contains_key(*k)).count();
    let present = s.len() - missing.len();
    let value = if s.is_empty() {
        1.0
    } else {
        present as f64 / s.len() as f64
    };
    let m = &candidate.describe().manifest;
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for k in &m.skipped {
        by_reason
            .entry(k.reason.as_str())
            .or_default()
            .push(format!("{}/{}", k.repo, k.path));
    }
    let (gate, status, reason) = judged(INDEX_COMPLETENESS, missing.is_empty(), || {
        format!(
            "{} of the stable's {} files are not in the candidate, and its sources do not explain it (files still on disk, or another tree)",
            missing.len(),
            s.len()
        )
    });
    GateResult {
        gate,
        status,
        value: Some(value),
        threshold: Some(1.0),
        baseline: Some(s.len() as f64),
        evidence: json!({
            "candidate_files": c.len(),
            "stable_files": s.len(),
            "candidate_bytes": c.values().sum::<u64>(),
            "stable_bytes": s.values().sum::<u64>(),
            "missing_files": missing.len(),
            "missing_examples": missing.iter().take(EXAMPLES).collect::<Vec<_>>(),
            "deleted_from_sources": gone.len(),
            "deleted_examples": gone.iter().take(EXAMPLES).collect::<Vec<_>>(),
            "added_files": added,
            "candidate_skipped": m.skipped.len(),
            "candidate_skipped_by_reason": by_reason
                .iter()
                .map(|(r, v)| (r.to_string(), json!({"count": v.len(), "examples": v.iter().take(5).collect::<Vec<_>>()})))
                .collect::<serde_json::Map<_, _>>(),
        }),
        reason,
        not_applicable: false,
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Replays the golden lexical queries (ranked, limit 50) against the
/// candidate and times each search: `stage_a_p95` (p95 within budget) and
/// `tail_latency` (p99 within `tail_ratio` × p95, or `tail_floor_ms` of it).
pub fn latency(
    candidate: &dyn Searcher,
    golden: &GoldenSet,
    t: &Thresholds,
) -> (GateResult, GateResult) {
    let requests: Vec<Request> = golden
        .lexical
        .iter()
        .filter_map(|q| {
            request(
                &q.query,
                Options {
                    limit: Some(50),
                    ..Options::default()
                },
            )
            .ok()
        })
        .collect();
    if requests.is_empty() {
        let why = "no golden lexical query to replay";
        return (
            GateResult::skipped(STAGE_A_P95, why),
            GateResult::skipped(TAIL_LATENCY, why),
        );
    }
    // One untimed pass warms the page cache and the symbol cache.
    for r in &requests {
        let _ = candidate.search(r, &Deadline::after(r.timeout));
    }
    let rounds = t
        .latency_replays
        .max(t.min_latency_samples.div_ceil(requests.len()))
        .max(1);
    let mut ms = Vec::with_capacity(requests.len() * rounds);
    let mut errors = 0usize;
    for _ in 0..rounds {
        for r in &requests {
            let d = Deadline::after(r.timeout);
            let started = Instant::now();
            errors += usize::from(candidate.search(r, &d).is_err());
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms.sort_by(f64::total_cmp);
    let (p50, p95, p99) = (
        percentile(&ms, 50.0),
        percentile(&ms, 95.0),
        percentile(&ms, 99.0),
    );
    let evidence = json!({
        "samples": ms.len(),
        "errors": errors,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": ms.last().copied().unwrap_or(0.0),
    });
    let (gate, status, reason) =
        judged(STAGE_A_P95, p95 <= t.stage_a_p95_ms && errors == 0, || {
            format!(
                "p95 {p95:.3} ms over {} ms ({errors} errors)",
                t.stage_a_p95_ms
            )
        });
    let p95_gate = GateResult {
        gate,
        status,
        value: Some(p95),
        threshold: Some(t.stage_a_p95_ms),
        baseline: None,
        evidence: evidence.clone(),
        reason,
        not_applicable: false,
    };
    let bound = (t.tail_ratio * p95).max(p95 + t.tail_floor_ms);
    let (gate, status, reason) = judged(TAIL_LATENCY, p99 <= bound, || {
        format!(
            "p99 {p99:.3} ms over max({} × p95, p95 + {} ms) = {bound:.3} ms",
            t.tail_ratio, t.tail_floor_ms
        )
    });
    let tail_gate = GateResult {
        gate,
        status,
        value: Some(p99),
        threshold: Some(bound),
        baseline: None,
        evidence,
        reason,
        not_applicable: false,
    };
    (p95_gate, tail_gate)
}
