//! Compiles one content pattern into a byte regex with ripgrep's line semantics.
//!
//! Lines split at `\n` and no match may contain one: `\n` is removed from every
//! class and a literal `\n` is refused, as ripgrep does. `^`/`$` are line anchors.
//! `\w`, `\b` and the `-w` word mode are Unicode-aware.

use regex_automata::meta;
use regex_syntax::hir::{
    Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look,
};

use super::ngram_plan::{NgramQuery, regex_ngrams};
use crate::error::{Error, Result};

/// How one pattern is to be matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchOptions {
    /// The pattern is a literal string, not a regex (`-F`).
    pub fixed_string: bool,
    pub case_insensitive: bool,
    /// Matches must be bounded by non-word characters (`-w`).
    pub word: bool,
}

/// A compiled content pattern and the trigram query its matches satisfy.
#[derive(Debug, Clone)]
pub struct Matcher {
    regex: meta::Regex,
    ngrams: NgramQuery,
}

impl Matcher {
    /// Compiles one or more patterns (alternatives, as repeated `-e`).
    pub fn new(patterns: &[&str], opts: MatchOptions, max_regex_size: usize) -> Result<Matcher> {
        let mut alts = Vec::with_capacity(patterns.len());
        for p in patterns {
            alts.push(parse_hir(p, opts)?);
        }
        let mut hir = if alts.len() == 1 {
            alts.pop().unwrap()
        } else {
            Hir::alternation(alts)
        };
        if opts.word {
            hir = Hir::concat(vec![
                Hir::look(Look::WordStartHalfUnicode),
                hir,
                Hir::look(Look::WordEndHalfUnicode),
            ]);
        }
        let source = patterns.join(" | ");
        let regex = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(max_regex_size))
                    .utf8_empty(false)
                    .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit),
            )
            .build_from_hir(&hir)
            .map_err(|e| Error::InvalidRegex {
                pattern: source,
                position: None,
                reason: e.to_string(),
            })?;
        let ngrams = regex_ngrams(&hir);
        Ok(Matcher { regex, ngrams })
    }

    /// The trigram query every match satisfies.
    pub fn ngrams(&self) -> &NgramQuery {
        &self.ngrams
    }

    /// True when the pattern matches somewhere in `haystack`.
    #[inline]
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.regex.is_match(haystack)
    }

    /// Every leftmost-first, non-overlapping match as `(start, end)`.
    pub fn find_iter<'h>(
        &'h self,
        haystack: &'h [u8],
    ) -> impl Iterator<Item = (usize, usize)> + 'h {
        self.regex.find_iter(haystack).map(|m| (m.start(), m.end()))
    }
}

fn parse_hir(pattern: &str, opts: MatchOptions) -> Result<Hir> {
    let escaped;
    let text = if opts.fixed_string {
        escaped = regex_syntax::escape(pattern);
        escaped.as_str()
    } else {
        pattern
    };
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .utf8(false)
        .multi_line(true)
        .case_insensitive(opts.case_insensitive)
        .build()
        .parse(text)
        .map_err(|e| regex_error(pattern, &e, opts.fixed_string))?;
    strip_newlines(hir).map_err(|reason| Error::InvalidRegex {
        pattern: pattern.to_string(),
        position: None,
        reason,
    })
}

fn regex_error(pattern: &str, e: &regex_syntax::Error, fixed: bool) -> Error {
    let (position, reason) = match e {
        regex_syntax::Error::Parse(e) => (Some(e.span().start.offset), e.kind().to_string()),
        regex_syntax::Error::Translate(e) => (Some(e.span().start.offset), e.kind().to_string()),
        other => (None, other.to_string()),
    };
    Error::InvalidRegex {
        pattern: pattern.to_string(),
        position: if fixed { None } else { position },
        reason,
    }
}

/// Removes `\n` from classes and refuses literal newlines, so matches stay within a line.
fn strip_newlines(hir: Hir) -> std::result::Result<Hir, String> {
    Ok(match hir.into_kind() {
        HirKind::Literal(lit) => {
            if lit.0.contains(&b'\n') {
                return Err(r"the literal '\n' is not allowed in a regex".into());
            }
            Hir::literal(lit.0)
        }
        HirKind::Class(Class::Unicode(mut c)) => {
            c.difference(&ClassUnicode::new([ClassUnicodeRange::new('\n', '\n')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(mut c)) => {
            c.difference(&ClassBytes::new([ClassBytesRange::new(b'\n', b'\n')]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(strip_newlines(*rep.sub)?);
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(strip_newlines(*cap.sub)?);
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => Hir::concat(
            subs.into_iter()
                .map(strip_newlines)
                .collect::<std::result::Result<_, _>>()?,
        ),
        HirKind::Alternation(subs) => Hir::alternation(
            subs.into_iter()
                .map(strip_newlines)
                .collect::<std::result::Result<_, _>>()?,
        ),
        HirKind::Empty => Hir::empty(),
        HirKind::Look(l) => Hir::look(l),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(p: &str, opts: MatchOptions, hay: &str) -> Vec<(usize, usize)> {
        Matcher::new(&[p], opts, 1 << 20)
            .unwrap()
            .find_iter(hay.as_bytes())
            .collect()
    }

    #[test]
    fn classes_never_cross_lines() {
        assert_eq!(
            spans(r"a\sb", MatchOptions::default(), "a\nb a b"),
            vec![(4, 7)]
        );
        assert_eq!(
            spans(r"x[^y]*", MatchOptions::default(), "xa\nxb"),
            vec![(0, 2), (3, 5)]
        );
        assert_eq!(
            spans(r"^b$", MatchOptions::default(), "a\nb\nc"),
            vec![(2, 3)]
        );
    }

    #[test]
    fn literal_newline_is_refused() {
        assert!(matches!(
            Matcher::new(&["a\\nb"], MatchOptions::default(), 1 << 20),
            Err(Error::InvalidRegex { .. })
        ));
    }

    #[test]
    fn word_mode_is_unicode_aware() {
        let w = MatchOptions {
            word: true,
            ..Default::default()
        };
        assert_eq!(
            spans("foo", w, "foo foobar éfoo foo_ -foo-"),
            vec![(0, 3), (23, 26)]
        );
    }

    #[test]
    fn fixed_strings_and_case() {
        let f = MatchOptions {
            fixed_string: true,
            case_insensitive: true,
            ..Default::default()
        };
        assert_eq!(spans("A.B", f, "a.b axb A.B"), vec![(0, 3), (8, 11)]);
    }

    #[test]
    fn invalid_regex_reports_position() {
        match Matcher::new(&["ab(c"], MatchOptions::default(), 1 << 20) {
            Err(Error::InvalidRegex {
                position: Some(2), ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
