//! Gates on Stage-B and Stage-C latency and on ranking quality over labelled
//! sets, each through the same requests the CLI and HTTP callers build:
//! `QueryInput::Symbols` for definitions (Stage-B's symbol table) and
//! `QueryInput::Text` with stages `abc` for natural language (the query
//! gate, BM25 and symbols, then embeddings when the bundle has them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use lens_core::Model;
use lens_core::response::{ResultKind, StageStats};
use lens_core::semantic::{StageCState, Stages};
use lens_core::{Deadline, Options, QueryInput, Request, RequestLimits, Response, Searcher};
use serde_json::json;

use super::labelled::{LabelledSet, doc_id};
use super::{
    DefinitionQuery, EXAMPLES, GoldenSet, NDCG_AT_10, STAGE_B_P95, STAGE_C_P95, Target, Thresholds,
    judged, percentile,
};
use crate::gates::report::GateResult;

/// Results asked of a natural-language query: `lens search --batch`'s
/// default, as the labelled evaluations run it (`validation/README.md`).
pub const NL_LIMIT: usize = 50;
/// Prose queries made from the golden set when no labelled set is given.
pub const PROSE_QUERIES: usize = 12;

fn symbol_request(name: &str) -> lens_core::Result<Request> {
    Request::new(
        QueryInput::Symbols {
            text: name.to_string(),
        },
        Options {
            limit: Some(10),
            ..Options::default()
        },
        &RequestLimits::default(),
    )
}

/// A natural-language search as `stages=abc` asks it.
pub fn natural_language_request(text: &str) -> lens_core::Result<Request> {
    Request::new(
        QueryInput::Text {
            text: text.to_string(),
            stages: Some(Stages::default()),
        },
        Options {
            limit: Some(NL_LIMIT),
            ..Options::default()
        },
        &RequestLimits::default(),
    )
}

