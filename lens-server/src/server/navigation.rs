//! `/definition`, `/references` and `/hover`: code navigation at a position.
//! Precise (SCIP/LSIF) data answers where it exists; otherwise the symbol
//! table and a whole-word search do, with `"precise": false`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lens_core::Deadline;
use lens_core::navigate;
use serde::Deserialize;

use super::error::ApiError;
use super::metrics::StageLabel;
use super::{AppState, LoadedBundle};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(5);

/// A position: `line` is 1-based (as in results), `character` a 0-based byte
/// offset within the line (a result's `start`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionParams {
    repo: String,
    path: String,
    line: u64,
    character: usize,
    limit: Option<usize>,
}

/// Resolves the position to (doc, byte offset) or a 4xx.
fn locate(bundle: &LoadedBundle, p: &PositionParams) -> Result<(u32, u32), ApiError> {
    let Some(&doc) = bundle.by_path.get(&(p.repo.clone(), p.path.clone())) else {
        return Err(ApiError::not_found(format!(
            "no file {:?} in repository {:?}",
            p.path, p.repo
        )));
    };
    if p.line == 0 {
        return Err(ApiError::bad_request("invalid_position", "line is 1-based"));
    }
    let at = navigate::offset(&bundle.reader, doc, p.line, p.character).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_position",
            format!(
                "{}:{}:{} is past the end of the line or file",
                p.path, p.line, p.character
            ),
        )
    })?;
    Ok((doc, at))
}

fn limit(p: &PositionParams) -> Result<usize, ApiError> {
    let l = p.limit.unwrap_or(DEFAULT_LIMIT);
    if l == 0 || l > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={MAX_LIMIT}"),
        ));
    }
    Ok(l)
}

fn params(
    st: &AppState,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<PositionParams, ApiError> {
    q.map(|Query(p)| p).map_err(|e| {
        st.metrics.reject("invalid_parameters");
        ApiError::bad_request("invalid_parameters", e.body_text())
    })
}

/// Runs a navigation off the async executor and records it as Stage-B.
async fn run<T: Send + 'static>(
    st: &Arc<AppState>,
    work: impl FnOnce(&LoadedBundle) -> Result<T, ApiError> + Send + 'static,
) -> Result<(T, f64), ApiError> {
    let bundle = st.bundle.load_full();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || work(&bundle))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "navigation task failed",
            )
        })??;
    let s = started.elapsed().as_secs_f64();
    st.metrics
        .stage_seconds
        .get_or_create(&StageLabel {
            stage: "stage_b".into(),
        })
        .observe(s);
    st.stage_b_window.record(s * 1e3, false, false);
    Ok((out, s * 1e3))
}

pub async fn definition(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(&st, q)?;
    let lim = limit(&p)?;
    let (nav, ms) = run(&st, move |b| {
        let (doc, at) = locate(b, &p)?;
        Ok(navigate::definition(&b.reader, doc, at, lim))
    })
    .await?;
    let mut v = serde_json::to_value(nav).expect("navigation serialises");
    v["timings"] = serde_json::json!({"stage_b": ms});
    Ok(Json(v).into_response())
}

pub async fn references(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(&st, q)?;
    let lim = limit(&p)?;
    let (nav, ms) = run(&st, move |b| {
        let (doc, at) = locate(b, &p)?;
        navigate::references(&b.reader, doc, at, lim, &Deadline::after(TIMEOUT))
            .map_err(ApiError::from)
    })
    .await?;
    let mut v = serde_json::to_value(nav).expect("navigation serialises");
    v["timings"] = serde_json::json!({"stage_b": ms});
    Ok(Json(v).into_response())
}

pub async fn hover(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(&st, q)?;
    let (h, ms) = run(&st, move |b| {
        let (doc, at) = locate(b, &p)?;
        Ok(navigate::hover(&b.reader, doc, at))
    })
    .await?;
    let mut v = match h {
        Some(h) => serde_json::to_value(h).expect("hover serialises"),
        None => {
            serde_json::json!({"precise": false, "symbol": null, "contents": null, "range": null})
        }
    };
    v["timings"] = serde_json::json!({"stage_b": ms});
    Ok(Json(v).into_response())
}
