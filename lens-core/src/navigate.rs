//! Code navigation at a position: definition, references and hover. Precise
//! data (imported SCIP/LSIF) answers when it covers the position; otherwise
//! the symbol table and a whole-word search do, flagged `precise: false`.

use std::sync::Arc;

use serde::Serialize;

use crate::bundle::BundleReader;
use crate::error::Result;
use crate::limits::{Deadline, Limits};
use crate::plan::{GrepRequest, Plan};
use crate::symbols::SymbolKind;

/// A place in a bundle file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Location {
    pub repo: Arc<str>,
    pub path: Arc<str>,
    /// 1-based line.
    pub line: u64,
    /// Byte offsets within the line and the file (end exclusive).
    pub start: usize,
    pub end: usize,
    pub abs_start: u64,
    pub abs_end: u64,
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<SymbolKind>,
    #[serde(skip)]
    pub doc: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Navigation {
    pub precise: bool,
    /// The indexer's symbol (precise) or the identifier (search based).
    pub symbol: Option<String>,
    pub locations: Vec<Location>,
    /// Locations before `limit` cut them.
    pub total: usize,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hover {
    pub precise: bool,
    pub symbol: Option<String>,
    /// Markdown.
    pub contents: String,
    /// The span hovered (the identifier or the precise occurrence).
    pub range: Option<Location>,
}

/// Byte offset of a 1-based line and a byte column within it; `None` past the line.
pub fn offset(bundle: &BundleReader, doc: u32, line: u64, column: usize) -> Option<u32> {
    let content = bundle.content(&bundle.docs().get(doc));
    let mut start = 0usize;
    for _ in 1..line {
        start += memchr::memchr(b'\n', &content[start..])? + 1;
    }
    let end = memchr::memchr(b'\n', &content[start..]).map_or(content.len(), |i| start + i);
    (start + column <= end).then_some((start + column) as u32)
}

pub(crate) fn location(
    bundle: &BundleReader,
    doc: u32,
    start: u32,
    end: u32,
    kind: Option<SymbolKind>,
) -> Location {
    let rec = bundle.docs().get(doc);
    let content = bundle.content(&rec);
    let (s, e) = (start as usize, (end as usize).min(content.len()));
    let line_start = memchr::memrchr(b'\n', &content[..s]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &content[s..]).map_or(content.len(), |i| s + i);
    let line = 1 + memchr::memchr_iter(b'\n', &content[..line_start]).count() as u64;
    let shown_end = line_end.min(line_start + crate::limits::MAX_SNIPPET_BYTES.max(e - line_start));
    Location {
        repo: Arc::from(bundle.repo_name(&rec)),
        path: Arc::from(bundle.path(&rec).as_ref()),
        line,
        start: s - line_start,
        end: e - line_start,
        abs_start: s as u64,
        abs_end: e as u64,
        snippet: String::from_utf8_lossy(&content[line_start..shown_end]).into_owned(),
        kind,
        doc,
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The identifier around byte `at` (a cursor just after it counts).
pub fn identifier_at(content: &[u8], at: usize) -> Option<(usize, usize)> {
    let at = at.min(content.len());
    let mut s = at;
    while s > 0 && is_ident(content[s - 1]) {
        s -= 1;
    }
    let mut e = at;
    while e < content.len() && is_ident(content[e]) {
        e += 1;
    }
    (e > s && !content[s].is_ascii_digit()).then_some((s, e))
}

fn finish(
    precise: bool,
    symbol: Option<String>,
    mut locations: Vec<Location>,
    limit: usize,
) -> Navigation {
    let total = locations.len();
    locations.truncate(limit);
    Navigation {
        precise,
        symbol,
        truncated: total > locations.len(),
        total,
        locations,
    }
}

/// Definitions of what is at `at` in `doc`.
pub fn definition(bundle: &BundleReader, doc: u32, at: u32, limit: usize) -> Navigation {
    if let Some(p) = bundle.precise()
        && let Some(occ) = p.occurrence_at(doc, at)
    {
        let locs: Vec<Location> = p
            .occurrences_of(occ.symbol)
            .filter(|o| o.is_definition())
            .map(|o| location(bundle, o.doc, o.start, o.end, None))
            .collect();
        if !locs.is_empty() {
            return finish(true, Some(p.key(occ.symbol).to_string()), locs, limit);
        }
    }
    let content = bundle.content(&bundle.docs().get(doc));
    let Some((s, e)) = identifier_at(content, at as usize) else {
        return finish(false, None, Vec::new(), limit);
    };
    let name = &content[s..e];
    let Some(table) = bundle.symbols() else {
        return finish(
            false,
            Some(String::from_utf8_lossy(name).into_owned()),
            Vec::new(),
            limit,
        );
    };
    let repo = bundle.docs().get(doc).repo;
    let mut defs: Vec<(u8, u32, u32, u32, SymbolKind)> = table
        .lookup(name, false)
        .iter()
        .flat_map(|e| table.ids(e).collect::<Vec<_>>())
        .map(|id| {
            let r = table.record(id);
            // Same file first, then same repository, then the rest.
            let near = if r.doc == doc {
                0
            } else if bundle.docs().get(r.doc).repo == repo {
                1
            } else {
                2
            };
            (
                near * 8 + (3 - r.kind.prior()),
                r.doc,
                r.name_start,
                r.name_end,
                r.kind,
            )
        })
        .collect();
    defs.sort_unstable_by_key(|d| (d.0, d.1, d.2));
    let locs = defs
        .into_iter()
        .map(|(_, d, s, e, k)| location(bundle, d, s, e, Some(k)))
        .collect();
    finish(
        false,
        Some(String::from_utf8_lossy(name).into_owned()),
        locs,
        limit,
    )
}

/// References to what is at `at` in `doc`.
pub fn references(
    bundle: &BundleReader,
    doc: u32,
    at: u32,
    limit: usize,
    deadline: &Deadline,
) -> Result<Navigation> {
    if let Some(p) = bundle.precise()
        && let Some(occ) = p.occurrence_at(doc, at)
    {
        let locs: Vec<Location> = p
            .occurrences_of(occ.symbol)
            .filter(|o| o.is_reference())
            .map(|o| location(bundle, o.doc, o.start, o.end, None))
            .collect();
        return Ok(finish(
            true,
            Some(p.key(occ.symbol).to_string()),
            locs,
            limit,
        ));
    }
    let content = bundle.content(&bundle.docs().get(doc));
    let Some((s, e)) = identifier_at(content, at as usize) else {
        return Ok(finish(false, None, Vec::new(), limit));
    };
    let name = String::from_utf8_lossy(&content[s..e]).into_owned();
    let plan = Plan::from_grep(
        &GrepRequest {
            patterns: vec![name.clone()],
            fixed_string: true,
            case_insensitive: false,
            word: true,
            globs: Vec::new(),
        },
        Limits {
            max_matches: limit.max(1) * 4,
            ..Limits::exhaustive()
        },
    )?;
    let result = crate::search::search(bundle, &plan, deadline)?;
    let locs = result
        .hits
        .iter()
        .filter(|h| !h.definition)
        .map(|h| location(bundle, h.doc, h.abs_start as u32, h.abs_end as u32, None))
        .collect();
    let mut nav = finish(false, Some(name), locs, limit);
    nav.truncated |= result.stats.truncated();
    Ok(nav)
}

/// Hover text for what is at `at` in `doc`.
pub fn hover(bundle: &BundleReader, doc: u32, at: u32) -> Option<Hover> {
    if let Some(p) = bundle.precise()
        && let Some(occ) = p.occurrence_at(doc, at)
        && let Some(text) = p.hover(occ.symbol)
    {
        return Some(Hover {
            precise: true,
            symbol: Some(p.key(occ.symbol).to_string()),
            contents: text.to_string(),
            range: Some(location(bundle, doc, occ.start, occ.end, None)),
        });
    }
    let content = bundle.content(&bundle.docs().get(doc));
    let (s, e) = identifier_at(content, at as usize)?;
    let def = definition(bundle, doc, at, 1)
        .locations
        .into_iter()
        .next()?;
    let file = bundle.file_symbols(def.doc)?;
    let d = file.definition_named_at(def.abs_start as u32, def.abs_end as u32)?;
    let def_content = bundle.content(&bundle.docs().get(def.doc));
    let lang = bundle.language(&bundle.docs().get(def.doc)).to_string();
    let text = signature_and_docs(def_content, d.def_start as usize, d.name_end as usize);
    let scope = d
        .scope
        .as_deref()
        .map(|s| format!(" in {s}"))
        .unwrap_or_default();
    Some(Hover {
        precise: false,
        symbol: Some(d.name.to_string()),
        contents: format!(
            "```{lang}\n{}\n```\n{} {}{scope} — {}:{}{}",
            text.0,
            d.kind,
            d.name,
            def.path,
            def.line,
            text.1.map(|c| format!("\n\n{c}")).unwrap_or_default()
        ),
        range: Some(location(bundle, doc, s as u32, e as u32, None)),
    })
}

/// The definition's head (from its start to the end of the name's line) and
/// the comment block right above it.
fn signature_and_docs(
    content: &[u8],
    def_start: usize,
    name_end: usize,
) -> (String, Option<String>) {
    let head_end = memchr::memchr(b'\n', &content[name_end.min(content.len())..])
        .map_or(content.len(), |i| name_end + i);
    let head = String::from_utf8_lossy(&content[def_start..head_end.max(def_start)])
        .trim()
        .to_string();
    let line_start = memchr::memrchr(b'\n', &content[..def_start]).map_or(0, |i| i + 1);
    let mut lines = Vec::new();
    let mut end = line_start;
    while end > 0 && lines.len() < 40 {
        let s = memchr::memrchr(b'\n', &content[..end - 1]).map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&content[s..end - 1])
            .trim()
            .to_string();
        let comment = ["//", "/*", "*", "#", "--"]
            .iter()
            .any(|p| text.starts_with(p));
        if !comment
            || text.starts_with("#include")
            || text.starts_with("#define")
            || text.starts_with("#[")
        {
            break;
        }
        lines.push(text);
        end = s;
    }
    lines.reverse();
    (head, (!lines.is_empty()).then(|| lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_around_a_cursor() {
        let c = b"let foo_bar = baz(1);";
        assert_eq!(identifier_at(c, 5), Some((4, 11)));
        assert_eq!(identifier_at(c, 11), Some((4, 11)));
        assert_eq!(identifier_at(c, 12), None);
        assert_eq!(identifier_at(c, 19), None);
    }

    #[test]
    fn docs_above_a_definition() {
        let c = b"x\n/// Adds.\n/// Twice.\nfn add(a: u8) {\n}\n";
        let start = c.windows(2).position(|w| w == b"fn").unwrap();
        let (head, docs) = signature_and_docs(c, start, start + 6);
        assert_eq!(head, "fn add(a: u8) {");
        assert_eq!(docs.as_deref(), Some("/// Adds.\n/// Twice."));
    }
}
