//! Each gate catches a defect planted in a real bundle and passes the clean
//! candidate. The bundle is built with the indexer from a generated tree of
//! small Rust, C and Python files; defects are planted by a `Searcher`
//! wrapper, lost files by a second build without a fifth of the tree.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indexer::{EmbedMode, EmbedOptions, IndexOptions, RepoSpec};
use lens_core::navigate::Navigation;
use lens_core::request::Mode;
use lens_core::searcher::{Description, FileContent};
use lens_core::{Deadline, Engine, FilePosition, Model, QueryInput, Request, Response, Searcher};
use validation::gates::{self, GateReport, GateStatus, GoldenSet, Span, Target, Thresholds};

const FILES: usize = 40;

fn source(i: usize) -> (String, String) {
    let j = (i + 1) % FILES;
    let k = (i + 7) % FILES;
    match i % 3 {
        0 => (
            format!("src/{}/frame_{i:02}.rs", ["net", "core"][i % 2]),
            format!(
                "/// Frame parser number {i}.\n\
                 pub struct Widget{i:02} {{\n    pub buffer_len: usize,\n}}\n\n\
                 pub fn parse_frame_{i:02}(input: &[u8]) -> usize {{\n    \
                 let msg = \"connection reset {i:02}\";\n    \
                 let buffer_len = input.len();\n    \
                 check_limit_{j:02}(buffer_len) + msg.len()\n}}\n\n\
                 pub fn check_limit_{i:02}(buffer_len: usize) -> usize {{\n    \
                 if buffer_len > MAX_RETRIES {{\n        emit_event_{k:02}(\"retry budget exceeded\")\n    \
                 }} else {{\n        buffer_len\n    }}\n}}\n\n\
                 pub fn emit_event_{i:02}(what: &str) -> usize {{\n    what.len()\n}}\n"
            ),
        ),
        1 => (
            format!("c/drivers/dev_{i:02}.c"),
            format!(
                "struct widget_{i:02} {{ int buffer_len; }};\n\
                 static const char *name_{i:02} = \"driver state {i:02}\";\n\n\
                 int parse_frame_{i:02}(const char *input, int buffer_len) {{\n    \
                 return check_limit_{j:02}(buffer_len) + MAX_RETRIES;\n}}\n\n\
                 int check_limit_{i:02}(int buffer_len) {{\n    \
                 log_line(\"retry budget exceeded\");\n    \
                 return emit_event_{k:02}(buffer_len);\n}}\n\n\
                 int emit_event_{i:02}(int what) {{\n    return what + 1;\n}}\n"
            ),
        ),
        _ => (
            format!("py/app/mod_{i:02}.py"),
            format!(
                "class Widget{i:02}:\n    def __init__(self, buffer_len):\n        \
                 self.buffer_len = buffer_len\n\n\n\
                 def parse_frame_{i:02}(data):\n    message = \"connection reset {i:02}\"\n    \
                 return check_limit_{j:02}(len(data))\n\n\n\
                 def check_limit_{i:02}(buffer_len):\n    \
                 return emit_event_{k:02}(\"retry budget exceeded\")\n\n\n\
                 def emit_event_{i:02}(what):\n    return len(what)\n"
            ),
        ),
    }
}

fn options() -> IndexOptions {
    IndexOptions {
        embed: EmbedOptions {
            mode: EmbedMode::Off,
            model_dir: None,
        },
        text_heap_bytes: 50_000_000,
        ..Default::default()
    }
}

fn build(root: &Path, out: &Path, keep: impl Fn(usize) -> bool) -> Engine {
    build_with(root, out, keep, &options())
}

fn build_with(
    root: &Path,
    out: &Path,
    keep: impl Fn(usize) -> bool,
    opts: &IndexOptions,
) -> Engine {
    for i in (0..FILES).filter(|&i| keep(i)) {
        let (path, text) = source(i);
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let repos = [RepoSpec {
        name: "demo".into(),
        root: root.to_path_buf(),
    }];
    indexer::build(&repos, out, opts).unwrap();
    Engine::open(out, Model::None).unwrap()
}

struct Fixture {
    full: Engine,
    /// The same tree without every fifth file.
    lost: Engine,
    golden: GoldenSet,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("gates-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let full = build(&dir.path().join("tree"), &dir.path().join("full"), |_| true);
        let lost = build(
            &dir.path().join("tree-lost"),
            &dir.path().join("lost"),
            |i| i % 5 != 0,
        );
        let started = std::time::Instant::now();
        let golden = gates::sample(&full, 7, 60);
        eprintln!(
            "sampled {} lexical, {} definition queries in {:?}",
            golden.lexical.len(),
            golden.definitions.len(),
            started.elapsed()
        );
        Fixture {
            full,
            lost,
            golden,
            _dir: dir,
        }
    })
}

