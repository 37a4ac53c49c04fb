//! Results printed as ripgrep prints them, so that editor integrations and
//! scripts written for `rg` read lens's output: `path:line:text`, headings,
//! context with `-`/`--`, `-l`, `-c`, `--vimgrep`, rg's colours and its
//! JSON Lines messages. Lines come from the bundle's content, byte for byte.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use base64::Engine as _;
use lens_core::{Hit, Searcher};
use serde_json::{Value, json};

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Lines,
    FilesWithMatches,
    /// Matching lines per file.
    Count,
    /// Matches per file.
    CountMatches,
    Vimgrep,
    OnlyMatching,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub mode: Mode,
    pub line_numbers: bool,
    pub column: bool,
    pub heading: bool,
    pub color: bool,
    pub before: usize,
    pub after: usize,
}

// rg's default colours.
const RESET: &str = "\x1b[0m";
const PATH: &str = "\x1b[0m\x1b[35m";
const LINE: &str = "\x1b[0m\x1b[32m";
const COLUMN: &str = "\x1b[0m";
const MATCH: &str = "\x1b[0m\x1b[1m\x1b[31m";

/// One file's matches: its printed path, content, and spans per line.
struct FileMatches<'a> {
    path: String,
    content: &'a [u8],
    /// 1-based line → (start, end) byte spans within the line, in order.
    lines: BTreeMap<u64, Vec<(usize, usize)>>,
}

/// Byte offset of each line start (line 1 at index 0).
fn line_starts(content: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', content).map(|i| i + 1));
    if starts.last() == Some(&content.len()) && !content.is_empty() {
        starts.pop();
    }
    starts
}

/// The line's bytes without its terminator.
fn line_bytes<'a>(content: &'a [u8], starts: &[usize], line: u64) -> &'a [u8] {
    let i = (line - 1) as usize;
    let start = starts[i];
    let end = starts.get(i + 1).map_or(content.len(), |&e| e - 1);
    let line = &content[start..end.max(start)];
    line.strip_suffix(b"\n").unwrap_or(line)
}

