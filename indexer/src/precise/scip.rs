//! SCIP (protobuf) indexes, decoded with the `scip` crate.

use std::path::Path;

use protobuf::Message;
use scip::types::{Index, PositionEncoding};

use super::{RawIndex, RawOccurrence, file_uri_path, read_error};
use crate::BuildError;

const DEFINITION_ROLE: i32 = 0x1;

pub(crate) fn read(path: &Path) -> Result<RawIndex, BuildError> {
    let bytes = std::fs::read(path).map_err(|e| read_error(path, e))?;
    let index = Index::parse_from_bytes(&bytes)
        .map_err(|e| read_error(path, format!("not a SCIP index: {e}")))?;
    drop(bytes);
    let meta = index.metadata.get_or_default();
    let tool = meta.tool_info.get_or_default();
    let mut raw = RawIndex {
        tool: format!("{} {}", tool.name, tool.version).trim().to_string(),
        root: file_uri_path(&meta.project_root),
        // Indexers that predate the field count UTF-16 code units (as LSP does).
        utf16: true,
        ..RawIndex::default()
    };
    for doc in &index.documents {
        let utf8 = doc.position_encoding.enum_value()
            == Ok(PositionEncoding::UTF8CodeUnitOffsetFromLineStart);
        raw.utf16 = !utf8;
        raw.documents.push(doc.relative_path.clone());
        for s in &doc.symbols {
            if !s.documentation.is_empty() {
                raw.hovers.insert(
                    symbol_key(&doc.relative_path, &s.symbol),
                    s.documentation.join("\n"),
                );
            }
        }
        for o in &doc.occurrences {
            let r = &o.range;
            let (start, end) = match r.len() {
                3 => ((r[0], r[1]), (r[0], r[2])),
                4 => ((r[0], r[1]), (r[2], r[3])),
                _ => continue,
            };
            if o.symbol.is_empty() || start.0 < 0 || start.1 < 0 || end.0 < 0 || end.1 < 0 {
                continue;
            }
            raw.occurrences.push(RawOccurrence {
                path: doc.relative_path.clone(),
                start: (start.0 as u32, start.1 as u32),
                end: (end.0 as u32, end.1 as u32),
                symbol: symbol_key(&doc.relative_path, &o.symbol),
                flags: lens_core::precise::RESOLVES
                    | if o.symbol_roles & DEFINITION_ROLE != 0 {
                        lens_core::precise::DEFINITION
                    } else {
                        lens_core::precise::REFERENCE
                    },
            });
        }
    }
    for s in &index.external_symbols {
        if !s.documentation.is_empty() {
            raw.hovers
                .entry(s.symbol.clone())
                .or_insert_with(|| s.documentation.join("\n"));
        }
    }
    Ok(raw)
}

/// `local N` symbols are scoped to their document.
fn symbol_key(doc: &str, symbol: &str) -> String {
    if symbol.starts_with("local ") {
        format!("{doc}#{symbol}")
    } else {
        symbol.to_string()
    }
}
