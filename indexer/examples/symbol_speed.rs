//! Times tree-sitter symbol extraction over the source files of a directory
//! (queries compiled before timing):
//! `cargo run --release -p indexer --example symbol_speed DIR`.
fn main() {
    let dir = std::env::args().nth(1).expect("DIR");
    let mut files = Vec::new();
    for e in ignore::WalkBuilder::new(&dir).build().flatten() {
        let p = e.path().to_string_lossy().to_string();
        if let Some(lang) = lens_core::lang::detect(&p)
            && let Ok(c) = std::fs::read(e.path())
            && c.len() < 1 << 20
        {
            files.push((lang, c));
        }
    }
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    // The tags queries compile once per process; that is not extraction time.
    indexer::symbols::compile_time();
    let t = std::time::Instant::now();
    let mut n = 0;
    for (lang, c) in &files {
        n += indexer::symbols::extract(Some(lang), c).len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} files, {:.1} MB, {n} defs, {:.2} s, {:.1} MB/s (one thread); parse only: {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        s,
        bytes as f64 / 1e6 / s,
        {
            let t = std::time::Instant::now();
            for (lang, c) in &files {
                indexer::symbols::parse_only(Some(lang), c);
            }
            bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
        }
    );
}
