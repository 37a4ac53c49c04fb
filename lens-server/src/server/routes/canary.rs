//! `/canary/*` (status, progress, kill switch, drill) and `/compat/*`.
//! Writes need the `ops` scope (the route table says so); every change goes
//! through the pure state machine in `lens_core::release`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use lens_core::Searcher;
use lens_core::bundle::manifest::{API_VERSION, FORMAT_VERSION, MIN_FORMAT_VERSION};
use lens_core::release::{Arm, Event};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::admission::{AuditChange, Identity};
use super::super::canary::{Actor, ChangeError, Drill, Releases, now_ms};
use super::params;
use crate::errors::{ApiError, ErrorCode};

pub(super) fn releases(st: &AppState) -> Result<&Releases, ApiError> {
    st.releases.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoReleaseStore,
            "this server runs without a release store (lens serve has one by default: --state DIR)",
        )
    })
}

fn actor(who: &Identity) -> Actor {
    Actor {
        by: who.key_id.clone().unwrap_or_else(|| who.client.clone()),
        trace_id: who.trace_id.clone(),
    }
}

/// A JSON body whatever its Content-Type (the runbook sends it with and without); empty is `{}`.
pub(super) fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("invalid JSON body: {e}")))
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::Refused(r) => {
            let reasons = r
                .reasons
                .iter()
                .map(|x| {
                    let mut v = serde_json::to_value(x).unwrap_or(Value::Null);
                    v["message"] = json!(x.to_string());
                    v
                })
                .collect();
            ApiError::new(ErrorCode::CanaryRefused, r.to_string()).with_reasons(reasons)
        }
        e @ ChangeError::Unsafe(..) => ApiError::new(ErrorCode::StateUnsafe, e.to_string()),
        ChangeError::Store(m) => ApiError::internal(format!("release store: {m}")),
    }
}

/// Runs a change on the blocking pool (it fsyncs) and answers with the status.
async fn apply_change(
    st: Arc<AppState>,
    who: Identity,
    event: Event,
    reason: Option<String>,
) -> Result<Response, ApiError> {
    let actor = actor(&who);
    let state = st.clone();
    let before = releases(&st)?.snapshot().state.stage_label();
    let outcome = super::blocking(move || {
        let r = releases(&state)?;
        Ok(r.change(event, &actor, &state.metrics.canary))
    })
    .await?;
    let (next, effects) = outcome.map_err(change_error)?;
    let mut resp = Json(releases(&st)?.status_json()).into_response();
    resp.extensions_mut().insert(AuditChange(json!({
        "reason": reason, "before": before, "after": next.stage_label(),
        "generation": next.generation, "effects": effects,
    })));
    Ok(resp)
}

