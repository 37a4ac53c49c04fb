//! The alert and SLO thresholds, from `dashboards/thresholds.toml` (read at
//! build time): one source for the dashboard's alerts, the canary's default
//! error budget, the quality gates and the Prometheus rules (a test checks
//! the rules against it).

use std::sync::LazyLock;

use serde::Deserialize;

const TEXT: &str = include_str!("../../dashboards/thresholds.toml");

/// The numbers of `dashboards/thresholds.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub stage_a_p95_ms: f64,
    pub tail_p99_over_p95: f64,
    pub error_rate: f64,
    pub stage_b_p95_ms: f64,
    pub stage_c_p95_ms: f64,
    pub symbol_cache_hit_rate: f64,
    pub lsif_coverage_drop: f64,
    pub semantic_gating_rate: f64,
    pub confidence_cutoff_rate: f64,
    pub canary_error_rate: f64,
    pub span_coverage: f64,
    pub recall_at_50_floor: f64,
    pub availability_slo: f64,
    pub burn_fast: f64,
    pub burn_slow: f64,
    pub night_overdue_hours: f64,
}

static THRESHOLDS: LazyLock<Thresholds> =
    LazyLock::new(|| toml::from_str(TEXT).expect("dashboards/thresholds.toml parses"));

/// The thresholds.
pub fn thresholds() -> &'static Thresholds {
    &THRESHOLDS
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_parses_with_the_runbooks_numbers() {
        let t = super::thresholds();
        assert_eq!(t.stage_a_p95_ms, 5.0);
        assert_eq!(t.span_coverage, 0.98);
        assert_eq!(t.canary_error_rate, 0.03);
    }
}
