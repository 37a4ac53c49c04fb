//! The Model Context Protocol server (rmcp): lens's search, symbols,
//! navigation and files as tools for coding agents. `lens mcp` serves it
//! over stdio; `lens serve` mounts it at `/mcp` (streamable HTTP) behind the
//! same admission layer as every route, so keys, scopes, rate limits, trace
//! ids and the audit log apply, and searches go through the release router.
//!
//! `tools.rs` says what each tool takes, `render.rs` sizes the answers,
//! `backend.rs` decides where the work runs.

pub mod backend;
pub mod render;
pub mod tools;

use std::sync::Arc;
use std::time::Instant;

use lens_core::{FilePosition, Searcher};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use self::backend::Backend;
use self::render::Answer;
use self::tools::{
    DEFAULT_LIMIT, DEFAULT_MAX_BYTES, FindSymbolArgs, ListRepositoriesArgs, MAX_MAX_BYTES,
    PositionArgs, ReadFileArgs, SearchArgs, ToolName,
};
use crate::errors::{ApiError, ErrorCode};
use crate::server::admission::Identity;
use crate::server::metrics::ToolOutcome;
use crate::server::routes::files::{TIMEOUT as REFERENCES_TIMEOUT, navigation_limit};
use crate::server::routes::search::{Route, SearchParams};

/// The smallest `max_bytes` a call may ask for: a heading and a few lines.
const MIN_MAX_BYTES: usize = 256;

const INSTRUCTIONS: &str = "lens searches the indexed repositories exactly and fast. \
Start with `list_repositories` to learn what is indexed; `search` for strings, regexes and \
questions; `find_symbol` for a definition by name; `read_file` to read it; `references` for its \
callers and uses; `definition` and `hover` at a position a result gave. Results carry repo, path, \
1-based line and byte column; answers say what was left out and how to narrow.";

/// One MCP server over a backend; cheap to clone (one per HTTP request).
#[derive(Clone)]
pub struct LensMcp {
    backend: Arc<Backend>,
}

impl LensMcp {
    pub fn new(backend: Arc<Backend>) -> LensMcp {
        LensMcp { backend }
    }

    /// Runs one tool call: its arguments read, the work done, the answer sized.
    pub async fn call(
        &self,
        tool: ToolName,
        args: Value,
        who: Option<&Identity>,
    ) -> Result<Answer, ApiError> {
        match tool {
            ToolName::Search => {
                let a: SearchArgs = arguments(tool, args)?;
                let budget = budget(a.max_bytes)?;
                let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
                let params = SearchParams {
                    q: Some(a.query.clone()),
                    limit: Some(limit),
                    exhaustive: a.exhaustive,
                    cursor: a.cursor,
                    timeout_ms: a.timeout_ms,
                    context: a.context,
                    lang: a.lang,
                    repo: a.repo,
                    file: a.file,
                    stages: None,
                    group: None,
                };
                let r = self.backend.search(who, params, Route::Search).await?;
                Ok(render::search(&a.query, &r, limit, budget))
            }
            ToolName::FindSymbol => {
                let a: FindSymbolArgs = arguments(tool, args)?;
                let budget = budget(a.max_bytes)?;
                let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
                let q = symbol_query(&a)?;
                let params = SearchParams {
                    q: Some(q.clone()),
                    limit: Some(limit),
                    context: Some(0),
                    lang: a.lang,
                    repo: a.repo,
                    file: a.file,
                    ..SearchParams::default()
                };
                let r = self.backend.search(who, params, Route::Symbols).await?;
                Ok(render::search(&q, &r, limit, budget))
            }
            ToolName::Definition | ToolName::References => {
                let a: PositionArgs = arguments(tool, args)?;
                let budget = budget(a.max_bytes)?;
                let limit = navigation_limit(a.limit)?;
                let at = position(&a);
                let nav = if tool == ToolName::Definition {
                    self.backend
                        .with_engine(move |e| e.definition(&at, limit))
                        .await?
                } else {
                    self.backend
                        .with_engine(move |e| {
                            e.references(
                                &at,
                                limit,
                                &lens_core::Deadline::after(REFERENCES_TIMEOUT),
                            )
                        })
                        .await?
                };
                let what = if tool == ToolName::Definition {
                    "definitions"
                } else {
                    "references"
                };
                Ok(render::navigation(what, &nav, budget))
            }
            ToolName::Hover => {
                let a: PositionArgs = arguments(tool, args)?;
                let budget = budget(a.max_bytes)?;
                let at = position(&a);
                let h = self.backend.with_engine(move |e| e.hover(&at)).await?;
                Ok(render::hover(h.as_ref(), budget))
            }
            ToolName::ReadFile => {
                let a: ReadFileArgs = arguments(tool, args)?;
                let budget = budget(a.max_bytes)?;
                let (repo, path) = (a.repo.clone(), a.path.clone());
                let f = self
                    .backend
                    .with_engine(move |e| e.file(&repo, &path))
                    .await?;
                render::file(&f, a.start_line, a.end_line, budget)
            }
            ToolName::ListRepositories => {
                let _: ListRepositoriesArgs = arguments(tool, args)?;
                Ok(render::repositories(self.backend.engine().describe()))
            }
        }
    }

