//! Pieces of the semantic stage (Stage-C).
//!
//! - [`tokenizer`]: the BERT-uncased WordPiece tokenizer of all-MiniLM-L6-v2, id-for-id equal
//!   to HuggingFace `tokenizers` (differential fixture in `testdata/model/`), with a padded
//!   batch encoder producing model inputs.
//! - [`gate`]: the query gate, a small transparent scorer that decides whether a query is
//!   natural language (worth semantic retrieval) or code-like (identifiers, regexes, paths,
//!   operators, field filters; those stay lexical). Evaluated on
//!   `validation/data/gate-labelled.jsonl`.
//! - [`model`]: the ONNX sentence encoder run through `ort` (ONNX Runtime loaded dynamically).
//! - [`chunks`]: what is embedded at index time (definitions with their comments, file heads).
//! - [`store`]: the bundle's quantised, memory-mapped chunk embeddings and exact nearest search.
//! - [`stage`]: ranked retrieval of natural-language queries (BM25, symbols, embeddings,
//!   fusion, confidence cutoff, deadline fallback).

pub mod chunks;
pub mod gate;
pub mod model;
pub mod stage;
pub mod store;
pub mod tokenizer;

pub use gate::{GateDecision, gate};
pub use model::{Embedder, ModelId};
pub use stage::{
    Fusion, SemanticPlan, SemanticResult, SemanticStats, Signals, StageC, StageCState, Stages,
    search_semantic,
};
pub use tokenizer::{Encoding, WordPiece};
