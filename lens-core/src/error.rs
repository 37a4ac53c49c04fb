//! Typed errors of the engine.

use std::path::PathBuf;

/// Everything the engine can fail with; binaries turn these into messages or HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text does not parse.
    #[error("invalid query at byte {position}: {reason}")]
    InvalidQuery { position: usize, reason: String },
    /// A regex in the query does not compile.
    #[error("invalid regex {pattern:?}{}: {reason}", position.map(|p| format!(" at byte {p}")).unwrap_or_default())]
    InvalidRegex {
        pattern: String,
        position: Option<usize>,
        reason: String,
    },
    /// A `-g` glob does not parse.
    #[error("invalid glob {glob:?}: {reason}")]
    InvalidGlob { glob: String, reason: String },
    /// No bundle at the path.
    #[error("no bundle at {}: {reason}", path.display())]
    MissingBundle { path: PathBuf, reason: String },
    /// A bundle file does not match its recorded checksum or is malformed.
    #[error("corrupt bundle: {} {reason}", file.display())]
    CorruptBundle { file: PathBuf, reason: String },
    /// A bundle written by an unsupported format version.
    #[error("unsupported bundle format {found} (this build reads {min}..={max})")]
    UnsupportedFormat { found: u32, min: u32, max: u32 },
    /// An I/O failure on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The full-text (tantivy) index failed.
    #[error("text index: {0}")]
    TextIndex(#[from] tantivy::TantivyError),
    /// The embedding model (or ONNX Runtime) is missing or failed.
    #[error("embedding model: {0}")]
    Model(String),
    /// A request outside its limits or malformed (the message names the problem).
    #[error("{message}")]
    InvalidRequest {
        problem: RequestProblem,
        message: String,
    },
    /// A symbol query on a bundle built without symbols.
    #[error(
        "this bundle has no symbol table (built with --no-symbols); sym:, kind: and type:symbol need one"
    )]
    NoSymbolTable,
    /// A file (or other named thing) the bundle does not hold.
    #[error("{0}")]
    NotFound(String),
}

/// What is wrong with a request; each is its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestProblem {
    MissingQuery,
    QueryTooLong,
    InvalidLimit,
    InvalidContext,
    InvalidCursor,
    InvalidPosition,
    InvalidParameters,
}

impl RequestProblem {
    pub fn code(self) -> &'static str {
        match self {
            RequestProblem::MissingQuery => "missing_query",
            RequestProblem::QueryTooLong => "query_too_long",
            RequestProblem::InvalidLimit => "invalid_limit",
            RequestProblem::InvalidContext => "invalid_context",
            RequestProblem::InvalidCursor => "invalid_cursor",
            RequestProblem::InvalidPosition => "invalid_position",
            RequestProblem::InvalidParameters => "invalid_parameters",
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::CorruptBundle {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// Whether the caller's input is at fault (a 4xx), not the service.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidQuery { .. }
                | Error::InvalidRegex { .. }
                | Error::InvalidGlob { .. }
                | Error::InvalidRequest { .. }
                | Error::NoSymbolTable
                | Error::NotFound(_)
        )
    }

    /// A short stable code for the error kind (used in JSON error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidQuery { .. } => "invalid_query",
            Error::InvalidRegex { .. } => "invalid_regex",
            Error::InvalidGlob { .. } => "invalid_glob",
            Error::MissingBundle { .. } => "missing_bundle",
            Error::CorruptBundle { .. } => "corrupt_bundle",
            Error::UnsupportedFormat { .. } => "unsupported_format",
            Error::Io { .. } => "io",
            Error::TextIndex(_) => "text_index",
            Error::Model(_) => "model_unavailable",
            Error::InvalidRequest { problem, .. } => problem.code(),
            Error::NoSymbolTable => "no_symbol_table",
            Error::NotFound(_) => "not_found",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
