//! Token statistics of a tree, to see what the text index's postings writer is fed:
//! occurrences, distinct (document, token) pairs, and the share of the most common tokens.
//!
//! `cargo run --release -p lens-core --example token_stats DIR`

use std::collections::HashMap;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: token_stats DIR");
    let mut total = 0u64;
    let mut pairs = 0u64;
    let mut bytes = 0u64;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut doc_freq: HashMap<String, u64> = HashMap::new();
    let mut docs = 0u64;
    let mut per_doc: HashMap<String, u32> = HashMap::new();
    for entry in walk(std::path::Path::new(&dir)) {
        let Ok(data) = std::fs::read(&entry) else {
            continue;
        };
        if data.len() > 1 << 20 || data.contains(&0) {
            continue;
        }
        let text = String::from_utf8_lossy(&data);
        bytes += data.len() as u64;
        docs += 1;
        per_doc.clear();
        lens_core::tokenize::for_each_token(&text, |t, _, _| {
            total += 1;
            *per_doc.entry(t.to_string()).or_default() += 1;
        });
        pairs += per_doc.len() as u64;
        for (t, n) in per_doc.drain() {
            *counts.entry(t.clone()).or_default() += n as u64;
            *doc_freq.entry(t).or_default() += 1;
        }
    }
    println!(
        "{docs} docs, {:.1} MB, {total} token occurrences ({:.1}/KB), {pairs} distinct (doc, token) pairs ({:.2} per occurrence), {} distinct tokens",
        bytes as f64 / 1e6,
        total as f64 / (bytes as f64 / 1e3),
        pairs as f64 / total as f64,
        counts.len()
    );
    let mut top: Vec<(&String, &u64)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    let mut cum = 0u64;
    for (i, (t, n)) in top.iter().take(200).enumerate() {
        cum += **n;
        if i < 60 || (i + 1) % 20 == 0 {
            println!(
                "{:>4} {:<24} {:>10} occ  df {:>6} ({:.2} of docs)  cum {:.3}",
                i + 1,
                t,
                n,
                doc_freq[*t],
                doc_freq[*t] as f64 / docs as f64,
                cum as f64 / total as f64
            );
        }
    }
    // Occurrences of tokens found in at least half of all documents.
    let common: u64 = counts
        .iter()
        .filter(|(t, _)| doc_freq[*t] * 2 >= docs)
        .map(|(_, n)| n)
        .sum();
    println!(
        "tokens in >= 50% of docs: {:.3} of occurrences",
        common as f64 / total as f64
    );
    for frac in [0.1, 0.2, 0.3] {
        let s: u64 = counts
            .iter()
            .filter(|(t, _)| doc_freq[*t] as f64 >= frac * docs as f64)
            .map(|(_, n)| n)
            .sum();
        println!(
            "tokens in >= {frac} of docs: {:.3} of occurrences",
            s as f64 / total as f64
        );
    }
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}
