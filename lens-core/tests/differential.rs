//! Differential property test: the index (n-gram plan, candidates, verification)
//! against a brute-force scan that applies the `regex` crate line by line.
//!
//! Corpora are random and small, with non-ASCII text, invalid UTF-8, long lines
//! and files with NUL bytes (which the build skips, like ripgrep does).

use std::collections::BTreeSet;
use std::path::Path;

use lens_core::bundle::{BundleBuilder, BundleMeta, PreparedDoc, Source};
use lens_core::glob::GlobFilter;
use lens_core::{
    BundleReader, CandidatePolicy, Deadline, GrepRequest, Limits, Plan, ngram, parse, rank, search,
};
use proptest::prelude::*;

type Key = (String, u64, usize, usize);

const PATHS: &[&str] = &[
    "a.rs",
    "src/b.c",
    "src/foo/c.py",
    "tests/d.rs",
    ".hidden/e.txt",
    "vendor/f.go",
    "src/Foo.rs",
    "docs/é.md",
];

const TOKENS: &[&[u8]] = &[
    b"foo",
    b"bar",
    b"Foo",
    b"FOO",
    b"baz",
    b"foo_bar",
    b"fooBar",
    b"_",
    b" ",
    b" ",
    b"\t",
    b"(",
    b")",
    b"0",
    b"42",
    b"\xc3\xa9",
    b"\xc3\x89",
    b"k",
    b"K",
    b"\xe2\x84\xaa",
    b"\xff",
    b"x",
    b"spin_lock",
    b"irqsave",
    b".",
    b"-",
    b"\r",
];

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(proptest::sample::select(TOKENS), 0..12).prop_map(|t| t.concat()),
        1 => (proptest::sample::select(TOKENS), 50..400usize).prop_map(|(t, n)| t.repeat(n)),
    ]
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(line(), 0..8),
        any::<bool>(),
        0..20u8,
    )
        .prop_map(|(lines, trailing_nl, nul)| {
            let mut f = lines.join(&b'\n');
            if trailing_nl {
                f.push(b'\n');
            }
            if nul == 0 {
                f.insert(f.len() / 2, 0);
            }
            f
        })
}

fn corpus() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    proptest::collection::btree_map(proptest::sample::select(PATHS), file(), 1..7)
        .prop_map(|m| m.into_iter().map(|(p, c)| (p.to_string(), c)).collect())
}

const PATTERNS: &[&str] = &[
    "foo",
    "Foo",
    "bar",
    "foo.*bar",
    r"f[o0]+",
    r"\bfoo\b",
    "(foo|bar)baz?",
    "é+",
    "É",
    "^foo",
    "bar$",
    r"\w+_\d",
    r"[^ ]{3}x",
    "k",
    r"\s+",
    r"foo\s*\(",
    "spin_lock_irqsave",
    "lock",
    r"\d{2}",
    "x|é",
    r"\Bar",
    ".",
    "o{2,}",
    r"[A-Z]\w*",
    "FOO|baz",
    "_bar",
    r"\)\s*$",
    "(?i)foo",
    "z*",
    "",
    // Alternations of non-literal branches exercise the planner's OR of match queries.
    "foo.*x|bar.*baz",
    r"(spin_lock|irqsave)\w*",
    r"foo\w+r|baz\s+\d",
    r"(?:foo\s+bar)|(?:baz\s*\()",
    r"(foo|bar)+baz",
    r"lock_?irq|FOO\w*x",
    r"(?:fooBar|foo_bar)\W+k",
];

const GLOBS: &[&str] = &[
    "*.rs",
    "!tests/**",
    "src/**",
    "!vendor",
    "*.{c,py}",
    "!*.md",
    "**/foo/*",
];

#[derive(Debug, Clone)]
struct Case {
    pattern: String,
    fixed: bool,
    ci: bool,
    word: bool,
    globs: Vec<String>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::select(PATTERNS),
        any::<bool>(),
        any::<bool>(),
        0..4u8,
        proptest::collection::vec(proptest::sample::select(GLOBS), 0..3),
    )
        .prop_map(|(p, fixed, ci, w, g)| Case {
            pattern: p.to_string(),
            fixed,
            ci,
            word: w == 0,
            globs: g.into_iter().map(String::from).collect(),
        })
}

