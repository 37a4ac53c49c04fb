//! One response for every kind of search: text matches, definitions and
//! natural-language answers share the hit shape ([`Hit`]) and differ only in
//! their stats. `json.rs` is the one place they are serialised, for the CLI's
//! `--json` and `--batch` and for HTTP alike.

pub mod group;
mod json;

use serde::Serialize;

use crate::search::{Hit, SearchStats, Truncation};
use crate::semantic::SemanticStats;
use crate::symbols::query::SymbolStats;

/// Which path answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// Stage-A matches (with Stage-B's enclosing definitions).
    Text,
    /// Definitions (`sym:`, `kind:`, `type:symbol`, `/symbols`).
    Symbol,
    /// Ranked retrieval for a natural-language query, one hit per file.
    Semantic,
}

/// The stage that produced the results, with its own counters.
#[derive(Debug, Clone, PartialEq)]
pub enum StageStats {
    Text(SearchStats),
    Symbol(SymbolStats),
    Semantic(SemanticStats),
}

/// Counters of a response: the stage's own, and where a page sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub stage: StageStats,
    /// Hits before this page.
    pub offset: usize,
    /// Hits of the whole search, when known: unpaged searches, and the last page.
    pub total_results: Option<usize>,
}

impl Stats {
    pub fn truncation(&self) -> Option<Truncation> {
        match &self.stage {
            StageStats::Text(s) => s.truncation,
            StageStats::Symbol(s) => s.truncation,
            StageStats::Semantic(s) => s.truncation,
        }
    }

    pub fn timed_out(&self) -> bool {
        self.truncation() == Some(Truncation::Deadline)
    }

    pub fn elapsed_ms(&self) -> f64 {
        match &self.stage {
            StageStats::Text(s) => s.elapsed_ms,
            StageStats::Symbol(s) => s.elapsed_ms,
            StageStats::Semantic(s) => s.elapsed_ms,
        }
    }

    /// Replaces the search's own wall time (batch mode counts planning in it).
    pub fn set_elapsed_ms(&mut self, ms: f64) {
        match &mut self.stage {
            StageStats::Text(s) => s.elapsed_ms = ms,
            StageStats::Symbol(s) => s.elapsed_ms = ms,
            StageStats::Semantic(s) => s.elapsed_ms = ms,
        }
    }
}

/// Milliseconds per stage; `None` for a stage that did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub stage_a: Option<f64>,
    pub stage_b: Option<f64>,
    pub stage_c: Option<f64>,
}

/// How the natural-language gate judged a ranked query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    NaturalLanguage,
    Code,
}

/// Which release answered, and on which arm (set by the server's router).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseTag {
    pub version: String,
    pub arm: &'static str,
}

/// A search's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub kind: ResultKind,
    pub hits: Vec<Hit>,
    pub stats: Stats,
    pub timings: Timings,
    /// The cursor of the next page (paged exhaustive searches with more hits).
    pub next_cursor: Option<String>,
    /// The gate's verdict when it judged the query.
    pub gate: Option<GateVerdict>,
    pub release: Option<ReleaseTag>,
}

impl Response {
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}
