//! `ctags-agreement --bundle DIR --tags TAGS.json [--queries N] [--json]`:
//! recall@10 of lens `sym:` queries against universal-ctags definitions.
//! Make the tags with `cd ROOT && ctags -R --output-format=json --fields=+nKl -f TAGS.json .`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut bundle, mut tags, mut queries, mut json) = (None, None, 2000usize, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bundle" => bundle = args.next().map(PathBuf::from),
            "--tags" => tags = args.next().map(PathBuf::from),
            "--queries" => queries = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--json" => json = true,
            other => {
                eprintln!("ctags-agreement: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(bundle), Some(tags)) = (bundle, tags) else {
        eprintln!("usage: ctags-agreement --bundle DIR --tags TAGS.json [--queries N] [--json]");
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
    let r = validation::ctags::agreement(&reader, &tags, queries);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("report serialises")
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "queries {}  definitions {}  recall@10 {:.4}  (tags in files lens skipped: {})",
        r.queries, r.definitions, r.recall_at_10, r.tags_outside_bundle
    );
    for (k, (n, v)) in &r.by_kind {
        println!("  {k:<10} {n:>6} queries  recall@10 {v:.4}");
    }
    for (cause, n) in &r.misses_by_cause {
        println!("  miss: {n:>5}  {cause}");
    }
    for m in &r.examples {
        println!(
            "    e.g. {} {}:{} ({}) — {}",
            m.name, m.path, m.line, m.ctags_kind, m.cause
        );
    }
    ExitCode::SUCCESS
}