/// Latency is measured: tests run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runbook's thresholds (a search of this bundle takes well under a
/// millisecond even unoptimised; the planted sleep is above the 5 ms budget),
/// with a 10 ms tail floor: this machine is shared, and at sub-millisecond p95
/// one descheduled search (seen: 3–6 ms) breaks the 2× ratio.
fn thresholds() -> Thresholds {
    Thresholds {
        tail_floor_ms: 10.0,
        ..Thresholds::default()
    }
}

enum Defect {
    /// Exhaustive results lose these spans (ranked ones keep them: recall
    /// and definition-first measure ranked results).
    DropMatch(Vec<Span>),
    /// Ranked results come in reverse order.
    ShuffleRanking,
    /// Every other call swaps the last two hits.
    Nondeterministic(AtomicUsize),
    Sleep(u64),
    /// Symbol searches (Stage-B) sleep `ms`; others are untouched.
    SleepOnSymbols(u64),
    /// One search in `every` sleeps `ms`: a tail, not a median, regression.
    Spike {
        every: usize,
        ms: u64,
        calls: AtomicUsize,
    },
}

struct Planted<'a> {
    inner: &'a Engine,
    defect: Defect,
}

impl Searcher for Planted<'_> {
    fn search(&self, request: &Request, deadline: &Deadline) -> lens_core::Result<Response> {
        let mut r = self.inner.search(request, deadline)?;
        match &self.defect {
            Defect::DropMatch(lost) => {
                if request.exhaustive() {
                    r.hits.retain(|h| {
                        !lost.iter().any(|s| {
                            *h.repo == *s.repo
                                && *h.path == *s.path
                                && h.line == s.line
                                && h.start == s.start
                                && h.end == s.end
                        })
                    });
                }
            }
            Defect::ShuffleRanking => {
                if matches!(request.mode, Mode::Ranked { .. }) {
                    r.hits.reverse();
                }
            }
            Defect::Nondeterministic(calls) => {
                let n = r.hits.len();
                if calls.fetch_add(1, Ordering::Relaxed) % 2 == 1 && n >= 3 {
                    r.hits.swap(n - 1, n - 2);
                }
            }
            Defect::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Defect::SleepOnSymbols(ms) => {
                if matches!(request.query, QueryInput::Symbols { .. }) {
                    std::thread::sleep(Duration::from_millis(*ms));
                }
            }
            Defect::Spike { every, ms, calls } => {
                if calls.fetch_add(1, Ordering::Relaxed) % every == every - 1 {
                    std::thread::sleep(Duration::from_millis(*ms));
                }
            }
        }
        Ok(r)
    }
    fn file(&self, repo: &str, path: &str) -> lens_core::Result<FileContent> {
        self.inner.file(repo, path)
    }
    fn definition(&self, at: &FilePosition, limit: usize) -> lens_core::Result<Navigation> {
        self.inner.definition(at, limit)
    }
    fn references(
        &self,
        at: &FilePosition,
        limit: usize,
        deadline: &Deadline,
    ) -> lens_core::Result<Navigation> {
        self.inner.references(at, limit, deadline)
    }
    fn hover(&self, at: &FilePosition) -> lens_core::Result<Option<lens_core::navigate::Hover>> {
        self.inner.hover(at)
    }
    fn describe(&self) -> &Description {
        self.inner.describe()
    }
}

fn run_planted(defect: Defect) -> GateReport {
    let f = fixture();
    let planted = Planted {
        inner: &f.full,
        defect,
    };
    let candidate = Target {
        searcher: &planted,
        bundle: &f.full,
    };
    let report = gates::run(candidate, Target::engine(&f.full), &f.golden, &thresholds());
    print(&report);
    report
}

fn print(r: &GateReport) {
    for g in &r.gates {
        eprintln!(
            "  {:24} {:?} value={:?} threshold={:?} baseline={:?} {}",
            g.gate,
            g.status,
            g.value,
            g.threshold,
            g.baseline,
            g.reason.as_deref().unwrap_or("")
        );
    }
    eprintln!("  report in {} ms", r.duration_ms);
}

fn status(r: &GateReport, gate: &str) -> GateStatus {
    r.gate(gate)
        .unwrap_or_else(|| panic!("no gate {gate}"))
        .status
}

