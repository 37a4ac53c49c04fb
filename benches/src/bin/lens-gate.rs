//! The CI benchmark gate: one query class per process, measured in
//! instructions under callgrind (`benches/gate.sh` drives it).
//!
//!   lens-gate prepare --out DIR          the fixed corpus (seeded) and its bundle
//!   lens-gate run --dir DIR --class C    the class's searches, measured
//!   lens-gate compare --baseline F --results F [--classes a,b] [--update]
//!   lens-gate classes                    the class names, one a line
//!
//! Only the searches are measured: `run` opens the bundle, runs the class
//! once to warm it, and then starts callgrind's instrumentation (a client
//! request, so every thread counts, the blocking pool's too), runs the class
//! `ITERATIONS` times and stops it. `LENS_GATE_PLANT=CLASS` (or `all`) makes
//! that class run a quarter more iterations: a planted 25% slowdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};
use lens_core::semantic::Stages;
use lens_core::{Deadline, Engine, Model, Options, QueryInput, Request, RequestLimits, Searcher};

/// Measured rounds of a class's queries; the plant adds a quarter of them.
const ITERATIONS: usize = 4;
const PLANT_EXTRA: usize = ITERATIONS / 4;
/// A class more than this much slower than its baseline fails the gate.
const THRESHOLD: f64 = 0.10;

