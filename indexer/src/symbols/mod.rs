//! Definitions from tree-sitter at index time (Stage-B). Tags queries are
//! compiled once per process ([`compile_time`] reports how long that took).

mod queries;
pub mod skim;
mod skim_python;
mod skim_rust;

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lens_core::symbols::{SymbolDef, SymbolKind};
use tree_sitter::{Language, Parser, Query, QueryCursor, StreamingIterator};

/// Parsing a file stops after this long (pathological inputs); it then has no symbols.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// Texts larger than this are not parsed (after skimming, for C).
const MAX_PARSE_BYTES: usize = 16 << 20;

struct LangSpec {
    name: &'static str,
    language: Language,
    query: Query,
    /// Kind named by each capture (`@def.KIND`), by capture index.
    capture_kind: Vec<Option<SymbolKind>>,
    name_capture: u32,
    scope_capture: Option<u32>,
    scope_name_capture: Option<u32>,
    receiver_capture: Option<u32>,
    /// `@package`: the file's package (Go), the outermost scope of its definitions.
    package_capture: Option<u32>,
    /// Scope separator in this language.
    separator: &'static str,
}

struct Registry {
    specs: Vec<LangSpec>,
    compile_time: Duration,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let started = Instant::now();
        let langs: Vec<(&'static str, Language, String, &'static str)> = vec![
            (
                "rust",
                tree_sitter_rust::LANGUAGE.into(),
                queries::RUST.to_string(),
                "::",
            ),
            (
                "python",
                tree_sitter_python::LANGUAGE.into(),
                queries::PYTHON.to_string(),
                ".",
            ),
            (
                "javascript",
                tree_sitter_javascript::LANGUAGE.into(),
                queries::javascript(),
                ".",
            ),
            (
                "typescript",
                tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
                queries::typescript(),
                ".",
            ),
            (
                "tsx",
                tree_sitter_typescript::LANGUAGE_TSX.into(),
                queries::typescript(),
                ".",
            ),
            (
                "go",
                tree_sitter_go::LANGUAGE.into(),
                queries::GO.to_string(),
                ".",
            ),
            (
                "java",
                tree_sitter_java::LANGUAGE.into(),
                queries::JAVA.to_string(),
                ".",
            ),
            ("c", tree_sitter_c::LANGUAGE.into(), queries::c(), "::"),
            (
                "cpp",
                tree_sitter_cpp::LANGUAGE.into(),
                queries::cpp(),
                "::",
            ),
        ];
        let specs = langs
            .into_iter()
            .map(|(name, language, src, separator)| {
                let query = Query::new(&language, &src)
                    .unwrap_or_else(|e| panic!("tags query for {name} does not compile: {e}"));
                let capture_kind = query
                    .capture_names()
                    .iter()
                    .map(|c| c.strip_prefix("def.").and_then(SymbolKind::parse))
                    .collect();
                LangSpec {
                    name,
                    name_capture: query.capture_index_for_name("name").expect("@name"),
                    scope_capture: query.capture_index_for_name("scope"),
                    scope_name_capture: query.capture_index_for_name("scope.name"),
                    receiver_capture: query.capture_index_for_name("receiver"),
                    package_capture: query.capture_index_for_name("package"),
                    capture_kind,
                    language,
                    query,
                    separator,
                }
            })
            .collect();
        Registry {
            specs,
            compile_time: started.elapsed(),
        }
    })
}

/// Compiles the tags queries (once) and returns how long that took.
pub fn compile_time() -> Duration {
    registry().compile_time
}

/// Languages with a tags query.
pub fn languages() -> Vec<&'static str> {
    registry().specs.iter().map(|s| s.name).collect()
}

thread_local! {
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
    static CURSOR: RefCell<QueryCursor> = RefCell::new(QueryCursor::new());
}

/// One capture set before nesting is resolved.
struct Raw {
    kind: Option<SymbolKind>,
    pattern: usize,
    name: (usize, usize),
    def: (usize, usize),
    line: u32,
    receiver: Option<String>,
}

/// Definitions of `content` in `lang`, by definition start; empty for
/// languages without a tags query and for files that do not parse in time.
pub fn extract(lang: Option<&str>, content: &[u8]) -> Vec<SymbolDef> {
    extract_with(lang, content, true)
}

