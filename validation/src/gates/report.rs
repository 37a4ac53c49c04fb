//! Gate results and the report a night records (the `quality_gates_report`).

use serde::{Deserialize, Serialize};

/// A gate's outcome. A gate that cannot run is `Skipped` with the reason and
/// counts as not passed for promotion (RELEASES.md, "Gates").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    Pass,
    Fail,
    Skipped,
}

/// One gate, measured: the value against its threshold (and the stable's
/// value where the gate compares with it), with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct GateResult {
    pub gate: String,
    pub status: GateStatus,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    pub evidence: serde_json::Value,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
}

impl GateResult {
    pub fn skipped(gate: &str, reason: impl Into<String>) -> GateResult {
        GateResult {
            gate: gate.to_string(),
            status: GateStatus::Skipped,
            value: None,
            threshold: None,
            baseline: None,
            evidence: serde_json::Value::Null,
            reason: Some(reason.into()),
        }
    }

    pub fn passed(&self) -> bool {
        self.status == GateStatus::Pass
    }
}

/// Every gate of one run, with what blocks promotion and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct GateReport {
    pub gates: Vec<GateResult>,
    /// One line per gate that failed or was skipped.
    pub blocking_issues: Vec<String>,
    /// The runbook's actions for the failing gates.
    pub recommendations: Vec<String>,
    pub duration_ms: u64,
}

impl GateReport {
    /// Builds the blocking issues and recommendations from the gates.
    pub fn new(gates: Vec<GateResult>, duration_ms: u64) -> GateReport {
        let blocking_issues = gates
            .iter()
            .filter(|g| !g.passed())
            .map(|g| {
                let status = match g.status {
                    GateStatus::Skipped => "skipped",
                    _ => "failed",
                };
                match &g.reason {
                    Some(r) => format!("{} {status}: {r}", g.gate),
                    None => format!("{} {status}", g.gate),
                }
            })
            .collect();
        let mut recommendations: Vec<String> = Vec::new();
        for g in gates.iter().filter(|g| g.status == GateStatus::Fail) {
            for r in recommendations_for(&g.gate) {
                if !recommendations.iter().any(|x| x == r) {
                    recommendations.push(r.to_string());
                }
            }
        }
        GateReport {
            gates,
            blocking_issues,
            recommendations,
            duration_ms,
        }
    }

    /// Every gate passed (a skipped gate is not a pass).
    pub fn passed(&self) -> bool {
        !self.gates.is_empty() && self.gates.iter().all(GateResult::passed)
    }

    pub fn gate(&self, name: &str) -> Option<&GateResult> {
        self.gates.iter().find(|g| g.gate == name)
    }
}

/// The rows of the runbook's "Common Quality Issues & Solutions" table
/// (immediate action, then long-term fix) that a failing gate maps to.
pub fn recommendations_for(gate: &str) -> &'static [&'static str] {
    match gate {
        super::SPAN_COVERAGE | super::RECALL_AT_50 | super::INDEX_COMPLETENESS => &[
            "Span coverage drop: investigate indexing completeness (immediate)",
            "Span coverage drop: review parser updates (long-term)",
        ],
        super::STAGE_A_P95 | super::TAIL_LATENCY => &[
            "Latency regression: enable native scanner flag (immediate)",
            "Latency regression: optimize lexical processing (long-term)",
        ],
        super::CONSISTENCY_VIOLATIONS => &[
            "Consistency violations: review recent model changes (immediate)",
            "Consistency violations: revalidate training data (long-term)",
        ],
        super::DEFINITION_FIRST => &[
            "Ranking regression: compare the candidate's ranking config and priors with the stable's",
        ],
        _ => &[],
    }
}
