//! Route handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use lens_core::query::{Expr, Pattern};
use lens_core::semantic::Stages;
use lens_core::{Deadline, Limits, Outcome, Planned};
use serde::{Deserialize, Serialize};

use super::dashboard::{Window, tail_compliant};
use super::error::ApiError;
use super::metrics::{DecisionLabel, OutcomeLabel, StageLabel};
use super::navigation::{definition, hover, references};
use super::semantic::ModelState;
use super::{AppState, LoadedBundle};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(page))
        .route("/search", get(search_get).post(search_post))
        .route("/file", get(file))
        .route("/symbols", get(symbols_get))
        .route("/definition", get(definition))
        .route("/references", get(references))
        .route("/hover", get(hover))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/monitoring/dashboard", get(dashboard))
        .route("/admin/reload", post(reload))
        .route("/openapi.json", get(openapi))
}

/// The web page: search box, highlighted results, file view; no external assets.
async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("page.html"),
    )
        .into_response()
}

/// The API description, kept in `docs/openapi.json` and checked for drift by the tests.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// Default and maximum search time.
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_CONTEXT_LINES: usize = 10;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Query in the lens query language.
    q: Option<String>,
    limit: Option<usize>,
    exhaustive: Option<bool>,
    /// Opaque cursor from a previous exhaustive page.
    cursor: Option<String>,
    timeout_ms: Option<u64>,
    /// Lines of context around each match (default 1).
    context: Option<usize>,
    /// Filters ANDed to the query.
    lang: Option<String>,
    repo: Option<String>,
    file: Option<String>,
    /// Stages for natural-language queries: `abc` (default), `ab`, `a`, or `exact`.
    stages: Option<String>,
}

/// The `stages` parameter: `None` reads every query as the exact query language.
fn parse_stages(s: Option<&str>) -> Result<Option<Stages>, ApiError> {
    match s.unwrap_or("abc") {
        "exact" => Ok(None),
        "a" => Ok(Some(Stages {
            symbols: false,
            semantic: false,
        })),
        "ab" => Ok(Some(Stages {
            symbols: true,
            semantic: false,
        })),
        "abc" => Ok(Some(Stages::default())),
        other => Err(ApiError::bad_request(
            "invalid_parameters",
            format!("stages must be exact, a, ab or abc, not {other:?}"),
        )),
    }
}

/// Query-string problems (unknown or malformed parameters) as JSON errors.
fn params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request("invalid_parameters", e.body_text()))
}

async fn search_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q).inspect_err(|_| st.metrics.reject("invalid_parameters"))?;
    run_search(st, p, false).await
}

/// `/symbols`: the query is a symbol query (bare terms match definition names).
async fn symbols_get(
    State(st): State<Arc<AppState>>,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q).inspect_err(|_| st.metrics.reject("invalid_parameters"))?;
    run_search(st, p, true).await
}

async fn search_post(
    State(st): State<Arc<AppState>>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        st.metrics.reject("body_rejected");
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(e.status(), code, e.body_text())
    })?;
    let p: SearchParams = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))?;
    run_search(st, p, false).await
}

#[derive(serde::Serialize, Deserialize)]
struct Cursor {
    o: usize,
    f: String,
}

/// Identifies a query on one bundle; a cursor is only valid for the same pair.
fn fingerprint(p: &SearchParams, bundle: &LoadedBundle) -> String {
    let key = serde_json::json!([p.q, p.lang, p.repo, p.file, p.exhaustive, bundle.id]);
    lens_core::bundle::checksum(key.to_string().as_bytes())
}

fn regex_filter(text: &str) -> Pattern {
    Pattern {
        text: text.to_string(),
        is_regex: true,
        position: 0,
    }
}

