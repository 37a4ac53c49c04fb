//! Splits an exhaustive scan's time: the regex alone over every document
//! (in parallel, counting matches) against the whole search.
//!
//! `cargo run --release -p lens-core --example scan_phases BUNDLE PATTERN`

use std::time::{Duration, Instant};

use lens_core::{BundleReader, Deadline, GrepRequest, Limits, Plan};
use rayon::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().expect("BUNDLE");
    let pattern = args.next().expect("PATTERN");
    let reader = BundleReader::open(std::path::Path::new(&bundle)).expect("bundle");
    let re = regex_automata::meta::Regex::new(&pattern).expect("regex");
    let docs = reader.docs();
    for _ in 0..3 {
        let t = Instant::now();
        let n: usize = (0..docs.len() as u32)
            .into_par_iter()
            .map(|d| re.find_iter(reader.content(&docs.get(d))).count())
            .sum();
        let regex_ms = t.elapsed().as_secs_f64() * 1e3;
        let req = GrepRequest {
            patterns: vec![pattern.clone()],
            ..GrepRequest::default()
        };
        let t = Instant::now();
        let plan = Plan::from_grep(&req, Limits::exhaustive()).expect("plan");
        let r = lens_core::search(&reader, &plan, &Deadline::after(Duration::from_secs(60)))
            .expect("search");
        let search_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let stage_b_ms = r.stats.stage_b_ms;
        drop(r);
        let drop_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "regex alone: {n} matches in {regex_ms:.0} ms; search: {search_ms:.0} ms \
             (stage B {stage_b_ms:.0} ms); dropping the hits: {drop_ms:.0} ms"
        );
    }
}
