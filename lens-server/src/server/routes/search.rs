//! `/search` (GET and POST) and `/symbols` as one pipeline:
//! validate → plan → execute → record → render.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{MatchedPath, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use lens_core::release::Arm;
use lens_core::request::{Filters, fingerprint, parse_stages};
use lens_core::response::ReleaseTag;
use lens_core::response::{GateVerdict, StageStats};
use lens_core::semantic::Stages;
use lens_core::{Deadline, Engine, Options, QueryInput, Request, RequestLimits, Searcher};
use serde::Deserialize;

use super::super::AppState;
use super::super::admission::Identity;
use super::super::metrics::{DecisionLabel, OutcomeLabel, StageLabel};
use super::{blocking, params};
use crate::errors::{ApiError, ErrorCode};

/// Lines of context around each hit unless the request says otherwise.
const DEFAULT_CONTEXT_LINES: usize = 1;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Query in the lens query language.
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub exhaustive: Option<bool>,
    /// Opaque cursor from a previous exhaustive page.
    pub cursor: Option<String>,
    pub timeout_ms: Option<u64>,
    /// Lines of context around each match (default 1).
    pub context: Option<usize>,
    /// Filters ANDed to the query.
    pub lang: Option<String>,
    pub repo: Option<String>,
    pub file: Option<String>,
    /// Stages for natural-language queries: `abc` (default), `ab`, `a`, or `exact`.
    pub stages: Option<String>,
    /// `file`: the results also grouped by file, in chunks of nearby lines (`files`).
    pub group: Option<String>,
}

/// Chunks shown per file of a grouped answer (the rest are counted).
const CHUNKS_PER_FILE: usize = 3;

/// Which route asked: `/symbols` reads bare terms as definition names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Search,
    Symbols,
}

/// `GET /search` and `GET /symbols`.
pub async fn search_get(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    path: MatchedPath,
    q: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let route = match path.as_str() {
        "/symbols" => Route::Symbols,
        _ => Route::Search,
    };
    run(st, who, params(q)?, route).await
}

pub async fn search_post(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::BodyTooLarge
        } else {
            ErrorCode::InvalidBody
        };
        ApiError::new(code, e.body_text())
    })?;
    let p: SearchParams = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("invalid JSON body: {e}")))?;
    run(st, who, p, Route::Search).await
}

async fn run(
    st: Arc<AppState>,
    who: Identity,
    p: SearchParams,
    route: Route,
) -> Result<Response, ApiError> {
    let group = match p.group.as_deref() {
        None => false,
        Some("file") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameters,
                format!("group must be \"file\", not {other:?}"),
            ));
        }
    };
    let context = p.context.unwrap_or(DEFAULT_CONTEXT_LINES);
    let (response, engine) = run_on_arm(&st, &who, p, route).await?;
    let mut http = if group {
        let hits = response.hits.clone();
        let files = blocking(move || {
            Ok(lens_core::response::group::group_by_file(
                engine.reader(),
                &hits,
                context,
                CHUNKS_PER_FILE,
            ))
        })
        .await?;
        let mut body = serde_json::to_value(&response).expect("a response serialises");
        body["files"] = serde_json::to_value(files).expect("groups serialise");
        Json(body).into_response()
    } else {
        Json(&response).into_response()
    };
    if let Some(tag) = &response.release {
        tag_arm(&mut http, tag.arm, &tag.version);
    }
    Ok(http)
}

/// The parameters through the whole pipeline: validated, logged for the
/// nights, routed to an arm, run, recorded. `/search`, `/symbols` and the
/// MCP tools all answer through it.
pub(crate) async fn run_request(
    st: &Arc<AppState>,
    who: &Identity,
    p: SearchParams,
    route: Route,
) -> Result<lens_core::Response, ApiError> {
    Ok(run_on_arm(st, who, p, route).await?.0)
}

/// [`run_request`], with the engine of the release that answered.
async fn run_on_arm(
    st: &Arc<AppState>,
    who: &Identity,
    p: SearchParams,
    route: Route,
) -> Result<(lens_core::Response, Arc<Engine>), ApiError> {
    let logged =
        (st.releases.is_some() && p.cursor.is_none()).then(|| validation::nightly::LoggedQuery {
            route: match route {
                Route::Search => "search",
                Route::Symbols => "symbols",
            }
            .into(),
            q: p.q.clone().unwrap_or_default(),
            stages: p.stages.clone(),
            limit: p.limit,
        });
    let request = validate(&st.request_limits, p, route)?;
    // Valid first pages only: the log is what a night replays.
    if let Some(q) = &logged {
        super::super::quality::log_query(st, q);
    }
    let arm = choose_arm(st, who, &request);
    let started = std::time::Instant::now();
    let result = match inject_fault(st, arm.arm).await {
        Some(fault) => Err(fault),
        None => execute(st, arm.engine.clone(), request).await,
    };
    observe_arm(st, arm.arm, started, &result);
    let mut response = match result {
        Ok(r) => r,
        Err(e) => return Err(e.on_arm(arm.arm.as_str(), &arm.version)),
    };
    response.release = Some(ReleaseTag {
        version: arm.version.clone(),
        arm: arm.arm.as_str(),
    });
    record(st, &response);
    Ok((response, arm.engine))
}

/// The release that answers a request.
pub(super) struct ChosenArm {
    pub arm: Arm,
    pub version: String,
    pub engine: Arc<Engine>,
}

