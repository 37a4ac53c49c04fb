//! Dispatch of a planned query to its stage: symbol queries (`sym:`,
//! `kind:`, `type:symbol`) go to Stage-B's symbol search, natural-language
//! queries (as the gate judges them) to ranked semantic retrieval, the rest to
//! Stage-A. Callers search through [`crate::Searcher`]; this is the layer under it.

use crate::bundle::BundleReader;
use crate::error::{Error, Result};
use crate::limits::{Deadline, Limits};
use crate::plan::Plan;
use crate::query::parse::Query;
use crate::search::{SearchResult, search};
use crate::semantic::{SemanticPlan, SemanticResult, StageC, Stages, gate, search_semantic};
use crate::symbols::query::{SymbolPlan, SymbolResult, is_symbol_query, search_symbols};

/// A planned query of either kind.
#[derive(Debug, Clone)]
pub enum Planned {
    Text(Box<Plan>),
    Symbols(SymbolPlan),
    Semantic(SemanticPlan),
}

impl Planned {
    /// Plans raw query text: natural language goes to semantic retrieval when `stages`
    /// allows it (ranked mode only: an exhaustive search means every exact match).
    /// Prose need not parse as the query language ("(if any)", a lone `or`).
    pub fn from_text(text: &str, limits: Limits, stages: Option<Stages>) -> Result<Planned> {
        let parsed = crate::query::parse(text);
        let symbolic = parsed.as_ref().is_ok_and(is_symbol_query);
        if let Some(stages) = stages.filter(|_| !limits.exhaustive && !symbolic) {
            let decision = gate(text);
            if decision.natural_language {
                return Ok(Planned::Semantic(SemanticPlan {
                    text: text.trim().to_string(),
                    limits,
                    stages,
                    fusion: Default::default(),
                    gate_score: decision.score,
                }));
            }
        }
        Planned::from_query(&parsed?, limits)
    }

    pub fn from_query(q: &Query, limits: Limits) -> Result<Planned> {
        if is_symbol_query(q) {
            Ok(Planned::Symbols(SymbolPlan::from_query(q, limits)?))
        } else {
            Ok(Planned::Text(Box::new(Plan::from_query(q, limits)?)))
        }
    }
}

/// Results of either kind.
#[derive(Debug, Clone)]
pub enum Outcome {
    Text(SearchResult),
    Symbols(SymbolResult),
    Semantic(SemanticResult),
}

impl Outcome {
    pub fn is_empty(&self) -> bool {
        match self {
            Outcome::Text(r) => r.hits.is_empty(),
            Outcome::Symbols(r) => r.hits.is_empty(),
            Outcome::Semantic(r) => r.hits.is_empty(),
        }
    }
}

/// Runs a planned query without a model (semantic plans return the Stage-B order).
pub fn execute(bundle: &BundleReader, planned: &Planned, deadline: &Deadline) -> Result<Outcome> {
    execute_with(bundle, planned, deadline, None)
}

/// Runs a planned query; `stage_c` is the loaded embedding model, if any.
pub fn execute_with(
    bundle: &BundleReader,
    planned: &Planned,
    deadline: &Deadline,
    stage_c: Option<&StageC>,
) -> Result<Outcome> {
    match planned {
        Planned::Semantic(p) => {
            search_semantic(bundle, p, stage_c, deadline).map(Outcome::Semantic)
        }
        Planned::Text(p) => search(bundle, p, deadline).map(Outcome::Text),
        Planned::Symbols(p) => {
            if bundle.symbols().is_none() {
                return Err(Error::NoSymbolTable);
            }
            search_symbols(bundle, p, deadline).map(Outcome::Symbols)
        }
    }
}