fn build(dir: &Path, files: &[(String, Vec<u8>)]) -> BundleReader {
    let mut b = BundleBuilder::create(dir, Some((1, 15_000_000)), false).unwrap();
    b.add_source(Source {
        name: "r".into(),
        path: "/r".into(),
        commit: None,
    });
    let mut seen = vec![0u32; 1 << 24];
    let mut ranked: Vec<&(String, Vec<u8>)> =
        files.iter().filter(|(_, c)| !c.contains(&0)).collect();
    ranked.sort_by(|a, b| {
        rank::static_rank(&b.0, b.1.len() as u64)
            .total_cmp(&rank::static_rank(&a.0, a.1.len() as u64))
    });
    for (path, content) in ranked {
        let mut trigrams = Vec::new();
        ngram::distinct_trigrams(content, &mut seen, &mut trigrams);
        b.add(PreparedDoc {
            repo: 0,
            path: path.clone(),
            lang: lens_core::lang::detect(path),
            static_rank: rank::static_rank(path, content.len() as u64),
            content: content.clone(),
            trigrams,
            sparse_grams: ngram::sparse::grams_of(content),
            symbols: Vec::new(),
        })
        .unwrap();
    }
    b.finish(BundleMeta::text_only("0.0.0-test")).unwrap();
    BundleReader::open(dir).unwrap()
}

/// The reference: each line (split at `\n`) searched on its own.
fn brute_force(files: &[(String, Vec<u8>)], c: &Case) -> Option<BTreeSet<Key>> {
    let pat = if c.fixed {
        regex::escape(&c.pattern)
    } else {
        c.pattern.clone()
    };
    let pat = if c.word {
        format!(r"\b{{start-half}}(?:{pat})\b{{end-half}}")
    } else {
        pat
    };
    let re = regex::bytes::RegexBuilder::new(&pat)
        .case_insensitive(c.ci)
        .build()
        .ok()?;
    let globs = GlobFilter::new(&c.globs).unwrap();
    let mut out = BTreeSet::new();
    for (path, content) in files {
        if content.contains(&0) || !globs.allows(path) {
            continue;
        }
        for (i, line) in content.split(|&b| b == b'\n').enumerate() {
            for m in re.find_iter(line) {
                out.insert((path.clone(), i as u64 + 1, m.start(), m.end()));
            }
        }
    }
    Some(out)
}

fn keys(r: &lens_core::SearchResult) -> BTreeSet<Key> {
    r.hits
        .iter()
        .map(|h| (h.path.to_string(), h.line, h.start, h.end))
        .collect()
}

fn grep(bundle: &BundleReader, c: &Case) -> Option<BTreeSet<Key>> {
    let scan = grep_with(bundle, c, CandidatePolicy::CostBased);
    let index = grep_with(bundle, c, CandidatePolicy::ForceIndex);
    assert_eq!(scan, index, "scan and index paths differ for {c:?}");
    index
}

