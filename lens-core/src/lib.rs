//! # lens-core
//!
//! The lens search engine as a plain library: the index bundle format, the
//! query language, Stage-A lexical search (n-gram candidates verified over
//! memory-mapped content), Stage-B symbols, Stage-C semantic retrieval (an
//! ONNX model through `ort`) and ranking. No HTTP, no async runtime.
//!
//! ```no_run
//! use lens_core::{BundleReader, Deadline, Limits, Plan, parse, search};
//! # fn main() -> lens_core::Result<()> {
//! let bundle = BundleReader::open(std::path::Path::new("bundle"))?;
//! let plan = Plan::from_query(&parse("spin_lock lang:c")?, Limits::top(10))?;
//! let result = search(&bundle, &plan, &Deadline::after(std::time::Duration::from_secs(5)))?;
//! for hit in result.hits {
//!     println!("{}:{}:{}: {}", hit.path, hit.line, hit.start, hit.snippet);
//! }
//! # Ok(())
//! # }
//! ```

pub mod bundle;
pub mod engine;
pub mod error;
pub mod glob;
pub mod lang;
pub mod limits;
pub mod navigate;
pub mod ngram;
pub mod plan;
pub mod precise;
pub mod query;
pub mod rank;
pub mod release;
pub mod request;
pub mod response;
pub mod search;
pub mod searcher;
pub mod semantic;
pub mod symbols;
pub mod text_index;
pub mod thresholds;
pub mod tokenize;

pub use bundle::{BundleBuilder, BundleReader};
pub use engine::{Outcome, Planned, execute, execute_with};
pub use error::{Error, Result};
pub use limits::{Deadline, Limits};
pub use plan::{CandidatePolicy, GrepRequest, Plan};
pub use query::parse;
pub use request::{Options, QueryInput, Request, RequestLimits};
pub use response::Response;
pub use search::{Hit, SearchResult, SearchStats, search};
pub use searcher::{Engine, FilePosition, Model, Searcher};
