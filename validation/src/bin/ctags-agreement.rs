//! `ctags-agreement --bundle DIR --tags TAGS.json [--queries N] [--language L]... [--json] [--misses FILE]`:
//! recall@10 of lens `sym:` queries against universal-ctags definitions.
//! Make the tags with `cd ROOT && ctags -R --output-format=json --fields=+nKls -f TAGS.json .`
//! (`s` gives the scopes the qualified queries are made of)
//! (add `--langmap=C:+.h` to read `.h` files as C, as lens does; ctags' default is C++).
//! `--language L` (repeatable; ctags' names: C, Rust, Python, TypeScript, …) keeps
//! only those languages' tags. `--misses FILE` writes every miss as a JSON line.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut bundle, mut tags, mut queries, mut json) = (None, None, 2000usize, false);
    let mut misses_out: Option<PathBuf> = None;
    let mut languages: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bundle" => bundle = args.next().map(PathBuf::from),
            "--tags" => tags = args.next().map(PathBuf::from),
            "--queries" => queries = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--json" => json = true,
            "--misses" => misses_out = args.next().map(PathBuf::from),
            "--language" => languages.extend(args.next()),
            other => {
                eprintln!("ctags-agreement: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(bundle), Some(tags)) = (bundle, tags) else {
        eprintln!(
            "usage: ctags-agreement --bundle DIR --tags TAGS.json [--queries N] [--language L]... [--json] [--misses FILE]"
        );
        return ExitCode::from(2);
    };
    if queries == 0 {
        eprintln!("ctags-agreement: --queries takes a positive number");
        return ExitCode::from(2);
    }
    let reader = match lens_core::BundleReader::open(&bundle) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ctags-agreement: {e}");
            return ExitCode::from(2);
        }
    };
    let tags = match validation::ctags::read_tags(&tags) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ctags-agreement: {}: {e}", tags.display());
            return ExitCode::from(2);
        }
    };
    let mut tags = tags;
    if !languages.is_empty() {
        tags.retain(|t| languages.contains(&t.language));
    }
    let r = validation::ctags::agreement(&reader, &tags, queries);
    if let Some(path) = &misses_out {
        let lines: String = r
            .misses
            .iter()
            .map(|m| serde_json::to_string(m).expect("miss serialises") + "\n")
            .collect();
        if let Err(e) = std::fs::write(path, lines) {
            eprintln!("ctags-agreement: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("report serialises")
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "queries {}  definitions {}  recall@10 {:.4}  found anywhere {:.4}  (tags in files lens skipped: {})",
        r.queries, r.definitions, r.recall_at_10, r.found_anywhere, r.tags_outside_bundle
    );
    for (k, (n, v)) in &r.by_kind {
        println!("  {k:<10} {n:>6} queries  recall@10 {v:.4}");
    }
    for (l, (n, v)) in &r.by_language {
        println!("  {l:<10} {n:>6} queries  recall@10 {v:.4}");
    }
    println!(
        "qualified queries {}  recall@10 {:.4}",
        r.qualified_queries, r.qualified_recall_at_10
    );
    for (l, (n, v)) in &r.qualified_by_language {
        println!("  {l:<10} {n:>6} qualified  recall@10 {v:.4}");
    }
    for m in &r.qualified_examples {
        println!(
            "    e.g. {} {}:{} ({})",
            m.query, m.path, m.line, m.language
        );
    }
    for (cause, n) in &r.misses_by_cause {
        println!("  lost top-10 slots: {n:>5}  {cause}");
    }
    for (cause, n) in &r.absent_by_cause {
        println!("  absent from lens:  {n:>5}  {cause}");
    }
    for m in &r.examples {
        println!(
            "    e.g. {} {}:{} ({}) — {}",
            m.name, m.path, m.line, m.ctags_kind, m.cause
        );
    }
    ExitCode::SUCCESS
}