fn grep_with(bundle: &BundleReader, c: &Case, policy: CandidatePolicy) -> Option<BTreeSet<Key>> {
    let req = GrepRequest {
        patterns: vec![c.pattern.clone()],
        fixed_string: c.fixed,
        case_insensitive: c.ci,
        word: c.word,
        globs: c.globs.clone(),
    };
    let mut plan = Plan::from_grep(&req, Limits::exhaustive()).ok()?;
    plan.candidate_policy = policy;
    let r = search(bundle, &plan, &Deadline::none()).unwrap();
    assert!(!r.stats.truncated(), "{:?}", r.stats);
    // Every reported span must also be consistent with its own absolute offsets.
    for h in &r.hits {
        assert_eq!(h.abs_end - h.abs_start, (h.end - h.start) as u64);
    }
    Some(keys(&r))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_brute_force(files in corpus(), cases in proptest::collection::vec(case(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let bundle = build(dir.path(), &files);
        for c in &cases {
            let expected = brute_force(&files, c);
            let got = grep(&bundle, c);
            match (expected, got) {
                (Some(e), Some(g)) => prop_assert_eq!(g, e, "case {:?}", c),
                (None, None) => {}
                // lens refuses patterns the reference accepts only for a literal newline.
                (e, g) => prop_assert!(false, "accept/reject differ for {:?}: reference {:?} lens {:?}", c, e.is_some(), g.is_some()),
            }
        }
    }

    /// Any piece of any file, as a fixed string (in either case when case is
    /// ignored), is found where a scan finds it: the sparse n-grams of a
    /// literal cut from the text are always in the index.
    #[test]
    fn pieces_of_files_are_found_through_sparse_grams(
        files in corpus(),
        pick in any::<proptest::sample::Index>(),
        start in any::<proptest::sample::Index>(),
        len in 4..24usize,
        ci in any::<bool>(),
    ) {
        let (_, content) = &files[pick.index(files.len())];
        prop_assume!(content.len() >= len && !content.contains(&0));
        let at = start.index(content.len() - len + 1);
        let piece = std::str::from_utf8(&content[at..at + len]);
        prop_assume!(piece.is_ok_and(|p| !p.contains('\n')));
        let piece = piece.unwrap();
        let pattern = if ci { piece.to_uppercase() } else { piece.to_string() };
        let c = Case { pattern, fixed: true, ci, word: false, globs: Vec::new() };
        let dir = tempfile::tempdir().unwrap();
        let bundle = build(dir.path(), &files);
        prop_assert!(bundle.has_sparse_grams());
        let expected = brute_force(&files, &c);
        prop_assert!(expected.as_ref().is_some_and(|e| !e.is_empty()), "{:?}", c);
        prop_assert_eq!(grep(&bundle, &c), expected, "case {:?}", c);
    }

    #[test]
    fn query_language_agrees_with_grep_form(files in corpus(), c in case()) {
        prop_assume!(!c.pattern.is_empty() && !c.word && c.globs.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let bundle = build(dir.path(), &files);
        let case = if c.ci { "case:no" } else { "case:yes" };
        let q = if c.fixed {
            format!("{case} \"{}\"", c.pattern.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            format!("{case} /{}/", c.pattern.replace('/', "\\/"))
        };
        let mut plan = Plan::from_query(&parse(&q).unwrap(), Limits::exhaustive()).unwrap();
        plan.candidate_policy = CandidatePolicy::ForceIndex;
        let ql = keys(&search(&bundle, &plan, &Deadline::none()).unwrap());
        prop_assert_eq!(Some(ql), grep(&bundle, &c), "query {}", q);
    }
}

#[test]
fn ranked_mode_returns_a_subset_in_score_order() {
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("src/m{i}/f.rs"),
                format!("fn foo_{i}() {{ foo(); }}\nlet foo = 1;\n").into_bytes(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let bundle = build(dir.path(), &files);
    let plan = Plan::from_query(&parse("foo").unwrap(), Limits::top(10)).unwrap();
    let r = search(&bundle, &plan, &Deadline::none()).unwrap();
    assert_eq!(r.hits.len(), 10);
    assert!(r.stats.truncated());
    assert!(r.hits.windows(2).all(|w| w[0].score >= w[1].score));
    let all = Plan::from_query(&parse("foo").unwrap(), Limits::exhaustive()).unwrap();
    let every = keys(&search(&bundle, &all, &Deadline::none()).unwrap());
    assert!(keys(&r).is_subset(&every));
    assert_eq!(every.len(), 900);
}

#[test]
fn expired_deadline_returns_partial_flagged() {
    let files = vec![("a.rs".to_string(), b"foo\n".to_vec())];
    let dir = tempfile::tempdir().unwrap();
    let bundle = build(dir.path(), &files);
    let plan = Plan::from_query(&parse("foo").unwrap(), Limits::exhaustive()).unwrap();
    let past = Deadline::at(std::time::Instant::now() - std::time::Duration::from_millis(1));
    let r = search(&bundle, &plan, &past).unwrap();
    assert!(r.stats.timed_out() && r.stats.truncated());
    assert!(r.hits.is_empty());
}

/// Posting lists long enough for skip tables (`ngram::skips`): every literal and pattern
/// below intersects a list present in nearly every file with rare ones, so seeks jump.
/// Index path, scan path and brute force must agree.
#[test]
fn long_posting_lists_with_skip_tables_agree_with_brute_force() {
    let n = 3 * lens_core::ngram::skips::SKIP_MIN_LEN as usize;
    let mut x = 0x9e37_79b9u32;
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut text = String::from("common_prefix value\n");
            for (every, word) in [(7, "rare_alpha"), (61, "rarer_beta"), (509, "rarest_gamma")] {
                if (x as usize + i).is_multiple_of(every) {
                    text.push_str(&format!("call common_prefix_{word}(x);\n"));
                }
            }
            (format!("d{}/f{i}.c", i % 13), text.into_bytes())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let bundle = build(dir.path(), &files);
    for pattern in [
        "common_prefix_rare_alpha",
        "common_prefix_rarer_beta",
        "common_prefix_rarest_gamma",
        r"common_prefix_rare(r_beta|st_gamma)",
        "common_prefix value",
    ] {
        let c = Case {
            pattern: pattern.into(),
            fixed: false,
            ci: false,
            word: false,
            globs: vec![],
        };
        let want = brute_force(&files, &c).unwrap();
        assert!(!want.is_empty(), "{pattern}");
        assert_eq!(grep(&bundle, &c).unwrap(), want, "{pattern}");
    }
}

/// A format-2 bundle (no next-byte masks) is still searched, with the same
/// results; the masks only drop files that cannot match.
#[test]
fn format_2_bundles_are_searched_without_masks_and_agree() {
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            let body = match i % 4 {
                // The literal itself.
                0 => "alloc_node(x);\n".to_string(),
                // Every trigram of it, never in sequence.
                1 => "alloc_nox(); xnode();\n".to_string(),
                2 => "ALLOC_NODE\nalloc_\nnode\n".to_string(),
                _ => format!("unrelated {i}\n"),
            };
            (format!("d{}/f{i}.c", i % 7), body.into_bytes())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let run = |bundle: &BundleReader, q: &str| {
        let mut plan = Plan::from_query(&parse(q).unwrap(), Limits::exhaustive()).unwrap();
        plan.candidate_policy = CandidatePolicy::ForceIndex;
        // Trigrams alone, so that the masks are what differs (sparse grams narrow these too).
        plan.sparse_grams = false;
        let r = search(bundle, &plan, &Deadline::none()).unwrap();
        (keys(&r), r.stats.candidates)
    };
    let queries = [
        "case:yes \"alloc_node\"",
        "case:no \"alloc_node\"",
        "/alloc_no+de/",
    ];
    let bundle = build(dir.path(), &files);
    let with_masks: Vec<_> = queries.iter().map(|q| run(&bundle, q)).collect();
    drop(bundle);

    // Rewrite the bundle as format 2: no ngram.next, manifest and its checksum redone.
    let manifest_path = dir.path().join(lens_core::bundle::MANIFEST_FILE);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["format_version"], 3);
    manifest["format_version"] = 2.into();
    manifest["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != lens_core::bundle::NGRAM_NEXT_FILE);
    let json = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(&manifest_path, &json).unwrap();
    std::fs::write(
        dir.path().join(lens_core::bundle::MANIFEST_CHECKSUM_FILE),
        format!("{}\n", lens_core::bundle::checksum(&json)),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join(lens_core::bundle::NGRAM_NEXT_FILE)).unwrap();
    let old = BundleReader::open(dir.path()).unwrap();
    for (q, (keys_3, candidates_3)) in queries.iter().zip(&with_masks) {
        let (keys_2, candidates_2) = run(&old, q);
        assert_eq!(&keys_2, keys_3, "{q}");
        assert!(!keys_2.is_empty(), "{q}");
        assert!(candidates_3 <= &candidates_2, "{q}");
    }
    // The literal's scattered trigrams are candidates without masks only.
    assert!(with_masks[0].1 < run(&old, queries[0]).1);
}

/// A ranked multi-term search stops early in static-rank order; the files BM25
/// likes best are verified first, so stopping cannot drop them.
#[test]
fn early_termination_keeps_the_best_bm25_file() {
    let mut files: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| (format!("s{i}.rs"), b"alpha beta\n".to_vec()))
        .collect();
    // Deep in a vendored test tree (lowest static rank), but about nothing else.
    files.push((
        "vendor/a/b/c/d/tests/deep_alpha_beta.rs".into(),
        "alpha beta alpha beta\n".repeat(50).into_bytes(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let bundle = build(dir.path(), &files);
    let plan = Plan::from_query(&parse("alpha beta").unwrap(), Limits::top(10)).unwrap();
    let r = search(&bundle, &plan, &Deadline::none()).unwrap();
    assert!(r.stats.early_terminated(), "{:?}", r.stats);
    assert_eq!(
        &*r.hits[0].path,
        "vendor/a/b/c/d/tests/deep_alpha_beta.rs",
        "{:?}",
        r.hits
            .iter()
            .map(|h| h.path.to_string())
            .collect::<Vec<_>>()
    );
}

/// Sparse n-grams change which files are verified, never what matches: the
/// same hits as trigrams alone, from no more candidates, and from fewer where
/// a literal's trigrams are common but the literal is rare.
#[test]
fn sparse_grams_narrow_candidates_and_agree_with_trigrams_alone() {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..300 {
        let body = match i % 5 {
            0 if i % 50 == 0 => "let v = table_version(x);\n".to_string(),
            // Every trigram of "table_version", each followed by a byte its
            // next-byte mask cannot tell from the literal's, but not its
            // sparse grams "ble_" and "_vers".
            0 | 1 => "tabl able blew ile_v e_verc version\n".to_string(),
            2 => "TABLE_VERSION_MAX table version\n".to_string(),
            // Every trigram of "rate_limit_burst", masks passing, but not "mit_".
            3 => format!("rate_limito {i}; it_bur; burst\n"),
            _ => format!("unrelated {i}\n"),
        };
        files.push((format!("d{}/f{i}.c", i % 9), body.into_bytes()));
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = build(dir.path(), &files);
    assert!(bundle.has_sparse_grams());
    let run = |q: &str, sparse: bool| {
        let mut plan = Plan::from_query(&parse(q).unwrap(), Limits::exhaustive()).unwrap();
        plan.candidate_policy = CandidatePolicy::ForceIndex;
        plan.sparse_grams = sparse;
        let r = search(&bundle, &plan, &Deadline::none()).unwrap();
        (keys(&r), r.stats)
    };
    for q in [
        "case:yes \"table_version\"",
        "case:no \"table_version\"",
        "/table_vers?ion/",
        "case:no /TABLE_V[e]rsion/",
        "\"rate_limit_burst\"",
        "/rate_limit \\d+/",
    ] {
        let (sparse_keys, sparse_stats) = run(q, true);
        let (tri_keys, tri_stats) = run(q, false);
        assert_eq!(sparse_keys, tri_keys, "{q}");
        assert!(sparse_stats.candidates <= tri_stats.candidates, "{q}");
        // The cost model names the lists it read.
        assert!(!sparse_stats.ngram_lists.is_empty(), "{q}");
    }
    let (hits, sparse) = run("case:yes \"table_version\"", true);
    let (_, trigrams) = run("case:yes \"table_version\"", false);
    assert_eq!(hits.len(), 6);
    assert!(
        sparse.candidates < trigrams.candidates,
        "{} vs {}",
        sparse.candidates,
        trigrams.candidates
    );
    assert!(
        sparse
            .ngram_lists
            .iter()
            .any(|l| l.kind == lens_core::search::GramKind::Sparse
                && l.role == lens_core::search::ListRole::Read),
        "{:?}",
        sparse.ngram_lists
    );
    // A literal no file has is refuted by a gram, before any file is read.
    let (none, stats) = run("\"rate_limit_burst\"", true);
    assert!(none.is_empty());
    assert_eq!(stats.candidates, 0, "{:?}", stats.ngram_lists);
}