async fn run_search(
    st: Arc<AppState>,
    p: SearchParams,
    symbols_only: bool,
) -> Result<Response, ApiError> {
    let limits_cfg = &st.config.limits;
    let reject = |reason: &'static str, msg: String| {
        st.metrics.reject(reason);
        ApiError::bad_request(reason, msg)
    };
    let q = p.q.as_deref().map(str::trim).unwrap_or("");
    if q.is_empty() {
        return Err(reject("missing_query", "give a query in q".into()));
    }
    if q.len() > limits_cfg.max_query_bytes {
        return Err(reject(
            "query_too_long",
            format!(
                "query is {} bytes; the limit is {}",
                q.len(),
                limits_cfg.max_query_bytes
            ),
        ));
    }
    let limit = p.limit.unwrap_or(lens_core::limits::DEFAULT_LIMIT);
    if limit == 0 || limit > limits_cfg.max_limit {
        return Err(reject(
            "invalid_limit",
            format!("limit must be 1..={}", limits_cfg.max_limit),
        ));
    }
    let context = p.context.unwrap_or(1);
    if context > MAX_CONTEXT_LINES {
        return Err(reject(
            "invalid_context",
            format!("context must be 0..={MAX_CONTEXT_LINES}"),
        ));
    }
    let exhaustive = p.exhaustive.unwrap_or(false);
    let timeout = Duration::from_millis(
        p.timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT_MS)
            .clamp(1, MAX_TIMEOUT_MS),
    );
    let bundle = st.bundle.load_full();
    let fp = fingerprint(&p, &bundle) + if symbols_only { "s" } else { "" };
    let offset = match &p.cursor {
        None => 0,
        Some(c) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| reject("invalid_cursor", "cursor is not valid".into()))?;
            let cur: Cursor = serde_json::from_slice(&bytes)
                .map_err(|_| reject("invalid_cursor", "cursor is not valid".into()))?;
            if !exhaustive || cur.f != fp {
                return Err(reject(
                    "invalid_cursor",
                    "cursor belongs to another query or bundle".into(),
                ));
            }
            cur.o
        }
    };

    let stages = parse_stages(p.stages.as_deref())
        .inspect_err(|_| st.metrics.reject("invalid_parameters"))?;
    let has_filters = p.lang.is_some() || p.repo.is_some() || p.file.is_some();
    // Only a plain ranked query is judged by the gate: filters, symbol routes and
    // exhaustive searches ask for exact matching.
    let gated = stages.is_some() && !has_filters && !symbols_only && !exhaustive;
    let limits = if exhaustive {
        Limits {
            max_regex_size: limits_cfg.max_regex_bytes,
            ..Limits::exhaustive()
        }
    } else {
        Limits {
            max_regex_size: limits_cfg.max_regex_bytes,
            ..Limits::top(limit)
        }
    };
    let planned = if gated {
        Planned::from_text(q, limits, stages)
    } else {
        lens_core::parse(q).and_then(|mut query| {
            query.symbols |= symbols_only;
            let mut filters = Vec::new();
            if let Some(l) = &p.lang {
                filters.push(Expr::Lang(l.to_ascii_lowercase()));
            }
            if let Some(r) = &p.repo {
                filters.push(Expr::Repo(regex_filter(r)));
            }
            if let Some(f) = &p.file {
                filters.push(Expr::File(regex_filter(f)));
            }
            if !filters.is_empty() {
                filters.insert(0, query.expr);
                query.expr = Expr::And(filters);
            }
            Planned::from_query(&query, limits)
        })
    };
    let mut plan = planned.inspect_err(|e| st.metrics.reject(e.code()))?;
    if gated {
        let decision = if matches!(plan, Planned::Semantic(_)) {
            "natural_language"
        } else {
            st.semantic.window.record_lexical();
            "code"
        };
        st.metrics
            .semantic_gate
            .get_or_create(&DecisionLabel {
                decision: decision.into(),
            })
            .inc();
    }
    if matches!(plan, Planned::Symbols(_)) && bundle.reader.symbols().is_none() {
        st.metrics.reject("no_symbol_table");
        return Err(ApiError::bad_request(
            "no_symbol_table",
            "this bundle has no symbol table (built with --no-symbols); sym:, kind: and type:symbol need one",
        ));
    }
    // Alone, a search verifies on both cores; beside others, on its own thread.
    if let Planned::Text(plan) = &mut plan {
        plan.parallel = st.inflight.available_permits() == st.config.limits.max_inflight.max(1);
    }
    let Ok(permit) = st.inflight.clone().try_acquire_owned() else {
        st.metrics.shed.inc();
        st.metrics.reject("overloaded");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many searches in flight; retry shortly",
        )
        .retry_after(1));
    };
    let started = Instant::now();
    let deadline = Deadline::after(timeout);
    let worker_bundle = bundle.clone();
    let worker_state = st.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        lens_core::execute_with(
            &worker_bundle.reader,
            &plan,
            &deadline,
            worker_state.semantic.stage_c.as_ref(),
        )
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "search task failed",
        )
    })?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(r) => r,
        Err(e) => {
            st.window.record(elapsed_s * 1e3, false, true);
            return Err(e.into());
        }
    };
    let m = &st.metrics;
    let observe = |stage: &str, seconds: f64| {
        m.stage_seconds
            .get_or_create(&StageLabel {
                stage: stage.into(),
            })
            .observe(seconds);
    };
    let (page, total, stats, timings) = match &outcome {
        Outcome::Text(result) => {
            let stage_b_s = result.stats.stage_b_ms / 1e3;
            let stage_a_s = (elapsed_s - stage_b_s).max(0.0);
            observe("stage_a", stage_a_s);
            let has_symbols = bundle.reader.symbols().is_some();
            if has_symbols {
                observe("stage_b", stage_b_s);
                st.stage_b_window.record(stage_b_s * 1e3, false, false);
            }
            m.candidates.observe(result.stats.candidates as f64);
            m.matches.observe(result.stats.matches as f64);
            if result.stats.early_terminated {
                m.early_terminations.inc();
            }
            if result.stats.timed_out {
                m.timeouts.inc();
            }
            st.window
                .record(stage_a_s * 1e3, result.stats.early_terminated, false);
            let page: Vec<PageItem> = result
                .hits
                .iter()
                .skip(offset)
                .take(limit)
                .map(|h| PageItem::Hit(hit_json(&bundle, h, context)))
                .collect();
            let timings = serde_json::json!({
                "stage_a": stage_a_s * 1e3,
                "stage_b": has_symbols.then_some(stage_b_s * 1e3),
                "stage_c": null,
            });
            (
                page,
                result.hits.len(),
                serde_json::to_value(&result.stats).expect("stats serialise"),
                timings,
            )
        }
        Outcome::Semantic(result) => {
            let s = &result.stats;
            observe("stage_a", s.stage_a_ms / 1e3);
            if let Some(b) = s.stage_b_ms {
                observe("stage_b", b / 1e3);
                st.stage_b_window.record(b, false, false);
            }
            if let Some(c) = s.stage_c_ms {
                observe("stage_c", c / 1e3);
            }
            st.window.record(s.stage_a_ms, false, false);
            st.semantic.window.record_semantic(s);
            if let Some(state) = s.stage_c {
                let outcome = serde_json::to_value(state).expect("state serialises");
                m.stage_c_queries
                    .get_or_create(&OutcomeLabel {
                        outcome: outcome.as_str().unwrap_or("unknown").to_string(),
                    })
                    .inc();
            }
            m.stage_c_candidates_scored.inc_by(s.scored as u64);
            m.stage_c_candidates_cut_off.inc_by(s.cut_off as u64);
            if s.timed_out {
                m.timeouts.inc();
            }
            let page: Vec<PageItem> = result
                .hits
                .iter()
                .take(limit)
                .map(|h| PageItem::Hit(hit_json(&bundle, h, context)))
                .collect();
            let timings = serde_json::json!({
                "stage_a": s.stage_a_ms,
                "stage_b": s.stage_b_ms,
                "stage_c": s.stage_c_ms,
            });
            (
                page,
                result.hits.len(),
                serde_json::to_value(s).expect("stats serialise"),
                timings,
            )
        }
        Outcome::Symbols(result) => {
            observe("stage_b", elapsed_s);
            st.stage_b_window.record(elapsed_s * 1e3, false, false);
            if result.stats.timed_out {
                m.timeouts.inc();
            }
            let page: Vec<PageItem> = result
                .hits
                .iter()
                .skip(offset)
                .take(limit)
                .map(|h| PageItem::Other(symbol_json(&bundle, h, context)))
                .collect();
            let timings =
                serde_json::json!({"stage_a": null, "stage_b": elapsed_s * 1e3, "stage_c": null});
            (
                page,
                result.hits.len(),
                serde_json::to_value(&result.stats).expect("stats serialise"),
                timings,
            )
        }
    };
    let next = offset + page.len();
    let next_cursor = (exhaustive && next < total).then(|| {
        let c = serde_json::to_vec(&Cursor {
            o: next,
            f: fp.clone(),
        })
        .expect("cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c)
    });
    let mut stats = stats;
    stats["offset"] = offset.into();
    stats["total_results"] = total.into();
    let body = SearchBody {
        next_cursor,
        results: page,
        stats,
        timings,
    };
    Ok(Json(body).into_response())
}

