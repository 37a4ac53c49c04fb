//! Binds a parsed query (or a grep-style request) to compiled matchers,
//! filters, an n-gram query and limits: everything a search needs.

use regex_automata::meta;

use crate::error::{Error, Result};
use crate::glob::GlobFilter;
use crate::limits::Limits;
use crate::query::parse::{CaseMode, Expr, Pattern, Query};
use crate::query::{MatchOptions, Matcher, NgramQuery};

/// A grep-style request with ripgrep's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrepRequest {
    /// Patterns (`-e`, repeatable): a line matches when any does.
    pub patterns: Vec<String>,
    pub fixed_string: bool,
    pub case_insensitive: bool,
    pub word: bool,
    /// `-g` globs, gitignore-style, `!` excludes.
    pub globs: Vec<String>,
}

/// A node of the bound expression.
#[derive(Debug, Clone)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Index into [`Plan::matchers`].
    Content(usize),
    Path(Box<meta::Regex>),
    Repo(Box<meta::Regex>),
    Lang(String),
    Glob(Box<GlobFilter>),
}

impl Node {
    fn is_cheap(&self) -> bool {
        match self {
            Node::Content(_) => false,
            Node::And(v) | Node::Or(v) => v.iter().all(Node::is_cheap),
            Node::Not(n) => n.is_cheap(),
            _ => true,
        }
    }
}

/// How candidates are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CandidatePolicy {
    /// Postings or a full scan, whichever the estimate says is cheaper.
    #[default]
    CostBased,
    /// Always use postings when the n-gram plan has any (tests use this to
    /// exercise the planner on corpora too small for the cost model to pick it).
    ForceIndex,
}

/// Everything a search needs, bound and compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    pub candidate_policy: CandidatePolicy,
    /// Use the bundle's sparse n-grams (false: trigrams alone, for comparison).
    pub sparse_grams: bool,
    /// Verify candidates on the rayon pool (lower latency alone); a server under
    /// concurrent load turns it off, since handing work across cores then costs
    /// more than it saves.
    pub parallel: bool,
    pub root: Node,
    pub matchers: Vec<Matcher>,
    /// For each matcher: true when its matches are reported (not under a negation).
    pub reported: Vec<bool>,
    pub ngrams: NgramQuery,
    pub limits: Limits,
    /// Query text for BM25 when the query has several content terms.
    pub bm25_text: Option<String>,
    /// The identifier searched for, when the query is one (Stage-B looks up
    /// its definitions): the name and whether case is ignored.
    pub identifier: Option<(String, bool)>,
    /// Lines of context made for each hit.
    pub context_lines: usize,
    /// Where a paged exhaustive search resumes.
    pub resume: Option<crate::search::Resume>,
    /// Query-time ranking weights (the release's ranking config).
    pub weights: crate::rank::Weights,
}

/// `text` when it is one identifier (letters, digits, `_`, not starting with a digit).
fn identifier(text: &str) -> Option<&str> {
    let mut b = text.bytes();
    let first = b.next()?;
    ((first.is_ascii_alphabetic() || first == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_'))
    .then_some(text)
}

impl Plan {
    /// Plans a query-language query.
    pub fn from_query(query: &Query, limits: Limits) -> Result<Plan> {
        let mut b = Binder {
            case: query.case,
            limits,
            matchers: Vec::new(),
            reported: Vec::new(),
            terms: Vec::new(),
            idents: Vec::new(),
        };
        let root = b.bind(&query.expr, false)?;
        let ngrams = ngram_query(&root, &b.matchers).simplify();
        let bm25_text = (b.terms.len() >= 2).then(|| b.terms.join(" "));
        Ok(Plan {
            candidate_policy: CandidatePolicy::CostBased,
            sparse_grams: true,
            parallel: true,
            root,
            matchers: b.matchers,
            reported: b.reported,
            ngrams,
            limits,
            bm25_text,
            identifier: match b.idents.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
            context_lines: 0,
            resume: None,
            weights: crate::rank::Weights::default(),
        })
    }

    /// Plans a grep-style request.
    pub fn from_grep(req: &GrepRequest, limits: Limits) -> Result<Plan> {
        if req.patterns.is_empty() {
            return Err(Error::InvalidQuery {
                position: 0,
                reason: "no pattern given".into(),
            });
        }
        let opts = MatchOptions {
            fixed_string: req.fixed_string,
            case_insensitive: req.case_insensitive,
            word: req.word,
        };
        let pats: Vec<&str> = req.patterns.iter().map(String::as_str).collect();
        let matcher = Matcher::new(&pats, opts, limits.max_regex_size)?;
        let ngrams = matcher.ngrams().clone();
        let mut children = Vec::new();
        if !req.globs.is_empty() {
            children.push(Node::Glob(Box::new(GlobFilter::new(&req.globs)?)));
        }
        children.push(Node::Content(0));
        let root = if children.len() == 1 {
            children.pop().unwrap()
        } else {
            Node::And(children)
        };
        Ok(Plan {
            candidate_policy: CandidatePolicy::CostBased,
            sparse_grams: true,
            parallel: true,
            root,
            matchers: vec![matcher],
            reported: vec![true],
            ngrams,
            limits,
            bm25_text: None,
            identifier: match req.patterns.as_slice() {
                [p] => identifier(p).map(|n| (n.to_string(), req.case_insensitive)),
                _ => None,
            },
            context_lines: 0,
            resume: None,
            weights: crate::rank::Weights::default(),
        })
    }
}

struct Binder {
    case: CaseMode,
    limits: Limits,
    matchers: Vec<Matcher>,
    reported: Vec<bool>,
    terms: Vec<String>,
    /// Positive terms that are identifiers, with their case mode.
    idents: Vec<(String, bool)>,
}

fn case_insensitive(mode: CaseMode, p: &Pattern) -> bool {
    match mode {
        CaseMode::Yes => false,
        CaseMode::No => true,
        CaseMode::Auto => !has_upper(&p.text, p.is_regex),
    }
}

/// Upper-case letters outside regex escapes (so `\W` or `\P{..}` do not count).
fn has_upper(text: &str, is_regex: bool) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if is_regex && c == '\\' {
            chars.next();
            continue;
        }
        if c.is_uppercase() {
            return true;
        }
    }
    false
}

