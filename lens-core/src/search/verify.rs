//! Verifies one candidate document against the plan and extracts exact spans.

use memchr::{memchr_iter, memrchr};

use crate::bundle::{BundleReader, DocRecord};
use crate::plan::{Node, Plan};
use crate::rank;

/// One exact match inside a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's start in the file.
    pub line_start: usize,
    /// Byte offsets in the file (end exclusive).
    pub start: usize,
    pub end: usize,
}

/// A matching document and its spans.
#[derive(Debug, Clone)]
pub struct DocMatch {
    pub doc: u32,
    pub spans: Vec<Span>,
    pub best_word: u8,
    pub file_name_match: bool,
}

struct Eval<'a> {
    plan: &'a Plan,
    content: &'a [u8],
    path: &'a str,
    repo: &'a str,
    lang: &'a str,
    /// Per matcher: `None` unknown, else the spans found (empty = no match).
    found: Vec<Option<Vec<(usize, usize)>>>,
}

impl Eval<'_> {
    fn eval(&mut self, n: &Node) -> bool {
        match n {
            Node::And(v) => v.iter().all(|c| self.eval(c)),
            Node::Or(v) => {
                // Evaluate every branch so that all matching alternatives report spans.
                let mut any = false;
                for c in v {
                    any |= self.eval(c);
                }
                any
            }
            Node::Not(inner) => !self.eval(inner),
            Node::Content(i) => {
                if self.found[*i].is_none() {
                    let m = &self.plan.matchers[*i];
                    let spans = if self.plan.reported[*i] {
                        m.find_iter(self.content).collect()
                    } else if m.is_match(self.content) {
                        vec![(0, 0)]
                    } else {
                        Vec::new()
                    };
                    self.found[*i] = Some(spans);
                }
                self.found[*i].as_ref().is_some_and(|s| !s.is_empty())
            }
            Node::Path(re) => re.is_match(self.path.as_bytes()),
            Node::Repo(re) => re.is_match(self.repo.as_bytes()),
            Node::Lang(l) => self.lang.eq_ignore_ascii_case(l),
            Node::Glob(g) => g.allows(self.path),
        }
    }
}

/// Checks `doc`; returns its matches when it satisfies the plan.
pub fn verify(bundle: &BundleReader, plan: &Plan, doc: u32) -> Option<DocMatch> {
    let rec: DocRecord = bundle.docs().get(doc);
    let path = bundle.path(&rec);
    let mut ev = Eval {
        plan,
        content: bundle.content(&rec),
        path: &path,
        repo: bundle.repo_name(&rec),
        lang: bundle.language(&rec),
        found: vec![None; plan.matchers.len()],
    };
    if !ev.eval(&plan.root) {
        return None;
    }
    let content = ev.content;
    let mut raw: Vec<(usize, usize)> = Vec::new();
    for (i, f) in ev.found.iter().enumerate() {
        if let (true, Some(s)) = (plan.reported[i], f) {
            raw.extend_from_slice(s);
        }
    }
    if ev
        .found
        .iter()
        .filter(|f| f.as_ref().is_some_and(|s| !s.is_empty()))
        .count()
        > 1
    {
        raw.sort_unstable();
        raw.dedup();
    }
    let name = path.rsplit('/').next().unwrap_or(&path);
    let file_name_match = plan
        .matchers
        .iter()
        .zip(&plan.reported)
        .any(|(m, &rep)| rep && m.is_match(name.as_bytes()));
    let mut spans = Vec::with_capacity(raw.len());
    let mut best_word = 0u8;
    let (mut line, mut counted_to) = (1u64, 0usize);
    for (start, end) in raw {
        if start < counted_to {
            // Overlapping spans from different terms: recount from the line start.
            line = 1 + memchr_iter(b'\n', &content[..start]).count() as u64;
        } else {
            line += memchr_iter(b'\n', &content[counted_to..start]).count() as u64;
        }
        counted_to = start;
        let line_start = memrchr(b'\n', &content[..start]).map_or(0, |i| i + 1);
        best_word = best_word.max(rank::word_quality(content, start, end));
        spans.push(Span {
            line,
            line_start,
            start,
            end,
        });
    }
    Some(DocMatch {
        doc,
        spans,
        best_word,
        file_name_match,
    })
}