/// The `/search` response, serialised straight from the hits (no `Value` per
/// hit). Fields keep the alphabetical order the earlier `json!` body printed.
#[derive(Serialize)]
struct SearchBody<'a> {
    next_cursor: Option<String>,
    results: Vec<PageItem<'a>>,
    stats: serde_json::Value,
    timings: serde_json::Value,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PageItem<'a> {
    Hit(HitJson<'a>),
    Other(serde_json::Value),
}

/// One text hit; fields in alphabetical order (see [`SearchBody`]).
#[derive(Serialize)]
struct HitJson<'a> {
    abs_end: u64,
    abs_start: u64,
    context_after: Vec<String>,
    context_before: Vec<String>,
    definition: bool,
    end: usize,
    language: &'a str,
    line: u64,
    path: &'a str,
    repo: &'a str,
    /// f32 widened as `Value` widens it, so scores print as before.
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    signals: Option<serde_json::Value>,
    snippet: &'a str,
    start: usize,
    symbol: Option<&'a lens_core::search::EnclosingSymbol>,
}

fn symbol_json(
    bundle: &LoadedBundle,
    h: &lens_core::symbols::SymbolHit,
    context: usize,
) -> serde_json::Value {
    let r = &bundle.reader;
    let content = r.content(&r.docs().get(h.doc));
    let (before, after) = context_lines(content, (h.abs_start - h.start as u64) as usize, context);
    let mut v = serde_json::to_value(h).expect("symbol hit serialises");
    v["context_before"] = before.into();
    v["context_after"] = after.into();
    v
}