/// [`extract`], optionally without skimming C, Rust and Python first (for measuring
/// what skimming changes; see [`skim`]).
#[doc(hidden)]
pub fn extract_with(lang: Option<&str>, content: &[u8], skim: bool) -> Vec<SymbolDef> {
    let Some(spec) = lang.and_then(|l| registry().specs.iter().find(|s| s.name == l)) else {
        return Vec::new();
    };
    // Offsets are u32 in the symbol table.
    if u32::try_from(content.len()).is_err() {
        return Vec::new();
    }
    let skimmed = match (skim, spec.name) {
        (true, "c") => skim::skim_c(content),
        (true, "rust") => skim_rust::skim_rust(content),
        (true, "python") => skim_python::skim_python(content),
        _ => None,
    };
    let Some(skimmed) = skimmed else {
        let raws = tag(spec, content);
        return nest(spec, raws, content);
    };
    let mut raws = tag(spec, &skimmed.text);
    for r in &mut raws {
        r.name = (skimmed.start(r.name.0), skimmed.end(r.name.1));
        r.def = (skimmed.start(r.def.0), skimmed.end(r.def.1));
    }
    raws.extend(skimmed.macros.iter().map(|m| Raw {
        kind: Some(SymbolKind::Macro),
        pattern: usize::MAX,
        name: (m.name.start, m.name.end),
        def: (m.def.start, m.def.end),
        line: 0,
        receiver: None,
    }));
    let newlines: Vec<usize> = memchr::memchr_iter(b'\n', content).collect();
    for r in &mut raws {
        r.line = newlines.partition_point(|&nl| nl < r.name.0) as u32 + 1;
    }
    nest(spec, raws, content)
}

/// The text tree-sitter parses for a file of `lang` once skimmed, when that
/// language is skimmed and the file could be (for the `skim_diff` example).
#[doc(hidden)]
pub fn skimmed_text(lang: &str, content: &[u8]) -> Option<Vec<u8>> {
    match lang {
        "c" => skim::skim_c(content),
        "rust" => skim_rust::skim_rust(content),
        "python" => skim_python::skim_python(content),
        _ => None,
    }
    .map(|s| s.text)
}

