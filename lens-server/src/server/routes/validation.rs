//! `/validation/*`: quality gates (run now, last report), nights (run or
//! force one, status), and the sign-off report. The work is in
//! `server::quality`; this file turns it into HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use lens_core::release::Version;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::admission::{AuditChange, Identity};
use super::super::canary::now_ms;
use super::super::quality::{self, NightFailure};
use super::canary::{json_body, releases};
use super::params;
use crate::errors::{ApiError, ErrorCode};

/// Runs every gate now and keeps the report.
pub async fn run(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let state = st.clone();
    let doc = super::blocking(move || {
        let doc = quality::run_gates(&state).document();
        quality::keep_report(&state, &doc)
            .map_err(|e| ApiError::internal(format!("keeping the quality-gate report: {e}")))?;
        Ok(doc)
    })
    .await?;
    let summary = json!({
        "release": doc["quality_gates_report"]["release"],
        "passed": doc["quality_gates_report"]["passed"],
        "blocking_issues": doc["quality_gates_report"]["blocking_issues"],
    });
    let mut resp = Json(doc).into_response();
    resp.extensions_mut().insert(AuditChange(summary));
    Ok(resp)
}

/// The last report.
pub async fn last(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    match quality::last_report(&st) {
        Some(d) => Ok(Json(d).into_response()),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            "no quality-gate report yet: POST /validation/quality-gates runs the gates",
        )),
    }
}

