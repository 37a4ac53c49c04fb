//! # indexer
//!
//! Walks repositories and builds lens index bundles: files are listed (the
//! `ignore` crate), ordered by static rank, read and analysed in parallel
//! (rayon) and appended by one writer while tantivy indexes on its own
//! threads. The bundle is written to a temporary directory and swapped into
//! place only when complete.

mod build;
pub mod embed;
pub mod precise;
mod swap;
pub mod symbols;
pub mod walk;

use std::path::PathBuf;

pub use build::{BuildSummary, build};
pub use embed::{EmbedMode, EmbedOptions, EmbedOutcome};
pub use walk::RepoSpec;

/// How to walk and what to index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Ignore `.gitignore`, `.ignore` and git exclude files.
    pub no_ignore: bool,
    /// Include hidden files and directories.
    pub hidden: bool,
    /// Largest file indexed, in bytes; 0 means no limit.
    pub max_file_size: u64,
    /// Semver recorded in the manifest.
    pub bundle_version: String,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Memory tantivy may use while indexing, in bytes.
    pub text_heap_bytes: usize,
    /// Build the tantivy text index (BM25); without it the bundle serves exact search only.
    pub text_index: bool,
    /// Extract definitions with tree-sitter into a symbol table (Stage-B).
    pub symbols: bool,
    /// Index sparse n-grams beside the trigrams (faster rare literals; a
    /// bigger bundle and a slower build).
    pub sparse_grams: bool,
    /// SCIP indexes and LSIF dumps to import.
    pub precise: precise::PreciseInputs,
    /// Chunk embeddings for Stage-C.
    pub embed: embed::EmbedOptions,
    /// Path and size priors that fix the doc order (a release's ranking config).
    pub priors: lens_core::rank::Priors,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            no_ignore: false,
            hidden: false,
            max_file_size: lens_core::limits::DEFAULT_MAX_FILE_SIZE,
            bundle_version: "0.1.0".to_string(),
            progress: false,
            text_heap_bytes: 2 << 30,
            text_index: true,
            symbols: true,
            sparse_grams: true,
            precise: precise::PreciseInputs::default(),
            embed: embed::EmbedOptions::default(),
            priors: lens_core::rank::Priors::default(),
        }
    }
}

/// Why a build failed; nothing is left at the output path in that case.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("repository {name:?}: {} is not a directory", root.display())]
    NotADirectory { name: String, root: PathBuf },
    #[error("two repositories are named {0:?}; name them with NAME=PATH")]
    DuplicateRepo(String),
    #[error("refusing to replace {}: it exists and is not a lens bundle", .0.display())]
    NotABundle(PathBuf),
    #[error("too many repositories (at most {max})")]
    TooManyRepos { max: usize },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Core(#[from] lens_core::Error),
    #[error("importing {}: {reason}", path.display())]
    Precise { path: PathBuf, reason: String },
}
