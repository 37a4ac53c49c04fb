//! Stage-B: the symbol table (tree-sitter definitions stored in the bundle),
//! `sym:` / `kind:` / `type:symbol` queries over it, and the per-hit symbol
//! facts Stage-A results learn (enclosing definition, definition-name match).

pub mod cache;
pub mod kind;
pub mod query;
pub mod table;

pub use cache::{FileSymbols, SymbolCache};
pub use kind::SymbolKind;
pub use query::{SymbolHit, SymbolPlan, SymbolResult, search_symbols};
pub use table::{SymbolDef, SymbolRecord, SymbolTable, SymbolTableWriter};
