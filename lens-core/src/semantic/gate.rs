//! The query gate: is a query natural language (worth semantic retrieval) or code-like
//! (identifiers, regexes, paths, operators, field filters), which stays purely lexical?
//!
//! A transparent linear score over a handful of features, each kept because of one
//! observation about how people type the two kinds of query:
//!
//! - **Plain words** (`+`): prose is made of dictionary-like words (lowercase, Capitalised or a
//!   short acronym); code queries are one or two identifier-shaped terms. Counts up to
//!   [`PLAIN_WORDS_CAP`] words, so long sentences do not drown every other signal.
//! - **Stopwords** (`+`): function words and the verbs of programming questions (`how`, `to`,
//!   `get`, `the`, `in`, `of`, `a`, `with`, `from`, …) are rare in identifiers and common in
//!   prose, even short prose like "sort a list".
//! - **Question** (`+`): a leading question word or a trailing `?`.
//! - **Other terms** (`-`): every term that is not a plain word (identifier, symbol, number).
//! - **Single term** (`-`): one word is no sentence; exact matching serves it better.
//! - **Code markers** (`-`, once per kind): syntax that prose does not use, in three tiers.
//!   *Veto*: a `field:value` filter of the query language (the user is steering the lexical
//!   engine) or the whole query in quotes (a literal search). *Strong*: `::`, operators (`->`,
//!   `==`, `+=`, a lone `=`), call parentheses `f(`, braces, brackets, `;` and generics
//!   (`Vec<u8>`), regex syntax (`\w`, `.*`, `[a-z]`, `a|b`, `(?i)`, `/re/`), a path or file
//!   name (`src/x.rs`, `Cargo.toml`), or a leading language keyword (`fn`, `impl`, `def`, …).
//!   *Moderate*, because prose mentions such names too (`how to use HashMap entry`):
//!   snake_case, camelCase/PascalCase, dotted members (`os.path`), `&`/`*` sigils.
//!
//! `score = BIAS + Σ weight × feature`; natural language iff `score >= THRESHOLD`. The weights
//! are set by the reasoning above; only [`THRESHOLD`] was tuned, on the tuning half of
//! `validation/data/gate-labelled.jsonl` (see the tests).

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateDecision {
    /// Send the query to semantic retrieval.
    pub natural_language: bool,
    /// The raw score; `natural_language` is `score >= THRESHOLD`.
    pub score: f32,
}

/// Decision threshold on the score. Tuned on the tuning half of the labelled set: every
/// threshold in -2.75..=-0.5 gives its best accuracy (0.994); this is the middle of that
/// plateau, rounded to sit between two score levels (scores move in steps of 0.5).
pub const THRESHOLD: f32 = -1.75;

/// Starting score.
const BIAS: f32 = -1.0;
/// A one-term (or empty) query has no sentence to understand: exact matching serves `parse`
/// or `tokenizer` better than an embedding of one word.
const W_SINGLE_TERM: f32 = -2.0;
/// Per plain word, up to [`PLAIN_WORDS_CAP`].
const W_PLAIN: f32 = 0.5;
const PLAIN_WORDS_CAP: usize = 6;
/// Per stopword, up to [`STOPWORDS_CAP`].
const W_STOPWORD: f32 = 1.0;
const STOPWORDS_CAP: usize = 3;
const W_QUESTION: f32 = 1.5;
/// Per term that is not a plain word.
const W_OTHER_TERM: f32 = -1.0;
const W_VETO: f32 = -10.0;
const W_STRONG: f32 = -4.0;
const W_MODERATE: f32 = -2.0;

/// Function words and the verbs of programming questions.
pub(crate) const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "any", "are", "as", "at", "be", "before", "between",
    "by", "can", "do", "does", "each", "every", "for", "from", "get", "how", "if", "in", "into",
    "is", "it", "its", "my", "not", "of", "on", "one", "only", "or", "over", "should", "some",
    "than", "that", "the", "then", "there", "this", "to", "use", "using", "way", "what", "when",
    "where", "which", "who", "why", "will", "with", "without", "would", "your",
];

/// Words that open a question.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "whats", "why", "when", "where", "which", "who", "can", "does", "do", "is",
    "are", "should",
];

