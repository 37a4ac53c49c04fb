//! Seconds each tags-query pattern takes alone over the files of one language
//! in a directory, slowest first (`LEAVE_ONE_OUT=1`: all patterns but each):
//! `cargo run --release -p indexer --example pattern_costs DIR LANG`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("DIR");
    let lang = args.next().expect("LANG");
    let mut files = Vec::new();
    for e in ignore::WalkBuilder::new(&dir).build().flatten() {
        let p = e.path().to_string_lossy().to_string();
        if lens_core::lang::detect(&p) == Some(lang.as_str())
            && let Ok(c) = std::fs::read(e.path())
        {
            files.push(c);
        }
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    let leave_one_out = std::env::var_os("LEAVE_ONE_OUT").is_some();
    let mut costs = indexer::symbols::pattern_costs(&lang, &files, leave_one_out);
    let total: f64 = costs.iter().map(|c| c.0).sum();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "{} files, {:.1} MB, all patterns {total:.3} s",
        files.len(),
        bytes as f64 / 1e6
    );
    for (s, what) in costs {
        println!("{s:8.3} s  {what}");
    }
}
