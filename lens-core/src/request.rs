//! A search request, validated once. Every limit a caller can exceed (query
//! length, result limit, context lines, timeout, cursor) is checked here,
//! against limits the configuration passes in; the CLI, HTTP and batch
//! callers build the same [`Request`].

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, RequestProblem, Result};
use crate::limits::{
    DEFAULT_LIMIT, DEFAULT_TIMEOUT_MS, MAX_CONTEXT_LINES, MAX_QUERY_BYTES, MAX_REGEX_SIZE_BYTES,
    MAX_TIMEOUT_MS,
};
use crate::plan::GrepRequest;
use crate::semantic::{Fusion, Stages};

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryInput {
    /// Query-language text. With `stages`, a ranked query the gate judges
    /// natural language takes ranked retrieval; `None` reads it exactly.
    Text {
        text: String,
        stages: Option<Stages>,
    },
    /// Query-language text whose bare terms match definition names (`/symbols`).
    Symbols { text: String },
    /// ripgrep's form: `-e` patterns with `-F`, `-i`, `-w`, `-g`.
    Grep(GrepRequest),
}

/// Filters ANDed to the query (the HTTP `lang`, `repo` and `file` parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    pub lang: Option<String>,
    /// Regex over repository names.
    pub repo: Option<String>,
    /// Regex over paths.
    pub file: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.lang.is_none() && self.repo.is_none() && self.file.is_none()
    }
}

/// The bounds a caller's request must stay within (HTTP: `[limits]` in `lens.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_query_bytes: usize,
    pub max_limit: usize,
    pub max_context_lines: usize,
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
    pub max_regex_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_query_bytes: MAX_QUERY_BYTES,
            max_limit: 1000,
            max_context_lines: MAX_CONTEXT_LINES,
            default_timeout_ms: DEFAULT_TIMEOUT_MS,
            max_timeout_ms: MAX_TIMEOUT_MS,
            max_regex_bytes: MAX_REGEX_SIZE_BYTES,
        }
    }
}

/// How many results, and in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The best `limit` results, by score; may stop early.
    Ranked { limit: usize },
    /// Every hit in static-rank order; `page` hits at a time with a cursor,
    /// or all at once (up to the match cap).
    Exhaustive { page: Option<usize> },
}

/// Options of a request, as a caller gives them (unvalidated; `None` = default).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limit: Option<usize>,
    pub exhaustive: bool,
    /// Exhaustive results come in pages of `limit` with a cursor (HTTP), or all at once (CLI).
    pub paged: bool,
    pub cursor: Option<String>,
    pub timeout_ms: Option<u64>,
    pub context: Option<usize>,
    pub filters: Filters,
    /// Fusion weights and cutoff for a natural-language query (evaluation and tuning).
    pub fusion: Option<Fusion>,
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct Request {
    pub query: QueryInput,
    pub filters: Filters,
    pub mode: Mode,
    pub cursor: Option<Cursor>,
    pub context_lines: usize,
    pub timeout: Duration,
    pub max_regex_bytes: usize,
    pub fusion: Option<Fusion>,
    /// Verify on every core (a lone search), or on the caller's thread
    /// (a server under concurrent load, where handing work across cores costs more).
    pub parallel: bool,
}

fn problem(problem: RequestProblem, message: impl Into<String>) -> Error {
    Error::InvalidRequest {
        problem,
        message: message.into(),
    }
}

impl Request {
    /// An exhaustive search of query-language `text`: `page` hits at a time
    /// from `cursor`, or (without `page`) every hit at once.
    pub fn exhaustive_text(
        text: &str,
        page: Option<usize>,
        cursor: Option<String>,
        limits: &RequestLimits,
    ) -> Result<Request> {
        let options = Options {
            limit: page,
            exhaustive: true,
            paged: page.is_some(),
            cursor,
            ..Options::default()
        };
        let query = QueryInput::Text {
            text: text.to_string(),
            stages: None,
        };
        Request::new(query, options, limits)
    }