/// Keywords that open a declaration or statement, not an English sentence.
/// Only words that do not open English queries: "int to bool", "static method", "public key"
/// and "let the user …" do, so `int`, `static`, `public` and `let` are not here.
const LEADING_KEYWORDS: &[&str] = &[
    "fn", "pub", "impl", "struct", "enum", "def", "func", "elif", "typedef", "void", "#include",
    "#define", "#[",
];

/// Field names of the lens query language (`lens-core/src/query/parse.rs`).
const QUERY_FIELDS: &[&str] = &[
    "sym", "kind", "type", "case", "file", "path", "f", "lang", "repo", "r", "content", "regex",
    "re",
];

/// File extensions that make `name.ext` a file name rather than a sentence-ending word.
const FILE_EXTENSIONS: &[&str] = &[
    "rs", "c", "h", "cc", "cpp", "hpp", "py", "js", "ts", "tsx", "jsx", "go", "java", "rb", "kt",
    "swift", "cs", "php", "lua", "sh", "toml", "json", "yaml", "yml", "md", "txt", "conf", "cfg",
    "ini", "lock", "html", "css", "xml", "sql", "proto",
];

/// Decides whether `query` is natural language.
pub fn gate(query: &str) -> GateDecision {
    let features = Features::of(query);
    let score = features.score();
    GateDecision {
        // One word is never a sentence, whatever its score: a lone stopword such as `(a`
        // would otherwise score as prose.
        natural_language: score >= THRESHOLD && features.words >= 2,
        score,
    }
}

/// The features the score is made of (public so that callers can log why a query went where).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub words: usize,
    pub plain_words: usize,
    pub stopwords: usize,
    pub question: bool,
    /// Veto markers.
    pub field_filter: bool,
    pub quoted_literal: bool,
    /// Strong markers.
    pub scope_or_operator: bool,
    pub call: bool,
    pub brackets: bool,
    pub regex: bool,
    pub path: bool,
    pub leading_keyword: bool,
    /// Moderate markers.
    pub snake_case: bool,
    pub camel_case: bool,
    pub dotted: bool,
    pub sigil: bool,
}

impl Features {
    pub fn of(query: &str) -> Features {
        let query = query.trim();
        let mut f = Features::default();
        let terms: Vec<&str> = query.split_whitespace().collect();
        f.words = terms.len();
        f.quoted_literal = is_quoted_literal(query);
        f.question = query.ends_with('?')
            || terms
                .first()
                .is_some_and(|t| QUESTION_WORDS.contains(&t.to_ascii_lowercase().as_str()));
        f.leading_keyword = terms.first().is_some_and(|t| {
            LEADING_KEYWORDS
                .iter()
                .any(|k| *t == *k || (k.starts_with('#') && t.starts_with(k)))
        });
        f.scope_or_operator = has_operator(query);
        f.call = has_call(query);
        f.brackets = query.contains(['{', '}', '[', ']', ';']) || has_generic(query);
        f.regex = has_regex(query);
        for &term in &terms {
            let word = trim_prose_punctuation(term);
            if is_plain_word(word) {
                f.plain_words += 1;
                if STOPWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    f.stopwords += 1;
                }
            }
            f.field_filter |= is_field_filter(term);
            f.path |= is_path(word);
            f.snake_case |= is_snake_case(word);
            f.camel_case |= is_camel_case(word);
            f.dotted |= is_dotted(word);
            f.sigil |= term.len() > 1 && term.starts_with(['&', '*']);
        }
        f
    }

    pub fn score(&self) -> f32 {
        let count = |n: usize| n as f32;
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        BIAS + W_PLAIN * count(self.plain_words.min(PLAIN_WORDS_CAP))
            + W_STOPWORD * count(self.stopwords.min(STOPWORDS_CAP))
            + W_QUESTION * flag(self.question)
            + W_OTHER_TERM * count(self.words - self.plain_words)
            + W_SINGLE_TERM * flag(self.words <= 1)
            + W_VETO * flag(self.field_filter || self.quoted_literal)
            + W_STRONG
                * (flag(self.scope_or_operator)
                    + flag(self.call)
                    + flag(self.brackets)
                    + flag(self.regex)
                    + flag(self.path)
                    + flag(self.leading_keyword))
            + W_MODERATE
                * (flag(self.snake_case)
                    + flag(self.camel_case)
                    + flag(self.dotted)
                    + flag(self.sigil))
    }
}