/// `dashboard_state.quality_gates`: the last report's verdicts.
pub fn dashboard(st: &AppState) -> Value {
    let Some(d) = quality::last_report(st) else {
        return Value::Null;
    };
    let r = &d["quality_gates_report"];
    let by_status = |s: &str| -> Vec<Value> {
        r["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["status"] == s)
            .map(|g| g["gate"].clone())
            .collect()
    };
    json!({"release": r["release"], "started_at": r["started_at"], "passed": r["passed"],
        "failed": by_status("fail"), "skipped": by_status("skipped"),
        "blocking_issues": r["blocking_issues"]})
}

/// `dashboard_state.validation`: sign-off and the last nights.
pub fn validation_dashboard(st: &AppState) -> Value {
    let Some(r) = &st.releases else {
        return Value::Null;
    };
    let doc = validation::signoff::status(
        &r.snapshot().state,
        &quality::nights(st),
        now_ms(),
        &r.cfg,
        quality::schedule_json(st),
    );
    let v = &doc["validation_status"];
    let nights: Vec<Value> = v["nights"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .take(5)
        .map(|n| json!({"night": n["night"], "date": n["date"], "kind": n["kind"], "passed": n["passed"]}))
        .collect();
    json!({"candidate": v["candidate"], "promotion_ready": v["promotion_ready"],
        "signed_off": v["signed_off"], "consecutive_passes": v["consecutive_passes"],
        "required_nights": v["required_nights"], "blocking_issues": v["blocking_issues"],
        "recent_nights": nights, "schedule": v["schedule"]})
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NightBody {
    /// A drill: record night N now ([drills] enabled only).
    force_night: Option<u32>,
    /// The night's budget (default `[validation] night_minutes`).
    duration_minutes: Option<u64>,
}

fn night_error(e: NightFailure) -> ApiError {
    match e {
        NightFailure::NoStore => ApiError::new(ErrorCode::NoReleaseStore, e.to_string()),
        NightFailure::DrillsDisabled => ApiError::new(ErrorCode::DrillsDisabled, e.to_string()),
        NightFailure::Store(m) => ApiError::internal(format!("night log: {m}")),
        e => ApiError::new(ErrorCode::NightRefused, e.to_string()),
    }
}

/// Runs a night now on the candidate (or forces night N: a drill).
pub async fn nightly(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: NightBody = json_body(&bytes)?;
    let minutes = b
        .duration_minutes
        .unwrap_or(st.config.validation.night_minutes);
    if minutes == 0 || minutes > 24 * 60 {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("duration_minutes = {minutes}: a night takes 1 to 1440 minutes"),
        ));
    }
    let by = who.key_id.clone().unwrap_or_else(|| who.client.clone());
    let state = st.clone();
    let (record, gates) = super::blocking(move || {
        Ok(quality::run_night(
            &state,
            &state.nights,
            b.force_night,
            Duration::from_secs(minutes * 60),
            &by,
        ))
    })
    .await?
    .map_err(night_error)?;
    let status = status_doc(&st)?;
    let doc = json!({
        "night": record,
        "quality_gates_report": gates["quality_gates_report"],
        "validation_status": status["validation_status"],
    });
    let mut resp = Json(doc).into_response();
    resp.extensions_mut().insert(AuditChange(json!({
        "night": record.night, "version": record.candidate_version.to_string(),
        "forced": record.forced, "passed": record.passed, "gates": record.gates,
    })));
    Ok(resp)
}

fn status_doc(st: &AppState) -> Result<Value, ApiError> {
    let r = releases(st)?;
    Ok(validation::signoff::status(
        &r.snapshot().state,
        &quality::nights(st),
        now_ms(),
        &r.cfg,
        quality::schedule_json(st),
    ))
}

/// Nights, sign-off, trends.
pub async fn status(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    Ok(Json(status_doc(&st)?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignoffParams {
    /// `json` (default) or `md`.
    format: Option<String>,
    /// The release (default: the candidate).
    version: Option<String>,
}

/// The case for promoting the candidate (or `?version=`), as JSON or Markdown.
pub async fn signoff_report(
    State(st): State<Arc<AppState>>,
    q: Result<Query<SignoffParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let markdown = match p.format.as_deref() {
        None | Some("json") => false,
        Some("md") | Some("markdown") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameters,
                format!("format={other}: use json or md"),
            ));
        }
    };
    let r = releases(&st)?;
    let snap = r.snapshot();
    let version = match (&p.version, snap.state.candidate.as_ref()) {
        (Some(v), _) => Version::parse(v).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidParameters,
                format!("version={v:?} is not semver: {e}"),
            )
        })?,
        (None, Some(c)) => c.version.clone(),
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "there is no candidate; name a release with ?version=",
            ));
        }
    };
    let doc = validation::signoff::report_json(&validation::signoff::CaseForPromotion {
        state: &snap.state,
        nights: &quality::nights(&st),
        version: &version,
        now_ms: now_ms(),
        cfg: &r.cfg,
        quality_gates: quality::last_report(&st)
            .map(|d| d["quality_gates_report"].clone())
            .filter(|g| g["release"]["version"] == version.to_string()),
        canary_history: canary_history(&r.store, &version),
        generated_at: super::super::audit::now_rfc3339(),
    });
    if markdown {
        Ok((
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            validation::signoff::report_markdown(&doc),
        )
            .into_response())
    } else {
        Ok(Json(doc).into_response())
    }
}

/// The event-log lines of `version`'s rollout: from its cut to its
/// promotion or abandonment (or the next cut), every line that names it or
/// names no release (progress, kill switch from the CLI).
pub fn canary_history(
    store: &lens_core::release::store::ReleaseStore,
    version: &Version,
) -> Vec<Value> {
    let v = version.to_string();
    let Ok(text) = std::fs::read_to_string(store.events_path()) else {
        return Vec::new();
    };
    let mut inside = false;
    let mut out = Vec::new();
    for e in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let named = e["version"].as_str().or(e["effect"]["version"].as_str());
        if e["event"] == "candidate_cut" {
            inside = named == Some(v.as_str());
        }
        if !inside || named.is_some_and(|n| n != v) {
            continue;
        }
        out.push(
            json!({"time": e["time"], "event": e["event"], "by": e["by"],
            "after": e["after"], "night": e["night"], "passed": e["passed"]}),
        );
        if matches!(e["event"].as_str(), Some("promoted" | "abandoned")) {
            inside = false;
        }
    }
    out
}
