//! Paging cost: one unpaged exhaustive search against paging through every
//! hit with cursors, through the `Searcher` seam, on a real bundle.
//!   lens-paging --bundle DIR --query Q [--page 1000] [--runs 5]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use lens_core::request::{Request, RequestLimits};
use lens_core::{Deadline, Engine, Model, Searcher};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long)]
    query: String,
    #[arg(long, default_value_t = 1000)]
    page: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn request(q: &str, paged: bool, limit: usize, cursor: Option<String>) -> anyhow::Result<Request> {
    let page = paged.then_some(limit);
    Ok(Request::exhaustive_text(
        q,
        page,
        cursor,
        &RequestLimits::default(),
    )?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let engine = Engine::open(&a.bundle, Model::None)?;
    let deadline = || Deadline::after(Duration::from_secs(600));
    let (mut whole, mut paged) = (Vec::new(), Vec::new());
    let (mut hits, mut pages) = (0, 0);
    for _ in 0..=a.runs {
        let t = Instant::now();
        let r = engine.search(&request(&a.query, false, a.page, None)?, &deadline())?;
        whole.push(t.elapsed().as_secs_f64() * 1000.0);
        hits = r.hits.len();
        let t = Instant::now();
        let (mut n, mut p, mut cursor) = (0, 0, None);
        loop {
            let r = engine.search(&request(&a.query, true, a.page, cursor)?, &deadline())?;
            n += r.hits.len();
            p += 1;
            match r.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        paged.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(n == hits, "paged {n} hits, unpaged {hits}");
        pages = p;
    }
    // The first round warms the page cache and is not counted.
    let (w, p) = (median(whole[1..].to_vec()), median(paged[1..].to_vec()));
    println!(
        "{}",
        serde_json::json!({"query": a.query, "hits": hits, "pages": pages, "page": a.page,
            "unpaged_median_ms": w, "paged_total_median_ms": p, "ratio": p / w})
    );
    Ok(())
}
