//! Agreement of lens's tree-sitter definitions with universal-ctags: recall@10
//! of `sym:NAME` queries against ctags' definitions of the major kinds, with
//! every miss classified by cause.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use lens_core::symbols::query::{NameMatch, SymNode, SymbolPlan, search_symbols};
use lens_core::{BundleReader, Deadline, Limits};
use serde::{Deserialize, Serialize};

/// One ctags tag (`ctags --output-format=json --fields=+nKl`).
#[derive(Debug, Clone, Deserialize)]
pub struct CtagsTag {
    #[serde(rename = "_type")]
    pub tag_type: String,
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub line: u64,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub language: String,
    /// The enclosing scope as ctags writes it (`--fields=+s`: `bytes.Buffer`,
    /// `ns::Widget`), when there is one.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The lens kind family of a ctags kind, for the major kinds only
/// (functions, methods, types, macros, modules); members, variables and
/// enumerators are left out.
pub fn major_kind(language: &str, kind: &str) -> Option<&'static str> {
    Some(match kind {
        "function" | "generator" => "function",
        // Go's ctags calls functions and methods `func`, type definitions
        // `type` (besides `struct` and `interface`) and aliases `talias`.
        "func" if language == "Go" => "function",
        "type" | "talias" if language == "Go" => "type",
        // Java annotation types are interfaces (`@interface`).
        "annotation" if language == "Java" => "interface",
        "method" => "method",
        // Python's ctags calls methods members; elsewhere members are fields.
        "member" if language == "Python" => "method",
        "class" => "class",
        "struct" => "struct",
        "union" => "union",
        "enum" => "enum",
        "interface" => "interface",
        "typedef" | "alias" => "type",
        "macro" => "macro",
        // Python's ctags "namespace" is an import alias (`import x as y`), not a definition.
        "namespace" if language == "Python" => return None,
        "namespace" | "module" => "module",
        _ => return None,
    })
}

/// Languages lens extracts, by ctags' name.
const LANGUAGES: [&str; 8] = [
    "C",
    "C++",
    "Rust",
    "Python",
    "TypeScript",
    "JavaScript",
    "Go",
    "Java",
];

/// Whether ctags made the name up for an anonymous definition: `__anon…` (C
/// structs, unions, enums) or `AnonymousFunction…`/`AnonymousClass…` followed by
/// hex digits (JavaScript, TypeScript).
pub fn anonymous(name: &str) -> bool {
    if name.starts_with("__anon") {
        return true;
    }
    ["AnonymousFunction", "AnonymousClass", "AnonymousObject"]
        .iter()
        .filter_map(|p| name.strip_prefix(p))
        .any(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads ctags JSON lines, keeping definitions of major kinds in lens's languages.
pub fn read_tags(path: &Path) -> std::io::Result<Vec<CtagsTag>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<CtagsTag>(l).ok())
        .filter(|t| t.tag_type == "tag" && LANGUAGES.contains(&t.language.as_str()))
        .filter(|t| major_kind(&t.language, &t.kind).is_some())
        // ctags names anonymous definitions itself: no source name to search for.
        .filter(|t| !anonymous(&t.name))
        .map(|mut t| {
            if let Some(p) = t.path.strip_prefix("./") {
                t.path = p.to_string();
            }
            t
        })
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub name: String,
    pub path: String,
    pub line: u64,
    pub ctags_kind: String,
    pub language: String,
    pub cause: &'static str,
    /// The line ctags points at, as lens stores it (empty for ranked-out misses).
    pub text: String,
}

