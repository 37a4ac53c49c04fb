//! Stage-C in the server: the loaded model (or why there is none) and a sliding window of
//! the gate's decisions, Stage-C latencies and confidence cutoffs, from which the dashboard's
//! `stageC` figures come.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lens_core::Model;
use lens_core::semantic::{Embedder, SemanticStats, StageC, StageCState};

use super::dashboard::{Recent, percentile, ratio};

/// What became of the embedding model at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    Loaded,
    /// No model directory was found: search works, Stage-C does not (degraded).
    Missing(String),
    /// A model was found but failed to load.
    Failed(String),
    /// Turned off by the operator (`--model none`): not a degradation.
    Disabled(String),
}

impl ModelState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelState::Loaded => "loaded",
            ModelState::Missing(_) => "missing",
            ModelState::Failed(_) => "failed",
            ModelState::Disabled(_) => "disabled",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            ModelState::Loaded => None,
            ModelState::Missing(r) | ModelState::Failed(r) | ModelState::Disabled(r) => Some(r),
        }
    }
}

/// The model and its state.
pub struct SemanticService {
    pub stage_c: Option<Arc<StageC>>,
    pub state: ModelState,
    pub window: SemanticWindow,
}

impl SemanticService {
    /// Loads the model in `dir` (`None`: no directory configured or found).
    pub fn load(dir: Option<&Path>) -> SemanticService {
        let (stage_c, state) = match dir {
            None => (
                None,
                ModelState::Missing(
                    "no model directory (pass --model or set LENS_MODEL_DIR)".into(),
                ),
            ),
            Some(d) if !d.join("MODEL.json").is_file() => (
                None,
                ModelState::Missing(format!(
                    "no model at {} (run scripts/model/setup.sh)",
                    d.display()
                )),
            ),
            Some(d) => match Embedder::load(d, 2) {
                Ok(e) => (Some(Arc::new(StageC::new(e))), ModelState::Loaded),
                Err(e) => (None, ModelState::Failed(e.to_string())),
            },
        };
        SemanticService {
            stage_c,
            state,
            window: SemanticWindow::new(Duration::from_secs(300)),
        }
    }

    /// The model as engines take it (shared by every bundle served).
    pub fn model(&self) -> Model {
        match &self.stage_c {
            Some(m) => Model::Loaded(m.clone()),
            None => Model::None,
        }
    }

    /// No model on purpose (tests, or `lens serve --model none`).
    pub fn disabled(reason: &str) -> SemanticService {
        SemanticService {
            stage_c: None,
            state: ModelState::Disabled(reason.into()),
            window: SemanticWindow::new(Duration::from_secs(300)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The gate sent the query to semantic retrieval.
    natural_language: bool,
    /// Stage-C ran: its latency, candidates scored and cut off.
    stage_c: Option<(f64, usize, usize)>,
}

/// Ranked query-language searches of the last five minutes, as the gate and Stage-C saw them.
pub struct SemanticWindow {
    recent: Recent<Sample>,
}

/// The dashboard's `stageC` figures.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct StageCSummary {
    /// Ranked query-language searches the gate judged.
    pub gated_queries: usize,
    /// Of those, the share the gate kept out of Stage-C (code-like queries stay lexical).
    pub semantic_gating_rate: f64,
    /// Searches where Stage-C ran.
    pub requests: usize,
    pub p50_latency_ms: f64,
    pub p95_latency_ms: f64,
    /// Candidates dropped by the confidence cutoff over candidates Stage-C scored.
    pub confidence_cutoff_rate: f64,
}

impl SemanticWindow {
    pub fn new(span: Duration) -> SemanticWindow {
        SemanticWindow {
            recent: Recent::new(span),
        }
    }

    /// A query the gate sent to the exact lexical path.
    pub fn record_lexical(&self) {
        self.recent.push(Sample {
            natural_language: false,
            stage_c: None,
        });
    }

    /// A natural-language query and what Stage-C did with it.
    pub fn record_semantic(&self, stats: &SemanticStats) {
        let ran = (stats.stage_c == Some(StageCState::Ran))
            .then(|| (stats.stage_c_ms.unwrap_or(0.0), stats.scored, stats.cut_off));
        self.recent.push(Sample {
            natural_language: true,
            stage_c: ran,
        });
    }

    pub fn summary(&self) -> StageCSummary {
        let recent = self.recent.snapshot();
        let mut lat: Vec<f64> = recent
            .iter()
            .filter_map(|x| x.stage_c.map(|c| c.0))
            .collect();
        lat.sort_by(f64::total_cmp);
        let (scored, cut) = recent
            .iter()
            .filter_map(|x| x.stage_c)
            .fold((0usize, 0usize), |(s, c), x| (s + x.1, c + x.2));
        let lexical = recent.iter().filter(|x| !x.natural_language).count();
        StageCSummary {
            gated_queries: recent.len(),
            semantic_gating_rate: ratio(lexical, recent.len()),
            requests: lat.len(),
            p50_latency_ms: percentile(&lat, 0.50),
            p95_latency_ms: percentile(&lat, 0.95),
            confidence_cutoff_rate: ratio(cut, scored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(state: StageCState, ms: f64, scored: usize, cut: usize) -> SemanticStats {
        SemanticStats {
            stage_c: Some(state),
            stage_c_ms: Some(ms),
            scored,
            cut_off: cut,
            ..SemanticStats::default()
        }
    }

    #[test]
    fn gating_and_cutoff_rates() {
        let w = SemanticWindow::new(Duration::from_secs(60));
        for _ in 0..7 {
            w.record_lexical();
        }
        w.record_semantic(&stats(StageCState::Ran, 10.0, 100, 20));
        w.record_semantic(&stats(StageCState::Ran, 30.0, 100, 0));
        // A fallback counts as gated in, but adds no Stage-C latency or cutoffs.
        w.record_semantic(&stats(StageCState::SkippedDeadline, 99.0, 0, 0));
        let s = w.summary();
        assert_eq!(s.gated_queries, 10);
        assert!((s.semantic_gating_rate - 0.7).abs() < 1e-9);
        assert_eq!(s.requests, 2);
        assert_eq!(s.p95_latency_ms, 30.0);
        assert!((s.confidence_cutoff_rate - 0.1).abs() < 1e-9);
    }
}