/// Strips quotes and brackets around a word and sentence punctuation after it.
fn trim_prose_punctuation(term: &str) -> &str {
    term.trim_start_matches(['"', '\'', '`', '(', '[', '{', '<'])
        .trim_end_matches([
            '"', '\'', '`', ')', ']', '}', '>', ',', '.', ';', ':', '!', '?',
        ])
}

/// Dictionary-like: letters only (an inner `'` or `-` allowed, as in "don't", "ctrl-c"), and
/// lowercase, Capitalised, or an acronym of at most five letters (JSON, HTTP).
fn is_plain_word(word: &str) -> bool {
    if word.is_empty()
        || !word
            .chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        || !word.starts_with(char::is_alphabetic)
        || !word.ends_with(char::is_alphabetic)
    {
        return false;
    }
    let mut letters = word.chars().filter(|c| c.is_alphabetic());
    let first_upper = letters.next().is_some_and(char::is_uppercase);
    let rest_upper = letters.clone().filter(|c| c.is_uppercase()).count();
    let rest = letters.count();
    rest_upper == 0 || (first_upper && rest_upper == rest && rest < 5)
}

/// `"…"`, `'…'` or `` `…` `` around the whole query: a request for the literal text.
fn is_quoted_literal(query: &str) -> bool {
    ['"', '\'', '`'].iter().any(|&q| {
        query.len() >= 3
            && query.starts_with(q)
            && query.ends_with(q)
            && !query[1..query.len() - 1].contains(q)
    })
}

/// `field:value` with a lens query field, optionally negated (`-path:test`).
fn is_field_filter(term: &str) -> bool {
    let term = term.strip_prefix('-').unwrap_or(term);
    term.split_once(':').is_some_and(|(field, value)| {
        QUERY_FIELDS.contains(&field) && !value.is_empty() && !value.starts_with(':')
    })
}

/// `::`, two-character operators, or a lone operator term (`=`, `+`, `*`, `<`, …).
fn has_operator(query: &str) -> bool {
    const OPERATORS: &[&str] = &[
        "::", "->", "=>", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "<=", ">=", "<<", ">>",
    ];
    OPERATORS.iter().any(|op| query.contains(op))
        || query
            .split_whitespace()
            .any(|t| matches!(t, "=" | "+" | "*" | "/" | "<" | ">" | "%" | "&" | "|" | "!"))
}

/// An identifier directly followed by `(`, or `()`.
fn has_call(query: &str) -> bool {
    query.contains("()")
        || query
            .as_bytes()
            .windows(2)
            .any(|w| w[1] == b'(' && (w[0].is_ascii_alphanumeric() || w[0] == b'_'))
}

/// Angle brackets glued to a name and closed later: `Vec<u8>`, `Box<dyn Error>`.
fn has_generic(query: &str) -> bool {
    let b = query.as_bytes();
    b.windows(2)
        .position(|w| w[1] == b'<' && (w[0].is_ascii_alphanumeric() || w[0] == b'_'))
        .is_some_and(|at| b[at + 2..].contains(&b'>'))
}

/// Regex syntax: escapes (`\w`, `\.`), `.*` `.+` `.?`, character classes (`[a-z]`), groups
/// `(?`, quantifiers `{2,}`, `a|b` alternation, anchors, or a `/…/` lens regex.
fn has_regex(query: &str) -> bool {
    let b = query.as_bytes();
    let escape = b
        .windows(2)
        .any(|w| w[0] == b'\\' && b"swdbSWDB.()[]{}|*+?^$ntr".contains(&w[1]));
    let repeat = b
        .windows(2)
        .any(|w| w[0] == b'.' && matches!(w[1], b'*' | b'+' | b'?'));
    let class = b.windows(3).any(|w| {
        w[0] == b'[' && w[1].is_ascii_alphanumeric() && w[2] == b'-'
            || w[0].is_ascii_alphanumeric()
                && w[1] == b'-'
                && w[2].is_ascii_alphanumeric()
                && query.contains('[')
                && query.contains(']')
    });
    let group = query.contains("(?");
    let quantifier = b.windows(3).any(|w| w[0] == b'{' && w[1].is_ascii_digit());
    let alternation = b
        .windows(3)
        .any(|w| w[1] == b'|' && w[0].is_ascii_alphanumeric() && w[2].is_ascii_alphanumeric());
    let anchors = query.starts_with('^')
        || (query.ends_with('$') && b.len() > 1 && b[b.len() - 2].is_ascii_alphanumeric());
    let slashes = query.len() > 2 && query.starts_with('/') && query.ends_with('/');
    escape || repeat || class || group || quantifier || alternation || anchors || slashes
}