/// Asserts `failing` fail and every other gate passes; consistency may also
/// fail, but only through the stable-vs-candidate check (same content,
/// different results is a real violation) when `cross_ok`.
fn assert_only(r: &GateReport, failing: &[&str], cross_ok: bool) {
    for g in &r.gates {
        if failing.contains(&g.gate.as_str()) {
            assert_eq!(g.status, GateStatus::Fail, "{} should fail: {g:?}", g.gate);
        } else if cross_ok && g.gate == gates::CONSISTENCY_VIOLATIONS && !g.passed() {
            assert_eq!(g.evidence["repeat"], 0, "{g:?}");
            assert_eq!(g.evidence["paged_vs_unpaged"], 0, "{g:?}");
        } else {
            assert_eq!(g.status, GateStatus::Pass, "{} should pass: {g:?}", g.gate);
        }
    }
    assert!(!r.passed());
    assert!(!r.recommendations.is_empty());
}

#[test]
fn golden_set_is_deterministic_and_covers_every_kind() {
    let _s = serial();
    let f = fixture();
    assert_eq!(gates::sample(&f.full, 7, 60), f.golden);
    assert_eq!(f.golden.lexical.len(), 60);
    assert!(
        f.golden.definitions.len() >= 20,
        "{}",
        f.golden.definitions.len()
    );
    for kind in gates::QueryKind::ALL {
        assert!(f.golden.lexical.iter().any(|q| q.kind == kind), "{kind:?}");
    }
    let json = serde_json::to_string(&f.golden).unwrap();
    assert_eq!(serde_json::from_str::<GoldenSet>(&json).unwrap(), f.golden);
}

#[test]
fn clean_candidate_passes_every_gate() {
    let _s = serial();
    let f = fixture();
    let r = gates::run(
        Target::engine(&f.full),
        Target::engine(&f.full),
        &f.golden,
        &thresholds(),
    );
    print(&r);
    assert!(r.passed(), "{:#?}", r.blocking_issues);
    assert_eq!(r.gates.len(), 7);
    assert!(r.recommendations.is_empty());
    let span = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert_eq!(span.value, Some(1.0));
    // Per-gate wall time on this bundle (shown with --nocapture).
    let (c, t) = (Target::engine(&f.full), thresholds());
    let time = |name: &str, run: &dyn Fn()| {
        let started = std::time::Instant::now();
        run();
        eprintln!("  {name:24} {:?}", started.elapsed());
    };
    time("span_coverage", &|| {
        drop(gates::span_coverage(c, &f.golden, &t))
    });
    time("recall_at_50", &|| {
        drop(gates::recall_at_50(&f.full, &f.full, &f.golden, &t))
    });
    time("definition_first", &|| {
        drop(gates::definition_first(&f.full, &f.full, &f.golden))
    });
    time("consistency", &|| {
        drop(gates::consistency(&f.full, &f.full, &f.golden))
    });
    time("index_completeness", &|| {
        drop(gates::index_completeness(&f.full, &f.full))
    });
    time("latency (both gates)", &|| {
        drop(gates::latency(&f.full, &f.golden, &t))
    });
}

#[test]
fn dropped_matches_fail_span_coverage() {
    let _s = serial();
    let f = fixture();
    // One match lost from every query that has one.
    let lost: Vec<Span> = f
        .golden
        .lexical
        .iter()
        .filter_map(|q| q.truth.first().cloned())
        .collect();
    let r = run_planted(Defect::DropMatch(lost));
    assert_only(&r, &[gates::SPAN_COVERAGE], false);
    let g = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert!(g.value.unwrap() < 0.98, "{g:?}");
}

#[test]
fn a_single_dropped_match_is_evidence_even_under_the_tolerance() {
    let _s = serial();
    let f = fixture();
    let q = f
        .golden
        .lexical
        .iter()
        .find(|q| !q.truth.is_empty())
        .unwrap();
    let r = run_planted(Defect::DropMatch(vec![q.truth[0].clone()]));
    let g = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert!(g.value.unwrap() < 1.0);
    let failing = g.evidence["failing_queries"].as_array().unwrap();
    assert!(
        failing.iter().any(|x| x["query"] == q.query.as_str()),
        "{g:?}"
    );
}

#[test]
fn shuffled_ranking_fails_definition_first() {
    let _s = serial();
    let r = run_planted(Defect::ShuffleRanking);
    assert_only(&r, &[gates::DEFINITION_FIRST], true);
}

