//! Pieces of the semantic stage (Stage-C).
//!
//! - [`tokenizer`]: the BERT-uncased WordPiece tokenizer of all-MiniLM-L6-v2, id-for-id equal
//!   to HuggingFace `tokenizers` (differential fixture in `testdata/model/`), with a padded
//!   batch encoder producing model inputs.
//! - [`gate`]: the query gate, a small transparent scorer that decides whether a query is
//!   natural language (worth semantic retrieval) or code-like (identifiers, regexes, paths,
//!   operators, field filters; those stay lexical). Evaluated on
//!   `validation/data/gate-labelled.jsonl`.

pub mod gate;
pub mod tokenizer;

pub use gate::{GateDecision, gate};
pub use tokenizer::{Encoding, WordPiece};