/// One search and its wall time in milliseconds.
fn timed(s: &dyn Searcher, r: &Request) -> (f64, lens_core::Result<Response>) {
    let d = Deadline::after(r.timeout);
    let started = Instant::now();
    let out = s.search(r, &d);
    (started.elapsed().as_secs_f64() * 1e3, out)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn latency_evidence(ms: &[f64]) -> serde_json::Value {
    json!({
        "samples": ms.len(),
        "p50_ms": percentile(ms, 50.0),
        "p95_ms": percentile(ms, 95.0),
        "p99_ms": percentile(ms, 99.0),
        "max_ms": ms.last().copied().unwrap_or(0.0),
    })
}

/// Replays the golden definition queries as symbol searches (Stage-B: the
/// definitions table, `/symbols`) against the candidate, `latency_replays`
/// times after an untimed pass, and holds the p95 of their wall time to
/// `stage_b_p95_ms`. Skipped without definition queries or a symbol table.
pub fn stage_b_p95(candidate: Target<'_>, golden: &GoldenSet, t: &Thresholds) -> GateResult {
    if golden.definitions.is_empty() {
        return GateResult::skipped(STAGE_B_P95, "the golden set has no definition queries");
    }
    let build = &candidate.searcher.describe().manifest.build;
    if !build.symbols || candidate.bundle.reader().symbols().is_none() {
        return GateResult::skipped(
            STAGE_B_P95,
            "the candidate's bundle has no symbol table (built without symbols): Stage-B cannot run",
        );
    }
    let mut errors = Vec::new();
    let requests: Vec<(&DefinitionQuery, Request)> = golden
        .definitions
        .iter()
        .filter_map(|d| match symbol_request(&d.name) {
            Ok(r) => Some((d, r)),
            Err(e) => {
                errors.push(json!({"name": d.name, "error": e.to_string()}));
                None
            }
        })
        .collect();
    // The untimed pass warms the caches and checks what answered.
    let (mut not_stage_b, mut found) = (0usize, 0usize);
    for (d, r) in &requests {
        if let (_, Ok(resp)) = timed(candidate.searcher, r) {
            not_stage_b += usize::from(resp.kind != ResultKind::Symbol);
            found += usize::from(
                resp.hits
                    .iter()
                    .any(|h| *h.repo == *d.repo && *h.path == *d.path && h.line == d.line),
            );
        }
    }
    let (mut ms, mut reported) = (Vec::new(), Vec::new());
    for _ in 0..t.latency_replays.max(1) {
        for (d, r) in &requests {
            let (elapsed, resp) = timed(candidate.searcher, r);
            ms.push(elapsed);
            match resp {
                Ok(resp) => reported.extend(resp.timings.stage_b),
                Err(e) => errors.push(json!({"name": d.name, "error": e.to_string()})),
            }
        }
    }
    let (ms, reported) = (sorted(ms), sorted(reported));
    let p95 = percentile(&ms, 95.0);
    let n_errors = errors.len();
    let (gate, status, reason) = judged(
        STAGE_B_P95,
        p95 <= t.stage_b_p95_ms && n_errors == 0,
        || {
            format!(
                "symbol search p95 {p95:.3} ms over {} ms ({n_errors} errors)",
                t.stage_b_p95_ms
            )
        },
    );
    errors.truncate(EXAMPLES);
    let mut evidence = latency_evidence(&ms);
    evidence["queries"] = json!(requests.len());
    evidence["errors"] = json!(n_errors);
    evidence["error_examples"] = json!(errors);
    evidence["not_answered_by_stage_b"] = json!(not_stage_b);
    evidence["definition_in_results"] = json!(found);
    evidence["reported_stage_b_p95_ms"] = json!(percentile(&reported, 95.0));
    GateResult {
        gate,
        status,
        value: Some(p95),
        threshold: Some(t.stage_b_p95_ms),
        baseline: None,
        evidence,
        reason,
        not_applicable: false,
    }
}

/// Words of an identifier: `parse_frame_02` → `parse frame`, `HttpClient` →
/// `http client` (digits dropped).
pub fn identifier_words(id: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in id.chars() {
        if !c.is_ascii_alphabetic() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.retain(|w| w.len() >= 2);
    words
}

/// Up to `n` prose questions made from the golden set's identifiers (the
/// definition names, else the identifiers of its literal queries):
/// `how to parse frame`. The query gate judges them natural language.
pub fn prose_queries(golden: &GoldenSet, n: usize) -> Vec<String> {
    let literal = golden.lexical.iter().filter_map(|q| {
        let (_, rest) = q.query.split_once('"')?;
        Some(rest.split_once('"')?.0.to_string())
    });
    let names = golden
        .definitions
        .iter()
        .map(|d| d.name.clone())
        .chain(literal);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in names {
        let words = identifier_words(&id);
        if words.is_empty() {
            continue;
        }
        let q = format!("how to {}", words.join(" "));
        if seen.insert(q.clone()) {
            out.push(q);
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

fn state_name(s: Option<StageCState>) -> String {
    s.and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "not_semantic".to_string())
}

/// Replays natural-language queries through the `abc` path against the
/// candidate and holds the p95 wall time of those Stage-C ranked to
/// `stage_c_p95_ms` (the whole search: Stage-C's budget is the user's
/// wait). Skipped, never passed, when Stage-C cannot run: a bundle
/// without embeddings, no model, or no query it ranked.
pub fn stage_c_p95(candidate: Target<'_>, queries: &[String], t: &Thresholds) -> GateResult {
    if candidate
        .searcher
        .describe()
        .manifest
        .build
        .embeddings
        .is_none()
    {
        return GateResult::skipped(
            STAGE_C_P95,
            "the candidate's bundle has no embeddings (built without --embed): Stage-C cannot run",
        );
    }
    if matches!(candidate.bundle.model(), Model::None) {
        return GateResult::skipped(
            STAGE_C_P95,
            "no embedding model is loaded for the candidate: Stage-C cannot run",
        );
    }
    if queries.is_empty() {
        return GateResult::skipped(
            STAGE_C_P95,
            "no natural-language query to replay (no labelled set, and no identifier in the golden set)",
        );
    }
    // Untimed pass: loads a lazy model, warms the caches, and finds the
    // queries Stage-C ranks (the gate may judge some code-like).
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut ranked = Vec::new();
    for q in queries {
        let r = match natural_language_request(q) {
            Ok(r) => r,
            Err(e) => {
                errors.push(json!({"query": q, "error": e.to_string()}));
                continue;
            }
        };
        match timed(candidate.searcher, &r).1 {
            Ok(resp) => {
                let state = match &resp.stats.stage {
                    StageStats::Semantic(s) => s.stage_c,
                    _ => None,
                };
                *states.entry(state_name(state)).or_default() += 1;
                if matches!(
                    state,
                    Some(StageCState::Ran | StageCState::SkippedDeadline | StageCState::Failed)
                ) {
                    ranked.push((q, r));
                }
            }
            Err(e) => errors.push(json!({"query": q, "error": e.to_string()})),
        }
    }
    if ranked.is_empty() {
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
        let mut g = GateResult::skipped(
            STAGE_C_P95,
            format!(
                "Stage-C ran on none of {} natural-language queries ({}; {} errors)",
                queries.len(),
                states.join(", "),
                errors.len()
            ),
        );
        g.evidence = json!({"states": states, "errors": errors.len()});
        return g;
    }
    let (mut ms, mut reported) = (Vec::new(), Vec::new());
    let mut not_ran: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..t.latency_replays.max(1) {
        for (q, r) in &ranked {
            let (elapsed, resp) = timed(candidate.searcher, r);
            ms.push(elapsed);
            match resp {
                Ok(resp) => {
                    reported.extend(resp.timings.stage_c);
                    if let StageStats::Semantic(s) = &resp.stats.stage
                        && s.stage_c != Some(StageCState::Ran)
                    {
                        *not_ran.entry(state_name(s.stage_c)).or_default() += 1;
                    }
                }
                Err(e) => errors.push(json!({"query": q, "error": e.to_string()})),
            }
        }
    }
    let (ms, reported) = (sorted(ms), sorted(reported));
    let p95 = percentile(&ms, 95.0);
    let n_errors = errors.len();
    let fallbacks: usize = not_ran.values().sum();
    let ok = p95 <= t.stage_c_p95_ms && n_errors == 0 && fallbacks == 0;
    let (gate, status, reason) = judged(STAGE_C_P95, ok, || {
        format!(
            "natural-language search p95 {p95:.3} ms over {} ms ({n_errors} errors, {fallbacks} searches where Stage-C gave up)",
            t.stage_c_p95_ms
        )
    });
    errors.truncate(EXAMPLES);
    let mut evidence = latency_evidence(&ms);
    evidence["queries"] = json!(queries.len());
    evidence["ranked_by_stage_c"] = json!(ranked.len());
    evidence["first_pass_states"] = json!(states);
    evidence["stage_c_gave_up"] = json!(not_ran);
    evidence["errors"] = json!(n_errors);
    evidence["error_examples"] = json!(errors);
    evidence["reported_stage_c_p95_ms"] = json!(percentile(&reported, 95.0));
    GateResult {
        gate,
        status,
        value: Some(p95),
        threshold: Some(t.stage_c_p95_ms),
        baseline: None,
        evidence,
        reason,
        not_applicable: false,
    }
}

/// The document ids of a response's files, distinct, in rank order.
fn ranked_docs(resp: &Response, repo: Option<&str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    resp.hits
        .iter()
        .filter(|h| repo.is_none_or(|r| *h.repo == *r))
        .map(|h| doc_id(&h.path).to_string())
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

/// One side of a labelled set's run.
struct Side {
    ndcg: Vec<f64>,
    ms: Vec<f64>,
    errors: usize,
}

/// How a labelled set's candidate compares with its stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdcgVerdict {
    /// ≥ `ndcg_min_gain` better than stable.
    Improved,
    /// Within `ndcg_tie_band` of stable and faster (lower p95).
    TieWithLatencyWin,
    /// Within the band, not faster: fails.
    TieWithoutLatencyWin,
    /// Better, but by less than the required gain and more than the band: fails.
    GainTooSmall,
    /// Worse than stable beyond the band: fails.
    Regressed,
    /// The ranking config and model are the stable's (a content refresh):
    /// no gain is asked for, only no regression beyond the band.
    NotRegressedSameRanking,
}

impl NdcgVerdict {
    pub fn passed(self) -> bool {
        matches!(
            self,
            NdcgVerdict::Improved
                | NdcgVerdict::TieWithLatencyWin
                | NdcgVerdict::NotRegressedSameRanking
        )
    }
    fn as_str(self) -> &'static str {
        match self {
            NdcgVerdict::Improved => "improved",
            NdcgVerdict::TieWithLatencyWin => "tie_with_latency_win",
            NdcgVerdict::TieWithoutLatencyWin => "tie_without_latency_win",
            NdcgVerdict::GainTooSmall => "gain_below_required",
            NdcgVerdict::Regressed => "regressed",
            NdcgVerdict::NotRegressedSameRanking => "not_regressed_same_ranking",
        }
    }
}

/// The runbook's rule (Quality SLAs, "nDCG@10_improvement: ≥+2% or unchanged
/// with perf win"): pass when the candidate is ≥ `min_gain` better than
/// stable (and strictly better, so 0 against 0 is a tie), or within
/// ±`tie_band` of it with a lower p95 latency on the same queries.
pub fn ndcg_verdict(
    candidate: f64,
    stable: f64,
    candidate_p95: f64,
    stable_p95: f64,
    t: &Thresholds,
) -> NdcgVerdict {
    if candidate > stable && candidate >= stable * (1.0 + t.ndcg_min_gain) {
        NdcgVerdict::Improved
    } else if !t.ndcg_ranking_changed && candidate >= stable - stable * t.ndcg_tie_band - 1e-12 {
        NdcgVerdict::NotRegressedSameRanking
    } else if (candidate - stable).abs() <= stable * t.ndcg_tie_band + 1e-12 {
        if candidate_p95 < stable_p95 {
            NdcgVerdict::TieWithLatencyWin
        } else {
            NdcgVerdict::TieWithoutLatencyWin
        }
    } else if candidate > stable {
        NdcgVerdict::GainTooSmall
    } else {
        NdcgVerdict::Regressed
    }
}

/// nDCG@10 of each labelled set's queries (natural-language path, distinct
/// files in rank order, a file's stem its document id, a failed query 0),
/// averaged per set, candidate against stable by [`ndcg_verdict`]; every
/// set must pass. Each query runs once on each side untimed (the ranking,
/// and warm caches for both) and once timed, in alternating order.
pub fn ndcg_at_10(
    candidate: &dyn Searcher,
    stable: &dyn Searcher,
    sets: &[LabelledSet],
    t: &Thresholds,
) -> GateResult {
    const K: usize = 10;
    if sets.is_empty() {
        return GateResult::skipped(
            NDCG_AT_10,
            "no labelled set is configured ([validation] labelled)",
        );
    }
    let mut per_set = Vec::new();
    let mut failing = Vec::new();
    let (mut c_means, mut s_means) = (Vec::new(), Vec::new());
    let mut worst: Vec<serde_json::Value> = Vec::new();
    let mut not_indexed = Vec::new();
    for set in sets {
        let queries = set.judged();
        if queries.is_empty() {
            failing.push(format!("{}: no judged query", set.name));
            per_set.push(json!({"set": set.name, "queries": 0}));
            continue;
        }
        let mut c = Side {
            ndcg: Vec::new(),
            ms: Vec::new(),
            errors: 0,
        };
        let mut s = Side {
            ndcg: Vec::new(),
            ms: Vec::new(),
            errors: 0,
        };
        let mut diffs = Vec::new();
        // Whether a side returned any judged document: when neither does,
        // the set's tree is not in these bundles and nothing is measured.
        let judged_docs: BTreeSet<&str> = queries
            .iter()
            .flat_map(|(_, j)| j.keys().map(String::as_str))
            .collect();
        let (mut c_seen, mut s_seen) = (false, false);
        for (i, (q, judgement)) in queries.iter().enumerate() {
            let Ok(r) = natural_language_request(&q.text) else {
                c.ndcg.push(0.0);
                s.ndcg.push(0.0);
                c.errors += 1;
                s.errors += 1;
                continue;
            };
            let score = |side: &mut Side, seen: &mut bool, searcher: &dyn Searcher| -> f64 {
                match timed(searcher, &r).1 {
                    Ok(resp) => {
                        let docs = ranked_docs(&resp, set.repo.as_deref());
                        *seen |= docs.iter().any(|d| judged_docs.contains(d.as_str()));
                        // `+ 0.0`: an empty ranking's -0.0 reads as 0.
                        crate::ndcg_at_k(&docs, judgement, K) + 0.0
                    }
                    Err(_) => {
                        side.errors += 1;
                        0.0
                    }
                }
            };
            let cn = score(&mut c, &mut c_seen, candidate);
            let sn = score(&mut s, &mut s_seen, stable);
            c.ndcg.push(cn);
            s.ndcg.push(sn);
            if (cn - sn).abs() > 1e-12 {
                diffs.push((cn - sn, q.id.clone(), q.text.clone(), cn, sn));
            }
            let time = |side: &mut Side, searcher: &dyn Searcher| {
                side.ms.push(timed(searcher, &r).0);
            };
            if i % 2 == 0 {
                time(&mut c, candidate);
                time(&mut s, stable);
            } else {
                time(&mut s, stable);
                time(&mut c, candidate);
            }
        }
        if !c_seen && !s_seen {
            not_indexed.push(set.name.clone());
            per_set.push(json!({
                "set": set.name,
                "queries": queries.len(),
                "verdict": "not_indexed",
                "candidate_errors": c.errors,
                "stable_errors": s.errors,
            }));
            continue;
        }
        let (cm, sm) = (crate::mean(&c.ndcg), crate::mean(&s.ndcg));
        let (cms, sms) = (sorted(c.ms), sorted(s.ms));
        let (cp95, sp95) = (percentile(&cms, 95.0), percentile(&sms, 95.0));
        let verdict = ndcg_verdict(cm, sm, cp95, sp95, t);
        let change = if sm > 0.0 { (cm - sm) / sm } else { 0.0 };
        if !verdict.passed() {
            failing.push(format!(
                "{}: nDCG@10 {cm:.4} vs stable {sm:.4} ({:+.2}%), p95 {cp95:.2} ms vs {sp95:.2} ms: {} (needs ≥ +{:.0}%, or within ±{:.1}% and faster)",
                set.name,
                change * 100.0,
                verdict.as_str(),
                t.ndcg_min_gain * 100.0,
                t.ndcg_tie_band * 100.0,
            ));
        }
        diffs.sort_by(|a, b| a.0.total_cmp(&b.0));
        worst.extend(diffs.iter().take(5).map(|(_, id, text, cn, sn)| {
            json!({"set": set.name, "query_id": id, "query": text, "candidate": cn, "stable": sn})
        }));
        c_means.push(cm);
        s_means.push(sm);
        per_set.push(json!({
            "set": set.name,
            "dir": set.dir.display().to_string(),
            "queries": queries.len(),
            "max_queries": set.max_queries,
            "candidate_ndcg_at_10": cm,
            "stable_ndcg_at_10": sm,
            "change": change,
            "candidate_p95_ms": cp95,
            "stable_p95_ms": sp95,
            "candidate_errors": c.errors,
            "stable_errors": s.errors,
            "verdict": verdict.as_str(),
        }));
    }
    if c_means.is_empty() && failing.is_empty() {
        let why = if not_indexed.is_empty() {
            "no labelled set has a judged query".to_string()
        } else {
            format!(
                "neither the candidate nor the stable returned any judged document of {}: the sets' trees are not in these bundles (index each as its own repository)",
                not_indexed.join(", ")
            )
        };
        let mut g = GateResult::skipped(NDCG_AT_10, why);
        g.evidence = json!({"sets": per_set});
        return g;
    }
    let (value, baseline) = (crate::mean(&c_means), crate::mean(&s_means));
    let (gate, status, reason) = judged(NDCG_AT_10, failing.is_empty(), || failing.join("; "));
    GateResult {
        gate,
        status,
        value: Some(value),
        threshold: Some(if t.ndcg_ranking_changed {
            baseline * (1.0 + t.ndcg_min_gain)
        } else {
            baseline * (1.0 - t.ndcg_tie_band)
        }),
        baseline: Some(baseline),
        evidence: json!({
            "k": K,
            "rule": if t.ndcg_ranking_changed {
                format!(
                    "candidate ≥ stable × {:.2}, or within ±{:.1}% of stable with a lower p95",
                    1.0 + t.ndcg_min_gain,
                    t.ndcg_tie_band * 100.0
                )
            } else {
                format!(
                    "same ranking config and model as stable (a content refresh): candidate ≥ stable × {:.3}",
                    1.0 - t.ndcg_tie_band
                )
            },
            "sets": per_set,
            "not_indexed": not_indexed,
            "largest_drops": worst,
        }),
        reason,
        not_applicable: false,
    }
}
