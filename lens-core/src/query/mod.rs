//! The query language, regex analysis and compiled matchers.

pub mod matcher;
pub mod ngram_plan;
pub mod parse;

pub use matcher::{MatchOptions, Matcher};
pub use ngram_plan::NgramQuery;
pub use parse::{CaseMode, Expr, Pattern, Query, parse};
