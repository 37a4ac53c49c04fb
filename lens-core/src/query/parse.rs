//! Parser for the query language (close to Zoekt's).
//!
//! ```text
//! query   := orexpr
//! orexpr  := andexpr ("or" andexpr)*
//! andexpr := unary+
//! unary   := "-" atom | atom
//! atom    := "(" orexpr ")" | field ":" value | "\"literal\"" | "/regex/" | term
//! field   := case | file | path | f | lang | repo | r | content | regex | sym | kind | type
//! ```
//! Bare terms and quoted strings are literal substrings; `/.../` is a regex.
//! `sym:`, `kind:` or `type:symbol` make it a symbol query: results are
//! definitions, and bare terms match their names.

use crate::error::{Error, Result};

/// How letter case is treated by content and path patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseMode {
    Yes,
    No,
    /// Case-sensitive only when the pattern has an upper-case letter.
    #[default]
    Auto,
}

/// A pattern as written: a literal substring or a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub is_regex: bool,
    /// Byte offset of the pattern in the query, for error messages.
    pub position: usize,
}

/// The parsed query tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// Matches file content.
    Content(Pattern),
    /// Regex (or literal) over the file path within its repository.
    File(Pattern),
    /// Language name, exact (case-insensitive).
    Lang(String),
    /// Regex (or literal) over the repository name.
    Repo(Pattern),
    /// A definition's name: exact (optionally `Scope::name`) or `/regex/`.
    Sym(Pattern),
    /// A definition's kind.
    Kind(crate::symbols::SymbolKind),
}

/// A parsed query: the expression and the global case mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub expr: Expr,
    pub case: CaseMode,
    /// `type:symbol` was given: results are definitions.
    pub symbols: bool,
}

/// Parses the query language.
pub fn parse(input: &str) -> Result<Query> {
    let mut p = Parser {
        src: input,
        pos: 0,
        depth: 0,
        case: CaseMode::Auto,
        symbols: false,
    };
    let expr = p.parse_or()?;
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.err("unexpected ')'"));
    }
    let expr = expr.ok_or_else(|| Error::InvalidQuery {
        position: 0,
        reason: "empty query".into(),
    })?;
    if !has_positive_content(&expr) && !has_any_filter(&expr) && !p.symbols {
        return Err(Error::InvalidQuery {
            position: 0,
            reason: "query has nothing to match".into(),
        });
    }
    Ok(Query {
        expr,
        case: p.case,
        symbols: p.symbols,
    })
}

fn has_positive_content(e: &Expr) -> bool {
    match e {
        Expr::Content(_) | Expr::Sym(_) | Expr::Kind(_) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(has_positive_content),
        _ => false,
    }
}

