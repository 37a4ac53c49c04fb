//! Symbol queries: `sym:NAME` (exact, qualified `Scope::name` / `Scope.name`,
//! or `/regex/`), `kind:`, and `type:symbol` (bare terms match names).

use std::sync::Arc;
use std::time::Instant;

use regex_automata::meta;
use serde::Serialize;

use super::kind::SymbolKind;
use super::table::SymbolRecord;
use crate::bundle::BundleReader;
use crate::error::{Error, Result};
use crate::limits::{Deadline, Limits};
use crate::query::parse::{CaseMode, Expr, Pattern, Query};
use crate::search::Truncation;

/// How a name predicate matches.
#[derive(Debug, Clone)]
pub enum NameMatch {
    Exact {
        name: String,
        /// Required scope suffix, `::`-separated.
        scope: Option<String>,
        case_insensitive: bool,
    },
    Regex(Box<meta::Regex>),
}

#[derive(Debug, Clone)]
pub enum SymNode {
    And(Vec<SymNode>),
    Or(Vec<SymNode>),
    Not(Box<SymNode>),
    Name(NameMatch),
    Kind(SymbolKind),
    Path(Box<meta::Regex>),
    Repo(Box<meta::Regex>),
    Lang(String),
}

/// A bound symbol query.
#[derive(Debug, Clone)]
pub struct SymbolPlan {
    pub root: SymNode,
    pub limits: Limits,
    /// Time spent compiling the query's patterns.
    pub compile_ms: f64,
    /// Exhaustive pages: the definition record the page starts at.
    pub resume: Option<u32>,
}

/// One symbol result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SymbolHit {
    /// Always `"symbol"` (Stage-A results are matches).
    #[serde(rename = "type")]
    pub result_type: &'static str,
    pub repo: Arc<str>,
    pub path: Arc<str>,
    pub language: Arc<str>,
    /// 1-based line of the name.
    pub line: u64,
    pub name: String,
    pub kind: SymbolKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Byte offsets of the name within its line (end exclusive).
    pub start: usize,
    pub end: usize,
    /// Byte offsets of the name within the file.
    pub abs_start: u64,
    pub abs_end: u64,
    /// Byte span of the whole definition within the file.
    pub def_start: u64,
    pub def_end: u64,
    /// The line of the name.
    pub snippet: String,
    pub score: f32,
    #[serde(skip)]
    pub doc: u32,
}

/// Counters of one symbol search; `truncation` is why results stopped short.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymbolStats {
    /// Definitions examined.
    pub candidates: usize,
    pub matched: usize,
    pub results: usize,
    pub truncation: Option<Truncation>,
    pub elapsed_ms: f64,
}

impl SymbolStats {
    pub fn truncated(&self) -> bool {
        self.truncation.is_some()
    }

    pub fn timed_out(&self) -> bool {
        self.truncation == Some(Truncation::Deadline)
    }
}

#[derive(Debug, Clone)]
pub struct SymbolResult {
    pub hits: Vec<SymbolHit>,
    pub stats: SymbolStats,
    /// Paged exhaustive searches: the record the next page starts at.
    pub next: Option<u32>,
}

/// Whether a parsed query asks for symbols (`sym:`, `kind:` or `type:symbol`).
pub fn is_symbol_query(q: &Query) -> bool {
    fn walk(e: &Expr) -> bool {
        match e {
            Expr::Sym(_) | Expr::Kind(_) => true,
            Expr::And(v) | Expr::Or(v) => v.iter().any(walk),
            Expr::Not(i) => walk(i),
            _ => false,
        }
    }
    q.symbols || walk(&q.expr)
}

fn regex(text: &str, ci: bool, limits: &Limits, p: &Pattern) -> Result<meta::Regex> {
    meta::Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().case_insensitive(ci))
        .configure(meta::Config::new().nfa_size_limit(Some(limits.max_regex_size)))
        .build(text)
        .map_err(|e| Error::InvalidRegex {
            pattern: p.text.clone(),
            position: Some(p.position),
            reason: e.to_string(),
        })
}