impl Miss {
    fn of(name: &str, t: &CtagsTag, cause: &'static str, text: String) -> Miss {
        Miss {
            name: name.to_string(),
            path: t.path.clone(),
            line: t.line,
            ctags_kind: t.kind.clone(),
            language: t.language.clone(),
            cause,
            text,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub queries: usize,
    /// Distinct (path, line) ctags definitions of the sampled names.
    pub definitions: usize,
    /// Mean over names of |ctags definitions in lens's top 10| / min(|ctags definitions|, 10).
    pub recall_at_10: f64,
    /// Share of the ctags definitions lens has anywhere (no rank cut-off).
    pub found_anywhere: f64,
    /// Recall@10 by ctags kind family.
    pub by_kind: BTreeMap<String, (usize, f64)>,
    /// Recall@10 by ctags language (of the name's first tag).
    pub by_language: BTreeMap<String, (usize, f64)>,
    /// Lost top-10 slots (each name has min(|ctags definitions|, 10)) by cause:
    /// a ctags definition lens does not have at all (classified), or one lens has
    /// that ranks below other definitions of the same name.
    pub misses_by_cause: BTreeMap<&'static str, usize>,
    /// Every ctags definition of a sampled name that lens does not have at all, by cause.
    pub absent_by_cause: BTreeMap<&'static str, usize>,
    /// Up to five misses per cause (absent definitions and ranked-out ones).
    pub examples: Vec<Miss>,
    /// Every miss (not serialised; `ctags-agreement --misses FILE` writes them).
    #[serde(skip)]
    pub misses: Vec<Miss>,
    /// ctags tags in files the bundle does not hold (skipped by lens), left out.
    pub tags_outside_bundle: usize,
    /// Qualified queries (`sym:SCOPE.NAME`, `sym:Scope::name`) made from ctags'
    /// scopes of the sampled names' definitions, one per distinct qualified name.
    pub qualified_queries: usize,
    /// Mean over them of |its ctags definitions in lens's top 10| / min(|…|, 10).
    pub qualified_recall_at_10: f64,
    /// The same by ctags language.
    pub qualified_by_language: BTreeMap<String, (usize, f64)>,
    /// Up to ten qualified queries that missed a definition.
    pub qualified_examples: Vec<QualifiedMiss>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualifiedMiss {
    pub query: String,
    pub path: String,
    pub line: u64,
    pub language: String,
}

/// The query a user of the tag's language types for its qualified name, when
/// ctags gives it a scope made of names (not one it invents, like Go's `p._`).
pub fn qualified_query(t: &CtagsTag) -> Option<String> {
    let scope = t.scope.as_deref()?;
    let sep = if scope.contains("::") { "::" } else { "." };
    let named = !scope.is_empty()
        && scope.split(sep).all(|seg| {
            !seg.is_empty()
                && seg != "_"
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        });
    named.then(|| format!("sym:{scope}{sep}{}", t.name))
}

fn query_text(bundle: &BundleReader, text: &str, limit: usize) -> Vec<(String, u64, String)> {
    let Ok(mut parsed) = lens_core::query::parse::parse(text) else {
        return Vec::new();
    };
    parsed.case = lens_core::query::parse::CaseMode::Yes;
    match SymbolPlan::from_query(&parsed, Limits::top(limit)) {
        Ok(plan) => run(bundle, &plan),
        Err(_) => Vec::new(),
    }
}

/// (path, line, kind) of a symbol plan's hits; none when the search fails.
fn run(bundle: &BundleReader, plan: &SymbolPlan) -> Vec<(String, u64, String)> {
    let deadline = Deadline::after(std::time::Duration::from_secs(30));
    search_symbols(bundle, plan, &deadline)
        .map(|r| {
            r.hits
                .into_iter()
                .map(|h| (h.path.to_string(), h.line, h.kind.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A name sample: every `stride`-th distinct name in sorted order, up to `max`.
fn sample(names: Vec<&str>, max: usize) -> Vec<&str> {
    if names.len() <= max {
        return names;
    }
    let stride = names.len() as f64 / max as f64;
    (0..max)
        .map(|i| names[(i as f64 * stride) as usize])
        .collect()
}

fn query(bundle: &BundleReader, name: &str, limit: usize) -> Vec<(String, u64, String)> {
    let plan = SymbolPlan {
        root: SymNode::Name(NameMatch::Exact {
            name: name.to_string(),
            scope: None,
            case_insensitive: false,
        }),
        limits: Limits::top(limit),
        compile_ms: 0.0,
        resume: None,
    };
    run(bundle, &plan)
}

/// lens does not parse files larger than this (`indexer::symbols::MAX_PARSE_BYTES`).
const LENS_MAX_PARSE_BYTES: usize = 16 << 20;

/// Byte offset and bytes (without the newline) of 1-based line `line`.
fn nth_line(content: &[u8], line: u64) -> (usize, &[u8]) {
    let mut start = 0;
    for _ in 1..line {
        match content[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => return (content.len(), &[]),
        }
    }
    let end = content[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(content.len(), |i| start + i);
    (start, &content[start..end])
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether a line looks like a macro invocation producing the definition.
fn macro_line(line: &str, name: &str) -> bool {
    let before = line.split(name).next().unwrap_or("");
    let trimmed = line.trim_start();
    let call_before = before.char_indices().any(|(i, c)| {
        c == '('
            && before[..i]
                .trim_end()
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .count()
                >= 3
            && before[..i]
                .trim_end()
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .all(|c| !c.is_ascii_lowercase())
    });
    call_before || trimmed.starts_with('#') && !trimmed.starts_with("#define")
}

/// Whether the name on this line is given an object literal (`name = {`,
/// `name: {`, `'name': {`).
fn object_literal(line: &str, name: &str) -> bool {
    let Some(i) = line.find(name) else {
        return false;
    };
    let rest = line[i + name.len()..].trim_start_matches(['\'', '"', ']']);
    let rest = rest.trim_start();
    (rest.starts_with('=') || rest.starts_with(':')) && rest[1..].trim_start().starts_with('{')
}

/// Computes the agreement report for one bundle (one repository) and its ctags output.
pub fn agreement(bundle: &BundleReader, tags: &[CtagsTag], max_queries: usize) -> Report {
    let docs = bundle.docs();
    let mut contents: HashMap<String, u32> = HashMap::new();
    for id in 0..bundle.doc_count() as u32 {
        contents.insert(bundle.path(&docs.get(id)).into_owned(), id);
    }
    let (inside, outside): (Vec<&CtagsTag>, Vec<&CtagsTag>) =
        tags.iter().partition(|t| contents.contains_key(&t.path));
    let mut by_name: BTreeMap<&str, Vec<&CtagsTag>> = BTreeMap::new();
    for t in &inside {
        by_name.entry(t.name.as_str()).or_default().push(t);
    }
    let names = sample(by_name.keys().copied().collect(), max_queries);
    let mut recalls = Vec::new();
    let mut per_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut per_language: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut misses: Vec<Miss> = Vec::new();
    let mut lost_slots: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut definitions = 0;
    let mut anywhere = 0;
    let mut qualified: Vec<f64> = Vec::new();
    let mut qualified_per_language: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut qualified_examples = Vec::new();
    for name in &names {
        let mut by_qualified: BTreeMap<String, Vec<&CtagsTag>> = BTreeMap::new();
        for t in &by_name[name] {
            if let Some(q) = qualified_query(t) {
                by_qualified.entry(q).or_default().push(t);
            }
        }
        for (q, tags) in &by_qualified {
            let want: HashSet<(&str, u64)> =
                tags.iter().map(|t| (t.path.as_str(), t.line)).collect();
            let got = query_text(bundle, q, 10);
            let hit = want
                .iter()
                .filter(|(p, l)| got.iter().any(|(gp, gl, _)| gp == p && gl == l))
                .count();
            let recall = (hit as f64 / want.len().min(10) as f64).min(1.0);
            qualified.push(recall);
            qualified_per_language
                .entry(tags[0].language.clone())
                .or_default()
                .push(recall);
            if recall < 1.0 && qualified_examples.len() < 10 {
                qualified_examples.push(QualifiedMiss {
                    query: q.clone(),
                    path: tags[0].path.clone(),
                    line: tags[0].line,
                    language: tags[0].language.clone(),
                });
            }
        }
        let relevant: HashSet<(&str, u64)> = by_name[name]
            .iter()
            .map(|t| (t.path.as_str(), t.line))
            .collect();
        definitions += relevant.len();
        let top = query(bundle, name, 10);
        let found: HashSet<(&str, u64)> = top.iter().map(|(p, l, _)| (p.as_str(), *l)).collect();
        let hit = relevant.iter().filter(|r| found.contains(*r)).count();
        let want = relevant.len().min(10);
        let recall = (hit as f64 / want as f64).min(1.0);
        recalls.push(recall);
        let kind = major_kind(&by_name[name][0].language, &by_name[name][0].kind).unwrap_or("?");
        per_kind.entry(kind.to_string()).or_default().push(recall);
        per_language
            .entry(by_name[name][0].language.clone())
            .or_default()
            .push(recall);
        let all: HashSet<(String, u64)> = query(bundle, name, 100_000)
            .into_iter()
            .map(|(p, l, _)| (p, l))
            .collect();
        let all_paths: HashSet<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        // One entry per (path, line): ctags can tag a line twice (`typedef struct x {…} x;`).
        let mut seen: HashSet<(&str, u64)> = HashSet::new();
        let mut lost = want - hit.min(want);
        let mut ranked_out = Vec::new();
        let mut absent = 0;
        for t in &by_name[name] {
            if !seen.insert((t.path.as_str(), t.line)) || found.contains(&(t.path.as_str(), t.line))
            {
                continue;
            }
            if all.contains(&(t.path.clone(), t.line)) {
                ranked_out.push(t);
                continue;
            }
            let doc = contents[&t.path];
            let content = bundle.content(&docs.get(doc));
            let (line_start, line_bytes) = nth_line(content, t.line);
            let line_text = String::from_utf8_lossy(line_bytes).into_owned();
            let trimmed = line_text.trim_start();
            let table = bundle.symbols();
            let file_defs = table.map_or(0, |tb| tb.doc_range(doc).len());
            // The innermost lens definition around the name ctags points at.
            let around = table.and_then(|tb| {
                let at = line_start + memfind(line_bytes, name.as_bytes())?;
                let id = tb.enclosing(doc, at as u32, (at + name.len()) as u32)?;
                Some(tb.record(id))
            });
            let js_like = matches!(t.language.as_str(), "JavaScript" | "TypeScript");
            let cause = if file_defs == 0 && content.len() > LENS_MAX_PARSE_BYTES {
                "file over lens's 16 MiB tree-sitter limit (not parsed)"
            } else if file_defs == 0 {
                "no lens definitions in the file (language not detected by extension, parse failed, or parse time budget ran out)"
            } else if trimmed.starts_with(*name)
                && trimmed[name.len()..].trim_start().starts_with('(')
                && !name.bytes().any(|b| b.is_ascii_lowercase())
            {
                "macro invocation that ctags reads as a definition named after the macro"
            } else if macro_line(&line_text, name) {
                "macro-generated or preprocessor (ctags expands or reads through the macro)"
            } else if around.is_some_and(|r| {
                r.def_end as usize - r.def_start as usize > 4096
                    && matches!(r.kind.as_str(), "function" | "method")
            }) {
                "inside a long lens function (tree-sitter error recovery merged the region into it)"
            } else if js_like && line_bytes.len() > 1000 {
                "minified line (ctags reads a generated file's object keys as classes)"
            } else if js_like && t.kind == "class" && object_literal(&line_text, name) {
                "object literal that ctags calls a class (JavaScript)"
            } else if js_like
                && t.kind == "class"
                && line_text.contains(&format!("{name}.prototype"))
            {
                "prototype assignment that ctags reads as a class (the constructor is elsewhere)"
            } else if all_paths.contains(t.path.as_str()) {
                "same file, different line (declarator spans lines or duplicate under #if)"
            } else if !line_text.contains(*name) {
                "ctags line does not contain the name (multi-line or macro expansion)"
            } else {
                "parser difference (tree-sitter does not see a definition here)"
            };
            absent += 1;
            if lost > 0 {
                lost -= 1;
                *lost_slots.entry(cause).or_default() += 1;
            }
            misses.push(Miss::of(
                name,
                t,
                cause,
                line_text.chars().take(160).collect(),
            ));
        }
        anywhere += relevant.len() - absent;
        // What is still lost: lens has the definition but other definitions of the name rank above it.
        const RANKED: &str = "ranked below 10 (other lens definitions of the name rank above it)";
        if lost > 0 {
            *lost_slots.entry(RANKED).or_default() += lost;
            for t in ranked_out.into_iter().take(lost) {
                misses.push(Miss::of(name, t, RANKED, String::new()));
            }
        }
    }
    let mut absent_by_cause: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut shown: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    for m in &misses {
        if !m.cause.starts_with("ranked") {
            *absent_by_cause.entry(m.cause).or_default() += 1;
        }
        let n = shown.entry(m.cause).or_default();
        *n += 1;
        if *n <= 5 {
            examples.push(m.clone());
        }
    }
    Report {
        queries: names.len(),
        definitions,
        recall_at_10: crate::mean(&recalls),
        found_anywhere: if definitions == 0 {
            0.0
        } else {
            anywhere as f64 / definitions as f64
        },
        by_kind: per_kind
            .into_iter()
            .map(|(k, v)| (k, (v.len(), crate::mean(&v))))
            .collect(),
        by_language: per_language
            .into_iter()
            .map(|(k, v)| (k, (v.len(), crate::mean(&v))))
            .collect(),
        misses_by_cause: lost_slots,
        absent_by_cause,
        examples,
        misses,
        tags_outside_bundle: outside.len(),
        qualified_queries: qualified.len(),
        qualified_recall_at_10: crate::mean(&qualified),
        qualified_by_language: qualified_per_language
            .into_iter()
            .map(|(k, v)| (k, (v.len(), crate::mean(&v))))
            .collect(),
        qualified_examples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, scope: Option<&str>) -> CtagsTag {
        CtagsTag {
            tag_type: "tag".into(),
            name: name.into(),
            path: "a".into(),
            line: 1,
            kind: "func".into(),
            language: "Go".into(),
            scope: scope.map(str::to_string),
        }
    }

    #[test]
    fn qualified_queries_are_written_as_the_language_does() {
        let q = |n, s| qualified_query(&tag(n, s));
        assert_eq!(
            q("Scan", Some("bufio.Scanner")).as_deref(),
            Some("sym:bufio.Scanner.Scan")
        );
        assert_eq!(
            q("draw", Some("ns::Widget")).as_deref(),
            Some("sym:ns::Widget::draw")
        );
        // Scopes ctags makes up are not queries.
        assert_eq!(q("A", Some("p._")), None);
        assert_eq!(q("A", Some("")), None);
        assert_eq!(q("A", None), None);
        assert_eq!(q("A", Some("__anon1 x")), None);
    }

    #[test]
    fn object_literals_are_told_from_classes() {
        assert!(object_literal(
            "const templateContext = {",
            "templateContext"
        ));
        assert!(object_literal(
            "  'invokeArgsMap': { 'start': 2 },",
            "invokeArgsMap"
        ));
        assert!(object_literal("flags[name] = {", "name"));
        assert!(!object_literal("class Foo {", "Foo"));
        assert!(!object_literal("Foo.prototype.bar = function () {", "Foo"));
        assert!(!object_literal("x = y", "z"));
    }

    #[test]
    fn go_kinds_count_and_members_do_not() {
        assert_eq!(major_kind("Go", "func"), Some("function"));
        assert_eq!(major_kind("Go", "talias"), Some("type"));
        assert_eq!(major_kind("Go", "member"), None);
        assert_eq!(major_kind("Java", "annotation"), Some("interface"));
    }
}
