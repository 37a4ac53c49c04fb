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
    /// Skipped because this release has nothing for it to measure (no
    /// labelled set configured, no embeddings on either side), not because
    /// it could not run: it then does not block promotion, and the report
    /// lists it under `not_applicable`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_applicable: bool,
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
            not_applicable: false,
        }
    }

    /// Skipped as not applicable to this release (see `not_applicable`).
    pub fn not_applicable(mut self) -> GateResult {
        if self.status == GateStatus::Skipped {
            self.not_applicable = true;
        }
        self
    }

    /// Passed, or skipped as not applicable: what promotion asks of a gate.
    pub fn clears(&self) -> bool {
        self.passed() || (self.status == GateStatus::Skipped && self.not_applicable)
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
    /// One line per gate that failed or was skipped (unless not applicable).
    pub blocking_issues: Vec<String>,
    /// Gates skipped as not applicable, with the reason.
    #[serde(default)]
    pub not_applicable: Vec<String>,
    /// The runbook's actions for the failing gates.
    pub recommendations: Vec<String>,
    pub duration_ms: u64,
}

impl GateReport {
    /// Builds the blocking issues and recommendations from the gates.
    pub fn new(gates: Vec<GateResult>, duration_ms: u64) -> GateReport {
        let not_applicable = gates
            .iter()
            .filter(|g| g.status == GateStatus::Skipped && g.not_applicable)
            .map(|g| {
                format!(
                    "{}: {}",
                    g.gate,
                    g.reason.as_deref().unwrap_or("not applicable")
                )
            })
            .collect();
        let blocking_issues = gates
            .iter()
            .filter(|g| !g.clears())
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
            not_applicable,
            recommendations,
            duration_ms,
        }
    }

    /// Every gate passed, or was skipped as not applicable (a gate that
    /// could not run is not a pass).
    pub fn passed(&self) -> bool {
        !self.gates.is_empty() && self.gates.iter().all(GateResult::clears)
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
        super::STAGE_B_P95 => &[
            "Stage-B latency regression: check LSIF coverage, the symbol cache hit rate and pattern compile time (/monitoring/dashboard stageB) (immediate)",
            "Stage-B latency regression: profile symbol search on the candidate's symbol table (long-term)",
        ],
        super::STAGE_C_P95 => &[
            "Stage-C latency regression: check the semantic gating rate and confidence cutoff rate (/monitoring/dashboard stageC) (immediate)",
            "Stage-C latency regression: review the fusion candidate counts and the model's cost (long-term)",
        ],
        super::NDCG_AT_10 => &[
            "Ranking regression: compare the candidate's ranking config and priors with the stable's",
            "nDCG@10: promote only with a +2% gain, or an unchanged nDCG@10 with a latency win (Quality SLAs)",
        ],
        super::COMPATIBILITY => &[
            "Compatibility: run the compat drill (GET /compat/check, GET /compat/bundles?allow_compat=false) and rebuild the bundle this build cannot read",
        ],
        super::SEMVER => &["SemVer: cut the candidate with a version above the stable's"],
        super::RELEASE_NOTES => &[
            "Documentation: add the release's section to UPGRADE.md (a heading naming its version)",
        ],
        super::DEPENDENCIES => &[
            "Security artifacts: replace the crates with disallowed or undeclared licences, or record their approval",
            "Security artifacts: update the crates with advisories (cargo update -p NAME)",
        ],
        _ => &[],
    }
}