fn case_insensitive(mode: CaseMode, text: &str) -> bool {
    match mode {
        CaseMode::Yes => false,
        CaseMode::No => true,
        CaseMode::Auto => !text.chars().any(char::is_uppercase),
    }
}

/// Splits `Scope::name` or `Scope.name` at the last separator.
fn split_qualified(text: &str) -> (Option<String>, &str) {
    let cut = [
        text.rfind("::").map(|i| (i, 2)),
        text.rfind('.').map(|i| (i, 1)),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|&(i, _)| i);
    match cut {
        Some((i, n)) if i > 0 && i + n < text.len() => {
            (Some(normalize_scope(&text[..i])), &text[i + n..])
        }
        _ => (None, text),
    }
}

fn normalize_scope(s: &str) -> String {
    s.replace("::", ".").replace('.', "::")
}

impl SymbolPlan {
    pub fn from_query(q: &Query, limits: Limits) -> Result<SymbolPlan> {
        let t = Instant::now();
        let root = bind(&q.expr, q.case, &limits)?;
        if !has_positive(&root) {
            return Err(Error::InvalidQuery {
                position: 0,
                reason: "a symbol query needs sym:, kind: or a name term that is not negated"
                    .into(),
            });
        }
        Ok(SymbolPlan {
            root,
            limits,
            compile_ms: t.elapsed().as_secs_f64() * 1000.0,
            resume: None,
        })
    }
}

fn has_positive(n: &SymNode) -> bool {
    match n {
        SymNode::And(v) | SymNode::Or(v) => v.iter().any(has_positive),
        SymNode::Not(_) => false,
        SymNode::Name(_) | SymNode::Kind(_) => true,
        _ => false,
    }
}

fn bind(e: &Expr, case: CaseMode, limits: &Limits) -> Result<SymNode> {
    Ok(match e {
        Expr::And(v) => SymNode::And(
            v.iter()
                .map(|x| bind(x, case, limits))
                .collect::<Result<_>>()?,
        ),
        Expr::Or(v) => SymNode::Or(
            v.iter()
                .map(|x| bind(x, case, limits))
                .collect::<Result<_>>()?,
        ),
        Expr::Not(i) => SymNode::Not(Box::new(bind(i, case, limits)?)),
        Expr::Sym(p) => {
            let ci = case_insensitive(case, &p.text);
            if p.is_regex {
                SymNode::Name(NameMatch::Regex(Box::new(regex(&p.text, ci, limits, p)?)))
            } else {
                let (scope, name) = split_qualified(&p.text);
                SymNode::Name(NameMatch::Exact {
                    name: name.to_string(),
                    scope,
                    case_insensitive: ci,
                })
            }
        }
        // In a symbol query, bare terms match names as substrings (or regexes).
        Expr::Content(p) => {
            let ci = case_insensitive(case, &p.text);
            let text = if p.is_regex {
                p.text.clone()
            } else {
                regex_syntax::escape(&p.text)
            };
            SymNode::Name(NameMatch::Regex(Box::new(regex(&text, ci, limits, p)?)))
        }
        Expr::Kind(k) => SymNode::Kind(*k),
        Expr::File(p) => {
            let ci = case_insensitive(case, &p.text);
            SymNode::Path(Box::new(regex(&p.text, ci, limits, p)?))
        }
        Expr::Repo(p) => {
            let ci = case_insensitive(case, &p.text);
            SymNode::Repo(Box::new(regex(&p.text, ci, limits, p)?))
        }
        Expr::Lang(l) => SymNode::Lang(l.clone()),
    })
}

/// Facts about one record that predicates look at.
struct View<'a> {
    name: &'a [u8],
    scope: Option<&'a str>,
    kind: SymbolKind,
    path: &'a [u8],
    repo: &'a str,
    lang: &'a str,
}