    /// Checks `query` and `options` against `limits`.
    pub fn new(query: QueryInput, options: Options, limits: &RequestLimits) -> Result<Request> {
        let query = checked_query(query, limits)?;
        let limit = options.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > limits.max_limit {
            return Err(problem(
                RequestProblem::InvalidLimit,
                format!("limit must be 1..={}", limits.max_limit),
            ));
        }
        let context_lines = options.context.unwrap_or(0);
        if context_lines > limits.max_context_lines {
            return Err(problem(
                RequestProblem::InvalidContext,
                format!("context must be 0..={}", limits.max_context_lines),
            ));
        }
        let mode = if options.exhaustive {
            Mode::Exhaustive {
                page: options.paged.then_some(limit),
            }
        } else {
            Mode::Ranked { limit }
        };
        let cursor = match &options.cursor {
            None => None,
            Some(_) if !matches!(mode, Mode::Exhaustive { page: Some(_) }) => {
                return Err(problem(
                    RequestProblem::InvalidCursor,
                    "a cursor pages an exhaustive search: give exhaustive=true with it",
                ));
            }
            Some(c) => Some(Cursor::decode(c)?),
        };
        let timeout_ms = options
            .timeout_ms
            .unwrap_or(limits.default_timeout_ms)
            .clamp(1, limits.max_timeout_ms);
        let mut filters = options.filters;
        filters.lang = filters.lang.map(|l| l.to_ascii_lowercase());
        Ok(Request {
            query,
            filters,
            mode,
            cursor,
            context_lines,
            timeout: Duration::from_millis(timeout_ms),
            max_regex_bytes: limits.max_regex_bytes,
            fusion: options.fusion,
            parallel: true,
        })
    }

    pub fn exhaustive(&self) -> bool {
        matches!(self.mode, Mode::Exhaustive { .. })
    }

    /// What identifies the question (not how many results or how fast):
    /// a cursor is valid only for the same question on the same searcher.
    pub fn identity(&self) -> String {
        let query = match &self.query {
            QueryInput::Text { text, stages } => {
                serde_json::json!(["text", text, stages.map(|s| (s.symbols, s.semantic))])
            }
            QueryInput::Symbols { text } => serde_json::json!(["symbols", text]),
            QueryInput::Grep(g) => serde_json::json!([
                "grep",
                g.patterns,
                g.fixed_string,
                g.case_insensitive,
                g.word,
                g.globs
            ]),
        };
        serde_json::json!([query, self.filters, self.exhaustive()]).to_string()
    }
}

/// The query trimmed and within the length limit.
fn checked_query(query: QueryInput, limits: &RequestLimits) -> Result<QueryInput> {
    let check = |text: &str| -> Result<()> {
        if text.is_empty() {
            return Err(problem(RequestProblem::MissingQuery, "give a query in q"));
        }
        if text.len() > limits.max_query_bytes {
            return Err(problem(
                RequestProblem::QueryTooLong,
                format!(
                    "query is {} bytes; the limit is {}",
                    text.len(),
                    limits.max_query_bytes
                ),
            ));
        }
        Ok(())
    };
    Ok(match query {
        QueryInput::Text { text, stages } => {
            let text = text.trim().to_string();
            check(&text)?;
            QueryInput::Text { text, stages }
        }
        QueryInput::Symbols { text } => {
            let text = text.trim().to_string();
            check(&text)?;
            QueryInput::Symbols { text }
        }
        QueryInput::Grep(g) => {
            if g.patterns.is_empty() {
                return Err(problem(
                    RequestProblem::MissingQuery,
                    "no query: give a QUERY or -e PATTERN",
                ));
            }
            check(&g.patterns.join("\n"))?;
            QueryInput::Grep(g)
        }
    })
}

/// Reads the `stages` parameter: `exact` (`None`), `a`, `ab` or `abc`.
pub fn parse_stages(s: &str) -> Result<Option<Stages>> {
    match s {
        "exact" => Ok(None),
        "a" => Ok(Some(Stages {
            symbols: false,
            semantic: false,
        })),
        "ab" => Ok(Some(Stages {
            symbols: true,
            semantic: false,
        })),
        "abc" => Ok(Some(Stages::default())),
        other => Err(problem(
            RequestProblem::InvalidParameters,
            format!("stages must be exact, a, ab or abc, not {other:?}"),
        )),
    }
}

