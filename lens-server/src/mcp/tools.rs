//! The tools an agent sees: names, descriptions that teach their use, and
//! argument types whose JSON schemas are derived from the structs that read
//! them (so the schema and the parser cannot drift apart).

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{Tool, ToolAnnotations};
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;

/// The text budget of a result unless the call gives `max_bytes`.
pub const DEFAULT_MAX_BYTES: usize = 6_000;
/// The largest budget a call may ask for.
pub const MAX_MAX_BYTES: usize = 200_000;
/// Results asked of the engine unless the call gives `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// Lines `read_file` returns unless the call gives `end_line`.
pub const DEFAULT_READ_LINES: u64 = 200;

const QUERY_SYNTAX: &str = "\
Query language (the same as lens's HTTP API and CLI):
- `foo bar`: files containing both words (AND); bare words are literal substrings, so `foo(bar` needs no quotes.
- `\"foo bar\"`: an exact string; `/fo+\\s*bar/`: a regex (Rust syntax).
- `foo or bar`, `-foo` (exclude), `( … )`.
- Filters: `lang:rust`, `file:src/.*\\.rs$` (path regex), `repo:NAME`, `case:yes`.
- Symbols: `sym:parse_query` (definitions named so), `sym:Engine::open`, `sym:/^parse_/`, `kind:function` (also method class struct enum interface trait type constant variable macro module field).
- A question in prose (\"where are bundles verified\") is answered by meaning.";

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// The query, in lens's query language (see the tool description).
    pub query: String,
    /// Results wanted (1–1000, default 20). Ranked: the best `limit`; exhaustive: one page.
    pub limit: Option<usize>,
    /// Every match in a fixed order, a page at a time (with `cursor`), instead of the best ones.
    pub exhaustive: Option<bool>,
    /// The `next_cursor` of a previous exhaustive call, for its next page.
    pub cursor: Option<String>,
    /// Deadline in milliseconds (default 5000, at most 60000); partial results are flagged.
    pub timeout_ms: Option<u64>,
    /// Lines of context before and after each match (default 1).
    pub context: Option<usize>,
    /// Only files of this language (e.g. `rust`, `python`, `c`).
    pub lang: Option<String>,
    /// Only repositories whose name matches this regex.
    pub repo: Option<String>,
    /// Only paths matching this regex.
    pub file: Option<String>,
    /// Size budget of the text answer in bytes (default 6000, at most 200000).
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct FindSymbolArgs {
    /// A definition's name (`parse_query`), qualified (`Engine::open`, `http.Server`), or a regex (`/^parse_/`).
    pub name: String,
    /// Only definitions of this kind.
    #[schemars(schema_with = "kind_schema")]
    pub kind: Option<String>,
    /// Only files of this language.
    pub lang: Option<String>,
    /// Only repositories whose name matches this regex.
    pub repo: Option<String>,
    /// Only paths matching this regex.
    pub file: Option<String>,
    /// Definitions wanted (1–1000, default 20).
    pub limit: Option<usize>,
    /// Size budget of the text answer in bytes (default 6000, at most 200000).
    pub max_bytes: Option<usize>,
}

/// `kind`'s schema: a string, one of the kinds the query language knows.
fn kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let kinds: Vec<&str> = lens_core::symbols::SymbolKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    schemars::json_schema!({
        "type": "string",
        "enum": kinds,
        "description": "Only definitions of this kind.",
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PositionArgs {
    /// The repository, as results name it.
    pub repo: String,
    /// The path within the repository, as results name it.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 0-based byte offset of the identifier within the line (a result's `start`).
    pub character: usize,
    /// Locations wanted (1–10000, default 100; definition and references only).
    pub limit: Option<usize>,
    /// Size budget of the text answer in bytes (default 6000, at most 200000).
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// The repository, as results name it.
    pub repo: String,
    /// The path within the repository.
    pub path: String,
    /// First line to return, 1-based (default 1).
    pub start_line: Option<u64>,
    /// Last line to return, inclusive (default start_line + 199).
    pub end_line: Option<u64>,
    /// Size budget of the text answer in bytes (default 6000, at most 200000).
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ListRepositoriesArgs {}

/// The tools, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolName {
    Search,
    FindSymbol,
    Definition,
    References,
    Hover,
    ReadFile,
    ListRepositories,
}

impl ToolName {
    pub const ALL: [ToolName; 7] = [
        ToolName::Search,
        ToolName::FindSymbol,
        ToolName::Definition,
        ToolName::References,
        ToolName::Hover,
        ToolName::ReadFile,
        ToolName::ListRepositories,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::Search => "search",
            ToolName::FindSymbol => "find_symbol",
            ToolName::Definition => "definition",
            ToolName::References => "references",
            ToolName::Hover => "hover",
            ToolName::ReadFile => "read_file",
            ToolName::ListRepositories => "list_repositories",
        }
    }

    pub fn parse(name: &str) -> Option<ToolName> {
        ToolName::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn description(self) -> String {
        match self {
            ToolName::Search => format!(
                "Search the indexed code: exact strings, regexes, symbols and prose questions. \
                 Returns matching lines grouped by file, with line numbers and context, best first. \
                 Use `find_symbol` when you know a definition's name, `read_file` to see more of a file.\n\n\
                 {QUERY_SYNTAX}\n\n\
                 Examples: `spin_lock_irqsave lang:c`, `\"fn main(\" file:src/`, `/impl\\s+Searcher\\s+for/`, \
                 `TODO -file:test`, `how are cursors encoded`.\n\
                 The answer says how many more matches there are and how to narrow them."
            ),
            ToolName::FindSymbol => "Find definitions (functions, methods, types, constants, macros, …) by name. \
                 Exact name: `parse_query`; qualified by its scope: `Engine::open`, `http.ListenAndServe`; \
                 a regex: `/^parse_/`. Narrow with `kind`, `lang`, `repo`, `file`. \
                 Each result gives repo, path, line and the byte column of the name: pass them to \
                 `definition`, `references` or `hover`, or to `read_file` to read the body."
                .into(),
            ToolName::Definition => "Where the identifier at a position is defined. \
                 Give repo, path, 1-based line and the identifier's byte column in the line \
                 (a search or find_symbol result's `start`). Precise (from SCIP/LSIF) where the bundle has it, \
                 else from the symbol table; the answer says which."
                .into(),
            ToolName::References => "Every use of the identifier at a position (its callers, readers, …), \
                 each with the line and the enclosing definition where known. Position as for `definition`. \
                 Precise where the bundle has SCIP/LSIF data, else a whole-word search."
                .into(),
            ToolName::Hover => "What the identifier at a position is: its signature and the comment above \
                 its definition, as markdown. Position as for `definition`."
                .into(),
            ToolName::ReadFile => "Read lines of an indexed file, numbered. Give repo and path as results name them; \
                 `start_line`/`end_line` pick a range (default: the first 200 lines). \
                 The answer says how many lines the file has and how to read on."
                .into(),
            ToolName::ListRepositories => "What the index holds: each repository with its files, bytes and \
                 files per language, and the bundle's version and layers. Call it first to learn the repo \
                 names the other tools take."
                .into(),
        }
    }

    fn schema(self) -> Arc<rmcp::model::JsonObject> {
        match self {
            ToolName::Search => schema_for_type::<SearchArgs>(),
            ToolName::FindSymbol => schema_for_type::<FindSymbolArgs>(),
            ToolName::Definition | ToolName::References | ToolName::Hover => {
                schema_for_type::<PositionArgs>()
            }
            ToolName::ReadFile => schema_for_type::<ReadFileArgs>(),
            ToolName::ListRepositories => schema_for_type::<ListRepositoriesArgs>(),
        }
    }

    fn title(self) -> &'static str {
        match self {
            ToolName::Search => "Search code",
            ToolName::FindSymbol => "Find a definition by name",
            ToolName::Definition => "Go to definition",
            ToolName::References => "Find references",
            ToolName::Hover => "Hover",
            ToolName::ReadFile => "Read a file",
            ToolName::ListRepositories => "List repositories",
        }
    }

    pub fn tool(self) -> Tool {
        let annotations = ToolAnnotations::with_title(self.title())
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false);
        Tool::new(self.as_str(), self.description(), self.schema())
            .with_title(self.title())
            .with_annotations(annotations)
    }
}

/// Every tool, in the order `tools/list` gives them.
pub fn all() -> Vec<Tool> {
    ToolName::ALL.into_iter().map(ToolName::tool).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kind`'s schema lists exactly the kinds the query language knows.
    #[test]
    fn kinds_are_the_symbol_kinds() {
        let schema = serde_json::Value::Object((*schema_for_type::<FindSymbolArgs>()).clone());
        let listed = &schema["properties"]["kind"]["enum"];
        let kinds: Vec<&str> = lens_core::symbols::SymbolKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(listed, &serde_json::json!(kinds), "{schema}");
    }
}
