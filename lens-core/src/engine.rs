//! One entry point for a query-language query: symbol queries (`sym:`,
//! `kind:`, `type:symbol`) go to Stage-B's symbol search, the rest to Stage-A.

use crate::bundle::BundleReader;
use crate::error::{Error, Result};
use crate::limits::{Deadline, Limits};
use crate::plan::Plan;
use crate::query::parse::Query;
use crate::search::{SearchResult, search};
use crate::symbols::query::{SymbolPlan, SymbolResult, is_symbol_query, search_symbols};

/// A planned query of either kind.
#[derive(Debug, Clone)]
pub enum Planned {
    Text(Box<Plan>),
    Symbols(SymbolPlan),
}

impl Planned {
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
}

impl Outcome {
    pub fn is_empty(&self) -> bool {
        match self {
            Outcome::Text(r) => r.hits.is_empty(),
            Outcome::Symbols(r) => r.hits.is_empty(),
        }
    }

    /// `{"results": [...], "stats": {...}}`; symbol results carry `"type": "symbol"`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Text(r) => serde_json::json!({"results": r.hits, "stats": r.stats}),
            Outcome::Symbols(r) => serde_json::json!({"results": r.hits, "stats": r.stats}),
        }
    }
}

/// Runs a planned query.
pub fn execute(bundle: &BundleReader, planned: &Planned, deadline: &Deadline) -> Result<Outcome> {
    match planned {
        Planned::Text(p) => search(bundle, p, deadline).map(Outcome::Text),
        Planned::Symbols(p) => {
            if bundle.symbols().is_none() {
                return Err(Error::InvalidQuery {
                    position: 0,
                    reason: "this bundle has no symbol table (built with --no-symbols); sym:, kind: and type:symbol need one".into(),
                });
            }
            search_symbols(bundle, p, deadline).map(Outcome::Symbols)
        }
    }
}