#[test]
fn nondeterminism_fails_consistency() {
    let _s = serial();
    let r = run_planted(Defect::Nondeterministic(AtomicUsize::new(0)));
    assert_only(&r, &[gates::CONSISTENCY_VIOLATIONS], false);
    assert!(
        r.gate(gates::CONSISTENCY_VIOLATIONS).unwrap().evidence["repeat"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn slow_searches_fail_stage_a_p95() {
    let _s = serial();
    let r = run_planted(Defect::Sleep(8));
    assert_eq!(status(&r, gates::STAGE_A_P95), GateStatus::Fail);
    assert_only(&r, &[gates::STAGE_A_P95], false);
}

#[test]
fn rare_slow_searches_fail_tail_latency() {
    let _s = serial();
    // 1 in 40 (2.5%): above p99's share, below p95's.
    let r = run_planted(Defect::Spike {
        every: 40,
        ms: 40,
        calls: AtomicUsize::new(0),
    });
    assert_only(&r, &[gates::TAIL_LATENCY], false);
}

#[test]
fn lost_files_fail_index_completeness() {
    let _s = serial();
    let f = fixture();
    let r = gates::run(
        Target::engine(&f.lost),
        Target::engine(&f.full),
        &f.golden,
        &thresholds(),
    );
    print(&r);
    let g = r.gate(gates::INDEX_COMPLETENESS).unwrap();
    assert_eq!(g.status, GateStatus::Fail);
    assert_eq!(g.evidence["missing_files"], FILES / 5);
    // The engine is right about the content it has: span coverage holds.
    assert_eq!(status(&r, gates::SPAN_COVERAGE), GateStatus::Pass);
    // The index lost files the stable finds: recall falls too.
    assert_eq!(status(&r, gates::RECALL_AT_50), GateStatus::Fail);
    let c = r.gate(gates::CONSISTENCY_VIOLATIONS).unwrap();
    assert_eq!(c.status, GateStatus::Pass);
    assert!(c.evidence["stable_vs_candidate_skipped"].is_string());
}

// ---- Stage-B and Stage-C latency, nDCG@10 on labelled sets, run_all ----

fn fast_thresholds() -> Thresholds {
    // Stage-B's budget is 300 ms (runbook); a symbol search of this bundle
    // takes well under a millisecond, so a 20 ms budget still passes the
    // clean candidate on a shared host and a 30 ms sleep fails it quickly.
    Thresholds {
        stage_b_p95_ms: 20.0,
        stage_c_p95_ms: 20.0,
        latency_replays: 2,
        ..thresholds()
    }
}

#[test]
fn slow_symbol_searches_fail_stage_b_p95() {
    let _s = serial();
    let f = fixture();
    let t = fast_thresholds();
    let clean = gates::stage_b_p95(Target::engine(&f.full), &f.golden, &t);
    eprintln!("{clean:?}");
    assert_eq!(clean.status, GateStatus::Pass, "{clean:?}");
    assert_eq!(clean.evidence["not_answered_by_stage_b"], 0);
    assert_eq!(clean.evidence["errors"], 0);
    assert_eq!(
        clean.evidence["definition_in_results"],
        f.golden.definitions.len(),
        "{clean:?}"
    );
    let planted = Planted {
        inner: &f.full,
        defect: Defect::SleepOnSymbols(30),
    };
    let slow = Target {
        searcher: &planted,
        bundle: &f.full,
    };
    let g = gates::stage_b_p95(slow, &f.golden, &t);
    assert_eq!(g.status, GateStatus::Fail, "{g:?}");
    assert!(g.value.unwrap() >= 30.0);
    assert!(g.reason.as_deref().unwrap().contains("over 20 ms"), "{g:?}");
    // Only symbol searches slept: Stage-A's gate still passes.
    let (a, _) = gates::latency(&planted, &f.golden, &thresholds());
    assert_eq!(a.status, GateStatus::Pass, "{a:?}");
}

#[test]
fn stage_b_p95_is_skipped_without_definitions_or_a_symbol_table() {
    let _s = serial();
    let f = fixture();
    let t = fast_thresholds();
    let no_defs = GoldenSet {
        lexical: f.golden.lexical.clone(),
        definitions: Vec::new(),
    };
    let g = gates::stage_b_p95(Target::engine(&f.full), &no_defs, &t);
    assert_eq!(g.status, GateStatus::Skipped);
    assert_eq!(
        g.reason.as_deref(),
        Some("the golden set has no definition queries")
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let opts = IndexOptions {
        symbols: false,
        ..options()
    };
    let plain = build_with(
        &dir.path().join("tree"),
        &dir.path().join("out"),
        |i| i < 6,
        &opts,
    );
    let g = gates::stage_b_p95(Target::engine(&plain), &f.golden, &t);
    assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
    assert!(
        g.reason.as_deref().unwrap().contains("no symbol table"),
        "{g:?}"
    );
}

#[test]
fn stage_c_p95_is_skipped_when_it_cannot_run() {
    let _s = serial();
    let f = fixture();
    let t = fast_thresholds();
    let prose = gates::prose_queries(&f.golden, 12);
    assert_eq!(prose.len(), 12, "{prose:?}");
    for q in &prose {
        assert!(lens_core::semantic::gate(q).natural_language, "{q}");
    }
    // The fixture is built without embeddings.
    let g = gates::stage_c_p95(Target::engine(&f.full), &prose, &t);
    assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
    assert!(
        g.reason.as_deref().unwrap().contains("no embeddings"),
        "{g:?}"
    );

    // A searcher that claims embeddings but cannot rank with them (no
    // model): the queries run, Stage-C reports why it did not, and the gate
    // is skipped with that, never passed.
    let lazy = Engine::open(
        &f.full.describe().dir,
        Model::lazy(Some("/nonexistent/model".into())),
    )
    .unwrap();
    let claims = FakeStageC::new(&lazy, 0, false);
    let target = Target {
        searcher: &claims,
        bundle: &lazy,
    };
    let g = gates::stage_c_p95(target, &prose, &t);
    assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
    let reason = g.reason.unwrap();
    assert!(reason.contains("Stage-C ran on none of 12"), "{reason}");
    assert!(reason.contains("no_model ×12"), "{reason}");
    // No query at all.
    let g = gates::stage_c_p95(target, &[], &t);
    assert_eq!(g.status, GateStatus::Skipped);
}

#[test]
fn slow_natural_language_searches_fail_stage_c_p95() {
    let _s = serial();
    let f = fixture();
    let t = fast_thresholds();
    let prose = gates::prose_queries(&f.golden, 6);
    // A stand-in for a bundle with embeddings and a model (none is needed):
    // it reports that Stage-C ranked each query, so the gate's timing is
    // what is tested.
    let lazy = Engine::open(
        &f.full.describe().dir,
        Model::lazy(Some("/nonexistent/model".into())),
    )
    .unwrap();
    let fast = FakeStageC::new(&lazy, 0, true);
    let g = gates::stage_c_p95(
        Target {
            searcher: &fast,
            bundle: &lazy,
        },
        &prose,
        &t,
    );
    assert_eq!(g.status, GateStatus::Pass, "{g:?}");
    assert_eq!(g.evidence["ranked_by_stage_c"], 6);
    let slow = FakeStageC::new(&lazy, 30, true);
    let g = gates::stage_c_p95(
        Target {
            searcher: &slow,
            bundle: &lazy,
        },
        &prose,
        &t,
    );
    assert_eq!(g.status, GateStatus::Fail, "{g:?}");
    assert!(g.value.unwrap() >= 30.0);
}

/// Claims embeddings in its description; with `ran`, reports that Stage-C
/// ranked every natural-language query; sleeps `ms` on each of them.
struct FakeStageC<'a> {
    inner: &'a Engine,
    description: Description,
    ms: u64,
    ran: bool,
}

impl<'a> FakeStageC<'a> {
    fn new(inner: &'a Engine, ms: u64, ran: bool) -> FakeStageC<'a> {
        let mut description = inner.describe().clone();
        description.manifest.build.embeddings = Some(lens_core::bundle::manifest::EmbeddingsInfo {
            model: lens_core::semantic::ModelId {
                model_id: "stand-in".into(),
                sha256: "0".repeat(64),
                dims: 384,
                max_seq_len: 256,
            },
            chunks: 1,
            quantisation: "int8".into(),
            build_ms: 0,
        });
        FakeStageC {
            inner,
            description,
            ms,
            ran,
        }
    }
}

impl Searcher for FakeStageC<'_> {
    fn search(&self, request: &Request, deadline: &Deadline) -> lens_core::Result<Response> {
        let mut r = self.inner.search(request, deadline)?;
        if let lens_core::response::StageStats::Semantic(s) = &mut r.stats.stage {
            std::thread::sleep(Duration::from_millis(self.ms));
            if self.ran {
                s.stage_c = Some(lens_core::semantic::StageCState::Ran);
                r.timings.stage_c = Some(self.ms as f64);
            }
        }
        Ok(r)
    }
    fn file(&self, repo: &str, path: &str) -> lens_core::Result<FileContent> {
        self.inner.file(repo, path)
    }
    fn definition(&self, at: &FilePosition, limit: usize) -> lens_core::Result<Navigation> {
        self.inner.definition(at, limit)
    }
    fn references(
        &self,
        at: &FilePosition,
        limit: usize,
        deadline: &Deadline,
    ) -> lens_core::Result<Navigation> {
        self.inner.references(at, limit, deadline)
    }
    fn hover(&self, at: &FilePosition) -> lens_core::Result<Option<lens_core::navigate::Hover>> {
        self.inner.hover(at)
    }
    fn describe(&self) -> &Description {
        &self.description
    }
}

/// A labelled set in the CoSQA layout: one `<doc_id>.py` per document (each
/// with its own topic words and words every document shares), a query per
/// document naming its topic, and qrels with a header.
struct Labelled {
    engine: Engine,
    set: gates::LabelledSet,
    _dir: tempfile::TempDir,
}

const TOPICS: [(&str, &str); 12] = [
    ("alpha", "checksum"),
    ("bravo", "compress"),
    ("charlie", "decode"),
    ("delta", "encrypt"),
    ("echo", "flatten"),
    ("foxtrot", "gather"),
    ("golf", "hashing"),
    ("hotel", "inventory"),
    ("india", "journal"),
    ("juliet", "kernel"),
    ("kilo", "lookup"),
    ("lima", "merge"),
];

fn labelled() -> &'static Labelled {
    static L: OnceLock<Labelled> = OnceLock::new();
    L.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("labelled-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let data = dir.path().join("set");
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&tree).unwrap();
        let (mut queries, mut qrels) = (String::new(), String::from("query_id\tdoc_id\trelevance\n"));
        for (i, (a, b)) in TOPICS.iter().enumerate() {
            let doc = format!("lab-code-{i:03}");
            std::fs::write(
                tree.join(format!("{doc}.py")),
                format!(
                    "def {a}_{b}(data):\n    \"\"\"Return the {a} {b} value of the data.\"\"\"\n    value = data\n    return value\n"
                ),
            )
            .unwrap();
            queries.push_str(&format!(
                "{{\"query_id\": \"lab-q{i:03}\", \"query\": \"how to get the {a} {b} value of the data\"}}\n"
            ));
            qrels.push_str(&format!("lab-q{i:03}\t{doc}\t1\n"));
        }
        std::fs::write(data.join("queries.jsonl"), queries).unwrap();
        std::fs::write(data.join("qrels.tsv"), qrels).unwrap();
        let repos = [RepoSpec {
            name: "labelled".into(),
            root: tree.clone(),
        }];
        let out = dir.path().join("bundle");
        indexer::build(&repos, &out, &options()).unwrap();
        let engine = Engine::open(&out, Model::None).unwrap();
        let set = gates::LabelledSet::load(&data).unwrap().in_repo("labelled");
        Labelled {
            engine,
            set,
            _dir: dir,
        }
    })
}

