//! `/validation/quality-gates`: every quality gate (`validation::gates`) run
//! on the candidate, or on stable when there is none, against stable, on the
//! release's golden set (sampled from stable's content and kept in the store).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lens_core::Searcher;
use lens_core::release::Version;
use serde_json::{Value, json};
use validation::gates::{self, GateStatus, Target, Thresholds};

use super::super::AppState;
use super::super::admission::AuditChange;
use super::super::metrics::GateLabel;
use crate::errors::{ApiError, ErrorCode};

fn report_path(st: &AppState) -> Option<std::path::PathBuf> {
    st.releases
        .as_ref()
        .map(|r| r.store.root().join("validation").join("quality-gates.json"))
}

/// Runs every gate now and keeps the report.
pub async fn run(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let state = st.clone();
    let doc = super::blocking(move || Ok(run_gates(&state))).await?;
    if let Some(p) = report_path(&st)
        && let Some(r) = &st.releases
    {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        r.store
            .write_file(
                &p,
                serde_json::to_string_pretty(&doc)
                    .unwrap_or_default()
                    .as_bytes(),
            )
            .map_err(|e| ApiError::internal(format!("keeping the quality-gate report: {e}")))?;
    }
    let summary = json!({
        "release": doc["quality_gates_report"]["release"],
        "passed": doc["quality_gates_report"]["passed"],
        "blocking_issues": doc["quality_gates_report"]["blocking_issues"],
    });
    let mut resp = Json(doc).into_response();
    resp.extensions_mut().insert(AuditChange(summary));
    Ok(resp)
}

fn run_gates(st: &AppState) -> Value {
    let started_at = super::super::audit::now_rfc3339();
    let stable = st.engine.load_full();
    let stable_version = st
        .releases
        .as_ref()
        .and_then(|r| r.stable_version())
        .unwrap_or_else(|| {
            Version::parse(&stable.describe().manifest.bundle_version)
                .unwrap_or(Version::new(0, 0, 0))
        });
    let candidate = st.releases.as_ref().and_then(|r| r.candidate());
    let (arm, version, engine) = match &candidate {
        Some(c) => ("candidate", c.version.clone(), c.engine.clone()),
        None => ("stable", stable_version.clone(), stable.clone()),
    };
    let golden = match &st.releases {
        Some(r) => gates::golden::for_release(&r.store, &version, &stable),
        None => gates::golden::sample(&stable, 1, gates::golden::DEFAULT_LEXICAL),
    };
    let report = gates::run(
        Target::engine(&engine),
        Target::engine(&stable),
        &golden,
        &Thresholds::default(),
    );
    for g in &report.gates {
        let v = match g.status {
            GateStatus::Pass => 1,
            GateStatus::Fail => 0,
            GateStatus::Skipped => -1,
        };
        st.metrics
            .quality_gate_status
            .get_or_create(&GateLabel {
                gate: g.gate.clone(),
            })
            .set(v);
    }
    let passed = report.passed();
    let mut doc = serde_json::to_value(&report).unwrap_or(Value::Null);
    doc["release"] = json!({"version": version.to_string(), "arm": arm,
        "baseline": stable_version.to_string()});
    doc["started_at"] = json!(started_at);
    doc["passed"] = json!(passed);
    doc["golden_set"] =
        json!({"lexical": golden.lexical.len(), "definitions": golden.definitions.len()});
    json!({"quality_gates_report": doc})
}

/// The last report.
pub async fn last(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let doc = report_path(&st)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match doc {
        Some(d) => Ok(Json(d).into_response()),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            "no quality-gate report yet: POST /validation/quality-gates runs the gates",
        )),
    }
}

/// `dashboard_state.quality_gates`: the last report's verdicts.
pub fn dashboard(st: &AppState) -> Value {
    let Some(d) = report_path(st)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
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
