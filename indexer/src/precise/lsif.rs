//! LSIF dumps: JSON lines streamed one at a time and parsed with simd-json
//! into `lsp-types`' LSIF types, keeping only the graph needed to resolve
//! definitions, references and hovers (never the whole dump).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use lsp_types::lsif::{Edge, Element, Entry, ItemKind, Vertex};
use lsp_types::{HoverContents, MarkedString, NumberOrString};

use super::{RawIndex, RawOccurrence, file_uri_path, read_error};
use crate::BuildError;
use lens_core::precise::{DEFINITION, REFERENCE, RESOLVES};

fn key(id: &NumberOrString) -> u64 {
    match id {
        NumberOrString::Number(n) => *n as u32 as u64,
        NumberOrString::String(s) => xxhash_rust::xxh3::xxh3_64(s.as_bytes()) | 1 << 63,
    }
}

/// The vertex and edge labels the import reads; other lines are skipped unparsed.
const TYPED: [&str; 12] = [
    "document",
    "range",
    "resultSet",
    "definitionResult",
    "referenceResult",
    "hoverResult",
    "contains",
    "next",
    "item",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/hover",
];

/// An item edge whose property `lsp-types` does not know.
fn unknown_property(line: &[u8]) -> bool {
    const KNOWN: [&[u8]; 5] = [
        b"declarations",
        b"definitions",
        b"references",
        b"referenceResults",
        b"implementationResults",
    ];
    let Some(at) = memchr::memmem::find(line, b"\"property\":\"") else {
        return false;
    };
    let v = &line[at + 12..];
    let len = memchr::memchr(b'"', v).unwrap_or(v.len());
    !KNOWN.contains(&&v[..len])
}

fn label(line: &[u8]) -> Option<&str> {
    let at = memchr::memmem::find(line, b"\"label\":\"")? + 9;
    let len = memchr::memchr(b'"', &line[at..])?;
    std::str::from_utf8(&line[at..at + len]).ok()
}

/// Start and end (0-based line, column).
type Span = ((u32, u32), (u32, u32));

#[derive(Default)]
struct Graph {
    documents: HashMap<u64, String>,
    ranges: HashMap<u64, Span>,
    range_doc: HashMap<u64, u64>,
    next: HashMap<u64, u64>,
    definition_of: HashMap<u64, u64>,
    references_of: HashMap<u64, u64>,
    hover_of: HashMap<u64, u64>,
    hovers: HashMap<u64, String>,
    /// definitionResult -> ranges
    definitions: HashMap<u64, Vec<u64>>,
    /// referenceResult -> ranges listed as references, and nested referenceResults
    references: HashMap<u64, Vec<u64>>,
    nested: HashMap<u64, Vec<u64>>,
    root: Option<String>,
    utf16: bool,
    tool: String,
}

fn hover_text(c: &HoverContents) -> String {
    let one = |m: &MarkedString| match m {
        MarkedString::String(s) => s.clone(),
        MarkedString::LanguageString(l) => l.value.clone(),
    };
    match c {
        HoverContents::Scalar(m) => one(m),
        HoverContents::Array(v) => v.iter().map(one).collect::<Vec<_>>().join("\n"),
        HoverContents::Markup(m) => m.value.clone(),
    }
}