#[test]
fn ndcg_at_10_passes_a_better_ranking_and_fails_a_shuffled_one() {
    let _s = serial();
    let l = labelled();
    let t = thresholds();
    let sets = std::slice::from_ref(&l.set);
    let shuffled = Planted {
        inner: &l.engine,
        defect: Defect::ShuffleRanking,
    };
    let better = gates::ndcg_at_10(&l.engine, &shuffled, sets, &t);
    eprintln!("{better:?}");
    assert_eq!(better.status, GateStatus::Pass, "{better:?}");
    assert_eq!(better.value, Some(1.0), "each query's document ranks first");
    assert!(better.baseline.unwrap() < 0.5, "{better:?}");
    assert_eq!(better.evidence["sets"][0]["verdict"], "improved");
    assert_eq!(better.evidence["sets"][0]["queries"], TOPICS.len());

    let worse = gates::ndcg_at_10(&shuffled, &l.engine, sets, &t);
    assert_eq!(worse.status, GateStatus::Fail, "{worse:?}");
    let reason = worse.reason.unwrap();
    assert!(reason.contains("set: nDCG@10"), "{reason}");
    assert!(reason.contains("regressed"), "{reason}");
    assert!(
        !worse.evidence["largest_drops"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A cap bounds the queries run.
    let capped = [l.set.clone().with_max_queries(Some(4))];
    let g = gates::ndcg_at_10(&l.engine, &shuffled, &capped, &t);
    assert_eq!(g.evidence["sets"][0]["queries"], 4);
}

#[test]
fn an_unchanged_ndcg_at_10_passes_only_with_a_latency_win() {
    let _s = serial();
    let l = labelled();
    let t = thresholds();
    let sets = std::slice::from_ref(&l.set);
    let slow = Planted {
        inner: &l.engine,
        defect: Defect::Sleep(5),
    };
    // Same bundle on both sides: the same nDCG@10. Faster than stable passes…
    let faster = gates::ndcg_at_10(&l.engine, &slow, sets, &t);
    assert_eq!(faster.status, GateStatus::Pass, "{faster:?}");
    assert_eq!(
        faster.evidence["sets"][0]["verdict"],
        "tie_with_latency_win"
    );
    assert_eq!(faster.value, faster.baseline);
    // …slower fails: no +2%, no latency win. (Identical candidate and stable
    // fail too unless timing noise favours the candidate: the runbook asks
    // for an improvement, not sameness.)
    let slower = gates::ndcg_at_10(&slow, &l.engine, sets, &t);
    assert_eq!(slower.status, GateStatus::Fail, "{slower:?}");
    assert_eq!(
        slower.evidence["sets"][0]["verdict"],
        "tie_without_latency_win"
    );
    assert!(slower.reason.unwrap().contains("tie_without_latency_win"));

    // A set whose tree neither bundle holds measures nothing: skipped, not a tie.
    let f = fixture();
    let elsewhere = gates::ndcg_at_10(&f.full, &f.full, sets, &t);
    assert_eq!(elsewhere.status, GateStatus::Skipped, "{elsewhere:?}");
    assert!(
        elsewhere
            .reason
            .as_deref()
            .unwrap()
            .contains("not in these bundles"),
        "{elsewhere:?}"
    );

    let none = gates::ndcg_at_10(&l.engine, &l.engine, &[], &t);
    assert_eq!(none.status, GateStatus::Skipped);
    assert_eq!(
        none.reason.as_deref(),
        Some("no labelled set is configured ([validation] labelled)")
    );
}

fn releases(
    f: &Fixture,
) -> (
    lens_core::release::store::Release,
    lens_core::release::store::Release,
) {
    use lens_core::release::Version;
    use lens_core::release::store::Release;
    let m = &f.full.describe().manifest;
    let stable = Release::from_manifest(
        Version::parse("0.9.0").unwrap(),
        "stable".into(),
        m,
        None,
        "registered",
    );
    let candidate = Release::from_manifest(
        Version::parse("1.0.0-rc.1").unwrap(),
        "candidate".into(),
        m,
        Some(stable.version.clone()),
        "cut",
    );
    (candidate, stable)
}

#[test]
fn an_unreadable_format_or_another_api_fails_compatibility() {
    use lens_core::bundle::manifest::{API_VERSION, FORMAT_VERSION, MIN_FORMAT_VERSION};
    let f = fixture();
    let (candidate, stable) = releases(f);
    let g = gates::compatibility(&candidate, &stable);
    assert_eq!(g.status, GateStatus::Pass, "{g:?}");
    assert_eq!(g.evidence["checks"].as_array().unwrap().len(), 5);
    assert_eq!(g.value, Some(1.0));

    let mut newer = candidate.clone();
    newer.format_version = FORMAT_VERSION + 1;
    let g = gates::compatibility(&newer, &stable);
    assert_eq!(g.status, GateStatus::Fail);
    assert!(
        g.reason.as_deref().unwrap().contains(&format!(
            "bundle format {} (this build reads {MIN_FORMAT_VERSION}..={FORMAT_VERSION})",
            FORMAT_VERSION + 1
        )),
        "{g:?}"
    );
    assert_eq!(g.evidence["checks"][0]["passed"], false);

    // The stable must stay readable: a rollback serves it.
    let mut old = stable.clone();
    old.format_version = MIN_FORMAT_VERSION - 1;
    let g = gates::compatibility(&candidate, &old);
    assert_eq!(g.status, GateStatus::Fail);
    assert_eq!(g.evidence["checks"][1]["check"], "stable_format_readable");
    assert_eq!(g.evidence["checks"][1]["passed"], false);

    let mut api = candidate.clone();
    api.api_version = "v2".into();
    assert_ne!(API_VERSION, "v2");
    let g = gates::compatibility(&api, &stable);
    assert_eq!(g.status, GateStatus::Fail);
    assert!(
        g.reason.as_deref().unwrap().contains("candidate API v2"),
        "{g:?}"
    );
}

#[test]
fn run_all_adds_the_release_gates_and_skips_those_without_inputs() {
    let _s = serial();
    let f = fixture();
    let t = thresholds();
    let bare = gates::run_all(
        Target::engine(&f.full),
        Target::engine(&f.full),
        &f.golden,
        &t,
        &gates::ReleaseInputs::default(),
    );
    print(&bare);
    assert_eq!(bare.gates.len(), 14);
    // Without embeddings on either side or a labelled set, Stage-C and nDCG
    // are not applicable: skipped, listed, not blocking.
    for name in [gates::STAGE_C_P95, gates::NDCG_AT_10] {
        let g = bare.gate(name).unwrap();
        assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
        assert!(g.not_applicable && g.reason.is_some(), "{g:?}");
        assert!(!bare.blocking_issues.iter().any(|b| b.starts_with(name)));
        assert!(bare.not_applicable.iter().any(|b| b.starts_with(name)));
    }
    // Inputs that are missing block.
    for name in [
        gates::COMPATIBILITY,
        gates::SEMVER,
        gates::RELEASE_NOTES,
        gates::DEPENDENCIES,
    ] {
        let g = bare.gate(name).unwrap();
        assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
        assert!(!g.not_applicable && g.reason.is_some());
        assert!(bare.blocking_issues.iter().any(|b| b.starts_with(name)));
    }
    assert_eq!(status(&bare, gates::STAGE_B_P95), GateStatus::Pass);
    assert!(!bare.passed(), "skipped gates are not passes");

    let (candidate, stable) = releases(f);
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("UPGRADE.md");
    std::fs::write(&notes, "# Upgrading\n\n## 1.0.0-rc.1\n").unwrap();
    let deps = [validation::sbom::Dependency {
        name: "serde",
        version: "1.0.0",
        source: Some("registry+https://github.com/rust-lang/crates.io-index"),
        license: Some("MIT OR Apache-2.0"),
        sources_found: true,
    }];
    let l = labelled();
    let shuffled = Planted {
        inner: &l.engine,
        defect: Defect::ShuffleRanking,
    };
    let inputs = gates::ReleaseInputs {
        candidate_release: Some(&candidate),
        stable_release: Some(&stable),
        labelled: std::slice::from_ref(&l.set),
        // The labelled set's tree is a bundle of its own.
        labelled_searchers: Some((&l.engine, &shuffled)),
        release_notes: Some(&notes),
        dependencies: Some(&deps),
        advisory_db: Some(Path::new("/nonexistent/advisory-db")),
    };
    let full = gates::run_all(
        Target::engine(&f.full),
        Target::engine(&f.full),
        &f.golden,
        &t,
        &inputs,
    );
    print(&full);
    for name in [
        gates::NDCG_AT_10,
        gates::COMPATIBILITY,
        gates::SEMVER,
        gates::RELEASE_NOTES,
        gates::DEPENDENCIES,
    ] {
        assert_eq!(status(&full, name), GateStatus::Pass, "{name}");
    }
    // The fixture has no embeddings: Stage-C is skipped even with labelled queries.
    assert_eq!(status(&full, gates::STAGE_C_P95), GateStatus::Skipped);

    // A failing release gate brings its recommendation.
    std::fs::write(&notes, "# Upgrading\n\n## 0.9.0\n").unwrap();
    let failing = gates::run_all(
        Target::engine(&f.full),
        Target::engine(&f.full),
        &f.golden,
        &t,
        &inputs,
    );
    assert_eq!(status(&failing, gates::RELEASE_NOTES), GateStatus::Fail);
    assert!(
        failing
            .recommendations
            .iter()
            .any(|r| r.contains("UPGRADE.md")),
        "{:?}",
        failing.recommendations
    );
}

#[test]
fn files_deleted_from_the_same_tree_are_explained_not_lost() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let stable = build(&root, &dir.path().join("stable"), |_| true);
    // Upstream deletes a tenth of the files; the candidate is cut from the same tree.
    for i in (0..FILES).filter(|i| i % 10 == 0) {
        std::fs::remove_file(root.join(source(i).0)).unwrap();
    }
    let refreshed = build(&root, &dir.path().join("refreshed"), |i| i % 10 != 0);
    let g = gates::index_completeness(&refreshed, &stable);
    assert_eq!(g.status, GateStatus::Pass, "{:?}", g.evidence);
    assert_eq!(g.evidence["deleted_from_sources"], FILES / 10);
    assert_eq!(g.evidence["missing_files"], 0);
    // The same loss from another tree is not explained.
    let other = dir.path().join("other");
    let partial = build(&other, &dir.path().join("partial"), |i| i % 10 != 0);
    let g = gates::index_completeness(&partial, &stable);
    assert_eq!(g.status, GateStatus::Fail);
    assert_eq!(g.evidence["missing_files"], FILES / 10);
    // Nor is a file still on disk that the build dropped (here an ignore rule).
    std::fs::write(root.join(".ignore"), format!("{}\n", source(1).0)).unwrap();
    let dropped = build(&root, &dir.path().join("dropped"), |i| i % 10 != 0);
    let g = gates::index_completeness(&dropped, &refreshed);
    assert_eq!(g.status, GateStatus::Fail, "{:?}", g.evidence);
    assert_eq!(g.evidence["missing_files"], 1);
}
