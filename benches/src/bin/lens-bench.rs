//! Runs one fixed query set against lens, ripgrep and codesearch in the same
//! session and prints medians, p95 and ratios.
//!
//! lens runs in-process on a bundle opened once (the search's own wall time,
//! as `lens search --batch` reports it). Peers run as processes: for top-K
//! queries their output is read until K lines and the process is then killed
//! (what `| head -K` gives a user); for exhaustive queries they count every
//! match (`rg --count-matches`, `csearch -c`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use lens_benches::{BenchQuery, read_queries, summarize};
use lens_core::{BundleReader, Deadline, GrepRequest, Limits, Plan};

#[derive(Debug, Parser)]
struct Args {
    /// The lens bundle of the tree.
    #[arg(long)]
    bundle: PathBuf,
    /// The source tree the bundle was built from (for rg).
    #[arg(long)]
    tree: PathBuf,
    /// A codesearch index of the same tree (built with `cindex`); omit to skip csearch.
    #[arg(long)]
    csearchindex: Option<PathBuf>,
    #[arg(long, default_value = "benches/queries/linux.jsonl")]
    queries: PathBuf,
    /// Timed lens runs per query (after one warm-up).
    #[arg(long, default_value_t = 50)]
    lens_runs: usize,
    /// Timed runs per query for each peer (after one warm-up).
    #[arg(long, default_value_t = 5)]
    peer_runs: usize,
    /// Results for ranked (non-exhaustive) queries.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Threads for rg (`-j`).
    #[arg(long, default_value_t = 2)]
    rg_threads: usize,
    /// Write the raw figures as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Also time each query with trigrams alone (the plan before sparse
    /// n-grams), side by side on the same bundle.
    #[arg(long)]
    compare_trigrams: bool,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Row {
    id: String,
    class: String,
    lens_median_ms: f64,
    lens_p95_ms: f64,
    lens_results: usize,
    strategy: String,
    rg_median_ms: f64,
    rg_p95_ms: f64,
    csearch_median_ms: Option<f64>,
    csearch_p95_ms: Option<f64>,
    /// Posting entries decoded and candidates verified by one run.
    postings_decoded: usize,
    candidates: usize,
    /// The same with trigrams alone (`--compare-trigrams`).
    trigrams: Option<TrigramRun>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct TrigramRun {
    median_ms: f64,
    p95_ms: f64,
    postings_decoded: usize,
    candidates: usize,
}

/// One query's timings and the cost of its last run.
struct LensRun {
    samples: Vec<f64>,
    results: usize,
    strategy: String,
    postings_decoded: usize,
    candidates: usize,
}

fn time_lens(
    bundle: &BundleReader,
    q: &BenchQuery,
    args: &Args,
    sparse_grams: bool,
) -> anyhow::Result<LensRun> {
    let req = GrepRequest {
        patterns: vec![q.pattern.clone()],
        fixed_string: q.fixed,
        ..GrepRequest::default()
    };
    let limits = if q.exhaustive {
        Limits::exhaustive()
    } else {
        Limits::top(args.limit)
    };
    let mut samples = Vec::with_capacity(args.lens_runs);
    let mut last = None;
    let mut runs = args.lens_runs;
    let mut i = 0;
    while i <= runs {
        let t = Instant::now();
        let mut plan = Plan::from_grep(&req, limits)?;
        plan.sparse_grams = sparse_grams;
        let r = lens_core::search(bundle, &plan, &Deadline::after(Duration::from_secs(60)))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if i == 0 && ms > 100.0 {
            // Slow queries (full scans) get as many runs as the peers.
            runs = args.peer_runs.max(5);
        }
        if i > 0 {
            samples.push(ms);
        }
        last = Some(r);
        i += 1;
    }
    let r = last.unwrap();
    let strategy = r
        .stats
        .strategy
        .map(|s| format!("{s:?}").to_lowercase())
        .unwrap_or_default();
    Ok(LensRun {
        samples,
        results: r.hits.len(),
        strategy,
        postings_decoded: r.stats.postings_decoded,
        candidates: r.stats.candidates,
    })
}

/// Runs `cmd`, reading stdout until `max_lines` (then killing it) or EOF.
fn time_process(mut cmd: Command, max_lines: Option<usize>) -> anyhow::Result<f64> {
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning peer")?;
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        n += 1;
        if max_lines.is_some_and(|m| n >= m) {
            let _ = child.kill();
            break;
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = child.wait();
    Ok(ms)
}

fn peer_samples(
    make: impl Fn() -> Command,
    max_lines: Option<usize>,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    time_process(make(), max_lines)?; // warm-up
    (0..runs).map(|_| time_process(make(), max_lines)).collect()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let queries = read_queries(&args.queries)?;
    if queries.is_empty() {
        bail!("no queries in {}", args.queries.display());
    }
    let bundle = BundleReader::open(&args.bundle)?;
    // rg searches the same files as the bundle: its size limit and ignore settings.
    let build = bundle.manifest().build.clone();
    let mut rg_scope: Vec<String> = Vec::new();
    if build.max_file_size != 0 {
        rg_scope.push(format!("--max-filesize={}", build.max_file_size));
    }
    if !build.respect_ignore_files {
        rg_scope.push("--no-ignore".into());
    }
    if build.include_hidden {
        rg_scope.push("--hidden".into());
    }
    let mut rows = Vec::new();
    for q in &queries {
        let mut run = time_lens(&bundle, q, &args, true)?;
        let (lm, lp) = summarize(&mut run.samples);
        let trigrams = if args.compare_trigrams {
            let mut t = time_lens(&bundle, q, &args, false)?;
            anyhow::ensure!(
                t.results == run.results,
                "{}: {} results with trigrams alone, {} with sparse grams",
                q.id,
                t.results,
                run.results
            );
            let (median_ms, p95_ms) = summarize(&mut t.samples);
            Some(TrigramRun {
                median_ms,
                p95_ms,
                postings_decoded: t.postings_decoded,
                candidates: t.candidates,
            })
        } else {
            None
        };
        let max_lines = (!q.exhaustive).then_some(args.limit);
        let rg = || {
            let mut c = Command::new("rg");
            c.args(["--no-config", "--encoding", "none"])
                .args(&rg_scope)
                .arg("-j")
                .arg(args.rg_threads.to_string())
                .args(if q.exhaustive {
                    vec!["--count-matches"]
                } else {
                    vec!["-n"]
                })
                .args(if q.fixed { vec!["-F"] } else { vec![] })
                .arg("-e")
                .arg(&q.pattern)
                .arg(".")
                .current_dir(&args.tree);
            c
        };
        let (rm, rp) = summarize(&mut peer_samples(rg, max_lines, args.peer_runs)?);
        let (cm, cp) = match &args.csearchindex {
            Some(index) => {
                let cs = || {
                    let mut c = Command::new("csearch");
                    c.env("CSEARCHINDEX", index);
                    if q.exhaustive {
                        c.arg("-c");
                    } else {
                        c.arg("-n");
                    }
                    let pat = if q.fixed {
                        regex_syntax::escape(&q.pattern)
                    } else {
                        q.pattern.clone()
                    };
                    c.arg(pat);
                    c
                };
                let (m, p) = summarize(&mut peer_samples(cs, max_lines, args.peer_runs)?);
                (Some(m), Some(p))
            }
            None => (None, None),
        };
        let row = Row {
            id: q.id.clone(),
            class: q.class.clone(),
            lens_median_ms: lm,
            lens_p95_ms: lp,
            lens_results: run.results,
            strategy: run.strategy,
            postings_decoded: run.postings_decoded,
            candidates: run.candidates,
            trigrams,
            rg_median_ms: rm,
            rg_p95_ms: rp,
            csearch_median_ms: cm,
            csearch_p95_ms: cp,
        };
        eprintln!(
            "{:<36} lens {:>8.2} / {:>8.2} ms  rg {:>8.1} ms  csearch {:>8.1} ms",
            row.id,
            lm,
            lp,
            rm,
            cm.unwrap_or(f64::NAN)
        );
        rows.push(row);
    }
    print_table(&rows, &args);
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(())
}

fn print_table(rows: &[Row], args: &Args) {
    println!(
        "| query | class | lens median ms | lens p95 ms | results | strategy | rg -j{} median ms | csearch median ms | rg / lens | csearch / lens |",
        args.rg_threads
    );
    println!("|---|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for r in rows {
        let cs = r
            .csearch_median_ms
            .map_or("–".into(), |m| format!("{m:.1}"));
        let csr = r
            .csearch_median_ms
            .map_or("–".into(), |m| format!("{:.0}×", m / r.lens_median_ms));
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {} | {:.1} | {} | {:.0}× | {} |",
            r.id,
            r.class,
            r.lens_median_ms,
            r.lens_p95_ms,
            r.lens_results,
            r.strategy,
            r.rg_median_ms,
            cs,
            r.rg_median_ms / r.lens_median_ms,
            csr
        );
    }
    if rows.iter().any(|r| r.trigrams.is_some()) {
        println!();
        println!(
            "| query | trigrams alone: median / p95 ms | sparse n-grams: median / p95 ms | postings decoded | candidates |"
        );
        println!("|---|---:|---:|---:|---:|");
        for r in rows {
            if let Some(t) = &r.trigrams {
                println!(
                    "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {} → {} | {} → {} |",
                    r.id,
                    t.median_ms,
                    t.p95_ms,
                    r.lens_median_ms,
                    r.lens_p95_ms,
                    t.postings_decoded,
                    r.postings_decoded,
                    t.candidates,
                    r.candidates
                );
            }
        }
    }
    println!();
    println!("| class | queries | worst lens p95 ms (query) | median of lens medians ms |");
    println!("|---|---:|---:|---:|");
    let mut classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    classes.dedup();
    for c in classes {
        let sel: Vec<&Row> = rows.iter().filter(|r| r.class == c).collect();
        let worst = sel
            .iter()
            .max_by(|a, b| a.lens_p95_ms.total_cmp(&b.lens_p95_ms))
            .expect("a class has a query");
        let mut meds: Vec<f64> = sel.iter().map(|r| r.lens_median_ms).collect();
        let (m, _) = summarize(&mut meds);
        println!(
            "| {c} | {} | {:.2} ({}) | {m:.2} |",
            sel.len(),
            worst.lens_p95_ms,
            worst.id
        );
        if let Some(t) = sel
            .iter()
            .filter_map(|r| r.trigrams.as_ref().map(|t| (t, &r.id)))
            .max_by(|a, b| a.0.p95_ms.total_cmp(&b.0.p95_ms))
        {
            println!(
                "| {c}, trigrams alone | {} | {:.2} ({}) | – |",
                sel.len(),
                t.0.p95_ms,
                t.1
            );
        }
    }
}
