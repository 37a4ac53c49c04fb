//! `/file` and code navigation at a position (`/definition`, `/references`,
//! `/hover`). Precise (SCIP/LSIF) data answers where it exists; otherwise the
//! symbol table and a whole-word search do, with `"precise": false`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use lens_core::{Deadline, Engine, FilePosition, Searcher};
use serde::{Deserialize, Serialize};

use super::super::AppState;
use super::super::metrics::StageLabel;
use super::{blocking, params};
use crate::errors::{ApiError, ErrorCode};

pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 10_000;
/// The deadline of a whole-word references search.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    repo: String,
    path: String,
}

pub async fn file(
    State(st): State<Arc<AppState>>,
    q: Result<Query<FileParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    // Only files recorded in the bundle are served, so no path can leave it.
    let f = st.engine.load().file(&p.repo, &p.path)?;
    Ok(Json(f).into_response())
}

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

impl PositionParams {
    fn position(&self) -> FilePosition {
        FilePosition {
            repo: self.repo.clone(),
            path: self.path.clone(),
            line: self.line,
            character: self.character,
        }
    }

    fn limit(&self) -> Result<usize, ApiError> {
        navigation_limit(self.limit)
    }
}

/// A navigation answer with its Stage-B time.
#[derive(Serialize)]
struct Timed<T: Serialize> {
    #[serde(flatten)]
    answer: T,
    timings: StageBTiming,
}

#[derive(Serialize)]
struct StageBTiming {
    stage_b: f64,
}

/// Runs a navigation off the async executor, records it as Stage-B, and renders it.
async fn navigate<T: Serialize + Send + 'static>(
    st: &Arc<AppState>,
    work: impl FnOnce(&Engine) -> lens_core::Result<T> + Send + 'static,
) -> Result<Response, ApiError> {
    let (answer, ms) = navigate_timed(st, work).await?;
    Ok(Json(Timed {
        answer,
        timings: StageBTiming { stage_b: ms },
    })
    .into_response())
}

/// A navigation on the served bundle, off the async executor, recorded as
/// Stage-B; with its time in ms. The MCP tools navigate through it too.
pub(crate) async fn navigate_timed<T: Send + 'static>(
    st: &Arc<AppState>,
    work: impl FnOnce(&Engine) -> lens_core::Result<T> + Send + 'static,
) -> Result<(T, f64), ApiError> {
    let engine = st.engine.load_full();
    let started = Instant::now();
    let answer = blocking(move || work(&engine).map_err(ApiError::from)).await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    st.metrics
        .stage_seconds
        .get_or_create(&StageLabel {
            stage: "stage_b".into(),
        })
        .observe(ms / 1e3);
    st.stage_b_window.record(ms, false, false);
    Ok((answer, ms))
}

/// A navigation's `limit`: 1..=MAX_LIMIT, default DEFAULT_LIMIT.
pub(crate) fn navigation_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let l = limit.unwrap_or(DEFAULT_LIMIT);
    if l == 0 || l > MAX_LIMIT {
        return Err(ApiError::new(
            ErrorCode::InvalidLimit,
            format!("limit must be 1..={MAX_LIMIT}"),
        ));
    }
    Ok(l)
}

fn position_and_limit(
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<(FilePosition, usize), ApiError> {
    let p = params(q)?;
    Ok((p.position(), p.limit()?))
}

pub async fn definition(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (at, limit) = position_and_limit(q)?;
    navigate(&st, move |e| e.definition(&at, limit)).await
}

pub async fn references(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (at, limit) = position_and_limit(q)?;
    navigate(&st, move |e| {
        e.references(&at, limit, &Deadline::after(TIMEOUT))
    })
    .await
}

/// What `/hover` answers where nothing is known about the position.
#[derive(Serialize)]
#[serde(untagged)]
enum HoverAnswer {
    Found(lens_core::navigate::Hover),
    Nothing {
        precise: bool,
        symbol: Option<String>,
        contents: Option<String>,
        range: Option<lens_core::navigate::Location>,
    },
}

pub async fn hover(
    State(st): State<Arc<AppState>>,
    q: Result<Query<PositionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    navigate(&st, move |e| {
        Ok(match e.hover(&p.position())? {
            Some(h) => HoverAnswer::Found(h),
            None => HoverAnswer::Nothing {
                precise: false,
                symbol: None,
                contents: None,
                range: None,
            },
        })
    })
    .await
}