/// Where the next page of an exhaustive search starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PageStart {
    /// Text hits: the `k`th hit (in hit order) of document `d`; `t` when `d`
    /// is among the files defining the identifier, which come first.
    Text {
        d: u32,
        k: usize,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        t: bool,
        /// Documents verified per hit so far (sizes the next page's first batch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p: Option<f32>,
    },
    /// Symbol results: definition record `r`.
    Symbol { r: u32 },
}

/// An exhaustive page's continuation: opaque to clients, tied to the question
/// and the searcher (a release) that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fingerprint of the request's identity and the searcher's id.
    pub f: String,
    /// Hits before the page.
    pub o: usize,
    #[serde(flatten)]
    pub at: PageStart,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Cursor> {
        let invalid = || problem(RequestProblem::InvalidCursor, "cursor is not valid");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// The fingerprint cursors carry: the question and the searcher that answered.
pub fn fingerprint(request: &Request, searcher_id: &str) -> String {
    let key = serde_json::json!([request.identity(), searcher_id]).to_string();
    crate::bundle::checksum(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(q: &str) -> QueryInput {
        QueryInput::Text {
            text: q.into(),
            stages: None,
        }
    }

    fn code(e: Error) -> &'static str {
        e.code()
    }

    #[test]
    fn every_limit_is_checked_once() {
        let l = RequestLimits {
            max_query_bytes: 8,
            ..RequestLimits::default()
        };
        let ok = |q: &str, o: Options| Request::new(text(q), o, &l);
        assert_eq!(
            code(ok("   ", Options::default()).unwrap_err()),
            "missing_query"
        );
        assert_eq!(
            code(ok("123456789", Options::default()).unwrap_err()),
            "query_too_long"
        );
        // Trimmed before measuring.
        assert!(ok("  12345678  ", Options::default()).is_ok());
        let limit = |n| Options {
            limit: Some(n),
            ..Options::default()
        };
        assert_eq!(code(ok("a", limit(0)).unwrap_err()), "invalid_limit");
        assert_eq!(code(ok("a", limit(1001)).unwrap_err()), "invalid_limit");
        let ctx = Options {
            context: Some(11),
            ..Options::default()
        };
        assert_eq!(code(ok("a", ctx).unwrap_err()), "invalid_context");
        let cursor = Options {
            cursor: Some("x".into()),
            ..Options::default()
        };
        assert_eq!(code(ok("a", cursor).unwrap_err()), "invalid_cursor");
        let r = ok(
            "a",
            Options {
                timeout_ms: Some(10_000_000),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(r.timeout, Duration::from_millis(MAX_TIMEOUT_MS));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for at in [
            PageStart::Text {
                d: 7,
                k: 3,
                t: false,
                p: Some(2.5),
            },
            PageStart::Text {
                d: 7,
                k: 0,
                t: true,
                p: None,
            },
            PageStart::Symbol { r: 99 },
        ] {
            let c = Cursor {
                f: "abc".into(),
                o: 12,
                at,
            };
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        assert!(Cursor::decode("not base64!").is_err());
        assert!(Cursor::decode("e30").is_err()); // "{}"
    }

    #[test]
    fn identity_ignores_limits_but_not_the_question() {
        let l = RequestLimits::default();
        let a = Request::new(text("foo"), Options::default(), &l).unwrap();
        let b = Request::new(
            text("foo"),
            Options {
                limit: Some(7),
                ..Options::default()
            },
            &l,
        )
        .unwrap();
        let c = Request::new(text("bar"), Options::default(), &l).unwrap();
        assert_eq!(a.identity(), b.identity());
        assert_ne!(a.identity(), c.identity());
        assert_ne!(fingerprint(&a, "one"), fingerprint(&a, "two"));
    }
}