/// Raw captures of the tags query over `content`; none when it is too large
/// to parse or does not parse in time.
fn tag(spec: &LangSpec, content: &[u8]) -> Vec<Raw> {
    if content.len() > MAX_PARSE_BYTES {
        return Vec::new();
    }
    let Some(tree) = PARSER.with_borrow_mut(|parser| {
        parser.set_language(&spec.language).ok()?;
        let started = Instant::now();
        let mut over_budget = |_: &tree_sitter::ParseState| {
            if started.elapsed() > PARSE_BUDGET {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut over_budget);
        let len = content.len();
        parser.parse_with_options(
            &mut |i, _| if i < len { &content[i..] } else { &[][..] },
            None,
            Some(options),
        )
    }) else {
        return Vec::new();
    };
    CURSOR.with_borrow_mut(|cursor| collect(spec, cursor, &tree, content))
}

/// Seconds each tags-query pattern of `lang` takes alone over `files` (parsed
/// once up front), or with every pattern but it when `leave_one_out`, with
/// the pattern's source line; the last entry is all patterns together.
#[doc(hidden)]
pub fn pattern_costs(lang: &str, files: &[Vec<u8>], leave_one_out: bool) -> Vec<(f64, String)> {
    let Some(spec) = registry().specs.iter().find(|s| s.name == lang) else {
        return Vec::new();
    };
    let trees: Vec<tree_sitter::Tree> = PARSER.with_borrow_mut(|parser| {
        parser.set_language(&spec.language).expect("language loads");
        files.iter().filter_map(|c| parser.parse(c, None)).collect()
    });
    let source = match lang {
        "rust" => queries::RUST.to_string(),
        "python" => queries::PYTHON.to_string(),
        "javascript" => queries::javascript(),
        "typescript" | "tsx" => queries::typescript(),
        "go" => queries::GO.to_string(),
        "java" => queries::JAVA.to_string(),
        "c" => queries::c(),
        _ => queries::cpp(),
    };
    let lines: Vec<&str> = source
        .lines()
        .filter(|l| l.trim_start().starts_with('('))
        .collect();
    let n_patterns = spec.query.pattern_count();
    (0..=n_patterns)
        .map(|keep| {
            let mut q = Query::new(&spec.language, &source).expect("compiles");
            for i in 0..q.pattern_count() {
                let disable = if keep == n_patterns {
                    false
                } else if leave_one_out {
                    i == keep
                } else {
                    i != keep
                };
                if disable {
                    q.disable_pattern(i);
                }
            }
            let mut cursor = QueryCursor::new();
            let started = Instant::now();
            let mut n = 0usize;
            for (tree, content) in trees.iter().zip(files) {
                let mut it = cursor.matches(&q, tree.root_node(), content.as_slice());
                while it.next().is_some() {
                    n += 1;
                }
            }
            let line = lines.get(keep).copied().unwrap_or("(all patterns)");
            (
                started.elapsed().as_secs_f64(),
                format!("{n:>7} matches  {line}"),
            )
        })
        .collect()
}

/// The syntax tree as an S-expression (for writing tags queries).
#[doc(hidden)]
pub fn sexp(lang: &str, content: &[u8]) -> Option<String> {
    let spec = registry().specs.iter().find(|s| s.name == lang)?;
    PARSER.with_borrow_mut(|parser| {
        parser.set_language(&spec.language).ok()?;
        Some(parser.parse(content, None)?.root_node().to_sexp())
    })
}

/// Parses without running the tags query (for measuring the split).
#[doc(hidden)]
pub fn parse_only(lang: Option<&str>, content: &[u8]) -> bool {
    let Some(spec) = lang.and_then(|l| registry().specs.iter().find(|s| s.name == l)) else {
        return false;
    };
    PARSER
        .with_borrow_mut(|parser| {
            parser.set_language(&spec.language).ok()?;
            parser.parse(content, None)
        })
        .is_some()
}

fn collect(
    spec: &LangSpec,
    cursor: &mut QueryCursor,
    tree: &tree_sitter::Tree,
    content: &[u8],
) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut matches = cursor.matches(&spec.query, tree.root_node(), content);
    while let Some(m) = matches.next() {
        let mut kind = None;
        let mut name = None;
        let mut def = None;
        let mut receiver = None;
        let mut dropped = false;
        for c in m.captures() {
            let r = c.node.byte_range();
            if c.index == spec.name_capture || Some(c.index) == spec.scope_name_capture {
                let mut node = c.node;
                if matches!(spec.name, "c" | "cpp") && is_attribute_macro(&content[r.clone()]) {
                    match real_name_beside_attribute(node) {
                        Some(real) => node = real,
                        None => dropped = true,
                    }
                }
                name = Some((node.byte_range(), node.start_position().row));
            }
            // The package spans the file: a scope for every definition in it.
            if Some(c.index) == spec.package_capture {
                name = Some((r.clone(), c.node.start_position().row));
                def = Some(0..content.len());
            }
            if Some(c.index) == spec.receiver_capture {
                receiver = Some(scope_text(&content[r.clone()]));
            }
            let def_kind = spec.capture_kind[c.index as usize];
            if def_kind.is_some() {
                kind = def_kind;
            }
            if def_kind.is_some() || Some(c.index) == spec.scope_capture {
                def = Some(r);
            }
        }
        if let (Some((n, row)), Some(d), false) = (name, def, dropped) {
            out.push(Raw {
                kind,
                pattern: m.pattern_index,
                name: (n.start, n.end),
                def: (d.start, d.end),
                line: row as u32 + 1,
                receiver,
            });
        }
    }
    out
}

/// Linux-style attribute macros that tree-sitter, not knowing them, takes for the name in
/// `} __packed salt_t;` or `static int x __initdata = 1;`.
const ATTRIBUTE_MACROS: &[&str] = &[
    "__packed",
    "__aligned",
    "__bitwise",
    "__initdata",
    "__initconst",
    "__read_mostly",
    "__ro_after_init",
    "__maybe_unused",
    "__always_unused",
    "__cacheline_aligned",
    "__cacheline_aligned_in_smp",
    "__refdata",
    "__exitdata",
    "__meminitdata",
    "__initdata_or_module",
    "__nosavedata",
    "__page_aligned_bss",
    "__page_aligned_data",
    "__percpu",
    "__used",
    "__weak",
];

fn is_attribute_macro(name: &[u8]) -> bool {
    ATTRIBUTE_MACROS.iter().any(|m| m.as_bytes() == name)
}

