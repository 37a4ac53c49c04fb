//! What skimming changes: times extraction with and without it over the
//! files of one language (`c`, the default, or `rust`) in a directory and
//! counts the definitions each finds that the other does not, by kind:
//! `cargo run --release -p indexer --example skim_diff DIR [SHOW] [LANG]`.
use std::collections::{BTreeMap, HashSet};

fn main() {
    let dir = std::env::args().nth(1).expect("DIR");
    let show: usize = std::env::args()
        .nth(2)
        .map_or(0, |s| s.parse().expect("SHOW is a count"));
    let lang = std::env::args().nth(3).unwrap_or_else(|| "c".into());
    let lang = lang.as_str();
    let mut files = Vec::new();
    for e in ignore::WalkBuilder::new(&dir).build().flatten() {
        let p = e.path().to_string_lossy().to_string();
        if lens_core::lang::detect(&p) == Some(lang)
            && let Ok(c) = std::fs::read(e.path())
            && c.len() < 1 << 20
        {
            files.push((p, c));
        }
    }
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    let timed = |skim: bool| {
        let t = std::time::Instant::now();
        let defs: Vec<_> = files
            .iter()
            .map(|(_, c)| indexer::symbols::extract_with(Some(lang), c, skim))
            .collect();
        (t.elapsed().as_secs_f64(), defs)
    };
    if let Some(out) = std::env::var_os("SKIM_DUMP") {
        let mut all = Vec::new();
        for (p, c) in &files {
            all.extend_from_slice(format!("==== {p}\n").as_bytes());
            all.extend(indexer::symbols::skimmed_text(lang, c).unwrap_or_else(|| c.clone()));
        }
        std::fs::write(out, all).expect("write dump");
        return;
    }
    if std::env::var_os("SKIM_ONLY").is_some() {
        indexer::symbols::compile_time();
        let (s, _) = timed(true);
        let t = std::time::Instant::now();
        let skimmed: Vec<Vec<u8>> = files
            .iter()
            .map(|(_, c)| indexer::symbols::skimmed_text(lang, c).unwrap_or_else(|| c.clone()))
            .collect();
        let skim_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let mut slow = Vec::new();
        for (c, (path, _)) in skimmed.iter().zip(&files) {
            let t = std::time::Instant::now();
            indexer::symbols::parse_only(Some(lang), c);
            slow.push((t.elapsed().as_secs_f64(), path.clone(), c.len()));
        }
        slow.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (s, p, len) in slow.iter().take(8) {
            println!("parse {s:.3} s {len} B {p}");
        }
        let parse_s = t.elapsed().as_secs_f64();
        let kept: usize = skimmed.iter().map(Vec::len).sum();
        println!(
            "{:.1} MB: extract {s:.2} s = skim {skim_s:.2} s + parse {parse_s:.2} s + query and nesting; skimmed text {:.1} MB",
            bytes as f64 / 1e6,
            kept as f64 / 1e6,
        );
        return;
    }
    let (full_s, full) = timed(false);
    let (skim_s, skimmed) = timed(true);
    let key = |d: &lens_core::symbols::SymbolDef, c: &[u8]| {
        (
            d.kind.as_str().to_string(),
            String::from_utf8_lossy(&c[d.name_start as usize..d.name_end as usize]).into_owned(),
            d.line,
        )
    };
    let mut only_full: BTreeMap<String, usize> = BTreeMap::new();
    let mut only_skim: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    for (i, (path, c)) in files.iter().enumerate() {
        let a: HashSet<_> = full[i].iter().map(|d| key(d, c)).collect();
        let b: HashSet<_> = skimmed[i].iter().map(|d| key(d, c)).collect();
        for k in a.difference(&b) {
            *only_full.entry(k.0.clone()).or_default() += 1;
            if shown < show {
                shown += 1;
                println!("only full: {path}:{} {} {}", k.2, k.0, k.1);
            }
        }
        for k in b.difference(&a) {
            *only_skim.entry(k.0.clone()).or_default() += 1;
            if shown < show {
                shown += 1;
                println!("only skim: {path}:{} {} {}", k.2, k.0, k.1);
            }
        }
    }
    let total: usize = full.iter().map(Vec::len).sum();
    println!(
        "{} files, {:.1} MB, {total} defs: full {:.2} s ({:.1} MB/s), skim {:.2} s ({:.1} MB/s), one thread",
        files.len(),
        bytes as f64 / 1e6,
        full_s,
        bytes as f64 / 1e6 / full_s,
        skim_s,
        bytes as f64 / 1e6 / skim_s
    );
    println!("only with full parse: {only_full:?}");
    println!("only with skim: {only_skim:?}");
}
