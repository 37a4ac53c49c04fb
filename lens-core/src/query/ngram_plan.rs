//! Derives the trigrams a regex match must contain, from its syntax tree.
//!
//! This is the analysis of Russ Cox's codesearch (and Zoekt): each node yields
//! the set of exact strings it can match (while small), else prefix and suffix
//! sets, plus a boolean trigram query every match satisfies. Strings are kept in
//! the index's case-folded form, so the result is a sound over-approximation.

use std::collections::BTreeSet;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::ngram::sparse::SparseGram;
use crate::ngram::{self, Trigram};

/// Boolean query over trigram keys: documents must satisfy it to be candidates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NgramQuery {
    /// Every document is a candidate.
    All,
    /// No document can match.
    None,
    Trigram(Trigram),
    /// The trigram, followed somewhere by a byte with this next-byte mask bit
    /// ([`ngram::next_bit`]): checked against the index's next-byte masks.
    Followed(Trigram, u8),
    /// A sparse n-gram of 4 or more bytes ([`ngram::sparse`]); no constraint
    /// on a bundle without a sparse index.
    Gram(SparseGram),
    And(Vec<NgramQuery>),
    Or(Vec<NgramQuery>),
}

impl NgramQuery {
    pub fn and(self, other: NgramQuery) -> NgramQuery {
        NgramQuery::And(vec![self, other]).simplify()
    }

    pub fn or(self, other: NgramQuery) -> NgramQuery {
        NgramQuery::Or(vec![self, other]).simplify()
    }

    /// All trigrams of `lit`, conjoined (each but the last with the byte
    /// that follows it in `lit`), and its sparse n-grams.
    pub fn literal(lit: &[u8]) -> NgramQuery {
        if lit.len() < 3 {
            return NgramQuery::All;
        }
        let mut parts: Vec<NgramQuery> = lit
            .windows(3)
            .enumerate()
            .map(|(i, w)| {
                let key = ngram::key(w[0], w[1], w[2]);
                match lit.get(i + 3) {
                    Some(&next) => NgramQuery::Followed(key, ngram::next_bit(next)),
                    None => NgramQuery::Trigram(key),
                }
            })
            .collect();
        parts.sort_by_key(|q| match q {
            NgramQuery::Trigram(t) => (*t, 0),
            NgramQuery::Followed(t, bit) => (*t, *bit),
            _ => unreachable!("only trigrams here"),
        });
        parts.extend(
            ngram::sparse::literal_grams(lit)
                .into_iter()
                .map(NgramQuery::Gram),
        );
        NgramQuery::And(parts).simplify()
    }

    /// Flattens nested nodes and folds constants.
    pub fn simplify(self) -> NgramQuery {
        match self {
            NgramQuery::And(items) => {
                let mut out: Vec<NgramQuery> = Vec::new();
                for q in items.into_iter().map(NgramQuery::simplify) {
                    match q {
                        NgramQuery::All => {}
                        NgramQuery::None => return NgramQuery::None,
                        NgramQuery::And(inner) => out.extend(inner),
                        q => out.push(q),
                    }
                }
                dedup(&mut out);
                match out.len() {
                    0 => NgramQuery::All,
                    1 => out.pop().unwrap(),
                    _ => NgramQuery::And(out),
                }
            }
            NgramQuery::Or(items) => {
                let mut out: Vec<NgramQuery> = Vec::new();
                for q in items.into_iter().map(NgramQuery::simplify) {
                    match q {
                        NgramQuery::None => {}
                        NgramQuery::All => return NgramQuery::All,
                        NgramQuery::Or(inner) => out.extend(inner),
                        q => out.push(q),
                    }
                }
                dedup(&mut out);
                match out.len() {
                    0 => NgramQuery::None,
                    1 => out.pop().unwrap(),
                    _ => NgramQuery::Or(out),
                }
            }
            q => q,
        }
    }