    fn observe(&self, tool: ToolName, ok: bool, seconds: f64) {
        let Some(st) = self.backend.state() else {
            return;
        };
        let m = &st.metrics;
        m.mcp_tool_calls
            .get_or_create(&ToolOutcome {
                tool: tool.as_str().into(),
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        m.mcp_tool_seconds
            .get_or_create(&ToolOutcome {
                tool: tool.as_str().into(),
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .observe(seconds);
    }
}

/// The arguments as the tool's type; a mismatch is `invalid_parameters`.
fn arguments<T: DeserializeOwned>(tool: ToolName, args: Value) -> Result<T, ApiError> {
    serde_json::from_value(args).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidParameters,
            format!("{}: {e}", tool.as_str()),
        )
    })
}

fn budget(max_bytes: Option<usize>) -> Result<usize, ApiError> {
    let b = max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if !(MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(&b) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameters,
            format!("max_bytes must be {MIN_MAX_BYTES}..={MAX_MAX_BYTES}"),
        ));
    }
    Ok(b)
}

fn position(a: &PositionArgs) -> FilePosition {
    FilePosition {
        repo: a.repo.clone(),
        path: a.path.clone(),
        line: a.line,
        character: a.character,
    }
}

/// `find_symbol`'s arguments as a `/symbols` query: `sym:NAME [kind:KIND]`.
fn symbol_query(a: &FindSymbolArgs) -> Result<String, ApiError> {
    let name = a.name.trim();
    let name = name.strip_prefix("sym:").unwrap_or(name);
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "find_symbol: name must be one name, qualified name or /regex/ without spaces",
        ));
    }
    Ok(match a.kind.as_deref() {
        Some(k) => match lens_core::symbols::SymbolKind::parse(k) {
            Some(kind) => format!("sym:{name} kind:{kind}"),
            None => {
                let kinds: Vec<&str> = lens_core::symbols::SymbolKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                return Err(ApiError::new(
                    ErrorCode::InvalidParameters,
                    format!("find_symbol: kind {k:?} is not one of {}", kinds.join(", ")),
                ));
            }
        },
        None => format!("sym:{name}"),
    })
}

impl ServerHandler for LensMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("lens", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Over HTTP, the admission layer's identity (trace id, key, client).
        let who = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Identity>())
            .cloned();
        let Some(tool) = ToolName::parse(&request.name) else {
            return Err(McpError::invalid_params(
                format!(
                    "no tool named {:?}; tools/list gives the names",
                    request.name
                ),
                None,
            ));
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        let started = Instant::now();
        let outcome = self.call(tool, args, who.as_ref()).await;
        self.observe(tool, outcome.is_ok(), started.elapsed().as_secs_f64());
        let trace_id = who.as_ref().map(|w| w.trace_id.as_str());
        let (answer, is_error) = match outcome {
            Ok(a) => (a, false),
            Err(e) => {
                log_error(tool, &e, trace_id);
                (render::error(&e), true)
            }
        };
        let mut structured = answer.structured;
        if let (Some(t), Some(obj)) = (trace_id, structured.as_object_mut()) {
            obj.insert("trace_id".into(), t.into());
        }
        let mut result = if is_error {
            CallToolResult::error(vec![ContentBlock::text(answer.text)])
        } else {
            CallToolResult::success(vec![ContentBlock::text(answer.text)])
        };
        result.structured_content = Some(structured);
        Ok(result.into())
    }
}

/// Server errors with their cause (never sent); refusals at `info`.
fn log_error(tool: ToolName, e: &ApiError, trace_id: Option<&str>) {
    let code = e.code.as_str();
    let trace_id = trace_id.unwrap_or("-");
    if e.code.status().is_server_error() {
        tracing::error!(
            target: "lens::mcp",
            tool = tool.as_str(),
            trace_id,
            code,
            cause = e.cause.as_deref().unwrap_or("-"),
            "tool call failed"
        );
    } else {
        tracing::info!(target: "lens::mcp", tool = tool.as_str(), trace_id, code, "tool call refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(name: &str, kind: Option<&str>) -> FindSymbolArgs {
        FindSymbolArgs {
            name: name.into(),
            kind: kind.map(str::to_string),
            lang: None,
            repo: None,
            file: None,
            limit: None,
            max_bytes: None,
        }
    }

    #[test]
    fn find_symbol_reads_as_a_symbols_query() {
        assert_eq!(symbol_query(&find("parse", None)).unwrap(), "sym:parse");
        assert_eq!(symbol_query(&find(" sym:a::b ", None)).unwrap(), "sym:a::b");
        assert_eq!(
            symbol_query(&find("/^parse_/", Some("function"))).unwrap(),
            "sym:/^parse_/ kind:function"
        );
        assert_eq!(
            symbol_query(&find("x", Some("gizmo"))).unwrap_err().code,
            ErrorCode::InvalidParameters
        );
        for bad in ["", "sym:", "two words"] {
            assert_eq!(
                symbol_query(&find(bad, None)).unwrap_err().code,
                ErrorCode::InvalidQuery
            );
        }
    }

    #[test]
    fn budgets_are_bounded() {
        assert_eq!(budget(None).unwrap(), DEFAULT_MAX_BYTES);
        assert_eq!(budget(Some(MIN_MAX_BYTES)).unwrap(), MIN_MAX_BYTES);
        assert!(budget(Some(MIN_MAX_BYTES - 1)).is_err());
        assert!(budget(Some(MAX_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn every_tool_parses_its_name_and_rejects_unknown_arguments() {
        for t in ToolName::ALL {
            assert_eq!(ToolName::parse(t.as_str()), Some(t));
            let tool = t.tool();
            let schema = serde_json::Value::Object((*tool.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}", t.as_str());
        }
        assert_eq!(ToolName::parse("nope"), None);
        let e = arguments::<SearchArgs>(
            ToolName::Search,
            serde_json::json!({"query": "x", "bogus": 1}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameters);
        assert!(e.message.contains("bogus"), "{}", e.message);
    }
}