fn scope_ends_with(scope: Option<&str>, want: &str) -> bool {
    let Some(s) = scope else { return false };
    let s = normalize_scope(s);
    s == want || s.ends_with(&format!("::{want}"))
}

fn eval(n: &SymNode, v: &View<'_>) -> bool {
    match n {
        SymNode::And(c) => c.iter().all(|x| eval(x, v)),
        SymNode::Or(c) => c.iter().any(|x| eval(x, v)),
        SymNode::Not(x) => !eval(x, v),
        SymNode::Name(NameMatch::Exact {
            name,
            scope,
            case_insensitive,
        }) => {
            let eq = if *case_insensitive {
                v.name.eq_ignore_ascii_case(name.as_bytes())
            } else {
                v.name == name.as_bytes()
            };
            eq && scope.as_deref().is_none_or(|s| scope_ends_with(v.scope, s))
        }
        SymNode::Name(NameMatch::Regex(r)) => r.is_match(v.name),
        SymNode::Kind(k) => kind_matches(*k, v.kind, v.lang),
        SymNode::Path(r) => r.is_match(v.path),
        SymNode::Repo(r) => r.is_match(v.repo.as_bytes()),
        SymNode::Lang(l) => v.lang.eq_ignore_ascii_case(l),
    }
}

/// Whether `kind:WANT` finds a definition of `kind` in `lang`: a Go method is
/// a function with a receiver to Go programmers (and to ctags), so Go's methods
/// answer `kind:function` as well as `kind:method`.
fn kind_matches(want: SymbolKind, kind: SymbolKind, lang: &str) -> bool {
    want == kind || (want == SymbolKind::Function && kind == SymbolKind::Method && lang == "go")
}

/// Whether a predicate depends on the file alone (path, repository, language).
fn is_file_level(n: &SymNode) -> bool {
    match n {
        SymNode::Path(_) | SymNode::Repo(_) | SymNode::Lang(_) => true,
        SymNode::Name(_) | SymNode::Kind(_) => false,
        SymNode::Not(x) => is_file_level(x),
        SymNode::And(c) | SymNode::Or(c) => c.iter().all(is_file_level),
    }
}

/// The root's conjuncts that depend on the file alone: a definition can match only in a
/// file that passes all of them.
fn file_conjuncts(root: &SymNode) -> Vec<&SymNode> {
    match root {
        SymNode::And(c) => c.iter().filter(|x| is_file_level(x)).collect(),
        x if is_file_level(x) => vec![x],
        _ => Vec::new(),
    }
}

/// Where candidates come from: one exact name, a regex over the name
/// dictionary, or every definition.
enum Anchor<'a> {
    Exact(&'a str, bool),
    Regex(&'a meta::Regex),
    All,
}

fn anchor(n: &SymNode) -> Anchor<'_> {
    match n {
        SymNode::Name(NameMatch::Exact {
            name,
            case_insensitive,
            ..
        }) => Anchor::Exact(name, *case_insensitive),
        SymNode::Name(NameMatch::Regex(r)) => Anchor::Regex(r),
        SymNode::And(c) => {
            let anchors: Vec<Anchor<'_>> = c.iter().map(anchor).collect();
            anchors
                .into_iter()
                .min_by_key(|a| match a {
                    Anchor::Exact(..) => 0,
                    Anchor::Regex(_) => 1,
                    Anchor::All => 2,
                })
                .unwrap_or(Anchor::All)
        }
        _ => Anchor::All,
    }
}