    /// Human-readable form for stats and logs.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_into(&mut out);
        out
    }

    /// [`Self::describe`] into one buffer (plans are described on every search).
    fn describe_into(&self, out: &mut String) {
        use std::fmt::Write;
        let trigram = |out: &mut String, t: Trigram| {
            let b = [(t >> 16) as u8, (t >> 8) as u8, t as u8];
            let _ = write!(out, "{:?}", String::from_utf8_lossy(&b));
        };
        match self {
            NgramQuery::All => out.push_str("ALL"),
            NgramQuery::None => out.push_str("NONE"),
            NgramQuery::Trigram(t) => trigram(out, *t),
            NgramQuery::Gram(g) => {
                let _ = write!(out, "~{:?}", String::from_utf8_lossy(g.bytes()));
            }
            NgramQuery::Followed(t, bit) => {
                trigram(out, *t);
                let _ = write!(out, "+next{}", bit.trailing_zeros());
            }
            NgramQuery::And(v) | NgramQuery::Or(v) => {
                let sep = if matches!(self, NgramQuery::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push('(');
                for (i, q) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    q.describe_into(out);
                }
                out.push(')');
            }
        }
    }
}

/// Drops repeats, keeping first occurrences in order: O(n log n), without
/// cloning (a literal has dozens of parts, and plans simplify repeatedly).
fn dedup(v: &mut Vec<NgramQuery>) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    // Stable: among equal parts the first comes first.
    order.sort_by(|&a, &b| v[a].cmp(&v[b]));
    let mut repeat = vec![false; v.len()];
    for w in order.windows(2) {
        if v[w[0]] == v[w[1]] {
            repeat[w[1]] = true;
        }
    }
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        !repeat[i - 1]
    });
}

const MAX_EXACT: usize = 16;
const MAX_SET: usize = 20;
const MAX_CLASS_CHARS: u32 = 16;
const MAX_EXACT_LEN: usize = 64;

type StringSet = BTreeSet<Vec<u8>>;

#[derive(Debug, Clone)]
struct Info {
    can_empty: bool,
    exact: Option<StringSet>,
    prefix: StringSet,
    suffix: StringSet,
    matches: NgramQuery,
}

impl Info {
    fn exact(set: StringSet) -> Info {
        let can_empty = set.contains(&Vec::new());
        Info {
            can_empty,
            exact: Some(set),
            prefix: StringSet::new(),
            suffix: StringSet::new(),
            matches: NgramQuery::All,
        }
    }

    fn empty_string() -> Info {
        Info::exact(std::iter::once(Vec::new()).collect())
    }

    fn any_char() -> Info {
        let empty: StringSet = std::iter::once(Vec::new()).collect();
        Info {
            can_empty: false,
            exact: None,
            prefix: empty.clone(),
            suffix: empty,
            matches: NgramQuery::All,
        }
    }

    fn any_match() -> Info {
        Info {
            can_empty: true,
            ..Info::any_char()
        }
    }

    fn add_exact(&mut self) {
        if let Some(exact) = &self.exact {
            self.matches =
                std::mem::replace(&mut self.matches, NgramQuery::All).and(and_trigrams(exact));
        }
    }

    /// Moves an exact set into prefix/suffix form (the strings stay known at both ends).
    fn exact_to_affixes(&mut self) {
        self.add_exact();
        if let Some(exact) = self.exact.take() {
            self.prefix = exact.clone();
            self.suffix = exact;
        }
    }

    fn simplify(&mut self, force: bool) {
        if let Some(exact) = &self.exact {
            let min_len = exact.iter().map(Vec::len).min().unwrap_or(0);
            if exact.len() > MAX_EXACT || (force && min_len >= 3) || min_len >= MAX_EXACT_LEN {
                self.add_exact();
                let exact = self.exact.take().unwrap();
                for s in exact {
                    let n = s.len();
                    if n < 3 {
                        self.prefix.insert(s.clone());
                        self.suffix.insert(s);
                    } else {
                        self.prefix.insert(s[..2].to_vec());
                        self.suffix.insert(s[n - 2..].to_vec());
                    }
                }
            }
        }
        if self.exact.is_none() {
            let prefix = std::mem::take(&mut self.prefix);
            self.prefix = self.simplify_set(prefix, false);
            let suffix = std::mem::take(&mut self.suffix);
            self.suffix = self.simplify_set(suffix, true);
        }
    }

