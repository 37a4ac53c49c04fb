//! Results grouped by file (`group=file`): per file its match count and its
//! matches gathered into chunks of nearby lines (Sourcegraph's "chunk
//! matches"), the chunks that match more of the query's distinct terms, or
//! its rarest one, or hold a definition, first; and how many chunks were
//! left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::bundle::BundleReader;
use crate::search::Hit;

/// Longest line a chunk shows, in bytes (lossy UTF-8 beyond).
const MAX_LINE_BYTES: usize = 1000;

/// One file of a grouped answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileGroup {
    pub repo: String,
    pub path: String,
    pub language: String,
    /// Matches of this file in the answer.
    pub matches: usize,
    /// The best hit's score (files come in the answer's order).
    pub score: f64,
    pub chunks: Vec<Chunk>,
    /// Chunks beyond the ones shown.
    pub more_chunks: usize,
}

/// Nearby matching lines with their context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chunk {
    /// 1-based first line of `lines`.
    pub start_line: u64,
    pub lines: Vec<String>,
    pub matches: Vec<ChunkMatch>,
    /// Distinct matched terms (case-folded) in the chunk.
    pub terms: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkMatch {
    pub line: u64,
    /// Byte offsets in the line, and in the file (end exclusive).
    pub start: usize,
    pub end: usize,
    pub abs_start: u64,
    pub abs_end: u64,
}

/// Groups text hits by file, in the order files first appear. `context`
/// lines surround each chunk; at most `max_chunks` chunks a file are shown.
pub fn group_by_file(
    reader: &BundleReader,
    hits: &[Hit],
    context: usize,
    max_chunks: usize,
) -> Vec<FileGroup> {
    let mut order: Vec<u32> = Vec::new();
    let mut by_doc: HashMap<u32, Vec<&Hit>> = HashMap::new();
    for h in hits.iter().filter(|h| h.line > 0) {
        by_doc
            .entry(h.doc)
            .or_insert_with(|| {
                order.push(h.doc);
                Vec::new()
            })
            .push(h);
    }
    // How often each term matched in the whole answer: the rarest is the most telling.
    let term_of = |content: &[u8], h: &Hit| -> Vec<u8> {
        let (s, e) = (
            h.abs_start as usize,
            (h.abs_end as usize).min(content.len()),
        );
        content[s.min(e)..e].to_ascii_lowercase()
    };
    let mut frequency: HashMap<Vec<u8>, usize> = HashMap::new();
    for (doc, hs) in &by_doc {
        let content = reader.content(&reader.docs().get(*doc));
        for h in hs {
            *frequency.entry(term_of(content, h)).or_default() += 1;
        }
    }
    let rarest = frequency
        .iter()
        .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
        .map(|(t, _)| t.clone());
    order
        .into_iter()
        .map(|doc| {
            let hs = &by_doc[&doc];
            let content = reader.content(&reader.docs().get(doc));
            let mut lines: BTreeMap<u64, Vec<(&Hit, Vec<u8>)>> = BTreeMap::new();
            for h in hs {
                lines
                    .entry(h.line)
                    .or_default()
                    .push((*h, term_of(content, h)));
            }
            let mut chunks = chunks_of(content, &lines, context, rarest.as_deref());
            let more_chunks = chunks.len().saturating_sub(max_chunks);
            chunks.truncate(max_chunks);
            let first = hs[0];
            FileGroup {
                repo: first.repo.to_string(),
                path: first.path.to_string(),
                language: first.language.to_string(),
                matches: hs.len(),
                score: hs
                    .iter()
                    .map(|h| f64::from(h.score))
                    .fold(f64::MIN, f64::max),
                chunks,
                more_chunks,
            }
        })
        .collect()
}

type LineHits<'a> = BTreeMap<u64, Vec<(&'a Hit, Vec<u8>)>>;

/// The file's chunks, best first.
fn chunks_of(
    content: &[u8],
    lines: &LineHits<'_>,
    context: usize,
    rarest: Option<&[u8]>,
) -> Vec<Chunk> {
    let starts = line_starts(content);
    let total_lines = starts.len() as u64;
    let context = context as u64;
    // Runs of matching lines whose context windows touch.
    let mut runs: Vec<Vec<u64>> = Vec::new();
    for &line in lines.keys() {
        match runs.last_mut() {
            Some(run) if line <= run[run.len() - 1] + 2 * context + 1 => run.push(line),
            _ => runs.push(vec![line]),
        }
    }
    let mut ranked: Vec<(usize, bool, bool, Chunk)> = runs
        .into_iter()
        .map(|run| {
            let start_line = run[0].saturating_sub(context).max(1);
            let last = run[run.len() - 1];
            let end_line = (last + context).min(total_lines.max(last));
            let mut terms: BTreeSet<&[u8]> = BTreeSet::new();
            let mut matches = Vec::new();
            let mut definition = false;
            for l in &run {
                for (h, term) in &lines[l] {
                    terms.insert(term);
                    definition |= h.definition;
                    matches.push(ChunkMatch {
                        line: h.line,
                        start: h.start,
                        end: h.end,
                        abs_start: h.abs_start,
                        abs_end: h.abs_end,
                    });
                }
            }
            matches.sort_by_key(|m| (m.abs_start, m.abs_end));
            let has_rarest = rarest.is_some_and(|r| terms.contains(r));
            let chunk = Chunk {
                start_line,
                lines: (start_line..=end_line)
                    .map(|n| line_text(content, &starts, n))
                    .collect(),
                matches,
                terms: terms.len(),
            };
            (chunk.terms, has_rarest, definition, chunk)
        })
        .collect();
    // More distinct terms first, then the rarest term, then a definition, then position.
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(b.2.cmp(&a.2))
            .then(a.3.start_line.cmp(&b.3.start_line))
    });
    ranked.into_iter().map(|(_, _, _, c)| c).collect()
}

/// Byte offset of each line's start (line 1 at index 0).
fn line_starts(content: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', content).map(|i| i + 1));
    if starts.len() > 1 && starts.last() == Some(&content.len()) {
        starts.pop();
    }
    starts
}

/// Line `n` (1-based) without its terminator, lossy UTF-8, clipped.
fn line_text(content: &[u8], starts: &[usize], n: u64) -> String {
    let Some(&start) = starts.get((n as usize).wrapping_sub(1)) else {
        return String::new();
    };
    let end = memchr::memchr(b'\n', &content[start..]).map_or(content.len(), |i| start + i);
    let line = &content[start..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)]).into_owned()
}
