//! Answers sized for a model's context: a text block within `max_bytes`
//! (numbered lines, grouped by file, what was left out said in words an
//! agent can act on) and the same results as structured content, in the
//! HTTP API's field names.

use std::collections::BTreeMap;

use lens_core::Response;
use lens_core::navigate::{Hover, Location, Navigation};
use lens_core::response::ResultKind;
use lens_core::response::StageStats;
use lens_core::search::{Hit, Truncation};
use lens_core::searcher::{Description, FileContent};
use serde_json::{Value, json};

use crate::errors::{ApiError, ErrorCode};

/// A tool's answer: the text a model reads and the structured copy.
#[derive(Debug)]
pub struct Answer {
    pub text: String,
    pub structured: Value,
}

/// Longest line shown; longer ones are cut (their bytes stay in the file).
const MAX_LINE_CHARS: usize = 240;

fn clip(line: &str) -> String {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// `1 more result`, `3 more results`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn numbered(n: u64, sep: char, text: &str) -> String {
    format!("{n:>6}{sep} {}\n", clip(text))
}

/// The lines of one file in the answer: number → (separator, text).
struct FileGroup {
    heading: String,
    lines: BTreeMap<u64, (char, String)>,
}

impl FileGroup {
    fn render(&self, out: &mut String) {
        out.push_str(&self.heading);
        let mut last: Option<u64> = None;
        for (&n, (sep, text)) in &self.lines {
            if last.is_some_and(|l| n > l + 1) {
                out.push_str("    --\n");
            }
            out.push_str(&numbered(n, *sep, text));
            last = Some(n);
        }
        out.push('\n');
    }
}

fn file_label(repo: &str, path: &str) -> String {
    format!("{repo}/{path}")
}

/// What a match line adds after its text: the definition it is, or names.
fn marker(hit: &Hit) -> String {
    match &hit.definition_site {
        Some(d) => match &d.scope {
            Some(s) => format!("  ← {} {s}::{} (col {})", d.kind, d.name, hit.start),
            None => format!("  ← {} {} (col {})", d.kind, d.name, hit.start),
        },
        None if hit.definition => format!("  ← definition (col {})", hit.start),
        None => String::new(),
    }
}

/// The lines a hit shows: context before, the match, context after.
fn hit_lines(hit: &Hit) -> Vec<(u64, char, String)> {
    let mut out = Vec::new();
    if let Some(c) = &hit.context {
        let first = hit.line.saturating_sub(c.before.len() as u64);
        for (i, l) in c.before.iter().enumerate() {
            out.push((first + i as u64, '-', l.clone()));
        }
    }
    out.push((hit.line, ':', format!("{}{}", hit.snippet, marker(hit))));
    if let Some(c) = &hit.context {
        for (i, l) in c.after.iter().enumerate() {
            out.push((hit.line + 1 + i as u64, '-', l.clone()));
        }
    }
    out
}

