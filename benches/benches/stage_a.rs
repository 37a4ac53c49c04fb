//! Criterion micro-benchmarks of Stage-A's hot paths on synthetic code.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lens_core::bundle::{BundleBuilder, BundleMeta, PreparedDoc, Source};
use lens_core::ngram;
use lens_core::query::{MatchOptions, Matcher};
use lens_core::{BundleReader, Deadline, GrepRequest, Limits, Plan, rank};

/// Deterministic C-like text (a xorshift picks identifiers).
fn code(bytes: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "spin_lock",
        "irqsave",
        "mutex",
        "kmalloc",
        "GFP_KERNEL",
        "struct",
        "device",
        "return",
        "if",
        "err",
        "dev_info",
        "priv",
        "flags",
        "unlock",
        "->",
        "(",
        ")",
        ";",
        "\n\t",
        " ",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(bytes + 32);
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % WORDS.len() as u64) as usize].as_bytes());
        if x.is_multiple_of(5) {
            out.extend_from_slice(format!("_{}", x % 1000).as_bytes());
        }
    }
    out
}

fn bench_ngrams(c: &mut Criterion) {
    let text = code(64 << 10, 7);
    let mut seen = vec![0u32; 1 << 24];
    let mut out = Vec::new();
    c.bench_function("distinct_trigrams 64KiB", |b| {
        b.iter(|| ngram::distinct_trigrams(black_box(&text), &mut seen, &mut out))
    });
}

fn bench_tokenizer(c: &mut Criterion) {
    let text = String::from_utf8(code(64 << 10, 9)).unwrap();
    c.bench_function("code tokens 64KiB", |b| {
        b.iter(|| {
            let mut n = 0usize;
            lens_core::tokenize::for_each_token(black_box(&text), |_, _, _| n += 1);
            n
        })
    });
}

fn bench_planning(c: &mut Criterion) {
    c.bench_function("compile regex + trigram plan", |b| {
        b.iter(|| {
            Matcher::new(
                black_box(&[r"spin_lock_irqsave\(&\w+->lock"]),
                MatchOptions::default(),
                8 << 20,
            )
            .unwrap()
        })
    });
}

fn bench_search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = BundleBuilder::create(dir.path(), Some((1, 50_000_000)), false).unwrap();
    builder.add_source(Source {
        name: "synthetic".into(),
        path: "/synthetic".into(),
        commit: None,
    });
    let mut seen = vec![0u32; 1 << 24];
    for i in 0..2000u32 {
        let path = format!("drivers/d{}/f{i}.c", i % 50);
        let content = code(16 << 10, u64::from(i) + 1);
        let mut trigrams = Vec::new();
        ngram::distinct_trigrams(&content, &mut seen, &mut trigrams);
        let sparse_grams = ngram::sparse::grams_of(&content);
        builder
            .add(PreparedDoc {
                repo: 0,
                lang: Some("c"),
                static_rank: rank::static_rank(&path, content.len() as u64),
                path,
                content,
                trigrams,
                sparse_grams,
                symbols: Vec::new(),
            })
            .unwrap();
    }
    builder
        .finish(BundleMeta::text_only("0.0.0-bench"))
        .unwrap();
    let bundle = BundleReader::open(dir.path()).unwrap();
    for (name, pattern, fixed) in [
        ("literal top-50", "dev_info_17", true),
        ("regex top-50", r"kmalloc_\d+GFP_KERNEL", false),
    ] {
        let req = GrepRequest {
            patterns: vec![pattern.into()],
            fixed_string: fixed,
            ..GrepRequest::default()
        };
        c.bench_function(&format!("search {name} (32 MB synthetic)"), |b| {
            b.iter(|| {
                let plan = Plan::from_grep(&req, Limits::top(50)).unwrap();
                lens_core::search(&bundle, &plan, &Deadline::none())
                    .unwrap()
                    .hits
                    .len()
            })
        });
    }
}

criterion_group!(
    benches,
    bench_ngrams,
    bench_tokenizer,
    bench_planning,
    bench_search
);
criterion_main!(benches);