pub struct Printer<W: Write> {
    out: W,
    style: Style,
    printed_any: bool,
    /// Last line printed in the current file (for `--` between context groups).
    last_line: Option<u64>,
    pub matched_lines: usize,
    pub matches: usize,
    pub files_with_match: usize,
    bytes_searched: u64,
    bytes_printed: u64,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, style: Style) -> Printer<W> {
        Printer {
            out,
            style,
            printed_any: false,
            last_line: None,
            matched_lines: 0,
            matches: 0,
            files_with_match: 0,
            bytes_searched: 0,
            bytes_printed: 0,
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.style.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn write_line_text(&mut self, bytes: &[u8], spans: &[(usize, usize)]) -> io::Result<()> {
        if self.style.color && !spans.is_empty() {
            let mut at = 0;
            for &(s, e) in spans {
                let (s, e) = (s.max(at).min(bytes.len()), e.min(bytes.len()));
                if s >= e {
                    continue;
                }
                self.out.write_all(&bytes[at..s])?;
                self.out.write_all(MATCH.as_bytes())?;
                self.out.write_all(&bytes[s..e])?;
                self.out.write_all(RESET.as_bytes())?;
                at = e;
            }
            self.out.write_all(&bytes[at..])?;
        } else {
            self.out.write_all(bytes)?;
        }
        self.out.write_all(b"\n")
    }

    /// `path:line:col:` (or its heading-mode tail) before a line's text.
    fn prefix(
        &mut self,
        path: &str,
        line: u64,
        column: Option<usize>,
        sep: char,
    ) -> io::Result<()> {
        let mut p = String::new();
        if !self.style.heading {
            p.push_str(&self.paint(PATH, path));
            p.push(sep);
        }
        if self.style.line_numbers {
            p.push_str(&self.paint(LINE, &line.to_string()));
            p.push(sep);
        }
        if let Some(c) = column {
            p.push_str(&self.paint(COLUMN, &c.to_string()));
            p.push(sep);
        }
        self.out.write_all(p.as_bytes())
    }

    fn file(&mut self, f: &FileMatches<'_>) -> io::Result<()> {
        self.files_with_match += 1;
        self.bytes_searched += f.content.len() as u64;
        let matched_lines = f.lines.len();
        let matches: usize = f.lines.values().map(Vec::len).sum();
        self.matched_lines += matched_lines;
        self.matches += matches;
        match self.style.mode {
            Mode::FilesWithMatches => {
                let p = self.paint(PATH, &f.path);
                writeln!(self.out, "{p}")
            }
            Mode::Count | Mode::CountMatches => {
                let n = if self.style.mode == Mode::Count {
                    matched_lines
                } else {
                    matches
                };
                let p = self.paint(PATH, &f.path);
                writeln!(self.out, "{p}:{n}")
            }
            Mode::Json => self.json_file(f, matched_lines, matches),
            Mode::Vimgrep => {
                let starts = line_starts(f.content);
                for (&line, spans) in &f.lines {
                    let bytes = line_bytes(f.content, &starts, line);
                    for &(s, _) in spans {
                        let p = self.paint(PATH, &f.path);
                        let l = self.paint(LINE, &line.to_string());
                        let c = self.paint(COLUMN, &(s + 1).to_string());
                        write!(self.out, "{p}:{l}:{c}:")?;
                        self.write_line_text(bytes, spans)?;
                    }
                }
                Ok(())
            }
            Mode::OnlyMatching => {
                let starts = line_starts(f.content);
                self.start_file(f)?;
                for (&line, spans) in &f.lines {
                    let bytes = line_bytes(f.content, &starts, line);
                    for &(s, e) in spans {
                        let column = self.style.column.then_some(s + 1);
                        self.prefix(&f.path, line, column, ':')?;
                        let m = &bytes[s.min(bytes.len())..e.min(bytes.len())];
                        let spans = [(0, m.len())];
                        self.write_line_text(m, &spans)?;
                    }
                }
                Ok(())
            }
            Mode::Lines => self.lines(f),
        }
    }

    /// Between files: a blank line in heading mode; the heading itself.
    fn start_file(&mut self, f: &FileMatches<'_>) -> io::Result<()> {
        if self.style.heading {
            if self.printed_any {
                writeln!(self.out)?;
            }
            let p = self.paint(PATH, &f.path);
            writeln!(self.out, "{p}")?;
        }
        self.printed_any = true;
        Ok(())
    }

    /// The lines to print: matches (`true`) and their context, merged.
    fn shown_lines(&self, f: &FileMatches<'_>, total: u64) -> BTreeMap<u64, bool> {
        let mut shown = BTreeMap::new();
        for &line in f.lines.keys() {
            let from = line.saturating_sub(self.style.before as u64).max(1);
            let to = (line + self.style.after as u64).min(total);
            for l in from..=to {
                shown.entry(l).or_insert(false);
            }
            shown.insert(line, true);
        }
        shown
    }

    fn lines(&mut self, f: &FileMatches<'_>) -> io::Result<()> {
        let starts = line_starts(f.content);
        let total = starts.len() as u64;
        let context = self.style.before > 0 || self.style.after > 0;
        let shown = self.shown_lines(f, total);
        let first_file = !self.printed_any;
        // rg separates context groups with `--`, across files too (not in heading mode's first group).
        if context && !first_file && !self.style.heading {
            writeln!(self.out, "--")?;
        }
        self.start_file(f)?;
        self.last_line = None;
        for (&line, &is_match) in &shown {
            if context && self.last_line.is_some_and(|l| line > l + 1) {
                writeln!(self.out, "--")?;
            }
            let bytes = line_bytes(f.content, &starts, line);
            if is_match {
                let spans = &f.lines[&line];
                let column = self.style.column.then(|| spans[0].0 + 1);
                self.prefix(&f.path, line, column, ':')?;
                self.write_line_text(bytes, spans)?;
            } else {
                self.prefix(&f.path, line, None, '-')?;
                self.write_line_text(bytes, &[])?;
            }
            self.last_line = Some(line);
        }
        Ok(())
    }

    fn emit(&mut self, line: &str) -> io::Result<()> {
        self.bytes_printed += line.len() as u64 + 1;
        writeln!(self.out, "{line}")
    }

    // rg's messages with its field order (`type` first, then `data` as its
    // structs declare them), written by hand: serde_json's maps sort keys.
    fn json_file(
        &mut self,
        f: &FileMatches<'_>,
        matched_lines: usize,
        matches: usize,
    ) -> io::Result<()> {
        let path = data(f.path.as_bytes());
        let printed_before = self.bytes_printed;
        self.emit(&format!(r#"{{"type":"begin","data":{{"path":{path}}}}}"#))?;
        let starts = line_starts(f.content);
        let total = starts.len() as u64;
        let shown = self.shown_lines(f, total);
        for (&line, &is_match) in &shown {
            let i = (line - 1) as usize;
            let start = starts[i];
            let end = starts.get(i + 1).copied().unwrap_or(f.content.len());
            let text = data(&f.content[start..end]);
            let bytes = line_bytes(f.content, &starts, line);
            let submatches: Vec<String> = if is_match {
                f.lines[&line]
                    .iter()
                    .map(|&(s, e)| {
                        let m = data(&bytes[s.min(bytes.len())..e.min(bytes.len())]);
                        format!(r#"{{"match":{m},"start":{s},"end":{e}}}"#)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let kind = if is_match { "match" } else { "context" };
            self.emit(&format!(
                r#"{{"type":"{kind}","data":{{"path":{path},"lines":{text},"line_number":{line},"absolute_offset":{start},"submatches":[{}]}}}}"#,
                submatches.join(",")
            ))?;
        }
        // One search, timed as a whole: a file's own time is not measured.
        let stats = format!(
            r#"{{"elapsed":{{"secs":0,"nanos":0,"human":"0.000000s"}},"searches":1,"searches_with_match":1,"bytes_searched":{},"bytes_printed":{},"matched_lines":{matched_lines},"matches":{matches}}}"#,
            f.content.len(),
            self.bytes_printed - printed_before,
        );
        self.emit(&format!(
            r#"{{"type":"end","data":{{"path":{path},"binary_offset":null,"stats":{stats}}}}}"#
        ))
    }

    /// `--json`'s closing `summary` message.
    pub fn finish(mut self, elapsed: Duration, searches: usize) -> io::Result<()> {
        if self.style.mode == Mode::Json {
            let stats = stats_json(
                elapsed,
                searches,
                self.files_with_match,
                self.bytes_searched,
                self.bytes_printed,
                self.matched_lines,
                self.matches,
            );
            let v = json!({"data": {"elapsed_total": elapsed_json(elapsed), "stats": stats}, "type": "summary"});
            writeln!(self.out, "{v}")?;
        }
        self.out.flush()
    }
}

/// rg's `{"text":…}`, or `{"bytes":base64}` for bytes that are not UTF-8.
fn data(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => format!(r#"{{"text":{}}}"#, Value::from(s)),
        Err(_) => format!(
            r#"{{"bytes":"{}"}}"#,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

fn elapsed_json(d: Duration) -> Value {
    json!({"secs": d.as_secs(), "nanos": d.subsec_nanos(), "human": format!("{:.6}s", d.as_secs_f64())})
}

fn stats_json(
    elapsed: Duration,
    searches: usize,
    with_match: usize,
    bytes_searched: u64,
    bytes_printed: u64,
    matched_lines: usize,
    matches: usize,
) -> Value {
    json!({
        "elapsed": elapsed_json(elapsed), "searches": searches, "searches_with_match": with_match,
        "bytes_searched": bytes_searched, "bytes_printed": bytes_printed,
        "matched_lines": matched_lines, "matches": matches,
    })
}

/// In which order files are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// By path, as `rg --sort path` (the grep form).
    Path,
    /// As the ranking first names them (the query language's best first).
    Rank,
}

/// Prints the hits of a search file by file, each file's lines in order;
/// paths as rg prints them from the root of a one-repository bundle,
/// `repo/path` when the bundle holds several.
pub fn print_hits<W: Write>(
    engine: &lens_core::Engine,
    hits: &[Hit],
    order: FileOrder,
    printer: &mut Printer<W>,
) -> io::Result<()> {
    let one_repo = engine.describe().repos.len() <= 1;
    let reader = engine.reader();
    let mut files: Vec<(String, u32, Vec<&Hit>)> = Vec::new();
    let mut index: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for h in hits.iter().filter(|h| h.line > 0) {
        let i = *index.entry(h.doc).or_insert_with(|| {
            let path = if one_repo {
                h.path.to_string()
            } else {
                format!("{}/{}", h.repo, h.path)
            };
            files.push((path, h.doc, Vec::new()));
            files.len() - 1
        });
        files[i].2.push(h);
    }
    if order == FileOrder::Path {
        files.sort_by(|a, b| a.0.cmp(&b.0));
    }
    for (path, doc, hits) in files {
        let content = reader.content(&reader.docs().get(doc));
        let starts = line_starts(content);
        let mut lines: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new();
        for h in hits {
            // Spans from the file offsets: the line's bytes, not a snippet's window.
            let line_start = starts[(h.line - 1) as usize] as u64;
            let span = (
                (h.abs_start - line_start) as usize,
                (h.abs_end - line_start) as usize,
            );
            lines.entry(h.line).or_default().push(span);
        }
        for spans in lines.values_mut() {
            spans.sort_unstable();
            spans.dedup();
        }
        printer.file(&FileMatches {
            path,
            content,
            lines,
        })?;
    }
    Ok(())
}