/// The identifier an attribute macro displaced: alone in an ERROR node next to the captured
/// name (or next to its declarator), or the type-looking word of `unsigned long mask
/// __read_mostly`. `None` when there is none: the capture was the macro alone.
fn real_name_beside_attribute<'t>(name: tree_sitter::Node<'t>) -> Option<tree_sitter::Node<'t>> {
    let mut at = Some(name);
    for _ in 0..2 {
        let n = at?;
        if let Some(real) = lone_identifier(n.next_named_sibling())
            .or_else(|| lone_identifier(n.prev_named_sibling()))
        {
            return Some(real);
        }
        if let Some(parent) = n.parent().filter(|p| p.kind() == "declaration")
            && let Some(ty) = parent.child_by_field_name("type")
            && ty.kind() == "sized_type_specifier"
        {
            return ty
                .child_by_field_name("type")
                .filter(|t| t.kind() == "type_identifier");
        }
        at = n.parent();
    }
    None
}

/// The identifier of an ERROR node that holds nothing else.
fn lone_identifier<'t>(n: Option<tree_sitter::Node<'t>>) -> Option<tree_sitter::Node<'t>> {
    let n = n.filter(|n| n.kind() == "ERROR" && n.named_child_count() == 1)?;
    n.named_child(0)
        .filter(|c| matches!(c.kind(), "identifier" | "type_identifier"))
}

/// A container's name as a scope segment: generic arguments and whitespace dropped.
fn scope_text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.split('<').next().unwrap_or("");
    s.split_whitespace().collect::<Vec<_>>().join("")
}

/// Dedupes (earliest pattern wins per name), orders by definition start
/// (outer first), and resolves parents and scope paths.
fn nest(spec: &LangSpec, mut raws: Vec<Raw>, content: &[u8]) -> Vec<SymbolDef> {
    raws.sort_by(|a, b| {
        a.def
            .0
            .cmp(&b.def.0)
            .then(b.def.1.cmp(&a.def.1))
            .then(a.pattern.cmp(&b.pattern))
    });
    // One entry per name span: the lowest pattern index (most specific).
    let mut best: std::collections::HashMap<(usize, usize), usize> = Default::default();
    for (i, r) in raws.iter().enumerate() {
        let e = best.entry(r.name).or_insert(i);
        if raws[*e].pattern > r.pattern {
            *e = i;
        }
    }
    let keep: Vec<bool> = (0..raws.len())
        .map(|i| best.get(&raws[i].name) == Some(&i))
        .collect();
    let mut out: Vec<SymbolDef> = Vec::new();
    // Open containers: (def span, out index or None for scope-only, scope path of children).
    let mut stack: Vec<((usize, usize), Option<u32>, String)> = Vec::new();
    for (r, keep) in raws.into_iter().zip(keep) {
        // Zero-width names are tree-sitter's MISSING nodes in broken code.
        if !keep || r.name.0 == r.name.1 {
            continue;
        }
        // Names of one declaration (`var a, b = 1, 2`) share its span: siblings, not nested.
        while stack.last().is_some_and(|&((start, end), ..)| {
            end < r.def.1 || end <= r.def.0 || (start, end) == r.def
        }) {
            stack.pop();
        }
        let parent = stack.iter().rev().find_map(|(_, i, _)| *i);
        let mut scope = stack.last().map(|(_, _, s)| s.clone()).unwrap_or_default();
        if let Some(rcv) = &r.receiver {
            if !scope.is_empty() {
                scope.push_str(spec.separator);
            }
            scope.push_str(rcv);
        }
        let name = scope_text(&content[r.name.0..r.name.1]);
        let child_scope = if scope.is_empty() {
            name
        } else {
            format!("{scope}{}{name}", spec.separator)
        };
        let index = match r.kind {
            Some(kind) if u32::try_from(r.def.1).is_ok() => {
                out.push(SymbolDef {
                    kind,
                    name_start: r.name.0 as u32,
                    name_end: r.name.1 as u32,
                    def_start: r.def.0 as u32,
                    def_end: r.def.1 as u32,
                    line: r.line,
                    parent,
                    scope: (!scope.is_empty()).then_some(scope),
                });
                Some(out.len() as u32 - 1)
            }
            _ => None,
        };
        stack.push((r.def, index, child_scope));
    }
    out
}

#[cfg(test)]
mod tests;