fn hit_json<'a>(bundle: &LoadedBundle, h: &'a lens_core::Hit, context: usize) -> HitJson<'a> {
    let r = &bundle.reader;
    let rec = r.docs().get(h.doc);
    let content = r.content(&rec);
    let (context_before, context_after) = if h.line > 0 {
        context_lines(content, (h.abs_start - h.start as u64) as usize, context)
    } else {
        (vec![], vec![])
    };
    HitJson {
        abs_end: h.abs_end,
        abs_start: h.abs_start,
        context_after,
        context_before,
        definition: h.definition,
        end: h.end,
        language: &h.language,
        line: h.line,
        path: &h.path,
        repo: &h.repo,
        score: f64::from(h.score),
        signals: h
            .signals
            .as_ref()
            .map(|s| serde_json::to_value(s).expect("signals serialise")),
        snippet: &h.snippet,
        start: h.start,
        symbol: h.symbol.as_ref(),
    }
}

/// Up to `n` whole lines before and after the line starting at `line_start`.
fn context_lines(content: &[u8], line_start: usize, n: usize) -> (Vec<String>, Vec<String>) {
    let mut before = Vec::new();
    let mut end = line_start;
    while before.len() < n && end > 0 {
        let prev_end = end - 1; // the '\n' ending the previous line
        let start = memchr_rev(&content[..prev_end]).map_or(0, |i| i + 1);
        before.push(String::from_utf8_lossy(&content[start..prev_end]).into_owned());
        end = start;
    }
    before.reverse();
    let mut after = Vec::new();
    let mut pos = content[line_start..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| line_start + i + 1);
    while after.len() < n {
        let Some(s) = pos.filter(|&s| s < content.len()) else {
            break;
        };
        let e = content[s..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(content.len(), |i| s + i);
        after.push(String::from_utf8_lossy(&content[s..e]).into_owned());
        pos = Some(e + 1);
    }
    (before, after)
}

fn memchr_rev(hay: &[u8]) -> Option<usize> {
    hay.iter().rposition(|&b| b == b'\n')
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    repo: String,
    path: String,
}

async fn file(
    State(st): State<Arc<AppState>>,
    q: Result<Query<FileParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let bundle = st.bundle.load_full();
    // Only files recorded in the bundle are served, so no path can leave it.
    let Some(&doc) = bundle.by_path.get(&(p.repo.clone(), p.path.clone())) else {
        return Err(ApiError::not_found(format!(
            "no file {:?} in repository {:?}",
            p.path, p.repo
        )));
    };
    let r = &bundle.reader;
    let rec = r.docs().get(doc);
    let content = r.content(&rec);
    Ok(Json(serde_json::json!({
        "repo": p.repo, "path": p.path, "language": r.language(&rec), "bytes": content.len(),
        "lines": content.iter().filter(|&&b| b == b'\n').count() + usize::from(!content.is_empty() && !content.ends_with(b"\n")),
        "content": String::from_utf8_lossy(content),
    }))
    .into_response())
}

fn health_json(st: &AppState) -> serde_json::Value {
    let bundle = st.bundle.load();
    let m = bundle.reader.manifest();
    let (stage_c, reasons) = stage_c_health(st, &bundle);
    let status = if reasons.is_empty() { "ok" } else { "degraded" };
    serde_json::json!({
        "status": status,
        "reasons": reasons,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": st.started.elapsed().as_secs(),
        "bundle": {
            "path": st.bundle_dir, "loaded": true, "verified": true, "loaded_at": bundle.loaded_at,
            "format_version": m.format_version, "api_version": m.api_version, "bundle_version": m.bundle_version,
            "created_at": m.created_at, "files": m.counts.files, "bytes": m.counts.bytes,
            "text_index": m.build.text_index,
        },
        "stages": {
            "stage_a": {"state": "available", "bm25": if m.build.text_index { "available" } else { "not_in_bundle" }},
            "stage_b": {
                "state": if m.build.symbols { "available" } else { "not_in_bundle" },
                "definitions": m.counts.symbols,
                "precise": m.build.precise.iter().map(|p| serde_json::json!({"format": p.format, "tool": p.tool, "documents_matched": p.documents_matched})).collect::<Vec<_>>(),
            },
            "stage_c": stage_c,
        },
        "rate_limit": {"backend": "in-process GCRA (governor)", "requests_per_second": st.config.limits.requests_per_second, "burst": st.config.limits.burst},
        "policy": st.policy.as_str(),
    })
}

/// Stage-C's state for `/health`, and the reasons it makes the service degraded: a missing
/// or failed model, or a bundle whose embeddings another model made.
fn stage_c_health(st: &AppState, bundle: &LoadedBundle) -> (serde_json::Value, Vec<String>) {
    let sem = &st.semantic;
    let info = bundle.reader.manifest().build.embeddings.as_ref();
    let model = sem.stage_c.as_ref().map(|s| s.embedder().id());
    let mut reasons = Vec::new();
    match &sem.state {
        ModelState::Missing(why) => reasons.push(format!("embedding model missing: {why}")),
        ModelState::Failed(why) => reasons.push(format!("embedding model failed: {why}")),
        ModelState::Loaded | ModelState::Disabled(_) => {}
    }
    let mismatch = matches!((info, model), (Some(i), Some(m)) if i.model.sha256 != m.sha256);
    if mismatch {
        reasons.push("the bundle's embeddings come from another model than the one loaded".into());
    }
    let state = match (&sem.state, info) {
        (ModelState::Loaded, Some(_)) if !mismatch => "available",
        (ModelState::Loaded, Some(_)) => "model_mismatch",
        (ModelState::Loaded, None) => "not_in_bundle",
        (s, _) => s.as_str(),
    };
    let json = serde_json::json!({
        "state": state,
        "model": {
            "state": sem.state.as_str(),
            "reason": sem.state.reason(),
            "id": model.map(|m| &m.model_id),
            "sha256": model.map(|m| &m.sha256),
        },
        "embeddings": info.map(|i| serde_json::json!({"model": i.model.model_id, "sha256": i.model.sha256, "chunks": i.chunks, "quantisation": i.quantisation})),
    });
    (json, reasons)
}

/// Stage-C's figures for the dashboard.
fn stage_c_json(st: &AppState) -> serde_json::Value {
    let w = st.semantic.window.summary();
    let (hits, misses) = st
        .semantic
        .stage_c
        .as_ref()
        .map_or((0, 0), |s| s.cache_counts());
    let mut v = serde_json::to_value(&w).expect("summary serialises");
    v["model_state"] = st.semantic.state.as_str().into();
    v["query_cache_hit_rate"] = if hits + misses == 0 {
        0.0
    } else {
        hits as f64 / (hits + misses) as f64
    }
    .into();
    v
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    Json(health_json(&st)).into_response()
}

/// Stage-B's figures, from the served bundle and the Stage-B window.
fn stage_b_json(st: &AppState) -> serde_json::Value {
    let bundle = st.bundle.load();
    let r = &bundle.reader;
    let cache = r.symbol_cache();
    let w = st.stage_b_window.summary();
    serde_json::json!({
        "requests": w.requests,
        "p95_latency_ms": w.p95_latency_ms,
        "p99_latency_ms": w.p99_latency_ms,
        "lsif_coverage_percent": bundle.lsif_coverage_percent,
        "lru_cache_hit_rate": cache.hit_rate(),
        "lru_cache_lookups": cache.hits() + cache.misses(),
        "pattern_compile_time_ms": r.manifest().build.tags_query_compile_us as f64 / 1e3,
        "definitions": r.manifest().counts.symbols,
    })
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    {
        let bundle = st.bundle.load();
        let cache = bundle.reader.symbol_cache();
        let m = &st.metrics;
        m.symbol_cache_hit_ratio.set(cache.hit_rate());
        m.symbol_cache_lookups
            .set((cache.hits() + cache.misses()) as f64);
        m.precise_coverage_ratio
            .set(bundle.lsif_coverage_percent / 100.0);
        m.tags_query_compile_seconds
            .set(bundle.reader.manifest().build.tags_query_compile_us as f64 / 1e6);
        m.model_loaded
            .set(i64::from(st.semantic.state == ModelState::Loaded));
        if let Some(s) = &st.semantic.stage_c {
            let (hits, misses) = s.cache_counts();
            m.query_embedding_cache_hits.set(hits as i64);
            m.query_embedding_cache_misses.set(misses as i64);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

async fn dashboard(State(st): State<Arc<AppState>>) -> Response {
    let a = st.window.summary();
    let alerts = Window::alerts(&a);
    let health = health_json(&st);
    Json(serde_json::json!({
        "dashboard_state": {
            "metrics": {"performance": {"stageA": a, "stageB": stage_b_json(&st), "stageC": stage_c_json(&st)}},
            "sla_compliance": {
                "tail_latency_compliant": tail_compliant(&a),
                "stage_a_p95_within_slo": a.p95_latency_ms <= super::dashboard::STAGE_A_P95_SLO_MS,
                "window_seconds": 300,
            },
            "health": {"status": health["status"], "reasons": health["reasons"]},
            "recent_alerts": alerts,
        }
    }))
    .into_response()
}

async fn reload(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let dir = st.bundle_dir.clone();
    let opened = tokio::task::spawn_blocking(move || LoadedBundle::open(&dir))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "reload task failed",
            )
        })?;
    match opened {
        Ok(b) => {
            let files = b.reader.manifest().counts.files;
            let version = b.reader.manifest().bundle_version.clone();
            st.bundle.store(Arc::new(b));
            Ok(Json(
                serde_json::json!({"reloaded": true, "bundle_version": version, "files": files}),
            )
            .into_response())
        }
        // The old bundle keeps serving.
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reload_failed",
            format!("kept the current bundle: {e}"),
        )),
    }
}