/// The candidate when the client's bucket is under its share (or the
/// request's cursor was made by it), else stable.
pub(super) fn choose_arm(st: &AppState, who: &Identity, request: &Request) -> ChosenArm {
    let stable = st.engine.load_full();
    let stable_version = match st.releases.as_ref().and_then(|r| r.stable_version()) {
        Some(v) => v.to_string(),
        None => stable.describe().manifest.bundle_version.clone(),
    };
    let Some(releases) = &st.releases else {
        return ChosenArm {
            arm: Arm::Stable,
            version: stable_version,
            engine: stable,
        };
    };
    let by_cursor = request.cursor.as_ref().and_then(|c| {
        let cand = releases.candidate()?;
        (fingerprint(request, &cand.engine.describe().id) == c.f).then_some(cand)
    });
    let picked = match (&request.cursor, by_cursor) {
        (_, Some(c)) => Some(c),
        (Some(_), None) => None,
        (None, None) => releases.pick(&who.client),
    };
    match picked {
        Some(c) => ChosenArm {
            arm: Arm::Candidate,
            version: c.version.to_string(),
            engine: c.engine.clone(),
        },
        None => ChosenArm {
            arm: Arm::Stable,
            version: stable_version,
            engine: stable,
        },
    }
}

/// Sets `X-Lens-Arm` and `X-Lens-Release`.
pub(super) fn tag_arm(resp: &mut Response, arm: &str, version: &str) {
    let h = resp.headers_mut();
    h.insert(
        "x-lens-arm",
        HeaderValue::from_static(if arm == "candidate" {
            "candidate"
        } else {
            "stable"
        }),
    );
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert("x-lens-release", v);
    }
}

/// A drill's injected fault for this answer: held for its latency, failed at its rate.
async fn inject_fault(st: &AppState, arm: Arm) -> Option<ApiError> {
    let (fail, delay) = st.releases.as_ref()?.fault(arm)?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    fail.then(|| ApiError::internal(format!("injected fault on the {arm} arm (canary drill)")))
}

/// Feeds the arm's window: 5xx (not load shedding) and timeouts are errors.
fn observe_arm(
    st: &AppState,
    arm: Arm,
    started: std::time::Instant,
    result: &Result<lens_core::Response, ApiError>,
) {
    let Some(releases) = &st.releases else { return };
    let error = match result {
        Ok(r) => r.stats.timed_out(),
        Err(e) => e.code.status().is_server_error() && e.code != ErrorCode::Overloaded,
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    releases.observe(arm, ms, error, &st.metrics.canary);
}

/// The parameters as a validated request (every limit checked once, in the core).
pub(crate) fn validate(
    limits: &RequestLimits,
    p: SearchParams,
    route: Route,
) -> Result<Request, ApiError> {
    let stages = match p.stages.as_deref() {
        Some(s) => parse_stages(s)?,
        None => Some(Stages::default()),
    };
    let text = p.q.unwrap_or_default();
    let query = match route {
        Route::Search => QueryInput::Text { text, stages },
        Route::Symbols => QueryInput::Symbols { text },
    };
    let options = Options {
        limit: p.limit,
        exhaustive: p.exhaustive.unwrap_or(false),
        paged: true,
        cursor: p.cursor,
        timeout_ms: p.timeout_ms,
        context: Some(p.context.unwrap_or(DEFAULT_CONTEXT_LINES)),
        filters: Filters {
            lang: p.lang,
            repo: p.repo,
            file: p.file,
        },
        fusion: None,
    };
    Ok(Request::new(query, options, limits)?)
}

/// Runs the request on the blocking pool within its deadline, or sheds it
/// with 503 when too many are running.
async fn execute(
    st: &Arc<AppState>,
    engine: Arc<Engine>,
    mut request: Request,
) -> Result<lens_core::Response, ApiError> {
    // Alone, a search verifies on both cores; beside others, on its own thread.
    request.parallel = st.inflight.available_permits() == st.config.limits.max_inflight.max(1);
    let Ok(permit) = st.inflight.clone().try_acquire_owned() else {
        st.metrics.shed.inc();
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "too many searches in flight; retry shortly",
        )
        .retry_after(1));
    };
    let deadline = Deadline::after(request.timeout);
    let started = std::time::Instant::now();
    let result = blocking(move || {
        let _permit = permit;
        Ok(engine.search(&request, &deadline))
    })
    .await?;
    result.map_err(|e| {
        if !e.is_user_error() {
            st.window
                .record(started.elapsed().as_secs_f64() * 1e3, false, true);
        }
        ApiError::from(e)
    })
}

/// Metrics and dashboard windows, from the response's own numbers.
fn record(st: &AppState, r: &lens_core::Response) {
    let m = &st.metrics;
    let observe = |stage: &str, ms: f64| {
        m.stage_seconds
            .get_or_create(&StageLabel {
                stage: stage.into(),
            })
            .observe(ms / 1e3);
    };
    if let Some(g) = r.gate {
        let decision = match g {
            GateVerdict::NaturalLanguage => "natural_language",
            GateVerdict::Code => {
                st.semantic.window.record_lexical();
                "code"
            }
        };
        m.semantic_gate
            .get_or_create(&DecisionLabel {
                decision: decision.into(),
            })
            .inc();
    }
    if r.stats.timed_out() {
        m.timeouts.inc();
    }
    let t = r.timings;
    if let Some(a) = t.stage_a {
        observe("stage_a", a);
    }
    if let Some(b) = t.stage_b {
        observe("stage_b", b);
        st.stage_b_window.record(b, false, false);
    }
    if let Some(c) = t.stage_c {
        observe("stage_c", c);
    }
    match &r.stats.stage {
        StageStats::Text(s) => {
            m.candidates.observe(s.candidates as f64);
            m.matches.observe(s.matches as f64);
            if s.early_terminated() {
                m.early_terminations.inc();
            }
            st.window
                .record(t.stage_a.unwrap_or(0.0), s.early_terminated(), false);
        }
        StageStats::Semantic(s) => {
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
        }
        StageStats::Symbol(_) => {}
    }
}