impl Binder {
    fn bind(&mut self, e: &Expr, negated: bool) -> Result<Node> {
        Ok(match e {
            Expr::And(v) => {
                let mut nodes = v
                    .iter()
                    .map(|x| self.bind(x, negated))
                    .collect::<Result<Vec<_>>>()?;
                // Cheap filters first so they short-circuit before content is read.
                nodes.sort_by_key(|n| !n.is_cheap());
                Node::And(nodes)
            }
            Expr::Or(v) => Node::Or(
                v.iter()
                    .map(|x| self.bind(x, negated))
                    .collect::<Result<_>>()?,
            ),
            Expr::Not(inner) => Node::Not(Box::new(self.bind(inner, !negated)?)),
            Expr::Content(p) => {
                if p.text.is_empty() {
                    return Err(Error::InvalidQuery {
                        position: p.position,
                        reason: "empty pattern".into(),
                    });
                }
                let opts = MatchOptions {
                    fixed_string: !p.is_regex,
                    case_insensitive: case_insensitive(self.case, p),
                    word: false,
                };
                let m = Matcher::new(&[p.text.as_str()], opts, self.limits.max_regex_size)
                    .map_err(|e| match e {
                        Error::InvalidRegex {
                            pattern,
                            position,
                            reason,
                        } => Error::InvalidRegex {
                            pattern,
                            position: position.map(|x| x + p.position),
                            reason,
                        },
                        e => e,
                    })?;
                self.matchers.push(m);
                self.reported.push(!negated);
                if !negated {
                    self.terms.push(p.text.clone());
                    if let Some(id) = identifier(&p.text) {
                        self.idents.push((id.to_string(), opts.case_insensitive));
                    }
                }
                Node::Content(self.matchers.len() - 1)
            }
            Expr::File(p) => Node::Path(Box::new(self.side_regex(p)?)),
            Expr::Repo(p) => Node::Repo(Box::new(self.side_regex(p)?)),
            Expr::Lang(l) => Node::Lang(l.clone()),
            Expr::Sym(Pattern { position, .. }) => {
                return Err(Error::InvalidQuery {
                    position: *position,
                    reason: "sym: makes a symbol query; plan it with SymbolPlan".into(),
                });
            }
            Expr::Kind(_) => {
                return Err(Error::InvalidQuery {
                    position: 0,
                    reason: "kind: makes a symbol query; plan it with SymbolPlan".into(),
                });
            }
        })
    }

    fn side_regex(&self, p: &Pattern) -> Result<meta::Regex> {
        let ci = case_insensitive(self.case, p);
        let text = if p.is_regex {
            p.text.clone()
        } else {
            regex_syntax::escape(&p.text)
        };
        meta::Regex::builder()
            .syntax(regex_automata::util::syntax::Config::new().case_insensitive(ci))
            .configure(meta::Config::new().nfa_size_limit(Some(self.limits.max_regex_size)))
            .build(&text)
            .map_err(|e| Error::InvalidRegex {
                pattern: p.text.clone(),
                position: Some(p.position),
                reason: e.to_string(),
            })
    }
}

fn ngram_query(node: &Node, matchers: &[Matcher]) -> NgramQuery {
    match node {
        Node::And(v) => NgramQuery::And(v.iter().map(|n| ngram_query(n, matchers)).collect()),
        Node::Or(v) => NgramQuery::Or(v.iter().map(|n| ngram_query(n, matchers)).collect()),
        Node::Content(i) => matchers[*i].ngrams().clone(),
        Node::Not(_) | Node::Path(_) | Node::Repo(_) | Node::Lang(_) | Node::Glob(_) => {
            NgramQuery::All
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    #[test]
    fn negated_terms_are_not_reported_or_required() {
        let p = Plan::from_query(&parse("foobar -bazqux").unwrap(), Limits::default()).unwrap();
        assert_eq!(p.reported, vec![true, false]);
        assert!(matches!(p.ngrams, NgramQuery::And(_)));
        assert!(p.bm25_text.is_none());
    }

    #[test]
    fn case_auto_follows_upper_case() {
        assert!(!has_upper(r"\Wfoo", true));
        assert!(has_upper("Foo", false));
    }
}