/// A file name (`Cargo.toml`, `main.rs:10:5`), a glob (`*.rs`) or a path (`src/`, `./x`,
/// `a/b/c`); one slash between words (`min/max`, `and/or`) is prose.
fn is_path(word: &str) -> bool {
    let location = word.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':');
    let has_extension = location.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    });
    has_extension
        || word.starts_with(['/', '~'])
        || word.starts_with("./")
        || word.starts_with("../")
        || (word.len() > 1 && word.ends_with('/'))
        || word.matches('/').count() >= 2
}

/// `snake_case`, `SCREAMING_CASE`, `__dunder__`, `_private`.
fn is_snake_case(word: &str) -> bool {
    word.len() > 1 && word.contains('_') && word.chars().any(|c| c.is_alphanumeric())
}

/// A lower→upper transition (`getElementById`, `iPhone`) or an acronym run into a word
/// (`HTTPServer`, `IOError`), but not a plural acronym (`APIs`, `URLs`), and PascalCase with
/// two humps (`HashMap`).
fn is_camel_case(word: &str) -> bool {
    let c: Vec<char> = word.chars().collect();
    let lower_upper = c
        .windows(2)
        .any(|w| w[0].is_lowercase() && w[1].is_uppercase());
    let acronym_word = c.windows(3).enumerate().any(|(i, w)| {
        w[0].is_uppercase()
            && w[1].is_uppercase()
            && w[2].is_lowercase()
            && !(w[2] == 's' && i + 3 == c.len())
    });
    lower_upper || acronym_word
}