/// Runs a symbol query. Bundles built without symbols return no hits.
/// Ranked results come by score; exhaustive ones in record (doc, position)
/// order, so that a page resumes at a record instead of starting over.
pub fn search_symbols(
    bundle: &BundleReader,
    plan: &SymbolPlan,
    deadline: &Deadline,
) -> Result<SymbolResult> {
    let started = Instant::now();
    let mut stats = SymbolStats::default();
    let Some(table) = bundle.symbols() else {
        return Ok(SymbolResult {
            hits: Vec::new(),
            stats,
            next: None,
        });
    };
    let limits = plan.limits;
    let page = limits.page.filter(|_| limits.exhaustive);
    let from = plan.resume.unwrap_or(0);
    let docs = bundle.docs();
    let mut found: Vec<(SymbolRecord, u32)> = Vec::new();
    let cap = match page {
        // One past the page tells whether another follows.
        Some(p) => p + 1,
        None if limits.exhaustive => limits.max_matches,
        None => usize::MAX,
    };
    for (n, id) in candidate_ids(bundle, table, plan)
        .skip_while(|&id| id < from)
        .enumerate()
    {
        if n % 4096 == 4095 && deadline.expired() {
            stats.truncation = Some(Truncation::Deadline);
            break;
        }
        stats.candidates += 1;
        let r = table.record(id);
        let doc = docs.get(r.doc);
        let content = bundle.content(&doc);
        let Some(name) = content.get(r.name_start as usize..r.name_end as usize) else {
            continue;
        };
        let view = View {
            name,
            scope: table.scope(&r),
            kind: r.kind,
            path: docs.path_bytes(&doc),
            repo: bundle.repo_name(&doc),
            lang: bundle.language(&doc),
        };
        if eval(&plan.root, &view) {
            found.push((r, id));
            if found.len() >= cap {
                if page.is_none() {
                    stats.truncation = Some(Truncation::MatchCap);
                }
                break;
            }
        }
    }
    let next = match page {
        Some(p) if found.len() > p => Some(found[p].1),
        _ => None,
    };
    if let Some(p) = page {
        found.truncate(p);
    }
    stats.matched = found.len();
    let exact_name = match anchor(&plan.root) {
        Anchor::Exact(n, _) => Some(n.to_string()),
        _ => None,
    };
    let mut scored: Vec<(f32, SymbolRecord)> = found
        .into_iter()
        .map(|(r, _)| {
            let doc = docs.get(r.doc);
            let name = &bundle.content(&doc)[r.name_start as usize..r.name_end as usize];
            (score(&r, name, exact_name.as_deref(), doc.static_rank), r)
        })
        .collect();
    if !limits.exhaustive {
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(a.1.doc.cmp(&b.1.doc))
                .then(a.1.name_start.cmp(&b.1.name_start))
        });
        if scored.len() > limits.max_results {
            scored.truncate(limits.max_results);
            stats.truncation.get_or_insert(Truncation::ResultLimit);
        }
    }
    let hits = scored
        .into_iter()
        .map(|(s, r)| hit(bundle, table, &r, s))
        .collect::<Vec<_>>();
    stats.results = hits.len();
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(SymbolResult { hits, stats, next })
}