    fn simplify_set(&mut self, set: StringSet, is_suffix: bool) -> StringSet {
        self.matches =
            std::mem::replace(&mut self.matches, NgramQuery::All).and(and_trigrams(&set));
        let mut t = set;
        let mut n = 3usize;
        while n == 3 || t.len() > MAX_SET {
            t = t
                .into_iter()
                .map(|s| {
                    if s.len() >= n {
                        if is_suffix {
                            s[s.len() - (n - 1)..].to_vec()
                        } else {
                            s[..n - 1].to_vec()
                        }
                    } else {
                        s
                    }
                })
                .collect();
            if n == 1 {
                break;
            }
            n -= 1;
        }
        // Drop strings made redundant by a shorter one they extend.
        let mut sorted: Vec<Vec<u8>> = t.into_iter().collect();
        sorted.sort_by_key(Vec::len);
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for s in sorted {
            let redundant = kept.iter().any(|k| {
                if is_suffix {
                    s.ends_with(k)
                } else {
                    s.starts_with(k)
                }
            });
            if !redundant {
                kept.push(s);
            }
        }
        kept.into_iter().collect()
    }
}

/// OR over the strings of the AND of each string's trigrams; no constraint
/// when some string is shorter than a trigram.
fn and_trigrams(set: &StringSet) -> NgramQuery {
    if set.iter().any(|s| s.len() < 3) {
        return NgramQuery::All;
    }
    NgramQuery::Or(set.iter().map(|s| NgramQuery::literal(s)).collect()).simplify()
}

fn cross(a: &StringSet, b: &StringSet) -> StringSet {
    let mut out = StringSet::new();
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.insert(s);
        }
    }
    out
}

fn fold_all(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|&b| ngram::fold(b)).collect()
}

fn class_info(class: &Class) -> Info {
    let mut set = StringSet::new();
    match class {
        Class::Unicode(c) => {
            let count: u32 = c
                .ranges()
                .iter()
                .map(|r| r.end() as u32 - r.start() as u32 + 1)
                .sum();
            if count > MAX_CLASS_CHARS * 4 {
                return Info::any_char();
            }
            for r in c.ranges() {
                for cp in r.start() as u32..=r.end() as u32 {
                    if let Some(ch) = char::from_u32(cp) {
                        let mut buf = [0u8; 4];
                        set.insert(fold_all(ch.encode_utf8(&mut buf).as_bytes()));
                    }
                }
            }
        }
        Class::Bytes(c) => {
            let count: u32 = c
                .ranges()
                .iter()
                .map(|r| r.end() as u32 - r.start() as u32 + 1)
                .sum();
            if count > MAX_CLASS_CHARS * 4 {
                return Info::any_char();
            }
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set.insert(vec![ngram::fold(b)]);
                }
            }
        }
    }
    if set.len() > MAX_CLASS_CHARS as usize {
        return Info::any_char();
    }
    Info::exact(set)
}

fn concat(x: Info, y: Info) -> Info {
    let mut xy = Info {
        can_empty: x.can_empty && y.can_empty,
        exact: None,
        prefix: StringSet::new(),
        suffix: StringSet::new(),
        matches: x.matches.clone().and(y.matches.clone()),
    };
    match (&x.exact, &y.exact) {
        (Some(xe), Some(ye)) => xy.exact = Some(cross(xe, ye)),
        _ => {
            xy.prefix = match &x.exact {
                Some(xe) => cross(xe, &y.prefix),
                None if x.can_empty => x.prefix.union(&y.prefix).cloned().collect(),
                None => x.prefix.clone(),
            };
            xy.suffix = match &y.exact {
                Some(ye) => cross(&x.suffix, ye),
                None if y.can_empty => y.suffix.union(&x.suffix).cloned().collect(),
                None => y.suffix.clone(),
            };
        }
    }
    // Trigrams spanning the boundary between x and y.
    if x.exact.is_none()
        && y.exact.is_none()
        && x.suffix.len() <= MAX_SET
        && y.prefix.len() <= MAX_SET
        && min_len(&x.suffix) + min_len(&y.prefix) >= 3
    {
        xy.matches = xy.matches.and(and_trigrams(&cross(&x.suffix, &y.prefix)));
    }
    xy.simplify(false);
    xy
}