/// Every class, in the order the gate runs them.
const CLASSES: &[&str] = &[
    "selective_literal",
    "regex_literal",
    "exhaustive_literal",
    "nonselective_regex",
    "symbol",
    "natural_language",
    "http",
];

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Writes the fixed corpus to DIR/corpus and indexes it into DIR/bundle.
    Prepare {
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs one class against DIR/bundle: a warm-up round, then the measured rounds.
    Run {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        class: String,
    },
    /// Compares measured instruction counts (`CLASS IR` lines) with the baseline.
    Compare {
        #[arg(long)]
        baseline: PathBuf,
        #[arg(long)]
        results: PathBuf,
        /// Only these classes (comma-separated); default every class.
        #[arg(long)]
        classes: Option<String>,
        /// Rewrite the baseline with these counts instead of comparing.
        #[arg(long)]
        update: bool,
        /// Recorded with --update: the commit the counts were measured at.
        #[arg(long, default_value = "")]
        commit: String,
        /// The tools the counts were measured with (recorded with --update, checked otherwise).
        #[arg(long, default_value = "")]
        tools: String,
    },
    /// Prints the class names.
    Classes,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    match Args::parse().cmd {
        Cmd::Prepare { out } => prepare(&out)?,
        Cmd::Run { dir, class } => run(&dir, &class)?,
        Cmd::Compare {
            baseline,
            results,
            classes,
            update,
            commit,
            tools,
        } => {
            let pass = compare(
                &baseline,
                &results,
                classes.as_deref(),
                update,
                &commit,
                &tools,
            )?;
            if !pass {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Cmd::Classes => CLASSES.iter().for_each(|c| println!("{c}")),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// callgrind client requests

/// Callgrind's client requests (valgrind/callgrind.h: `VG_USERREQ_TOOL_BASE('C','T')` + n).
const CALLGRIND_START_INSTRUMENTATION: u64 = 0x4354_0000 + 4;
const CALLGRIND_STOP_INSTRUMENTATION: u64 = 0x4354_0000 + 5;

/// A valgrind client request: a no-op (returns 0) when not under valgrind.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn client_request(request: u64) -> u64 {
    let args: [u64; 6] = [request, 0, 0, 0, 0, 0];
    let result: u64;
    // SAFETY: valgrind's "special instruction" preamble (valgrind.h, amd64):
    // the four rotations of rdi total 128 bits (rdi is unchanged) and
    // `xchg rbx, rbx` is a no-op; on the real CPU this only reads `args`.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0u64 => result,
            in("rax") args.as_ptr(),
            options(nostack),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(_request: u64) -> u64 {
    0
}

/// The measured part: callgrind counts only what runs in here (every thread).
#[inline(never)]
fn measured(rounds: usize, round: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
    client_request(CALLGRIND_START_INSTRUMENTATION);
    let result = (0..rounds).try_for_each(|_| round());
    client_request(CALLGRIND_STOP_INSTRUMENTATION);
    result
}

// ---------------------------------------------------------------------------
// the fixed corpus

/// splitmix64: the corpus is the same on every machine and run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const NOUNS: &[&str] = &[
    "buffer", "queue", "node", "list", "table", "entry", "config", "token", "page", "block",
    "inode", "socket", "packet", "frame", "device", "driver", "session", "request", "reply",
    "cache", "index", "record", "header", "stream", "channel", "worker", "timer", "event",
    "region", "segment", "mutex", "thread", "context", "handle", "symbol", "module",
];
const VERBS: &[&str] = &[
    "alloc", "free", "init", "read", "write", "parse", "flush", "lookup", "insert", "remove",
    "reset", "open", "close", "update", "encode", "decode", "push", "pop", "scan", "sync",
];
const WORDS: &[&str] = &[
    "the",
    "a",
    "of",
    "to",
    "is",
    "when",
    "every",
    "before",
    "after",
    "returns",
    "holds",
    "lock",
    "caller",
    "must",
    "not",
    "be",
    "called",
    "with",
    "interrupts",
    "disabled",
    "memory",
    "size",
    "count",
    "length",
    "pointer",
    "value",
    "error",
    "state",
    "first",
    "last",
    "next",
];
/// Rare identifiers, each in a few files: the selective literals.
const RARE: &[&str] = &[
    "gate_needle_kestrel",
    "gate_needle_osprey",
    "gate_needle_plover",
];

fn ident(r: &mut Rng) -> String {
    format!("{}_{}", r.pick(VERBS), r.pick(NOUNS))
}

fn comment(r: &mut Rng) -> String {
    let n = 5 + r.below(10);
    (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

fn c_file(r: &mut Rng, rare: Option<&str>) -> String {
    let mut s = String::from("#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n");
    for _ in 0..2 + r.below(3) {
        let ty = r.pick(NOUNS);
        let _ = writeln!(s, "struct {ty}_state {{");
        for _ in 0..2 + r.below(5) {
            let _ = writeln!(
                s,
                "\tuint{}_t {}_{};",
                [8, 16, 32, 64][r.below(4)],
                r.pick(NOUNS),
                r.pick(WORDS)
            );
        }
        let _ = writeln!(s, "}};\n");
    }
    for f in 0..6 + r.below(10) {
        let name = ident(r);
        let ty = r.pick(NOUNS);
        let _ = writeln!(s, "/* {} */", comment(r));
        let _ = writeln!(
            s,
            "static int {name}_{f}(struct {ty}_state *st, size_t len)\n{{"
        );
        let _ = writeln!(s, "\tint err = 0;");
        for _ in 0..3 + r.below(12) {
            match r.below(5) {
                0 => {
                    let _ = writeln!(
                        s,
                        "\tif (st->{}_{} == {}) {{\n\t\terr = -{};\n\t\tgoto out;\n\t}}",
                        r.pick(NOUNS),
                        r.pick(WORDS),
                        r.below(4096),
                        1 + r.below(40)
                    );
                }
                1 => {
                    let _ = writeln!(
                        s,
                        "\tfor (size_t i = 0; i < len; i++)\n\t\t{}(st, i);",
                        ident(r)
                    );
                }
                2 => {
                    let _ = writeln!(s, "\tlen = {}(st->{}, len);", ident(r), r.pick(NOUNS));
                }
                3 => {
                    let _ = writeln!(s, "\t/* {} */", comment(r));
                }
                _ => {
                    let _ = writeln!(
                        s,
                        "\tmemset(&st->{}, 0, sizeof(uint{}_t));",
                        r.pick(NOUNS),
                        [8, 16, 32, 64][r.below(4)]
                    );
                }
            }
        }
        if let Some(rare) = rare.filter(|_| f == 2) {
            let _ = writeln!(s, "\terr = {rare}(st);");
        }
        let _ = writeln!(s, "out:\n\treturn err;\n}}\n");
    }
    s
}

fn rust_file(r: &mut Rng, rare: Option<&str>) -> String {
    let mut s =
        String::from("use std::collections::HashMap;\nuse std::io::{self, Read, Write};\n\n");
    for _ in 0..1 + r.below(3) {
        let ty = r.pick(NOUNS);
        let _ = writeln!(
            s,
            "/// {}\npub struct {}{} {{",
            comment(r),
            ty[..1].to_uppercase(),
            &ty[1..]
        );
        for _ in 0..2 + r.below(4) {
            let _ = writeln!(
                s,
                "    pub {}: {},",
                r.pick(NOUNS),
                ["u32", "usize", "String", "Vec<u8>", "Option<u64>"][r.below(5)]
            );
        }
        let _ = writeln!(s, "}}\n");
    }
    for f in 0..5 + r.below(10) {
        let name = ident(r);
        let _ = writeln!(s, "/// {}", comment(r));
        let _ = writeln!(
            s,
            "pub fn {name}_{f}(input: &[u8], map: &mut HashMap<String, usize>) -> io::Result<usize> {{"
        );
        let _ = writeln!(s, "    let mut count = 0;");
        for _ in 0..3 + r.below(10) {
            match r.below(5) {
                0 => {
                    let _ = writeln!(
                        s,
                        "    if input.len() > {} {{\n        return Err(io::Error::other(\"{} {}\"));\n    }}",
                        r.below(65536),
                        r.pick(NOUNS),
                        r.pick(WORDS)
                    );
                }
                1 => {
                    let _ = writeln!(
                        s,
                        "    for b in input.iter().take({}) {{\n        count += *b as usize;\n    }}",
                        r.below(512)
                    );
                }
                2 => {
                    let _ = writeln!(
                        s,
                        "    *map.entry(\"{}\".to_string()).or_default() += {};",
                        ident(r),
                        r.below(100)
                    );
                }
                3 => {
                    let _ = writeln!(s, "    // {}", comment(r));
                }
                _ => {
                    let _ = writeln!(s, "    count = {}(count, {});", ident(r), r.below(1000));
                }
            }
        }
        if let Some(rare) = rare.filter(|_| f == 1) {
            let _ = writeln!(s, "    count += {rare}(input)?;");
        }
        let _ = writeln!(s, "    Ok(count)\n}}\n");
    }
    s
}

fn python_file(r: &mut Rng, rare: Option<&str>) -> String {
    let mut s = String::from("import os\nimport sys\n\n\n");
    for c in 0..1 + r.below(3) {
        let ty = r.pick(NOUNS);
        let _ = writeln!(
            s,
            "class {}{}{c}:\n    \"\"\"{}\"\"\"\n",
            ty[..1].to_uppercase(),
            &ty[1..],
            comment(r)
        );
        for f in 0..2 + r.below(6) {
            let _ = writeln!(
                s,
                "    def {}_{f}(self, {}, {}):",
                ident(r),
                r.pick(NOUNS),
                r.pick(NOUNS)
            );
            for _ in 0..2 + r.below(6) {
                match r.below(4) {
                    0 => {
                        let _ = writeln!(
                            s,
                            "        if self.{} > {}:\n            return None",
                            r.pick(NOUNS),
                            r.below(1000)
                        );
                    }
                    1 => {
                        let _ = writeln!(s, "        # {}", comment(r));
                    }
                    2 => {
                        let _ = writeln!(
                            s,
                            "        self.{} = {}({})",
                            r.pick(NOUNS),
                            ident(r),
                            r.below(64)
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            s,
                            "        for {} in range({}):\n            self.{}.append({})",
                            r.pick(NOUNS),
                            r.below(100),
                            r.pick(NOUNS),
                            r.below(10)
                        );
                    }
                }
            }
            if let Some(rare) = rare.filter(|_| f == 0 && c == 0) {
                let _ = writeln!(s, "        {rare}(self)");
            }
            let _ = writeln!(s, "        return self\n");
        }
    }
    s
}

/// Writes the corpus: 600 files, about 3 MB, under `dir`; returns (files, bytes).
fn write_corpus(dir: &Path) -> anyhow::Result<(usize, usize)> {
    let mut r = Rng(0x6c65_6e73_6761_7465); // "lensgate"
    let (mut files, mut bytes) = (0, 0);
    for i in 0..600 {
        // Every 97th file calls one of the rare identifiers.
        let rare = (i % 97 == 13).then(|| RARE[(i / 97) % RARE.len()]);
        let sub = format!(
            "{}/{}",
            ["core", "net", "fs", "util", "drivers"][i % 5],
            r.pick(NOUNS)
        );
        let (ext, text) = match i % 3 {
            0 => ("c", c_file(&mut r, rare)),
            1 => ("rs", rust_file(&mut r, rare)),
            _ => ("py", python_file(&mut r, rare)),
        };
        let path = dir.join(sub).join(format!("{}_{i}.{ext}", ident(&mut r)));
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, &text)?;
        files += 1;
        bytes += text.len();
    }
    Ok((files, bytes))
}

fn prepare(out: &Path) -> anyhow::Result<()> {
    let corpus = out.join("corpus");
    if corpus.exists() {
        std::fs::remove_dir_all(&corpus)?;
    }
    let (files, bytes) = write_corpus(&corpus)?;
    let opts = indexer::IndexOptions {
        embed: indexer::EmbedOptions {
            mode: indexer::EmbedMode::Off,
            model_dir: None,
        },
        ..indexer::IndexOptions::default()
    };
    let repo = indexer::RepoSpec {
        name: "gate".into(),
        root: corpus.clone(),
    };
    let summary =
        indexer::build(&[repo], &out.join("bundle"), &opts).context("indexing the gate corpus")?;
    let c = &summary.manifest.counts;
    eprintln!(
        "lens-gate: corpus {files} files, {bytes} bytes; bundle {} files, {} symbols",
        c.files, c.symbols
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// the classes

fn text(q: &str, stages: Option<Stages>) -> QueryInput {
    QueryInput::Text {
        text: q.into(),
        stages,
    }
}

/// Queries of a class through the `Searcher`: (query, exhaustive, stages).
fn engine_queries(class: &str) -> Option<Vec<(QueryInput, bool)>> {
    let ranked = |qs: &[&str]| qs.iter().map(|q| (text(q, None), false)).collect();
    Some(match class {
        "selective_literal" => ranked(RARE),
        "regex_literal" => ranked(&[
            r"/(alloc|free)_(buffer|queue)_\d+\(/",
            r"/(flush|sync)_(page|block)_\d+/",
            r"/uint(8|16)_t \w+_lock/",
        ]),
        "exhaustive_literal" => vec![(text("buffer", None), true), (text("return", None), true)],
        "nonselective_regex" => ranked(&[r"/\w+ = \d+;/", r"/[a-z]+\(\d+\)/"]),
        "symbol" => ranked(&[
            "sym:pop_symbol_0",
            "sym:/^open_block/",
            "sym:read_inode_3 lang:c",
        ]),
        // The gate judges these natural language; with no model loaded
        // (Stage-C is optional) they take the BM25 + symbol order.
        "natural_language" => [
            "how is the buffer allocated before the queue is flushed",
            "where are interrupts disabled when the lock is held",
        ]
        .iter()
        .map(|q| (text(q, Some(Stages::default())), false))
        .collect(),
        _ => return None,
    })
}

/// The HTTP class's requests (GET, through the router).
const HTTP_QUERIES: &[&str] = &[
    "/search?q=gate_needle_osprey&limit=50",
    "/search?q=%2F%28flush%7Csync%29_%28page%7Cblock%29_%5Cd%2B%2F&limit=50",
    "/search?q=decode_packet&limit=50",
];

fn plant_rounds(class: &str) -> usize {
    match std::env::var("LENS_GATE_PLANT") {
        Ok(p) if p == class || p == "all" => ITERATIONS + PLANT_EXTRA,
        _ => ITERATIONS,
    }
}

fn run(dir: &Path, class: &str) -> anyhow::Result<()> {
    let bundle = dir.join("bundle");
    let rounds = plant_rounds(class);
    let hits = if class == "http" {
        run_http(&bundle, dir, rounds)?
    } else {
        let queries = engine_queries(class)
            .with_context(|| format!("unknown class {class:?}; classes: {}", CLASSES.join(", ")))?;
        run_engine(&bundle, class, &queries, rounds)?
    };
    eprintln!("lens-gate: {class}: {rounds} rounds, hits per round {hits:?}");
    Ok(())
}

fn run_engine(
    bundle: &Path,
    class: &str,
    queries: &[(QueryInput, bool)],
    rounds: usize,
) -> anyhow::Result<Vec<usize>> {
    let engine = Engine::open(bundle, Model::None)?;
    let requests = queries
        .iter()
        .map(|(q, exhaustive)| {
            let options = Options {
                limit: Some(50),
                exhaustive: *exhaustive,
                paged: false,
                ..Options::default()
            };
            let mut r = Request::new(q.clone(), options, &RequestLimits::default())?;
            // On the calling thread: no work handed across threads, so counts repeat.
            r.parallel = false;
            Ok(r)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deadline = Deadline::after(Duration::from_secs(3600));
    let round = || -> anyhow::Result<Vec<usize>> {
        let mut hits = Vec::new();
        for r in &requests {
            let resp = engine.search(r, &deadline)?;
            hits.push(resp.hits.len());
            if class == "natural_language" {
                ensure!(
                    resp.gate == Some(lens_core::response::GateVerdict::NaturalLanguage),
                    "the gate did not judge {:?} natural language",
                    r.query
                );
            }
        }
        Ok(hits)
    };
    let hits = round()?; // warm: lazily built state, the page cache
    ensure!(
        hits.iter().all(|&h| h > 0),
        "{class}: a query found nothing: {hits:?}"
    );
    measured(rounds, &mut || round().map(drop))?;
    Ok(hits)
}

/// A server over a release store whose candidate (a second release of the
/// same bundle) serves `percent`% of clients.
fn canary_state(
    bundle: &Path,
    dir: &Path,
    percent: f64,
    audit: &Path,
) -> anyhow::Result<Arc<lens_server::server::AppState>> {
    use lens_core::release::store::{Release, ReleaseStore};
    use lens_core::release::{CanaryConfig, Event, Refusal, Version, apply, update};
    use lens_server::server::auth::Policy;
    use lens_server::server::config::Config;
    use lens_server::server::semantic::SemanticService;
    let state_dir = dir.join("state");
    let _ = std::fs::remove_dir_all(&state_dir);
    let cfg = CanaryConfig {
        stages: if percent >= 100.0 {
            vec![100.0]
        } else {
            vec![percent.max(0.01), 100.0]
        },
        soak_seconds: if percent >= 100.0 {
            vec![0]
        } else {
            vec![0, 0]
        },
        auto_progress: if percent >= 100.0 {
            vec![false]
        } else {
            vec![false, false]
        },
        ..CanaryConfig::default()
    };
    let config = || Config {
        canary: cfg.clone(),
        ..Config::default()
    };
    let server = |c: Config| {
        lens_server::server::AppState::with_store(
            bundle,
            Some(&state_dir),
            c,
            Policy::Permissive,
            audit,
            SemanticService::disabled("the gate loads no model"),
        )
    };
    drop(server(config())?); // registers the stable release
    let store = ReleaseStore::open(&state_dir)?;
    let engine = Engine::open(bundle, Model::None)?;
    let v = Version::parse("99.0.0")?;
    let r = Release::from_manifest(
        v.clone(),
        bundle.canonicalize()?,
        &engine.describe().manifest,
        None,
        "cut",
    );
    store.write_release(&r, engine.ranking())?;
    update(&store.rollout_path(), &store.lock_path(), |cur| {
        let (s, _) = apply(cur, Event::CutCandidate { version: v.clone() }, 1, &cfg)?;
        if percent <= 0.0 {
            return Ok::<_, Refusal>(s);
        }
        let go = Event::Progress {
            restart: false,
            approved_by: Some("bench".into()),
        };
        Ok(apply(&s, go, 2, &cfg)?.0)
    })?;
    server(config())
}

fn run_http(bundle: &Path, dir: &Path, rounds: usize) -> anyhow::Result<Vec<usize>> {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use lens_server::server::auth::Policy;
    use lens_server::server::config::Config;
    use lens_server::server::semantic::SemanticService;
    use lens_server::server::{AppState, router};
    use tower::ServiceExt;

    let audit = dir.join("audit.jsonl");
    // LENS_GATE_CANARY=P (not part of the gate): the same requests through a
    // release store with a candidate (the same bundle) at P% of clients, to
    // count what the router costs (benches/README.md, "Router cost").
    let canary: Option<f64> = std::env::var("LENS_GATE_CANARY")
        .ok()
        .map(|p| p.parse())
        .transpose()?;
    let state: Arc<AppState> = match canary {
        None => AppState::new(
            bundle,
            Config::default(),
            Policy::Permissive,
            &audit,
            SemanticService::disabled("the gate loads no model"),
        )?,
        Some(p) => canary_state(bundle, dir, p, &audit)?,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut client = 0u64;
    let mut round = || -> anyhow::Result<Vec<usize>> {
        let mut hits = Vec::new();
        for uri in HTTP_QUERIES {
            let (status, body) = rt.block_on(async {
                let mut req = axum::http::Request::builder().method("GET").uri(*uri);
                if canary.is_some() {
                    client += 1;
                    req = req.header("x-client-id", format!("bench-{client}"));
                }
                let req = req.body(Body::empty())?;
                let resp = router(state.clone()).oneshot(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                anyhow::Ok((status, body))
            })?;
            if !status.is_success() {
                bail!("{uri}: HTTP {status}: {}", String::from_utf8_lossy(&body));
            }
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let n = v["results"].as_array().map_or(0, Vec::len);
            ensure!(
                n > 0,
                "{uri}: no hits: {}",
                String::from_utf8_lossy(&body[..body.len().min(400)])
            );
            hits.push(n);
        }
        Ok(hits)
    };
    let hits = round()?; // warm
    ensure!(
        hits.iter().all(|&h| h > 0),
        "http: a query found nothing: {hits:?}"
    );
    measured(rounds, &mut || round().map(drop))?;
    Ok(hits)
}

// ---------------------------------------------------------------------------
// the comparison

fn read_results(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (c, n) = l
                .split_once(char::is_whitespace)
                .with_context(|| format!("bad line {l:?}"))?;
            Ok((
                c.to_string(),
                n.trim()
                    .parse()
                    .with_context(|| format!("bad count in {l:?}"))?,
            ))
        })
        .collect()
}

fn compare(
    baseline: &Path,
    results: &Path,
    classes: Option<&str>,
    update: bool,
    commit: &str,
    tools: &str,
) -> anyhow::Result<bool> {
    let measured = read_results(results)?;
    let wanted: Vec<String> = match classes {
        Some(c) => c.split(',').map(str::to_string).collect(),
        None => CLASSES.iter().map(|c| c.to_string()).collect(),
    };
    if update {
        for c in &wanted {
            ensure!(measured.contains_key(c), "no measurement for {c}");
        }
        let doc = serde_json::json!({
            "about": "Instructions (callgrind Ir) of each class's measured rounds; benches/gate.sh --update rewrites this",
            "commit": commit,
            "date": lens_core::bundle::manifest::rfc3339_utc(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
            "tools": tools,
            "threshold": THRESHOLD,
            "classes": measured,
        });
        std::fs::write(baseline, serde_json::to_string_pretty(&doc)? + "\n")?;
        eprintln!("lens-gate: baseline {} rewritten", baseline.display());
        return Ok(true);
    }
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(baseline)
            .with_context(|| format!("reading {}", baseline.display()))?,
    )?;
    let threshold = doc["threshold"].as_f64().unwrap_or(THRESHOLD);
    let recorded = doc["tools"].as_str().unwrap_or("");
    if !tools.is_empty() && recorded != tools {
        // Another compiler or valgrind moves every count: rerun --update on purpose.
        println!("note: the baseline was recorded with {recorded:?}, this run uses {tools:?}");
    }
    let mut failed = Vec::new();
    println!(
        "{:<20} {:>15} {:>15} {:>8}  verdict",
        "class", "baseline Ir", "measured Ir", "ratio"
    );
    for c in &wanted {
        let base = doc["classes"][c]
            .as_u64()
            .with_context(|| format!("the baseline has no {c}"))?;
        let now = *measured
            .get(c)
            .with_context(|| format!("no measurement for {c}"))?;
        let ratio = now as f64 / base as f64;
        let verdict = if ratio > 1.0 + threshold {
            failed.push(c.clone());
            "FAIL"
        } else {
            "ok"
        };
        println!("{c:<20} {base:>15} {now:>15} {ratio:>8.4}  {verdict}");
    }
    if failed.is_empty() {
        println!(
            "gate: pass (every class within {:.0}% of its baseline)",
            threshold * 100.0
        );
        Ok(true)
    } else {
        println!(
            "gate: FAIL: {} more than {:.0}% slower than the baseline",
            failed.join(", "),
            threshold * 100.0
        );
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.insert(
                        p.strip_prefix(dir).unwrap().to_path_buf(),
                        std::fs::read(&p).unwrap(),
                    );
                }
            }
        }
        out
    }

    /// The baseline holds only for this corpus: a change to the generator
    /// must come with `gate.sh --update`.
    #[test]
    fn corpus_is_fixed() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert_eq!(write_corpus(a.path()).unwrap(), (600, 3_298_956));
        write_corpus(b.path()).unwrap();
        assert_eq!(files(a.path()), files(b.path()));
    }

    #[test]
    fn gate_fails_past_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let (base, res) = (dir.path().join("baseline.json"), dir.path().join("results"));
        std::fs::write(&res, "symbol 1000\nhttp 2000\n").unwrap();
        assert!(compare(&base, &res, Some("symbol,http"), true, "abc", "t").unwrap());
        std::fs::write(&res, "symbol 1100\nhttp 1500\n").unwrap();
        assert!(compare(&base, &res, Some("symbol,http"), false, "", "t").unwrap());
        std::fs::write(&res, "symbol 1101\nhttp 1500\n").unwrap();
        assert!(!compare(&base, &res, Some("symbol,http"), false, "", "t").unwrap());
        assert!(compare(&base, &res, Some("http"), false, "", "t").unwrap());
    }
}
