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
}

/// The lens kind family of a ctags kind, for the major kinds only
/// (functions, methods, types, macros, modules); members, variables and
/// enumerators are left out.
pub fn major_kind(language: &str, kind: &str) -> Option<&'static str> {
    Some(match kind {
        "function" | "generator" => "function",
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

/// Reads ctags JSON lines, keeping definitions of major kinds in lens's languages.
pub fn read_tags(path: &Path) -> std::io::Result<Vec<CtagsTag>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<CtagsTag>(l).ok())
        .filter(|t| t.tag_type == "tag" && LANGUAGES.contains(&t.language.as_str()))
        .filter(|t| major_kind(&t.language, &t.kind).is_some())
        // ctags names anonymous structs and unions itself (`__anon…`): no source name to search for.
        .filter(|t| !t.name.starts_with("__anon"))
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
    pub cause: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub queries: usize,
    pub definitions: usize,
    pub recall_at_10: f64,
    /// Recall@10 by ctags kind family.
    pub by_kind: BTreeMap<String, (usize, f64)>,
    pub misses_by_cause: BTreeMap<&'static str, usize>,
    /// Up to five misses per cause.
    pub examples: Vec<Miss>,
    /// ctags tags in files the bundle does not hold (skipped by lens), left out.
    pub tags_outside_bundle: usize,
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
    };
    let deadline = Deadline::after(std::time::Duration::from_secs(30));
    search_symbols(bundle, &plan, &deadline)
        .map(|r| {
            r.hits
                .into_iter()
                .map(|h| (h.path.to_string(), h.line, h.kind.to_string()))
                .collect()
        })
        .unwrap_or_default()
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
    let mut misses: Vec<Miss> = Vec::new();
    let mut definitions = 0;
    for name in &names {
        let relevant: HashSet<(&str, u64)> = by_name[name]
            .iter()
            .map(|t| (t.path.as_str(), t.line))
            .collect();
        definitions += relevant.len();
        let top = query(bundle, name, 10);
        let found: HashSet<(&str, u64)> = top.iter().map(|(p, l, _)| (p.as_str(), *l)).collect();
        let hit = relevant.iter().filter(|r| found.contains(*r)).count();
        let recall = hit as f64 / relevant.len().min(10) as f64;
        recalls.push(recall.min(1.0));
        let kind = major_kind(&by_name[name][0].language, &by_name[name][0].kind).unwrap_or("?");
        per_kind
            .entry(kind.to_string())
            .or_default()
            .push(recall.min(1.0));
        if hit >= relevant.len().min(10) {
            continue;
        }
        let all = query(bundle, name, 100_000);
        for t in &by_name[name] {
            if found.contains(&(t.path.as_str(), t.line)) {
                continue;
            }
            let doc = contents[&t.path];
            let content = bundle.content(&docs.get(doc));
            let line_text = content
                .split(|&b| b == b'\n')
                .nth(t.line.saturating_sub(1) as usize)
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_default();
            let cause = if all.iter().any(|(p, l, _)| p == &t.path && *l == t.line) {
                "ranked below 10 (more definitions of the name than fit)"
            } else if macro_line(&line_text, name) {
                "macro-generated or preprocessor (ctags expands or reads through the macro)"
            } else if all.iter().any(|(p, _, _)| p == &t.path) {
                "same file, different line (declarator spans lines or duplicate under #if)"
            } else if !line_text.contains(*name) {
                "ctags line does not contain the name (multi-line or macro expansion)"
            } else {
                "parser difference (tree-sitter does not see a definition here)"
            };
            misses.push(Miss {
                name: name.to_string(),
                path: t.path.clone(),
                line: t.line,
                ctags_kind: t.kind.clone(),
                cause,
            });
        }
    }
    let mut misses_by_cause = BTreeMap::new();
    let mut examples = Vec::new();
    for m in &misses {
        let n = misses_by_cause.entry(m.cause).or_insert(0usize);
        *n += 1;
        if *n <= 5 {
            examples.push(m.clone());
        }
    }
    Report {
        queries: names.len(),
        definitions,
        recall_at_10: crate::mean(&recalls),
        by_kind: per_kind
            .into_iter()
            .map(|(k, v)| (k, (v.len(), crate::mean(&v))))
            .collect(),
        misses_by_cause,
        examples,
        tags_outside_bundle: outside.len(),
    }
}