/// The definition records that can match, from the query's anchor; in
/// increasing record order for exhaustive searches (pages resume by record).
fn candidate_ids<'a>(
    bundle: &'a BundleReader,
    table: &'a super::SymbolTable<crate::bundle::Mapped>,
    plan: &'a SymbolPlan,
) -> Box<dyn Iterator<Item = u32> + 'a> {
    let from_entries = |entries: Vec<_>| -> Box<dyn Iterator<Item = u32> + 'a> {
        let mut ids: Vec<u32> = entries
            .iter()
            .flat_map(|e| table.ids(e).collect::<Vec<_>>())
            .collect();
        if plan.limits.exhaustive {
            ids.sort_unstable();
        }
        Box::new(ids.into_iter())
    };
    match anchor(&plan.root) {
        Anchor::Exact(name, ci) => from_entries(table.lookup(name.as_bytes(), ci)),
        Anchor::Regex(r) => {
            // Millions of distinct names on a large bundle: match them on every core.
            use rayon::prelude::*;
            let entries: Vec<_> = (0..table.name_count())
                .into_par_iter()
                .with_min_len(4096)
                // One cache per worker: the regex's shared pool would serialise them.
                .map_init(
                    || r.create_cache(),
                    |cache, i| {
                        let e = table.name_entry(i);
                        let input = regex_automata::Input::new(table.name_bytes(&e)).earliest(true);
                        r.search_with(cache, &input).is_some().then_some(e)
                    },
                )
                .flatten()
                .collect();
            from_entries(entries)
        }
        Anchor::All => {
            let from = plan.resume.unwrap_or(0);
            // Without a name, file-level conjuncts (file:, repo:, lang:) pick the files first,
            // so that `kind:macro file:slab.h` reads one file's definitions, not every one.
            let by_file = file_conjuncts(&plan.root);
            if by_file.is_empty() {
                return Box::new(from..table.len() as u32);
            }
            let docs = bundle.docs();
            let first_doc = if (from as usize) < table.len() {
                table.record(from).doc
            } else {
                bundle.doc_count() as u32
            };
            let files: Vec<u32> = (first_doc..bundle.doc_count() as u32)
                .filter(|&d| {
                    let rec = docs.get(d);
                    let view = View {
                        name: b"",
                        scope: None,
                        kind: SymbolKind::Function,
                        path: docs.path_bytes(&rec),
                        repo: bundle.repo_name(&rec),
                        lang: bundle.language(&rec),
                    };
                    by_file.iter().all(|n| eval(n, &view))
                })
                .collect();
            Box::new(files.into_iter().flat_map(move |d| table.doc_range(d)))
        }
    }
}

/// Exact-case name first, then the kind's prior, then the file's static rank;
/// for pattern queries shorter names (closer matches) first.
fn score(r: &SymbolRecord, name: &[u8], exact: Option<&str>, static_rank: f32) -> f32 {
    let mut s = r.kind.prior() as f32 * 0.5 + static_rank;
    match exact {
        Some(e) if name == e.as_bytes() => s += 4.0,
        Some(_) => {}
        None => s += 2.0 / (1.0 + name.len() as f32 / 8.0),
    }
    s
}

fn hit(
    bundle: &BundleReader,
    table: &super::SymbolTable<crate::bundle::Mapped>,
    r: &SymbolRecord,
    score: f32,
) -> SymbolHit {
    let docs = bundle.docs();
    let doc = docs.get(r.doc);
    let content = bundle.content(&doc);
    let start = r.name_start as usize;
    let line_start = memchr::memrchr(b'\n', &content[..start]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &content[start..]).map_or(content.len(), |i| start + i);
    let line_end = line_end
        .min(line_start + crate::limits::MAX_SNIPPET_BYTES.max(r.name_end as usize - line_start));
    SymbolHit {
        result_type: "symbol",
        repo: Arc::from(bundle.repo_name(&doc)),
        path: Arc::from(bundle.path(&doc).as_ref()),
        language: Arc::from(bundle.language(&doc)),
        line: r.line as u64,
        name: String::from_utf8_lossy(&content[start..r.name_end as usize]).into_owned(),
        kind: r.kind,
        scope: table.scope(r).map(str::to_string),
        start: start - line_start,
        end: r.name_end as usize - line_start,
        abs_start: r.name_start as u64,
        abs_end: r.name_end as u64,
        def_start: r.def_start as u64,
        def_end: r.def_end as u64,
        snippet: String::from_utf8_lossy(&content[line_start..line_end.max(line_start)])
            .into_owned(),
        score,
        doc: r.doc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_at_the_last_separator() {
        assert_eq!(split_qualified("Foo::bar"), (Some("Foo".into()), "bar"));
        assert_eq!(split_qualified("a.B.c"), (Some("a::B".into()), "c"));
        assert_eq!(split_qualified("plain"), (None, "plain"));
        assert_eq!(split_qualified("::x"), (None, "::x"));
        assert!(scope_ends_with(Some("crate::a::Foo"), "a::Foo"));
        assert!(scope_ends_with(Some("pkg.Foo"), "Foo"));
        assert!(!scope_ends_with(Some("BarFoo"), "Foo"));
    }
}
