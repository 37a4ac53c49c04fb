//! What operators read and do: `/health`, `/metrics`, `/monitoring/dashboard`,
//! `/admin/reload`; and the static pages (`/`, `/openapi.json`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use lens_core::{Engine, Searcher};

use super::super::AppState;
use super::super::dashboard::{Window, tail_compliant};
use super::super::semantic::ModelState;
use super::blocking;
use crate::errors::{ApiError, ErrorCode};

/// The web page: search box, highlighted results, file view; no external assets.
pub async fn page() -> Response {
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
pub const OPENAPI_JSON: &str = include_str!("../../../../docs/openapi.json");

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// Whether the bundle directory still holds the bundle being served: `current`,
/// `changed` (rebuilt; `/admin/reload` swaps it in) or `missing`.
fn on_disk(engine: &Engine) -> &'static str {
    let path = engine.describe().dir.join("manifest.xxh3");
    match std::fs::read_to_string(path) {
        Ok(sum) if sum.trim() == engine.reader().manifest_checksum() => "current",
        Ok(_) => "changed",
        Err(_) => "missing",
    }
}

fn health_json(st: &AppState) -> serde_json::Value {
    let engine = st.engine.load();
    let d = engine.describe();
    let m = &d.manifest;
    let (stage_c, mut reasons) = stage_c_health(st, &engine);
    let disk = on_disk(&engine);
    if disk == "missing" {
        reasons.push(format!(
            "the bundle directory {} no longer holds a bundle; the loaded one keeps serving",
            d.dir.display()
        ));
    }
    let releases = releases_health(st, &mut reasons);
    let status = if reasons.is_empty() { "ok" } else { "degraded" };
    serde_json::json!({
        "status": status,
        "releases": releases,
        "reasons": reasons,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": st.started.elapsed().as_secs(),
        "bundle": {
            "path": st.bundle_dir,
            // Opening verified every file's checksum (or refused the bundle); it still holds
            // while the directory on disk is the one that was verified.
            "loaded": true, "verified": disk == "current", "verified_files": m.files.len(),
            "loaded_at": d.loaded_at, "on_disk": disk, "id": d.id,
            "format_version": m.format_version, "api_version": m.api_version, "bundle_version": m.bundle_version,
            "created_at": m.created_at, "files": m.counts.files, "bytes": m.counts.bytes,
            "text_index": m.build.text_index,
        },
        "stages": {
            "stage_a": {
                "state": "available",
                "bm25": if m.build.text_index { "available" } else { "not_in_bundle" },
                // Sparse n-grams made with other weights than this build's are not read.
                "sparse_grams": match (&m.build.sparse_grams, engine.reader().has_sparse_grams()) {
                    (_, true) => "available",
                    (Some(_), false) => "other_weights",
                    (None, false) => "not_in_bundle",
                },
            },
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
fn stage_c_health(st: &AppState, engine: &Engine) -> (serde_json::Value, Vec<String>) {
    let sem = &st.semantic;
    let info = engine.describe().manifest.build.embeddings.as_ref();
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

pub async fn health(State(st): State<Arc<AppState>>) -> Response {
    Json(health_json(&st)).into_response()
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

/// Stage-B's figures, from the served bundle and the Stage-B window.
fn stage_b_json(st: &AppState) -> serde_json::Value {
    let engine = st.engine.load();
    let r = engine.reader();
    let cache = r.symbol_cache();
    let w = st.stage_b_window.summary();
    serde_json::json!({
        "requests": w.requests,
        "p95_latency_ms": w.p95_latency_ms,
        "p99_latency_ms": w.p99_latency_ms,
        "lsif_coverage_percent": engine.describe().lsif_coverage_percent,
        "lru_cache_hit_rate": cache.hit_rate(),
        "lru_cache_lookups": cache.hits() + cache.misses(),
        "pattern_compile_time_ms": r.manifest().build.tags_query_compile_us as f64 / 1e3,
        "definitions": r.manifest().counts.symbols,
    })
}

/// Prometheus text by default; OpenMetrics when the scraper's `Accept` asks for it.
pub async fn metrics(State(st): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    {
        let engine = st.engine.load();
        let r = engine.reader();
        let cache = r.symbol_cache();
        let m = &st.metrics;
        m.symbol_cache_hit_ratio.set(cache.hit_rate());
        m.symbol_cache_lookups
            .set((cache.hits() + cache.misses()) as f64);
        m.precise_coverage_ratio
            .set(engine.describe().lsif_coverage_percent / 100.0);
        m.tags_query_compile_seconds
            .set(r.manifest().build.tags_query_compile_us as f64 / 1e6);
        m.model_loaded
            .set(i64::from(st.semantic.state == ModelState::Loaded));
        if let Some(s) = &st.semantic.stage_c {
            let (hits, misses) = s.cache_counts();
            m.query_embedding_cache_hits.set(hits as i64);
            m.query_embedding_cache_misses.set(misses as i64);
        }
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            st.metrics.encode_openmetrics(),
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            st.metrics.encode(),
        )
            .into_response()
    }
}

/// The releases served, and why the rollout is degraded when it is: an
/// untrusted state file (the candidate held at 0%), or a candidate the state
/// names that could not be opened.
fn releases_health(st: &AppState, reasons: &mut Vec<String>) -> serde_json::Value {
    let Some(r) = &st.releases else {
        return serde_json::Value::Null;
    };
    let snap = r.snapshot();
    if let Some(why) = &snap.unsafe_reason {
        reasons.push(format!(
            "the rollout state cannot be trusted ({why}); the candidate is held at 0%"
        ));
    }
    let named = snap.state.candidate.as_ref().map(|c| c.version.to_string());
    let loaded = r.candidate().map(|c| c.version.to_string());
    if named.is_some() && named != loaded {
        reasons.push(format!(
            "candidate {} cannot be opened; it gets no traffic (the server log has the cause)",
            named.as_deref().unwrap_or("")
        ));
    }
    serde_json::json!({
        "store": r.store.root(), "stable": snap.state.stable.as_ref().map(|s| s.version.to_string()),
        "candidate": named, "candidate_loaded": loaded.is_some(),
        "traffic_percent": snap.traffic_percent(), "state_trusted": snap.unsafe_reason.is_none(),
    })
}

/// `dashboard_state.canary`: the rollout at a glance (the whole of it is `/canary/status`).
fn canary_dashboard(st: &AppState) -> serde_json::Value {
    let Some(r) = &st.releases else {
        return serde_json::Value::Null;
    };
    let s = r.status_json();
    let c = &s["canary_deployment"];
    serde_json::json!({
        "trafficPercentage": c["trafficPercentage"], "stage": c["stage"], "phase": c["phase"],
        "candidate": c["candidate"], "stable": c["stable"], "nextStage": c["nextStage"],
        "killSwitch": c["killSwitch"], "state_trusted": c["state"]["trusted"],
        "arms": c["arms"], "last_interval": c["intervals"].get(0),
        "consecutive_failures": c["consecutive_failures"],
        "rollbacks": c["rollback_events"].as_array().map_or(0, Vec::len),
    })
}

pub async fn dashboard(State(st): State<Arc<AppState>>) -> Response {
    let a = st.window.summary();
    let alerts = Window::alerts(&a);
    let health = health_json(&st);
    Json(serde_json::json!({
        "dashboard_state": {
            "metrics": {"performance": {"stageA": a, "stageB": stage_b_json(&st), "stageC": stage_c_json(&st)}},
            "sla_compliance": {
                "tail_latency_compliant": tail_compliant(&a),
                "stage_a_p95_within_slo": a.p95_latency_ms <= lens_core::thresholds::thresholds().stage_a_p95_ms,
                "window_seconds": 300,
            },
            "health": {"status": health["status"], "reasons": health["reasons"]},
            "recent_alerts": alerts,
            "canary": canary_dashboard(&st),
            "quality_gates": super::quality_gates_dashboard(&st),
            "validation": super::validation_dashboard(&st),
        }
    }))
    .into_response()
}

pub async fn reload(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let state = st.clone();
    let opened = blocking(move || Ok(state.open_engine())).await?;
    match opened {
        Ok(engine) => {
            let m = engine.describe().manifest.clone();
            st.engine.store(Arc::new(engine));
            Ok(Json(serde_json::json!({
                "reloaded": true, "bundle_version": m.bundle_version, "files": m.counts.files,
            }))
            .into_response())
        }
        // The old bundle keeps serving.
        Err(e) => Err(ApiError::new(
            ErrorCode::ReloadFailed,
            format!("kept the current bundle: {e}"),
        )),
    }
}