/// `os.path`, `console.log`, `np.zeros`: a member access, not a number (`3.14`) or an
/// abbreviation (`e.g`).
fn is_dotted(word: &str) -> bool {
    word.split('.').collect::<Vec<_>>().windows(2).any(|w| {
        w[0].starts_with(|c: char| c.is_alphabetic() || c == '_')
            && w[1]
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .count()
                >= 2
            && w[1].starts_with(|c: char| c.is_alphabetic() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[derive(serde::Deserialize)]
    struct Labelled {
        query: String,
        label: String,
        source: String,
    }

    /// Deterministic split of `validation/data/gate-labelled.jsonl`: even xxh3 of the query is
    /// the tuning half, odd the held-out half.
    fn labelled(held_out: bool) -> Vec<Labelled> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../validation/data/gate-labelled.jsonl");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Labelled>(l).unwrap())
            .filter(|r| (xxhash_rust::xxh3::xxh3_64(r.query.as_bytes()) & 1 == 1) == held_out)
            .collect()
    }

    #[derive(Default)]
    struct Confusion {
        /// [truth nl][predicted nl]
        counts: [[usize; 2]; 2],
    }

    impl Confusion {
        fn of(rows: &[Labelled], threshold: f32) -> Confusion {
            let mut c = Confusion::default();
            for r in rows {
                let truth = r.label == "nl";
                let predicted = gate(&r.query).score >= threshold;
                c.counts[usize::from(truth)][usize::from(predicted)] += 1;
            }
            c
        }

        fn accuracy(&self) -> f64 {
            let right = self.counts[0][0] + self.counts[1][1];
            right as f64 / self.counts.iter().flatten().sum::<usize>() as f64
        }

        /// (precision, recall) of the class `nl` (true) or `code` (false).
        fn precision_recall(&self, nl: bool) -> (f64, f64) {
            let k = usize::from(nl);
            let tp = self.counts[k][k] as f64;
            let predicted = (self.counts[0][k] + self.counts[1][k]) as f64;
            let actual = (self.counts[k][0] + self.counts[k][1]) as f64;
            (tp / predicted, tp / actual)
        }

        fn report(&self, name: &str) -> String {
            let (p_nl, r_nl) = self.precision_recall(true);
            let (p_code, r_code) = self.precision_recall(false);
            format!(
                "{name}: n={} accuracy={:.3} nl precision={p_nl:.3} recall={r_nl:.3} \
                 code precision={p_code:.3} recall={r_code:.3}",
                self.counts.iter().flatten().sum::<usize>(),
                self.accuracy()
            )
        }
    }

    /// How THRESHOLD was chosen: the middle of the widest threshold interval with the best
    /// accuracy on the tuning half. The test fails if the constant drifts from that.
    #[test]
    fn threshold_is_tuned_on_the_tuning_half() {
        let rows = labelled(false);
        let steps: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).collect();
        let accuracy: Vec<f64> = steps
            .iter()
            .map(|&t| Confusion::of(&rows, t).accuracy())
            .collect();
        let best = accuracy.iter().copied().fold(0.0, f64::max);
        // Widest run of consecutive steps at the best accuracy.
        let (mut run, mut widest) = ((0, 0), (0, 0));
        for (i, &a) in accuracy.iter().enumerate() {
            if a == best {
                run = if i > 0 && accuracy[i - 1] == best {
                    (run.0, i)
                } else {
                    (i, i)
                };
                if run.1 - run.0 > widest.1 - widest.0 {
                    widest = run;
                }
            }
        }
        let (lo, hi) = (steps[widest.0], steps[widest.1]);
        println!("tuning half: best accuracy {best:.3} for thresholds {lo}..={hi}");
        for r in &rows {
            let d = gate(&r.query);
            if d.natural_language != (r.label == "nl") {
                println!(
                    "  tuning miss [{}] {:?} score {}",
                    r.source, r.query, d.score
                );
            }
        }
        let mid = (lo + hi) / 2.0;
        assert!(
            (THRESHOLD - mid).abs() <= 0.5,
            "THRESHOLD {THRESHOLD} is off the tuned plateau {lo}..={hi}"
        );
    }

    #[test]
    fn held_out_accuracy() {
        let rows = labelled(true);
        let c = Confusion::of(&rows, THRESHOLD);
        println!("{}", c.report("gate held-out"));
        for source in [
            "cosqa-dev",
            "hand:nl",
            "cargo-registry",
            "hand:code",
            "hand:regex",
            "hand:field-filter",
        ] {
            let part: Vec<&Labelled> = rows
                .iter()
                .filter(|r| r.source.starts_with(source))
                .collect();
            let right = part
                .iter()
                .filter(|r| gate(&r.query).natural_language == (r.label == "nl"))
                .count();
            println!("  {source}: {right}/{}", part.len());
        }
        for r in &rows {
            let d = gate(&r.query);
            if d.natural_language != (r.label == "nl") {
                println!(
                    "  held-out miss [{}] {:?} score {}",
                    r.source, r.query, d.score
                );
            }
        }
        println!(
            "{}",
            Confusion::of(&labelled(false), THRESHOLD).report("gate tuning")
        );
        assert!(rows.len() > 250, "held-out half has {} rows", rows.len());
        assert!(c.accuracy() >= 0.95, "{}", c.report("held-out"));
    }

    #[test]
    fn examples() {
        for q in [
            "how to read a file line by line",
            "python check if a variable is iterable",
            "sort a list",
            "what does Arc::clone do",
            "how to use HashMap entry",
            "Why is my regex slow?",
        ] {
            assert!(gate(q).natural_language, "{q:?}: {:?}", Features::of(q));
        }
        for q in [
            "",
            "spin_lock_irqsave",
            "HashMap",
            "Foo::bar",
            r"fn\s+\w+",
            "src/main.rs",
            "lang:rust foo",
            "sym:parse how to parse the query",
            "\"failed to open the file for reading\"",
            "let mut buf = Vec::new();",
            "getElementById",
            "a != b",
            "Box<dyn Error>",
        ] {
            assert!(!gate(q).natural_language, "{q:?}: {:?}", Features::of(q));
        }
    }
}