fn alternate(mut x: Info, mut y: Info) -> Info {
    let mut xy = Info {
        can_empty: x.can_empty || y.can_empty,
        exact: None,
        prefix: StringSet::new(),
        suffix: StringSet::new(),
        matches: NgramQuery::All,
    };
    match (&x.exact, &y.exact) {
        (Some(xe), Some(ye)) => xy.exact = Some(xe.union(ye).cloned().collect()),
        (Some(xe), None) => {
            xy.prefix = xe.union(&y.prefix).cloned().collect();
            xy.suffix = xe.union(&y.suffix).cloned().collect();
            x.add_exact();
        }
        (None, Some(ye)) => {
            xy.prefix = x.prefix.union(ye).cloned().collect();
            xy.suffix = x.suffix.union(ye).cloned().collect();
            y.add_exact();
        }
        (None, None) => {
            xy.prefix = x.prefix.union(&y.prefix).cloned().collect();
            xy.suffix = x.suffix.union(&y.suffix).cloned().collect();
        }
    }
    xy.matches = x.matches.or(y.matches);
    xy.simplify(false);
    xy
}

fn min_len(s: &StringSet) -> usize {
    s.iter().map(Vec::len).min().unwrap_or(0)
}

fn analyze(hir: &Hir) -> Info {
    let mut info = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty_string(),
        HirKind::Literal(lit) => Info::exact(std::iter::once(fold_all(&lit.0)).collect()),
        HirKind::Class(c) => class_info(c),
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Repetition(rep) => {
            let sub = analyze(&rep.sub);
            match (rep.min, rep.max) {
                (0, Some(1)) => alternate(sub, Info::empty_string()),
                (0, _) => Info::any_match(),
                _ => {
                    let mut sub = sub;
                    sub.exact_to_affixes();
                    sub.simplify(false);
                    sub
                }
            }
        }
        HirKind::Concat(subs) => {
            let mut it = subs.iter();
            let first = it.next().map(analyze).unwrap_or_else(Info::empty_string);
            it.fold(first, |acc, h| concat(acc, analyze(h)))
        }
        HirKind::Alternation(subs) => {
            let mut it = subs.iter();
            let first = it
                .next()
                .map(analyze)
                .unwrap_or_else(|| Info::exact(StringSet::new()));
            it.fold(first, |acc, h| alternate(acc, analyze(h)))
        }
    };
    info.simplify(false);
    info
}

/// The trigram query every match of `hir` satisfies.
pub fn regex_ngrams(hir: &Hir) -> NgramQuery {
    let mut info = analyze(hir);
    info.simplify(true);
    info.add_exact();
    info.matches.simplify()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::ParserBuilder;

    fn plan(re: &str, ci: bool) -> NgramQuery {
        let hir = ParserBuilder::new()
            .case_insensitive(ci)
            .utf8(false)
            .build()
            .parse(re)
            .unwrap();
        regex_ngrams(&hir)
    }

    fn tri(s: &str) -> NgramQuery {
        let b = s.as_bytes();
        NgramQuery::Trigram(ngram::key(b[0], b[1], b[2]))
    }

    #[test]
    fn literal_needs_all_its_trigrams() {
        // Each trigram but the last also needs the byte after it.
        let abc_then_d = NgramQuery::Followed(ngram::key(b'a', b'b', b'c'), ngram::next_bit(b'd'));
        assert_eq!(
            plan("abcd", false),
            NgramQuery::And(vec![abc_then_d, tri("bcd")])
        );
        assert_eq!(plan("ABCD", true), plan("abcd", false));
    }

    #[test]
    fn wildcards_and_alternation() {
        let q = plan("foo.*bar", false);
        assert_eq!(q, NgramQuery::And(vec![tri("foo"), tri("bar")]));
        let q = plan("foo|bar", false);
        assert_eq!(q, NgramQuery::Or(vec![tri("bar"), tri("foo")]));
        assert_eq!(plan("a.*b", false), NgramQuery::All);
        assert_eq!(plan(r"\w+", false), NgramQuery::All);
    }

    #[test]
    fn small_classes_expand() {
        // ab[cd] -> abc OR abd
        assert_eq!(
            plan("ab[cd]", false),
            NgramQuery::Or(vec![tri("abc"), tri("abd")])
        );
    }

    #[test]
    fn empty_class_matches_nothing() {
        assert_eq!(plan(r"[^\s\S]", false), NgramQuery::None);
    }
}