pub(crate) fn read(path: &Path) -> Result<RawIndex, BuildError> {
    let file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut g = Graph {
        utf16: true,
        tool: "lsif".into(),
        ..Graph::default()
    };
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| read_error(path, e))?
            == 0
        {
            break;
        }
        n += 1;
        let Some(lbl) = label(&line).map(str::to_string) else {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Err(read_error(path, format!("line {n}: no label")));
        };
        match lbl.as_str() {
            "metaData" | "group" | "project" => {
                let v: simd_json::OwnedValue = simd_json::to_owned_value(&mut line)
                    .map_err(|e| read_error(path, format!("line {n}: {e}")))?;
                use simd_json::prelude::*;
                if let Some(enc) = v.get_str("positionEncoding") {
                    g.utf16 = enc == "utf-16";
                }
                if let Some(root) = v.get_str("rootUri").or_else(|| v.get_str("projectRoot")) {
                    g.root.get_or_insert_with(|| root.to_string());
                }
                if let Some(t) = v.get("toolInfo") {
                    g.tool = format!(
                        "{} {}",
                        t.get_str("name").unwrap_or(""),
                        t.get_str("version").unwrap_or("")
                    )
                    .trim()
                    .to_string();
                }
                continue;
            }
            l if TYPED.contains(&l) => {}
            _ => continue,
        }
        if lbl == "item" && unknown_property(&line) {
            // e.g. lsif-tsc's "referenceLinks" (monikers), which the import does not follow.
            continue;
        }
        if lbl == "item" {
            // LSIF 0.6 renamed an item's "document" to "shard".
            if let Some(at) = memchr::memmem::find(&line, b"\"shard\":") {
                line.splice(at..at + 8, b"\"document\":".iter().copied());
            }
        }
        let entry: Entry = simd_json::serde::from_slice(&mut line)
            .map_err(|e| read_error(path, format!("line {n}: {e}")))?;
        let id = key(&entry.id);
        match entry.data {
            Element::Vertex(Vertex::Document(d)) => {
                g.documents.insert(id, d.uri.as_str().to_string());
            }
            Element::Vertex(Vertex::Range { range, .. }) => {
                g.ranges.insert(
                    id,
                    (
                        (range.start.line, range.start.character),
                        (range.end.line, range.end.character),
                    ),
                );
            }
            Element::Vertex(Vertex::HoverResult { result }) => {
                g.hovers.insert(id, hover_text(&result.contents));
            }
            Element::Vertex(_) => {}
            Element::Edge(Edge::Contains(e)) => {
                let out = key(&e.out_v);
                if g.documents.contains_key(&out) {
                    for r in &e.in_vs {
                        g.range_doc.insert(key(r), out);
                    }
                }
            }
            Element::Edge(Edge::Next(e)) => {
                g.next.insert(key(&e.out_v), key(&e.in_v));
            }
            Element::Edge(Edge::Definition(e)) => {
                g.definition_of.insert(key(&e.out_v), key(&e.in_v));
            }
            Element::Edge(Edge::References(e)) => {
                g.references_of.insert(key(&e.out_v), key(&e.in_v));
            }
            Element::Edge(Edge::Hover(e)) => {
                g.hover_of.insert(key(&e.out_v), key(&e.in_v));
            }
            Element::Edge(Edge::Item(item)) => {
                let out = key(&item.edge_data.out_v);
                let ins = item.edge_data.in_vs.iter().map(key);
                match item.property {
                    Some(ItemKind::References) => g.references.entry(out).or_default().extend(ins),
                    Some(ItemKind::ReferenceResults) => {
                        g.nested.entry(out).or_default().extend(ins)
                    }
                    // Items of a definitionResult carry no property; a
                    // referenceResult's "definitions" are also listed there.
                    None | Some(ItemKind::Definitions) | Some(ItemKind::Declarations) => {
                        if item.property.is_none() {
                            g.definitions.entry(out).or_default().extend(ins)
                        }
                    }
                    Some(ItemKind::ImplementationResults) => {}
                }
            }
            Element::Edge(_) => {}
        }
    }
    Ok(resolve(g))
}

/// The chain range -> next -> ... ; the first vertex carrying `edges`.
fn along(g: &Graph, start: u64, edges: &HashMap<u64, u64>) -> Option<u64> {
    let mut v = start;
    for _ in 0..64 {
        if let Some(&t) = edges.get(&v) {
            return Some(t);
        }
        v = *g.next.get(&v)?;
    }
    None
}

fn all_references(g: &Graph, result: u64, out: &mut Vec<u64>, depth: usize) {
    if depth > 16 {
        return;
    }
    out.extend(g.references.get(&result).into_iter().flatten());
    for &n in g.nested.get(&result).into_iter().flatten() {
        all_references(g, n, out, depth + 1);
    }
}

fn resolve(g: Graph) -> RawIndex {
    let root = g.root.as_deref().and_then(file_uri_path);
    let rel = |uri: &str| -> String {
        let p = file_uri_path(uri).unwrap_or_else(|| uri.into());
        match &root {
            Some(r) => p
                .strip_prefix(r)
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_else(|_| p.to_string_lossy().into_owned()),
            None => p.to_string_lossy().into_owned(),
        }
    };
    let doc_paths: HashMap<u64, String> = g
        .documents
        .iter()
        .map(|(&id, uri)| (id, rel(uri)))
        .collect();
    let mut raw = RawIndex {
        tool: g.tool.clone(),
        root: root.clone(),
        utf16: g.utf16,
        documents: doc_paths.values().cloned().collect(),
        ..RawIndex::default()
    };
    raw.documents.sort();
    let occurrence = |range: u64, symbol: &str, flags: u32| -> Option<RawOccurrence> {
        let (start, end) = *g.ranges.get(&range)?;
        let path = doc_paths.get(g.range_doc.get(&range)?)?.clone();
        Some(RawOccurrence {
            path,
            start,
            end,
            symbol: symbol.to_string(),
            flags,
        })
    };
    let mut ids: Vec<u64> = g.ranges.keys().copied().collect();
    ids.sort_unstable();
    for r in ids {
        // A range's answers are what its chain reaches first, so ranges that
        // share their first result set share a symbol.
        let symbol = g.next.get(&r).copied().unwrap_or(r).to_string();
        if let Some(h) = along(&g, r, &g.hover_of).and_then(|h| g.hovers.get(&h)) {
            raw.hovers
                .entry(symbol.clone())
                .or_insert_with(|| h.clone());
        }
        raw.occurrences.extend(occurrence(r, &symbol, RESOLVES));
        if let Some(defs) = along(&g, r, &g.definition_of).and_then(|d| g.definitions.get(&d)) {
            raw.occurrences.extend(
                defs.iter()
                    .filter_map(|&d| occurrence(d, &symbol, DEFINITION)),
            );
        }
        if let Some(result) = along(&g, r, &g.references_of) {
            let mut refs = Vec::new();
            all_references(&g, result, &mut refs, 0);
            raw.occurrences.extend(
                refs.iter()
                    .filter_map(|&x| occurrence(x, &symbol, REFERENCE)),
            );
        }
    }
    raw
}