/// Which hits fit the budget (in the engine's order), grouped by file in
/// the order files first appear.
fn fit_hits(hits: &[Hit], budget: usize, spent: usize) -> (Vec<FileGroup>, usize) {
    let mut groups: Vec<FileGroup> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut used = spent;
    let mut shown = 0;
    for hit in hits {
        let key = (&*hit.repo, &*hit.path);
        let existing = index.get(&key).copied();
        let heading = file_label(&hit.repo, &hit.path) + "\n";
        let mut cost = match existing {
            Some(_) => 0,
            None => heading.len() + 1,
        };
        let lines = hit_lines(hit);
        for (n, sep, text) in &lines {
            let known = existing.is_some_and(|g| groups[g].lines.contains_key(n));
            if !known {
                cost += numbered(*n, *sep, text).len() + 7;
            }
        }
        if used + cost > budget && shown > 0 {
            break;
        }
        used += cost;
        shown += 1;
        let g = match existing {
            Some(g) => g,
            None => {
                groups.push(FileGroup {
                    heading,
                    lines: BTreeMap::new(),
                });
                index.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        for (n, sep, text) in lines {
            let e = groups[g].lines.entry(n).or_insert((sep, text.clone()));
            // A line that is one hit's context and another's match is a match.
            if sep == ':' {
                *e = (sep, text);
            }
        }
    }
    (groups, shown)
}

/// How many matches the search knew of, and in how many files.
fn match_counts(r: &Response) -> (Option<usize>, Option<usize>) {
    match &r.stats.stage {
        StageStats::Text(s) => (Some(s.matches), Some(s.files_matched)),
        StageStats::Symbol(s) => (Some(s.matched), None),
        StageStats::Semantic(_) => (None, None),
    }
}

pub fn search(query: &str, r: &Response, limit: usize, budget: usize) -> Answer {
    let (groups, shown) = fit_hits(&r.hits, budget, 200);
    let returned = r.hits.len();
    let (matches, files) = match_counts(r);
    let truncation = r.stats.truncation();
    let mut notes: Vec<String> = Vec::new();
    if returned > shown {
        notes.push(format!(
            "{} did not fit max_bytes={budget}: raise max_bytes, lower context, \
             or narrow with file:, lang: or repo:.",
            count(returned - shown, "more result", "more results")
        ));
    }
    match (truncation, matches) {
        (Some(Truncation::Deadline), _) => notes.push(
            "Partial: the search reached its deadline; raise timeout_ms or narrow the query."
                .into(),
        ),
        (Some(Truncation::EarlyTermination), Some(m)) if m > returned => notes.push(format!(
            "At least {} beyond the best {returned}: narrow with file:, lang: or a \
             longer literal, or pass exhaustive=true to page through every match.",
            count(m - returned, "more match", "more matches")
        )),
        (Some(Truncation::ResultLimit), Some(m)) if m > returned => notes.push(format!(
            "{} beyond limit={limit}: narrow with file:, lang: or repo:, or pass \
             exhaustive=true to page through every match.",
            count(m - returned, "more match", "more matches")
        )),
        (Some(Truncation::MatchCap), _) => {
            notes.push("The match cap stopped this exhaustive search: narrow the query.".into())
        }
        _ => {}
    }
    if let Some(c) = &r.next_cursor {
        notes.push(format!(
            "More pages follow: call search again with the same query, exhaustive=true and \
             cursor=\"{c}\"."
        ));
    }
    if returned == 0 {
        notes.push(
            "No matches. Try fewer or shorter words, case:no, a regex, or ask in prose.".into(),
        );
    }
    let mut text = String::new();
    let counts = match (matches, files) {
        (Some(m), Some(f)) => format!(" ({m} matches in {f} files)"),
        (Some(m), None) => format!(" ({m} matched)"),
        _ => String::new(),
    };
    text.push_str(&format!(
        "{shown} of {returned} results for `{query}`{counts}, {kind}.\n\n",
        kind = match r.kind {
            ResultKind::Text => "text matches, best first",
            ResultKind::Symbol => "definitions",
            ResultKind::Semantic => "ranked by meaning",
        }
    ));
    for g in &groups {
        g.render(&mut text);
    }
    for n in &notes {
        text.push_str(n);
        text.push('\n');
    }
    // Only the hits shown are serialised, in `/search`'s fields and order.
    let mut stats = r.stats.to_json();
    // The planner's explanation is for operators; it would crowd a model's context.
    if let Some(stats) = stats.as_object_mut() {
        stats.remove("ngram_lists");
        stats.remove("ngram_plan");
    }
    let structured = json!({
        "next_cursor": r.next_cursor,
        "release": r.release,
        "results": &r.hits[..shown],
        "stats": stats,
        "timings": r.timings,
        "shown": shown,
        "returned": returned,
        "notes": notes,
    });
    Answer { text, structured }
}

fn location_line(l: &Location) -> String {
    let kind = l.kind.map(|k| format!(" [{k}]")).unwrap_or_default();
    format!(
        "{}:{}:{}{kind}: {}\n",
        file_label(&l.repo, &l.path),
        l.line,
        l.start,
        clip(&l.snippet)
    )
}

/// `definition` and `references`: one line per location, within the budget.
pub fn navigation(what: &str, nav: &Navigation, budget: usize) -> Answer {
    let source = if nav.precise {
        "precise (SCIP/LSIF)"
    } else {
        "search based (symbol table and whole-word matches)"
    };
    let symbol = nav.symbol.as_deref().unwrap_or("?");
    let mut text = format!(
        "{} {what} of `{symbol}`, {source}; each line is repo/path:line:column.\n\n",
        nav.locations.len()
    );
    let mut shown = 0;
    for l in &nav.locations {
        let line = location_line(l);
        if text.len() + line.len() > budget && shown > 0 {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    let mut notes = Vec::new();
    if shown < nav.locations.len() {
        notes.push(format!(
            "{} more of the {what} did not fit max_bytes={budget}: raise max_bytes.",
            nav.locations.len() - shown
        ));
    }
    if nav.truncated {
        notes.push(format!(
            "{} {what} in all; limit cut the list at {}: raise limit for the rest.",
            nav.total,
            nav.locations.len()
        ));
    }
    if nav.locations.is_empty() {
        notes.push(format!(
            "No {what} found: check that line and character point at an identifier \
             (character is the byte column of its first letter)."
        ));
    }
    if !notes.is_empty() {
        text.push('\n');
    }
    for n in &notes {
        text.push_str(n);
        text.push('\n');
    }
    let mut structured = serde_json::to_value(nav).expect("a navigation serialises");
    if let Some(l) = structured["locations"].as_array_mut() {
        l.truncate(shown);
    }
    structured["shown"] = json!(shown);
    structured["notes"] = json!(notes);
    Answer { text, structured }
}

pub fn hover(h: Option<&Hover>, budget: usize) -> Answer {
    match h {
        Some(h) => {
            let mut text = h.contents.clone();
            if text.len() > budget {
                let mut cut = budget;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("\n… (cut at max_bytes; read_file shows the whole definition)");
            }
            Answer {
                text,
                structured: serde_json::to_value(h).expect("a hover serialises"),
            }
        }
        None => Answer {
            text: "Nothing is known about this position: point line and character at an \
                   identifier (character is the byte column of its first letter)."
                .into(),
            structured: json!({"precise": false, "symbol": null, "contents": null, "range": null}),
        },
    }
}

/// `read_file`: numbered lines `start..=end` (1-based), within the budget.
pub fn file(
    f: &FileContent,
    start: Option<u64>,
    end: Option<u64>,
    budget: usize,
) -> Result<Answer, ApiError> {
    let total = f.lines.max(1) as u64;
    let start = start.unwrap_or(1);
    if start == 0 || start > total {
        return Err(ApiError::new(
            ErrorCode::InvalidPosition,
            format!(
                "start_line {start} is outside {}/{} (lines 1..={total})",
                f.repo, f.path
            ),
        ));
    }
    let end = end.unwrap_or(start + super::tools::DEFAULT_READ_LINES - 1);
    if end < start {
        return Err(ApiError::new(
            ErrorCode::InvalidParameters,
            format!("end_line {end} is before start_line {start}"),
        ));
    }
    let end = end.min(total);
    let mut text = format!(
        "{} ({}, {} lines, {} bytes)\n",
        file_label(&f.repo, &f.path),
        f.language,
        f.lines,
        f.bytes
    );
    let mut content = String::new();
    let mut last = start - 1;
    for (i, line) in f
        .content
        .split_inclusive('\n')
        .enumerate()
        .skip(start as usize - 1)
        .take((end - start + 1) as usize)
    {
        let n = i as u64 + 1;
        let shown = numbered(n, ':', line);
        if text.len() + shown.len() > budget && n > start {
            break;
        }
        text.push_str(&shown);
        content.push_str(line);
        last = n;
    }
    let mut notes = Vec::new();
    if last < total {
        notes.push(format!(
            "Lines {start}–{last} of {total} shown; call read_file with start_line={} for more.",
            last + 1
        ));
    }
    for n in &notes {
        text.push('\n');
        text.push_str(n);
        text.push('\n');
    }
    Ok(Answer {
        text,
        structured: json!({
            "repo": f.repo, "path": f.path, "language": f.language,
            "bytes": f.bytes, "lines": f.lines,
            "start_line": start, "end_line": last, "content": content, "notes": notes,
        }),
    })
}

pub fn repositories(d: &Description) -> Answer {
    let m = &d.manifest;
    let mut text = format!(
        "Bundle {} ({} files, {} bytes, {} definitions); layers: lexical{}{}{}.\n\n",
        m.bundle_version,
        m.counts.files,
        m.counts.bytes,
        m.counts.symbols,
        if m.build.text_index { ", bm25" } else { "" },
        if m.build.symbols { ", symbols" } else { "" },
        if m.build.embeddings.is_some() {
            ", embeddings"
        } else {
            ""
        },
    );
    for r in &d.repos {
        let mut langs: Vec<(&String, &usize)> = r.languages.iter().collect();
        langs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let langs: Vec<String> = langs
            .iter()
            .map(|(l, n)| format!("{} {n}", if l.is_empty() { "other" } else { l.as_str() }))
            .collect();
        text.push_str(&format!(
            "{}: {} files, {} bytes ({})\n",
            r.name,
            r.files,
            r.bytes,
            langs.join(", ")
        ));
    }
    Answer {
        text,
        structured: json!({
            "bundle_version": m.bundle_version,
            "bundle_id": d.id,
            "files": m.counts.files,
            "bytes": m.counts.bytes,
            "definitions": m.counts.symbols,
            "layers": {
                "bm25": m.build.text_index,
                "symbols": m.build.symbols,
                "embeddings": m.build.embeddings.is_some(),
            },
            "repositories": d.repos,
        }),
    }
}

/// An error as the HTTP API words it: `{"error": {"code", "message"}}`.
pub fn error(e: &ApiError) -> Answer {
    let mut error = json!({"code": e.code.as_str(), "message": e.message});
    let mut text = format!("error {}: {}", e.code.as_str(), e.message);
    if let Some(s) = e.retry_after_s {
        error["retry_after_s"] = json!(s);
        text.push_str(&format!(" (retry after {s} s)"));
    }
    if let Some(reasons) = e
        .extra
        .as_ref()
        .map(|x| &x.reasons)
        .filter(|r| !r.is_empty())
    {
        error["reasons"] = json!(reasons);
    }
    Answer {
        text,
        structured: json!({ "error": error }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lens_core::response::{Stats, Timings};
    use lens_core::search::SearchStats;
    use proptest::prelude::*;

    use super::*;

    fn hit(path: &str, line: u64, text: &str) -> Hit {
        Hit {
            repo: Arc::from("r"),
            path: Arc::from(path),
            language: Arc::from("rust"),
            line,
            start: 0,
            end: text.len().min(3),
            abs_start: line * 100,
            abs_end: line * 100 + 3,
            snippet: Arc::from(text),
            score: 1.0,
            symbol: None,
            definition: false,
            signals: None,
            definition_site: None,
            context: Some(Box::new(lens_core::search::Context {
                before: vec![format!("before {line}")],
                after: vec![format!("after {line}")],
            })),
            doc: 0,
        }
    }

    fn response(hits: Vec<Hit>, matches: usize, truncation: Option<Truncation>) -> Response {
        let n = hits.len();
        Response {
            kind: ResultKind::Text,
            hits,
            stats: Stats {
                stage: StageStats::Text(SearchStats {
                    matches,
                    files_matched: 3,
                    results: n,
                    truncation,
                    ..SearchStats::default()
                }),
                offset: 0,
                total_results: Some(n),
            },
            timings: Timings::default(),
            next_cursor: None,
            gate: None,
            release: None,
        }
    }

    fn hits(n: usize, width: usize) -> Vec<Hit> {
        (0..n)
            .map(|i| {
                hit(
                    &format!("f{}.rs", i % 3),
                    10 * i as u64 + 5,
                    &"x".repeat(width),
                )
            })
            .collect()
    }

    proptest! {
        /// The text stays within its budget (the first result always shows),
        /// the structured results are exactly the ones the text shows, in the
        /// engine's order, and what was left out is counted.
        #[test]
        fn search_answers_fit_their_budget(n in 1usize..60, width in 1usize..200, budget in 256usize..20_000) {
            let r = response(hits(n, width), n, None);
            let a = search("q", &r, n, budget);
            let shown = a.structured["shown"].as_u64().unwrap() as usize;
            prop_assert!(shown >= 1 && shown <= n);
            let notes: usize = a.structured["notes"].as_array().unwrap().iter()
                .map(|v| v.as_str().unwrap().len() + 1).sum();
            let body = a.text.len() - notes;
            prop_assert!(shown == 1 || body <= budget, "{} > {budget}", body);
            let results = a.structured["results"].as_array().unwrap();
            prop_assert_eq!(results.len(), shown);
            for (h, v) in r.hits.iter().zip(results) {
                prop_assert_eq!(v["line"].as_u64().unwrap(), h.line);
                prop_assert_eq!(v["path"].as_str().unwrap(), &*h.path);
                let line = format!("{:>6}: {}", h.line, h.snippet);
                prop_assert!(a.text.contains(&line), "{} not in {}", line, a.text);
            }
            if shown < n {
                let said = format!("{} did not fit max_bytes={budget}", count(n - shown, "more result", "more results"));
                prop_assert!(a.text.contains(&said), "{}", a.text);
            } else {
                prop_assert!(!a.text.contains("did not fit"));
            }
        }
    }

    #[test]
    fn notes_say_how_to_go_on() {
        let r = response(hits(5, 10), 40, Some(Truncation::ResultLimit));
        let a = search("q", &r, 5, 100_000);
        assert!(
            a.text.contains("35 more matches beyond limit=5"),
            "{}",
            a.text
        );
        let mut r = response(hits(5, 10), 5, None);
        r.next_cursor = Some("abc".into());
        let a = search("q", &r, 5, 100_000);
        assert!(a.text.contains("cursor=\"abc\""), "{}", a.text);
        let r = response(hits(5, 10), 5, Some(Truncation::Deadline));
        assert!(search("q", &r, 5, 100_000).text.contains("deadline"));
        let r = response(vec![], 0, None);
        assert!(search("q", &r, 5, 100_000).text.contains("No matches"));
        // Hits of one file share its heading; a gap between their lines is marked.
        let r = response(vec![hit("a.rs", 5, "one"), hit("a.rs", 50, "two")], 2, None);
        let a = search("q", &r, 2, 100_000);
        assert_eq!(a.text.matches("r/a.rs\n").count(), 1, "{}", a.text);
        assert!(a.text.contains("    --\n"), "{}", a.text);
    }

    fn file(lines: usize) -> FileContent {
        let content: String = (1..=lines).map(|i| format!("line {i}\n")).collect();
        FileContent {
            repo: "r".into(),
            path: "a.rs".into(),
            language: "rust".into(),
            bytes: content.len(),
            lines,
            content,
        }
    }

    #[test]
    fn read_file_ranges_budgets_and_bad_ranges() {
        let f = file(500);
        let a = super::file(&f, Some(10), Some(12), 100_000).unwrap();
        assert_eq!(a.structured["content"], "line 10\nline 11\nline 12\n");
        assert!(a.text.contains("    10: line 10\n"), "{}", a.text);
        assert!(a.text.contains("start_line=13"), "{}", a.text);
        let a = super::file(&f, None, None, 100_000).unwrap();
        assert_eq!(a.structured["end_line"], 200);
        let a = super::file(&f, Some(1), Some(500), 300).unwrap();
        let last = a.structured["end_line"].as_u64().unwrap();
        assert!(last < 500 && last > 1, "{last}");
        assert!(a.text.contains(&format!("start_line={}", last + 1)));
        let a = super::file(&f, Some(490), Some(10_000), 100_000).unwrap();
        assert_eq!(a.structured["end_line"], 500);
        assert!(!a.text.contains("for more"));
        for (s, e, code) in [
            (Some(0), None, ErrorCode::InvalidPosition),
            (Some(501), None, ErrorCode::InvalidPosition),
            (Some(20), Some(10), ErrorCode::InvalidParameters),
        ] {
            assert_eq!(super::file(&f, s, e, 1000).unwrap_err().code, code);
        }
    }

    #[test]
    fn long_lines_are_clipped_on_a_char_boundary() {
        let line = "é".repeat(1000);
        let c = clip(&line);
        assert_eq!(c.chars().count(), MAX_LINE_CHARS + 1);
        assert!(c.ends_with('…'));
    }
}