fn has_any_filter(e: &Expr) -> bool {
    match e {
        Expr::File(_) | Expr::Lang(_) | Expr::Repo(_) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(has_any_filter),
        Expr::Not(inner) => has_any_filter(inner),
        Expr::Content(_) | Expr::Sym(_) | Expr::Kind(_) => false,
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    case: CaseMode,
    symbols: bool,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::InvalidQuery {
            position: self.pos,
            reason: reason.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn at_or_keyword(&self) -> bool {
        let r = self.rest().as_bytes();
        r.len() >= 2
            && r[..2].eq_ignore_ascii_case(b"or")
            && r.get(2)
                .is_none_or(|&c| c.is_ascii_whitespace() || c == b'(')
    }

    fn parse_or(&mut self) -> Result<Option<Expr>> {
        let mut alts = Vec::new();
        loop {
            let and = self.parse_and()?;
            self.skip_ws();
            if self.at_or_keyword() {
                let Some(and) = and else {
                    return Err(self.err("'or' needs a term before it"));
                };
                alts.push(and);
                self.pos += 2;
                continue;
            }
            match and {
                Some(e) => alts.push(e),
                None if !alts.is_empty() => return Err(self.err("'or' needs a term after it")),
                None => {}
            }
            break;
        }
        Ok(match alts.len() {
            0 => None,
            1 => alts.pop(),
            _ => Some(Expr::Or(alts)),
        })
    }

    fn parse_and(&mut self) -> Result<Option<Expr>> {
        let mut terms = Vec::new();
        loop {
            self.skip_ws();
            let r = self.rest();
            if r.is_empty() || self.at_or_keyword() || (r.starts_with(')') && self.depth > 0) {
                break;
            }
            if let Some(e) = self.parse_unary()? {
                terms.push(e);
            }
        }
        Ok(match terms.len() {
            0 => None,
            1 => terms.pop(),
            _ => Some(Expr::And(terms)),
        })
    }

    fn parse_unary(&mut self) -> Result<Option<Expr>> {
        let r = self.rest();
        if r.starts_with('-') && r[1..].chars().next().is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
            let start = self.pos;
            return match self.parse_atom()? {
                Some(e) => Ok(Some(Expr::Not(Box::new(e)))),
                None => Err(Error::InvalidQuery {
                    position: start,
                    reason: "'-' needs a term".into(),
                }),
            };
        }
        self.parse_atom()
    }

    fn parse_atom(&mut self) -> Result<Option<Expr>> {
        let r = self.rest();
        if r.starts_with('(') {
            let open = self.pos;
            self.pos += 1;
            self.depth += 1;
            let inner = self.parse_or()?;
            self.skip_ws();
            if !self.rest().starts_with(')') {
                return Err(Error::InvalidQuery {
                    position: open,
                    reason: "unclosed '('".into(),
                });
            }
            self.pos += 1;
            self.depth -= 1;
            return inner.map(Some).ok_or_else(|| Error::InvalidQuery {
                position: open,
                reason: "empty parentheses".into(),
            });
        }
        if let Some((field, vlen)) = self.field_prefix() {
            self.pos += vlen;
            return self.parse_field(field);
        }
        let pat = self.parse_value()?;
        Ok(Some(Expr::Content(pat)))
    }

    /// Recognises `name:` at the cursor; returns the field and the prefix length.
    fn field_prefix(&self) -> Option<(&'static str, usize)> {
        const FIELDS: [(&str, &str); 13] = [
            ("sym", "sym"),
            ("kind", "kind"),
            ("type", "type"),
            ("case", "case"),
            ("file", "file"),
            ("path", "file"),
            ("f", "file"),
            ("lang", "lang"),
            ("repo", "repo"),
            ("r", "repo"),
            ("content", "content"),
            ("regex", "regex"),
            ("re", "regex"),
        ];
        let r = self.rest();
        let colon = r.find(':')?;
        let name = &r[..colon];
        FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| (*f, colon + 1))
    }

    fn parse_field(&mut self, field: &'static str) -> Result<Option<Expr>> {
        let value_pos = self.pos;
        let value = self.parse_value()?;
        if value.text.is_empty() && field != "content" {
            return Err(Error::InvalidQuery {
                position: value_pos,
                reason: format!("{field}: needs a value"),
            });
        }
        Ok(Some(match field {
            "case" => {
                self.case = match value.text.as_str() {
                    "yes" => CaseMode::Yes,
                    "no" => CaseMode::No,
                    "auto" => CaseMode::Auto,
                    other => {
                        return Err(Error::InvalidQuery {
                            position: value_pos,
                            reason: format!("case: takes yes, no or auto, not {other:?}"),
                        });
                    }
                };
                return Ok(None);
            }
            "file" => Expr::File(Pattern {
                is_regex: true,
                ..value
            }),
            "repo" => Expr::Repo(Pattern {
                is_regex: true,
                ..value
            }),
            "lang" => Expr::Lang(value.text.to_ascii_lowercase()),
            "sym" => Expr::Sym(value),
            "kind" => match crate::symbols::SymbolKind::parse(&value.text) {
                Some(k) => Expr::Kind(k),
                None => {
                    let all: Vec<&str> = crate::symbols::SymbolKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect();
                    return Err(Error::InvalidQuery {
                        position: value_pos,
                        reason: format!(
                            "kind: takes one of {}, not {:?}",
                            all.join(", "),
                            value.text
                        ),
                    });
                }
            },
            "type" => {
                match value.text.as_str() {
                    "symbol" => self.symbols = true,
                    "match" => {}
                    other => {
                        return Err(Error::InvalidQuery {
                            position: value_pos,
                            reason: format!("type: takes symbol or match, not {other:?}"),
                        });
                    }
                }
                return Ok(None);
            }
            "regex" => Expr::Content(Pattern {
                is_regex: true,
                ..value
            }),
            _ => Expr::Content(value),
        }))
    }

    /// A quoted string, a `/regex/`, or a bare word.
    fn parse_value(&mut self) -> Result<Pattern> {
        let start = self.pos;
        let r = self.rest();
        if let Some(body) = r.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.pos += 1 + i + 1;
                        return Ok(Pattern {
                            text,
                            is_regex: false,
                            position: start,
                        });
                    }
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => text.push(e),
                        Some((_, 'n')) => text.push('\n'),
                        Some((_, 't')) => text.push('\t'),
                        Some((_, other)) => {
                            text.push('\\');
                            text.push(other);
                        }
                        None => break,
                    },
                    c => text.push(c),
                }
            }
            return Err(Error::InvalidQuery {
                position: start,
                reason: "unclosed '\"'".into(),
            });
        }
        if let Some(body) = r.strip_prefix('/') {
            let bytes = body.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'/' => {
                        let text = body[..i].replace("\\/", "/");
                        self.pos += 1 + i + 1;
                        return Ok(Pattern {
                            text,
                            is_regex: true,
                            position: start + 1,
                        });
                    }
                    _ => i += 1,
                }
            }
            return Err(Error::InvalidQuery {
                position: start,
                reason: "unclosed '/' regex".into(),
            });
        }
        let end = r
            .char_indices()
            .find(|&(_, c)| c.is_whitespace() || (c == ')' && self.depth > 0))
            .map(|(i, _)| i)
            .unwrap_or(r.len());
        self.pos += end;
        Ok(Pattern {
            text: r[..end].to_string(),
            is_regex: false,
            position: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(t: &str, re: bool) -> Expr {
        Expr::Content(Pattern {
            text: t.into(),
            is_regex: re,
            position: 0,
        })
    }

    fn strip(e: Expr) -> Expr {
        match e {
            Expr::And(v) => Expr::And(v.into_iter().map(strip).collect()),
            Expr::Or(v) => Expr::Or(v.into_iter().map(strip).collect()),
            Expr::Not(b) => Expr::Not(Box::new(strip(*b))),
            Expr::Content(p) => Expr::Content(Pattern { position: 0, ..p }),
            Expr::File(p) => Expr::File(Pattern { position: 0, ..p }),
            Expr::Repo(p) => Expr::Repo(Pattern { position: 0, ..p }),
            e => e,
        }
    }

    #[test]
    fn terms_and_or_precedence() {
        let q = parse("a b or c").unwrap();
        assert_eq!(
            strip(q.expr),
            Expr::Or(vec![
                Expr::And(vec![content("a", false), content("b", false)]),
                content("c", false)
            ])
        );
    }

    #[test]
    fn fields_negation_groups() {
        let q = parse(r#"case:yes (foo or /ba+r/) -file:test lang:Rust "x y""#).unwrap();
        assert_eq!(q.case, CaseMode::Yes);
        let Expr::And(v) = strip(q.expr) else {
            panic!()
        };
        assert_eq!(
            v[0],
            Expr::Or(vec![content("foo", false), content("ba+r", true)])
        );
        assert_eq!(
            v[1],
            Expr::Not(Box::new(Expr::File(Pattern {
                text: "test".into(),
                is_regex: true,
                position: 0
            })))
        );
        assert_eq!(v[2], Expr::Lang("rust".into()));
        assert_eq!(v[3], content("x y", false));
    }

    #[test]
    fn parens_inside_terms_are_literal() {
        let q = parse("foo(bar) baz()").unwrap();
        assert_eq!(
            strip(q.expr),
            Expr::And(vec![content("foo(bar)", false), content("baz()", false)])
        );
        assert_eq!(strip(parse("/a\\/b/").unwrap().expr), content("a/b", true));
    }

    #[test]
    fn errors_name_positions() {
        assert!(parse("/é+/ or é").is_ok());
        for (q, pos) in [
            ("(foo", 0),
            ("\"abc", 0),
            ("/abc", 0),
            ("case:maybe x", 5),
            ("foo or", 6),
            ("", 0),
        ] {
            match parse(q) {
                Err(Error::InvalidQuery { position, .. }) => assert_eq!(position, pos, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