pub async fn status(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    Ok(Json(releases(&st)?.status_json()).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressBody {
    #[serde(default)]
    restart: bool,
    /// Who approves (default: the caller's key id, else its client identity).
    approved_by: Option<String>,
}

pub async fn progress(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: ProgressBody = json_body(&body)?;
    let approved_by = b.approved_by.or_else(|| Some(actor(&who).by));
    let event = Event::Progress {
        restart: b.restart,
        approved_by,
    };
    apply_change(st, who, event, None).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    reason: Option<String>,
}

pub async fn killswitch(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Identity>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: KillBody = json_body(&body)?;
    let Some(reason) = b.reason.filter(|r| !r.trim().is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the kill switch needs {\"reason\": \"...\"}",
        ));
    };
    let event = Event::KillSwitch {
        reason: reason.clone(),
        by: actor(&who).by,
    };
    // Already at 0% because the state cannot be trusted: say so, change nothing.
    if let Some(why) = releases(&st)?.snapshot().unsafe_reason.clone() {
        return Err(ApiError::new(
            ErrorCode::StateUnsafe,
            format!("the candidate is already held at 0%: {why}"),
        ));
    }
    apply_change(st, who, event, Some(reason)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrillBody {
    arm: Option<Arm>,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    clear: bool,
}

pub async fn drill(
    State(st): State<Arc<AppState>>,
    Extension(_who): Extension<Identity>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let r = releases(&st)?;
    if !r.drills_enabled {
        return Err(ApiError::new(
            ErrorCode::DrillsDisabled,
            "fault injection is off; set [drills] enabled = true in lens.toml to drill",
        ));
    }
    let b: DrillBody = json_body(&body)?;
    let before = r.drill();
    let after = if b.clear {
        None
    } else {
        if !(0.0..=1.0).contains(&b.error_rate) || b.latency_ms > 10_000 {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "error_rate must be in [0, 1] and latency_ms at most 10000",
            ));
        }
        Some(Drill {
            arm: b.arm.unwrap_or(Arm::Candidate),
            error_rate: b.error_rate,
            latency_ms: b.latency_ms,
            since_ms: now_ms(),
        })
    };
    r.set_drill(after.clone());
    let mut resp = Json(json!({"drill": after})).into_response();
    resp.extensions_mut()
        .insert(AuditChange(json!({"before": before, "after": after})));
    Ok(resp)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatCheckParams {
    api_version: Option<String>,
    index_version: Option<String>,
}

/// Whether a client speaking `api_version` and a bundle of `index_version`
/// (an API version, `v1`, or a format, `3`) work with this server.
pub async fn compat_check(
    State(st): State<Arc<AppState>>,
    q: Result<Query<CompatCheckParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let api = p.api_version.unwrap_or_else(|| API_VERSION.to_string());
    let index = p.index_version.unwrap_or_else(|| API_VERSION.to_string());
    let api_ok = api == API_VERSION;
    let index_ok = match index.trim_start_matches(['v', 'V']).parse::<u32>() {
        _ if index == API_VERSION => true,
        Ok(f) if index.starts_with(['v', 'V']) => f == 1,
        Ok(f) => (MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&f),
        Err(_) => false,
    };
    let served = bundles_json(&st, true);
    Ok(Json(json!({
        "compatible": api_ok && index_ok,
        "api_version": {"requested": api, "server": API_VERSION, "compatible": api_ok},
        "index_version": {"requested": index, "server_api": API_VERSION,
            "formats_read": [MIN_FORMAT_VERSION, FORMAT_VERSION], "compatible": index_ok},
        "server_version": env!("CARGO_PKG_VERSION"),
        "bundles": served,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatBundlesParams {
    allow_compat: Option<bool>,
}

/// The bundles this server holds open (stable, candidate) and whether each is
/// compatible: exactly this build's format, or with `allow_compat=true` any
/// format it reads.
pub async fn compat_bundles(
    State(st): State<Arc<AppState>>,
    q: Result<Query<CompatBundlesParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let allow = p.allow_compat.unwrap_or(false);
    let bundles = bundles_json(&st, allow);
    let all = bundles
        .as_array()
        .is_some_and(|b| b.iter().all(|x| x["compatible"] == true));
    Ok(Json(
        json!({"allow_compat": allow, "compatible": all, "server_format": FORMAT_VERSION,
        "server_api": API_VERSION, "bundles": bundles}),
    )
    .into_response())
}

fn bundles_json(st: &AppState, allow_compat: bool) -> Value {
    let entry = |arm: &str, version: String, e: &lens_core::Engine| {
        let m = &e.describe().manifest;
        let format_ok = if allow_compat {
            (MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&m.format_version)
        } else {
            m.format_version == FORMAT_VERSION
        };
        let api_ok = m.api_version == API_VERSION;
        json!({"arm": arm, "release": version, "path": e.describe().dir,
            "format_version": m.format_version, "api_version": m.api_version,
            "built_by": m.lens_version, "compatible": format_ok && api_ok})
    };
    let stable = st.engine.load_full();
    let stable_version = st
        .releases
        .as_ref()
        .and_then(|r| r.stable_version())
        .map_or_else(
            || stable.describe().manifest.bundle_version.clone(),
            |v| v.to_string(),
        );
    let mut out = vec![entry("stable", stable_version, &stable)];
    if let Some(c) = st.releases.as_ref().and_then(|r| r.candidate()) {
        out.push(entry("candidate", c.version.to_string(), &c.engine));
    }
    Value::Array(out)
}
